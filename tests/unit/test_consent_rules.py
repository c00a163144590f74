"""The decision table of consent-rules.md, one case per row (first matching row wins)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from winback_consent.domain.decisions import decide, months_before
from winback_consent.domain.model import (
    ContractEvent,
    CustomerSnapshot,
    DecisionRequest,
    EntryType,
    LedgerFact,
    Policy,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
DOI: dict[str, Any] = {
    "method": "double_opt_in",
    "evidence": {"confirmed_at": "2025-01-01T00:05:00Z", "text_version": "v1"},
}
NOTICE: dict[str, Any] = {
    "kind": "existing_customer_notice",
    "evidence": {"obtained_in_sale": True, "opt_out_notice_given": True},
}


def fact(id: str, entry_type: EntryType, days: float = 0, **payload: Any) -> LedgerFact:
    """A ledger fact `days` after T0 (negative: before)."""
    seq = int(id.lstrip("e") or 0)
    return LedgerFact(id, seq, entry_type, T0 + timedelta(days=days), payload)


def grant(id: str, channel: str, days: float = 0, **payload: Any) -> LedgerFact:
    return fact(id, "grant", days, channel=channel, **({"kind": "express", "purpose": "marketing"} | payload))


def customer(*entries: LedgerFact, **kw: Any) -> CustomerSnapshot:
    return CustomerSnapshot("c1", known=kw.pop("known", True), entries=entries, **kw)


@dataclass(frozen=True)
class Case:
    row: str
    snapshot: CustomerSnapshot
    channel: str
    expected: tuple[bool, str, list[str]]
    content: str = "advertising"
    offer_category: str | None = None
    at: datetime = NOW
    policy: Policy = field(default_factory=Policy)


BOUGHT = {"shoes": T0 - timedelta(days=10)}
CANCELLED = (
    ContractEvent("k1", "started", T0 - timedelta(days=400)),
    ContractEvent("k1", "cancelled", T0 - timedelta(days=5)),
)

CASES = [
    Case(
        "1 unknown customer",
        customer(grant("e1", "email", **DOI), known=False),
        "email",
        (False, "unknown_customer", []),
    ),
    Case(
        "2 service message despite objection",
        customer(fact("e1", "objection", channels=["all"])),
        "email",
        (True, "service_message", []),
        content="service",
    ),
    Case(
        "3 no contact requested",
        customer(grant("e1", "email", **DOI), fact("e2", "no_contact", 1)),
        "email",
        (False, "no_contact_requested", []),
    ),
    Case(
        "3 lifted by a later express consent",
        customer(fact("e1", "no_contact"), grant("e2", "email", 1, **DOI)),
        "email",
        (True, "express_consent", ["e2"]),
    ),
    Case(
        "4 objection for the channel",
        customer(grant("e1", "email", **DOI), fact("e2", "objection", 1, channels=["email"])),
        "email",
        (False, "objection", []),
    ),
    Case(
        "4 objection for all",
        customer(
            grant("e1", "sms", method="written", evidence={"text_version": "v1"}),
            fact("e2", "objection", 1, channels=["all"]),
        ),
        "sms",
        (False, "objection", []),
    ),
    Case(
        "4 lifted by a later express consent",
        customer(fact("e1", "objection", channels=["email"]), grant("e2", "email", 1, **DOI)),
        "email",
        (True, "express_consent", ["e2"]),
    ),
    Case(
        "4 objection for another channel does not block",
        customer(grant("e1", "email", **DOI), fact("e2", "objection", 1, channels=["phone"])),
        "email",
        (True, "express_consent", ["e1"]),
    ),
    Case(
        "5 suppressed address",
        customer(grant("e1", "email", **DOI), suppressions={"email": T0 + timedelta(days=1)}),
        "email",
        (False, "suppressed", []),
    ),
    Case(
        "5 suppressed phone number blocks sms too",
        customer(
            grant("e1", "sms", method="written", evidence={"text_version": "v1"}),
            suppressions={"sms": T0 + timedelta(days=1)},
        ),
        "sms",
        (False, "suppressed", []),
    ),
    Case(
        "5 lifted by an express consent given after the entry",
        customer(grant("e1", "email", 2, **DOI), suppressions={"email": T0 + timedelta(days=1)}),
        "email",
        (True, "express_consent", ["e1"]),
    ),
    Case(
        "5 not lifted by the §7(3) notice",
        customer(
            grant("e1", "email", 2, **NOTICE),
            categories=BOUGHT,
            order_times=(T0,),
            suppressions={"email": T0 + timedelta(days=1)},
        ),
        "email",
        (False, "suppressed", []),
        offer_category="shoes",
    ),
    Case(
        "5 blocks post, which needs no consent otherwise",
        customer(suppressions={"post": T0}),
        "post",
        (False, "suppressed", []),
    ),
    Case(
        "5 an entry listed after the decision moment does not apply yet",
        customer(grant("e1", "email", **DOI), suppressions={"email": NOW + timedelta(days=1)}),
        "email",
        (True, "express_consent", ["e1"]),
    ),
    Case("6 e-mail DOI confirmed", customer(grant("e1", "email", **DOI)), "email", (True, "express_consent", ["e1"])),
    Case(
        "6 e-mail written",
        customer(grant("e1", "email", method="written", evidence={"document_ref": "d"})),
        "email",
        (True, "express_consent", ["e1"]),
    ),
    Case(
        "7 e-mail web form unconfirmed",
        customer(grant("e1", "email", method="web_form", evidence={})),
        "email",
        (False, "double_opt_in_pending", []),
    ),
    Case(
        "8 existing customer exception",
        customer(grant("e1", "email", **NOTICE), categories=BOUGHT, order_times=(T0 - timedelta(days=10),)),
        "email",
        (True, "existing_customer_exception", ["e1"]),
        offer_category="shoes",
    ),
    Case(
        "9 relationship ended",
        customer(grant("e1", "email", **NOTICE), categories=BOUGHT, contract_events=CANCELLED),
        "email",
        (False, "relationship_ended", []),
        offer_category="shoes",
    ),
    Case(
        "9 exception after cancellation allowed by policy",
        customer(grant("e1", "email", **NOTICE), categories=BOUGHT, contract_events=CANCELLED),
        "email",
        (True, "existing_customer_exception", ["e1"]),
        offer_category="shoes",
        policy=Policy(exception_after_cancellation=True),
    ),
    Case(
        "10 offer category not bought",
        customer(grant("e1", "email", **NOTICE), categories=BOUGHT),
        "email",
        (False, "exception_conditions_not_met", []),
        offer_category="bikes",
    ),
    Case(
        "11 sms with method and wording",
        customer(grant("e1", "sms", method="written", evidence={"text_version": "v1"})),
        "sms",
        (True, "express_consent", ["e1"]),
    ),
    Case(
        "11 sms without wording",
        customer(grant("e1", "sms", method="written", evidence={})),
        "sms",
        (False, "no_consent", []),
    ),
    Case(
        "12 phone consumer, recorded call",
        customer(grant("e1", "phone", method="recorded_call", evidence={"recording_ref": "r", "text_version": "v1"})),
        "phone",
        (True, "express_consent", ["e1"]),
    ),
    Case(
        "13 phone consumer, only a DOI e-mail",
        customer(grant("e1", "phone", **DOI)),
        "phone",
        (False, "consent_undocumented", []),
    ),
    Case(
        "14 phone business, presumed consent",
        customer(
            grant("e1", "phone", kind="presumed_b2b", evidence={"facts": "asked for a call at the fair"}),
            kind="business",
        ),
        "phone",
        (True, "presumed_consent_b2b", ["e1"]),
    ),
    Case(
        "14 presumed consent never for consumers",
        customer(grant("e1", "phone", kind="presumed_b2b", evidence={"facts": "x"})),
        "phone",
        (False, "no_consent", []),
    ),
    Case("15 post", customer(), "post", (True, "postal_legitimate_interest", [])),
    Case(
        "16 revoked",
        customer(grant("e1", "email", **DOI), fact("e2", "revocation", 1, channel="email", purpose="marketing")),
        "email",
        (False, "consent_revoked", []),
    ),
    Case("16 nothing on file", customer(), "email", (False, "no_consent", [])),
    Case(
        "16 consent given after the decision moment",
        customer(grant("e1", "email", 60, **DOI)),
        "email",
        (False, "no_consent", []),
    ),
    Case(
        "staleness: express consent older than 730 days",
        customer(grant("e1", "email", -800, **DOI)),
        "email",
        (False, "consent_stale", []),
    ),
    Case(
        "staleness: counted from the last use",
        customer(grant("e1", "email", -800, **DOI), fact("e2", "use", -100, channel="email", evidence_ids=["e1"])),
        "email",
        (True, "express_consent", ["e1"]),
    ),
]


BUSINESS_PRESUMED: dict[str, Any] = {"kind": "presumed_b2b", "evidence": {"facts": "asked for an offer at the fair"}}

# The notes that bind the implementation (consent-rules.md), one case each.
NOTES = [
    Case(
        "note: a DOI e-mail confirmation proves e-mail consent only, never phone",
        customer(grant("e1", "email", **DOI)),
        "phone",
        (False, "no_consent", []),
    ),
    Case(
        "note: a DOI never proves phone consent, for a business neither",
        customer(grant("e1", "phone", **DOI), kind="business"),
        "phone",
        (False, "no_consent", []),
    ),
    Case(
        "note: presumed_b2b never for consumers",
        customer(grant("e1", "phone", **BUSINESS_PRESUMED)),
        "phone",
        (False, "no_consent", []),
    ),
    Case(
        "note: presumed_b2b never for e-mail",
        customer(grant("e1", "email", **BUSINESS_PRESUMED), kind="business"),
        "email",
        (False, "no_consent", []),
    ),
    Case(
        "note: presumed_b2b never for sms",
        customer(grant("e1", "sms", **BUSINESS_PRESUMED), kind="business"),
        "sms",
        (False, "no_consent", []),
    ),
    Case(
        "note: presumed_b2b never for fax",
        customer(grant("e1", "fax", **BUSINESS_PRESUMED), kind="business"),
        "fax",
        (False, "no_consent", []),
    ),
    Case(
        "note: a new purchase does not cancel an objection",
        customer(
            grant("e1", "email", **NOTICE),
            fact("e2", "objection", 1, channels=["email"]),
            categories={"shoes": T0 + timedelta(days=2)},
            order_times=(T0 + timedelta(days=2),),
        ),
        "email",
        (False, "objection", []),
        offer_category="shoes",
    ),
    Case(
        "note: the §7(3) exception covers e-mail only",
        customer(grant("e1", "sms", **NOTICE), categories=BOUGHT, order_times=(T0,)),
        "sms",
        (False, "no_consent", []),
        offer_category="shoes",
    ),
    Case(
        "note: the §7(3) exception is lost at the first objection, even once it is lifted",
        customer(
            grant("e1", "email", **NOTICE),
            fact("e2", "objection", 1, channels=["email"]),
            grant("e3", "email", 2, method="web_form", evidence={"text_version": "v1"}),
            categories=BOUGHT,
            order_times=(T0,),
        ),
        "email",
        (False, "double_opt_in_pending", []),
        offer_category="shoes",
    ),
    Case(
        "note: an objection for another channel keeps the §7(3) exception",
        customer(
            grant("e1", "email", **NOTICE),
            fact("e2", "objection", 1, channels=["sms"]),
            categories=BOUGHT,
            order_times=(T0,),
        ),
        "email",
        (True, "existing_customer_exception", ["e1"]),
        offer_category="shoes",
    ),
]


@pytest.mark.parametrize("case", CASES + NOTES, ids=[c.row for c in CASES + NOTES])
def test_decision_table(case: Case) -> None:
    request = DecisionRequest(
        "c1",
        case.channel,
        case.at,
        content=case.content,  # type: ignore[arg-type]
        offer_category=case.offer_category,
    )
    decision = decide(case.snapshot, request, case.policy)
    allowed, basis_or_reason, evidence_ids = case.expected
    assert decision.allowed is allowed
    assert (decision.basis if allowed else decision.reason) == basis_or_reason
    assert (decision.reason if allowed else decision.basis) is None
    assert list(decision.evidence_ids) == evidence_ids


def test_relationship_window_counts_calendar_months() -> None:
    assert months_before(datetime(2025, 3, 31, tzinfo=UTC), 1) == datetime(2025, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2025, 1, 15, tzinfo=UTC), 24) == datetime(2023, 1, 15, tzinfo=UTC)
