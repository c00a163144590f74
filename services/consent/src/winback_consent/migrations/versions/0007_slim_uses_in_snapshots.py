"""Decision snapshots keep only what the rules read of a `use`: its evidence ids.

A dispatched decision's `use` entry carries channel, purpose, content, basis, request id... in the
ledger; the rules read nothing of it but `evidence_ids` (a use renews the staleness clock of the
consents it rested on). Kept whole in the snapshot, every use made each customer's document larger,
to parse on every decision and to rewrite on every dispatch. The ledger itself is unchanged (its
entries and hashes are not touched); only the derived snapshot changes, so all snapshots are rebuilt.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
S = "consent"

# The snapshot's form of a ledger entry's payload: a use with evidence ids keeps only those.
SLIM = (
    "CASE WHEN l.entry_type = 'use' AND l.payload ? 'evidence_ids' "
    "THEN jsonb_build_object('evidence_ids', l.payload -> 'evidence_ids') ELSE l.payload END"
)


def _refresh(payload: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {S}.refresh_snapshots(ids text[]) RETURNS void LANGUAGE sql AS $$
INSERT INTO {S}.decision_snapshots AS s
    (customer_id, known, doc, email_hash, phone_hash, fax_hash, postal_hash)
SELECT c.customer_id, c.erased_at IS NULL,
    jsonb_build_object(
        'kind', c.kind,
        'ledger', coalesce((
            SELECT jsonb_agg(jsonb_build_array(l.id, l.seq, l.entry_type, l.occurred_at, {payload}) ORDER BY l.seq)
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
    op.execute(_refresh(SLIM))
    op.execute(f"SELECT {S}.refresh_snapshots(array(SELECT customer_id FROM {S}.decision_snapshots))")


def downgrade() -> None:
    op.execute(_refresh("l.payload"))
    op.execute(f"SELECT {S}.refresh_snapshots(array(SELECT customer_id FROM {S}.decision_snapshots))")
