"""No lost update between OS processes: two desktops (two processes, the real services)
load the same renewal, wait a random few milliseconds and save an edit of what they
loaded, with the version they loaded — 150 rounds on each backend. Every round exactly
one save wins and the other is refused with the stale-edit sentence naming the winner
("Renewal … was changed by NAME at TIME …"), also when both saves passed the version check
and the database caught the second UPDATE; at the end the notes hold every winner's
token, in order (an overwrite would have dropped one), and the renewal's version and its
audit trail count exactly the winning saves. And the simultaneous case made certain: one
save stops just before its commit while the other checks the version and waits for the
row; the second is refused with the first one's name and time."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from desktop_app.db.engine import Database
from desktop_app.db.models import AuditEvent, Renewal
from desktop_app.services import agency
from desktop_app.services.unit import Actor
from tests.edit_proc import EditProcess, wait_for_a_blocked_save
from tests.helpers import small_book

ROUNDS = 150
MAX_DELAY_MS = 6
FULL_NAMES = {"casey": "Test Casey", "morgan": "Test Morgan"}  # small_book's make_user


@pytest.fixture
def desks(
    db_url: str, db: Database, admin: Actor, make_user: Callable[..., Actor]
) -> Iterator[tuple[int, list[EditProcess]]]:
    book = small_book(db, admin, make_user)
    desks = [EditProcess(db_url, name, book.renewal_id) for name in ("casey", "morgan")]
    try:
        for desk in desks:
            assert desk.answer() == {"ready": True}
        yield book.renewal_id, desks
    finally:
        for desk in desks:
            desk.close()


@pytest.mark.slow
def test_two_processes_never_lose_an_update(
    db: Database, desks: tuple[int, list[EditProcess]]
) -> None:
    renewal_id, pair = desks
    rng = random.Random(20261121)
    with db.read_session() as s:
        first_version = s.get(Renewal, renewal_id).version  # type: ignore[union-attr]
        last_event = s.scalar(select(func.max(AuditEvent.id))) or 0
    winners: list[str] = []
    simultaneous = 0
    started = time.perf_counter()
    for number in range(ROUNDS):
        for desk in pair:
            desk.send("load")
        versions = {desk.answer()["version"] for desk in pair}
        assert versions == {first_version + number}, "both must load the same version"
        tokens = {desk.name: f"{desk.name[0]}{number}" for desk in pair}
        for desk in pair:
            desk.send(f"save {tokens[desk.name]} {rng.randint(0, MAX_DELAY_MS)}")
        results = {desk.name: desk.answer() for desk in pair}
        won = [name for name, result in results.items() if result["won"]]
        assert len(won) == 1, f"round {number}: {results}"
        winners.append(tokens[won[0]])
        loser = next(r for r in results.values() if not r["won"])
        # the loser is told who won, also when the database caught it (simultaneous)
        assert loser["message"].startswith(
            f"Renewal WC-000123 was changed by {FULL_NAMES[won[0]]} at "
        ), f"round {number}: {loser}"
        assert loser["message"].endswith(" after you opened it; reload to see it.")
        simultaneous += loser["simultaneous"]
    elapsed = time.perf_counter() - started
    print(
        f"\n{db.dialect}: {ROUNDS} rounds in {elapsed:.1f} s; winners {winners[:10]}…; "
        f"{simultaneous} caught by the database"
    )

    with db.read_session() as s:
        renewal = s.get(Renewal, renewal_id)
        assert renewal is not None
        updates = s.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.id > last_event,
                AuditEvent.object_type == "renewals",
                AuditEvent.object_id == renewal_id,
            )
            .order_by(AuditEvent.id)
        ).all()
    assert (renewal.notes or "").split() == winners  # every winner's edit is there, in order
    assert renewal.version == first_version + ROUNDS
    assert [e.action for e in updates] == ["renewal.update"] * ROUNDS
    assert [e.changes["notes"][1].split()[-1] for e in updates] == winners


def test_a_save_at_the_same_moment_names_who_won(
    db: Database, admin: Actor, desks: tuple[int, list[EditProcess]]
) -> None:
    renewal_id, (casey, morgan) = desks
    agency.set_time_zone(db, admin, "America/Chicago")
    for desk in (casey, morgan):
        desk.send("load")
    loaded = {desk.answer()["version"] for desk in (casey, morgan)}
    assert len(loaded) == 1  # both opened the same version
    # Casey's save is written but not committed yet…
    casey.send("save c1 0 hold")
    assert casey.answer() == {"holding": True}
    # …when Morgan's passes the version check (PostgreSQL: it still reads that version) and
    # waits for the row (SQLite: for the write lock)
    morgan.send("save m1 0")
    wait_for_a_blocked_save(db)
    casey.send("go")
    assert casey.answer() == {"won": True}
    saved_at = datetime.now(UTC).astimezone(agency.zone_named("America/Chicago"))
    refused = morgan.answer()

    assert refused["won"] is False
    assert refused["message"].startswith(
        f"Renewal WC-000123 was changed by Test Casey at {saved_at:%m/%d/%Y} "
    ), refused
    assert refused["message"].endswith(
        f" {saved_at.tzname()} after you opened it; reload to see it."
    ), refused
    # on PostgreSQL the database caught it (the UPDATE matched no row), not the pre-check;
    # on SQLite the write lock puts Morgan's whole save after Casey's commit
    assert refused["simultaneous"] is (not db.is_sqlite)
    with db.read_session() as s:
        renewal = s.get(Renewal, renewal_id)
        assert renewal is not None
        assert (renewal.notes, renewal.version) == ("c1", loaded.pop() + 1)  # not Morgan's
