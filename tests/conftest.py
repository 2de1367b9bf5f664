"""Test isolation: a fresh, migrated database per test on SQLite *and* PostgreSQL, user
folders redirected to a temporary directory, and an in-memory keyring."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keyring
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from desktop_app.db import migrate
from desktop_app.db.engine import Database, open_database
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.services import users
from desktop_app.services.unit import Actor
from tests.helpers import MemoryKeyring

PG_ADMIN_URL = os.environ.get(
    "RENEWAL_DESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True)
def _isolated_user_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RENEWAL_DESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RENEWAL_DESK_DATABASE_URL", raising=False)
    monkeypatch.delenv("RENEWAL_DESK_PLUGINS", raising=False)
    # Windows opened by tests do not tick on their own; tests of the timer host turn it on.
    monkeypatch.setenv("RENEWAL_DESK_TIMER", "off")
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield
    keyring.set_keyring(previous)


# --- PostgreSQL -------------------------------------------------------------------


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # any failure means "not here"
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class PostgresServer:
    """Creates throw-away databases on the test server; one template per test run."""

    def __init__(self) -> None:
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.run_id = uuid.uuid4().hex[:8]
        self.template = f"rd_tmpl_{self.run_id}"
        self.created: list[str] = []
        self._execute(f'CREATE DATABASE "{self.template}"')
        db = open_database(self.url(self.template))
        migrate.upgrade(db)
        db.dispose()

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def url(self, name: str) -> str:
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def new_database(self, *, migrated: bool = True) -> str:
        name = f"rd_test_{self.run_id}_{len(self.created)}"
        if migrated:
            self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        else:
            self._execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for name in [*self.created, self.template]:
            self.drop(name)
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL at {PG_ADMIN_URL}, but: {problem}")
        pytest.skip(f"no PostgreSQL server reachable at {PG_ADMIN_URL} ({problem})")
    server = PostgresServer()
    yield server
    server.close()


# --- SQLite -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    db = open_database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


# --- the database every test gets ----------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated database (each test, each backend)."""
    if request.param == "sqlite":
        path = tmp_path / "renewal-desk.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = server.new_database()
    yield server.url(name)
    server.drop(name)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def admin(db: Database) -> Actor:
    users.ensure_first_admin(db, "admin")
    return Actor("admin", AuditSource.CLI)


@pytest.fixture
def make_user(db: Database, admin: Actor) -> Callable[..., Actor]:
    """make_user("csr") → an Actor for a new user with that role."""
    counter = {"n": 0}

    def make(role: Role | str, username: str | None = None) -> Actor:
        counter["n"] += 1
        name = username or f"{Role(role).value}{counter['n']}"
        users.add_user(db, admin, name, role, full_name=f"Test {name.title()}")
        return Actor(name, AuditSource.UI)

    return make


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core, at most 4 (each opens its own PostgreSQL
    databases and connections; more would crowd a default server's 100 connections)."""
    return max(1, min(4, os.cpu_count() or 1))
