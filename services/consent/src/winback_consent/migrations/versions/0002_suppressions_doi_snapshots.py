"""Suppression list (keyed hashes only), double opt-in requests, and the per-customer decision snapshot.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
S = "consent"
HASHES = ("email_hash", "phone_hash", "fax_hash", "postal_hash")

# One statement rebuilds the snapshots of the given customers from the tables they derive from.
# Every writer calls it at the end of its transaction, after locking the customers' ledger heads.
REFRESH = f"""
CREATE FUNCTION {S}.refresh_snapshots(ids text[]) RETURNS void LANGUAGE sql AS $$
INSERT INTO {S}.decision_snapshots AS s
    (customer_id, known, doc, email_hash, phone_hash, fax_hash, postal_hash)
SELECT c.customer_id, c.erased_at IS NULL,
    jsonb_build_object(
        'kind', c.kind,
        'ledger', coalesce((
            SELECT jsonb_agg(jsonb_build_array(l.id, l.seq, l.entry_type, l.occurred_at, l.payload) ORDER BY l.seq)
            FROM {S}.ledger l WHERE l.customer_id = c.customer_id), '[]'::jsonb),
        'orders', coalesce((
            SELECT jsonb_agg(jsonb_build_array(o.placed_at, o.category) ORDER BY o.placed_at)
            FROM {S}.orders o WHERE o.customer_id = c.customer_id), '[]'::jsonb),
        'contracts', coalesce((
            SELECT jsonb_agg(jsonb_build_array(e.contract_id, e.kind, e.occurred_at, e.effective_at) ORDER BY e.id)
            FROM {S}.contract_events e WHERE e.customer_id = c.customer_id), '[]'::jsonb)
    ),
    c.email_hash, c.phone_hash, c.fax_hash, c.postal_hash
FROM {S}.customers c
WHERE c.customer_id = ANY(ids)
ON CONFLICT (customer_id) DO UPDATE SET
    known = excluded.known, doc = excluded.doc, email_hash = excluded.email_hash,
    phone_hash = excluded.phone_hash, fax_hash = excluded.fax_hash, postal_hash = excluded.postal_hash;
$$;
"""


def upgrade() -> None:
    # Keyed hashes of the customer's current identifiers, computed by the service (the key is not in SQL).
    # Customers stored before this revision get theirs with their next customer.upserted.
    for name in HASHES:
        op.add_column("customers", sa.Column(name, sa.String(64)), schema=S)
    op.create_table(
        "suppressions",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("list_name", sa.String(128)),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_suppressions"),
        schema=S,
    )
    op.create_table(
        "doi_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("text_version", sa.String(128), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("grant_id", sa.String(36)),
        sa.PrimaryKeyConstraint("id", name="pk_doi_requests"),
        sa.UniqueConstraint("token_hash", name="uq_doi_requests_token_hash"),
        schema=S,
    )
    op.create_index("ix_doi_requests_customer_id", "doi_requests", ["customer_id"], schema=S)
    op.create_table(
        "decision_snapshots",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("known", sa.Boolean, nullable=False),
        sa.Column("doc", JSONB, nullable=False),
        *(sa.Column(name, sa.String(64)) for name in HASHES),
        sa.PrimaryKeyConstraint("customer_id", name="pk_decision_snapshots"),
        schema=S,
    )
    op.execute(REFRESH)
    op.execute(f"SELECT {S}.refresh_snapshots(array(SELECT customer_id FROM {S}.customers))")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {S}.refresh_snapshots(text[])")
    op.drop_table("decision_snapshots", schema=S)
    op.drop_table("doi_requests", schema=S)
    op.drop_table("suppressions", schema=S)
    for name in HASHES:
        op.drop_column("customers", name, schema=S)
