"""Facts for scoring at any as_of (orders, signals), the fitted models, stored scores.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"

MONEY = sa.Numeric(24, 6)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("order_id", sa.String(256), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        # The UTC day: same-day orders are one purchase occasion.
        sa.Column("order_date", sa.Date, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("margin", MONEY, nullable=True),
        sa.PrimaryKeyConstraint("customer_id", "order_id", name="pk_orders"),
        schema="risk",
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(256), nullable=True),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("label", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signals"),
        schema="risk",
    )
    op.create_index("ix_signals_customer_at", "signals", ["customer_id", "at"], schema="risk")
    op.create_table(
        "models",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("parameters", JSONB, nullable=False),
        sa.Column("customers_used", sa.Integer, nullable=False),
        sa.Column("log_likelihood", sa.Double, nullable=True),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("statistics", JSONB, nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        schema="risk",
    )
    for name, kind in (
        ("p_alive", sa.Double),
        ("winback_probability", sa.Double),
        ("assessed_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("customers", sa.Column(name, kind, nullable=True), schema="risk")
    op.create_index("ix_customers_risk", "customers", ["risk_score", "customer_id"], schema="risk")


def downgrade() -> None:
    op.drop_index("ix_customers_risk", "customers", schema="risk")
    for name in ("p_alive", "winback_probability", "assessed_at"):
        op.drop_column("customers", name, schema="risk")
    op.drop_table("models", schema="risk")
    op.drop_table("signals", schema="risk")
    op.drop_table("orders", schema="risk")
