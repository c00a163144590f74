"""Consent's profile bookkeeping, the hash-chained ledger, outbox and processed events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from winback_shared.db.common_tables import create_outbox_and_processed_events

revision = "0001"
down_revision = None
S = "consent"


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="consumer"),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(64)),
        sa.Column("fax", sa.String(64)),
        sa.Column("postal_address", JSONB),
        sa.Column("profile_at", sa.DateTime(timezone=True)),
        sa.Column("known_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customers"),
        schema=S,
    )
    op.create_table(
        "orders",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.String(256), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("category", sa.String(256)),
        sa.PrimaryKeyConstraint("customer_id", "order_id", name="pk_orders"),
        schema=S,
    )
    op.create_table(
        "contract_events",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("contract_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_contract_events"),
        schema=S,
    )
    op.create_index("ix_contract_events_customer_id", "contract_events", ["customer_id"], schema=S)
    op.create_table(
        "ledger",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("entry_type", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("source_event", sa.String(800)),
        sa.Column("request_id", sa.String(256)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger"),
        sa.UniqueConstraint("customer_id", "seq", name="uq_ledger_customer_id_seq"),
        schema=S,
    )
    op.create_index(
        "uq_ledger_request_id",
        "ledger",
        ["request_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    # The ledger is the Art. 7(1) proof: the database itself refuses to rewrite an entry.
    op.execute(
        f"""
        CREATE FUNCTION {S}.ledger_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the consent ledger is append-only: entries are never updated';
        END $$;
        """
    )
    op.execute(
        f"CREATE TRIGGER ledger_append_only BEFORE UPDATE ON {S}.ledger "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.ledger_refuse_update()"
    )
    op.create_table(
        "ledger_heads",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_ledger_heads"),
        schema=S,
    )
    create_outbox_and_processed_events(S)
