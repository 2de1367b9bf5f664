"""The Admin page, driven as an admin (or a CSR, or a manager) would, on both databases."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import keyring
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QApplication, QCheckBox, QSpinBox
from pytestqt.qtbot import QtBot

from desktop_app import paths
from desktop_app.db.engine import Database, open_database
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.engine import timer
from desktop_app.errors import RuleViolation
from desktop_app.services import admin as admin_service
from desktop_app.services import auto_renewals, demo, renewals, users
from desktop_app.services.changes import ALL_TABLES
from desktop_app.services.unit import TIMER_USER, Actor
from desktop_app.settings import Settings
from desktop_app.ui import admin as admin_ui
from desktop_app.ui.admin import AdminPage, Section
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.live import LiveFeed
from desktop_app.ui.session import DeskSession
from tests.helpers import small_book

CLICK = Qt.MouseButton.LeftButton


def settle(qtbot: QtBot, executor: DatabaseExecutor) -> None:
    """Wait until every job (and the reloads its broadcast caused) has finished."""
    qtbot.waitUntil(lambda: not executor.busy, timeout=30_000)


@pytest.fixture
def open_page(qtbot: QtBot, executor: DatabaseExecutor, db: Database) -> Callable[..., AdminPage]:
    def make(username: str = "admin") -> AdminPage:
        page = AdminPage(executor)
        qtbot.addWidget(page)
        page.resize(1120, 760)
        page.show()
        user = users.get_user(db, username)
        page.set_session(DeskSession(db=db, actor=Actor(username, AuditSource.UI), user=user))
        page.activate()
        settle(qtbot, executor)
        return page

    return make


def tick(qtbot: QtBot, box: QCheckBox) -> None:
    """Click a check box on its indicator, as a person would."""
    qtbot.mouseClick(box, CLICK, pos=QPoint(8, box.height() // 2))


def show(page: AdminPage, section: Section, qtbot: QtBot) -> None:
    page.show_section(section)
    settle(qtbot, page.executor)
    assert page.current is section and page.tabs.currentWidget() is section


# --------------------------------------------------------------------------- stages


def test_admin_edits_a_stage_criteria_and_the_board_obeys_it(
    qtbot, db, admin, make_user, open_page
) -> None:  # type: ignore[no-untyped-def]
    book = small_book(db, admin, make_user)
    page = open_page()
    stages = page.stages
    show(page, stages, qtbot)
    stages.select("gathering")
    assert stages.name.text() == "Gathering info"
    box = stages.criteria["new_premium"]
    assert box.isEnabled() and not box.isChecked()
    # every open stage keeps its next-action criterion
    assert not stages.criteria["next_action"].isEnabled()
    assert "Every open stage needs a next action" in stages.criteria["next_action"].toolTip()

    tick(qtbot, box)
    assert box.isChecked()
    with qtbot.waitSignal(
        page.executor.changed, check_params_cb=lambda kinds: "pipeline_stages" in kinds
    ):
        qtbot.mouseClick(stages.save_button, CLICK)
    settle(qtbot, page.executor)
    assert stages.message.isVisible()
    assert stages.message.text().startswith("Saved Gathering info: needs a next action")
    assert "the new premium" in stages.message.text()
    shown = stages.model.row(1)
    assert (shown.key, shown.entry_criteria) == ("gathering", ("next_action", "new_premium"))
    assert stages.model.data(stages.model.index(1, 3)) == "next action, new premium"

    # the board drags with move_stage: it is refused with the new reason
    with pytest.raises(RuleViolation, match="Cannot move to Gathering info: it needs the new"):
        renewals.move_stage(db, book.csr, book.renewal_id, "gathering")
    renewals.update_renewal(db, book.csr, book.renewal_id, new_premium="13,000.00")
    assert renewals.move_stage(db, book.csr, book.renewal_id, "gathering").stage_key == "gathering"


def test_a_refused_stage_edit_says_why_in_one_sentence(qtbot, db, admin, open_page) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    stages = page.stages
    show(page, stages, qtbot)
    stages.select("upcoming")
    tick(qtbot, stages.criteria["new_premium"])
    qtbot.mouseClick(stages.save_button, CLICK)
    settle(qtbot, page.executor)
    assert stages.message.isVisible() and stages.message.property("role") == "error"
    assert stages.message.text() == (
        "New renewals open in Upcoming, the first stage, so it cannot require the new "
        "premium; only a next action."
    )
    assert admin_service.stages_for_admin(db)[0].entry_criteria == ("next_action",)

    # someone else saves the stage after the page loaded it: the stale edit is refused
    stages.select("bound")
    admin_service.update_stage(db, admin, "bound", sla_days=9)
    stages.name.setText("Bound / invoiced")
    qtbot.mouseClick(stages.save_button, CLICK)
    settle(qtbot, page.executor)
    assert stages.message.property("role") == "error"
    assert stages.message.text().startswith("The stage Bound was changed by admin at ")
    assert stages.message.text().endswith("after you opened it; reload to see it.")
    assert [s.name for s in admin_service.list_stages(db)][4] == "Bound"


def test_reorder_add_and_deactivate_stages_from_the_page(qtbot, db, admin, open_page) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    stages = page.stages
    show(page, stages, qtbot)
    stages.select("upcoming")
    assert not stages.up_button.isEnabled()
    assert stages.up_button.toolTip() == "It is the first stage."
    assert not stages.deactivate_button.isEnabled()
    assert stages.deactivate_button.toolTip() == (
        "Upcoming is a standard stage that reports count on; it stays."
    )

    stages.select("marketing")
    qtbot.mouseClick(stages.down_button, CLICK)
    settle(qtbot, page.executor)
    assert stages.message.text() == "Marketing / quoting is now stage 4 of 8."
    assert [s.key for s in stages.model.rows][2:4] == ["proposal", "marketing"]
    assert stages.current is not None and stages.current.key == "marketing"
    # Bound (accepted) cannot go above Proposal sent (quoted)
    stages.select("bound")
    qtbot.mouseClick(stages.up_button, CLICK)
    assert not stages.up_button.isEnabled()  # while the move is saved
    settle(qtbot, page.executor)
    assert stages.message.text() == "Bound is now stage 4 of 8."
    qtbot.mouseClick(stages.up_button, CLICK)
    settle(qtbot, page.executor)
    assert stages.message.property("role") == "error"
    assert stages.message.text() == (
        "Proposal sent must come before Bound: a renewal is quoted before it is accepted."
    )
    assert [s.position for s in stages.model.rows] == list(range(1, 9))

    stages.select("gathering")

    def fill_in() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, admin_ui.AddStageDialog)
        assert dialog.after.currentData() == "gathering"
        qtbot.keyClicks(dialog.name, "Loss control visit")
        dialog.sla.setValue(5)
        dialog.accept()

    QTimer.singleShot(0, fill_in)
    qtbot.mouseClick(stages.add_button, CLICK)
    settle(qtbot, page.executor)
    assert stages.message.text() == (
        "Added the stage Loss control visit; choose its entry criteria below."
    )
    assert stages.current is not None and stages.current.key == "loss_control_visit"
    assert [s.position for s in stages.model.rows] == list(range(1, 10))
    assert stages.deactivate_button.isEnabled()
    qtbot.mouseClick(stages.deactivate_button, CLICK)
    settle(qtbot, page.executor)
    assert "loss_control_visit" not in [s.key for s in stages.model.rows]
    assert "off the pipeline" in stages.message.text()


# --------------------------------------------------------------------------- users


def test_add_a_user_and_change_their_role(qtbot, db, admin, open_page) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    section = page.users
    show(page, section, qtbot)
    assert [u.username for u in section.model.rows] == ["admin"]
    assert TIMER_USER not in [u.username for u in section.model.rows]

    qtbot.keyClicks(section.new_username, "jsmith")
    qtbot.keyClicks(section.new_name, "Jordan Smith")
    section.new_role.setCurrentIndex(section.new_role.findData("producer"))
    with qtbot.waitSignal(page.executor.changed, check_params_cb=lambda k: "users" in k):
        qtbot.mouseClick(section.add_button, CLICK)
    settle(qtbot, page.executor)
    assert section.message.text() == "Added jsmith (Jordan Smith) as Producer."
    assert section.new_username.text() == ""
    assert section.current is not None and section.current.username == "jsmith"
    assert section.model.data(section.model.index(1, 2)) == "Producer"

    section.edit_role.setCurrentIndex(section.edit_role.findData("manager"))
    qtbot.mouseClick(section.save_button, CLICK)
    settle(qtbot, page.executor)
    assert users.get_user(db, "jsmith").role is Role.MANAGER
    assert section.message.text() == "Saved jsmith: Jordan Smith, Manager."
    assert section.model.data(section.model.index(1, 2)) == "Manager"

    qtbot.mouseClick(section.active_button, CLICK)
    settle(qtbot, page.executor)
    assert not users.get_user(db, "jsmith").active
    assert section.model.data(section.model.index(1, 3)) == "Deactivated"
    assert section.active_button.text() == "Reactivate"

    # yourself: no deactivate button, and the reason says why
    section.select("admin")
    assert not section.active_button.isEnabled()
    assert section.active_button.toolTip() == (
        "You cannot deactivate yourself; ask another admin to do it."
    )
    # the last admin cannot give up the role: refused in a sentence
    section.edit_role.setCurrentIndex(section.edit_role.findData("csr"))
    qtbot.mouseClick(section.save_button, CLICK)
    settle(qtbot, page.executor)
    assert section.message.property("role") == "error"
    assert section.message.text() == (
        "The last admin cannot give up the admin role; make someone else admin first."
    )
    assert users.get_user(db, "admin").role is Role.ADMIN


# --------------------------------------------------------------------------- roles


def _guarded(section: Section) -> list:  # type: ignore[type-arg]
    return list(section._tips)


def test_a_csr_sees_the_admin_page_disabled_with_reasons(
    qtbot, db, admin, make_user, open_page
) -> None:  # type: ignore[no-untyped-def]
    make_user("csr", "casey")
    page = open_page("casey")
    reasons = {
        page.users: "A CSR may not manage users.",
        page.stages: "A CSR may not configure pipeline stages.",
        page.templates: "A CSR may not configure checklist templates.",
        page.plans: "A CSR may not configure auto-renewal plans.",
        page.connection: "A CSR may not administer the database.",
        page.timer: "A CSR may not change agency settings.",
    }
    for section, reason in reasons.items():
        show(page, section, qtbot)
        assert section.denied.isVisible() and section.denied.text() == reason
        widgets = _guarded(section)
        assert len(widgets) >= 3
        for widget in widgets:
            assert not widget.isEnabled(), (section.title, widget.accessibleName())
            assert widget.toolTip() == reason, widget.accessibleName()
    # what they may read is still shown
    assert page.stages.model.rowCount() == 8
    assert page.templates.model.rowCount() > 0


def test_a_manager_may_edit_plans_only(qtbot, db, admin, make_user, open_page) -> None:  # type: ignore[no-untyped-def]
    make_user("manager", "morgan")
    page = open_page("morgan")
    show(page, page.plans, qtbot)
    assert not page.plans.denied.isVisible()
    assert page.plans.add_button.isEnabled()
    qtbot.keyClicks(page.plans.name, "Personal lines")
    page.plans.issue.setValue(10)
    qtbot.mouseClick(page.plans.add_button, CLICK)
    settle(qtbot, page.executor)
    assert page.plans.message.text() == "Added the plan Personal lines."
    assert [u.plan.name for u in page.plans.model.rows] == ["Personal lines"]
    plan = page.plans.model.rows[0].plan
    assert (plan.create_lead_days, plan.accept_lead_days, plan.issue_lead_days) == (60, 30, 10)
    # and the plan can be edited: the accept step made manual
    page.plans.accept.setValue(-1)
    assert page.plans.accept.text() == "Manual"
    qtbot.mouseClick(page.plans.save_button, CLICK)
    settle(qtbot, page.executor)
    assert page.plans.model.rows[0].plan.accept_lead_days is None
    assert page.plans.model.data(page.plans.model.index(0, 2)) == "manual"
    show(page, page.users, qtbot)
    assert page.users.denied.text() == "A manager may not manage users."
    assert not page.users.add_button.isEnabled()


# --------------------------------------------------------------------------- templates


def test_checklist_templates_per_line(qtbot, db, admin, open_page) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    section = page.templates
    show(page, section, qtbot)
    assert "renewals already open keep their checklist" in section.intro.text()
    assert section.intro.isVisible()
    section.choose_line("WORK")
    settle(qtbot, page.executor)
    assert [t.document_type for t in section.model.rows] == [
        "Payroll report",
        "Loss runs",
        "ACORD 130",
    ]
    section.table.clearSelection()
    section.document.setText("Experience mod worksheet")
    section.required.setChecked(False)
    section.access.setCurrentIndex(section.access.findData("confidential"))
    qtbot.mouseClick(section.add_button, CLICK)
    settle(qtbot, page.executor)
    assert section.message.text().startswith("Added Experience mod worksheet to the WORK")
    assert section.current is not None and section.current.document_type == (
        "Experience mod worksheet"
    )
    assert section.model.data(section.model.index(3, 2)) == "Optional"
    assert section.model.data(section.model.index(3, 3)) == "Confidential"
    section.table.setFocus()
    # the Move up button's shortcut (a shortcut clicks its button a moment later)
    with qtbot.waitSignal(page.executor.changed):
        qtbot.keyClick(section.table, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    settle(qtbot, page.executor)
    assert [t.document_type for t in section.model.rows][2] == "Experience mod worksheet"
    assert "(Alt+Up)" in section.up_button.toolTip()
    assert [t.position for t in section.model.rows] == [1, 2, 3, 4]
    section.select("Payroll report")
    qtbot.mouseClick(section.remove_button, CLICK)
    settle(qtbot, page.executor)
    assert "Payroll report" not in [
        t.document_type for t in admin_service.list_templates(db, "WORK")
    ]
    assert "renewals already open keep it" in section.message.text()


# --------------------------------------------------------------------------- connection


def _fill_connection(section: admin_ui.ConnectionSection, db: Database) -> None:
    if db.is_sqlite:
        section.use_sqlite.setChecked(True)
        section.path.setText(str(db.sqlite_path))
    else:
        section.use_postgres.setChecked(True)
        section.host.setText(db.url.host or "")
        section.port.setValue(db.url.port or 5432)
        section.database.setText(db.url.database or "")
        section.user.setText(db.url.username or "")


def _test(qtbot: QtBot, section: admin_ui.ConnectionSection) -> str:
    qtbot.mouseClick(section.test_button, CLICK)
    qtbot.waitUntil(lambda: not section.testing, timeout=30_000)
    settle(qtbot, section.executor)
    return section.result.text()


def test_database_connection_test_and_save(
    qtbot, db, admin, open_page, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    section = page.connection
    show(page, section, qtbot)
    assert section.current_label.text() == f"This desktop has {db.describe()} open."

    _fill_connection(section, db)
    sentence = _test(qtbot, section)
    assert sentence.startswith(f"Connected to {db.describe()}: a Renewal Desk database, up to")
    assert section.result.property("role") == "muted"

    junk = tmp_path / "notes.sqlite3"
    junk.write_text("not a database\n" * 100)
    section.use_sqlite.setChecked(True)
    section.path.setText(str(junk))
    sentence = _test(qtbot, section)
    assert sentence.startswith(f"The database (SQLite file {junk}) cannot be opened")
    assert section.result.property("role") == "error"

    section.use_postgres.setChecked(True)
    section.host.setText("127.0.0.1")
    section.port.setValue(1)
    section.database.setText("renewals")
    section.user.setText("rd")
    section.password.setText("pw-never-shown-7")
    sentence = _test(qtbot, section)
    assert sentence.startswith("The database (PostgreSQL 127.0.0.1/renewals) cannot be")
    assert "pw-never-shown-7" not in sentence

    # a file picker fills the path (native dialogs cannot run offscreen)
    chosen = tmp_path / "office" / "desk.sqlite3"
    monkeypatch.setattr(admin_ui, "choose_sqlite_file", lambda parent, start: str(chosen))
    section.use_sqlite.setChecked(True)
    qtbot.mouseClick(section.browse, CLICK)
    assert section.path.text() == str(chosen)
    assert _test(qtbot, section).startswith(f"There is no database at {chosen} yet")

    # save a PostgreSQL server: the URL to the settings, the password to the keyring only
    section.use_postgres.setChecked(True)
    section.host.setText("db.example")
    section.port.setValue(5433)
    section.password.setText("pw-never-shown-7")
    qtbot.mouseClick(section.save_button, CLICK)
    settle(qtbot, page.executor)
    assert section.result.text().startswith(
        "Saved: Renewal Desk will open PostgreSQL db.example/renewals the next time it starts."
    )
    assert section.password.text() == ""
    text = paths.settings_path().read_text()
    assert "pw-never-shown-7" not in text
    assert json.loads(text)["database_url"] == "postgresql+psycopg://rd@db.example:5433/renewals"
    assert Settings.load().database_url == "postgresql+psycopg://rd@db.example:5433/renewals"
    store = keyring.get_keyring().store  # type: ignore[attr-defined]
    assert list(store.values()) == ["pw-never-shown-7"]
    assert "Saved for the next start: postgresql+psycopg://rd@db.example:5433/renewals" in (
        section.saved_label.text()
    )
    assert "pw-never-shown-7" not in section.message.text() + section.saved_label.text()


# --------------------------------------------------------------------------- timer service, models


def test_timer_service_state_agency_settings_and_models(
    qtbot, qtmodeltester, db, admin, open_page
) -> None:  # type: ignore[no-untyped-def]
    demo.load_demo(db, admin, policies=40, seed=2)
    timer.tick(db)
    page = open_page()
    section = page.timer
    show(page, section, qtbot)
    status = admin_service.timer_status(db)
    assert section.firings_model.rowCount() == len(status.firings) > 0
    assert section.errors_model.rowCount() == len(status.errors)
    assert section.tabs.tabText(1) == f"In error ({status.errors_total})"
    assert "active" in section.counts.text()
    assert section.here.text().startswith("Off (RENEWAL_DESK_TIMER=off)")
    assert section.housekeeping.text().endswith("(UTC)")

    # a firing about a renewal opens it with a double-click
    row = next(i for i, f in enumerate(section.firings_model.rows) if f.renewal_id)
    wanted = section.firings_model.row(row).renewal_id
    assert section.firings_model.data(section.firings_model.index(row, 2)) == f"renewal {wanted}"
    cell = section.firings.visualRect(section.firings_model.index(row, 1)).center()
    with qtbot.waitSignal(page.open_renewal, check_params_cb=lambda rid: rid == wanted):
        qtbot.mouseClick(section.firings.viewport(), CLICK, pos=cell)
        qtbot.mouseDClick(section.firings.viewport(), CLICK, pos=cell)
    section.firings.setFocus()
    with qtbot.waitSignal(page.open_renewal, check_params_cb=lambda rid: rid == wanted):
        qtbot.keyClick(section.firings, Qt.Key.Key_Return)

    qtbot.mouseClick(section.tick_button, CLICK)
    qtbot.waitUntil(lambda: not section.ticking, timeout=30_000)
    settle(qtbot, page.executor)
    assert section.message.text().startswith("Ticked: last tick")

    section.zone.setCurrentText("America/Chicago")
    model = section.windows_model
    work = [lob for lob in model.windows()].index("WORK")
    assert model.setData(model.index(work, 2), 100)
    assert not model.setData(model.index(work, 2), 0)  # out of range: unchanged
    qtbot.mouseClick(section.save_settings_button, CLICK)
    settle(qtbot, page.executor)
    assert section.message.text() == "Saved: the agency's time zone is America/Chicago."
    saved = admin_service.agency_settings(db)
    assert saved.time_zone == "America/Chicago" and saved.window_days["WORK"] == 100
    assert section.housekeeping.text().endswith("(America/Chicago)")

    for other in page.sections:
        show(page, other, qtbot)
    page.plans.table.selectRow(0)
    for model in (
        page.users.model,
        page.stages.model,
        page.templates.model,
        page.plans.model,
        section.firings_model,
        section.errors_model,
        section.windows_model,
    ):
        assert model.rowCount() > 0 or model is section.errors_model
        qtmodeltester.check(model)


def test_the_page_remembers_its_section_and_refreshes_on_changes(
    qtbot, db, admin, executor
) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSettings

    settings = QSettings(str(Path(paths.config_dir()) / "window.ini"), QSettings.Format.IniFormat)
    page = AdminPage(executor, settings)
    qtbot.addWidget(page)
    page.set_session(
        DeskSession(db=db, actor=Actor("admin", AuditSource.UI), user=users.get_user(db, "admin"))
    )
    page.show_section(page.templates)
    page.activate()
    settle(qtbot, executor)
    again = AdminPage(executor, settings)
    qtbot.addWidget(again)
    assert again.current.title == "Checklist templates"
    # a change made elsewhere (another page's job) reloads the visible section
    executor.submit(
        users.add_user, db, Actor("admin", AuditSource.UI), "ed", "csr", changes={"users"}
    )
    page.show_section(page.users)
    settle(qtbot, executor)
    assert "ed" in [u.username for u in page.users.model.rows]


def test_the_connection_can_require_tls_and_check_the_server(
    qtbot, db, admin, open_page, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    section = page.connection
    show(page, section, qtbot)
    section.use_postgres.setChecked(True)
    section.host.setText("127.0.0.1")
    section.database.setText("postgres")
    section.user.setText("postgres")
    assert not section.ca_file.isEnabled()  # only for checking the certificate
    section.tls.setCurrentIndex(section.tls.findData("verify-full"))
    assert section.ca_file.isEnabled()
    ca = tmp_path / "office-ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    section.ca_file.setText(str(ca))
    query = parse_qs(urlsplit(section.url()).query)
    assert query == {"sslmode": ["verify-full"], "sslrootcert": [str(ca)]}
    sentence = _test(qtbot, section)
    assert section.result.property("role") == "error"
    assert "encrypted" in sentence or "certificate" in sentence
    section.ca_file.setText(str(tmp_path / "missing.crt"))
    assert "does not exist" in _test(qtbot, section)


# --------------------------------------------------------------------------- no lost work

# A colleague's change arrives through the real live feed (PRAGMA data_version on SQLite,
# LISTEN/NOTIFY on PostgreSQL), written through the services from a Database of its own.
LIVE_MS = 5_000
KEPT = "Your unsaved changes are kept above; Save puts yours in its place."


@pytest.fixture
def colleague(db_url: str, db: Database, admin: Actor) -> Iterator[Database]:
    """Another desktop's connection to the same database (Test Morgan, an admin)."""
    users.add_user(db, admin, "morgan", "admin", full_name="Test Morgan")
    other = open_database(db_url)
    yield other
    other.dispose()


