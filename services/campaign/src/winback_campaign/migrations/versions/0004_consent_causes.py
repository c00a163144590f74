"""No decision on stale state: enrolments name the event that caused them; steps count "not yet" answers.

`cause_source`/`cause_id` is the status change's `caused_by` (or the release event): consent is
asked with it and answers "not yet" until it has applied that event, and the scheduler itself
waits until its own consumer has applied it (the profile it renders from). `wait_attempts`
counts the times a step was kept pending that way, for the backoff.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

S = "campaign"


def upgrade() -> None:
    op.add_column("enrollments", sa.Column("cause_source", sa.String(512), nullable=True), schema=S)
    op.add_column("enrollments", sa.Column("cause_id", sa.String(256), nullable=True), schema=S)
    op.add_column(
        "enrollment_steps",
        sa.Column("wait_attempts", sa.SmallInteger, nullable=False, server_default="0"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_column("enrollment_steps", "wait_attempts", schema=S)
    op.drop_column("enrollments", "cause_id", schema=S)
    op.drop_column("enrollments", "cause_source", schema=S)
