"""The demo's clock helper and the scenario DSL: pure rules, no servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.scenarios.population import background
from tests.support.histories import Customer, days, minutes, months
from winback_cli.clock import SLACK, advance_all
from winback_cli.demo import DemoRun, demo_day

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _clocks(now: dict[str, datetime]) -> httpx.Client:
    """Services whose clocks only move forward, as the real endpoint does (409 otherwise)."""

    def handle(request: httpx.Request) -> httpx.Response:
        name = request.url.host
        if request.method == "GET":
            return httpx.Response(200, json={"now": now[name].isoformat()})
        target = datetime.fromisoformat(json.loads(request.content)["now"])
        if target < now[name]:
            return httpx.Response(409, json={"detail": "backwards"})
        now[name] = target
        return httpx.Response(200, json={"now": target.isoformat()})

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_every_clock_moves_to_the_same_moment_never_back():
    now = {"risk": T, "campaign": T + timedelta(hours=1)}
    urls = {name: f"http://{name}" for name in now}
    with _clocks(now) as client:
        assert advance_all(client, urls, T + days(3)) == T + days(3)
        assert now == {"risk": T + days(3), "campaign": T + days(3)}
        # A moment before the latest clock moves everyone to just after the latest instead.
        assert advance_all(client, urls, T) == T + days(3) + SLACK
        assert set(now.values()) == {T + days(3) + SLACK}


def test_the_demo_remembers_where_it_left_the_clocks(tmp_path: Path):
    run = DemoRun(T, T + days(120))
    run.save(tmp_path / "marker")
    assert DemoRun.load(tmp_path / "marker") == run
    (tmp_path / "old").write_text("replayed\n")  # the marker of earlier versions: no moment to return to
    assert DemoRun.load(tmp_path / "old") is None
    assert demo_day(run, T + days(2) - minutes(5)) == 2


def test_a_history_is_told_relative_to_the_moment_it_is_played():
    story = (
        Customer("c1", kind="business")
        .with_profile(account_manager="Petra Klein")
        .ordered(100, times=3, last=days(10))
        .contract(50, started=months(2), ends_in=days(45))
        .confirmed_email_consent(ago=days(30))
        .cancels("price")
    )
    events = story.events(T)
    assert [e["type"] for e in events] == [
        "customer.upserted",
        "order.placed",
        "contract.started",
        "order.placed",
        "consent.granted",
        "order.placed",
        "contract.cancelled",
    ]
    assert events[0]["time"] == (T - days(71)).isoformat()  # a day before the first fact
    assert events[0]["data"]["kind"] == "business" and events[0]["data"]["account_manager"] == "Petra Klein"
    assert [e["time"] for e in events if e["type"] == "order.placed"] == [
        (T - days(70)).isoformat(),
        (T - days(40)).isoformat(),
        (T - days(10)).isoformat(),
    ]
    assert events[2]["data"]["end_date"] == "2026-04-16"
    assert events[4]["data"]["evidence"]["confirmed_at"] == (T - days(30)).isoformat()
    assert events[-1]["data"] == {
        "customer_id": "c1",
        "contract_id": "c1-k1",
        "reason_code": "price",
        "no_contact_requested": False,
        "effective_date": "2026-03-02",
    }


def test_the_background_population_is_the_same_for_the_same_seed():
    first = [(c.customer_id, c.kind, [(f.type, f.ago) for f in c.facts]) for c in background(50, seed=7)]
    again = [(c.customer_id, c.kind, [(f.type, f.ago) for f in c.facts]) for c in background(50, seed=7)]
    assert first == again
    assert {kind for _, kind, _ in first} == {"consumer", "business"}
    # Nothing in the base is recent enough to be a trigger for campaign (replay window 7 days).
    assert min(f.ago for c in background(300) for f in c.facts) >= days(14)
