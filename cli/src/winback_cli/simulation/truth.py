"""What really happened, and the true effect of every playbook on the customers it enrolled.

Potential outcomes with common random numbers: an enrolled customer's next order or return is the
first time its cumulative hazard reaches a target E drawn once (`hazard.py`). Both outcomes use the
same E, the same life (when the customer left, why) and the same contacts of other enrolments; they
differ only by this enrolment's contacts:
- not held out: treated = what happened; untreated = the same clock without this enrolment's contacts;
- held out: untreated = what happened; treated = the same clock plus the contacts the playbook would
  have made (`playbooks.py`: steps, `when`, frequency cap, quiet hours, the simulator's consent record,
  the tool's answers drawn from the same keyed streams as real contacts).
"Won back" is the metrics service's: a return (order, renewal, new contract) after the churn and
before the run's end (a return ends the episode, so it always comes before a re-churn). Realised
contacts after the realised return belong to the next life and are left out of both worlds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from winback_cli.simulation.hazard import Interval
from winback_cli.simulation.playbooks import counts_for_uplift, exits_on, planned_steps
from winback_cli.simulation.responses import respond, response_stream
from winback_shared.contracts import ContractRun, periods_in

if TYPE_CHECKING:
    from winback_cli.simulation.business import Business, Contact, State
    from winback_cli.simulation.lifecycle import Life

# metrics' default cost per channel (spec/metrics.md), for the true cost of what was sent.
CHANNEL_COST = {"email": 0.05, "sms": 0.10, "post": 1.20, "phone": 8.00}


@dataclass
class Enrollment:
    """An enrolment campaign reported, with what the counterfactual needs from the moment it began."""

    enrollment_id: str
    playbook_id: str
    ordinal: int  # the customer's n-th enrolment seen (keys the tool's answers)
    at: float
    life_index: int
    holdout: bool = False
    variant: str | None = None
    anchor: tuple[float, float] | None = None
    tier: str | None = None
    reason_seen: str | None = None
    trigger_at: float | None = None  # the churn as risk reported it (on_status_change)
    exited_at: float | None = None
    exit_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Both potential outcomes of one enrolment."""

    enrollment: Enrollment
    customer_id: str
    counted: bool
    treated_at: float | None  # next order/return when treated (None = not within the run)
    untreated_at: float | None
    contacts_if_treated: int
    # The realised return that ended the enrolment's churn: metrics' episode window ends there, and a
    # contact after it (a step sent before campaign read the return) is no cost of that episode.
    episode_end: float | None = None

    @property
    def y1(self) -> int:
        return int(self.treated_at is not None)

    @property
    def y0(self) -> int:
        return int(self.untreated_at is not None)


def _lifts(contacts: list[Contact]) -> list[Interval]:
    return [c.lift for c in contacts if c.lift is not None]


