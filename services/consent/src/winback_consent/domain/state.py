"""Folding the ledger into the state of one channel at one moment (state is derived on read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from winback_consent.domain.model import ALL_CHANNELS, CustomerSnapshot, LedgerFact, Policy


@dataclass(slots=True)
class ChannelState:
    """Grants in force for one channel and purpose, and the blocks that apply to that channel."""

    express: list[LedgerFact] = field(default_factory=list)
    notice: list[LedgerFact] = field(default_factory=list)
    presumed: list[LedgerFact] = field(default_factory=list)
    revoked: bool = False
    objections: list[LedgerFact] = field(default_factory=list)
    no_contacts: list[LedgerFact] = field(default_factory=list)
    last_use: dict[str, datetime] = field(default_factory=dict)

    def last_activity(self, grant: LedgerFact) -> datetime:
        """Staleness counts from the grant or its last recorded use, whichever is later."""
        used = self.last_use.get(grant.id)
        return max(grant.occurred_at, used) if used else grant.occurred_at

    def is_fresh(self, grant: LedgerFact, at: datetime, policy: Policy) -> bool:
        return at - self.last_activity(grant) <= timedelta(days=policy.staleness_days)

    def expires_at(self, grant: LedgerFact, policy: Policy) -> datetime:
        return self.last_activity(grant) + timedelta(days=policy.staleness_days)

    def express_after(self, moment: datetime, at: datetime, policy: Policy) -> bool:
        """A fresh express consent for this channel given after `moment` lifts a block."""
        return any(g.occurred_at > moment and self.is_fresh(g, at, policy) for g in self.express)


def facts_until(snapshot: CustomerSnapshot, at: datetime) -> list[LedgerFact]:
    """The ledger as it stood at `at`, in the order the facts happened."""
    return sorted((f for f in snapshot.entries if f.occurred_at <= at), key=lambda f: (f.occurred_at, f.seq))


def channel_state(snapshot: CustomerSnapshot, channel: str, purpose: str, at: datetime) -> ChannelState:
    """Replay the ledger up to `at` for one channel and purpose."""
    state = ChannelState()
    for fact in facts_until(snapshot, at):
        payload_purpose = fact.payload.get("purpose", "marketing")
        if fact.entry_type == "grant" and fact.channel == channel and payload_purpose == purpose:
            kind = fact.payload.get("kind")
            target = {"express": state.express, "existing_customer_notice": state.notice}.get(str(kind), state.presumed)
            target.append(fact)
            state.revoked = False
        elif fact.entry_type == "revocation" and fact.channel == channel and payload_purpose == purpose:
            # A withdrawal ends every consent for this channel and purpose given before it.
            state.express.clear()
            state.notice.clear()
            state.presumed.clear()
            state.revoked = True
        elif fact.entry_type == "objection" and (channel in fact.channels or ALL_CHANNELS in fact.channels):
            state.objections.append(fact)
        elif fact.entry_type == "no_contact":
            state.no_contacts.append(fact)
        elif fact.entry_type == "use":
            for evidence_id in fact.payload.get("evidence_ids", []):
                previous = state.last_use.get(evidence_id)
                state.last_use[evidence_id] = max(previous, fact.occurred_at) if previous else fact.occurred_at
    return state
