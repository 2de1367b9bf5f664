"""The command line, as a user types it: output, exit codes, one-sentence errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app import __version__
from desktop_app.cli.main import run
from desktop_app.services import users


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert "Traceback" not in err
    assert lines[0].startswith("renewal-desk: ") and lines[0].endswith(".")
    return lines[0]


def test_user_add_and_list_json(db_url, capsys):
    code, out, _ = _run(capsys, "--database-url", db_url, "--as", "admin", "user", "list")
    assert code == 2  # no such user yet on PostgreSQL; on SQLite the OS user is the first admin
    if db_url.startswith("sqlite"):
        os_user = users.os_username()
        code, out, err = _run(
            capsys,
            "--database-url",
            db_url,
            "user",
            "add",
            "casey",
            "--role",
            "csr",
            "--full-name",
            "Casey Ray",
        )
        assert code == 0, err
        assert "Added casey (Casey Ray) as csr." in out
        code, out, _ = _run(capsys, "--database-url", db_url, "user", "list", "--json")
        rows = json.loads(out)
        assert {r["username"]: r["role"] for r in rows} == {os_user: "admin", "casey": "csr"}


def test_refused_permission_exits_2_with_a_sentence(db_url, capsys, db, admin, make_user):
    make_user("csr", "casey")
    code, _, err = _run(
        capsys, "--database-url", db_url, "--as", "casey", "user", "add", "eve", "--role", "admin"
    )
    assert code == 2
    assert _one_sentence(err) == "renewal-desk: A CSR may not manage users."
    assert "eve" not in [u.username for u in users.list_users(db)]


def test_unknown_user_exits_2(db_url, capsys, admin):
    code, _, err = _run(capsys, "--database-url", db_url, "--as", "nobody", "user", "list")
    assert code == 2
    assert "no user named 'nobody'" in _one_sentence(err)


def test_unreachable_database_names_it_without_password(capsys):
    url = "postgresql://clerk:s3cret-pw@127.0.0.1:1/renewals"
    code, _, err = _run(capsys, "--database-url", url, "user", "list")
    assert code == 2
    line = _one_sentence(err)
    assert "cannot be opened" in line and "127.0.0.1" in line
    assert "s3cret-pw" not in err


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@h/db", "works with SQLite or PostgreSQL"),
        ("sqlite://", "in-memory SQLite database"),
    ],
)
def test_bad_database_url(capsys, url, fragment):
    code, _, err = _run(capsys, "--database-url", url, "db", "current")
    assert code == 2
    assert fragment in _one_sentence(err)


def test_db_current_upgrade_and_backup_on_sqlite(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'office.sqlite3'}"
    code, out, _ = _run(capsys, "--database-url", url, "db", "current")
    assert code == 0 and "schema empty (needs upgrade to" in out
    code, out, _ = _run(capsys, "--database-url", url, "db", "upgrade")
    assert code == 0 and "Upgraded" in out
    code, out, _ = _run(capsys, "--database-url", url, "db", "current")
    assert "up to date" in out
    target = tmp_path / "copies" / "backup.sqlite3"
    code, out, err = _run(capsys, "--database-url", url, "db", "backup", str(target))
    assert code == 0, err
    assert target.stat().st_size > 0
    code, _, err = _run(capsys, "--database-url", url, "db", "backup", str(target))
    assert code == 2 and "already exists" in _one_sentence(err)


def test_database_url_from_environment(tmp_path, capsys, monkeypatch):
    path = tmp_path / "env.sqlite3"
    monkeypatch.setenv("RENEWAL_DESK_DATABASE_URL", f"sqlite:///{path}")
    code, _, _ = _run(capsys, "db", "upgrade")
    assert code == 0 and path.exists()


def test_default_database_is_in_the_user_data_folder(capsys):
    code, out, _ = _run(capsys, "db", "upgrade")
    assert code == 0
    home = Path(os.environ["RENEWAL_DESK_HOME"])
    assert (home / "data" / "renewal-desk.sqlite3").exists()
    assert str(home / "data") in out


def test_bad_argument_is_one_sentence(capsys):
    with pytest.raises(SystemExit) as stop:
        run(["demo", "--policies", "-3"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "is not a positive number" in err and "Traceback" not in err


def test_module_entry_point_runs_as_a_process(tmp_path):
    env = {**os.environ, "RENEWAL_DESK_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"renewal-desk {__version__}"
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--as", "ghost", "user", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "renewal-desk: There is no user named 'ghost' in this database."


def test_backup_is_admin_only_and_audited(capsys, tmp_path):
    """The app backs up the SQLite file (PostgreSQL is backed up on the server)."""
    from sqlalchemy import select

    from desktop_app.db import migrate
    from desktop_app.db.engine import open_database
    from desktop_app.db.models import AuditEvent
    from desktop_app.domain.enums import AuditSource
    from desktop_app.services.unit import Actor

    db_url = f"sqlite:///{tmp_path / 'office.sqlite3'}"
    db = open_database(db_url)
    migrate.upgrade(db)
    users.ensure_first_admin(db, "admin")
    users.add_user(db, Actor("admin", AuditSource.CLI), "casey", "csr")
    target = tmp_path / "casey-copy.sqlite3"
    code, _, err = _run(
        capsys, "--database-url", db_url, "--as", "casey", "db", "backup", str(target)
    )
    assert (
        code == 2 and _one_sentence(err) == "renewal-desk: A CSR may not administer the database."
    )
    assert not target.exists()
    code, _, err = _run(
        capsys, "--database-url", db_url, "--as", "admin", "db", "backup", str(target)
    )
    assert code == 0, err
    with db.read_session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "database.backup")).one()
    assert event.actor == "admin" and event.changes["backup"][1] == str(target)
    db.dispose()
