"""What each consumed event means to campaign (pure): profile fields, status changes, exit signals."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from winback_campaign.domain.batch import ExitSignal
from winback_campaign.domain.enrollment import StatusChange
from winback_campaign.domain.regions import customer_state
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import (
    CampaignResponse,
    ContactObjected,
    ContractCancelled,
    CustomerUpserted,
    FeatureReleased,
    OrderPlaced,
)
from winback_shared.events.produced import ConsentChanged, CustomerRiskAssessed, CustomerStatusChanged

RELEVANT = (
    CustomerUpserted,
    OrderPlaced,
    ContractCancelled,
    CustomerStatusChanged,
    ConsentChanged,
    ContactObjected,
    CampaignResponse,
    FeatureReleased,
)
# What a tool's feedback means for the sequence (the rest, e.g. opened, changes nothing).
RESPONSE_EXITS = {"unsubscribed": "unsubscribe", "complained": "complaint", "replied": "reply"}
_WORD = re.compile(r"[a-z0-9][a-z0-9_-]{1,40}")


def recorded(event: CloudEvent) -> bool:
    """Whether a consumed event is recorded as applied: all but scores, relevant or not.

    A status change names the customer's latest event by `(source, id)`, whatever its type, and
    enrolment waits until that event is recorded here. Scores are many and named by nobody.
    """
    return not isinstance(event, CustomerRiskAssessed)


def status_change(event: CustomerStatusChanged) -> StatusChange:
    d = event.data
    return StatusChange(
        customer_id=d.customer_id,
        to=d.to,
        at=d.at,
        winback_eligible=d.winback_eligible,
        source=event.source,
        event_id=event.id,
        churn_reason=d.churn_reason,
        segment=d.segment,
        value_tier=d.value_tier,
        caused_by=None if d.caused_by is None else (d.caused_by.source, d.caused_by.id),
    )


def cause_of(event: CustomerStatusChanged) -> tuple[str, str]:
    """`(source, id)` of the event a status change names; only for changes that name one."""
    cause = event.data.caused_by
    assert cause is not None
    return (cause.source, cause.id)


def _wishes(event: CloudEvent) -> set[str]:
    """Tags of what a customer left for: explicit `wanted_features`, or the words of a feature-gap reason."""
    if isinstance(event, CustomerUpserted):
        wanted = event.data.attributes.get("wanted_features") or []
        return {str(w).lower() for w in wanted} if isinstance(wanted, list) else set()
    if isinstance(event, ContractCancelled) and event.data.reason_code == "feature_gap":
        return set(_WORD.findall((event.data.reason_text or "").lower()))
    return set()


def merged_profiles(events: Sequence[CloudEvent]) -> dict[str, dict[str, Any]]:
    """Per customer, the latest non-empty value of each profile field, and the categories and wishes seen."""
    profiles: dict[str, dict[str, Any]] = {}
    for event in events:
        if isinstance(event, CustomerUpserted):
            d = event.data
            fields: dict[str, Any] = d.model_dump(
                include={"name", "email", "language", "kind", "phone", "account_manager"}, exclude_none=True
            )
            # `kind` has a default: only an explicitly sent kind overrides the stored one.
            if "kind" not in d.model_fields_set:
                fields.pop("kind", None)
            if d.postal_address is not None:
                fields["postal_address"] = d.postal_address.model_dump(exclude_none=True)
            zone = d.attributes.get("time_zone")
            if isinstance(zone, str) and zone:
                fields["time_zone"] = zone
            state = customer_state(d.attributes.get("state"), fields.get("postal_address"))
            if state is not None:
                fields["state"] = state
        elif isinstance(event, OrderPlaced) and event.data.category:
            fields = {"categories": {event.data.category}}
        else:
            fields = {}
        wishes = _wishes(event)
        if wishes:
            fields["wishes"] = wishes
        if not fields:
            continue
        profile = profiles.setdefault(event.customer_id or "", {})
        for key, value in fields.items():
            profile[key] = (profile.get(key) or set()) | value if key in ("categories", "wishes") else value
    return profiles


def exit_signal(event: CloudEvent, enrollment_of_action: dict[str, str]) -> ExitSignal | None:
    """Objections and responses that end a sequence."""
    if isinstance(event, ConsentChanged) and event.data.state in ("objected", "suppressed"):
        return ExitSignal(event.data.customer_id, "objection")
    if isinstance(event, ContactObjected):
        return ExitSignal(event.data.customer_id, "objection")
    if isinstance(event, CampaignResponse) and event.data.outcome in RESPONSE_EXITS:
        enrollment_id = enrollment_of_action.get(event.data.action_id)
        if enrollment_id is None:
            return None  # an action that is not ours (e.g. consent's DOI mail)
        return ExitSignal(event.data.customer_id, RESPONSE_EXITS[event.data.outcome], enrollment_id)
    return None


def release_changes(event: FeatureReleased, candidates: Sequence[dict[str, Any]]) -> list[StatusChange]:
    """One trigger per feature-gap leaver the release answers."""
    return [
        StatusChange(
            customer_id=c["customer_id"],
            to="product.feature_released",
            at=event.time,
            winback_eligible=bool(c["winback_eligible"]),
            source=event.source,
            event_id=event.id,
            churn_reason="feature_gap",
            segment=c["segment"],
            value_tier=c["value_tier"],
            kind=c["kind"],
            time_zone=c["time_zone"],
            state=c["state"],
            tags=tuple(event.data.tags),
            feature=event.data.feature,
            # The release itself: the leaver's own events were applied long before they matched.
            caused_by=event.identity,
        )
        for c in candidates
    ]
