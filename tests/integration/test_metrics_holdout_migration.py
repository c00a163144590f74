"""Metrics migration 0008: episodes stored under the old rule (any enrolment held out) take their first one's arm."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from winback_shared.db.migrate import upgrade

pytestmark = pytest.mark.integration

CHURNED = datetime(2024, 10, 1, 8, tzinfo=UTC)
DAY = timedelta(days=1)


async def test_an_episode_held_out_only_by_a_later_enrolment_becomes_treated(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url, "winback_metrics:migrations", "0007")
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        episodes = {}
        for customer in ("later", "first"):
            episodes[customer] = await connection.fetchval(
                "INSERT INTO metrics.churn_episodes (customer_id, churned_at, winback_eligible, enrolled, holdout, "
                "triggered) VALUES ($1, $2, true, true, true, 1) RETURNING episode_id",
                customer,
                CHURNED,
            )
        # "later": treated by pb-x first (and e-mailed), held out of pb-y afterwards. "first": held out first.
        enrolments = [
            ("en-x-later", "later", "pb-x", CHURNED + DAY, False),
            ("en-y-later", "later", "pb-y", CHURNED + 20 * DAY, True),
            ("en-x-first", "first", "pb-x", CHURNED + DAY, True),
            ("en-y-first", "first", "pb-y", CHURNED + 20 * DAY, False),
        ]
        await connection.executemany(
            "INSERT INTO metrics.enrollments (enrollment_id, customer_id, playbook_id, enrolled_at, holdout, "
            "episode_id, ep_churned_at, ep_holdout) VALUES ($1, $2, $3, $4, $5, $6, $7, true)",
            [(e, c, p, at, held, episodes[c], CHURNED) for e, c, p, at, held in enrolments],
        )
        await connection.executemany(
            "INSERT INTO metrics.actions (action_id, customer_id, status, channel, playbook_id, enrollment_id, cost, "
            "occurred_at, episode_id, ep_churned_at, ep_holdout) "
            "VALUES ($1, $2, 'triggered', 'email', $3, $4, 0.05, $5, $6, $7, true)",
            [
                ("a-later", "later", "pb-x", "en-x-later", CHURNED + 2 * DAY, episodes["later"], CHURNED),
                ("a-first", "first", "pb-y", "en-y-first", CHURNED + 21 * DAY, episodes["first"], CHURNED),
            ],
        )
        assert await connection.fetchval("SELECT count(*) FROM metrics.playbook_contacts") == 0

        await asyncio.to_thread(upgrade, database_url, "winback_metrics:migrations", "head")
        held_out = dict(await connection.fetch("SELECT customer_id, holdout FROM metrics.churn_episodes"))
        stamps = await connection.fetch(
            "SELECT customer_id, bool_and(ep_holdout) AS all_held, bool_or(ep_holdout) AS any_held FROM "
            "(SELECT customer_id, ep_holdout FROM metrics.actions UNION ALL "
            "SELECT customer_id, ep_holdout FROM metrics.enrollments) s GROUP BY customer_id ORDER BY customer_id"
        )
        contacts = await connection.fetch("SELECT episode_id, playbook_id, triggered FROM metrics.playbook_contacts")
    finally:
        await connection.close()
    assert held_out == {"later": False, "first": True}
    assert [tuple(r) for r in stamps] == [("first", True, True), ("later", False, False)]
    # The roll-up triggers followed the re-stamp: the treated episode's e-mail now counts as a contact.
    assert [tuple(r) for r in contacts] == [(episodes["later"], "pb-x", 1)]
