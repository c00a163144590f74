"""Returns, surveys and cancellations keyed by the fact, not by the event that stated it.

`event_key` (the event's `(source, id)`) becomes `fact_key` (winback_shared.events.keys,
customer-scoped): a return is its order and its `return_id` or time, a survey answer its survey
and time, a cancellation its contract and time. The same return re-sent with a new event id, or
by another source, no longer takes its amount off the revenue twice. Rows stored before this
revision: returns and surveys get the key their event would have had (returns without the
sender's `return_id`, which was not kept), repeats among them are removed (the smallest old key
stays); cancellations did not keep their contract id and keep their old key. Episodes whose
facts were removed are recomputed on their customer's next event, or at once with
`refresh_episodes(session, None)`.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Callable

from alembic import op

revision = "0007"
down_revision = "0006"

TABLES = ("order_returns", "surveys", "cancellations")


def _micros(at: str) -> str:
    return f"(extract(epoch FROM {at}) * 1000000)::bigint::text"


def _scoped(outer: str, inner: str) -> str:
    # keys.scoped in SQL: the length-prefixed outer key, then the inner one.
    return f"length({outer}) || ':' || {outer} || {inner}"


def _return_key(t: str) -> str:
    return _scoped(f"{t}.customer_id", _scoped(f"{t}.order_id", "'at:' || " + _micros(f"{t}.returned_at")))


def _survey_key(t: str) -> str:
    return _scoped(f"{t}.customer_id", f"{t}.survey || '@' || " + _micros(f"{t}.answered_at"))


def _rekey(table: str, key: Callable[[str], str]) -> None:
    op.execute(
        f"DELETE FROM metrics.{table} t USING metrics.{table} kept "
        f"WHERE {key('kept')} = {key('t')} AND kept.fact_key < t.fact_key"
    )
    op.execute(f"UPDATE metrics.{table} x SET fact_key = {key('x')}")


def upgrade() -> None:
    for table in TABLES:
        op.alter_column(table, "event_key", new_column_name="fact_key", schema="metrics")
    _rekey("order_returns", _return_key)
    _rekey("surveys", _survey_key)


def downgrade() -> None:
    # The business keys stay in the column: they are as unique as the event keys were.
    for table in TABLES:
        op.alter_column(table, "fact_key", new_column_name="event_key", schema="metrics")
