"""The import wizard, driven page by page on a real messy workbook (both backends)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from desktop_app.db.engine import open_database
from desktop_app.db.models import Policy, Term
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.domain.permissions import Action
from desktop_app.excel.reader import OLE2_MAGIC, UnusableFile
from desktop_app.services import demo, exporting, importing, users
from desktop_app.services.overview import book_overview
from desktop_app.services.unit import Actor
from desktop_app.ui import import_wizard
from desktop_app.ui.app import Launcher
from desktop_app.ui.import_wizard import NOT_IMPORTED, ImportWizard
from tests.helpers import dump_database

OpenWindow = Callable[..., Launcher]
REJECTED_DATE = "row 7, X-Date: '13/45/2027' is not a date"


def messy_list(path: Path) -> Path:
    """An expiration list as agencies have them: a notes sheet first, a merged title line
    and a blank row above the header, synonyms for every header, dates and money in several
    forms, a blank row, a bad date, the same policy twice, and a subtotal row. Its "Prem"
    column (a synonym, so the guess) holds "N/A"; the premiums are under "Total Cost"."""
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Read me"
    notes["A1"] = "Exported from the agency system; policies expiring next quarter."
    ws = wb.create_sheet("Expiring")
    ws["A1"] = "Expiration List — 01/01/2027 to 03/31/2027"
    ws.merge_cells("A1:I1")
    ws.append([])
    ws.append(
        [
            "Pol No",
            "Named Insured",
            "Writing Company",
            "X-Date",
            "Eff Date",
            "LOB",
            "Prem",
            "Total Cost",
            "Producer",
        ]
    )
    ws.append(
        [
            "00123",
            "Harbor Bakery LLC",
            "The Hartford",
            dt.datetime(2027, 1, 5),
            "1/5/2026",
            "WORK",
            "N/A",
            "$1,234.50",
            None,
        ]
    )
    ws.append(["BOP-77", "Blue Fin Cafe", "Travelers", "Jan 20, 2027", None, "BOP", "N/A", 2500])
    ws.append([])
    ws.append(["CA-9", "Blue Fin Cafe", "Travelers", "13/45/2027", None, "CAUTO", "N/A", "900"])
    ws.append(["BOP-77", "Blue Fin Cafe", " travelers ", "2027-01-20", None, "BOP", "N/A", 2500])
    ws.append(["GL-5", "Cedar Dental", "Zurich", "01-05-27", None, "CGL", "N/A", "  3,000 "])
    ws.append([None, "Subtotal", None, None, None, None, None, 6734.5])
    wb.save(path)
    return path


def wait_for_home(qtbot: QtBot, launcher: Launcher, panel: str) -> None:
    launcher.window.show_page("home")
    page = launcher.window.home
    qtbot.waitUntil(lambda: page.showing == panel and not page._refreshing, timeout=30_000)


def open_wizard(qtbot: QtBot, launcher: Launcher) -> ImportWizard:
    window = launcher.window
    wait_for_home(qtbot, launcher, "first-run")
    assert window.import_action.isEnabled()
    window.import_action.trigger()
    wizard = window.import_wizard
    assert wizard is not None
    qtbot.waitUntil(wizard.isVisible, timeout=5_000)
    assert wizard.currentId() == ImportWizard.FILE
    return wizard


def go_next(qtbot: QtBot, wizard: ImportWizard, page_id: int) -> None:
    on_preview = wizard.currentId() == ImportWizard.PREVIEW
    button = QWizard.WizardButton.CommitButton if on_preview else QWizard.WizardButton.NextButton
    wizard.button(button).click()
    qtbot.waitUntil(lambda: wizard.currentId() == page_id, timeout=30_000)


def to_mapping(qtbot: QtBot, wizard: ImportWizard, path: Path) -> None:
    wizard.file_page.path.setText(str(path))
    go_next(qtbot, wizard, ImportWizard.SHEET)
    sheets = wizard.sheet_page.sheets
    assert [sheets.item(i).text() for i in range(sheets.count())] == ["Read me", "Expiring"]
    assert sheets.currentItem().text() == "Read me"  # the first sheet, until told otherwise
    wizard.sheet_page.select("Expiring")
    go_next(qtbot, wizard, ImportWizard.MAPPING)
    qtbot.waitUntil(lambda: wizard.mapping_page.step is not None, timeout=30_000)


def found_text(wizard: ImportWizard, key: str) -> str:
    page = wizard.mapping_page
    row = [spec.key for spec in importing.fields()].index(key)
    item = page.table.item(row, page.FOUND)
    return item.text() if item is not None else ""


def test_importing_a_messy_list_page_by_page(
    qtbot: QtBot, open_window: OpenWindow, tmp_path: Path
) -> None:
    launcher = open_window(Role.ADMIN)
    db = launcher.session.db
    before = dump_database(db)
    wizard = open_wizard(qtbot, launcher)
    to_mapping(qtbot, wizard, messy_list(tmp_path / "expiring.xlsx"))

    # The mapping page: the header found below the title, the guesses preselected, marked.
    page = wizard.mapping_page
    assert "row 3 of sheet 'Expiring'" in page.header_note.text()
    chosen = page.mapping()
    assert chosen is not None
    assert chosen["policy_number"] == "Pol No"
    assert chosen["carrier"] == "Writing Company"
    assert chosen["expiration"] == "X-Date"
    assert chosen["premium"] == "Prem"  # the synonym wins…
    assert chosen["csr"] is None and chosen["office"] is None
    assert found_text(wizard, "expiration") == "✓ Recognised"
    combo = page.combos["premium"]
    assert [combo.itemText(i) for i in range(3)] == [NOT_IMPORTED, "Pol No", "Named Insured"]
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()

    # …but the premiums are under "Total Cost": change that one, and save it for next time.
    page.choose("premium", "Total Cost")
    assert page.mapping()["premium"] == "Total Cost"
    assert found_text(wizard, "premium") == "Your choice"
    page.save_name.setText("AMS export")
    page.save_button.click()
    qtbot.waitUntil(lambda: page.message.text() == "Saved the mapping as 'AMS export'.")
    assert importing.get_mapping(db, "AMS export")["premium"] == "Total Cost"
    page.choose("premium", "Prem")  # undone by hand, then loaded back
    page.load_button.click()
    qtbot.waitUntil(lambda: page.message.text().startswith("Loaded the saved mapping"))
    assert page.mapping()["premium"] == "Total Cost"
    assert found_text(wizard, "premium") == "✓ From the saved mapping"

    # Taking away a required column stops the wizard until one is chosen again.
    page.choose("carrier", None)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert "Choose the column for Carrier" in page.status.text()
    page.choose("carrier", "Writing Company")
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()

    # The preview: every count, the rejected rows, and nothing written yet.
    after_saving = dump_database(db)
    go_next(qtbot, wizard, ImportWizard.PREVIEW)
    preview = wizard.preview_page
    qtbot.waitUntil(lambda: preview.result is not None, timeout=30_000)
    counts = {key: preview.counts.value(key) for key in preview.counts.cards}
    assert counts == {
        "created": "3",
        "updated": "0",
        "unchanged": "0",
        "rejected": "2",
        "skipped": "2",  # the blank row and the subtotal
        "duplicates": "1",
        "conflicts": "0",
    }
    assert preview.problem_texts() == [
        REJECTED_DATE,
        "row 8, Pol No: travelers policy BOP-77 is also on row 5; only row 5 is imported",
    ]
    assert preview.problems.item(0, preview.KIND).text() == "Rejected"
    assert preview.problems.item(1, preview.KIND).text() == "Duplicate"
    assert preview.problems.item(0, preview.PROBLEM).text() == "'13/45/2027' is not a date"
    commit_button = wizard.button(QWizard.WizardButton.CommitButton)
    assert commit_button.isVisible() and commit_button.isEnabled()
    assert commit_button.text().replace("&", "") == "Import"
    assert wizard.focusWidget() is commit_button  # Enter imports
    assert dump_database(db) == after_saving
    assert after_saving["app_settings"] != before["app_settings"]  # only the saved mapping

    # The import: written, counted, and the home screen shows the book.
    with qtbot.waitSignal(wizard.imported, timeout=30_000) as done:
        go_next(qtbot, wizard, ImportWizard.IMPORT)
    result = done.args[0]
    assert result.committed and result.created == 3 and result.rejected == 2
    final = wizard.import_page
    assert final.counts.value("created") == "3"
    assert final.counts.cards["created"].caption.text() == "Created"
    assert final.summary.text() == (
        "Imported expiring.xlsx: 3 created, 0 updated, 0 unchanged (3 new accounts); "
        "2 rows left out."
    )
    assert not wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    with db.read_session() as session:
        policies = {p.policy_number: p for p in session.scalars(select(Policy))}
        assert sorted(policies) == ["00123", "BOP-77", "GL-5"]  # leading zeros kept
        premium = session.scalar(select(Term.premium).where(Term.policy_id == policies["00123"].id))
        assert premium == Decimal("1234.50")  # read from "Total Cost", as mapped
    wait_for_home(qtbot, launcher, "overview")
    assert launcher.window.home.overview.policies.value.text() == "3"
    assert book_overview(db).policies == 3
    wizard.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: not wizard.isVisible())

    # The same file again through a new wizard: nothing new, so nothing is written.
    launcher.window.open_import_wizard()
    again = launcher.window.import_wizard
    assert again is not None and again is not wizard
    written = dump_database(db)
    to_mapping(qtbot, again, tmp_path / "expiring.xlsx")
    again.mapping_page.saved_names.setCurrentText("AMS export")
    again.mapping_page.load_button.click()
    qtbot.waitUntil(lambda: again.mapping_page.mapping()["premium"] == "Total Cost")
    go_next(qtbot, again, ImportWizard.PREVIEW)
    qtbot.waitUntil(lambda: again.preview_page.result is not None, timeout=30_000)
    assert again.preview_page.counts.value("unchanged") == "3"
    assert again.preview_page.counts.value("created") == "0"
    assert again.preview_page.summary.text() == (
        "Nothing to write: every row is already in the book or left out."
    )
    assert dump_database(db) == written


class CommitWatch:
    """The real ``importing.commit``, held still after writing its first rows (inside its
    transaction) until the job is cancelled."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.holding = threading.Event()
        self.threads: list[int] = []

    def __call__(self, db: Any, actor: Any, parsed: Any, *, progress: Any, cancelled: Any) -> Any:
        self.threads.append(threading.get_ident())

        def report(done: int, total: int) -> None:
            progress(done, total)
            if done > 0 and not self.holding.is_set():
                self.holding.set()
                for _ in range(3000):  # at most 30 s
                    if cancelled():
                        break
                    threading.Event().wait(0.01)

        return self.real(db, actor, parsed, progress=report, cancelled=cancelled)


