"""A simulated business through the five real services: what they say against what is known to be true.

A few hundred customers over six months (`winback simulate`'s driver, the shipped playbooks):
the intent-to-treat uplift's interval must cover the true effect and lie near it, where the
contacted-vs-holdout comparison on the same run must not pass the same check; lapses must be
flagged soon after the true drop-out and mostly right; the win-back rate must match the truth;
and not one contact may lack a basis in the simulator's own consent record at its moment.
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
from winback_cli.simulation.report import uplift_acceptable

pytestmark = pytest.mark.e2e

ALL = ["consent", "risk", "campaign", "metrics", "ingest"]
CUSTOMERS, MONTHS, SEED = 400, 6, 14
# How far an estimate may lie from the truth on this population and still be called right.
UPLIFT_MAX_ERROR = 0.08
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


def test_the_intent_to_treat_interval_covers_the_true_effect_and_contacted_vs_holdout_does_not(run: Path):
    overall = _load(run, "report.json")["uplift"]["overall"]
    assert uplift_acceptable(overall, max_error=UPLIFT_MAX_ERROR), overall
    # The biased estimator of the same run, judged by the same check with the same interval width.
    biased = overall["contacted_minus_holdout"]
    half = (overall["ci_high"] - overall["ci_low"]) / 2
    biased_check = {"covered": biased - half <= overall["true"] <= biased + half, "error": biased - overall["true"]}
    assert not uplift_acceptable(biased_check, max_error=UPLIFT_MAX_ERROR), (biased, overall)


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
