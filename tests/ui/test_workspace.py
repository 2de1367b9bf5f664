"""The window around the pages: it opens on the board once there is a book, moves between
pages from the keyboard and remembers where it was, opens any renewal in the panel on the
right, and brings the timer service's reminders to the person they are for."""

from __future__ import annotations

from datetime import date, timedelta

from pytestqt.qtbot import QtBot

from desktop_app.db.engine import Database
from desktop_app.engine import timer
from desktop_app.engine.plugins import PluginSet
from desktop_app.services import work
from desktop_app.ui.app import launch
from desktop_app.ui.executor import DatabaseExecutor
from tests.helpers import SmallBook, small_book


def _open(qtbot: QtBot, db_url: str, username: str, executor: DatabaseExecutor):  # type: ignore[no-untyped-def]
    launcher = launch(db_url, username, executor=executor)
    qtbot.addWidget(launcher.window)
    with qtbot.waitSignal(launcher.opened, timeout=30_000):
        pass
    return launcher


def test_a_book_opens_on_the_board_and_the_page_is_remembered(
    qtbot: QtBot, db: Database, db_url: str, admin, make_user
) -> None:  # type: ignore[no-untyped-def]
    book: SmallBook = small_book(db, admin, make_user)
    executor = DatabaseExecutor()
    launcher = _open(qtbot, db_url, "casey", executor)
    window = launcher.window
    assert window.current_page == "board"

    def upcoming() -> list[int]:
        model = window.board.models.get("upcoming")
        return [card.id for card in model.cards] if model is not None else []

    qtbot.waitUntil(lambda: upcoming() == [book.renewal_id], timeout=30_000)
    shortcuts = {key: action.shortcut().toString() for key, action in window.page_actions.items()}
    assert shortcuts == {
        "home": "Ctrl+1",
        "board": "Ctrl+2",
        "queues": "Ctrl+3",
        "dashboard": "Ctrl+4",
        "admin": "Ctrl+5",
    }
    window.page_actions["queues"].trigger()
    assert window.current_page == "queues"
    assert window.views.currentWidget().widget() is window.queues
    window.close()
    launcher.close()

    again = _open(qtbot, db_url, "casey", DatabaseExecutor())
    assert again.window.current_page == "queues"
    again.window.close()
    again.close()


def test_opening_a_renewal_from_a_page_shows_it_in_the_panel(
    qtbot: QtBot, db: Database, db_url: str, admin, make_user, executor: DatabaseExecutor
) -> None:  # type: ignore[no-untyped-def]
    book = small_book(db, admin, make_user)
    launcher = _open(qtbot, db_url, "casey", executor)
    window = launcher.window
    assert not window.detail_dock.isVisible()
    with qtbot.waitSignal(window.detail.loaded, timeout=30_000) as loaded:
        window.board.open_renewal.emit(book.renewal_id)
    assert loaded.args == [book.renewal_id]
    assert window.detail_dock.isVisible()
    assert window.detail.current_renewal_id == book.renewal_id
    window.detail_action.trigger()  # Ctrl+Shift+D hides it again
    assert not window.detail_dock.isVisible()
    launcher.close()


def test_a_new_reminder_reaches_its_person(
    qtbot: QtBot, db: Database, db_url: str, admin, make_user, executor: DatabaseExecutor
) -> None:  # type: ignore[no-untyped-def]
    book = small_book(db, admin, make_user)
    launcher = _open(qtbot, db_url, "casey", executor)
    window = launcher.window
    tray = window.tray
    qtbot.waitUntil(lambda: tray.last_seen is not None, timeout=30_000)  # nothing unread yet
    work.add_task(
        db, admin, book.renewal_id, "Call back", owner="casey", due=date.today() - timedelta(days=1)
    )
    timer.tick(db, plugins=PluginSet((), ()), housekeeping=True)
    with qtbot.waitSignal(tray.shown, timeout=30_000) as shown:
        tray.check()
    (notice,) = shown.args[0]
    assert notice.message.startswith("Task 'Call back' for Harbor Bakery LLC")
    # no system tray on the offscreen platform: the status bar says it instead
    assert window.statusBar().currentMessage() == f"Reminder: {notice.message}"
    with qtbot.assertNotEmitted(tray.shown, wait=500):
        tray.check()  # said once, not again
    launcher.close()
