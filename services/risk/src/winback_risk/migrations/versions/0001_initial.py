"""Risk's customer state, progress, outbox and processed events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from winback_shared.db.common_tables import create_outbox_and_processed_events

revision = "0001"
down_revision = None

MONEY = sa.Numeric(24, 6)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="consumer"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("churn_reason", sa.String(64), nullable=True),
        sa.Column("churn_evidence", JSONB, nullable=True),
        sa.Column("winback_eligible", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("churn_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("orders", sa.Integer, nullable=False, server_default="0"),
        sa.Column("revenue", MONEY, nullable=False, server_default="0"),
        sa.Column("margin", MONEY, nullable=False, server_default="0"),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_return_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("churned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("won_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("risk_score", sa.Double, nullable=True),
        sa.Column("segment", sa.String(16), nullable=True),
        sa.Column("value_tier", sa.String(1), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customers"),
        schema="risk",
    )
    # List filters page by customer_id within a status.
    op.create_index("ix_customers_status", "customers", ["status", "customer_id"], schema="risk")
    op.create_table(
        "progress",
        sa.Column("id", sa.SmallInteger, nullable=False),
        sa.Column("highest_event_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_progress"),
        schema="risk",
    )
    op.execute("INSERT INTO risk.progress (id, highest_event_time) VALUES (1, NULL)")
    create_outbox_and_processed_events("risk")
