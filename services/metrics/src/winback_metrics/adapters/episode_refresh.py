"""Derive each churn episode's roll-ups from the raw facts, for the customers a batch touched.

Raw facts (churns, returns, actions, orders, ...) are stored as they arrive; these statements
recompute, from scratch and only from event times, everything about the touched customers'
episodes: their window (churn to return or next churn), which actions and enrolments fall in
it, and sums over them. The result does not depend on arrival order or on replays, and a KPI
question becomes one scan over the cohort's episodes. With `customer_ids=None` they rebuild
every episode (after bulk loads).
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

# Window of each episode: previous and next churn, the first return between, the window's end, and the
# next episode's return (where this return's contract revenue stops counting).
_WINDOWS = """
WITH ordered AS (
    SELECT episode_id, customer_id, churned_at,
           LAG(churned_at) OVER w AS prev_churn_at, LEAD(churned_at) OVER w AS next_churn_at
    FROM metrics.churn_episodes WHERE {scope}
    WINDOW w AS (PARTITION BY customer_id ORDER BY churned_at)
), returned AS (
    SELECT o.*, (SELECT min(r.returned_at) FROM metrics.returns r
                  WHERE r.customer_id = o.customer_id AND r.returned_at > o.churned_at
                    AND (o.next_churn_at IS NULL OR r.returned_at < o.next_churn_at)) AS won_back_at
    FROM ordered o
), chained AS (
    SELECT r.*, LEAD(r.won_back_at) OVER (PARTITION BY r.customer_id ORDER BY r.churned_at) AS next_won_back_at
    FROM returned r
)
UPDATE metrics.churn_episodes e
SET prev_churn_at = r.prev_churn_at, next_churn_at = r.next_churn_at, won_back_at = r.won_back_at,
    window_end = COALESCE(r.won_back_at, r.next_churn_at), next_won_back_at = r.next_won_back_at
FROM chained r
WHERE e.episode_id = r.episode_id
  AND (e.prev_churn_at, e.next_churn_at, e.won_back_at, e.next_won_back_at)
      IS DISTINCT FROM (r.prev_churn_at, r.next_churn_at, r.won_back_at, r.next_won_back_at)
"""

_EPISODE_AT = """(SELECT e.episode_id FROM metrics.churn_episodes e
    WHERE e.customer_id = {t}.customer_id AND e.churned_at <= {at} AND (e.window_end IS NULL OR {at} < e.window_end)
    ORDER BY e.churned_at DESC LIMIT 1)"""

# Each action belongs to the episode whose window holds it, if its enrolment (an action carries it) is in
# that episode too, or not stored: the step of an at-risk or re-onboarding enrolment made before the churn
# stays out of the episode when campaign sends it after the churn because it read the churn late (it exits
# on re-churn once it reads it). Runs after _ENROLLMENTS. Responses become flags on the action.
_ACTIONS = f"""
WITH placed AS (
    SELECT a.action_id, {_EPISODE_AT.format(t="a", at="a.occurred_at")} AS by_time,
           n.enrollment_id AS enrollment_known, n.episode_id AS enrollment_episode
    FROM metrics.actions a LEFT JOIN metrics.enrollments n ON n.enrollment_id = a.enrollment_id
    WHERE {{scope}}
), tagged AS (
    SELECT p.action_id,
           CASE WHEN p.enrollment_known IS NULL OR p.enrollment_episode = p.by_time THEN p.by_time END AS episode_id,
           COALESCE(bool_or(r.outcome = 'delivered'), false) AS delivered,
           COALESCE(bool_or(r.outcome = 'opened'), false) AS opened,
           COALESCE(bool_or(r.outcome = 'clicked'), false) AS clicked,
           COALESCE(bool_or(r.outcome = 'replied'), false) AS replied,
           COALESCE(bool_or(r.outcome = 'reached'), false) AS reached
    FROM placed p LEFT JOIN metrics.responses r ON r.action_id = p.action_id
    GROUP BY p.action_id, p.by_time, p.enrollment_known, p.enrollment_episode
)
UPDATE metrics.actions a
SET episode_id = t.episode_id, delivered = t.delivered, opened = t.opened, clicked = t.clicked,
    replied = t.replied, reached = t.reached,
    -- An action that changes episode loses its stamp here, in the same row version; _STAMP gives it the
    -- new episode's. Kept, the old stamp under the new (or no) episode reached the roll-up trigger as a
    -- contact of episode NULL and the batch failed (NOT NULL on playbook_contacts.episode_id).
    ep_churned_at = CASE WHEN a.episode_id IS DISTINCT FROM t.episode_id THEN NULL ELSE a.ep_churned_at END,
    ep_won = CASE WHEN a.episode_id IS DISTINCT FROM t.episode_id THEN false ELSE a.ep_won END,
    ep_holdout = CASE WHEN a.episode_id IS DISTINCT FROM t.episode_id THEN false ELSE a.ep_holdout END,
    ep_segment = CASE WHEN a.episode_id IS DISTINCT FROM t.episode_id THEN NULL ELSE a.ep_segment END,
    ep_value_tier = CASE WHEN a.episode_id IS DISTINCT FROM t.episode_id THEN NULL ELSE a.ep_value_tier END
