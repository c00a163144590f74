"""Each service's erasure rule on its real PostgreSQL schema: what goes, what stays, what a replay does.

Consent erases through its service layer; risk, campaign and metrics apply consent's
`customer.erased` through their consumers' batch handlers (the broker path is in
tests/e2e/test_erasure.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters.unit_of_work import SqlUnitOfWork
from winback_campaign.bootstrap import MIGRATIONS as CAMPAIGN
from winback_campaign.entrypoints.consumer import EnrollmentConsumer
from winback_campaign.service_layer.enrollment import EnrollmentRules
from winback_consent.bootstrap import MIGRATIONS as CONSENT
from winback_consent.service_layer import privacy
from winback_consent.service_layer.consume import apply_events as consent_apply
from winback_metrics.bootstrap import MIGRATIONS as METRICS
from winback_metrics.domain.cohort import CohortFilter, Period
from winback_metrics.service_layer.handlers import apply_batch, kpis
from winback_risk.adapters.tables import erasures as risk_erasures
from winback_risk.adapters.unit_of_work import SqlUnitOfWork as RiskUnitOfWork
from winback_risk.bootstrap import MIGRATIONS as RISK
from winback_risk.service_layer.handlers import apply_events as risk_apply
from winback_shared.clock import FixedClock
from winback_shared.db.engine import create_engine, create_sessionmaker
from winback_shared.db.erasures import drop_erased_history
from winback_shared.db.migrate import upgrade
from winback_shared.erasure import customer_digest
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ContractCancelled, CustomerUpserted, OrderPlaced
from winback_shared.events.produced import ActionTriggered, CustomerErased, CustomerStatusChanged

pytestmark = pytest.mark.integration

KEY = b"erasure-rules-key"
HASH_KEY = b"erasure-rules-consent-hash-key"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ERASED_AT = T0 + timedelta(days=60)
CLOCK = FixedClock(ERASED_AT)


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    for migrations in (CONSENT, RISK, CAMPAIGN, METRICS):
        await asyncio.to_thread(upgrade, database_url, migrations)
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def rows(sessions: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        return [tuple(r) for r in await session.execute(text(sql), params)]


def erased(customer_id: str, at: datetime = ERASED_AT) -> CustomerErased:
    return CustomerErased.new(
        source="/winback/consent",
        time=at,
        id=f"erased-{customer_id}",
        data={"customer_id": customer_id, "erased_at": at},
    )


def profile(customer_id: str, at: datetime, **data: Any) -> CustomerUpserted:
    return CustomerUpserted.new(source="/crm", time=at, data={"customer_id": customer_id, **data})


def order(customer_id: str, order_id: str, at: datetime) -> OrderPlaced:
    data = {"customer_id": customer_id, "order_id": order_id, "amount": "120.00", "category": "shoes"}
    return OrderPlaced.new(source="/shop", time=at, data=data)


def cancellation(customer_id: str, at: datetime, reason_text: str) -> ContractCancelled:
    data = {
        "customer_id": customer_id,
        "contract_id": f"k-{customer_id}",
        "reason_code": "price",
        "reason_text": reason_text,
    }
    return ContractCancelled.new(source="/billing", time=at, data=data)


async def test_consent_erases_once_announces_it_and_stays_erased_for_old_events(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    history = [profile("k-1", T0, email="anna@example.org", name="Anna"), order("k-1", "o-1", T0 + timedelta(days=1))]
    await consent_apply(sessions, CLOCK, history, HASH_KEY, KEY)

    first = await privacy.erase(sessions, CLOCK, HASH_KEY, "k-1", KEY)
    announced = await rows(
        sessions, "SELECT topic, key, event_type FROM consent.outbox WHERE event_type = 'customer.erased'"
    )
    assert announced == [("winback.consent", "k-1", "customer.erased")]
    assert await rows(sessions, "SELECT erased_at FROM consent.erasures") == [(ERASED_AT,)]
    assert await rows(sessions, "SELECT customer_digest FROM consent.erasures") == [(customer_digest(KEY, "k-1"),)]

    # A second DELETE answers the first erasure and writes nothing.
    outbox_before = await rows(sessions, "SELECT count(*) FROM consent.outbox")
    ledger_before = await rows(sessions, "SELECT id, hash FROM consent.ledger WHERE customer_id = 'k-1' ORDER BY seq")
    again = await privacy.erase(sessions, FixedClock(ERASED_AT + timedelta(hours=1)), HASH_KEY, "k-1", KEY)
    assert again == first
    assert await rows(sessions, "SELECT count(*) FROM consent.outbox") == outbox_before
    assert (
        await rows(sessions, "SELECT id, hash FROM consent.ledger WHERE customer_id = 'k-1' ORDER BY seq")
        == ledger_before
    )

    # A replay (same ids) and a late profile (new id, dated before the erasure) bring nobody back.
    late = profile("k-1", ERASED_AT - timedelta(minutes=1), email="anna@example.org")
    await consent_apply(sessions, CLOCK, [*history, late], HASH_KEY, KEY)
    assert await rows(sessions, "SELECT email, erased_at FROM consent.customers WHERE customer_id = 'k-1'") == [
        (None, ERASED_AT)
    ]
    assert await rows(sessions, "SELECT count(*) FROM consent.orders WHERE customer_id = 'k-1'") == [(0,)]

    # A genuinely new event after the erasure starts a new relationship from nothing.
    await consent_apply(sessions, CLOCK, [profile("k-1", ERASED_AT + timedelta(days=1), name="Anna")], HASH_KEY, KEY)
    assert await rows(sessions, "SELECT erased_at FROM consent.customers WHERE customer_id = 'k-1'") == [(None,)]


async def test_risk_deletes_the_customer_and_ignores_the_history_afterwards(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    history = [order("r-1", f"o-{n}", T0 + timedelta(days=n)) for n in range(3)]
    history.append(cancellation("r-1", T0 + timedelta(days=10), "zu teuer, Herr Meier"))
    await risk_apply(RiskUnitOfWork(sessions, KEY), CLOCK, [*history, order("r-2", "o-9", T0)], source="/winback/risk")
    assert await rows(sessions, "SELECT count(*) FROM risk.orders WHERE customer_id = 'r-1'") == [(3,)]

    await risk_apply(RiskUnitOfWork(sessions, KEY), CLOCK, [erased("r-1")], source="/winback/risk")
    for table in ("customers", "orders", "signals"):
        assert await rows(sessions, f"SELECT count(*) FROM risk.{table} WHERE customer_id = 'r-1'") == [(0,)], table
    assert await rows(sessions, "SELECT count(*) FROM risk.customers WHERE customer_id = 'r-2'") == [(1,)]
    assert await rows(
        sessions, "SELECT customer_digest, erased_at FROM risk.erasures WHERE customer_digest = :d",
        d=customer_digest(KEY, "r-1"),
    ) == [(customer_digest(KEY, "r-1"), ERASED_AT)]  # fmt: skip

    # Redelivered erasure, the replayed history and a late order (new id, old time): nothing comes back.
    late = order("r-1", "o-late", ERASED_AT - timedelta(seconds=1))
    await risk_apply(RiskUnitOfWork(sessions, KEY), CLOCK, [erased("r-1"), *history, late], source="/winback/risk")
    assert await rows(sessions, "SELECT count(*) FROM risk.customers WHERE customer_id = 'r-1'") == [(0,)]
    assert await rows(sessions, "SELECT count(*) FROM risk.orders WHERE customer_id = 'r-1'") == [(0,)]

    # An order after the erasure is a new relationship: one order, nothing from before.
    await risk_apply(
        RiskUnitOfWork(sessions, KEY),
        CLOCK,
        [order("r-1", "o-new", ERASED_AT + timedelta(days=2))],
        source="/winback/risk",
    )
    assert await rows(sessions, "SELECT orders FROM risk.customers WHERE customer_id = 'r-1'") == [(1,)]


async def test_an_erasure_waits_for_a_batch_in_flight_then_deletes_what_it_wrote(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # A batch checked the tombstones (none yet) and is still writing when the erasure arrives.
    async with sessions.begin() as batch:
        assert await drop_erased_history(batch, risk_erasures, KEY, [order("g-1", "o-1", T0)]) != []
        erasing = asyncio.create_task(risk_apply(RiskUnitOfWork(sessions, KEY), CLOCK, [erased("g-1")], source="/r"))
        await asyncio.sleep(0.5)
        assert not erasing.done()
        await batch.execute(
            text(
                "INSERT INTO risk.orders (customer_id, order_id, ordered_at, order_date, amount)"
                " VALUES ('g-1', 'o-1', :at, :day, 10)"
            ),
            {"at": T0, "day": T0.date()},
        )
    await asyncio.wait_for(erasing, 10)
    assert await rows(sessions, "SELECT count(*) FROM risk.orders WHERE customer_id = 'g-1'") == [(0,)]


async def _seed_campaign(sessions: async_sessionmaker[AsyncSession], customer_id: str) -> None:
    at = T0 + timedelta(days=20)
    async with sessions.begin() as session:
        await session.execute(
            text("INSERT INTO campaign.customers (customer_id, name, email, updated_at) VALUES (:c, 'Anna', :e, :at)"),
            {"c": customer_id, "e": f"{customer_id}@example.org", "at": at},
        )
        await session.execute(
            text(
                "INSERT INTO campaign.enrollments (enrollment_id, customer_id, playbook_id, playbook_version, variant,"
                " holdout, status, trigger_at, started_at) VALUES (:en, :c, 'pb', 1, 'A', false, 'active', :at, :at)"
            ),
            {"en": f"en-{customer_id}", "c": customer_id, "at": at},
        )
        await session.execute(
            text(
                "INSERT INTO campaign.enrollment_steps (enrollment_id, step_id, position, channel, template, due_at,"
                " status, action_id) VALUES (:en, 's1', 0, 'email', 't', :at, 'triggered', :a)"
            ),
            {"en": f"en-{customer_id}", "at": at, "a": f"a-{customer_id}"},
        )
        await session.execute(
            text(
                "INSERT INTO campaign.actions (action_id, customer_id, enrollment_id, step_id, playbook_id, status,"
                " channel, template, content, recipient, due_at, created_at) VALUES (:a, :c, :en, 's1', 'pb',"
                " 'triggered', 'email', 't', CAST(:content AS jsonb), CAST(:recipient AS jsonb), :at, :at)"
            ),
            {
                "a": f"a-{customer_id}",
                "c": customer_id,
                "en": f"en-{customer_id}",
                "at": at,
                "content": '{"subject": "Liebe Anna"}',
                "recipient": f'{{"email": "{customer_id}@example.org"}}',
            },
        )
        await session.execute(
            text(
                "INSERT INTO campaign.webhook_deliveries (action_id, channel, url, payload, status, attempts,"
                " created_at, updated_at) VALUES (:a, 'email', 'https://hooks.example', :p, 'delivered', 1, :at, :at)"
            ),
            {"a": f"a-{customer_id}", "p": b'{"recipient": "anna"}', "at": at},
        )


async def test_campaign_deletes_profile_enrolments_actions_and_webhook_bodies(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    handler = EnrollmentConsumer(
        uow=lambda: SqlUnitOfWork(sessions, KEY), clock=CLOCK, rules=EnrollmentRules(replay_window=timedelta(days=30))
    )
    await _seed_campaign(sessions, "c-1")
    await _seed_campaign(sessions, "c-2")

    await handler([erased("c-1")])
    for table in ("customers", "enrollments", "actions"):
        assert await rows(sessions, f"SELECT count(*) FROM campaign.{table} WHERE customer_id = 'c-1'") == [(0,)], table
    assert await rows(sessions, "SELECT count(*) FROM campaign.enrollment_steps WHERE enrollment_id = 'en-c-1'") == [
        (0,)
    ]
    assert await rows(sessions, "SELECT action_id FROM campaign.webhook_deliveries ORDER BY 1") == [("a-c-2",)]
    assert await rows(sessions, "SELECT count(*) FROM campaign.actions WHERE customer_id = 'c-2'") == [(1,)]

    # The profile replayed (and redelivered erasure) stays out; a profile after the erasure is new.
    await handler([erased("c-1"), profile("c-1", T0, name="Anna", email="c-1@example.org")])
    assert await rows(sessions, "SELECT count(*) FROM campaign.customers WHERE customer_id = 'c-1'") == [(0,)]
    await handler([profile("c-1", ERASED_AT + timedelta(days=1), language="de")])
    assert await rows(sessions, "SELECT name, email FROM campaign.customers WHERE customer_id = 'c-1'") == [
        (None, None)
    ]


def _churn(customer_id: str, at: datetime) -> CustomerStatusChanged:
    data = {"customer_id": customer_id, "from": "active", "to": "churned", "at": at, "churn_reason": "price"}
    return CustomerStatusChanged.new(source="/risk", time=at, data=data)


def _action(customer_id: str, at: datetime) -> ActionTriggered:
    data = {
        "action_id": f"a-{customer_id}",
        "customer_id": customer_id,
        "channel": "email",
        "template": "t",
        "playbook_id": "pb",
        "enrollment_id": f"en-{customer_id}",
        "recipient": {"email": f"{customer_id}@example.org"},
    }
    return ActionTriggered.new(source="/campaign", time=at, data=data)


def _history(customer_id: str) -> list[CloudEvent]:
    return [
        order(customer_id, "o-1", T0),
        cancellation(customer_id, T0 + timedelta(days=5), "zu teuer, Herr Meier"),
        _churn(customer_id, T0 + timedelta(days=6)),
        _action(customer_id, T0 + timedelta(days=7)),
    ]


async def test_metrics_pseudonymises_keeps_every_count_and_deletes_free_texts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    costs: dict[str, Any] = {"channel_costs": {"email": Decimal("0.10")}, "default_cost": Decimal("1")}
    await apply_batch(sessions, [*_history("m-1"), *_history("m-2")], erasure_key=KEY, **costs)
    cohort = CohortFilter(Period(None, None))
    before = await kpis(sessions, cohort, CLOCK.now())

    await apply_batch(sessions, [erased("m-1")], erasure_key=KEY, **costs)
    tables = ("churn_episodes", "actions", "orders", "cancellations")
    for table in tables:
        assert await rows(sessions, f"SELECT count(*) FROM metrics.{table} WHERE customer_id = 'm-1'") == [(0,)]
    pseudonyms = {
        r[0] for t in tables for r in await rows(sessions, f"SELECT customer_id FROM metrics.{t}") if r[0] != "m-2"
    }
    # One random pseudonym for all of m-1's rows, unrelated to the id.
    assert len(pseudonyms) == 1 and next(iter(pseudonyms)).startswith("erased-") and "m-1" not in next(iter(pseudonyms))
    assert await rows(sessions, "SELECT customer_id, reason_text FROM metrics.cancellations ORDER BY reason_text") == [
        ("m-2", "zu teuer, Herr Meier"),
        (next(iter(pseudonyms)), None),
    ]
    after = await kpis(sessions, cohort, CLOCK.now())
    # Every count and sum stays; only the text themes lose the erased customer's words.
    assert _without_themes(after) == _without_themes(before)

    # Redelivery and a replay of the history change nothing (no second customer, no text).
    await apply_batch(sessions, [erased("m-1"), *_history("m-1")], erasure_key=KEY, **costs)
    assert _without_themes(await kpis(sessions, cohort, CLOCK.now())) == _without_themes(before)
    assert await rows(sessions, "SELECT count(*) FROM metrics.cancellations WHERE reason_text IS NOT NULL") == [(1,)]


def _without_themes(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        k: ([{**r, "themes": None} for r in v] if isinstance(v, list) else v)
        for k, v in answer.items()
        if k not in ("as_of", "computed_at")
    }
