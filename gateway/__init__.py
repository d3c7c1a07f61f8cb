"""The gateway: the admin HTTP layer over the ingest service's AdminService."""
