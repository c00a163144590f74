"""CDNOW master log with calibration-only covariates, and the Pareto/NBD variants that use them.

An offline experiment for issue 13 (services/risk/README.md, "Backtest"); the service never imports
it. The summaries (x, t_x, T) and the plain model are the served ones (`winback_cli.backtest`:
distinct UTC days, days as unit, T to the end of the calibration day, `fit_at`). Every covariate,
segment edge and standardisation comes from calibration orders; the holdout only scores.

Covariate Pareto/NBD (time-invariant covariates, Fader & Hardie's 2007 note): alpha_i =
alpha0 exp(-g1'z_i), beta_i = beta0 exp(-g2'z_i), so a positive g1 raises the purchase rate and
a positive g2 the dropout rate. The project's `pareto_nbd` takes one alpha and beta for everyone
(its hypergeometric branch is chosen once), hence the per-customer version below.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1

from winback_cli.backtest import VALUE_BASIS, Order, Scores, order_summary, roc_auc, served_scores
from winback_risk.domain.model import pareto_nbd
from winback_risk.domain.model.pareto_nbd import ParetoNBD
from winback_risk.service_layer.model_service import summaries_at

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Mask = npt.NDArray[np.bool_]

# Issue 13's split: calibration 1997-01-01..09-30, holdout to 1998-06-30 (39 weeks each).
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)

# Per customer, from the calibration orders only (the first day is the first purchase occasion):
# what `Split.raw` holds, and the transform a model sees (`Split.covariate`).
COVARIATES: dict[str, tuple[str, Callable[[Floats], Floats]]] = {
    "first_amount": ("log(1 + amount of the first day)", np.log1p),
    "first_cds": ("log(CDs bought on the first day)", np.log),
    "first_day_orders": ("more than one order on the first day (0/1)", lambda n: (n > 1).astype(np.float64)),
    "mean_spend": ("log(1 + spend per calibration occasion)", np.log1p),
    "mean_cds": ("log(CDs per calibration occasion)", np.log),
}


@dataclass(frozen=True, slots=True)
class Purchase:
    day: date
    cds: int
    amount: Decimal


def master_path() -> Path:
    """CDNOW_master.txt as the installed `lifetimes` ships it (found without importing lifetimes)."""
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("lifetimes is not installed (requirements-dev.txt): it ships the CDNOW master log")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"


def read_master(path: Path) -> dict[str, list[Purchase]]:
    """Purchases per customer from `customer_id date number_of_cds dollar_value` (header line first)."""
    log: dict[str, list[Purchase]] = {}
    with path.open() as handle:
        next(handle)
        for line in handle:
            customer, day, cds, amount = line.split()
            on = date(int(day[:4]), int(day[4:6]), int(day[6:8]))
            log.setdefault(customer, []).append(Purchase(on, int(cds), Decimal(amount)))
    return log


@dataclass(frozen=True, slots=True)
class Split:
    """Every customer with a calibration order (sorted by id, as the backtest scores them)."""

    served: Scores  # the served fit and its scores, `winback_cli.backtest.served_scores`
    x: Floats
    t_x: Floats
    T: Floats
    raw: dict[str, Floats]  # the plain values of COVARIATES (amounts, counts)

    @property
    def actual(self) -> Floats:
        return self.served.holdout_occasions

    @property
    def horizon(self) -> int:
        return self.served.horizon_days

    @property
    def size(self) -> int:
        return int(self.x.size)

    def covariate(self, name: str) -> Floats:
        return COVARIATES[name][1](self.raw[name])

    def z(self, names: Sequence[str], on: Mask | None = None) -> Floats:
        """The named covariates standardised with the mean and sd of the customers `on` (default all)."""
        if not names:
            return np.zeros((self.size, 0))
        columns = np.column_stack([self.covariate(n) for n in names])
        ref = columns if on is None else columns[on]
        return (columns - ref.mean(axis=0)) / ref.std(axis=0)  # type: ignore[no-any-return]


def split(log: dict[str, list[Purchase]], calibration_end: date, holdout_end: date) -> Split:
    """The served backtest at this split, with the same summaries and the calibration covariates."""
    orders = {c: [Order(p.day, p.amount) for p in purchases] for c, purchases in log.items()}
    served = served_scores(orders, calibration_end, holdout_end)
    ids = served.customer_ids
    inputs = summaries_at([order_summary(orders[c], served.as_of) for c in ids], served.as_of, VALUE_BASIS)
    calibration = [[p for p in log[c] if p.day <= calibration_end] for c in ids]
    return Split(served, inputs.x, inputs.t_x, inputs.T, _plain_values(calibration))


def _plain_values(calibration: list[list[Purchase]]) -> dict[str, Floats]:
    """Per customer, in the order of COVARIATES: first day's amount, CDs and orders; spend and CDs per occasion."""
    rows = []
    for purchases in calibration:
        first = min(p.day for p in purchases)
        day_one = [p for p in purchases if p.day == first]
        occasions = len({p.day for p in purchases})
        rows.append((
            float(sum(p.amount for p in day_one)), sum(p.cds for p in day_one), len(day_one),
            float(sum(p.amount for p in purchases)) / occasions, sum(p.cds for p in purchases) / occasions,
        ))  # fmt: skip
    return dict(zip(COVARIATES, np.array(rows, dtype=np.float64).T, strict=True))


