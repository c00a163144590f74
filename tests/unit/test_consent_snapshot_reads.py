"""The decisions' read path: parsed snapshot documents are reused only for the exact same text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from winback_consent.adapters.snapshot_reads import SNAPSHOT_SQL, SnapshotReads

URL = "postgresql+asyncpg://consent@127.0.0.1:5432/consent"


def doc(method: str) -> str:
    grant = ["g1", 1, "grant", "2025-01-01T00:00:00+00:00", {"channel": "email", "kind": "express", "method": method}]
    return json.dumps({"kind": "consumer", "ledger": [grant], "orders": [], "contracts": []})


def row(text: str, *, known: bool = True, email: datetime | None = None) -> dict[str, object]:
    return {"known": known, "doc": text, "email": email, "phone": None, "fax": None, "postal": None}


def test_the_statement_is_rendered_for_asyncpg_with_one_array_parameter() -> None:
    assert "$1" in SNAPSHOT_SQL and "$2" not in SNAPSHOT_SQL
    assert "decision_snapshots" in SNAPSHOT_SQL


def test_a_changed_document_is_parsed_anew_and_the_cache_stays_bounded() -> None:
    reads = SnapshotReads(URL, size=1, cache_size=2)
    first = reads._snapshot("c1", row(doc("written")))
    assert reads._snapshot("c2", row(doc("written"))).entries is first.entries  # same text: parsed once
    changed = reads._snapshot("c1", row(doc("double_opt_in")))
    assert changed.entries[0].payload["method"] == "double_opt_in"
    reads._snapshot("c3", row(doc("web_form")))
    assert len(reads._parsed) == 2


def test_unknown_and_suppressed_customers() -> None:
    reads = SnapshotReads(URL, size=1)
    assert reads._snapshot("gone", None).known is False
    assert reads._snapshot("erased", row(doc("written"), known=False)).known is False
    listed = datetime(2025, 2, 1, tzinfo=UTC)
    snapshot = reads._snapshot("c", row(doc("written"), email=listed))
    assert snapshot.customer_id == "c" and snapshot.suppressions == {"email": listed}
    assert not reads._parsed  # no cache unless configured
