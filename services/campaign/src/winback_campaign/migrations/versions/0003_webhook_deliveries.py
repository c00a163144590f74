"""Signed webhook deliveries per triggered action (retried, dead-lettered); due steps indexed in claim order.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

S = "campaign"


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("action_id", name="uq_webhook_deliveries_action_id"),
        schema=S,
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_webhook_deliveries_status", "webhook_deliveries", ["status", "delivery_id"], schema=S)
    # The claim orders by (due_at, enrollment_id, position): with only due_at indexed, every round
    # sorted all due steps (a million at once in bench/campaign) to return its first thousand.
    op.create_index(
        "ix_enrollment_steps_due_order",
        "enrollment_steps",
        ["due_at", "enrollment_id", "position"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_enrollment_steps_due", "enrollment_steps", schema=S)


def downgrade() -> None:
    op.create_index(
        "ix_enrollment_steps_due",
        "enrollment_steps",
        ["due_at"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_enrollment_steps_due_order", "enrollment_steps", schema=S)
    op.drop_index("ix_webhook_deliveries_status", "webhook_deliveries", schema=S)
    op.drop_index("ix_webhook_deliveries_due", "webhook_deliveries", schema=S)
    op.drop_table("webhook_deliveries", schema=S)
