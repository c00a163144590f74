"""The console over HTTP against the five real services: session cookie, CSRF, roles, every page, outages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.console import (
    ACME,
    ADMIN_KEY,
    INGEST_KEY,
    KEYS_ENV,
    OPS_KEY,
    ConsoleWorld,
    SignedIn,
    console_world,
    csrf_of,
)
from winback_cli.servers import free_port
from winback_cli.stack import CONSOLE, ServiceProcess, service_env

pytestmark = pytest.mark.integration

PAGES = [
    "/today",
    "/customers?q=acme",
    f"/customers/{ACME}",
    "/segments",
    "/playbooks",
    "/playbooks/quick-fix",
    "/results",
]


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleWorld]:
    logs = tmp_path_factory.mktemp("console")
    with console_world(bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as world:
        yield world


@pytest.fixture(scope="module")
def admin(stack: ConsoleWorld) -> Iterator[SignedIn]:
    client = SignedIn(stack.console, ADMIN_KEY)
    yield client
    client.close()


@pytest.fixture(scope="module")
def ops(stack: ConsoleWorld) -> Iterator[SignedIn]:
    client = SignedIn(stack.console, OPS_KEY)
    yield client
    client.close()


def test_the_session_cookie_is_signed_http_only_and_same_site(stack: ConsoleWorld) -> None:
    with httpx.Client(base_url=stack.console) as client:
        token = csrf_of(client.get("/login").text)
        answer = client.post("/login", data={"api_key": ADMIN_KEY, "csrf_token": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/today"
        cookie = answer.headers["set-cookie"]
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
        # Not Secure: the test stack is plain HTTP (WINBACK_SECURE_COOKIES, on by default in production).
        assert "secure" not in flags
        assert client.get("/today").status_code == 200
        # One character of the signed value changed: no session, back to the sign-in form.
        value = client.cookies["winback_console"]
        client.cookies.set("winback_console", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1])
        refused = client.get("/today")
        assert refused.status_code == 303 and refused.headers["location"] == "/login?next=%2Ftoday"


def test_sign_in_without_the_csrf_token_is_refused(stack: ConsoleWorld) -> None:
    with httpx.Client(base_url=stack.console) as client:
        client.get("/login")
        answer = client.post("/login", data={"api_key": ADMIN_KEY})
        assert answer.status_code == 403
        assert client.get("/today").status_code == 303


@pytest.mark.parametrize(("key", "shown"), [("no-such-key", "not known"), (INGEST_KEY, "role (ingest)")])
def test_unknown_keys_and_the_ingest_role_cannot_sign_in(stack: ConsoleWorld, key: str, shown: str) -> None:
    with httpx.Client(base_url=stack.console, headers={"Accept-Language": "en"}) as client:
        token = csrf_of(client.get("/login").text)
        answer = client.post("/login", data={"api_key": key, "csrf_token": token})
        assert answer.status_code == 401 and shown in answer.text
        assert client.get("/today").status_code == 303


def test_a_post_without_the_sessions_csrf_token_changes_nothing(stack: ConsoleWorld, admin: SignedIn) -> None:
    [task] = [t for t in _open_calls(stack) if t["customer_id"] == ACME]
    answer = admin.post(f"/today/{task['action_id']}/outcome", {"outcome": "objected"}, with_csrf=False)
    assert answer.status_code == 403
    forged = admin.client.post(
        f"/today/{task['action_id']}/outcome", data={"outcome": "objected", "csrf_token": "x" * 43}
    )
    assert forged.status_code == 403
    assert [t["action_id"] for t in _open_calls(stack) if t["customer_id"] == ACME] == [task["action_id"]]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_200_for_a_signed_in_user(admin: SignedIn, path: str) -> None:
    answer = admin.get(path)
    assert answer.status_code == 200, answer.text[:2000]
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in answer.headers["content-security-policy"]


def test_pages_send_a_signed_out_user_to_the_sign_in_form(stack: ConsoleWorld) -> None:
    with httpx.Client(base_url=stack.console) as client:
        for path in PAGES:
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")


def test_erasure_is_hidden_from_ops_and_refused_with_403(ops: SignedIn, admin: SignedIn) -> None:
    page = ops.get(f"/customers/{ACME}")
    assert page.status_code == 200 and 'id="erase-form"' not in page.text and 'id="export"' in page.text
    refused = ops.post(f"/customers/{ACME}/erase", {"confirm_id": ACME})
    assert refused.status_code == 403
    assert ops.get(f"/customers/{ACME}").status_code == 200  # still there
    assert 'id="erase-form"' in admin.get(f"/customers/{ACME}").text


def test_the_gdpr_export_holds_every_services_part(ops: SignedIn) -> None:
    answer = ops.get(f"/customers/{ACME}/export")
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    document = answer.json()
    assert document["customer_id"] == ACME
    assert document["risk"]["customer"]["customer_id"] == ACME
    assert {e["type"] for e in document["risk"]["timeline"]} >= {"order_placed", "contract_cancelled"}
    assert any(e["type"] == "action_triggered" for e in document["campaign"]["timeline"])
    assert {c["channel"] for c in document["consent"]["channels"]} >= {"email", "phone"}


def test_the_language_is_the_browsers_until_the_user_chooses(stack: ConsoleWorld) -> None:
    with httpx.Client(base_url=stack.console, headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"}) as client:
        page = client.get("/login")
        assert '<html lang="en">' in page.text and "API key" in page.text
        client.post("/language", data={"lang": "de", "next": "/login", "csrf_token": csrf_of(page.text)})
        assert '<html lang="de">' in client.get("/login").text


def test_a_service_that_is_down_is_named_with_503_and_retry_after(
    stack: ConsoleWorld, tmp_path_factory: pytest.TempPathFactory
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    urls = {f"WINBACK_{n.upper()}_URL": stack.url(n) for n in ("ingest", "risk", "campaign", "consent")}
    env = service_env(
        bootstrap="127.0.0.1:1",
        database_url="postgresql://unused@127.0.0.1:1/unused",
        port=free_port(),
        extra={**urls, "WINBACK_METRICS_URL": dead, "WINBACK_ENV": "test", **KEYS_ENV},
    )
    process = ServiceProcess(CONSOLE, int(env["WINBACK_PORT"]), env, log_path=tmp_path_factory.mktemp("c") / "c.log")
    process.start()
    try:
        _wait_alive(process)
        ready = httpx.get(f"{process.url}/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["metrics"] is False
        client = SignedIn(process.url, ADMIN_KEY)
        answer = client.get("/results", headers={"Accept-Language": "en"})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert "metrics is not answering" in answer.text
        assert client.get("/playbooks").status_code == 200  # the rest works
        client.close()
    finally:
        process.stop()


def _wait_alive(process: ServiceProcess, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{process.url}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(f"console not up: {Path(process.log_path or '').read_text() if process.log_path else ''}")


def _open_calls(stack: ConsoleWorld) -> list[dict[str, object]]:
    answer = httpx.get(
        f"{stack.url('campaign')}/v1/tasks",
        params={"channel": "phone"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items
