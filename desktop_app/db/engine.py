"""Opening the database: where it is, how to connect, and a session per unit of work.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout,
and every write transaction starts with ``BEGIN IMMEDIATE``: a deferred transaction that
reads and then writes gets "database is locked" at once when another process holds the
write lock, whatever the busy timeout, while an immediate one waits its turn.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from desktop_app import paths
from desktop_app.db import urls
from desktop_app.errors import ConfigurationError, DatabaseUnavailable, PermissionDenied

ENV_URL = "RENEWAL_DESK_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 15_000

PasswordPrompt = Callable[[str], str | None]


class Database:
    """One database: an engine plus session factories for reading and for writing."""

    def __init__(self, url: URL, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        writer = engine.execution_options(renewal_desk_write=True)
        self._write = sessionmaker(bind=writer, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        return Path(self.url.database) if self.is_sqlite and self.url.database else None

    def describe(self) -> str:
        """Where the data lives, for the status bar and messages (never with a password)."""
        if self.is_sqlite:
            return f"SQLite file {self.url.database}"
        return f"PostgreSQL {self.url.host or 'localhost'}/{self.url.database}"

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session whose transaction takes the write lock first (SQLite) and commits or
        rolls back as a whole."""
        with _translate_errors(self), self._write() as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with _translate_errors(self), self._read() as session:
            yield session

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Turn a lost connection or a busy SQLite file into a one-sentence error."""
        with _translate_errors(self):
            yield

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _translate_errors(db: Database) -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        secret = db.url.password
        if _is_sqlite_busy(exc):
            raise DatabaseUnavailable(
                f"The database ({db.describe()}) is busy: another Renewal Desk has been "
                f"writing to it for over {max(1, SQLITE_BUSY_TIMEOUT_MS // 1000)} seconds; "
                "try again in a moment."
            ) from exc
        if _is_connection_problem(exc):
            line = _first_line(exc, secret)
            raise DatabaseUnavailable(
                _tls_sentence(db, line)
                or f"The database ({db.describe()}) cannot be reached: {line}."
            ) from exc
        if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient_privilege
            raise PermissionDenied(_refusal(exc, secret)) from exc
        raise


def _tls_sentence(db: Database, line: str) -> str | None:
    """libpq's words for a refused TLS connection, said for an office manager."""
    lowered = line.lower()
    if "does not support ssl" in lowered:
        return (
            f"The database server ({db.describe()}) does not offer encrypted connections, "
            "but this connection requires them; turn TLS on at the server or change the "
            "Encryption setting."
        )
    if "certificate" in lowered or "root.crt" in lowered:
        return (
            f"The database server's certificate could not be checked ({line}); give the "
            "office's CA certificate in the connection settings, or connect to the name the "
            "certificate was made for."
        )
    return None


def _refusal(exc: DBAPIError, secret: str | None) -> str:
    """The server's refusal as one sentence: the rules of a shared office's database
    (see db/provision.py) already speak in sentences; a missing grant does not."""
    line = _first_line(exc, secret)
    if line[:1].isupper():
        return line if line.endswith(".") else line + "."
    return f"The database does not allow your login to do this ({line})."


# PostgreSQL SQLSTATEs that mean "the server or the connection is gone", as opposed to a
# statement that failed (a statement or lock timeout, a deadlock, a serialization
# failure are OperationalErrors too, but the server is fine and the work can be retried).
_PG_CONNECTION_SQLSTATES = frozenset(
    {
        "57P01",  # admin_shutdown: "terminating connection due to administrator command"
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: the server is starting up or shutting down
        "53300",  # too_many_connections
        "28000",  # invalid_authorization_specification
        "28P01",  # invalid_password
        "3D000",  # invalid_catalog_name: the database does not exist
    }
)
# SQLite result codes (primary code names) that mean the file cannot be used at all.
_SQLITE_UNAVAILABLE = ("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_NOTADB", "SQLITE_PERM")
# Drivers without SQLSTATEs or result codes: match their words, never a bare "timeout".
_CONNECTION_WORDS = (
    "could not connect",
    "connection refused",
    "connection failed",
    "connection is closed",
    "connection is lost",
    "server closed the connection",
    "terminating connection",
    "unable to open database",
)


