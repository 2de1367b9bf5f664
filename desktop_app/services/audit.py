"""The activity history's hash chain: appending audit events, and proving none was changed.

Every audit event carries ``seq`` (1, 2, 3 … with no gaps: the chain's order) and
``hash``, the SHA-256 of the event before it and of the event itself::

    hash(n) = sha256(hash(n-1) + canonical(n))      hash(0) = GENESIS (64 zeros)

``canonical(n)`` is one line of JSON text, the same whichever database holds the event::

    [seq,"at",user_id,"actor","db_user","source","action","object_type",object_id,changes]

``at`` in UTC with microseconds (``2026-11-21T10:02:03.123456+00:00``), ``db_user`` the
PostgreSQL login that wrote the event (``null`` on SQLite), ``changes`` as read back from
the database and written with sorted keys, no spaces and characters as they are
(``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``; new events
store their changes in that very form). The hash is lowercase hex, of the UTF-8 bytes of
``hash(n-1) + canonical(n)``. Changing any stored value of an event, deleting one, or
inserting one breaks the chain at that point; :func:`verify` walks it and names the first
event that does not fit.

Writing. Services do not insert audit rows themselves: :func:`add` (and :func:`add_encoded`
for the importer's pre-encoded rows) keep them with the session, in order, and they are
written when the session's transaction commits (a ``before_commit`` hook, so every door —
unit of work, timer, housekeeping — gets it without remembering to): the head of the
chain is read under a lock, the events get the next ``seq`` numbers and their hashes, and
they are inserted in the same transaction as the change. On PostgreSQL the lock is a
transaction-level advisory lock (held from the audit insert to the commit, so two desktops
cannot both extend the same head); on SQLite the write transaction holds the database's
write lock from its ``BEGIN IMMEDIATE``. Events kept inside a savepoint that is rolled back
are dropped with it, as the rows they describe are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, Text, cast, event, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction

from desktop_app.db.engine import Database
from desktop_app.db.models import AuditEvent
from desktop_app.errors import RuleViolation

if TYPE_CHECKING:
    from desktop_app.services.unit import Actor  # unit imports this module

GENESIS = "0" * 64
"""The hash the first event links to."""

LOCK_KEY = 0x52444155  # "RDAU": PostgreSQL advisory lock held while the chain is extended
CHUNK = 5000  # rows per insert batch / per read while verifying

_INFO_KEY = "renewal_desk.audit"
_TABLE = AuditEvent.__table__
_COLUMNS = (
    "at",
    "user_id",
    "actor",
    "source",
    "action",
    "object_type",
    "object_id",
    "changes",
    "seq",
    "hash",
    "db_user",
)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- the chain's arithmetic -----------------------------------------------------------


def at_text(at: datetime) -> str:
    """``at`` as the chain covers it: UTC, ISO 8601, always with microseconds."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: audit times must carry a time zone")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_changes(changes: Any) -> str:
    """The ``changes`` JSON in the chain's form: sorted keys, no spaces, no escapes."""
    return _ENCODER.encode(changes)


def canonical(
    seq: int,
    at: datetime,
    user_id: int | None,
    actor: str,
    db_user: str | None,
    source: str,
    action: str,
    object_type: str,
    object_id: int | None,
    changes: Any,
) -> str:
    """One event as the chain hashes it (see the module's docstring)."""
    head = _ENCODER.encode(
        [seq, at_text(at), user_id, actor, db_user, source, action, object_type, object_id]
    )
    return f"{head[:-1]},{canonical_changes(changes)}]"


