"""One desktop editing a renewal, in its own OS process, for tests/test_concurrent_edits.py.

    python -m tests.edit_proc URL USERNAME RENEWAL_ID

It opens the database, prints ``{"ready": true}`` and then answers one JSON line per
command read from standard input:

* ``load`` — read the renewal (``renewals.get_renewal``) and remember its version and
  notes: ``{"version": 7}``.
* ``save TOKEN DELAY_MS`` — wait DELAY_MS, then save the notes it loaded plus `` TOKEN``
  with the version it loaded (``renewals.update_renewal(expected_version=…)``):
  ``{"won": true}`` or ``{"won": false, "message": "…changed by…"}``.
* ``quit``.
"""

from __future__ import annotations

import json
import sys
import time

from desktop_app.db.engine import open_database
from desktop_app.domain.enums import AuditSource
from desktop_app.errors import StaleEdit
from desktop_app.services import renewals
from desktop_app.services.unit import Actor


def main(argv: list[str]) -> int:
    url, username, renewal_id = argv[0], argv[1], int(argv[2])
    db = open_database(url)
    actor = Actor(username, AuditSource.UI)
    version, notes = 0, ""

    def say(answer: dict[str, object]) -> None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

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
                    say({"won": False, "message": refused.message})
                else:
                    say({"won": True})
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
