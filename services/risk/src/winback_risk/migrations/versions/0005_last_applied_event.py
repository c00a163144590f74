"""Remember each customer's latest applied event, so status changes can name their position.

A status change the scheduled assessor makes (lapse, behavioural churn) has no triggering event;
it names the customer's latest event risk had applied (`caused_by`), and campaign waits until
consent has applied that event before it asks about the customer.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("customers", sa.Column("last_event_source", sa.String(512), nullable=True), schema="risk")
    op.add_column("customers", sa.Column("last_event_id", sa.String(256), nullable=True), schema="risk")


def downgrade() -> None:
    op.drop_column("customers", "last_event_id", schema="risk")
    op.drop_column("customers", "last_event_source", schema="risk")
