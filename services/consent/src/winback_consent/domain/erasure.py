"""GDPR Art. 17 on the ledger: the chain is replaced by a tombstone chain that keeps no evidence text.

Each entry becomes a tombstone with the same id, position and time that records the original
entry's type and hash; a closing `erasure` entry records the replaced chain's head. The new
chain is hashed like any other, so verify keeps working, and anyone holding an old head hash
can still match it against the erasure entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from winback_consent.domain.ledger import ChainHead, LedgerDraft, LedgerEntry, append

# Entries that hold no personal data are carried over unchanged (a customer erased twice).
KEPT_AS_IS = frozenset({"tombstone", "erasure"})


def tombstone_chain(
    entries: Sequence[LedgerEntry],
    head: ChainHead,
    *,
    customer_id: str,
    erasure_id: str,
    erased_at: datetime,
    suppressed: Sequence[str],
) -> tuple[list[LedgerEntry], ChainHead]:
    """The chain that replaces `entries`: tombstones in `seq` order, then one `erasure` entry."""
    drafts = [
        LedgerDraft(
            id=e.id,
            customer_id=customer_id,
            entry_type=e.entry_type if e.entry_type in KEPT_AS_IS else "tombstone",
            occurred_at=e.occurred_at,
            payload=e.payload if e.entry_type in KEPT_AS_IS else {"entry_type": e.entry_type, "original_hash": e.hash},
            source_event=e.source_event,
            # Kept so a retried dispatch still finds its use recorded.
            request_id=e.request_id,
        )
        for e in sorted(entries, key=lambda e: e.seq)
    ]
    drafts.append(
        LedgerDraft(
            id=erasure_id,
            customer_id=customer_id,
            entry_type="erasure",
            occurred_at=erased_at,
            payload={
                "replaced_entries": len(entries),
                "replaced_head": {"seq": head.seq, "hash": head.hash},
                "suppressed": sorted(set(suppressed)),
            },
        )
    )
    return append(ChainHead(), drafts, erased_at)
