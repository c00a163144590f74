"""`winback backtest`: calibration/holdout split, AUC and MAE, errors for bad input."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from winback_cli.backtest import read_days, read_log, roc_auc, run_backtest
from winback_cli.main import app


def write_log(path: Path, customers: int = 300) -> Path:
    rng = np.random.default_rng(7)
    start = date(2020, 1, 1)
    lines = ["customer,date,amount"]
    for c in range(customers):
        every = int(rng.integers(5, 120))
        stop = int(rng.integers(30, 900))  # the day the customer silently leaves
        for day in range(int(rng.integers(0, 60)), stop, every):
            lines.append(f"c{c},{(start + timedelta(days=day)).isoformat()},{rng.integers(5, 90)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_roc_auc_matches_the_definition() -> None:
    positive = np.array([True, False, True, False])
    assert roc_auc(np.array([0.9, 0.1, 0.8, 0.3]), positive) == 1.0
    assert roc_auc(np.array([0.1, 0.9, 0.2, 0.8]), positive) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), positive) == 0.5


def test_model_beats_chance_and_the_run_rate_on_a_synthetic_log(tmp_path: Path) -> None:
    result = run_backtest(read_log(write_log(tmp_path / "log.csv")), date(2021, 6, 30), date(2022, 6, 30))
    assert 280 < result.customers <= 300 and 0 < result.holdout_buyers < result.customers
    assert result.model.basis == "fitted"
    assert result.auc_model > 0.7 and result.mae_model < result.mae_baseline


def test_same_day_orders_are_one_occasion(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("customer,date,amount\na,2020-01-01,5\na,20200101,7\na,2020-02-01,1\n")
    assert read_days(path) == {"a": {date(2020, 1, 1), date(2020, 2, 1)}}


def test_command_prints_both_columns_and_rejects_bad_input(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.csv", customers=120)
    runner = CliRunner()
    ok = runner.invoke(app, ["backtest", str(log), "--calibration-end", "2021-06-30", "--holdout-end", "2022-06-30"])
    assert ok.exit_code == 0, ok.output
    assert "ROC AUC" in ok.output and "recency baseline" in ok.output and "MAE expected orders" in ok.output
    backwards = runner.invoke(
        app, ["backtest", str(log), "--calibration-end", "2021-06-30", "--holdout-end", "2021-01-01"]
    )
    assert backwards.exit_code != 0
    broken = tmp_path / "broken.csv"
    broken.write_text("customer,date,amount\na,yesterday,5\n")
    bad = runner.invoke(
        app, ["backtest", str(broken), "--calibration-end", "2021-06-30", "--holdout-end", "2022-06-30"]
    )
    assert bad.exit_code != 0 and "line 2" in bad.output


@pytest.mark.parametrize("calibration", ["2021-13-01", "soon"])
def test_command_rejects_bad_dates(tmp_path: Path, calibration: str) -> None:
    log = write_log(tmp_path / "log.csv", customers=5)
    result = CliRunner().invoke(
        app, ["backtest", str(log), "--calibration-end", calibration, "--holdout-end", "2022-01-01"]
    )
    assert result.exit_code != 0
