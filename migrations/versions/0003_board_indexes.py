"""The pipeline board's index: the renewal columns every board query reads, in one place.

The board counts and sums every renewal that matches its filter, per stage. With this
index the database reads those rows from one narrow index (stage, decision time, term,
policy, next-action owner, new premium) instead of from the wide renewals table, which
halves the time of an unfiltered board on SQLite; decided columns ("decided in the last
30 days") read only their recent range.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 07:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_renewals_board"
COLUMNS = [
    "stage_id",
    "stage_entered_at",
    "term_id",
    "policy_id",
    "next_action_owner_id",
    "new_premium",
]


def upgrade() -> None:
    op.create_index(INDEX, "renewals", COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="renewals")
