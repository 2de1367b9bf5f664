"""The Queues page, driven from the keyboard as a CSR works a morning's queue (offscreen,
both backends): complete, snooze, reassign, open, move; the team queue by role; reminders;
paging and sorting done by the service; every model through the model tester."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import Notice, PipelineStage, Task, User
from desktop_app.domain.enums import AuditSource, Role, TaskStatus
from desktop_app.engine import timer
from desktop_app.engine.plugins import PluginSet
from desktop_app.services import queues, renewals, users, work
from desktop_app.services.unit import Actor
from desktop_app.ui import queues as queues_ui
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.queues import MoveDialog, QueuesPage, ReassignDialog, SnoozeDialog
from desktop_app.ui.session import DeskSession
from tests.helpers import SmallBook, small_book

WAIT = 15_000
TODAY = date.today()
CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def sb(db: Database, admin: Actor, make_user: Callable[..., Actor]) -> SmallBook:
    """The small book, and Casey's morning: an overdue task, one due tomorrow, one undated;
    her renewal (next action due in a week); and a task of Pat's."""
    book = small_book(db, admin, make_user)
    work.add_task(
        db, admin, book.renewal_id, "Chase loss runs", owner="casey", due=TODAY - timedelta(2)
    )
    work.add_task(db, admin, book.renewal_id, "Call Ann", owner="casey", due=TODAY + timedelta(1))
    work.add_task(db, admin, book.renewal_id, "Some day", owner="casey")
    work.add_task(db, admin, book.renewal_id, "Pat's lunch", owner="pat", due=TODAY)
    return book


@pytest.fixture
def open_page(qtbot: QtBot, executor: DatabaseExecutor, db: Database) -> Callable[..., QueuesPage]:
    def make(username: str, settings: QSettings | None = None) -> QueuesPage:
        page = QueuesPage(executor, settings)
        qtbot.addWidget(page)
        page.resize(1280, 800)
        page.show()
        qtbot.waitExposed(page)
        page.activateWindow()
        session = DeskSession(db, Actor(username, AuditSource.UI), users.get_user(db, username))
        page.set_session(session)
        page.activate()
        settle(qtbot, executor)
        return page

    return make


def settle(qtbot: QtBot, executor: DatabaseExecutor) -> None:
    qtbot.waitUntil(lambda: not executor.busy, timeout=WAIT)


def titles(page: QueuesPage, key: str = "mine") -> list[str]:
    return [e.title for e in page.tab[key].model.rows]


def select_title(page: QueuesPage, title: str, key: str = "mine") -> None:
    tab = page.tab[key]
    row = titles(page, key).index(title)
    tab.view.setFocus()
    tab.view.setCurrentIndex(tab.model.index(row, 0))
    assert page.selected_entry() is tab.model.rows[row]


def task_row(db: Database, title: str) -> Task:
    with db.read_session() as session:
        task = session.scalars(select(Task).where(Task.title == title)).one()
        session.expunge(task)
        return task


