"""The change feed: what other desktops committed, as it happens, and whether the
database can be reached at all.

:class:`ChangeWatcher` runs on a thread of its own (never the GUI's, never the database
executor's) with a connection of its own (never one of the pool's):

* **PostgreSQL**: it LISTENs on ``renewal_desk_changes``; migration 0005 makes every
  table the desktop shows send its name there after each statement, delivered at commit
  (one message per table and transaction, however many rows).
* **SQLite**: it polls ``PRAGMA data_version`` every few hundred milliseconds, which
  changes when another connection commits. It cannot say which tables changed, so it
  reports "everything".

A desktop's own commits are not reported: the job that saved already told the views
(``DatabaseExecutor.submit(changes=…)``). On PostgreSQL a notification says which server
process sent it, and the watcher knows the processes of its own pool; on SQLite it reads
``data_version`` just before each of its own commits (a change seen then is someone
else's) and again once the connection is back in the pool.

When its connection dies the watcher reconnects at once; if that fails it reports
:class:`Lost` and retries with back-off (1, 2, 4 … 30 s), then :class:`Restored` and a
refresh of everything (notifications sent meanwhile were missed).

Also here: :func:`probe` (is the database reachable?), :func:`is_offline` (does an error
mean the database cannot be reached?) and :func:`last_change` (who last changed a record,
and when, for the "changed by … at …" sentence).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from desktop_app.db.engine import Database
from desktop_app.db.models import AuditEvent, User
from desktop_app.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

CHANNEL = "renewal_desk_changes"
"""The PostgreSQL notification channel (migration 0005)."""

ALL_TABLES = frozenset(
    {
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
    }
)
"""Every table some view shows: what "something changed, we don't know what" refreshes."""

POLL_SECONDS = 0.3
"""SQLite: how often ``data_version`` is read."""
WAIT_SECONDS = 0.25
"""PostgreSQL: how long one wait for notifications lasts (how soon a stop is noticed)."""
HEARTBEAT_SECONDS = 5.0
"""PostgreSQL: a quiet listening connection is checked this often."""
BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
"""Seconds between reconnection attempts, the last one repeating."""


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): 1, 2, 4 … 30."""
    return BACKOFF[min(attempt, len(BACKOFF) - 1)]


# --- what the watcher reports ----------------------------------------------------------


@dataclass(frozen=True)
class Changed:
    """Someone else committed changes to ``tables``."""

    tables: frozenset[str]
    everything: bool = False
    """The tables are not known (SQLite, or after a reconnection): refresh everything."""


@dataclass(frozen=True)
class Lost:
    """The watcher's connection is gone and could not be made again; it keeps trying."""

    message: str


@dataclass(frozen=True)
class Restored:
    """The watcher is connected again after a :class:`Lost`."""


Event = Changed | Lost | Restored

EVERYTHING = Changed(ALL_TABLES, everything=True)


# --- the watcher -----------------------------------------------------------------------


