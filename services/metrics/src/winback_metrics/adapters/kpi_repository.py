"""Reading a churn cohort as sums over its episodes' roll-ups (adapters/episode_refresh.py).

An episode's window runs from its churn to the customer's return or next churn, whichever
comes first; actions in that window are the episode's win-back effort. Everything is keyed
by event time, so a replay of the same history gives the same answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from winback_metrics.domain.cohort import CohortFilter
from winback_metrics.domain.kpis import (
    RETENTION_HORIZONS_DAYS,
    ActionTally,
    CohortSummary,
    ReasonCount,
    ResponseRow,
    Survival,
)
from winback_metrics.domain.uplift import Arms, Group

# The SQL below is assembled from these fixed fragments only; every value is a bound parameter.
ACTION_DIMENSIONS = ("playbook_id", "channel", "variant")


def _period(column: str, cohort: CohortFilter) -> list[str]:
    clauses = []
    if cohort.period.start is not None:
        clauses.append(f"{column} >= :period_start")
    if cohort.period.end is not None:
        clauses.append(f"{column} < :period_end")
    return clauses


def _action_match(cohort: CohortFilter) -> str:
    clauses = [f"a.{name} = :{name}" for name in ACTION_DIMENSIONS if getattr(cohort, name)]
    return " AND ".join(clauses) or "TRUE"


def _scope(cohort: CohortFilter) -> list[str]:
    if not cohort.narrows_actions:
        return []
    matching_action = (
        f"EXISTS (SELECT 1 FROM metrics.actions a WHERE a.episode_id = e.episode_id AND {_action_match(cohort)})"
    )
    if cohort.channel is not None:
        return [matching_action]
    enrollment_match = " AND ".join(
        [f"n.{name} = :{name}" for name in ("playbook_id", "variant") if getattr(cohort, name)]
    )
    matching_enrollment = (
        f"EXISTS (SELECT 1 FROM metrics.enrollments n WHERE n.episode_id = e.episode_id AND {enrollment_match})"
    )
    return [f"({matching_action} OR {matching_enrollment})"]


def cohort_where(cohort: CohortFilter) -> str:
    """The cohort's episodes as a condition on `metrics.churn_episodes e`."""
    filters = _period("e.churned_at", cohort)
    filters += [f"e.{name} = :{name}" for name in ("segment", "value_tier") if getattr(cohort, name)]
    filters += _scope(cohort)
    return " AND ".join(filters) or "TRUE"


def cohort_cte(cohort: CohortFilter) -> str:
    """`WITH scoped AS (...)`: the cohort's episodes."""
    return f"WITH scoped AS (SELECT e.* FROM metrics.churn_episodes e WHERE {cohort_where(cohort)})"


def params_of(cohort: CohortFilter, now: datetime | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"period_start": cohort.period.start, "period_end": cohort.period.end, "now": now}
    # UTC days of the bounds, for the per-day roll-up (used only when the bounds are whole days).
    for name, bound in (("start_day", cohort.period.start), ("end_day", cohort.period.end)):
        params[name] = None if bound is None else bound.astimezone(UTC).date()
    for name in ("playbook_id", "channel", "variant", "segment", "value_tier"):
        params[name] = getattr(cohort, name)
    return {k: v for k, v in params.items() if v is not None}


def _survival_columns() -> str:
    columns = []
    for h in RETENTION_HORIZONS_DAYS:
        horizon = f"won_back_at + interval '{h} days'"
        columns.append(f"count(*) FILTER (WHERE {horizon} <= :now) AS old_{h}")
        still_active = f"(next_churn_at IS NULL OR next_churn_at > {horizon})"
        columns.append(f"count(*) FILTER (WHERE {horizon} <= :now AND {still_active}) AS active_{h}")
    return ", ".join(columns)


_DAYS = "extract(epoch FROM won_back_at - churned_at) / 86400.0"
# Arms of the intent-to-treat comparison; `holdout` is the episode's first enrolment's (episode_refresh).
_TREATED = "enrolled AND NOT holdout"
_CONTACTED = "NOT holdout AND triggered > 0"  # a triggered action implies `enrolled`: a subset of treated

