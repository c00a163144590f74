"""Actions pre-aggregated for the KPI answer, kept current by triggers.

`metrics.action_rollup`: actions by churn day and every dimension the answer groups or filters by.
`metrics.playbook_contacts`: per episode and playbook, how many triggered actions (non-holdout
episodes), so contacted episodes per playbook are counted without de-duplicating actions.

`GET /v1/kpis` tallies actions by status, reason, channel, template and variant over a cohort of
episodes. Scanning every action (640,000 rows in the benchmark) costs ~350 ms per answer; the
roll-up holds one row per combination that occurs (about 14,000 there). Statement-level triggers
with transition tables keep it equal to `GROUP BY` over `metrics.actions` in the same
transaction as every INSERT, UPDATE (episode stamps, response flags) and DELETE, whichever code
path writes: nothing has to remember to maintain it. Only stamped actions (those in a churn
episode) count, as in the KPI queries. Rows are added in key order so concurrent writers lock
them in the same order.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"

KEYS = (
    "churn_day",
    "ep_segment",
    "ep_value_tier",
    "ep_won",
    "ep_holdout",
    "playbook_id",
    "channel",
    "template",
    "variant",
    "status",
    "reason",
)
SUMS = ("n", "cost", "delivered", "opened", "clicked", "replied")


def _contribution(rows: str, sign: str) -> str:
    """One row's share of the roll-up: `sign` 1 adds it, -1 takes it away."""
    key = ", ".join(["(ep_churned_at AT TIME ZONE 'UTC')::date", *KEYS[1:]])
    flags = ", ".join(f"{sign} * {flag}::int" for flag in SUMS[2:])
    return f"SELECT {key}, {sign} AS n, {sign} * cost, {flags} FROM {rows} WHERE ep_churned_at IS NOT NULL"


def _apply(*parts: str) -> str:
    keys, sums = ", ".join(KEYS), ", ".join(SUMS)
    totals = ", ".join(f"sum({s})" for s in SUMS)
    changed = " OR ".join(f"sum({s}) <> 0" for s in SUMS)
    union = " UNION ALL ".join(parts)
    adds = ", ".join(f"{s} = r.{s} + EXCLUDED.{s}" for s in SUMS)
    return (
        f"INSERT INTO metrics.action_rollup AS r ({keys}, {sums}) "
        f"SELECT {keys}, {totals} FROM ({union}) AS d ({keys}, {sums}) "
        f"GROUP BY {keys} HAVING {changed} ORDER BY {keys} "
        f"ON CONFLICT ({keys}) DO UPDATE SET {adds};"
    )


CONTACT_KEYS = ("episode_id", "playbook_id", "ep_churned_at", "ep_segment", "ep_value_tier", "ep_won")


def _contacts(rows: str, sign: str) -> str:
    keys = ", ".join(CONTACT_KEYS)
    return (
        f"SELECT {keys}, {sign} FROM {rows} WHERE ep_churned_at IS NOT NULL AND NOT ep_holdout AND status = 'triggered'"
    )


def _apply_contacts(*parts: str, forget: str | None = None) -> str:
    keys = ", ".join(CONTACT_KEYS)
    upsert = (
        f"INSERT INTO metrics.playbook_contacts AS c ({keys}, triggered) "
        f"SELECT {keys}, sum(t) FROM ({' UNION ALL '.join(parts)}) AS d ({keys}, t) "
        f"GROUP BY {keys} HAVING sum(t) <> 0 ORDER BY {keys} "
        f"ON CONFLICT ({keys}) DO UPDATE SET triggered = c.triggered + EXCLUDED.triggered;"
    )
    if forget is None:
        return upsert
    # An episode restamped (won, segment...) leaves its old key at zero: drop it.
    return (
        f"{upsert} DELETE FROM metrics.playbook_contacts c WHERE c.triggered = 0 "
        f"AND c.episode_id IN (SELECT episode_id FROM {forget});"
    )


FUNCTION = f"""
CREATE FUNCTION metrics.roll_up_actions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_apply(_contribution("new_rows", "1"))}
        {_apply_contacts(_contacts("new_rows", "1"))}
    ELSIF TG_OP = 'UPDATE' THEN
        {_apply(_contribution("new_rows", "1"), _contribution("old_rows", "-1"))}
        {_apply_contacts(_contacts("new_rows", "1"), _contacts("old_rows", "-1"), forget="old_rows")}
    ELSE
        {_apply(_contribution("old_rows", "-1"))}
        {_apply_contacts(_contacts("old_rows", "-1"), forget="old_rows")}
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE metrics.action_rollup (
            churn_day date NOT NULL,
            ep_segment varchar(32),
            ep_value_tier varchar(8),
            ep_won boolean NOT NULL,
            ep_holdout boolean NOT NULL,
            playbook_id varchar(128) NOT NULL,
            channel varchar(32) NOT NULL,
            template varchar(256),
            variant varchar(64),
            status varchar(16) NOT NULL,
            reason varchar(256),
            n bigint NOT NULL,
            cost numeric(20, 4) NOT NULL,
            delivered bigint NOT NULL,
            opened bigint NOT NULL,
            clicked bigint NOT NULL,
            replied bigint NOT NULL
        )"""
    )
    keys = ", ".join(KEYS)
    op.execute(f"CREATE UNIQUE INDEX uq_action_rollup_key ON metrics.action_rollup ({keys}) NULLS NOT DISTINCT")
    op.execute(
        """
        CREATE TABLE metrics.playbook_contacts (
            episode_id bigint NOT NULL,
            playbook_id varchar(128) NOT NULL,
            ep_churned_at timestamptz NOT NULL,
            ep_segment varchar(32),
            ep_value_tier varchar(8),
            ep_won boolean NOT NULL,
            triggered bigint NOT NULL
        )"""
    )
    contact_keys = ", ".join(CONTACT_KEYS)
    op.execute(
        f"CREATE UNIQUE INDEX uq_playbook_contacts_key ON metrics.playbook_contacts ({contact_keys}) NULLS NOT DISTINCT"
    )
    op.execute(FUNCTION)
    for event, transitions in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER roll_up_actions_{event.lower()} AFTER {event} ON metrics.actions "
            f"REFERENCING {transitions} FOR EACH STATEMENT EXECUTE FUNCTION metrics.roll_up_actions()"
        )
    op.execute(_apply(_contribution("metrics.actions", "1")).rstrip(";"))
    op.execute(_apply_contacts(_contacts("metrics.actions", "1")).rstrip(";"))


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER roll_up_actions_{event} ON metrics.actions")
    op.execute("DROP FUNCTION metrics.roll_up_actions()")
    op.execute("DROP TABLE metrics.playbook_contacts")
    op.execute("DROP TABLE metrics.action_rollup")
