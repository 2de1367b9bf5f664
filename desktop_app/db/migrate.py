"""Bringing a database to the schema this version of the app expects.

On start the app upgrades the database. A SQLite file is first backed up next to itself
with SQLite's online backup API (a plain file copy of a live WAL database can be torn).
A database already migrated by a newer app is refused, never "upgraded" backwards.

All pending revisions run in one transaction, so a failed upgrade leaves the database as
it was. On PostgreSQL that transaction holds an advisory lock (two desktops starting at
once migrate one after the other); on SQLite it starts with ``BEGIN IMMEDIATE`` for the
same reason, and runs with foreign keys off, as SQLite's documented procedure for
rebuilding a table requires (batch migrations drop and recreate tables that others
refer to); ``PRAGMA foreign_key_check`` must then find nothing before the commit.
"""

from __future__ import annotations

import contextlib
import glob
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from desktop_app import paths
from desktop_app.db.engine import Database
from desktop_app.errors import DatabaseTooNew, PermissionDenied, UserFacingError

if TYPE_CHECKING:  # Alembic costs ~0.5 s to import: only when there is work for it
    from alembic.config import Config
    from alembic.script import ScriptDirectory

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
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(paths.migrations_dir()))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.translated_errors(), db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


_ASSIGNMENT = re.compile(
    r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(?:\"([^\"]*)\"|'([^']*)'|(None))\s*$", re.M
)


def quick_head() -> str | None:
    """The head revision read from the migration files' text, without Alembic: the one
    revision no other names as its down_revision. None when the files are not that simple
    (then Alembic decides)."""
    revisions: dict[str, str | None] = {}
    for path in sorted((paths.migrations_dir() / "versions").glob("*.py")):
        found = {m[0]: m[1] or m[2] or None for m in _ASSIGNMENT.findall(path.read_text("utf-8"))}
        if "revision" not in found or found["revision"] is None or "down_revision" not in found:
            return None
        revisions[found["revision"]] = found["down_revision"]
    heads = set(revisions) - {down for down in revisions.values() if down}
    return heads.pop() if len(heads) == 1 else None


def quick_current(db: Database) -> str | None:
    """The database's revision by plain SQL (None: no version table, or not one row)."""
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


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
    quick = quick_current(db)
    if quick is not None and quick == quick_head():  # the usual start: nothing to do
        return UpgradeResult(quick, quick, None)
    from alembic import command

    before = current_revision(db)
    check_not_newer(db, before)
    head = head_revision()
    if before == head:
        return UpgradeResult(before, head, None)
    if before is None:
        refuse_foreign_database(db)
    backup_path = None
    if backup and db.is_sqlite and before is not None:
        backup_path = backup_sqlite(db, default_backup_path(db))
        _prune_backups(db)
    try:
        with migration_transaction(db) as conn:
            command.upgrade(_config(conn), "head")
            if db.dialect == "postgresql":
                from desktop_app.db import provision

                provision.refresh(conn)  # a shared office's grants cover new tables too
    except PermissionDenied as exc:
        raise PermissionDenied(
            f"The database ({db.describe()}) needs an upgrade to schema {head} that only its "
            "owner may run; ask your administrator to run 'renewal-desk db upgrade' with "
            "the owner's login."
        ) from exc
    return UpgradeResult(before, head, backup_path)


def refuse_foreign_database(db: Database) -> None:
    """Never add our tables to a database that holds someone else's."""
    with db.translated_errors(), db.engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
    if tables:
        shown = ", ".join(sorted(tables)[:3]) + (", …" if len(tables) > 3 else "")
        raise UserFacingError(
            f"The database ({db.describe()}) already holds tables that are not Renewal "
            f"Desk's ({shown}); point Renewal Desk at an empty database or one it created."
        )


def downgrade(db: Database, target: str = "base") -> None:
    with migration_transaction(db) as conn:
        from alembic import command

        command.downgrade(_config(conn), target)


@contextmanager
def migration_transaction(db: Database) -> Iterator[Connection]:
    """A connection in the one transaction that migrations run in; commits on success.

    Alembic sees the transaction as the caller's and runs every revision inside it.
    """
    with db.translated_errors(), db.engine.connect() as conn:
        if not db.is_sqlite:
            with conn.begin():
                if db.dialect == "postgresql":
                    # Released by the commit or rollback.
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                yield conn
            return
        # PRAGMA foreign_keys is a no-op inside a transaction: set it on the driver
        # connection before ours begins, and put it back before the pool reuses it.
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.execution_options(renewal_desk_write=True).begin():  # BEGIN IMMEDIATE
                yield conn
                _check_foreign_keys(conn)
        finally:
            try:
                raw.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error:
                conn.invalidate()  # never hand a connection without foreign keys to the pool


def _check_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise UserFacingError(
            "The database upgrade was undone because it would leave rows pointing at "
            f"missing rows in {', '.join(tables)}."
        )


def default_backup_path(db: Database) -> Path:
    src = db.sqlite_path
    assert src is not None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return src.with_name(f"{src.stem}.backup-{stamp}{src.suffix}")


def backup_sqlite(db: Database, dest: Path) -> Path:
    """Copy a live SQLite database consistently with SQLite's online backup API.

    The copy holds what was committed when it was taken; a write transaction open on
    another connection does not block it and is not part of it.
    """
    if not db.is_sqlite:
        raise UserFacingError(
            "Backups from the app are for the SQLite file; back up a PostgreSQL database "
            "with pg_dump on the server."
        )
    dest = Path(dest)
    if dest.exists():
        raise UserFacingError(f"{dest} already exists; choose a new file name for the backup.")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _copy_live_sqlite(db, dest)
    except (OSError, sqlite3.Error) as exc:
        raise UserFacingError(f"The backup could not be written to {dest}: {exc}.") from exc
    return dest


def _copy_live_sqlite(db: Database, dest: Path) -> None:
    raw = db.engine.raw_connection()
    try:
        target = sqlite3.connect(dest)
        try:
            raw.driver_connection.backup(target)  # type: ignore[union-attr]
            # A single file is easier to move around than a WAL database with sidecars.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    except BaseException:
        for leftover in (dest, *_sidecars(dest)):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    finally:
        raw.close()


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def backups_of(db: Database) -> list[Path]:
    """The automatic backups of this SQLite file, oldest first."""
    src = db.sqlite_path
    assert src is not None
    pattern = f"{glob.escape(src.stem)}.backup-*{glob.escape(src.suffix)}"
    return sorted(
        p for p in src.parent.glob(pattern) if not p.name.endswith(("-wal", "-shm", "-journal"))
    )


def _prune_backups(db: Database) -> None:
    for old in backups_of(db)[:-KEEP_BACKUPS]:
        for path in (old, *_sidecars(old)):
            with contextlib.suppress(OSError):
                path.unlink()
