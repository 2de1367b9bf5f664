"""The Admin page: users and roles, pipeline stages, checklist templates, auto-renewal
plans, the database connection, and the timer service.

Each section is a small screen of its own: a table (a :class:`RowsModel`, the data is
small) and a form. Every read and write goes through the database executor; a write names
the tables it changes, so the board and the other pages refresh themselves. What the
signed-in role may not do is disabled with the reason as its tooltip, and the services
refuse it anyway. Refusals show as one sentence under the section.

No lost work, as in the renewal panel: a refresh (a colleague's change arriving through the
live feed, a save broadcast, going back online) never replaces what the admin has typed or
ticked in a form. Each form remembers what it last loaded into each field
(:class:`KeptEdits`); a field that differs from that is being edited and keeps its value,
every other field shows the new stored value, and when the stored value of a field being
edited changed meanwhile the form says so ("Saved meanwhile: …") with a button that takes
the saved values instead. Choosing another row in the list fills the form afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSettings,
    Qt,
    Signal,
)
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.domain.enums import (
    LINES_OF_BUSINESS,
    AccessLevel,
    AutoRenewalState,
    Role,
    StageKind,
)
from desktop_app.domain.permissions import Action
from desktop_app.domain.stages import CRITERIA
from desktop_app.engine import timer
from desktop_app.services import admin, auto_renewals, connection, users
from desktop_app.services.admin import (
    AgencySettings,
    PlanUsage,
    StageInfo,
    TemplateInfo,
    TimerStatus,
)
from desktop_app.services.connection import ConnectionCheck, ConnectionInfo, SavedConnection
from desktop_app.services.users import UserInfo
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure
from desktop_app.ui.page import Page
from desktop_app.ui.session import DeskSession
from desktop_app.ui.timer_host import TIMER_ENV_VAR, TimerHost, timer_enabled

ROLE_NAMES = {
    Role.PRODUCER: "Producer",
    Role.CSR: "CSR",
    Role.MANAGER: "Manager",
    Role.ADMIN: "Admin",
}
KIND_NAMES = {StageKind.OPEN: "Open", StageKind.WON: "Won", StageKind.LOST: "Lost"}
ACCESS_NAMES = {
    AccessLevel.STANDARD: "Standard",
    AccessLevel.SENSITIVE: "Sensitive",
    AccessLevel.CONFIDENTIAL: "Confidential",
}
STATE_NAMES = {
    AutoRenewalState.ACTIVE: "active",
    AutoRenewalState.ISSUED: "issued",
    AutoRenewalState.DO_NOT_RENEW: "do not renew",
    AutoRenewalState.TERMINATED: "terminated",
    AutoRenewalState.DISCARDED: "discarded",
    AutoRenewalState.ERROR: "in error",
    AutoRenewalState.INVALIDATED: "invalidated",
}
TICK_CHANGES = frozenset({"renewals", "auto_renewals", "notices", "document_requirements"})
SQLITE_FILTER = "Renewal Desk database (*.sqlite3 *.sqlite *.db);;All files (*)"


def choose_sqlite_file(parent: QWidget | None, directory: str) -> str:
    """Ask where the SQLite file is (or should be); "" when cancelled. Tests replace this."""
    path, _selected = QFileDialog.getSaveFileName(
        parent,
        "Choose the database file",
        directory,
        SQLITE_FILTER,
        options=QFileDialog.Option.DontConfirmOverwrite,
    )
    return path


# --------------------------------------------------------------------------- small helpers


def _label(text: str = "", *, role: str | None = None, wrap: bool = False) -> QLabel:
    label = QLabel(text)
    if role:
        label.setProperty("role", role)
    label.setWordWrap(wrap)
    return label


def _card() -> QFrame:
    frame = QFrame()
    frame.setObjectName("card")
    frame.setFrameShape(QFrame.Shape.NoFrame)
    return frame


def _caption(text: str, parent: QWidget) -> QLabel:
    label = _label(text)
    label.setFont(theme.scaled_font(parent, 1.05, bold=True))
    return label


def _button(text: str, name: str, *, tip: str = "", shortcut: str = "") -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name)
    if shortcut:
        button.setShortcut(shortcut)
        tip = f"{tip} ({shortcut})" if tip else f"{name} ({shortcut})"
    if tip:
        button.setToolTip(tip)
    return button


def _table(model: QAbstractTableModel, name: str) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setAccessibleName(name)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 14)
    head = view.horizontalHeader()
    head.setHighlightSections(False)
    head.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    head.setStretchLastSection(True)
    return view


def _size_columns(view: QTableView, widths: Sequence[int], stretch: int | None = None) -> None:
    """Column widths in characters ("M"s) so they follow the font; one column stretches.

    Applied again after every model reset, which puts the sections back to the default.
    """
    head = view.horizontalHeader()
    head.setStretchLastSection(stretch is None)

    def apply() -> None:
        em = view.fontMetrics().horizontalAdvance("M")
        for column, width in enumerate(widths):
            if column == stretch:
                head.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
            else:
                head.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
                head.resizeSection(column, width * em)

    apply()
    view.model().modelReset.connect(apply)


def short_moment(moment: datetime | None, tz: tzinfo) -> str:
    """A moment on the agency's wall clock, compact for a table: 03/14/2026 9:05 AM."""
    if moment is None:
        return "—"
    local = moment.astimezone(tz)
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return f"{local:%m/%d/%Y} {hour}:{local.minute:02d} {half}"


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def lead_text(days: int | None) -> str:
    return "manual" if days is None else f"{days} days"


def _same(a: Any, b: Any) -> bool:
    """Whether two field values are the same as far as saving goes (text is saved
    without its surrounding spaces)."""
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    return bool(a == b)


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _quoted(text: str) -> str:
    return f"‘{text}’" if text.strip() else "none"


# --------------------------------------------------------------------------- no lost work


@dataclass(frozen=True)
class _Field:
    read: Callable[[], Any]
    write: Callable[[Any], None]
    words: Callable[[Any], str]


_NO_RECORD = object()
_BEING_TYPED = object()
"""What a table cell whose editor is open holds, as far as a refresh is concerned."""


class KeptEdits(QWidget):
    """What one admin form last loaded into each of its fields, so that a refresh keeps
    what the admin is editing (see the module notes), and the line under the form that
    says what was saved meanwhile, with a button to take that instead.

    A field is being edited when its value differs from the one last loaded into it (the
    renewal panel's rule). :meth:`show` puts the stored values of a record into the form:
    all of them when the record is not the one shown before, else only into fields
    nobody is editing.
    """

    def __init__(self, subject: str) -> None:
        super().__init__()
        self.subject = subject
        self._fields: dict[str, _Field] = {}
        self._record: object = _NO_RECORD
        self._loaded: dict[str, Any] = {}
        self._conflicts: dict[str, Any] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        self.note = _label("", role="error", wrap=True)
        self.note.setAccessibleName(f"Saved meanwhile: {subject}")
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.take_button = _button(
            "Use the saved values",
            f"Replace my changes to the {subject} with the saved values",
            tip="Put what was saved meanwhile into the form; your unsaved changes go",
        )
        self.take_button.setAutoDefault(False)
        self.take_button.clicked.connect(self.take_saved)
        layout.addWidget(self.note, 1)
        layout.addWidget(self.take_button, 0, Qt.AlignmentFlag.AlignTop)
        self.setVisible(False)

    def field(
        self,
        key: str,
        read: Callable[[], Any],
        write: Callable[[Any], None],
        words: Callable[[Any], str],
    ) -> None:
        self._fields[key] = _Field(read, write, words)

    def has(self, key: str) -> bool:
        return key in self._fields

    def show(self, record: object, values: Mapping[str, Any]) -> None:
        """Put ``record``'s stored ``values`` into the form, keeping what is being edited
        when it is the record shown before."""
        same = record == self._record
        self._record = record
        if not same:
            self._loaded = {}
            self._conflicts = {}
        for key, value in values.items():
            field = self._fields[key]
            previous = self._loaded.get(key, value)
            self._loaded[key] = value
            typed = field.read()
            if same and not _same(typed, previous) and not _same(typed, value):
                if not _same(value, previous):
                    self._conflicts[key] = value  # saved meanwhile, under the admin's edit
                continue
            self._conflicts.pop(key, None)
            if not (same and _same(typed, value)):
                field.write(value)
        self._show_conflicts()

    def saved(self) -> None:
        """What the form holds was just saved: it is what is stored now (so a stored
        value the service tidied, e.g. trimmed, is no edit of the admin's)."""
        for key in self._loaded:
            value = self._fields[key].read()
            if value is not _BEING_TYPED:
                self._loaded[key] = value
        self._conflicts = {}
        self._show_conflicts()

    def forget(self) -> None:
        """The next :meth:`show` fills every field (a new session, a new set of rows)."""
        self._record = _NO_RECORD
        self._loaded = {}
        self._conflicts = {}
        self._show_conflicts()

    def take_saved(self) -> None:
        """Put the stored values back into every field (dropping the admin's changes)."""
        for key, value in self._loaded.items():
            if not _same(self._fields[key].read(), value):
                self._fields[key].write(value)
        self._conflicts = {}
        self._show_conflicts()

    def _show_conflicts(self) -> None:
        parts = [
            self._fields[key].words(value)
            for key, value in self._conflicts.items()
            if key in self._fields
        ]
        text = ""
        if parts:
            text = (
                f"Saved meanwhile: {_join(parts)}. Your unsaved changes are kept above; "
                "Save puts yours in its place."
            )
        self.note.setText(text)
        self.setAccessibleDescription(text)
        self.setVisible(bool(parts))


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Column:
    header: str
    text: Callable[[Any], str]
    right: bool = False
    tooltip: Callable[[Any], str | None] | None = None


