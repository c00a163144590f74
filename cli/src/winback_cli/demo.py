"""A small demo data set replayed through ingest, then months passing, and a summary of what happened.

Campaign runs the shipped playbooks (their timing windows, channel mix and holdout), so the demo
lets time pass with the clock endpoints: after the cancellations it moves every service's clock
from one due step to the next, up to HORIZON after the demo's start, and sends scripted events
(a return) when their day comes. The histories lie before that start, so the cancellations fall
inside campaign's replay window and enrol.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from winback_cli.clock import advance_all, read_clocks
from winback_cli.simulation.kafka_feed import LagMonitor
from winback_cli.stack import SERVICE_URLS

ADMIN = {"Authorization": "Bearer dev-admin-key"}
INGEST = {"Authorization": "Bearer dev-ingest-key"}
URLS = SERVICE_URLS


@dataclass(frozen=True)
class DemoCustomer:
    customer_id: str
    name: str
    consent: str | None  # "doi", "written", "web_form" or None
    objects: bool = False
    cancel_reason: str | None = None
    no_contact: bool = False
    language: str = "de"
    expect: str = "none"  # what the system should do: triggered, suppressed:<reason>, none
    returns_after_days: int | None = None  # orders again this many days after the demo's start


# How far the demo lets time run: past the 90-day competitor window and its 120-day migration offer.
HORIZON = timedelta(days=120)
MAX_STAGES = 100


CUSTOMERS = (
    DemoCustomer("demo-anna", "Anna Schmidt", "doi", cancel_reason="price", expect="triggered", returns_after_days=10),
    DemoCustomer("demo-ben", "Ben Müller", "doi", objects=True, cancel_reason="service", expect="suppressed:objection"),
    DemoCustomer("demo-clara", "Clara Weber", None, cancel_reason="budget", expect="suppressed:no_consent"),
    DemoCustomer("demo-david", "David Fischer", "doi", cancel_reason="competitor", no_contact=True),
    DemoCustomer(
        "demo-eva", "Eva Wagner", "web_form", cancel_reason="quality", expect="suppressed:double_opt_in_pending"
    ),
    DemoCustomer("demo-felix", "Felix Becker", "doi", cancel_reason="insolvency"),
    DemoCustomer("demo-greta", "Greta Hoffmann", "doi"),
    DemoCustomer("demo-hans", "Hans Schulz", "written", cancel_reason="competitor", language="en", expect="triggered"),
)


def _event(type_: str, time_: datetime, data: dict[str, Any], source: str = "/demo/crm") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": time_.isoformat(),
        "data": data,
    }


def profile_events(now: datetime) -> list[dict[str, Any]]:
    """Profiles, consents, orders and objections: everything that precedes the cancellations."""
    before = now - timedelta(days=1)
    events: list[dict[str, Any]] = []
    for c in CUSTOMERS:
        email = f"{c.customer_id.removeprefix('demo-')}@example.org"
        events.append(
            _event(
                "customer.upserted",
                before - timedelta(days=400),
                {
                    "customer_id": c.customer_id,
                    "name": c.name,
                    "email": email,
                    "language": c.language,
                    "postal_address": {
                        "street": "Hauptstrasse 1",
                        "postal_code": "10115",
                        "city": "Berlin",
                        "country": "DE",
                    },
                },
            )
        )
        events.append(
            _event(
                "contract.started",
                before - timedelta(days=400),
                {
                    "customer_id": c.customer_id,
                    "contract_id": f"{c.customer_id}-k1",
                    "product": "pro",
                    "monthly_value": "49.00",
                },
                source="/demo/billing",
            )
        )
        events.append(
            _event(
                "order.placed",
                before - timedelta(days=30),
                {
                    "customer_id": c.customer_id,
                    "order_id": f"{c.customer_id}-o1",
                    "amount": "129.90",
                    "category": "software",
                },
                source="/demo/shop",
            )
        )
        if c.consent:
            method = {"doi": "double_opt_in", "written": "written", "web_form": "web_form"}[c.consent]
            evidence: dict[str, Any] = {"text_version": "newsletter-v3"}
            if c.consent == "doi":
                evidence["confirmed_at"] = (before - timedelta(days=399)).isoformat()
            events.append(
                _event(
                    "consent.granted",
                    before - timedelta(days=399),
                    {
                        "customer_id": c.customer_id,
                        "channel": "email",
                        "kind": "express",
                        "method": method,
                        "evidence": evidence,
                    },
                )
            )
        if c.objects:
            events.append(
                _event(
                    "contact.objected", before, {"customer_id": c.customer_id, "channels": ["all"], "note": "by phone"}
                )
            )
    return events


def cancellation_events(now: datetime) -> list[dict[str, Any]]:
    return [
        _event(
            "contract.cancelled",
            now - timedelta(minutes=5),
            {
                "customer_id": c.customer_id,
                "contract_id": f"{c.customer_id}-k1",
                "reason_code": c.cancel_reason,
                "no_contact_requested": c.no_contact,
            },
            source="/demo/billing",
        )
        for c in CUSTOMERS
        if c.cancel_reason
    ]


async def _wait_consumed(bootstrap: str, services: tuple[str, ...], timeout_s: float) -> None:
    """Until the services' consumer groups have applied everything on their topics (lag 0 at the broker)."""
    monitor = LagMonitor(bootstrap)
    await monitor.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any((await monitor.lags(services)).values()):
                return
            await asyncio.sleep(0.2)
    finally:
        await monitor.stop()


