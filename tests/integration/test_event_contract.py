"""Each service writes to its outbox only what its contract declares: the real rows of representative flows.

The handlers run in-process over a real PostgreSQL without a relay, so the rows stay to be read.
Subscriptions are checked against the same contracts in tests/unit/test_shared_contract.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.db import migrated
from winback_campaign.adapters.tables import actions
from winback_campaign.adapters.tables import outbox as campaign_outbox
from winback_campaign.adapters.unit_of_work import SqlUnitOfWork
from winback_campaign.contract import CONTRACT as CAMPAIGN
from winback_campaign.domain.actions import ConsentDecision, ConsentRequest
from winback_campaign.domain.playbooks import Playbook
from winback_campaign.domain.templates import SenderIdentity, opt_out_token
from winback_campaign.entrypoints.consumer import EnrollmentConsumer
from winback_campaign.service_layer.enrollment import EnrollmentRules
from winback_campaign.service_layer.scheduler import Scheduler, SchedulerConfig
from winback_campaign.service_layer.unsubscribe import Unsubscriber
from winback_consent.adapters.tables import outbox as consent_outbox
from winback_consent.contract import CONTRACT as CONSENT
from winback_consent.service_layer import doi
from winback_consent.service_layer.consume import apply_events as consent_apply
from winback_risk.adapters.tables import outbox as risk_outbox
from winback_risk.adapters.unit_of_work import SqlUnitOfWork as RiskUnitOfWork
from winback_risk.contract import CONTRACT as RISK
from winback_risk.service_layer.handlers import Scoring
from winback_risk.service_layer.handlers import apply_events as risk_apply
from winback_risk.service_layer.model_service import ModelHolder
from winback_risk.settings import RiskSettings
from winback_shared.clock import FixedClock
from winback_shared.db.engine import create_sessionmaker
from winback_shared.events.contract import ServiceContract
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ConsentGranted, ContractCancelled, CustomerUpserted, OrderPlaced
from winback_shared.events.produced import CustomerStatusChanged

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Berlin
RUN = uuid.uuid4().hex[:8]
SECRET = "contract-test-opt-out-secret"
PLAYBOOK = Playbook.model_validate(
    {
        "playbook_id": "contract-test",
        "name": "contract test",
        "priority": 100,
        "holdout_percent": 0,
        "trigger": {"status": "churned"},
        "steps": [{"step_id": "mail", "after": "P0D", "channel": "email", "template": "we_miss_you"}],
    }
)


async def written(sessions: async_sessionmaker[AsyncSession], outbox: Table) -> set[tuple[str, str]]:
    """The (topic, event type) pairs in the service's outbox."""
    async with sessions() as session:
        rows = await session.execute(select(outbox.c.topic, outbox.c.event_type).distinct())
        return {(r.topic, r.event_type) for r in rows}


def declared(contract: ServiceContract) -> set[tuple[str, str]]:
    return {(topic.value, t) for topic, types in contract.produces.items() for t in types}


def profile(customer_id: str, at: datetime = T0) -> CloudEvent:
    data = {"customer_id": customer_id, "email": f"{customer_id}@example.com", "language": "de"}
    return CustomerUpserted.new(source="/crm", time=at, data=data)


def cancelled(customer_id: str, at: datetime = T0) -> CloudEvent:
    data = {"customer_id": customer_id, "contract_id": "k1", "reason_code": "price"}
    return ContractCancelled.new(source="/billing", time=at, data=data, id=f"cancel-{customer_id}")


