"""What the tool that executed a call task or letter reported: the task is then done.

The print house reports a letter `delivered` (or `bounced`), a call-centre tool `reached` or
`not_reached`, as `campaign.response`. Without this, a letter the print house had delivered stayed
open on the console's /today list for ever (417 after a simulated 18 months). The first report
by the tool's own time is kept; a person may still record an outcome afterwards.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column("actions", sa.Column("reported_outcome", sa.String(16)), schema="campaign")
    op.add_column("actions", sa.Column("reported_at", sa.DateTime(timezone=True)), schema="campaign")


def downgrade() -> None:
    op.drop_column("actions", "reported_at", schema="campaign")
    op.drop_column("actions", "reported_outcome", schema="campaign")
