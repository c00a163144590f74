"""Metrics' fact tables, plus the processed-event record of its idempotent consumer.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from winback_shared.db.common_tables import create_outbox_and_processed_events

revision = "0001"
down_revision = None

SCHEMA = "metrics"


def upgrade() -> None:
    create_outbox_and_processed_events(SCHEMA)
    op.create_table(
        "churn_episodes",
        sa.Column("episode_id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("churned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("churn_reason", sa.String(256), nullable=True),
        sa.Column("winback_eligible", sa.Boolean, nullable=False),
        sa.Column("segment", sa.String(32), nullable=True),
        sa.Column("value_tier", sa.String(8), nullable=True),
        sa.PrimaryKeyConstraint("episode_id", name="pk_churn_episodes"),
        sa.UniqueConstraint("customer_id", "churned_at", name="uq_churn_episodes_customer_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_churn_episodes_churned_at", "churn_episodes", ["churned_at"], schema=SCHEMA)
    op.create_table(
        "returns",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "returned_at", name="pk_returns"),
        schema=SCHEMA,
    )
    op.create_table(
        "actions",
        sa.Column("action_id", sa.String(256), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("template", sa.String(256), nullable=True),
        sa.Column("variant", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(256), nullable=True),
        sa.Column("playbook_id", sa.String(128), nullable=False),
        sa.Column("enrollment_id", sa.String(256), nullable=False),
        sa.Column("cost", sa.Numeric(14, 4), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("action_id", name="pk_actions"),
        schema=SCHEMA,
    )
    op.create_index("ix_actions_customer_id", "actions", ["customer_id", "occurred_at"], schema=SCHEMA)
    op.create_table(
        "enrollments",
        sa.Column("enrollment_id", sa.String(256), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("playbook_id", sa.String(128), nullable=False),
        sa.Column("variant", sa.String(64), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enroll_reason", sa.String(256), nullable=True),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("enrollment_id", name="pk_enrollments"),
        schema=SCHEMA,
    )
    op.create_index("ix_enrollments_customer_id", "enrollments", ["customer_id"], schema=SCHEMA)