@pytest.fixture
def live(qtbot: QtBot, db: Database, executor: DatabaseExecutor) -> Iterator[LiveFeed]:
    """The window's live feed on the page's database: others' commits are broadcast."""
    feed = LiveFeed(db, executor, poll_seconds=0.1)
    feed.start()
    qtbot.waitUntil(lambda: feed.watcher.connected, timeout=LIVE_MS)
    yield feed
    feed.stop()


MORGAN = Actor("morgan", AuditSource.UI)


def test_a_colleagues_stage_change_keeps_what_the_admin_is_typing(
    qtbot, db, admin, colleague, live, open_page
) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    stages = page.stages
    show(page, stages, qtbot)
    stages.select("gathering")
    assert (stages.name.text(), stages.sla.value()) == ("Gathering info", 14)
    stages.name.selectAll()
    qtbot.keyClicks(stages.name, "Gathering documents")  # the admin is typing…
    tick(qtbot, stages.criteria["new_premium"])  # …and ticked a criterion

    # …when a colleague saves the same stage: another name, an SLA and a criterion
    admin_service.update_stage(
        colleague,
        MORGAN,
        "gathering",
        name="Info gathering",
        sla_days=9,
        entry_criteria=["next_action", "required_documents"],
    )
    qtbot.waitUntil(lambda: stages.sla.value() == 9, timeout=LIVE_MS)  # arrives by itself
    assert stages.criteria["required_documents"].isChecked()  # nobody edited these: new
    assert stages.model.data(stages.model.index(1, 1)) == "Info gathering"
    assert stages.name.text() == "Gathering documents"  # the typing is untouched
    assert stages.criteria["new_premium"].isChecked()  # so is the tick
    assert stages.form.isVisible()
    assert stages.form.note.text() == f"Saved meanwhile: name ‘Info gathering’. {KEPT}"

    # saving now is a deliberate choice: the admin's name and tick, the colleague's SLA
    qtbot.mouseClick(stages.save_button, CLICK)
    settle(qtbot, page.executor)
    assert stages.message.property("role") != "error", stages.message.text()
    saved = next(s for s in admin_service.stages_for_admin(db) if s.key == "gathering")
    assert (saved.name, saved.sla_days) == ("Gathering documents", 9)
    assert saved.entry_criteria == ("next_action", "required_documents", "new_premium")
    assert not stages.form.isVisible()


