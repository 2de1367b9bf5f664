"""The change feed (services/changes.py) on both backends: another desktop's commit is
reported within 2 s, this desktop's own commits are not, one bulk transaction is one
message per table, a killed connection is reconnected with a full refresh, and an outage
is reported and recovered from. Also the "changed by NAME at TIME" sentence."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from desktop_app.db.engine import Database, open_database
from desktop_app.errors import DatabaseUnavailable, StaleEdit
from desktop_app.services import agency, changes, renewals
from desktop_app.services.changes import ALL_TABLES, Changed, ChangeWatcher, Lost, Restored
from desktop_app.services.unit import Actor
from tests.helpers import SmallBook, small_book


class Feed:
    """A watcher running on a thread of its own, its events in a queue."""

    def __init__(self, db: Database, **options: object) -> None:
        self.watcher = ChangeWatcher(db, **options)  # type: ignore[arg-type]
        self.events: queue.Queue[tuple[float, object]] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for item in self.watcher.events(self.stop):
            self.events.put((time.perf_counter(), item))

    def next(self, timeout: float, kind: type = object) -> tuple[float, object]:
        """The next event of ``kind`` (others are skipped) within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind.__name__} within {timeout} s")
            try:
                at, item = self.events.get(timeout=left)
            except queue.Empty:
                raise AssertionError(f"no {kind.__name__} within {timeout} s") from None
            if isinstance(item, kind):
                return at, item

    def quiet(self, seconds: float) -> list[object]:
        """Everything reported in the next ``seconds``."""
        time.sleep(seconds)
        out = []
        while not self.events.empty():
            out.append(self.events.get()[1])
        return out

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive(), "the watcher did not stop"
        self.watcher.close()


@pytest.fixture
def book(db: Database, admin: Actor, make_user: Callable[..., Actor]) -> SmallBook:
    return small_book(db, admin, make_user)


@pytest.fixture
def other(db_url: str) -> Iterator[Database]:
    """Another desktop's connection to the same database."""
    other = open_database(db_url)
    yield other
    other.dispose()


@pytest.fixture
def feed(db: Database) -> Iterator[Callable[..., Feed]]:
    feeds: list[Feed] = []

    def make(database: Database | None = None, **options: object) -> Feed:
        f = Feed(database or db, **options)
        feeds.append(f)
        return f

    yield make
    for f in feeds:
        f.close()


def _ready(f: Feed) -> None:
    """Wait until the watcher is listening (its first connection is made at once)."""
    deadline = time.monotonic() + 5
    while not f.watcher.connected:
        assert time.monotonic() < deadline, "the watcher never connected"
        time.sleep(0.01)


def test_a_commit_elsewhere_is_reported_within_2_seconds(
    db: Database, other: Database, book: SmallBook, feed: Callable[..., Feed]
) -> None:
    f = feed()
    _ready(f)
    card = renewals.get_renewal(other, book.admin, book.renewal_id)
    committed = time.perf_counter()
    renewals.update_renewal(
        other, book.csr, book.renewal_id, notes="Called Ann", expected_version=card.version
    )
    committed = (committed + time.perf_counter()) / 2
    at, item = f.next(2.0, Changed)
    assert isinstance(item, Changed)
    if db.is_sqlite:  # SQLite cannot say which table: everything
        assert item.everything and item.tables == ALL_TABLES
    else:
        assert item.tables == {"renewals"} and not item.everything
    assert at - committed < 2.0


def test_this_desktops_own_commits_are_not_reported(
    db: Database, other: Database, book: SmallBook, feed: Callable[..., Feed]
) -> None:
    f = feed()
    _ready(f)
    for n in range(3):  # the window told its own views already
        renewals.update_renewal(db, book.csr, book.renewal_id, notes=f"Mine {n}")
        time.sleep(0.1)
    assert [e for e in f.quiet(1.0) if isinstance(e, Changed)] == []
    # …while someone else's commit right after still is
    renewals.update_renewal(other, book.csr, book.renewal_id, notes="Theirs")
    f.next(2.0, Changed)


