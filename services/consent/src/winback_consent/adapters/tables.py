"""Consent's tables (schema `consent`). The ledger is append-only; the rest is derived bookkeeping."""

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from winback_shared.db.erasures import erasures_table
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
    # SQL NULL for "no address" (not JSON null), so COALESCE in the profile merge can fill it.
    Column("postal_address", JSONB(none_as_null=True)),
    Column("profile_at", DateTime(timezone=True)),
    Column("known_since", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True)),
    # Keyed hashes (HMAC-SHA256) of the normalised identifiers, matched against `suppressions`.
    Column("email_hash", String(64)),
    Column("phone_hash", String(64)),
    Column("fax_hash", String(64)),
    Column("postal_hash", String(64)),
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

# Blocking-list entries and what erasure leaves behind: keyed hashes only, never deleted with a customer.
suppressions = Table(
    "suppressions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("list_name", String(128)),
    Column("listed_at", DateTime(timezone=True), nullable=False),
)

# Started double opt-ins; the token itself is never stored, only its SHA-256.
doi_requests = Table(
    "doi_requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("email", String(320), nullable=False),
    Column("text_version", String(128), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("grant_id", String(36)),
    UniqueConstraint("token_hash", name="uq_doi_requests_token_hash"),
    Index("ix_doi_requests_customer_id", "customer_id"),
)

# Everything a decision needs about one customer in one row, rebuilt by `consent.refresh_snapshots`
# (migration 0002) in the same transaction as every change of the tables it derives from.
decision_snapshots = Table(
    "decision_snapshots",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("known", Boolean, nullable=False),
    Column("doc", JSONB, nullable=False),
    Column("email_hash", String(64)),
    Column("phone_hash", String(64)),
    Column("fax_hash", String(64)),
    Column("postal_hash", String(64)),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
# Migration 0006: erased customers by keyed hash of the id; their events up to the erasure stay ignored.
erasures = erasures_table(metadata)
