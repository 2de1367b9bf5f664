"""One desktop editing a renewal, in its own OS process, for tests/test_concurrent_edits.py
and tests/ui/test_conflict.py.

    python -m tests.edit_proc URL USERNAME RENEWAL_ID

It opens the database, prints ``{"ready": true}`` and then answers one JSON line per
command read from standard input:

* ``load`` — read the renewal (``renewals.get_renewal``) and remember its version and
  notes: ``{"version": 7}``.
* ``save TOKEN DELAY_MS`` — wait DELAY_MS, then save the notes it loaded plus `` TOKEN``
  with the version it loaded (``renewals.update_renewal(expected_version=…)``):
  ``{"won": true}`` or ``{"won": false, "message": "…changed by…", "simultaneous": …}``
  (``simultaneous``: the database refused the UPDATE, the version check before it had
  passed — a colleague's save committed in between).
* ``save TOKEN DELAY_MS hold`` — the same, but the save stops just before its commit (its
  UPDATE done: the row is locked on PostgreSQL, the write lock held on SQLite), answers
  ``{"holding": true}`` and waits for a ``go`` line; then it commits and answers as above.
* ``quit``.

:class:`EditProcess` is the tests' end of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from desktop_app.db.engine import Database, open_database
from desktop_app.domain.enums import AuditSource
from desktop_app.errors import StaleEdit
from desktop_app.services import renewals
from desktop_app.services.unit import Actor

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    url, username, renewal_id = argv[0], argv[1], int(argv[2])
    db = open_database(url)
    actor = Actor(username, AuditSource.UI)
    version, notes = 0, ""
    hold = {"next": False}

    def say(answer: dict[str, object]) -> None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    def before_commit(session: Session) -> None:
        # after the audit's own hook (registered first): everything is written, uncommitted
        if not hold["next"] or session.get_nested_transaction() is not None:
            return
        hold["next"] = False
        say({"holding": True})
        line = sys.stdin.readline()
        if line.strip() != "go":
            raise RuntimeError(f"expected 'go', read {line!r}")

    event.listen(Session, "before_commit", before_commit)
    say({"ready": True})
    try:
        for line in sys.stdin:
            command = line.split()
            if not command or command[0] == "quit":
                break
            if command[0] == "load":
                card = renewals.get_renewal(db, actor, renewal_id)
                version, notes = card.version, card.notes or ""
                say({"version": version})
            elif command[0] == "save":
                token, delay_ms = command[1], int(command[2])
                hold["next"] = command[3:] == ["hold"]
                time.sleep(delay_ms / 1000)
                try:
                    renewals.update_renewal(
                        db,
                        actor,
                        renewal_id,
                        notes=f"{notes} {token}".strip(),
                        expected_version=version,
                    )
                except StaleEdit as refused:
                    say(
                        {
                            "won": False,
                            "message": refused.message,
                            "simultaneous": isinstance(refused.__cause__, StaleDataError),
                        }
                    )
                else:
                    say({"won": True})
    finally:
        db.dispose()
    return 0


# --- the tests' end --------------------------------------------------------------------


class EditProcess:
    """One editing desktop (this module, run in an OS process of its own)."""

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

    def answer(self) -> dict[str, Any]:
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


def wait_for_a_blocked_save(db: Database, timeout: float = 15.0) -> None:
    """Return once a transaction on ``db`` waits for a row lock another one holds
    (PostgreSQL); on SQLite, a moment for a save to start waiting for the write lock
    (nothing to observe from outside)."""
    if db.is_sqlite:
        time.sleep(0.3)
        return
    deadline = time.monotonic() + timeout
    with db.engine.connect() as conn:
        while True:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            assert time.monotonic() < deadline, "no save started waiting for the row"
            time.sleep(0.02)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
