"""Contract payments of won-back customers count as recovered revenue (issue 14).

A returned subscriber pays monthly; metrics kept only orders, so `recovered_revenue` missed every
contract payment after a return. This adds the raw contract events, each contract's runs (derived
in Python by winback_shared.contracts, the rule risk values relationships with), the next episode's
return on each episode (the end of its contract revenue), and `metrics.periods_between`, the SQL
twin of winback_shared.contracts.periods_in: monthly periods paid in advance, counted at KPI time
because they accrue with time, not with events.

Backfill: metrics skipped contract.started and contract.renewed before this revision without
recording them as applied, so re-reading winback.events from its earliest retained offset (README,
"Contract revenue") applies them; every other event is skipped by the inbox.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

MONEY = sa.Numeric(18, 6)

# Periods k >= 0 of a run from `started` that begin strictly before `x` (start + k months, the day
# clamped to a shorter month's end, in UTC like winback_shared.contracts.add_months). One expression
# without FROM, so the planner inlines it, and date_part (double) rather than extract (numeric): the KPI
# calls it for every run of every won-back customer (4x faster measured on the metrics benchmark).
_MONTHS = """((date_part('year', x AT TIME ZONE 'UTC') - date_part('year', started AT TIME ZONE 'UTC')) * 12
            + date_part('month', x AT TIME ZONE 'UTC') - date_part('month', started AT TIME ZONE 'UTC'))::integer"""
PERIODS_BEFORE = f"""
CREATE FUNCTION metrics.periods_before(started timestamptz, x timestamptz) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN x <= started THEN 0
                WHEN (started AT TIME ZONE 'UTC') + make_interval(months => {_MONTHS}) < (x AT TIME ZONE 'UTC')
                    THEN {_MONTHS} + 1
                ELSE {_MONTHS} END
$$
"""

# Periods of a run (started, ends: NULL = open) that begin in [lo, hi).
PERIODS_BETWEEN = """
CREATE FUNCTION metrics.periods_between(started timestamptz, ends timestamptz, lo timestamptz, hi timestamptz)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(0, metrics.periods_before(started, least(hi, COALESCE(ends, hi)))
                       - metrics.periods_before(started, lo))
$$
"""

NEXT_RETURNS = """
UPDATE metrics.churn_episodes e SET next_won_back_at = n.next_won_back_at
FROM (SELECT episode_id, LEAD(won_back_at) OVER (PARTITION BY customer_id ORDER BY churned_at) AS next_won_back_at
      FROM metrics.churn_episodes) n
WHERE e.episode_id = n.episode_id AND n.next_won_back_at IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "contract_events",
        sa.Column("fact_key", sa.String(800), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("contract_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("monthly_value", MONEY, nullable=True),
        sa.Column("ends_on", sa.Date, nullable=True),
        schema="metrics",
    )
    op.create_index("ix_contract_events_customer_id", "contract_events", ["customer_id"], schema="metrics")
    op.create_table(
        "contract_runs",
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("contract_id", sa.String(256), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("monthly_value", MONEY, nullable=False),
        sa.Column("monthly_margin", MONEY, nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", "contract_id", "started_at"),
        schema="metrics",
    )
    op.add_column("churn_episodes", sa.Column("next_won_back_at", sa.DateTime(timezone=True)), schema="metrics")
    op.execute(NEXT_RETURNS)
    op.execute(PERIODS_BEFORE)
    op.execute(PERIODS_BETWEEN)


def downgrade() -> None:
    op.execute("DROP FUNCTION metrics.periods_between(timestamptz, timestamptz, timestamptz, timestamptz)")
    op.execute("DROP FUNCTION metrics.periods_before(timestamptz, timestamptz)")
    op.drop_column("churn_episodes", "next_won_back_at", schema="metrics")
    op.drop_table("contract_runs", schema="metrics")
    op.drop_index("ix_contract_events_customer_id", "contract_events", schema="metrics")
    op.drop_table("contract_events", schema="metrics")
