"""Double opt-in: start (a service e-mail with a link) and confirm (an express e-mail consent)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_consent.adapters import doi as doi_store
from winback_consent.adapters import repository
from winback_consent.adapters.tables import outbox
from winback_consent.contract import CONTRACT
from winback_consent.domain.ledger import LedgerDraft
from winback_consent.domain.translate import LEDGER_NAMESPACE, ConsentChange
from winback_consent.service_layer.consume import SOURCE, notify
from winback_consent.service_layer.ledger import append_drafts
from winback_shared.clock import Clock
from winback_shared.db.outbox import enqueue
from winback_shared.events.produced import ActionTriggered, ActionTriggeredData

TEMPLATE = "doi_confirmation"
PLAYBOOK = "consent.double_opt_in"


@dataclass(frozen=True, slots=True)
class DoiConfig:
    ttl: timedelta
    text_version: str
    confirm_url: str


@dataclass(frozen=True, slots=True)
class Started:
    doi_id: str
    action_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Confirmed:
    doi_id: str
    grant_id: str
    customer_id: str
    confirmed_at: datetime


class UnknownCustomer(LookupError):
    """A DOI is only started for a customer consent knows."""


class TokenUnknown(LookupError):
    pass


class TokenExpired(LookupError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _confirmation_action(request: doi_store.DoiRequest, link: str, action_id: str) -> ActionTriggered:
    """The DOI mail is a service message (row 2): campaign tools send it like any action."""
    data = ActionTriggeredData(
        customer_id=request.customer_id,
        action_id=action_id,
        channel="email",
        template=TEMPLATE,
        content={
            "confirmation_url": link,
            "expires_at": request.expires_at.isoformat(),
            "text_version": request.text_version,
        },
        recipient={"email": request.email},
        consent={"basis": "service_message", "evidence_ids": []},
        playbook_id=PLAYBOOK,
        enrollment_id=request.id,
    )
    return ActionTriggered.new(source=SOURCE, time=request.requested_at, data=data, id=action_id)


async def start(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, config: DoiConfig, customer_id: str, email: str
) -> Started:
    now = clock.now()
    token = secrets.token_urlsafe(32)
    request = doi_store.DoiRequest(
        id=str(uuid.uuid4()),
        customer_id=customer_id,
        token_hash=token_hash(token),
        email=email,
        text_version=config.text_version,
        requested_at=now,
        expires_at=now + config.ttl,
    )
    action_id = str(uuid.uuid5(LEDGER_NAMESPACE, f"doi\x00{request.id}"))
    link = config.confirm_url.replace("{token}", token)
    async with sessions.begin() as session:
        if not await repository.is_known(session, customer_id):
            raise UnknownCustomer(customer_id)
        await doi_store.add(session, request)
        action = _confirmation_action(request, link, action_id)
        await enqueue(session, outbox, [CONTRACT.message(action)])
    return Started(request.id, action_id, request.expires_at)


async def confirm(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, token: str, evidence: dict[str, Any]
) -> Confirmed:
    """Write the express e-mail consent (method double_opt_in); a repeated click answers the same grant."""
    now = clock.now()
    async with sessions.begin() as session:
        request = await doi_store.by_token(session, token_hash(token))
        if request is None:
            raise TokenUnknown()
        if request.confirmed_at is not None and request.grant_id is not None:
            return Confirmed(request.id, request.grant_id, request.customer_id, request.confirmed_at)
        if now > request.expires_at:
            raise TokenExpired()
        heads = await repository.lock_heads(session, [request.customer_id])
        draft = LedgerDraft(
            id=str(uuid.uuid5(LEDGER_NAMESPACE, f"doi-grant\x00{request.id}")),
            customer_id=request.customer_id,
            entry_type="grant",
            occurred_at=now,
            payload={
                "channel": "email",
                "kind": "express",
                "purpose": "marketing",
                "method": "double_opt_in",
                "categories": [],
                "evidence": {
                    **evidence,
                    "email": request.email,
                    "requested_at": request.requested_at.isoformat(),
                    "confirmed_at": now.isoformat(),
                    "text_version": request.text_version,
                    "doi_id": request.id,
                },
            },
        )
        (entry,) = await append_drafts(session, [draft], now, locked=heads)
        await doi_store.mark_confirmed(session, request.id, now, entry.id)
        await repository.refresh_snapshots(session, [request.customer_id])
        change_id = str(uuid.uuid5(LEDGER_NAMESPACE, f"changed\x00{entry.id}\x00email"))
        await notify(session, [ConsentChange(change_id, request.customer_id, "email", "granted", now)])
    return Confirmed(request.id, entry.id, request.customer_id, now)
