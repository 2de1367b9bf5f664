"""The window from start to overview, on a fresh SQLite and PostgreSQL database."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from desktop_app import __version__
from desktop_app.db import migrate
from desktop_app.db.engine import open_database
from desktop_app.domain.enums import Role
from desktop_app.services import users
from desktop_app.services.demo import DemoSummary
from desktop_app.services.overview import book_overview
from desktop_app.ui.app import Launcher, launch
from desktop_app.ui.executor import DatabaseExecutor, Failure
from desktop_app.ui.home import count, money
from desktop_app.ui.main_window import MainWindow
from tests.helpers import dump_database
from tests.ui.demo_watch import DemoWatch

OpenWindow = Callable[..., Launcher]


def wait_for_home(qtbot: QtBot, launcher: Launcher, panel: str) -> None:
    launcher.window.show_page("home")
    page = launcher.window.home
    qtbot.waitUntil(lambda: page.showing == panel and not page._refreshing, timeout=30_000)


def test_a_fresh_database_offers_the_first_steps(qtbot: QtBot, open_window: OpenWindow) -> None:
    launcher = open_window(Role.ADMIN)
    window = launcher.window
    assert launcher.session is not None
    wait_for_home(qtbot, launcher, "first-run")
    panel = window.home.first_run
    assert panel.isVisible()
    assert panel.demo_button.isVisible() and panel.demo_button.isEnabled()
    assert panel.demo_button.text() == "Load demo data"
    assert panel.demo_button.accessibleName() == "Load demo data"
    assert panel.import_button.isVisible() and panel.import_button.isEnabled()
    assert panel.import_button.toolTip() == ""
    assert not panel.progress_row.isVisible()
    assert window.database_label.text() == launcher.session.db.describe()
    assert window.user_label.text() == "Signed in as admin (Admin)"
    assert window.windowTitle() == "Renewal Desk"


def test_loading_demo_data_fills_the_book(
    qtbot: QtBot, open_window: OpenWindow, demo_watch: DemoWatch, small_demo: int
) -> None:
    launcher = open_window(Role.ADMIN)
    page = launcher.window.home
    panel = page.first_run
    wait_for_home(qtbot, launcher, "first-run")
    blurb = f"{small_demo} made-up policies"
    assert any(blurb in label.text() for label in panel.findChildren(QLabel))
    demo_watch.hold = True
    with qtbot.waitSignal(page.demo_finished, timeout=30_000) as finished:
        qtbot.mouseClick(panel.demo_button, Qt.MouseButton.LeftButton)
        assert panel.progress_row.isVisible()
        assert not panel.demo_button.isEnabled()
        # The loader is held after writing its first rows: the bar shows that report.
        qtbot.waitUntil(demo_watch.holding.is_set, timeout=30_000)
        done, total = demo_watch.reports[-1]
        assert 0 < done < total
        qtbot.waitUntil(lambda: panel.progress.value() == done, timeout=10_000)
        assert panel.progress.maximum() == total
        assert panel.progress.format() == f"{count(done)} of {count(total)}"
        demo_watch.release()
    summary = finished.args[0]
    assert isinstance(summary, DemoSummary), summary
    assert demo_watch.calls == [{"actor": "admin", "policies": small_demo, "seed": 1}]
    assert demo_watch.threads[0] != threading.get_ident()  # the database worker, not the GUI
    assert demo_watch.reports[-1] == (total, total)

    wait_for_home(qtbot, launcher, "overview")
    book = book_overview(launcher.session.db)  # what the database now holds
    assert book.policies == summary.policies == small_demo
    assert book.accounts == summary.accounts > 0
    assert page.book == book
    overview = page.overview
    assert overview.policies.value.text() == count(small_demo)
    assert overview.accounts.value.text() == count(book.accounts)
    assert overview.open_renewals.value.text() == count(book.open_renewals)
    assert overview.open_premium.value.text() == money(book.open_premium)
    assert overview.table.rowCount() == len(book.renewals_by_stage) == 8
    assert overview.table.item(0, 0).text() == "Upcoming"
    for row, stage in enumerate(book.renewals_by_stage):
        assert overview.table.item(row, 0).text() == stage.stage
        assert overview.table.item(row, 2).text() == count(stage.renewals)
        assert overview.table.item(row, 3).text() == money(stage.premium)
    assert not panel.progress_row.isVisible()
    assert (
        f"Loaded {small_demo} demo policies for {count(book.accounts)} accounts"
        in launcher.window.statusBar().currentMessage()
    )


def test_cancelling_demo_data_midway_writes_nothing(
    qtbot: QtBot, open_window: OpenWindow, demo_watch: DemoWatch, small_demo: int
) -> None:
    launcher = open_window(Role.ADMIN)
    page = launcher.window.home
    panel = page.first_run
    wait_for_home(qtbot, launcher, "first-run")
    before = dump_database(launcher.session.db)
    demo_watch.hold = True
    with qtbot.waitSignal(page.demo_finished, timeout=30_000) as finished:
        panel.demo_button.click()
        qtbot.waitUntil(demo_watch.holding.is_set, timeout=30_000)  # rows written, uncommitted
        panel.cancel_button.click()
        assert panel.progress_label.text() == "Cancelling…"
        assert not panel.cancel_button.isEnabled()
    failure = finished.args[0]
    assert isinstance(failure, Failure) and failure.cancelled
    assert failure.message == "Loading demo data was cancelled; nothing was written."
    wait_for_home(qtbot, launcher, "first-run")
    assert panel.message.text() == failure.message and panel.message.isVisible()
    assert panel.demo_button.isEnabled() and not panel.progress_row.isVisible()
    assert dump_database(launcher.session.db) == before  # not a row more, not a row changed
    assert page.book is not None and page.book.policies == 0

    # Nothing half-done is left in the way: loading again works.
    demo_watch.hold = False
    with qtbot.waitSignal(page.demo_finished, timeout=30_000) as finished:
        panel.demo_button.click()
    assert isinstance(finished.args[0], DemoSummary), finished.args[0]
    wait_for_home(qtbot, launcher, "overview")
    assert book_overview(launcher.session.db).policies == small_demo


def test_cancelling_demo_data_at_once_writes_nothing(qtbot: QtBot, open_window: OpenWindow) -> None:
    launcher = open_window(Role.ADMIN)
    page = launcher.window.home
    wait_for_home(qtbot, launcher, "first-run")
    with qtbot.waitSignal(page.demo_finished, timeout=30_000) as finished:
        page.first_run.demo_button.click()
        page.first_run.cancel_button.click()  # before the worker gets far
    failure = finished.args[0]
    assert isinstance(failure, Failure) and failure.cancelled
    assert page.first_run.message.text() == failure.message
    assert "cancelled" in failure.message
    wait_for_home(qtbot, launcher, "first-run")
    assert page.book is not None and page.book.policies == 0
    assert book_overview(launcher.session.db).policies == 0


def test_a_csr_sees_why_demo_data_is_not_for_them(
    qtbot: QtBot, open_window: OpenWindow, demo_watch: DemoWatch
) -> None:
    launcher = open_window(Role.CSR)
    window = launcher.window
    wait_for_home(qtbot, launcher, "first-run")
    button = window.home.first_run.demo_button
    assert not button.isEnabled()
    assert button.toolTip() == "A CSR may not load demo data."
    assert window.home.first_run.demo_note.text() == "A CSR may not load demo data."
    assert window.user_label.text() == "Signed in as Casey Reyes (CSR)"

    # A hidden button is never the only guard: the service refuses as well.
    with qtbot.waitSignal(window.home.demo_finished, timeout=30_000) as finished:
        window.home.load_demo()
    assert isinstance(finished.args[0], Failure)
    assert demo_watch.calls and demo_watch.calls[0]["actor"] == "csr1"
    assert window.home.first_run.message.text() == "A CSR may not load demo data."
    assert window.home.first_run.message.isVisible()
    assert not button.isEnabled()
    assert book_overview(launcher.session.db).policies == 0


def test_an_unreachable_database_is_one_sentence_with_retry(
    qtbot: QtBot, executor: DatabaseExecutor
) -> None:
    launcher = launch("postgresql://nobody@127.0.0.1:9/renewals", None, executor=executor)
    qtbot.addWidget(launcher.window)
    with qtbot.waitSignal(launcher.failed, timeout=30_000) as failed:
        pass
    window = launcher.window
    message = failed.args[0]
    assert message.startswith("The database (PostgreSQL 127.0.0.1/renewals) cannot be opened")
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    assert window.startup.status.text() == message
    assert window.startup.retry_button.isVisible() and window.startup.quit_button.isVisible()
    assert not window.startup.busy.isVisible()

    with qtbot.waitSignal(launcher.failed, timeout=30_000):
        window.startup.retry_button.click()
        assert window.startup.status.text() == "Opening database…"
    assert window.startup.status.text() == message

    window.startup.quit_button.click()
    assert not window.isVisible()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_database_from_a_newer_app_is_refused(
    qtbot: QtBot, db_url: str, open_window: OpenWindow
) -> None:
    db = open_database(db_url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    db.dispose()
    launcher = open_window(url=db_url)
    with qtbot.waitSignal(launcher.failed, timeout=30_000) as failed:
        pass
    assert "was upgraded by a newer version of Renewal Desk" in failed.args[0]
    assert launcher.window.startup.status.text() == failed.args[0]


def test_an_unknown_user_is_one_sentence(qtbot: QtBot, db_url: str, executor) -> None:
    launcher = launch(db_url, "nobody", executor=executor)
    qtbot.addWidget(launcher.window)
    with qtbot.waitSignal(launcher.failed, timeout=30_000) as failed:
        pass
    assert failed.args[0] == "There is no user named 'nobody' in this database."
    launcher.close()


def test_an_unmigrated_sqlite_database_is_upgraded_on_open(
    qtbot: QtBot, tmp_path: Path, executor: DatabaseExecutor, sqlite_template: Path
) -> None:
    path = tmp_path / "old.sqlite3"
    shutil.copyfile(sqlite_template, path)
    db = open_database(f"sqlite:///{path}")
    migrate.downgrade(db, "base")
    db.dispose()
    launcher = launch(f"sqlite:///{path}", None, executor=executor)
    qtbot.addWidget(launcher.window)
    with qtbot.waitSignal(launcher.opened, timeout=30_000) as opened:
        pass
    assert opened.args[0].user.role is Role.ADMIN  # a new SQLite file's first admin
    db = open_database(f"sqlite:///{path}")
    assert migrate.current_revision(db) == migrate.head_revision()
    db.dispose()
    launcher.close()


def test_the_window_says_where_the_backup_before_an_upgrade_went(
    qtbot: QtBot, db_url: str, executor: DatabaseExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = Path("/backups/renewal-desk.backup-20260101T000000Z.sqlite3")

    def upgrade(db, **_kwargs):  # type: ignore[no-untyped-def]
        return migrate.UpgradeResult("0000_older", migrate.head_revision(), backup)

    monkeypatch.setattr(migrate, "upgrade", upgrade)
    db = open_database(db_url)
    users.ensure_first_admin(db, "admin")
    db.dispose()
    launcher = launch(db_url, "admin", executor=executor)
    qtbot.addWidget(launcher.window)
    with qtbot.waitSignal(launcher.opened, timeout=30_000) as opened:
        pass
    assert opened.args[0].upgraded_from == "0000_older"
    assert str(backup) in launcher.window.statusBar().currentMessage()
    launcher.close()


def test_menus_about_and_quit(qtbot: QtBot, open_window: OpenWindow) -> None:
    launcher = open_window(Role.ADMIN)
    window = launcher.window
    assert window.quit_action.shortcut() == QKeySequence("Ctrl+Q")
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus == ["&File", "&View", "&Queue", "&Help"]
    wait_for_home(qtbot, launcher, "first-run")
    about = window.about_text()
    assert __version__ in about and launcher.session.db.describe() in about
    window.quit_action.trigger()
    assert not window.isVisible()


def test_window_geometry_is_remembered_under_the_app_home(
    qtbot: QtBot, executor: DatabaseExecutor, tmp_path: Path
) -> None:
    first = MainWindow(executor)
    qtbot.addWidget(first)
    settings_file = first.settings_file
    assert settings_file == tmp_path / "home" / "config" / "window.ini"
    first.show()
    first.resize(700, 520)  # within the offscreen screen (800 × 600)
    qtbot.waitUntil(lambda: first.width() == 700)
    first.close()
    assert settings_file.is_file()
    assert QSettings(str(settings_file), QSettings.Format.IniFormat).contains(
        "main_window/geometry"
    )

    second = MainWindow(executor)
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (700, 520)
