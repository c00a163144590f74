"""The value of a relationship: contract payments, the 12 months before leaving, the value if won back, tiers."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from winback_risk.domain.contracts import contract_runs
from winback_risk.domain.customer import CustomerState, StatusChange
from winback_risk.domain.facts import Signal
from winback_risk.domain.model.population import PopulationModel, Summaries, fit_population
from winback_risk.domain.scoring import Assessment, CustomerFacts, OrderSummary, RiskConfig, assess_customers
from winback_risk.service_layer.assessment import score_states
from winback_shared.contracts import add_months, paid

CONFIG = RiskConfig()
DAY = timedelta(days=1)


def signal(kind: str, at: datetime, ref: str = "k1", **kw: object) -> Signal:
    return Signal("b1", at, kind, ref, **kw)  # type: ignore[arg-type]


def summary_of(orders: Sequence[tuple[datetime, Decimal, Decimal]], moment: datetime, churned_at: datetime | None):  # type: ignore[no-untyped-def]
    """What risk's order-summary SQL gives for these orders (amount, margin) at `moment`."""
    seen = sorted(o for o in orders if o[0] <= moment)
    last = seen[-1][0]
    days = sorted({t.date() for t, _, _ in seen})

    def window(end: datetime | None) -> tuple[Decimal, Decimal]:
        if end is None:
            return Decimal(0), Decimal(0)
        inside = [o for o in seen if end - timedelta(days=365) < o[0] <= end]
        return sum((o[1] for o in inside), Decimal(0)), sum((o[2] for o in inside), Decimal(0))

    midnight = [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in (days[0], days[-1])]
    return OrderSummary(
        len(days), len(seen), seen[0][0], last, midnight[0], midnight[1], sum((o[1] for o in seen), Decimal(0)),
        sum((o[2] for o in seen), Decimal(0)), True, *window(moment), *window(last), *window(churned_at),
    )  # fmt: skip


def ordinary_population(size: int = 400, seed: int = 3) -> PopulationModel:
    """A fitted model over ordinary consumers: a few orders a year of 20-150 EUR, some dropped out."""
    rng = random.Random(seed)
    x, t_x, T, mean = [], [], [], []
    for _ in range(size):
        observed = rng.uniform(200, 700)
        repeats = rng.choice([0, 0, 1, 2, 3, 5, 8])
        span = rng.uniform(0, observed) if repeats else 0.0
        x.append(repeats)
        t_x.append(round(span))
        T.append(round(observed))
        mean.append(rng.uniform(20, 150) * 0.3)
    summaries = Summaries(*(np.array(v, dtype=float) for v in (x, t_x, T, mean)))
    return fit_population(summaries, fitted_at=datetime(2024, 9, 1, tzinfo=UTC), tier_quantiles=(0.8, 0.5))