class ChangeWatcher:
    """Reports other desktops' commits to one database (see the module notes).

    Use :meth:`events` from one thread; :meth:`close` when done (it stops listening to
    the pool's events too). ``include_own``: report this desktop's own commits as well
    (tests and tools; the window leaves it off).
    """

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = POLL_SECONDS,
        include_own: bool = False,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.include_own = include_own
        self._lock = threading.Lock()
        self._listeners: list[tuple[str, Callable[..., None]]] = []
        # PostgreSQL: the server processes of this desktop's pool
        self._own_pids: set[int] = set()
        # SQLite: the watcher's connection, what it last read, own commits under way
        self._sqlite: sqlite3.Connection | None = None
        self._baseline: int | None = None
        self._committing: set[int] = set()
        self._foreign_seen = False
        self._pg: Any = None
        if not include_own:
            self._follow_own_connections()

    # --- public -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the watcher's own connection is open (it is watching)."""
        return self._sqlite is not None or self._pg is not None

    def events(self, stop: threading.Event) -> Iterator[Event]:
        """Yield :class:`Changed`, :class:`Lost` and :class:`Restored` until ``stop`` is set.
        Never raises for a database problem: those are :class:`Lost`."""
        if self.db.is_sqlite and str(self.db.sqlite_path or "") in ("", ":memory:"):
            stop.wait()  # an in-memory database: no other desktop can change it
            return
        connect, wait = (
            (self._connect_sqlite, self._wait_sqlite)
            if self.db.is_sqlite
            else (self._connect_pg, self._wait_pg)
        )
        connected_once = False
        lost = False
        failures = 0
        while not stop.is_set():
            try:
                connect()
            except Exception as exc:  # any failure to connect: say so, then retry
                self._disconnect()
                failures += 1
                if connected_once and failures == 1:
                    continue  # a killed connection, a server that is back: retry at once
                if not lost:
                    lost = True
                    yield Lost(self._sentence(exc))
                stop.wait(backoff_delay(failures - (2 if connected_once else 1)))
                continue
            if connected_once:
                if lost:
                    yield Restored()
                yield EVERYTHING  # what was sent while we were away is lost
            connected_once, lost, failures = True, False, 0
            try:
                yield from wait(stop)
            except Exception as exc:  # the connection died under us
                log.info("the change feed lost its connection: %s", exc)
                self._disconnect()
        self._disconnect()

    def close(self) -> None:
        """Stop following the pool and let go of the watcher's connection."""
        for name, fn in self._listeners:
            with contextlib.suppress(Exception):
                event.remove(self.db.engine, name, fn)
        self._listeners = []
        self._disconnect()

    # --- this desktop's own connections ------------------------------------------------

    def _listen(self, name: str, fn: Callable[..., None]) -> None:
        event.listen(self.db.engine, name, fn)
        self._listeners.append((name, fn))

    def _follow_own_connections(self) -> None:
        if self.db.is_sqlite:
            self._listen("commit", self._before_own_commit)
            self._listen("checkin", self._after_own_commit)
            for name in ("close", "detach"):
                self._listen(name, self._after_own_commit)
            self._listen("invalidate", lambda dbapi, record, _exc: self._after_own_commit(dbapi))
            return
        self._listen("checkout", self._own_checkout)
        for name in ("close", "detach"):
            self._listen(name, self._own_gone)
        self._listen("invalidate", lambda dbapi, _record, _exc: self._own_gone(dbapi))

    def _own_checkout(self, dbapi: Any, _record: Any = None, _proxy: Any = None) -> None:
        pid = _backend_pid(dbapi)
        if pid is not None:
            with self._lock:
                self._own_pids.add(pid)

    def _own_gone(self, dbapi: Any, *_args: Any) -> None:
        pid = _backend_pid(dbapi)
        if pid is not None:
            with self._lock:
                self._own_pids.discard(pid)

    def _before_own_commit(self, conn: Any) -> None:
        """SQLite, on the thread that commits, just before: a change seen now is someone
        else's; from here until the connection is back in the pool, changes are ours."""
        dbapi = conn.connection.dbapi_connection
        with self._lock:
            if self._sqlite is not None and not self._committing:
                with contextlib.suppress(sqlite3.Error):
                    version = self._data_version()
                    if version != self._baseline:
                        self._foreign_seen = True
            self._committing.add(id(dbapi))

    def _after_own_commit(self, dbapi: Any, *_args: Any) -> None:
        with self._lock:
            if id(dbapi) not in self._committing:
                return
            self._committing.discard(id(dbapi))
            if self._sqlite is not None and not self._committing:
                with contextlib.suppress(sqlite3.Error):
                    self._baseline = self._data_version()

    # --- SQLite -------------------------------------------------------------------------

    def _connect_sqlite(self) -> None:
        path = self.db.sqlite_path
        assert path is not None
        if not path.exists():
            raise DatabaseUnavailable(f"The database file {path} is not there any more.")
        connection = sqlite3.connect(
            f"{path.as_uri()}?mode=rw",
            uri=True,
            timeout=2.0,
            isolation_level=None,
            check_same_thread=False,  # the pool's committing threads read it too (locked)
        )
        with self._lock:
            self._sqlite = connection
            self._baseline = self._data_version()
            self._foreign_seen = False

    def _data_version(self) -> int:
        assert self._sqlite is not None
        return int(self._sqlite.execute("PRAGMA data_version").fetchone()[0])

    def _wait_sqlite(self, stop: threading.Event) -> Iterator[Event]:
        while not stop.wait(self.poll_seconds):
            with self._lock:
                foreign = self._foreign_seen
                if not self._committing:
                    version = self._data_version()
                    foreign = foreign or version != self._baseline
                    self._baseline = version
                self._foreign_seen = False
            if foreign:
                yield EVERYTHING

    # --- PostgreSQL ---------------------------------------------------------------------

    def _connect_pg(self) -> None:
        import psycopg

        _args, params = self.db.engine.dialect.create_connect_args(self.db.url)
        params = {k: v for k, v in params.items() if k != "context"}
        params.update(
            connect_timeout=3,
            application_name="Renewal Desk (change feed)",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )
        if sys.platform.startswith("linux"):
            params["tcp_user_timeout"] = 10_000
        connection = psycopg.connect(autocommit=True, **params)
        try:
            connection.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            connection.close()
            raise
        self._pg = connection

    def _wait_pg(self, stop: threading.Event) -> Iterator[Event]:
        connection = self._pg
        quiet_since = time.monotonic()
        while not stop.is_set():
            for note in connection.notifies(timeout=WAIT_SECONDS):
                quiet_since = time.monotonic()
                if note.channel != CHANNEL or not note.payload:
                    continue
                if not self.include_own:
                    with self._lock:
                        if note.pid in self._own_pids:
                            continue
                yield Changed(frozenset({note.payload}))
                if stop.is_set():
                    return
            if time.monotonic() - quiet_since > HEARTBEAT_SECONDS:
                connection.execute("SELECT 1")  # raises when the server has gone
                quiet_since = time.monotonic()

    # --- both ---------------------------------------------------------------------------

    def _disconnect(self) -> None:
        with self._lock:
            sqlite, self._sqlite = self._sqlite, None
            pg, self._pg = self._pg, None
        for connection in (sqlite, pg):
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()

    def _sentence(self, exc: BaseException) -> str:
        if isinstance(exc, DatabaseUnavailable):
            return exc.message
        detail = str(exc).strip().splitlines()
        line = (detail[0] if detail else type(exc).__name__).rstrip(".")
        secret = self.db.url.password
        if secret:
            line = line.replace(secret, "***")
        return f"The database ({self.db.describe()}) cannot be reached: {line}."


