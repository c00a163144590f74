"""API keys from WINBACK_API_KEYS and the role check of every non-ops endpoint (spec/apis.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from winback_shared.http.auth import require_role
from winback_shared.http.problems import PROBLEM_JSON, install_problem_handlers
from winback_shared.settings import DEV_API_KEYS, ConfigurationError, ServiceSettings, parse_api_keys


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WINBACK_API_KEYS", "WINBACK_ENV"):
        monkeypatch.delenv(name, raising=False)


def test_api_keys_are_parsed() -> None:
    assert parse_api_keys("k1:admin, k2:ops ,k3:ingest,") == {"k1": "admin", "k2": "ops", "k3": "ingest"}
    # A key may itself contain colons; the role is what follows the last one.
    assert parse_api_keys("a:b:ops") == {"a:b": "ops"}
    assert parse_api_keys("") == {}


@pytest.mark.parametrize("raw", ["k1", "k1:", ":ops", "k1:root", "k1:ops,k2", "k1:ops,k1:admin"])
def test_bad_api_key_entries_are_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="WINBACK_API_KEYS"):
        parse_api_keys(raw)


def test_a_refused_entry_does_not_echo_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINBACK_API_KEYS", "s3cr3t-value:boss")
    with pytest.raises(ValueError, match="WINBACK_API_KEYS") as refused:
        ServiceSettings()
    assert "s3cr3t-value" not in str(refused.value)


def test_settings_read_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINBACK_API_KEYS", "ops-key:ops")
    assert ServiceSettings().api_key_roles() == {"ops-key": "ops"}


def test_dev_keys_are_the_default_outside_production() -> None:
    assert ServiceSettings().api_key_roles() == DEV_API_KEYS
    assert ServiceSettings(env="test").api_key_roles() == {"dev-admin-key": "admin", "dev-ingest-key": "ingest"}


@pytest.mark.parametrize("keys", [None, "", " , "])
def test_production_without_keys_is_refused(keys: str | None) -> None:
    with pytest.raises(ValueError, match="WINBACK_API_KEYS must be set"):
        ServiceSettings(env="production", api_keys=keys)


def test_production_refuses_the_public_dev_keys() -> None:
    with pytest.raises(ValueError, match="dev keys"):
        ServiceSettings(env="production", api_keys="dev-admin-key:admin,real:ops")


def test_production_with_keys_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINBACK_ENV", "production")
    monkeypatch.setenv("WINBACK_API_KEYS", "prod-admin:admin")
    settings = ServiceSettings()
    assert settings.is_production
    assert settings.api_key_roles() == {"prod-admin": "admin"}


def _app() -> FastAPI:
    app = FastAPI()
    app.state.api_keys = parse_api_keys("a:admin,o:ops,i:ingest")
    install_problem_handlers(app)

    @app.post("/publish")
    async def publish(role: Annotated[str, Depends(require_role("ingest"))]) -> dict[str, str]:
        return {"role": role}

    @app.get("/read")
    async def read(role: Annotated[str, Depends(require_role("ops", "admin"))]) -> dict[str, str]:
        return {"role": role}

    @app.delete("/erase")
    async def erase(role: Annotated[str, Depends(require_role("admin"))]) -> dict[str, str]:
        return {"role": role}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as client:
        yield client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("headers", [{}, _bearer("nope"), {"Authorization": "Basic YTpi"}, {"Authorization": "a"}])
async def test_missing_or_unknown_key_is_401_problem(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/read", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    assert body["detail"]


@pytest.mark.parametrize(
    ("key", "path", "method"),
    [("o", "/publish", "POST"), ("i", "/read", "GET"), ("o", "/erase", "DELETE"), ("i", "/erase", "DELETE")],
)
async def test_wrong_role_is_403_problem(client: httpx.AsyncClient, key: str, path: str, method: str) -> None:
    response = await client.request(method, path, headers=_bearer(key))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == 403


@pytest.mark.parametrize(("key", "path", "method"), [("i", "/publish", "POST"), ("o", "/read", "GET")])
async def test_right_role_is_allowed(client: httpx.AsyncClient, key: str, path: str, method: str) -> None:
    response = await client.request(method, path, headers=_bearer(key))
    assert response.status_code == 200
    assert response.json() == {"role": {"i": "ingest", "o": "ops"}[key]}


@pytest.mark.parametrize(("path", "method"), [("/publish", "POST"), ("/read", "GET"), ("/erase", "DELETE")])
async def test_admin_is_allowed_everywhere(client: httpx.AsyncClient, path: str, method: str) -> None:
    response = await client.request(method, path, headers=_bearer("a"))
    assert response.status_code == 200
    assert response.json() == {"role": "admin"}


async def test_unknown_route_is_a_problem_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere", headers=_bearer("a"))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