def test_one_transaction_of_many_statements_is_one_message_per_table(
    db: Database, other: Database, book: SmallBook, feed: Callable[..., Feed]
) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL notifications")
    f = feed()
    _ready(f)
    with other.engine.begin() as conn:  # e.g. an import: many statements, one commit
        for n in range(200):
            conn.execute(
                text("UPDATE renewals SET notes = :n WHERE id = :id"),
                {"n": f"row {n}", "id": book.renewal_id},
            )
        conn.execute(text("UPDATE tasks SET title = title"))
    got = [e for e in f.quiet(1.0) if isinstance(e, Changed)]
    assert sorted(next(iter(e.tables)) for e in got) == ["renewals", "tasks"]
    # a rolled-back transaction says nothing
    with other.engine.connect() as conn:
        conn.execute(text("UPDATE renewals SET notes = 'never' WHERE id = :id"), {"id": 1})
        conn.rollback()
    assert [e for e in f.quiet(0.6) if isinstance(e, Changed)] == []


def _terminate(postgres: object, database: str, *, also_admin: bool = False) -> int:
    """pg_terminate_backend of every connection to ``database``; how many there were."""
    with postgres.admin.connect() as conn:  # type: ignore[attr-defined]
        return len(
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": database},
            ).all()
        )


def test_a_killed_connection_is_made_again_with_a_full_refresh(
    request: pytest.FixtureRequest,
    db: Database,
    other: Database,
    book: SmallBook,
    feed: Callable[..., Feed],
) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL connections")
    postgres = request.getfixturevalue("postgres")
    f = feed()
    _ready(f)
    assert _terminate(postgres, db.url.database) >= 1
    _at, item = f.next(3.0, Changed)  # no outage was reported: it came straight back
    assert item == changes.EVERYTHING
    assert not [e for e in f.quiet(0.2) if isinstance(e, Lost)]
    renewals.update_renewal(other, book.csr, book.renewal_id, notes="After the kill")
    _at, item = f.next(2.0, Changed)
    assert item.tables == {"renewals"}  # type: ignore[attr-defined]


def test_an_outage_is_reported_then_recovered_from(
    request: pytest.FixtureRequest, db: Database, book: SmallBook, feed: Callable[..., Feed]
) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL outage")
    postgres = request.getfixturevalue("postgres")
    name = db.url.database
    f = feed()
    _ready(f)
    try:
        postgres._execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _terminate(postgres, name)
        _at, lost = f.next(3.0, Lost)
        assert lost.message.startswith(  # type: ignore[attr-defined]
            f"The database (PostgreSQL 127.0.0.1/{name}) cannot be reached: "
        )
        with pytest.raises(DatabaseUnavailable):
            changes.probe(db)
    finally:
        postgres._execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    f.next(5.0, Restored)  # the back-off is 1, 2, 4 … s
    _at, item = f.next(1.0, Changed)
    assert item == changes.EVERYTHING
    changes.probe(db)  # the pool's dead connections are replaced (pre-ping)


def test_is_offline_means_cannot_be_reached(tmp_path: object) -> None:
    with pytest.raises(DatabaseUnavailable) as raised:
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert changes.is_offline(raised.value)
    assert not changes.is_offline(StaleEdit("Renewal X was changed."))


def test_the_stale_sentence_names_the_person_and_the_agency_time(
    db: Database, book: SmallBook
) -> None:
    agency.set_time_zone(db, book.admin, "America/Chicago")
    seen = renewals.get_renewal(db, book.csr, book.renewal_id).version
    before = datetime.now(UTC)
    renewals.update_renewal(db, book.manager, book.renewal_id, notes="Called")
    with pytest.raises(StaleEdit) as refused:
        renewals.update_renewal(db, book.csr, book.renewal_id, notes="Other", expected_version=seen)
    local = before.astimezone(agency.zone_named("America/Chicago"))
    zone = local.tzname()  # CST or CDT
    assert refused.value.message.startswith(
        f"Renewal WC-000123 was changed by Test Morgan at {local:%m/%d/%Y} "
    )
    assert f" {zone} after you opened it; reload to see it." in refused.value.message
