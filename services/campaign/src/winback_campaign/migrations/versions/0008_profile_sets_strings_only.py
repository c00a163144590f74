"""Profile sets hold strings only: remove JSON nulls stored in `categories` and `wishes`.

A profile update without categories stored JSON `null` (not SQL NULL), and the merge of the next
update appended it to the array (`["services", null]`); rendering "what you bought" then failed
with a TypeError and the scheduler worker restarted on every round that met such a customer.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"

CLEAN = """
UPDATE campaign.customers SET {column} = CASE
    WHEN jsonb_typeof({column}) = 'array' THEN (
        SELECT coalesce(jsonb_agg(v), '[]'::jsonb) FROM jsonb_array_elements({column}) v
        WHERE jsonb_typeof(v) = 'string')
    ELSE NULL END
WHERE {column} IS NOT NULL
  AND (jsonb_typeof({column}) <> 'array' OR EXISTS (
        SELECT 1 FROM jsonb_array_elements({column}) v WHERE jsonb_typeof(v) <> 'string'))
"""


def upgrade() -> None:
    for column in ("categories", "wishes"):
        op.execute(CLEAN.format(column=column))


def downgrade() -> None:
    pass  # nothing to restore: the removed nulls carried no information