FROM tagged t
WHERE a.action_id = t.action_id
  AND (a.episode_id, a.delivered, a.opened, a.clicked, a.replied, a.reached)
      IS DISTINCT FROM (t.episode_id, t.delivered, t.opened, t.clicked, t.replied, t.reached)
"""

_ENROLLMENTS = f"""
UPDATE metrics.enrollments n
SET episode_id = {_EPISODE_AT.format(t="n", at="COALESCE(n.enrolled_at, n.exited_at)")}
WHERE {{scope}}
"""

# Sums over each episode's window; values, revenue and surveys "after return" end at the next churn.
_ROLLUPS = """
WITH sums AS (
    SELECT e.episode_id,
           COALESCE(act.triggered, 0) AS triggered, COALESCE(act.suppressed, 0) AS suppressed,
           COALESCE(act.cost, 0) AS cost, COALESCE(act.responded, false) AS responded,
           -- Every action carries its enrollment_id: an action proves the enrolment.
           (COALESCE(enr.enrolled, false) OR COALESCE(act.triggered + act.suppressed, 0) > 0) AS enrolled,
           COALESCE(enr.holdout, false) AS holdout,
           COALESCE(v_before.clv_12m, v_trailing.revenue) AS value_at_churn, v_after.clv_12m AS value_after,
           COALESCE(rev.revenue, 0) AS recovered_revenue, COALESCE(rev.margin, 0) AS recovered_margin,
           COALESCE(sv.nps_answers, 0) AS nps_answers, COALESCE(sv.nps_promoters, 0) AS nps_promoters,
           COALESCE(sv.nps_detractors, 0) AS nps_detractors, COALESCE(sv.csat_answers, 0) AS csat_answers,
           COALESCE(sv.csat_satisfied, 0) AS csat_satisfied,
           cx.reason_code AS cancel_reason_code, cx.texts AS cancel_text
    FROM metrics.churn_episodes e
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE a.status = 'triggered') AS triggered,
               count(*) FILTER (WHERE a.status = 'suppressed') AS suppressed,
               sum(a.cost) FILTER (WHERE a.status = 'triggered') AS cost,
               bool_or(a.status = 'triggered' AND (a.opened OR a.clicked OR a.replied OR a.reached)) AS responded
        FROM metrics.actions a WHERE a.episode_id = e.episode_id
    ) act ON true
    LEFT JOIN LATERAL (
        -- The first enrolment decides the arm: whether a later one happens depends on the outcome of the
        -- first (a held-out customer who has not returned may be enrolled again), so "any enrolment held
        -- out" would fill the holdout with customers who did not come back (README, "uplift").
        SELECT count(*) > 0 AS enrolled,
               (array_agg(n.holdout ORDER BY COALESCE(n.enrolled_at, n.exited_at), n.enrollment_id))[1] AS holdout
        FROM metrics.enrollments n WHERE n.episode_id = e.episode_id
    ) enr ON true
    LEFT JOIN LATERAL (
        SELECT v.clv_12m FROM metrics.customer_values v
        WHERE v.customer_id = e.customer_id AND v.at <= e.churned_at ORDER BY v.at DESC LIMIT 1
    ) v_before ON true
    LEFT JOIN LATERAL (
        SELECT v.clv_12m FROM metrics.customer_values v
        WHERE e.won_back_at IS NOT NULL AND v.customer_id = e.customer_id AND v.at >= e.won_back_at
          AND (e.next_churn_at IS NULL OR v.at < e.next_churn_at)
        ORDER BY v.at DESC LIMIT 1
    ) v_after ON true
    LEFT JOIN LATERAL (
        -- Without a predicted value: the net revenue of the 12 months before the churn.
        SELECT sum(o.amount - o.returned) AS revenue FROM (
            SELECT o.amount, LEAST(o.amount, COALESCE((SELECT sum(COALESCE(x.amount, o.amount))
                FROM metrics.order_returns x WHERE x.customer_id = o.customer_id AND x.order_id = o.order_id), 0))
                AS returned
            FROM metrics.orders o
            WHERE v_before.clv_12m IS NULL AND o.customer_id = e.customer_id
              AND o.placed_at > e.churned_at - interval '365 days' AND o.placed_at <= e.churned_at
        ) o
    ) v_trailing ON true
    LEFT JOIN LATERAL (
        SELECT sum(o.amount - o.returned) AS revenue,
               sum(COALESCE(o.margin, o.amount * :margin_share) * (o.amount - o.returned) / NULLIF(o.amount, 0))
                   AS margin
        FROM (
            SELECT o.amount, o.margin, LEAST(o.amount, COALESCE((SELECT sum(COALESCE(x.amount, o.amount))
                FROM metrics.order_returns x WHERE x.customer_id = o.customer_id AND x.order_id = o.order_id), 0))
                AS returned
            FROM metrics.orders o
            WHERE e.won_back_at IS NOT NULL AND o.customer_id = e.customer_id AND o.placed_at >= e.won_back_at
              AND (e.next_churn_at IS NULL OR o.placed_at < e.next_churn_at)
        ) o
    ) rev ON true
    LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE s.survey = 'nps') AS nps_answers,
               count(*) FILTER (WHERE s.survey = 'nps' AND s.score >= 9) AS nps_promoters,
               count(*) FILTER (WHERE s.survey = 'nps' AND s.score <= 6) AS nps_detractors,
               count(*) FILTER (WHERE s.survey = 'csat') AS csat_answers,
               count(*) FILTER (WHERE s.survey = 'csat' AND s.score >= 4) AS csat_satisfied
        FROM metrics.surveys s
        WHERE e.won_back_at IS NOT NULL AND s.customer_id = e.customer_id AND s.answered_at >= e.won_back_at
          AND (e.next_churn_at IS NULL OR s.answered_at < e.next_churn_at)
    ) sv ON true
    LEFT JOIN LATERAL (
        -- Cancellations after the previous episode's window and before this one's end explain this churn.
        SELECT (array_agg(c.reason_code ORDER BY c.cancelled_at DESC) FILTER (WHERE c.reason_code IS NOT NULL))[1]
                   AS reason_code,
               string_agg(c.reason_text, E'\\n' ORDER BY c.cancelled_at) AS texts
        FROM metrics.cancellations c
        WHERE c.customer_id = e.customer_id
          AND c.cancelled_at >= COALESCE((SELECT p.window_end FROM metrics.churn_episodes p
                                          WHERE p.customer_id = e.customer_id AND p.churned_at = e.prev_churn_at),
                                         '-infinity')
          AND (e.window_end IS NULL OR c.cancelled_at < e.window_end)
    ) cx ON true
    WHERE {scope}
)
UPDATE metrics.churn_episodes e
SET triggered = s.triggered, suppressed = s.suppressed, cost = s.cost, responded = s.responded,
    enrolled = s.enrolled, holdout = s.holdout, value_at_churn = s.value_at_churn, value_after = s.value_after,
    recovered_revenue = s.recovered_revenue, recovered_margin = s.recovered_margin, nps_answers = s.nps_answers,
    nps_promoters = s.nps_promoters, nps_detractors = s.nps_detractors, csat_answers = s.csat_answers,
    csat_satisfied = s.csat_satisfied, cancel_reason_code = s.cancel_reason_code, cancel_text = s.cancel_text
