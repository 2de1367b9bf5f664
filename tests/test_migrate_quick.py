"""The start-up fast path: a database already at the head revision is recognised by
plain SQL, without loading Alembic (about half a second of every start)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from desktop_app.db import migrate
from desktop_app.db.engine import Database


def test_the_quick_head_is_alembics_head() -> None:
    assert migrate.quick_head() == migrate.head_revision()


def test_quick_current_reads_the_revision_and_an_unmigrated_database_has_none(
    db: Database, tmp_path
) -> None:
    assert migrate.quick_current(db) == migrate.head_revision()
    from desktop_app.db.engine import open_database

    empty = open_database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        assert migrate.quick_current(empty) is None
        result = migrate.upgrade(empty)  # the slow path still migrates a new file
        assert result.changed and migrate.quick_current(empty) == migrate.head_revision()
    finally:
        empty.dispose()


def test_opening_an_up_to_date_database_does_not_load_alembic(db_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from desktop_app.db.engine import open_database
        from desktop_app.db import migrate
        db = open_database({db_url!r})
        result = migrate.upgrade(db)
        db.dispose()
        assert not result.changed, result
        print("alembic" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False", out.stderr
