"""The typed event models accept the contract of spec/events.md and refuse what it forbids."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.events import event
from winback_shared.events import EVENT_TYPES, parse_event, parse_event_json
from winback_shared.events.produced import CustomerStatusChanged, StatusChangedData

AT = "2025-03-01T10:00:00+00:00"

# One valid data payload per event type of the spec; the schema tests reuse them.
SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "customer.upserted": {
        "customer_id": "c-1",
        "kind": "business",
        "name": "Muster GmbH",
        "email": "info@example.org",
        "postal_address": {"street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"},
        "language": "de",
        "attributes": {"segment": "smb"},
    },
    "order.placed": {"customer_id": "c-1", "order_id": "o-1", "amount": "119.90", "currency": "EUR", "margin": 30},
    "order.returned": {"customer_id": "c-1", "order_id": "o-1", "amount": "19.90"},
    "contract.started": {"customer_id": "c-1", "contract_id": "k-1", "product": "pro", "monthly_value": "49.00"},
    "contract.renewed": {"customer_id": "c-1", "contract_id": "k-1", "end_date": "2026-03-01"},
    "contract.cancelled": {
        "customer_id": "c-1",
        "contract_id": "k-1",
        "effective_date": "2025-06-30",
        "reason_code": "price",
        "competitor": "Other AG",
        "no_contact_requested": False,
    },
    "usage.reported": {"customer_id": "c-1", "metric": "logins", "value": 12, "period_start": AT, "period_end": AT},
    "ticket.opened": {"customer_id": "c-1", "ticket_id": "t-1", "category": "complaint", "priority": "high"},
    "ticket.resolved": {"customer_id": "c-1", "ticket_id": "t-1", "outcome": "solved", "satisfaction": 4},
    "survey.answered": {"customer_id": "c-1", "survey": "nps", "score": 3, "comment": "zu teuer"},
    "consent.granted": {
        "customer_id": "c-1",
        "channel": "email",
        "kind": "express",
        "method": "double_opt_in",
        "evidence": {"confirmed_at": AT},
    },
    "consent.revoked": {"customer_id": "c-1", "channel": "sms"},
    "contact.objected": {"customer_id": "c-1", "channels": ["all"], "note": "per letter"},
    "campaign.response": {"customer_id": "c-1", "action_id": "a-1", "outcome": "clicked"},
    "product.feature_released": {"feature": "sso", "tags": ["feature_gap"]},
    "customer.status_changed": {"customer_id": "c-1", "from": "active", "to": "churned", "at": AT, "reasons": ["x"]},
    "customer.risk_assessed": {"customer_id": "c-1", "risk_score": 0.8, "drivers": [{"name": "recency"}], "as_of": AT},
    "consent.changed": {"customer_id": "c-1", "channel": "email", "state": "revoked", "at": AT},
    "customer.erased": {"customer_id": "c-1", "erased_at": AT},
    "campaign.enrolled": {"customer_id": "c-1", "playbook_id": "p-1", "enrollment_id": "e-1", "variant": "A"},
    "campaign.exited": {"customer_id": "c-1", "playbook_id": "p-1", "enrollment_id": "e-1", "reason": "won_back"},
    "action.triggered": {
        "action_id": "a-1",
        "customer_id": "c-1",
        "channel": "email",
        "template": "winback_price_de",
        "content": {"subject": "Hallo"},
        "consent": {"basis": "express", "evidence_ids": ["ev-1"]},
        "due_at": AT,
        "playbook_id": "p-1",
        "enrollment_id": "e-1",
    },
    "action.suppressed": {
        "action_id": "a-2",
        "customer_id": "c-1",
        "channel": "sms",
        "reason": "no_consent",
        "playbook_id": "p-1",
        "enrollment_id": "e-1",
    },
}


def sample(type_: str, **data: Any) -> dict[str, Any]:
    return event(type_, {**SAMPLE_DATA[type_], **data}, id=f"id-{type_}", source="/test/shop")


def test_every_spec_type_has_a_model_and_a_sample() -> None:
    assert set(EVENT_TYPES) == set(SAMPLE_DATA)


@pytest.mark.parametrize("type_", sorted(SAMPLE_DATA))
def test_each_type_parses_into_its_model(type_: str) -> None:
    parsed = parse_event(sample(type_))
    assert type(parsed) is EVENT_TYPES[type_]
    assert parsed.type == type_
    assert parsed.identity == ("/test/shop", f"id-{type_}")
    assert parse_event_json(parsed.to_json_bytes()) == parsed


def test_unknown_data_fields_are_kept_and_serialised() -> None:
    parsed = parse_event(sample("order.placed", loyalty_points=12, channel_info={"app": "ios"}))
    wire = json.loads(parsed.to_json_bytes())
    assert wire["data"]["loyalty_points"] == 12
    assert wire["data"]["channel_info"] == {"app": "ios"}


def test_amounts_are_decimal_strings_never_floats() -> None:
    parsed = parse_event(sample("order.placed", amount=0.1, margin="0.30"))
    assert parsed.data.amount == Decimal("0.1")  # type: ignore[attr-defined]
    wire = json.loads(parsed.to_json_bytes())
    assert wire["data"]["amount"] == "0.1"
    assert wire["data"]["margin"] == "0.30"
    assert isinstance(json.loads(parse_event(sample("contract.started")).to_json_bytes())["data"]["monthly_value"], str)


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "zwölf"])
def test_amounts_that_are_no_number_are_rejected(amount: str) -> None:
    with pytest.raises(ValidationError):
        parse_event(sample("order.placed", amount=amount))


@pytest.mark.parametrize("customer_id", ["", "x" * 129])
def test_bad_customer_id_is_rejected(customer_id: str) -> None:
    with pytest.raises(ValidationError):
        parse_event(sample("order.placed", customer_id=customer_id))


def test_customer_id_of_128_chars_is_accepted() -> None:
    assert parse_event(sample("order.placed", customer_id="x" * 128)).customer_id == "x" * 128


def test_missing_customer_id_is_rejected() -> None:
    raw = sample("ticket.opened")
    del raw["data"]["customer_id"]
    with pytest.raises(ValidationError):
        parse_event(raw)


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_event(event("order.teleported", {"customer_id": "c-1"}))


@pytest.mark.parametrize(
    ("survey", "ok", "bad"),
    [("nps", [0, 10], [-1, 11]), ("csat", [1, 5], [0, 6]), ("ces", [1, 7], [0, 8])],
)
def test_survey_score_scale_per_kind(survey: str, ok: list[int], bad: list[int]) -> None:
    for score in ok:
        assert parse_event(sample("survey.answered", survey=survey, score=score)).data.score == score  # type: ignore[attr-defined]
    for score in bad:
        with pytest.raises(ValidationError, match="scale"):
            parse_event(sample("survey.answered", survey=survey, score=score))


def test_status_changed_from_alias_serialises_as_from() -> None:
    parsed = parse_event(sample("customer.status_changed"))
    assert isinstance(parsed, CustomerStatusChanged)
    assert parsed.data.from_ == "active"
    wire = json.loads(parsed.to_json_bytes())
    assert wire["data"]["from"] == "active"
    assert "from_" not in wire["data"]
    # Built in code by field name, it still goes out as "from".
    built = StatusChangedData(customer_id="c-1", from_="at_risk", to="churned", at=AT)
    assert json.loads(built.model_dump_json())["from"] == "at_risk"


def test_envelope_requires_timezone_and_spec_version() -> None:
    with pytest.raises(ValidationError):
        parse_event({**sample("order.placed"), "time": "2025-03-01T10:00:00"})
    with pytest.raises(ValidationError):
        parse_event({**sample("order.placed"), "specversion": "0.3"})


def test_extension_attributes_of_the_envelope_are_kept() -> None:
    parsed = parse_event({**sample("order.placed"), "subject": "o-1", "traceparent": "00-abc-01"})
    wire = json.loads(parsed.to_json_bytes())
    assert wire["subject"] == "o-1"
    assert wire["traceparent"] == "00-abc-01"
