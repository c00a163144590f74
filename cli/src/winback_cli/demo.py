"""A small demo data set replayed through ingest, and a summary of what the system did."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

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


CUSTOMERS = (
    DemoCustomer("demo-anna", "Anna Schmidt", "doi", cancel_reason="price", expect="triggered"),
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
                {"customer_id": c.customer_id, "name": c.name, "email": email, "language": c.language},
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


def _wait_consent_absorbed(client: httpx.Client, timeout_s: float) -> None:
    """Cancellations go in after consent knows the profiles, as they would in real life."""
    last = CUSTOMERS[-1].customer_id
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.post(
            f"{URLS['consent']}/v1/decisions",
            headers=ADMIN,
            json={"customer_id": last, "channel": "email", "content": "service"},
        )
        if r.status_code == 200 and r.json().get("allowed"):
            return
        time.sleep(0.2)


def replay(client: httpx.Client, now: datetime) -> dict[str, int]:
    """Post the demo events through ingest; returns accepted and duplicate counts."""
    totals = {"accepted": 0, "duplicates": 0}
    for batch in (profile_events(now), cancellation_events(now)):
        r = client.post(
            f"{URLS['ingest']}/v1/events",
            json=batch,
            headers={**INGEST, "Content-Type": "application/cloudevents-batch+json"},
        )
        r.raise_for_status()
        for key in totals:
            totals[key] += r.json()[key]
        _wait_consent_absorbed(client, 20)
    return totals


def actions_of(client: httpx.Client, customer_id: str) -> list[dict[str, Any]]:
    r = client.get(f"{URLS['campaign']}/v1/actions", params={"customer_id": customer_id}, headers=ADMIN)
    r.raise_for_status()
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def wait_for_outcomes(client: httpx.Client, timeout_s: float = 45.0) -> dict[str, list[dict[str, Any]]]:
    expected = [c for c in CUSTOMERS if c.expect != "none"]
    deadline = time.monotonic() + timeout_s
    outcomes: dict[str, list[dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        outcomes = {c.customer_id: actions_of(client, c.customer_id) for c in CUSTOMERS}
        if all(outcomes[c.customer_id] for c in expected):
            break
        time.sleep(0.5)
    return outcomes


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


def wait_for_kpis(client: httpx.Client, actions: int, timeout_s: float = 20.0) -> dict[str, Any]:
    """KPIs once metrics has absorbed the actions the campaign service reports."""
    deadline = time.monotonic() + timeout_s
    body = kpis(client)
    while time.monotonic() < deadline:
        counted = body.get("actions", {})
        if counted.get("triggered", 0) + counted.get("suppressed", 0) >= actions:
            break
        time.sleep(0.3)
        body = kpis(client)
    return body


def now_utc() -> datetime:
    return datetime.now(UTC)
