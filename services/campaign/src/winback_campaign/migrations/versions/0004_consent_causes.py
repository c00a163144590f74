"""No decision on stale state: enrolments keep the event they rest on; early status changes wait.

`cause_source`/`cause_id` is the status change's `caused_by` (or the release event): consent is
asked with it and answers "not yet" until it has applied that event; `wait_attempts` counts those
answers per step, for the backoff. `deferred_status_changes` holds status changes that arrived
before campaign's own consumer applied the event they name, until it has.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

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
    op.create_table(
        "deferred_status_changes",
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("cause_source", sa.String(512), nullable=False),
        sa.Column("cause_id", sa.String(256), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name="pk_deferred_status_changes"),
        schema=S,
    )
    op.create_index(
        "ix_deferred_status_changes_cause", "deferred_status_changes", ["cause_source", "cause_id"], schema=S
    )


def downgrade() -> None:
    op.drop_table("deferred_status_changes", schema=S)
    op.drop_column("enrollment_steps", "wait_attempts", schema=S)
    op.drop_column("enrollments", "cause_id", schema=S)
    op.drop_column("enrollments", "cause_source", schema=S)
