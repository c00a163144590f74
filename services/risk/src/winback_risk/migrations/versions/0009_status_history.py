"""The customer's status changes, kept for the timeline: every `customer.status_changed` risk publishes.

The row is written by a trigger on the outbox, in the transaction that enqueues the event, so
every path that publishes a change (the consumer's batches, the periodic assessment) keeps it
without knowing about this table, and nothing is kept that was not published. The event is kept
as the bytes published (no JSON parsing on the write path: the timeline reads a customer's few
changes and parses them). Changes published before this revision are only on `winback.risk`.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

# A row trigger with a WHEN filter: other events (most of the outbox) cost nothing, not even a call;
# a status change costs one plain INSERT of the bytes.
_KEEP = """
CREATE FUNCTION risk.keep_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO risk.status_changes (outbox_id, customer_id, payload) VALUES (NEW.id, NEW.key, NEW.payload);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "status_changes",
        sa.Column("outbox_id", sa.BigInteger, primary_key=True),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        schema="risk",
    )
    op.create_index("ix_status_changes_customer", "status_changes", ["customer_id"], schema="risk")
    op.execute(_KEEP)
    op.execute(
        "CREATE TRIGGER outbox_keeps_status_changes AFTER INSERT ON risk.outbox FOR EACH ROW "
        "WHEN (NEW.event_type = 'customer.status_changed' AND NEW.key IS NOT NULL) "
        "EXECUTE FUNCTION risk.keep_status_change()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_keeps_status_changes ON risk.outbox")
    op.execute("DROP FUNCTION risk.keep_status_change()")
    op.drop_table("status_changes", schema="risk")
