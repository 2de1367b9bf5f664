"""The import wizard: choose a file → its sheet → which column holds what → a preview of
every row's fate → the import itself.

Every step that touches the file or the database (opening the file, finding the header
row, reading and checking each row, comparing with the book, writing) runs on the
database executor's worker thread, so the window stays responsive with a 100,000-row
list; the long steps show a progress bar and can be cancelled. Nothing is written before
the last page: the preview page is QWizard's "commit page", whose button is "Import".

The steps are those of :mod:`desktop_app.services.importing`; the wizard only chooses the
arguments and shows the results. Errors arrive as the services' one-sentence messages.

Native file dialogs cannot be driven offscreen, so the wizard asks for a file through the
module function :func:`open_file_dialog`, which tests replace.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QRect, QSize, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from desktop_app.domain.permissions import Action
from desktop_app.excel import renewal_list
from desktop_app.services import importing
from desktop_app.services.importing import FileInfo, ImportResult, MappingGuess, Rejection
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure, Job
from desktop_app.ui.home import MetricCard, count
from desktop_app.ui.session import DeskSession

FILE_FILTER = "Spreadsheets (*.xlsx *.xlsm *.csv);;All files (*)"
NOT_IMPORTED = "(not imported)"
IMPORT_CHANGES = frozenset(
    {"accounts", "policies", "terms", "renewals", "auto_renewals", "audit_events"}
)
"""What committing an import may write (object kinds as in audit events: table names)."""
MAPPING_CHANGES = frozenset({"app_settings"})
WIZARD_SIZE = (900, 660)
_DUPLICATE = re.compile(r"\bis also on row \d+")


def open_file_dialog(parent: QWidget | None, caption: str, directory: str, filters: str) -> str:
    """Ask for an existing file; "" when the user cancels. Tests replace this function."""
    path, _selected = QFileDialog.getOpenFileName(parent, caption, directory, filters)
    return path


def documents_folder() -> str:
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)


def is_duplicate(rejection: Rejection) -> bool:
    """A row left out because the same policy is on an earlier row of the file."""
    return bool(_DUPLICATE.search(rejection.reason))


def _label(text: str = "", *, role: str | None = None, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    if role:
        label.setProperty("role", role)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _table(headers: list[str], name: str) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    head = table.horizontalHeader()
    head.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    head.setHighlightSections(False)
    return table


class WrappingDelegate(QStyledItemDelegate):
    """Long text wraps onto more lines. The theme pads table cells (7 px each side), which
    Qt leaves out when it measures a row's height; measure with that room taken off, or
    the last words are cut off with "…"."""

    PADDING = 2 * 7 + 4

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        narrower = QStyleOptionViewItem(option)
        rect = QRect(option.rect)
        rect.setWidth(max(1, rect.width() - self.PADDING))
        narrower.rect = rect
        size = super().sizeHint(narrower, index)
        return QSize(option.rect.width(), size.height() + 8)


class ProgressRow(QWidget):
    """ "Reading the file… [=====     ] 1,200 of 5,000  [Cancel]"."""

    cancel_requested = Signal()

    def __init__(self, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setAccessibleName(f"{what} progress")
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName(f"Cancel {what.lower()}")
        self.cancel_button.clicked.connect(self.cancel_requested)
        layout.addWidget(self.label)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.cancel_button)
        self.setVisible(False)

    def start(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.bar.setFormat("")
        self.cancel_button.setEnabled(True)
        self.setVisible(True)

    def report(self, phase: str, done: int, total: int) -> None:
        self.label.setText(phase)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, total))
        self.bar.setFormat(f"{count(done)} of {count(total)}")

    def cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.label.setText("Cancelling…")

    def stop(self) -> None:
        self.setVisible(False)


class CountsPanel(QWidget):
    """The counts of a preview or of a finished import, as cards."""

    CAPTIONS = (
        ("created", "Create"),
        ("updated", "Update"),
        ("unchanged", "Unchanged"),
        ("rejected", "Rejected"),
        ("skipped", "Skipped"),
        ("duplicates", "Duplicates"),
        ("conflicts", "Conflicts"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(10)
        layout.setVerticalSpacing(10)
        self.cards: dict[str, MetricCard] = {}
        for i, (key, caption) in enumerate(self.CAPTIONS):
            card = MetricCard(caption)
            card.layout().setContentsMargins(12, 8, 12, 8)
            card.value.setFont(theme.scaled_font(card.caption, 1.45, bold=True))
            self.cards[key] = card
            layout.addWidget(card, 0, i)
            layout.setColumnStretch(i, 1)
        self.cards["skipped"].setToolTip("Blank rows, subtotal and total rows, and title rows")
        self.cards["duplicates"].setToolTip(
            "Policies listed more than once: only the first row is imported (counted among "
            "the rejected rows)"
        )
        self.cards["conflicts"].setToolTip(
            "Renewals changed in Renewal Desk since the list was exported: not overwritten"
        )

    def show_counts(self, result: ImportResult, *, committed: bool) -> None:
        values = {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "rejected": result.rejected,
            "skipped": result.skipped,
            "duplicates": sum(1 for r in result.rejections if is_duplicate(r)),
            "conflicts": result.conflicts,
        }
        captions = dict(self.CAPTIONS)
        if committed:
            captions.update(created="Created", updated="Updated")
        for key, card in self.cards.items():
            card.caption.setText(captions[key])
            card.set_value(count(values[key]))
        self.cards["skipped"].setToolTip(
            f"{count(result.skipped_blank)} blank, {count(result.skipped_totals)} subtotal or "
            f"total, {count(result.skipped_headings)} title or heading rows"
        )

    def value(self, key: str) -> str:
        return self.cards[key].value.text()


# --- the work done on the worker thread ---------------------------------------------------


@dataclass(frozen=True)
class MappingStep:
    guess: MappingGuess
    saved_names: list[str]
    saved_name: str | None = None


def _phases(progress: Callable[..., None] | None, phase: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(phase, done, total)

    return report


def load_mapping_step(db: Any, path: str, sheet: str, saved_name: str | None = None) -> MappingStep:
    """The header row and the guessed columns (a saved mapping's choices first), and the
    names of the saved mappings."""
    saved = importing.get_mapping(db, saved_name) if saved_name else None
    guess = importing.guess_mapping(path, sheet=sheet, saved=saved)
    return MappingStep(guess, importing.list_mappings(db), saved_name)


def read_and_preview(
    db: Any,
    actor: Any,
    path: str,
    sheet: str,
    mapping: dict[str, str | None] | None,
    *,
    progress: Callable[..., None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[importing.ParsedFile, ImportResult]:
    parsed = importing.read_file(
        path,
        sheet=sheet,
        mapping=mapping,
        progress=_phases(progress, "Reading the file…"),
        cancelled=cancelled,
    )
    result = importing.preview(
        db,
        actor,
        parsed,
        progress=_phases(progress, "Comparing with the book…"),
        cancelled=cancelled,
    )
    return parsed, result


def commit_parsed(
    db: Any,
    actor: Any,
    parsed: importing.ParsedFile,
    *,
    progress: Callable[..., None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ImportResult:
    return importing.commit(
        db, actor, parsed, progress=_phases(progress, "Importing…"), cancelled=cancelled
    )


# --- pages -------------------------------------------------------------------------------


class _Page(QWizardPage):
    def __init__(self, wizard: ImportWizard, title: str, subtitle: str) -> None:
        super().__init__()
        self.owner = wizard
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setSpacing(10)
        self.message = _label("", role="error")
        self.message.setAccessibleName("Message")
        self.message.setVisible(False)

    def show_message(self, text: str, *, error: bool = True) -> None:
        self.message.setText(text)
        theme.set_role(self.message, "error" if error else "muted")
        self.message.setVisible(bool(text))


class FilePage(_Page):
    """A path field (keyboard users type or paste it) and a Browse… button."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__(
            wizard,
            "Choose the file",
            "An expiration list from your management system, your own spreadsheet, or a "
            "renewal list exported by Renewal Desk and edited in Excel (.xlsx, .xlsm or .csv).",
        )
        row = QHBoxLayout()
        self.path_label = QLabel("&File:")
        self.path = QLineEdit()
        self.path.setAccessibleName("File to import")
        self.path.setPlaceholderText("Type or paste the path, or choose Browse…")
        self.path.setClearButtonEnabled(True)
        self.path_label.setBuddy(self.path)
        self.browse_button = QPushButton("&Browse…")
        self.browse_button.setAccessibleName("Browse for the file")
        self.browse_button.clicked.connect(self.browse)
        row.addWidget(self.path_label)
        row.addWidget(self.path, 1)
        row.addWidget(self.browse_button)
        self.layout_.addLayout(row)
        self.status = _label("", role="muted")
        self.layout_.addWidget(self.status)
        self.layout_.addWidget(self.message)
        self.layout_.addStretch(1)
        self.path.textChanged.connect(self._edited)
        self._ready_for: str | None = None

    def browse(self) -> None:
        current = self.path.text().strip()
        start = str(Path(current).parent) if current else documents_folder()
        chosen = open_file_dialog(self, "Choose the list to import", start, FILE_FILTER)
        if chosen:
            self.path.setText(chosen)

    def _edited(self) -> None:
        self.show_message("")
        self.status.setText("")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.path.text().strip()) and not self.owner.busy

    def validatePage(self) -> bool:
        path = self.path.text().strip().strip('"')
        if self._ready_for == path and self.owner.info is not None:
            return True
        if self.owner.busy:
            return False
        self.show_message("")
        self.status.setText("Opening the file…")
        self.owner.run(
            importing.inspect_file,
            path,
            on_success=lambda info: self._inspected(path, info),
            on_failure=self._failed,
            what="opening the file",
        )
        return False

    def _inspected(self, path: str, info: FileInfo) -> None:
        self.owner.set_file(info)
        self._ready_for = path
        self.status.setText("")
        self.owner.next()

    def _failed(self, failure: Failure) -> None:
        self.status.setText("")
        self.show_message(failure.message)

    def nextId(self) -> int:
        info = self.owner.info
        if info is not None and len(info.sheets) <= 1:
            return ImportWizard.MAPPING
        return ImportWizard.SHEET


