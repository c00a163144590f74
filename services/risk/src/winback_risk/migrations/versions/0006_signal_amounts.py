"""Signals carry money exactly and a contract's end: contract payments count in a customer's value.

`amount` (numeric, like every amount of risk) is a contract's monthly value on
`contract_started` and a return's amount on `return`; `ends_on` is the end date of a start or
renewal and the effective date of a cancellation. Contracts stored before this revision have
no monthly value (it was not kept): they count no payments until they are replayed. Their
end dates stay readable from `label`. The returns' amounts are backfilled from the float column
(cents survive the round trip).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("signals", sa.Column("amount", sa.Numeric(24, 6), nullable=True), schema="risk")
    op.add_column("signals", sa.Column("ends_on", sa.Date, nullable=True), schema="risk")
    op.execute("UPDATE risk.signals SET amount = round(value::numeric, 2) WHERE kind = 'return' AND value IS NOT NULL")


def downgrade() -> None:
    op.drop_column("signals", "ends_on", schema="risk")
    op.drop_column("signals", "amount", schema="risk")
