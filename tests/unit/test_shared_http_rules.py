"""The shared HTTP layer: the text rule on every parameter, encodable problems, outages as 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import Body, Depends, FastAPI
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from winback_shared.http.inputs import refuse_unusable_text
from winback_shared.http.outages import DependencyUnavailable, is_outage
from winback_shared.http.problems import ProblemError, install_problem_handlers

JSON = {"content-type": "application/json"}
NUL_MESSAGE = "contains a NUL character (U+0000), which cannot be stored"


class Note(BaseModel):
    note: str | None = None


class Unavailable(DependencyUnavailable):
    """What a service raises when its peer cannot answer."""


def _app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(refuse_unusable_text)])
    app.state.retry_after_s = 7
    install_problem_handlers(app)

    @app.get("/customers/{customer_id}")
    async def customer(customer_id: str, channel: str | None = None) -> dict[str, Any]:
        return {"customer_id": customer_id, "channel": channel}

    @app.post("/notes")
    async def note(body: Note) -> dict[str, Any]:
        return {"note": body.note}

    @app.put("/documents")
    async def document(document: Any = Body()) -> Any:
        return document

    @app.get("/echo/{value}")
    async def echo(value: str) -> None:
        raise ProblemError(404, f"no {value!r}", id="abc\ud800def")

    @app.get("/fail/{kind}")
    async def fail(kind: str) -> None:
        if kind == "bug":
            raise KeyError("a bug")
        if kind == "file":
            raise FileNotFoundError("missing.yaml")
        try:
            raise {"pg": asyncpg.CannotConnectNowError("starting"), "kafka": KafkaConnectionError()}[kind]
        except (asyncpg.PostgresError, KafkaConnectionError) as exc:
            raise OperationalError("SELECT 1", {}, exc) if kind == "pg" else Unavailable("peer") from exc

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/customers/a%00b", "customer_id"),
        ("/customers/a?channel=%00", "channel"),
        ("/customers/a?%00=x", "\x00"),
        (f"/customers/{'x' * 2049}", "customer_id"),
    ],
)
async def test_a_nul_or_an_overlong_parameter_is_a_422_naming_it(client: httpx.AsyncClient, url: str, field: str):
    response = await client.get(url)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_body_strings_follow_the_same_rule(client: httpx.AsyncClient):
    response = await client.post(
        "/notes", content='{"note": "a\\u0000b"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "note", "message": "contains a NUL character (U+0000), which cannot be stored"}
    ]
    nested = await client.put(
        "/documents", content='{"steps": [{"x": "\\ud800"}]}', headers={"content-type": "application/json"}
    )
    assert nested.status_code == 422
    assert [e["field"] for e in nested.json()["errors"]] == ["steps.0.x"]
    assert (await client.post("/notes", json={"note": "Grüße 😀"})).json() == {"note": "Grüße 😀"}


async def test_a_problem_echoing_a_lone_surrogate_is_still_sent(client: httpx.AsyncClient):
    response = await client.get("/echo/x")
    assert response.status_code == 404
    assert response.json()["id"] == "abc\ufffddef"


@pytest.mark.parametrize("kind", ["pg", "kafka"])
async def test_an_outage_is_a_503_with_retry_after(client: httpx.AsyncClient, kind: str):
    response = await client.get(f"/fail/{kind}")
    assert (response.status_code, response.headers.get("retry-after")) == (503, "7")


@pytest.mark.parametrize("kind", ["bug", "file"])
async def test_a_bug_stays_a_500(client: httpx.AsyncClient, kind: str):
    response = await client.get(f"/fail/{kind}")
    assert response.status_code == 500
    assert "retry-after" not in response.headers


def test_outages_are_recognised_through_wrappers():
    refused = ConnectionRefusedError(111, "Connect call failed")
    try:
        try:
            raise refused
        except OSError as exc:
            raise RuntimeError("publish failed") from exc
    except RuntimeError as wrapped:
        assert is_outage(wrapped)
    assert not is_outage(ValueError("bad input"))