_SUMMARY = f"""
SELECT count(*) AS churned, count(won_back_at) AS won_back, COALESCE(sum(value_at_churn), 0) AS lost_revenue,
       avg({_DAYS}) AS days_mean, percentile_cont(0.5) WITHIN GROUP (ORDER BY {_DAYS}) AS days_median,
       COALESCE(sum(recovered_revenue) FILTER (WHERE won_back_at IS NOT NULL), 0) AS recovered_revenue,
       COALESCE(sum(recovered_margin) FILTER (WHERE won_back_at IS NOT NULL), 0) AS recovered_margin,
       avg(value_at_churn) FILTER (WHERE won_back_at IS NOT NULL) AS clv_before,
       avg(value_after) FILTER (WHERE won_back_at IS NOT NULL) AS clv_after,
       {_survival_columns()},
       COALESCE(sum(nps_answers), 0) AS nps_answers, COALESCE(sum(nps_promoters), 0) AS nps_promoters,
       COALESCE(sum(nps_detractors), 0) AS nps_detractors,
       COALESCE(sum(csat_answers), 0) AS csat_answers, COALESCE(sum(csat_satisfied), 0) AS csat_satisfied,
       count(*) FILTER (WHERE {_TREATED}) AS treated, count(won_back_at) FILTER (WHERE {_TREATED}) AS treated_won,
       count(*) FILTER (WHERE {_CONTACTED}) AS contacted,
       count(won_back_at) FILTER (WHERE {_CONTACTED}) AS contacted_won,
       count(*) FILTER (WHERE holdout) AS holdout, count(won_back_at) FILTER (WHERE holdout) AS holdout_won,
       count(*) FILTER (WHERE enrolled) AS f_enrolled,
       count(*) FILTER (WHERE enrolled AND triggered > 0) AS f_contacted,
       count(*) FILTER (WHERE enrolled AND triggered > 0 AND (responded OR won_back_at IS NOT NULL)) AS f_responded,
       count(won_back_at) FILTER (WHERE enrolled AND triggered > 0) AS f_won_back
FROM scoped"""

# Themes come from the latest texts of each reason: enough for the top themes, bounded in cost.
# The reason expression matches the index `ix_churn_episodes_reason_texts` (metrics migration 0003),
# so each reason's latest texts are read in index order instead of sorting every episode.
THEME_TEXTS = 5_000
_REASON = "COALESCE(e.churn_reason, e.cancel_reason_code, 'unknown')"


# One pass over the cohort, sorting it: for cohorts narrowed by action dimensions, whose EXISTS
# filter would otherwise run once per candidate text of each reason.
_REASONS_SORTED = f"""
SELECT COALESCE(churn_reason, cancel_reason_code, 'unknown') AS reason, count(*) AS n,
       (array_agg(cancel_text ORDER BY churned_at DESC, episode_id) FILTER (WHERE cancel_text IS NOT NULL))
           [1:{THEME_TEXTS}] AS texts
FROM scoped GROUP BY 1"""


def _reasons_sql(cohort: CohortFilter) -> str:
    if cohort.narrows_actions:
        return f"{cohort_cte(cohort)} {_REASONS_SORTED}"
    where = cohort_where(cohort)
    return f"""
SELECT c.reason, c.n, t.texts FROM (
    SELECT {_REASON} AS reason, count(*) AS n FROM metrics.churn_episodes e WHERE {where} GROUP BY 1
) c CROSS JOIN LATERAL (
    SELECT array_agg(x.cancel_text ORDER BY x.churned_at DESC, x.episode_id) AS texts FROM (
        SELECT e.cancel_text, e.churned_at, e.episode_id FROM metrics.churn_episodes e
        WHERE {where} AND e.cancel_text IS NOT NULL AND {_REASON} = c.reason
        ORDER BY e.churned_at DESC, e.episode_id LIMIT {THEME_TEXTS}
    ) x
) t"""


def stamped(cohort: CohortFilter, alias: str) -> str:
    """The cohort as a filter on the episode keys stamped onto actions or enrolments (no join)."""
    filters = [f"{alias}.ep_churned_at IS NOT NULL", *_period(f"{alias}.ep_churned_at", cohort)]
    filters += [f"{alias}.ep_{name} = :{name}" for name in ("segment", "value_tier") if getattr(cohort, name)]
    return " AND ".join(filters)


def _on_day_boundaries(cohort: CohortFilter) -> bool:
    bounds = [b for b in (cohort.period.start, cohort.period.end) if b is not None]
    return all(b.utcoffset() is not None and b.astimezone(UTC).time() == time() for b in bounds)