def _round_trips(value: Any) -> bool:
    """Whether ``canonical_changes(value)`` is what reading its JSON back gives: true
    unless a mapping has a key that is not text (JSON turns 1 into "1", and sorts it
    among the others differently)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str:
                return False
            if isinstance(item, _CONTAINERS) and not _round_trips(item):
                return False
        return True
    if isinstance(value, list | tuple):
        return all(_round_trips(item) for item in value if isinstance(item, _CONTAINERS))
    return True


_CONTAINERS = (dict, list, tuple)


def link(previous: str, text: str) -> str:
    """The hash of an event whose canonical form is ``text``, after ``previous``."""
    return hashlib.sha256((previous + text).encode("utf-8", "surrogatepass")).hexdigest()


# --- keeping events until the commit ---------------------------------------------------


@dataclass(slots=True)
class _Event:
    """One event kept for the commit; ``changes`` is the JSON text to store (in the
    canonical form: stored text and hashed text are then the same, and short)."""

    at: datetime
    at_text: str
    user_id: int | None
    actor: str
    source: str
    action: str
    object_type: str
    object_id: int | None
    changes: str


@dataclass(slots=True)
class _Encoded:
    """Many events alike but for ``object_id`` and ``changes`` (the importer's): each row
    is (object_id, the changes as JSON text in the chain's canonical form)."""

    at: datetime
    user_id: int | None
    actor: str
    source: str
    action: str
    object_type: str
    rows: Iterable[tuple[int | None, str]]


@dataclass
class _Pending:
    events: list[_Event | _Encoded] = field(default_factory=list)
    # each open savepoint → how many events were kept when it began
    marks: dict[int, int] = field(default_factory=dict)


def _pending(session: Session) -> _Pending:
    pending = session.info.get(_INFO_KEY)
    if pending is None:
        pending = session.info[_INFO_KEY] = _Pending()
    return pending


def _source(value: Any) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def add(session: Session, values: Mapping[str, Any]) -> None:
    """Keep one audit event (columns ``user_id``, ``actor``, ``source``, ``action``,
    ``object_type``, ``object_id``, ``changes`` and optionally ``at``, default now) for
    the commit of ``session``'s transaction."""
    add_many(session, [values])


def add_many(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    """Keep several audit events, in order (see :func:`add`)."""
    now: datetime | None = None
    events = _pending(session).events
    for values in rows:
        at = values.get("at")
        if at is None:
            at = now = now or datetime.now(UTC)
        user_id, object_id = values.get("user_id"), values.get("object_id")
        changes = values.get("changes") or {}
        text = canonical_changes(changes)
        if not _round_trips(changes):  # store (and hash) what reading it back will give
            text = canonical_changes(json.loads(text))
        events.append(
            _Event(
                at=at,
                at_text=at_text(at),  # a naive time is refused here, not at the commit
                user_id=None if user_id is None else int(user_id),
                actor=str(values["actor"]),
                source=_source(values["source"]),
                action=str(values["action"]),
                object_type=str(values["object_type"]),
                object_id=None if object_id is None else int(object_id),
                changes=text,
            )
        )


def add_encoded(
    session: Session, fixed: Mapping[str, Any], rows: Iterable[tuple[int | None, str]]
) -> None:
    """Keep many events that share ``fixed`` (``at``, ``user_id``, ``actor``, ``source``,
    ``action``, ``object_type``) and whose ``rows`` are (object_id, changes as JSON text),
    for a bulk writer that encodes JSON itself. The text is stored and hashed as it is, so
    it must be in the canonical form, ``text == canonical_changes(json.loads(text))``, or
    the events will not verify. ``rows`` may be a generator: it is consumed at the commit.
    """
    at = fixed["at"]
    at_text(at)
    _pending(session).events.append(
        _Encoded(
            at=at,
            user_id=None if fixed["user_id"] is None else int(fixed["user_id"]),
            actor=str(fixed["actor"]),
            source=_source(fixed["source"]),
            action=str(fixed["action"]),
            object_type=str(fixed["object_type"]),
            rows=rows,
        )
    )


# --- writing at the commit --------------------------------------------------------------


def _flush(session: Session) -> int:
    """Write the events kept for this transaction at the end of the chain, just before
    it commits; return how many."""
    pending = session.info.get(_INFO_KEY)
    if pending is None or not pending.events:
        return 0
    session.flush()  # the changes first, so the events' references exist
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    db_user: str | None = None
    if postgres:
        # One round trip: the lock (until commit or rollback), and who the server says we
        # are (what a trigger may compare ``db_user`` with).
        db_user = connection.exec_driver_sql(
            f"SELECT pg_advisory_xact_lock({LOCK_KEY}), session_user"
        ).one()[1]
    events, pending.events = pending.events, []
    head = connection.execute(
        select(_TABLE.c.seq, _TABLE.c.hash).order_by(_TABLE.c.seq.desc()).limit(1)
    ).first()
    chain = _Chain(0, GENESIS, db_user) if head is None else _Chain(head.seq, head.hash, db_user)
    write = _copy if postgres else _insert_sqlite
    count = 0
    for fixed, rows in _segments(events, chain):
        count += write(connection, fixed, rows)
    return count


@dataclass(slots=True)
class _Chain:
    """The end of the chain while events are added to it."""

    seq: int
    previous: str
    db_user: str | None


# A segment of single events: rows of every column. A block: rows of the columns that
# vary, the others the same on every row (``fixed``).
_BLOCK_COLUMNS = ("object_id", "changes", "seq", "hash")
_FIXED_COLUMNS = ("at", "user_id", "actor", "source", "action", "object_type", "db_user")
_Segment = tuple[tuple[Any, ...] | None, Iterator[tuple[Any, ...]]]


def _segments(events: list[_Event | _Encoded], chain: _Chain) -> Iterator[_Segment]:
    """The events in chain order, as segments to insert one after the other (each
    segment's rows are made, and hashed, as the writer takes them)."""
    start = 0
    while start < len(events):
        item = events[start]
        if isinstance(item, _Encoded):
            fixed = (item.at, item.user_id, item.actor, item.source, item.action)
            yield (*fixed, item.object_type, chain.db_user), _block_rows(item, chain)
            start += 1
            continue
        end = start
        while end < len(events) and isinstance(events[end], _Event):
            end += 1
        yield None, _event_rows(events[start:end], chain)  # type: ignore[arg-type]
        start = end


def _event_rows(events: list[_Event], chain: _Chain) -> Iterator[tuple[Any, ...]]:
    for item in events:
        chain.seq += 1
        head = _ENCODER.encode(
            [
                chain.seq,
                item.at_text,
                item.user_id,
                item.actor,
                chain.db_user,
                item.source,
                item.action,
                item.object_type,
                item.object_id,
            ]
        )
        # :func:`canonical`, with the changes already in the canonical form
        chain.previous = link(chain.previous, f"{head[:-1]},{item.changes}]")
        yield (
            item.at,
            item.user_id,
            item.actor,
            item.source,
            item.action,
            item.object_type,
            item.object_id,
            item.changes,
            chain.seq,
            chain.previous,
            chain.db_user,
        )


def _block_rows(item: _Encoded, chain: _Chain) -> Iterator[tuple[Any, ...]]:
    """(object_id, changes, seq, hash) per row: :func:`canonical` put together from the
    part every row shares and each row's own (the tight loop of a big import)."""
    middle = _ENCODER.encode(
        [
            at_text(item.at),
            item.user_id,
            item.actor,
            chain.db_user,
            item.source,
            item.action,
            item.object_type,
        ]
    )[1:-1]
    sha = hashlib.sha256
    seq, previous = chain.seq, chain.previous
    try:
        for object_id, changes in item.rows:
            seq += 1
            ident = "null" if object_id is None else str(int(object_id))
            data = f"{previous}[{seq},{middle},{ident},{changes}]"
            previous = sha(data.encode("utf-8", "surrogatepass")).hexdigest()
            yield object_id, changes, seq, previous
    finally:
        chain.seq, chain.previous = seq, previous


def _insert_sqlite(
    connection: Connection, fixed: tuple[Any, ...] | None, rows: Iterator[tuple[Any, ...]]
) -> int:
    to_db = _TABLE.c.at.type._cached_bind_processor(connection.dialect)
    if fixed is None:
        names, marks = _COLUMNS, ["?"] * len(_COLUMNS)
        rows = ((to_db(r[0]) if to_db else r[0], *r[1:]) for r in rows)
    else:
        # The values every row shares are written into the statement once.
        at = to_db(fixed[0]) if to_db else fixed[0]
        names = _BLOCK_COLUMNS + _FIXED_COLUMNS
        marks = ["?"] * len(_BLOCK_COLUMNS) + [_literal(v) for v in (at, *fixed[1:])]
    statement = f"INSERT INTO {_TABLE.name} ({', '.join(names)}) VALUES ({', '.join(marks)})"
    count = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            connection.exec_driver_sql(statement, batch)
            count += len(batch)
            batch = []
    if batch:
        connection.exec_driver_sql(statement, batch)
        count += len(batch)
    return count


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    text = str(value)
    if "\x00" in text:
        raise ValueError("an audit value cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _copy_text(value: Any) -> str:
    """A value in COPY's text form."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if "\\" in text or not text.isprintable():
        return text.translate(_COPY_ESCAPES)
    return text


def _copy(
    connection: Connection, fixed: tuple[Any, ...] | None, rows: Iterator[tuple[Any, ...]]
) -> int:
    names = _COLUMNS if fixed is None else _BLOCK_COLUMNS + _FIXED_COLUMNS
    statement = f"COPY {_TABLE.name} ({', '.join(names)}) FROM STDIN"
    dbapi = connection.dialect.loaded_dbapi
    count = 0
    try:
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            if fixed is None:
                for row in rows:
                    copy.write_row(row)
                    count += 1
                return count
            # A block: its lines as text, the shared columns rendered once.
            tail = "".join("\t" + _copy_text(v) for v in fixed) + "\n"
            lines: list[str] = []
            for object_id, stored, seq, hash_ in rows:
                ident = "\\N" if object_id is None else str(object_id)
                lines.append(f"{ident}\t{_copy_text(stored)}\t{seq}\t{hash_}{tail}")
                if len(lines) >= CHUNK:
                    copy.write("".join(lines).encode())
                    count += len(lines)
                    lines = []
            if lines:
                copy.write("".join(lines).encode())
                count += len(lines)
    except dbapi.Error as exc:  # as SQLAlchemy's own errors, for the callers' handlers
        raise DBAPIError.instance(
            statement, None, exc, dbapi.Error, dialect=connection.dialect
        ) from exc
    return count


# --- the session's transaction events ---------------------------------------------------


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.get_nested_transaction() is None:  # the transaction itself, not a savepoint
        _flush(session)


@event.listens_for(Session, "after_transaction_create")
def _savepoint_begins(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        pending = session.info.get(_INFO_KEY)
        if pending is not None:
            pending.marks[id(transaction)] = len(pending.events)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, transaction: SessionTransaction) -> None:
    pending = session.info.get(_INFO_KEY)
    if pending is not None and transaction.nested:
        # No mark: nothing was kept when the savepoint began.
        del pending.events[pending.marks.pop(id(transaction), 0) :]


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and not transaction.nested:
        pending = session.info.get(_INFO_KEY)
        if pending is not None:  # committed (written) or rolled back: nothing carries over
            pending.events.clear()
            pending.marks.clear()


# --- verifying --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainProblem:
    """The first place the chain does not hold."""

    kind: str  # "changed" | "missing" | "rewritten" | "truncated"
    message: str  # one plain sentence
    seq: int | None  # the seq of the bad event (or the first missing one)
    event_id: int | None  # its id, when the event is there


@dataclass(frozen=True)
class ChainCheck:
    """What :func:`verify` found."""

    events: int  # events checked and found linked, from seq 1
    head_seq: int | None  # the last event checked (None: the history is empty)
    head_hash: str | None
    problem: ChainProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def parse_head(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` (what a clean :func:`verify` prints as the head) → (seq, hash)."""
    seq_text, _, hash_text = text.strip().partition(":")
    seq_text, hash_text = seq_text.strip(), hash_text.strip().lower()
    if (
        not (seq_text.isascii() and seq_text.isdigit())
        or int(seq_text) < 1
        or len(hash_text) != 64
        or any(c not in "0123456789abcdef" for c in hash_text)
    ):
        raise RuleViolation(
            f"'{text}' is not a kept head; write it as SEQ:HASH, the sequence number and the "
            "64-character hash that 'audit verify' printed."
        )
    return int(seq_text), hash_text


def verify(db: Database, actor: Actor, *, expect: tuple[int, str] | None = None) -> ChainCheck:
    """Walk the whole chain in ``seq`` order (in chunks: constant memory) and recompute
    every hash; report the first event that does not fit. ``expect`` = (seq, hash) of a
    head kept elsewhere earlier: the event with that seq must still have that hash (a
    history rewritten from some point on, hashes and all, links up again but cannot
    reproduce the kept hash). Needs ``audit.read`` over the whole book."""
    from desktop_app.domain.permissions import Action
    from desktop_app.services.unit import read_only

    with read_only(db, actor) as uow:
        uow.require(Action.AUDIT_READ)
        return _walk(uow.session, expect)


def _walk(session: Session, expect: tuple[int, str] | None) -> ChainCheck:
    t = _TABLE
    query = select(
        t.c.id,
        t.c.seq,
        t.c.hash,
        type_coerce(t.c.at, String()).label("at"),  # parsed here: a mangled one is a finding
        t.c.user_id,
        t.c.actor,
        t.c.db_user,
        type_coerce(t.c.source, String()).label("source"),
        t.c.action,
        t.c.object_type,
        t.c.object_id,
        cast(t.c.changes, Text).label("changes"),
    ).order_by(t.c.seq)
    count, previous, last_seq, kept = 0, GENESIS, 0, None
    while True:
        rows = session.execute(query.where(t.c.seq > last_seq).limit(CHUNK)).all()
        if not rows:
            break
        for row in rows:
            if row.seq != last_seq + 1:
                return _done(count, last_seq, previous, _missing(last_seq, row.seq))
            try:
                at = _read_time(row.at)
                text = canonical(
                    row.seq,
                    at,
                    row.user_id,
                    row.actor,
                    row.db_user,
                    row.source,
                    row.action,
                    row.object_type,
                    row.object_id,
                    json.loads(row.changes),
                )
                good = link(previous, text) == row.hash
            except (ValueError, TypeError):  # a value no writer could have stored
                good = False
            if not good:
                return _done(count, last_seq, previous, _changed(row))
            count, previous, last_seq = count + 1, row.hash, row.seq
            if expect is not None and row.seq == expect[0]:
                kept = row.hash
    problem = None
    if expect is not None:
        if expect[0] > last_seq:
            problem = ChainProblem(
                "truncated",
                f"The kept head is seq {expect[0]}, but the history now ends at seq "
                f"{last_seq}: the events after seq {last_seq} were deleted.",
                last_seq + 1,
                None,
            )
        elif kept != expect[1]:
            problem = ChainProblem(
                "rewritten",
                f"Audit event seq {expect[0]} no longer has the hash that was kept "
                f"({expect[1][:12]}…): the history up to it was rewritten after the head "
                "was kept.",
                expect[0],
                None,
            )
    return _done(count, last_seq, previous, problem)


def _done(count: int, seq: int, hash_: str, problem: ChainProblem | None) -> ChainCheck:
    return ChainCheck(count, seq or None, hash_ if seq else None, problem)


def _read_time(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite: naive UTC text
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"not a time: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _missing(last_seq: int, seq: int) -> ChainProblem:
    gone = seq - last_seq - 1
    if gone == 1:
        message = f"The audit event after seq {last_seq} is missing — it was deleted."
    else:
        message = (
            f"The {gone} audit events after seq {last_seq} (seq {last_seq + 1} to {seq - 1}) "
            "are missing — they were deleted."
        )
    return ChainProblem("missing", message, last_seq + 1, None)


def _changed(row: Any) -> ChainProblem:
    try:
        when = f"{_read_time(row.at):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        when = f"at {row.at!r}"
    what = row.object_type if row.object_id is None else f"{row.object_type} {row.object_id}"
    return ChainProblem(
        "changed",
        f"Audit event {row.id} (seq {row.seq}, {when}, {what} by {row.actor}) does not match "
        "the chain: it, or the event before it, was changed after it was written.",
        row.seq,
        row.id,
    )
