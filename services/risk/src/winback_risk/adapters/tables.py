"""Risk's tables (schema `risk`)."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from winback_shared.db.engine import make_metadata
from winback_shared.db.inbox import processed_events_table
from winback_shared.db.outbox import outbox_table

SCHEMA = "risk"
metadata = make_metadata(SCHEMA)

MONEY = Numeric(24, 6)

# One row per customer: the state the consumer folds events into. Columns the scoring model
# fills later (risk_score, segment, value_tier) exist already so list filters work on them.
customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("kind", String(16), nullable=False, server_default="consumer"),
    Column("status", String(16), nullable=False),
    Column("status_since", DateTime(timezone=True), nullable=False),
    Column("churn_reason", String(64), nullable=True),
    Column("churn_evidence", JSONB, nullable=True),
    Column("winback_eligible", Boolean, nullable=False, server_default="true"),
    Column("churn_count", Integer, nullable=False, server_default="0"),
    Column("orders", Integer, nullable=False, server_default="0"),
    Column("revenue", MONEY, nullable=False, server_default="0"),
    Column("margin", MONEY, nullable=False, server_default="0"),
    Column("first_seen_at", DateTime(timezone=True), nullable=True),
    Column("first_order_at", DateTime(timezone=True), nullable=True),
    Column("last_order_at", DateTime(timezone=True), nullable=True),
    Column("last_return_at", DateTime(timezone=True), nullable=True),
    Column("churned_at", DateTime(timezone=True), nullable=True),
    Column("won_back_at", DateTime(timezone=True), nullable=True),
    Column("last_event_time", DateTime(timezone=True), nullable=True),
    Column("risk_score", Double, nullable=True),
    Column("segment", String(16), nullable=True),
    Column("value_tier", String(1), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A single row (id = 1): the latest event time applied, for GET /v1/progress.
progress = Table(
    "progress",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("highest_event_time", DateTime(timezone=True), nullable=True),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
