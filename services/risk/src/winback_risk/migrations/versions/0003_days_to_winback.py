"""Time from churn (or lapse) to the return that won the customer back.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("customers", sa.Column("days_to_winback", sa.Double, nullable=True), schema="risk")


def downgrade() -> None:
    op.drop_column("customers", "days_to_winback", schema="risk")