def _rollup_sql(cohort: CohortFilter) -> str:
    # metrics.action_rollup (migration 0004): the same tallies pre-aggregated per churn day, kept
    # equal to metrics.actions by triggers. Usable when the period falls on whole UTC days.
    filters = []
    if cohort.period.start is not None:
        filters.append("a.churn_day >= :start_day")
    if cohort.period.end is not None:
        filters.append("a.churn_day < :end_day")
    filters += [f"a.ep_{name} = :{name}" for name in ("segment", "value_tier") if getattr(cohort, name)]
    filters.append(_action_match(cohort))
    return f"""
SELECT a.status, a.reason, a.channel, a.template, a.variant, sum(a.n) AS n, COALESCE(sum(a.cost), 0) AS cost,
       sum(a.delivered) AS delivered, sum(a.opened) AS opened, sum(a.clicked) AS clicked,
       sum(a.replied) AS replied, COALESCE(sum(a.n) FILTER (WHERE a.ep_won), 0) AS converted
FROM metrics.action_rollup a
WHERE {" AND ".join(filters)}
GROUP BY a.status, a.reason, a.channel, a.template, a.variant
HAVING sum(a.n) > 0"""


def _actions_sql(cohort: CohortFilter) -> str:
    if _on_day_boundaries(cohort):
        return _rollup_sql(cohort)
    # One pass, one hash key: PostgreSQL can split a plain GROUP BY over parallel workers (grouping
    # sets it cannot); the few result rows are summed per status, channel, template and variant in Python.
    return f"""
SELECT a.status, a.reason, a.channel, a.template, a.variant, count(*) AS n, COALESCE(sum(a.cost), 0) AS cost,
       count(*) FILTER (WHERE a.delivered) AS delivered, count(*) FILTER (WHERE a.opened) AS opened,
       count(*) FILTER (WHERE a.clicked) AS clicked, count(*) FILTER (WHERE a.replied) AS replied,
       count(*) FILTER (WHERE a.ep_won) AS converted
FROM metrics.actions a
WHERE {stamped(cohort, "a")} AND {_action_match(cohort)}
GROUP BY a.status, a.reason, a.channel, a.template, a.variant"""


def _channel_winbacks_sql(cohort: CohortFilter) -> str:
    # Won-back episodes reached per channel: only won-back episodes are joined, a small share.
    return f"""
SELECT channel, count(*) AS won_back FROM (
    SELECT a.channel, a.episode_id
    FROM metrics.actions a
    WHERE a.ep_won AND a.status = 'triggered' AND {stamped(cohort, "a")} AND {_action_match(cohort)}
    GROUP BY a.channel, a.episode_id
) reached GROUP BY channel"""


def _playbook_contacts_sql(cohort: CohortFilter) -> str:
    """(playbook_id, episode_id, won): episodes of the cohort with a triggered action of the playbook."""
    if cohort.channel is None and cohort.variant is None:
        # metrics.playbook_contacts (migration 0004): one row per contacted episode and playbook, for episodes
        # not held out at their first enrolment. Those that were may have been contacted by a later enrolment
        # in another playbook: they are few, read from the actions (partial index, migration 0008).
        playbook = "AND c.playbook_id = :playbook_id" if cohort.playbook_id else ""
        return f"""
    SELECT c.playbook_id, c.episode_id, c.ep_won AS won
    FROM metrics.playbook_contacts c
    WHERE c.triggered > 0 AND {stamped(cohort, "c")} {playbook}
    UNION ALL
    SELECT a.playbook_id, a.episode_id, bool_or(a.ep_won) AS won
    FROM metrics.actions a
    WHERE a.ep_holdout AND a.status = 'triggered' AND {stamped(cohort, "a")} AND {_action_match(cohort)}
    GROUP BY a.playbook_id, a.episode_id"""
    # Inner GROUP BY (hashable) instead of DISTINCT: one row per playbook and episode.
    return f"""
    SELECT a.playbook_id, a.episode_id, bool_or(a.ep_won) AS won
    FROM metrics.actions a
    WHERE a.status = 'triggered' AND {stamped(cohort, "a")} AND {_action_match(cohort)}
    GROUP BY a.playbook_id, a.episode_id"""