def press(qtbot: QtBot, page: QueuesPage, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    qtbot.keyClick(page.tab[page.current_key()].view, key, modifiers)


# --- working My queue from the keyboard -----------------------------------------------


def test_complete_tasks_from_the_keyboard(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page
) -> None:
    page = open_page("casey")
    assert titles(page) == [
        "Chase loss runs",
        "Call Ann",
        "Request payroll report",
        "Some day",
    ]
    mine = page.tab["mine"]
    assert page.tabs.tabText(0) == "My queue (4)"
    # The overdue task's due date is in the danger colour; the others are not.
    due = [c.header for c in mine.model.columns].index("Due")
    overdue = mine.model.index(0, due).data(Qt.ItemDataRole.ForegroundRole)
    assert overdue is not None and overdue.color().name() == "#b42318"
    assert mine.model.index(1, due).data(Qt.ItemDataRole.ForegroundRole) is None
    assert mine.model.index(0, due).data() == f"{TODAY - timedelta(2):%m/%d/%Y}"

    select_title(page, "Chase loss runs")
    assert page.complete_action.isEnabled()
    assert "(Ctrl+D)" in page.buttons["complete"].toolTip()
    press(qtbot, page, Qt.Key.Key_D, CTRL)
    settle(qtbot, executor)
    assert titles(page) == ["Call Ann", "Request payroll report", "Some day"]
    assert task_row(db, "Chase loss runs").status is TaskStatus.DONE
    assert page.selected_entry().title == "Call Ann"  # on to the next one
    assert page.message_label.text() == "Completed 'Chase loss runs'."
    assert page.tabs.tabText(0) == "My queue (3)"

    press(qtbot, page, Qt.Key.Key_D, CTRL)
    settle(qtbot, executor)
    assert titles(page) == ["Request payroll report", "Some day"]
    assert task_row(db, "Call Ann").status is TaskStatus.DONE
    # A renewal is not a task: Ctrl+D does nothing and the action says why.
    assert page.selected_entry().kind == "renewal"
    assert not page.complete_action.isEnabled()
    assert "Only tasks can be completed" in page.complete_action.toolTip()
    press(qtbot, page, Qt.Key.Key_D, CTRL)
    settle(qtbot, executor)
    assert titles(page) == ["Request payroll report", "Some day"]


def test_the_keyboard_never_waits_for_the_database(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page
) -> None:
    """Ctrl+D twice in a row, faster than the database answers: each press completes the
    entry it saw selected, because the selection moves on at once."""
    page = open_page("casey")
    select_title(page, "Chase loss runs")
    press(qtbot, page, Qt.Key.Key_D, CTRL)
    assert page.selected_entry().title == "Call Ann"  # before any answer came back
    assert "Chase loss runs" not in titles(page)
    press(qtbot, page, Qt.Key.Key_D, CTRL)
    settle(qtbot, executor)
    assert task_row(db, "Chase loss runs").status is TaskStatus.DONE
    assert task_row(db, "Call Ann").status is TaskStatus.DONE
    assert titles(page) == ["Request payroll report", "Some day"]
    assert page.selected_entry().title == "Request payroll report"
    assert page.message_label.property("role") == "muted"


def test_enter_opens_the_renewal(
    qtbot: QtBot, executor: DatabaseExecutor, sb: SmallBook, open_page
) -> None:
    page = open_page("casey")
    select_title(page, "Call Ann")
    with qtbot.waitSignal(page.open_renewal, timeout=WAIT) as opened:
        press(qtbot, page, Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier)
    assert opened.args == [sb.renewal_id]
    # The context menu and the window's menu carry the same actions, with their keys.
    keys = {a.objectName(): a.shortcut().toString() for a in page.actions_for_menu()}
    assert keys == {
        "open": "Return",
        "complete": "Ctrl+D",
        "snooze": "Ctrl+Shift+S",
        "reassign": "Ctrl+Shift+R",
        "move": "Ctrl+M",
        "dismiss": "Del",
        "dismiss_all": "",
        "refresh": "F5",
    }
    assert [a.objectName() for a in page.context_menu.actions() if a.objectName()] == [
        "open",
        "complete",
        "snooze",
        "reassign",
        "move",
        "refresh",
    ]


def test_snooze_to_a_date_through_the_dialog(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page
) -> None:
    page = open_page("casey")
    select_title(page, "Chase loss runs")
    press(qtbot, page, Qt.Key.Key_S, CTRL_SHIFT)
    dialog = page.dialog
    assert isinstance(dialog, SnoozeDialog)
    assert dialog.chosen() == queues_ui.next_business_day(TODAY)
    assert dialog.chosen().weekday() < 5
    later = TODAY + timedelta(days=10)
    dialog.set_chosen(later)
    qtbot.mouseClick(
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok),
        Qt.MouseButton.LeftButton,
    )
    settle(qtbot, executor)
    assert task_row(db, "Chase loss runs").due_date == later
    assert titles(page) == ["Call Ann", "Request payroll report", "Chase loss runs", "Some day"]
    assert page.selected_entry().title == "Call Ann"
    assert page.dialog is None

    # A renewal snoozes its next action's due date.
    select_title(page, "Request payroll report")
    press(qtbot, page, Qt.Key.Key_S, CTRL_SHIFT)
    page.dialog.set_chosen(TODAY + timedelta(days=20))
    page.dialog.accept()
    settle(qtbot, executor)
    assert renewals.get_renewal(db, sb.admin, sb.renewal_id).next_action_due == TODAY + timedelta(
        days=20
    )
    assert titles(page)[-2:] == ["Request payroll report", "Some day"]
    # Cancel writes nothing.
    select_title(page, "Call Ann")
    press(qtbot, page, Qt.Key.Key_S, CTRL_SHIFT)
    page.dialog.reject()
    settle(qtbot, executor)
    assert task_row(db, "Call Ann").due_date == TODAY + timedelta(1)