def test_taking_the_saved_values_instead_of_the_typing(
    qtbot, db, admin, colleague, live, open_page
) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    stages = page.stages
    show(page, stages, qtbot)
    stages.select("proposal")
    stages.sla.setValue(3)  # the admin changes the SLA
    admin_service.update_stage(colleague, MORGAN, "proposal", sla_days=5)
    qtbot.waitUntil(lambda: stages.form.isVisible(), timeout=LIVE_MS)
    assert stages.form.note.text() == f"Saved meanwhile: SLA 5 days. {KEPT}"
    assert stages.sla.value() == 3
    qtbot.mouseClick(stages.form.take_button, CLICK)
    assert stages.sla.value() == 5 and not stages.form.isVisible()


def test_a_colleagues_change_to_the_selected_user_keeps_the_typed_name(
    qtbot, db, admin, make_user, colleague, live, open_page
) -> None:  # type: ignore[no-untyped-def]
    make_user("csr", "casey")
    page = open_page()
    section = page.users
    show(page, section, qtbot)
    section.select("casey")
    assert section.edit_name.text() == "Test Casey"
    section.edit_name.selectAll()
    qtbot.keyClicks(section.edit_name, "Casey Reyes")
    # the colleague makes Casey a manager (the role nobody is editing here)…
    users.set_role(colleague, MORGAN, "casey", Role.MANAGER)
    qtbot.waitUntil(lambda: section.edit_role.currentData() == "manager", timeout=LIVE_MS)
    assert section.edit_name.text() == "Casey Reyes"
    assert section.model.data(section.model.index(1, 2)) == "Manager"
    assert not section.form.isVisible()  # nothing the admin edits was saved meanwhile
    # …then renames her: said under the form, the typing stays
    users.update_user(colleague, MORGAN, "casey", full_name="Casey R. Reyes")
    qtbot.waitUntil(lambda: section.form.isVisible(), timeout=LIVE_MS)
    assert section.form.note.text() == f"Saved meanwhile: full name ‘Casey R. Reyes’. {KEPT}"
    assert section.edit_name.text() == "Casey Reyes"
    qtbot.mouseClick(section.save_button, CLICK)
    settle(qtbot, page.executor)
    casey = users.get_user(db, "casey")
    assert (casey.full_name, casey.role) == ("Casey Reyes", Role.MANAGER)
    assert section.message.text() == "Saved casey: Casey Reyes, Manager."
    assert not section.form.isVisible()


