"""The opt-out link: the customer's objection is recorded at once and announced through the outbox.

Choice: the objection goes to `winback.inbound` as a `campaign.response` (outcome `unsubscribed`),
plus a `contact.objected` for the action's channel when that is not e-mail, so ingest validates and
forwards it like any tool feedback and consent records it as an objection. The enrolment is
exited in the same transaction, so nothing more is sent even before the event comes back.
"""

from __future__ import annotations

from collections.abc import Sequence

from winback_campaign.contract import CONTRACT
from winback_campaign.domain.templates import verify_opt_out_token
from winback_campaign.service_layer import events
from winback_campaign.service_layer.ports import AfterCommit
from winback_campaign.service_layer.unit_of_work import UnitOfWorkFactory
from winback_shared.clock import Clock
from winback_shared.events.inbound import CampaignResponse, ContactObjected

SOURCE = "/winback/campaign/opt-out"


class UnknownLink(LookupError):
    """The token is forged, mistyped or names no action."""


class Unsubscriber:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        secret: str,
        on_committed: Sequence[AfterCommit] = (),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._secret = secret
        self._on_committed = on_committed

    async def unsubscribe(self, token: str) -> None:
        """Idempotent: a second click records nothing new (same event ids, enrolment already ended)."""
        action_id = verify_opt_out_token(token, self._secret)
        if action_id is None:
            raise UnknownLink("unknown or invalid opt-out link")
        async with self._uow() as uow:
            now = self._clock.now()
            origin = await uow.enrollments.action_origin(action_id)
            if origin is None:
                raise UnknownLink("unknown or invalid opt-out link")
            channel, enrollment = origin
            data = {"customer_id": enrollment.customer_id, "action_id": action_id, "outcome": "unsubscribed"}
            response = CampaignResponse.new(source=SOURCE, time=now, data=data, id=f"unsubscribe:{action_id}")
            messages = [CONTRACT.message(response)]
            if channel != "email":
                objection = {"customer_id": enrollment.customer_id, "channels": [channel], "note": "opt-out link"}
                event = ContactObjected.new(source=SOURCE, time=now, data=objection, id=f"objection:{action_id}")
                messages.append(CONTRACT.message(event))
            if await uow.enrollments.lock_status(enrollment.enrollment_id) == "active":
                await uow.enrollments.exit({enrollment.enrollment_id: "unsubscribe"}, now)
                messages.append(events.exited(enrollment, "unsubscribe", now))
            await uow.outbox.add(messages)
            await uow.commit()
        for callback in self._on_committed:
            callback()