_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class RowsModel(QAbstractTableModel):
    """A read-only table over a short list of service dataclasses."""

    def __init__(self, columns: Sequence[Column], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = tuple(columns)
        self._rows: list[Any] = []

    def set_rows(self, rows: Iterable[Any]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    @property
    def rows(self) -> list[Any]:
        return list(self._rows)

    def row(self, index: int) -> Any:
        return self._rows[index] if 0 <= index < len(self._rows) else None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if not 0 <= index.column() < len(self.columns):
            return None
        row, column = self._rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.right else _LEFT
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(row)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].header
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if self.columns[section].right else _LEFT
        return None


class WindowDaysModel(QAbstractTableModel):
    """Renewal window days per line of business; the Days column is editable."""

    HEADERS = ("Code", "Line of business", "Window")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[list[Any]] = []
        self._saved: dict[str, int] = {}
        self.editable = False

    def set_windows(self, windows: dict[str, int]) -> None:
        self.beginResetModel()
        self._saved = dict(windows)
        self._rows = [[lob, LINES_OF_BUSINESS.get(lob, lob), days] for lob, days in windows.items()]
        self.endResetModel()

    def windows(self) -> dict[str, int]:
        return {lob: days for lob, _name, days in self._rows}

    def changed(self) -> dict[str, int]:
        return {lob: days for lob, days in self.windows().items() if self._saved.get(lob) != days}

    def days(self, lob: str) -> int | None:
        return next((days for code, _name, days in self._rows if code == lob), None)

    def put(self, lob: str, days: int) -> None:
        """Show ``days`` for ``lob`` (one cell changes; the rest of the table stays)."""
        for row, line in enumerate(self._rows):
            if line[0] == lob:
                line[2] = days  # an open editor of the cell shows it too
                index = self.index(row, 2)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])

    def remember(self, windows: dict[str, int]) -> None:
        """What is stored now: :meth:`changed` is measured against it."""
        self._saved = dict(windows)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == 2 and self.editable:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if not 0 <= index.column() < len(self.HEADERS):
            return None
        value = self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{value} days" if index.column() == 2 else str(value)
        if role == Qt.ItemDataRole.EditRole:
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if index.column() == 2 else _LEFT
        return None

    def setData(
        self,
        index: QModelIndex | QPersistentModelIndex,
        value: Any,
        role: int = Qt.ItemDataRole.EditRole,
    ) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid() or index.column() != 2:
            return False
        try:
            days = int(value)
        except (TypeError, ValueError):
            return False
        if not 1 <= days <= 365:
            return False
        self._rows[index.row()][2] = days
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])
        return True

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if section == 2 else _LEFT
        return None


# --------------------------------------------------------------------------- sections


