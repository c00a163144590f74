"""Issue 13's alternatives with calibration-only information: segments, covariates, latent classes.

From the repository root, in the dev venv (`make install`); each prints Markdown table rows:

    .venv/bin/python services/risk/experiments/cdnow_covariates/run.py               # every variant, all customers
    .venv/bin/python services/risk/experiments/cdnow_covariates/run.py --split-half  # fit on one half, score the other
    .venv/bin/python services/risk/experiments/cdnow_covariates/run.py --internal    # fit to 1997-06-30, score Jul-Sep

The results and what they mean: services/risk/README.md, "Backtest".
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date

import numpy as np
from covariates import (
    CALIBRATION_END,
    COVARIATES,
    HOLDOUT_END,
    Floats,
    Metrics,
    Purchase,
    Split,
    expected_unconditional,
    fit_covariates,
    fit_latent_classes,
    fit_segments,
    format_params,
    master_path,
    metrics,
    quantile_bins,
    read_master,
    split,
)

from winback_risk.domain.model import pareto_nbd

# (covariate, quantile bins; 0: the plain count, 4 and more as one segment)
SEGMENTS = {
    "3 quantile bins of the first day's amount": ("first_amount", 3),
    "5 quantile bins of the first day's amount": ("first_amount", 5),
    "the first day's CDs 1/2/3/4+": ("first_cds", 0),
    "3 quantile bins of spend per occasion": ("mean_spend", 3),
}
# (purchase rate's covariates, dropout rate's covariates)
FIRST_THREE = ("first_amount", "first_cds", "first_day_orders")
COVARIATE_VARIANTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "log first-day amount, on the purchase rate only": (("first_amount",), ()),
    "log first-day amount": (("first_amount",), ("first_amount",)),
    "log first-day CDs": (("first_cds",), ("first_cds",)),
    "log first-day amount and CDs": (FIRST_THREE[:2], FIRST_THREE[:2]),
    "log first-day amount and CDs, several orders that day": (FIRST_THREE, FIRST_THREE),
    "log spend per occasion": (("mean_spend",), ("mean_spend",)),
    "log CDs per occasion": (("mean_cds",), ("mean_cds",)),
    "log spend and CDs per occasion": (("mean_spend", "mean_cds"), ("mean_spend", "mean_cds")),
    "all five": (tuple(COVARIATES), tuple(COVARIATES)),
}
FIRST_DAY = ["log first-day amount", "log first-day CDs", "log first-day amount and CDs, several orders that day"]
PER_OCCASION = ["log spend per occasion", "log CDs per occasion"]
SPLIT_HALF = [*FIRST_DAY[:2], "log first-day amount and CDs", FIRST_DAY[2], *PER_OCCASION]
INTERNAL = [*FIRST_DAY, *PER_OCCASION, "all five"]


def row(label: str, m: Metrics, parameters: int, ll_gain: float | None = None) -> str:
    note = f"{parameters} parameters" + ("" if ll_gain is None else f", LL {ll_gain:+.1f}")
    return f"| {label} ({note}) | {m.auc:.4f} | {m.mae:.4f} | {m.total:,.0f} ({m.ratio - 1:+.1%}) |"


def table(s: Split) -> None:
    """Every variant fitted on the calibration of all customers, scored on the holdout."""
    x, t_x, T, t = s.x, s.t_x, s.T, s.horizon
    served = s.served.model
    ll0 = served.log_likelihood or float("nan")
    print(f"customers {s.size}, holdout occasions {s.actual.sum():,.0f}")
    print(f"served fit: {format_params(served.purchases)}, LL {ll0:.2f}\n")
    print("| variant | ROC AUC | MAE | total predicted |\n|---|---|---|---|")
    print(row("Pareto/NBD, served", metrics(s.served.expected_orders, s.actual), 4, 0.0))
    notes = []
    for label, (name, bins) in SEGMENTS.items():
        segment = quantile_bins(s.covariate(name), bins) if bins else np.minimum(s.raw[name], 4).astype(np.intp)
        expected, ll, k = fit_segments(x, t_x, T, segment, t)
        print(row(f"Pareto/NBD per segment: {label}", metrics(expected, s.actual), k, ll - ll0), flush=True)
    for label, (purchase, dropout) in COVARIATE_VARIANTS.items():
        z1, z2 = s.z(purchase), s.z(dropout)
        f = fit_covariates(x, t_x, T, z1, z2, served.purchases)
        coefficients = ", ".join(f"{n} {g:+.3f}/{d:+.3f}" for n, g, d in _pairs(purchase, dropout, f.g1, f.g2))
        m = metrics(f.expected(t, z1, z2, x, t_x, T), s.actual)
        line = row(f"Pareto/NBD with covariates: {label}", m, f.parameters, f.log_likelihood - ll0)
        print(line, flush=True)
        unconverged = "" if f.converged else " (the optimiser did not report convergence)"
        notes.append(f"{label}: g on the purchase/dropout rate {coefficients}{unconverged}")
    expected, ll, classes = fit_latent_classes(x, t_x, T, t, served.purchases)
    print(row("2-class latent Pareto/NBD", metrics(expected, s.actual), 9, ll - ll0))
    print("", *notes, f"2 latent classes: {classes}", sep="\n")


def _pairs(purchase: Sequence[str], dropout: Sequence[str], g1: Floats, g2: Floats) -> list[tuple[str, float, float]]:
    on_purchase, on_dropout = dict(zip(purchase, g1, strict=True)), dict(zip(dropout, g2, strict=True))
    return [(n, on_purchase.get(n, 0.0), on_dropout.get(n, 0.0)) for n in dict.fromkeys([*purchase, *dropout])]


def split_half(s: Split, seeds: int = 5) -> None:
    """Fit on a random half of the customers, score the other (holdout metrics and the calibration LL).

    Covariates are standardised with the fitted half's mean and sd; the plain Pareto/NBD of the same
    half is the reference of every difference. `seeds` x both directions.
    """
    x, t_x, T, t = s.x, s.t_x, s.T, s.horizon
    found: dict[str, list[tuple[float, float, float, float]]] = {}
    for seed in range(seeds):
        half = np.random.default_rng(seed).permutation(s.size) < s.size // 2
        for fitted in (half, ~half):
            held = ~fitted
            plain, _ = pareto_nbd.fit(x[fitted], t_x[fitted], T[fitted])
            e = pareto_nbd.expected_purchases(plain, t, x[held], t_x[held], T[held])
            ll = float(pareto_nbd.log_likelihood(plain, x[held], t_x[held], T[held]).sum())
            m0 = metrics(e, s.actual[held])
            for label in SPLIT_HALF:
                purchase, dropout = COVARIATE_VARIANTS[label]
                z1, z2 = s.z(purchase, on=fitted), s.z(dropout, on=fitted)
                f = fit_covariates(x[fitted], t_x[fitted], T[fitted], z1[fitted], z2[fitted], plain)
                m = metrics(f.expected(t, z1[held], z2[held], x[held], t_x[held], T[held]), s.actual[held])
                gain = f.held_out_ll(z1[held], z2[held], x[held], t_x[held], T[held]) - ll
                found.setdefault(label, []).append((m.auc - m0.auc, m.mae - m0.mae, m.ratio, gain))
            found.setdefault("", []).append((m0.auc, m0.mae, m0.ratio, 0.0))
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    plain_auc, plain_mae, plain_ratio, _ = np.array(found.pop("")).T
    auc_range = f"{plain_auc.min():.4f}..{plain_auc.max():.4f}"
    print(f"plain Pareto/NBD on the held-out halves: AUC {plain_auc.mean():.4f} ({auc_range}), "
          f"MAE {plain_mae.mean():.4f}, total/actual {plain_ratio.mean():.3f}\n")  # fmt: skip
    print("| covariates | AUC gain, mean (min) | MAE change, mean (max) | total/actual | held-out LL gain, mean (min) |"
          "\n|---|---|---|---|---|")  # fmt: skip
    for label, values in found.items():
        d_auc, d_mae, ratio, gain = np.array(values).T
        print(f"| {label} | {d_auc.mean():+.4f} ({d_auc.min():+.4f}) | {d_mae.mean():+.4f} ({d_mae.max():+.4f}) "
              f"| {ratio.mean():.3f} | {gain.mean():+.1f} ({gain.min():+.1f}) |")  # fmt: skip


def internal(log: dict[str, list[Purchase]], full: Split, end: date) -> None:
    """Calibration-internal check: fit to `end`, score (end, 1997-09-30]; then the months against the served fit."""
    s = split(log, end, CALIBRATION_END)
    x, t_x, T, t = s.x, s.t_x, s.T, s.horizon
    ll0 = s.served.model.log_likelihood or float("nan")
    print(f"fit to {end}, scored to {CALIBRATION_END} ({t} days): {s.actual.sum():,.0f} occasions\n")
    print("| variant | ROC AUC | MAE | total predicted |\n|---|---|---|---|")
    print(row("Pareto/NBD, served", metrics(s.served.expected_orders, s.actual), 4, 0.0))
    for label in INTERNAL:
        z1, z2 = s.z(COVARIATE_VARIANTS[label][0]), s.z(COVARIATE_VARIANTS[label][1])
        f = fit_covariates(x, t_x, T, z1, z2, s.served.model.purchases)
        print(row(f"with covariates: {label}", metrics(f.expected(t, z1, z2, x, t_x, T), s.actual),
                  f.parameters, f.log_likelihood - ll0), flush=True)  # fmt: skip
    monthly(log, full)


def monthly(log: dict[str, list[Purchase]], full: Split) -> None:
    """Repeat occasions per month against what the served fit (to 1997-09-30) expects of the cohort."""
    first = {c: min(p.day for p in purchases) for c, purchases in log.items()}
    repeats = Counter((d.year, d.month) for c, days in _days(log).items() for d in days if d > first[c])
    starts = np.array([(first[c] - date(1997, 1, 1)).days for c in full.served.customer_ids], dtype=np.float64)
    model = full.served.model.purchases
    print(f"\nserved fit to {CALIBRATION_END}: {format_params(model)}\n")
    print("| month | repeat occasions | the fit expects | actual/expected |\n|---|---|---|---|")
    sums = {"calibration": [0.0, 0.0], "holdout": [0.0, 0.0]}
    for year, month in [(1997, m) for m in range(1, 13)] + [(1998, m) for m in range(1, 7)]:
        begin, end = date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
        t0, t1 = (np.maximum((d - date(1997, 1, 1)).days - starts, 0.0) for d in (begin, end))
        e = float((expected_unconditional(model, t1) - expected_unconditional(model, t0)).sum())
        actual = repeats[(year, month)]
        period = sums["calibration" if begin <= CALIBRATION_END else "holdout"]
        period[0], period[1] = period[0] + actual, period[1] + e
        print(f"| {year}-{month:02d} | {actual:,} | {e:,.0f} | {actual / e:.2f} |")
    for name, (actual_sum, e_sum) in sums.items():
        print(f"{name}: {actual_sum:,.0f} repeat occasions, the fit expects {e_sum:,.0f} ({actual_sum / e_sum:.3f})")


def _days(log: dict[str, list[Purchase]]) -> dict[str, set[date]]:
    return {c: {p.day for p in purchases} for c, purchases in log.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split-half", action="store_true", help="fit on half the customers, score the other half")
    parser.add_argument("--internal", action="store_true", help="fit to --internal-end, score to 1997-09-30")
    parser.add_argument("--internal-end", type=date.fromisoformat, default=date(1997, 6, 30), metavar="DATE")
    args = parser.parse_args()
    started = time.perf_counter()
    log = read_master(master_path())
    full = split(log, CALIBRATION_END, HOLDOUT_END)
    if args.split_half:
        split_half(full)
    elif args.internal:
        internal(log, full, args.internal_end)
    else:
        table(full)
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
