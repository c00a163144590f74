"""Served = backtest: CDNOW replayed through ingest scores exactly what `winback backtest` computes.

ingest HTTP -> broker -> risk consumer -> POST /v1/model/fit?as_of=<calibration end> -> GET
/v1/customers?as_of=<calibration end>&horizon_days=<holdout days>, against
`winback_cli.backtest.served_scores` on the same file and split.

A slice of the CDNOW master log keeps it to seconds. `WINBACK_CDNOW_CUSTOMERS=all` replays
the whole log (23,570 customers, about 75 s) and prints the served AUC and MAE: the
measurement in services/risk/README.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.polling import eventually
from tests.support.services import running_services
from winback_cli.backtest import evaluate, read_log, served_scores
from winback_cli.stack import ServiceProcess

pytestmark = pytest.mark.integration
datasets = pytest.importorskip("lifetimes.datasets")

INGEST = {"Authorization": "Bearer dev-ingest-key", "Content-Type": "application/cloudevents-batch+json"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
CALIBRATION_END, HOLDOUT_END = date(1997, 9, 30), date(1998, 6, 30)
SLICE = os.environ.get("WINBACK_CDNOW_CUSTOMERS", "400")


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first SLICE customers of the CDNOW master log as customer,date,amount (the README's CSV)."""
    master = Path(datasets.__file__).parent / "CDNOW_master.txt"
    lines = ["customer,date,amount"]
    for row in master.read_text().splitlines()[1:]:
        customer, day, _, amount = row.split()
        if SLICE != "all" and int(customer) > int(SLICE):
            break  # the log is sorted by customer
        lines.append(f"{customer},{day},{amount}")
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    # The scheduled refit stays out of the way: the fit under test is the one asked for.
    extra = {"WINBACK_MODEL_POLL_S": "3600"}
    logs = tmp_path_factory.mktemp("logs")
    with running_services(
        ["ingest", "risk"], bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs, extra=extra
    ) as services:
        yield services


def order_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line, row in enumerate(path.read_text().splitlines()[1:], start=2):
        customer, day, amount = row.split(",")
        events.append({
            "specversion": "1.0", "id": f"cdnow-{line}", "source": "/test/cdnow", "type": "order.placed",
            "time": f"{day[:4]}-{day[4:6]}-{day[6:]}T00:00:00Z",
            "data": {"customer_id": customer, "order_id": f"line-{line}", "amount": amount},
        })  # fmt: skip
    return events


async def all_customers(risk: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await risk.get(
            "/v1/customers", params={**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


async def test_served_scores_equal_the_backtest_on_a_cdnow_replay(
    stack: dict[str, ServiceProcess], cdnow: Path
) -> None:
    events = order_events(cdnow)
    customers = len({e["data"]["customer_id"] for e in events})
    async with httpx.AsyncClient(base_url=stack["risk"].url, headers=ADMIN, timeout=60) as risk:
        # Nothing to fit yet: the answer is the documented prior in use and why, not an error.
        empty = await risk.post("/v1/model/fit")
        assert empty.status_code == 200, empty.text
        body = empty.json()
        assert (body["basis"], body["reason"], body["customers_used"]) == ("prior", "too_few_customers", 0)
        assert body["parameters"]["tier_cutoffs"] == [] and (await risk.get("/v1/model")).json()["basis"] == "prior"
    async with httpx.AsyncClient(base_url=stack["ingest"].url, timeout=60) as ingest:
        for start in range(0, len(events), 1000):
            sent = await ingest.post("/v1/events", content=json.dumps(events[start : start + 1000]), headers=INGEST)
            assert sent.status_code == 202, sent.text

    async with httpx.AsyncClient(base_url=stack["risk"].url, headers=ADMIN, timeout=120) as risk:

        async def orders_applied() -> int:
            return sum(c["buying_cycle"]["orders"] for c in await all_customers(risk))

        await eventually(orders_applied, lambda n: n == len(events), timeout_s=300, interval_s=1.0)
        fitted = await risk.post("/v1/model/fit", params={"as_of": CALIBRATION_END.isoformat()})
        assert fitted.status_code == 200, fitted.text
        horizon = (HOLDOUT_END - CALIBRATION_END).days
        served = await all_customers(risk, as_of=CALIBRATION_END.isoformat(), horizon_days=horizon)

    expected = served_scores(read_log(cdnow), CALIBRATION_END, HOLDOUT_END)
    model = fitted.json()
    assert model["basis"] == "fitted" and model["reason"] is None
    assert model["customers_used"] == len(expected.customer_ids) == customers
    assert model["statistics"]["data_as_of"] == expected.as_of.isoformat()
    assert model["parameters"]["purchases"] == pytest.approx(expected.model.purchases.as_dict(), rel=1e-9)
    by_id = {c["customer_id"]: c for c in served}
    assert sorted(by_id) == expected.customer_ids
    # The model's columns as the API served them; the holdout truth is the file's.
    on_api = replace(
        expected,
        expected_orders=np.array([by_id[c]["expected_orders"] for c in expected.customer_ids], dtype=np.float64),
        p_alive=np.array([by_id[c]["p_alive"] for c in expected.customer_ids], dtype=np.float64),
    )
    assert np.array_equal(on_api.expected_orders, expected.expected_orders)
    assert np.array_equal(on_api.p_alive, expected.p_alive)
    result, reference = evaluate(on_api), evaluate(expected)
    assert (result.auc_model, result.mae_model) == (reference.auc_model, reference.mae_model)
    print(
        f"\nserved CDNOW ({customers} customers): ROC AUC {result.auc_model:.4f} (p_alive {result.auc_p_alive:.4f}, "
        f"recency {result.auc_recency:.4f}), MAE {result.mae_model:.4f} (run rate {result.mae_baseline:.4f}); "
        f"model {model['parameters']['purchases']}"
    )
