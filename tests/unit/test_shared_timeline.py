"""The timeline's paging: merged sources newest first, and `before` values only this API issues."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from winback_shared.timeline import Before, Entry, InvalidBefore, decode_before, encode_before, page

T = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_page_merges_sources_newest_first_and_names_the_last_item_shown() -> None:
    entries = [
        Entry(T, "order:o1", {"type": "order_placed"}),
        Entry(T + timedelta(days=1), "signal:2", {"type": "ticket_opened"}),
        Entry(T, "status:e1", {"type": "status_changed"}),  # same time: the key orders them
    ]
    items, next_before = page(entries, 2)
    assert [i["type"] for i in items] == ["ticket_opened", "status_changed"]
    assert items[0]["at"] == (T + timedelta(days=1)).isoformat()
    assert next_before is not None and decode_before(next_before) == Before(T, "status:e1")
    assert page(entries, 3)[1] is None


def test_before_round_trips_in_utc() -> None:
    berlin = datetime(2026, 3, 1, 13, tzinfo=UTC).astimezone()
    assert decode_before(encode_before(berlin, "k")) == Before(T + timedelta(hours=1), "k")


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        base64.urlsafe_b64encode(json.dumps(["2026-03-01T12:00:00", "k"]).encode()).decode(),  # no offset
        base64.urlsafe_b64encode(json.dumps(["2026-03-01T12:00:00+00:00", "a\x00b"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-03-01T12:00:00+00:00", 7]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(["0001-01-01T00:00:00+14:00", "k"]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps({"at": 1}).encode()).decode(),
    ],
)
def test_anything_else_is_refused(raw: str) -> None:
    with pytest.raises(InvalidBefore):
        decode_before(raw)
