"""The office database going away while a window is open (real PostgreSQL, without
stopping the shared server: the test database stops accepting connections and every
connection to it is terminated). The window says it is offline and counts down to the
next try; what is loaded stays readable; an edit is refused as not saved and its text
kept; when the database is back the window recovers by itself, says so, and the kept
edit saves."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from desktop_app.db.engine import Database
from desktop_app.services import renewals
from desktop_app.services.unit import Actor
from desktop_app.ui.app import Launcher
from desktop_app.ui.detail import NOT_SAVED_OFFLINE
from tests.helpers import SmallBook, small_book


@pytest.fixture
def pg_db(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("an outage of a database server")
    return db


@pytest.fixture
def outage(request: pytest.FixtureRequest, pg_db: Database) -> Iterator[Callable[[bool], None]]:
    """outage(True): nobody can connect to the test database and every connection to it
    is cut; outage(False): it is back."""
    postgres = request.getfixturevalue("postgres")
    name = pg_db.url.database

    def cut(down: bool) -> None:
        postgres._execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not down).lower()}')
        if down:
            with postgres.admin.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )

    yield cut
    cut(False)


def test_offline_banner_kept_edit_and_recovery(
    qtbot: QtBot,
    open_window: Callable[..., Launcher],
    pg_db: Database,
    admin: Actor,
    make_user: Callable[..., Actor],
    outage: Callable[[bool], None],
) -> None:
    book: SmallBook = small_book(pg_db, admin, make_user)
    window = open_window("admin").window
    assert window.live is not None and window.monitor is not None
    qtbot.waitUntil(lambda: window.live.watcher.connected, timeout=5_000)  # type: ignore[union-attr]
    panel = window.detail
    with qtbot.waitSignal(panel.loaded, timeout=15_000):
        window.open_renewal(book.renewal_id)
    window.show_page("board")
    board = window.board
    qtbot.waitUntil(lambda: board.models["upcoming"].row_of(book.renewal_id) >= 0, timeout=15_000)
    banner = window.connection_banner
    assert banner.text == ""

    outage(True)
    qtbot.waitUntil(lambda: banner.state == "offline", timeout=5_000)
    name = pg_db.url.database
    assert banner.text.startswith(
        f"Offline — the database (PostgreSQL 127.0.0.1/{name}) cannot be reached; "
    )
    assert "retrying in " in banner.text or "trying again now" in banner.text
    assert banner.text.endswith(
        "What is shown stays readable; changes cannot be saved until it is back."
    )
    assert banner.retry_button.isVisible()
    # what is loaded stays readable
    assert board.models["upcoming"].row_of(book.renewal_id) >= 0
    assert panel.title.text() == "Harbor Bakery LLC"

    # an edit during the outage: refused as not saved, the text kept
    panel.next_action_edit.clear()
    qtbot.keyClicks(panel.next_action_edit, "Ask Ann for payroll")
    with qtbot.waitSignal(panel.message, timeout=15_000) as said:
        qtbot.mouseClick(panel.save_next_button, Qt.MouseButton.LeftButton)
    assert said.args == [NOT_SAVED_OFFLINE]
    assert panel.error.text() == (
        "Not saved: the database cannot be reached. Your text is kept; press Save again "
        "when back online."
    )
    assert panel.next_action_edit.text() == "Ask Ann for payroll"
    assert banner.state == "offline"

    # the database comes back: the window notices by itself (no click)
    outage(False)
    qtbot.waitUntil(lambda: banner.state == "online", timeout=10_000)
    assert banner.text.startswith("Back online — the database (PostgreSQL 127.0.0.1/")
    assert not banner.retry_button.isVisible()
    assert panel.next_action_edit.text() == "Ask Ann for payroll"  # the refresh kept it

    with qtbot.waitSignal(panel.message, timeout=15_000) as said:
        qtbot.mouseClick(panel.save_next_button, Qt.MouseButton.LeftButton)
    assert said.args == ["Saved the next action of WC-000123."]
    assert renewals.get_renewal(pg_db, book.admin, book.renewal_id).next_action == (
        "Ask Ann for payroll"
    )

    def board_shows_it() -> bool:
        card = board.models["upcoming"].card(book.renewal_id)
        return card is not None and card.next_action == "Ask Ann for payroll"

    qtbot.waitUntil(board_shows_it, timeout=5_000)


def test_retry_now_and_the_back_off(
    qtbot: QtBot,
    open_window: Callable[..., Launcher],
    pg_db: Database,
    outage: Callable[[bool], None],
) -> None:
    window = open_window("admin").window
    monitor = window.monitor
    assert monitor is not None
    qtbot.waitUntil(lambda: window.live.watcher.connected, timeout=5_000)  # type: ignore[union-attr]
    banner = window.connection_banner
    outage(True)
    qtbot.waitUntil(lambda: banner.state == "offline", timeout=5_000)
    # each failed try waits longer: 1, 2, 4 … s
    qtbot.waitUntil(lambda: monitor.attempts >= 1 and not monitor.probing, timeout=5_000)
    assert 1 <= monitor.seconds_left() <= 2
    assert "retrying in 2 s…" in banner.text or "retrying in 1 s…" in banner.text
    outage(False)
    qtbot.mouseClick(banner.retry_button, Qt.MouseButton.LeftButton)  # no need to wait
    qtbot.waitUntil(lambda: banner.state == "online", timeout=3_000)
    assert banner._hide_timer.isActive()  # "Back online" goes by itself after 5 s
