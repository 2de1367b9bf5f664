"""The audit hash chain: ``seq``, ``hash`` and ``db_user`` on every audit event.

Existing events are chained in id order (seq 1, 2, 3 …), each hash computed exactly as
``desktop_app.services.audit`` computes it for new events; their ``db_user`` stays NULL
(nobody recorded which login wrote them). Then ``seq`` and ``hash`` become NOT NULL and
``seq`` unique.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 09:00:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from desktop_app.db.types import UTCDateTime
from desktop_app.services.audit import GENESIS, canonical, link

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000

_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("user_id", sa.Integer()),
    sa.column("actor", sa.String()),
    sa.column("source", sa.String()),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.Integer()),
    sa.column("changes", sa.JSON()),
    sa.column("seq", sa.BigInteger()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("db_user", sa.String(length=63), nullable=True))
    _chain_existing_events()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_seq"), ["seq"])


def _chain_existing_events() -> None:
    """Number and hash the events already there, oldest id first, a batch at a time."""
    conn = op.get_bind()
    e = _events.c
    query = sa.select(
        e.id,
        e.at,
        e.user_id,
        e.actor,
        e.source,
        e.action,
        e.object_type,
        e.object_id,
        sa.cast(e.changes, sa.Text).label("changes"),
    ).order_by(e.id)
    write = (
        sa.update(_events)
        .where(e.id == sa.bindparam("b_id"))
        .values(seq=sa.bindparam("b_seq"), hash=sa.bindparam("b_hash"))
    )
    seq, previous, last_id = 0, GENESIS, None
    while True:
        page = query if last_id is None else query.where(e.id > last_id)
        rows = conn.execute(page.limit(BATCH)).all()
        if not rows:
            break
        updates = []
        for row in rows:
            seq += 1
            text = canonical(
                seq,
                row.at,
                row.user_id,
                row.actor,
                None,
                row.source,
                row.action,
                row.object_type,
                row.object_id,
                json.loads(row.changes),
            )
            previous = link(previous, text)
            updates.append({"b_id": row.id, "b_seq": seq, "b_hash": previous})
        conn.execute(write, updates)
        last_id = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_seq"), type_="unique")
        batch_op.drop_column("db_user")
        batch_op.drop_column("hash")
        batch_op.drop_column("seq")
