"""The services' answers next to the simulator's truth: uplift, detection, money and law.

Pure functions over what was read (metrics' KPIs, risk's customers, the actions and status
flags seen on the topics) and the business's truth; `to_markdown` renders the same report.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from winback_cli.simulation.observed import Observed
from winback_cli.simulation.truth import CHANNEL_COST

# Risk's driver factors under the names the simulator may give the hazards it draws from.
FACTOR_ALIASES = {
    "complaint": "complaints",
    "complaints": "complaints",
    "ticket_unresolved": "tickets_open_long",
    "csat_low": "low_csat",
    "nps": "nps_detractor",
    "nps_detractor": "nps_detractor",
    "detractor": "nps_detractor",
    "csat": "low_csat",
    "low_csat": "low_csat",
    "usage": "falling_usage",
    "falling_usage": "falling_usage",
    "usage_drop": "falling_usage",
    "tickets_open_long": "tickets_open_long",
    "returns": "returns",
}

ConsentLookup = Callable[[str, str, datetime], "str | None"]


def _at(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


# --- uplift ------------------------------------------------------------------------------------


def interval_check(estimate: Any, low: Any, high: Any, true: Any) -> dict[str, Any]:
    """One estimate with its interval against the true value: covered, and by how much it missed."""
    e, lo, hi, t = _num(estimate), _num(low), _num(high), _num(true)
    covered = None if lo is None or hi is None or t is None else lo <= t <= hi
    error = None if e is None or t is None else e - t
    return {"estimate": e, "ci_low": lo, "ci_high": hi, "true": t, "covered": covered, "error": error}


def uplift_comparison(kpi_uplift: Mapping[str, Any] | None, truth_uplift: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics' intent-to-treat uplift (overall, per playbook) against the true effect on the same customers.

    Beside it the descriptive contacted-minus-holdout difference, the biased comparison the ITT replaces.
    """

    def one(answer: Mapping[str, Any] | None, truth: Mapping[str, Any] | None) -> dict[str, Any]:
        answer = answer or {}
        check = interval_check(
            answer.get("uplift"), answer.get("ci_low"), answer.get("ci_high"), (truth or {}).get("true")
        )
        contacted, holdout = _num(answer.get("contacted_rate")), _num(answer.get("holdout_rate"))
        naive = None if contacted is None or holdout is None else contacted - holdout
        # What this very sample shows under the truth (its arms' realised rates): an estimator of the
        # right quantity lands on it up to arm-membership noise, a biased one misses by its bias.
        t_rate, h_rate = (
            _num((truth or {}).get("observed_treated_rate")),
            _num((truth or {}).get("observed_holdout_rate")),
        )
        sample = None if t_rate is None or h_rate is None else t_rate - h_rate
        return {
            **check,
            "sample_effect": sample,
            "contacted_minus_holdout": naive,
            "treated": answer.get("treated", answer.get("contacted")),
            "holdout": answer.get("holdout"),
        }

    kpi_uplift = kpi_uplift or {}
    answers = kpi_uplift.get("by_playbook") or {}
    truths = truth_uplift.get("by_playbook") or {}
    return {
        "overall": one(kpi_uplift.get("overall"), truth_uplift.get("overall")),
        "by_playbook": {pid: one(answers.get(pid), truths.get(pid)) for pid in sorted(set(answers) | set(truths))},
    }


def uplift_acceptable(check: Mapping[str, Any], *, max_error: float) -> bool:
    """An estimate a reader may trust: its interval covers the truth and it lies within `max_error` of it."""
    return bool(check.get("covered")) and check.get("error") is not None and abs(check["error"]) <= max_error


# --- detection ---------------------------------------------------------------------------------


def _quantiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "mean": None, "p90": None}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "mean": statistics.fmean(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
    }


