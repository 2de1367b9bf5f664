"""Alembic environment for Renewal Desk.

The app runs migrations itself (``desktop_app.db.migrate``) and hands us an open
connection already inside the one transaction all revisions run in; a developer can also
run ``alembic -c migrations/alembic.ini …`` with ``RENEWAL_DESK_DATABASE_URL`` set, which
opens the database the way the app does and uses the same transaction.
"""

from __future__ import annotations

import os

from alembic import context

from desktop_app.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite's DDL is transactional too; Alembic assumes otherwise by default.
        transactional_ddl=True,
        compare_type=True,
        compare_server_default=False,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("RENEWAL_DESK_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("Set RENEWAL_DESK_DATABASE_URL to the database to migrate.")
    from desktop_app.db.engine import open_database
    from desktop_app.db.migrate import migration_transaction

    db = open_database(url)
    try:
        with migration_transaction(db) as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        db.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run them online.")
run_migrations_online()
