"""Database plumbing: engines, per-service schemas, the outbox and the processed-event record."""

from winback_shared.db.engine import create_engine, create_sessionmaker, make_metadata
from winback_shared.db.inbox import claim_unprocessed, processed_events_table
from winback_shared.db.outbox import OutboxMessage, enqueue, outbox_table

__all__ = [
    "OutboxMessage",
    "claim_unprocessed",
    "create_engine",
    "create_sessionmaker",
    "enqueue",
    "make_metadata",
    "outbox_table",
    "processed_events_table",
]