def counterfactual_contacts(b: Business, state: State, e: Enrollment, realised: list[Contact]) -> list[Contact]:
    """The contacts the playbook would have made for a held-out enrolment (see playbooks.py)."""
    from winback_campaign.domain.regions import state_of_postal_code
    from winback_campaign.domain.timing import FrequencyCap, allowed_at
    from winback_cli.simulation.business import Contact

    playbook = b.playbooks.get(e.playbook_id)
    if playbook is None:
        return []
    c, life = state.customer, state.lives[e.life_index]
    # Risk names a cancellation's reason code; a silent drop-out's reason is unknown to it.
    reason = e.reason_seen or (life.reason if c.contract else "unknown")
    tier = e.tier or estimate_tier(b, state)
    steps = planned_steps(playbook, e.variant, value_tier=tier, kind=c.kind, reason=reason)
    exits = exits_on(playbook)
    out: list[Contact] = []
    seen: dict[tuple[str, str], int] = defaultdict(int)
    cap = FrequencyCap()
    region = state_of_postal_code(c.city[1])
    # Campaign counts `after` from the trigger (the status change, or the release), never before enrolling.
    trigger = trigger_time(b, state, e, playbook)
    exit_at = math.inf  # an unsubscribe, complaint or reply ends the enrolment when it arrives
    for step in steps:
        prior = [b.at(x.at) for x in (*realised, *out)]
        due, _ = allowed_at(b.at(max(trigger + step.after_days, e.at)), step.channel, prior, cap, None, region)
        t = b.t_of(due)
        if t >= b.horizon or t >= exit_at:
            continue
        if e.exited_at is not None and t >= e.exited_at:
            # The held-out enrolment really ended (superseded by a release playbook, a return, an
            # objection): that happens in the treated world too, and ends the sequence there.
            continue
        if state.erased_at is not None and t >= state.erased_at:
            break
        if state.consent.basis(step.channel, t, step.offer_category) is None:
            if state.consent.objected(step.channel, t):
                break  # an objection ends the enrolment
            continue  # suppressed, the sequence goes on
        k = seen[(step.template, step.channel)]
        seen[(step.template, step.channel)] += 1
        answer = respond(
            response_stream(b.seed, c.customer_id, e.ordinal, step.template, step.channel, k), step.channel, b.params
        )
        lift = None
        if answer.got_through:
            start = math.floor(t) + 1.0
            value = b.lift_value(state, life, t, step.channel, step.offer, step.template)
            lift = Interval(start, start + b.params.contact_effect_days, value)
        out.append(Contact(t, step.channel, step.template, step.offer, e.playbook_id, None, lift))
        for outcome, minutes in answer.outcomes:
            if outcome in ("unsubscribed", "complained") or (outcome == "replied" and "reply" in exits):
                exit_at = min(exit_at, t + minutes / 1440)
    return out


def trigger_time(b: Business, state: State, e: Enrollment, playbook: dict[str, Any]) -> float:
    """When the enrolment's trigger happened: the churn risk reported, or the wished feature's release."""
    trigger = playbook.get("trigger") or {}
    if trigger.get("event"):
        wish = state.lives[e.life_index].feature
        shipped = b.releases.get(wish or "")
        return shipped if shipped is not None and shipped <= e.at else e.at
    if e.trigger_at is not None and e.trigger_at <= e.at:
        return e.trigger_at
    return e.at


def estimate_tier(b: Business, state: State) -> str:
    """Value tier by the simulator's own yearly value, at risk's default quantiles (A top 20 %, B next 30 %)."""
    thresholds = b.tier_thresholds()
    value = yearly_value(b, state)
    return "A" if value >= thresholds[0] else "B" if value >= thresholds[1] else "C"


def yearly_value(b: Business, state: State) -> float:
    c = state.customer
    if c.contract:
        return c.monthly_value * 12
    return c.purchase_rate * 365 * b.params.order_amount_mean


def outcome_of(b: Business, state: State, e: Enrollment) -> Outcome:
    """Both potential outcomes of one enrolment from the same clock targets."""
    life = state.lives[e.life_index]
    realised_at = life.returned_at if life.returned_at is not None else None
    if not state.customer.contract and e.at < life.end_at:
        # Still buying when enrolled: the next order is the "return" metrics would count.
        later = [o for o in life.orders if o[0] > e.at]
        realised_at = later[0][0] if later else None
    limit = realised_at if realised_at is not None else math.inf
    realised = [x for x in state.contacts if x.at < limit]
    own = [x for x in realised if x.enrollment_id == e.enrollment_id]

    def when(contacts: list[Contact]) -> float | None:
        at = b.next_event(state, e.life_index, e.anchor, _lifts(contacts), as_of=e.at)
        # Nothing of an erased customer comes after the erasure, in either world.
        gone = min(b.horizon, state.erased_at if state.erased_at is not None else math.inf)
        return at if at is not None and at < gone else None

    if e.holdout:
        extra = counterfactual_contacts(b, state, e, realised)
        treated, untreated, contacts = when([*realised, *extra]), when(realised), len(extra)
    else:
        others = [x for x in realised if x.enrollment_id != e.enrollment_id]
        treated, untreated, contacts = when(realised), when(others), len(own)
    playbook = b.playbooks.get(e.playbook_id)
    counted = counts_for_uplift(playbook) or _after_the_notice(state, e)
    return Outcome(e, state.customer.customer_id, counted, treated, untreated, contacts, life.returned_at)


