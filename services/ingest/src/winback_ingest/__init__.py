"""winback ingest service."""
