"""SQL over risk's facts (orders, signals) and fitted models; callers own the transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import any_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from winback_risk.adapters.arrays import micros, numeric_literal, timestamp_of
from winback_risk.adapters.repository import IDS
from winback_risk.adapters.tables import customers, models, orders, signals
from winback_risk.domain.facts import FactKey, OrderFact, Signal
from winback_risk.domain.model.population import PopulationModel
from winback_risk.domain.scoring import OrderSummary
from winback_shared.db.arrays import text_array

# Signals older than this do not drive any score (the longest driver window is 365 days);
# contract facts are kept regardless, a contract may run for years.
SIGNAL_LOOKBACK = timedelta(days=400)
CONTRACT_KINDS = ("contract_started", "contract_renewed", "contract_cancelled")


# Bulk statements bind one array per column (INSERT ... SELECT FROM unnest): a multi-row VALUES
# binds rows x columns parameters and costs more to compile than to write (bench/risk/README.md).
# Times travel as int8 microseconds, amounts and strings as text literals: cheaper to encode (`arrays`).
# The stored keys come back as two arrays in one row (decoded by asyncpg in C): a result row per
# order cost more Python than the rest of the insert.
_INSERT_ORDERS = text(
    f"""
    WITH stored AS (
        INSERT INTO risk.orders (customer_id, order_id, ordered_at, order_date, amount, margin)
        SELECT c, o, t, CAST(t AT TIME ZONE 'UTC' AS date), a, m
        FROM (SELECT c, o, {timestamp_of("us")} AS t, a, m
              FROM unnest(CAST(CAST(:c AS text) AS text[]), CAST(CAST(:o AS text) AS text[]), CAST(:t AS int8[]),
                          CAST(CAST(:a AS text) AS numeric[]), CAST(CAST(:m AS text) AS numeric[])) AS u(c, o, us, a, m)
             ) AS f
        ON CONFLICT DO NOTHING
        RETURNING customer_id, order_id
    )
    SELECT coalesce(array_agg(customer_id), '{{}}'), coalesce(array_agg(order_id), '{{}}') FROM stored
    """
)
# A signal whose business key the customer has already (migration 0008) is the same fact again.
_INSERT_SIGNALS = text(
    """
    INSERT INTO risk.signals (customer_id, at, kind, ref, value, label, amount, ends_on, fact_key)
    SELECT * FROM unnest(CAST(:c AS text[]), CAST(:t AS timestamptz[]), CAST(:k AS text[]), CAST(:r AS text[]),
                         CAST(:v AS float8[]), CAST(:l AS text[]), CAST(CAST(:a AS text) AS numeric[]),
                         CAST(:e AS date[]), CAST(:key AS text[]))
    ON CONFLICT (customer_id, kind, fact_key) DO NOTHING
    RETURNING customer_id, kind, fact_key
    """
)


async def insert_orders(session: AsyncSession, facts: Sequence[OrderFact]) -> set[FactKey]:
    """Store orders, the first version of each order id per customer; returns the keys of those new here.

    An order id the customer has already is the same order (a re-send, another source, another
    amount): nothing changes. The day is the UTC day.
    """
    if not facts:
        return set()
    params = {
        "c": text_array([f.customer_id for f in facts]),
        "o": text_array([f.order_id for f in facts]),
        "t": micros(f.ordered_at for f in facts),
        "a": numeric_literal(f.amount for f in facts),
        "m": numeric_literal(f.margin for f in facts),
    }
    customer_ids, order_ids = (await session.execute(_INSERT_ORDERS, params)).one()
    return {("order", c, o) for c, o in zip(customer_ids, order_ids, strict=True)}


async def insert_signals(session: AsyncSession, facts: Sequence[Signal]) -> set[FactKey]:
    """Store signals, the first of each business key per customer; returns the keys of those new here."""
    if not facts:
        return set()
    params = {
        "c": [s.customer_id for s in facts],
        "t": [s.at for s in facts],
        "k": [s.kind for s in facts],
        "r": [s.ref for s in facts],
        "v": [s.value for s in facts],
        "l": [s.label for s in facts],
        "a": numeric_literal(s.amount for s in facts),
        "e": [s.ends_on for s in facts],
        "key": [s.key for s in facts],
    }
    rows = (await session.execute(_INSERT_SIGNALS, params)).all()
    return {(k, c, key) for c, k, key in rows if key is not None}


@lru_cache(maxsize=4096)
def _day_start(day: date) -> datetime:
    """Midnight UTC of the day: two per customer scored, of a few hundred distinct days (cached)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


