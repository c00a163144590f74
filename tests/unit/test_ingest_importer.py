"""`winback import`: rows to events, line numbers and the checkpoint, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from winback_cli.importer import (
    BadRow,
    Checkpoint,
    ImportAborted,
    ImportOptions,
    Row,
    RowError,
    load_checkpoint,
    parse_mapping,
    read_rows,
    row_to_event,
    save_checkpoint,
)

OPTIONS = ImportOptions(source="/erp", event_type="order.placed", mapping={"kunde": "customer_id", "datum": "time"})


def test_mapping_pairs():
    assert parse_mapping(["customer=customer_id", " total = amount "]) == {"customer": "customer_id", "total": "amount"}
    with pytest.raises(typer.BadParameter):
        parse_mapping(["customer"])


def test_row_becomes_an_event_with_a_deterministic_id():
    row = Row(2, "content", {"kunde": "c1", "datum": "2024-01-01T00:00:00Z", "amount": "5", "note": ""})
    event = row_to_event(row, OPTIONS)
    assert event == {
        "specversion": "1.0",
        "id": event["id"],
        "source": "/erp",
        "type": "order.placed",
        "time": "2024-01-01T00:00:00Z",
        "data": {"customer_id": "c1", "amount": "5"},
    }
    assert row_to_event(row, OPTIONS)["id"] == event["id"]
    assert row_to_event(Row(2, "other content", row.record), OPTIONS)["id"] != event["id"]
    other_source = ImportOptions(source="/crm", event_type="order.placed", mapping=OPTIONS.mapping)
    assert row_to_event(row, other_source)["id"] != event["id"]


def test_type_column_aliases_nested_and_json_cells():
    row = Row(
        3,
        "x",
        {"type": "objections", "customer_id": "c1", "channels": '["email"]', "postal_address.city": "Köln", "id": "k"},
    )
    event = row_to_event(row, ImportOptions(source="/crm", default_time="2024-01-01T00:00:00Z"))
    assert (event["type"], event["id"]) == ("contact.objected", "k")
    assert event["data"] == {"customer_id": "c1", "channels": ["email"], "postal_address": {"city": "Köln"}}


def test_rows_without_type_or_time_are_refused():
    with pytest.raises(RowError) as no_type:
        row_to_event(Row(1, "x", {"customer_id": "c1", "time": "2024-01-01T00:00:00Z"}), ImportOptions(source="/s"))
    with pytest.raises(RowError) as no_time:
        row_to_event(Row(1, "x", {"customer_id": "c1"}), ImportOptions(source="/s", event_type="orders"))
    assert (no_type.value.field, no_time.value.field) == ("type", "time")


def test_line_numbers_of_csv_and_ndjson(tmp_path: Path):
    csv_file = tmp_path / "a.csv"
    csv_file.write_text('a,b\n1,2\n"multi\nline",3\n4,5,6\n')
    rows = list(read_rows(csv_file))
    assert [(type(r).__name__, r.line) for r in rows] == [("Row", 2), ("Row", 4), ("BadRow", 5)]
    ndjson = tmp_path / "a.ndjson"
    ndjson.write_text('{"a": 1}\n\n[1]\n{oops\n')
    rows = list(read_rows(ndjson))
    assert [(type(r).__name__, r.line) for r in rows] == [("Row", 1), ("BadRow", 3), ("BadRow", 4)]
    assert isinstance(rows[2], BadRow) and "not JSON" in rows[2].error.message


def test_checkpoint_round_trip_and_refuses_other_options(tmp_path: Path):
    path = tmp_path / "orders.csv"
    path.write_text("x\n")
    save_checkpoint(path, OPTIONS, Checkpoint(last_line=40, accepted=30, duplicates=5, rejected=4))
    assert load_checkpoint(path, OPTIONS) == Checkpoint(last_line=40, accepted=30, duplicates=5, rejected=4)
    with pytest.raises(ImportAborted):
        load_checkpoint(path, ImportOptions(source="/other", event_type="order.placed"))