# Finding 1: orders for 48,000 EUR (20 monthly orders of 2,400), a 4,000 EUR/month contract paid for
# 20 months, cancelled for a competitor.
START = datetime(2023, 1, 10, 9, tzinfo=UTC)
NOTICE = datetime(2024, 9, 5, 14, tzinfo=UTC)
BUSINESS_ORDERS = [(datetime(2023, 1 + i % 12, 1, 10, tzinfo=UTC).replace(year=2023 + i // 12), Decimal(2400),
                    Decimal(720)) for i in range(20)]  # fmt: skip
BUSINESS_SIGNALS = (
    signal("contract_started", START, amount=Decimal(4000)),
    signal("contract_cancelled", NOTICE, label="competitor", ends_on=date(2024, 12, 31)),
)


def business(moment: datetime, model: PopulationModel) -> Assessment:
    facts = CustomerFacts(
        "b1", "churned", summary_of(BUSINESS_ORDERS, moment, NOTICE), BUSINESS_SIGNALS, churn_reason="competitor",
        churn_count=1, churned_at=NOTICE,
    )  # fmt: skip
    [a] = assess_customers([facts], model, moment, 90, CONFIG, value_basis="revenue")
    return a


def test_contract_payments_count_every_monthly_period_begun() -> None:
    runs = contract_runs(BUSINESS_SIGNALS)
    # 10 January 2023 to 5 September 2024: periods began on the 10th of 20 months.
    assert paid(runs, None, NOTICE) == Decimal(80_000)
    # Up to the effective date (31 December): September to December add four more, then nothing.
    assert paid(runs, None, datetime(2025, 6, 1, tzinfo=UTC)) == Decimal(96_000)
    # A partial month counts in full: one day into a period, it is paid.
    assert paid(runs, None, START + timedelta(days=31)) == Decimal(8_000)
    assert paid(runs, None, START - DAY) == 0


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        # No end date, no notice: the contract runs on, paid up to the moment asked about (5 periods).
        ([signal("contract_started", START, amount=Decimal(100))], 500),
        # An end date ends it: periods beginning on or after it are not paid (10 Jan, 10 Feb).
        ([signal("contract_started", START, amount=Decimal(100), label="2023-03-10")], 200),
        # A notice without an effective date ends it at the known end date when that is later...
        ([signal("contract_started", START, amount=Decimal(100), label="2023-04-01"),
          signal("contract_cancelled", START + 20 * DAY)], 300),
        # ...else at the notice itself.
        ([signal("contract_started", START, amount=Decimal(100)), signal("contract_cancelled", START + 40 * DAY)],
         200),
        # A renewal after the notice withdraws it and moves the end date.
        ([signal("contract_started", START, amount=Decimal(100), label="2023-03-01"),
          signal("contract_cancelled", START + 10 * DAY, ends_on=date(2023, 2, 1)),
          signal("contract_renewed", START + 20 * DAY, label="2024-01-01")], 500),
        # Two contracts add up; a contract without a monthly value pays nothing.
        ([signal("contract_started", START, amount=Decimal(100)), signal("contract_started", START, "k2"),
          signal("contract_started", START + 60 * DAY, "k3", amount=Decimal("9.99"))], Decimal("529.97")),
    ],
)  # fmt: skip
def test_contract_end_rules(signals: list[Signal], expected: Decimal) -> None:
    assert paid(contract_runs(signals), None, datetime(2023, 5, 20, tzinfo=UTC)) == Decimal(expected)


def test_add_months_clamps_to_the_end_of_a_shorter_month() -> None:
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2024, 3, 31, tzinfo=UTC), -12) == datetime(2023, 3, 31, tzinfo=UTC)


def test_the_business_customer_who_left_for_a_competitor_is_a_tier_a_star() -> None:
    model = ordinary_population()
    a = business(NOTICE, model)
    v = a.value
    assert a.status == "churned" and a.churn_reason == "competitor"
    # Revenue to date: the orders and the 20 contract payments.
    assert v.revenue == Decimal(128_000) and v.margin == Decimal(14_400) + Decimal(80_000)
    # The 12 months before the notice: 11 orders (October to August) and 12 contract payments.
    assert v.window_end == NOTICE
    assert v.revenue_12m_before_churn == Decimal(26_400) + Decimal(48_000)
    # If won back: a year of its contract and of its monthly orders (their value shrunk towards the base's
    # by the spend model); far above anything the base expects.
    assert v.predicted_value_if_retained_12m is not None and v.predicted_value_if_retained_12m > 48_000 + 12 * 1_000
    assert v.predicted_value_if_retained_12m > model.tier_cutoffs[0] * 50
    assert a.value_tier == "A" and a.segment == "star" and a.winback_probability == pytest.approx(0.3)
    # Two months later the win-back chance has decayed a little, but the value that decides has not.
    later = business(NOTICE + 60 * DAY, model)
    assert later.value.predicted_value_if_retained_12m == v.predicted_value_if_retained_12m
    assert later.value.revenue_12m_before_churn == v.revenue_12m_before_churn
    assert later.value_tier == "A" and later.segment == "question_mark"
    # What they bring from now on (the rest of the notice period, and orders the model still expects).
    assert later.predicted_clv_12m is not None and later.predicted_clv_12m < v.predicted_value_if_retained_12m


