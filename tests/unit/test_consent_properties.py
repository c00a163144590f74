"""Properties of the decision table over arbitrary event sequences (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from winback_consent.domain.decisions import decide
from winback_consent.domain.erasure import tombstone_chain
from winback_consent.domain.ledger import ChainHead, LedgerDraft, append
from winback_consent.domain.model import CHANNELS, CustomerSnapshot, DecisionRequest, LedgerFact, Policy

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CONSENT_BASES = {"express_consent", "existing_customer_exception", "presumed_consent_b2b"}
BLOCKS = ("objection", "no_contact")

channels = st.sampled_from(CHANNELS)
evidence = st.fixed_dictionaries(
    {},
    optional={
        "confirmed_at": st.just("2025-01-01T00:00:00Z"),
        "text_version": st.just("v1"),
        "facts": st.sampled_from(["", "met at the fair"]),
        "obtained_in_sale": st.just(True),
        "opt_out_notice_given": st.just(True),
    },
)
grant_payload = st.fixed_dictionaries(
    {
        "channel": channels,
        "kind": st.sampled_from(["express", "existing_customer_notice", "presumed_b2b"]),
        "purpose": st.sampled_from(["marketing", "marketing", "newsletter"]),
        "evidence": evidence,
    },
    optional={
        "method": st.sampled_from(["double_opt_in", "written", "recorded_call", "web_form"]),
        "categories": st.lists(st.sampled_from(["shoes", "bikes"]), max_size=2),
    },
)
step = st.one_of(
    st.tuples(st.just("grant"), grant_payload),
    st.tuples(st.just("revocation"), st.fixed_dictionaries({"channel": channels, "purpose": st.just("marketing")})),
    st.tuples(
        st.just("objection"),
        st.fixed_dictionaries({"channels": st.lists(st.sampled_from([*CHANNELS, "all"]), min_size=1, max_size=3)}),
    ),
    st.tuples(st.just("no_contact"), st.just({"reason": "no_contact_requested"})),
)
# Steps at non-decreasing day offsets; a gap of 0 makes two facts happen at the same instant.
timeline = st.lists(st.tuples(st.integers(0, 400), step), max_size=12)


def facts_of(steps: list[tuple[int, tuple[str, dict[str, Any]]]], start: datetime = T0) -> list[LedgerFact]:
    facts, moment = [], start
    for seq, (gap, (entry_type, payload)) in enumerate(steps, start=1):
        moment += timedelta(days=gap)
        facts.append(LedgerFact(f"e{seq}", seq, entry_type, moment, payload))  # type: ignore[arg-type]
    return facts


def with_uses(facts: list[LedgerFact]) -> list[LedgerFact]:
    """Uses restart the staleness clock of every grant before them."""
    grants = [f.id for f in facts if f.entry_type == "grant"]
    if not facts:
        return facts
    use = LedgerFact("u1", len(facts) + 1, "use", facts[-1].occurred_at, {"evidence_ids": grants})
    return [*facts, use]


def snapshot(facts: list[LedgerFact], kind: str, **kw: Any) -> CustomerSnapshot:
    bought = {"shoes": T0}
    return CustomerSnapshot("c1", True, kind, tuple(facts), bought, order_times=(T0,), **kw)  # type: ignore[arg-type]


def express_after(facts: list[LedgerFact], channel: str, moment: datetime, at: datetime) -> bool:
    return any(
        f.entry_type == "grant"
        and f.channel == channel
        and f.payload.get("kind") == "express"
        and moment < f.occurred_at <= at
        for f in facts
    )


def blocks(fact: LedgerFact, channel: str) -> bool:
    if fact.entry_type == "no_contact":
        return True
    return fact.entry_type == "objection" and (channel in fact.channels or "all" in fact.channels)


@settings(max_examples=300, deadline=None)
@given(
    timeline,
    st.sampled_from(["consumer", "business"]),
    st.integers(0, 900),
    st.sampled_from([None, "shoes", "bikes"]),
    st.booleans(),
)
def test_no_allow_after_an_objection_without_a_later_express_consent(
    steps: list[Any], kind: str, later: int, offer: str | None, used: bool
) -> None:
    facts = facts_of(steps)
    facts = with_uses(facts) if used else facts
    at = (facts[-1].occurred_at if facts else T0) + timedelta(days=later)
    policy = Policy(exception_after_cancellation=True)
    for channel in CHANNELS:
        decision = decide(snapshot(facts, kind), DecisionRequest("c1", channel, at, offer_category=offer), policy)
        if not decision.allowed:
            continue
        for block in (f for f in facts if blocks(f, channel)):
            assert express_after(facts, channel, block.occurred_at, at), (channel, decision, block)


@settings(max_examples=300, deadline=None)
@given(timeline, st.sampled_from(["consumer", "business"]), st.sampled_from([None, "shoes"]))
def test_every_allow_names_the_grants_it_rests_on(steps: list[Any], kind: str, offer: str | None) -> None:
    facts = facts_of(steps)
    at = (facts[-1].occurred_at if facts else T0) + timedelta(days=1)
    for channel in CHANNELS:
        decision = decide(snapshot(facts, kind), DecisionRequest("c1", channel, at, offer_category=offer), Policy())
        if decision.allowed and decision.basis in CONSENT_BASES:
            grants = {f.id: f for f in facts if f.entry_type == "grant"}
            assert decision.evidence_ids
            assert all(grants[i].channel == channel for i in decision.evidence_ids)
        if not decision.allowed:
            assert decision.evidence_ids == ()


@settings(max_examples=200, deadline=None)
@given(timeline, timeline, st.sampled_from(["consumer", "business"]), st.sampled_from([None, "shoes"]))
def test_erasure_then_reimport_stays_blocked_until_a_new_express_consent(
    before: list[Any], after: list[Any], kind: str, offer: str | None
) -> None:
    drafts = [LedgerDraft(f.id, "c1", f.entry_type, f.occurred_at, f.payload) for f in facts_of(before)]
    entries, head = append(ChainHead(), drafts, T0)
    erased_at = (entries[-1].occurred_at if entries else T0) + timedelta(days=1)
    chain, _ = tombstone_chain(
        entries, head, customer_id="c1", erasure_id="x", erased_at=erased_at, suppressed=["email", "phone", "postal"]
    )
    # The address comes back (customer.upserted with the same identifiers), then more events.
    reimported = [e.as_fact() for e in chain]
    later = [
        LedgerFact(f"r{f.seq}", len(chain) + f.seq, f.entry_type, f.occurred_at, f.payload)
        for f in facts_of(after, erased_at + timedelta(days=1))
    ]
    facts = reimported + later
    at = (facts[-1].occurred_at if facts else erased_at) + timedelta(days=1)
    listed = dict.fromkeys(CHANNELS, erased_at)
    for channel in CHANNELS:
        request = DecisionRequest("c1", channel, at, offer_category=offer)
        decision = decide(snapshot(facts, kind, suppressions=listed), request, Policy())
        if decision.allowed:
            assert express_after(later, channel, erased_at, at)
            assert set(decision.evidence_ids) <= {f.id for f in later}


def _full_use(seq: int, moment: datetime, evidence_ids: list[str], channel: str) -> LedgerFact:
    """A use as the ledger holds it (see `decisions._use`)."""
    payload = {
        "channel": channel,
        "purpose": "marketing",
        "content": "advertising",
        "offer_category": "shoes",
        "basis": "express_consent",
        "evidence_ids": evidence_ids,
        "request_id": f"r{seq}",
    }
    return LedgerFact(f"u{seq}", seq, "use", moment, payload)


@settings(max_examples=300, deadline=None)
@given(
    timeline,
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 800), channels), max_size=4),
    st.sampled_from(["consumer", "business"]),
    st.integers(0, 900),
    st.sampled_from([None, "shoes", "bikes"]),
)
def test_a_snapshot_keeping_only_the_evidence_ids_of_uses_decides_alike(
    steps: list[Any], uses: list[tuple[int, int, str]], kind: str, later: int, offer: str | None
) -> None:
    """Migration 0007: the snapshot's `use` keeps only `evidence_ids`; every decision stays the same."""
    facts = facts_of(steps)
    grants = [f.id for f in facts if f.entry_type == "grant"]
    full = list(facts)
    for n, (pick, days, channel) in enumerate(uses, start=len(facts) + 1):
        full.append(
            _full_use(n, T0 + timedelta(days=days), grants[pick % len(grants) :][:2] if grants else [], channel)
        )
    slim = [
        LedgerFact(f.id, f.seq, f.entry_type, f.occurred_at, {"evidence_ids": f.payload["evidence_ids"]})
        if f.entry_type == "use"
        else f
        for f in full
    ]
    end = max((f.occurred_at for f in full), default=T0)
    for at in (T0 + timedelta(days=later), end + timedelta(days=later)):
        for channel in CHANNELS:
            for purpose in ("marketing", "newsletter"):
                request = DecisionRequest("c1", channel, at, purpose, offer_category=offer)
                policy = Policy(staleness_days=365)
                assert decide(snapshot(full, kind), request, policy) == decide(snapshot(slim, kind), request, policy)
