"""The customer's German state, for the public holidays of quiet hours.

Set from `attributes.state` or derived from the postal code (`domain/regions.py`); rows stored before
this revision are derived from their stored postal address here, so their quiet hours know the state
at once.

Revision ID: 0005
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from winback_campaign.domain.regions import customer_state

revision = "0005"
down_revision = "0004"
S = "campaign"
BATCH = 10_000


def upgrade() -> None:
    op.add_column("customers", sa.Column("state", sa.String(8)), schema=S)
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(f"SELECT customer_id, postal_address FROM {S}.customers WHERE postal_address IS NOT NULL")
    )
    derived = [(r.customer_id, customer_state(None, r.postal_address)) for r in rows]
    states = [{"id": cid, "state": state} for cid, state in derived if state is not None]
    update = sa.text(f"UPDATE {S}.customers SET state = :state WHERE customer_id = :id")
    for start in range(0, len(states), BATCH):
        connection.execute(update, states[start : start + BATCH])


def downgrade() -> None:
    op.drop_column("customers", "state", schema=S)
