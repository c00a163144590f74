"""A stand-in for risk + campaign in unit tests of the simulated business: no services, no broker.

It reads each day's events, treats a contract cancellation as the churn risk would report (value
tier B for everyone), enrols the customer in the best-matching shipped churn playbook, holds out a
share by a hash, and sends each due step as `action.triggered` when the simulator's own consent
record gives a basis; the tool's answers go back as the driver would publish them (unsubscribes
become objections in the simulator's record).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import yaml

from winback_campaign.domain.regions import state_of_postal_code
from winback_campaign.domain.timing import FrequencyCap, allowed_at
from winback_cli.simulation.business import Business
from winback_cli.simulation.playbooks import planned_steps

INELIGIBLE = {"company_initiated", "insolvency", "fraud"}
TIER = "B"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def shipped_playbooks() -> list[dict[str, Any]]:
    text = resources.files("winback_campaign").joinpath("defaults/playbooks.yaml").read_text()
    loaded: list[dict[str, Any]] = yaml.safe_load(text)
    return loaded


@dataclass
class Pending:
    customer_id: str
    enrollment_id: str
    playbook_id: str
    due: datetime
    channel: str
    template: str
    offer: str | None
    offer_category: str | None


@dataclass
class FakeCampaign:
    business: Business
    holdout_share: float = 0.5
    playbooks: list[dict[str, Any]] = field(default_factory=shipped_playbooks)
    pending: list[Pending] = field(default_factory=list)
    sent: dict[str, list[datetime]] = field(default_factory=dict)
    enrolled: int = 0
    actions: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    shop_churn_after_days: float | None = None
    last_order: dict[str, datetime] = field(default_factory=dict)
    now: datetime = EPOCH
    enrollment_of: dict[str, str] = field(default_factory=dict)
    exits: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.business.playbooks_seen(self.playbooks)

    def run(self, start: date, end: date) -> None:
        day = start
        while day < end:
            todays = self.business.events_for_day(day)
            end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
            self.now = end_of_day - timedelta(hours=1)
            self.events.extend(todays)
            self._answers(todays)
            for event in todays:
                if event["type"] == "contract.cancelled":
                    self._churned(event)
            if self.shop_churn_after_days is not None:
                self._shop_churns(todays, end_of_day)
            self._send_due(end_of_day)
            day += timedelta(days=1)

    def _playbook_for(self, reason: str) -> dict[str, Any] | None:
        matching = [
            p
            for p in self.playbooks
            if p["trigger"].get("status") == "churned"
            and (not p["trigger"].get("churn_reasons") or reason in p["trigger"]["churn_reasons"])
        ]
        return max(matching, key=lambda p: p.get("priority", 0)) if matching else None

    def _churned(self, event: dict[str, Any]) -> None:
        data = event["data"]
        reason = data.get("reason_code") or "unknown"
        if reason in INELIGIBLE or data.get("no_contact_requested"):
            return
        self._enrol(data["customer_id"], reason, datetime.fromisoformat(event["time"]))

    def _shop_churns(self, todays: list[dict[str, Any]], end_of_day: datetime) -> None:
        """A shop buyer without an order for `shop_churn_after_days` counts as churned (risk uses p_alive)."""
        for e in todays:
            if e["type"] == "order.placed":
                self.last_order[e["data"]["customer_id"]] = datetime.fromisoformat(e["time"])
        assert self.shop_churn_after_days is not None
        quiet = timedelta(days=self.shop_churn_after_days)
        for cid, last in list(self.last_order.items()):
            if end_of_day - last >= quiet:
                del self.last_order[cid]  # one churn per episode; the next order starts a new one
                self._enrol(cid, "unknown", last + quiet)

    def _enrol(self, cid: str, reason: str, churned_at: datetime) -> None:
        playbook = self._playbook_for(reason)
        if playbook is None:
            return
        self.business.on_status_change(
            {
                "type": "customer.status_changed",
                "time": churned_at.isoformat(),
                "data": {
                    "customer_id": cid,
                    "to": "churned",
                    "at": churned_at.isoformat(),
                    "value_tier": TIER,
                    "churn_reason": reason,
                },
            }
        )
        at = max(churned_at, self.now) + timedelta(minutes=1)
        digest = hashlib.sha256(f"{cid}:{playbook['playbook_id']}".encode()).digest()
        holdout = digest[0] / 256 < self.holdout_share
        self.enrolled += 1
        enrollment_id = f"enr-{self.enrolled}"
        variant = None
        if playbook.get("variants"):
            variant = playbook["variants"][digest[1] % len(playbook["variants"])]["name"]
        self.business.on_campaign_event(
            {
                "type": "campaign.enrolled",
                "time": at.isoformat(),
                "data": {
                    "customer_id": cid,
                    "playbook_id": playbook["playbook_id"],
                    "enrollment_id": enrollment_id,
                    "variant": variant,
                    "holdout": holdout,
                },
            }
        )
        if holdout:
            return
        kind = self.business.states[int(cid[4:])].customer.kind
        for step in planned_steps(playbook, variant, value_tier=TIER, kind=kind, reason=reason):
            self.pending.append(
                Pending(
                    cid,
                    enrollment_id,
                    playbook["playbook_id"],
                    max(churned_at + timedelta(days=step.after_days), at),
                    step.channel,
                    step.template,
                    step.offer,
                    step.offer_category,
                )
            )

    def _send_due(self, until: datetime) -> None:
        due = sorted((p for p in self.pending if p.due < until), key=lambda p: p.due)
        self.pending = [p for p in self.pending if p.due >= until]
        for p in due:
            region = state_of_postal_code(self.business.states[int(p.customer_id[4:])].customer.city[1])
            at, _ = allowed_at(p.due, p.channel, self.sent.get(p.customer_id, []), FrequencyCap(), None, region)
            if at >= until:
                p.due = at
                self.pending.append(p)
                continue
            record = self.business.states[int(p.customer_id[4:])].consent
            if p.enrollment_id in self.exits and at >= self.exits[p.enrollment_id]:
                continue
            if record.basis(p.channel, self.business.t_of(at), p.offer_category) is None:
                if record.objected(p.channel, self.business.t_of(at)):
                    self.exits[p.enrollment_id] = at  # a denial for an objection ends the enrolment
                continue
            self.actions += 1
            self.sent.setdefault(p.customer_id, []).append(at)
            feedback = self.business.on_action(
                {
                    "type": "action.triggered",
                    "time": at.isoformat(),
                    "data": {
                        "action_id": f"act-{self.actions}",
                        "customer_id": p.customer_id,
                        "channel": p.channel,
                        "template": p.template,
                        "offer": p.offer,
                        "playbook_id": p.playbook_id,
                        "enrollment_id": p.enrollment_id,
                    },
                }
            )
            self.enrollment_of[f"act-{self.actions}"] = p.enrollment_id
            self.events.extend(feedback)
            self._answers(feedback)

    def _answers(self, events: list[dict[str, Any]]) -> None:
        """The shipped churn playbooks exit on unsubscribe, complaint (objections) and reply, when it arrives."""
        for e in events:
            if e["type"] == "campaign.response" and e["data"]["outcome"] in ("unsubscribed", "complained", "replied"):
                enrollment_id = self.enrollment_of.get(e["data"]["action_id"])
                if enrollment_id is not None:
                    at = datetime.fromisoformat(e["time"])
                    self.exits[enrollment_id] = min(self.exits.get(enrollment_id, at), at)
