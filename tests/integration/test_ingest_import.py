"""`winback import` against a running ingest: bad rows reported by line, interruption resumed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.kafka import read_topic
from winback_cli.importer import ImportOptions, Sender, checkpoint_path, run_import
from winback_cli.main import app
from winback_cli.stack import ServiceProcess

pytestmark = pytest.mark.integration

# Lines 4, 7 and 9 are bad: amount not a number, no customer, one cell too many.
ORDERS_CSV = """\
kunde,bestellung,summe,datum,category
imp-c1,o-1,10.50,2024-01-05T10:00:00+01:00,shoes
imp-c2,o-2,20,2024-01-06T10:00:00+01:00,
imp-c3,o-3,zwanzig,2024-01-07T10:00:00+01:00,bags
imp-c4,o-4,40,2024-01-08T10:00:00+01:00,shoes
imp-c5,o-5,50,2024-01-09T10:00:00+01:00,shoes
,o-6,60,2024-01-10T10:00:00+01:00,shoes
imp-c7,o-7,70,2024-01-11T10:00:00+01:00,shoes
imp-c8,o-8,80,2024-01-12T10:00:00+01:00,shoes,extra
imp-c9,o-9,90,2024-01-13T10:00:00+01:00,shoes
imp-c10,o-10,100,2024-01-14T10:00:00+01:00,shoes
imp-c11,o-11,110,2024-01-15T10:00:00+01:00,shoes
"""
MAPPING = {"kunde": "customer_id", "bestellung": "order_id", "summe": "amount", "datum": "time"}
GOOD_ORDERS = {f"o-{n}" for n in (1, 2, 4, 5, 7, 9, 10, 11)}


async def _orders_on_topic(bootstrap: str) -> Counter[str]:
    events = await read_topic(bootstrap, "winback.events", idle_s=0.5)
    return Counter(e["data"]["order_id"] for e in events if e["source"] == "/erp/orders")


async def test_csv_import_with_bad_rows_interrupted_and_resumed(
    ingest: ServiceProcess, kafka_bootstrap: str, tmp_path: Path
):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS_CSV)
    options = ImportOptions(source="/erp/orders", event_type="order.placed", mapping=MAPPING)
    with httpx.Client(timeout=30) as client:
        sender = Sender(client, ingest.url, "dev-ingest-key")
        # Interrupted after two batches of three rows (lines 2-7): the checkpoint records line 7.
        first = run_import(path, options, sender, batch_size=3, stop_after_batches=2)
        assert (first.progress.last_line, first.progress.complete) == (7, False)
        assert sorted((r.line, r.field) for r in first.rejections) == [(4, "data.amount"), (7, "data.customer_id")]
        assert json.loads(checkpoint_path(path).read_text())["last_line"] == 7
        # Resumed: only lines after 7 are read, sent and reported.
        second = run_import(path, options, sender, batch_size=3)
    assert second.resumed_from == 7 and second.progress.complete
    assert [(r.line, r.message) for r in second.rejections] == [(9, "row has more cells than the header has columns")]
    assert (second.progress.accepted, second.progress.duplicates, second.progress.rejected) == (8, 0, 3)
    assert await _orders_on_topic(kafka_bootstrap) == Counter(GOOD_ORDERS)


async def test_cli_restart_sends_everything_again_as_duplicates(
    ingest: ServiceProcess, kafka_bootstrap: str, tmp_path: Path
):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS_CSV)
    args = ["import", str(path), "--type", "orders", "--source", "/erp/orders", "--url", ingest.url]
    args += [arg for column, target in MAPPING.items() for arg in ("--map", f"{column}={target}")]
    first = CliRunner().invoke(app, args)
    again = CliRunner().invoke(app, [*args, "--restart", "--batch-size", "2"])
    # Rows of the previous test are the same events (deterministic ids): all duplicates now.
    assert first.exit_code == 1, first.output  # 1: done, but some rows were rejected
    assert "0 accepted, 8 duplicates, 3 rejected rows" in first.output
    assert "line 4" in again.output and "8 duplicates" in again.output
    assert await _orders_on_topic(kafka_bootstrap) == Counter(GOOD_ORDERS)


async def test_ndjson_profiles_and_full_cloudevents(ingest: ServiceProcess, kafka_bootstrap: str, tmp_path: Path):
    path = tmp_path / "customers.ndjson"
    lines = [
        {"type": "customers", "customer_id": "imp-p1", "name": "Ada", "postal_address.city": "Köln"},
        {"type": "consents", "customer_id": "imp-p1", "channel": "email", "kind": "express", "method": "written"},
        {"specversion": "1.0", "id": "crm-7", "source": "/crm", "type": "contract.cancelled",
         "time": "2024-02-01T00:00:00Z", "data": {"customer_id": "imp-p2", "contract_id": "k-2"}},
        {"type": "consents", "customer_id": "imp-p3", "channel": "pigeon", "kind": "express"},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(path), "--time", "2024-01-01T00:00:00Z", "--url", ingest.url])
    assert result.exit_code == 1, result.output
    assert "3 accepted, 0 duplicates, 2 rejected rows" in result.output
    assert "line 4" in result.output and "data.channel" in result.output and "line 5" in result.output
    events = await read_topic(kafka_bootstrap, "winback.events", idle_s=0.5)
    mine = [e for e in events if e["data"].get("customer_id", "").startswith("imp-p")]
    assert sorted(e["type"] for e in mine) == ["consent.granted", "contract.cancelled", "customer.upserted"]
    profile = next(e for e in mine if e["type"] == "customer.upserted")
    assert profile["data"]["postal_address"]["city"] == "Köln" and profile["source"] == "/import/customers.ndjson"
