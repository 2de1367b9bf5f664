"""The activity history's hash chain, on both databases: every door's events join one
gapless chain that verifies; an event changed or deleted by the database's owner is named;
a history rewritten with fresh hashes is caught by a kept head; two desktops writing at
the same time leave one chain; existing events are chained by the migration."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, func, select, text, update

from desktop_app.cli.main import run
from desktop_app.db import migrate
from desktop_app.db.engine import Database, open_database
from desktop_app.db.models import AuditEvent
from desktop_app.db.types import UTCDateTime
from desktop_app.domain.enums import AuditSource
from desktop_app.engine import timer
from desktop_app.errors import PermissionDenied, RuleViolation
from desktop_app.services import audit, importing, renewals, users
from desktop_app.services.unit import Actor, unit_of_work
from tests.engine.conftest import build_book
from tests.excel import messy

ROOT = Path(__file__).resolve().parent.parent
EVENTS = AuditEvent.__table__
HEADER = ["Policy #", "Named Insured", "Carrier", "Exp Date", "Eff Date", "LOB", "Premium"]
HEADER += ["Producer", "CSR"]
# What the importer's own JSON encoding must get right for the chain: quotes,
# backslashes, accents, characters outside the Basic Multilingual Plane.
ROWS = [
    ["A\\1", 'Smith "Bob" & Sons', 'Chubb "Special"', date(2027, 3, 1), None, "BOP", 12.5],
    ["B-2", "Zürich Bäckerei", "Zürich Ünïon", date(2027, 4, 1), date(2026, 4, 1), "WC", None],
    ["C-3", "日本 商事 🎉", "Travelers", date(2027, 5, 1), None, "HOME", "$1,234.50"],
    ["D-4", 'Smith "Bob" & Sons', "Travelers", date(2027, 6, 1), None, "CGL", 0],
]
NOW = datetime(2027, 5, 10, 12, tzinfo=UTC)  # the book's create triggers are due


def _events(db: Database) -> list[Any]:
    with db.read_session() as s:
        return list(s.execute(select(EVENTS).order_by(EVENTS.c.seq)))


def _history(db: Database, admin: Actor, make_user: Any, tmp_path: Path) -> None:
    """Every door writes: services, a savepoint rolled back, an import, a timer tick (set
    based) with its housekeeping."""
    agency = build_book(db, admin, make_user)
    for n in range(4):  # more creates due together, so the tick fires them set-based
        agency.add_policy(f"WC-10{n}", end=datetime(2027, 7, 2 + n, tzinfo=UTC))
    card = renewals.open_renewal(
        db, admin, agency.policy_id, next_action="Call", owner="casey", due=date(2027, 5, 1)
    )
    renewals.update_renewal(db, admin, card.id, notes='Übergabe — naïve 🎉 "quoted" \\ done')
    with unit_of_work(db, admin) as uow:
        uow.audit("test.kept", "renewals", card.id, {"n": [1, 2.5]})
        savepoint = uow.session.begin_nested()
        uow.audit("test.dropped", "renewals", card.id, {})
        savepoint.rollback()
        uow.audit("test.after", "renewals", card.id, {"x": [None, {"b": 1, "a": 0.1}]})
    result = importing.commit(
        db, admin, importing.read_file(messy.workbook(tmp_path, [HEADER, *_import_rows()]))
    )
    assert result.created == 4
    report = agency.tick(NOW, housekeeping=True)
    fired = [a["outcome"] for a in report.actions if a.get("event") == "create"]
    assert sorted(fired) == ["adopted", "created", "created", "created", "created"]


def _import_rows() -> list[list[Any]]:
    return [[*row, "pat" if i < 2 else None, "casey"] for i, row in enumerate(ROWS)]


# --- a clean history ---------------------------------------------------------------------


def test_every_door_joins_one_gapless_chain_that_verifies(
    db, admin, make_user, tmp_path, monkeypatch
):
    together = []
    fire_together = timer._fire_together
    monkeypatch.setattr(
        timer, "_fire_together", lambda *a, **k: together.append(1) or fire_together(*a, **k)
    )
    _history(db, admin, make_user, tmp_path)
    assert together, "the tick did not take the set-based path"

    events = _events(db)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.id for e in events] == sorted(e.id for e in events)  # written in chain order
    actions = [e.action for e in events]
    assert "test.dropped" not in actions
    kept = actions.index("test.kept")
    assert actions[kept + 1] == "test.after"
    assert {"user.create", "import.run", "policy.create", "account.create"} <= set(actions)
    assert {e.source for e in events} >= {"cli", "import", "scheduler", "system"}
    previous = audit.GENESIS
    for e in events:  # each hash is computed from the one before it
        text_ = audit.canonical(
            e.seq,
            e.at,
            e.user_id,
            e.actor,
            e.db_user,
            e.source.value,
            e.action,
            e.object_type,
            e.object_id,
            e.changes,
        )
        assert e.hash == audit.link(previous, text_)
        previous = e.hash
    # Every door stores the changes in the chain's canonical form, the importer included.
    with db.read_session() as s:
        stored = s.scalars(select(sa.cast(EVENTS.c.changes, sa.Text)).order_by(EVENTS.c.seq))
        assert all(t == audit.canonical_changes(json.loads(t)) for t in stored)
    expected_login = None if db.is_sqlite else db.url.username
    assert {e.db_user for e in events} == {expected_login}

    check = audit.verify(db, admin)
    assert check.ok and check.problem is None
    assert (check.events, check.head_seq, check.head_hash) == (len(events), len(events), previous)


def test_the_canonical_form_never_changes():
    """Every stored chain depends on these exact bytes; changing them breaks them all."""
    text_ = audit.canonical(
        7,
        datetime(2026, 11, 21, 10, 2, 3, 45, tzinfo=UTC),
        3,
        "alice",
        "alice",
        "ui",
        "renewal.update",
        "renewals",
        55,
        {"notes": ["Café", "naïve 🎉"], "amount": [None, "1.50"], "n": [1, 2.5]},
    )
    assert text_ == (
        '[7,"2026-11-21T10:02:03.000045+00:00",3,"alice","alice","ui","renewal.update",'
        '"renewals",55,{"amount":[null,"1.50"],"n":[1,2.5],"notes":["Café","naïve 🎉"]}]'
    )
    assert (
        audit.link(audit.GENESIS, text_)
        == "fe390d51d6b46ec2ef1424b7c533fea57e8cdd5d0fd71f2f43feef0ef5e83826"
    )


# --- tampering by the owner --------------------------------------------------------------


def _small_history(db: Database, admin: Actor, make_user: Any) -> list[Any]:
    make_user("csr", "casey")
    make_user("producer", "pat")
    for n in range(5):
        users.add_user(db, admin, f"temp{n}", "csr")
    return _events(db)


def _as_owner(db: Database, statement: Any) -> None:
    """A change made straight in the database, around the app (the owner can)."""
    with db.engine.begin() as conn:
        conn.execute(statement)


@pytest.mark.parametrize("column", ["changes", "actor", "at"])
def test_an_event_changed_by_the_owner_is_named(db, admin, make_user, column):
    events = _small_history(db, admin, make_user)
    victim = events[4]
    new = {
        "changes": {"username": [None, "someone-else"]},
        "actor": "mallory",
        "at": victim.at + timedelta(seconds=1),
    }[column]
    _as_owner(db, update(EVENTS).where(EVENTS.c.seq == victim.seq).values({column: new}))

    check = audit.verify(db, admin)
    assert not check.ok
    assert check.problem is not None
    assert (check.problem.kind, check.problem.seq, check.problem.event_id) == (
        "changed",
        victim.seq,
        victim.id,
    )
    assert check.problem.message.startswith(f"Audit event {victim.id} (seq {victim.seq}, ")
    assert "was changed after it was written" in check.problem.message
    assert check.events == victim.seq - 1  # the events before it are intact


def test_a_deleted_event_is_reported_missing(db, admin, make_user):
    events = _small_history(db, admin, make_user)
    _as_owner(db, delete(EVENTS).where(EVENTS.c.seq == events[3].seq))
    check = audit.verify(db, admin)
    assert check.problem is not None
    assert (check.problem.kind, check.problem.seq) == ("missing", events[3].seq)
    assert check.problem.message == (
        f"The audit event after seq {events[2].seq} is missing — it was deleted."
    )


def _rewrite_from(db: Database, seq: int, actor: str) -> None:
    """What an owner who knows the algorithm does: change event ``seq`` and recompute
    every hash after it, so the chain links up again."""
    with db.engine.begin() as conn:
        rows = list(conn.execute(select(EVENTS).where(EVENTS.c.seq >= seq - 1).order_by("seq")))
        previous = rows[0].hash if rows[0].seq == seq - 1 else audit.GENESIS
        for row in rows[1:] if rows[0].seq == seq - 1 else rows:
            who = actor if row.seq == seq else row.actor
            new = audit.link(
                previous,
                audit.canonical(
                    row.seq,
                    row.at,
                    row.user_id,
                    who,
                    row.db_user,
                    row.source.value,
                    row.action,
                    row.object_type,
                    row.object_id,
                    row.changes,
                ),
            )
            conn.execute(update(EVENTS).where(EVENTS.c.id == row.id).values(actor=who, hash=new))
            previous = new


def test_a_rewrite_with_fresh_hashes_is_caught_by_the_kept_head(db, admin, make_user):
    events = _small_history(db, admin, make_user)
    kept = audit.verify(db, admin)
    head = (kept.head_seq, kept.head_hash)
    assert head == (events[-1].seq, events[-1].hash)

    _rewrite_from(db, events[2].seq, "mallory")
    rewritten = audit.verify(db, admin)
    assert rewritten.ok  # the chain alone links up again…
    caught = audit.verify(db, admin, expect=head)  # …but not to the head kept elsewhere
    assert caught.problem is not None
    assert (caught.problem.kind, caught.problem.seq) == ("rewritten", head[0])

    # A later event's head still holds only while nothing before it changes again.
    users.add_user(db, admin, "later", "csr")
    later = audit.verify(db, admin)
    assert audit.verify(db, admin, expect=(later.head_seq, later.head_hash)).ok
    # Deleting the newest events leaves a chain that links, shorter than the kept head.
    _as_owner(db, delete(EVENTS).where(EVENTS.c.seq == later.head_seq))
    cut = audit.verify(db, admin, expect=(later.head_seq, later.head_hash))
    assert cut.problem is not None and cut.problem.kind == "truncated"
    assert f"ends at seq {later.head_seq - 1}" in cut.problem.message


def test_reading_the_whole_history_needs_audit_read_for_everyone(db, admin, make_user):
    pat = make_user("producer", "pat")
    with pytest.raises(PermissionDenied):
        audit.verify(db, pat)
    assert audit.verify(db, make_user("csr", "casey")).ok


# --- several writers ---------------------------------------------------------------------

_WRITER = """
import pathlib, sys, time
from desktop_app.db.engine import open_database
from desktop_app.domain.enums import AuditSource
from desktop_app.services import users
from desktop_app.services.unit import Actor

