"""The simulated business: customers whose behaviour follows a known model (pure, no I/O, no wall clock).

The driver (`driver.py`) asks for each day's events, publishes them through ingest, and feeds back
what the services decided (`on_campaign_event`, `on_action`); `truth()` says what really happened,
including the true intent-to-treat effect of every playbook on the customers it enrolled.

Time inside is float days since midnight UTC of the start's date; each day's events are generated
when the day is asked for, so a contact reported after day d changes the customer from day d+1 on.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from winback_cli.simulation import texts
from winback_cli.simulation.consents import ConsentRecord, Entry, Relationship
from winback_cli.simulation.hazard import INF, Base, Interval, crossing
from winback_cli.simulation.lifecycle import Life, draw_life, exp_target, return_base, return_factors
from winback_cli.simulation.params import SimParams
from winback_cli.simulation.population import Customer, draw_customer
from winback_cli.simulation.responses import respond, response_stream
from winback_cli.simulation.truth import Enrollment, truth_of, yearly_value

SOURCE = "/simulation"
TOOL_SOURCE = "/simulation/campaign-tool"
DOI_TEMPLATE = "doi_confirmation"
TEXT_VERSION = "sim-consent-v1"
MONTH = 30.4375


@dataclass
class Contact:
    """One advertising contact really made (or, in a counterfactual, one that would have been)."""

    at: float
    channel: str
    template: str
    offer: str | None
    playbook_id: str
    enrollment_id: str | None
    lift: Interval | None  # None: it did not get through, or works on nothing


@dataclass
class State:
    """Everything the simulator knows about one customer as the run goes."""

    customer: Customer
    consent: ConsentRecord
    lives: list[Life] = field(default_factory=list)
    churned: bool = False  # the current life has ended (the return clock runs)
    contacts: list[Contact] = field(default_factory=list)
    enrollments: dict[str, Enrollment] = field(default_factory=dict)
    clock_version: int = 0
    erased_at: float | None = None
    orders: int = 0
    tickets: int = 0
    seen_tier: str | None = None
    seen_reason: str | None = None
    seen_at: float | None = None

    @property
    def life(self) -> Life:
        return self.lives[-1]


class Business:
    """A seeded population of consumers and businesses, advanced one day at a time."""

    def __init__(
        self, *, customers: int, seed: int, start: datetime, end: datetime, params: SimParams | None = None
    ) -> None:
        self.customers = customers
        self.seed = seed
        self.params = params or SimParams()
        start = start.astimezone(UTC)
        self.origin = datetime.combine(start.date(), time(), tzinfo=UTC)
        self.start_t = (start - self.origin).total_seconds() / 86400
        self.horizon = (end.astimezone(UTC) - self.origin).total_seconds() / 86400
        self.playbooks: dict[str, dict[str, Any]] = {}
        self.releases: dict[str, float] = {}
        self._agenda: dict[int, list[tuple[float, int, str, int, Any]]] = {}
        self._seq = 0
        self._day = -1  # the last day generated
        self._heap: list[tuple[float, int, str, int, Any]] = []
        self._erasures: dict[int, list[tuple[str, datetime]]] = {}
        self._out: list[dict[str, Any]] = []
        self.sent = 0
        self._tiers: tuple[float, float] | None = None
        self.states: list[State] = []
        for index in range(customers):
            customer = draw_customer(index, seed, self.params)
            customer.joined += self.start_t
            relationship = Relationship(contract=customer.contract)
            self.states.append(State(customer, ConsentRecord(customer.kind, relationship)))
            if customer.joined < self.horizon:
                self._push(customer.joined, "join", index, None)
        for n, (offset, feature, tags) in enumerate(self.params.feature_releases):
            at = self.start_t + offset + 0.5
            if at < self.horizon:
                for tag in tags:
                    self.releases.setdefault(tag, at)
                data = {"feature": feature, "tags": list(tags)}
                self._push(at, "event", -1, self._event("product.feature_released", at, data, f"release-{n}"))

    # ---- the interface the driver uses -------------------------------------------------------

    def events_for_day(self, day: date) -> list[dict[str, Any]]:
        """CloudEvents (JSON-ready dicts exactly as ingest's POST /v1/events takes them) happening on `day`
        (UTC), in sending order, each with a unique id and a `time` inside that day.

        Days are asked in order; a skipped day's events come with the next day asked.
        """
        target = (day - self.origin.date()).days
        self._out = []
        while self._day < target:
            self._day += 1
            self._run_day(self._day)
        self.sent += len(self._out)
        return self._out

    def erasures_for_day(self, day: date) -> list[tuple[str, datetime]]:
        """GDPR erasure requests made on `day` (after `events_for_day(day)`): (customer_id, when).

        Erasure is an API call, not an event: the driver sends `DELETE /v1/customers/{id}` to consent.
        """
        return self._erasures.pop((day - self.origin.date()).days, [])

    def on_campaign_event(self, event: dict[str, Any]) -> None:
        """A CloudEvent read from `winback.campaign` (campaign.enrolled with holdout flag, playbook_id,
        variant; campaign.exited)."""
        data = event.get("data") or {}
        state = self._state(data.get("customer_id"))
        enrollment_id = data.get("enrollment_id")
        if state is None or not enrollment_id:
            return
        at = self._t(event["time"])
        enrollment = self._enrollment(state, enrollment_id, str(data.get("playbook_id")), at)
        if event.get("type") == "campaign.enrolled":
            enrollment.at = at
            enrollment.holdout = bool(data.get("holdout"))
            enrollment.variant = data.get("variant")
            enrollment.life_index = self._life_index_at(state, at)
            enrollment.anchor = self._order_anchor(state, enrollment.life_index, at)
            enrollment.tier = state.seen_tier
            enrollment.reason_seen = state.seen_reason
            enrollment.trigger_at = state.seen_at
        elif event.get("type") == "campaign.exited":
            enrollment.exited_at = at
            enrollment.exit_reason = data.get("reason")

    def on_status_change(self, event: dict[str, Any]) -> None:
        """A `customer.status_changed` from `winback.risk` (optional): the value tier and churn reason risk
        gave, so a held-out customer's counterfactual steps meet the same `when` conditions."""
        data = event.get("data") or {}
        state = self._state(data.get("customer_id"))
        if state is not None and data.get("to") == "churned":
            state.seen_tier = data.get("value_tier")
            state.seen_reason = data.get("churn_reason")
            at = data.get("at") or event.get("time")
            state.seen_at = self._t(at) if at else None

    def on_action(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """A CloudEvent read from `winback.actions` (action.triggered / action.suppressed, and consent's
        double-opt-in confirmation messages), as a campaign tool sees it. Returns the tool's feedback
        events (`campaign.response`, and for a DOI confirmation message possibly the confirmation as a
        `consent.granted`) to publish, each timed at or after the action. Contacts change this customer's
        future (returns, unsubscribes, objections) in later days' events."""
        if event.get("type") != "action.triggered":
            return []
        data = event.get("data") or {}
        state = self._state(data.get("customer_id"))
        action_id = data.get("action_id")
        if state is None or not action_id:
            return []
        at = self._t(event["time"])
        if state.erased_at is not None and at >= state.erased_at:
            return []
        channel = str(data.get("channel"))
        if data.get("template") == DOI_TEMPLATE:
            return self._doi(state, at, data)
        playbook_id = str(data.get("playbook_id"))
        enrollment = self._enrollment(state, str(data.get("enrollment_id")), playbook_id, at)
        template = str(data.get("template"))
        k = sum(1 for c in state.contacts if c.enrollment_id == enrollment.enrollment_id and c.template == template)
        stream = response_stream(self.seed, state.customer.customer_id, enrollment.ordinal, template, channel, k)
        answer = respond(stream, channel, self.params)
        effective = max(math.floor(at) + 1.0, float(self._day + 1))
        lift = self._lift(state, at, effective, channel, data.get("offer"), template) if answer.got_through else None
        state.contacts.append(
            Contact(at, channel, template, data.get("offer"), playbook_id, enrollment.enrollment_id, lift)
        )
        state.consent.use(channel, at)
        out: list[dict[str, Any]] = []
        for outcome, minutes in answer.outcomes:
            when = at + minutes / 1440
            if outcome in ("unsubscribed", "complained"):
                # Consent treats an unsubscribe or complaint reported back as an objection for the channel.
                state.consent.add(Entry(when, "objection", channel, note=outcome))
            data = {"customer_id": state.customer.customer_id, "action_id": action_id, "outcome": outcome}
            response = self._event("campaign.response", when, data, f"{action_id}:{outcome}", source=TOOL_SOURCE)
            self._answer(out, state, when, response)
        if lift is not None:
            self._reschedule(state)
        return out

    def playbooks_seen(self, playbooks: list[dict[str, Any]]) -> None:
        """The shipped playbooks as `GET /v1/playbooks` returns them (passed once at start), so the
        counterfactual contacts of held-out customers can be derived."""
        self.playbooks = {str(p.get("playbook_id")): p for p in playbooks}

    def truth(self) -> dict[str, Any]:
        """truth.json: what really happened, the true uplift, and every model parameter (see truth.py)."""
        return truth_of(self)

    def consent_basis_at(
        self, customer_id: str, channel: str, at: datetime, offer_category: str | None = None
    ) -> str | None:
        """The basis the simulator's own record gives for contacting this customer on this channel at
        `at` (None = no basis, e.g. objected/unsubscribed/never consented). Without an offer category the
        §7(3) exception counts whenever its notice is on file and the relationship is active."""
        state = self._state(customer_id)
        if state is None:
            return None
        return state.consent.basis(channel, self._t(at), offer_category, category_unknown=offer_category is None)

    # ---- time and the agenda -----------------------------------------------------------------

    def at(self, t: float) -> datetime:
        """The moment `t` days after the origin."""
        return self.origin + timedelta(microseconds=math.floor(t * 86_400_000_000))

    def iso(self, t: float) -> str:
        """The moment `t` as RFC 3339."""
        return self.at(t).isoformat()

    def t_of(self, moment: datetime) -> float:
        """Days since the origin of an aware moment."""
        return self._t(moment)

    def tier_thresholds(self) -> tuple[float, float]:
        """Yearly values at which the simulator's own tiers A and B begin (risk's default quantiles 0.8, 0.5)."""
        if self._tiers is None:
            values = sorted(yearly_value(self, s) for s in self.states) or [0.0]
            self._tiers = (values[int(0.8 * (len(values) - 1))], values[int(0.5 * (len(values) - 1))])
        return self._tiers

    def _t(self, value: str | datetime) -> float:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
        return (moment.astimezone(UTC) - self.origin).total_seconds() / 86400

    def _push(self, t: float, kind: str, index: int, payload: Any) -> None:
        self._seq += 1
        item = (t, self._seq, kind, index, payload)
        day = math.floor(t)
        if day <= self._day:
            heapq.heappush(self._heap, item)  # later today (never earlier than what is being generated)
        else:
            self._agenda.setdefault(day, []).append(item)

    def _run_day(self, day: int) -> None:
        self._heap = self._agenda.pop(day, [])
        heapq.heapify(self._heap)
        while self._heap:
            t, _, kind, index, payload = heapq.heappop(self._heap)
            if t >= self.horizon:
                continue
            state = self.states[index] if index >= 0 else None
            if state is not None and state.erased_at is not None and t >= state.erased_at:
                continue
            if kind == "event":
                self._out.append(payload)
            elif state is None:
                continue
            elif kind == "join":
                self._join(state, t)
            elif kind == "clock" and payload == state.clock_version:
                self._clock(state, t)
            elif kind == "tick" and payload == state.life.number:
                self._tick(state, t)
            elif kind == "churn" and payload == state.life.number:
                self._churn(state, t)
            elif kind == "erase":
                self._erase(state, t)

    def _emit(self, state: State, t: float, type_: str, data: dict[str, Any], key: str) -> None:
        if t < self.horizon:
            payload = self._event(type_, t, {"customer_id": state.customer.customer_id, **data}, key)
            self._push(t, "event", state.customer.index, payload)

    def _event(self, type_: str, t: float, data: dict[str, Any], key: str, source: str = SOURCE) -> dict[str, Any]:
        customer = data.get("customer_id")
        return {
            "specversion": "1.0",
            "id": f"{customer}:{key}" if customer else key,
            "source": source,
            "type": type_,
            "time": self.at(t).isoformat(),
            "datacontenttype": "application/json",
            "data": data,
        }

    def _state(self, customer_id: object) -> State | None:
        """This run's customer; None for anyone else, and for one who has not joined yet: on a stack an
        earlier run used, campaign still acts on that run's customers, whose ids this run reuses."""
        if not isinstance(customer_id, str) or not customer_id.startswith("sim-"):
            return None
        try:
            index = int(customer_id[4:])
        except ValueError:
            return None
        state = self.states[index] if 0 <= index < len(self.states) else None
        return state if state is not None and state.lives else None

    # ---- a customer's life ------------------------------------------------------------------

    def _join(self, state: State, t: float) -> None:
        c, p = state.customer, self.params
        rng = c.rng
        city, postal_code = c.city
        attributes: dict[str, Any] = {"simulated": True, "contract": c.contract}
        if c.wishes:
            attributes["wanted_features"] = list(c.wishes)
        profile = {
            "kind": c.kind,
            "name": c.name,
            "email": c.email,
            "phone": c.phone,
            "postal_address": {
                "street": f"Hauptstraße {c.index % 200 + 1}",
                "postal_code": postal_code,
                "city": city,
                "country": "DE",
            },
            "language": c.language,
            "attributes": attributes,
        }
        if c.kind == "business":
            profile["account_manager"] = f"am-{c.index % 7 + 1}"
        self._emit(state, t, "customer.upserted", profile, "upserted")
        self._consents_at_join(state, t + 1 / 1440)
        # Later in life: objections, revocations and erasure requests out of the blue.
        for kind, rate in (("objection", p.objection_rate), ("revoke", p.revoke_rate), ("erase", p.erasure_rate)):
            when = t + rng.expovariate(rate) if rate > 0 else INF
            if when >= self.horizon:
                continue
            if kind == "erase":
                self._push(when, "erase", c.index, None)
            else:
                self._later_consent(state, kind, when)
        self._start_life(state, t + 2 / 1440)

    def _consents_at_join(self, state: State, t: float) -> None:
        c, p = state.customer, self.params
        rng = c.rng
        u = [rng.random() for _ in range(8)]
        delay = rng.uniform(*p.doi_confirm_delay_hours) / 24
        if u[0] < p.email_express_probability:
            form = {"text_version": TEXT_VERSION, "ip": "192.0.2.10", "user_agent": "Mozilla/5.0"}
            self._grant(state, t, "email", "express", "web_form", form, "email-web-form")
            if u[1] < p.doi_confirmed_probability:
                confirmed = self.at(t + delay).isoformat()
                self._grant(
                    state,
                    t + delay,
                    "email",
                    "express",
                    "double_opt_in",
                    {**form, "confirmed_at": confirmed},
                    "email-doi",
                )
        elif u[2] < p.existing_customer_notice_probability:
            notice: dict[str, Any] = {"obtained_in_sale": True, "opt_out_notice_given": True}
            self._grant(
                state, t, "email", "existing_customer_notice", None, notice, "email-notice", categories=[c.category]
            )
        phone_express = (
            p.phone_express_probability_business if c.kind == "business" else p.phone_express_probability_consumer
        )
        if u[3] < phone_express:
            method = "recorded_call" if u[4] < 0.5 else "written"
            ref = (
                {"recording_ref": f"rec-{c.index}"} if method == "recorded_call" else {"document_ref": f"doc-{c.index}"}
            )
            self._grant(state, t, "phone", "express", method, {"text_version": TEXT_VERSION, **ref}, "phone-express")
        elif c.kind == "business" and u[5] < p.presumed_b2b_probability:
            facts = "Existing business relationship; the buyer asked to be called about follow-up offers"
            self._grant(state, t, "phone", "presumed_b2b", None, {"facts": facts}, "phone-presumed")
        if u[6] < p.sms_express_probability:
            self._grant(state, t, "sms", "express", "web_form", {"text_version": TEXT_VERSION}, "sms-express")

    def _grant(
        self,
        state: State,
        t: float,
        channel: str,
        kind: str,
        method: str | None,
        evidence: dict[str, Any],
        key: str,
        categories: list[str] | None = None,
    ) -> None:
        data: dict[str, Any] = {"channel": channel, "kind": kind, "purpose": "marketing", "evidence": evidence}
        if method:
            data["method"] = method
        if categories:
            data["categories"] = categories
        self._emit(state, t, "consent.granted", data, f"grant-{key}")
        confirmed = method in ("written", "double_opt_in") or bool(evidence.get("confirmed_at"))
        state.consent.add(
            Entry(
                t,
                "grant",
                channel,
                kind=kind,
                method=method,
                confirmed=confirmed,
                text_version=evidence.get("text_version"),
                facts=evidence.get("facts"),
            )
        )

    def _later_consent(self, state: State, kind: str, t: float) -> None:
        rng = state.customer.rng
        if kind == "objection":
            channels = ["all"] if rng.random() < 0.5 else [rng.choice(("email", "phone", "post"))]
            self._emit(
                state, t, "contact.objected", {"channels": channels, "note": "Widerspruch per Brief"}, "objected"
            )
            for channel in channels:
                state.consent.add(Entry(t, "objection", channel, note="contact.objected"))
        else:
            self._emit(state, t, "consent.revoked", {"channel": "email", "purpose": "marketing"}, "revoked-email")
            state.consent.add(Entry(t, "revoke", "email"))

    def _erase(self, state: State, t: float) -> None:
        state.erased_at = t
        state.consent.add(Entry(t, "erasure", "all"))
        state.clock_version += 1
        self._erasures.setdefault(math.floor(t), []).append((state.customer.customer_id, self.at(t)))

    def _start_life(self, state: State, t: float) -> None:
        """A new life from joining or returning: its first order or contract, drivers, routine and end."""
        c, p = state.customer, self.params
        previous = state.life if state.lives else None
        life = draw_life(c, len(state.lives) + 1, t, self.horizon, p)
        state.lives.append(life)
        state.churned = False
        rel = state.consent.relationship
        term = p.contract_months * MONTH
        if c.contract:
            if previous is not None and previous.effective_at is not None and t < previous.effective_at:
                # Back before the notice took effect: the cancellation is withdrawn, the contract renewed.
                life.contract_id = previous.contract_id
                rel.contract_spells[-1] = (rel.contract_spells[-1][0], None)
                self._emit(
                    state,
                    t,
                    "contract.renewed",
                    {"contract_id": life.contract_id, "end_date": self.at(t + term).date().isoformat()},
                    f"renewed-{life.number}-0",
                )
            else:
                rel.contract_spells.append((t, None))
                self._emit(
                    state,
                    t,
                    "contract.started",
                    {
                        "contract_id": life.contract_id,
                        "product": "Winback Suite",
                        "monthly_value": f"{c.monthly_value:.2f}",
                        "end_date": self.at(t + term).date().isoformat(),
                    },
                    f"started-{life.number}",
                )
            rel.categories.add("subscription")
        else:
            self._order(state, t)
        self._drivers(state, life)
        rng = c.rng
        life.next_noise = t + (rng.expovariate(p.noise_ticket_rate) if p.noise_ticket_rate > 0 else INF)
        life.next_survey = t + (rng.expovariate(p.survey_rate) if p.survey_rate > 0 else INF)
        self._tick(state, t)
        if life.end_at < INF:
            self._push(life.end_at, "churn", c.index, life.number)

    def _drivers(self, state: State, life: Life) -> None:
        """The early-warning signals of this life, as tickets, survey answers (and falling usage, monthly)."""
        c, rng = state.customer, state.customer.rng
        for driver, onset in sorted(life.drivers.items(), key=lambda d: d[1]):
            if driver == "complaint":
                self._ticket(state, onset, "complaint", "high", rng.uniform(1, 10), "solved", rng.randint(2, 3))
            elif driver == "ticket_unresolved":
                self._ticket(state, onset, "technical", "normal", rng.uniform(25, 45), "unsolved", 1)
            elif driver == "nps_detractor":
                comment = "Enttäuscht" if c.language == "de" else "Disappointed"
                self._survey(state, onset, "nps", rng.randint(0, 6), comment)
            elif driver == "csat_low":
                self._survey(state, onset, "csat", rng.randint(1, 2), None)

    def _tick(self, state: State, t: float) -> None:
        """A month of the life's routine from `t`: usage, renewals, everyday tickets and surveys.

        Generated month by month, so a large run never holds a whole life's events in memory.
        """
        c, p, life = state.customer, self.params, state.life
        rng = c.rng
        stop = min(life.end_at, self.horizon)
        until = min(t + MONTH, stop)
        if c.contract:
            term = p.contract_months * MONTH
            at = life.start + term * (life.years + 1)
            if at < until:
                life.years += 1
                renewal = {"contract_id": life.contract_id, "end_date": self.at(at + term).date().isoformat()}
                self._emit(state, at, "contract.renewed", renewal, f"renewed-{life.number}-{life.years}")
            at = life.start + MONTH * (life.months + 1)
            if at < until:
                life.months += 1
                level = c.usage_baseline * rng.uniform(0.85, 1.15)
                falling = life.drivers.get("falling_usage")
                if falling is not None and at > falling:
                    level *= (1 - p.usage_decline_per_month) ** ((at - falling) / MONTH)
                usage = {
                    "metric": "logins",
                    "value": round(level, 1),
                    "period_start": self.at(at - MONTH).isoformat(),
                    "period_end": self.at(at).isoformat(),
                }
                self._emit(state, at, "usage.reported", usage, f"usage-{life.number}-{life.months}")
        while life.next_noise < until:
            category = rng.choice(("technical", "billing", "delivery", "other"))
            self._ticket(state, life.next_noise, category, "normal", rng.uniform(0.1, 3), "solved", rng.randint(4, 5))
            life.next_noise += rng.expovariate(p.noise_ticket_rate) if p.noise_ticket_rate > 0 else INF
        while life.next_survey < until:
            if rng.random() < 0.5:
                self._survey(state, life.next_survey, "nps", rng.randint(7, 10), None)
            else:
                self._survey(state, life.next_survey, "csat", rng.randint(3, 5), None)
            life.next_survey += rng.expovariate(p.survey_rate) if p.survey_rate > 0 else INF
        if until < stop:
            self._push(until, "tick", c.index, life.number)

    def _ticket(
        self, state: State, t: float, category: str, priority: str, days: float, outcome: str, sat: int
    ) -> None:
        state.tickets += 1
        ticket_id = f"{state.customer.customer_id}-t{state.tickets}"
        self._emit(
            state,
            t,
            "ticket.opened",
            {"ticket_id": ticket_id, "category": category, "priority": priority},
            f"ticket-{state.tickets}-opened",
        )
        self._emit(
            state,
            t + days,
            "ticket.resolved",
            {"ticket_id": ticket_id, "outcome": outcome, "satisfaction": sat},
            f"ticket-{state.tickets}-resolved",
        )

    def _survey(self, state: State, t: float, survey: str, score: int, comment: str | None) -> None:
        data: dict[str, Any] = {"survey": survey, "score": score}
        if comment:
            data["comment"] = comment
        self._emit(state, t, "survey.answered", data, f"survey-{survey}-{t:.6f}")

    def _order(self, state: State, t: float) -> None:
        c, p = state.customer, self.params
        rng = c.rng
        state.orders += 1
        order_id = f"{c.customer_id}-o{state.orders}"
        amount = rng.gammavariate(p.order_amount_shape, p.order_amount_mean / p.order_amount_shape)
        amount = max(round(amount, 2), 1.0)
        self._emit(
            state,
            t,
            "order.placed",
            {
                "order_id": order_id,
                "amount": f"{amount:.2f}",
                "currency": "EUR",
                "margin": f"{amount * p.margin_share:.2f}",
                "category": c.category,
                "items": [{"sku": f"{c.category}-{rng.randint(1, 40)}", "quantity": 1}],
            },
            f"order-{state.orders}",
        )
        net = amount
        if rng.random() < p.order_return_probability:
            back = round(amount * rng.uniform(0.2, 1.0), 2)
            returned_at = t + rng.uniform(3, 20)
            if returned_at < self.horizon:
                net = amount - back  # what metrics counts: the order net of a return it heard of
            self._emit(
                state,
                returned_at,
                "order.returned",
                {"order_id": order_id, "amount": f"{back:.2f}"},
                f"order-{state.orders}-returned",
            )
        state.consent.relationship.order_times.append(t)
        state.consent.relationship.categories.add(c.category)
        state.life.orders.append((t, exp_target(rng)))
        state.life.revenue.append((t, net))
        self._reschedule(state)

    def _churn(self, state: State, t: float) -> None:
        c, life = state.customer, state.life
        state.churned = True
        if c.contract:
            notice = c.rng.randint(*self.params.notice_days)
            life.effective_at = t + notice
            rel = state.consent.relationship
            rel.contract_spells[-1] = (rel.contract_spells[-1][0], life.effective_at)
            reason = life.reason or "other"
            data: dict[str, Any] = {
                "contract_id": life.contract_id,
                "effective_date": self.at(life.effective_at).date().isoformat(),
                "reason_code": reason,
                "reason_text": texts.reason_text(c.rng, reason, c.language, life.feature),
                "no_contact_requested": life.no_contact,
            }
            if reason == "competitor":
                data["competitor"] = c.rng.choice(texts.COMPETITORS)
            self._emit(state, t, "contract.cancelled", data, f"cancelled-{life.number}")
            if life.no_contact:
                state.consent.add(Entry(t, "no_contact", "all", note="contract.cancelled"))
        self._reschedule(state)

    def _clock(self, state: State, t: float) -> None:
        if not state.churned:
            self._order(state, t)
            return
        state.life.returned_at = t
        self._start_life(state, t)

    def _reschedule(self, state: State) -> None:
        """(Re)compute the next order or return from the exponential clock, with the contacts known now."""
        state.clock_version += 1
        if state.erased_at is not None:
            return
        at = self.next_event(state, len(state.lives) - 1, None, [c.lift for c in state.contacts if c.lift])
        if at is not None and at < self.horizon:
            self._push(at, "clock", state.customer.index, state.clock_version)

    def next_event(
        self,
        state: State,
        life_index: int,
        anchor: tuple[float, float] | None,
        lifts: list[Interval],
        as_of: float | None = None,
    ) -> float | None:
        """When the next order or return of this life comes, given the contacts' lifts.

        `anchor` (the last order and the target of the next) defaults to the latest order; a life that
        has ended (by `as_of`, or now) runs the return clock from its end.
        """
        life, c = state.lives[life_index], state.customer
        if as_of is not None:
            churned = as_of >= life.end_at
        else:
            churned = state.churned if life_index == len(state.lives) - 1 else True
        if not c.contract and not churned and (anchor or life.orders):
            last, target = anchor or life.orders[-1]
            at, _ = crossing(Base(c.purchase_rate), last, min(life.end_at, self.horizon), target, (), lifts)
            if at is not None:
                return at
        if life.end_at >= self.horizon:
            return None
        if c.contract and not churned:
            return None
        base = return_base(life, self.params)
        factors = return_factors(life, self.params, self.releases)
        at, _ = crossing(base, life.end_at, self.horizon, life.return_target, factors, lifts)
        return at

    # ---- contacts ------------------------------------------------------------------------------

    def lift_value(self, state: State, life: Life, at: float, channel: str, offer: str | None, template: str) -> float:
        """The lift of one contact that got through: channel x (answers the reason) x (in the timing window)."""
        p = self.params
        lift = p.channel_lift.get(channel, 1.0)
        if life.end_at <= at and life.reason is not None:
            answers = p.answers.get(life.reason, ())
            if (offer in answers) or (template in answers):
                lift *= p.answer_lift
            since = at - life.end_at
            if any(low <= since <= high for low, high in p.timing_windows.get(life.reason, ())):
                lift *= p.window_lift
        return 1.0 + p.effect_scale * (lift - 1.0)

    def _lift(
        self, state: State, at: float, effective: float, channel: str, offer: str | None, template: str
    ) -> Interval:
        value = self.lift_value(state, state.life, at, channel, offer, template)
        return Interval(effective, effective + self.params.contact_effect_days, value)

    def _answer(self, out: list[dict[str, Any]], state: State, when: float, event: dict[str, Any]) -> None:
        """An answer on a day already generated goes back at once; a later one comes with its day's events,
        so nothing reaches ingest dated after the services' clock."""
        if math.floor(when) <= self._day:
            out.append(event)
        else:
            self._push(when, "event", state.customer.index, event)

    def _doi(self, state: State, at: float, data: dict[str, Any]) -> list[dict[str, Any]]:
        cid, action_id = state.customer.customer_id, str(data["action_id"])
        rng = response_stream(self.seed, cid, -1, DOI_TEMPLATE, "email", len(state.consent.entries))
        out: list[dict[str, Any]] = []
        delivered = {"customer_id": cid, "action_id": action_id, "outcome": "delivered"}
        when = at + 2 / 1440
        self._answer(
            out,
            state,
            when,
            self._event("campaign.response", when, delivered, f"{action_id}:delivered", source=TOOL_SOURCE),
        )
        if rng.random() < self.params.doi_confirm_probability:
            when = at + rng.uniform(0.01, 0.5)
            content = data.get("content") or {}
            evidence = {
                "confirmed_at": self.at(when).isoformat(),
                "text_version": content.get("text_version") or TEXT_VERSION,
                "doi_action_id": action_id,
            }
            payload = {
                "customer_id": cid,
                "channel": "email",
                "kind": "express",
                "purpose": "marketing",
                "method": "double_opt_in",
                "evidence": evidence,
            }
            self._answer(out, state, when, self._event("consent.granted", when, payload, f"doi-{action_id}"))
            state.consent.add(
                Entry(
                    when,
                    "grant",
                    "email",
                    kind="express",
                    method="double_opt_in",
                    confirmed=True,
                    text_version=evidence["text_version"],
                )
            )
        return out

    # ---- enrolments ------------------------------------------------------------------------------

    def _enrollment(self, state: State, enrollment_id: str, playbook_id: str, at: float) -> Enrollment:
        enrollment = state.enrollments.get(enrollment_id)
        if enrollment is None:
            enrollment = Enrollment(
                enrollment_id=enrollment_id,
                playbook_id=playbook_id,
                ordinal=len(state.enrollments),
                at=at,
                life_index=self._life_index_at(state, at),
            )
            enrollment.anchor = self._order_anchor(state, enrollment.life_index, at)
            state.enrollments[enrollment_id] = enrollment
        return enrollment

    def _life_index_at(self, state: State, at: float) -> int:
        index = 0
        for i, life in enumerate(state.lives):
            if life.start <= at:
                index = i
        return index

    def _order_anchor(self, state: State, life_index: int, at: float) -> tuple[float, float] | None:
        if not state.lives:
            return None
        orders = [o for o in state.lives[life_index].orders if o[0] <= at]
        return orders[-1] if orders else None