class SheetPage(_Page):
    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__(wizard, "Choose the sheet", "The sheet that holds the list.")
        self.sheets = QListWidget()
        self.sheets.setAccessibleName("Sheets")
        self.sheets.setStyleSheet("QListWidget::item { padding: 6px 8px; }")
        self.sheets.itemSelectionChanged.connect(self.completeChanged)
        self.sheets.itemActivated.connect(lambda _item: self.owner.next())
        self.note = _label("", role="muted")
        self.layout_.addWidget(self.sheets, 1)
        self.layout_.addWidget(self.note)

    def initializePage(self) -> None:
        info = self.owner.info
        assert info is not None
        self.sheets.clear()
        for name in info.sheets:
            item = QListWidgetItem(name)
            self.sheets.addItem(item)
            if name == info.default_sheet:
                self.sheets.setCurrentItem(item)
        if info.is_renewal_list:
            self.note.setText(
                "This is a renewal list exported by Renewal Desk: its edited columns (stage, "
                "next action, owner, due dates, notes) are applied to the renewals, and a row "
                "changed in Renewal Desk since the export is listed as a conflict instead."
            )
        else:
            self.note.setText(f"{Path(info.path).name} has {len(info.sheets)} sheets.")

    def isComplete(self) -> bool:
        return self.sheets.currentItem() is not None

    @property
    def chosen(self) -> str | None:
        item = self.sheets.currentItem()
        return None if item is None else item.text()

    def select(self, name: str) -> None:
        for item in self.sheets.findItems(name, Qt.MatchFlag.MatchExactly):
            self.sheets.setCurrentItem(item)


