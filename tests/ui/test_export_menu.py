"""File → Export writes real files, off the GUI thread, for the roles that may (both backends)."""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from desktop_app.db.engine import open_database
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.domain.permissions import Action
from desktop_app.excel import export_rollup
from desktop_app.services import demo, exporting, users
from desktop_app.services.exporting import ExportResult
from desktop_app.services.unit import Actor
from desktop_app.ui import export_actions
from desktop_app.ui.app import Launcher
from desktop_app.ui.executor import Failure

OpenWindow = Callable[..., Launcher]
POLICIES = 30


@pytest.fixture
def book(db_url: str) -> int:
    """A demo book of ``POLICIES`` policies, loaded before the window opens; its renewals."""
    db = open_database(db_url)
    try:
        users.ensure_first_admin(db, "admin")
        admin = Actor("admin", AuditSource.CLI)
        summary = demo.load_demo(db, admin, policies=POLICIES, seed=3)
        return summary.renewals
    finally:
        db.dispose()


class Dialog:
    """Stands in for the native save dialog: answers with ``answer`` and notes the ask."""

    def __init__(self, answer: Path | str) -> None:
        self.answer = str(answer)
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, parent: Any, caption: str, suggested: str, filters: str) -> str:
        self.asked.append((caption, suggested, filters))
        return self.answer


def run_export(qtbot: QtBot, launcher: Launcher, key: str) -> ExportResult | Failure:
    exports = launcher.window.exports
    with qtbot.waitSignal(exports.finished, timeout=60_000) as finished:
        exports.actions[key].trigger()
        assert exports.job is not None
        assert not any(a.isEnabled() for a in exports.actions.values())  # one at a time
        assert exports.bar.isVisible() and exports.cancel_button.isVisible()
    assert not exports.bar.isVisible()
    return finished.args[0]


def wait_opened(qtbot: QtBot, launcher: Launcher) -> None:
    launcher.window.show_page("home")
    page = launcher.window.home
    qtbot.waitUntil(lambda: page.showing == "overview" and not page._refreshing, timeout=30_000)


def test_renewal_list_and_rollup(
    qtbot: QtBot,
    open_window: OpenWindow,
    book: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launcher = open_window(Role.ADMIN)
    wait_opened(qtbot, launcher)
    window = launcher.window
    exports = window.exports
    file_menu = window.menuBar().actions()[0].menu()
    assert exports.menu.menuAction() in file_menu.actions()
    assert [a.text().replace("&", "") for a in exports.menu.actions()] == [
        "Renewal list (Excel)…",
        "Renewal list (CSV)…",
        "Manager rollup (Excel)…",
    ]
    assert all(a.isEnabled() for a in exports.actions.values())
    threads: list[int] = []
    real = exporting.export_renewals

    def watched(*args: Any, **kwargs: Any) -> ExportResult:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(exporting, "export_renewals", watched)

    # The renewal list as a workbook: the name asked for gets its .xlsx.
    dialog = Dialog(tmp_path / "renewals")
    monkeypatch.setattr(export_actions, "save_file_dialog", dialog)
    result = run_export(qtbot, launcher, "renewals-xlsx")
    assert isinstance(result, ExportResult), result
    assert threads and threads[0] != threading.get_ident()  # the database worker
    caption, suggested, filters = dialog.asked[0]
    assert caption == "Save the renewal list" and "*.xlsx" in filters
    assert Path(suggested).name.startswith("Renewal list ") and suggested.endswith(".xlsx")
    target = tmp_path / "renewals.xlsx"
    assert result.path == target and result.rows == book
    workbook = openpyxl.load_workbook(target, read_only=True)
    sheet = workbook["Renewals"]
    values = [row for row in sheet.iter_rows(values_only=True) if any(v is not None for v in row)]
    header_at = next(i for i, row in enumerate(values) if "Renewal ID" in row)
    assert len(values) - header_at - 1 == book
    workbook.close()
    message = exports.last_message
    assert isinstance(message, QMessageBox) and message.isVisible()
    assert message.text() == f"Saved the renewal list ({book} renewals) to {target}."
    assert window.statusBar().currentMessage() == message.text()
    message.close()

    # The renewal list as CSV, next to it (the dialog starts in the folder used last).
    dialog = Dialog(tmp_path / "renewals.csv")
    monkeypatch.setattr(export_actions, "save_file_dialog", dialog)
    result = run_export(qtbot, launcher, "renewals-csv")
    assert isinstance(result, ExportResult) and result.format == "csv"
    assert Path(dialog.asked[0][1]).parent == tmp_path
    with (tmp_path / "renewals.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["Renewal ID", "Version"]
    assert len(rows) - 1 == book

    # The manager rollup.
    dialog = Dialog(tmp_path / "rollup.xlsx")
    monkeypatch.setattr(export_actions, "save_file_dialog", dialog)
    result = run_export(qtbot, launcher, "rollup")
    assert isinstance(result, ExportResult), result
    workbook = openpyxl.load_workbook(tmp_path / "rollup.xlsx")
    assert workbook.sheetnames[: len(export_rollup.SHEETS)] == list(export_rollup.SHEETS)
    assert workbook["Summary"].max_row > 1
    workbook.close()
    assert exports.last_message.text() == (
        f"Saved the manager rollup ({len(export_rollup.SHEETS)} sheets) to "
        f"{tmp_path / 'rollup.xlsx'}."
    )
    assert all(a.isEnabled() for a in exports.actions.values())


def test_cancelled_dialog_and_unwritable_target(
    qtbot: QtBot,
    open_window: OpenWindow,
    book: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launcher = open_window(Role.MANAGER)
    wait_opened(qtbot, launcher)
    exports = launcher.window.exports

    monkeypatch.setattr(export_actions, "save_file_dialog", Dialog(""))
    exports.actions["renewals-xlsx"].trigger()
    assert exports.job is None and not exports.bar.isVisible()

    monkeypatch.setattr(
        export_actions, "save_file_dialog", Dialog(tmp_path / "no such folder" / "r.xlsx")
    )
    failure = run_export(qtbot, launcher, "renewals-xlsx")
    assert isinstance(failure, Failure) and failure.user_facing, failure
    assert "\n" not in failure.message and failure.message.endswith(".")
    assert exports.last_message.text() == failure.message
    assert exports.last_message.icon() == QMessageBox.Icon.Warning
    assert not (tmp_path / "no such folder").exists()


def test_a_csr_sees_the_rollup_disabled_with_the_reason(
    qtbot: QtBot, open_window: OpenWindow, book: int, tmp_path: Path
) -> None:
    launcher = open_window(Role.CSR)
    wait_opened(qtbot, launcher)
    exports = launcher.window.exports
    rollup = exports.actions["rollup"]
    assert not rollup.isEnabled()
    assert rollup.toolTip() == "A CSR may not export the manager rollup."
    assert rollup.toolTip() == launcher.session.refusal(Action.EXPORT_ROLLUP)
    assert exports.menu.toolTipsVisible()
    assert exports.actions["renewals-xlsx"].isEnabled()
    assert exports.actions["renewals-csv"].isEnabled()
    # The entry stays disabled after another export finishes.
    exports.start(export_actions.KINDS[0], tmp_path / "mine.xlsx")
    qtbot.waitUntil(lambda: exports.job is None, timeout=60_000)
    assert (tmp_path / "mine.xlsx").is_file()
    assert not rollup.isEnabled()
    exports.last_message.close()
