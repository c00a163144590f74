"""HTTP routes the console needs from risk (ops): the customer's timeline and the segment overview."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from winback_risk.entrypoints.params import InvalidAsOf, parse_as_of
from winback_risk.service_layer import console
from winback_risk.service_layer.handlers import Scoring
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.runtime import ServiceRuntime
from winback_shared.timeline import DEFAULT_LIMIT, MAX_LIMIT, InvalidBefore

Reader = Annotated[str, Depends(require_role("ops", "admin"))]


MAX_IDS = 100


def build_console_router(
    runtime: ServiceRuntime, scoring: Callable[[], Awaitable[Scoring]], *, default_horizon_days: int
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["console"])

    @router.get("/customers:batch")
    async def customers_batch(
        _: Reader,
        customer_id: Annotated[list[str], Query(min_length=1, max_length=MAX_IDS, description="repeat, up to 100")],
        as_of: Annotated[str | None, Query(description="RFC 3339 date or date-time with offset; default now")] = None,
        horizon_days: Annotated[int, Query(ge=1, le=3650)] = default_horizon_days,
    ) -> dict[str, Any]:
        """The customer objects of `GET /v1/customers/{id}` for up to 100 ids in one call (a page of tasks)."""
        if any(not c or len(c) > 128 for c in customer_id):
            message = "every customer_id has 1..128 characters"
            raise ProblemError(422, message, errors=[{"field": "customer_id", "message": message}])
        try:
            moment = parse_as_of(as_of, runtime.clock.now())
        except InvalidAsOf as exc:
            raise ProblemError(422, str(exc), errors=[{"field": "as_of", "message": str(exc)}]) from exc
        return await console.customers_by_id(
            runtime.sessions, customer_id, as_of=moment, horizon_days=horizon_days, scoring=await scoring()
        )

    @router.get("/customers/{customer_id}/timeline", responses={404: {"description": "unknown customer"}})
    async def customer_timeline(
        _: Reader,
        customer_id: Annotated[str, Path(min_length=1, max_length=128)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        before: Annotated[str | None, Query(max_length=1024, description="next_before of the previous page")] = None,
    ) -> dict[str, Any]:
        """Orders, returns, contracts, tickets, surveys, usage, responses, status changes; newest first."""
        try:
            return await console.timeline(runtime.sessions, customer_id, limit=limit, before=before)
        except InvalidBefore as exc:
            raise ProblemError(422, str(exc), errors=[{"field": "before", "message": str(exc)}]) from exc
        except console.UnknownCustomer as exc:
            raise ProblemError(404, f"no customer {customer_id!r} is known to risk") from exc

    @router.get("/segments")
    async def segments(_: Reader, limit: Annotated[int, Query(ge=1, le=1_000)] = 50) -> dict[str, Any]:
        """The four quadrants (count, revenue), the at-risk list by risk x value, the lapsed by their own rhythm."""
        return await console.segments(runtime.sessions, runtime.clock.now(), limit)

    return router
