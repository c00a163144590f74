"""What keeping the status history costs risk's outbox writes (migration 0009's trigger).

    python -m bench.risk.status_history [--rows 20000] [--batch 1000] [--rounds 5]

One PostgreSQL (durable defaults), risk's schema migrated. Each round enqueues `--rows` outbox
messages in batches of `--batch` (the consumer's statement, `winback_shared.db.outbox.enqueue`),
once with the trigger enabled and once disabled, alternating; the outbox and the history are
emptied between runs. Three mixes: only `customer.status_changed` (every row is copied), only
`customer.risk_assessed` (the trigger's WHEN filter skips every row), and one change in ten.
Prints the median time per row of each, and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from winback_cli.servers import EmbeddedPostgres, free_port, prepare_dir_for_system_user
from winback_risk.adapters.tables import outbox
from winback_shared.db.engine import create_engine, create_sessionmaker
from winback_shared.db.migrate import upgrade
from winback_shared.db.outbox import OutboxMessage, enqueue
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.produced import CustomerRiskAssessed, CustomerStatusChanged
from winback_shared.events.topics import Topic

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def messages(kind: str, rows: int) -> list[OutboxMessage]:
    """Realistic payloads: the events risk publishes, one customer each; `mixed` is one change in ten."""
    out = []
    for i in range(rows):
        customer = f"c-{i}"
        event: CloudEvent
        if kind == "status_changed" or (kind == "mixed" and i % 10 == 0):
            data = {
                "customer_id": customer,
                "from": "active",
                "to": "at_risk",
                "at": NOW,
                "reasons": ["overdue"],
                "churn_reason": None,
                "segment": "star",
                "value_tier": "A",
                "winback_eligible": True,
                "caused_by": {"source": "/shop", "id": str(uuid.uuid4())},
                "risk_score": 0.61,
                "winback_probability": 0.4,
            }
            event = CustomerStatusChanged.new(source="/winback/risk", time=NOW, data=data)
        else:
            data = {
                "customer_id": customer,
                "risk_score": 0.61,
                "p_alive": 0.7,
                "as_of": NOW,
                "expected_orders": 1.2,
                "drivers": [{"factor": "overdue", "contribution": 0.3, "detail": "2.1 x own interval"}],
            }
            event = CustomerRiskAssessed.new(source="/winback/risk", time=NOW, data=data)
        out.append(OutboxMessage.of(Topic.RISK.value, event))
    return out


async def timed(url: str, batch: list[OutboxMessage], size: int, trigger: bool) -> float:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions.begin() as session:
            state = "ENABLE" if trigger else "DISABLE"
            await session.execute(text(f"ALTER TABLE risk.outbox {state} TRIGGER outbox_keeps_status_changes"))
            await session.execute(text("TRUNCATE risk.outbox, risk.status_changes"))
        started = time.perf_counter()
        for i in range(0, len(batch), size):
            async with sessions.begin() as session:
                await enqueue(session, outbox, batch[i : i + size])
        return (time.perf_counter() - started) / len(batch)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-status-history-"))
    tmp.chmod(0o755)  # the PostgreSQL system user must reach its data directory
    pg = EmbeddedPostgres(prepare_dir_for_system_user(tmp / "pg"), free_port())
    pg.start()
    try:
        pg.create_database("winback")
        url = pg.url_for("winback")
        upgrade(url, "winback_risk:migrations")
        for kind in ("status_changed", "risk_assessed", "mixed"):
            batch = messages(kind, args.rows)
            on: list[float] = []
            off: list[float] = []
            for _ in range(args.rounds):
                on.append(asyncio.run(timed(url, batch, args.batch, trigger=True)))
                off.append(asyncio.run(timed(url, batch, args.batch, trigger=False)))
            with_trigger, without = statistics.median(on) * 1e6, statistics.median(off) * 1e6
            print(
                f"{kind}: {with_trigger:.1f} us/row with the trigger, {without:.1f} us/row without "
                f"(+{with_trigger - without:.1f} us/row; medians of {args.rounds} rounds of {args.rows} rows)",
                flush=True,
            )
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
