"""HTTP routes of consent: translate the request, call the handler, map outcomes to status codes."""

from __future__ import annotations

import json
from datetime import datetime
from json.encoder import encode_basestring_ascii as _ascii  # json.dumps' own string writer
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from winback_consent.adapters.snapshot_reads import SnapshotReads
from winback_consent.domain.model import NOT_YET_APPLIED, Decision, DecisionRequest, Policy
from winback_consent.service_layer import customers
from winback_consent.service_layer.decisions import DecisionCommand, DecisionOutcome, decide_many
from winback_shared.db.relay import OutboxRelay
from winback_shared.events.envelope import CustomerId, Timestamp
from winback_shared.events.inbound import Channel
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.runtime import ServiceRuntime

log = structlog.get_logger(__name__)
OPS = Depends(require_role("ops", "admin"))


class EventRefBody(BaseModel):
    """An event on `winback.events` by its identity: the question rests on it."""

    source: Annotated[str, Field(min_length=1, max_length=512)]
    id: Annotated[str, Field(min_length=1, max_length=256)]


class DecisionBody(BaseModel):
    customer_id: CustomerId
    channel: Channel
    purpose: Annotated[str, Field(min_length=1, max_length=64)] = "marketing"
    content: Literal["advertising", "service"] = "advertising"
    offer_category: Annotated[str, Field(max_length=256)] | None = None
    at: Timestamp | None = None
    dispatch: bool = False
    request_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    # The event that caused the question (e.g. the status change's `caused_by`): until consent has
    # applied it the answer is "not yet" (409 here, an item with `pending: true` in a batch).
    caused_by: EventRefBody | None = None


class DecisionBatch(BaseModel):
    items: Annotated[list[DecisionBody], Field(max_length=1_000)]


class DecisionAnswer(BaseModel):
    allowed: bool
    basis: str | None
    reason: str | None
    evidence_ids: list[str]
    decided_at: datetime
    # Present (true) only on a "not yet" item of a batch: retry later, it is neither ALLOW nor DENY.
    pending: bool | None = None


class DecisionAnswers(BaseModel):
    items: list[DecisionAnswer]


class ObjectionBody(BaseModel):
    channels: Annotated[list[Channel | Literal["all"]], Field(min_length=1)]
    note: Annotated[str, Field(max_length=4_000)] | None = None


class VerifyAnswer(BaseModel):
    valid: bool
    entries: int
    first_broken_entry: str | None = None
    detail: str | None = None


def _answers(outcomes: list[DecisionOutcome]) -> list[str]:
    """Each answer as a JSON object; equal decisions of one request share their text (built once)."""
    texts: dict[tuple[Any, ...], str] = {}
    last: tuple[datetime | None, str] = (None, "")  # one decision time per request: written once
    out = []
    for o in outcomes:
        d = o.decision
        key = (d.allowed, d.basis, d.reason, d.evidence_ids, d.pending, o.decided_at)
        text = texts.get(key)
        if text is None:
            if last[0] is not o.decided_at:
                last = (o.decided_at, o.decided_at.isoformat())
            text = texts[key] = _answer(d, last[1])
        out.append(text)
    return out


def _answer(d: Decision, decided_at: str) -> str:
    """`json.dumps(answer, separators=(",", ":"))` of the answer object, written directly for plain values.

    With a dispatch batch every ALLOW names its own customer's grants, so hardly any two answers
    share a text: json.dumps built an encoder per item (~5 % of the batch's samples, py-spy).
    """
    ids = d.evidence_ids
    if (
        type(d.allowed) is bool
        and (d.basis is None or type(d.basis) is str)
        and (d.reason is None or type(d.reason) is str)
        and all(type(i) is str for i in ids)
    ):
        return (
            f'{{"allowed":{"true" if d.allowed else "false"},"basis":{_text(d.basis)},'
            f'"reason":{_text(d.reason)},"evidence_ids":[{",".join([_ascii(i) for i in ids])}],'
            f'"decided_at":{_ascii(decided_at)}{_PENDING if d.pending else ""}}}'
        )
    answer: dict[str, Any] = {
        "allowed": d.allowed,
        "basis": d.basis,
        "reason": d.reason,
        "evidence_ids": list(ids),
        "decided_at": decided_at,
    }
    if d.pending:
        answer["pending"] = True
    return json.dumps(answer, separators=(",", ":"))


_PENDING = ',"pending":true'


def _text(value: str | None) -> str:
    return "null" if value is None else _ascii(value)


def _json(content: bytes | str) -> Response:
    # Answers are built from the domain's own values: no second validation pass on the hot path.
    return Response(content, media_type="application/json")


