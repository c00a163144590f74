"""The Grafana dashboard is valid JSON and charts only metric names the code exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "winback-operations.json"
# Counter("name", ...), Histogram(\n    "name", ...): the first string argument is the metric name.
DEFINITION = re.compile(r"\b(Counter|Histogram|Gauge)\(\s*\"(winback_[a-z_]+)\"")
SUFFIXES = {"Counter": ("_total",), "Histogram": ("_bucket", "_count", "_sum"), "Gauge": ("",)}


def _exposed() -> set[str]:
    names: set[str] = set()
    for path in [*ROOT.glob("shared/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]:
        for kind, name in DEFINITION.findall(path.read_text(encoding="utf-8")):
            base = name.removesuffix("_total")
            names.update(base + suffix for suffix in SUFFIXES[kind])
    return names


def test_every_panel_queries_exposed_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exposed = _exposed()
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bwinback_[a-z_]+", target["expr"])
    }
    assert used, "no queries"
    assert used <= exposed, f"not exposed by any service: {sorted(used - exposed)}"


def test_the_operational_questions_are_covered() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "winback_consumer_lag",
        "winback_events_consumed_total",
        "winback_batch_failures_total",
        "winback_events_dead_lettered_total",
        "winback_outbox_published_total",
        "winback_http_request_seconds_bucket",
    ):
        assert metric in exprs
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