# One row per customer over its orders up to its moment: the model's summaries, the totals, and
# the orders of three 365-day windows (ending at the moment, at the last order, at the churn) of
# which the assessment picks the one that ends where the relationship ended (domain/value.py).
# The last order comes from the caller when it knows it (the customer row, for a moment at or
# after it): a window function over all orders cost the database 20 % more per event.
_ORDER_SUMMARIES = text(
    f"""
    WITH w AS MATERIALIZED (
        SELECT customer_id, moment, churned_at, moment - interval '365 days' AS year_before,
               churned_at - interval '365 days' AS churn_year,
               coalesce(last_known, (SELECT max(x.ordered_at) FROM risk.orders x
                                     WHERE x.customer_id = u.customer_id AND x.ordered_at <= u.moment))
                   - interval '365 days' AS last_year
        FROM (SELECT customer_id, {timestamp_of("m")} AS moment, {timestamp_of("c")} AS churned_at,
                     {timestamp_of("l")} AS last_known
              FROM unnest(CAST(CAST(:ids AS text) AS text[]), CAST(:m AS int8[]), CAST(:c AS int8[]),
                          CAST(:l AS int8[]))
                   AS a(customer_id, m, c, l)) AS u
    )
    SELECT w.customer_id, a.*
    FROM w CROSS JOIN LATERAL (
        SELECT count(DISTINCT o.order_date) AS occasions, count(*), min(o.ordered_at), max(o.ordered_at),
               min(o.order_date), max(o.order_date), sum(o.amount), coalesce(sum(o.margin), 0),
               bool_or(o.margin IS NOT NULL),
               sum(o.amount) FILTER (WHERE o.ordered_at > w.year_before),
               sum(o.margin) FILTER (WHERE o.ordered_at > w.year_before),
               sum(o.amount) FILTER (WHERE o.ordered_at > w.last_year),
               sum(o.margin) FILTER (WHERE o.ordered_at > w.last_year),
               sum(o.amount) FILTER (WHERE o.ordered_at > w.churn_year AND o.ordered_at <= w.churned_at),
               sum(o.margin) FILTER (WHERE o.ordered_at > w.churn_year AND o.ordered_at <= w.churned_at)
        FROM risk.orders o WHERE o.customer_id = w.customer_id AND o.ordered_at <= w.moment
    ) AS a
    WHERE a.occasions > 0
    """
)
_ZERO = Decimal(0)


def _summary(row: Sequence[Any]) -> OrderSummary:
    # Positional: the columns of `_ORDER_SUMMARIES` after customer_id, in OrderSummary's order.
    _, occasions, count, first_at, last_at, first_day, last_day, revenue, margin, has_margin, *windows = row
    return OrderSummary(
        occasions, count, first_at, last_at, _day_start(first_day), _day_start(last_day), revenue, margin, has_margin,
        *(_ZERO if w is None else w for w in windows),
    )  # fmt: skip


def _summaries_query(as_of: datetime | None) -> Any:
    o = orders.c
    query = select(
        o.customer_id,
        func.count(o.order_date.distinct()).label("occasions"),
        func.count().label("orders"),
        func.min(o.ordered_at).label("first_at"),
        func.max(o.ordered_at).label("last_at"),
        func.min(o.order_date).label("first_day"),
        func.max(o.order_date).label("last_day"),
        func.sum(o.amount).label("revenue"),
        func.coalesce(func.sum(o.margin), 0).label("margin"),
        func.bool_or(o.margin.is_not(None)).label("has_margin"),
    ).group_by(o.customer_id)
    return query if as_of is None else query.where(o.ordered_at <= as_of)


async def order_summaries(
    session: AsyncSession,
    customer_ids: Sequence[str],
    moments: Sequence[datetime],
    churned_at: Sequence[datetime | None],
    last_order_at: Sequence[datetime | None],
) -> dict[str, OrderSummary]:
    """Per customer, over its orders at or before its moment: occasions, first/last order, sums, 12-month windows.

    `last_order_at`: the customer's last order when known to be at or before the moment (else None: looked up).
    """
    if not customer_ids:
        return {}
    ids = text_array(customer_ids)
    params = {"ids": ids, "m": micros(moments), "c": micros(churned_at), "l": micros(last_order_at)}
    rows = (await session.execute(_ORDER_SUMMARIES, params)).all()
    return {row[0]: _summary(row) for row in rows}


async def all_order_summaries(session: AsyncSession, as_of: datetime) -> list[OrderSummary]:
    """`order_summaries` of every customer with orders at or before as_of: what a fit sees of them."""
    rows = (await session.execute(_summaries_query(as_of).order_by(orders.c.customer_id))).all()
    return [_summary(row) for row in rows]


async def signals_of(
    session: AsyncSession, customer_ids: Collection[str], as_of: datetime | None
) -> dict[str, list[Signal]]:
    """The signals that can still drive a score at as_of (None: the latest ones)."""
    if not customer_ids:
        return {}
    s = signals.c
    query = select(s.customer_id, s.at, s.kind, s.ref, s.value, s.label, s.amount, s.ends_on)
    query = query.where(s.customer_id == any_(IDS))
    if as_of is not None:
        query = query.where(s.at <= as_of, or_(s.at > as_of - SIGNAL_LOOKBACK, s.kind.in_(CONTRACT_KINDS)))
    out: dict[str, list[Signal]] = {}
    for row in (await session.execute(query.order_by(s.customer_id, s.at, s.id), {"ids": list(customer_ids)})).all():
        out.setdefault(row.customer_id, []).append(Signal(*row))
    return out


async def save_model(session: AsyncSession, model: PopulationModel) -> None:
    await session.execute(
        models.insert().values(
            name=model.name,
            parameters=model.parameters(),
            customers_used=model.customers_used,
            log_likelihood=model.log_likelihood,
            fitted_at=model.fitted_at,
            statistics={**model.statistics, **model.outcome()},
        )
    )


async def latest_model(session: AsyncSession) -> PopulationModel | None:
    row = (await session.execute(select(models).order_by(models.c.id.desc()).limit(1))).mappings().first()
    if row is None:
        return None
    return PopulationModel.from_parameters(
        row["parameters"],
        customers_used=row["customers_used"],
        log_likelihood=row["log_likelihood"],
        fitted_at=row["fitted_at"],
        statistics=row["statistics"],
    )


async def customer_ids_after(session: AsyncSession, after: str | None, limit: int) -> list[str]:
    query = select(customers.c.customer_id).order_by(customers.c.customer_id).limit(limit)
    if after is not None:
        query = query.where(customers.c.customer_id > after)
    return list((await session.scalars(query)).all())