def _is_connection_problem(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith("08") or sqlstate in _PG_CONNECTION_SQLSTATES
    errname = getattr(orig, "sqlite_errorname", None)
    if errname:
        return errname.startswith(_SQLITE_UNAVAILABLE)
    if type(orig).__module__.startswith("psycopg") and isinstance(exc, OperationalError):
        # psycopg raises errors without a SQLSTATE when no server answered at all.
        return True
    text = str(orig).lower()
    return any(words in text for words in _CONNECTION_WORDS)


def _is_sqlite_busy(exc: DBAPIError) -> bool:
    errname = getattr(exc.orig, "sqlite_errorname", None) or ""
    return errname.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def _first_line(exc: BaseException, secret: str | None = None) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    line = (text[0] if text else type(orig).__name__).rstrip(".")
    if line.endswith(":"):  # "Multiple connection attempts failed. All failures were:"
        detail = next((t[2:] for t in text[1:] if t.startswith("- ")), None)
        if detail:
            line = detail.rstrip(".")
    if secret:
        line = line.replace(secret, "***")
    return line


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below), so the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache (default 2 MiB)
        cursor.execute("PRAGMA mmap_size=268435456")  # read the file through memory mapping
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get("renewal_desk_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        connect_args={"connect_timeout": 10, "application_name": "Renewal Desk"},
    )


def resolve_url(explicit: str | None = None) -> URL:
    """The database to use: --database-url, else the environment, else the saved setting,
    else the SQLite file in the user's data folder."""
    from desktop_app.settings import Settings

    text = explicit or os.environ.get(ENV_URL) or Settings.load().database_url
    if text:
        return urls.parse(text)
    return urls.sqlite_url(paths.default_database_path())


def open_database(
    url: URL | str | None = None, *, prompt: PasswordPrompt | None = None
) -> Database:
    """Open (but do not migrate) the database, checking it can be reached."""
    url = urls.parse(url) if isinstance(url, str) else (url or resolve_url())
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        urls.refuse_network_sqlite(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot create the folder {path.parent} for the database: {exc.strerror}."
            ) from exc
        db = Database(url, _sqlite_engine(url))
        _check(db)
        return db
    return _open_postgres(url, prompt)


def _open_postgres(url: URL, prompt: PasswordPrompt | None) -> Database:
    from desktop_app import secrets  # the keyring: only for a server (0.1 s of imports)

    key = secrets.account_key(url.username or "", url.host, url.port, url.database)
    if url.password is None:
        stored = secrets.get_password(key)
        if stored is not None:
            url = url.set(password=stored)
    db = Database(url, _postgres_engine(url))
    try:
        _check(db)
        return db
    except DatabaseUnavailable as exc:
        if not needs_password(exc) or prompt is None:
            db.dispose()
            raise
        db.dispose()
    password = prompt(f"Password for {url.username} on {url.host or 'localhost'}/{url.database}: ")
    if not password:
        raise ConfigurationError("No password was given for the database, so it was not opened.")
    url = url.set(password=password)
    db = Database(url, _postgres_engine(url))
    _check(db)
    # Without a keyring we ask again next session; the password is never written elsewhere.
    with contextlib.suppress(secrets.KeyringUnavailable):
        secrets.set_password(key, password)
    return db


def needs_password(exc: DatabaseUnavailable) -> bool:
    """Whether the server refused the connection for want of the right password."""
    sqlstate = getattr(getattr(exc.__cause__, "orig", None), "sqlstate", None)
    if sqlstate == "28P01":  # invalid_password
        return True
    text = str(exc).lower()
    return "password" in text and ("authentication" in text or "no password" in text)


def _check(db: Database) -> None:
    try:
        with db.engine.connect():
            pass
    except DBAPIError as exc:
        line = _first_line(exc, db.url.password)
        raise DatabaseUnavailable(
            _tls_sentence(db, line) or f"The database ({db.describe()}) cannot be opened: {line}."
        ) from exc