def test_a_colleagues_change_to_a_plan_and_a_checklist_keeps_the_admins_edits(
    qtbot, db, admin, colleague, live, open_page
) -> None:  # type: ignore[no-untyped-def]
    plan = auto_renewals.add_plan(db, admin, "Commercial", create_lead_days=90)
    page = open_page()
    plans = page.plans
    show(page, plans, qtbot)
    plans.select("Commercial")
    plans.name.selectAll()
    qtbot.keyClicks(plans.name, "Commercial lines")
    plans.months.setValue(6)
    admin_service.update_plan(  # the same plan, with an accept step 20 days out
        colleague,
        MORGAN,
        plan.id,
        expected_version=plan.version,
        name="Commercial",
        create_lead_days=90,
        accept_lead_days=20,
        issue_lead_days=None,
        new_term_months=12,
        transaction_type="renewal",
        generate_auto_renewals=True,
    )
    qtbot.waitUntil(lambda: plans.accept.value() == 20, timeout=LIVE_MS)
    assert (plans.name.text(), plans.months.value()) == ("Commercial lines", 6)
    assert plans.create.value() == 90
    assert not plans.form.isVisible()

    templates = page.templates
    show(page, templates, qtbot)
    templates.choose_line("WORK")
    settle(qtbot, page.executor)
    templates.select("Loss runs")
    loss_runs = templates.current
    assert loss_runs is not None and loss_runs.required
    templates.document.selectAll()
    qtbot.keyClicks(templates.document, "Loss runs (5 years)")
    admin_service.update_template(
        colleague, MORGAN, loss_runs.id, expected_version=loss_runs.version, required=False
    )
    qtbot.waitUntil(lambda: not templates.required.isChecked(), timeout=LIVE_MS)
    assert templates.document.text() == "Loss runs (5 years)"
    assert templates.model.data(templates.model.index(1, 2)) == "Optional"


