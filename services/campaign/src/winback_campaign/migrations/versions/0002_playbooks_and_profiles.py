"""Versioned playbooks, the profile and status fields steps need, attribution and assignees.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"

S = "campaign"


def upgrade() -> None:
    op.create_table(
        "playbook_versions",
        sa.Column("playbook_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("playbook_id", "version", name="pk_playbook_versions"),
        schema=S,
    )
    for name, type_ in (
        ("phone", sa.String(64)),
        ("postal_address", JSONB),
        ("account_manager", sa.String(256)),
        ("time_zone", sa.String(64)),
        ("categories", JSONB),
        ("wishes", JSONB),
        ("status", sa.String(16)),
        ("status_at", sa.DateTime(timezone=True)),
        ("churn_reason", sa.String(64)),
        ("segment", sa.String(32)),
        ("value_tier", sa.String(8)),
        ("winback_eligible", sa.Boolean),
    ):
        op.add_column("customers", sa.Column(name, type_), schema=S)
    op.create_index("ix_customers_status", "customers", ["status", "status_at"], schema=S)
    op.add_column("enrollments", sa.Column("churn_reason", sa.String(64)), schema=S)
    op.add_column("enrollments", sa.Column("feature", sa.String(256)), schema=S)
    op.add_column("enrollments", sa.Column("attributed_action_id", sa.String(64)), schema=S)
    op.add_column("enrollment_steps", sa.Column("assignee", sa.String(32)), schema=S)
    op.create_index("ix_actions_enrollment", "actions", ["enrollment_id", "created_at"], schema=S)


def downgrade() -> None:
    op.drop_index("ix_actions_enrollment", "actions", schema=S)
    op.drop_column("enrollment_steps", "assignee", schema=S)
    for name in ("attributed_action_id", "feature", "churn_reason"):
        op.drop_column("enrollments", name, schema=S)
    op.drop_index("ix_customers_status", "customers", schema=S)
    for name in (
        "winback_eligible",
        "value_tier",
        "segment",
        "churn_reason",
        "status_at",
        "status",
        "wishes",
        "categories",
        "time_zone",
        "account_manager",
        "postal_address",
        "phone",
    ):
        op.drop_column("customers", name, schema=S)
    op.drop_table("playbook_versions", schema=S)