class MappingPage(_Page):
    """One row per field: the file's column for it (a drop-down), and how that was found."""

    FIELD, COLUMN, FOUND = 0, 1, 2

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__(
            wizard,
            "Match the columns",
            "Which column of the file holds what. The guesses are filled in; check them, "
            "and save the choices under a name to reuse them next time.",
        )
        self.header_note = _label("", role="muted")
        self.layout_.addWidget(self.header_note)
        self.table = _table(["Field", "Column in the file", "How it was found"], "Column mapping")
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(self.FIELD, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(self.COLUMN, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(self.FOUND, QHeaderView.ResizeMode.Stretch)
        self.layout_.addWidget(self.table, 1)
        self.required_note = _label("* Required: every row needs a value there.", role="muted")
        self.layout_.addWidget(self.required_note)

        self.saved_row = QWidget()
        saved = QHBoxLayout(self.saved_row)
        saved.setContentsMargins(0, 0, 0, 0)
        saved.setSpacing(8)
        self.saved_names = QComboBox()
        self.saved_names.setAccessibleName("Saved mappings")
        self.saved_names.setMinimumContentsLength(14)
        self.saved_names.setPlaceholderText("(none saved yet)")
        self.load_button = QPushButton("&Load")
        self.load_button.setAccessibleName("Load the saved mapping")
        self.load_button.clicked.connect(self.load_saved)
        self.save_name = QLineEdit()
        self.save_name.setAccessibleName("Name for this mapping")
        self.save_name.setPlaceholderText("Name, e.g. the system it comes from")
        self.save_button = QPushButton("&Save mapping")
        self.save_button.setAccessibleName("Save this mapping")
        self.save_button.clicked.connect(self.save)
        saved_label = QLabel("Saved mappings:")
        saved_label.setBuddy(self.saved_names)
        saved.addWidget(saved_label)
        saved.addWidget(self.saved_names)
        saved.addWidget(self.load_button)
        saved.addSpacing(16)
        saved.addWidget(self.save_name, 1)
        saved.addWidget(self.save_button)
        self.layout_.addWidget(self.saved_row)
        self.status = _label("", role="muted")
        self.layout_.addWidget(self.status)
        self.layout_.addWidget(self.message)

        self.step: MappingStep | None = None
        self._loaded_for: tuple[str, str] | None = None
        self.combos: dict[str, QComboBox] = {}
        self._found: dict[str, tuple[str, bool]] = {}
        self._filling = False
        self.save_name.textChanged.connect(self._update_buttons)
        self.saved_names.currentIndexChanged.connect(self._update_buttons)

    # --- loading -----------------------------------------------------------------------

    def initializePage(self) -> None:
        key = (self.owner.path, self.owner.sheet)
        if self._loaded_for == key and self.step is not None:
            return
        self.step = None
        self.table.setRowCount(0)
        self.header_note.setText("")
        self.show_message("")
        self.status.setText("Finding the header row…")
        self._load(key, None)

    def _load(self, key: tuple[str, str], saved_name: str | None) -> None:
        self.completeChanged.emit()
        self._update_buttons()
        self.owner.run(
            load_mapping_step,
            self.owner.session.db,
            key[0],
            key[1],
            saved_name,
            on_success=lambda step: self._loaded(key, step),
            on_failure=self._failed,
            what="reading the file's columns",
        )

    def _loaded(self, key: tuple[str, str], step: MappingStep) -> None:
        self.step = step
        self._loaded_for = key
        self.status.setText("")
        self.show_message(
            f"Loaded the saved mapping '{step.saved_name}'." if step.saved_name else "",
            error=False,
        )
        self._fill(step)
        self.completeChanged.emit()

    def _failed(self, failure: Failure) -> None:
        self.status.setText("")
        self.show_message(failure.message)
        self._update_buttons()
        self.completeChanged.emit()

    def _fill(self, step: MappingStep) -> None:
        guess = step.guess
        sheet = f"sheet '{guess.sheet}'" if self.owner.info_kind == "xlsx" else "the file"
        if guess.is_renewal_list:
            self.header_note.setText(
                f"This is a renewal list exported by Renewal Desk (header on row "
                f"{guess.header_row} of {sheet}): its columns are known, so there is nothing "
                "to match. Stage, next action, owner, due dates and notes are applied; a row "
                "changed in Renewal Desk since the export is listed as a conflict."
            )
        else:
            self.header_note.setText(
                f"The header is on row {guess.header_row} of {sheet}; the rows below it are read."
            )
        self.saved_row.setVisible(not guess.is_renewal_list)
        self.required_note.setVisible(not guess.is_renewal_list)
        self._filling = True
        try:
            self.saved_names.clear()
            self.saved_names.addItems(step.saved_names)
            if step.saved_name:
                self.saved_names.setCurrentText(step.saved_name)
                self.save_name.setText(step.saved_name)
            if guess.is_renewal_list:
                self._fill_renewal_list(guess)
            else:
                self._fill_fields(guess)
        finally:
            self._filling = False
        self.table.resizeRowsToContents()
        self._update_buttons()

    def _fill_fields(self, guess: MappingGuess) -> None:
        headers = [c.header for c in guess.columns if c.header]
        by_field = {c.field: c for c in guess.columns if c.field}
        specs = importing.fields()
        self.table.setColumnCount(3)
        self.table.setHorizontalHeaderLabels(["Field", "Column in the file", "How it was found"])
        self.table.setRowCount(len(specs))
        self.combos = {}
        self._found = {}
        for r, spec in enumerate(specs):
            item = QTableWidgetItem(spec.label + (" *" if spec.required else ""))
            item.setData(Qt.ItemDataRole.UserRole, spec.key)
            if spec.required:
                item.setToolTip("Required: every row needs it")
            self.table.setItem(r, self.FIELD, item)
            combo = QComboBox()
            combo.setAccessibleName(f"Column for {spec.label}")
            combo.addItem(NOT_IMPORTED)
            combo.addItems(headers)
            guessed = by_field.get(spec.key)
            chosen = guess.mapping.get(spec.key) or (guessed.header if guessed else "")
            if chosen and combo.findText(chosen) >= 0:
                combo.setCurrentIndex(combo.findText(chosen))
            if guessed is None:
                found = ("Required: choose its column", True) if spec.required else ("", False)
            elif guessed.matched == "saved mapping":
                found = ("✓ From the saved mapping", False)
            elif guessed.confidence >= 1.0:
                found = ("✓ Recognised", False)
            else:
                found = ("? Partly matches; please check", True)
            self._found[spec.key] = found
            self.table.setItem(r, self.FOUND, QTableWidgetItem(found[0]))
            self._mark(r, found)
            combo.currentIndexChanged.connect(lambda _i, key=spec.key: self._chosen(key))
            self.table.setCellWidget(r, self.COLUMN, combo)
            self.combos[spec.key] = combo

    def _fill_renewal_list(self, guess: MappingGuess) -> None:
        self.combos = {}
        self.table.setColumnCount(3)
        self.table.setHorizontalHeaderLabels(["Column in the file", "Read as", "On import"])
        editable = set(renewal_list.EDITABLE_FIELDS)
        columns = [c for c in guess.columns if c.header]
        self.table.setRowCount(len(columns))
        for r, column in enumerate(columns):
            self.table.setItem(r, 0, QTableWidgetItem(column.header))
            self.table.setItem(r, 1, QTableWidgetItem("✓ Recognised" if column.field else ""))
            if column.field in editable:
                what = "Applied to the renewal"
            elif column.field:
                what = "For reference (not changed)"
            else:
                what = "Ignored"
            self.table.setItem(r, 2, QTableWidgetItem(what))

    def _mark(self, row: int, found: tuple[str, bool]) -> None:
        item = self.table.item(row, self.FOUND)
        if item is None:
            return
        font = QFont(self.table.font())
        font.setBold(found[1])
        item.setFont(font)
        if found[1]:
            item.setForeground(self.palette().color(self.palette().ColorRole.BrightText))

    # --- editing -------------------------------------------------------------------------

    def _chosen(self, key: str) -> None:
        if self._filling:
            return
        header = self.combos[key].currentText()
        self._filling = True
        try:  # one column feeds one field: take it from any other field that had it
            if header != NOT_IMPORTED:
                for other, combo in self.combos.items():
                    if other != key and combo.currentText() == header:
                        combo.setCurrentIndex(0)
                        self._set_found(other, ("", False))
        finally:
            self._filling = False
        self._set_found(key, ("Your choice", False))
        self.completeChanged.emit()

    def _set_found(self, key: str, found: tuple[str, bool]) -> None:
        row = [spec.key for spec in importing.fields()].index(key)
        self._found[key] = found
        self.table.setItem(row, self.FOUND, QTableWidgetItem(found[0]))
        self._mark(row, found)

    def choose(self, key: str, header: str | None) -> None:
        """Pick ``header`` (None: not imported) for the field ``key``, as a user would."""
        combo = self.combos[key]
        index = 0 if header is None else combo.findText(header)
        if index < 0:
            raise ValueError(f"the file has no column {header!r}")
        combo.setCurrentIndex(index)

    def mapping(self) -> dict[str, str | None] | None:
        """field → the header chosen (None: not imported); None for our own renewal list."""
        if self.step is None or self.step.guess.is_renewal_list:
            return None
        return {
            key: (None if combo.currentText() == NOT_IMPORTED else combo.currentText())
            for key, combo in self.combos.items()
        }

    def missing(self) -> list[str]:
        chosen = self.mapping() or {}
        return [
            spec.label for spec in importing.fields() if spec.required and not chosen.get(spec.key)
        ]

    def isComplete(self) -> bool:
        if self.step is None or self.owner.busy:
            return False
        if self.step.guess.is_renewal_list:
            return True
        missing = self.missing()
        if missing:
            self.status.setText(f"Choose the column for {', '.join(missing)} to go on.")
        elif self.status.text().startswith("Choose the column"):
            self.status.setText("")
        return not missing

    # --- saved mappings ------------------------------------------------------------------

    def _update_buttons(self) -> None:
        idle = not self.owner.busy and self.step is not None
        self.load_button.setEnabled(idle and self.saved_names.count() > 0)
        self.save_button.setEnabled(idle and bool(self.save_name.text().strip()))

    def load_saved(self) -> None:
        name = self.saved_names.currentText()
        if not name or self._loaded_for is None:
            return
        self.status.setText(f"Loading the mapping '{name}'…")
        self._load(self._loaded_for, name)

    def save(self) -> None:
        name = self.save_name.text().strip()
        mapping = self.mapping()
        if not name or mapping is None:
            return
        session = self.owner.session
        self.status.setText(f"Saving the mapping '{name}'…")
        self._update_buttons()
        self.owner.run(
            importing.save_mapping,
            session.db,
            session.actor,
            name,
            mapping,
            on_success=lambda _none: self._saved(name),
            on_failure=self._failed,
            what="saving the mapping",
            changes=MAPPING_CHANGES,
        )

    def _saved(self, name: str) -> None:
        self.status.setText("")
        self.show_message(f"Saved the mapping as '{name}'.", error=False)
        if self.saved_names.findText(name) < 0:
            names = sorted([*self._names(), name], key=str.casefold)
            self.saved_names.clear()
            self.saved_names.addItems(names)
        self.saved_names.setCurrentText(name)
        self._update_buttons()

    def _names(self) -> list[str]:
        return [self.saved_names.itemText(i) for i in range(self.saved_names.count())]


class PreviewPage(_Page):
    """Every row's fate, before anything is written."""

    KIND, ROW, COLUMN, PROBLEM = 0, 1, 2, 3

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__(
            wizard,
            "Check the preview",
            "What the import would do, row by row. Nothing has been written yet.",
        )
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Import")
        theme.set_role(wizard.button(QWizard.WizardButton.CommitButton), "primary")
        self.progress = ProgressRow("Preview")
        self.progress.cancel_requested.connect(self.owner.cancel_job)
        self.layout_.addWidget(self.progress)
        self.counts = CountsPanel()
        self.counts.setVisible(False)
        self.layout_.addWidget(self.counts)
        self.summary = _label("")
        self.layout_.addWidget(self.summary)
        self.problems_title = QLabel("Rows that will not be imported")
        self.problems_title.setFont(theme.scaled_font(self.problems_title, 1.05, bold=True))
        self.layout_.addWidget(self.problems_title)
        self.problems = _table(["", "Row", "Column", "Problem"], "Rows that will not be imported")
        head = self.problems.horizontalHeader()
        for column in (self.KIND, self.ROW, self.COLUMN):
            head.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(self.PROBLEM, QHeaderView.ResizeMode.Stretch)
        self.problems.setWordWrap(True)
        self.problems.setItemDelegateForColumn(self.PROBLEM, WrappingDelegate(self.problems))
        self.layout_.addWidget(self.problems, 1)
        self.layout_.addWidget(self.message)
        self.parsed: importing.ParsedFile | None = None
        self.result: ImportResult | None = None

    def initializePage(self) -> None:
        self.parsed = self.result = None
        self.counts.setVisible(False)
        self.summary.setText("")
        self.problems_title.setVisible(False)
        self.problems.setVisible(False)
        self.problems.setRowCount(0)
        self.show_message("")
        self.progress.start("Reading the file…")
        session = self.owner.session
        self.owner.run(
            read_and_preview,
            session.db,
            session.actor,
            self.owner.path,
            self.owner.sheet,
            self.owner.mapping_page.mapping(),
            progress=self.progress.report,
            cancellable=True,
            on_success=self._previewed,
            on_failure=self._failed,
            what="previewing the import",
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self.problems.resizeRowsToContents)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        QTimer.singleShot(0, self.problems.resizeRowsToContents)  # long reasons wrap

    def cleanupPage(self) -> None:  # Back: stop a preview still running
        self.owner.cancel_job()
        self.progress.stop()

    def _previewed(self, outcome: tuple[importing.ParsedFile, ImportResult]) -> None:
        self.progress.stop()
        self.parsed, self.result = outcome
        result = self.result
        self.counts.show_counts(result, committed=False)
        self.counts.setVisible(True)
        writes = result.created + result.updated
        if writes:
            text = (
                f"Import writes {count(writes)} row{'s' if writes != 1 else ''} in one go"
                + (
                    f", with {count(result.accounts_created)} new accounts"
                    if result.accounts_created
                    else ""
                )
                + "; the rows listed below are left out."
            )
        else:
            text = "Nothing to write: every row is already in the book or left out."
        self.summary.setText(text)
        rows = problem_rows(result)
        self.problems.setRowCount(len(rows))
        for r, (kind, rejection) in enumerate(rows):
            cells = (kind, str(rejection.row), rejection.column or "", rejection.reason)
            for c, text_ in enumerate(cells):
                item = QTableWidgetItem(text_)
                item.setToolTip(rejection.message)
                if c == self.ROW:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.problems.setItem(r, c, item)
        self.problems_title.setVisible(bool(rows))
        self.problems.setVisible(bool(rows))
        QTimer.singleShot(0, self.problems.resizeRowsToContents)  # once laid out
        self.completeChanged.emit()
        self.owner.button(QWizard.WizardButton.CommitButton).setFocus()  # Enter imports

    def _failed(self, failure: Failure) -> None:
        self.progress.stop()
        self.show_message(failure.message, error=not failure.cancelled)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.result is not None and not self.owner.busy

    def problem_texts(self) -> list[str]:
        """Each row of the problems table as "row N, Column: reason"."""
        out = []
        for r in range(self.problems.rowCount()):
            cell = self.problems.item(r, self.ROW)
            out.append(cell.toolTip() if cell is not None else "")
        return out


def problem_rows(result: ImportResult) -> list[tuple[str, Rejection]]:
    """The rows left out, by row number: rejected (a duplicate said so), in conflict, and
    the warnings about rows that are imported but worth a look."""
    rows: list[tuple[str, Rejection]] = []
    for r in result.rejections:
        rows.append(("Duplicate" if is_duplicate(r) else "Rejected", r))
    rows.extend(("Conflict", r) for r in result.conflict_list)
    rows.extend(("Warning", r) for r in result.warnings)
    order = {"Rejected": 0, "Duplicate": 0, "Conflict": 0, "Warning": 1}
    rows.sort(key=lambda kr: (order[kr[0]], kr[1].row, kr[1].column or ""))
    return rows


class ImportPage(_Page):
    """The import itself: progress and Cancel, then what was written."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__(wizard, "Import", "Every accepted row is written in one transaction.")
        self.progress = ProgressRow("Import")
        self.progress.cancel_requested.connect(self.owner.cancel_job)
        self.layout_.addWidget(self.progress)
        self.counts = CountsPanel()
        self.counts.setVisible(False)
        self.layout_.addWidget(self.counts)
        self.summary = _label("")
        self.summary.setAccessibleName("Import summary")
        self.layout_.addWidget(self.summary)
        self.layout_.addWidget(self.message)
        self.retry_button = QPushButton("&Try again")
        self.retry_button.setAccessibleName("Try the import again")
        self.retry_button.clicked.connect(self.start)
        self.retry_button.setVisible(False)
        retry = QHBoxLayout()
        retry.addWidget(self.retry_button)
        retry.addStretch(1)
        self.layout_.addLayout(retry)
        self.layout_.addStretch(1)
        self.result: ImportResult | None = None
        self.failure: Failure | None = None

    def initializePage(self) -> None:
        self.start()

    def start(self) -> None:
        parsed = self.owner.preview_page.parsed
        if parsed is None or self.owner.busy:
            return
        self.result = self.failure = None
        self.counts.setVisible(False)
        self.summary.setText("")
        self.show_message("")
        self.retry_button.setVisible(False)
        self.progress.start("Importing…")
        session = self.owner.session
        self.owner.run(
            commit_parsed,
            session.db,
            session.actor,
            parsed,
            progress=self.progress.report,
            cancellable=True,
            on_success=self._imported,
            on_failure=self._failed,
            what="importing the list",
            changes=IMPORT_CHANGES,
        )
        self.completeChanged.emit()

    def _imported(self, result: ImportResult) -> None:
        self.progress.stop()
        self.result = result
        self.counts.show_counts(result, committed=True)
        self.counts.setVisible(True)
        self.summary.setText(finished_sentence(result))
        self.owner.imported.emit(result)
        self.completeChanged.emit()

    def _failed(self, failure: Failure) -> None:
        self.progress.stop()
        self.failure = failure
        text = failure.message
        if failure.cancelled and "nothing was written" not in text:
            text = "The import was cancelled; nothing was written."
        self.show_message(text, error=not failure.cancelled)
        self.retry_button.setVisible(True)
        self.owner.import_failed.emit(failure)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return not self.owner.busy


def finished_sentence(result: ImportResult) -> str:
    name = Path(result.file).name
    parts = [f"{count(result.created)} created", f"{count(result.updated)} updated"]
    parts.append(f"{count(result.unchanged)} unchanged")
    text = f"Imported {name}: " + ", ".join(parts)
    if result.accounts_created:
        text += f" ({count(result.accounts_created)} new accounts)"
    left_out = result.rejected + result.conflicts
    if left_out:
        text += f"; {count(left_out)} row{'s' if left_out != 1 else ''} left out"
    return text + "."


# --- the wizard ----------------------------------------------------------------------------


class ImportWizard(QWizard):
    """Open it with :meth:`open` (window-modal, non-blocking)."""

    FILE, SHEET, MAPPING, PREVIEW, IMPORT = range(5)

    imported = Signal(object)
    """The :class:`ImportResult` of a finished import."""
    import_failed = Signal(object)
    """The :class:`Failure` of an import that failed or was cancelled."""

    def __init__(
        self,
        executor: DatabaseExecutor,
        session: DeskSession,
        parent: QWidget | None = None,
        *,
        path: str | Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("importWizard")
        self.setWindowTitle("Import an Excel list")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setButtonText(QWizard.WizardButton.FinishButton, "&Close")
        self.executor = executor
        self.session = session
        self.job: Job | None = None
        self._job_cancellable = False
        self._closed = False
        self.info: FileInfo | None = None
        self.file_page = FilePage(self)
        self.sheet_page = SheetPage(self)
        self.mapping_page = MappingPage(self)
        self.preview_page = PreviewPage(self)
        self.import_page = ImportPage(self)
        for page_id, page in (
            (self.FILE, self.file_page),
            (self.SHEET, self.sheet_page),
            (self.MAPPING, self.mapping_page),
            (self.PREVIEW, self.preview_page),
            (self.IMPORT, self.import_page),
        ):
            self.setPage(page_id, page)
        self.setStartId(self.FILE)
        self.resize(*WIZARD_SIZE)
        if path is not None:
            self.file_page.path.setText(str(path))
        if not session.may(Action.IMPORT_RUN):  # the entry points are disabled; belt and braces
            self.file_page.show_message(session.refusal(Action.IMPORT_RUN))
            self.file_page.path.setEnabled(False)
            self.file_page.browse_button.setEnabled(False)

    # --- the file chosen -----------------------------------------------------------------

    def set_file(self, info: FileInfo) -> None:
        self.info = info

    @property
    def path(self) -> str:
        return self.info.path if self.info is not None else ""

    @property
    def info_kind(self) -> str:
        return self.info.kind if self.info is not None else ""

    @property
    def sheet(self) -> str:
        if self.info is None:
            return ""
        if len(self.info.sheets) <= 1:
            return self.info.default_sheet
        return self.sheet_page.chosen or self.info.default_sheet

    # --- jobs ----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.job is not None

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_success: Callable[[Any], None],
        on_failure: Callable[[Failure], None],
        **kwargs: Any,
    ) -> Job:
        """Submit ``fn`` to the executor as this wizard's one running job."""

        def succeeded(result: Any) -> None:
            if self._closed:  # a quick step that finished after the wizard was closed
                self.job = None
                return
            self._job_done()
            on_success(result)

        def failed(failure: Failure) -> None:
            if self._closed:
                self.job = None
                return
            self._job_done()
            on_failure(failure)

        self._job_cancellable = bool(kwargs.get("cancellable"))

        self.job = self.executor.submit(
            fn, *args, on_success=succeeded, on_failure=failed, **kwargs
        )
        self._busy_changed()
        return self.job

    def _job_done(self) -> None:
        self.job = None
        self._busy_changed()

    def _busy_changed(self) -> None:
        page = self.currentPage()
        if isinstance(page, _Page):
            page.completeChanged.emit()
        self.mapping_page._update_buttons()
        back = self.button(QWizard.WizardButton.BackButton)
        if self.busy:
            back.setEnabled(False)

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            for page in (self.preview_page, self.import_page):
                if page.progress.isVisible():
                    page.progress.cancelling()

    def reject(self) -> None:
        """Cancel (the button, Esc, closing the window): while the preview or the import
        runs, stop it and stay open to say what happened; otherwise close (a quick step
        still running, such as opening the file, finishes unseen)."""
        if self.busy and self._job_cancellable:
            self.cancel_job()
            return
        super().reject()

    def done(self, result: int) -> None:
        if self.busy and result == QWizard.DialogCode.Accepted:
            return
        self._closed = True
        super().done(result)

    def open(self) -> None:
        self._closed = False
        super().open()
