"""`winback backtest`: replay a transaction log, fit on a calibration period, score a holdout.

Uses the risk service's own model functions (winback_risk.domain.model), so the numbers are
the numbers of the scores the service serves. Compared against the recency baseline: rank by
days since the last purchase; count = the customer's calibration purchase rate x the horizon.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import numpy as np
import numpy.typing as npt
import typer
from scipy.stats import rankdata

from winback_risk.domain.model import pareto_nbd

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Backtest:
    customers: int
    holdout_buyers: int
    params: pareto_nbd.ParetoNBD
    log_likelihood: float
    auc_model: float
    auc_p_alive: float
    auc_recency: float
    mae_model: float
    mae_baseline: float


def read_days(path: Path) -> dict[str, set[date]]:
    """Purchase occasions (distinct days) per customer from a CSV with columns customer, date, amount."""
    days: dict[str, set[date]] = {}
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                raw = row["date"].strip()
                day = date.fromisoformat(raw[:10]) if "-" in raw else date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
                days.setdefault(row["customer"].strip(), set()).add(day)
            except (KeyError, ValueError, AttributeError) as exc:
                raise ValueError(f"{path.name} line {line}: not customer,date,amount ({exc})") from exc
    return days


def roc_auc(score: Floats, positive: npt.NDArray[np.bool_]) -> float:
    """Mann-Whitney form of the ROC AUC (ties count half)."""
    ranks = rankdata(score)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def run_backtest(days: dict[str, set[date]], calibration_end: date, holdout_end: date) -> Backtest:
    """Fit on purchases up to calibration_end; evaluate on (calibration_end, holdout_end]."""
    x, t_x, T, actual = [], [], [], []
    for occasions in days.values():
        before = sorted(d for d in occasions if d <= calibration_end)
        if not before:
            continue  # customers first seen in the holdout cannot be scored
        x.append(len(before) - 1)
        t_x.append((before[-1] - before[0]).days)
        T.append((calibration_end - before[0]).days)
        actual.append(sum(1 for d in occasions if calibration_end < d <= holdout_end))
    xs, txs, Ts, ys = (np.array(v, dtype=np.float64) for v in (x, t_x, T, actual))
    horizon = float((holdout_end - calibration_end).days)
    params, fit = pareto_nbd.fit(xs, txs, Ts)
    expected = pareto_nbd.expected_purchases(params, horizon, xs, txs, Ts)
    alive = pareto_nbd.p_alive(params, xs, txs, Ts)
    recency = -(Ts - txs)  # fewer days since the last purchase ranks higher
    run_rate = (xs + 1.0) / np.maximum(Ts, 1.0) * horizon
    again = ys > 0
    return Backtest(
        customers=int(xs.size),
        holdout_buyers=int(again.sum()),
        params=params,
        log_likelihood=fit.log_likelihood,
        auc_model=roc_auc(expected, again),
        auc_p_alive=roc_auc(alive, again),
        auc_recency=roc_auc(recency, again),
        mae_model=float(np.mean(np.abs(expected - ys))),
        mae_baseline=float(np.mean(np.abs(run_rate - ys))),
    )


def backtest_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with columns customer,date,amount")],
    calibration_end: Annotated[str, typer.Option(help="last day of the calibration period (YYYY-MM-DD)")],
    holdout_end: Annotated[str, typer.Option(help="last day of the holdout period (YYYY-MM-DD)")],
) -> None:
    """Replay a transaction file and compare the model with the recency baseline on a holdout."""
    try:
        start, end = date.fromisoformat(calibration_end), date.fromisoformat(holdout_end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if end <= start:
        raise typer.BadParameter("--holdout-end must be after --calibration-end")
    try:
        result = run_backtest(read_days(file), start, end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    p = result.params
    typer.echo(f"customers {result.customers}, ordered again in the holdout {result.holdout_buyers}")
    typer.echo(f"pareto/nbd (days) r={p.r:.4f} alpha={p.alpha:.3f} s={p.s:.4f} beta={p.beta:.3f} "
               f"LL={result.log_likelihood:.1f}")  # fmt: skip
    typer.echo(f"{'':28}{'model':>10}{'recency baseline':>20}")
    typer.echo(f"{'ROC AUC (orders again)':28}{result.auc_model:>10.4f}{result.auc_recency:>20.4f}")
    typer.echo(f"{'ROC AUC by p_alive':28}{result.auc_p_alive:>10.4f}{'':>20}")
    typer.echo(f"{'MAE expected orders':28}{result.mae_model:>10.4f}{result.mae_baseline:>20.4f}")
