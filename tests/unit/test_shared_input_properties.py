"""Ingest and every consumer under the same generated strings and times (hypothesis).

Issue 15, finding 1: ingest acknowledged events that every consumer then dead-lettered. The
properties: whatever ingest accepts, each consumer parses from the wire and translates without
an error; and whatever holds text PostgreSQL cannot store or a time outside years 1-9999 in UTC,
ingest refuses. The same generated input goes through both sides.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from winback_campaign.service_layer.translate import exit_signal, merged_profiles
from winback_consent.domain.translate import translate
from winback_ingest.domain.validation import validate_event
from winback_metrics.domain.facts import facts_of
from winback_risk.domain.facts import facts_of_batch
from winback_shared.events.envelope import CloudEvent, not_after
from winback_shared.events.registry import parse_event_json
from winback_shared.validation import text_acceptable, text_problems, time_problem

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
EDGE = not_after(NOW, timedelta(hours=24))

# Any code point, lone surrogates and NUL included, and the strings that broke things before.
texts = st.one_of(
    st.text(st.characters(exclude_categories=()), min_size=1, max_size=40),
    st.sampled_from(["c-1", "a\x00b", "abc\ud800def", "\udfff", "😀", "x" * 300, "y" * 10_001]),
)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
local_times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
times = st.one_of(
    st.builds(lambda t, tz: t.replace(tzinfo=tz).isoformat(), local_times, offsets),
    st.sampled_from(["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", "9999-12-31T00:00:00Z"]),
    st.builds(lambda s: (NOW + timedelta(seconds=s)).isoformat(), st.integers(-(10**9), 3 * 86_400)),
    st.integers(-(10**12), 10**12),
    texts,
)


def _events(s: Any, when: Any, period: Any) -> list[dict[str, Any]]:
    data = [
        ("order.placed", {"customer_id": s[0], "order_id": s[1], "amount": "9.90", "category": s[2]}),
        ("customer.upserted", {"customer_id": s[0], "name": s[1], "email": s[2], "attributes": {s[1]: [s[2]]}}),
        ("contract.cancelled", {"customer_id": s[0], "contract_id": s[1], "reason_text": s[2], "competitor": s[1]}),
        ("usage.reported", {"customer_id": s[0], "metric": s[1], "value": 1, "period_start": period}),
        ("contact.objected", {"customer_id": s[0], "channels": ["all"], "note": s[2]}),
        ("consent.granted", {"customer_id": s[0], "channel": "email", "kind": "express", "evidence": {"ip": s[1]}}),
        ("ticket.opened", {"customer_id": s[0], "ticket_id": s[1], "priority": s[2]}),
        ("survey.answered", {"customer_id": s[0], "survey": "nps", "score": 3, "comment": s[2]}),
        ("campaign.response", {"customer_id": s[0], "action_id": s[1], "outcome": "unsubscribed"}),
    ]
    return [
        {"specversion": "1.0", "id": s[1], "source": "/fuzz", "type": type_, "time": when, "data": payload}
        for type_, payload in data
    ]


def _unusable(raw: Any) -> bool:
    """The oracle, written independently of the rule: what PostgreSQL or the consumers cannot take."""
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return "\x00" in raw
    if isinstance(raw, dict):
        return any(_unusable(k) or _unusable(v) for k, v in raw.items())
    if isinstance(raw, list):
        return any(_unusable(v) for v in raw)
    return False


def _time_unusable(value: Any) -> bool:
    if not isinstance(value, str):
        return True  # Unix times are refused by contract
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.tzinfo is None or parsed.astimezone(UTC).year < 1
    except (ValueError, OverflowError):
        return True


def _consumers_apply(event: CloudEvent) -> None:
    """What each consumer does with an event before it reaches its database."""
    translate([event])
    merged_profiles([event])
    exit_signal(event, {})
    facts_of([event], {}, Decimal("1"))
    facts_of_batch([event])
    event.time.astimezone(UTC)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(strings=st.tuples(texts, texts, texts), when=times, period=times)
def test_consumers_apply_what_ingest_accepts_and_ingest_refuses_what_they_cannot(
    strings: tuple[str, str, str], when: Any, period: Any
):
    for raw in _events(strings, when, period):
        accepted = validate_event(0, raw, EDGE)
        if isinstance(accepted, list):
            continue
        assert not _unusable(raw), raw
        assert not _time_unusable(raw["time"]), raw["time"]
        assert accepted.time <= NOW + timedelta(hours=24)
        # What ingest publishes is what every consumer reads.
        wire = accepted.to_json_bytes()
        consumed = parse_event_json(wire)
        assert consumed == accepted
        _consumers_apply(consumed)
        json.loads(wire)


# Any decoded JSON value, nested up to past the depth limit, holding the strings above as keys and values.
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(texts, st.just("k" * 2_049)), inner, max_size=3)
    ),
    max_leaves=40,
)


def _nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = {"n": [value]}
    return value


@given(json_values, st.integers(0, 20))
# No deadline (as every other property test here): 200 ms per example is a wall-clock bound a loaded
# two-core CI machine can miss (Hypothesis then fails the test as flaky), whatever the answer.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_quick_text_check_agrees_with_the_walk_that_names_the_problems(value: Any, wrap: int) -> None:
    # The quick check decides whether the walk (which names every problem) runs at all: they must agree.
    nested = _nested(value, wrap)
    assert text_acceptable(nested) == (next(text_problems(nested), None) is None)


def _reference_time_problem(value: datetime) -> str | None:
    """`time_problem` before its fast path: every time converted to UTC."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        return "lies outside years 1-9999 in UTC"
    return None


@given(
    st.one_of(
        local_times,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(2, 1, 2)),
        st.datetimes(min_value=datetime(9998, 12, 30), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    ),
    offsets,
)
def test_time_problem_answers_as_converting_every_time_did(local: datetime, offset: timezone) -> None:
    value = local.replace(tzinfo=offset)
    assert time_problem(value) == _reference_time_problem(value)


_PYDANTIC_TIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


@given(times)
def test_parsed_times_are_pydantics_own_with_a_stdlib_zone(text: str) -> None:
    """Event times parsed from JSON carry a `datetime.timezone`: the same instant, offset and output."""
    raw = {"specversion": "1.0", "id": "e-1", "source": "/s", "type": "order.placed", "time": text,
           "data": {"customer_id": "c-1", "order_id": "o-1", "amount": "1"}}  # fmt: skip
    try:
        event = parse_event_json(json.dumps(raw))
    except ValidationError:
        return  # refused either way: the time validators' answers are tested above
    own = _PYDANTIC_TIME.validate_python(text)
    assert isinstance(event.time.tzinfo, timezone)
    assert event.time == own and event.time.utcoffset() == own.utcoffset()
    assert event.time.isoformat() == own.isoformat() and str(event.time) == str(own)
    assert _PYDANTIC_TIME.dump_json(event.time) == _PYDANTIC_TIME.dump_json(own)
    assert json.loads(event.to_json_bytes())["time"] == json.loads(_PYDANTIC_TIME.dump_json(own))
