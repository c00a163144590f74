"""Facts from winback.events (orders, surveys, responses, cancellations), customer values, and
per-episode roll-ups refreshed on write so a KPI answer is one scan of the cohort's episodes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

SCHEMA = "metrics"
MONEY = sa.Numeric(18, 6)


def _episode_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("prev_churn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_churn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("won_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("value_at_churn", MONEY, nullable=True),
        sa.Column("value_after", MONEY, nullable=True),
        sa.Column("recovered_revenue", MONEY, nullable=False, server_default="0"),
        sa.Column("recovered_margin", MONEY, nullable=False, server_default="0"),
        sa.Column("triggered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("suppressed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost", sa.Numeric(14, 4), nullable=False, server_default="0"),
        sa.Column("enrolled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("holdout", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("responded", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("nps_answers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("nps_promoters", sa.Integer, nullable=False, server_default="0"),
        sa.Column("nps_detractors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("csat_answers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("csat_satisfied", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cancel_reason_code", sa.String(32), nullable=True),
        sa.Column("cancel_text", sa.Text, nullable=True),
    ]


def _stamp_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("ep_churned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ep_won", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("ep_holdout", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("ep_segment", sa.String(32), nullable=True),
        sa.Column("ep_value_tier", sa.String(8), nullable=True),
    ]


def upgrade() -> None:
    for column in _episode_columns():
        op.add_column("churn_episodes", column, schema=SCHEMA)
    for name in ("episode_id",):
        op.add_column("actions", sa.Column(name, sa.BigInteger, nullable=True), schema=SCHEMA)
        op.add_column("enrollments", sa.Column(name, sa.BigInteger, nullable=True), schema=SCHEMA)
    for outcome in ("delivered", "opened", "clicked", "replied", "reached"):
        op.add_column(
            "actions", sa.Column(outcome, sa.Boolean, nullable=False, server_default=sa.false()), schema=SCHEMA
        )
    op.add_column(
        "enrollments", sa.Column("holdout", sa.Boolean, nullable=False, server_default=sa.false()), schema=SCHEMA
    )
    # The episode's cohort keys copied onto its actions and enrolments: KPI queries filter them without a join.
    for table in ("actions", "enrollments"):
        for column in _stamp_columns():
            op.add_column(table, column, schema=SCHEMA)
    op.create_index("ix_actions_ep_churned_at", "actions", ["ep_churned_at"], schema=SCHEMA)
    op.create_index("ix_actions_episode_id", "actions", ["episode_id"], schema=SCHEMA)
    op.create_index("ix_enrollments_episode_id", "enrollments", ["episode_id"], schema=SCHEMA)
    op.create_index("ix_returns_customer_id", "returns", ["customer_id", "returned_at"], schema=SCHEMA)
    op.create_table(
        "orders",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.String(256), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("margin", MONEY, nullable=True),
        sa.PrimaryKeyConstraint("customer_id", "order_id", name="pk_orders"),
        schema=SCHEMA,
    )
    op.create_index("ix_orders_customer_placed", "orders", ["customer_id", "placed_at"], schema=SCHEMA)
    op.create_table(
        "order_returns",
        sa.Column("event_key", sa.String(800), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.String(256), nullable=False),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", MONEY, nullable=True),
        sa.PrimaryKeyConstraint("event_key", name="pk_order_returns"),
        schema=SCHEMA,
    )
    op.create_index("ix_order_returns_customer", "order_returns", ["customer_id", "order_id"], schema=SCHEMA)
    op.create_table(
        "surveys",
        sa.Column("event_key", sa.String(800), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("survey", sa.String(8), nullable=False),
        sa.Column("score", sa.SmallInteger, nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_key", name="pk_surveys"),
        schema=SCHEMA,
    )
    op.create_index("ix_surveys_customer", "surveys", ["customer_id", "answered_at"], schema=SCHEMA)
    op.create_table(
        "responses",
        sa.Column("action_id", sa.String(256), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("action_id", "outcome", name="pk_responses"),
        schema=SCHEMA,
    )
    op.create_table(
        "cancellations",
        sa.Column("event_key", sa.String(800), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=True),
        sa.Column("reason_text", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("event_key", name="pk_cancellations"),
        schema=SCHEMA,
    )
    op.create_index("ix_cancellations_customer", "cancellations", ["customer_id", "cancelled_at"], schema=SCHEMA)
    op.create_table(
        "customer_values",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clv_12m", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "at", name="pk_customer_values"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("customer_values", "cancellations", "responses", "surveys", "order_returns", "orders"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_index("ix_returns_customer_id", "returns", schema=SCHEMA)
    op.drop_index("ix_actions_ep_churned_at", "actions", schema=SCHEMA)
    for table in ("actions", "enrollments"):
        for column in _stamp_columns():
            op.drop_column(table, column.name, schema=SCHEMA)
    op.drop_index("ix_enrollments_episode_id", "enrollments", schema=SCHEMA)
    op.drop_index("ix_actions_episode_id", "actions", schema=SCHEMA)
    op.drop_column("enrollments", "holdout", schema=SCHEMA)
    for outcome in ("delivered", "opened", "clicked", "replied", "reached", "episode_id"):
        op.drop_column("actions", outcome, schema=SCHEMA)
    op.drop_column("enrollments", "episode_id", schema=SCHEMA)
    for column in _episode_columns():
        op.drop_column("churn_episodes", column.name, schema=SCHEMA)