def _playbooks_sql(cohort: CohortFilter) -> str:
    enrollment_match = [f"n.{name} = :{name}" for name in ("playbook_id", "variant") if getattr(cohort, name)]
    # A channel is not randomised and held-out customers have none: with `channel` only the contacted
    # episodes count (no holdout arm, so no estimate), as in the cohort itself.
    if cohort.channel is not None:
        enrollment_match.append("FALSE")
    # Per playbook and episode, the first enrolment decides the arm (they agree anyway: holdout is a hash of
    # customer and playbook). DISTINCT ON and a hash join, not an ordered aggregate over the union (0.03 s
    # against 0.18 s on the quick benchmark data). An action whose enrolment was not stored counts as treated.
    return f"""
WITH first AS (
    SELECT DISTINCT ON (n.playbook_id, n.episode_id) n.playbook_id, n.episode_id, n.holdout, n.ep_won AS won
    FROM metrics.enrollments n
    WHERE {" AND ".join([stamped(cohort, "n"), *enrollment_match])}
    ORDER BY n.playbook_id, n.episode_id, COALESCE(n.enrolled_at, n.exited_at), n.enrollment_id
), contacts AS ({_playbook_contacts_sql(cohort)}
)
SELECT playbook_id, COALESCE(f.holdout, false) AS holdout, count(*) AS n,
       count(*) FILTER (WHERE COALESCE(f.won, c.won)) AS won,
       count(c.episode_id) AS contacted, count(c.episode_id) FILTER (WHERE c.won) AS contacted_won
FROM first f FULL JOIN contacts c USING (playbook_id, episode_id)
GROUP BY 1, 2"""


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _arms(cohort: CohortFilter, row: Any) -> dict[str, Group]:
    contacted = Group(row.contacted, row.contacted_won)
    if cohort.channel is not None:
        # The cohort holds only episodes reached on the channel: no randomised comparison (README).
        return {"treated": contacted, "contacted": contacted, "holdout": Group(0, 0)}
    return {
        "treated": Group(row.treated, row.treated_won),
        "contacted": contacted,
        "holdout": Group(row.holdout, row.holdout_won),
    }


async def load_summary(session: AsyncSession, cohort: CohortFilter, now: datetime) -> CohortSummary:
    """The cohort's sums, reasons and texts."""
    cte, params = cohort_cte(cohort), params_of(cohort, now)
    row = (await session.execute(text(f"{cte} {_SUMMARY}"), params)).one()
    reasons = await session.execute(text(_reasons_sql(cohort)), params)
    return CohortSummary(
        churned=row.churned,
        won_back=row.won_back,
        lost_revenue=Decimal(row.lost_revenue),
        days_mean=None if row.days_mean is None else float(row.days_mean),
        days_median=None if row.days_median is None else float(row.days_median),
        recovered_revenue=Decimal(row.recovered_revenue),
        recovered_margin=Decimal(row.recovered_margin),
        clv_before=_decimal(row.clv_before),
        clv_after=_decimal(row.clv_after),
        survival={h: Survival(getattr(row, f"old_{h}"), getattr(row, f"active_{h}")) for h in RETENTION_HORIZONS_DAYS},
        nps=(int(row.nps_answers), int(row.nps_promoters), int(row.nps_detractors)),
        csat=(int(row.csat_answers), int(row.csat_satisfied)),
        **_arms(cohort, row),
        funnel=(row.f_enrolled, row.f_contacted, row.f_responded, row.f_won_back),
        reasons=[ReasonCount(r.reason, r.n, tuple(r.texts or ())) for r in reasons],
    )


# Recovered revenue has two parts: orders after the return, summed into the episode when they arrive
# (episode_refresh, in _SUMMARY), and contract payments after it, which accrue with time, not with
# events: the monthly periods of the customer's contract runs that begin from the return until the next
# episode's return, the run's end or now (metrics.periods_between, the SQL twin of
# winback_shared.contracts.periods_in, migration 0009). A join over the won-back episodes only, in a
# statement of its own: as a per-episode lateral in _SUMMARY it cost every episode a probe.
_CONTRACT_PAYMENTS = """
SELECT COALESCE(sum(r.monthly_value * p.n), 0) AS revenue, COALESCE(sum(r.monthly_margin * p.n), 0) AS margin
FROM scoped s JOIN metrics.contract_runs r ON r.customer_id = s.customer_id
CROSS JOIN LATERAL (SELECT metrics.periods_between(r.started_at, r.ends_at, s.won_back_at,
        LEAST(s.next_won_back_at, CAST(:now AS timestamptz) + interval '1 microsecond')) AS n) p
WHERE s.won_back_at IS NOT NULL"""