def replay(client: httpx.Client, now: datetime, bootstrap: str) -> dict[str, int]:
    """Post the demo events through ingest; returns accepted and duplicate counts.

    A day lies between the profiles (with Ben's objection) and the cancellations, so every service
    has applied the first before the second arrives. Campaign reads the objections on
    `winback.events` beside risk's status changes on `winback.risk`; were both in one of its
    batches, the enrolment could come before the objection that ends it, and Ben's row would
    show an exit instead of the suppressed apology that the day in between gives.
    """
    totals = {"accepted": 0, "duplicates": 0}
    for batch in (profile_events(now), cancellation_events(now)):
        answer = _post(client, batch)
        for key in totals:
            totals[key] += answer[key]
        # Cancellations go in after consent and campaign know the profiles, as they would in real life.
        asyncio.run(_wait_consumed(bootstrap, ("consent", "campaign"), 30))
    return totals


def return_events(start: datetime) -> list[tuple[datetime, dict[str, Any]]]:
    """Orders of customers who come back, each with the demo day it happens on."""
    returns = []
    for c in CUSTOMERS:
        if c.returns_after_days is None:
            continue
        at = start + timedelta(days=c.returns_after_days)
        data = {"customer_id": c.customer_id, "order_id": f"{c.customer_id}-o2", "amount": "89.00"}
        returns.append((at, _event("order.placed", at, data, source="/demo/shop")))
    return returns


def enrollments_of(client: httpx.Client, customer_id: str) -> list[dict[str, Any]]:
    r = client.get(f"{URLS['campaign']}/v1/customers/{customer_id}/enrollments", headers=ADMIN)
    r.raise_for_status()
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _pending_due(client: httpx.Client) -> list[datetime]:
    """Due times of the demo customers' steps still waiting in active enrolments."""
    due = []
    for c in CUSTOMERS:
        for enrollment in enrollments_of(client, c.customer_id):
            if enrollment["status"] == "active":
                due += [datetime.fromisoformat(s["due_at"]) for s in enrollment["steps"] if s["status"] == "pending"]
    return due


def _wait_until_settled(client: httpx.Client, moment: datetime, timeout_s: float = 20.0) -> None:
    """Until campaign has settled (or moved) every demo step due at `moment`."""
    deadline = time.monotonic() + timeout_s
    while any(d <= moment for d in _pending_due(client)) and time.monotonic() < deadline:
        time.sleep(0.3)