def detection(
    truth: Mapping[str, Any], observed: Observed, end: datetime, customers: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Days from the true drop-out to risk's flag; precision and recall of `lapsed` and `at_risk` at the end."""
    dropouts = {c: _at(v["at"] if isinstance(v, Mapping) else v) for c, v in _dropouts(truth).items()}
    history = _status_history(observed)
    delays = []
    undetected = 0
    for customer, at in dropouts.items():
        delay = _days_to_flag(history.get(customer, []), at)
        if delay is None:
            undetected += 1
        else:
            delays.append(delay)
    final = {str(c["customer_id"]): str(c.get("status")) for c in customers}
    return {
        "true_dropouts": len(dropouts),
        "days_to_flag": _quantiles(delays),
        "never_flagged": undetected,
        "lapsed": _lapsed_at_end(final, dropouts, end),
        "at_risk": _at_risk_at_end(final, truth.get("at_risk") or {}),
    }


GONE = ("lapsed", "churned")


def _status_history(observed: Observed) -> dict[str, list[tuple[datetime, str]]]:
    history: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for flag in observed.flags:
        history[flag.customer_id].append((flag.at, flag.to))
    for moves in history.values():
        moves.sort()
    return history


def _days_to_flag(moves: list[tuple[datetime, str]], dropout: datetime) -> float | None:
    """0 when risk already had the customer lapsed or churned at the drop-out, else days to the first such flag."""
    before = [to for at, to in moves if at <= dropout]
    if before and before[-1] in GONE:
        return 0.0
    after = [at for at, to in moves if at > dropout and to in GONE]
    return (after[0] - dropout).total_seconds() / 86_400 if after else None


def _dropouts(truth: Mapping[str, Any]) -> Mapping[str, Any]:
    """The truth's drop-outs (shop buyers who stopped buying), else its churns."""
    found = truth.get("dropouts") or truth.get("churned") or {}
    return found if isinstance(found, Mapping) else {}


def _lapsed_at_end(final: Mapping[str, str], dropouts: Mapping[str, datetime], end: datetime) -> dict[str, Any]:
    """Risk's `lapsed` at the end against the true drop-outs by then. Recall counts the drop-outs at
    least 60 days old (the lapse rules' shortest reach) that risk has lapsed or churned."""
    flagged = {c for c, status in final.items() if status == "lapsed"}
    right = len(flagged & dropouts.keys())
    eligible = [c for c, at in dropouts.items() if at <= end - timedelta(days=60)]
    found = sum(1 for c in eligible if final.get(c) in GONE)
    return {
        "flagged": len(flagged),
        "true_positive": right,
        "precision": right / len(flagged) if flagged else None,
        "recall": found / len(eligible) if eligible else None,
        "recall_base": len(eligible),
    }


def _at_risk_at_end(final: Mapping[str, str], truth: Mapping[str, Any]) -> dict[str, Any]:
    """Risk's `at_risk` at the end of the run against the customers truly at risk then (alive, with
    drivers multiplying their hazard past the simulator's threshold)."""
    flagged = {c for c, status in final.items() if status == "at_risk"}
    really = {c for c, t in truth.items() if isinstance(t, Mapping) and t.get("at_risk")}
    right = len(flagged & really)
    return {
        "flagged": len(flagged),
        "true_positive": right,
        "precision": right / len(flagged) if flagged else None,
        "recall": right / len(really) if really else None,
        "recall_base": len(really),
    }


def drivers_ranking(customers: Iterable[Mapping[str, Any]], hazard_factors: Mapping[str, Any]) -> dict[str, Any]:
    """Risk's drivers ranked by mean contribution against the true hazard factors ranked by their size."""
    contributions: dict[str, list[float]] = defaultdict(list)
    for customer in customers:
        for driver in customer.get("drivers") or ():
            contributions[str(driver["factor"])].append(float(driver.get("contribution") or 0.0))
    observed = {f: statistics.fmean(v) for f, v in contributions.items() if v}
    true = {}
    for name, size in hazard_factors.items():
        value = size.get("factor", size.get("multiplier")) if isinstance(size, Mapping) else size
        if isinstance(value, int | float):
            true[FACTOR_ALIASES.get(name, name)] = float(value)
    common = sorted(set(observed) & set(true))
    return {
        "risk_ranking": sorted(observed, key=lambda f: -observed[f]),
        "true_ranking": sorted(true, key=lambda f: -true[f]),
        "compared": common,
        "spearman": _spearman([observed[f] for f in common], [true[f] for f in common]),
    }


def _spearman(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3:
        return None

    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        result = [0.0] * len(values)
        for rank, i in enumerate(order):
            result[i] = float(rank)
        return result

    try:
        return statistics.correlation(ranks(a), ranks(b))
    except statistics.StatisticsError:
        return None


# --- money -------------------------------------------------------------------------------------


def money(
    kpis: Mapping[str, Any], truth: Mapping[str, Any], flags: Mapping[str, Sequence[tuple[datetime, str]]] | None = None
) -> dict[str, Any]:
    """Win-back rate, cost per win-back, recovered revenue and ROI: metrics' answer and the truth's.

    The truth's cohort is the one metrics counts: the ends of relationships (lives) that risk called
    churned. A churn episode of metrics begins with risk's `churned` and ends at the next return, so a
    life counts when risk flagged the customer churned between the life's end and its return (or the
    run's end): every cancelled contract (churned at the notice), and a shop drop-out only if risk
    marked it churned before the customer came back. A drop-out that came back while risk still had
    it lapsed (or at risk, or active) is no churn to metrics, even when the same customer's later
    drop-out was flagged churned: counting it (a filter by customer, not by life) added a churn and a
    win-back per such customer, more the longer the run. `flags` is risk's status history per
    customer, (at, to) in time order. Risk's `churned` for a customer who had not left is risk's
    detection error, shown apart (`risk_false_churns`, and those metrics saw "won back" by the next
    order): metrics counts them, the truth cannot. Cost: the contacts of the enrolments the true
    uplift counts (those inside a churn episode), up to the return that ended it, at metrics' default
    channel prices. Recovered revenue and ROI: what the returns of those churns brought until the
    run's end, orders net of returns and contract periods paid after the return (truth.recovered_after).
    """
    churns, false_churns, false_won = _churns_metrics_counts(truth, flags or {})
    won_back = sum(1 for c in churns if c.get("returned_at"))
    # A counted enrolment's contacts up to the return that ended its churn (metrics' episode window).
    counted = {e.get("enrollment_id"): e.get("episode_end") for e in truth.get("enrollments") or [] if e.get("counted")}
    cost = sum(
        CHANNEL_COST.get(str(x.get("channel")), 0.0)
        for x in truth.get("contacts") or []
        if x.get("enrollment_id") in counted
        and (counted[x.get("enrollment_id")] is None or _at(x["at"]) < _at(counted[x.get("enrollment_id")]))
    )
    returned = [c for c in churns if c.get("returned_at")]
    revenue = sum(float(c.get("recovered_revenue") or 0.0) for c in returned)
    margin = sum(float(c.get("recovered_margin") or 0.0) for c in returned)
    true = {
        "churned": len(churns),
        "won_back": won_back,
        "winback_rate": won_back / len(churns) if churns else None,
        "cost_total": cost,
        "cost_per_winback": cost / won_back if won_back else None,
        "recovered_revenue": revenue,
        "roi": (margin - cost) / cost if cost else None,
    }
    out = {key: {"metrics": _num(kpis.get(key)), "true": _num(value)} for key, value in true.items()}
    out["churned"]["risk_false_churns"] = false_churns
    out["won_back"]["risk_false_churns_won"] = false_won
    return out


def _churns_metrics_counts(
    truth: Mapping[str, Any], flags: Mapping[str, Sequence[tuple[datetime, str]]]
) -> tuple[list[Mapping[str, Any]], int, int]:
    """The true churns risk flagged churned before their return; risk's other churn flags, and how many came back."""
    by_customer: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for c in truth.get("churns") or []:
        by_customer[str(c.get("customer_id"))].append(c)
    churns: list[Mapping[str, Any]] = []
    false_churns = false_won = 0
    for customer in by_customer.keys() | flags.keys():
        moves = flags.get(customer, [])
        churned_at = [at for at, to in moves if to == "churned"]
        used: set[datetime] = set()
        for life in sorted(by_customer.get(customer, []), key=lambda c: _at(c["at"])):
            end = _at(life["at"])
            back = _at(life["returned_at"]) if life.get("returned_at") else None
            inside = [t for t in churned_at if t >= end and (back is None or t < back)]
            if inside:
                churns.append(life)
                used.update(inside)
        for t in churned_at:
            if t in used:
                continue
            false_churns += 1
            later = [to for at, to in moves if at > t and to in ("churned", "won_back")]
            false_won += bool(later) and later[0] == "won_back"
    return churns, false_churns, false_won


# --- law ---------------------------------------------------------------------------------------


def law(observed: Observed, consent_basis_at: ConsentLookup, truth: Mapping[str, Any]) -> dict[str, Any]:
    """Every triggered action against the simulator's consent record at its moment."""
    objections = _objections(truth)
    violations = []
    for action in observed.triggered():
        customer, channel = str(action["customer_id"]), str(action["channel"])
        at = _at(action.get("time") or action.get("due_at"))
        if consent_basis_at(customer, channel, at) is not None:
            continue
        objected = any(o <= at and on in (channel, "all") for o, on in objections.get(customer, ()))
        violations.append(
            {
                "action_id": action.get("action_id"),
                "customer_id": customer,
                "channel": channel,
                "at": at.isoformat(),
                "playbook_id": action.get("playbook_id"),
                "claimed_basis": (action.get("consent") or {}).get("basis"),
                "kind": "after_objection" if objected else "without_basis",
            }
        )
    kinds = Counter(v["kind"] for v in violations)
    return {
        "checked": len(observed.triggered()),
        "without_basis": kinds["without_basis"],
        "after_objection": kinds["after_objection"],
        "violations": violations,
    }


def _objections(truth: Mapping[str, Any]) -> dict[str, list[tuple[datetime, str]]]:
    """Per customer, when and for which channel they objected ("all" when they forbade any contact)."""
    found: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for customer, entries in (truth.get("consents") or {}).items():
        for entry in entries:
            if entry.get("what") in ("objection", "no_contact"):
                on = "all" if entry["what"] == "no_contact" else str(entry.get("channel", "all"))
                found[customer].append((_at(entry["at"]), on))
    return found


# --- what campaign did -------------------------------------------------------------------------


def activity(observed: Observed) -> dict[str, Any]:
    """Enrolments by playbook (and holdout), contacts by playbook and channel, suppressions by reason."""
    enrolled = Counter(e.get("playbook_id") for e in observed.enrollments)
    held_out = Counter(e.get("playbook_id") for e in observed.enrollments if _is_holdout(e))
    triggered = Counter((a.get("playbook_id"), a.get("channel")) for a in observed.triggered())
    suppressed = Counter(a.get("reason") or "unknown" for a in observed.suppressed())
    return {
        "enrolled": dict(sorted(enrolled.items(), key=lambda kv: -kv[1])),
        "held_out": dict(held_out),
        "contacted_customers": len({a["customer_id"] for a in observed.triggered()}),
        "triggered": {f"{p}/{c}": n for (p, c), n in sorted(triggered.items(), key=lambda kv: -kv[1])},
        "suppressed_by_reason": dict(sorted(suppressed.items(), key=lambda kv: -kv[1])),
        "flags": dict(Counter(f.to for f in observed.flags)),
    }


def _is_holdout(enrollment: Mapping[str, Any]) -> bool:
    return bool(enrollment.get("holdout")) or enrollment.get("variant") == "holdout"


# --- the whole report --------------------------------------------------------------------------


def build_report(
    *,
    truth: Mapping[str, Any],
    kpis: Mapping[str, Any],
    customers: Sequence[Mapping[str, Any]],
    observed: Observed,
    consent_basis_at: ConsentLookup,
    end: datetime,
    run: Mapping[str, Any],
) -> dict[str, Any]:
    """report.json: the run, then each comparison."""
    return {
        "run": dict(run),
        "uplift": uplift_comparison(kpis.get("uplift"), truth.get("uplift") or {}),
        "detection": {
            **detection(truth, observed, end, customers),
            "drivers": drivers_ranking(customers, truth.get("hazard_factors") or {}),
        },
        "money": money(kpis, truth, _status_history(observed)),
        "law": law(observed, consent_basis_at, truth),
        "activity": activity(observed),
    }


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(report: Mapping[str, Any]) -> str:
    """report.md: the same comparisons as tables a reader can check at a glance."""
    run = report["run"]
    lines = [
        "# Simulation report",
        "",
        f"{run.get('customers')} customers, seed {run.get('seed')}, {run.get('start')} to {run.get('end')}; "
        f"{run.get('events_sent')} events in {_fmt(run.get('wall_s'), 1)} s.",
        "",
        "## Uplift (intent-to-treat: enrolled and not held out vs held out)",
        "",
        "True: the mean of both potential outcomes' difference over the enrolled; this sample's effect: "
        "the realised rates of its two arms under the truth, which a right estimator meets up to noise.",
        "",
        "| scope | metrics | 95 % interval | true | covered | this sample's effect | contacted - holdout (biased) |",
        "|---|---|---|---|---|---|---|",
    ]
    uplift = report["uplift"]
    for scope, row in [("overall", uplift["overall"]), *uplift["by_playbook"].items()]:
        lines.append(
            f"| {scope} | {_fmt(row['estimate'])} | [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}] | "
            f"{_fmt(row['true'])} | {_fmt(row['covered'])} | {_fmt(row.get('sample_effect'))} | "
            f"{_fmt(row['contacted_minus_holdout'])} |"
        )
    d = report["detection"]
    days = d["days_to_flag"]
    lines += [
        "",
        "## Detection",
        "",
        f"{d['true_dropouts']} true drop-outs; flagged lapsed or churned after a median of {_fmt(days['median'], 1)} "
        f"days (mean {_fmt(days['mean'], 1)}, 90th percentile {_fmt(days['p90'], 1)}); "
        f"never flagged: {d['never_flagged']}.",
        "",
        "| flag | flagged | precision | recall |",
        "|---|---|---|---|",
    ]
    for flag in ("lapsed", "at_risk"):
        row = d[flag]
        lines.append(f"| {flag} | {row['flagged']} | {_fmt(row['precision'])} | {_fmt(row['recall'])} |")
    drivers = d["drivers"]
    lines += [
        "",
        f"Drivers by risk: {', '.join(drivers['risk_ranking']) or '-'}; true hazards: "
        f"{', '.join(drivers['true_ranking']) or '-'}; Spearman over {len(drivers['compared'])} common: "
        f"{_fmt(drivers['spearman'], 2)}.",
        "",
        "## Money",
        "",
        "| KPI | metrics | true |",
        "|---|---|---|",
    ]
    for key, row in report["money"].items():
        lines.append(f"| {key} | {_fmt(row['metrics'])} | {_fmt(row['true'])} |")
    money_ = report["money"]
    lines += [
        "",
        f"Metrics also counts risk's churn flags of customers who had not left: "
        f"{money_['churned'].get('risk_false_churns', 0)} such churns, "
        f'{money_["won_back"].get("risk_false_churns_won", 0)} of them "won back" by their next order '
        "(risk's detection error; the truth has no churn there).",
    ]
    law_ = report["law"]
    lines += [
        "",
        "## Law",
        "",
        f"{law_['checked']} triggered actions checked against the simulator's consent record at their moment: "
        f"{law_['without_basis']} without a basis, {law_['after_objection']} after an objection.",
    ]
    for v in law_["violations"][:50]:
        lines.append(
            f"- VIOLATION {v['kind']}: {v['customer_id']} {v['channel']} at {v['at']} ({v['playbook_id']}, "
            f"campaign claimed {v['claimed_basis']})"
        )
    parked = run.get("parked") or {}
    lines += [
        "",
        "## Records the services could not apply",
        "",
        "Parked on `winback.deadletter` during the run, by service: "
        + (", ".join(f"{k} {v}" for k, v in sorted(parked.items())) if parked else "none")
        + ". Each one is an event a service did not act on; a sound run parks none.",
    ]
    act = report["activity"]
    lines += [
        "",
        "## What campaign did",
        "",
        f"Enrolled: {act['enrolled']}; held out: {act['held_out']}; contacted customers: {act['contacted_customers']}.",
        f"Contacts: {act['triggered']}.",
        f"Suppressed: {act['suppressed_by_reason']}.",
        "",
    ]
    return "\n".join(lines)