async def load_contract_payments(session: AsyncSession, cohort: CohortFilter, now: datetime) -> tuple[Decimal, Decimal]:
    """Revenue and margin of the contract periods the cohort's won-back customers paid after their return, by `now`."""
    row = (await session.execute(text(f"{cohort_cte(cohort)} {_CONTRACT_PAYMENTS}"), params_of(cohort, now))).one()
    return Decimal(row.revenue), Decimal(row.margin)


OUTCOMES = ("delivered", "opened", "clicked", "replied", "converted")


async def load_actions(session: AsyncSession, cohort: CohortFilter) -> tuple[list[ActionTally], list[ResponseRow]]:
    """Action tallies by status and reason, and response rows by channel, template and variant."""
    params = params_of(cohort)
    winbacks = {r.channel: int(r.won_back) for r in await session.execute(text(_channel_winbacks_sql(cohort)), params)}
    tallies: dict[tuple[str, str | None], list[Any]] = {}
    groups: dict[tuple[str, str], list[Any]] = {}
    for r in await session.execute(text(_actions_sql(cohort)), params):
        tally = tallies.setdefault((r.status, r.reason), [0, Decimal("0")])
        tally[0] += int(r.n)
        tally[1] += Decimal(r.cost)
        if r.status != "triggered":
            continue
        for dimension in ("channel", "template", "variant"):
            group = groups.setdefault(
                (dimension, getattr(r, dimension) or "none"), [0, Decimal("0"), dict.fromkeys(OUTCOMES, 0)]
            )
            group[0] += int(r.n)
            group[1] += Decimal(r.cost)
            for outcome in OUTCOMES:
                group[2][outcome] += int(getattr(r, outcome))
    responses = [
        ResponseRow(dim, key, n, outcomes, cost, winbacks.get(key, 0) if dim == "channel" else 0)
        for (dim, key), (n, cost, outcomes) in groups.items()
    ]
    return [ActionTally(status, reason, n, cost) for (status, reason), (n, cost) in tallies.items()], responses


async def load_playbooks(session: AsyncSession, cohort: CohortFilter) -> dict[str, Arms]:
    """Per playbook: its treated arm (with the contacted among them) and its holdout arm."""
    rows = await session.execute(text(_playbooks_sql(cohort)), params_of(cohort))
    arms: dict[str, dict[str, Group]] = {}
    for r in rows:
        by_arm = arms.setdefault(r.playbook_id, {})
        if r.holdout:
            by_arm["holdout"] = Group(int(r.n), int(r.won))
        else:
            by_arm["treated"] = Group(int(r.n), int(r.won))
            by_arm["contacted"] = Group(int(r.contacted), int(r.contacted_won))
    empty = Group(0, 0)
    return {
        pb: Arms(a.get("treated", empty), a.get("contacted", empty), a.get("holdout", empty)) for pb, a in arms.items()
    }


_BY_RETURN_MONTH = f"""
SELECT to_char(won_back_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*) AS won_back, {_survival_columns()}
FROM scoped WHERE won_back_at IS NOT NULL GROUP BY 1 ORDER BY 1"""

_BY_CHURN_MONTH = """
SELECT to_char(churned_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, count(*) AS churned, count(won_back_at) AS won_back
FROM scoped GROUP BY 1 ORDER BY 1"""


async def load_cohorts(
    session: AsyncSession, cohort: CohortFilter, now: datetime
) -> tuple[list[tuple[str, int, dict[int, Survival]]], list[tuple[str, int, int]]]:
    """Won-back customers by month of return with their survival, and churns by month with their returns."""
    cte, params = cohort_cte(cohort), params_of(cohort, now)
    by_return = [
        (
            r.month,
            int(r.won_back),
            {h: Survival(getattr(r, f"old_{h}"), getattr(r, f"active_{h}")) for h in RETENTION_HORIZONS_DAYS},
        )
        for r in await session.execute(text(f"{cte} {_BY_RETURN_MONTH}"), params)
    ]
    by_churn = [
        (r.month, int(r.churned), int(r.won_back))
        for r in await session.execute(text(f"{cte} {_BY_CHURN_MONTH}"), params_of(cohort))
    ]
    return by_return, by_churn
