"""Business keys: which events state the same fact, and which of them risk folds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from winback_risk.domain.facts import fact_key, facts_of_batch, first_statements
from winback_shared.events import keys
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.registry import parse_event

T = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _event(type_: str, at: datetime = T, source: str = "/shop", **data: Any) -> CloudEvent:
    return parse_event(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": source,
            "type": type_,
            "time": at.isoformat(),
            "data": {"customer_id": "c1", **data},
        }
    )


def test_a_return_is_its_order_and_the_senders_return_id_or_its_time() -> None:
    plain = _event("order.returned", order_id="o1", amount="5")
    again = _event("order.returned", source="/erp", order_id="o1", amount="5")
    later = _event("order.returned", T + timedelta(seconds=1), order_id="o1", amount="5")
    named = _event("order.returned", order_id="o1", amount="5", return_id="r-2")
    assert keys.return_key(plain) == keys.return_key(again) == f"at:{keys.micros(T)}"
    assert keys.return_key(later) != keys.return_key(plain)
    assert keys.return_key(named) == "id:r-2"


def test_micros_are_exact_unix_microseconds() -> None:
    assert keys.micros(datetime(1970, 1, 1, 0, 0, 1, 7, tzinfo=UTC)) == 1_000_007
    assert keys.micros(datetime(1, 1, 1, tzinfo=UTC)) == -62_135_596_800_000_000


def test_scoped_keys_cannot_collide_across_customers() -> None:
    assert keys.scoped("ab", "c") != keys.scoped("a", "bc")


def test_only_the_first_statement_of_a_fact_new_to_the_store_is_folded() -> None:
    first = _event("order.placed", order_id="o1", amount="100")
    resent = _event("order.placed", source="/erp", order_id="o1", amount="100")
    corrected = _event("order.placed", order_id="o1", amount="500")
    known = _event("order.placed", order_id="o0", amount="50")
    ticket = _event("ticket.opened", ticket_id="t1", category="complaint")
    ticket_again = _event("ticket.opened", ticket_id="t1", category="complaint")
    profile = _event("customer.upserted", name="X")
    batch = [first, resent, corrected, known, ticket, ticket_again, profile]

    orders, signals = facts_of_batch(batch)
    assert [(o.order_id, str(o.amount)) for o in orders] == [("o1", "100"), ("o0", "50")]
    assert [s.key for s in signals] == ["t1"]

    # o0 was stored by an earlier batch: the insert returned only o1 and the ticket as new.
    stored = {k for k in (fact_key(first), fact_key(ticket)) if k is not None}
    assert first_statements(batch, stored) == [first, ticket, profile]
