"""Tombstones of erased customers (GDPR Art. 17): the keyed hash of the id and the erasure time.

The plain id is never stored (HMAC-SHA256 with WINBACK_ERASURE_KEY); events of an erased customer
dated up to `erased_at` are ignored, so a replay or a late event cannot bring the person back.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("customer_digest", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_table("erasures", schema="metrics")
