"""The short summary `make run` prints after a simulation: what the system did and whether it was right."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1%}"


def _eur(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.2f} EUR"


def _top(counts: Mapping[str, Any], n: int = 6) -> str:
    items = list(counts.items())
    shown = ", ".join(f"{k} {v}" for k, v in items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "") if items else "none"


def print_summary(console: Console, report: Mapping[str, Any]) -> None:
    """Detected, contacted and why, suppressed and why, earned, uplift against the truth, law."""
    run, act, det, money, law = (report[k] for k in ("run", "activity", "detection", "money", "law"))
    console.print(
        f"[bold]Simulated[/] {run['customers']:,} customers from {run['start'][:10]} to {run['end'][:10]}: "
        f"{run['events_sent']:,} events through ingest in {run['wall_s']:.0f} s"
    )
    table = Table(title="What the services did (and the truth beside it)", show_lines=False)
    table.add_column("")
    table.add_column("answer")
    flags = act["flags"]
    days = det["days_to_flag"]
    table.add_row(
        "detected",
        f"at risk {flags.get('at_risk', 0)}, lapsed {flags.get('lapsed', 0)}, churned {flags.get('churned', 0)} "
        f"(true drop-outs {det['true_dropouts']}; flagged a median {days['median'] or 0:.0f} days after; "
        f"lapsed precision {_pct(det['lapsed']['precision'])}, recall {_pct(det['lapsed']['recall'])})",
    )
    table.add_row("enrolled (why: playbook)", _top(act["enrolled"]))
    table.add_row("contacted", f"{act['contacted_customers']} customers: {_top(act['triggered'])}")
    table.add_row("suppressed (why)", _top(act["suppressed_by_reason"]))
    m = {k: v["metrics"] for k, v in money.items()}
    t = {k: v["true"] for k, v in money.items()}
    table.add_row(
        "earned",
        f"won back {m['won_back'] or 0:.0f} of {m['churned'] or 0:.0f} churned ({_pct(m['winback_rate'])}; "
        f"true {_pct(t['winback_rate'])}), recovered {_eur(m['recovered_revenue'])}, cost {_eur(m['cost_total'])}, "
        f"ROI {m['roi'] if m['roi'] is None else round(m['roi'], 2)}",
    )
    u = report["uplift"]["overall"]
    verdict = {True: "covers the truth", False: "MISSES the truth", None: "no interval yet"}[u["covered"]]
    table.add_row(
        "uplift (ITT)",
        f"{_pct(u['estimate'])} [{_pct(u['ci_low'])}, {_pct(u['ci_high'])}] vs true {_pct(u['true'])}: {verdict}",
    )
    table.add_row(
        "law",
        f"{law['checked']} contacts checked: {law['without_basis']} without a basis, "
        f"{law['after_objection']} after an objection",
    )
    parked = run.get("parked") or {}
    table.add_row(
        "not applied",
        ", ".join(f"{service} parked {n}" for service, n in sorted(parked.items())) if parked else "none parked",
    )
    console.print(table)
