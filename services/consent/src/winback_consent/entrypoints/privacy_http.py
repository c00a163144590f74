"""HTTP routes of the suppression list, double opt-in and GDPR erasure."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field, IPvAnyAddress

from winback_consent.service_layer import doi, privacy
from winback_consent.settings import ConsentSettings
from winback_shared.db.relay import OutboxRelay
from winback_shared.events.envelope import CustomerId
from winback_shared.events.inbound import Channel
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.runtime import ServiceRuntime

OPS = Depends(require_role("ops", "admin"))
ADMIN = Depends(require_role("admin"))


class PostalValue(BaseModel):
    street: Annotated[str, Field(min_length=1, max_length=256)]
    postal_code: Annotated[str, Field(min_length=1, max_length=16)]
    city: Annotated[str, Field(min_length=1, max_length=128)]
    country: Annotated[str, Field(max_length=64)] | None = None


class SuppressionEntry(BaseModel):
    channel: Channel
    # A string for e-mail and phone numbers; a postal address as an object or "street, postal code city".
    value: Annotated[str, Field(min_length=1, max_length=512)] | PostalValue


class SuppressionImport(BaseModel):
    entries: Annotated[list[SuppressionEntry], Field(min_length=1, max_length=10_000)]
    list_name: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class DoiStart(BaseModel):
    customer_id: CustomerId
    email: Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class DoiConfirm(BaseModel):
    token: Annotated[str, Field(min_length=16, max_length=128)]
    ip: IPvAnyAddress | None = None
    user_agent: Annotated[str, Field(max_length=512)] | None = None


def build_privacy_router(runtime: ServiceRuntime, settings: ConsentSettings, relay: OutboxRelay) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["consent"])
    key = settings.hash_key
    config = doi.DoiConfig(timedelta(hours=settings.doi_ttl_hours), settings.doi_text_version, settings.doi_confirm_url)

    @router.post("/suppressions", status_code=201)
    async def post_suppressions(body: SuppressionImport, _: Annotated[str, ADMIN]) -> dict[str, Any]:
        """Import blocking-list entries; values are normalised and stored only as keyed hashes."""
        if len(body.entries) > settings.max_suppressions_per_request:
            raise ProblemError(413, f"at most {settings.max_suppressions_per_request} entries per request")
        entries = [
            privacy.ImportEntry(e.channel.value, e.value if isinstance(e.value, str) else e.value.model_dump())
            for e in body.entries
        ]
        try:
            result = await privacy.import_suppressions(runtime.sessions, runtime.clock, key, entries, body.list_name)
        except privacy.InvalidEntries as exc:
            raise ProblemError(422, "some values are not identifiers of their channel", errors=exc.errors) from exc
        return {"received": result.received, "added": result.added, "relisted": result.relisted}

    @router.post("/double-opt-in", status_code=202)
    async def post_doi(body: DoiStart, _: Annotated[str, OPS]) -> dict[str, Any]:
        """Start a DOI: the confirmation e-mail goes out as a service action on winback.actions."""
        try:
            started = await doi.start(runtime.sessions, runtime.clock, config, body.customer_id, body.email.strip())
        except doi.UnknownCustomer as exc:
            raise ProblemError(404, f"customer {body.customer_id!r} is unknown to consent") from exc
        relay.wake()
        return {"doi_id": started.doi_id, "action_id": started.action_id, "expires_at": started.expires_at}

    @router.post("/double-opt-in/confirm")
    async def post_doi_confirm(body: DoiConfirm, _: Annotated[str, OPS]) -> dict[str, Any]:
        """Confirm a DOI: writes an express e-mail consent with method double_opt_in."""
        evidence: dict[str, Any] = {}
        if body.ip is not None:
            evidence["ip"] = str(body.ip)
        if body.user_agent:
            evidence["user_agent"] = body.user_agent
        try:
            confirmed = await doi.confirm(runtime.sessions, runtime.clock, body.token, evidence)
        except doi.TokenUnknown as exc:
            raise ProblemError(404, "unknown confirmation token") from exc
        except doi.TokenExpired as exc:
            raise ProblemError(
                410, "the confirmation link has expired; start a new double opt-in", title="Gone"
            ) from exc
        relay.wake()
        return {
            "doi_id": confirmed.doi_id,
            "customer_id": confirmed.customer_id,
            "grant_id": confirmed.grant_id,
            "confirmed_at": confirmed.confirmed_at,
        }

    @router.delete("/customers/{customer_id}", status_code=200)
    async def delete_customer(
        customer_id: Annotated[str, Path(min_length=1, max_length=128)], _: Annotated[str, ADMIN]
    ) -> dict[str, Any]:
        """GDPR Art. 17: profile, addresses and evidence go; keyed hashes stay on the suppression list."""
        try:
            result = await privacy.erase(runtime.sessions, runtime.clock, key, customer_id, settings.erasure_hash_key)
        except privacy.NotFound as exc:
            raise ProblemError(404, f"customer {customer_id!r} is unknown to consent") from exc
        relay.wake()
        return {
            "customer_id": result.customer_id,
            "erased_at": result.erased_at,
            "suppressed": result.suppressed,
            "ledger_entries": result.ledger_entries,
        }

    return router
