"""Indexes that let the KPI reads avoid sorting or hashing whole tables.

- Each churn reason's latest free texts (the themes) are read in index order, LIMIT per reason,
  instead of sorting every episode of the cohort.
- Won-back episodes reached per channel are counted from a small partial index (index-only scan,
  already grouped by channel and episode) instead of scanning every action.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_churn_episodes_reason_texts ON metrics.churn_episodes "
        "((COALESCE(churn_reason, cancel_reason_code, 'unknown')), churned_at DESC, episode_id) "
        "WHERE cancel_text IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX ix_actions_won_triggered ON metrics.actions (channel, episode_id) "
        "INCLUDE (ep_churned_at, ep_segment, ep_value_tier, playbook_id, variant) "
        "WHERE status = 'triggered' AND ep_won"
    )


def downgrade() -> None:
    op.execute("DROP INDEX metrics.ix_actions_won_triggered")
    op.execute("DROP INDEX metrics.ix_churn_episodes_reason_texts")
