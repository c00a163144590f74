"""The cohort period from `from`/`to`, and events sorted into priced facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from winback_metrics.domain.cohort import InvalidPeriod, parse_period
from winback_metrics.domain.facts import facts_of
from winback_metrics.settings import MetricsSettings
from winback_shared.events.produced import ActionSuppressed, ActionTriggered, CustomerStatusChanged

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_dates_cover_whole_days() -> None:
    period = parse_period("2024-01-01", "2024-03-31")
    assert period.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert period.end == datetime(2024, 4, 1, tzinfo=UTC)


def test_date_times_with_offset_and_open_ends() -> None:
    period = parse_period("2024-01-01T10:00:00+01:00", None)
    assert period.start == datetime(2024, 1, 1, 10, tzinfo=timezone(timedelta(hours=1)))
    assert period.end is None
    assert parse_period(None, "2024-01-01T00:00:00Z").end == datetime(2024, 1, 1, tzinfo=UTC)
    # An unencoded '+' in a query string arrives as a space.
    assert parse_period("2024-01-01T10:00:00 01:00", None).start == period.start


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("yesterday", None),
        ("2024-02-30", None),
        ("2024-01-01T00:00:00", None),  # no offset
        (None, "2024-13-01"),
        ("2024-03-01", "2024-01-01"),  # empty period
    ],
)
def test_bad_periods_are_refused(start: str | None, end: str | None) -> None:
    with pytest.raises(InvalidPeriod):
        parse_period(start, end)


def test_facts_use_event_times_and_channel_costs() -> None:
    costs = MetricsSettings().channel_costs
    events = [
        CustomerStatusChanged.new(
            source="/risk",
            time=T0 + timedelta(hours=1),
            data={"customer_id": "c1", "from": "lapsed", "to": "churned", "at": T0, "churn_reason": "price"},
        ),
        CustomerStatusChanged.new(
            source="/risk", time=T0, data={"customer_id": "c2", "from": "churned", "to": "won_back", "at": T0}
        ),
        CustomerStatusChanged.new(
            source="/risk", time=T0, data={"customer_id": "c3", "from": "active", "to": "at_risk", "at": T0}
        ),
        ActionTriggered.new(
            source="/campaign",
            time=T0,
            data={
                "action_id": "a1",
                "customer_id": "c1",
                "channel": "phone",
                "template": "call",
                "playbook_id": "p",
                "enrollment_id": "e",
            },
        ),
        ActionSuppressed.new(
            source="/campaign",
            time=T0,
            data={
                "action_id": "a2",
                "customer_id": "c1",
                "channel": "sms",
                "reason": "no_consent",
                "playbook_id": "p",
                "enrollment_id": "e",
            },
        ),
    ]
    facts = facts_of(events, costs, Decimal("0"))
    assert [(c.customer_id, c.churned_at, c.churn_reason) for c in facts.churns] == [("c1", T0, "price")]
    assert [(r.customer_id, r.returned_at) for r in facts.returns] == [("c2", T0)]
    assert [(a.action_id, a.status, a.cost) for a in facts.actions] == [
        ("a1", "triggered", Decimal("8.00")),
        ("a2", "suppressed", Decimal("0")),
    ]
    expected = {"email": "0.05", "sms": "0.10", "post": "1.20", "phone": "8.00"}
    assert costs == {channel: Decimal(price) for channel, price in expected.items()}
