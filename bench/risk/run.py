"""Risk benchmark: refit the population model over 100,000 customers (target < 10 s).

The refit is `model_service.fit_at`, what `POST /v1/model/fit` runs: both models, then the
value-tier cut-offs over every customer's decision value, assessed by the one assessment.

    python -m bench.risk.run [--quick] [--customers 100000]

In-process, no servers. Consumption throughput (order events/s into scored customer state) is
bench/risk/consume.py.
Baseline in the same run: one likelihood evaluation over the same customers (a fit costs
about that many evaluations), so the ratio shows how many evaluations the fit needed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from bench import harness
from winback_risk.domain.model import pareto_nbd
from winback_risk.domain.model.limits import FitRules
from winback_risk.domain.model.population import Summaries
from winback_risk.domain.scoring import OrderSummary
from winback_risk.service_layer.model_service import fit_at

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic(n: int, seed: int = 1) -> Summaries:
    """Customers drawn from a Pareto/NBD world over two years, in whole days (as the service stores them)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.55, 1 / 75, n)  # purchases per day
    death = rng.exponential(1 / rng.gamma(0.6, 1 / 80, n))
    T = rng.integers(30, 730, n).astype(float)
    alive_for = np.minimum(death, T)
    x = rng.poisson(rate * alive_for).astype(float)
    t_x = np.where(x > 0, np.floor(alive_for * rng.beta(x + 1, 1)), 0.0)
    return Summaries(x, t_x, T, rng.gamma(3.0, 20.0, n))


def order_summaries(s: Summaries, as_of: datetime) -> list[OrderSummary]:
    """The same customers as the service stores them (occasions on whole days before as_of)."""
    out = []
    for x, t_x, T, mean in zip(s.x.tolist(), s.t_x.tolist(), s.T.tolist(), s.mean_value.tolist(), strict=True):
        first = as_of - timedelta(days=T)
        last = first + timedelta(days=t_x)
        revenue = Decimal(round(mean * (x + 1), 2))
        out.append(OrderSummary(int(x) + 1, int(x) + 1, first, last, first, last, revenue, revenue, False))
    return out


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--customers", type=int, help="customers (default 100,000, --quick too)")
    args = parser.parse_args()
    n = harness.sized(args, "customers", 100_000, 100_000)
    load = harness.LoadMeter()
    s = synthetic(n)
    orders = order_summaries(s, NOW)
    guess = pareto_nbd.ParetoNBD(0.55, 75.0, 0.6, 80.0)
    started = time.perf_counter()
    pareto_nbd.log_likelihood(guess, s.x, s.t_x, s.T).sum()
    one_eval = time.perf_counter() - started
    started = time.perf_counter()
    model = fit_at(orders, NOW, value_basis="revenue", quantiles=(0.8, 0.5), rules=FitRules())
    fit_s = time.perf_counter() - started
    p = model.purchases
    harness.emit(
        "risk.refit",
        "seconds",
        fit_s,
        "s",
        baseline=one_eval,
        durable=None,
        load=load,
        conditions={
            "customers": n,
            "quick": args.quick,
            "repeat_buyers": int((s.x > 0).sum()),
            "distinct_x_tx_T": len(np.unique(np.stack([s.x, s.t_x, s.T], axis=1), axis=0)),
            "fit": {"r": round(p.r, 3), "alpha": round(p.alpha, 1), "s": round(p.s, 3), "beta": round(p.beta, 1)},
            "evaluations": model.statistics["evaluations"],
            "converged": model.statistics["converged"],
            "tier_ranking_seconds": round(model.statistics["tier_ranking_seconds"], 2),
            "customers_ranked": model.statistics["customers_ranked"],
            "baseline_is": "one log-likelihood evaluation over the same customers (in-process, no database)",
            "target": "< 10 s for 100,000 customers",
        },
    )


if __name__ == "__main__":
    main()
