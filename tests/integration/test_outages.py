"""A stopped PostgreSQL is an outage, not a bug: every service answers 503 with Retry-After.

Issue 15, finding 3: with the database down ingest answered `500 "internal error; this is a
bug"` without Retry-After, so a client had no way to tell "retry" from "give up". Each service
is asked on a route that needs its database while a real PostgreSQL is stopped, and again after
it is back.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.events import cancellation
from tests.support.infra import create_database
from tests.support.services import running_services
from winback_cli.servers import EmbeddedPostgres, free_port
from winback_cli.stack import ServiceProcess

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-key"}
# One route per service that cannot answer without its database.
NEEDS_DATABASE: list[tuple[str, str, str]] = [
    ("ingest", "POST", "/v1/events"),
    ("risk", "GET", "/v1/customers/c-outage"),
    ("consent", "GET", "/v1/customers/c-outage/consents"),
    ("campaign", "GET", "/v1/actions"),
    ("metrics", "GET", "/v1/kpis"),
]


@pytest.fixture(scope="module")
def postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of this module's own: the test stops and starts it."""
    base = Path(tempfile.mkdtemp(prefix="winback-pg-outage-"))
    base.chmod(0o755)
    server = EmbeddedPostgres(base / "data", free_port(), throwaway=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def services(
    postgres: EmbeddedPostgres, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    names = [name for name, _, _ in NEEDS_DATABASE]
    database = create_database(postgres.url)
    extra = {"WINBACK_RETRY_AFTER_S": "3"}
    with running_services(names, bootstrap=kafka_bootstrap, database_url=database, log_dir=logs, extra=extra) as s:
        yield s


def _call(service: ServiceProcess, method: str, path: str) -> httpx.Response:
    if method == "POST":
        body = json.dumps([cancellation("c-sent-through-ingest")])
        headers = {**ADMIN, "Content-Type": "application/cloudevents-batch+json"}
        return httpx.post(service.url + path, content=body, headers=headers, timeout=30)
    return httpx.request(method, service.url + path, headers=ADMIN, timeout=30)


def test_a_stopped_database_is_a_503_with_retry_after_on_every_service(
    services: dict[str, ServiceProcess], postgres: EmbeddedPostgres
):
    before = {name: _call(services[name], method, path).status_code for name, method, path in NEEDS_DATABASE}
    assert all(status < 500 for status in before.values()), before
    postgres.stop()
    try:
        during = {name: _call(services[name], method, path) for name, method, path in NEEDS_DATABASE}
    finally:
        postgres.start()
    answers = {name: (r.status_code, r.headers.get("Retry-After")) for name, r in during.items()}
    assert answers == dict.fromkeys(during, (503, "3")), {n: r.text[:300] for n, r in during.items()}
    assert all(r.headers["content-type"] == "application/problem+json" for r in during.values())
    # The pools reconnect by themselves: the same requests succeed once the database is back.
    after = {name: _call(services[name], method, path).status_code for name, method, path in NEEDS_DATABASE}
    assert after == before