def test_cancelling_midway_writes_nothing(
    qtbot: QtBot, open_window: OpenWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = CommitWatch(importing.commit)
    monkeypatch.setattr(importing, "commit", watch)
    launcher = open_window(Role.MANAGER)
    db = launcher.session.db
    wizard = open_wizard(qtbot, launcher)
    to_mapping(qtbot, wizard, messy_list(tmp_path / "expiring.xlsx"))
    wizard.mapping_page.choose("premium", "Total Cost")
    go_next(qtbot, wizard, ImportWizard.PREVIEW)
    qtbot.waitUntil(lambda: wizard.preview_page.result is not None, timeout=30_000)
    before = dump_database(db)

    page = wizard.import_page
    with qtbot.waitSignal(wizard.import_failed, timeout=30_000) as failed:
        go_next(qtbot, wizard, ImportWizard.IMPORT)
        qtbot.waitUntil(watch.holding.is_set, timeout=30_000)  # rows written, uncommitted
        assert page.progress.isVisible()
        qtbot.waitUntil(lambda: page.progress.bar.value() == 3, timeout=10_000)
        assert page.progress.bar.format() == "3 of 3"
        assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
        assert not wizard.button(QWizard.WizardButton.CancelButton).isVisible()  # last page
        page.progress.cancel_button.click()
        assert wizard.isVisible()
        assert page.progress.label.text() == "Cancelling…"
    assert failed.args[0].cancelled
    assert watch.threads[0] != threading.get_ident()  # the database worker, not the GUI
    assert page.message.text() == "The import was cancelled; nothing was written."
    assert not page.progress.isVisible()
    assert page.retry_button.isVisible()
    assert dump_database(db) == before
    assert book_overview(db).policies == 0

    # Try again, this time to the end.
    with qtbot.waitSignal(wizard.imported, timeout=30_000):
        page.retry_button.click()
    assert book_overview(db).policies == 3


def test_a_bad_file_is_one_sentence(
    qtbot: QtBot, open_window: OpenWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher = open_window(Role.CSR)
    wizard = open_wizard(qtbot, launcher)
    legacy = tmp_path / "expiring.xls"
    legacy.write_bytes(OLE2_MAGIC + bytes(4096))
    with pytest.raises(UnusableFile) as expected:
        importing.inspect_file(legacy)

    # Browse… goes through the replaceable dialog function.
    asked: list[tuple[str, str]] = []

    def choose(parent: Any, caption: str, directory: str, filters: str) -> str:
        asked.append((caption, filters))
        return str(legacy)

    monkeypatch.setattr(import_wizard, "open_file_dialog", choose)
    wizard.file_page.browse_button.click()
    assert asked and "*.xlsx" in asked[0][1]
    assert wizard.file_page.path.text() == str(legacy)
    wizard.button(QWizard.WizardButton.NextButton).click()
    message = wizard.file_page.message
    qtbot.waitUntil(message.isVisible, timeout=30_000)
    assert message.text() == expected.value.message
    assert "\n" not in message.text() and "Traceback" not in message.text()
    assert message.text().endswith(".") and ".xlsx" in message.text()
    assert wizard.currentId() == ImportWizard.FILE

    # A sheet without a list: also one sentence, on the mapping page.
    good = messy_list(tmp_path / "expiring.xlsx")
    wizard.file_page.path.setText(str(good))
    assert not message.isVisible()
    go_next(qtbot, wizard, ImportWizard.SHEET)  # "Read me" stays chosen
    go_next(qtbot, wizard, ImportWizard.MAPPING)
    page = wizard.mapping_page
    qtbot.waitUntil(page.message.isVisible, timeout=30_000)
    assert page.message.text().startswith("No header row was found in the first 50 rows of")
    assert "'Read me'" in page.message.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_who_may_import(qtbot: QtBot, open_window: OpenWindow) -> None:
    launcher = open_window(Role.PRODUCER)
    window = launcher.window
    wait_for_home(qtbot, launcher, "first-run")
    reason = launcher.session.refusal(Action.IMPORT_RUN)
    assert reason == "A producer may not import Excel lists."
    assert not window.import_action.isEnabled()
    assert window.import_action.toolTip() == reason
    button = window.home.first_run.import_button
    assert button.isVisible() and not button.isEnabled()
    assert button.toolTip() == reason
    assert window.open_import_wizard() is None


def test_the_entry_points(qtbot: QtBot, open_window: OpenWindow) -> None:
    launcher = open_window(Role.ADMIN)
    window = launcher.window
    wait_for_home(qtbot, launcher, "first-run")
    action = window.import_action
    assert action.shortcut() == QKeySequence("Ctrl+I")
    file_menu = window.menuBar().actions()[0].menu()
    assert action in file_menu.actions()
    assert action.text().replace("&", "") == "Import an Excel list…"
    button = window.home.first_run.import_button
    assert button.isEnabled() and button.toolTip() == ""
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wizard = window.import_wizard
    assert wizard is not None
    qtbot.waitUntil(wizard.isVisible)
    assert window.open_import_wizard() is wizard  # one wizard at a time
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # no path yet
    wizard.reject()
    assert not wizard.isVisible()


def test_our_own_renewal_list_is_recognised(
    qtbot: QtBot, open_window: OpenWindow, tmp_path: Path, db_url: str
) -> None:
    db = open_database(db_url)
    try:
        users.ensure_first_admin(db, "admin")
        admin = Actor("admin", AuditSource.CLI)
        demo.load_demo(db, admin, policies=12, seed=2)
        exported = exporting.export_renewals(db, admin, tmp_path / "renewals.xlsx")
    finally:
        db.dispose()
    launcher = open_window(Role.ADMIN)
    wait_for_home(qtbot, launcher, "overview")
    before = dump_database(launcher.session.db)
    wizard = launcher.window.open_import_wizard()
    assert wizard is not None
    wizard.file_page.path.setText(str(exported.path))
    go_next(qtbot, wizard, ImportWizard.MAPPING)  # one visible sheet: no sheet to choose
    page = wizard.mapping_page
    qtbot.waitUntil(lambda: page.step is not None, timeout=30_000)
    assert page.header_note.text().startswith("This is a renewal list exported by Renewal Desk")
    assert not page.saved_row.isVisible()
    assert page.mapping() is None
    texts = {page.table.item(r, 0).text(): page.table.item(r, 2).text() for r in range(4)}
    assert texts["Renewal ID"] == "For reference (not changed)"
    stage_row = next(
        r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == "Stage"
    )
    assert page.table.item(stage_row, 2).text() == "Applied to the renewal"
    go_next(qtbot, wizard, ImportWizard.PREVIEW)
    qtbot.waitUntil(lambda: wizard.preview_page.result is not None, timeout=30_000)
    assert wizard.preview_page.counts.value("unchanged") == str(exported.rows)
    assert wizard.preview_page.counts.value("conflicts") == "0"
    assert dump_database(launcher.session.db) == before


def test_closing_while_the_file_opens(
    qtbot: QtBot, open_window: OpenWindow, tmp_path: Path
) -> None:
    launcher = open_window(Role.ADMIN)
    wizard = open_wizard(qtbot, launcher)
    wizard.file_page.path.setText(str(messy_list(tmp_path / "expiring.xlsx")))
    wizard.button(QWizard.WizardButton.NextButton).click()
    assert wizard.busy
    wizard.reject()  # a quick step: the wizard closes, the step finishes unseen
    assert not wizard.isVisible()
    qtbot.waitUntil(lambda: not wizard.busy and not launcher.executor.busy, timeout=30_000)
    assert not wizard.isVisible() and wizard.currentId() == -1  # closed, not moved on
    assert launcher.window.open_import_wizard() is not wizard
