"""Campaign's profiles, enrolments, steps, actions, outbox and processed events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from winback_shared.db.common_tables import create_outbox_and_processed_events

revision = "0001"
down_revision = None

S = "campaign"


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(512)),
        sa.Column("email", sa.String(512)),
        sa.Column("language", sa.String(16)),
        sa.Column("kind", sa.String(16)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customers"),
        schema=S,
    )
    op.create_table(
        "enrollments",
        sa.Column("enrollment_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("playbook_id", sa.String(128), nullable=False),
        sa.Column("playbook_version", sa.Integer, nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("holdout", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exit_reason", sa.String(64)),
        sa.Column("trigger_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("enrollment_id", name="pk_enrollments"),
        schema=S,
    )
    op.create_index(
        "uq_enrollments_active_customer",
        "enrollments",
        ["customer_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_enrollments_customer", "enrollments", ["customer_id", "started_at"], schema=S)
    op.create_table(
        "enrollment_steps",
        sa.Column("enrollment_id", sa.String(64), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("template", sa.String(128), nullable=False),
        sa.Column("offer", sa.String(128)),
        sa.Column("offer_category", sa.String(128)),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("action_id", sa.String(64)),
        sa.PrimaryKeyConstraint("enrollment_id", "step_id", name="pk_enrollment_steps"),
        schema=S,
    )
    op.create_index(
        "ix_enrollment_steps_due",
        "enrollment_steps",
        ["due_at"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "actions",
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("enrollment_id", sa.String(64), nullable=False),
        sa.Column("step_id", sa.String(64), nullable=False),
        sa.Column("playbook_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("template", sa.String(128), nullable=False),
        sa.Column("variant", sa.String(64)),
        sa.Column("offer", sa.String(128)),
        sa.Column("reason", sa.String(64)),
        sa.Column("content", JSONB),
        sa.Column("recipient", JSONB),
        sa.Column("consent", JSONB),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("action_id", name="pk_actions"),
        schema=S,
    )
    op.create_index("ix_actions_created", "actions", ["created_at", "action_id"], schema=S)
    op.create_index("ix_actions_customer", "actions", ["customer_id", "created_at"], schema=S)
    create_outbox_and_processed_events(S)
