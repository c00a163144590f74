"""The customer's status changes, kept for the timeline: every `customer.status_changed` risk publishes.

The row is written by a trigger on the outbox, in the transaction that enqueues the event, so
every path that publishes a change (the consumer's batches, the periodic assessment) keeps it
without knowing about this table, and nothing is kept that was not published. The event's data is
stored as published (from, to, reasons, churn reason, segment, tier, eligibility, scores,
`caused_by`). Changes published before this revision are only on `winback.risk`.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"

_KEEP = """
CREATE FUNCTION risk.keep_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event jsonb := convert_from(NEW.payload, 'UTF8')::jsonb;
BEGIN
    INSERT INTO risk.status_changes (customer_id, event_id, at, data)
    VALUES (event->'data'->>'customer_id', event->>'id', (event->'data'->>'at')::timestamptz, event->'data')
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "status_changes",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "event_id"),
        schema="risk",
    )
    op.create_index("ix_status_changes_customer_at", "status_changes", ["customer_id", "at"], schema="risk")
    op.execute(_KEEP)
    op.execute(
        "CREATE TRIGGER outbox_keeps_status_changes AFTER INSERT ON risk.outbox FOR EACH ROW "
        "WHEN (NEW.event_type = 'customer.status_changed') EXECUTE FUNCTION risk.keep_status_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_keeps_status_changes ON risk.outbox")
    op.execute("DROP FUNCTION risk.keep_status_change()")
    op.drop_table("status_changes", schema="risk")
