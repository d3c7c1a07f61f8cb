"""The ingest service: the gRPC front door that validates and durably enqueues submissions."""
