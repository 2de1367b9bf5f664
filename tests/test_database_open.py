"""Opening a database: SQLite settings and locking, network shares, URLs and passwords,
the keyring, and what an unreachable server looks like to the user."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.backends.null
import psycopg
import psycopg.errors
import pytest
from keyring.backends.chainer import ChainerBackend
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from desktop_app import secrets
from desktop_app.db import engine as engine_mod
from desktop_app.db import migrate, urls
from desktop_app.db.engine import Database, open_database
from desktop_app.errors import ConfigurationError, DatabaseUnavailable
from desktop_app.settings import Settings
from tests.helpers import MemoryKeyring

PASSWORD = "s3cret-Pa55"


def _one_sentence(message: str) -> None:
    assert "\n" not in message
    assert message.endswith(".")
    assert message[0].isupper()


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path / "office" / "renewal-desk.sqlite3"
    path.parent.mkdir()
    path.write_bytes(sqlite_template.read_bytes())
    db = open_database(f"sqlite:///{path}")
    yield db
    db.dispose()


def _files_under(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- SQLite settings ---------------------------------------------------------------------


def test_sqlite_connection_settings(sqlite_db: Database) -> None:
    for _ in range(2):  # a new pooled connection gets them too
        with sqlite_db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert timeout == engine_mod.SQLITE_BUSY_TIMEOUT_MS >= 5000
        sqlite_db.engine.dispose()


def test_sqlite_enforces_foreign_keys(sqlite_db: Database) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), sqlite_db.write_session() as s:
        s.execute(
            text(
                "INSERT INTO accounts (name, producer_id, service_tier, created_at, version)"
                " VALUES ('Ghost Co', 999, 'standard', '2025-01-01 00:00:00', 1)"
            )
        )
        s.commit()
    with sqlite_db.read_session() as s:
        assert s.execute(text("SELECT count(*) FROM accounts")).scalar() == 0


def test_write_session_begins_immediate_and_read_session_does_not(sqlite_db: Database) -> None:
    from sqlalchemy import event

    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(sqlite_db.engine, "before_cursor_execute", record)
    try:
        with sqlite_db.write_session() as s:
            s.execute(text("SELECT 1"))
        with sqlite_db.read_session() as s:
            s.execute(text("SELECT 1"))
    finally:
        event.remove(sqlite_db.engine, "before_cursor_execute", record)
    assert seen == ["BEGIN IMMEDIATE", "BEGIN"]


_WORKER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from sqlalchemy import text
    from desktop_app.db.engine import open_database

    url, name, hold, armed, wait_for, locked = sys.argv[1:7]

    def wait(path):
        deadline = time.monotonic() + 30
        while not Path(path).exists():
            assert time.monotonic() < deadline, f"gave up waiting for {path}"
            time.sleep(0.005)

    db = open_database(url)
    Path(armed).touch()
    wait(wait_for)
    started = time.monotonic()
    with db.write_session() as s:
        # read, then write: the pattern that fails at once in a deferred transaction
        seen = s.execute(text("SELECT count(*) FROM app_settings")).scalar()
        got_lock = time.monotonic()
        Path(locked).touch()
        time.sleep(float(hold))
        s.execute(
            text("INSERT INTO app_settings (key, value) VALUES (:k, :v)"),
            {"k": name, "v": json.dumps(seen)},
        )
        s.commit()
    db.dispose()
    print(json.dumps({"seen": seen, "waited": got_lock - started}))
    """
)