def test_reassign_a_task_and_a_renewal(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page
) -> None:
    page = open_page("casey")
    select_title(page, "Call Ann")
    press(qtbot, page, Qt.Key.Key_R, CTRL_SHIFT)
    dialog = page.dialog
    assert isinstance(dialog, ReassignDialog)
    assert dialog.chosen() == "casey"
    people = [dialog.people.itemData(i) for i in range(dialog.people.count())]
    assert "pat" in people and "timer-service" not in people
    dialog.set_chosen("pat")
    dialog.accept()
    settle(qtbot, executor)
    with db.read_session() as session:
        pat = session.scalar(select(User.id).where(User.username == "pat"))
    assert task_row(db, "Call Ann").owner_id == pat
    assert titles(page) == ["Chase loss runs", "Request payroll report", "Some day"]
    assert page.selected_entry().title == "Request payroll report"
    assert page.message_label.text() == "Gave the task 'Call Ann' (Harbor Bakery LLC) to pat."

    press(qtbot, page, Qt.Key.Key_R, CTRL_SHIFT)
    page.dialog.set_chosen("morgan")
    page.dialog.accept()
    settle(qtbot, executor)
    assert renewals.get_renewal(db, sb.admin, sb.renewal_id).next_action_owner == "morgan"
    assert titles(page) == ["Chase loss runs", "Some day"]


def test_moves_refused_and_allowed(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page
) -> None:
    page = open_page("casey")
    said: list[str] = []
    page.message.connect(said.append)
    select_title(page, "Request payroll report")
    press(qtbot, page, Qt.Key.Key_M, CTRL)
    dialog = page.dialog
    assert isinstance(dialog, MoveDialog)
    assert dialog.chosen() == ("upcoming", None)
    assert not dialog.reason.isEnabled()
    dialog.set_chosen("marketing")
    dialog.accept()
    settle(qtbot, executor)
    refusal = (
        "Cannot move to Marketing / quoting: it needs the required documents received or "
        "waived (Payroll report, Loss runs, ACORD 130)."
    )
    assert page.message_label.text() == refusal
    assert page.message_label.isVisible()
    assert page.message_label.property("role") == "error"
    assert said[-1] == refusal
    assert page.selected_entry().title == "Request payroll report"  # back where it was
    assert renewals.get_renewal(db, sb.admin, sb.renewal_id).stage_key == "upcoming"

    select_title(page, "Request payroll report")
    press(qtbot, page, Qt.Key.Key_M, CTRL)
    page.dialog.set_chosen("gathering")
    page.dialog.accept()
    settle(qtbot, executor)
    assert renewals.get_renewal(db, sb.admin, sb.renewal_id).stage_key == "gathering"
    assert {e.stage_name for e in page.tab["mine"].model.rows} == {"Gathering info"}
    assert page.message_label.property("role") == "muted"


def test_a_stale_entry_is_refused_with_a_sentence(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page
) -> None:
    page = open_page("casey")
    select_title(page, "Call Ann")
    task = task_row(db, "Call Ann")
    # Someone else reschedules it meanwhile; this page has not heard of it yet.
    work.update_task(db, sb.manager, task.id, due=TODAY + timedelta(days=3))
    press(qtbot, page, Qt.Key.Key_D, CTRL)
    settle(qtbot, executor)
    assert page.message_label.text().startswith("The task 'Call Ann' was changed by Test Morgan")
    assert page.message_label.text().endswith("reload to see it.")
    assert task_row(db, "Call Ann").status is TaskStatus.OPEN


# --- roles ---------------------------------------------------------------------------


