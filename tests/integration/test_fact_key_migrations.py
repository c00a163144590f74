"""Facts stored before the business keys: the migrations key them as new facts are keyed and drop repeats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from winback_shared.db.migrate import upgrade
from winback_shared.events import keys

pytestmark = pytest.mark.integration

# Microseconds that a float epoch would round: the SQL key must be exact, as keys.micros is.
AT = datetime(2024, 3, 5, 10, 11, 12, 345679, tzinfo=UTC)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def test_risk_signals_get_their_business_keys_and_lose_their_repeats(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "winback_risk:migrations", "0006")
    connection = await asyncpg.connect(_plain(database_url))
    try:
        rows = [
            ("c1", "return", "o1", "5"),
            ("c1", "return", "o1", "5"),  # the same return re-sent with a new event id
            ("c1", "ticket_opened", "t1", None),
            ("c1", "ticket_opened", "t1", None),
            ("c2", "return", "o1", "5"),  # another customer's order o1
            ("c1", "usage", "logins", None),
            ("c1", "usage", "logins", None),  # no period start kept: stays unkeyed, both stay
        ]
        await connection.executemany(
            "INSERT INTO risk.signals (customer_id, at, kind, ref, amount) VALUES ($1, $2, $3, $4, $5::numeric)",
            [(c, AT, k, r, a) for c, k, r, a in rows],
        )
        # c1's order o1 folded three times before the keys: 3 orders, 300 - 5 - 5 revenue, 3 x 40 margin.
        await connection.execute(
            "INSERT INTO risk.orders (customer_id, order_id, ordered_at, order_date, amount, margin) "
            "VALUES ('c1', 'o1', $1, $2, 100, 40)",
            AT,
            AT.date(),
        )
        await connection.execute(
            "INSERT INTO risk.customers (customer_id, status, status_since, orders, revenue, margin) "
            "VALUES ('c1', 'active', $1, 3, 290, 120), ('c2', 'active', $1, 0, -5, 0)",
            AT,
        )
        await asyncio.to_thread(upgrade, database_url, "winback_risk:migrations", "head")
        kept = await connection.fetch("SELECT customer_id, kind, fact_key FROM risk.signals ORDER BY id")
        totals = await connection.fetch("SELECT customer_id, orders, revenue, margin FROM risk.customers ORDER BY 1")
    finally:
        await connection.close()
    return_key = keys.scoped("o1", f"at:{keys.micros(AT)}")
    assert [tuple(r) for r in kept] == [
        ("c1", "return", return_key),
        ("c1", "ticket_opened", "t1"),
        ("c2", "return", return_key),
        ("c1", "usage", None),
        ("c1", "usage", None),
    ]
    assert [tuple(r) for r in totals] == [("c1", 1, Decimal("95"), Decimal("40")), ("c2", 0, Decimal("-5"), 0)]


async def test_metrics_returns_and_surveys_get_their_business_keys_and_lose_their_repeats(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "winback_metrics:migrations", "0005")
    connection = await asyncpg.connect(_plain(database_url))
    try:
        await connection.executemany(
            "INSERT INTO metrics.order_returns (event_key, customer_id, order_id, returned_at, amount) "
            "VALUES ($1, $2, $3, $4, $5::numeric)",
            [("e1", "c1", "o1", AT, "30"), ("e2", "c1", "o1", AT, "30"), ("e3", "c1", "o2", AT, None)],
        )
        await connection.executemany(
            "INSERT INTO metrics.surveys (event_key, customer_id, survey, score, answered_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            [("s1", "c1", "nps", 3, AT), ("s2", "c1", "nps", 3, AT), ("s3", "c1", "csat", 2, AT)],
        )
        await asyncio.to_thread(upgrade, database_url, "winback_metrics:migrations", "head")
        returns = await connection.fetch("SELECT fact_key, amount FROM metrics.order_returns ORDER BY order_id")
        surveys = await connection.fetch("SELECT fact_key FROM metrics.surveys ORDER BY survey")
    finally:
        await connection.close()
    at = f"{keys.micros(AT)}"
    assert [tuple(r) for r in returns] == [
        (keys.scoped("c1", keys.scoped("o1", f"at:{at}")), Decimal("30")),
        (keys.scoped("c1", keys.scoped("o2", f"at:{at}")), None),
    ]
    assert [r["fact_key"] for r in surveys] == [keys.scoped("c1", f"csat@{at}"), keys.scoped("c1", f"nps@{at}")]