def test_two_processes_read_then_write_take_turns(sqlite_db: Database, tmp_path: Path) -> None:
    """Two OS processes each read then write in a write session at the same time: the
    second waits for the first instead of failing with "database is locked"."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER, encoding="utf-8")
    url = str(sqlite_db.url)
    flags = tmp_path / "flags"
    flags.mkdir()
    env = {**os.environ, "RENEWAL_DESK_HOME": str(tmp_path / "home")}

    def start(name: str, hold: str, wait_for: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                str(script),
                url,
                name,
                hold,
                str(flags / f"{name}-armed"),
                str(flags / wait_for),
                str(flags / f"{name}-locked"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # The first begins once the second has the database open; the second begins while
    # the first holds the write lock (for 1.5 s).
    first = start("first", "1.5", "second-armed")
    second = start("second", "0", "first-locked")
    results = {}
    for name, proc in (("first", first), ("second", second)):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{name} failed: {err}"
        results[name] = json.loads(out.strip().splitlines()[-1])

    # the second could not even read until the first committed, so it saw the first's row
    assert results["first"]["seen"] == 0
    assert results["second"]["seen"] == 1
    assert 1.0 < results["second"]["waited"] < engine_mod.SQLITE_BUSY_TIMEOUT_MS / 1000
    with sqlite_db.read_session() as s:
        rows = dict(s.execute(text("SELECT key, value FROM app_settings")).all())
    assert rows == {"first": 0, "second": 1}


def test_deferred_read_then_write_would_fail_at_once(sqlite_db: Database) -> None:
    """Why write sessions BEGIN IMMEDIATE: a deferred transaction that read before another
    connection committed cannot write, and the busy timeout does not help it."""
    path = str(sqlite_db.sqlite_path)
    a = sqlite3.connect(path, isolation_level=None, timeout=5)
    b = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        a.execute("BEGIN IMMEDIATE")
        a.execute("INSERT INTO app_settings (key, value) VALUES ('a', '1')")
        b.execute("BEGIN")
        b.execute("SELECT count(*) FROM app_settings").fetchone()
        a.execute("COMMIT")
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            b.execute("INSERT INTO app_settings (key, value) VALUES ('b', '1')")
        assert time.monotonic() - started < 2  # immediately, not after the 5 s timeout
        b.execute("ROLLBACK")
    finally:
        a.close()
        b.close()


def test_read_session_takes_no_write_lock(sqlite_db: Database) -> None:
    other = sqlite3.connect(str(sqlite_db.sqlite_path), isolation_level=None, timeout=0)
    try:
        with sqlite_db.read_session() as s:
            assert s.execute(text("SELECT count(*) FROM pipeline_stages")).scalar() == 8
            # while our read transaction is open, another writer gets the lock at once
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO app_settings (key, value) VALUES ('x', '1')")
            other.execute("COMMIT")
        # and while another writer holds the lock, reading does not wait
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with sqlite_db.read_session() as s:
            assert s.execute(text("SELECT count(*) FROM app_settings")).scalar() == 1
        assert time.monotonic() - started < 1
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_write_lock_held_too_long_is_a_plain_sentence(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_mod, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "busy.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    db = open_database(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseUnavailable) as caught, db.write_session() as s:
            s.execute(text("SELECT 1"))
    finally:
        holder.close()
        db.dispose()
    message = str(caught.value)
    _one_sentence(message)
    assert "busy" in message and str(path) in message


def test_sqlite_path_that_cannot_be_opened(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.sqlite3"
    folder.mkdir()
    with pytest.raises(DatabaseUnavailable) as caught:
        open_database(f"sqlite:///{folder}")
    _one_sentence(str(caught.value))
    assert str(folder) in str(caught.value)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(DatabaseUnavailable, match="not a database"):
        open_database(f"sqlite:///{path}")
    assert path.read_text().startswith("these are my notes")


# --- SQLite on a network share -------------------------------------------------------------

PROC_MOUNTS = textwrap.dedent(
    """\
    /dev/sda1 / ext4 rw,relatime 0 0
    proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
    /dev/sdb1 /home ext4 rw,relatime 0 0
    fileserver:/export/agency /mnt/share nfs4 rw,relatime,vers=4.2 0 0
    /dev/sdc1 /mnt/share/local-cache ext4 rw,relatime 0 0
    //nas/office /mnt/office\\040files cifs rw,relatime,vers=3.0 0 0
    systemd-1 /mnt/auto autofs rw,relatime,fd=43 0 0
    fileserver:/export/auto /mnt/auto nfs rw,relatime,vers=3 0 0
    """
)

MAC_MOUNT = textwrap.dedent(
    """\
    /dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
    devfs on /dev (devfs, local, nobrowse)
    /dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse)
    //jane@nas._smb._tcp.local/Agency on /Volumes/Agency (smbfs, nodev, nosuid, mounted by jane)
    /dev/disk5s1 on /Volumes/USB Stick (msdos, local, nodev, nosuid, noowners)
    """
)


@pytest.mark.parametrize(
    "path",
    [
        r"\\server\share\renewals.sqlite3",
        "//server/share/renewals.sqlite3",
        r"\\?\UNC\server\share\renewals.sqlite3",
        "\\\\server.agency.local\\data$\\renewals.sqlite3",
    ],
)
def test_unc_paths_on_windows_are_network_shares(path: str) -> None:
    reason = urls.network_share_reason(path, platform="win32", mounts=[])
    assert reason is not None and "UNC" in reason


@pytest.mark.parametrize(
    "path", [r"C:\Users\pat\AppData\Local\Renewal Desk\renewal-desk.sqlite3", r"\\?\C:\x.db"]
)
def test_local_windows_paths_are_fine(path: str) -> None:
    assert urls.network_share_reason(path, platform="win32", mounts=[]) is None


def test_backslash_unc_path_is_refused_everywhere() -> None:
    assert urls.network_share_reason(r"\\server\share\x.sqlite3", platform="linux", mounts=[])


@pytest.mark.parametrize(
    ("path", "fstype"),
    [
        ("/mnt/share/renewals.sqlite3", "nfs4"),
        ("/mnt/share/sub/dir/renewals.sqlite3", "nfs4"),
        ("/mnt/office files/renewals.sqlite3", "cifs"),
        ("/mnt/auto/renewals.sqlite3", "nfs"),  # the NFS share hides the automount point
        ("/home/pat/.local/share/Renewal Desk/renewal-desk.sqlite3", None),
        ("/mnt/share/local-cache/renewals.sqlite3", None),  # longest mount point wins
        ("/mnt/shared/renewals.sqlite3", None),  # a name that merely starts alike
        ("/var/lib/renewals.sqlite3", None),
    ],
)
def test_linux_mount_table(path: str, fstype: str | None) -> None:
    mounts = urls.parse_mount_table(PROC_MOUNTS)
    reason = urls.network_share_reason(path, platform="linux", mounts=mounts)
    if fstype is None:
        assert reason is None
    else:
        assert reason == f"it is on a network filesystem ({fstype})"


def test_macos_mount_output() -> None:
    mounts = urls.parse_mount_table(MAC_MOUNT)
    assert ("/Volumes/Agency", "smbfs") in mounts
    assert ("/Volumes/USB Stick", "msdos") in mounts
    assert urls.network_share_reason(
        "/Volumes/Agency/Renewals/renewals.sqlite3", platform="darwin", mounts=mounts
    )
    assert (
        urls.network_share_reason(
            "/Users/jane/Library/Application Support/Renewal Desk/renewal-desk.sqlite3",
            platform="darwin",
            mounts=mounts,
        )
        is None
    )
    assert urls.network_share_reason("/Volumes/USB Stick/r.sqlite3", mounts=mounts) is None


def test_a_symlink_onto_a_share_is_followed(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    link = tmp_path / "home" / "Documents"
    link.parent.mkdir()
    link.symlink_to(share)
    mounts = [("/", "ext4"), (str(share.resolve()), "cifs")]
    reason = urls.network_share_reason(link / "renewals.sqlite3", platform="linux", mounts=mounts)
    assert reason == "it is on a network filesystem (cifs)"


def test_open_database_refuses_sqlite_on_a_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls, "_current_mount_table", lambda: urls.parse_mount_table(PROC_MOUNTS))
    with pytest.raises(ConfigurationError) as caught:
        open_database("sqlite:////mnt/share/agency/renewals.sqlite3")
    message = str(caught.value)
    _one_sentence(message)
    assert "/mnt/share/agency/renewals.sqlite3" in message
    assert "network" in message
    assert "PostgreSQL" in message and "shared office" in message.lower()
    assert not Path("/mnt/share/agency").exists()  # refused before creating anything


def test_open_database_accepts_a_local_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(urls, "_current_mount_table", lambda: [("/", "ext4")])
    db = open_database(f"sqlite:///{tmp_path / 'new' / 'folder' / 'renewals.sqlite3'}")
    try:
        assert db.is_sqlite
        assert (tmp_path / "new" / "folder").is_dir()
    finally:
        db.dispose()


# --- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", "not a database URL"),
        (f"bob:{PASSWORD}@server/renewals", "not a database URL"),
        (f"postgresql://bob:{PASSWORD}@server:notaport/renewals", "not a database URL"),
        (f"postgresql://bob:{PASSWORD}@server:99999/renewals", "port"),
        (f"postgresql://bob:{PASSWORD}@server/", "names no database"),
        (f"mysql://bob:{PASSWORD}@server/renewals", "SQLite or PostgreSQL"),
        (f"oracle+oracledb://bob:{PASSWORD}@server/renewals", "SQLite or PostgreSQL"),
        (f"postgresql://bob:{PASSWORD}@extra@server/renewals", "%40"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///file::memory:?uri=true", "in-memory"),
        ("", "not a database URL"),
    ],
)
def test_bad_urls_are_one_sentence_without_the_password(url: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        urls.parse(url)
    message = str(caught.value)
    assert words in message
    assert PASSWORD not in message
    assert "\n" not in message and message.endswith(".")
    assert caught.value.__cause__ is None  # no chained traceback carrying the URL


def test_bad_url_through_open_database() -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_database(f"mssql://sa:{PASSWORD}@server/renewals")
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://bob@server/renewals", "postgresql+psycopg://bob@server/renewals"),
        ("postgres://bob@server/renewals", "postgresql+psycopg://bob@server/renewals"),
        ("postgresql+psycopg2://bob@server/renewals", "postgresql+psycopg://bob@server/renewals"),
        ("postgresql+asyncpg://bob@server:6432/rd", "postgresql+psycopg://bob@server:6432/rd"),
        ("sqlite:////var/data/r.sqlite3", "sqlite+pysqlite:////var/data/r.sqlite3"),
    ],
)
def test_good_urls(url: str, expected: str) -> None:
    assert urls.parse(url).render_as_string(hide_password=False) == expected


def test_a_password_in_the_query_becomes_the_password() -> None:
    parsed = urls.parse(f"postgresql://bob@server/renewals?password={PASSWORD}&sslmode=require")
    assert parsed.password == PASSWORD
    assert dict(parsed.query) == {"sslmode": "require"}
    assert PASSWORD not in urls.redact(parsed)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://bob:{PASSWORD}@server/renewals",
        f"postgresql+psycopg://bob:{PASSWORD}@server:5433/renewals?sslmode=require",
        f"postgresql://bob@server/renewals?password={PASSWORD}",
        f"postgresql://bob:{PASSWORD}@server:notaport/renewals",
        f"bob:{PASSWORD}@server/renewals",
        f"postgresql://bob:{PASSWORD}@with@at/renewals",
    ],
)
def test_redact_and_strip_hide_passwords(url: str) -> None:
    assert PASSWORD not in urls.redact(url)
    assert "***" in urls.redact(url)
    assert PASSWORD not in urls.strip_password(url)
    assert "***" not in urls.strip_password(url)
    try:
        parsed = urls.parse(url)
    except ConfigurationError:
        return
    assert PASSWORD not in urls.redact(parsed)
    assert "bob" in urls.redact(parsed) and "server" in urls.redact(parsed)


def test_redact_leaves_urls_without_password_as_written() -> None:
    for url in ("sqlite:///C:/Users/Pat Smith/renewals.sqlite3", "postgresql://bob@srv/rd"):
        assert urls.redact(url) == url
        assert urls.strip_password(url) == url


def test_settings_never_save_a_password(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    Settings(
        database_url=f"postgresql://bob:{PASSWORD}@server:5432/renewals?sslmode=require",
        last_user="bob",
    ).save(path)
    raw = path.read_text(encoding="utf-8")
    assert PASSWORD not in raw
    loaded = Settings.load(path)
    assert loaded.database_url == "postgresql://bob@server:5432/renewals?sslmode=require"
    assert loaded.last_user == "bob"

    Settings(database_url=f"postgresql://bob@server/renewals?password={PASSWORD}").save(path)
    assert PASSWORD not in path.read_text(encoding="utf-8")
    assert Settings.load(path).database_url == "postgresql://bob@server/renewals"

    # the default location, under RENEWAL_DESK_HOME; no temp file left behind
    Settings(database_url=f"postgresql://bob:{PASSWORD}@server/renewals").save()
    home = Path(os.environ["RENEWAL_DESK_HOME"])
    for content in _files_under(home).values():
        assert PASSWORD.encode() not in content
    assert [p.name for p in (home / "config").iterdir()] == ["settings.json"]


def test_settings_keep_a_sqlite_path_as_written(tmp_path: Path) -> None:
    url = "sqlite:///C:/Users/Pat Smith/Renewal Desk/renewal-desk.sqlite3"
    Settings(database_url=url).save(tmp_path / "s.json")
    assert Settings.load(tmp_path / "s.json").database_url == url


# --- the keyring -------------------------------------------------------------------------------


def test_memory_keyring_round_trip() -> None:
    key = secrets.account_key("bob", "server", None, "renewals")
    assert key == "bob@server:5432/renewals"
    assert secrets.keyring_usable()
    assert secrets.get_password(key) is None
    secrets.set_password(key, PASSWORD)
    assert secrets.get_password(key) == PASSWORD
    assert keyring.get_password(secrets.SERVICE, key) == PASSWORD
    secrets.delete_password(key)
    assert secrets.get_password(key) is None
    secrets.delete_password(key)  # deleting twice is fine


@pytest.mark.parametrize(
    "backend", [keyring.backends.fail.Keyring, keyring.backends.null.Keyring], ids=["fail", "null"]
)
def test_no_usable_keyring(backend: type, tmp_path: Path) -> None:
    keyring.set_keyring(backend())
    home = Path(os.environ["RENEWAL_DESK_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    before = _files_under(home)
    key = secrets.account_key("bob", "server", 5432, "renewals")

    assert not secrets.keyring_usable()
    with pytest.raises(secrets.KeyringUnavailable) as caught:
        secrets.set_password(key, PASSWORD)
    assert str(caught.value) == secrets.NO_KEYRING_MESSAGE
    assert secrets.get_password(key) is None
    secrets.delete_password(key)

    after = _files_under(home)
    assert after == before
    assert not any(PASSWORD.encode() in content for content in after.values())


class _FakePlaintextKeyring(MemoryKeyring):
    """Looks like keyrings.alt's PlaintextKeyring (a password file in plain text)."""

    priority = 0.5  # type: ignore[assignment]


