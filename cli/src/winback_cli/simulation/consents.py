"""The simulator's own record of consents, objections and uses, and the basis it gives (consent-rules.md).

This is the truth the report checks every triggered action against. It follows the decision table
of spec/consent-rules.md over what the simulated customers really did; times are float days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STALE_DAYS = 730.0
RELATIONSHIP_WINDOW_DAYS = 730.0
DOCUMENTED_PHONE_METHODS = frozenset({"recorded_call", "written", "web_form"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One fact of the record: a grant, revocation, objection, cancellation without contact, use or erasure."""

    at: float
    what: str  # grant | revoke | objection | no_contact | erasure
    channel: str  # a channel, or "all"
    kind: str | None = None  # express | existing_customer_notice | presumed_b2b
    method: str | None = None
    confirmed: bool = False
    text_version: str | None = None
    facts: str | None = None
    note: str | None = None


@dataclass
class Relationship:
    """What consent needs to know about the relationship: contracts and purchases over time."""

    contract: bool
    # Contract spells as (start, effective end or None): the relationship is active inside one.
    contract_spells: list[tuple[float, float | None]] = field(default_factory=list)
    order_times: list[float] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)

    def active(self, at: float) -> bool:
        """Whether the relationship runs at `at` (a contract in force, or a purchase within the window)."""
        if self.contract:
            return any(s <= at and (e is None or at < e) for s, e in self.contract_spells)
        return any(at - RELATIONSHIP_WINDOW_DAYS <= t <= at for t in self.order_times)


@dataclass
class ConsentRecord:
    """Append-only facts of one customer; `basis` answers as the decision table would."""

    kind: str  # consumer | business
    relationship: Relationship
    entries: list[Entry] = field(default_factory=list)
    uses: dict[str, list[float]] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        """Append a fact (never changed later)."""
        self.entries.append(entry)

    def use(self, channel: str, at: float) -> None:
        """Record a contact made on the channel (a use keeps an express consent fresh)."""
        self.uses.setdefault(channel, []).append(at)

    def objected(self, channel: str, at: float) -> bool:
        """Whether an objection (or a cancellation forbidding contact) stands for the channel at `at`."""
        return any(
            e.at <= at and (e.what == "no_contact" or (e.what == "objection" and e.channel in (channel, "all")))
            for e in self.entries
        )

    def erased_at(self) -> float | None:
        """When the customer was erased, if so."""
        return next((e.at for e in self.entries if e.what == "erasure"), None)

    def basis(
        self, channel: str, at: float, offer_category: str | None = None, *, category_unknown: bool = False
    ) -> str | None:
        """The legal basis for advertising on `channel` at `at`, or None (DENY).

        The §7(3) exception needs the offer's category among those bought (row 10: none given is a DENY);
        `category_unknown` lets a caller who cannot know the category (an action on the wire) skip that test.
        """
        # In the order the facts happened: they are recorded when drawn (a DOI confirmation is drawn at
        # sign-up, a revocation between the two later), and consent applies them in time order.
        past = sorted((e for e in self.entries if e.at <= at), key=lambda e: e.at)
        if any(e.what == "erasure" for e in past):
            return None
        grants = self._live_grants(past, channel, at)
        express = [g for g in grants if g.kind == "express"]

        def lifted(after: float) -> bool:
            return any(g.at > after for g in express)

        for e in past:
            if e.what == "no_contact" and not lifted(e.at):
                return None
            if e.what == "objection" and e.channel in (channel, "all") and not lifted(e.at):
                return None
        if channel == "email":
            if any(g.method in ("double_opt_in", "written", "web_form") and g.confirmed for g in express):
                return "express_consent"
            if express:
                return None  # double_opt_in_pending
            # §7(3) UWG: lost once the customer objected to *this* use (e-mail or all channels), for good;
            # an objection to letters alone leaves it (consent-rules.md, and consent's decision table).
            ever_objected = any(
                e.what == "no_contact" or (e.what == "objection" and e.channel in ("email", "all")) for e in past
            )
            if ever_objected or not any(g.kind == "existing_customer_notice" for g in grants):
                return None
            if not category_unknown and offer_category not in self.relationship.categories:
                return None
            return "existing_customer_exception" if self.relationship.active(at) else None
        if channel in ("sms", "messenger", "fax", "automated_call"):
            return "express_consent" if any(g.method and g.text_version for g in express) else None
        if channel == "phone":
            if self.kind == "business":
                if any(g.method != "double_opt_in" for g in express):
                    return "express_consent"
                return "presumed_consent_b2b" if any(g.kind == "presumed_b2b" and g.facts for g in grants) else None
            documented = [g for g in express if g.method in DOCUMENTED_PHONE_METHODS and g.text_version]
            return "express_consent" if documented else None
        if channel == "post":
            return "postal_legitimate_interest"
        return None

    def _live_grants(self, past: list[Entry], channel: str, at: float) -> list[Entry]:
        """Grants of the channel not revoked later and, for express consents, not stale."""
        live: list[Entry] = []
        for e in past:
            if e.channel != channel:
                continue
            if e.what == "grant":
                live.append(e)
            elif e.what == "revoke":
                live = [g for g in live if g.kind != "express"]
        fresh = []
        for g in live:
            last_use = max((u for u in self.uses.get(channel, ()) if g.at <= u <= at), default=g.at)
            if g.kind == "express" and at - last_use > STALE_DAYS:
                continue
            fresh.append(g)
        return fresh
