"""The change feed: PostgreSQL tells every open desktop which tables a commit changed.

One trigger function and, on each table the desktop shows, one statement-level trigger
after INSERT, UPDATE, DELETE and TRUNCATE that calls ``pg_notify('renewal_desk_changes',
<table name>)``. A notification is delivered only when its transaction commits, and
identical notifications of one transaction are folded into one, so a bulk import or a
timer batch that touches thousands of rows sends one message per table, not per row (and
nothing at all if it rolls back). The desktops LISTEN on a connection of their own
(``desktop_app.services.changes``).

SQLite has no notifications; desktops sharing a SQLite file watch ``PRAGMA data_version``
instead, so this revision does nothing there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "renewal_desk_changes"
FUNCTION = "renewal_desk_notify_change"
TRIGGER = "trg_notify_change"
TABLES = (
    "accounts",
    "policies",
    "terms",
    "renewals",
    "tasks",
    "document_requirements",
    "auto_renewals",
    "auto_renewal_plans",
    "notices",
    "users",
    "pipeline_stages",
    "checklist_templates",
    "app_settings",
)
"""What some page shows. Not audit_events (every change writes its object's table too)
nor timer_firings (the timer's own ledger)."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