def test_a_producer_gets_no_team_queue_and_may_not_reassign_renewals(
    qtbot: QtBot,
    executor: DatabaseExecutor,
    db: Database,
    sb: SmallBook,
    open_page,
    tmp_path: Path,
) -> None:
    renewals.update_renewal(db, sb.admin, sb.renewal_id, next_action_owner="pat")
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    settings.setValue("queues/tab", "team")  # a manager used this desktop before
    page = open_page("pat", settings)
    assert page.current_key() == "mine"
    assert not page.tabs.isTabEnabled(1)
    assert page.tabs.tabToolTip(1) == queues.team_refusal(Role.PRODUCER)
    assert page.tabs.tabToolTip(1) == (
        "The team queue is for managers and admins; a producer works from My queue "
        "and Needs attention."
    )
    assert titles(page) == ["Pat's lunch", "Request payroll report"]
    select_title(page, "Pat's lunch")
    assert page.reassign_action.isEnabled()  # a task in their own book
    select_title(page, "Request payroll report")
    assert not page.reassign_action.isEnabled()
    assert page.reassign_action.toolTip() == (
        "Reassign to someone else (Ctrl+Shift+R)\nA producer may not reassign renewals."
    )
    assert page.buttons["reassign"].toolTip() == page.reassign_action.toolTip()
    assert not page.buttons["reassign"].isEnabled()
    press(qtbot, page, Qt.Key.Key_R, CTRL_SHIFT)
    assert page.dialog is None
    # The service refuses anyway.
    with pytest.raises(Exception, match=r"A producer may not reassign renewals\."):
        renewals.update_renewal(db, sb.producer, sb.renewal_id, next_action_owner="casey")


def test_the_team_queue_filters_by_owner_and_remembers(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page, tmp_path: Path
) -> None:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    page = open_page("morgan", settings)
    assert page.tabs.isTabEnabled(1)
    page.tabs.setCurrentIndex(1)
    settle(qtbot, executor)
    team = page.tab["team"]
    assert sorted((e.owner, e.title) for e in team.model.rows) == [
        ("casey", "Call Ann"),
        ("casey", "Chase loss runs"),
        ("casey", "Request payroll report"),
        ("casey", "Some day"),
        ("pat", "Pat's lunch"),
    ]
    owner_col = [c.header for c in team.model.columns].index("Owner")
    assert team.model.index(0, owner_col).data() == "Test Casey"
    box = page.owner_box
    box.setCurrentIndex(box.findData("pat"))
    box.activated.emit(box.currentIndex())
    settle(qtbot, executor)
    assert [e.title for e in team.model.rows] == ["Pat's lunch"]
    assert page.tabs.tabText(1) == "Team queue (1)"
    assert settings.value("queues/tab") == "team"
    assert settings.value("queues/team_owner") == "pat"

    again = open_page("morgan", settings)
    assert again.current_key() == "team"
    assert again.owner_box.currentData() == "pat"
    assert [e.title for e in again.tab["team"].model.rows] == ["Pat's lunch"]


# --- reminders --------------------------------------------------------------------------


def test_reminders_show_on_top_and_are_dismissed(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page
) -> None:
    timer.tick(db, plugins=PluginSet((), ()), housekeeping=True)
    work.add_task(db, sb.admin, sb.renewal_id, "Call the carrier", owner="casey", due=TODAY)
    timer.tick(
        db,
        now=datetime.now(UTC) + timedelta(minutes=20),
        plugins=PluginSet((), ()),
        housekeeping=True,
    )
    page = open_page("casey")
    assert page.notice_card.isVisible()
    assert page.notice_heading.text() == "Reminders (2)"
    newest, oldest = (page.notice_model.index(row, 0) for row in (0, 1))
    assert newest.data().startswith("Task due: Task 'Call the carrier' for Harbor Bakery LLC")
    assert oldest.data().startswith("Task due: Task 'Chase loss runs' for Harbor Bakery LLC")
    assert not page.dismiss_action.isEnabled()
    page.notice_view.setFocus()
    page.notice_view.setCurrentIndex(oldest)
    assert page.dismiss_action.isEnabled()
    with qtbot.waitSignal(page.open_renewal, timeout=WAIT) as opened:
        qtbot.keyClick(page.notice_view, Qt.Key.Key_Return)
    assert opened.args == [sb.renewal_id]
    qtbot.keyClick(page.notice_view, Qt.Key.Key_Delete)
    settle(qtbot, executor)
    assert unread(db) == ["Task 'Call the carrier'"]
    assert page.notice_heading.text() == "Reminders (1)"
    assert page.message_label.text() == "Reminder dismissed."

    qtbot.mouseClick(page.dismiss_all_button, Qt.MouseButton.LeftButton)
    settle(qtbot, executor)
    assert unread(db) == []
    assert not page.notice_card.isVisible()
    assert page.message_label.text() == "Dismissed 1 reminder."