def quantile_bins(values: Floats, bins: int) -> Ints:
    """Segment of each value: `bins` quantile bins, right-closed, repeated edges merged (pandas' qcut)."""
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    return np.searchsorted(edges[1:-1], values, side="left")


# ---------- Pareto/NBD with a purchase and a dropout rate scale per customer ----------


def _log_terms(r: float, a: Floats, s: float, b: Floats, x: Floats, t_x: Floats, T: Floats) -> tuple[Floats, Floats]:
    """`pareto_nbd._log_terms` with per-customer alpha (a) and beta (b): the branch is chosen per customer."""
    rsx = r + s + x
    big, gap = np.maximum(a, b), np.abs(a - b)
    second_arg = np.where(a >= b, s + 1.0, r + x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        first = np.log(hyp2f1(rsx, second_arg, rsx + 1.0, gap / (big + t_x))) - rsx * np.log(big + t_x)
        second = np.log(hyp2f1(rsx, second_arg, rsx + 1.0, gap / (big + T))) - rsx * np.log(big + T)
        log_a0 = first + np.log(-np.expm1(second - first))
        alive = -(r + x) * np.log(a + T) - s * np.log(b + T)
        died = np.where(t_x < T, np.log(s / rsx) + log_a0, -np.inf)
    return alive, died


def log_likelihood(r: float, a: Floats, s: float, b: Floats, x: Floats, t_x: Floats, T: Floats) -> Floats:
    alive, died = _log_terms(r, a, s, b, x, t_x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        return gammaln(r + x) - gammaln(r) + r * np.log(a) + s * np.log(b) + np.logaddexp(alive, died)  # type: ignore[no-any-return]


def expected_purchases(r: float, a: Floats, s: float, b: Floats, t: float, x: Floats, t_x: Floats, T: Floats) -> Floats:
    alive, died = _log_terms(r, a, s, b, x, t_x, T)
    p_alive = 1.0 / (1.0 + np.exp(np.clip(died - alive, -700, 700)))
    ratio = np.log((b + T) / (b + T + t))
    growth = -np.expm1((s - 1.0) * ratio) / (s - 1.0) if abs(s - 1.0) > 1e-9 else -ratio
    return (r + x) * (b + T) / (a + T) * growth * p_alive


@dataclass(frozen=True, slots=True)
class CovariateFit:
    r: float
    alpha0: float
    s: float
    beta0: float
    g1: Floats  # on the purchase rate's covariates
    g2: Floats  # on the dropout rate's covariates
    log_likelihood: float
    converged: bool

    @property
    def parameters(self) -> int:
        return 4 + self.g1.size + self.g2.size

    def scales(self, z1: Floats, z2: Floats) -> tuple[Floats, Floats]:
        return self.alpha0 * np.exp(-(z1 @ self.g1)), self.beta0 * np.exp(-(z2 @ self.g2))

    def expected(self, t: float, z1: Floats, z2: Floats, x: Floats, t_x: Floats, T: Floats) -> Floats:
        a, b = self.scales(z1, z2)
        return expected_purchases(self.r, a, self.s, b, t, x, t_x, T)

    def held_out_ll(self, z1: Floats, z2: Floats, x: Floats, t_x: Floats, T: Floats) -> float:
        a, b = self.scales(z1, z2)
        return float(log_likelihood(self.r, a, self.s, b, x, t_x, T).sum())


def fit_covariates(x: Floats, t_x: Floats, T: Floats, z1: Floats, z2: Floats, start: ParetoNBD) -> CovariateFit:
    """Maximum likelihood over log(r, alpha0, s, beta0) and the coefficients, from `start` with all g = 0."""
    k1 = z1.shape[1]

    def negative_ll(q: Floats) -> float:
        r, alpha0, s, beta0 = np.exp(q[:4])
        if max(r, s) > 50:
            return 1e300
        g1, g2 = q[4 : 4 + k1], q[4 + k1 :]
        total = log_likelihood(r, alpha0 * np.exp(-(z1 @ g1)), s, beta0 * np.exp(-(z2 @ g2)), x, t_x, T).sum()
        return -float(total) if np.isfinite(total) else 1e300

    q0 = np.r_[np.log([start.r, start.alpha, start.s, start.beta]), np.zeros(k1 + z2.shape[1])]
    result = minimize(negative_ll, q0, method="L-BFGS-B", options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-6})
    if not result.success:
        polish = minimize(negative_ll, result.x, method="Nelder-Mead", options={"maxiter": 4000, "fatol": 1e-4})
        result = polish if polish.fun <= result.fun else result
    r, alpha0, s, beta0 = (float(v) for v in np.exp(result.x[:4]))
    g1, g2 = result.x[4 : 4 + k1], result.x[4 + k1 :]
    return CovariateFit(r, alpha0, s, beta0, g1, g2, -float(result.fun), bool(result.success))


# ---------- segments and a latent-class mixture, both of the project's Pareto/NBD ----------


def fit_segments(x: Floats, t_x: Floats, T: Floats, segment: Ints, t: float) -> tuple[Floats, float, int]:
    """A separate Pareto/NBD per segment: (expected purchases in t, total LL, parameters)."""
    expected, total = np.empty_like(x), 0.0
    segments = np.unique(segment)
    for g in segments:
        m = segment == g
        model, _ = pareto_nbd.fit(x[m], t_x[m], T[m])
        expected[m] = pareto_nbd.expected_purchases(model, t, x[m], t_x[m], T[m])
        total += float(pareto_nbd.log_likelihood(model, x[m], t_x[m], T[m]).sum())
    return expected, total, 4 * segments.size


def fit_latent_classes(x: Floats, t_x: Floats, T: Floats, t: float, start: ParetoNBD) -> tuple[Floats, float, str]:
    """Two Pareto/NBD populations mixed (9 parameters): (expected purchases, LL, the fitted classes).

    A customer's expectation is the class expectations weighted by the posterior of each class.
    Two starts (classes apart in dropout, classes apart in both rates) reach the same optimum.
    """
    rows, counts = np.unique(np.stack([x, t_x, T], axis=1), axis=0, return_counts=True)
    cx, ctx, cT = rows.T

    def classes(q: Floats) -> tuple[ParetoNBD, ParetoNBD, float]:
        one, two = np.exp(q[:4]), np.exp(q[4:8])
        return ParetoNBD(*one), ParetoNBD(*two), float(expit(q[8]))

    def negative_ll(q: Floats) -> float:
        one, two, share = classes(q)
        if max(one.r, one.s, two.r, two.s) > 50:
            return 1e300
        mixed = np.logaddexp(
            np.log(share) + pareto_nbd.log_likelihood(one, cx, ctx, cT),
            np.log1p(-share) + pareto_nbd.log_likelihood(two, cx, ctx, cT),
        )
        total = float(np.dot(counts, mixed))
        return -total if np.isfinite(total) else 1e300

    base = np.log([start.r, start.alpha, start.s, start.beta])
    dropout_apart = np.r_[base + np.array([0, 0, 0, -1.5]), base + np.array([0, 0, 0, 1.5]), 0.0]
    both_apart = np.r_[np.log([2, 50, 2, 20]), np.log([0.5, 120, 0.3, 200]), -0.85]
    best = None
    for q0 in (dropout_apart, both_apart):
        rough = minimize(negative_ll, q0, method="L-BFGS-B", options={"maxiter": 3000, "ftol": 1e-13, "gtol": 1e-7})
        options = {"maxiter": 6000, "xatol": 1e-7, "fatol": 1e-5}
        polish = minimize(negative_ll, rough.x, method="Nelder-Mead", options=options)
        found = polish if polish.fun < rough.fun else rough
        best = found if best is None or found.fun < best.fun else best
    assert best is not None
    one, two, share = classes(best.x)
    l1, l2 = pareto_nbd.log_likelihood(one, x, t_x, T), pareto_nbd.log_likelihood(two, x, t_x, T)
    posterior = expit(np.log(share) + l1 - np.log1p(-share) - l2)
    e1, e2 = pareto_nbd.expected_purchases(one, t, x, t_x, T), pareto_nbd.expected_purchases(two, t, x, t_x, T)
    expected = posterior * e1 + (1.0 - posterior) * e2
    described = f"share {share:.3f}: {format_params(one)}; {1 - share:.3f}: {format_params(two)}"
    return expected, -float(best.fun), described


def format_params(p: ParetoNBD) -> str:
    return f"r={p.r:.4f} alpha={p.alpha:.2f} s={p.s:.4f} beta={p.beta:.2f}"


def expected_unconditional(p: ParetoNBD, t: Floats) -> Floats:
    """E[X(t)]: repeat purchases in (0, t] after the first, for a customer drawn from the population."""
    return p.r * p.beta / (p.alpha * (p.s - 1.0)) * (1.0 - (p.beta / (p.beta + t)) ** (p.s - 1.0))


# ---------- what issue 13 measures ----------


@dataclass(frozen=True, slots=True)
class Metrics:
    auc: float
    mae: float
    total: float
    actual: float

    @property
    def ratio(self) -> float:
        return self.total / self.actual


def metrics(expected: Floats, actual: Floats) -> Metrics:
    """ROC AUC of "orders again in the holdout" and MAE of the holdout occasions, as `winback backtest`."""
    mae = float(np.mean(np.abs(expected - actual)))
    return Metrics(roc_auc(expected, actual > 0), mae, float(expected.sum()), float(actual.sum()))