def _after_the_notice(state: State, e: Enrollment) -> bool:
    """An at-risk or lapsed enrolment made after a notice campaign had not heard of yet.

    Risk reads a notice late now and then and dates the churn by it (before an at-risk enrolment it
    had caused meanwhile); metrics then counts that enrolment in the churn episode, as the first one.
    """
    life = state.lives[e.life_index]
    if not state.customer.contract or not math.isfinite(life.end_at) or e.at < life.end_at:
        return False
    return life.returned_at is None or e.at < life.returned_at


def recovered_after(b: Business, state: State, index: int) -> tuple[float, float]:
    """Revenue and margin from the return that ended churn `index` until the run's end, as metrics counts them.

    Orders of the life after the return (net of returns) until that life ends; for a contract
    customer also the monthly periods (paid in advance, winback_shared.contracts) that begin from the
    return until the next return, the contract's effective end or the end of the run. A return before
    the notice took effect renews the same contract: its periods keep the original start's day.
    After an erasure nothing is counted (metrics keeps the runs it knew of: a small overcount there).
    """
    c, lives = state.customer, state.lives
    life = lives[index + 1]
    gone = min(b.horizon, state.erased_at if state.erased_at is not None else math.inf)
    orders = sum(amount for t, amount in life.revenue if t < min(life.end_at, gone))
    revenue, margin = orders, orders * b.params.margin_share
    if not c.contract:
        return revenue, margin
    first = index + 1
    while first > 0 and _renewed_on_return(lives, first):
        first -= 1
    ends = None
    if life.effective_at is not None and life.end_at < gone:
        ends = datetime.combine(b.at(life.effective_at).date(), time.min, tzinfo=UTC)
    run = ContractRun(life.contract_id or "", b.at(lives[first].start), Decimal(f"{c.monthly_value:.2f}"), ends)
    stop = b.at(life.returned_at) if life.returned_at is not None and life.returned_at < gone else None
    periods = periods_in(run, b.at(life.start), stop or b.at(gone) + timedelta(microseconds=1))
    paid = periods * float(run.monthly_value)
    return revenue + paid, margin + paid * b.params.contract_margin_share


def _renewed_on_return(lives: list[Life], index: int) -> bool:
    """Life `index` began by withdrawing the previous life's notice before it took effect (contract.renewed)."""
    before = lives[index - 1]
    return before.effective_at is not None and lives[index].start < before.effective_at


def _index(customer_id: str) -> int:
    return int(customer_id.split("-", 1)[1])


def _last_return_before(state: State, o: Outcome) -> float:
    """The latest return-type event (a life's start, an order) at or before the enrolment."""
    at = o.enrollment.at
    starts = [life.start for life in state.lives if life.start <= at]
    orders = [t for life in state.lives for t, _ in life.orders if t <= at]
    return max([*starts, *orders], default=-math.inf)


def _effect(outcomes: list[Outcome]) -> dict[str, Any]:
    n = len(outcomes)
    if n == 0:
        return {"true": None, "enrolled": 0}
    diff = sum(o.y1 - o.y0 for o in outcomes)
    contacted = sum(1 for o in outcomes if o.contacts_if_treated > 0)
    holdout = [o for o in outcomes if o.enrollment.holdout]
    treated = [o for o in outcomes if not o.enrollment.holdout]
    return {
        "true": diff / n,
        "enrolled": n,
        "held_out": len(holdout),
        "rate_if_treated": sum(o.y1 for o in outcomes) / n,
        "rate_if_held_out": sum(o.y0 for o in outcomes) / n,
        "contact_rate_if_treated": contacted / n,
        "true_if_contacted": diff / contacted if contacted else None,
        # What this very sample would show (the estimand's realisation, not an estimate):
        "observed_treated_rate": sum(o.y1 for o in treated) / len(treated) if treated else None,
        "observed_holdout_rate": sum(o.y0 for o in holdout) / len(holdout) if holdout else None,
    }


