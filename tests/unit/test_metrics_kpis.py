"""KPI arithmetic of spec/metrics.md as pure functions, including the spec's worked example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from winback_metrics.domain.kpis import (
    ActionTally,
    Episode,
    compute_kpis,
    cost_per_winback,
    days_to_winback,
    retention_after_winback,
    winback_rate,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_spec_example_100_churned_5000_eur_20_won_back() -> None:
    # 100 lost in a quarter, 20 of them back after 20..40 days (mean 30), actions for 5,000 EUR.
    won = [Episode(T0, T0 + timedelta(days=20 + (i % 2) * 20)) for i in range(20)]
    lost = [Episode(T0 + timedelta(days=i % 90)) for i in range(80)]
    tallies = [ActionTally("triggered", None, 625, Decimal("5000.00"))]

    answer = compute_kpis(won + lost, tallies, NOW)

    assert answer["churned"] == 100
    assert answer["won_back"] == 20
    assert answer["winback_rate"] == 0.2
    assert answer["cost_total"] == "5000.00"
    assert answer["cost_per_winback"] == "250.00"
    assert answer["days_to_winback"] == {"mean": 30.0, "median": 30.0}


def test_rate_and_cost_per_winback_are_null_when_undefined() -> None:
    assert winback_rate(0, 0) is None
    assert cost_per_winback(Decimal("10"), 0) is None
    answer = compute_kpis([], [], NOW)
    assert answer["churned"] == 0
    assert answer["winback_rate"] is None
    assert answer["cost_total"] == "0.00"
    assert answer["cost_per_winback"] is None
    assert answer["days_to_winback"] == {"mean": None, "median": None}
    assert answer["lost_revenue"] == "0.00"


def test_money_is_exact_decimal() -> None:
    # 3 e-mails at 0.05 and one letter: floats would give 1.3499999...
    tallies = [ActionTally("triggered", None, 3, Decimal("0.15")), ActionTally("triggered", None, 1, Decimal("1.20"))]
    answer = compute_kpis([Episode(T0, T0 + timedelta(days=1))] * 3, tallies, NOW)
    assert answer["cost_total"] == "1.35"
    assert answer["cost_per_winback"] == "0.45"


def test_actions_counted_by_status_and_suppression_reason() -> None:
    tallies = [
        ActionTally("triggered", None, 4, Decimal("0.20")),
        ActionTally("suppressed", "no_consent", 2, Decimal("0")),
        ActionTally("suppressed", "frequency_cap", 1, Decimal("0")),
    ]
    answer = compute_kpis([Episode(T0)], tallies, NOW)
    assert answer["actions"] == {
        "triggered": 4,
        "suppressed": 3,
        "suppressed_by_reason": {"frequency_cap": 1, "no_consent": 2},
    }
    assert answer["cost_total"] == "0.20"


def test_median_differs_from_mean() -> None:
    assert days_to_winback([1.0, 2.0, 30.0]) == {"mean": 11.0, "median": 2.0}


def test_retention_counts_only_returns_old_enough_and_rechurn_is_complement() -> None:
    back = T0 + timedelta(days=10)
    episodes = [
        Episode(T0, back),  # still active
        Episode(T0, back, next_churn_at=back + timedelta(days=100)),  # re-churned after 100 days
        Episode(T0, NOW - timedelta(days=30)),  # returned too recently for any horizon
    ]
    now = back + timedelta(days=200)
    retention = retention_after_winback(episodes, now)
    assert retention == {"90": 1.0, "180": 0.5, "365": None}
    answer = compute_kpis(episodes, [], now)
    assert answer["rechurn_rate"] == {"90": 0.0, "180": 0.5, "365": None}


def test_churn_reasons_most_frequent_first() -> None:
    episodes = [Episode(T0, churn_reason="price")] * 3 + [Episode(T0, churn_reason="service"), Episode(T0)]
    reasons = compute_kpis(episodes, [], NOW)["churn_reasons"]
    assert reasons[0] == {"reason": "price", "count": 3, "share": 0.6, "themes": []}
    assert {r["reason"] for r in reasons} == {"price", "service", "unknown"}


def test_undefined_fields_are_null_and_money_is_zero() -> None:
    answer = compute_kpis([], [], NOW)
    for name in ("roi", "clv_before", "clv_after", "nps_won_back", "csat_won_back"):
        assert answer[name] is None
    assert (answer["recovered_revenue"], answer["lost_revenue"]) == ("0.00", "0.00")
    assert answer["response_rates"] == {"channel": {}, "template": {}, "variant": {}}
    assert answer["uplift"]["overall"]["ci_low"] is None
    assert answer["uplift"]["by_playbook"] == {}
    assert answer["retention_after_winback"] == {"90": None, "180": None, "365": None}