_FakePlaintextKeyring.__module__ = "keyrings.alt.file"
_FakePlaintextKeyring.__name__ = "PlaintextKeyring"


def test_a_plain_text_keyring_is_not_a_keyring() -> None:
    plaintext = _FakePlaintextKeyring()
    keyring.set_keyring(plaintext)
    assert not secrets.keyring_usable()
    with pytest.raises(secrets.KeyringUnavailable):
        secrets.set_password("k", PASSWORD)
    assert plaintext.store == {}


def test_a_chain_never_falls_through_to_plain_text() -> None:
    from tests.conftest import MemoryKeyring

    plaintext = _FakePlaintextKeyring()
    good = MemoryKeyring()

    class Chain(ChainerBackend):
        backends: ClassVar = [plaintext, good]

    keyring.set_keyring(Chain())
    assert secrets.keyring_usable()
    secrets.set_password("k", PASSWORD)
    assert good.store == {(secrets.SERVICE, "k"): PASSWORD}
    assert plaintext.store == {}

    class OnlyPlaintext(ChainerBackend):
        backends: ClassVar = [plaintext]

    keyring.set_keyring(OnlyPlaintext())
    assert not secrets.keyring_usable()


# --- PostgreSQL: passwords, prompts, unreachable servers --------------------------------------


