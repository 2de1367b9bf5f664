"""No lost update between OS processes: two desktops (two processes, the real services)
load the same renewal, wait a random few milliseconds and save an edit of what they
loaded, with the version they loaded — 150 rounds on each backend. Every round exactly
one save wins and the other is refused with the stale-edit sentence; at the end the notes
hold every winner's token, in order (an overwrite would have dropped one), and the
renewal's version and its audit trail count exactly the winning saves."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from desktop_app.db.engine import Database
from desktop_app.db.models import AuditEvent, Renewal
from desktop_app.services.unit import Actor
from tests.helpers import small_book

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 150
MAX_DELAY_MS = 6


class Desk:
    """One editing process (tests/edit_proc.py)."""

    def __init__(self, url: str, username: str, renewal_id: int) -> None:
        self.name = username
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.edit_proc", url, username, str(renewal_id)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"{self.name}'s process ended (exit {self.proc.poll()})"
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def desks(
    db_url: str, db: Database, admin: Actor, make_user: Callable[..., Actor]
) -> Iterator[tuple[int, list[Desk]]]:
    book = small_book(db, admin, make_user)
    desks = [Desk(db_url, name, book.renewal_id) for name in ("casey", "morgan")]
    try:
        for desk in desks:
            assert desk.answer() == {"ready": True}
        yield book.renewal_id, desks
    finally:
        for desk in desks:
            desk.close()


@pytest.mark.slow
def test_two_processes_never_lose_an_update(db: Database, desks: tuple[int, list[Desk]]) -> None:
    renewal_id, pair = desks
    rng = random.Random(20261121)
    with db.read_session() as s:
        first_version = s.get(Renewal, renewal_id).version  # type: ignore[union-attr]
        last_event = s.scalar(select(func.max(AuditEvent.id))) or 0
    winners: list[str] = []
    refusals: set[str] = set()
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
        refusals.add(loser["message"].split(" was changed by ")[0].split(" at the same")[0])
    elapsed = time.perf_counter() - started
    print(f"\n{db.dialect}: {ROUNDS} rounds in {elapsed:.1f} s; winners {winners[:10]}…")

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
    # each loser was told: "Renewal … was changed by <name> at <time> …" (or, when both
    # wrote at the same instant on PostgreSQL, "Someone else saved this record …")
    assert refusals <= {"Renewal WC-000123", "Someone else saved this record"}