def _not_yet(body: DecisionBody, decided_at: datetime) -> ProblemError:
    """The single form's "not yet": a retryable 409 carrying the spec's fields, never a DENY."""
    assert body.caused_by is not None
    return ProblemError(
        409,
        f"consent has not applied event {body.caused_by.id!r} of {body.caused_by.source!r} yet; retry later",
        title="Not yet applied",
        headers={"Retry-After": "1"},
        allowed=False,
        pending=True,
        basis=None,
        reason=NOT_YET_APPLIED,
        evidence_ids=[],
        decided_at=decided_at.isoformat(),
        caused_by=body.caused_by.model_dump(),
    )


def build_router(runtime: ServiceRuntime, policy: Policy, relay: OutboxRelay, reads: SnapshotReads) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["consent"])

    def _command(body: DecisionBody, now: datetime) -> DecisionCommand:
        request = DecisionRequest(
            body.customer_id, body.channel.value, body.at or now, body.purpose, body.content, body.offer_category
        )
        cause = None if body.caused_by is None else (body.caused_by.source, body.caused_by.id)
        return DecisionCommand(request, body.dispatch, body.request_id, cause)

    async def _decide(bodies: list[DecisionBody]) -> list[DecisionOutcome]:
        try:
            now = runtime.clock.now()
            commands = [_command(b, now) for b in bodies]
            return await decide_many(
                runtime.sessions, runtime.clock, policy, commands, reads=reads.load, applied=reads.applied
            )
        except Exception as exc:
            # Fail closed: the caller treats a 503 as DENY; an error never turns into an ALLOW.
            log.exception("decision_failed", error=repr(exc))
            raise ProblemError(
                503, "the decision could not be made; treat it as DENY and retry later", headers={"Retry-After": "1"}
            ) from exc

    @router.post(
        "/decisions",
        response_model=DecisionAnswer,
        responses={
            409: {"description": "not yet: the event named in `caused_by` is not applied yet; retry"},
            503: {"description": "fail closed: DENY"},
        },
    )
    async def post_decision(body: DecisionBody, _: Annotated[str, OPS]) -> Response:
        """May this customer be contacted for advertising on this channel now (or at `at`)?"""
        (outcome,) = await _decide([body])
        if outcome.decision.pending:
            raise _not_yet(body, outcome.decided_at)
        (answer,) = _answers([outcome])
        return _json(answer)

    @router.post("/decisions:batch", response_model=DecisionAnswers, responses={503: {"description": "fail closed"}})
    async def post_decisions(body: DecisionBatch, _: Annotated[str, OPS]) -> Response:
        """Up to 1,000 decisions in one transaction; answers in request order."""
        answers = _answers(await _decide(body.items)) if body.items else []
        return _json(f'{{"items":[{",".join(answers)}]}}')

    @router.get("/customers/{customer_id}/consents")
    async def get_consents(customer_id: str, _: Annotated[str, OPS]) -> dict[str, Any]:
        """Current state per channel with basis and expiry, the objections, and the full ledger."""
        try:
            return await customers.consents(runtime.sessions, runtime.clock, policy, customer_id)
        except customers.UnknownCustomer as exc:
            raise ProblemError(404, f"customer {customer_id!r} is unknown to consent") from exc

    @router.get("/customers/{customer_id}/ledger/verify", response_model=VerifyAnswer, response_model_exclude_none=True)
    async def verify_ledger(customer_id: str, _: Annotated[str, OPS]) -> VerifyAnswer:
        """Recompute the customer's hash chain; reports the first entry that does not fit."""
        try:
            result = await customers.verify(runtime.sessions, customer_id)
        except customers.UnknownCustomer as exc:
            raise ProblemError(404, f"customer {customer_id!r} is unknown to consent") from exc
        return VerifyAnswer(
            valid=result.valid,
            entries=result.entries,
            first_broken_entry=result.first_broken_entry,
            detail=result.detail,
        )

    @router.post("/customers/{customer_id}/objections", status_code=201)
    async def post_objection(
        customer_id: Annotated[str, Path(max_length=128)], body: ObjectionBody, _: Annotated[str, OPS]
    ) -> JSONResponse:
        """Record an objection received by phone, letter or in person."""
        channels = sorted({c.value if isinstance(c, Channel) else c for c in body.channels})
        entry = await customers.record_objection(runtime.sessions, runtime.clock, customer_id, channels, body.note)
        relay.wake()
        return JSONResponse(
            {
                "id": entry.id,
                "customer_id": customer_id,
                "channels": channels,
                "recorded_at": entry.recorded_at.isoformat(),
            },
            status_code=201,
        )

    @router.get("/policy")
    async def get_policy(_: Annotated[str, OPS]) -> dict[str, Any]:
        """The policy settings in force."""
        return policy.as_dict()

    return router
