"""The timer service: its ledger, people's notices, the due-work index and its system user.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:14:33.484665
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import desktop_app.db.types

TIMER_USER = "timer-service"

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", desktop_app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("renewal_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("read_at", desktop_app.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["renewal_id"], ["renewals.id"], name=op.f("fk_notices_renewal_id_renewals")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notices_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_renewal_id"), ["renewal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notices_user_id"), ["user_id"], unique=False)

    op.create_table(
        "timer_firings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=80), nullable=False),
        sa.Column("fired_at", desktop_app.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("renewal_id", sa.Integer(), nullable=True),
        sa.Column("process", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["renewal_id"], ["renewals.id"], name=op.f("fk_timer_firings_renewal_id_renewals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timer_firings")),
        sa.UniqueConstraint(
            "kind", "subject_id", "detail", name=op.f("uq_timer_firings_kind_subject_id_detail")
        ),
    )
    with op.batch_alter_table("timer_firings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_timer_firings_fired_at"), ["fired_at"], unique=False)

    with op.batch_alter_table("auto_renewals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_due_at", desktop_app.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_auto_renewals_next_due_at"), ["next_due_at"], unique=False
        )

    with op.batch_alter_table("terms", schema=None) as batch_op:
        batch_op.create_index("ix_terms_end_at", ["end_at"], unique=False)

    # The timer service acts as this user in the audit trail. It is inactive, so nobody
    # can sign in as it.
    users = sa.table(
        "users",
        sa.column("username", sa.String),
        sa.column("full_name", sa.String),
        sa.column("role", sa.String),
        sa.column("active", sa.Boolean),
        sa.column("created_at", desktop_app.db.types.UTCDateTime(timezone=True)),
        sa.column("version", sa.Integer),
    )
    op.bulk_insert(
        users,
        [
            {
                "username": TIMER_USER,
                "full_name": "Timer service (automatic actions)",
                "role": "admin",
                "active": False,
                "created_at": datetime.now(UTC),
                "version": 1,
            }
        ],
    )
    # Existing active auto-renewals: the earliest trigger not fired yet.
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, create_time, accept_time, issue_time, fired_create_at, "
            "fired_accept_at, fired_issue_at FROM auto_renewals WHERE state = 'active'"
        )
    ).all()
    kind = desktop_app.db.types.UTCDateTime(timezone=True)
    convert = kind.result_processor(bind.dialect, None) or (lambda value: value)
    updates = []
    for row in rows:
        pending = [
            convert(time)
            for time, fired in ((row[1], row[4]), (row[2], row[5]), (row[3], row[6]))
            if time is not None and fired is None
        ]
        if pending:
            updates.append({"id": row[0], "due": min(pending)})
    if updates:
        table = sa.table(
            "auto_renewals", sa.column("id", sa.Integer), sa.column("next_due_at", kind)
        )
        bind.execute(
            table.update()
            .where(table.c.id == sa.bindparam("id_"))
            .values(next_due_at=sa.bindparam("due")),
            [{"id_": u["id"], "due": u["due"]} for u in updates],
        )


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM users WHERE username = '{TIMER_USER}'"))
    with op.batch_alter_table("terms", schema=None) as batch_op:
        batch_op.drop_index("ix_terms_end_at")
    with op.batch_alter_table("auto_renewals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auto_renewals_next_due_at"))
        batch_op.drop_column("next_due_at")

    with op.batch_alter_table("timer_firings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timer_firings_fired_at"))

    op.drop_table("timer_firings")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_user_id"))
        batch_op.drop_index(batch_op.f("ix_notices_renewal_id"))
        batch_op.drop_index(batch_op.f("ix_notices_created_at"))

    op.drop_table("notices")