def test_a_colleagues_agency_settings_keep_the_admins_zone_and_window(
    qtbot, db, admin, colleague, live, open_page
) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    section = page.timer
    show(page, section, qtbot)
    section.tabs.setCurrentIndex(2)
    model = section.windows_model
    rows = list(model.windows())
    work, first = rows.index("WORK"), rows[0] if rows[0] != "WORK" else rows[1]
    section.zone.setCurrentText("America/Denver")  # the admin chooses a zone…
    assert model.setData(model.index(work, 2), 100)  # …and a WORK window
    with qtbot.waitSignal(section.loaded, timeout=LIVE_MS):  # it arrives by itself
        admin_service.save_agency_settings(
            colleague, MORGAN, time_zone="America/Chicago", window_days={first: 45, "WORK": 80}
        )
    assert section.zone.currentText() == "America/Denver"
    assert model.windows()["WORK"] == 100
    assert model.windows()[first] == 45  # nobody edited that one: the colleague's value
    assert section.form.note.text() == (
        f"Saved meanwhile: time zone America/Chicago and WORK window 80 days. {KEPT}"
    )

    # the admin's values win where they typed; the colleague's first window stays
    qtbot.mouseClick(section.save_settings_button, CLICK)
    settle(qtbot, page.executor)
    saved = admin_service.agency_settings(db)
    assert saved.time_zone == "America/Denver"
    assert (saved.window_days["WORK"], saved.window_days[first]) == (100, 45)
    assert not section.form.isVisible()


