"""ingest_service: built in its own issue; see README."""
