"""The running system as a win-back manager sees it: tell it histories, let time pass, read its decisions.

`World` wraps the five real services: `play` sends customers' histories through ingest at the
services' current time, `pass_time` moves every clock, and `decision` reads back what risk and
campaign made of one customer (status, value, tier, segment, playbook, planned steps, channels).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from tests.support.histories import Customer
from tests.support.kafka import read_topic
from winback_cli.clock import advance_all

ADMIN = {"Authorization": "Bearer dev-admin-key"}
INGEST = {"Authorization": "Bearer dev-ingest-key", "Content-Type": "application/cloudevents-batch+json"}
# A customer whose profile is sent last in every play, at the moment itself: once risk has
# applied it and reports no lag, it has applied everything sent before.
PROBE = "scenario-probe"
T = TypeVar("T")


def poll(probe: Callable[[], T], accept: Callable[[T], bool], *, timeout_s: float, interval_s: float = 0.3) -> T:
    """Call `probe` until `accept` holds or the time is up; returns the last result either way."""
    deadline = time.monotonic() + timeout_s
    result = probe()
    while not accept(result) and time.monotonic() < deadline:
        time.sleep(interval_s)
        result = probe()
    return result


@dataclass(frozen=True)
class PlannedStep:
    step_id: str
    channel: str
    assignee: str | None
    offer: str | None
    status: str


@dataclass(frozen=True)
class Decision:
    """What the services decided about one customer, in the words of the APIs."""

    customer: dict[str, Any]  # risk GET /v1/customers/{id}
    enrollments: list[dict[str, Any]]  # campaign, newest first
    actions: list[dict[str, Any]]  # campaign, newest first
    playbook_steps: dict[str, dict[str, Any]] = field(repr=False)  # step_id -> step of the enrolled playbook

    @property
    def status(self) -> str:
        return str(self.customer["status"])

    @property
    def revenue(self) -> Decimal:
        return Decimal(str(self.customer["value"]["revenue"]))

    @property
    def tier(self) -> str | None:
        tier: str | None = self.customer["value"]["value_tier"]
        return tier

    @property
    def segment(self) -> str | None:
        segment: str | None = self.customer["segment"]
        return segment

    @property
    def drivers(self) -> list[str]:
        return [d["factor"] for d in self.customer["drivers"]]

    @property
    def playbook(self) -> str | None:
        return self.enrollments[0]["playbook_id"] if self.enrollments else None

    @property
    def steps(self) -> list[PlannedStep]:
        """The steps planned in the newest enrolment, with who does them and what they offer."""
        if not self.enrollments:
            return []
        planned = []
        for s in self.enrollments[0]["steps"]:
            known = self.playbook_steps.get(s["step_id"], {})
            assignee, offer = known.get("assignee"), known.get("offer")
            planned.append(PlannedStep(s["step_id"], s["channel"], assignee, offer, s["status"]))
        return planned

    @property
    def channels(self) -> list[str]:
        return [s.channel for s in self.steps]


class World:
    """Five services on one broker and database, reached over their HTTP APIs."""

    def __init__(self, urls: Mapping[str, str], bootstrap: str) -> None:
        self.urls = dict(urls)
        self.bootstrap = bootstrap
        self.client = httpx.Client(timeout=30)
        self._playbooks: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.client.close()

    # --- time -------------------------------------------------------------------------------
    def now(self) -> datetime:
        """One moment for every service: all clocks moved to the latest of them."""
        return advance_all(self.client, self.urls)

    def pass_time(self, delta: timedelta) -> datetime:
        """Let `delta` pass on every clock; risk's assessor and campaign's scheduler act on what came due."""
        moment = advance_all(self.client, self.urls, self.now() + delta)
        self._wait_risk(None)
        return moment

    # --- telling histories ------------------------------------------------------------------
    def send(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), 1000):
            r = self.client.post(f"{self.urls['ingest']}/v1/events", json=events[start : start + 1000], headers=INGEST)
            assert r.status_code == 202, r.text

    def play(self, *customers: Customer) -> datetime:
        """Send the customers' histories as of the services' current time; returns when risk applied them."""
        moment = self.now()
        events = [e for c in customers for e in c.events(moment)]
        self.send(events)
        self._settle(moment)
        return moment

    def play_many(self, customers: Iterable[Customer]) -> datetime:
        return self.play(*customers)

    def _settle(self, moment: datetime) -> None:
        probe = Customer(PROBE).with_profile()
        self.send([{**probe.events(moment)[0], "time": moment.isoformat()}])
        self._wait_risk(moment)
        # Risk's assessor re-scores everyone at the clock's now once its consumer has caught up: nudge it.
        advance_all(self.client, self.urls)

    def _wait_risk(self, moment: datetime | None, timeout_s: float = 90.0) -> None:
        """Until risk reports no lag and (with `moment`) has applied an event of that time."""

        def progress() -> dict[str, Any]:
            r = self.client.get(f"{self.urls['risk']}/v1/progress", headers=ADMIN)
            if r.status_code == 503:  # lag not known yet (the consumer is joining its group): ask again
                return {}
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        def absorbed(p: dict[str, Any]) -> bool:
            highest = p.get("highest_event_time")
            if moment is None:
                return p.get("lag") == 0
            return p.get("lag") == 0 and highest is not None and datetime.fromisoformat(highest) >= moment

        last = poll(progress, absorbed, timeout_s=timeout_s)
        assert absorbed(last), f"risk has not applied the history after {timeout_s}s: {last}"

    def fit_model(self) -> dict[str, Any]:
        r = self.client.post(f"{self.urls['risk']}/v1/model/fit", headers=ADMIN)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    # --- reading decisions ------------------------------------------------------------------
    def customer(self, customer_id: str) -> dict[str, Any]:
        r = self.client.get(f"{self.urls['risk']}/v1/customers/{customer_id}", headers=ADMIN)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def enrollments(self, customer_id: str) -> list[dict[str, Any]]:
        r = self.client.get(f"{self.urls['campaign']}/v1/customers/{customer_id}/enrollments", headers=ADMIN)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return sorted(items, key=lambda e: e["started_at"], reverse=True)

    def actions(self, customer_id: str) -> list[dict[str, Any]]:
        r = self.client.get(f"{self.urls['campaign']}/v1/actions", params={"customer_id": customer_id}, headers=ADMIN)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def statuses(self, customer_id: str) -> list[str]:
        """The status of every `customer.status_changed` risk published about the customer, in order."""
        events = asyncio.run(read_topic(self.bootstrap, "winback.risk", idle_s=1.0))
        return [
            e["data"]["to"]
            for e in events
            if e["type"] == "customer.status_changed" and e["data"]["customer_id"] == customer_id
        ]

    def playbook(self, playbook_id: str) -> dict[str, Any]:
        if playbook_id not in self._playbooks:
            r = self.client.get(f"{self.urls['campaign']}/v1/playbooks/{playbook_id}", headers=ADMIN)
            assert r.status_code == 200, r.text
            self._playbooks[playbook_id] = r.json()
        return self._playbooks[playbook_id]

    def decision(
        self,
        customer_id: str,
        *,
        enrollments: int = 1,
        actions: int = 0,
        timeout_s: float = 30.0,
    ) -> Decision:
        """The customer's state once campaign shows `enrolments` enrolments and `actions` actions.

        Expecting none waits a few seconds, so a late enrolment would still be seen.
        """

        def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return self.enrollments(customer_id), self.actions(customer_id)

        if enrollments or actions:
            found = poll(read, lambda ea: len(ea[0]) >= enrollments and len(ea[1]) >= actions, timeout_s=timeout_s)
        else:
            time.sleep(4.0)
            found = read()
        enrolled, done = found
        steps = {}
        if enrolled:
            steps = {s["step_id"]: s for s in self.playbook(enrolled[0]["playbook_id"])["steps"]}
        return Decision(self.customer(customer_id), enrolled, done, steps)
