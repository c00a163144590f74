"""The simulated business: customers whose behaviour follows a known model (pure, no I/O, no wall clock).

The driver (`driver.py`) asks for each day's events, publishes them through ingest, and feeds back
what the services decided (`on_campaign_event`, `on_action`); `truth()` says what really happened.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from winback_cli.simulation.params import SimParams

SOURCE = "/simulation"


class Business:
    """A seeded population of consumers and businesses, advanced one day at a time."""

    def __init__(
        self, *, customers: int, seed: int, start: datetime, end: datetime, params: SimParams | None = None
    ) -> None:
        self.customers = customers
        self.seed = seed
        self.start = start.astimezone(UTC)
        self.end = end.astimezone(UTC)
        self.params = params or SimParams()
        self._rng = random.Random(seed)
        self._playbooks: list[dict[str, Any]] = []
        self._joined = {
            f"sim-{i:06d}": self.start + timedelta(days=self._rng.uniform(0, self.params.join_window_days))
            for i in range(customers)
        }

    def events_for_day(self, day: date) -> list[dict[str, Any]]:
        """CloudEvents (JSON-ready dicts as ingest's POST /v1/events takes them) happening on `day` (UTC),
        in sending order, each with a unique id and a `time` inside that day."""
        begin = datetime.combine(day, time(), tzinfo=UTC)
        events = []
        for cid, joined in self._joined.items():
            if begin <= joined < begin + timedelta(days=1):
                events.append(
                    {
                        "specversion": "1.0",
                        "id": f"{cid}:upserted:0",
                        "source": SOURCE,
                        "type": "customer.upserted",
                        "time": joined.isoformat(),
                        "data": {"customer_id": cid, "kind": "consumer"},
                    }
                )
        return sorted(events, key=lambda e: e["time"])

    def on_campaign_event(self, event: dict[str, Any]) -> None:
        """A CloudEvent read from `winback.campaign` (campaign.enrolled with holdout flag, playbook_id,
        variant; campaign.exited)."""

    def on_action(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """A CloudEvent read from `winback.actions`, as a campaign tool sees it; returns the tool's
        feedback events (`campaign.response`, a DOI confirmation) to publish, each timed at or after
        the action. Contacts change this customer's future in later days' events."""
        return []

    def playbooks_seen(self, playbooks: list[dict[str, Any]]) -> None:
        """The shipped playbooks as `GET /v1/playbooks` returns them (passed once at start), so the
        counterfactual contacts of held-out customers can be derived."""
        self._playbooks = list(playbooks)

    def erasures_for_day(self, day: date) -> list[tuple[str, datetime]]:
        """GDPR erasure requests made on `day`: (customer_id, when); the driver sends them as
        `DELETE /v1/customers/{id}` to consent (erasure is an API call, not an event)."""
        return []

    def truth(self) -> dict[str, Any]:
        """truth.json: what really happened, the true uplift, and every model parameter."""
        return {
            "customers": self.customers,
            "seed": self.seed,
            "uplift": {"overall": {"true": 0.0}, "by_playbook": {}},
            "churned": {},
            "returned": {},
            "params": self.params.as_dict(),
        }

    def consent_basis_at(self, customer_id: str, channel: str, at: datetime) -> str | None:
        """The basis the simulator's own record gives for contacting this customer on this channel at
        `at` (None = no basis: objected, unsubscribed, never consented)."""
        return None
