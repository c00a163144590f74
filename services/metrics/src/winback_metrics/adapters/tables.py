"""Metrics' tables (schema `metrics`): facts shaped for the KPI questions, all keyed by event time."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from winback_shared.db.engine import make_metadata
from winback_shared.db.inbox import processed_events_table

SCHEMA = "metrics"
metadata = make_metadata(SCHEMA)

processed_events = processed_events_table(metadata)

# One row per churn: a customer who churns again after a win-back starts a new episode.
churn_episodes = Table(
    "churn_episodes",
    metadata,
    Column("episode_id", BigInteger, Identity(always=True), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("churned_at", DateTime(timezone=True), nullable=False),
    Column("churn_reason", String(256), nullable=True),
    Column("winback_eligible", Boolean, nullable=False),
    Column("segment", String(32), nullable=True),
    Column("value_tier", String(8), nullable=True),
    UniqueConstraint("customer_id", "churned_at"),
)

# Returns are stored apart from episodes and matched at query time, so the order in which
# churn and return events arrive does not change the answer.
returns = Table(
    "returns",
    metadata,
    Column("customer_id", String(128), nullable=False),
    Column("returned_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("customer_id", "returned_at"),
)

actions = Table(
    "actions",
    metadata,
    Column("action_id", String(256), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("template", String(256), nullable=True),
    Column("variant", String(64), nullable=True),
    Column("reason", String(256), nullable=True),
    Column("playbook_id", String(128), nullable=False),
    Column("enrollment_id", String(256), nullable=False),
    Column("cost", Numeric(14, 4), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)

enrollments = Table(
    "enrollments",
    metadata,
    Column("enrollment_id", String(256), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("playbook_id", String(128), nullable=False),
    Column("variant", String(64), nullable=True),
    Column("enrolled_at", DateTime(timezone=True), nullable=True),
    Column("enroll_reason", String(256), nullable=True),
    Column("exited_at", DateTime(timezone=True), nullable=True),
    Column("exit_reason", String(256), nullable=True),
)
