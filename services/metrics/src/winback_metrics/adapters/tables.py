"""Metrics' tables (schema `metrics`): facts shaped for the KPI questions, all keyed by event time."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from winback_shared.db.engine import make_metadata
from winback_shared.db.erasures import erasures_table
from winback_shared.db.inbox import processed_events_table

SCHEMA = "metrics"
MONEY = Numeric(18, 6)
# Outcomes of campaign.response kept as flags on the action (response_rates, funnel).
RESPONSE_FLAGS = ("delivered", "opened", "clicked", "replied", "reached")
metadata = make_metadata(SCHEMA)

processed_events = processed_events_table(metadata)
# Migration 0006: erased customers by keyed hash of the id; their events up to the erasure stay ignored.
erasures = erasures_table(metadata)


def _stamp_columns() -> list[Column]:  # type: ignore[type-arg]
    """The episode's cohort keys, copied onto its actions and enrolments (refreshed with the episode)."""
    return [
        Column("ep_churned_at", DateTime(timezone=True), nullable=True),
        Column("ep_won", Boolean, nullable=False, server_default="false"),
        Column("ep_holdout", Boolean, nullable=False, server_default="false"),
        Column("ep_segment", String(32), nullable=True),
        Column("ep_value_tier", String(8), nullable=True),
    ]


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
    # Roll-ups below are derived from the raw facts by adapters/episode_refresh.py (revision 0002).
    Column("prev_churn_at", DateTime(timezone=True), nullable=True),
    Column("next_churn_at", DateTime(timezone=True), nullable=True),
    Column("won_back_at", DateTime(timezone=True), nullable=True),
    Column("window_end", DateTime(timezone=True), nullable=True),
    # The next episode's return: contract payments after this return count here until then (0009).
    Column("next_won_back_at", DateTime(timezone=True), nullable=True),
    Column("value_at_churn", MONEY, nullable=True),
    Column("value_after", MONEY, nullable=True),
    Column("recovered_revenue", MONEY, nullable=False, server_default="0"),
    Column("recovered_margin", MONEY, nullable=False, server_default="0"),
    Column("triggered", Integer, nullable=False, server_default="0"),
    Column("suppressed", Integer, nullable=False, server_default="0"),
    Column("cost", Numeric(14, 4), nullable=False, server_default="0"),
    Column("enrolled", Boolean, nullable=False, server_default="false"),
    Column("holdout", Boolean, nullable=False, server_default="false"),
    Column("responded", Boolean, nullable=False, server_default="false"),
    Column("nps_answers", Integer, nullable=False, server_default="0"),
    Column("nps_promoters", Integer, nullable=False, server_default="0"),
    Column("nps_detractors", Integer, nullable=False, server_default="0"),
    Column("csat_answers", Integer, nullable=False, server_default="0"),
    Column("csat_satisfied", Integer, nullable=False, server_default="0"),
    Column("cancel_reason_code", String(32), nullable=True),
    Column("cancel_text", Text, nullable=True),
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
    Column("episode_id", BigInteger, nullable=True),
    *[Column(outcome, Boolean, nullable=False, server_default="false") for outcome in RESPONSE_FLAGS],
    *_stamp_columns(),
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
    Column("episode_id", BigInteger, nullable=True),
    Column("holdout", Boolean, nullable=False, server_default="false"),
    *_stamp_columns(),
)

orders = Table(
    "orders",
    metadata,
    Column("customer_id", String(128), nullable=False),
    Column("order_id", String(256), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("margin", MONEY, nullable=True),
    PrimaryKeyConstraint("customer_id", "order_id"),
)

# Keyed by the return within its order (winback_shared.events.keys.return_key, customer-scoped):
# an order may be returned in several parts, and the same part re-sent is one return (0007).
order_returns = Table(
    "order_returns",
    metadata,
    Column("fact_key", String(800), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("order_id", String(256), nullable=False),
    Column("returned_at", DateTime(timezone=True), nullable=False),
    Column("amount", MONEY, nullable=True),
)

# Keyed by (customer, survey, time); cancellations by (customer, contract, time) (migration 0007).
surveys = Table(
    "surveys",
    metadata,
    Column("fact_key", String(800), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("survey", String(8), nullable=False),
    Column("score", SmallInteger, nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
)

# One row per action and outcome: a second "opened" of the same e-mail is not a second open.
responses = Table(
    "responses",
    metadata,
    Column("action_id", String(256), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("customer_id", String(128), nullable=False),
    Column("responded_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("action_id", "outcome"),
)

cancellations = Table(
    "cancellations",
    metadata,
    Column("fact_key", String(800), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("cancelled_at", DateTime(timezone=True), nullable=False),
    Column("reason_code", String(32), nullable=True),
    Column("reason_text", Text, nullable=True),
)

# Contract starts (with the monthly value), renewals and cancellations, keyed like `cancellations` (0009).
contract_events = Table(
    "contract_events",
    metadata,
    Column("fact_key", String(800), primary_key=True),
    Column("customer_id", String(128), nullable=False, index=True),
    Column("contract_id", String(256), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("monthly_value", MONEY, nullable=True),
    Column("ends_on", Date, nullable=True),
)

# Each contract's uninterrupted runs, derived from contract_events by winback_shared.contracts for the
# customers a batch touched (adapters/contract_runs.py). Their payments after a return are recovered
# revenue, counted up to the moment a KPI is asked (SQL function metrics.periods_between, 0009).
contract_runs = Table(
    "contract_runs",
    metadata,
    Column("customer_id", String(128), nullable=False),
    Column("contract_id", String(256), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("monthly_value", MONEY, nullable=False),
    # monthly_value x WINBACK_CONTRACT_MARGIN_RATE when the run was derived (contract events carry no cost).
    Column("monthly_margin", MONEY, nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("customer_id", "contract_id", "started_at"),
)

# Predicted 12-month value of a customer as of a moment (from risk's events).
customer_values = Table(
    "customer_values",
    metadata,
    Column("customer_id", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("clv_12m", MONEY, nullable=False),
    PrimaryKeyConstraint("customer_id", "at"),
)

# Also in the schema, written only by triggers on `actions` (migration 0004) and read by
# kpi_repository: `action_rollup` (actions per churn day and dimension) and `playbook_contacts`
# (triggered actions per non-holdout episode and playbook).
