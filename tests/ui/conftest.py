"""Fixtures for the desktop app's tests: an executor that is always shut down, a window
opened on the test database (each backend) as a given user, and the real demo loader with a
small book, watched (and held still when a test needs to) but never replaced."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop_app.domain.enums import AuditSource, Role
from desktop_app.services import demo, users
from desktop_app.services.unit import Actor
from desktop_app.ui import home
from desktop_app.ui.app import Launcher, launch
from desktop_app.ui.executor import DatabaseExecutor
from tests.ui.demo_watch import DemoWatch

DEMO_POLICIES = 40


@pytest.fixture
def executor() -> Iterator[DatabaseExecutor]:
    ex = DatabaseExecutor()
    yield ex
    assert ex.shutdown(10_000), "the database worker did not stop"


@pytest.fixture(autouse=True)
def small_demo(monkeypatch: pytest.MonkeyPatch) -> int:
    """The home screen loads a demo book of this many policies (the real loader, just small)."""
    monkeypatch.setattr(home, "DEMO_POLICIES", DEMO_POLICIES)
    return DEMO_POLICIES


@pytest.fixture
def demo_watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoWatch]:
    """The real ``load_demo``, watched: see :class:`DemoWatch`."""
    watch = DemoWatch(demo.load_demo)
    monkeypatch.setattr(demo, "load_demo", watch)
    yield watch
    watch.release()


@pytest.fixture
def open_window(
    qtbot: QtBot, db_url: str, executor: DatabaseExecutor
) -> Iterator[Callable[..., Launcher]]:
    """open_window(role="admin") → a Launcher whose window is open on ``db_url`` as a new
    user with that role (the database's first admin is "admin")."""
    launchers: list[Launcher] = []

    def make(role: Role | str = Role.ADMIN, *, url: str | None = None) -> Launcher:
        username = None
        if url is None:
            from desktop_app.db.engine import open_database

            db = open_database(db_url)
            try:
                users.ensure_first_admin(db, "admin")
                username = "admin"
                if Role(role) is not Role.ADMIN:
                    username = f"{Role(role).value}1"
                    admin = Actor("admin", AuditSource.CLI)
                    users.add_user(db, admin, username, role, full_name="Casey Reyes")
            finally:
                db.dispose()
        launcher = launch(url or db_url, username, executor=executor)
        qtbot.addWidget(launcher.window)
        launchers.append(launcher)
        if url is None:
            with qtbot.waitSignal(launcher.opened, timeout=30_000):
                pass
        return launcher

    yield make
    for launcher in launchers:
        launcher.window.close()
        launcher.close()
