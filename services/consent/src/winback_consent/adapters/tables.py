"""Consent's tables (schema `consent`). The ledger is append-only; the rest is derived bookkeeping."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from winback_shared.db.engine import make_metadata
from winback_shared.db.inbox import processed_events_table
from winback_shared.db.outbox import outbox_table

SCHEMA = "consent"
metadata = make_metadata(SCHEMA)

# A row per customer seen in any customer event: "known" for row 1 of the decision table.
customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("kind", String(16), nullable=False, server_default="consumer"),
    Column("email", String(320)),
    Column("phone", String(64)),
    Column("fax", String(64)),
    Column("postal_address", JSONB),
    Column("profile_at", DateTime(timezone=True)),
    Column("known_since", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True)),
)

orders = Table(
    "orders",
    metadata,
    Column("customer_id", String(128), nullable=False),
    Column("order_id", String(256), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("category", String(256)),
    PrimaryKeyConstraint("customer_id", "order_id"),
)

contract_events = Table(
    "contract_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("contract_id", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("effective_at", DateTime(timezone=True)),
    Index("ix_contract_events_customer_id", "customer_id"),
)

# Append-only, hash-chained per customer; a trigger refuses UPDATE (see the migration).
ledger = Table(
    "ledger",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("entry_type", String(16), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("source_event", String(800)),
    Column("request_id", String(256)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("customer_id", "seq", name="uq_ledger_customer_id_seq"),
    Index("uq_ledger_request_id", "request_id", unique=True, postgresql_where=text("request_id IS NOT NULL")),
)

# The last position and hash of each customer's chain: the row lock serialises appends, and
# verify compares against it so a deleted newest entry is detected too.
ledger_heads = Table(
    "ledger_heads",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
