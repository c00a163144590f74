"""Building the events campaign publishes; ids are derived so a retried batch repeats them."""

from __future__ import annotations

from datetime import datetime

from winback_campaign.domain.batch import ActiveEnrolment
from winback_campaign.domain.enrolment import EnrolmentPlan
from winback_shared.db.outbox import OutboxMessage
from winback_shared.events.produced import (
    ActionSuppressed,
    ActionSuppressedData,
    ActionTriggered,
    ActionTriggeredData,
    CampaignEnrolled,
    CampaignExited,
    EnrollmentData,
)
from winback_shared.events.topics import Topic

SOURCE = "/winback/campaign"


def enrolled(plan: EnrolmentPlan, now: datetime) -> OutboxMessage:
    data = EnrollmentData(
        customer_id=plan.customer_id,
        playbook_id=plan.playbook.playbook_id,
        enrollment_id=plan.enrollment_id,
        variant=plan.variant,
        reason="holdout" if plan.holdout else None,
        holdout=plan.holdout,
        playbook_version=plan.playbook.version,
    )
    event = CampaignEnrolled.new(source=SOURCE, time=now, data=data, id=f"enrolled:{plan.enrollment_id}")
    return OutboxMessage.of(Topic.CAMPAIGN.value, event)


def exited(
    enrolment: ActiveEnrolment, reason: str, now: datetime, *, attributed_action_id: str | None = None
) -> OutboxMessage:
    """A won-back exit names the last action sent (with the variant): what the return is attributed to."""
    extra = {"attributed_action_id": attributed_action_id} if reason == "won_back" else {}
    data = EnrollmentData(
        customer_id=enrolment.customer_id,
        playbook_id=enrolment.playbook_id,
        enrollment_id=enrolment.enrollment_id,
        variant=enrolment.variant,
        reason=reason,
        **extra,
    )
    event = CampaignExited.new(source=SOURCE, time=now, data=data, id=f"exited:{enrolment.enrollment_id}")
    return OutboxMessage.of(Topic.CAMPAIGN.value, event)


def action_triggered(data: ActionTriggeredData, now: datetime) -> OutboxMessage:
    event = ActionTriggered.new(source=SOURCE, time=now, data=data, id=f"action:{data.action_id}")
    return OutboxMessage.of(Topic.ACTIONS.value, event)


def action_suppressed(data: ActionSuppressedData, now: datetime) -> OutboxMessage:
    event = ActionSuppressed.new(source=SOURCE, time=now, data=data, id=f"action:{data.action_id}")
    return OutboxMessage.of(Topic.ACTIONS.value, event)
