"""HTTP routes of ingest: translate the request, call the handler, map outcomes to status codes."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from pydantic import BaseModel

from winback_ingest.domain.validation import validate_batch
from winback_ingest.service_layer.handlers import BrokerUnavailable, accept_events
from winback_ingest.settings import IngestSettings
from winback_shared.events.envelope import not_after
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError, problem_response
from winback_shared.runtime import ServiceRuntime

REJECTED_REQUESTS = Counter(
    "winback_ingest_rejected_requests_total", "Requests answered with a 4xx or 503, by reason", ["reason"]
)
REJECTED_EVENTS = Counter(
    "winback_ingest_rejected_events_total",
    "Problems found in rejected events, by field and error type",
    ["field", "reason"],
)

CONTENT_TYPES = ("application/cloudevents+json", "application/cloudevents-batch+json", "application/json")


def _reject(status: int, reason: str, detail: str, headers: dict[str, str] | None = None) -> ProblemError:
    REJECTED_REQUESTS.labels(reason).inc()
    return ProblemError(status, detail, headers=headers)


def _field_label(field: str) -> str:
    # List positions would make the label set unbounded: `data.channels.3` counts as `data.channels.*`.
    return ".".join("*" if part.isdigit() else part for part in field.split("."))[:64] or "(event)"


class Accepted(BaseModel):
    accepted: int
    duplicates: int


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _reject(413, "too_large", f"body of {declared} bytes is over the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _reject(413, "too_large", f"body is over the limit of {limit} bytes")
    return bytes(body)


def _decode(body: bytes, content_type: str) -> list[Any]:
    try:
        payload = json.loads(body)
    # ValueError also covers integers too long to convert; RecursionError absurdly deep nesting.
    except (ValueError, RecursionError) as exc:
        raise _reject(400, "malformed", f"body is not valid JSON: {exc}") from exc
    if isinstance(payload, list):
        return payload
    if content_type == "application/cloudevents-batch+json":
        raise _reject(400, "malformed", "a cloudevents-batch body must be a JSON array of events")
    return [payload]


def build_router(runtime: ServiceRuntime, settings: IngestSettings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["events"])

    @router.post(
        "/events",
        status_code=202,
        response_model=Accepted,
        responses={
            400: {"description": "body is not JSON"},
            413: {"description": "body over 5 MB or more than 1,000 events"},
            415: {"description": "unsupported content type"},
            422: {"description": "one entry per invalid event; nothing was published"},
            503: {"description": "broker unavailable; retry after Retry-After seconds"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    ct: {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}
                    for ct in CONTENT_TYPES
                },
            }
        },
    )
    async def post_events(request: Request, _: Annotated[str, Depends(require_role("ingest", "admin"))]) -> Any:
        """Accept one CloudEvent or a batch; 202 only after the broker acknowledged all new events."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in CONTENT_TYPES:
            raise _reject(
                415,
                "unsupported_media_type",
                f"content type {content_type or 'none'!r} not accepted; use one of {', '.join(CONTENT_TYPES)}",
            )
        items = _decode(await _read_body(request, settings.max_body_bytes), content_type)
        if len(items) > settings.max_batch_events:
            raise _reject(
                413, "too_many_events", f"{len(items)} events in one request; at most {settings.max_batch_events}"
            )
        if not items:
            return JSONResponse({"accepted": 0, "duplicates": 0}, status_code=202)
        events, errors = validate_batch(items, not_after(runtime.clock.now(), settings.max_future_skew))
        if errors:
            REJECTED_REQUESTS.labels("invalid_events").inc()
            for error in errors:
                REJECTED_EVENTS.labels(_field_label(error.field), error.kind).inc()
            return problem_response(
                422,
                f"{len(errors)} problem(s) in {len({e.index for e in errors})} event(s); nothing was published",
                errors=[e.as_dict() for e in errors],
            )
        try:
            result = await accept_events(
                runtime.sessions, runtime.publisher, events, publish_timeout_s=settings.publish_timeout_s
            )
        except BrokerUnavailable as exc:
            raise _reject(
                503,
                "broker_unavailable",
                f"the broker did not acknowledge the events ({exc}); nothing was recorded, retry the same request",
                headers={"Retry-After": str(settings.retry_after_s)},
            ) from exc
        return JSONResponse({"accepted": result.accepted, "duplicates": result.duplicates}, status_code=202)

    return router
