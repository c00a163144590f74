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
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support.histories import MONTH, Customer, days, months
from tests.support.services import running_services
from tests.support.world import ADMIN, World
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
    """Two years of orders and a contract, a written phone consent with its §7a record; leaves over service."""
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
    return story.cancels("service")


def kiosk() -> Customer:
    """A small buyer beside ACME, so there is a base to rank against."""
    return Customer(SMALL).with_profile(name="Kiosk Berger").ordered(12, times=6, last=days(10))


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


def wait_for_call(world: World, customer_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Until campaign lists the customer's phone task as open."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = world.client.get(f"{world.urls['campaign']}/v1/tasks", params={"channel": "phone"}, headers=ADMIN)
        if r.status_code == 200:
            calls = [t for t in r.json()["items"] if t["customer_id"] == customer_id]
            if calls:
                call: dict[str, Any] = calls[0]
                return call
        assert time.monotonic() < deadline, f"no call task for {customer_id}: {r.status_code} {r.text[:500]}"
        world.pass_time(timedelta(days=1))


@contextlib.contextmanager
def console_world(*, bootstrap: str, database_url: str, log_dir: Path) -> Iterator[ConsoleWorld]:
    """The five services and the console, ACME's call due today."""
    with running_services(
        [*BACKENDS, "console"], bootstrap=bootstrap, database_url=database_url, log_dir=log_dir, extra=KEYS_ENV
    ) as processes:
        world = World({name: processes[name].url for name in BACKENDS}, bootstrap)
        try:
            world.play(acme(), kiosk())
            wait_for_call(world, ACME)
            yield ConsoleWorld(world, processes)
        finally:
            world.close()