class Section(QWidget):
    """One admin screen (a tab): what it is for, its controls, and a message line."""

    title = ""
    description = ""
    action = Action.SETTINGS_MANAGE
    """What the signed-in role must be allowed to do to change anything here."""
    kinds: frozenset[str] = frozenset()
    """Changes (table names) after which this section reloads."""

    loaded = Signal()
    """The section showed freshly loaded data (for tests)."""

    def __init__(self, page: AdminPage) -> None:
        super().__init__()
        self.page = page
        self.session: DeskSession | None = None
        self.allowed = False
        self.refusal = ""
        self.stale = True
        self.loading = False
        self._load_again = False
        self.writing = False
        self._tips: dict[QWidget, str] = {}
        self._conditions: dict[QWidget, tuple[bool, str]] = {}
        self.forms: list[KeptEdits] = []
        """The section's edit forms (each keeps what is being edited across refreshes)."""

        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 16)
        outer.setSpacing(10)
        self.intro = _label(self.description, role="muted", wrap=True)
        self.intro.setVisible(bool(self.description))
        outer.addWidget(self.intro)
        self.denied = _label("", role="error", wrap=True)
        self.denied.setAccessibleName(f"{self.title}: not allowed")
        self.denied.setVisible(False)
        outer.addWidget(self.denied)
        self.body = QVBoxLayout()
        self.body.setSpacing(12)
        outer.addLayout(self.body, 1)
        self.message = _label("", role="muted", wrap=True)
        self.message.setAccessibleName(f"{self.title} message")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setVisible(False)
        outer.addWidget(self.message)

    @property
    def executor(self) -> DatabaseExecutor:
        return self.page.executor

    def kept_edits(self, subject: str) -> KeptEdits:
        """A new form memory (and its "Saved meanwhile" line) for the form of ``subject``."""
        form = KeptEdits(subject)
        self.forms.append(form)
        return form

    # --- permissions ----------------------------------------------------------------

    def guard(self, widget: QWidget, tip: str | None = None) -> None:
        """``widget`` changes data: enabled only for roles that may (and when its
        condition holds); its tooltip says why not."""
        self._tips[widget] = widget.toolTip() if tip is None else tip
        self._conditions.setdefault(widget, (True, ""))

    def enable(self, widget: QWidget, condition: bool = True, why: str = "") -> None:
        self._conditions[widget] = (condition, why)
        self._apply(widget)

    def _apply(self, widget: QWidget) -> None:
        condition, why = self._conditions.get(widget, (True, ""))
        ok = self.allowed and condition and not self.writing
        widget.setEnabled(ok)
        if not self.allowed:
            tip = self.refusal
        elif not condition and why:
            tip = why
        else:
            tip = self._tips.get(widget, "")
        widget.setToolTip(tip)
        widget.setAccessibleDescription(tip if not ok else "")

    def apply_permissions(self) -> None:
        for widget in self._tips:
            self._apply(widget)

    def set_session(self, session: DeskSession) -> None:
        self.session = session
        self.allowed = session.may(self.action)
        self.refusal = session.refusal(self.action)
        self.denied.setText(self.refusal)
        self.denied.setVisible(not self.allowed)
        self.stale = True
        for form in self.forms:
            form.forget()  # someone else signed in: fill the forms afresh
        self.say("")
        self.apply_permissions()

    # --- messages -------------------------------------------------------------------

    def say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        theme.set_role(self.message, "error" if error else "muted")
        self.message.setVisible(bool(text))
        if text:
            self.page.message.emit(text)

    # --- reading and writing --------------------------------------------------------

    def load(self) -> None:
        """Fetch what the section shows (through the executor)."""
        if self.session is None or self.executor.closed:
            return
        if self.loading:
            self._load_again = True
            return
        self.loading = True
        self.stale = False
        fn, args = self.fetch()
        self.executor.submit(
            fn,
            *args,
            on_success=self._loaded,
            on_failure=self._load_failed,
            what=f"loading {self.title.lower()}",
        )

    def fetch(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        raise NotImplementedError

    def show_data(self, data: Any) -> None:
        raise NotImplementedError

    def _loaded(self, data: Any) -> None:
        self.loading = False
        if self._load_again:
            self._load_again = False
            self.load()
            return
        self.show_data(data)
        self.loaded.emit()

    def _load_failed(self, failure: Failure) -> None:
        self.loading = False
        self.say(failure.message, error=True)

    def load_if_stale(self) -> None:
        if self.stale:
            self.load()

    def write(
        self,
        fn: Callable[..., Any],
        *args: Any,
        what: str,
        changes: Iterable[str],
        done: Callable[[Any], str] | None = None,
        form: KeptEdits | None = None,
        **kwargs: Any,
    ) -> None:
        """Run a service write as the signed-in user; say how it went in one sentence.
        ``form``: the form whose values this saves (they are what is stored, once saved)."""
        if self.session is None or self.writing or self.executor.closed:
            return
        self.writing = True
        self.apply_permissions()

        def succeeded(result: Any) -> None:
            self._write_finished()
            if form is not None:
                form.saved()
            self.say(done(result) if done is not None else "Saved.")

        def failed(failure: Failure) -> None:
            self._write_finished()
            self.say(failure.message, error=True)

        self.executor.submit(
            fn,
            self.session.db,
            self.session.actor,
            *args,
            on_success=succeeded,
            on_failure=failed,
            what=what,
            changes=changes,
            **kwargs,
        )

    def _write_finished(self) -> None:
        self.writing = False
        self.apply_permissions()


def _selected_row(view: QTableView) -> int:
    rows = view.selectionModel().selectedRows()
    return rows[0].row() if rows else -1


def _select_row(view: QTableView, row: int) -> None:
    model = view.model()
    if 0 <= row < model.rowCount():
        view.selectRow(row)
        view.scrollTo(model.index(row, 0))
    else:
        view.clearSelection()


# --------------------------------------------------------------------------- users


class UsersSection(Section):
    title = "Users and roles"
    description = (
        "Who works in Renewal Desk and what their role lets them do. A deactivated user "
        "can no longer sign in; their history and book stay."
    )
    action = Action.USER_MANAGE
    kinds = frozenset({"users"})

    def __init__(self, page: AdminPage) -> None:
        super().__init__(page)
        self.model = RowsModel(
            (
                Column("User name", lambda u: u.username),
                Column("Name", lambda u: u.full_name),
                Column("Role", lambda u: ROLE_NAMES[u.role]),
                Column("Status", lambda u: "Active" if u.active else "Deactivated"),
            ),
            self,
        )
        self.table = _table(self.model, "Users")
        _size_columns(self.table, (14, 18, 10, 12), stretch=1)
        self.body.addWidget(self.table, 1)

        forms = QHBoxLayout()
        forms.setSpacing(14)
        # the selected user
        edit = _card()
        grid = QGridLayout(edit)
        grid.setContentsMargins(16, 12, 16, 14)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(8)
        self.edit_caption = _caption("Selected user", self)
        grid.addWidget(self.edit_caption, 0, 0, 1, 3)
        self.edit_name = QLineEdit()
        self.edit_name.setAccessibleName("Full name of the selected user")
        self.edit_role = self._role_combo("Role of the selected user")
        grid.addWidget(_label("Full name"), 1, 0)
        grid.addWidget(self.edit_name, 1, 1, 1, 2)
        grid.addWidget(_label("Role"), 2, 0)
        grid.addWidget(self.edit_role, 2, 1, 1, 2)
        self.form = self.kept_edits("selected user")
        self.form.field(
            "full_name",
            self.edit_name.text,
            self.edit_name.setText,
            lambda name: f"full name {_quoted(name)}",
        )
        self.form.field(
            "role",
            self.edit_role.currentData,
            lambda role: self.edit_role.setCurrentIndex(self.edit_role.findData(role)),
            lambda role: f"role {ROLE_NAMES[Role(role)]}",
        )
        grid.addWidget(self.form, 3, 0, 1, 3)
        self.save_button = _button(
            "Save changes", "Save the selected user", tip="Save the name and role"
        )
        theme.set_role(self.save_button, "primary")
        self.active_button = _button("Deactivate", "Deactivate the selected user")
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addStretch(1)
        buttons.addWidget(self.active_button)
        buttons.addWidget(self.save_button)
        grid.setRowStretch(4, 1)
        grid.addLayout(buttons, 5, 0, 1, 3)
        grid.setColumnStretch(1, 1)
        forms.addWidget(edit, 1)
        # a new user
        add = _card()
        grid = QGridLayout(add)
        grid.setContentsMargins(16, 12, 16, 14)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(8)
        grid.addWidget(_caption("Add a user", self), 0, 0, 1, 3)
        self.new_username = QLineEdit()
        self.new_username.setPlaceholderText("e.g. jsmith")
        self.new_username.setAccessibleName("New user's user name")
        self.new_name = QLineEdit()
        self.new_name.setPlaceholderText("e.g. Jordan Smith")
        self.new_name.setAccessibleName("New user's full name")
        self.new_role = self._role_combo("New user's role")
        self.new_role.setCurrentIndex(list(ROLE_NAMES).index(Role.CSR))
        grid.addWidget(_label("User name"), 1, 0)
        grid.addWidget(self.new_username, 1, 1)
        grid.addWidget(_label("Full name"), 2, 0)
        grid.addWidget(self.new_name, 2, 1)
        grid.addWidget(_label("Role"), 3, 0)
        grid.addWidget(self.new_role, 3, 1)
        self.add_button = _button("Add user", "Add the user", tip="Add this user")
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addStretch(1)
        row.addWidget(self.add_button)
        grid.addLayout(row, 4, 0, 1, 2)
        grid.setColumnStretch(1, 1)
        forms.addWidget(add, 1)
        self.body.addLayout(forms)

        for widget in (
            self.edit_name,
            self.edit_role,
            self.save_button,
            self.active_button,
            self.new_username,
            self.new_name,
            self.new_role,
            self.add_button,
        ):
            self.guard(widget)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        self.save_button.clicked.connect(self.save_user)
        self.active_button.clicked.connect(self.toggle_active)
        self.add_button.clicked.connect(self.add_user)
        self.new_username.returnPressed.connect(self.add_user)
        self._select_name: str | None = None
        self._selected()

    @staticmethod
    def _role_combo(name: str) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(name)
        for role, label in ROLE_NAMES.items():
            combo.addItem(label, role.value)
        return combo

    def fetch(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        assert self.session is not None
        return users.list_staff, (self.session.db,)

    def show_data(self, data: list[UserInfo]) -> None:
        keep = self._select_name or (self.current.username if self.current else None)
        self._select_name = None
        self.model.set_rows(data)
        names = [u.username for u in data]
        _select_row(self.table, names.index(keep) if keep in names else -1)
        self._selected()

    @property
    def current(self) -> UserInfo | None:
        return self.model.row(_selected_row(self.table))

    def select(self, username: str) -> None:
        names = [u.username for u in self.model.rows]
        _select_row(self.table, names.index(username))

    def _selected(self) -> None:
        user = self.current
        me = self.session.user.username if self.session else None
        if user is None:
            self.edit_caption.setText("Selected user: choose one in the list")
            self.edit_name.clear()
            self.form.forget()
        else:
            self.edit_caption.setText(f"Selected user: {user.username}")
            self.form.show(user.username, {"full_name": user.full_name, "role": user.role.value})
            self.active_button.setText("Deactivate" if user.active else "Reactivate")
            self.active_button.setAccessibleName(
                f"{'Deactivate' if user.active else 'Reactivate'} the selected user"
            )
        chosen = user is not None
        self.enable(self.edit_name, chosen, "Choose a user in the list first.")
        self.enable(self.edit_role, chosen, "Choose a user in the list first.")
        self.enable(self.save_button, chosen, "Choose a user in the list first.")
        yourself = chosen and user is not None and user.username == me and user.active
        self.enable(
            self.active_button,
            chosen and not yourself,
            "You cannot deactivate yourself; ask another admin to do it."
            if yourself
            else "Choose a user in the list first.",
        )

    def save_user(self) -> None:
        user = self.current
        if user is None:
            return
        role = Role(self.edit_role.currentData())
        name = self.edit_name.text().strip()
        self.write(
            _save_user,
            user,
            role,
            name,
            what=f"saving the user {user.username}",
            changes={"users"},
            form=self.form,
            done=lambda u: f"Saved {u.username}: {u.full_name}, {ROLE_NAMES[u.role]}.",
        )

    def toggle_active(self) -> None:
        user = self.current
        if user is None:
            return
        if user.active:
            self.write(
                users.deactivate_user,
                user.username,
                expected_version=user.version,
                what=f"deactivating {user.username}",
                changes={"users"},
                done=lambda u: f"{u.full_name} is deactivated and can no longer sign in.",
            )
        else:
            self.write(
                users.reactivate_user,
                user.username,
                expected_version=user.version,
                what=f"reactivating {user.username}",
                changes={"users"},
                done=lambda u: f"{u.full_name} can sign in again.",
            )

    def add_user(self) -> None:
        username = self.new_username.text().strip()
        name = self.new_name.text().strip() or None
        role = Role(self.new_role.currentData())

        def added(user: UserInfo) -> str:
            self.new_username.clear()
            self.new_name.clear()
            self._select_name = user.username
            added = f"Added {user.username} ({user.full_name}) as {ROLE_NAMES[user.role]}."
            if user.first_password:  # a shared office's database: their login was made
                added += (
                    f" They sign in with the login {user.username} and this first password "
                    f"(shown only now): {user.first_password}"
                )
            return added

        self.write(
            users.add_user,
            username,
            role,
            name,
            what=f"adding the user {username}",
            changes={"users"},
            done=added,
        )


def _save_user(db: Any, actor: Any, user: UserInfo, role: Role, full_name: str) -> UserInfo:
    """The selected user's role, then their name (each its own unit of work)."""
    info = user
    if role is not user.role:
        info = users.set_role(db, actor, user.username, role, expected_version=user.version)
    if full_name != user.full_name:
        info = users.update_user(
            db, actor, user.username, full_name=full_name, expected_version=info.version
        )
    return info


# --------------------------------------------------------------------------- stages


def _criteria_text(stage: StageInfo) -> str:
    return ", ".join(code.replace("_", " ") for code in stage.entry_criteria) or "—"


def _criteria_tip(stage: StageInfo) -> str:
    if not stage.entry_criteria:
        return "No entry criteria"
    return "Needs " + "; ".join(CRITERIA[c].label for c in stage.entry_criteria if c in CRITERIA)


class AddStageDialog(QDialog):
    """Name, place and SLA of a new open stage."""

    def __init__(self, stages: Sequence[StageInfo], after: str | None, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a stage")
        form = QFormLayout(self)
        form.setContentsMargins(20, 18, 20, 14)
        form.setSpacing(10)
        self.name = QLineEdit()
        self.name.setAccessibleName("Name of the new stage")
        self.name.setPlaceholderText("e.g. Underwriting review")
        self.after = QComboBox()
        self.after.setAccessibleName("The stage it comes after")
        for stage in stages:
            if stage.kind is StageKind.OPEN:
                self.after.addItem(stage.name, stage.key)
        if after is not None and self.after.findData(after) >= 0:
            self.after.setCurrentIndex(self.after.findData(after))
        self.sla = QSpinBox()
        self.sla.setAccessibleName("SLA days of the new stage")
        self.sla.setRange(0, 365)
        self.sla.setSpecialValueText("none")
        self.sla.setSuffix(" days")
        self.sla.setValue(14)
        form.addRow("Name", self.name)
        form.addRow("Comes after", self.after)
        form.addRow("SLA days", self.sla)
        note = _label(
            "A new stage is an open stage. It starts with one entry criterion, a next "
            "action; choose more after adding it.",
            role="muted",
            wrap=True,
        )
        form.addRow(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add stage")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.resize(440, self.sizeHint().height())


class StagesSection(Section):
    title = "Pipeline stages"
    description = (
        "One list of stages for the whole agency: the board, the queues and every report "
        "use it. Entry criteria are checked on every move into a stage."
    )
    action = Action.STAGE_CONFIGURE
    kinds = frozenset({"pipeline_stages", "renewals"})

    def __init__(self, page: AdminPage) -> None:
        super().__init__(page)
        self.model = RowsModel(
            (
                Column("#", lambda s: str(s.position), right=True),
                Column("Stage", lambda s: s.name),
                Column("Kind", lambda s: KIND_NAMES[s.kind]),
                Column("Entry criteria", _criteria_text, tooltip=_criteria_tip),
                Column("SLA", lambda s: "—" if s.sla_days is None else f"{s.sla_days} days"),
                Column("Renewals", lambda s: f"{s.renewals:,}", right=True),
            ),
            self,
        )
        self.table = _table(self.model, "Pipeline stages")
        _size_columns(self.table, (3, 16, 6, 24, 7, 9), stretch=3)
        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.table, 1)
        side = QVBoxLayout()
        side.setSpacing(8)
        self.up_button = _button("Move up", "Move the stage up", shortcut="Alt+Up")
        self.down_button = _button("Move down", "Move the stage down", shortcut="Alt+Down")
        self.add_button = _button(
            "Add stage…", "Add a stage", tip="Add an open stage after the selected one"
        )
        self.deactivate_button = _button(
            "Deactivate", "Deactivate the stage", tip="Take this added stage off the pipeline"
        )
        for button in (self.up_button, self.down_button, self.add_button, self.deactivate_button):
            side.addWidget(button)
            self.guard(button)
        side.addStretch(1)
        top.addLayout(side)
        self.body.addLayout(top, 1)

        card = _card()
        grid = QGridLayout(card)
        grid.setContentsMargins(16, 12, 16, 14)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(6)
        self.edit_caption = _caption("Selected stage", self)
        grid.addWidget(self.edit_caption, 0, 0, 1, 4)
        self.name = QLineEdit()
        self.name.setAccessibleName("Stage name")
        self.sla = QSpinBox()
        self.sla.setAccessibleName("SLA days")
        self.sla.setRange(1, 365)
        self.sla.setSuffix(" days")
        self.sla.setToolTip("A renewal in this stage longer than this is flagged past SLA")
        grid.addWidget(_label("Name"), 1, 0)
        grid.addWidget(self.name, 1, 1)
        grid.addWidget(_label("SLA"), 1, 2)
        grid.addWidget(self.sla, 1, 3)
        grid.addWidget(
            _label("Entry criteria: a renewal moved here needs", role="muted"), 2, 0, 1, 4
        )
        self.criteria: dict[str, QCheckBox] = {}
        criteria_grid = QGridLayout()
        criteria_grid.setHorizontalSpacing(18)
        criteria_grid.setVerticalSpacing(4)
        for i, criterion in enumerate(CRITERIA.values()):
            box = QCheckBox(criterion.label[0].upper() + criterion.label[1:])
            box.setAccessibleName(f"Entry criterion: {criterion.label}")
            box.setObjectName(f"criterion_{criterion.code}")
            self.criteria[criterion.code] = box
            criteria_grid.addWidget(box, i // 2, i % 2)
            self.guard(box)
        grid.addLayout(criteria_grid, 3, 0, 1, 4)
        self.form = self.kept_edits("stage")
        self.form.field("name", self.name.text, self.name.setText, lambda n: f"name {_quoted(n)}")
        self.form.field("sla", self.sla.value, self.sla.setValue, lambda d: f"SLA {d} days")
        for code, box in self.criteria.items():
            label = CRITERIA[code].label
            self.form.field(
                f"criterion:{code}",
                box.isChecked,
                box.setChecked,
                lambda on, label=label: f"{'needs' if on else 'does not need'} {label}",
            )
        grid.addWidget(self.form, 4, 0, 1, 4)
        self.save_button = _button(
            "Save stage", "Save the stage", tip="Save the name, SLA and entry criteria"
        )
        theme.set_role(self.save_button, "primary")
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addStretch(1)
        row.addWidget(self.save_button)
        grid.addLayout(row, 5, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        self.body.addWidget(card)
        for widget in (self.name, self.sla, self.save_button):
            self.guard(widget)

        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        self.up_button.clicked.connect(lambda: self.move(-1))
        self.down_button.clicked.connect(lambda: self.move(1))
        self.add_button.clicked.connect(self.ask_new_stage)
        self.deactivate_button.clicked.connect(self.deactivate)
        self.save_button.clicked.connect(self.save_stage)
        self._select_key: str | None = None
        self._selected()

    def fetch(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        assert self.session is not None
        return admin.stages_for_admin, (self.session.db,)

    def show_data(self, data: list[StageInfo]) -> None:
        keep = self._select_key or (self.current.key if self.current else None)
        self._select_key = None
        self.model.set_rows(data)
        found = [s.key for s in data]
        _select_row(self.table, found.index(keep) if keep in found else -1)
        self._selected()

    @property
    def current(self) -> StageInfo | None:
        return self.model.row(_selected_row(self.table))

    def select(self, key: str) -> None:
        _select_row(self.table, [s.key for s in self.model.rows].index(key))

    def _selected(self) -> None:
        stage = self.current
        rows = self.model.rows
        index = rows.index(stage) if stage in rows else -1
        chosen = stage is not None
        why = "Choose a stage in the list first."
        if stage is None:
            self.edit_caption.setText("Selected stage: choose one in the list")
            self.form.forget()
        else:
            kind = KIND_NAMES[stage.kind].lower()
            self.edit_caption.setText(f"Selected stage: {stage.name} ({kind})")
            values: dict[str, Any] = {"name": stage.name, "sla": stage.sla_days or 1}
            for code in self.criteria:
                values[f"criterion:{code}"] = code in stage.entry_criteria
            self.form.show(stage.key, values)
        is_open = stage is not None and stage.kind is StageKind.OPEN
        has_sla = stage is not None and (stage.sla_days is not None or is_open)
        self.enable(self.name, chosen, why)
        self.enable(
            self.sla,
            has_sla,
            why if not chosen else "Outcome stages end the pipeline; they have no SLA.",
        )
        for code, box in self.criteria.items():
            if code == "next_action" and is_open:
                self.enable(
                    box, False, "Every open stage needs a next action with an owner and a due date."
                )
            else:
                self.enable(box, chosen, why)
        self.enable(self.save_button, chosen, why)
        self.enable(self.up_button, index > 0, why if not chosen else "It is the first stage.")
        self.enable(
            self.down_button,
            chosen and index < len(rows) - 1,
            why if not chosen else "It is the last stage.",
        )
        self.enable(
            self.add_button,
            is_open,
            why if not chosen else "New stages go after an open stage; choose one.",
        )
        if stage is None:
            self.enable(self.deactivate_button, False, why)
        elif stage.built_in:
            self.enable(
                self.deactivate_button,
                False,
                f"{stage.name} is a standard stage that reports count on; it stays.",
            )
        elif stage.renewals:
            self.enable(
                self.deactivate_button,
                False,
                f"{stage.renewals:,} renewal{'s are' if stage.renewals != 1 else ' is'} in "
                f"{stage.name}; move them to another stage first.",
            )
        else:
            self.enable(self.deactivate_button, True)

    def checked_criteria(self) -> list[str]:
        return [code for code, box in self.criteria.items() if box.isChecked()]

    def save_stage(self) -> None:
        stage = self.current
        if stage is None:
            return
        name = self.name.text().strip()
        has_sla = stage.sla_days is not None or stage.kind is StageKind.OPEN
        self.write(
            admin.update_stage,
            stage.key,
            expected_version=stage.version,
            name=name if name != stage.name else None,
            sla_days=self.sla.value() if has_sla else None,
            entry_criteria=self.checked_criteria(),
            what=f"saving the stage {stage.name}",
            changes={"pipeline_stages"},
            form=self.form,
            done=lambda s: f"Saved {s.name}: {_criteria_tip(s).lower()}.",
        )

    def move(self, offset: int) -> None:
        stage = self.current
        if stage is None:
            return
        self._select_key = stage.key
        self.write(
            admin.reorder_stage,
            stage.key,
            offset,
            expected_version=stage.version,
            what=f"moving the stage {stage.name}",
            changes={"pipeline_stages"},
            done=lambda stages: (
                f"{stage.name} is now stage "
                f"{next(s.position for s in stages if s.key == stage.key)} of {len(stages)}."
            ),
        )

    def ask_new_stage(self) -> None:
        stage = self.current
        dialog = AddStageDialog(self.model.rows, stage.key if stage else None, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.add_stage(
                dialog.name.text(), dialog.after.currentData(), dialog.sla.value() or None
            )
        dialog.deleteLater()

    def add_stage(self, name: str, after: str, sla_days: int | None) -> None:
        def added(stage: StageInfo) -> str:
            self._select_key = stage.key
            return f"Added the stage {stage.name}; choose its entry criteria below."

        self.write(
            admin.add_stage,
            name,
            after=after,
            sla_days=sla_days,
            what=f"adding the stage {name}",
            changes={"pipeline_stages"},
            done=added,
        )

    def deactivate(self) -> None:
        stage = self.current
        if stage is None:
            return
        self.write(
            admin.deactivate_stage,
            stage.key,
            expected_version=stage.version,
            what=f"deactivating the stage {stage.name}",
            changes={"pipeline_stages"},
            done=lambda s: f"{s.name} is off the pipeline; adding it again brings it back.",
        )


# --------------------------------------------------------------------------- templates


def _templates_and_lines(db: Any, line: str) -> tuple[list[str], list[TemplateInfo]]:
    return admin.template_lines(db), admin.list_templates(db, line)


class TemplatesSection(Section):
    title = "Checklist templates"
    description = (
        "The documents each line of business asks for. Changes apply to renewals opened "
        "from now on; renewals already open keep their checklist."
    )
    action = Action.TEMPLATE_CONFIGURE
    kinds = frozenset({"checklist_templates", "policies"})

    def __init__(self, page: AdminPage) -> None:
        super().__init__(page)
        row = QHBoxLayout()
        row.setSpacing(10)
        self.line = QComboBox()
        self.line.setAccessibleName("Line of business")
        self.line.setMinimumContentsLength(28)
        self.line.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        line_label = _label("Line of business")
        line_label.setBuddy(self.line)
        row.addWidget(line_label)
        row.addWidget(self.line)
        row.addStretch(1)
        self.body.addLayout(row)
        self._fill_lines(list(LINES_OF_BUSINESS))

        self.model = RowsModel(
            (
                Column("#", lambda t: str(t.position), right=True),
                Column("Document", lambda t: t.document_type),
                Column("Required", lambda t: "Required" if t.required else "Optional"),
                Column("Access", lambda t: ACCESS_NAMES[t.access_level]),
            ),
            self,
        )
        self.table = _table(self.model, "Checklist documents")
        _size_columns(self.table, (4, 24, 10, 12), stretch=1)
        top = QHBoxLayout()
        top.setSpacing(10)
        top.addWidget(self.table, 1)
        side = QVBoxLayout()
        side.setSpacing(8)
        self.up_button = _button("Move up", "Move the document up", shortcut="Alt+Up")
        self.down_button = _button("Move down", "Move the document down", shortcut="Alt+Down")
        self.remove_button = _button(
            "Remove", "Remove the document", tip="Take this document off the checklist"
        )
        for button in (self.up_button, self.down_button, self.remove_button):
            side.addWidget(button)
            self.guard(button)
        side.addStretch(1)
        top.addLayout(side)
        self.body.addLayout(top, 1)

        card = _card()
        grid = QGridLayout(card)
        grid.setContentsMargins(16, 12, 16, 14)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(8)
        self.edit_caption = _caption("Document", self)
        grid.addWidget(self.edit_caption, 0, 0, 1, 4)
        self.document = QLineEdit()
        self.document.setAccessibleName("Document type")
        self.document.setPlaceholderText("e.g. Loss runs")
        self.required = QCheckBox("Required before marketing")
        self.required.setAccessibleName("Required document")
        self.required.setChecked(True)
        self.access = QComboBox()
        self.access.setAccessibleName("Access level")
        for level, label in ACCESS_NAMES.items():
            self.access.addItem(label, level.value)
        self.access.setToolTip(
            "Standard: everyone; sensitive: the account team and managers; "
            "confidential: managers and admins"
        )
        grid.addWidget(_label("Document type"), 1, 0)
        grid.addWidget(self.document, 1, 1)
        grid.addWidget(_label("Access"), 1, 2)
        grid.addWidget(self.access, 1, 3)
        grid.addWidget(self.required, 2, 1)
        self.form = self.kept_edits("document")
        self.form.field(
            "document_type",
            self.document.text,
            self.document.setText,
            lambda name: f"document type {_quoted(name)}",
        )
        self.form.field(
            "required",
            self.required.isChecked,
            self.required.setChecked,
            lambda on: "required before marketing" if on else "optional",
        )
        self.form.field(
            "access",
            self.access.currentData,
            lambda level: self.access.setCurrentIndex(self.access.findData(level)),
            lambda level: f"access {ACCESS_NAMES[AccessLevel(level)].lower()}",
        )
        grid.addWidget(self.form, 3, 0, 1, 4)
        self.save_button = _button(
            "Save changes", "Save the document", tip="Save the selected document"
        )
        self.add_button = _button(
            "Add to checklist", "Add the document", tip="Add a new document to this checklist"
        )
        theme.set_role(self.add_button, "primary")
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.add_button)
        grid.addLayout(buttons, 4, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        self.body.addWidget(card)
        for widget in (
            self.document,
            self.required,
            self.access,
            self.save_button,
            self.add_button,
        ):
            self.guard(widget)

        self.line.currentIndexChanged.connect(lambda _i: self._line_changed())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        self.up_button.clicked.connect(lambda: self.move(-1))
        self.down_button.clicked.connect(lambda: self.move(1))
        self.remove_button.clicked.connect(self.remove)
        self.save_button.clicked.connect(self.save_document)
        self.add_button.clicked.connect(self.add_document)
        self.document.returnPressed.connect(self.add_document)
        self._select_id: int | None = None
        self._filling = False
        self._selected()

    def _fill_lines(self, lines: Sequence[str]) -> None:
        current = self.line.currentData()
        if [self.line.itemData(i) for i in range(self.line.count())] == list(lines):
            return
        self._filling = True
        self.line.clear()
        for code in lines:
            name = LINES_OF_BUSINESS.get(code)
            self.line.addItem(f"{code} — {name}" if name else code, code)
        index = self.line.findData(current) if current else -1
        self.line.setCurrentIndex(max(0, index))
        self._filling = False

    @property
    def line_code(self) -> str:
        return str(self.line.currentData() or next(iter(LINES_OF_BUSINESS)))

    def choose_line(self, code: str) -> None:
        self.line.setCurrentIndex(self.line.findData(code))

    def _line_changed(self) -> None:
        if self._filling:
            return
        self.model.set_rows([])
        self._selected()
        self.load()

    def fetch(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        assert self.session is not None
        return _templates_and_lines, (self.session.db, self.line_code)

    def show_data(self, data: tuple[list[str], list[TemplateInfo]]) -> None:
        lines, templates = data
        if templates and templates[0].line_of_business != self.line_code:
            self.load()  # the line changed while loading
            return
        self._fill_lines(lines)
        keep = self._select_id or (self.current.id if self.current else None)
        self._select_id = None
        self.model.set_rows(templates)
        ids = [t.id for t in templates]
        _select_row(self.table, ids.index(keep) if keep in ids else -1)
        self._selected()

    @property
    def current(self) -> TemplateInfo | None:
        return self.model.row(_selected_row(self.table))

    def select(self, document_type: str) -> None:
        names = [t.document_type for t in self.model.rows]
        _select_row(self.table, names.index(document_type))

    def _selected(self) -> None:
        doc = self.current
        rows = self.model.rows
        index = rows.index(doc) if doc in rows else -1
        why = "Choose a document in the list first."
        if doc is None:
            self.edit_caption.setText(f"New document for the {self.line_code} checklist")
            self.form.forget()  # the form is the new document's now
        else:
            self.edit_caption.setText(f"Document: {doc.document_type}")
            self.form.show(
                doc.id,
                {
                    "document_type": doc.document_type,
                    "required": doc.required,
                    "access": doc.access_level.value,
                },
            )
        chosen = doc is not None
        self.enable(self.save_button, chosen, why)
        self.enable(self.remove_button, chosen, why)
        self.enable(self.up_button, index > 0, why if not chosen else "It is the first document.")
        self.enable(
            self.down_button,
            chosen and index < len(rows) - 1,
            why if not chosen else "It is the last document.",
        )

    def save_document(self) -> None:
        doc = self.current
        if doc is None:
            return
        text = self.document.text().strip()
        self._select_id = doc.id
        self.write(
            admin.update_template,
            doc.id,
            expected_version=doc.version,
            document_type=text if text != doc.document_type else None,
            required=self.required.isChecked(),
            access_level=self.access.currentData(),
            what=f"saving {doc.document_type}",
            changes={"checklist_templates"},
            form=self.form,
            done=lambda t: f"Saved {t.document_type} on the {t.line_of_business} checklist.",
        )

    def add_document(self) -> None:
        def added(t: TemplateInfo) -> str:
            self._select_id = t.id
            return (
                f"Added {t.document_type} to the {t.line_of_business} checklist; renewals "
                "opened from now on ask for it."
            )

        self.write(
            admin.add_template,
            self.line_code,
            self.document.text(),
            required=self.required.isChecked(),
            access_level=self.access.currentData(),
            what="adding a document to the checklist",
            changes={"checklist_templates"},
            done=added,
        )

    def remove(self) -> None:
        doc = self.current
        if doc is None:
            return
        self.write(
            admin.remove_template,
            doc.id,
            expected_version=doc.version,
            what=f"removing {doc.document_type}",
            changes={"checklist_templates"},
            done=lambda _rest: (
                f"Removed {doc.document_type} from the {doc.line_of_business} checklist; "
                "renewals already open keep it."
            ),
        )

    def move(self, offset: int) -> None:
        doc = self.current
        if doc is None:
            return
        self._select_id = doc.id
        self.write(
            admin.move_template,
            doc.id,
            offset,
            expected_version=doc.version,
            what=f"moving {doc.document_type}",
            changes={"checklist_templates"},
            done=lambda _rest: f"Moved {doc.document_type}.",
        )


# --------------------------------------------------------------------------- plans


def _lead_spin(name: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setAccessibleName(name)
    spin.setRange(-1, 730)
    spin.setSpecialValueText("Manual")
    spin.setSuffix(" days")
    spin.setToolTip("Days before the term ends; Manual: people do this step by hand")
    return spin


class PlansSection(Section):
    title = "Auto-renewal plans"
    description = (
        "How automatic renewals run: lead days count back from the term's end, and a "
        "manual step waits for a person. Changes apply to auto-renewals created from now "
        "on; existing ones keep their trigger times. Accounts get a plan by import or the "
        "command line."
    )
    action = Action.PLAN_CONFIGURE
    kinds = frozenset({"auto_renewal_plans", "accounts"})

    def __init__(self, page: AdminPage) -> None:
        super().__init__(page)
        self.model = RowsModel(
            (
                Column("Plan", lambda u: u.plan.name),
                Column("Create", lambda u: lead_text(u.plan.create_lead_days), right=True),
                Column("Accept", lambda u: lead_text(u.plan.accept_lead_days), right=True),
                Column("Issue", lambda u: lead_text(u.plan.issue_lead_days), right=True),
                Column("New term", lambda u: f"{u.plan.new_term_months} months", right=True),
                Column("Type", lambda u: u.plan.transaction_type),
                Column(
                    "Continues",
                    lambda u: "yes" if u.plan.generate_auto_renewals else "no",
                    tooltip=lambda u: (
                        "Each new term gets its own auto-renewal"
                        if u.plan.generate_auto_renewals
                        else "The cycle stops after one renewal"
                    ),
                ),
                Column("Accounts", lambda u: f"{u.accounts:,}", right=True),
            ),
            self,
        )
        self.table = _table(self.model, "Auto-renewal plans")
        _size_columns(self.table, (14, 8, 8, 8, 10, 8, 10, 9), stretch=0)
        self.body.addWidget(self.table, 1)

        card = _card()
        grid = QGridLayout(card)
        grid.setContentsMargins(16, 12, 16, 14)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(8)
        self.edit_caption = _caption("Plan", self)
        grid.addWidget(self.edit_caption, 0, 0, 1, 6)
        self.name = QLineEdit()
        self.name.setAccessibleName("Plan name")
        self.name.setPlaceholderText("e.g. Personal lines")
        self.create = _lead_spin("Create lead days")
        self.accept = _lead_spin("Accept lead days")
        self.issue = _lead_spin("Issue lead days")
        self.months = QSpinBox()
        self.months.setAccessibleName("New term months")
        self.months.setRange(1, 120)
        self.months.setSuffix(" months")
        self.months.setValue(12)
        self.transaction_type = QLineEdit("renewal")
        self.transaction_type.setAccessibleName("Transaction type")
        self.generate = QCheckBox("Give each new term its own auto-renewal")
        self.generate.setAccessibleName("Generate auto-renewals")
        self.generate.setChecked(True)
        grid.addWidget(_label("Name"), 1, 0)
        grid.addWidget(self.name, 1, 1, 1, 3)
        grid.addWidget(_label("Transaction type"), 1, 4)
        grid.addWidget(self.transaction_type, 1, 5)
        grid.addWidget(_label("Create"), 2, 0)
        grid.addWidget(self.create, 2, 1)
        grid.addWidget(_label("Accept"), 2, 2)
        grid.addWidget(self.accept, 2, 3)
        grid.addWidget(_label("Issue"), 2, 4)
        grid.addWidget(self.issue, 2, 5)
        grid.addWidget(_label("New term"), 3, 0)
        grid.addWidget(self.months, 3, 1)
        grid.addWidget(self.generate, 3, 2, 1, 4)
        self.form = self.kept_edits("plan")
        self.form.field("name", self.name.text, self.name.setText, lambda n: f"name {_quoted(n)}")
        for key, spin, step in (
            ("create", self.create, "create"),
            ("accept", self.accept, "accept"),
            ("issue", self.issue, "issue"),
        ):
            self.form.field(
                key,
                spin.value,
                spin.setValue,
                lambda days, step=step: f"{step} {lead_text(None if days < 0 else days)}",
            )
        self.form.field(
            "months", self.months.value, self.months.setValue, lambda m: f"new term {m} months"
        )
        self.form.field(
            "transaction_type",
            self.transaction_type.text,
            self.transaction_type.setText,
            lambda t: f"transaction type {_quoted(t)}",
        )
        self.form.field(
            "generate",
            self.generate.isChecked,
            self.generate.setChecked,
            lambda on: (
                "each new term gets its own auto-renewal"
                if on
                else "the cycle stops after one renewal"
            ),
        )
        grid.addWidget(self.form, 4, 0, 1, 6)
        self.save_button = _button("Save changes", "Save the plan", tip="Save the selected plan")
        self.add_button = _button("Add as new plan", "Add the plan", tip="Add a new plan")
        theme.set_role(self.save_button, "primary")
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addStretch(1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.save_button)
        grid.addLayout(buttons, 5, 0, 1, 6)
        for column in (1, 3, 5):
            grid.setColumnStretch(column, 1)
        self.body.addWidget(card)
        for widget in (
            self.name,
            self.create,
            self.accept,
            self.issue,
            self.months,
            self.transaction_type,
            self.generate,
            self.save_button,
            self.add_button,
        ):
            self.guard(widget)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selected())
        self.save_button.clicked.connect(self.save_plan)
        self.add_button.clicked.connect(self.add_plan)
        self._select_id: int | None = None
        self.create.setValue(60)
        self.accept.setValue(30)
        self.issue.setValue(-1)
        self._selected()

    def fetch(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        assert self.session is not None
        return admin.plans_for_admin, (self.session.db,)

    def show_data(self, data: list[PlanUsage]) -> None:
        keep = self._select_id or (self.current.plan.id if self.current else None)
        self._select_id = None
        self.model.set_rows(data)
        ids = [u.plan.id for u in data]
        _select_row(self.table, ids.index(keep) if keep in ids else -1)
        self._selected()

    @property
    def current(self) -> PlanUsage | None:
        return self.model.row(_selected_row(self.table))

    def select(self, name: str) -> None:
        _select_row(self.table, [u.plan.name for u in self.model.rows].index(name))

    def _selected(self) -> None:
        usage = self.current
        if usage is None:
            self.edit_caption.setText("New plan")
            self.form.forget()  # the form is the new plan's now
        else:
            plan = usage.plan
            accounts = f"{usage.accounts:,} account{'s' if usage.accounts != 1 else ''}"
            self.edit_caption.setText(f"Plan: {plan.name} ({accounts})")

            def lead(days: int | None) -> int:
                return -1 if days is None else days

            self.form.show(
                plan.id,
                {
                    "name": plan.name,
                    "create": lead(plan.create_lead_days),
                    "accept": lead(plan.accept_lead_days),
                    "issue": lead(plan.issue_lead_days),
                    "months": plan.new_term_months,
                    "transaction_type": plan.transaction_type,
                    "generate": plan.generate_auto_renewals,
                },
            )
        self.enable(self.save_button, usage is not None, "Choose a plan in the list first.")

    def _settings(self) -> dict[str, Any]:
        def lead(spin: QSpinBox) -> int | None:
            return None if spin.value() < 0 else spin.value()

        return {
            "create_lead_days": lead(self.create),
            "accept_lead_days": lead(self.accept),
            "issue_lead_days": lead(self.issue),
            "new_term_months": self.months.value(),
            "transaction_type": self.transaction_type.text(),
            "generate_auto_renewals": self.generate.isChecked(),
        }

    def save_plan(self) -> None:
        usage = self.current
        if usage is None:
            return
        self._select_id = usage.plan.id
        self.write(
            admin.update_plan,
            usage.plan.id,
            expected_version=usage.plan.version,
            name=self.name.text(),
            **self._settings(),
            what=f"saving the plan {usage.plan.name}",
            changes={"auto_renewal_plans"},
            form=self.form,
            done=lambda p: f"Saved the plan {p.name}; auto-renewals it creates from now on use it.",
        )

    def add_plan(self) -> None:
        def added(plan: Any) -> str:
            self._select_id = plan.id
            return f"Added the plan {plan.name}."

        self.write(
            auto_renewals.add_plan,
            self.name.text(),
            **self._settings(),
            what="adding an auto-renewal plan",
            changes={"auto_renewal_plans"},
            done=added,
        )


# --------------------------------------------------------------------------- connection


class ConnectionSection(Section):
    title = "Database connection"
    description = (
        "Where this desktop keeps its data: a SQLite file on this computer, or a "
        "PostgreSQL server the whole office shares. A change applies the next time "
        "Renewal Desk starts."
    )
    action = Action.DATABASE_ADMIN
    kinds = frozenset()

    def __init__(self, page: AdminPage) -> None:
        super().__init__(page)
        current = _card()
        info = QVBoxLayout(current)
        info.setContentsMargins(16, 12, 16, 12)
        info.setSpacing(4)
        info.addWidget(_caption("Now", self))
        self.current_label = _label("—", wrap=True)
        self.current_label.setAccessibleName("Current database")
        self.current_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.saved_label = _label("", role="muted", wrap=True)
        self.saved_label.setAccessibleName("Saved for the next start")
        info.addWidget(self.current_label)
        info.addWidget(self.saved_label)
        self.body.addWidget(current)

        card = _card()
        form = QGridLayout(card)
        form.setContentsMargins(16, 12, 16, 14)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        form.addWidget(_caption("Use", self), 0, 0, 1, 4)
        self.use_sqlite = QRadioButton("A SQLite file on this computer")
        self.use_sqlite.setAccessibleName("Use a SQLite file")
        self.use_postgres = QRadioButton("A PostgreSQL server")
        self.use_postgres.setAccessibleName("Use a PostgreSQL server")
        group = QButtonGroup(self)
        group.addButton(self.use_sqlite)
        group.addButton(self.use_postgres)
        self.use_sqlite.setChecked(True)
        kinds = QHBoxLayout()
        kinds.setSpacing(24)
        kinds.addWidget(self.use_sqlite)
        kinds.addWidget(self.use_postgres)
        kinds.addStretch(1)
        form.addLayout(kinds, 1, 0, 1, 4)

        self.path = QLineEdit()
        self.path.setAccessibleName("SQLite file")
        self.path.setPlaceholderText("The database file, e.g. C:\\Agency\\renewal-desk.sqlite3")
        self.browse = _button("Browse…", "Choose the SQLite file")
        form.addWidget(_label("File"), 2, 0)
        file_row = QHBoxLayout()
        file_row.setSpacing(8)
        file_row.addWidget(self.path, 1)
        file_row.addWidget(self.browse)
        form.addLayout(file_row, 2, 1, 1, 3)

        self.host = QLineEdit()
        self.host.setAccessibleName("PostgreSQL server")
        self.host.setPlaceholderText("e.g. office-server or 192.168.1.20")
        self.port = QSpinBox()
        self.port.setAccessibleName("PostgreSQL port")
        self.port.setRange(1, 65535)
        self.port.setValue(connection.DEFAULT_PORT)
        self.port.setGroupSeparatorShown(False)
        self.database = QLineEdit()
        self.database.setAccessibleName("PostgreSQL database")
        self.database.setPlaceholderText("e.g. renewals")
        self.user = QLineEdit()
        self.user.setAccessibleName("PostgreSQL user")
        self.password = QLineEdit()
        self.password.setAccessibleName("PostgreSQL password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("kept in the system keyring, never in a file")
        form.addWidget(_label("Server"), 3, 0)
        form.addWidget(self.host, 3, 1)
        form.addWidget(_label("Port"), 3, 2)
        form.addWidget(self.port, 3, 3)
        form.addWidget(_label("Database"), 4, 0)
        form.addWidget(self.database, 4, 1)
        form.addWidget(_label("User"), 4, 2)
        form.addWidget(self.user, 4, 3)
        form.addWidget(_label("Password"), 5, 0)
        form.addWidget(self.password, 5, 1)
        self.keyring_note = _label("", role="muted", wrap=True)
        form.addWidget(self.keyring_note, 5, 2, 1, 2)
        self.tls = QComboBox()
        self.tls.setAccessibleName("Encryption (TLS)")
        for label, mode in (
            ("Use TLS when the server offers it", "prefer"),
            ("Require TLS", "require"),
            ("Require TLS and check the server's certificate", "verify-full"),
        ):
            self.tls.addItem(label, mode)
        self.ca_file = QLineEdit()
        self.ca_file.setAccessibleName("CA certificate")
        self.ca_file.setPlaceholderText("the office's CA certificate (.crt); empty: the system's")
        form.addWidget(_label("Encryption"), 6, 0)
        form.addWidget(self.tls, 6, 1)
        form.addWidget(_label("CA file"), 6, 2)
        form.addWidget(self.ca_file, 6, 3)
        form.setColumnStretch(1, 2)
        form.setColumnStretch(3, 1)
        self.form = self.kept_edits("connection")
        self.form.field(
            "backend",
            lambda: "sqlite" if self.use_sqlite.isChecked() else "postgresql",
            lambda backend: (
                self.use_sqlite if backend == "sqlite" else self.use_postgres
            ).setChecked(True),
            lambda backend: "a SQLite file" if backend == "sqlite" else "a PostgreSQL server",
        )
        for key, edit, what in (
            ("path", self.path, "file"),
            ("host", self.host, "server"),
            ("database", self.database, "database"),
            ("user", self.user, "user"),
            ("ca_file", self.ca_file, "CA file"),
        ):
            self.form.field(
                key, edit.text, edit.setText, lambda text, what=what: f"{what} {_quoted(text)}"
            )
        self.form.field("port", self.port.value, self.port.setValue, lambda port: f"port {port}")
        self.form.field(
            "tls",
            self.tls.currentData,
            lambda mode: self.tls.setCurrentIndex(max(0, self.tls.findData(mode))),
            lambda mode: f"encryption {self.tls.itemText(max(0, self.tls.findData(mode)))}",
        )
        form.addWidget(self.form, 7, 0, 1, 4)

        self.test_button = _button(
            "Test connection", "Test the connection", tip="Try to open this database"
        )
        self.save_button = _button(
            "Save", "Save the connection", tip="Open this database from the next start on"
        )
        theme.set_role(self.save_button, "primary")
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.result = _label("", wrap=True)
        self.result.setAccessibleName("Connection test result")
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        buttons.addWidget(self.result, 1)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.save_button)
        form.addLayout(buttons, 8, 0, 1, 4)
        self.body.addWidget(card)
        self.body.addStretch(1)

        for widget in (
            self.use_sqlite,
            self.use_postgres,
            self.path,
            self.browse,
            self.host,
            self.port,
            self.database,
            self.user,
            self.password,
            self.tls,
            self.ca_file,
            self.test_button,
            self.save_button,
        ):
            self.guard(widget)
        self.tls.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self.use_sqlite.toggled.connect(lambda _on: self._kind_changed())
        self.browse.clicked.connect(self.choose_file)
        self.test_button.clicked.connect(self.test)
        self.save_button.clicked.connect(self.save)
        self.testing = False
        self.info: ConnectionInfo | None = None
        self._kind_changed()

    def set_session(self, session: DeskSession) -> None:
        super().set_session(session)  # the form is filled again from the database now open
        self.info = None

    def fetch(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        assert self.session is not None
        return connection.current_connection, (self.session.db,)

    def show_data(self, info: ConnectionInfo) -> None:
        self.info = info
        self.current_label.setText(f"This desktop has {info.description} open.")
        saved = (
            "Saved for the next start: "
            + (info.saved_url or f"the default SQLite file {info.default_sqlite_path}")
            + "."
        )
        if info.env_override:
            saved += " RENEWAL_DESK_DATABASE_URL is set on this computer and wins over it."
        self.saved_label.setText(saved)
        self.keyring_note.setText(
            "The password goes to the system keyring."
            if info.keyring_available
            else "No safe system keyring here: the password cannot be saved and will be "
            "asked for at each start."
        )
        theme.set_role(self.keyring_note, "muted" if info.keyring_available else "error")
        sqlite = info.backend == "sqlite"
        self.form.show(
            "open database",
            {
                "backend": "sqlite" if sqlite else "postgresql",
                "path": (info.sqlite_path or "") if sqlite else "",
                "host": "" if sqlite else info.host or "",
                "port": connection.DEFAULT_PORT if sqlite else info.port or connection.DEFAULT_PORT,
                "database": "" if sqlite else info.database or "",
                "user": "" if sqlite else info.user or "",
                "tls": "prefer" if sqlite else info.tls,
                "ca_file": "" if sqlite else info.ca_file or "",
            },
        )
        self._kind_changed()

    def _kind_changed(self) -> None:
        sqlite = self.use_sqlite.isChecked()
        for widget in (self.path, self.browse):
            self.enable(widget, sqlite, "Choose “A SQLite file on this computer” first.")
        for widget in (self.host, self.port, self.database, self.user, self.password, self.tls):
            self.enable(widget, not sqlite, "Choose “A PostgreSQL server” first.")
        self.enable(
            self.ca_file,
            not sqlite and self.tls.currentData() == "verify-full",
            "Only checking the server's certificate needs a CA file.",
        )
        self._busy_buttons()

    def _busy_buttons(self) -> None:
        self.enable(self.test_button, not self.testing, "A test is running.")
        self.enable(self.save_button, not self.testing, "A test is running.")

    def choose_file(self) -> None:
        start = self.path.text().strip() or (self.info.default_sqlite_path if self.info else "")
        path = choose_sqlite_file(self, start)
        if path:
            self.path.setText(path)

    def url(self) -> str:
        """The URL the form describes (no password); raises a sentence if incomplete."""
        if self.use_sqlite.isChecked():
            return connection.sqlite_url(self.path.text())
        return connection.postgres_url(
            self.host.text(),
            self.port.value(),
            self.database.text(),
            self.user.text(),
            tls=self.tls.currentData(),
            ca_file=self.ca_file.text() or None,
        )

    def _password(self) -> str | None:
        if self.use_sqlite.isChecked():
            return None
        return self.password.text() or None

    def show_result(self, text: str, *, ok: bool) -> None:
        self.result.setText(text)
        theme.set_role(self.result, "muted" if ok else "error")

    def test(self) -> None:
        if self.session is None or self.testing:
            return
        try:
            url = self.url()
        except Exception as exc:  # a ConfigurationError: one sentence
            self.show_result(str(exc), ok=False)
            return
        self.testing = True
        self._busy_buttons()
        self.show_result("Testing the connection…", ok=True)

        def done(check: ConnectionCheck) -> None:
            self.testing = False
            self._busy_buttons()
            self.show_result(check.sentence, ok=check.ok)

        def failed(failure: Failure) -> None:
            self.testing = False
            self._busy_buttons()
            self.show_result(failure.message, ok=False)

        self.executor.submit(
            connection.check_connection,
            url,
            self._password(),
            on_success=done,
            on_failure=failed,
            what="testing the database connection",
        )

    def save(self) -> None:
        try:
            url = self.url()
        except Exception as exc:
            self.show_result(str(exc), ok=False)
            return

        def saved(result: SavedConnection) -> str:
            self.password.clear()
            self.show_result(result.sentence, ok=True)
            self.stale = True
            self.load()
            return result.sentence

        self.write(
            connection.save_connection,
            url,
            self._password(),
            what="saving the database connection",
            changes={"audit_events"},  # the choice itself lives in this desktop's settings
            done=saved,
        )


# --------------------------------------------------------------------------- timer service


def _timer_and_agency(db: Any) -> tuple[TimerStatus, AgencySettings]:
    return admin.timer_status(db), admin.agency_settings(db)


def _firing_kind(kind: str) -> str:
    """``auto_renewal.create`` → "Auto-renewal: create", ``flag.past_sla`` → "Flag: past SLA"."""
    words = [
        part.replace("auto_renewal", "auto-renewal").replace("_", " ").replace("sla", "SLA")
        for part in kind.split(".")
    ]
    text = ": ".join(words)
    return text[:1].upper() + text[1:]


class TimerSection(Section):
    title = "Timer service"
    description = (
        "The timer service fires auto-renewal triggers, opens renewal cards as policies "
        "come within their window, and sends reminders. Times are shown in the agency's "
        "time zone."
    )
    action = Action.SETTINGS_MANAGE
    kinds = frozenset({"auto_renewals", "app_settings", "renewals", "notices"})

    def __init__(self, page: AdminPage) -> None:
        super().__init__(page)
        self.tz: tzinfo = ZoneInfo("UTC")
        status = _card()
        grid = QGridLayout(status)
        grid.setContentsMargins(16, 12, 16, 12)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(4)
        self.here = _label("", wrap=True)
        self.here.setAccessibleName("Timer on this desktop")
        self.next_due = _label("—")
        self.next_due.setAccessibleName("Next trigger")
        self.housekeeping = _label("—")
        self.housekeeping.setAccessibleName("Last housekeeping")
        self.counts = _label("—", wrap=True)
        self.counts.setTextFormat(Qt.TextFormat.RichText)
        self.counts.setAccessibleName("Auto-renewals by state")
        for row, (caption, value) in enumerate(
            (
                ("On this desktop", self.here),
                ("Next trigger", self.next_due),
                ("Last housekeeping", self.housekeeping),
                ("Auto-renewals", self.counts),
            )
        ):
            grid.addWidget(_label(caption, role="muted"), row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, 1)
        grid.setColumnStretch(1, 1)
        self.tick_button = _button(
            "Run a tick now",
            "Run the timer service now",
            tip="Fire what is due now, exactly as the timer service would",
        )
        self.guard(self.tick_button)
        grid.addWidget(self.tick_button, 0, 2, 2, 1, Qt.AlignmentFlag.AlignTop)
        self.body.addWidget(status)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Timer service details")
        self.firings_model = RowsModel(
            (
                Column("When", lambda f: short_moment(f.fired_at, self.tz)),
                Column("Work", lambda f: _firing_kind(f.kind)),
                Column(
                    "Subject",
                    lambda f: (
                        f"renewal {f.renewal_id}"
                        if f.renewal_id
                        else (f"#{f.subject_id}" if f.subject_id else "—")
                    ),
                    tooltip=lambda f: (
                        "Double-click or Enter opens the renewal" if f.renewal_id else None
                    ),
                ),
                Column("Outcome", lambda f: f.outcome.replace("_", " ")),
                Column("Note", lambda f: f.note or "", tooltip=lambda f: f.note or None),
            ),
            self,
        )
        self.firings = _table(self.firings_model, "Latest firings")
        _size_columns(self.firings, (16, 17, 12, 10, 20), stretch=4)
        self.tabs.addTab(self.firings, "Latest firings")
        self.errors_model = RowsModel(
            (
                Column("Policy", lambda e: e.policy_number),
                Column("Carrier", lambda e: e.carrier),
                Column("Error", lambda e: e.error or "", tooltip=lambda e: e.error),
                Column("Renewal", lambda e: str(e.renewal_id or "—"), right=True),
            ),
            self,
        )
        self.errors = _table(self.errors_model, "Auto-renewals in error")
        _size_columns(self.errors, (11, 14, 30, 8), stretch=2)
        self.tabs.addTab(self.errors, "In error")

        settings = QWidget()
        layout = QGridLayout(settings)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setHorizontalSpacing(12)
        layout.setVerticalSpacing(8)
        self.zone = QComboBox()
        self.zone.setEditable(True)
        self.zone.setAccessibleName("Agency time zone")
        self.zone.addItems(sorted(available_timezones()))
        self.zone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.zone.setMinimumContentsLength(22)
        layout.addWidget(_label("Agency time zone"), 0, 0)
        layout.addWidget(self.zone, 0, 1)
        layout.addWidget(
            _label(
                "Renewal cards open this many days before a policy expires "
                "(double-click a number, or select it and type, to change it):",
                role="muted",
            ),
            1,
            0,
            1,
            3,
        )
        self.windows_model = WindowDaysModel(self)
        self.windows = _table(self.windows_model, "Renewal window days per line of business")
        self.windows.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        _size_columns(self.windows, (8, 20, 10), stretch=1)
        layout.addWidget(self.windows, 2, 0, 1, 3)
        self.save_settings_button = _button(
            "Save settings", "Save the agency settings", tip="Save the time zone and windows"
        )
        theme.set_role(self.save_settings_button, "primary")
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        save_row.addWidget(self.save_settings_button)
        self.form = self.kept_edits("agency settings")
        self.form.field(
            "time_zone",
            lambda: self.zone.currentText().strip(),
            self.zone.setCurrentText,
            lambda zone: f"time zone {zone}",
        )
        layout.addWidget(self.form, 3, 0, 1, 3)
        layout.addLayout(save_row, 4, 0, 1, 3)
        layout.setColumnStretch(2, 1)
        layout.setRowStretch(2, 1)
        self.tabs.addTab(settings, "Agency settings")
        self.guard(self.zone)
        self.guard(self.save_settings_button)
        self.body.addWidget(self.tabs, 1)

        self.firings.activated.connect(
            lambda index: self._open(self.firings_model.row(index.row()))
        )
        self.errors.activated.connect(lambda index: self._open(self.errors_model.row(index.row())))
        self.tick_button.clicked.connect(self.run_tick)
        self.save_settings_button.clicked.connect(self.save_settings)
        self.status: TimerStatus | None = None
        self.agency: AgencySettings | None = None
        self.ticking = False

    def set_session(self, session: DeskSession) -> None:
        super().set_session(session)
        self.windows_model.editable = self.allowed

    def fetch(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        assert self.session is not None
        return _timer_and_agency, (self.session.db,)

    def show_data(self, data: tuple[TimerStatus, AgencySettings]) -> None:
        status, agency_settings = data
        self.status = status
        self.tz = _zone(status.time_zone)
        host = self.page.timer_host
        if not timer_enabled():
            self.here.setText(
                f"Off ({TIMER_ENV_VAR}=off): another computer runs it, e.g. with "
                "“renewal-desk scheduler run”."
            )
        elif host is not None:
            self.here.setText(f"Running. {host.state}")
        else:
            self.here.setText("Runs while Renewal Desk is open on this desktop.")
        zone = status.time_zone
        self.next_due.setText(
            f"{short_moment(status.next_due_at, self.tz)} ({zone})"
            if status.next_due_at
            else "Nothing pending"
        )
        self.housekeeping.setText(
            f"{short_moment(status.last_housekeeping, self.tz)} ({zone})"
            if status.last_housekeeping
            else "Not yet run"
        )
        danger = self.palette().color(QPalette.ColorRole.BrightText).name()  # the theme's danger
        parts = [
            f'<span style="color:{danger}">{n:,} {STATE_NAMES[state]}</span>'
            if state is AutoRenewalState.ERROR
            else f"{n:,} {STATE_NAMES[state]}"
            for state, n in status.by_state.items()
            if n
        ]
        self.counts.setText(" · ".join(parts) if parts else "None yet")
        self.firings_model.set_rows(status.firings)
        self.errors_model.set_rows(status.errors)
        shown = len(status.errors)
        more = f" (first {shown:,})" if status.errors_total > shown else ""
        self.tabs.setTabText(1, f"In error ({status.errors_total:,}){more}")
        self.agency = agency_settings
        windows = agency_settings.window_days
        if list(windows) != list(self.windows_model.windows()):  # the lines themselves
            self.windows_model.set_windows(windows)
            self.form.forget()
        for lob in windows:
            if not self.form.has(f"window:{lob}"):
                self._window_field(lob)
        values: dict[str, Any] = {"time_zone": agency_settings.time_zone}
        values |= {f"window:{lob}": days for lob, days in windows.items()}
        self.form.show("agency", values)
        self.windows_model.remember(windows)

    def _window_field(self, lob: str) -> None:
        """The window of ``lob`` as a field of the settings form; a cell whose editor is
        open is being edited whatever it holds (a refresh must not close it)."""
        model = self.windows_model

        def read() -> object:
            current = self.windows.currentIndex()
            if (
                self.windows.state() == QAbstractItemView.State.EditingState
                and current.isValid()
                and current.row() < model.rowCount()
                and model.index(current.row(), 0).data() == lob
            ):
                return _BEING_TYPED
            return model.days(lob)

        self.form.field(
            f"window:{lob}",
            read,
            lambda days: model.put(lob, days),
            lambda days: f"{lob} window {days} days",
        )

    def _open(self, row: Any) -> None:
        renewal_id = getattr(row, "renewal_id", None)
        if renewal_id:
            self.page.open_renewal.emit(renewal_id)

    def run_tick(self) -> None:
        if self.session is None or self.ticking:
            return
        host = self.page.timer_host
        if host is not None and not host.worker.closed:
            host.tick_now()
            self.say("The timer service is ticking now.")
            return
        self.ticking = True
        self.enable(self.tick_button, False, "A tick is running.")

        def done(report: Any) -> None:
            self.ticking = False
            self.enable(self.tick_button, True)
            self.say(TimerHost.describe(report).replace("Timer service: ", "Ticked: ") + ".")
            self.stale = True
            self.load()

        def failed(failure: Failure) -> None:
            self.ticking = False
            self.enable(self.tick_button, True)
            self.say(failure.message, error=True)

        self.executor.submit(
            timer.tick,
            self.session.db,
            on_success=done,
            on_failure=failed,
            what="running the timer service",
            changes=TICK_CHANGES,
        )

    def save_settings(self) -> None:
        zone = self.zone.currentText().strip()
        windows = self.windows_model.changed()
        self.write(
            admin.save_agency_settings,
            time_zone=zone,
            window_days=windows,
            what="saving the agency settings",
            changes={"app_settings"},
            form=self.form,
            done=lambda s: f"Saved: the agency's time zone is {s.time_zone}.",
        )


# --------------------------------------------------------------------------- the page


class AdminPage(Page):
    """Users, stages, templates, plans, the database connection and the timer service."""

    title = "Admin"

    def __init__(
        self,
        executor: DatabaseExecutor,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(executor, settings, parent)
        self.setObjectName("adminPage")
        self.timer_host: TimerHost | None = None
        """The window's timer service, when it runs one ("Run a tick now" asks it)."""
        self.users = UsersSection(self)
        self.stages = StagesSection(self)
        self.templates = TemplatesSection(self)
        self.plans = PlansSection(self)
        self.connection = ConnectionSection(self)
        self.timer = TimerSection(self)
        self.sections: tuple[Section, ...] = (
            self.users,
            self.stages,
            self.templates,
            self.plans,
            self.connection,
            self.timer,
        )
        self.tabs = QTabWidget()
        self.tabs.setObjectName("adminSections")
        self.tabs.setAccessibleName("Admin sections")
        self.tabs.setDocumentMode(True)
        self.tabs.setUsesScrollButtons(True)
        self.tabs.tabBar().setExpanding(False)
        self.tabs.tabBar().setDrawBase(False)
        # an underlined tab strip; palette() colours follow the light / dark switch
        self.tabs.setStyleSheet(
            "QTabWidget#adminSections::pane { border: none;"
            " border-top: 1px solid palette(mid); }"
            "QTabWidget#adminSections::tab-bar { left: 16px; }"
            "QTabWidget#adminSections > QTabBar::tab { background: transparent; border: none;"
            " border-bottom: 2px solid transparent; padding: 8px 14px; margin-right: 2px;"
            " color: palette(text); }"
            "QTabWidget#adminSections > QTabBar::tab:selected {"
            " border-bottom: 2px solid palette(highlight); color: palette(link); }"
            "QTabWidget#adminSections > QTabBar::tab:hover:!selected {"
            " border-bottom: 2px solid palette(mid); }"
            "QTabWidget#adminSections > QTabBar::tab:focus { text-decoration: underline; }"
        )
        for number, section in enumerate(self.sections):
            self.tabs.addTab(section, section.title)
            self.tabs.setTabToolTip(
                number, f"{section.title} (Ctrl+Tab and Ctrl+Shift+Tab switch sections)"
            )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.tabs)
        start = 0
        if settings is not None:
            saved = settings.value("admin/section")
            titles = [s.title for s in self.sections]
            if saved in titles:
                start = titles.index(saved)
        self.tabs.setCurrentIndex(start)
        self.tabs.currentChanged.connect(self._section_chosen)

    @property
    def current(self) -> Section:
        widget = self.tabs.currentWidget()
        assert isinstance(widget, Section)
        return widget

    def show_section(self, section: Section) -> None:
        self.tabs.setCurrentIndex(self.sections.index(section))

    def _section_chosen(self, row: int) -> None:
        if not 0 <= row < len(self.sections):
            return
        if self.settings is not None:
            self.settings.setValue("admin/section", self.sections[row].title)
        if self.active and self.session is not None:
            self.sections[row].load_if_stale()

    def set_session(self, session: DeskSession) -> None:
        for section in self.sections:
            section.set_session(session)
        super().set_session(session)

    def set_timer_host(self, host: TimerHost | None) -> None:
        """The window's timer service (None: none runs here); its ticks refresh the
        Timer service section."""
        if host is self.timer_host:
            return
        self.timer_host = host
        if host is not None:
            host.ticked.connect(self._ticked)

    def _ticked(self, _report: object) -> None:
        self.timer.stale = True
        if self.active and self.current is self.timer:
            self.timer.load()

    def shows(self) -> frozenset[str]:
        kinds: frozenset[str] = frozenset()
        for section in self.sections:
            kinds |= section.kinds
        return kinds

    def on_changed(self, kinds: frozenset[str]) -> None:
        for section in self.sections:
            if section.kinds & kinds:
                section.stale = True
        if self.active:
            self.current.load_if_stale()

    def reload(self) -> None:
        super().reload()
        for section in self.sections:
            section.stale = True
        self.current.load()
