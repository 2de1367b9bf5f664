"""File → Export: the renewal list (Excel or CSV) and the manager rollup.

Each entry asks where to save (:func:`save_file_dialog`, which tests replace, since native
dialogs cannot be driven offscreen), then runs the export service on the database
executor's worker thread with its progress in the status bar and a Cancel button beside
it. The services write to a temporary file that replaces the target only when complete,
so a cancel or a failure leaves whatever was there before. When the file is written, a
message says where, with a button to open it.

Who may: the renewal list is open to every role (a producer's holds only their own book);
the rollup entry is disabled, with the reason as its tooltip, for roles without
``export.rollup``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QStandardPaths, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from desktop_app.domain.permissions import Action
from desktop_app.services import exporting
from desktop_app.services.exporting import ExportResult
from desktop_app.ui.executor import DatabaseExecutor, Failure, Job
from desktop_app.ui.home import count
from desktop_app.ui.session import DeskSession


def save_file_dialog(parent: QWidget | None, caption: str, suggested: str, filters: str) -> str:
    """Ask where to save; "" when the user cancels. Tests replace this function."""
    path, _selected = QFileDialog.getSaveFileName(parent, caption, suggested, filters)
    return path


@dataclass(frozen=True)
class ExportKind:
    key: str
    menu_text: str
    what: str  # "the renewal list", for sentences
    suffix: str
    filters: str
    base_name: str
    service: Callable[..., ExportResult]
    needs: Action | None = None


def _renewals(db: Any, actor: Any, path: str, **kwargs: Any) -> ExportResult:
    return exporting.export_renewals(db, actor, path, **kwargs)


def _rollup(db: Any, actor: Any, path: str, **kwargs: Any) -> ExportResult:
    return exporting.export_rollup(db, actor, path, **kwargs)


KINDS: tuple[ExportKind, ...] = (
    ExportKind(
        "renewals-xlsx",
        "&Renewal list (Excel)…",
        "the renewal list",
        ".xlsx",
        "Excel workbook (*.xlsx)",
        "Renewal list",
        _renewals,
    ),
    ExportKind(
        "renewals-csv",
        "Renewal list (&CSV)…",
        "the renewal list",
        ".csv",
        "CSV file (*.csv)",
        "Renewal list",
        _renewals,
    ),
    ExportKind(
        "rollup",
        "&Manager rollup (Excel)…",
        "the manager rollup",
        ".xlsx",
        "Excel workbook (*.xlsx)",
        "Manager rollup",
        _rollup,
        Action.EXPORT_ROLLUP,
    ),
)


class ExportActions(QObject):
    """The Export submenu of a main window, and the exports it starts."""

    finished = Signal(object)
    """An :class:`ExportResult`, or the :class:`Failure` of an export."""

    def __init__(self, window: QMainWindow, executor: DatabaseExecutor) -> None:
        super().__init__(window)
        self.window = window
        self.executor = executor
        self.session: DeskSession | None = None
        self.job: Job | None = None
        self.folder: str = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.DocumentsLocation
        )
        self.last_message: QMessageBox | None = None

        self.menu = QMenu("&Export", window)
        self.menu.setToolTipsVisible(True)
        self.actions: dict[str, QAction] = {}
        for kind in KINDS:
            action = QAction(kind.menu_text, window)
            action.setStatusTip(f"Save {kind.what} as {kind.suffix.lstrip('.').upper()}")
            action.setEnabled(False)  # until someone signs in
            action.triggered.connect(lambda _checked=False, k=kind: self.export(k))
            self.menu.addAction(action)
            self.actions[kind.key] = action

        status = window.statusBar()
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Export progress")
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setAccessibleName("Cancel the export")
        self.cancel_button.clicked.connect(self.cancel)
        # permanent widgets, so that the status messages do not hide them
        status.insertPermanentWidget(0, self.bar)
        status.insertPermanentWidget(1, self.cancel_button)
        self.bar.setVisible(False)
        self.cancel_button.setVisible(False)

    def set_session(self, session: DeskSession) -> None:
        self.session = session
        self._update_actions()

    def _update_actions(self) -> None:
        for kind in KINDS:
            action = self.actions[kind.key]
            allowed = self.session is not None and (
                kind.needs is None or self.session.may(kind.needs)
            )
            reason = ""
            if self.session is not None and kind.needs is not None and not allowed:
                reason = self.session.refusal(kind.needs)
            action.setEnabled(allowed and self.job is None)
            action.setToolTip(reason or action.text().replace("&", "").rstrip("…"))

    # --- running -------------------------------------------------------------------------

    def export(self, kind: ExportKind) -> None:
        if self.session is None or self.job is not None:
            return
        suggested = str(
            Path(self.folder) / f"{kind.base_name} {dt.date.today():%Y-%m-%d}{kind.suffix}"
        )
        chosen = save_file_dialog(self.window, f"Save {kind.what}", suggested, kind.filters)
        if not chosen:
            return
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(kind.suffix)
        self.folder = str(path.parent)
        self.start(kind, path)

    def start(self, kind: ExportKind, path: Path) -> Job:
        """Export ``kind`` to ``path`` (no dialog)."""
        assert self.session is not None
        self.bar.setRange(0, 0)
        self.bar.setFormat("")
        self.bar.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setVisible(True)
        self.window.statusBar().showMessage(f"Exporting {kind.what}…")
        self.job = self.executor.submit(
            kind.service,
            self.session.db,
            self.session.actor,
            str(path),
            progress=self._progress,
            cancellable=True,
            on_success=lambda result: self._done(kind, result),
            on_failure=self._failed,
            what=f"exporting {kind.what}",
        )
        self._update_actions()
        return self.job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.window.statusBar().showMessage("Cancelling the export…")

    def _progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, total))
        self.bar.setFormat(f"{count(done)} of {count(total)}")

    def _stop(self) -> None:
        self.job = None
        self.bar.setVisible(False)
        self.cancel_button.setVisible(False)
        self._update_actions()

    def _done(self, kind: ExportKind, result: ExportResult) -> None:
        self._stop()
        rows = (
            f"{count(result.rows)} renewal{'s' if result.rows != 1 else ''}"
            if kind.service is _renewals
            else f"{len(result.sheets)} sheets"
        )
        text = f"Saved {kind.what} ({rows}) to {result.path}."
        self.window.statusBar().showMessage(text, 15_000)
        self._tell("Export finished", text, path=result.path)
        self.finished.emit(result)

    def _failed(self, failure: Failure) -> None:
        self._stop()
        self.window.statusBar().showMessage(failure.message, 15_000)
        if not failure.cancelled:
            self._tell("Export failed", failure.message, error=True)
        self.finished.emit(failure)

    def _tell(
        self, title: str, text: str, *, path: Path | None = None, error: bool = False
    ) -> None:
        """A message that does not block: the window stays usable behind it."""
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning if error else QMessageBox.Icon.Information)
        box.setWindowTitle(title)
        box.setText(text)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        if path is not None:
            open_button = box.addButton("&Open the file", QMessageBox.ButtonRole.ActionRole)
            open_button.clicked.connect(
                lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
            )
        if self.last_message is not None:
            self.last_message.close()
        self.last_message = box
        box.open()
