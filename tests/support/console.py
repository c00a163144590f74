"""The console on the five real services, with a customer whose call is due today.

`console_world` starts broker-backed services and the console as processes, tells ACME's story
(a business customer of an account manager, with a written phone consent) and lets time pass until
the account manager's call is due. `SignedIn` is an HTTP client that signed in through the form.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support.histories import MONTH, Customer, days, months
from tests.support.services import running_services
from tests.support.world import ADMIN, World
from winback_cli.clock import advance_all
from winback_cli.stack import ServiceProcess

BACKENDS = ["ingest", "risk", "campaign", "consent", "metrics"]
OPS_KEY = "console-ops-key"
ADMIN_KEY = "dev-admin-key"
INGEST_KEY = "dev-ingest-key"
KEYS_ENV = {"WINBACK_API_KEYS": f"{ADMIN_KEY}:admin,{OPS_KEY}:ops,{INGEST_KEY}:ingest"}
ACME = "acme-console"
SMALL = "kiosk-console"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def acme() -> Customer:
    """Two years of orders and a contract, a written phone consent with its §7a record (it leaves later)."""
    story = (
        Customer(ACME, kind="business")
        .with_profile(name="ACME Maschinenbau GmbH", account_manager="Petra Klein", phone="+49301234567")
        .ordered(2_000, every=MONTH, times=24, last=days(20))
        .contract(4_000, started=months(20))
        .confirmed_email_consent(ago=months(20))
    )
    story._add(
        months(19),
        "consent.granted",
        "/scenario/crm",
        channel="phone",
        kind="express",
        method="written",
        evidence={"text_version": "phone-consent-v2", "signed_form": "scan-4711.pdf"},
    )
    return story


def acme_leaves() -> Customer:
    """ACME cancels its contract: the service was not good enough."""
    return Customer(ACME, kind="business").cancels("service")


def base() -> list[Customer]:
    """Small buyers beside ACME: risk ranks value tiers against a base, fitted before anyone leaves."""
    kiosk = Customer(SMALL).with_profile(name="Kiosk Berger").ordered(12, times=6, last=days(10))
    others = [
        Customer(f"shop-console-{i}")
        .with_profile(name=f"Laden {i}")
        .ordered(20 + 7 * i, times=3 + i % 5, last=days(5 + i))
        for i in range(14)
    ]
    return [kiosk, *others]


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


class SignedIn:
    """A browser-like client of the console after signing in with `key` through the form."""

    def __init__(self, base_url: str, key: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
        form = self.client.get("/login")
        assert form.status_code == 200, form.text
        answer = self.client.post("/login", data={"api_key": key, "csrf_token": csrf_of(form.text), "next": "/today"})
        assert answer.status_code == 303, answer.text
        self.csrf = csrf_of(self.client.get("/customers").text)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], *, with_csrf: bool = True) -> httpx.Response:
        return self.client.post(path, data={**data, "csrf_token": self.csrf} if with_csrf else data)

    def close(self) -> None:
        self.client.close()


@dataclass
class ConsoleWorld:
    world: World
    processes: dict[str, ServiceProcess]

    @property
    def console(self) -> str:
        return self.processes["console"].url

    def url(self, name: str) -> str:
        return self.processes[name].url


# The account manager calls first, a letter follows: the shipped playbooks call after an e-mail and
# the frequency cap then spaces the call by weeks, too slow for a test that lets days pass one by one.
CALL_FIRST = {
    "name": "Console test: the account manager calls first, a letter follows",
    "priority": 100,
    "holdout_percent": 0,
    "trigger": {"status": "churned", "churn_reasons": ["service"]},
    "steps": [
        {
            "step_id": "call",
            "after": "P0D",
            "channel": "phone",
            "template": "account_manager_call",
            "assignee": "account_manager",
        },
        {"step_id": "letter", "after": "P10D", "channel": "post", "template": "personal_letter"},
    ],
}


def wait_for_call(world: World, customer_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    """Move the clocks to the call step's due time until campaign lists the call as an open task.

    The call is due at once, but quiet hours (Mon-Sat 09:00-20:00 in Germany) may move it: the
    clocks go to whatever time the step is due, as the demo does, never past its window.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        r = world.client.get(f"{world.urls['campaign']}/v1/tasks", params={"channel": "phone"}, headers=ADMIN)
        if r.status_code == 200:
            calls = [t for t in r.json()["items"] if t["customer_id"] == customer_id]
            if calls:
                call: dict[str, Any] = calls[0]
                return call
        assert time.monotonic() < deadline, f"no call task for {customer_id}: {r.status_code} {r.text[:500]}"
        steps = [s for e in world.enrollments(customer_id) for s in e["steps"] if s["step_id"] == "call"]
        if steps and steps[0]["status"] == "pending":
            due = datetime.fromisoformat(steps[0]["due_at"]) + timedelta(minutes=1)
            try:
                advance_all(world.client, world.urls, due)
            except httpx.HTTPStatusError as exc:
                # A clock ran past the target while the others were moved (a loaded machine): again.
                if exc.response.status_code != 409:
                    raise
        time.sleep(0.5)


@contextlib.contextmanager
def console_world(*, bootstrap: str, database_url: str, log_dir: Path) -> Iterator[ConsoleWorld]:
    """The five services and the console, ACME's call due today."""
    with running_services(
        [*BACKENDS, "console"], bootstrap=bootstrap, database_url=database_url, log_dir=log_dir, extra=KEYS_ENV
    ) as processes:
        world = World({name: processes[name].url for name in BACKENDS}, bootstrap)
        try:
            put = world.client.put(
                f"{world.urls['campaign']}/v1/playbooks/console-call", json=CALL_FIRST, headers=ADMIN
            )
            assert put.status_code == 200, put.text
            world.play(*base(), acme())
            world.fit_model()
            world.play(acme_leaves())
            wait_for_call(world, ACME)
            yield ConsoleWorld(world, processes)
        finally:
            world.close()