def test_a_lapsed_customers_value_is_measured_up_to_their_last_purchase() -> None:
    model = ordinary_population()
    now = datetime(2024, 9, 1, tzinfo=UTC)
    orders = [(now - timedelta(days=180 + 30 * i), Decimal(50), Decimal(15)) for i in range(24)]
    facts = CustomerFacts("m1", "active", summary_of(orders, now, None))
    [a] = assess_customers([facts], model, now, 90, CONFIG, value_basis="margin")
    last = orders[0][0]
    assert a.status == "lapsed" and a.value.window_end == last
    # The 12 months before leaving hold 13 monthly orders (365 days); the months of silence do not count.
    assert a.value.revenue_12m_before_churn == Decimal(650) and a.value.margin_12m_before_churn == Decimal(195)
    retained, expected = a.value.predicted_value_if_retained_12m, a.predicted_clv_12m
    assert retained is not None and expected is not None and retained > 4 * expected
    # About a year of monthly purchases at 15 EUR margin each, if they came back.
    assert 100 < retained < 15 * 13


def test_a_customer_who_stays_is_measured_up_to_as_of() -> None:
    model = ordinary_population()
    now = datetime(2024, 9, 1, tzinfo=UTC)
    orders = [(now - timedelta(days=5 + 30 * i), Decimal(50), Decimal(15)) for i in range(24)]
    [a] = assess_customers([CustomerFacts("m2", "active", summary_of(orders, now, None))], model, now, 90, CONFIG)
    assert a.status == "active" and a.value.window_end == now
    # 365 days before as_of hold 12 of the monthly orders (5, 35, ... 335 days ago).
    assert a.value.revenue_12m_before_churn == Decimal(50 * 12)
    # Both predictions exist; a regular recent buyer is expected to bring nearly what retaining them would.
    assert a.predicted_clv_12m is not None and a.value.predicted_value_if_retained_12m is not None
    assert a.predicted_clv_12m <= a.value.predicted_value_if_retained_12m < 1.2 * a.predicted_clv_12m


def test_status_changes_carry_what_the_same_batch_assessed() -> None:
    """A change made by an event before scoring is published with the batch's segment, tier and value."""
    model = ordinary_population()
    state = CustomerState(
        "b1", kind="business", status="churned", status_since=NOTICE, churn_reason="competitor", churn_count=1,
        churned_at=NOTICE, revenue=Decimal(48_000), margin=Decimal(14_400),
    )  # fmt: skip
    before = StatusChange("b1", "active", "churned", NOTICE, ("contract.cancelled",), "competitor", True)
    assert before.value_tier is None and before.segment is None
    facts = CustomerFacts(
        "b1", "churned", summary_of(BUSINESS_ORDERS, NOTICE, NOTICE), BUSINESS_SIGNALS, churn_reason="competitor",
        churn_count=1, churned_at=NOTICE, revenue=Decimal(48_000), margin=Decimal(14_400),
    )  # fmt: skip
    outcome = score_states(
        [state], [facts], NOTICE, model, CONFIG, horizon_days=90, basis="revenue", source="/risk", changes=[before]
    )
    [published] = outcome.changes
    assert (published.from_status, published.to_status, published.reasons) == ("active", "churned", before.reasons)
    assert (published.value_tier, published.segment, published.churn_reason) == ("A", "star", "competitor")
    assert published.winback_eligible is True and published.risk_score is not None and published.risk_score >= 0.9
    assert published.revenue_12m_before_churn == Decimal(74_400)
    assert published.predicted_value_if_retained_12m is not None and published.predicted_value_if_retained_12m > 60_000
    assert (state.value_tier, state.segment) == ("A", "star")
