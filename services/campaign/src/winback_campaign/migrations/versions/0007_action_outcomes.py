"""Outcomes of call tasks and letters recorded by a person (the console): one per action.

The row is the idempotency record of `POST /v1/actions/{id}/outcome`: the same outcome again
changes nothing, another one is refused. It also puts the outcome on the customer's timeline.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "action_outcomes",
        sa.Column("action_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        # The enrolment exit the outcome caused (reply, objection), so a repeated request answers the same.
        sa.Column("enrollment_exit", sa.String(64)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        schema="campaign",
    )
    op.create_index("ix_action_outcomes_customer", "action_outcomes", ["customer_id", "recorded_at"], schema="campaign")
    # Today's tasks: triggered phone and letter actions by due time.
    op.create_index(
        "ix_actions_tasks_due",
        "actions",
        ["due_at", "action_id"],
        schema="campaign",
        postgresql_where=sa.text("status = 'triggered' AND channel IN ('phone', 'post')"),
    )


def downgrade() -> None:
    op.drop_index("ix_actions_tasks_due", table_name="actions", schema="campaign")
    op.drop_table("action_outcomes", schema="campaign")
