"""Let customer updates be HOT: index a coarse risk band instead of the score, leave room on pages.

Every batch rewrites the touched customers' rows, and nearly every rewrite moves `risk_score`.
With an index on the score no update could be heap-only (HOT): each one inserted a new entry
into all three indexes of the table. Indexed now is `risk_band` (the score's tenth, 0-10,
computed by the database), which an order rarely moves, and pages keep 30 % free so the new
row version fits beside the old one. Measured on 100,000 orders: the customer upsert's
database time per event fell from 13.1 to 7.1 us (bench/risk/README.md, round 4).

The `min_risk` list filter reads the band index and re-checks the exact score. The fillfactor
applies to pages written from now on; `VACUUM FULL risk.customers` repacks older ones.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("risk_band", sa.SmallInteger, sa.Computed("floor(risk_score * 10)", persisted=True)),
        schema="risk",
    )
    op.create_index("ix_customers_risk_band", "customers", ["risk_band", "customer_id"], schema="risk")
    op.drop_index("ix_customers_risk", "customers", schema="risk")
    op.execute("ALTER TABLE risk.customers SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE risk.customers RESET (fillfactor)")
    op.create_index("ix_customers_risk", "customers", ["risk_score", "customer_id"], schema="risk")
    op.drop_index("ix_customers_risk_band", "customers", schema="risk")
    op.drop_column("customers", "risk_band", schema="risk")