url, tag, other, folder = sys.argv[1:5]
folder = pathlib.Path(folder)
db = open_database(url)
admin = Actor("admin", AuditSource.CLI)
(folder / f"{tag}.ready").touch()
while not (folder / "go").exists():
    time.sleep(0.005)


def done(who):
    try:
        return int((folder / f"{who}.n").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


for i in range(200):
    # Stay within a few events of the other writer, so a busy machine cannot let one
    # process finish before the other starts and leave nothing concurrent to test.
    while i - done(other) > 4 and done(other) < 200:
        time.sleep(0.002)
    users.add_user(db, admin, f"{tag}{i}", "csr")
    (folder / f"{tag}.tmp").write_text(str(i + 1))
    (folder / f"{tag}.tmp").replace(folder / f"{tag}.n")
db.dispose()
"""


def test_two_processes_writing_at_once_leave_one_unbroken_chain(db, db_url, admin, tmp_path):
    before = len(_events(db))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, db_url, tag, other, str(tmp_path)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag, other in (("a", "b"), ("b", "a"))
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"{tag}.ready").exists() for tag in ("a", "b")):
            assert time.monotonic() < deadline, "the writers did not start"
            assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs]
            time.sleep(0.01)
        (tmp_path / "go").touch()
        for p in procs:
            assert p.wait(timeout=120) == 0, p.stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()

    events = _events(db)
    assert len(events) == before + 400
    check = audit.verify(db, admin)
    assert check.ok, check.problem
    assert check.events == check.head_seq == before + 400
    # The two really wrote at the same time: their events interleave in the chain.
    order = [e.changes["username"][1][0] for e in events[before:]]
    switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
    assert switches > 2, "the writers ran one after the other; the test proves nothing"


# --- the migration -----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_at_0003(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        name = None
    else:
        server = request.getfixturevalue("postgres")
        name = server.new_database(migrated=False)
        database = open_database(server.url(name))
    from alembic import command

    with migrate.migration_transaction(database) as conn:
        command.upgrade(migrate._config(conn), "0003")
    yield database
    database.dispose()
    if name is not None:
        server.drop(name)


def test_the_upgrade_chains_the_events_already_there(db_at_0003, tmp_path):
    db = db_at_0003
    old = sa.table(
        "audit_events",
        sa.column("id", sa.Integer()),
        sa.column("at", UTCDateTime()),
        sa.column("user_id", sa.Integer()),
        sa.column("actor", sa.String()),
        sa.column("source", sa.String()),
        sa.column("action", sa.String()),
        sa.column("object_type", sa.String()),
        sa.column("object_id", sa.Integer()),
        sa.column("changes", sa.JSON()),
    )
    start = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    rows = [
        {
            "id": i,
            "at": start + timedelta(minutes=i),
            "user_id": None,
            "actor": "admin",
            "source": "ui",
            "action": "renewal.update",
            "object_type": "renewals",
            "object_id": i,
            "changes": {"notes": [None, f"Café n° {i} 🎉"], "premium": [1.5, "2.00"]},
        }
        for i in (3, 1, 7, 4)  # ids out of order, with gaps: the chain follows the ids
    ]
    with db.engine.begin() as conn:
        conn.execute(sa.insert(old), rows)
        if not db.is_sqlite:  # explicit ids leave the sequence behind
            conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), 7)"))

    migrate.upgrade(db, backup=False)
    events = _events(db)
    assert [(e.seq, e.id) for e in events] == [(1, 1), (2, 3), (3, 4), (4, 7)]
    assert {e.db_user for e in events} == {None}
    admin = Actor("admin", AuditSource.CLI)
    users.ensure_first_admin(db, "admin")  # the first event written by the app itself
    check = audit.verify(db, admin)
    assert check.ok and check.events == 5
    assert _events(db)[-1].action == "user.create"


# --- the command line --------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_line_exit_codes(db, db_url, admin, make_user, capsys):
    _small_history(db, admin, make_user)
    code, out, err = _cli(capsys, "--database-url", db_url, "--as", "admin", "audit", "verify")
    assert code == 0, err
    count = len(_events(db))
    assert f"intact: {count} events" in out
    head = next(line for line in out.splitlines() if line.startswith("Head: "))[6:]
    assert head == f"{count}:{_events(db)[-1].hash}"
    assert f"audit verify --expect {head}" in out

    code, out, _ = _cli(
        capsys, "--database-url", db_url, "--as", "admin", "audit", "verify", "--expect", head
    )
    assert code == 0 and "still match the kept head" in out

    victim = _events(db)[2]
    _as_owner(db, update(EVENTS).where(EVENTS.c.seq == victim.seq).values(actor="mallory"))
    code, out, _ = _cli(capsys, "--database-url", db_url, "--as", "admin", "audit", "verify")
    assert code == 1
    assert out.splitlines()[0].startswith(f"Audit event {victim.id} (seq {victim.seq}, ")
    code, out, _ = _cli(
        capsys, "--database-url", db_url, "--as", "admin", "audit", "verify", "--json"
    )
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["events"] == victim.seq - 1
    assert report["problem"]["kind"] == "changed"
    assert report["problem"]["event_id"] == victim.id

    for argv, words in (
        (("--as", "admin", "audit", "verify", "--expect", "12:abc"), "is not a kept head"),
        (("--as", "pat", "audit", "verify"), "activity history"),
    ):
        code, out, err = _cli(capsys, "--database-url", db_url, *argv)
        assert code == 2 and out == ""
        assert words in err and err.startswith("renewal-desk: ") and err.count("\n") == 1


def test_a_kept_head_must_be_seq_colon_hash():
    assert audit.parse_head(f" 12:{'A' * 64} ") == (12, "a" * 64)
    for bad in ("12", f"0:{'a' * 64}", f"x:{'a' * 64}", "12:abc", f"12:{'g' * 64}"):
        with pytest.raises(RuleViolation):
            audit.parse_head(bad)


def test_the_lock_goes_with_the_transaction(db, admin):
    """Nothing is written for a unit of work that records nothing, and the lock a
    PostgreSQL writer takes is released with its transaction."""
    with db.read_session() as s:
        before = s.scalar(select(func.count()).select_from(EVENTS))
    with unit_of_work(db, admin):
        pass
    users.add_user(db, admin, "someone", "csr")
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(EVENTS)) == before + 1
        if not db.is_sqlite:
            held = s.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"),
                {"k": audit.LOCK_KEY},
            )
            assert held == 0