def _money(
    churns: list[dict[str, Any]], recovered: dict[str, float], costs: dict[str, dict[str, float]], b: Business
) -> dict[str, Any]:
    """The true win-back rate, days to win back, cost per win-back and ROI over every churn of the run."""
    eligible = [c for c in churns if c["winback_eligible"]]
    won = [c for c in eligible if c["returned_at"] is not None]
    days = sorted(
        (datetime.fromisoformat(c["returned_at"]) - datetime.fromisoformat(c["at"])).total_seconds() / 86400
        for c in won
    )
    cost = sum(v["cost"] for v in costs.values())
    return {
        "churned": len(churns),
        "churned_eligible": len(eligible),
        "won_back": len(won),
        "winback_rate": len(won) / len(eligible) if eligible else None,
        "days_to_winback": {
            "mean": sum(days) / len(days) if days else None,
            "median": days[len(days) // 2] if days else None,
        },
        "cost_total": cost,
        "cost_per_winback": cost / len(won) if won else None,
        "recovered_revenue": recovered["revenue"],
        "recovered_margin": recovered["margin"],
        "roi": (recovered["margin"] - cost) / cost if cost else None,
        "margin_share": b.params.margin_share,
    }


def truth_of(b: Business) -> dict[str, Any]:
    """truth.json (module docstring): churns, returns, detection truth, consents, costs and the true uplift."""
    iso = b.iso
    churned: dict[str, dict[str, Any]] = {}
    returned: dict[str, str] = {}
    churns: list[dict[str, Any]] = []
    dropouts: dict[str, str] = {}
    at_risk: dict[str, dict[str, Any]] = {}
    consents: dict[str, list[dict[str, Any]]] = {}
    contacts: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    recovered = {"revenue": 0.0, "margin": 0.0}
    for state in b.states:
        c = state.customer
        if not state.lives:
            continue
        gone = min(b.horizon, state.erased_at if state.erased_at is not None else math.inf)
        for index, life in enumerate(state.lives):
            if life.end_at >= gone:
                continue  # stays beyond the run, or was erased first (nothing of them is sent after erasure)
            revenue, margin = recovered_after(b, state, index) if life.returned_at is not None else (0.0, 0.0)
            record = {
                "customer_id": c.customer_id,
                "at": iso(life.end_at),
                "reason": life.reason,
                "kind": "contract" if c.contract else "shop",
                "winback_eligible": life.reason not in ("company_initiated", "insolvency", "fraud")
                and not life.no_contact,
                "no_contact_requested": life.no_contact,
                "returned_at": iso(life.returned_at) if life.returned_at is not None else None,
                # What the return brought until the run's end (recovered_after): metrics' recovered revenue.
                "recovered_revenue": round(revenue, 2),
                "recovered_margin": round(margin, 2),
            }
            churns.append(record)
            churned.setdefault(c.customer_id, {"at": iso(life.end_at), "reason": life.reason})
            if not c.contract:
                dropouts.setdefault(c.customer_id, iso(life.end_at))
            if life.returned_at is not None:
                returned.setdefault(c.customer_id, iso(life.returned_at))
            recovered["revenue"] += revenue
            recovered["margin"] += margin
        last = state.life
        alive = last.end_at >= b.horizon and state.erased_at is None
        factor = last.factor_at(b.horizon, b.params.hazard_factors)
        at_risk[c.customer_id] = {
            "at_risk": alive and factor >= b.params.at_risk_factor_threshold,
            "alive": alive,
            "hazard_factor": factor,
            "drivers": {k: iso(v) for k, v in sorted(last.drivers.items(), key=lambda d: d[1])},
            # Gone at the end: a shop buyer who silently dropped out (risk should call them lapsed or
            # churned) or a contract customer who gave notice, and did not come back.
            "left": last.end_at < gone,
            "left_at": iso(last.end_at) if last.end_at < gone else None,
            "erased": state.erased_at is not None,
            "kind": "contract" if c.contract else "shop",
        }
        consents[c.customer_id] = [
            {
                k: v
                for k, v in {
                    "at": iso(e.at),
                    "what": e.what,
                    "channel": e.channel,
                    "kind": e.kind,
                    "method": e.method,
                    "confirmed": e.confirmed or None,
                    "note": e.note,
                }.items()
                if v is not None
            }
            for e in sorted(state.consent.entries, key=lambda e: e.at)
        ]
        for x in state.contacts:
            contacts.append(
                {
                    "customer_id": c.customer_id,
                    "at": iso(x.at),
                    "channel": x.channel,
                    "template": x.template,
                    "playbook_id": x.playbook_id,
                    "enrollment_id": x.enrollment_id,
                    "got_through": x.lift is not None,
                    "basis": state.consent.basis(x.channel, x.at, category_unknown=True),
                }
            )
        for e in state.enrollments.values():
            outcomes.append(outcome_of(b, state, e))
    counted = [o for o in outcomes if o.counted]
    # One churn episode of metrics runs from a churn to the next return: enrolments with no return
    # (order, renewal, new contract) between them share it, and the first one stands for it.
    first_per_episode: dict[tuple[str, float], Outcome] = {}
    for o in sorted(counted, key=lambda o: o.enrollment.at):
        first_per_episode.setdefault((o.customer_id, _last_return_before(b.states[_index(o.customer_id)], o)), o)
    by_playbook: dict[str, list[Outcome]] = defaultdict(list)
    for o in counted:
        by_playbook[o.enrollment.playbook_id].append(o)
    cost_by_channel: dict[str, dict[str, float]] = defaultdict(lambda: {"contacts": 0, "cost": 0.0})
    for sent in contacts:
        cost_by_channel[sent["channel"]]["contacts"] += 1
        cost_by_channel[sent["channel"]]["cost"] += CHANNEL_COST.get(sent["channel"], 0.0)
    return {
        "customers": b.customers,
        "seed": b.seed,
        "start": iso(b.start_t),
        "end": iso(b.horizon),
        "events_sent": b.sent,
        "uplift": {
            "overall": _effect(list(first_per_episode.values())),
            "by_playbook": {pid: _effect(items) for pid, items in sorted(by_playbook.items())},
            "not_counted": {
                "enrolments": len(outcomes) - len(counted),
                "why": "enrolments of playbooks not triggered by churn lie outside every churn episode",
            },
        },
        "churned": churned,
        "returned": returned,
        "churns": churns,
        "dropouts": dropouts,
        "at_risk": at_risk,
        "hazard_factors": dict(b.params.hazard_factors),
        "consents": consents,
        "contacts": contacts,
        "contacts_without_basis": sum(1 for x in contacts if x["basis"] is None),
        "costs": {"by_channel": dict(cost_by_channel), "total": sum(v["cost"] for v in cost_by_channel.values())},
        "recovered": recovered,
        "money": _money(churns, recovered, cost_by_channel, b),
        "erasures": {s.customer.customer_id: iso(s.erased_at) for s in b.states if s.erased_at is not None},
        "releases": {tag: iso(t) for tag, t in sorted(b.releases.items())},
        "enrollments": [
            {
                "customer_id": o.customer_id,
                "enrollment_id": o.enrollment.enrollment_id,
                "playbook_id": o.enrollment.playbook_id,
                "holdout": o.enrollment.holdout,
                "at": iso(o.enrollment.at),
                "counted": o.counted,
                "won_back_if_treated": iso(o.treated_at) if o.treated_at is not None else None,
                "won_back_if_held_out": iso(o.untreated_at) if o.untreated_at is not None else None,
                "contacts_if_treated": o.contacts_if_treated,
                "episode_end": iso(o.episode_end) if o.episode_end is not None else None,
            }
            for o in outcomes
        ],
        "params": b.params.as_dict(),
    }
