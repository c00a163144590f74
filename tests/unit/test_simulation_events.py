"""The simulated business's events: valid for ingest, reproducible, in their day, in realistic shares."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from winback_cli.simulation.business import Business
from winback_cli.simulation.params import SimParams
from winback_ingest.domain.validation import validate_batch
from winback_shared.events.envelope import not_after

START = datetime(2025, 1, 1, tzinfo=UTC)


def run(customers: int, seed: int, months: int = 12, params: SimParams | None = None) -> tuple[Business, list[Any]]:
    end = START + timedelta(days=round(months * 30.4375))
    business = Business(customers=customers, seed=seed, start=START, end=end, params=params)
    events: list[dict[str, Any]] = []
    day = START.date()
    while day < end.date():
        events.extend(business.events_for_day(day))
        day += timedelta(days=1)
    return business, events


@pytest.fixture(scope="module")
def year() -> tuple[Business, list[dict[str, Any]]]:
    return run(600, seed=11)


def test_every_event_passes_ingest_validation(year: tuple[Business, list[dict[str, Any]]]) -> None:
    _, events = year
    valid, errors = validate_batch(events, not_after(START + timedelta(days=400), timedelta(minutes=5)))
    assert errors == []
    assert len(valid) == len(events)
    assert {e["type"] for e in events} >= {
        "customer.upserted", "order.placed", "order.returned", "contract.started", "contract.cancelled",
        "usage.reported", "ticket.opened", "ticket.resolved", "survey.answered", "consent.granted",
        "consent.revoked", "contact.objected", "product.feature_released",
    }  # fmt: skip


def test_ids_are_unique_and_times_lie_in_their_day() -> None:
    business = Business(customers=200, seed=3, start=START, end=START + timedelta(days=120))
    seen: set[tuple[str, str]] = set()
    for offset in range(120):
        day = START.date() + timedelta(days=offset)
        events = business.events_for_day(day)
        assert [e["time"] for e in events] == sorted(e["time"] for e in events)
        for e in events:
            assert datetime.fromisoformat(e["time"]).date() == day
            assert (e["source"], e["id"]) not in seen
            seen.add((e["source"], e["id"]))


def test_the_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    _, first = run(250, seed=5, months=6)
    _, again = run(250, seed=5, months=6)
    _, other = run(250, seed=6, months=6)
    assert first == again
    assert first != other


def test_shares_of_kinds_contracts_and_reasons_follow_the_parameters() -> None:
    # Without drivers the reasons of voluntary cancellations follow the stated shares (feature wishes off).
    params = SimParams(
        driver_rates={}, wish_probability=0.0, cancel_hazard_per_month=0.15, contract_share_consumer=0.5,
        noise_ticket_rate=0.0, survey_rate=0.0,
    )  # fmt: skip
    business, events = run(3000, seed=21, months=12, params=params)
    kinds = Counter(s.customer.kind for s in business.states)
    assert kinds["business"] / 3000 == pytest.approx(params.business_share, abs=0.025)
    contracts = [s.customer.contract for s in business.states if s.customer.kind == "consumer"]
    assert sum(contracts) / len(contracts) == pytest.approx(params.contract_share_consumer, abs=0.03)
    reasons = Counter(
        e["data"]["reason_code"] for e in events
        if e["type"] == "contract.cancelled" and e["data"]["reason_code"] in params.reason_shares
    )  # fmt: skip
    total = sum(reasons.values())
    assert total > 800
    for reason, share in params.reason_shares.items():
        assert reasons[reason] / total == pytest.approx(share, abs=0.035), reason


def test_drivers_raise_the_hazard_of_leaving_by_their_factors() -> None:
    # Contract customers with a complaint leave at about twice the rate of those without (factor 2.0).
    params = SimParams(driver_rates={"complaint": 1 / 200}, company_initiated_hazard_per_year=0.0,
                       insolvency_hazard_per_year=0.0, fraud_hazard_per_year=0.0)  # fmt: skip
    business, _ = run(2000, seed=8, months=12, params=replace(params, contract_share_consumer=0.7))
    exposure = {True: 0.0, False: 0.0}
    leaving = {True: 0, False: 0}
    for state in business.states:
        if not state.customer.contract or not state.lives:
            continue
        life = state.lives[0]
        stop = min(life.end_at, business.horizon)
        onset = life.drivers.get("complaint", stop)
        exposure[False] += max(0.0, min(onset, stop) - life.start)
        exposure[True] += max(0.0, stop - onset)
        if life.end_at < business.horizon:
            leaving["complaint" in life.drivers and life.drivers["complaint"] <= life.end_at] += 1
    ratio = (leaving[True] / exposure[True]) / (leaving[False] / exposure[False])
    assert ratio == pytest.approx(params.hazard_factors["complaint"], rel=0.3)


def test_three_thousand_customers_over_twelve_months_take_seconds() -> None:
    began = time.perf_counter()
    business, events = run(3000, seed=1, months=12)
    truth = business.truth()
    took = time.perf_counter() - began
    print(f"\n3,000 customers x 12 months: {len(events)} events and the truth in {took:.2f} s")
    assert truth["customers"] == 3000
    assert date.fromisoformat(truth["end"][:10]) > START.date()


def test_the_readme_states_every_parameter() -> None:
    from dataclasses import fields
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "cli" / "README.md").read_text()
    missing = [f.name for f in fields(SimParams) if f.name not in readme]
    assert missing == []
