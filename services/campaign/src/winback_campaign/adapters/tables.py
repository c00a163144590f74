"""Campaign's tables (schema `campaign`)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from winback_shared.db.engine import make_metadata
from winback_shared.db.erasures import erasures_table
from winback_shared.db.inbox import processed_events_table
from winback_shared.db.outbox import outbox_table

SCHEMA = "campaign"
metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
# Migration 0006: erased customers by keyed hash of the id; their events up to the erasure stay ignored.
erasures = erasures_table(metadata)

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
    # Migration 0002: the other contact fields, and the latest status change (for preview and releases).
    Column("phone", String(64)),
    Column("postal_address", JSONB),
    Column("account_manager", String(256)),
    Column("time_zone", String(64)),
    # German state (ISO 3166-2 without `DE-`): explicit `attributes.state`, else from the postal code.
    Column("state", String(8)),
    # Arrays of strings; absent is SQL NULL, never JSON null (migration 0008 cleaned what was stored).
    Column("categories", JSONB(none_as_null=True)),
    Column("wishes", JSONB(none_as_null=True)),
    Column("status", String(16)),
    Column("status_at", DateTime(timezone=True)),
    Column("churn_reason", String(64)),
    Column("segment", String(32)),
    Column("value_tier", String(8)),
    Column("winback_eligible", Boolean),
    Index("ix_customers_status", "status", "status_at"),
)

# Every version of every playbook an ops team saved; the highest version of an id is in force.
playbook_versions = Table(
    "playbook_versions",
    metadata,
    Column("playbook_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("playbook_id", "version"),
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
    Column("churn_reason", String(64)),
    Column("feature", String(256)),
    Column("attributed_action_id", String(64)),
    # Migration 0004: the event the enrolment rests on; consent and the scheduler wait until they applied it.
    Column("cause_source", String(512)),
    Column("cause_id", String(256)),
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
    Column("assignee", String(32)),
    # Migration 0004: how often the step was kept pending because its cause was not applied yet (backoff).
    Column("wait_attempts", SmallInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("enrollment_id", "step_id"),
    # Migration 0003: in the claim's order, so a round reads its LIMIT rows instead of sorting every due step.
    Index(
        "ix_enrollment_steps_due_order",
        "due_at",
        "enrollment_id",
        "position",
        postgresql_where=text("status = 'pending'"),
    ),
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
    # Migration 0009: the first outcome the executing tool reported for a call task or letter.
    Column("reported_outcome", String(16)),
    Column("reported_at", DateTime(timezone=True)),
    Index("ix_actions_created", "created_at", "action_id"),
    Index("ix_actions_customer", "customer_id", "created_at"),
    Index("ix_actions_enrollment", "enrollment_id", "created_at"),
)

# Migration 0004: status changes that arrived before this service applied the event they name
# (`caused_by`); folded once it is applied, so enrolment never decides on a profile not seen yet.
deferred_status_changes = Table(
    "deferred_status_changes",
    metadata,
    Column("source", String(512), nullable=False),
    Column("event_id", String(256), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("cause_source", String(512), nullable=False),
    Column("cause_id", String(256), nullable=False),
    # The event as received, parsed again when it is released.
    Column("payload", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("source", "event_id"),
    Index("ix_deferred_status_changes_cause", "cause_source", "cause_id"),
)

# Migration 0003: one row per triggered action whose channel has a webhook, written with the action.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", BigInteger, Identity(always=True), primary_key=True),
    Column("action_id", String(64), nullable=False, unique=True),
    Column("channel", String(32), nullable=False),
    Column("url", Text, nullable=False),
    # The exact bytes POSTed and signed: the action.triggered event as published.
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index("ix_webhook_deliveries_status", "status", "delivery_id"),
)

# Migration 0007: the outcome a person recorded for a call task or letter (one per action; the
# idempotency record of POST /v1/actions/{id}/outcome). Deleted with the customer on erasure.
action_outcomes = Table(
    "action_outcomes",
    metadata,
    Column("action_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),  # reached | not_reached | declined | objected | won_back
    Column("note", Text),
    Column("enrollment_exit", String(64)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_action_outcomes_customer", "customer_id", "recorded_at"),
)
# Migration 0007: today's call tasks and letters, triggered, by due time.
Index(
    "ix_actions_tasks_due",
    actions.c.due_at,
    actions.c.action_id,
    postgresql_where=text("status = 'triggered' AND channel IN ('phone', 'post')"),
)
