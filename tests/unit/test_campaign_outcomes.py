"""What each recorded call outcome tells the rest of the system (events) and the enrolment (exit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from winback_campaign.service_layer.outcomes import EXIT_OF, outcome_events

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


def published(outcome: str, note: str | None = None) -> list[tuple[str, str, dict[str, object]]]:
    return [
        (m.topic, m.event_type, json.loads(m.payload)["data"]) for m in outcome_events("a-1", "c-1", outcome, note, NOW)
    ]


@pytest.mark.parametrize(
    ("outcome", "response"),
    [("reached", "reached"), ("not_reached", "not_reached"), ("declined", "replied"), ("won_back", "reached")],
)
def test_a_call_outcome_is_one_campaign_response_on_the_inbound_topic(outcome: str, response: str) -> None:
    assert published(outcome) == [
        ("winback.inbound", "campaign.response", {"customer_id": "c-1", "action_id": "a-1", "outcome": response})
    ]


def test_an_objection_on_the_phone_is_also_an_objection_to_every_channel() -> None:
    assert published("objected", "keine Anrufe") == [
        ("winback.inbound", "campaign.response", {"customer_id": "c-1", "action_id": "a-1", "outcome": "reached"}),
        ("winback.inbound", "contact.objected", {"customer_id": "c-1", "channels": ["all"], "note": "keine Anrufe"}),
    ]


def test_the_same_outcome_again_repeats_the_same_event_ids() -> None:
    first = [json.loads(m.payload)["id"] for m in outcome_events("a-1", "c-1", "objected", None, NOW)]
    again = [json.loads(m.payload)["id"] for m in outcome_events("a-1", "c-1", "objected", None, NOW)]
    assert first == again == ["outcome:a-1:response", "outcome:a-1:objection"]


def test_only_declined_and_objected_end_the_enrolment() -> None:
    assert EXIT_OF == {"declined": "reply", "objected": "objection"}
