"""The outside world as campaign's handlers see it (besides storage, `unit_of_work.py`).

The clock is `winback_shared.clock.Clock`. Publishing goes through the unit of work's outbox;
what a handler may do after its commit is nudge the relay (and other workers), given to it as
`AfterCommit` callbacks so nothing waits for the next poll.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from winback_campaign.domain.actions import ConsentDecision, ConsentRequest

# Called once a transaction that wrote to the outbox (or made steps due) committed.
AfterCommit = Callable[[], None]


class Consent(Protocol):
    """The consent service's batch decision, asked right before contacts are made."""

    async def decide(self, requests: Sequence[ConsentRequest]) -> dict[str, ConsentDecision]:
        """A decision per request id; raises `ConsentUnavailable` when there is no usable answer."""
        ...

    async def close(self) -> None: ...
