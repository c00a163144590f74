"""Signals keyed by their business key: a ticket, return, contract event or answer sent again is one signal.

`fact_key` (winback_shared.events.keys) is unique per customer and kind; the consumer inserts
with ON CONFLICT DO NOTHING and folds only the events whose fact was new. Rows stored before
this revision get the key their event would have had where the row tells it (usage reports do
not keep their period start and stay unkeyed), and repeats among them are removed (the first
stored stays), so history re-sent after the upgrade is recognised too.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

_MICROS = "(extract(epoch FROM at) * 1000000)::bigint::text"
_BACKFILL = f"""
UPDATE risk.signals SET fact_key = CASE kind
    WHEN 'ticket_opened' THEN ref
    WHEN 'ticket_resolved' THEN ref
    WHEN 'contract_started' THEN ref || '@' || {_MICROS}
    WHEN 'contract_renewed' THEN ref || '@' || {_MICROS}
    WHEN 'contract_cancelled' THEN ref || '@' || {_MICROS}
    WHEN 'return' THEN length(ref) || ':' || ref || 'at:' || {_MICROS}
    WHEN 'survey' THEN label || '@' || {_MICROS}
    WHEN 'contact' THEN ref || ':' || label
END
"""
_DEDUPLICATE = """
DELETE FROM risk.signals s USING risk.signals kept
WHERE s.fact_key IS NOT NULL AND kept.customer_id = s.customer_id AND kept.kind = s.kind
  AND kept.fact_key = s.fact_key AND kept.id < s.id
"""

_TOTALS = """
UPDATE risk.customers c
SET orders = COALESCE(o.n, 0), revenue = COALESCE(o.revenue, 0) - COALESCE(r.returned, 0),
    margin = COALESCE(o.margin, 0)
FROM risk.customers x
LEFT JOIN LATERAL (SELECT count(*) AS n, sum(amount) AS revenue, sum(COALESCE(margin, 0)) AS margin
                   FROM risk.orders WHERE customer_id = x.customer_id) o ON true
LEFT JOIN LATERAL (SELECT sum(amount) AS returned FROM risk.signals
                   WHERE customer_id = x.customer_id AND kind = 'return') r ON true
WHERE c.customer_id = x.customer_id
"""


def upgrade() -> None:
    op.add_column("signals", sa.Column("fact_key", sa.String(600), nullable=True), schema="risk")
    op.execute(_BACKFILL)
    op.execute(_DEDUPLICATE)
    op.execute(_TOTALS)
    op.create_index("uq_signals_fact_key", "signals", ["customer_id", "kind", "fact_key"], unique=True, schema="risk")


def downgrade() -> None:
    op.drop_index("uq_signals_fact_key", "signals", schema="risk")
    op.drop_column("signals", "fact_key", schema="risk")
