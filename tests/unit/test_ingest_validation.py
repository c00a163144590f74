"""Every validation rule of ingest (spec/events.md), as pure functions without I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from winback_ingest.domain.validation import EventError, validate_batch, validate_event
from winback_shared.events.envelope import not_after
from winback_shared.events.registry import INBOUND_TYPES, parse_event_json
from winback_shared.validation import MAX_TEXT_CHARS

C = {"customer_id": "c-1"}

# One valid payload per inbound type: the baseline each rule below breaks in one place.
VALID: dict[str, dict[str, Any]] = {
    "customer.upserted": {**C, "kind": "business", "postal_address": {"city": "Köln"}, "attributes": {"x": 1}},
    "order.placed": {**C, "order_id": "o-1", "amount": "19.90", "currency": "CHF", "margin": 4, "items": [{}]},
    "order.returned": {**C, "order_id": "o-1"},
    "contract.started": {**C, "contract_id": "k-1", "monthly_value": 9.5},
    "contract.renewed": {**C, "contract_id": "k-1", "end_date": "2026-01-01"},
    "contract.cancelled": {**C, "contract_id": "k-1", "reason_code": "price", "no_contact_requested": True},
    "usage.reported": {**C, "metric": "logins", "value": 3, "period_start": "2024-01-01T00:00:00Z"},
    "ticket.opened": {**C, "ticket_id": "t-1", "category": "complaint"},
    "ticket.resolved": {**C, "ticket_id": "t-1", "outcome": "solved", "satisfaction": 5},
    "survey.answered": {**C, "survey": "nps", "score": 10},
    "consent.granted": {**C, "channel": "email", "kind": "express", "method": "double_opt_in"},
    "consent.revoked": {**C, "channel": "sms"},
    "contact.objected": {**C, "channels": ["all"]},
    "campaign.response": {**C, "action_id": "a-1", "outcome": "clicked"},
    "product.feature_released": {"feature": "sso", "tags": ["security"]},
}


def envelope(type_: str, data: Any, **overrides: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/shop/orders",
        "type": type_,
        "time": "2024-05-01T12:00:00+02:00",
        "data": data,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not ...}


def fields(result: Any) -> list[str]:
    assert isinstance(result, list), f"expected errors, got {result!r}"
    return [e.field for e in result]


def test_every_inbound_type_has_a_valid_example():
    assert set(VALID) == INBOUND_TYPES
    for type_, data in VALID.items():
        event = validate_event(0, envelope(type_, data))
        assert not isinstance(event, list), (type_, event)
        assert event.type == type_


def test_unknown_data_fields_and_extension_attributes_are_kept():
    event = validate_event(0, envelope("order.placed", {**VALID["order.placed"], "loyalty_tier": "gold"}, subject="x"))
    assert not isinstance(event, list)
    assert event.data.model_dump()["loyalty_tier"] == "gold"
    assert '"subject":"x"' in event.to_json_bytes().decode()


@pytest.mark.parametrize(
    ("raw", "field", "kind"),
    [
        ([], "", "not_an_object"),
        ("event", "", "not_an_object"),
        (envelope("order.shipped", {}), "type", "unknown_type"),
        # Types the services publish are not accepted from outside.
        (envelope("customer.status_changed", C), "type", "unknown_type"),
        (envelope("order.placed", VALID["order.placed"], specversion="0.3"), "specversion", "string_pattern_mismatch"),
        (envelope("order.placed", VALID["order.placed"], id=...), "id", "missing"),
        (envelope("order.placed", VALID["order.placed"], id=""), "id", "string_too_short"),
        (envelope("order.placed", VALID["order.placed"], id="x" * 257), "id", "string_too_long"),
        (envelope("order.placed", VALID["order.placed"], id=7), "id", "string_type"),
        (envelope("order.placed", VALID["order.placed"], source=""), "source", "string_too_short"),
        (envelope("order.placed", VALID["order.placed"], source="/" * 513), "source", "string_too_long"),
        (envelope("order.placed", VALID["order.placed"], time=...), "time", "missing"),
        (envelope("order.placed", VALID["order.placed"], time="yesterday"), "time", "time_not_rfc3339"),
        (envelope("order.placed", VALID["order.placed"], time="2024-05-01T12:00:00"), "time", "timezone_aware"),
        (envelope("order.placed", ...), "data", "missing"),
        (envelope("order.placed", "not an object"), "data", "model_type"),
    ],
)
def test_envelope_rules(raw: Any, field: str, kind: str):
    errors = validate_event(3, raw)
    assert isinstance(errors, list) and errors[0].index == 3
    assert (errors[0].field, errors[0].kind) == (field, kind)


def test_missing_type_is_reported_on_the_type_field():
    raw = envelope("order.placed", VALID["order.placed"])
    del raw["type"]
    errors = validate_event(0, raw)
    assert isinstance(errors, list) and (errors[0].field, errors[0].kind) == ("type", "union_tag_not_found")


def _with(type_: str, **changes: Any) -> dict[str, Any]:
    data = {**VALID[type_], **changes}
    return {k: v for k, v in data.items() if v is not ...}


@pytest.mark.parametrize(
    ("type_", "data", "field"),
    [
        # customer_id: required, 1-128 characters, in every customer event
        *[
            (t, _with(t, customer_id=...), "data.customer_id")
            for t in sorted(INBOUND_TYPES - {"product.feature_released"})
        ],
        ("order.placed", _with("order.placed", customer_id=""), "data.customer_id"),
        ("order.placed", _with("order.placed", customer_id="c" * 129), "data.customer_id"),
        ("customer.upserted", _with("customer.upserted", kind="robot"), "data.kind"),
        ("customer.upserted", _with("customer.upserted", attributes=[1]), "data.attributes"),
        ("order.placed", _with("order.placed", order_id=...), "data.order_id"),
        ("order.placed", _with("order.placed", order_id=""), "data.order_id"),
        ("order.placed", _with("order.placed", amount=...), "data.amount"),
        ("order.placed", _with("order.placed", amount="12,50"), "data.amount"),
        ("order.placed", _with("order.placed", amount="NaN"), "data.amount"),
        ("order.placed", _with("order.placed", amount="1.1234567"), "data.amount"),
        ("order.placed", _with("order.placed", amount="1" * 19), "data.amount"),
        ("order.placed", _with("order.placed", currency="eur"), "data.currency"),
        ("order.placed", _with("order.placed", currency="EURO"), "data.currency"),
        ("order.placed", _with("order.placed", margin="lots"), "data.margin"),
        ("order.placed", _with("order.placed", items="shoes"), "data.items"),
        ("order.returned", _with("order.returned", order_id=...), "data.order_id"),
        ("order.returned", _with("order.returned", amount="x"), "data.amount"),
        ("contract.started", _with("contract.started", contract_id=...), "data.contract_id"),
        ("contract.started", _with("contract.started", monthly_value="Infinity"), "data.monthly_value"),
        ("contract.renewed", _with("contract.renewed", contract_id=""), "data.contract_id"),
        ("contract.cancelled", _with("contract.cancelled", contract_id=...), "data.contract_id"),
        ("contract.cancelled", _with("contract.cancelled", reason_code="too_expensive"), "data.reason_code"),
        (
            "contract.cancelled",
            _with("contract.cancelled", no_contact_requested="perhaps"),
            "data.no_contact_requested",
        ),
        ("usage.reported", _with("usage.reported", metric=...), "data.metric"),
        ("usage.reported", _with("usage.reported", value=...), "data.value"),
        ("usage.reported", _with("usage.reported", value="NaN"), "data.value"),
        ("usage.reported", _with("usage.reported", period_end="2024-01-31"), "data.period_end"),
        ("ticket.opened", _with("ticket.opened", ticket_id=...), "data.ticket_id"),
        ("ticket.opened", _with("ticket.opened", category="rant"), "data.category"),
        ("ticket.resolved", _with("ticket.resolved", ticket_id=...), "data.ticket_id"),
        ("ticket.resolved", _with("ticket.resolved", outcome="maybe"), "data.outcome"),
        ("ticket.resolved", _with("ticket.resolved", satisfaction=0), "data.satisfaction"),
        ("ticket.resolved", _with("ticket.resolved", satisfaction=6), "data.satisfaction"),
        ("survey.answered", _with("survey.answered", survey=...), "data.survey"),
        ("survey.answered", _with("survey.answered", survey="smiley"), "data.survey"),
        ("survey.answered", _with("survey.answered", score=...), "data.score"),
        ("survey.answered", _with("survey.answered", score=11), "data"),
        ("survey.answered", _with("survey.answered", survey="csat", score=0), "data"),
        ("survey.answered", _with("survey.answered", survey="csat", score=6), "data"),
        ("survey.answered", _with("survey.answered", survey="ces", score=8), "data"),
        ("consent.granted", _with("consent.granted", channel=...), "data.channel"),
        ("consent.granted", _with("consent.granted", channel="pigeon"), "data.channel"),
        ("consent.granted", _with("consent.granted", kind=...), "data.kind"),
        ("consent.granted", _with("consent.granted", kind="implied"), "data.kind"),
        ("consent.granted", _with("consent.granted", method="telepathy"), "data.method"),
        ("consent.granted", _with("consent.granted", evidence="signed"), "data.evidence"),
        ("consent.revoked", _with("consent.revoked", channel=...), "data.channel"),
        ("contact.objected", _with("contact.objected", channels=...), "data.channels"),
        ("contact.objected", _with("contact.objected", channels=[]), "data.channels"),
        ("contact.objected", _with("contact.objected", channels=["email", "pigeon"]), "data.channels.1"),
        ("campaign.response", _with("campaign.response", action_id=...), "data.action_id"),
        ("campaign.response", _with("campaign.response", outcome="ignored"), "data.outcome"),
        ("product.feature_released", _with("product.feature_released", feature=...), "data.feature"),
        ("product.feature_released", _with("product.feature_released", feature=""), "data.feature"),
    ],
)
def test_data_rules(type_: str, data: dict[str, Any], field: str):
    errors = validate_event(0, envelope(type_, data))
    assert isinstance(errors, list), f"{type_} {data} was accepted"
    assert errors[0].field.startswith(field), fields(errors)
    assert errors[0].id == "e-1" and errors[0].message


@pytest.mark.parametrize(
    ("survey", "low", "high"),
    [("nps", 0, 10), ("csat", 1, 5), ("ces", 1, 7)],
)
def test_survey_scales_accept_their_bounds(survey: str, low: int, high: int):
    for score in (low, high):
        assert not isinstance(
            validate_event(0, envelope("survey.answered", {**C, "survey": survey, "score": score})), list
        )


def test_batch_reports_every_problem_with_index_and_id_and_returns_no_partial_result():
    good = envelope("order.placed", VALID["order.placed"])
    two_problems = envelope("order.placed", _with("order.placed", amount="x", currency="eur"), id="e-2")
    events, errors = validate_batch([good, two_problems, 42])
    assert len(events) == 1
    assert [(e.index, e.id, e.field) for e in errors] == [
        (1, "e-2", "data.amount"),
        (1, "e-2", "data.currency"),
        (2, None, ""),
    ]
    assert errors[0].as_dict().keys() == {"index", "id", "field", "message"}


def test_error_shape_is_the_contract():
    assert EventError(1, "e", "data.amount", "bad", "decimal_parsing").as_dict() == {
        "index": 1,
        "id": "e",
        "field": "data.amount",
        "message": "bad",
    }


NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EDGE = not_after(NOW, timedelta(hours=24))
ORDER = VALID["order.placed"]


def order(**overrides: Any) -> dict[str, Any]:
    return envelope("order.placed", ORDER, **overrides)


def usage(**data: Any) -> dict[str, Any]:
    return envelope("usage.reported", {**C, "metric": "logins", "value": 1, **data})


@pytest.mark.parametrize(
    ("raw", "field", "kind"),
    [
        # Issue 15, finding 1: acknowledged by ingest, then dead-lettered by every consumer.
        (
            envelope("order.placed", {**ORDER, "customer_id": "a\x00b"}),
            "data.customer_id",
            "text_refused",
        ),
        (envelope("customer.upserted", {**C, "name": "x\x00"}), "data.name", "text_refused"),
        (envelope("customer.upserted", {**C, "attributes": {"k": ["\x00"]}}), "data.attributes.k.0", "text_refused"),
        (order(subject="\x00"), "subject", "text_refused"),
        (
            order(time="0001-01-01T00:30:00+01:00"),
            "time",
            "time_out_of_range",
        ),
        (
            order(time="9999-12-31T23:30:00-01:00"),
            "time",
            "time_out_of_range",
        ),
        (usage(period_end="0001-01-01T00:00:00+00:01"), "data.period_end", "time_out_of_range"),
        # Finding 2: a lone surrogate in an id or an e-mail.
        (order(id="abc\ud800def"), "id", "text_refused"),
        (envelope("customer.upserted", {**C, "email": "a\udfffb@example.com"}), "data.email", "text_refused"),
        # Finding 5: Unix times and times from the future.
        (order(time=1714557600), "time", "time_not_rfc3339"),
        (order(time="1714557600"), "time", "time_not_rfc3339"),
        (order(time="9999-12-31T00:00:00Z"), "time", "time_in_future"),
        (order(time="2025-06-02T12:00:01Z"), "time", "time_in_future"),
        # Length limits: business keys are identifiers, any other string at most MAX_TEXT_CHARS.
        (
            envelope("order.placed", {**ORDER, "order_id": "o" * 257}),
            "data.order_id",
            "string_too_long",
        ),
        (envelope("customer.upserted", {**C, "name": "n" * (MAX_TEXT_CHARS + 1)}), "data.name", "text_refused"),
    ],
)
def test_the_shared_text_and_time_rule(raw: Any, field: str, kind: str):
    errors = validate_event(0, raw, EDGE)
    assert isinstance(errors, list), errors
    assert [(e.field, e.kind) for e in errors] == [(field, kind)]


def test_the_allowed_skew_is_inclusive_and_only_ingest_applies_it():
    exactly = order(time="2025-06-02T12:00:00Z")
    assert not isinstance(validate_event(0, exactly, EDGE), list)
    later = order(time="2025-06-03T12:00:00Z")
    assert isinstance(validate_event(0, later, EDGE), list)
    # A consumer validates without a clock: what ingest let in is applied whatever its own clock says.
    assert parse_event_json(json.dumps(later)).time == datetime(2025, 6, 3, 12, tzinfo=UTC)


def test_a_valid_surrogate_pair_and_other_unicode_pass():
    raw = envelope("customer.upserted", {**C, "name": "Jürgen 😀 Ωmega"})
    event = validate_event(0, raw, EDGE)
    assert not isinstance(event, list)
    assert event.data.model_dump()["name"] == "Jürgen 😀 Ωmega"


@pytest.mark.parametrize(
    "text",
    [
        '{"id": "a\\u0000"}',
        '{"id": "abc\\ud800def"}',
        '{"id": "x\\udc00"}',
    ],
)
def test_consumers_refuse_by_the_same_rule_on_the_wire(text: str):
    raw = json.loads(text) | {k: v for k, v in envelope("order.placed", VALID["order.placed"]).items() if k != "id"}
    wire = json.dumps(raw).encode()
    with pytest.raises(ValidationError) as refused:
        parse_event_json(wire)
    assert [e["type"] for e in refused.value.errors()] == ["text_refused"]
    assert isinstance(validate_event(0, raw, EDGE), list)
