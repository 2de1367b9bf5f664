"""Bringing a database to the schema this version of the app expects.

On start the app upgrades the database. A SQLite file is first backed up next to itself
with SQLite's online backup API (a plain file copy of a live WAL database can be torn).
A database already migrated by a newer app is refused, never "upgraded" backwards.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from desktop_app import paths
from desktop_app.db.engine import Database
from desktop_app.errors import DatabaseTooNew, UserFacingError

# Any constant will do; it keeps two desktops from migrating one PostgreSQL at once.
_PG_MIGRATION_LOCK = 0x52454E45  # "RENE"
KEEP_BACKUPS = 5


@dataclass(frozen=True)
class UpgradeResult:
    from_revision: str | None
    to_revision: str
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.from_revision != self.to_revision


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(paths.migrations_dir()))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_not_newer(db: Database, revision: str | None = None) -> None:
    revision = revision if revision is not None else current_revision(db)
    if revision is None:
        return
    known = {rev.revision for rev in script_directory().walk_revisions()}
    if revision not in known:
        raise DatabaseTooNew(
            f"The database ({db.describe()}) was upgraded by a newer version of Renewal Desk "
            f"(schema {revision}); install that version or newer to open it."
        )


def upgrade(db: Database, *, backup: bool = True) -> UpgradeResult:
    before = current_revision(db)
    check_not_newer(db, before)
    head = head_revision()
    if before == head:
        return UpgradeResult(before, head, None)
    backup_path = None
    if backup and db.is_sqlite and before is not None:
        backup_path = backup_sqlite(db, default_backup_path(db))
        _prune_backups(db)
    with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()
        try:
            command.upgrade(_config(conn), "head")
            conn.commit()
        finally:
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
    return UpgradeResult(before, head, backup_path)


def downgrade(db: Database, target: str = "base") -> None:
    with db.engine.connect() as conn:
        command.downgrade(_config(conn), target)
        conn.commit()


def default_backup_path(db: Database) -> Path:
    src = db.sqlite_path
    assert src is not None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return src.with_name(f"{src.stem}.backup-{stamp}{src.suffix}")


def backup_sqlite(db: Database, dest: Path) -> Path:
    """Copy a live SQLite database consistently with SQLite's online backup API."""
    if not db.is_sqlite:
        raise UserFacingError(
            "Backups from the app are for the SQLite file; back up a PostgreSQL database "
            "with pg_dump on the server."
        )
    dest = Path(dest)
    if dest.exists():
        raise UserFacingError(f"{dest} already exists; choose a new file name for the backup.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    raw = db.engine.raw_connection()
    try:
        target = sqlite3.connect(dest)
        try:
            raw.driver_connection.backup(target)  # type: ignore[union-attr]
        finally:
            target.close()
    finally:
        raw.close()
    return dest


def _prune_backups(db: Database) -> None:
    src = db.sqlite_path
    assert src is not None
    backups = sorted(src.parent.glob(f"{src.stem}.backup-*{src.suffix}"))
    for old in backups[:-KEEP_BACKUPS]:
        with contextlib.suppress(OSError):
            old.unlink()