def test_a_window_being_typed_stays_open_through_a_refresh(
    qtbot, db, admin, colleague, live, open_page
) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    section = page.timer
    show(page, section, qtbot)
    section.tabs.setCurrentIndex(2)
    model = section.windows_model
    work = list(model.windows()).index("WORK")
    index = model.index(work, 2)
    section.windows.setCurrentIndex(index)
    section.windows.edit(index)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QSpinBox)
    editor.selectAll()
    qtbot.keyClicks(editor, "75")  # typed, not yet committed with Enter
    with qtbot.waitSignal(section.loaded, timeout=LIVE_MS):
        admin_service.save_agency_settings(colleague, MORGAN, window_days={"WORK": 30})
    assert section.windows.state() == QAbstractItemView.State.EditingState  # still open
    assert editor.text() == "75"
    assert section.form.note.text() == f"Saved meanwhile: WORK window 30 days. {KEPT}"
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits a moment later
    qtbot.waitUntil(lambda: model.windows()["WORK"] == 75, timeout=LIVE_MS)
    assert model.changed() == {"WORK": 75}  # what Save would send


def test_a_refresh_of_everything_keeps_the_connection_being_typed(
    qtbot, db, admin, open_page
) -> None:  # type: ignore[no-untyped-def]
    page = open_page()
    section = page.connection
    show(page, section, qtbot)
    section.use_postgres.setChecked(True)
    for edit, text in ((section.host, "office-server"), (section.database, "renewals")):
        edit.selectAll()
        qtbot.keyClicks(edit, text)
    # what going back online does (and F5): every section refreshes, this one too
    page.executor.broadcast(ALL_TABLES)
    page.reload()
    settle(qtbot, page.executor)
    assert section.current_label.text() == f"This desktop has {db.describe()} open."
    assert section.use_postgres.isChecked()
    assert (section.host.text(), section.database.text()) == ("office-server", "renewals")