@pytest.fixture
def pg_url(postgres) -> Iterator[str]:
    name = postgres.new_database()
    yield postgres.url(name)
    postgres.drop(name)


def _key_for(url: str) -> str:
    u = urls.parse(url)
    return secrets.account_key(u.username or "", u.host, u.port, u.database)


def test_stored_password_is_used(pg_url: str) -> None:
    secrets.set_password(_key_for(pg_url), PASSWORD)
    db = open_database(pg_url)
    try:
        assert db.url.password == PASSWORD
        assert PASSWORD not in db.describe()
        assert migrate.current_revision(db) is not None
    finally:
        db.dispose()


def _require_password(monkeypatch: pytest.MonkeyPatch, right: str) -> list[str | None]:
    """Make the (trust-auth) test server behave as if it wanted ``right``."""
    tried: list[str | None] = []
    real_check = engine_mod._check

    def check(db: Database) -> None:
        tried.append(db.url.password)
        if db.url.password != right:
            user = db.url.username
            raise DatabaseUnavailable(
                f"The database ({db.describe()}) cannot be opened: connection failed: "
                f'FATAL:  password authentication failed for user "{user}".'
            )
        real_check(db)

    monkeypatch.setattr(engine_mod, "_check", check)
    return tried


def test_prompt_when_the_password_is_refused(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tried = _require_password(monkeypatch, "the-right-one")
    secrets.set_password(_key_for(pg_url), "an-old-one")
    prompts: list[str] = []

    def prompt(question: str) -> str:
        prompts.append(question)
        return "the-right-one"

    db = open_database(pg_url, prompt=prompt)
    try:
        assert tried == ["an-old-one", "the-right-one"]
        assert len(prompts) == 1
        assert "postgres" in prompts[0] and "127.0.0.1" in prompts[0]
        assert "an-old-one" not in prompts[0]
        assert db.url.password == "the-right-one"
        assert secrets.get_password(_key_for(pg_url)) == "the-right-one"
    finally:
        db.dispose()


def test_prompt_without_a_keyring_saves_nothing(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _require_password(monkeypatch, PASSWORD)
    keyring.set_keyring(keyring.backends.fail.Keyring())
    db = open_database(pg_url, prompt=lambda _q: PASSWORD)
    try:
        assert db.url.password == PASSWORD
    finally:
        db.dispose()
    home = Path(os.environ["RENEWAL_DESK_HOME"])
    assert not any(PASSWORD.encode() in c for c in _files_under(home).values())


def test_no_password_given_at_the_prompt(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_password(monkeypatch, PASSWORD)
    with pytest.raises(ConfigurationError, match="No password"):
        open_database(pg_url, prompt=lambda _q: None)
    assert secrets.get_password(_key_for(pg_url)) is None


def test_refused_password_without_a_prompt(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _require_password(monkeypatch, PASSWORD)
    with pytest.raises(DatabaseUnavailable, match="password authentication failed"):
        open_database(pg_url)


def test_unreachable_server_is_one_sentence_without_password() -> None:
    calls: list[str] = []
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as caught:
        open_database(f"postgresql://bob:{PASSWORD}@127.0.0.1:1/renewals", prompt=calls.append)
    assert time.monotonic() - started < 15
    message = str(caught.value)
    _one_sentence(message)
    assert PASSWORD not in message
    assert "127.0.0.1/renewals" in message
    assert calls == []  # not a password problem: no prompt


def test_missing_database_on_the_server(postgres) -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        open_database(postgres.url("rd_no_such_database_here"))
    _one_sentence(str(caught.value))
    assert "rd_no_such_database_here" in str(caught.value)


def test_a_statement_timeout_is_not_an_unreachable_server(pg_url: str) -> None:
    db = open_database(pg_url)
    try:
        with pytest.raises(OperationalError) as caught, db.read_session() as s:
            s.execute(text("SET LOCAL statement_timeout = 50"))
            s.execute(text("SELECT pg_sleep(2)"))
        assert not isinstance(caught.value, DatabaseUnavailable)
        assert "statement timeout" in str(caught.value)
        with db.read_session() as s:  # and the database is still there
            assert s.execute(text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()


def test_a_dropped_connection_is_unavailable(pg_url: str, postgres) -> None:
    db = open_database(pg_url)
    try:
        with pytest.raises(DatabaseUnavailable) as caught, db.read_session() as s:
            pid = s.execute(text("SELECT pg_backend_pid()")).scalar()
            with postgres.admin.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            s.execute(text("SELECT 1"))
        _one_sentence(str(caught.value))
        assert "cannot be reached" in str(caught.value)
        with db.read_session() as s:  # a new connection works again
            assert s.execute(text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("orig", "problem"),
    [
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"), False),
        (psycopg.errors.SerializationFailure("could not serialize access"), False),
        (psycopg.errors.DeadlockDetected("deadlock detected"), False),
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.TooManyConnections("sorry, too many clients already"), True),
        (psycopg.OperationalError("connection failed: Connection refused"), True),
        (sqlite3.OperationalError("database is locked"), False),
        (sqlite3.OperationalError("unable to open database file"), True),
    ],
)
def test_connection_problem_classification(orig: Exception, problem: bool) -> None:
    exc = OperationalError("SELECT 1", {}, orig)
    assert engine_mod._is_connection_problem(exc) is problem


def test_first_line_of_a_driver_error() -> None:
    multi = psycopg.OperationalError(
        "connection failed: Multiple connection attempts failed. All failures were:\n"
        "- host: 'db1', port: '5432': connection failed: Connection refused\n"
        "\tIs the server running on that host and accepting TCP/IP connections?\n"
        "- host: 'db2', port: '5432': connection failed: timeout expired"
    )
    line = engine_mod._first_line(OperationalError("x", {}, multi))
    assert line == "host: 'db1', port: '5432': connection failed: Connection refused"
    leaky = psycopg.OperationalError(f"invalid dsn: password={PASSWORD} is not valid.\nmore")
    line = engine_mod._first_line(OperationalError("x", {}, leaky), PASSWORD)
    assert line == "invalid dsn: password=*** is not valid"
