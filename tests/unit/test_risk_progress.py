"""GET /v1/progress while the consumer's lag is unknown: "not yet" (503), never a made-up 0.

A caller waiting for a replay to be absorbed polls until lag is 0; during the group join the
lag is not known, and reporting 0 then would end its wait before any event was applied. A known
lag, 0 included, is answered as it is (tests/integration/test_risk_service.py, with the real database).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI

from winback_risk.entrypoints.http import build_router
from winback_risk.settings import RiskSettings
from winback_shared.http.problems import install_problem_handlers


async def _unused() -> Any:
    raise AssertionError("progress must not score or fit")


async def test_progress_is_503_with_retry_after_while_the_lag_is_unknown() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.api_keys = {"ops-key": "ops"}
    runtime: Any = SimpleNamespace(sessions=None, clock=None)
    app.include_router(build_router(runtime, RiskSettings(), lambda: None, _unused, _unused))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://risk") as api:
        response = await api.get("/v1/progress", headers={"Authorization": "Bearer ops-key"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "lag" not in response.json()
