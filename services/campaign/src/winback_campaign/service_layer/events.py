"""Building the events campaign publishes; ids are derived so a retried batch repeats them."""

from __future__ import annotations

from datetime import datetime

from winback_campaign.contract import CONTRACT
from winback_campaign.domain.batch import ActiveEnrollment
from winback_campaign.domain.enrollment import EnrollmentPlan
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

SOURCE = "/winback/campaign"


def enrolled(plan: EnrollmentPlan, now: datetime) -> OutboxMessage:
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
    return CONTRACT.message(event)


def exited(
    enrollment: ActiveEnrollment, reason: str, now: datetime, *, attributed_action_id: str | None = None
) -> OutboxMessage:
    """A won-back exit names the last action sent (with the variant): what the return is attributed to."""
    data = EnrollmentData(
        customer_id=enrollment.customer_id,
        playbook_id=enrollment.playbook_id,
        enrollment_id=enrollment.enrollment_id,
        variant=enrollment.variant,
        reason=reason,
        attributed_action_id=attributed_action_id if reason == "won_back" else None,
    )
    event = CampaignExited.new(source=SOURCE, time=now, data=data, id=f"exited:{enrollment.enrollment_id}")
    return CONTRACT.message(event)


def action_triggered(data: ActionTriggeredData, now: datetime) -> OutboxMessage:
    event = ActionTriggered.new(source=SOURCE, time=now, data=data, id=f"action:{data.action_id}")
    return CONTRACT.message(event)


def action_suppressed(data: ActionSuppressedData, now: datetime) -> OutboxMessage:
    event = ActionSuppressed.new(source=SOURCE, time=now, data=data, id=f"action:{data.action_id}")
    return CONTRACT.message(event)
