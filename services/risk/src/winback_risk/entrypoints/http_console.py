"""HTTP routes the console needs from risk (ops): the customer's timeline and the segment overview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from winback_risk.service_layer import console
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.runtime import ServiceRuntime
from winback_shared.timeline import DEFAULT_LIMIT, MAX_LIMIT, InvalidBefore

Reader = Annotated[str, Depends(require_role("ops", "admin"))]


def build_console_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["console"])

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
