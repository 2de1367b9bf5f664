"""Migrations on SQLite and PostgreSQL: a single head, up/down/up, the schema the models
describe, the default data, a backup before upgrading a SQLite file, and refusing a
database a newer Renewal Desk has migrated."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from desktop_app import paths
from desktop_app.db import migrate
from desktop_app.db.engine import Database, open_database
from desktop_app.db.models import Base, ChecklistTemplate, PipelineStage
from desktop_app.errors import DatabaseTooNew, UserFacingError

HEAD = "0006"  # update when a revision is added
MODEL_TABLES = set(Base.metadata.tables)


# --- helpers ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty (never migrated) database on each backend."""
    if request.param == "sqlite":
        db = open_database(f"sqlite:///{tmp_path / 'data' / 'renewal-desk.sqlite3'}")
        yield db
        db.dispose()
        return
    server = request.getfixturevalue("postgres")
    name = server.new_database(migrated=False)
    db = open_database(server.url(name))
    yield db
    db.dispose()
    server.drop(name)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """An empty SQLite database in its own folder (backups land next to it)."""
    db = open_database(f"sqlite:///{tmp_path / 'office' / 'renewal-desk.sqlite3'}")
    yield db
    db.dispose()


def _revision_file(revision: str, down: str, upgrade: str, downgrade: str = "pass") -> str:
    def body(code: str) -> str:
        return textwrap.indent(textwrap.dedent(code).strip() + "\n", "    ")

    return (
        f'"""A test revision.\n\nRevision ID: {revision}\nRevises: {down}\n"""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f"revision = {revision!r}\n"
        f"down_revision = {down!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade() -> None:\n{body(upgrade)}\n\n"
        f"def downgrade() -> None:\n{body(downgrade)}"
    )


