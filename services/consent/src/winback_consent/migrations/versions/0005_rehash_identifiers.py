"""Re-hash the stored contact identifiers under hash scheme 2 (email-validator, phonenumbers).

Only keyed hashes are stored, so the suppression list itself cannot be re-hashed: its entries keep
their scheme-1 hashes. Where the raw value still exists (the profiles of customers not erased), this
computes the current hash of each identifier, stores it on the profile and its decision snapshot, and
copies a listing found under the value's scheme-1 hash to its scheme-2 hash (same source, list and
listing time). Values seen later (a new `customer.upserted`, a re-imported erased address) are carried
over by the consumer the same way. The HMAC key is the service's (`WINBACK_CONSENT_HASH_KEY`, read as
the service reads it); a caller may pass it as the Alembic config attribute `consent_hash_key`.

Revision ID: 0005
Revises: 0003
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from winback_consent.domain.contacts import contact_hashes, legacy_pairs

revision = "0005"
down_revision = "0003"
S = "consent"
BATCH = 5_000


def _hash_key() -> bytes:
    config = op.get_context().config
    given = config.attributes.get("consent_hash_key") if config is not None else None
    if given is not None:
        return bytes(given)
    from winback_consent.settings import ConsentSettings

    return ConsentSettings().hash_key


def _rehash(connection: sa.Connection, key: bytes, rows: Sequence[Any]) -> None:
    updates: list[dict[str, Any]] = []
    pairs: list[tuple[str, str]] = []
    for r in rows:
        h = contact_hashes(key, r.email, r.phone, r.fax, r.postal_address)
        updates.append({"id": r.customer_id, "e": h.email, "p": h.phone, "f": h.fax, "a": h.postal})
        pairs.extend((old, new) for _, old, new in legacy_pairs(key, r.email, r.phone, r.fax))
    connection.execute(
        sa.text(
            f"UPDATE {S}.customers SET email_hash = :e, phone_hash = :p, fax_hash = :f, postal_hash = :a "
            "WHERE customer_id = :id"
        ),
        updates,
    )
    connection.execute(
        sa.text(
            f"UPDATE {S}.decision_snapshots s SET email_hash = c.email_hash, phone_hash = c.phone_hash, "
            f"fax_hash = c.fax_hash, postal_hash = c.postal_hash FROM {S}.customers c "
            "WHERE c.customer_id = s.customer_id AND c.customer_id = ANY(:ids)"
        ),
        {"ids": [r.customer_id for r in rows]},
    )
    if pairs:
        connection.execute(
            sa.text(
                f"INSERT INTO {S}.suppressions (digest, kind, source, list_name, listed_at) "
                "SELECT p.new, s.kind, s.source, s.list_name, s.listed_at "
                "FROM unnest(CAST(:old AS text[]), CAST(:new AS text[])) AS p(old, new) "
                f"JOIN {S}.suppressions s ON s.digest = p.old ON CONFLICT (digest) DO NOTHING"
            ),
            {"old": [o for o, _ in pairs], "new": [n for _, n in pairs]},
        )


def upgrade() -> None:
    connection = op.get_bind()
    key = _hash_key()
    last = ""
    while True:
        # Keyset pagination: erased profiles hold no raw values (their hashes stay as erasure left them).
        rows = connection.execute(
            sa.text(
                f"SELECT customer_id, email, phone, fax, postal_address FROM {S}.customers "
                "WHERE erased_at IS NULL AND customer_id > :last ORDER BY customer_id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            return
        _rehash(connection, key, rows)
        last = rows[-1].customer_id


def downgrade() -> None:
    pass  # no schema change; copied listings are valid under either scheme
