"""Signing in: a shared SQLite book asks who is working (the last person preselected),
one person's book opens straight away, and switching user hands the desk over."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_app.db.engine import open_database
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.services import users
from desktop_app.services.unit import Actor
from desktop_app.settings import Settings
from desktop_app.ui.app import launch
from desktop_app.ui.executor import DatabaseExecutor
from tests import pg_scram
from tests.pg_scram import ScramServer


def _people(db_url: str) -> None:
    db = open_database(db_url)
    try:
        users.ensure_first_admin(db, users.os_username())
        admin = Actor(users.os_username(), AuditSource.CLI)
        users.add_user(db, admin, "casey", Role.CSR, full_name="Casey Reyes")
        users.add_user(db, admin, "pat", Role.PRODUCER, full_name="Pat Doyle")
    finally:
        db.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_shared_book_asks_who_is_working_and_remembers_them(
    qtbot: QtBot, db_url: str, executor: DatabaseExecutor
) -> None:
    _people(db_url)
    launcher = launch(db_url, None, executor=executor)
    window = launcher.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.signin, timeout=30_000)
    page = window.signin
    assert page.showing == "people"
    names = [page.people.item(i).text() for i in range(page.people.count())]
    assert "Casey Reyes  ·  CSR" in names and "Pat Doyle  ·  Producer" in names
    assert not window.import_action.isEnabled()  # nobody is signed in yet
    row = names.index("Casey Reyes  ·  CSR")
    page.people.setCurrentRow(row)
    with qtbot.waitSignal(launcher.opened, timeout=30_000) as opened:
        qtbot.keyClick(page.people, Qt.Key.Key_Return)
    assert opened.args[0].user.username == "casey"
    assert window.user_label.text() == "Signed in as Casey Reyes (CSR)"
    assert Settings.load().last_user == "casey"
    window.close()
    launcher.close()

    again = launch(db_url, None, executor=DatabaseExecutor())
    qtbot.addWidget(again.window)
    qtbot.waitUntil(
        lambda: again.window.pages.currentWidget() is again.window.signin, timeout=30_000
    )
    current = again.window.signin.people.currentItem()
    assert current is not None and current.text() == "Casey Reyes  ·  CSR"
    again.window.close()
    again.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_switch_user_hands_the_desk_over_without_reopening(
    qtbot: QtBot, db_url: str, executor: DatabaseExecutor
) -> None:
    _people(db_url)
    launcher = launch(db_url, "pat", executor=executor)
    window = launcher.window
    qtbot.addWidget(window)
    with qtbot.waitSignal(launcher.opened, timeout=30_000):
        pass
    assert window.switch_user_action.isEnabled()
    assert window.switch_user_action.shortcut().toString() == "Ctrl+Shift+U"
    db = launcher.session.db
    with qtbot.waitSignal(launcher.asking, timeout=30_000):
        window.switch_user_action.trigger()
    assert window.pages.currentWidget() is window.signin
    assert window.signin.people.currentItem().text() == "Pat Doyle  ·  Producer"
    assert window.user_label.text() == ""
    names = [window.signin.people.item(i).text() for i in range(window.signin.people.count())]
    window.signin.people.setCurrentRow(names.index("Casey Reyes  ·  CSR"))
    with qtbot.waitSignal(launcher.opened, timeout=30_000) as opened:
        window.signin.sign_in_button.click()
    assert opened.args[0].user.username == "casey" and opened.args[0].db is db
    assert window.user_label.text() == "Signed in as Casey Reyes (CSR)"
    launcher.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_book_with_one_person_opens_without_asking(
    qtbot: QtBot, db_url: str, executor: DatabaseExecutor
) -> None:
    launcher = launch(db_url, None, executor=executor)
    qtbot.addWidget(launcher.window)
    with qtbot.waitSignal(launcher.opened, timeout=30_000) as opened:
        pass
    assert opened.args[0].user.username == users.os_username()
    assert opened.args[0].book_empty
    assert launcher.window.current_page == "home"
    launcher.close()


@pytest.fixture
def scram() -> Iterator[ScramServer]:
    reason = pg_scram.why_not()
    if reason is not None:
        if pg_scram.IN_CI:
            pytest.fail(f"CI must run the database-login test, but {reason}.")
        pytest.skip(f"no password-protected PostgreSQL can be started here: {reason}")
    with pg_scram.scram_server() as server:
        yield server


@pytest.mark.slow
def test_an_office_database_asks_for_the_password_and_keeps_it_in_the_keyring(
    qtbot: QtBot, scram: ScramServer, executor: DatabaseExecutor
) -> None:
    launcher = launch(scram.url, None, executor=executor)
    window = launcher.window
    qtbot.addWidget(window)
    page = window.signin
    qtbot.waitUntil(lambda: window.pages.currentWidget() is page, timeout=30_000)
    assert page.showing == "login" and page.login.text() == scram.login
    assert f"on {scram.host}" in page.where.text()
    assert page.remember.isEnabled() and page.remember.isChecked()

    page.password.setText("wrong")
    with qtbot.waitSignal(launcher.asking, timeout=30_000):
        qtbot.keyClick(page.password, Qt.Key.Key_Return)
    assert page.message.text() == "That password was not accepted; try again."
    assert page.password.text() == ""
    assert keyring.get_keyring().store == {}  # type: ignore[attr-defined]

    page.password.setText(scram.password)
    with qtbot.waitSignal(launcher.opened, timeout=60_000) as opened:
        page.connect_button.click()
    assert opened.args[0].user.username == scram.login  # the login is the person
    assert opened.args[0].user.role is Role.ADMIN  # first login on an empty database
    assert list(keyring.get_keyring().store.values()) == [scram.password]  # type: ignore[attr-defined]
    assert scram.password not in Settings.load().__dict__.values()
    window.close()
    launcher.close()

    again = launch(scram.url, None, executor=DatabaseExecutor())
    qtbot.addWidget(again.window)
    with qtbot.waitSignal(again.opened, timeout=60_000):
        pass  # the keyring had it: no question
    again.window.close()
    again.close()
