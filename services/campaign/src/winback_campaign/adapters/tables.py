"""Campaign's tables (schema `campaign`)."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from winback_shared.db.engine import make_metadata
from winback_shared.db.inbox import processed_events_table
from winback_shared.db.outbox import outbox_table

SCHEMA = "campaign"
metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)

# The profile fields messages need, from `customer.upserted` (later values win per field).
customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("name", String(512)),
    Column("email", String(512)),
    Column("language", String(16)),
    Column("kind", String(16)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("enrollment_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("playbook_id", String(128), nullable=False),
    Column("playbook_version", Integer, nullable=False),
    Column("variant", String(64), nullable=False),
    Column("holdout", Boolean, nullable=False),
    Column("status", String(16), nullable=False),  # active | exited | completed
    Column("exit_reason", String(64)),
    Column("trigger_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    # At most one active enrolment per customer, enforced by the database as well.
    Index("uq_enrollments_active_customer", "customer_id", unique=True, postgresql_where=text("status = 'active'")),
    Index("ix_enrollments_customer", "customer_id", "started_at"),
)

enrollment_steps = Table(
    "enrollment_steps",
    metadata,
    Column("enrollment_id", String(64), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("template", String(128), nullable=False),
    Column("offer", String(128)),
    Column("offer_category", String(128)),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),  # pending | triggered | suppressed | skipped
    Column("reason", String(64)),
    Column("action_id", String(64)),
    PrimaryKeyConstraint("enrollment_id", "step_id"),
    Index("ix_enrollment_steps_due", "due_at", postgresql_where=text("status = 'pending'")),
)

actions = Table(
    "actions",
    metadata,
    Column("action_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("enrollment_id", String(64), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("playbook_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # triggered | suppressed
    Column("channel", String(32), nullable=False),
    Column("template", String(128), nullable=False),
    Column("variant", String(64)),
    Column("offer", String(128)),
    Column("reason", String(64)),
    Column("content", JSONB),
    Column("recipient", JSONB),
    Column("consent", JSONB),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_actions_created", "created_at", "action_id"),
    Index("ix_actions_customer", "customer_id", "created_at"),
)
