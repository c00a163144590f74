"""The opt-out link: the customer's objection is recorded at once and announced through the outbox.

Choice: the objection goes to `winback.inbound` as a `campaign.response` (outcome `unsubscribed`),
plus a `contact.objected` for the action's channel when that is not e-mail, so ingest validates and
forwards it like any tool feedback and consent records it as an objection. The enrolment is
exited in the same transaction, so nothing more is sent even before the event comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.adapters.tables import actions, enrollments, outbox
from winback_campaign.contract import CONTRACT
from winback_campaign.domain.batch import ActiveEnrollment
from winback_campaign.domain.templates import verify_opt_out_token
from winback_campaign.service_layer import events
from winback_shared.clock import Clock
from winback_shared.db.outbox import enqueue
from winback_shared.events.inbound import CampaignResponse, ContactObjected

SOURCE = "/winback/campaign/opt-out"


class UnknownLink(LookupError):
    """The token is forged, mistyped or names no action."""


class Unsubscriber:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        secret: str,
        on_committed: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._secret = secret
        self._on_committed = on_committed

    async def unsubscribe(self, token: str) -> None:
        """Idempotent: a second click records nothing new (same event ids, enrolment already ended)."""
        action_id = verify_opt_out_token(token, self._secret)
        if action_id is None:
            raise UnknownLink("unknown or invalid opt-out link")
        async with self._sessions.begin() as session:
            now = self._clock.now()
            a = actions
            row = (
                await session.execute(
                    select(a.c.customer_id, a.c.channel, a.c.enrollment_id, a.c.playbook_id, a.c.variant).where(
                        a.c.action_id == action_id
                    )
                )
            ).first()
            if row is None:
                raise UnknownLink("unknown or invalid opt-out link")
            data = {"customer_id": row.customer_id, "action_id": action_id, "outcome": "unsubscribed"}
            response = CampaignResponse.new(source=SOURCE, time=now, data=data, id=f"unsubscribe:{action_id}")
            messages = [CONTRACT.message(response)]
            if row.channel != "email":
                objection = {"customer_id": row.customer_id, "channels": [row.channel], "note": "opt-out link"}
                event = ContactObjected.new(source=SOURCE, time=now, data=objection, id=f"objection:{action_id}")
                messages.append(CONTRACT.message(event))
            active = await session.scalar(
                select(enrollments.c.status).where(enrollments.c.enrollment_id == row.enrollment_id).with_for_update()
            )
            if active == "active":
                await repo.exit_enrollments(session, {row.enrollment_id: "unsubscribe"}, now)
                enrollment = ActiveEnrollment(row.enrollment_id, row.customer_id, row.playbook_id, row.variant or "")
                messages.append(events.exited(enrollment, "unsubscribe", now))
            await enqueue(session, outbox, messages)
        for callback in self._on_committed:
            callback()
