"""The decision table of consent-rules.md as pure functions: first matching row wins, default DENY."""

from __future__ import annotations

import calendar
from datetime import datetime

from winback_consent.domain.model import ContractEvent, CustomerSnapshot, Decision, DecisionRequest, LedgerFact, Policy
from winback_consent.domain.state import ChannelState, channel_state

# Channels whose express consent needs a method and the consent wording (row 11).
WORDED_CHANNELS = frozenset({"sms", "messenger", "fax", "automated_call"})
# Proof a consumer's phone consent needs under §7a UWG (row 12); a DOI e-mail never proves phone consent.
DOCUMENTED_PHONE_METHODS = frozenset({"recorded_call", "written", "web_form"})


def decide_after(
    snapshot: CustomerSnapshot, request: DecisionRequest, policy: Policy, *, cause_applied: bool
) -> Decision:
    """`decide`, once the event the question rests on is applied here; "not yet" (retry) before.

    Every topic is keyed by customer and read in order, so once the named event is applied,
    everything earlier about the customer is too: a customer still unknown then is really unknown.
    """
    if not cause_applied:
        return Decision.not_yet()
    return decide(snapshot, request, policy)


def decide(snapshot: CustomerSnapshot, request: DecisionRequest, policy: Policy) -> Decision:
    """Whether advertising contact on `request.channel` is lawful at `request.at`, and on which basis."""
    at = request.at
    if not snapshot.known:
        return Decision.deny("unknown_customer")  # row 1
    if request.content == "service":
        return Decision.allow("service_message")  # row 2
    state = channel_state(snapshot, request.channel, request.purpose, at)
    if any(not state.express_after(f.occurred_at, at, policy) for f in state.no_contacts):
        return Decision.deny("no_contact_requested")  # row 3
    if any(not state.express_after(f.occurred_at, at, policy) for f in state.objections):
        return Decision.deny("objection")  # row 4
    suppressed_at = snapshot.suppressions.get(request.channel)
    if suppressed_at is not None and suppressed_at <= at and not state.express_after(suppressed_at, at, policy):
        return Decision.deny("suppressed")  # row 5
    fresh = [g for g in state.express if state.is_fresh(g, at, policy)]
    decision = _by_channel(snapshot, request, policy, state, fresh)
    if decision is not None:
        return decision
    # Row 16, with the staleness rule: a stale express consent that was the only basis.
    if state.express and not fresh:
        return Decision.deny("consent_stale")
    return Decision.deny("consent_revoked" if state.revoked else "no_consent")


def _by_channel(
    snapshot: CustomerSnapshot, request: DecisionRequest, policy: Policy, state: ChannelState, fresh: list[LedgerFact]
) -> Decision | None:
    channel = request.channel
    if channel == "email":
        return _email(snapshot, request, policy, state, fresh)
    if channel in WORDED_CHANNELS:
        worded = [g for g in fresh if g.payload.get("method") and g.evidence.get("text_version")]
        return Decision.allow("express_consent", *_ids(worded)) if worded else None  # row 11
    if channel == "phone":
        return _phone(snapshot, state, fresh)
    if channel == "post":
        return Decision.allow("postal_legitimate_interest")  # row 15
    return None


def _email(
    snapshot: CustomerSnapshot, request: DecisionRequest, policy: Policy, state: ChannelState, fresh: list[LedgerFact]
) -> Decision | None:
    confirmed = [g for g in fresh if _email_confirmed(g)]
    if confirmed:
        return Decision.allow("express_consent", *_ids(confirmed))  # row 6
    if any(g.payload.get("method") in ("double_opt_in", "web_form") for g in fresh):
        return Decision.deny("double_opt_in_pending")  # row 7
    # The §7(3) exception is lost at the first objection, even one later lifted by an express consent.
    if not state.notice or state.objections or state.no_contacts:
        return None
    notice = state.notice[-1]
    bought = {c for c, first in snapshot.categories.items() if first <= request.at}
    bought.update(str(c) for c in notice.payload.get("categories", []))
    if request.offer_category is None or request.offer_category not in bought:
        return Decision.deny("exception_conditions_not_met")  # row 10
    if relationship_ended(snapshot, request.at, policy) and not policy.exception_after_cancellation:
        return Decision.deny("relationship_ended")  # row 9
    return Decision.allow("existing_customer_exception", notice.id)  # row 8


def _email_confirmed(grant: LedgerFact) -> bool:
    method = grant.payload.get("method")
    if method == "written":
        return True
    # A web form confirmed by a DOI link counts as a DOI; unconfirmed it stays pending (row 7).
    return method in ("double_opt_in", "web_form") and bool(grant.evidence.get("confirmed_at"))


def _phone(snapshot: CustomerSnapshot, state: ChannelState, fresh: list[LedgerFact]) -> Decision | None:
    if snapshot.kind == "business":
        # A DOI e-mail confirmation never proves phone consent (BGH I ZR 164/09), for businesses neither.
        proven = [g for g in fresh if g.payload.get("method") != "double_opt_in"]
        if proven:
            return Decision.allow("express_consent", *_ids(proven))  # row 14
        presumed = [g for g in state.presumed if g.payload.get("kind") == "presumed_b2b" and _has_facts(g)]
        return Decision.allow("presumed_consent_b2b", *_ids(presumed)) if presumed else None  # row 14
    documented = [
        g for g in fresh if g.payload.get("method") in DOCUMENTED_PHONE_METHODS and g.evidence.get("text_version")
    ]
    if documented:
        return Decision.allow("express_consent", *_ids(documented))  # row 12
    if fresh:
        return Decision.deny("consent_undocumented")  # row 13
    return None


def _has_facts(grant: LedgerFact) -> bool:
    facts = grant.evidence.get("facts")
    return isinstance(facts, str) and bool(facts.strip())


def _ids(grants: list[LedgerFact]) -> list[str]:
    return [g.id for g in grants]


def relationship_ended(snapshot: CustomerSnapshot, at: datetime, policy: Policy) -> bool:
    """Row 9: cancelled with no active contract, or (no contracts) no purchase within the window."""
    latest: dict[str, ContractEvent] = {}
    for event in sorted(snapshot.contract_events, key=lambda e: e.occurred_at):
        if event.occurred_at <= at:
            latest[event.contract_id] = event
    if latest:
        return not any(
            e.kind != "cancelled" or (e.effective_at is not None and e.effective_at > at) for e in latest.values()
        )
    window_start = months_before(at, policy.relationship_window_months)
    return not any(window_start <= t <= at for t in snapshot.order_times)


def months_before(moment: datetime, months: int) -> datetime:
    """The same day `months` calendar months earlier (clamped to that month's last day)."""
    year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)
