"""Risk's tables (schema `risk`)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from winback_shared.db.engine import make_metadata
from winback_shared.db.erasures import erasures_table
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
    # The score's tenth (0-10), indexed instead of the score so that rewriting a row whose score
    # moved within its band can be a heap-only update (migration 0004).
    Column("risk_band", SmallInteger, Computed("floor(risk_score * 10)", persisted=True)),
    Column("segment", String(16), nullable=True),
    Column("value_tier", String(1), nullable=True),
    Column("p_alive", Double, nullable=True),
    Column("winback_probability", Double, nullable=True),
    Column("assessed_at", DateTime(timezone=True), nullable=True),
    Column("days_to_winback", Double, nullable=True),
    # Migration 0005: the customer's latest applied event, named by status changes as `caused_by`.
    Column("last_event_source", String(512), nullable=True),
    Column("last_event_id", String(256), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One row per order id: the first version applied stands (a re-send, even with another amount, is
# the same order); order_date is the UTC day, the purchase occasion.
orders = Table(
    "orders",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("order_id", String(256), primary_key=True),
    Column("ordered_at", DateTime(timezone=True), nullable=False),
    Column("order_date", Date, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("margin", MONEY, nullable=True),
)

# Early-warning facts (tickets, surveys, usage, contracts, contacts, returns), narrow and append-only.
signals = Table(
    "signals",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ref", String(256), nullable=True),
    Column("value", Double, nullable=True),
    Column("label", String(64), nullable=True),
    # Money exactly (a contract's monthly value, a return's amount) and a contract's end (migration 0005).
    Column("amount", MONEY, nullable=True),
    Column("ends_on", Date, nullable=True),
    # The fact's business key (winback_shared.events.keys), unique per customer and kind (migration 0008).
    Column("fact_key", String(600), nullable=True),
    Index("uq_signals_fact_key", "customer_id", "kind", "fact_key", unique=True),
)

# Every fit, newest = highest id.
models = Table(
    "models",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("parameters", JSONB, nullable=False),
    Column("customers_used", Integer, nullable=False),
    Column("log_likelihood", Double, nullable=True),
    Column("fitted_at", DateTime(timezone=True), nullable=False),
    Column("statistics", JSONB, nullable=False, server_default="{}"),
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
# Migration 0007: erased customers by keyed hash of the id; their events up to the erasure stay ignored.
erasures = erasures_table(metadata)

# Migration 0009: every customer.status_changed risk published, as the bytes published, copied by a
# trigger on the outbox (so every publishing path keeps it); the timeline reads and parses a
# customer's rows. Deleted with the customer on erasure.
status_changes = Table(
    "status_changes",
    metadata,
    Column("outbox_id", BigInteger, primary_key=True),
    Column("customer_id", String(255), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Index("ix_status_changes_customer", "customer_id"),
)
