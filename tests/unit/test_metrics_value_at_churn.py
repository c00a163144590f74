"""The value a churn is measured by: the relationship that was lost, not what is left after leaving."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from winback_metrics.domain.facts import facts_of
from winback_shared.events.produced import CustomerRiskAssessed, CustomerStatusChanged

AT = datetime(2026, 3, 1, tzinfo=UTC)
COSTS = {"email": Decimal("0.05")}


def _status_change(to: str, *, if_retained: str | None, expected: str | None) -> CustomerStatusChanged:
    data = {"customer_id": "acme", "from": "active", "to": to, "at": AT, "reasons": []}
    data |= {"predicted_value_if_retained_12m": if_retained, "predicted_clv_12m": expected}
    return CustomerStatusChanged.new(source="/risk", time=AT, id=f"sc-{to}", data=data)


def _value(event: object) -> Decimal | None:
    values = facts_of([event], COSTS, Decimal("0")).values  # type: ignore[list-item]
    return values[0].clv_12m if values else None


def test_a_canceller_is_valued_by_the_relationship_not_by_the_remainder_after_leaving() -> None:
    # Issue 13, finding 1: 4,000 EUR a month, cancelled; after leaving risk expects ~0 from them.
    churn = _status_change("churned", if_retained="60000.00", expected="0.00")
    assert _value(churn) == Decimal("60000.00")


def test_a_lapsed_customer_is_valued_by_the_relationship_too() -> None:
    assert _value(_status_change("lapsed", if_retained="288.00", expected="3.10")) == Decimal("288.00")


def test_a_returned_customer_is_valued_by_what_is_expected_now() -> None:
    assert _value(_status_change("won_back", if_retained="500.00", expected="420.00")) == Decimal("420.00")


def test_without_the_relationship_value_the_expectation_stands() -> None:
    assert _value(_status_change("churned", if_retained=None, expected="12.00")) == Decimal("12.00")


def test_a_risk_assessment_of_a_churned_customer_carries_the_relationship_value() -> None:
    data = {"customer_id": "acme", "risk_score": 0.9, "drivers": [], "p_alive": 0.05, "expected_orders": 0.1}
    data |= {"horizon_days": 90, "as_of": AT, "status": "churned"}
    data |= {"predicted_value_if_retained_12m": "60000.00", "predicted_clv_12m": "0.00"}
    assessed = CustomerRiskAssessed.new(source="/risk", time=AT, id="ra-1", data=data)
    assert _value(assessed) == Decimal("60000.00")
