"""Uplift with its interval on known cases, NPS/CSAT, response rates, ROI and churn-reason themes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from scipy.stats import norm

from winback_metrics.domain.kpis import (
    ActionTally,
    CohortSummary,
    ReasonCount,
    ResponseRow,
    Survival,
    compute_kpis,
    funnel,
    nps,
)
from winback_metrics.domain.themes import themes, tokens
from winback_metrics.domain.uplift import Arms, Group, newcombe_interval, two_proportion_p_value, uplift, wilson

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10.
    low, high = newcombe_interval(Group(70, 56), Group(80, 48))
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # Its Wilson limits for 56/70, worked by hand: centre 0.78440, half-width 0.09256.
    assert tuple(round(x, 4) for x in wilson(56, 70)) == (0.6918, 0.877)


def test_p_value_is_the_pooled_two_proportion_z_test() -> None:
    pooled = 104 / 150
    z = (56 / 70 - 48 / 80) / (pooled * (1 - pooled) * (1 / 70 + 1 / 80)) ** 0.5
    assert two_proportion_p_value(Group(70, 56), Group(80, 48)) == pytest.approx(2 * norm.sf(z))
    assert two_proportion_p_value(Group(70, 56), Group(80, 48)) == pytest.approx(0.00805, abs=1e-4)
    # Nobody won back in either group: no evidence of any difference.
    assert two_proportion_p_value(Group(10, 0), Group(10, 0)) == 1.0


def test_uplift_object_and_zero_cells() -> None:
    answer = uplift(Arms(Group(70, 56), Group(70, 56), Group(80, 48)))
    assert answer["treated_rate"] == 0.8 and answer["holdout_rate"] == 0.6
    assert answer["uplift"] == pytest.approx(0.2)
    assert (answer["treated"], answer["holdout"]) == (70, 80)
    assert answer["ci_low"] < answer["uplift"] < answer["ci_high"]
    # 0 of 10 in the holdout: Wald would give a zero-width side; Newcombe keeps the interval inside [-1, 1].
    extreme = uplift(Arms(Group(10, 10), Group(10, 10), Group(10, 0)))
    assert extreme["uplift"] == 1.0
    assert 0 < extreme["ci_low"] < 1 and extreme["ci_high"] == 1.0
    empty = uplift(Arms(Group(5, 1), Group(5, 1), Group(0, 0)))
    assert (empty["treated_rate"], empty["holdout_rate"], empty["uplift"], empty["p_value"]) == (
        0.2,
        None,
        None,
        None,
    )


def test_nps_and_csat_of_won_back_customers() -> None:
    assert nps(10, 5, 2) == 30.0
    assert nps(0, 0, 0) is None
    summary = CohortSummary(churned=4, won_back=2, nps=(4, 1, 3), csat=(4, 3))
    answer = compute_kpis(summary, [], NOW)
    assert answer["nps_won_back"] == -50.0
    assert answer["csat_won_back"] == 0.75


def test_roi_from_recovered_margin_and_cost() -> None:
    summary = CohortSummary(
        churned=100, won_back=20, recovered_revenue=Decimal("30000"), recovered_margin=Decimal("7500")
    )
    answer = compute_kpis(summary, [ActionTally("triggered", None, 100, Decimal("5000"))], NOW)
    assert answer["recovered_revenue"] == "30000.00"
    assert answer["roi"] == 0.5  # (7,500 - 5,000) / 5,000


def test_response_rates_per_triggered_action_and_cost_per_channel() -> None:
    rows = [
        ResponseRow(
            "channel",
            "email",
            200,
            {"delivered": 190, "opened": 80, "clicked": 20, "replied": 2, "converted": 10},
            Decimal("10.00"),
            5,
        ),
        ResponseRow("template", "email-1", 200, {"delivered": 190}, Decimal("10.00"), 5),
        ResponseRow("variant", "B", 50, {"converted": 5}),
    ]
    answer = compute_kpis(CohortSummary(), [], NOW, responses=rows)
    email = answer["response_rates"]["channel"]["email"]
    assert email == {
        "triggered": 200,
        "delivered": 0.95,
        "opened": 0.4,
        "clicked": 0.1,
        "replied": 0.01,
        "converted": 0.05,
    }
    assert answer["response_rates"]["variant"]["B"]["converted"] == 0.1
    assert answer["cost_by_channel"] == {"email": {"cost": "10.00", "won_back": 5, "cost_per_winback": "2.00"}}


def test_uplift_per_playbook_in_the_answer() -> None:
    playbooks = {
        "pb-b": Arms(Group(70, 56), Group(70, 56), Group(80, 48)),
        "pb-a": Arms(Group(3, 1), Group(3, 1), Group(0, 0)),
    }
    summary = CohortSummary(treated=Group(75, 57), contacted=Group(73, 57), holdout=Group(80, 48))
    answer = compute_kpis(summary, [], NOW, playbooks=playbooks)
    assert list(answer["uplift"]["by_playbook"]) == ["pb-a", "pb-b"]
    assert answer["uplift"]["by_playbook"]["pb-b"]["ci_low"] == pytest.approx(0.0524, abs=1e-4)
    overall = answer["uplift"]["overall"]
    assert (overall["treated"], overall["contacted"], overall["contact_rate"]) == (75, 73, round(73 / 75, 6))
    assert overall["uplift"] == round(57 / 75 - 48 / 80, 6)


def test_retention_is_null_where_no_return_is_old_enough() -> None:
    summary = CohortSummary(won_back=20, survival={90: Survival(20, 18), 180: Survival(20, 15), 365: Survival(0, 0)})
    answer = compute_kpis(summary, [], NOW)
    assert answer["retention_after_winback"] == {"90": 0.9, "180": 0.75, "365": None}
    assert answer["rechurn_rate"] == {"90": 0.1, "180": 0.25, "365": None}


def test_funnel_stages_are_nested_rates() -> None:
    result = funnel(CohortSummary(churned=100, funnel=(80, 60, 30, 15)))
    assert [s["count"] for s in result["stages"]] == [80, 60, 30, 15]
    assert [s["rate_from_previous"] for s in result["stages"]] == [0.8, 0.75, 0.5, 0.5]


def test_themes_drop_german_and_english_stop_words_and_prefer_pairs() -> None:
    texts = [
        "Der Preis ist zu hoch, viel zu teuer",
        "Preis zu hoch und der Service war schlecht",
        "price too high for what we get",
        "The price is too high",
        "Kundenservice nicht erreichbar",
    ]
    assert "der" not in tokens(texts[0]) and "the" not in tokens(texts[3])
    found = themes(texts)
    assert found[0] == {"theme": "preis hoch", "count": 2}
    assert {"theme": "price high", "count": 2} in found
    assert all(t["theme"] not in {"preis", "hoch", "price", "high"} for t in found)


def test_churn_reasons_carry_their_themes() -> None:
    reasons = [ReasonCount("price", 2, ("zu teuer geworden", "viel zu teuer geworden")), ReasonCount("moved", 1)]
    answer = compute_kpis(CohortSummary(churned=3, reasons=reasons), [], NOW)
    assert answer["churn_reasons"][0]["themes"] == [{"theme": "teuer geworden", "count": 2}]
    assert answer["churn_reasons"][1] == {"reason": "moved", "count": 1, "share": 0.333333, "themes": []}
