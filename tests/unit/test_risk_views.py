"""Risk's read side: as_of parsing, cursors, buying cycle and the customer object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from winback_risk.domain.buying_cycle import buying_cycle
from winback_risk.domain.customer import CustomerState
from winback_risk.domain.model.population import PRIOR
from winback_risk.domain.scoring import OrderSummary, RiskConfig, assess_customers
from winback_risk.entrypoints.params import InvalidAsOf, parse_as_of
from winback_risk.service_layer.assessment import facts_of
from winback_risk.service_layer.queries import InvalidCursor, customer_view, decode_cursor, encode_cursor

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))
MINUS1 = timezone(-timedelta(hours=1))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, NOW),
        ("2024-05-01", datetime(2024, 5, 1, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01t10:00:00z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.5+02:00", datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=PLUS2)),
        ("2024-05-01T10:00:00 02:00", datetime(2024, 5, 1, 10, tzinfo=PLUS2)),
        ("2024-05-01T10:00:00.123456789-01:00", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=MINUS1)),
    ],
)
def test_as_of_accepts_rfc3339_dates_and_datetimes(raw: str | None, expected: datetime) -> None:
    assert parse_as_of(raw, NOW) == expected


@pytest.mark.parametrize(
    "raw", ["", "yesterday", "2024-05-01T10:00:00", "20240501", "2024-13-01", "2024-02-30T00:00:00Z"]
)
def test_as_of_rejects_everything_else(raw: str) -> None:
    with pytest.raises(InvalidAsOf):
        parse_as_of(raw, NOW)


def test_cursor_round_trip_and_garbage() -> None:
    assert decode_cursor(encode_cursor("kunde/ä 1")) == "kunde/ä 1"
    for bad in ["", "!!!", "gA"]:
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_buying_cycle_uses_the_customers_own_interval() -> None:
    first = NOW - timedelta(days=100)
    cycle = buying_cycle(3, first, first + timedelta(days=60), NOW)
    assert cycle.mean_interval_days == 30.0
    assert cycle.days_since_last_order == 40.0
    assert cycle.overdue_ratio == pytest.approx(1.333, abs=1e-3)


def test_buying_cycle_without_an_interval_has_no_ratio() -> None:
    assert buying_cycle(0, None, None, NOW).days_since_last_order is None
    single = buying_cycle(1, NOW - timedelta(days=3), NOW - timedelta(days=3), NOW)
    assert (single.mean_interval_days, single.days_since_last_order, single.overdue_ratio) == (None, 3.0, None)


def test_customer_view_has_every_field_of_the_contract() -> None:
    state = CustomerState(
        customer_id="c1",
        status="churned",
        status_since=NOW,
        churn_reason="price",
        winback_eligible=True,
        orders=2,
        revenue=Decimal("120.500000"),
        first_order_at=NOW - timedelta(days=20),
        last_order_at=NOW - timedelta(days=10),
    )
    orders = OrderSummary(
        occasions=2, orders=2, first_order_at=NOW - timedelta(days=20), last_order_at=NOW - timedelta(days=10),
        first_day_at=NOW - timedelta(days=20), last_day_at=NOW - timedelta(days=10), revenue=Decimal("120.5"),
    )  # fmt: skip
    [assessed] = assess_customers([facts_of(state, orders, ())], PRIOR, NOW, 90, RiskConfig())
    view = customer_view(state, assessed)
    expected = {
        "customer_id", "status", "status_since", "risk_score", "drivers", "p_alive", "expected_orders",
        "buying_cycle", "value", "churn_reason", "winback_probability", "segment", "winback_eligible",
        "as_of", "horizon_days",
    }  # fmt: skip
    assert expected <= view.keys()
    assert set(view["buying_cycle"]) == {
        "orders", "first_order_at", "last_order_at", "mean_interval_days", "days_since_last_order", "overdue_ratio",
    }  # fmt: skip
    assert set(view["value"]) == {
        "revenue", "margin", "predicted_clv_12m", "value_tier", "revenue_12m_before_churn", "margin_12m_before_churn",
        "window_12m_end", "predicted_value_if_retained_12m",
    }  # fmt: skip
    assert view["value"]["revenue"] == "120.5" and view["value"]["margin"] == "0"
    assert view["buying_cycle"]["orders"] == 2 and view["buying_cycle"]["mean_interval_days"] == 10.0
    assert view["as_of"] == NOW.isoformat() and view["horizon_days"] == 90
    # Churned: the churn itself is a driver, so the risk score never says "safe" about a customer who left.
    assert [d["factor"] for d in view["drivers"]] == ["churned", "buying_cycle"] and view["status"] == "churned"
    assert view["risk_score"] >= RiskConfig().at_risk_score
    assert 0 < view["p_alive"] < 1 and view["expected_orders"] > 0 and view["churn_reason"] == "price"
