"""A simulated business through the five real services: what they say against what is known to be true.

A few hundred customers over six months (`winback simulate`'s driver, the shipped playbooks):
the intent-to-treat uplift must compare the enrolled arms (not the contacted customers) and land
on what this sample's arms show under the truth, with an interval covering the true effect (a
biased contacted-vs-holdout figure is rejected by the same check in
tests/unit/test_simulation_report.py: a few hundred customers leave too few held out for a run
this short to separate the two reliably); drop-outs must be flagged soon after they happen; the
win-back rate must match the truth; and not one contact may lack a basis in the simulator's own
consent record at its moment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import running_services
from winback_cli.simulation.command import SimulationRequest, run_simulation
from winback_cli.simulation.driver import Pacing
from winback_cli.simulation.http_client import StackAddress

pytestmark = pytest.mark.e2e

ALL = ["consent", "risk", "campaign", "metrics", "ingest"]
CUSTOMERS, MONTHS, SEED = 300, 6, 14
# How far the estimate may lie from this sample's realised effect (arm membership differs by a few
# customers between metrics' episodes and the simulator's enrolments).
SAMPLE_MAX_ERROR = 0.03
ARM_TOLERANCE = 0.05
WINBACK_RATE_MAX_ERROR = 0.02


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    out = Path(tmp_path_factory.mktemp("simulation"))
    with running_services(ALL, bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as services:
        address = StackAddress(
            urls={name: process.url for name, process in services.items()},
            ingest_key="dev-ingest-key",
            admin_key="dev-admin-key",
            bootstrap=kafka_bootstrap,
        )
        asyncio.run(run_simulation(SimulationRequest(CUSTOMERS, MONTHS, SEED, out), address, pacing=Pacing()))
    yield out


def _load(run: Path, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((run / name).read_text())
    return body


def test_the_run_writes_every_event_sent_the_truth_and_the_report(run: Path):
    report = _load(run, "report.json")
    truth = _load(run, "truth.json")
    lines = (run / "events.ndjson").read_text().splitlines()
    assert len(lines) == report["run"]["events_sent"] > CUSTOMERS
    assert {json.loads(line)["id"] for line in lines[:10]}, "CloudEvents with ids"
    assert (truth["customers"], truth["seed"]) == (CUSTOMERS, SEED)
    assert {"uplift", "churned", "returned"} <= truth.keys()
    assert "# Simulation report" in (run / "report.md").read_text()


def test_no_contact_without_a_basis_and_none_after_an_objection(run: Path):
    law = _load(run, "report.json")["law"]
    assert law["checked"] > 0
    assert law["violations"] == []


def test_the_uplift_compares_the_enrolled_arms_and_lands_on_this_samples_effect(run: Path):
    report = _load(run, "report.json")
    overall = report["uplift"]["overall"]
    true = _load(run, "truth.json")["uplift"]["overall"]
    # The arms are the enrolled customers, not held out against held out: an estimator comparing the
    # contacted with the holdout (consent suppresses some, and not at random) has a smaller first arm.
    assert abs(overall["treated"] - (true["enrolled"] - true["held_out"])) <= ARM_TOLERANCE * true["enrolled"], true
    assert abs(overall["holdout"] - true["held_out"]) <= max(2, ARM_TOLERANCE * true["held_out"]), true
    assert report["kpis"]["uplift"]["overall"]["contacted"] < overall["treated"]
    # The interval covers the true effect (both potential outcomes of every enrolled customer), and the
    # estimate is what this very sample's arms show under the truth.
    assert overall["covered"] is True, overall
    assert abs(overall["estimate"] - overall["sample_effect"]) <= SAMPLE_MAX_ERROR, overall


def test_lapses_are_flagged_soon_after_the_true_drop_out_and_mostly_right(run: Path):
    detection = _load(run, "report.json")["detection"]
    assert detection["days_to_flag"]["n"] > 0
    assert detection["days_to_flag"]["median"] <= 120
    assert detection["lapsed"]["precision"] >= 0.6
    assert detection["lapsed"]["recall"] >= 0.5


def test_the_winback_rate_is_the_true_one(run: Path):
    money = _load(run, "report.json")["money"]
    rate = money["winback_rate"]
    assert rate["true"] is not None and rate["metrics"] is not None
    assert abs(rate["metrics"] - rate["true"]) <= WINBACK_RATE_MAX_ERROR, money
