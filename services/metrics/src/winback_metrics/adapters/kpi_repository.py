"""Reading a churn cohort: its episodes (with return and next churn) and its action tallies.

Each episode's window runs from its churn to the customer's return or next churn, whichever
comes first; actions in that window are the episode's win-back effort. Everything is keyed
by event time, so a replay of the same history gives the same answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from winback_metrics.domain.cohort import CohortFilter
from winback_metrics.domain.kpis import ActionTally, Episode

# The SQL below is assembled from these fixed fragments only; every value is a bound parameter.
_IN_WINDOW = (
    "{t}.customer_id = w.customer_id AND {t}.{at} >= w.churned_at AND (w.window_end IS NULL OR {t}.{at} < w.window_end)"
)


def _period(column: str, cohort: CohortFilter) -> str:
    clauses = []
    if cohort.period.start is not None:
        clauses.append(f"{column} >= :period_start")
    if cohort.period.end is not None:
        clauses.append(f"{column} < :period_end")
    return " AND ".join(clauses) or "TRUE"


def _action_match(cohort: CohortFilter) -> str:
    clauses = [f"a.{name} = :{name}" for name in ("playbook_id", "channel", "variant") if getattr(cohort, name)]
    return " AND ".join(clauses) or "TRUE"


def _scope(cohort: CohortFilter) -> str:
    if not cohort.narrows_actions:
        return "TRUE"
    matching_action = (
        f"EXISTS (SELECT 1 FROM metrics.actions a WHERE {_IN_WINDOW.format(t='a', at='occurred_at')}"
        f" AND {_action_match(cohort)})"
    )
    if cohort.channel is not None:
        return matching_action
    enrolment_match = " AND ".join(
        [f"en.{name} = :{name}" for name in ("playbook_id", "variant") if getattr(cohort, name)]
    )
    matching_enrolment = (
        f"EXISTS (SELECT 1 FROM metrics.enrollments en WHERE {_IN_WINDOW.format(t='en', at='enrolled_at')}"
        f" AND {enrolment_match})"
    )
    return f"({matching_action} OR {matching_enrolment})"


def _cohort_cte(cohort: CohortFilter) -> str:
    episode_filters = [_period("ep.churned_at", cohort)]
    episode_filters += [f"ep.{name} = :{name}" for name in ("segment", "value_tier") if getattr(cohort, name)]
    return f"""
WITH customers AS (
    SELECT DISTINCT customer_id FROM metrics.churn_episodes WHERE {_period("churned_at", cohort)}
), ep AS (
    SELECT e.customer_id, e.churned_at, e.churn_reason, e.segment, e.value_tier,
           LEAD(e.churned_at) OVER (PARTITION BY e.customer_id ORDER BY e.churned_at) AS next_churn_at
    FROM metrics.churn_episodes e JOIN customers USING (customer_id)
), cohort AS (
    SELECT ep.*,
           (SELECT min(r.returned_at) FROM metrics.returns r
             WHERE r.customer_id = ep.customer_id AND r.returned_at > ep.churned_at
               AND (ep.next_churn_at IS NULL OR r.returned_at < ep.next_churn_at)) AS won_back_at
    FROM ep WHERE {" AND ".join(episode_filters)}
), windows AS (
    SELECT cohort.*, COALESCE(won_back_at, next_churn_at) AS window_end FROM cohort
), scoped AS (
    SELECT w.* FROM windows w WHERE {_scope(cohort)}
)"""


def _params(cohort: CohortFilter) -> dict[str, Any]:
    params: dict[str, Any] = {"period_start": cohort.period.start, "period_end": cohort.period.end}
    for name in ("playbook_id", "channel", "variant", "segment", "value_tier"):
        params[name] = getattr(cohort, name)
    return {k: v for k, v in params.items() if v is not None}


async def load_cohort(session: AsyncSession, cohort: CohortFilter) -> tuple[list[Episode], list[ActionTally]]:
    """The cohort's episodes and its actions tallied by status and reason, from one snapshot."""
    cte = _cohort_cte(cohort)
    params = _params(cohort)
    episode_rows = await session.execute(
        text(f"{cte} SELECT churned_at, won_back_at, next_churn_at, churn_reason FROM scoped"), params
    )
    episodes = [Episode(r.churned_at, r.won_back_at, r.next_churn_at, r.churn_reason) for r in episode_rows]
    tally_rows = await session.execute(
        text(
            f"""{cte}
SELECT a.status, a.reason, count(*) AS n, COALESCE(sum(a.cost), 0) AS cost
FROM scoped w JOIN metrics.actions a ON {_IN_WINDOW.format(t="a", at="occurred_at")}
WHERE {_action_match(cohort)}
GROUP BY a.status, a.reason"""
        ),
        params,
    )
    tallies = [ActionTally(r.status, r.reason, int(r.n), Decimal(r.cost)) for r in tally_rows]
    return episodes, tallies