FROM sums s
WHERE e.episode_id = s.episode_id
"""


# Each action and enrolment carries its episode's cohort keys, so KPI queries filter them alone.
_STAMP = """
UPDATE metrics.{table} x
SET ep_churned_at = e.churned_at, ep_won = e.won_back_at IS NOT NULL, ep_holdout = e.holdout,
    ep_segment = e.segment, ep_value_tier = e.value_tier
FROM metrics.churn_episodes e
WHERE x.episode_id = e.episode_id AND {scope}
  AND (x.ep_churned_at, x.ep_won, x.ep_holdout, x.ep_segment, x.ep_value_tier)
      IS DISTINCT FROM (e.churned_at, e.won_back_at IS NOT NULL, e.holdout, e.segment, e.value_tier)
"""
# Actions or enrolments that left every episode's window lose their stamp.
_UNSTAMP = """
UPDATE metrics.{table} x SET ep_churned_at = NULL, ep_won = false, ep_holdout = false, ep_segment = NULL,
    ep_value_tier = NULL
WHERE x.episode_id IS NULL AND x.ep_churned_at IS NOT NULL AND {scope}
"""


def _statements(scoped: bool) -> list[TextClause]:
    """The refresh, in order, over the given customers (`scoped`) or all of them."""
    if scoped:
        episodes, acts, enrolments = "customer_id = ANY(:ids)", "a.customer_id = ANY(:ids)", "n.customer_id = ANY(:ids)"
        rollups, stamps = "e.customer_id = ANY(:ids)", "x.customer_id = ANY(:ids)"
    else:
        episodes = acts = enrolments = rollups = stamps = "TRUE"
    sql = [
        _WINDOWS.format(scope=episodes),
        _ENROLLMENTS.format(scope=enrolments),
        _ACTIONS.format(scope=acts),
        _ROLLUPS.format(scope=rollups),
    ]
    for table in ("actions", "enrollments"):
        sql += [_STAMP.format(table=table, scope=stamps), _UNSTAMP.format(table=table, scope=stamps)]
    return [text(s) for s in sql]


# Built once: parsing these texts for their bind parameters showed in the consumer's profile.
_SCOPED = _statements(scoped=True)
_EVERYONE = _statements(scoped=False)


async def refresh_episodes(
    session: AsyncSession, customer_ids: Collection[str] | None, *, margin_share: Decimal = Decimal("1")
) -> None:
    """Recompute the episodes of these customers (all customers when None), in the caller's transaction."""
    if customer_ids is not None and not customer_ids:
        return
    params: dict[str, object] = {"margin_share": margin_share}
    if customer_ids is not None:
        # Sorted: concurrent batches lock the same customers' rows in the same order.
        params["ids"] = sorted(customer_ids)
    for statement in _SCOPED if customer_ids is not None else _EVERYONE:
        await session.execute(statement, params)  # a statement ignores the parameters it does not name