@pytest.fixture
def extra_revisions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A copy of the migrations folder to which a test adds revisions; the app uses it."""
    folder = tmp_path / "migrations"
    shutil.copytree(paths.migrations_dir(), folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(paths, "migrations_dir", lambda: folder)

    def add(revision: str, down: str, upgrade: str, downgrade: str = "pass") -> Path:
        path = folder / "versions" / f"{revision}_test_{tmp_path.name}.py"
        path.write_text(_revision_file(revision, down, upgrade, downgrade), encoding="utf-8")
        return path

    return add


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def _scalar(db: Database, sql: str) -> object:
    with db.read_session() as s:
        return s.execute(text(sql)).scalar()


def _add_user_with_account(db: Database) -> None:
    with db.write_session() as s:
        s.execute(
            text(
                "INSERT INTO users (id, username, full_name, role, active, created_at, version)"
                " VALUES (101, 'pat', 'Pat Producer', 'producer', :t, '2025-01-02 03:04:05', 1)"
            ),
            {"t": True},
        )
        s.execute(
            text(
                "INSERT INTO accounts (id, name, producer_id, service_tier, created_at, version)"
                " VALUES (1, 'Acme Plumbing', 101, 'standard', '2025-01-02 03:04:05', 1)"
            )
        )
        s.commit()


# --- the script directory --------------------------------------------------------------


def test_exactly_one_head_and_one_base() -> None:
    script = migrate.script_directory()
    assert script.get_heads() == [HEAD]
    assert script.get_bases() == ["0001"]
    assert migrate.head_revision() == HEAD
    # a straight line: no revision has two parents, none is a merge point
    for rev in script.walk_revisions():
        assert not isinstance(rev.down_revision, tuple | list), rev.revision
        assert not rev.branch_labels, rev.revision


# --- up, down, up ----------------------------------------------------------------------


def test_upgrade_downgrade_upgrade(empty_db: Database) -> None:
    db = empty_db
    assert migrate.current_revision(db) is None

    first = migrate.upgrade(db)
    assert (first.from_revision, first.to_revision, first.backup) == (None, HEAD, None)
    assert first.changed
    assert migrate.current_revision(db) == HEAD
    assert _tables(db) == MODEL_TABLES | {"alembic_version"}

    migrate.downgrade(db, "base")
    assert migrate.current_revision(db) is None
    assert _tables(db) <= {"alembic_version"}
    if db.dialect == "postgresql":
        assert inspect(db.engine).get_sequence_names() == []

    again = migrate.upgrade(db)
    assert (again.from_revision, again.to_revision) == (None, HEAD)
    assert _tables(db) == MODEL_TABLES | {"alembic_version"}
    # the seed data is there once, not twice
    assert _scalar(db, "SELECT count(*) FROM pipeline_stages") == 8

    at_head = migrate.upgrade(db)
    assert (at_head.from_revision, at_head.to_revision, at_head.changed) == (HEAD, HEAD, False)


def test_schema_after_upgrade_matches_the_models(empty_db: Database) -> None:
    migrate.upgrade(empty_db)
    with empty_db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_default_pipeline_stages_and_checklists(empty_db: Database) -> None:
    migrate.upgrade(empty_db)
    with empty_db.read_session() as s:
        stages = s.scalars(select(PipelineStage).order_by(PipelineStage.position)).all()
        templates = s.scalars(select(ChecklistTemplate)).all()

    assert [(st.position, st.key, st.name, st.sla_days) for st in stages] == [
        (1, "upcoming", "Upcoming", 30),
        (2, "gathering", "Gathering info", 14),
        (3, "marketing", "Marketing / quoting", 21),
        (4, "proposal", "Proposal sent", 10),
        (5, "bound", "Bound", 7),
        (6, "renewed", "Renewed", None),
        (7, "lost", "Lost", None),
        (8, "non_renewed", "Non-renewed", None),
    ]
    assert [st.kind.value for st in stages] == ["open"] * 5 + ["won", "lost", "lost"]
    for stage in stages:
        assert stage.entry_criteria, f"{stage.name} has no entry criteria"
        assert stage.active
    by_key = {st.key: st for st in stages}
    assert by_key["marketing"].entry_criteria == ["next_action", "required_documents"]
    assert by_key["proposal"].entry_criteria == [
        "next_action",
        "required_documents",
        "new_premium",
    ]
    assert by_key["lost"].entry_criteria == ["outcome_reason"]

    checklist: dict[str, dict[str, bool]] = {}
    for t in templates:
        checklist.setdefault(t.line_of_business, {})[t.document_type] = t.required
    assert {"Payroll report": True, "Loss runs": True, "ACORD 130": True}.items() <= checklist[
        "WORK"
    ].items()
    assert {"Driver list": True, "Vehicle list": True}.items() <= checklist["AUTOP"].items()
    # the checklist shows in the order the seed lists it
    work = sorted((t for t in templates if t.line_of_business == "WORK"), key=lambda t: t.position)
    assert [t.document_type for t in work] == ["Payroll report", "Loss runs", "ACORD 130"]


def test_concurrent_first_start_migrates_once(empty_db: Database) -> None:
    """Two desktops starting at once on an empty database: one migrates, the other waits
    (advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite) and finds it done."""
    other = open_database(empty_db.url)
    errors: list[BaseException] = []

    def run(db: Database) -> None:
        try:
            migrate.upgrade(db)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in (empty_db, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    other.dispose()
    assert errors == []
    assert migrate.current_revision(empty_db) == HEAD
    assert _scalar(empty_db, "SELECT count(*) FROM pipeline_stages") == 8
    assert _scalar(empty_db, "SELECT count(*) FROM alembic_version") == 1


def test_failed_upgrade_changes_nothing(empty_db: Database, extra_revisions) -> None:
    """All pending revisions run in one transaction: a failure leaves the old schema."""
    migrate.upgrade(empty_db)
    extra_revisions(
        "t1",
        HEAD,
        """
        op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
        op.add_column("accounts", sa.Column("nickname", sa.String(40)))
        """,
    )
    extra_revisions("t2", "t1", 'raise RuntimeError("revision t2 is broken")')
    with pytest.raises(RuntimeError, match="t2 is broken"):
        migrate.upgrade(empty_db, backup=False)
    assert migrate.current_revision(empty_db) == HEAD
    assert "half_done" not in _tables(empty_db)
    columns = {c["name"] for c in inspect(empty_db.engine).get_columns("accounts")}
    assert "nickname" not in columns


# --- SQLite specifics --------------------------------------------------------------------


def test_sqlite_table_rebuild_of_a_referenced_table_keeps_its_rows(
    sqlite_db: Database, extra_revisions
) -> None:
    """A batch migration recreates the table (copy, DROP, rename). With foreign keys
    enforced, dropping ``users`` while ``accounts`` refers to it fails, so migrations run
    with them off and check them before committing; they are back on afterwards."""
    migrate.upgrade(sqlite_db)
    _add_user_with_account(sqlite_db)
    extra_revisions(
        "t1",
        HEAD,
        """
        with op.batch_alter_table("users", recreate="always") as batch_op:
            batch_op.add_column(sa.Column("nickname", sa.String(40)))
        """,
    )
    result = migrate.upgrade(sqlite_db)
    assert result.to_revision == "t1"
    assert _scalar(sqlite_db, "SELECT username FROM users WHERE id = 101") == "pat"
    assert _scalar(sqlite_db, "SELECT producer_id FROM accounts WHERE id = 1") == 101
    # every pooled connection enforces foreign keys again
    for _ in range(3):
        with sqlite_db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(Exception, match="FOREIGN KEY"), sqlite_db.write_session() as s:
        s.execute(text("UPDATE accounts SET producer_id = 999 WHERE id = 1"))
        s.commit()


def test_sqlite_migration_leaving_broken_references_is_undone(
    sqlite_db: Database, extra_revisions
) -> None:
    migrate.upgrade(sqlite_db)
    _add_user_with_account(sqlite_db)
    extra_revisions("t1", HEAD, 'op.execute("DELETE FROM users")')
    with pytest.raises(UserFacingError, match="accounts"):
        migrate.upgrade(sqlite_db, backup=False)
    assert migrate.current_revision(sqlite_db) == HEAD
    assert _scalar(sqlite_db, "SELECT count(*) FROM users WHERE username = 'pat'") == 1


# --- backups -------------------------------------------------------------------------------


def test_first_upgrade_of_a_new_file_makes_no_backup(sqlite_db: Database) -> None:
    result = migrate.upgrade(sqlite_db)
    assert result.backup is None
    assert migrate.backups_of(sqlite_db) == []


def test_upgrade_backs_up_a_sqlite_file_that_is_behind(
    sqlite_db: Database, extra_revisions
) -> None:
    migrate.upgrade(sqlite_db)
    _add_user_with_account(sqlite_db)
    extra_revisions("t1", HEAD, 'op.add_column("accounts", sa.Column("nickname", sa.String(40)))')

    result = migrate.upgrade(sqlite_db)

    assert (result.from_revision, result.to_revision) == (HEAD, "t1")
    assert result.backup is not None
    src = sqlite_db.sqlite_path
    assert src is not None
    assert result.backup.parent == src.parent
    assert result.backup.name.startswith("renewal-desk.backup-")
    assert result.backup.name.endswith(".sqlite3")
    assert migrate.backups_of(sqlite_db) == [result.backup]
    # the backup is the database as it was: old revision, same rows, no new column
    with sqlite3.connect(result.backup) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
        assert conn.execute("SELECT name FROM accounts").fetchall() == [("Acme Plumbing",)]
        columns = {row[1] for row in conn.execute("PRAGMA table_info(accounts)")}
    assert "nickname" not in columns
    assert not result.backup.with_name(result.backup.name + "-wal").exists()


def test_upgrade_without_backup_when_asked(sqlite_db: Database, extra_revisions) -> None:
    migrate.upgrade(sqlite_db)
    extra_revisions("t1", HEAD, "pass")
    assert migrate.upgrade(sqlite_db, backup=False).backup is None
    assert migrate.backups_of(sqlite_db) == []


def test_old_backups_are_pruned(sqlite_db: Database, extra_revisions) -> None:
    migrate.upgrade(sqlite_db)
    src = sqlite_db.sqlite_path
    assert src is not None
    old = [src.with_name(f"renewal-desk.backup-2020010{i}T000000000000Z.sqlite3") for i in range(7)]
    for path in old:
        path.write_bytes(b"")
    unrelated = src.with_name("renewal-desk.my-own-copy.sqlite3")
    unrelated.write_bytes(b"keep me")
    extra_revisions("t1", HEAD, "pass")

    result = migrate.upgrade(sqlite_db)

    kept = migrate.backups_of(sqlite_db)
    assert len(kept) == migrate.KEEP_BACKUPS
    assert kept[-1] == result.backup
    assert kept[:-1] == old[-(migrate.KEEP_BACKUPS - 1) :]
    assert unrelated.read_bytes() == b"keep me"
    assert src.exists()


def test_backup_while_another_connection_is_writing(sqlite_db: Database, tmp_path: Path) -> None:
    """The online backup of a WAL database holds what was committed, even while another
    connection sits in an open write transaction."""
    migrate.upgrade(sqlite_db)
    _add_user_with_account(sqlite_db)
    src = sqlite_db.sqlite_path
    assert src is not None
    writer = sqlite3.connect(src, isolation_level=None)
    try:
        assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO accounts (name, service_tier, created_at, version)"
            " VALUES ('Uncommitted Co', 'standard', '2025-01-01 00:00:00', 1)"
        )
        # the committed rows above are still in the WAL file, not yet in the main file
        dest = migrate.backup_sqlite(sqlite_db, tmp_path / "copies" / "backup.sqlite3")
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert dest.is_file()
    with sqlite3.connect(dest) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT name FROM accounts").fetchall() == [("Acme Plumbing",)]
        assert conn.execute("SELECT count(*) FROM pipeline_stages").fetchone() == (8,)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
    # the backup opens through the app too
    copy = open_database(f"sqlite:///{dest}")
    try:
        assert migrate.current_revision(copy) == HEAD
    finally:
        copy.dispose()


def test_backup_refuses_to_overwrite_and_postgres(sqlite_db: Database, tmp_path: Path) -> None:
    migrate.upgrade(sqlite_db)
    existing = tmp_path / "exists.sqlite3"
    existing.write_bytes(b"mine")
    with pytest.raises(UserFacingError, match="already exists"):
        migrate.backup_sqlite(sqlite_db, existing)
    assert existing.read_bytes() == b"mine"


def test_no_backup_for_postgres(postgres, extra_revisions) -> None:
    name = postgres.new_database()
    db = open_database(postgres.url(name))
    try:
        extra_revisions("t1", HEAD, "pass")
        assert migrate.upgrade(db).backup is None
        with pytest.raises(UserFacingError, match="pg_dump"):
            migrate.backup_sqlite(db, Path("unused.sqlite3"))
    finally:
        db.dispose()
        postgres.drop(name)


# --- a database from the future ----------------------------------------------------------


def test_refuses_a_database_migrated_by_a_newer_app(empty_db: Database) -> None:
    db = empty_db
    migrate.upgrade(db)
    with db.write_session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = 'ffff_future'"))
        s.commit()
    tables_before = _tables(db)
    files_before = (
        sorted(p.name for p in db.sqlite_path.parent.iterdir()) if db.sqlite_path else None
    )

    with pytest.raises(DatabaseTooNew) as caught:
        migrate.upgrade(db)

    message = str(caught.value)
    assert "newer version" in message
    assert "ffff_future" in message
    assert message.endswith(".") and "\n" not in message
    assert message.count(". ") == 0  # one sentence
    # nothing changed: same revision, same tables, no backup written
    assert migrate.current_revision(db) == "ffff_future"
    assert _tables(db) == tables_before
    assert _scalar(db, "SELECT count(*) FROM pipeline_stages") == 8
    if db.sqlite_path:
        assert sorted(p.name for p in db.sqlite_path.parent.iterdir()) == files_before
    with pytest.raises(DatabaseTooNew):
        migrate.check_not_newer(db)


# --- the developer's alembic command -----------------------------------------------------


def test_alembic_command_line_uses_the_same_environment(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RENEWAL_DESK_HOME": str(tmp_path / "home"),
        "RENEWAL_DESK_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
    }
    ini = Path(__file__).resolve().parent.parent / "migrations" / "alembic.ini"
    alembic = [sys.executable, "-m", "alembic", "-c", str(ini)]
    for args in (["upgrade", "head"], ["check"], ["downgrade", "base"], ["upgrade", "head"]):
        done = subprocess.run(
            [*alembic, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "dev.sqlite3") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_database_with_someone_elses_tables_is_not_touched(db_url, tmp_path):
    """Pointing Renewal Desk at the wrong database must not sprinkle our tables into it."""
    from sqlalchemy import create_engine

    db = open_database(db_url)
    migrate.downgrade(db, "base")
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        conn.execute(text("CREATE TABLE payroll (id INTEGER PRIMARY KEY, amount INTEGER)"))
    with pytest.raises(UserFacingError, match=r"not Renewal Desk's \(payroll\)"):
        migrate.upgrade(db)
    engine = create_engine(db.url)
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == ["payroll"]
    engine.dispose()
    db.dispose()


def test_backup_to_an_unwritable_place_is_one_sentence(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    migrate.upgrade(db)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(UserFacingError, match="The backup could not be written to"):
        migrate.backup_sqlite(db, blocker / "copy.sqlite3")
    db.dispose()
