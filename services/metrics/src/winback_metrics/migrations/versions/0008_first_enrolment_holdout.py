"""An episode is held out when its first enrolment is (no longer when any enrolment is).

`uplift` became the intent-to-treat effect (issue 14): the arm of an episode is fixed by its first
enrolment, because whether a customer is enrolled again depends on how the first one went. This
recomputes `churn_episodes.holdout` with the same rule as `adapters/episode_refresh.py` and
re-stamps `ep_holdout` onto actions and enrolments (the triggers of migration 0004 move the
actions' roll-ups with them). The partial index serves the per-playbook query's read of actions
in held-out episodes (contacted by a later enrolment in another playbook), a small share.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"

FIRST_ENROLMENT = """
UPDATE metrics.churn_episodes e SET holdout = f.holdout
FROM (
    SELECT DISTINCT ON (episode_id) episode_id, holdout FROM metrics.enrollments
    WHERE episode_id IS NOT NULL
    ORDER BY episode_id, COALESCE(enrolled_at, exited_at), enrollment_id
) f
WHERE e.episode_id = f.episode_id AND e.holdout IS DISTINCT FROM f.holdout
"""

RESTAMP = """
UPDATE metrics.{table} x SET ep_holdout = e.holdout
FROM metrics.churn_episodes e
WHERE x.episode_id = e.episode_id AND x.ep_holdout IS DISTINCT FROM e.holdout
"""


def upgrade() -> None:
    op.execute(FIRST_ENROLMENT)
    for table in ("actions", "enrollments"):
        op.execute(RESTAMP.format(table=table))
    op.execute(
        "CREATE INDEX ix_actions_held_out_contacts ON metrics.actions (playbook_id, episode_id) "
        "WHERE ep_holdout AND status = 'triggered'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX metrics.ix_actions_held_out_contacts")
    op.execute(
        "UPDATE metrics.churn_episodes e SET holdout = EXISTS (SELECT 1 FROM metrics.enrollments n "
        "WHERE n.episode_id = e.episode_id AND n.holdout)"
    )
    for table in ("actions", "enrollments"):
        op.execute(RESTAMP.format(table=table))
