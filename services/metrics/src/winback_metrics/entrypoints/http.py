"""HTTP routes of metrics: translate the query, call the handler, map errors to problems."""

from __future__ import annotations

import csv
import io
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from winback_metrics.domain.cohort import CohortFilter, InvalidPeriod, parse_period
from winback_metrics.service_layer.handlers import cohorts, funnel_of, kpis
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.runtime import ServiceRuntime

OptionalText = Annotated[str | None, Query(min_length=1, max_length=256)]
# Module level: with postponed annotations FastAPI resolves `Depends(...)` in the module namespace.
READER = require_role("ops", "admin")
BAD_PERIOD: dict[int | str, dict[str, Any]] = {422: {"description": "`from`/`to` not an RFC 3339 date or date-time"}}

# The page holds no data: it asks for an API key and calls the authenticated /v1 endpoints.
# Everything it needs is inline, so it renders with no internet access.
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _cohort(
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
) -> CohortFilter:
    try:
        period = parse_period(from_, to)
    except InvalidPeriod as exc:
        raise ProblemError(422, str(exc)) from exc
    return CohortFilter(period, playbook_id, channel, variant, segment, value_tier)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, list) and prefix == "churn_reasons":
        for reason in value:
            base = f"churn_reasons.{reason['reason']}"
            out += [(f"{base}.count", str(reason["count"])), (f"{base}.share", _cell(reason["share"]))]
            out.append((f"{base}.themes", "; ".join(f"{t['theme']} ({t['count']})" for t in reason["themes"])))
    else:
        out.append((prefix, _cell(value)))


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def kpis_csv(answer: dict[str, Any]) -> str:
    """The KPI answer as `metric,value` rows with dotted names (empty value = null)."""
    rows: list[tuple[str, str]] = []
    _flatten("", answer, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("metric", "value"))
    writer.writerows(rows)
    return buffer.getvalue()


def build_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["kpis"])

    async def _kpis(cohort: CohortFilter, from_: str | None, to: str | None) -> dict[str, Any]:
        answer = await kpis(runtime.sessions, cohort, runtime.clock.now())
        return {**answer, "from": from_, "to": to}

    @router.get("/kpis", responses=BAD_PERIOD)
    async def get_kpis(
        _: Annotated[str, Depends(READER)],
        cohort: Annotated[CohortFilter, Depends(_cohort)],
        from_: Annotated[str | None, Query(alias="from", include_in_schema=False)] = None,
        to: Annotated[str | None, Query(include_in_schema=False)] = None,
    ) -> dict[str, Any]:
        """Win-back KPIs of the customers whose churn falls in [from, to]."""
        return await _kpis(cohort, from_, to)

    @router.get("/kpis.csv", responses={**BAD_PERIOD, 200: {"content": {"text/csv": {}}}}, response_class=Response)
    async def get_kpis_csv(
        _: Annotated[str, Depends(READER)],
        cohort: Annotated[CohortFilter, Depends(_cohort)],
        from_: Annotated[str | None, Query(alias="from", include_in_schema=False)] = None,
        to: Annotated[str | None, Query(include_in_schema=False)] = None,
    ) -> Response:
        """The same KPIs as CSV: one `metric,value` row per field."""
        body = kpis_csv(await _kpis(cohort, from_, to))
        return Response(body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": "inline"})

    @router.get("/cohorts", responses=BAD_PERIOD)
    async def get_cohorts(
        _: Annotated[str, Depends(READER)], cohort: Annotated[CohortFilter, Depends(_cohort)]
    ) -> dict[str, Any]:
        """Retention of won-back customers by month of return (and win-back rate by month of churn)."""
        return await cohorts(runtime.sessions, cohort, runtime.clock.now())

    @router.get("/funnel", responses=BAD_PERIOD)
    async def get_funnel(
        _: Annotated[str, Depends(READER)], cohort: Annotated[CohortFilter, Depends(_cohort)]
    ) -> dict[str, Any]:
        """Enrolled → contacted → responded → won back."""
        return await funnel_of(runtime.sessions, cohort, runtime.clock.now())

    return router


def build_dashboard_router() -> APIRouter:
    router = APIRouter(tags=["dashboard"])
    page = files("winback_metrics.entrypoints").joinpath("dashboard.html").read_text(encoding="utf-8")

    @router.get("/dashboard", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        """The ops dashboard; public page without data, its calls need an ops key (asked once per tab)."""
        return HTMLResponse(page, headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"})

    return router