def _backend_pid(dbapi: Any) -> int | None:
    info = getattr(dbapi, "info", None)
    pid = getattr(info, "backend_pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


# --- reachability ----------------------------------------------------------------------


def probe(db: Database) -> None:
    """Return when the database answers a trivial query; raise DatabaseUnavailable when
    it cannot be reached (a dead pooled connection is replaced on the way)."""
    with db.read_session() as session:
        session.execute(text("SELECT 1"))


def is_offline(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached (not merely busy: a SQLite
    file another desktop is writing to for a long time is there, just slow)."""
    if not isinstance(error, DatabaseUnavailable):
        return False
    cause = error.__cause__
    if isinstance(cause, DBAPIError):
        name = getattr(cause.orig, "sqlite_errorname", None) or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return False
    return True


# --- who changed it --------------------------------------------------------------------


def last_change(session: Session, object_type: str, object_id: int) -> str | None:
    """``"by Morgan Lee at 11/21/2026 14:32 EST"``: who last changed the record (their
    full name, else their user name) and when, on the agency's clock; None when its
    history says nothing."""
    from desktop_app.services import agency  # agency → unit → (here, lazily)

    row = session.execute(
        select(AuditEvent.actor, AuditEvent.at, User.full_name)
        .outerjoin(User, User.id == AuditEvent.user_id)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    local = row.at.astimezone(agency.time_zone(session))
    name = (row.full_name or "").strip() or row.actor
    return f"by {name} at {local:%m/%d/%Y %H:%M} {local.tzname() or ''}".rstrip()
