"""One timeline of a customer from the parts each service keeps (risk, campaign, consent)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Ledger entry types as timeline types; `use` entries (one per contact) repeat what the actions show.
_LEDGER_TYPES = {
    "grant": "consent_granted",
    "revocation": "consent_revoked",
    "objection": "objection",
    "no_contact": "no_contact",
    "erasure": "erasure",
}


def _instant(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ledger_items(ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consent's ledger entries as timeline items (the evidence stays in `details`)."""
    items = []
    for entry in ledger:
        kind = _LEDGER_TYPES.get(str(entry.get("entry_type")))
        if kind is None:
            continue
        items.append(
            {
                "at": entry.get("occurred_at"),
                "type": kind,
                "ref": entry.get("id"),
                "details": entry.get("payload") or {},
            }
        )
    return items


def merge(sources: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every item of every source, newest first, each tagged with the service it came from."""
    merged = [{**item, "source": name} for name, items in sources.items() for item in items]
    # Stable on ties: the order of `sources`, then each source's own order (already newest first).
    return sorted(merged, key=lambda item: _instant(item.get("at")), reverse=True)
