"""Two desktops edit the same renewal in their renewal panels (two connections, two
executors, both backends). Desk A opens it, desk B saves, desk A saves: A is refused with
"changed by NAME at TIME" (the person's name, the agency's clock), A's text stays in the
field, and "Reload, keeping my text" shows B's saved value beside it without replacing
A's typing; A may then take B's value or save theirs over it knowingly. And when B's save
(another OS process) commits while A's is under way, so that both passed the version check
and the database refuses A's UPDATE, A is told the same sentence with B's name and time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop_app.db.engine import Database, open_database
from desktop_app.domain.enums import AuditSource
from desktop_app.services import agency, renewals, users
from desktop_app.services.unit import Actor
from desktop_app.ui.detail import AFTER_CONFLICT_RELOAD, RenewalDetailPanel
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.session import DeskSession
from tests.edit_proc import EditProcess, wait_for_a_blocked_save
from tests.helpers import SmallBook, small_book

WAIT = 15_000


@pytest.fixture
def desks(
    qtbot: QtBot,
    db_url: str,
    db: Database,
    admin: Actor,
    make_user: Callable[..., Actor],
) -> Iterator[tuple[SmallBook, Callable[[str], RenewalDetailPanel]]]:
    """small_book (Test Casey is the CSR, Test Morgan the manager) on the agency's clock
    in Chicago; desk(username) opens the renewal in a panel of its own desktop."""
    book = small_book(db, admin, make_user)
    agency.set_time_zone(db, admin, "America/Chicago")
    opened: list[tuple[DatabaseExecutor, Database]] = []

    def desk(username: str) -> RenewalDetailPanel:
        database = open_database(db_url)
        executor = DatabaseExecutor()
        opened.append((executor, database))
        panel = RenewalDetailPanel(executor)
        qtbot.addWidget(panel)
        panel.resize(480, 900)
        panel.show()
        user = users.get_user(database, username)
        panel.set_session(DeskSession(database, Actor(username, AuditSource.UI), user))
        with qtbot.waitSignal(panel.loaded, timeout=WAIT):
            panel.show_renewal(book.renewal_id)
        return panel

    yield book, desk
    for executor, database in opened:
        assert executor.shutdown(10_000)
        database.dispose()


def type_into(qtbot: QtBot, panel: RenewalDetailPanel, text: str) -> None:
    panel.next_action_edit.clear()
    qtbot.keyClicks(panel.next_action_edit, text)


def save(qtbot: QtBot, panel: RenewalDetailPanel) -> str:
    with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
        qtbot.mouseClick(panel.save_next_button, Qt.MouseButton.LeftButton)
    return str(said.args[0])


def test_the_second_save_is_refused_and_nothing_typed_is_lost(
    qtbot: QtBot, db: Database, desks: tuple[SmallBook, Callable[[str], RenewalDetailPanel]]
) -> None:
    book, desk = desks
    a = desk("casey")
    b = desk("morgan")
    type_into(qtbot, a, "Email Ann the payroll form")  # A is typing…
    type_into(qtbot, b, "Call the carrier")
    assert save(qtbot, b) == "Saved the next action of WC-000123."  # …B saves first
    saved_at = datetime.now(UTC).astimezone(agency.zone_named("America/Chicago"))

    refusal = save(qtbot, a)
    assert refusal.startswith(
        f"Renewal WC-000123 was changed by Test Morgan at {saved_at:%m/%d/%Y} "
    )
    assert refusal.endswith(f" {saved_at.tzname()} after you opened it; reload to see it.")
    assert a.error.text() == refusal and a.error.isVisible()
    assert a.keep_reload_button.isVisible()
    assert a.next_action_edit.text() == "Email Ann the payroll form"  # nothing lost
    assert renewals.get_renewal(db, book.admin, book.renewal_id).next_action == (
        "Call the carrier"  # and nothing overwritten
    )

    with qtbot.waitSignal(a.loaded, timeout=WAIT):
        qtbot.mouseClick(a.keep_reload_button, Qt.MouseButton.LeftButton)
    assert a.next_action_edit.text() == "Email Ann the payroll form"  # still A's typing
    assert a.next_conflict.isVisible()
    assert a.next_conflict.text() == (
        "Saved meanwhile: next action ‘Call the carrier’. Your unsaved text is kept above; "
        "Save puts yours in its place."
    )
    assert a.error.text() == AFTER_CONFLICT_RELOAD
    assert not a.keep_reload_button.isVisible()

    # A chooses to keep theirs: it saves now (on the version A has seen)
    assert save(qtbot, a) == "Saved the next action of WC-000123."
    assert renewals.get_renewal(db, book.admin, book.renewal_id).next_action == (
        "Email Ann the payroll form"
    )
    qtbot.waitUntil(lambda: not a.next_conflict.isVisible(), timeout=WAIT)


def test_taking_the_saved_value_instead(
    qtbot: QtBot, db: Database, desks: tuple[SmallBook, Callable[[str], RenewalDetailPanel]]
) -> None:
    book, desk = desks
    a = desk("casey")
    b = desk("morgan")
    a.blocker_edit.setText("Waiting on Ann")
    b.notes_edit.setPlainText("Ann is on holiday until Monday")
    b.blocker_edit.setText("Ann away")
    with qtbot.waitSignal(b.message, timeout=WAIT):
        qtbot.mouseClick(b.save_notes_button, Qt.MouseButton.LeftButton)

    with qtbot.waitSignal(a.message, timeout=WAIT) as said:
        qtbot.mouseClick(a.save_notes_button, Qt.MouseButton.LeftButton)
    assert "was changed by Test Morgan at " in said.args[0]
    with qtbot.waitSignal(a.loaded, timeout=WAIT):
        qtbot.mouseClick(a.keep_reload_button, Qt.MouseButton.LeftButton)
    # the notes A did not touch show B's text; the blocker A typed is kept, B's beside it
    assert a.notes_edit.toPlainText() == "Ann is on holiday until Monday"
    assert a.blocker_edit.text() == "Waiting on Ann"
    assert a.notes_conflict.text().startswith("Saved meanwhile: blocker ‘Ann away’.")
    qtbot.mouseClick(a.notes_take_button, Qt.MouseButton.LeftButton)
    assert a.blocker_edit.text() == "Ann away"
    assert not a.notes_conflict.isVisible() and not a.error.isVisible()
    card = renewals.get_renewal(db, book.admin, book.renewal_id)
    assert (card.blocker_reason, card.notes) == ("Ann away", "Ann is on holiday until Monday")


def test_a_save_at_the_same_moment_names_who_saved_first(
    qtbot: QtBot,
    db_url: str,
    db: Database,
    desks: tuple[SmallBook, Callable[[str], RenewalDetailPanel]],
) -> None:
    book, desk = desks
    a = desk("casey")
    morgan = EditProcess(db_url, "morgan", book.renewal_id)  # another desktop, own process
    try:
        assert morgan.answer() == {"ready": True}
        morgan.send("load")
        assert a.detail is not None
        assert morgan.answer() == {"version": a.detail.summary.version}  # the same copy
        # Morgan's save is written, not yet committed…
        morgan.send("save Ann-called-back 0 hold")
        assert morgan.answer() == {"holding": True}
        # …when Casey saves: the version check passes (it is still the one Casey opened)
        # and the save waits for Morgan's row (PostgreSQL) or write lock (SQLite)
        type_into(qtbot, a, "Email Ann the payroll form")
        with qtbot.waitSignal(a.message, timeout=WAIT) as said:
            qtbot.mouseClick(a.save_next_button, Qt.MouseButton.LeftButton)
            wait_for_a_blocked_save(db)
            morgan.send("go")
            assert morgan.answer() == {"won": True}
            saved_at = datetime.now(UTC).astimezone(agency.zone_named("America/Chicago"))
    finally:
        morgan.close()

    refusal = str(said.args[0])
    assert refusal.startswith(
        f"Renewal WC-000123 was changed by Test Morgan at {saved_at:%m/%d/%Y} "
    ), refusal
    assert refusal.endswith(f" {saved_at.tzname()} after you opened it; reload to see it.")
    assert a.error.text() == refusal and a.error.isVisible()
    assert a.keep_reload_button.isVisible()  # a stale edit: reload keeping the text
    assert a.next_action_edit.text() == "Email Ann the payroll form"  # nothing lost
    card = renewals.get_renewal(db, book.admin, book.renewal_id)
    assert (card.next_action, card.notes) == ("Request payroll report", "Ann-called-back")
