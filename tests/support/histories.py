"""A customer's history, told the way a win-back manager would tell it, relative to a moment.

    Customer("acme", kind="business").with_profile(account_manager="Petra Klein")
        .ordered(2_000, every=MONTH, times=24, last=days(40))
        .contract(4_000, started=months(20))
        .cancels("competitor")

Every fact is placed at an offset before the moment the history is played (`events(moment)`),
so the same story can be told at whatever time the services' clocks show.
"""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MONTH = timedelta(days=30)
_ids = itertools.count(1)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def months(n: float) -> timedelta:
    return n * MONTH


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@dataclass(frozen=True)
class Fact:
    ago: timedelta
    type: str
    data: dict[str, Any]
    source: str
    # Fields holding a date, as an offset from the moment (positive: after it), e.g. a contract's end.
    dates: tuple[tuple[str, timedelta], ...] = ()


@dataclass
class Customer:
    """One customer's facts; each method adds some and returns the customer, so a story reads top-down."""

    customer_id: str
    kind: str = "consumer"
    facts: list[Fact] = field(default_factory=list)
    profile: dict[str, Any] | None = None

    def _add(
        self, ago: timedelta, type_: str, source: str, dates: tuple[tuple[str, timedelta], ...] = (), **data: Any
    ) -> Customer:
        self.facts.append(Fact(ago, type_, {"customer_id": self.customer_id, **data}, source, dates))
        return self

    def with_profile(self, *, name: str = "Kundin Muster", **extra: Any) -> Customer:
        """Name, e-mail, postal address, kind (and e.g. account_manager), known a day before the first fact."""
        self.profile = {
            "customer_id": self.customer_id,
            "kind": self.kind,
            "name": name,
            "email": f"{self.customer_id}@example.org",
            "language": "de",
            "postal_address": {"street": "Hauptstrasse 1", "postal_code": "10115", "city": "Berlin", "country": "DE"},
            **extra,
        }
        return self

    def ordered(
        self,
        amount: float,
        *,
        every: timedelta = MONTH,
        times: int = 1,
        last: timedelta = days(1),
        margin: float = 0.3,
        spread: float = 0.0,
    ) -> Customer:
        """`times` orders of `amount` EUR, `every` apart, the latest `last` before the moment.

        `spread`: each order's amount varies by up to this share around `amount` (the same for the same
        customer id), as real baskets do; with none, every order is worth exactly the same, a limit the
        spend model treats as degenerate (it then uses its prior)."""
        rng = random.Random(self.customer_id)
        for i in range(times):
            value = amount * (1.0 + spread * rng.uniform(-1.0, 1.0))
            self._add(
                last + i * every,
                "order.placed",
                "/scenario/shop",
                order_id=f"{self.customer_id}-o{next(_ids)}",
                amount=f"{value:.2f}",
                margin=f"{value * margin:.2f}",
                category="software",
            )
        return self

    def contract(
        self,
        monthly_value: float | None = None,
        *,
        started: timedelta,
        ends_in: timedelta | None = None,
        contract_id: str = "k1",
    ) -> Customer:
        """A contract since `started` ago, paying `monthly_value` EUR a month (none: a framework
        agreement the customer orders under); `ends_in` after the moment, if it has an end date."""
        data: dict[str, Any] = {"contract_id": f"{self.customer_id}-{contract_id}", "product": "pro"}
        if monthly_value is not None:
            data["monthly_value"] = f"{monthly_value:.2f}"
        dates = (("end_date", ends_in),) if ends_in is not None else ()
        return self._add(started, "contract.started", "/scenario/billing", dates, **data)

    def ticket(self, category: str = "complaint", *, opened: timedelta, resolved: timedelta | None = None) -> Customer:
        """A support ticket, still open unless `resolved` (ago) is given."""
        ticket_id = f"{self.customer_id}-t{next(_ids)}"
        self._add(opened, "ticket.opened", "/scenario/tickets", ticket_id=ticket_id, category=category)
        if resolved is not None:
            self._add(resolved, "ticket.resolved", "/scenario/tickets", ticket_id=ticket_id, outcome="solved")
        return self

    def survey(self, survey: str, score: int, *, ago: timedelta) -> Customer:
        return self._add(ago, "survey.answered", "/scenario/surveys", survey=survey, score=score)

    def confirmed_email_consent(self, *, ago: timedelta) -> Customer:
        """Express e-mail consent by double opt-in, confirmed, with its evidence."""
        return self._add(
            ago,
            "consent.granted",
            "/scenario/crm",
            channel="email",
            kind="express",
            method="double_opt_in",
            evidence={"text_version": "newsletter-v3"},  # confirmed_at: the time of the fact
        )

    def cancels(
        self,
        reason: str,
        *,
        ago: timedelta = minutes(5),
        no_contact: bool = False,
        contract_id: str = "k1",
        **extra: Any,
    ) -> Customer:
        """Notice of cancellation with its reason code, effective at once."""
        return self._add(
            ago,
            "contract.cancelled",
            "/scenario/billing",
            (("effective_date", -ago),),
            contract_id=f"{self.customer_id}-{contract_id}",
            reason_code=reason,
            no_contact_requested=no_contact,
            **extra,
        )

    def events(self, moment: datetime) -> list[dict[str, Any]]:
        """The history as CloudEvents, oldest first, with times (and dates in the data) relative to `moment`."""
        facts = sorted(self.facts, key=lambda f: f.ago, reverse=True)
        if self.profile is not None:
            first = facts[0].ago + days(1) if facts else days(1)
            facts.insert(0, Fact(first, "customer.upserted", self.profile, "/scenario/crm"))
        out = []
        for fact in facts:
            at = moment - fact.ago
            data = {**fact.data, **{key: (moment + offset).date().isoformat() for key, offset in fact.dates}}
            if fact.type == "consent.granted":
                data["evidence"] = {**data["evidence"], "confirmed_at": at.isoformat()}
            out.append(
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": fact.source,
                    "type": fact.type,
                    "time": at.isoformat(),
                    "data": data,
                }
            )
        return out
