"""`winback backtest`: replay a transaction log, fit on a calibration period, score a holdout.

The numbers are those of the scores the service serves, computed by the service's own code:
the calibration end is read as `GET /v1/customers?as_of=` reads it (a date is the end of that
day, UTC), the fit is `model_service.fit_at` (what `POST /v1/model/fit?as_of=` runs) over the
same order summaries, and the scores come from `scoring.assess_customers` (the one assessment
that the read API, the consumer and the assessor call). A log replayed through ingest therefore
gives exactly these scores (tests/integration/test_risk_served_backtest.py). Compared against the
recency baseline: rank by days since the last purchase; count = the customer's calibration
purchase rate x the horizon.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import numpy as np
import numpy.typing as npt
import typer
from scipy.stats import rankdata

from winback_risk.domain.model.limits import FitRules
from winback_risk.domain.model.population import PopulationModel
from winback_risk.domain.scoring import CustomerFacts, OrderSummary, RiskConfig, assess_customers
from winback_risk.entrypoints.params import parse_as_of
from winback_risk.service_layer.model_service import fit_at, summaries_at

Floats = npt.NDArray[np.float64]
# The service's defaults (RiskSettings): value basis and tier quantiles of the fit.
VALUE_BASIS = "margin"
TIER_QUANTILES = (0.8, 0.5)


@dataclass(frozen=True, slots=True)
class Order:
    day: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Scores:
    """Per customer with calibration orders (sorted by id): the served scores and the holdout truth."""

    customer_ids: list[str]
    model: PopulationModel
    as_of: datetime
    horizon_days: int
    expected_orders: Floats
    p_alive: Floats
    days_since_last: Floats
    run_rate: Floats
    holdout_occasions: Floats


@dataclass(frozen=True, slots=True)
class Backtest:
    customers: int
    holdout_buyers: int
    model: PopulationModel
    auc_model: float
    auc_p_alive: float
    auc_recency: float
    mae_model: float
    mae_baseline: float


def read_log(path: Path) -> dict[str, list[Order]]:
    """Orders per customer from a CSV with columns customer, date (YYYY-MM-DD or YYYYMMDD), amount."""
    log: dict[str, list[Order]] = {}
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                raw = row["date"].strip()
                day = date.fromisoformat(raw[:10]) if "-" in raw else date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
                amount = Decimal(row["amount"].strip())
                log.setdefault(row["customer"].strip(), []).append(Order(day, amount))
            except (KeyError, ValueError, AttributeError, InvalidOperation) as exc:
                raise ValueError(f"{path.name} line {line}: not customer,date,amount ({exc})") from exc
    return log


def read_days(path: Path) -> dict[str, set[date]]:
    """Purchase occasions (distinct days) per customer."""
    return {customer: {o.day for o in orders} for customer, orders in read_log(path).items()}


def roc_auc(score: Floats, positive: npt.NDArray[np.bool_]) -> float:
    """Mann-Whitney form of the ROC AUC (ties count half)."""
    ranks = rankdata(score)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def order_summary(orders: Sequence[Order], as_of: datetime) -> OrderSummary:
    """What risk's `order_summaries` reads for these orders at as_of (each order at 00:00 UTC of its day)."""
    at = sorted(datetime.combine(o.day, time.min, tzinfo=UTC) for o in orders)
    kept = [t for t in at if t <= as_of]
    if not kept:
        return OrderSummary()
    revenue = sum((o.amount for o in orders if datetime.combine(o.day, time.min, tzinfo=UTC) <= as_of), Decimal(0))
    return OrderSummary(
        occasions=len(set(kept)), orders=len(kept), first_order_at=kept[0], last_order_at=kept[-1],
        first_day_at=kept[0], last_day_at=kept[-1], revenue=revenue,
    )  # fmt: skip


def served_scores(
    log: dict[str, list[Order]], calibration_end: date, holdout_end: date, rules: FitRules | None = None
) -> Scores:
    """Fit at the calibration end and score every customer seen by then, as the service would."""
    as_of = parse_as_of(calibration_end.isoformat(), datetime.now(UTC))
    horizon = (holdout_end - calibration_end).days
    ids = sorted(c for c, orders in log.items() if any(o.day <= calibration_end for o in orders))
    summaries = [order_summary(log[c], as_of) for c in ids]
    model = fit_at(summaries, as_of, value_basis=VALUE_BASIS, quantiles=TIER_QUANTILES, rules=rules or FitRules())
    # The read API's call (queries._views): the scores GET /v1/customers?as_of=... returns.
    facts = [CustomerFacts(customer_id=c, base_status="active", orders=s) for c, s in zip(ids, summaries, strict=True)]
    found = assess_customers(facts, model, as_of, horizon, RiskConfig(), value_basis=VALUE_BASIS)
    inputs = summaries_at(summaries, as_of, VALUE_BASIS)
    actual = [len({o.day for o in log[c] if calibration_end < o.day <= holdout_end}) for c in ids]
    return Scores(
        customer_ids=ids, model=model, as_of=as_of, horizon_days=horizon,
        expected_orders=np.array([a.expected_orders for a in found], dtype=np.float64),
        p_alive=np.array([a.p_alive for a in found], dtype=np.float64),
        days_since_last=inputs.T - inputs.t_x,
        run_rate=(inputs.x + 1.0) / np.maximum(inputs.T, 1.0) * horizon,
        holdout_occasions=np.array(actual, dtype=np.float64),
    )  # fmt: skip


def evaluate(s: Scores) -> Backtest:
    """ROC AUC of "orders again in the holdout" and MAE of the holdout occasions, model vs baseline."""
    again = s.holdout_occasions > 0
    return Backtest(
        customers=len(s.customer_ids),
        holdout_buyers=int(again.sum()),
        model=s.model,
        auc_model=roc_auc(s.expected_orders, again),
        auc_p_alive=roc_auc(s.p_alive, again),
        auc_recency=roc_auc(-s.days_since_last, again),  # fewer days since the last purchase ranks higher
        mae_model=float(np.mean(np.abs(s.expected_orders - s.holdout_occasions))),
        mae_baseline=float(np.mean(np.abs(s.run_rate - s.holdout_occasions))),
    )


def run_backtest(log: dict[str, list[Order]], calibration_end: date, holdout_end: date) -> Backtest:
    """Fit on purchases up to calibration_end; evaluate on (calibration_end, holdout_end]."""
    return evaluate(served_scores(log, calibration_end, holdout_end))


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
        result = run_backtest(read_log(file), start, end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    m = result.model
    p = m.purchases
    typer.echo(f"customers {result.customers}, ordered again in the holdout {result.holdout_buyers}")
    basis = m.basis if m.reason is None else f"{m.basis} ({m.reason}: {m.reason_detail})"
    typer.echo(f"pareto/nbd (days) r={p.r:.4f} alpha={p.alpha:.3f} s={p.s:.4f} beta={p.beta:.3f} "
               f"LL={m.log_likelihood or float('nan'):.1f}, basis {basis}")  # fmt: skip
    typer.echo(f"{'':28}{'model':>10}{'recency baseline':>20}")
    typer.echo(f"{'ROC AUC (orders again)':28}{result.auc_model:>10.4f}{result.auc_recency:>20.4f}")
    typer.echo(f"{'ROC AUC by p_alive':28}{result.auc_p_alive:>10.4f}{'':>20}")
    typer.echo(f"{'MAE expected orders':28}{result.mae_model:>10.4f}{result.mae_baseline:>20.4f}")