async def test_risk_writes_only_its_declared_events(risk_sessions: async_sessionmaker[AsyncSession]) -> None:
    settings = RiskSettings()
    model = await ModelHolder(refresh_s=60).get(risk_sessions)
    scoring = Scoring(model, settings.risk_config(), settings.default_horizon_days, settings.clv_basis)
    customer = f"risk-{RUN}"
    first = T0 - timedelta(days=400)
    order = {"customer_id": customer, "order_id": "o1", "amount": "120.00"}
    history = [profile(customer, first), OrderPlaced.new(source="/shop", time=first, data=order), cancelled(customer)]

    await risk_apply(RiskUnitOfWork(risk_sessions), FixedClock(T0), history, source="/winback/risk", scoring=scoring)

    writes = await written(risk_sessions, risk_outbox)
    assert writes <= declared(RISK)
    assert ("winback.risk", "customer.status_changed") in writes


async def test_consent_writes_only_its_declared_events(database_url: str) -> None:
    async with migrated(database_url, "winback_consent:migrations") as engine:
        sessions = create_sessionmaker(engine)
        customer = f"consent-{RUN}"
        grant = {"customer_id": customer, "channel": "email", "kind": "express", "method": "web_form"}
        await consent_apply(
            sessions, FixedClock(T0), [profile(customer), ConsentGranted.new(source="/shop", time=T0, data=grant)], b"k"
        )
        config = doi.DoiConfig(ttl=timedelta(days=2), text_version="v1", confirm_url="https://c.example/{token}")
        await doi.start(sessions, FixedClock(T0), config, customer, f"{customer}@example.com")

        writes = await written(sessions, consent_outbox)
    assert writes <= declared(CONSENT)
    assert {("winback.consent", "consent.changed"), ("winback.actions", "action.triggered")} <= writes


class ObjectingConsent:
    """Allows every customer but the ones named, who have objected."""

    def __init__(self, objected: set[str]) -> None:
        self.objected = objected

    async def decide(self, requests: Sequence[ConsentRequest]) -> dict[str, ConsentDecision]:
        return {
            r.request_id: ConsentDecision(False, None, "objection")
            if r.customer_id in self.objected
            else ConsentDecision(True, "express_consent", None, ("ev",))
            for r in requests
        }

    async def close(self) -> None:
        return None


def churned(customer_id: str) -> CloudEvent:
    data: dict[str, Any] = {
        "customer_id": customer_id,
        "from": "active",
        "to": "churned",
        "at": T0,
        "winback_eligible": True,
        "caused_by": {"source": "/billing", "id": f"cancel-{customer_id}"},
    }
    return CustomerStatusChanged.new(source="/winback/risk", time=T0, data=data)


async def test_campaign_writes_only_its_declared_events(database_url: str) -> None:
    async with migrated(database_url, "winback_campaign:migrations") as engine:
        sessions = create_sessionmaker(engine)
        clock = FixedClock(T0)
        allowed, objected = f"allowed-{RUN}", f"objected-{RUN}"
        uow = partial(SqlUnitOfWork, sessions)
        rules = EnrollmentRules(replay_window=timedelta(days=7), shipped=[PLAYBOOK])
        consume = EnrollmentConsumer(uow=uow, clock=clock, rules=rules)
        await consume([e for c in (allowed, objected) for e in (profile(c), cancelled(c), churned(c))])
        scheduler = Scheduler(
            uow=uow,
            clock=clock,
            consent=ObjectingConsent({objected}),
            sender=SenderIdentity("Acme", "Weg 1", "hi@acme.example", "https://acme.example/u", SECRET),
            config=SchedulerConfig(batch_size=10),
        )
        await scheduler.drain()
        async with sessions() as session:
            action_id = await session.scalar(select(actions.c.action_id).where(actions.c.customer_id == allowed))
        assert action_id is not None
        await Unsubscriber(uow, clock, SECRET).unsubscribe(opt_out_token(action_id, SECRET))

        writes = await written(sessions, campaign_outbox)
    assert writes <= declared(CAMPAIGN)
    assert {
        ("winback.campaign", "campaign.enrolled"),
        ("winback.campaign", "campaign.exited"),
        ("winback.actions", "action.triggered"),
        ("winback.actions", "action.suppressed"),
        ("winback.inbound", "campaign.response"),
    } <= writes
