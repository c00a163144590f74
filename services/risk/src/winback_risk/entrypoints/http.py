"""HTTP routes of risk: translate the query, call the read side, map outcomes to status codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from winback_risk.adapters.repository import CustomerFilter
from winback_risk.domain.customer import Status
from winback_risk.domain.model.population import PopulationModel
from winback_risk.entrypoints.params import InvalidAsOf, parse_as_of
from winback_risk.service_layer import queries
from winback_risk.service_layer.handlers import Scoring
from winback_risk.settings import RiskSettings
from winback_shared.events.topics import Topic
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.kafka.progress import group_progress
from winback_shared.runtime import ServiceRuntime

Reader = Annotated[str, Depends(require_role("ops", "admin"))]
Operator = Reader
AsOf = Annotated[
    str | None,
    Query(description="RFC 3339 date (end of that day, UTC) or date-time with offset; default now"),
]
Horizon = Annotated[int, Query(ge=1, le=3650, description="days after as_of for expected orders")]
# Module level: with postponed annotations, FastAPI resolves these names in the module, not the factory.
Limit = Annotated[int, Query(ge=1, le=1_000)]
DEFAULT_LIMIT = 100


def build_router(
    runtime: ServiceRuntime,
    settings: RiskSettings,
    lag: Callable[[], int | None],
    scoring: Callable[[], Awaitable[Scoring]],
    fit: Callable[[datetime | None], Awaitable[PopulationModel]],
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["customers"])

    def _as_of(raw: str | None) -> Any:
        try:
            return parse_as_of(raw, runtime.clock.now())
        except InvalidAsOf as exc:
            raise ProblemError(422, str(exc), errors=[{"field": "as_of", "message": str(exc)}]) from exc

    @router.get("/customers/{customer_id}", responses={404: {"description": "unknown customer"}})
    async def get_customer(
        _: Reader,
        customer_id: Annotated[str, Path(min_length=1, max_length=128)],
        as_of: AsOf = None,
        horizon_days: Horizon = settings.default_horizon_days,
    ) -> dict[str, Any]:
        """One customer's status, churn reason, eligibility and buying cycle."""
        moment = _as_of(as_of)
        view = await queries.get_customer(runtime.sessions, customer_id, moment, horizon_days, await scoring())
        if view is None:
            raise ProblemError(404, f"no customer {customer_id!r} is known to risk")
        return view

    @router.get("/customers")
    async def list_customers(
        _: Reader,
        status: Status | None = None,
        winback_eligible: bool | None = None,
        segment: Literal["star", "question_mark", "take_along", "loss"] | None = None,
        value_tier: Literal["A", "B", "C"] | None = None,
        min_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=1024, description="next_cursor of the previous page")] = None,
        as_of: AsOf = None,
        horizon_days: Horizon = settings.default_horizon_days,
    ) -> dict[str, Any]:
        """Customers by id, filtered; follow `next_cursor` until it is null."""
        moment = _as_of(as_of)
        where = CustomerFilter(status, winback_eligible, segment, value_tier, min_risk)
        try:
            page = await queries.list_customers(
                runtime.sessions,
                where,
                cursor=cursor,
                limit=limit,
                as_of=moment,
                horizon_days=horizon_days,
                scoring=await scoring(),
            )
        except queries.InvalidCursor as exc:
            raise ProblemError(422, str(exc), errors=[{"field": "cursor", "message": str(exc)}]) from exc
        return {"items": page.items, "next_cursor": page.next_cursor}

    @router.get("/model", tags=["model"])
    async def get_model(_: Reader) -> dict[str, Any]:
        """The population model in use: name, parameters, customers used, log-likelihood, fitted_at."""
        return model_view((await scoring()).model)

    @router.post("/model/fit", tags=["model"])
    async def fit_model(
        _: Operator,
        as_of: Annotated[
            str | None,
            Query(description="fit on the orders up to this moment (a backtest's calibration end); default now"),
        ] = None,
    ) -> dict[str, Any]:
        """Refit the model now over all customers' purchase summaries up to as_of.

        Below the minimum-data rules or on a degenerate optimum the answer is the documented
        prior in use, with `basis` "prior" and the reason (200: that is the model now served).
        """
        return model_view(await fit(_as_of(as_of) if as_of is not None else None))

    @router.get("/progress", tags=["progress"], responses={503: {"description": "lag not known yet; retry"}})
    async def progress(_: Reader) -> dict[str, Any]:
        """The latest event time applied, the consumer lag in records (0 when caught up), and both per partition."""
        behind = lag()
        if behind is None:
            # Joining the group (or a consumer process restarting): "0" would tell a caller
            # waiting for a replay that it has been absorbed. The contract's lag is a number,
            # so say "not yet" instead of inventing one.
            raise ProblemError(
                503,
                "The consumers' lag is not known yet (joining the group, or a consumer restarting). Retry shortly.",
                title="Progress not known yet",
                headers={"Retry-After": "1"},
            )
        highest = await queries.highest_event_time(runtime.sessions)
        # Per partition, from the broker (every process and instance of the group): the offset lag
        # and the time of the last event applied, which one far-future event cannot move for good.
        partitions = await group_progress(settings.kafka_bootstrap, settings.consumer_group, Topic.EVENTS.value)
        return {
            "highest_event_time": highest.isoformat() if highest else None,
            "lag": behind,
            "partitions": [p.as_dict() for p in partitions],
        }

    return router


def model_view(model: PopulationModel) -> dict[str, Any]:
    """The model endpoint's body: what is served, fitted or prior, and why."""
    return {
        "name": model.name,
        "basis": model.basis,
        "reason": model.reason,
        "reason_detail": model.reason_detail,
        "parameters": model.parameters(),
        "customers_used": model.customers_used,
        "log_likelihood": model.log_likelihood,
        "fitted_at": model.fitted_at.isoformat() if model.fitted_at else None,
        "statistics": model.statistics,
    }