def wait_for_enrollments(client: httpx.Client, timeout_s: float = 45.0) -> None:
    """Until campaign has enrolled every customer the demo expects it to contact."""
    expected = [c.customer_id for c in CUSTOMERS if c.expect != "none"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(enrollments_of(client, customer) for customer in expected):
            return
        time.sleep(0.3)


def _send_returns(client: httpx.Client, events: list[dict[str, Any]]) -> int:
    """Post the returns of this day and wait until campaign reacted (a win-back ends, re-onboarding starts)."""
    customers = {e["data"]["customer_id"] for e in events}
    before = {c: len(enrollments_of(client, c)) for c in customers}
    accepted = _post(client, events)["accepted"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(len(enrollments_of(client, c)) > before[c] for c in customers):
            break
        time.sleep(0.3)
    return accepted


def let_time_pass(client: httpx.Client, start: datetime, horizon: timedelta = HORIZON) -> int:
    """Move every clock from one due step (or scripted return) to the next until `horizon`; returns events accepted."""
    returns = return_events(start)
    sent = 0
    # Bounded: a step that never settles (consent down for good) must not keep the demo waiting forever.
    for _ in range(MAX_STAGES):
        pending = [d for d in _pending_due(client) if d <= start + horizon]
        upcoming = pending + [at for at, _ in returns]
        if not upcoming:
            break
        moment = advance_all(client, URLS, min(upcoming))
        due_returns = [e for at, e in returns if at <= moment]
        returns = [(at, e) for at, e in returns if at > moment]
        if due_returns:
            sent += _send_returns(client, due_returns)
        _wait_until_settled(client, moment)
    return sent


def _post(client: httpx.Client, events: list[dict[str, Any]]) -> dict[str, int]:
    r = client.post(
        f"{URLS['ingest']}/v1/events",
        json=events,
        headers={**INGEST, "Content-Type": "application/cloudevents-batch+json"},
    )
    r.raise_for_status()
    body: dict[str, int] = r.json()
    return body


def actions_of(client: httpx.Client, customer_id: str) -> list[dict[str, Any]]:
    """The customer's actions, oldest first (by due time)."""
    r = client.get(f"{URLS['campaign']}/v1/actions", params={"customer_id": customer_id}, headers=ADMIN)
    r.raise_for_status()
    items: list[dict[str, Any]] = r.json()["items"]
    return sorted(items, key=lambda a: (a["due_at"], a["created_at"]))


def outcomes(client: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    return {c.customer_id: actions_of(client, c.customer_id) for c in CUSTOMERS}


def statuses(client: httpx.Client) -> dict[str, dict[str, Any]]:
    result = {}
    for c in CUSTOMERS:
        r = client.get(f"{URLS['risk']}/v1/customers/{c.customer_id}", headers=ADMIN)
        if r.status_code == 200:
            result[c.customer_id] = r.json()
    return result


def kpis(client: httpx.Client) -> dict[str, Any]:
    r = client.get(f"{URLS['metrics']}/v1/kpis", headers=ADMIN)
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def wait_for_kpis(client: httpx.Client, timeout_s: float = 20.0) -> dict[str, Any]:
    """KPIs once metrics has absorbed the actions: the counts no longer change between three reads."""
    deadline = time.monotonic() + timeout_s
    seen: list[Any] = []
    body = kpis(client)
    while time.monotonic() < deadline:
        seen = [*seen[-2:], body.get("actions")]
        if len(seen) == 3 and seen[0] == seen[1] == seen[2]:
            break
        time.sleep(0.5)
        body = kpis(client)
    return body


def demo_day(run: DemoRun, moment: datetime) -> int:
    """Days since the demo's start, rounded (the cancellations lie a few minutes before it)."""
    return round((moment - run.start).total_seconds() / 86_400)


@dataclass(frozen=True)
class DemoRun:
    """When the demo started and where it left the clocks, kept so a restart can return there."""

    start: datetime
    end: datetime

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"start": self.start.isoformat(), "end": self.end.isoformat()}) + "\n")

    @classmethod
    def load(cls, path: Path) -> DemoRun | None:
        try:
            body = json.loads(path.read_text())
            return cls(datetime.fromisoformat(body["start"]), datetime.fromisoformat(body["end"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def run_demo(client: httpx.Client, bootstrap: str) -> tuple[DemoRun, dict[str, int]]:
    """Replay the histories at the stack's current time, let HORIZON pass; returns the run and event counts."""
    start = advance_all(client, URLS)
    totals = replay(client, start, bootstrap)
    wait_for_enrollments(client)
    totals["accepted"] += let_time_pass(client, start)
    end = max(read_clocks(client, URLS).values())
    return DemoRun(start, end), totals


def resume(client: httpx.Client, run: DemoRun) -> None:
    """Restarted services begin at wall time: move them back to where the demo left them."""
    advance_all(client, URLS, run.end)