def unread(db: Database) -> list[str]:
    """The start of Casey's unread reminders (up to the task's title)."""
    with db.read_session() as session:
        messages = session.scalars(
            select(Notice.message)
            .join(User, User.id == Notice.user_id)
            .where(User.username == "casey", Notice.read_at.is_(None))
        ).all()
    return [m.split(" for ")[0] for m in messages]


# --- needs attention, paging, sorting, models ----------------------------------------------


def test_needs_attention_lists_reasons_and_pages_and_sorts_through_the_service(
    qtbot: QtBot,
    executor: DatabaseExecutor,
    db: Database,
    sb: SmallBook,
    open_page,
    qtmodeltester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renewals.update_renewal(db, sb.admin, sb.renewal_id, blocker_reason="Insured not calling back")
    timer.tick(db, plugins=PluginSet((), ()), housekeeping=True)
    monkeypatch.setattr(queues_ui, "PAGE_SIZE", 2)
    page = open_page("morgan")
    page.tabs.setCurrentIndex(2)
    settle(qtbot, executor)
    attention = page.tab["attention"]
    (entry,) = attention.model.rows
    assert entry.renewal_id == sb.renewal_id
    why = [c.header for c in attention.model.columns].index("Why")
    assert attention.model.index(0, why).data() == (
        f"A task is overdue since {TODAY - timedelta(2):%m/%d/%Y}. · "
        "Blocked: Insured not calling back."
    )
    assert "within 30 days of expiry" in page.attention_caption.text()

    # The team queue loads two rows at a time, as the view asks for more to fill itself.
    team = page.tab["team"].model
    pages: list[int] = []
    team.more_wanted.connect(lambda: pages.append(len(team.rows)))
    page.tabs.setCurrentIndex(1)
    settle(qtbot, executor)
    qtbot.waitUntil(lambda: not team.has_more and not executor.busy, timeout=WAIT)
    assert pages == [2, 4]
    assert len(team.rows) == 5 and not team.canFetchMore(QModelIndex())
    assert [e.key for e in team.rows] == [e.key for e in queues.team_queue(db, sb.manager)]

    # A header click sorts in the service.
    what = [c.header for c in team.columns].index("What")
    page.tab["team"].view.sortByColumn(what, Qt.SortOrder.DescendingOrder)
    settle(qtbot, executor)
    assert team.sort_key == "title" and team.descending
    assert [e.title for e in team.rows] == [
        "Some day",
        "Request payroll report",
        "Pat's lunch",
        "Chase loss runs",
        "Call Ann",
    ]

    qtmodeltester.check(page.tab["team"].model)
    qtmodeltester.check(page.tab["attention"].model)
    casey = open_page("casey")
    assert casey.notice_model.rowCount() == 1
    assert casey.tab["mine"].model.rowCount() == 4
    qtmodeltester.check(casey.tab["mine"].model)
    qtmodeltester.check(casey.notice_model)


def test_changes_elsewhere_refresh_the_page(
    qtbot: QtBot, executor: DatabaseExecutor, db: Database, sb: SmallBook, open_page
) -> None:
    page = open_page("casey")
    assert "Fresh" not in titles(page)
    work.add_task(db, sb.admin, sb.renewal_id, "Fresh", owner="casey", due=TODAY)
    executor.broadcast({"tasks"})
    settle(qtbot, executor)
    qtbot.waitUntil(lambda: "Fresh" in titles(page), timeout=WAIT)
    assert page.shows() >= {
        "tasks",
        "renewals",
        "document_requirements",
        "auto_renewals",
        "notices",
        "pipeline_stages",
    }
    # An admin renaming a stage shows up too.
    with db.write_session() as session:
        stage = session.scalars(select(PipelineStage).where(PipelineStage.key == "upcoming")).one()
        stage.name = "Coming up"
        session.commit()
    executor.broadcast({"pipeline_stages"})
    settle(qtbot, executor)
    qtbot.waitUntil(
        lambda: {e.stage_name for e in page.tab["mine"].model.rows} == {"Coming up"}, timeout=WAIT
    )
