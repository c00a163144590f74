"""A missing postal address is SQL NULL, not JSON null.

Earlier writes stored JSON `null`, which COALESCE treats as a value: an older profile event could
then never fill the address. The table now binds None as SQL NULL; this converts what is stored.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("UPDATE consent.customers SET postal_address = NULL WHERE postal_address = 'null'::jsonb")


def downgrade() -> None:
    pass  # SQL NULL is what both versions read as "no address"
