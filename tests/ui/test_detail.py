"""The renewal detail panel, driven as a user would (offscreen, both backends): reading a
renewal, working its documents and tasks, editing it, the auto-renewal actions by role, and
refreshing when someone else changes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from PySide6.QtCore import QDate, QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDateEdit,
    QLineEdit,
    QPlainTextEdit,
    QTableView,
)
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import AutoRenewal, DocumentRequirement, Renewal, Task
from desktop_app.domain.enums import (
    AuditSource,
    AutoRenewalState,
    DocumentStatus,
    TaskStatus,
    TransactionState,
)
from desktop_app.errors import RuleViolation
from desktop_app.services import auto_renewals, book, renewals, users, work
from desktop_app.services.unit import Actor
from desktop_app.ui.detail import RenewalDetailPanel, default_new_end, point_to_new_renewal
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.session import DeskSession
from tests.helpers import dump_database

WAIT = 15_000


@dataclass
class Desk:
    db: Database
    renewal_id: int
    policy_number: str


@pytest.fixture
def desk(db: Database) -> Desk:
    """Casey Reyes (CSR), Morgan Lee (manager), Pat Kim (producer) and Otto Diaz (another
    producer); an account on a plan, a workers comp policy ending in 60 days with its
    auto-renewal, an open renewal with its checklist and one task."""
    users.ensure_first_admin(db, "admin")
    admin = Actor("admin", AuditSource.CLI)
    for username, role, name in (
        ("casey", "csr", "Casey Reyes"),
        ("morgan", "manager", "Morgan Lee"),
        ("pat", "producer", "Pat Kim"),
        ("otto", "producer", "Otto Diaz"),
    ):
        users.add_user(db, admin, username, role, full_name=name)
    auto_renewals.add_plan(
        db, admin, "Standard", create_lead_days=45, accept_lead_days=20, issue_lead_days=10
    )
    account = book.create_account(
        db, admin, "Harbor Bakery LLC", producer="pat", csr="casey", plan="Standard"
    )
    end = datetime.combine(date.today() + timedelta(days=60), datetime.min.time(), UTC)
    policy = book.add_policy(
        db,
        admin,
        account.id,
        "WC-000123",
        "The Hartford",
        "WORK",
        end - timedelta(days=365),
        end,
        "12,400.00",
        office="Springfield",
    )
    card = renewals.open_renewal(
        db,
        admin,
        policy.id,
        next_action="Request payroll report",
        owner="casey",
        due=date.today() + timedelta(days=7),
    )
    work.add_task(db, admin, card.id, "Call Ann about payroll", owner="casey")
    return Desk(db, card.id, "WC-000123")


def session_for(db: Database, username: str) -> DeskSession:
    return DeskSession(db, Actor(username, AuditSource.UI), users.get_user(db, username))


@pytest.fixture
def open_panel(
    qtbot: QtBot, executor: DatabaseExecutor, desk: Desk
) -> Iterator[Callable[[str], RenewalDetailPanel]]:
    def make(username: str) -> RenewalDetailPanel:
        panel = RenewalDetailPanel(executor)
        qtbot.addWidget(panel)
        panel.resize(480, 900)
        panel.show()
        panel.set_session(session_for(desk.db, username))
        with qtbot.waitSignal(panel.loaded, timeout=WAIT) as loaded:
            panel.show_renewal(desk.renewal_id)
            assert panel.status.isVisible() and panel.status.text() == "Loading…"
        assert loaded.args == [desk.renewal_id]
        assert not panel.status.isVisible()
        return panel

    yield make


def row_of(model: object, column: int, text: str) -> int:
    for row in range(model.rowCount()):  # type: ignore[attr-defined]
        if model.index(row, column).data().startswith(text):  # type: ignore[attr-defined]
            return row
    raise AssertionError(f"no row starting with {text!r}")


def texts(model: object, column: int) -> list[str]:
    return [
        model.index(r, column).data()  # type: ignore[attr-defined]
        for r in range(model.rowCount())  # type: ignore[attr-defined]
    ]


def doc(db: Database, renewal_id: int, name: str) -> DocumentRequirement:
    with db.read_session() as s:
        row = s.scalars(
            select(DocumentRequirement).where(
                DocumentRequirement.renewal_id == renewal_id,
                DocumentRequirement.document_type == name,
            )
        ).one()
        s.expunge(row)
        return row


def test_it_shows_a_renewal(
    open_panel: Callable[[str], RenewalDetailPanel], desk: Desk, qtmodeltester: object
) -> None:
    panel = open_panel("casey")
    assert panel.current_renewal_id == desk.renewal_id
    assert panel.title.text() == "Harbor Bakery LLC"
    assert panel.subtitle.text() == "WC-000123 · The Hartford · Springfield"
    fields = panel.summary_fields
    assert fields["stage"].text().startswith("Upcoming · 0 days in stage")
    assert fields["expiration"].text().endswith("· 60 days left")
    assert fields["premium"].text() == "$12,400.00"
    assert fields["line"].text() == "Workers compensation (WORK)"
    assert fields["team"].text() == "Producer Pat Kim · CSR Casey Reyes"
    assert panel.next_action_edit.text() == "Request payroll report"
    assert panel.owner_combo.currentData() == "casey"
    assert texts(panel.task_model, 0) == ["Call Ann about payroll"]
    assert texts(panel.document_model, 0) == ["Payroll report", "Loss runs", "ACORD 130"]
    assert texts(panel.document_model, 1) == ["Missing"] * 3
    assert texts(panel.term_model, 0)[0].endswith("(being renewed)")
    assert texts(panel.trigger_model, 0) == ["Create", "Accept", "Issue"]
    assert panel.ar_state.text().startswith("Active · plan Standard · 12-month term")
    assert texts(panel.timeline_model, 1)[:2] == [
        "admin added the task ‘Call Ann about payroll’",
        "admin created the renewal",
    ]
    assert all(t.endswith(" · cli") for t in texts(panel.timeline_model, 0))
    for model in (
        panel.task_model,
        panel.document_model,
        panel.timeline_model,
        panel.term_model,
        panel.trigger_model,
    ):
        qtmodeltester.check(model)  # type: ignore[attr-defined]
    # every control has a name a screen reader can say (Qt's own inner parts aside)
    controls = [
        w
        for kind in (QAbstractButton, QLineEdit, QComboBox, QPlainTextEdit, QDateEdit, QTableView)
        for w in panel.findChildren(kind)
        if not w.objectName().startswith("qt_")
    ]
    assert len(controls) > 30
    assert [w for w in controls if not w.accessibleName()] == []


def test_receive_a_document_and_see_it_in_the_timeline(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    panel = open_panel("casey")
    row = row_of(panel.document_model, 0, "Loss runs")
    panel.document_view.selectRow(row)
    assert panel.receive_button.isEnabled()
    qtbot.mouseClick(panel.receive_button, Qt.MouseButton.LeftButton)
    assert panel.receive_form.isVisible()
    assert panel.receive_title.text() == "Mark ‘Loss runs’ received"
    received = date.today() - timedelta(days=2)
    panel.received_on_edit.setDate(QDate(received.year, received.month, received.day))
    qtbot.keyClicks(panel.receive_link_edit, "https://files.example/loss-runs.pdf")
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.mouseClick(panel.receive_confirm, Qt.MouseButton.LeftButton)

    assert not panel.receive_form.isVisible()
    row = row_of(panel.document_model, 0, "Loss runs")
    assert panel.document_model.index(row, 1).data() == f"Received {received:%m/%d/%Y}"
    assert panel.document_model.index(row, 2).data() == "Open link"
    stored = doc(desk.db, desk.renewal_id, "Loss runs")
    assert (stored.status, stored.received_on, stored.storage_link) == (
        DocumentStatus.RECEIVED,
        received,
        "https://files.example/loss-runs.pdf",
    )
    assert panel.timeline_model.index(0, 1).data() == "Casey Reyes marked ‘Loss runs’ received"
    assert panel.timeline_model.index(0, 0).data().endswith(" · ui")
    # the selection stayed on the document, so the next step is one click away
    assert panel.selected_document() is not None
    assert panel.selected_document().document_type == "Loss runs"  # type: ignore[union-attr]
    assert panel.expire_button.isEnabled()


def test_waiving_without_a_reason_is_refused_and_changes_nothing(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    panel = open_panel("casey")
    before = dump_database(desk.db)
    panel.document_view.selectRow(row_of(panel.document_model, 0, "ACORD 130"))
    qtbot.mouseClick(panel.waive_button, Qt.MouseButton.LeftButton)
    assert panel.waive_form.isVisible()
    qtbot.keyClicks(panel.waive_reason_edit, "   ")
    with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
        qtbot.mouseClick(panel.waive_confirm, Qt.MouseButton.LeftButton)
    sentence = "Waiving ‘ACORD 130’ needs a reason; type why it is not needed."
    assert said.args == [sentence]
    assert panel.error.isVisible() and panel.error.text() == sentence
    assert panel.waive_form.isVisible()
    assert dump_database(desk.db) == before

    # with a reason it goes through, and the message goes away
    qtbot.keyClicks(panel.waive_reason_edit, "Carrier has it on file")
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.keyClick(panel.waive_reason_edit, Qt.Key.Key_Return)
    assert not panel.error.isVisible()
    assert doc(desk.db, desk.renewal_id, "ACORD 130").waive_reason == "Carrier has it on file"
    assert panel.timeline_model.index(0, 1).data() == (
        "Casey Reyes waived ‘ACORD 130’: Carrier has it on file"
    )


def test_complete_a_task_and_add_one(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    panel = open_panel("casey")
    assert not panel.complete_button.isEnabled()
    assert panel.complete_button.toolTip() == "Select a task first."
    panel.task_view.selectRow(0)
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.mouseClick(panel.complete_button, Qt.MouseButton.LeftButton)
    assert texts(panel.task_model, 3) == ["Done"]
    assert not panel.complete_button.isEnabled()
    assert panel.complete_button.toolTip() == "This task is done."

    panel.new_task_owner.setCurrentIndex(panel.new_task_owner.findData("morgan"))
    due = date.today() + timedelta(days=3)
    panel.new_task_due.setDate(QDate(due.year, due.month, due.day))
    qtbot.keyClicks(panel.new_task_edit, "Send loss runs to the carrier")
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.keyClick(panel.new_task_edit, Qt.Key.Key_Return)
    assert panel.new_task_edit.text() == ""
    assert texts(panel.task_model, 0) == ["Send loss runs to the carrier", "Call Ann about payroll"]
    assert texts(panel.task_model, 1)[0] == "Morgan Lee"
    assert texts(panel.task_model, 2)[0] == f"{due:%m/%d/%Y}"
    with desk.db.read_session() as s:
        tasks = {t.title: (t.status, t.owner_id is not None) for t in s.scalars(select(Task))}
    assert tasks == {
        "Call Ann about payroll": (TaskStatus.DONE, True),
        "Send loss runs to the carrier": (TaskStatus.OPEN, True),
    }
    # assign it to someone else
    panel.task_view.selectRow(0)
    panel.assign_combo.setCurrentIndex(panel.assign_combo.findData("pat"))
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.mouseClick(panel.assign_button, Qt.MouseButton.LeftButton)
    assert texts(panel.task_model, 1)[0] == "Pat Kim"
    assert panel.timeline_model.index(0, 1).data() == (
        "Casey Reyes assigned the task ‘Send loss runs to the carrier’ to Pat Kim"
    )
    # an empty title is refused on the spot
    with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
        qtbot.mouseClick(panel.add_task_button, Qt.MouseButton.LeftButton)
    assert said.args == ["A task needs a title saying what to do."]


def test_edit_the_next_action_keeps_the_typing_when_someone_else_saved_first(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    panel = open_panel("casey")
    panel.next_action_edit.clear()
    qtbot.keyClicks(panel.next_action_edit, "Send the proposal")
    panel.owner_combo.setCurrentIndex(panel.owner_combo.findData("pat"))
    # Morgan saves the card meanwhile (another desktop: no broadcast reaches this one)
    renewals.update_renewal(desk.db, Actor("morgan"), desk.renewal_id, notes="Called Ann")
    with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
        qtbot.mouseClick(panel.save_next_button, Qt.MouseButton.LeftButton)
    assert said.args[0].startswith("Renewal WC-000123 was changed by Morgan Lee at ")
    assert said.args[0].endswith("after you opened it; reload to see it.")
    assert panel.error.text() == said.args[0]
    assert panel.next_action_edit.text() == "Send the proposal"

    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.mouseClick(panel.reload_button, Qt.MouseButton.LeftButton)
    assert panel.notes_edit.toPlainText() == "Called Ann"  # their change is shown…
    assert panel.next_action_edit.text() == "Send the proposal"  # …and the typing kept
    assert panel.owner_combo.currentData() == "pat"
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.keyClick(panel.next_action_edit, Qt.Key.Key_Return)
    assert not panel.error.isVisible()
    with desk.db.read_session() as s:
        renewal = s.get(Renewal, desk.renewal_id)
        assert renewal is not None
        assert renewal.next_action == "Send the proposal"
    assert texts(panel.timeline_model, 1)[0] == (
        "Casey Reyes set the next action to ‘Send the proposal’ and gave the next action to Pat Kim"
    )
    assert texts(panel.timeline_model, 1)[1] == "Morgan Lee edited the notes"


def test_a_manager_marks_do_not_renew(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    panel = open_panel("morgan")
    assert panel.dnr_button.isEnabled()
    assert not panel.reactivate_button.isEnabled()
    assert panel.reactivate_button.toolTip() == "The auto-renewal is already active."
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.mouseClick(panel.dnr_button, Qt.MouseButton.LeftButton)
    assert panel.ar_state.text().startswith("Do not renew · plan Standard")
    assert panel.summary_fields["flags"].text().count("Do not renew") == 1
    # A risk flag that says the same (the demo book sets one) is not shown a second time.
    with desk.db.write_session() as s:
        renewal = s.get(Renewal, desk.renewal_id)
        assert renewal is not None
        renewal.risk_flags = ["Do not renew", "large_loss"]
        s.commit()
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.mouseClick(panel.reload_button, Qt.MouseButton.LeftButton)
    assert panel.summary_fields["flags"].text() == "Do not renew, large loss"
    assert not panel.dnr_button.isEnabled()
    assert panel.reactivate_button.isEnabled()
    assert not panel.discard_button.isEnabled()
    assert panel.discard_button.toolTip() == "Reactivate it first to lift do not renew."
    with desk.db.read_session() as s:
        (state,) = s.scalars(select(AutoRenewal.state)).all()
    assert state is AutoRenewalState.DO_NOT_RENEW
    assert panel.timeline_model.index(0, 1).data() == "Morgan Lee set do-not-renew"

    # edit the trigger times: make the issue step manual
    qtbot.mouseClick(panel.edit_times_button, Qt.MouseButton.LeftButton)
    assert panel.times_form.isVisible()
    panel.time_edits["issue"][0].setChecked(False)
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.mouseClick(panel.times_confirm, Qt.MouseButton.LeftButton)
    assert texts(panel.trigger_model, 1)[2] == "Manual"
    with desk.db.read_session() as s:
        assert s.scalars(select(AutoRenewal.issue_time)).one() is None


def test_a_csr_may_not_change_the_auto_renewal(
    open_panel: Callable[[str], RenewalDetailPanel],
) -> None:
    panel = open_panel("casey")
    for button in (
        panel.dnr_button,
        panel.reactivate_button,
        panel.discard_button,
        panel.edit_times_button,
    ):
        assert not button.isEnabled()
        assert button.toolTip() == "A CSR may not change auto-renewals."


def test_a_producer_outside_the_book_sees_restricted_documents(
    open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    work.receive_document(
        desk.db,
        Actor("casey"),
        doc(desk.db, desk.renewal_id, "Loss runs").id,
        storage_link="https://files.example/loss-runs.pdf",
    )
    panel = open_panel("otto")
    row = row_of(panel.document_model, 0, "Loss runs")
    assert panel.document_model.index(row, 2).data() == "Restricted"
    panel.document_view.selectRow(row)
    sentence = "A producer may only see sensitive documents in their own book."
    for button in (panel.receive_button, panel.waive_button, panel.open_link_button):
        assert not button.isEnabled()
        assert button.toolTip() == sentence
    assert panel.timeline_model.rowCount() == 0
    assert panel.timeline_note.text() == (
        "A producer may only read the activity history in their own book."
    )
    assert not panel.save_next_button.isEnabled()
    assert (
        panel.save_next_button.toolTip() == "A producer may only edit renewals in their own book."
    )


class _Opened(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_open_the_stored_link(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk, executor: object
) -> None:
    loss_runs = doc(desk.db, desk.renewal_id, "Loss runs").id
    work.receive_document(
        desk.db, Actor("casey"), loss_runs, storage_link="https://files.example/loss-runs.pdf"
    )
    payroll = doc(desk.db, desk.renewal_id, "Payroll report").id
    work.receive_document(desk.db, Actor("casey"), payroll, storage_link="in the blue binder")
    panel = open_panel("casey")
    opened = _Opened()
    QDesktopServices.setUrlHandler("https", opened, "open")
    try:
        panel.document_view.selectRow(row_of(panel.document_model, 0, "Loss runs"))
        with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
            qtbot.mouseClick(panel.open_link_button, Qt.MouseButton.LeftButton)
        assert [u.toString() for u in opened.urls] == ["https://files.example/loss-runs.pdf"]
        assert said.args == ["Opened https://files.example/loss-runs.pdf."]
    finally:
        QDesktopServices.unsetUrlHandler("https")
    panel.document_view.selectRow(row_of(panel.document_model, 0, "Payroll report"))
    with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
        qtbot.mouseClick(panel.open_link_button, Qt.MouseButton.LeftButton)
    assert said.args == [
        "The link of ‘Payroll report’ (in the blue binder) is neither a web address nor a "
        "file path, so it cannot be opened."
    ]
    assert panel.error.text() == said.args[0]
    # a document without a link cannot be opened at all
    panel.document_view.selectRow(row_of(panel.document_model, 0, "ACORD 130"))
    assert not panel.open_link_button.isEnabled()
    assert panel.open_link_button.toolTip() == "‘ACORD 130’ has no stored link."


def test_a_change_made_elsewhere_shows_up(
    qtbot: QtBot,
    open_panel: Callable[[str], RenewalDetailPanel],
    desk: Desk,
    executor: DatabaseExecutor,
) -> None:
    panel = open_panel("casey")
    work.add_task(desk.db, Actor("morgan"), desk.renewal_id, "Review the quote", owner="morgan")
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        executor.broadcast({"tasks"})
    assert texts(panel.task_model, 0) == ["Call Ann about payroll", "Review the quote"]
    assert panel.timeline_model.index(0, 1).data() == "Morgan Lee added the task ‘Review the quote’"
    # a kind the panel does not show does not reload it
    with qtbot.assertNotEmitted(panel.loaded, wait=300):
        executor.broadcast({"notices"})


def test_a_failed_load_says_so(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel]
) -> None:
    panel = open_panel("casey")
    with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
        panel.show_renewal(9999)
    assert said.args == ["There is no renewal with id 9999."]
    assert panel.error.isVisible()
    assert not panel.status.isVisible()


def test_the_keyboard_completes_a_task_and_opens_the_receive_form(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    panel = open_panel("casey")
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow, timeout=WAIT)
    panel.task_view.setFocus()
    panel.task_view.selectRow(0)
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.keyClick(panel.task_view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert texts(panel.task_model, 3) == ["Done"]

    panel.document_view.setFocus()
    panel.document_view.selectRow(row_of(panel.document_model, 0, "Loss runs"))
    qtbot.keyClick(panel.document_view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert panel.receive_form.isVisible()
    assert panel.received_on_edit.hasFocus() or panel.received_on_edit.isAncestorOf(
        panel.focusWidget()
    )
    qtbot.keyClick(panel.focusWidget(), Qt.Key.Key_Escape)
    assert not panel.receive_form.isVisible()
    with qtbot.waitSignal(panel.loaded, timeout=WAIT):
        qtbot.keyClick(panel.task_view, Qt.Key.Key_F5)


# --------------------------------------------------------------------------- a new renewal


def lose(desk: Desk) -> None:
    """Morgan (manager) decides the renewal: the insured moved (Lost: refused)."""
    renewals.move_stage(
        desk.db, Actor("morgan"), desk.renewal_id, "lost", outcome_reason="Insured moved"
    )


def qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def current_term(panel: RenewalDetailPanel) -> tuple[date, date]:
    """The policy's term as the panel's Terms table shows it (start, end)."""
    (label,) = [t for t in texts(panel.term_model, 0) if "→" in t and "Not covered" not in t]
    start, end = (
        datetime.strptime(part.split("(")[0].strip(), "%m/%d/%Y").date()
        for part in label.split("→")
    )
    return start, end


def test_default_new_end_is_the_same_term_length() -> None:
    assert default_new_end(date(2025, 3, 15), date(2026, 3, 15)) == date(2027, 3, 15)
    assert default_new_end(date(2025, 8, 31), date(2026, 2, 28)) == date(2026, 8, 28)
    assert default_new_end(date(2024, 2, 29), date(2025, 2, 28)) == date(2026, 2, 28)
    assert default_new_end(date(2025, 1, 10), date(2025, 4, 20)) == date(2025, 7, 29)  # 100 days


@pytest.mark.parametrize("username", ["casey", "morgan"])
def test_start_a_new_renewal_of_a_lost_one(
    qtbot: QtBot,
    open_panel: Callable[[str], RenewalDetailPanel],
    desk: Desk,
    executor: DatabaseExecutor,
    username: str,
) -> None:
    lose(desk)
    panel = open_panel(username)
    assert panel.summary_fields["stage"].text().startswith("Lost")
    # where the panel says the renewal is over, it says what to do, with the button beside
    assert panel.new_renewal_note.isVisible()
    assert panel.new_renewal_note.text() == (
        "Its transaction was refused, which is final, so this renewal stays in Lost; to renew "
        "WC-000123 after all, start a new renewal of it here."
    )
    button = panel.new_renewal_button
    assert button.isVisible() and button.isEnabled() and button.text() == "Start a new renewal…"
    assert not panel.new_renewal_form.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert panel.new_renewal_form.isVisible()
    start, end = current_term(panel)
    assert panel.new_renewal_title.text() == (
        f"A new draft renewal of WC-000123; its current term ends {end:%m/%d/%Y}."
    )
    # the default: as long again as the current term
    assert panel.new_end_edit.date() == qdate(default_new_end(start, end))
    assert not panel.later_check.isChecked() and not panel.effective_edit.isEnabled()

    chosen = end + timedelta(days=180)
    panel.new_end_edit.setDate(qdate(chosen))
    old_id = desk.renewal_id
    with (
        qtbot.waitSignal(executor.changed, timeout=WAIT, check_params_cb=lambda k: "renewals" in k),
        qtbot.waitSignal(
            panel.loaded, timeout=WAIT, check_params_cb=lambda rid: rid != old_id
        ) as loaded,
    ):
        qtbot.mouseClick(panel.new_renewal_confirm, Qt.MouseButton.LeftButton)
    new_id = loaded.args[0]
    # the panel shows the new draft (a card in the first open stage), not the lost one
    assert panel.current_renewal_id == new_id
    assert not panel.error.isVisible()
    assert panel.summary_fields["stage"].text().startswith("Upcoming")
    assert panel.summary_fields["transaction"].text() == (
        f"Draft (renewal) · new end {chosen:%m/%d/%Y}"
    )
    assert not panel.new_renewal_button.isVisible()
    assert not panel.new_renewal_form.isVisible()
    assert texts(panel.document_model, 0) == ["Payroll report", "Loss runs", "ACORD 130"]
    name = {"casey": "Casey Reyes", "morgan": "Morgan Lee"}[username]
    assert f"{name} created the renewal" in texts(panel.timeline_model, 1)
    with desk.db.read_session() as s:
        rows = {r.id: r for r in s.scalars(select(Renewal))}
        assert set(rows) == {old_id, new_id}
        new, old = rows[new_id], rows[old_id]
        assert new.transaction_state is TransactionState.DRAFT
        assert new.policy_id == old.policy_id and new.effective_at is None
        assert new.new_end_at is not None and new.new_end_at > old.term.end_at
        assert old.transaction_state is TransactionState.REFUSED  # the lost one stays lost


def test_a_bad_new_end_shows_the_service_sentence_and_keeps_the_dates(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    lose(desk)
    panel = open_panel("casey")
    before = dump_database(desk.db)
    qtbot.mouseClick(panel.new_renewal_button, Qt.MouseButton.LeftButton)
    _start, end = current_term(panel)
    panel.new_end_edit.setDate(qdate(end))  # not after the current end
    with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
        qtbot.mouseClick(panel.new_renewal_confirm, Qt.MouseButton.LeftButton)
    sentence = said.args[0]
    words = f"{end:%B} {end.day}, {end.year}"
    assert sentence == f"The new end ({words}) must be after the policy's current end ({words})."
    assert panel.error.isVisible() and panel.error.text() == sentence
    assert panel.new_renewal_form.isVisible()
    assert panel.new_end_edit.date() == qdate(end)
    assert panel.new_renewal_confirm.isEnabled()  # ready for another try
    assert panel.current_renewal_id == desk.renewal_id
    assert dump_database(desk.db) == before

    # a later start before the current end is refused too, and the dates stay
    later = end + timedelta(days=365)
    early = end - timedelta(days=10)
    panel.new_end_edit.setDate(qdate(later))
    panel.later_check.setChecked(True)
    assert panel.effective_edit.isEnabled()
    panel.effective_edit.setDate(qdate(early))
    with qtbot.waitSignal(panel.message, timeout=WAIT) as said:
        qtbot.mouseClick(panel.new_renewal_confirm, Qt.MouseButton.LeftButton)
    assert said.args[0] == (
        f"The effective date ({early:%B} {early.day}, {early.year}) cannot be before the "
        f"policy's current end ({words}): terms never overlap."
    )
    assert panel.new_end_edit.date() == qdate(later)
    assert panel.effective_edit.date() == qdate(early) and panel.later_check.isChecked()
    assert dump_database(desk.db) == before

    # Cancel closes the form; nothing was written
    qtbot.mouseClick(panel.new_renewal_cancel, Qt.MouseButton.LeftButton)
    assert not panel.new_renewal_form.isVisible()
    assert dump_database(desk.db) == before


def test_a_renewal_with_a_gap(
    qtbot: QtBot, open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    lose(desk)
    panel = open_panel("morgan")
    qtbot.mouseClick(panel.new_renewal_button, Qt.MouseButton.LeftButton)
    _start, end = current_term(panel)
    effective, new_end = end + timedelta(days=20), end + timedelta(days=385)
    panel.later_check.setChecked(True)
    panel.effective_edit.setDate(qdate(effective))
    panel.new_end_edit.setDate(qdate(new_end))
    with qtbot.waitSignal(
        panel.loaded, timeout=WAIT, check_params_cb=lambda rid: rid != desk.renewal_id
    ):
        qtbot.mouseClick(panel.new_renewal_confirm, Qt.MouseButton.LeftButton)
    assert panel.summary_fields["transaction"].text() == (
        f"Draft (renewal) · effective {effective:%m/%d/%Y} · new end {new_end:%m/%d/%Y}"
    )
    assert texts(panel.term_model, 0)[-1].startswith("Not covered if this renewal is issued")


def test_who_may_start_a_new_renewal(
    open_panel: Callable[[str], RenewalDetailPanel], desk: Desk
) -> None:
    # an open renewal carries the policy on itself: no button
    panel = open_panel("casey")
    assert not panel.new_renewal_button.isVisible()
    assert not panel.new_renewal_note.isVisible()
    panel.close()

    lose(desk)
    outsider = open_panel("otto")  # a producer outside the account's book
    assert outsider.new_renewal_button.isVisible()
    assert not outsider.new_renewal_button.isEnabled()
    sentence = "A producer may only create renewals in their own book."
    assert outsider.new_renewal_button.toolTip() == sentence
    assert outsider.new_renewal_button.accessibleDescription() == sentence
    outsider.close()

    own = open_panel("pat")  # the account's producer
    assert own.new_renewal_button.isEnabled()
    assert own.new_renewal_button.toolTip().startswith("Start a draft renewal of WC-000123")


def test_the_board_refusal_says_where_to_start_a_new_renewal(desk: Desk) -> None:
    lose(desk)
    with pytest.raises(RuleViolation) as refused:
        renewals.move_stage(desk.db, Actor("morgan"), desk.renewal_id, "gathering")
    assert point_to_new_renewal(str(refused.value)) == (
        "Renewal WC-000123 is in Lost and its transaction was refused, which is final, so it "
        "cannot move back to Gathering info; to renew the policy after all, start a new "
        "renewal of it (Start a new renewal… in the renewal panel)."
    )
    other = "Marketing / quoting needs the required documents received or waived."
    assert point_to_new_renewal(other) == other
