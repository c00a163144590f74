"""HTTP routes of metrics: translate the query, call the handler, map errors to problems."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from winback_metrics.domain.cohort import CohortFilter, InvalidPeriod, parse_period
from winback_metrics.service_layer.handlers import kpis
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.runtime import ServiceRuntime

OptionalText = Annotated[str | None, Query(min_length=1, max_length=256)]


def build_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["kpis"])

    @router.get("/kpis", responses={422: {"description": "`from`/`to` not an RFC 3339 date or date-time"}})
    async def get_kpis(
        _: Annotated[str, Depends(require_role("ops", "admin"))],
        from_: Annotated[
            str | None, Query(alias="from", description="cohort start: RFC 3339 date or date-time, inclusive")
        ] = None,
        to: Annotated[
            str | None, Query(description="cohort end: a date includes that day; a date-time is exclusive")
        ] = None,
        playbook_id: OptionalText = None,
        channel: OptionalText = None,
        variant: OptionalText = None,
        segment: OptionalText = None,
        value_tier: OptionalText = None,
    ) -> dict[str, Any]:
        """Win-back KPIs of the customers whose churn falls in [from, to]."""
        try:
            period = parse_period(from_, to)
        except InvalidPeriod as exc:
            raise ProblemError(422, str(exc)) from exc
        cohort = CohortFilter(period, playbook_id, channel, variant, segment, value_tier)
        answer = await kpis(runtime.sessions, cohort, runtime.clock.now())
        return {**answer, "from": from_, "to": to}

    return router
