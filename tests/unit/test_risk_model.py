"""The buy-till-you-die models reproduce the published CDNOW values (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from winback_risk.domain.model import bg_nbd, gamma_gamma, pareto_nbd
from winback_risk.domain.model.population import Summaries, cycle_scores, fit_population, value_tier

datasets = pytest.importorskip("lifetimes.datasets")


@pytest.fixture(scope="module")
def cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CDNOW 1/10 sample, 39-week calibration, in weeks (2,357 customers)."""
    d = datasets.load_cdnow_summary()
    return d["frequency"].to_numpy(float), d["recency"].to_numpy(float), d["T"].to_numpy(float)


def test_pareto_nbd_reproduces_the_reference_fit(cdnow: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    params, result = pareto_nbd.fit(*cdnow)
    assert params.r == pytest.approx(0.553, abs=0.002) and params.alpha == pytest.approx(10.578, abs=0.02)
    assert params.s == pytest.approx(0.606, abs=0.002) and params.beta == pytest.approx(11.669, abs=0.05)
    assert result.log_likelihood == pytest.approx(-9595.0, abs=0.1)


def test_bg_nbd_reproduces_the_reference_fit(cdnow: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    params, result = bg_nbd.fit(*cdnow)
    assert params.r == pytest.approx(0.243, abs=0.001) and params.alpha == pytest.approx(4.414, abs=0.01)
    assert params.a == pytest.approx(0.793, abs=0.002) and params.b == pytest.approx(2.426, abs=0.01)
    assert result.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_gamma_gamma_reproduces_the_reference_fit() -> None:
    d = datasets.load_cdnow_summary_data_with_monetary_value()
    repeat = d[d["frequency"] > 0]
    params, _ = gamma_gamma.fit(repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float))
    assert params.p == pytest.approx(6.25, abs=0.01) and params.q == pytest.approx(3.74, abs=0.01)
    assert params.gamma == pytest.approx(15.44, abs=0.02)
    # Shrinkage: a customer's expected value lies between their own mean and the population's.
    own = gamma_gamma.expected_value(params, np.array([2.0]), np.array([100.0]))[0]
    assert params.population_mean < own < 100.0


def test_p_alive_does_not_fall_into_the_single_purchase_trap() -> None:
    p = pareto_nbd.ParetoNBD(0.553, 10.578, 0.606, 11.669)
    T = np.array([39.0, 39.0, 39.0])
    # No repeat purchase, a regular buyer seen lately, a regular buyer silent for 30 weeks.
    alive = pareto_nbd.p_alive(p, np.array([0.0, 5.0, 5.0]), np.array([0.0, 38.0, 9.0]), T)
    assert alive[0] < 1.0 and alive[1] > alive[0] > alive[2]
    longer = pareto_nbd.p_alive(p, np.zeros(2), np.zeros(2), np.array([10.0, 50.0]))
    assert longer[0] > longer[1]  # no repeat purchase: the longer the silence, the less alive


def test_expected_purchases_grow_with_the_horizon_and_handle_s_equal_one() -> None:
    p = pareto_nbd.ParetoNBD(0.5, 10.0, 1.0, 12.0)
    x, t_x, T = np.array([3.0]), np.array([30.0]), np.array([39.0])
    short, long = (pareto_nbd.expected_purchases(p, t, x, t_x, T)[0] for t in (10.0, 52.0))
    assert 0 < short < long and np.isfinite(long)


def test_fit_population_derives_value_tiers_from_the_fitted_clv() -> None:
    rng = np.random.default_rng(3)
    n = 600
    T = rng.uniform(100, 700, n).round()
    x = rng.poisson(rng.gamma(0.8, 4, n)).astype(float)
    t_x = np.where(x > 0, (T * rng.uniform(0.3, 1, n)).round(), 0.0)
    s = Summaries(x, t_x, T, rng.gamma(3, 20, n))
    model = fit_population(s, fitted_at=datetime(2024, 1, 1, tzinfo=UTC), tier_quantiles=(0.8, 0.5))
    assert model.customers_used == n and model.spend is not None and model.statistics["converged"]
    clv = cycle_scores(model, s, 365.0).clv_12m
    tiers = [value_tier(float(v), model.tier_cutoffs) for v in clv]
    assert tiers.count("A") == pytest.approx(0.2 * n, abs=2) and tiers.count("C") == pytest.approx(0.5 * n, abs=2)
    # The refit from the previous parameters lands on the same optimum.
    again = fit_population(s, fitted_at=datetime(2024, 1, 2, tzinfo=UTC), tier_quantiles=(0.8, 0.5), previous=model)
    assert again.log_likelihood == pytest.approx(model.log_likelihood, abs=1e-3)
