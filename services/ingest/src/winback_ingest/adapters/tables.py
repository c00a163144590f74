"""Ingest's tables (schema `ingest`)."""

from sqlalchemy import Column, DateTime, PrimaryKeyConstraint, String, Table, func

from winback_shared.db.engine import make_metadata

SCHEMA = "ingest"
metadata = make_metadata(SCHEMA)

# One row per `(source, id)` the broker acknowledged: the shared de-duplication store of all
# ingest replicas.
accepted_events = Table(
    "accepted_events",
    metadata,
    Column("source", String(512), nullable=False),
    Column("event_id", String(256), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("source", "event_id"),
)
