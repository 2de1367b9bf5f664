"""The renewal detail panel: one renewal, everything about it, and the work done on it.

The window puts it in a dock and calls :meth:`RenewalDetailPanel.show_renewal` when a list
asks to open a renewal. Everything is read with one service call
(:func:`desktop_app.services.detail.renewal_detail`) through the executor; every change is
one service call through the executor too, naming the tables it changes, so every view
(this one included) refreshes from the executor's ``changed`` broadcast. A refusal shows
its one sentence at the top of the panel and what the user typed stays where it was.

No lost work. A reload (F5, a change broadcast, a colleague's change arriving through the
live feed) never replaces what the user has typed into a field: it refreshes everything
else, and when the stored value of a field they are editing changed meanwhile, it is
shown under the field ("Saved meanwhile: …") with a button to take it instead. A save on
a stale copy is refused with the service's "changed by NAME at TIME" sentence and a
"Reload, keeping my text" button; a save while the database cannot be reached says it
was not saved and keeps the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QDateTime,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTime,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeySequence,
    QPalette,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.domain import permissions
from desktop_app.domain.auto_renewal import OPERATIONS, Operation, allowed_operations
from desktop_app.domain.enums import (
    AutoRenewalState,
    DocumentStatus,
    StageKind,
    TaskStatus,
    TransactionState,
)
from desktop_app.domain.permissions import Action
from desktop_app.errors import StaleEdit
from desktop_app.services import auto_renewals, changes, renewals, transactions, work
from desktop_app.services import detail as detail_service
from desktop_app.services.detail import (
    DocumentRow,
    RenewalDetail,
    Summary,
    TaskRow,
    TermRow,
    TimelineEntry,
    TriggerRow,
)
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure
from desktop_app.ui.page import NEW_RENEWAL, point_to_new_renewal
from desktop_app.ui.session import DeskSession

DATE = "%m/%d/%Y"
MOMENT = "%m/%d/%Y %H:%M"
NO_DATE = QDate(2000, 1, 1)
"""The minimum of an optional date field: it shows as "No date" and means none."""

SHOWS = frozenset(
    {
        "renewals",
        "tasks",
        "document_requirements",
        "auto_renewals",
        "terms",
        "policies",
        "accounts",
        "users",
        "pipeline_stages",
        "app_settings",
    }
)
"""The object kinds whose change makes the panel reload the renewal it shows."""

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://|^(mailto|file):", re.ASCII)
_WINDOWS_PATH = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")

_STATUS_WORDS = {
    DocumentStatus.MISSING: "Missing",
    DocumentStatus.REQUESTED: "Requested",
    DocumentStatus.RECEIVED: "Received",
    DocumentStatus.EXPIRED: "Expired",
    DocumentStatus.WAIVED: "Waived",
}

_AR_STATE_WORDS = {
    AutoRenewalState.ACTIVE: "Active",
    AutoRenewalState.ISSUED: "Issued",
    AutoRenewalState.DO_NOT_RENEW: "Do not renew",
    AutoRenewalState.TERMINATED: "Terminated",
    AutoRenewalState.DISCARDED: "Discarded",
    AutoRenewalState.ERROR: "In error",
    AutoRenewalState.INVALIDATED: "Invalidated",
}

_AR_STATE_SENTENCE = {
    AutoRenewalState.ACTIVE: "active",
    AutoRenewalState.ISSUED: "issued",
    AutoRenewalState.DO_NOT_RENEW: "marked do not renew",
    AutoRenewalState.TERMINATED: "terminated",
    AutoRenewalState.DISCARDED: "discarded",
    AutoRenewalState.ERROR: "in error",
    AutoRenewalState.INVALIDATED: "invalidated",
}

_FLAG_WORDS = {"past_sla": "Past SLA", "no_next_action": "No next action on time"}

NOT_SAVED_OFFLINE = (
    "Not saved: the database cannot be reached. Your text is kept; press Save again when "
    "back online."
)
AFTER_CONFLICT_RELOAD = (
    "Reloaded. Your unsaved text is kept in the fields; what was saved meanwhile is shown "
    "under them. Press Save to save yours over it."
)
AFTER_RELOAD_NO_CLASH = (
    "Reloaded. Your unsaved text is kept; nothing you are editing was changed meanwhile. "
    "Press Save again."
)
EDITOR_SECTIONS = {"next": ("next_action", "owner", "due"), "notes": ("blocker", "notes")}
"""The fields of the panel's two edit forms."""


def _colors() -> theme.Colors:
    """The colours of the palette in use (light or dark), for text an item model paints."""
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return theme.DARK if window.lightness() < 128 else theme.LIGHT


def _d(value: date | None) -> str:
    return f"{value:{DATE}}" if value else ""


def _m(value: datetime | None) -> str:
    return f"{value:{MOMENT}}" if value else ""


def _money(value: Decimal | None) -> str:
    return f"${value:,.2f}" if value is not None else "—"


def _qdate(value: date | None) -> QDate:
    return QDate(value.year, value.month, value.day) if value else NO_DATE


def _pydate(value: QDate) -> date | None:
    if not value.isValid() or value == NO_DATE:
        return None
    return date(value.year(), value.month(), value.day())


def link_url(link: str) -> QUrl | None:
    """The address to open for a stored link (a web address or a file path), or None
    when it is neither."""
    text = link.strip()
    if not text:
        return None
    if _WINDOWS_PATH.match(text) or text.startswith("/"):
        return QUrl.fromLocalFile(text)
    if _URL.match(text):
        url = QUrl(text)
        return url if url.isValid() else None
    return None


# --------------------------------------------------------------------------- a new renewal


ENDED_STATES = frozenset(
    {
        TransactionState.REFUSED,
        TransactionState.REJECTED,
        TransactionState.DISCARDED,
        TransactionState.INVALIDATED,
    }
)
"""Transaction states that end a renewal without a new term: only a new renewal renews."""


def _inline_form(name: str) -> tuple[QFrame, QGridLayout]:
    """A small form that opens inside the panel (a card with a grid), named for screen
    readers."""
    frame = QFrame()
    frame.setObjectName("card")
    frame.setAccessibleName(name)
    grid = QGridLayout(frame)
    grid.setContentsMargins(10, 8, 10, 8)
    grid.setHorizontalSpacing(8)
    grid.setVerticalSpacing(6)
    return frame, grid


def _add_months(day: date, months: int) -> date:
    """``day`` moved by whole months (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


def default_new_end(start: date, end: date) -> date:
    """The end of a new term as long as the one from ``start`` to ``end``: whole months
    when the term is whole months (a 12-month term renews for 12 months), else days."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and _add_months(start, months) == end:
        return _add_months(end, months)
    return end + max(end - start, timedelta(days=1))


def _new_renewal_note(s: Summary) -> str:
    """Why this renewal cannot carry the policy on, and what to do instead."""
    state, policy = s.transaction_state, s.policy_number
    start = f"to renew {policy} after all, start a new renewal of it here."
    if state in (TransactionState.REFUSED, TransactionState.REJECTED):
        stays = f"stays in {s.stage_name}" if s.stage_kind is not StageKind.OPEN else "is over"
        return (
            f"Its transaction was {state.value}, which is final, so this renewal {stays}; {start}"
        )
    if state is TransactionState.DISCARDED:
        return f"Its transaction was discarded, so this renewal is over; {start}"
    if state is TransactionState.INVALIDATED:
        return (
            "Its transaction was invalidated when another renewal of its term was issued; "
            f"to renew {policy} again, start a new renewal of it here."
        )
    if state is TransactionState.ISSUED:
        return "Renewed: the new term is on the policy; to work its next renewal, start it here."
    return (
        f"This renewal is decided ({s.stage_name}); to renew {policy} after all, move it back "
        "to an open stage on the board, or start a new renewal of it here."
    )


# --------------------------------------------------------------------------- models


class _RowsModel(QAbstractTableModel):
    """A small read-only table over a tuple of frozen rows (one renewal's worth)."""

    headers: tuple[str, ...] = ()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: tuple[Any, ...] = ()

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self._rows = tuple(rows)
        self.endResetModel()

    def row(self, index: QModelIndex | int) -> Any:
        number = index if isinstance(index, int) else index.row()
        return self._rows[number] if 0 <= number < len(self._rows) else None

    @property
    def rows(self) -> tuple[Any, ...]:
        return self._rows

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.headers)
        ):
            return self.headers[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or index.parent().isValid():
            return None
        row = self.row(index.row())
        if row is None or not 0 <= index.column() < len(self.headers):
            return None
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self.text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(row, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            color = self.color(row, column)
            return QBrush(QColor(color)) if color else None
        if role == Qt.ItemDataRole.FontRole:
            return self.font(row, column)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    # what subclasses say about a row
    def text(self, row: Any, column: int) -> str:
        return ""

    def tooltip(self, row: Any, column: int) -> str | None:
        text = self.text(row, column)
        return text or None

    def color(self, row: Any, column: int) -> str | None:
        return None

    def font(self, row: Any, column: int) -> QFont | None:
        return None


class TaskModel(_RowsModel):
    headers = ("Task", "Owner", "Due", "Status")

    def text(self, row: TaskRow, column: int) -> str:
        if column == 0:
            return row.title
        if column == 1:
            return row.owner_name or "Nobody"
        if column == 2:
            return _d(row.due_date)
        if row.status is TaskStatus.DONE:
            return "Done"
        if row.status is TaskStatus.CANCELLED:
            return "Cancelled"
        return "Overdue" if row.overdue else "Open"

    def tooltip(self, row: TaskRow, column: int) -> str | None:
        if column == 3 and row.status is TaskStatus.DONE and row.completed_at:
            who = f" by {row.completed_by_name}" if row.completed_by_name else ""
            return f"Completed {_m(row.completed_at)}{who}"
        if column == 0:
            return f"{row.title} ({row.task_type})"
        return super().tooltip(row, column)

    def color(self, row: TaskRow, column: int) -> str | None:
        colors = _colors()
        if row.status is not TaskStatus.OPEN:
            return colors.muted
        if row.overdue and column in (2, 3):
            return colors.danger
        return None


class DocumentModel(_RowsModel):
    headers = ("Document", "Status", "Link")

    def text(self, row: DocumentRow, column: int) -> str:
        if column == 0:
            return row.document_type + ("" if row.required else " (optional)")
        if column == 1:
            words = _STATUS_WORDS[row.status]
            if row.status is DocumentStatus.RECEIVED:
                return f"{words} {_d(row.received_on)}"
            if row.status is DocumentStatus.REQUESTED:
                return f"{words} {_d(row.requested_on)}"
            if row.status is DocumentStatus.EXPIRED and row.expires_on:
                return f"{words} {_d(row.expires_on)}"
            return words
        if row.restricted:
            return "Restricted"
        return "Open link" if row.storage_link else ""

    def tooltip(self, row: DocumentRow, column: int) -> str | None:
        if row.restricted:
            return row.restricted_reason
        if column == 1:
            parts = []
            if row.requested_on:
                parts.append(f"requested {_d(row.requested_on)}")
            if row.received_on:
                parts.append(f"received {_d(row.received_on)}")
            if row.expires_on:
                parts.append(f"expires {_d(row.expires_on)}")
            if row.waive_reason:
                parts.append(f"waived: {row.waive_reason}")
            return ("; ".join(parts)).capitalize() or None
        if column == 2:
            return row.storage_link
        return f"{row.document_type}: {'required' if row.required else 'optional'}"

    def color(self, row: DocumentRow, column: int) -> str | None:
        colors = _colors()
        if row.restricted:
            return colors.muted
        if (
            column == 1
            and row.required
            and row.status
            in (
                DocumentStatus.MISSING,
                DocumentStatus.EXPIRED,
            )
        ):
            return colors.danger
        if column == 2:
            return colors.accent
        if row.status is DocumentStatus.WAIVED:
            return colors.muted
        return None


class TimelineModel(_RowsModel):
    """Who did what when, newest first: the time and the door it came through (ui, cli,
    import, scheduler, plugin) on the left, the sentence on the right."""

    headers = ("When", "What")

    def text(self, row: TimelineEntry, column: int) -> str:
        if column == 0:
            return f"{row.at:{DATE}}\n{row.at:%H:%M} · {row.source.value}"
        return row.sentence

    def tooltip(self, row: TimelineEntry, column: int) -> str | None:
        return f"{_m(row.at)} · {row.sentence} (source: {row.source.value})"

    def color(self, row: TimelineEntry, column: int) -> str | None:
        return _colors().muted if column == 0 else None


class TermModel(_RowsModel):
    headers = ("Term", "Premium")

    def text(self, row: TermRow, column: int) -> str:
        if column == 0:
            mark = ""
            if row.renewed_here:
                mark = "  (being renewed)"
            elif row.created_here:
                mark = "  (this renewal)"
            return row.label + mark
        return _money(row.premium) if row.kind == "term" else ""

    def color(self, row: TermRow, column: int) -> str | None:
        return _colors().danger if row.kind != "term" else None

    def font(self, row: TermRow, column: int) -> QFont | None:
        if row.kind == "term" and not (row.renewed_here or row.created_here):
            return None
        font = QFont()
        if row.kind != "term":
            font.setItalic(True)
        else:
            font.setWeight(QFont.Weight.DemiBold)
        return font


class TriggerModel(_RowsModel):
    headers = ("Trigger", "Time", "Fired")

    def text(self, row: TriggerRow, column: int) -> str:
        if column == 0:
            return row.event.capitalize()
        if column == 1:
            return _m(row.time) if row.time else "Manual"
        if row.fired_at is None:
            return "Not yet" if row.time else ""
        return _m(row.fired_at) + (f" · {row.outcome.replace('_', ' ')}" if row.outcome else "")

    def tooltip(self, row: TriggerRow, column: int) -> str | None:
        if column == 2 and row.note:
            return row.note
        return super().tooltip(row, column)

    def color(self, row: TriggerRow, column: int) -> str | None:
        return _colors().muted if column == 2 and row.fired_at is None else None


# --------------------------------------------------------------------------- widgets


def _label(text: str = "", *, role: str | None = None, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(wrap)
    if role:
        label.setProperty("role", role)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _button(text: str, name: str | None = None, *, primary: bool = False) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name or text.rstrip("…"))
    if primary:
        button.setProperty("role", "primary")
    button.setAutoDefault(False)
    return button


class _WrapDelegate(QStyledItemDelegate):
    """Row heights for wrapped text that allow for the stylesheet's cell padding (Qt's
    own measure uses the full column width, so the last line would be cut off)."""

    PADDING = 2 * 7 + 8  # the stylesheet's left/right padding, and the style's margins

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        base = super().sizeHint(option, index)
        view = self.parent()
        text = index.data(Qt.ItemDataRole.DisplayRole)
        if not text or not isinstance(view, QTableView):
            return base
        mode = view.horizontalHeader().sectionResizeMode(index.column())
        if mode is not QHeaderView.ResizeMode.Stretch:
            return base  # a column sized to its contents never wraps
        width = view.columnWidth(index.column()) - self.PADDING
        if width <= 20:
            return base
        font = index.data(Qt.ItemDataRole.FontRole) or option.font  # type: ignore[attr-defined]
        bounds = QFontMetrics(font).boundingRect(
            QRect(0, 0, width, 100_000), Qt.TextFlag.TextWordWrap, str(text)
        )
        return QSize(base.width(), max(base.height(), bounds.height() + 14))


class FitTable(QTableView):
    """A compact table as tall as its rows (up to ``max_rows``; it scrolls beyond), so
    the panel scrolls as one page. Wrapped rows are measured again when the width
    changes (the dock is resized)."""

    def __init__(self, model: _RowsModel, name: str, *, max_rows: int, wrap: bool) -> None:
        super().__init__()
        self.max_rows = max_rows
        self._width = -1
        self.setModel(model)
        self.setAccessibleName(name)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(wrap)
        if wrap:
            self.setItemDelegate(_WrapDelegate(self))
        self.setTabKeyNavigation(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._refit_pending = False
        if wrap:
            # columns sized to their contents settle after the rows were measured
            header.sectionResized.connect(self._schedule_refit)

    def _schedule_refit(self, *_args: object) -> None:
        if not self._refit_pending:
            self._refit_pending = True
            QTimer.singleShot(0, self, self._delayed_refit)

    def _delayed_refit(self) -> None:
        self._refit_pending = False
        self.refit()

    def refit(self) -> None:
        rows = self.model().rowCount()
        if self.wordWrap():
            self.resizeRowsToContents()
        height = self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth()
        default = self.verticalHeader().defaultSectionSize()
        for row in range(max(min(rows, self.max_rows), 1)):
            height += self.rowHeight(row) if row < rows else default
        self.setFixedHeight(height + 2)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.wordWrap() and event.size().width() != self._width:
            self._width = event.size().width()
            self.refit()


def _table(model: _RowsModel, name: str, *, max_rows: int, wrap: bool = False) -> FitTable:
    return FitTable(model, name, max_rows=max_rows, wrap=wrap)


def _shortcut(
    widget: QWidget, keys: str | QKeySequence, slot: Callable[[], None], *, children: bool = False
) -> QShortcut:
    """A key that works while ``widget`` (or, with ``children``, anything in it) has focus."""
    shortcut = QShortcut(QKeySequence(keys), widget)
    shortcut.setContext(
        Qt.ShortcutContext.WidgetWithChildrenShortcut
        if children
        else Qt.ShortcutContext.WidgetShortcut
    )
    shortcut.activated.connect(slot)
    return shortcut


def _allow(widget: QWidget, allowed: bool, reason: str = "") -> None:
    widget.setEnabled(allowed)
    widget.setToolTip("" if allowed else reason)
    widget.setAccessibleDescription("" if allowed else reason)


class _Section(QWidget):
    """A titled block of the panel."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.title = QLabel(title)
        self.title.setFont(theme.scaled_font(self.title, 1.12, bold=True))
        rule = QFrame()
        rule.setFrameShape(QFrame.Shape.HLine)
        rule.setFrameShadow(QFrame.Shadow.Plain)
        rule.setForegroundRole(QPalette.ColorRole.Mid)  # the palette's border colour
        rule.setFixedHeight(1)
        self.rule = rule
        layout.addWidget(self.title)
        layout.addWidget(rule)
        self.body = layout


# --------------------------------------------------------------------------- the panel


class RenewalDetailPanel(QWidget):
    """Everything about one renewal; the window docks it on the right."""

    message = Signal(str)
    """A sentence for the status bar (a refusal, or what was saved)."""
    loaded = Signal(int)
    """A renewal's data is shown (its id)."""

    def __init__(self, executor: DatabaseExecutor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("renewalDetail")
        self.setAccessibleName("Renewal detail")
        self.executor = executor
        self.session: DeskSession | None = None
        self.detail: RenewalDetail | None = None
        self._renewal_id: int | None = None
        self._generation = 0
        self._loading = False
        self._reload_again = False
        self._loaded_values: dict[str, Any] = {}
        self._conflicts: dict[str, Any] = {}
        """Field → the value saved meanwhile, for fields whose typing was kept."""
        self._conflict_reload = False
        executor.changed.connect(self._on_changed)
        self._build()
        self._show_state("empty")
        _shortcut(self, QKeySequence(QKeySequence.StandardKey.Refresh), self.reload, children=True)

    # --- public API ------------------------------------------------------------------

    @property
    def current_renewal_id(self) -> int | None:
        return self._renewal_id

    def set_session(self, session: DeskSession | None) -> None:
        """Someone signed in (or another user did): show the current renewal as they see it."""
        self.session = session
        if session is None:
            self._renewal_id = None
            self.detail = None
            self._show_state("empty")
            return
        if self._renewal_id is not None:
            self.reload()

    def show_renewal(self, renewal_id: int) -> None:
        """Load and show ``renewal_id`` (through the executor)."""
        if renewal_id != self._renewal_id:
            self._loaded_values = {}
            self._conflicts = {}
            self.detail = None
            self._show_message("")
            self._close_forms()
        self._renewal_id = renewal_id
        self.reload()

    def reload(self) -> None:
        """Fetch the renewal shown again (coalesced: one load at a time)."""
        if self.session is None or self._renewal_id is None:
            return
        if self._loading:
            self._reload_again = True
            return
        self._loading = True
        self._reload_again = False
        self._generation += 1
        generation, renewal_id = self._generation, self._renewal_id
        self._show_state("loading" if self.detail is None else "reloading")
        self.executor.submit(
            detail_service.renewal_detail,
            self.session.db,
            self.session.actor,
            renewal_id,
            on_success=lambda d: self._loaded(generation, d),
            on_failure=lambda f: self._load_failed(generation, f),
            what="loading the renewal",
        )

    # --- building -------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(14, 12, 14, 8)
        top_layout.setSpacing(4)
        title_row = QHBoxLayout()
        title_row.setSpacing(8)
        self.title = _label("Renewal")
        self.title.setFont(theme.scaled_font(self.title, 1.35, bold=True))
        self.title.setAccessibleName("Insured")
        self.reload_button = _button("Reload", "Reload the renewal")
        self.reload_button.setToolTip("Reload the renewal (F5)")
        self.reload_button.clicked.connect(self.reload)
        # "Loading…" sits beside the title, so a reload does not shift the panel
        self.status = _label("Loading…", role="muted", wrap=False)
        self.status.setAccessibleName("Loading state")
        title_row.addWidget(self.title, 1)
        title_row.addWidget(self.status, 0, Qt.AlignmentFlag.AlignVCenter)
        title_row.addWidget(self.reload_button, 0, Qt.AlignmentFlag.AlignTop)
        self.subtitle = _label(role="muted")
        self.subtitle.setAccessibleName("Policy")
        self.error = _label(role="error")
        self.error.setAccessibleName("Message")
        self.error.setVisible(False)
        self.keep_reload_button = _button(
            "Reload, keeping my text", "Reload the renewal and keep what I typed"
        )
        self.keep_reload_button.setToolTip(
            "Show what was saved meanwhile; what you typed stays in the fields"
        )
        self.keep_reload_button.clicked.connect(self.reload_keeping_text)
        self.keep_reload_button.setVisible(False)
        message_row = QHBoxLayout()
        message_row.setSpacing(8)
        message_row.addWidget(self.error, 1)
        message_row.addWidget(self.keep_reload_button, 0, Qt.AlignmentFlag.AlignTop)
        top_layout.addLayout(title_row)
        top_layout.addWidget(self.subtitle)
        top_layout.addLayout(message_row)
        outer.addWidget(top)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.content = QWidget()
        self.content.setObjectName("detailContent")
        layout = QVBoxLayout(self.content)
        layout.setContentsMargins(14, 4, 14, 16)
        layout.setSpacing(18)
        self.scroll.setWidget(self.content)
        outer.addWidget(self.scroll, 1)

        self.empty = _label("Open a renewal from a list to see it here.", role="muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty, 1)

        layout.addWidget(self._build_summary())
        layout.addWidget(self._build_next_action())
        layout.addWidget(self._build_tasks())
        layout.addWidget(self._build_documents())
        layout.addWidget(self._build_blocker())
        layout.addWidget(self._build_auto_renewal())
        layout.addWidget(self._build_terms())
        layout.addWidget(self._build_timeline())
        layout.addStretch(1)
        self._close_forms()

    def _build_summary(self) -> QWidget:
        section = _Section("Summary")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.summary_fields: dict[str, QLabel] = {}
        for key, label in (
            ("stage", "Stage"),
            ("transaction", "Transaction"),
            ("expiration", "Expires"),
            ("premium", "Premium"),
            ("line", "Line"),
            ("team", "Team"),
            ("flags", "Flags"),
        ):
            value = _label()
            value.setAccessibleName(label)
            name = _label(label, role="muted", wrap=False)
            form.addRow(name, value)
            self.summary_fields[key] = value
        self._summary_form = form
        section.body.addLayout(form)
        self._build_new_renewal(section)
        return section

    def _build_new_renewal(self, section: _Section) -> None:
        """Under the summary of a renewal that is over: why, a button to start a new
        renewal of the policy, and its inline form (new end, optional later effective
        date)."""
        self.new_renewal_note = _label(role="muted")
        self.new_renewal_note.setAccessibleName("Starting a new renewal")
        self.new_renewal_button = _button(NEW_RENEWAL, "Start a new renewal of the policy")
        self.new_renewal_button.clicked.connect(self._open_new_renewal_form)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.new_renewal_note, 1)
        row.addWidget(self.new_renewal_button, 0, Qt.AlignmentFlag.AlignTop)
        section.body.addLayout(row)

        self.new_renewal_form, grid = _inline_form("New renewal")
        self.new_renewal_title = _label(role="muted")
        self.new_end_edit = self._date_edit("New end date", optional=False)
        self.new_end_edit.setToolTip("When the new term ends; it must be after the current end")
        self.later_check = QCheckBox("Starts later")
        self.later_check.setAccessibleName("The new term starts later than the current end")
        self.later_check.setToolTip(
            "Ticked: the new term starts on the date beside it, and no term covers the "
            "time between (a renewal with a gap)"
        )
        self.effective_edit = self._date_edit("Effective date", optional=False)
        self.effective_edit.setEnabled(False)
        self.later_check.toggled.connect(self.effective_edit.setEnabled)
        self.new_renewal_hint = _label(role="muted")
        self.new_renewal_confirm = _button("Start renewal", "Start the new renewal", primary=True)
        self.new_renewal_confirm.clicked.connect(self._start_new_renewal)
        self.new_renewal_cancel = _button("Cancel", "Cancel starting a new renewal")
        self.new_renewal_cancel.clicked.connect(self._close_forms)
        end_label = _label("New end", wrap=False)
        end_label.setBuddy(self.new_end_edit)
        grid.addWidget(self.new_renewal_title, 0, 0, 1, 3)
        grid.addWidget(end_label, 1, 0)
        grid.addWidget(self.new_end_edit, 1, 1)
        grid.addWidget(self.later_check, 2, 0)
        grid.addWidget(self.effective_edit, 2, 1)
        grid.addWidget(self.new_renewal_hint, 3, 0, 1, 3)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.new_renewal_cancel)
        buttons.addWidget(self.new_renewal_confirm)
        grid.addLayout(buttons, 4, 0, 1, 3)
        grid.setColumnStretch(2, 1)
        section.body.addWidget(self.new_renewal_form)
        _shortcut(self.new_renewal_form, "Escape", self._close_forms, children=True)
        self._starting = False
        """A new renewal is being started (the executor has it): one click starts one."""

    def _people_combo(self, name: str, *, nobody: bool) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(name)
        combo.setProperty("nobody", nobody)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(10)
        return combo

    def _date_edit(self, name: str, *, optional: bool) -> QDateEdit:
        edit = QDateEdit()
        edit.setAccessibleName(name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("MM/dd/yyyy")
        if optional:
            edit.setMinimumDate(NO_DATE)
            edit.setSpecialValueText("No date")
        return edit

    def _build_next_action(self) -> QWidget:
        section = _Section("Next action")
        self.next_action_edit = QLineEdit()
        self.next_action_edit.setAccessibleName("Next action")
        self.next_action_edit.setPlaceholderText("What happens next on this renewal")
        self.owner_combo = self._people_combo("Next action owner", nobody=True)
        self.due_edit = self._date_edit("Next action due date", optional=True)
        self.save_next_button = _button("Save next action", primary=True)
        self.save_next_button.setToolTip("Save the next action, its owner and due date")
        self.save_next_button.clicked.connect(self._save_next_action)
        self.next_action_edit.returnPressed.connect(self._save_next_action)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.addWidget(self.next_action_edit, 0, 0, 1, 3)
        owner_label = _label("Owner", role="muted", wrap=False)
        due_label = _label("Due", role="muted", wrap=False)
        owner_label.setBuddy(self.owner_combo)
        due_label.setBuddy(self.due_edit)
        grid.addWidget(owner_label, 1, 0)
        grid.addWidget(self.owner_combo, 1, 1, 1, 2)
        grid.addWidget(due_label, 2, 0)
        grid.addWidget(self.due_edit, 2, 1)
        grid.addWidget(self.save_next_button, 2, 2)
        grid.setColumnStretch(1, 1)
        section.body.addLayout(grid)
        self.next_conflict, self.next_take_button = self._conflict_row(section, "next")
        return section

    def _conflict_row(self, section: _Section, key: str) -> tuple[QLabel, QPushButton]:
        """The note under an edit form saying what was saved meanwhile, and a button to
        take that instead of what was typed."""
        note = _label(role="error")
        note.setAccessibleName("Saved meanwhile")
        take = _button("Use the saved values", "Replace my text with the saved values")
        take.clicked.connect(lambda: self._take_saved(key))
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(note, 1)
        row.addWidget(take, 0, Qt.AlignmentFlag.AlignTop)
        section.body.addLayout(row)
        note.setVisible(False)
        take.setVisible(False)
        return note, take

    def _build_tasks(self) -> QWidget:
        section = _Section("Tasks")
        self.task_model = TaskModel(self)
        self.task_view = _table(self.task_model, "Tasks", max_rows=8, wrap=True)
        header = self.task_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.task_view.selectionModel().currentRowChanged.connect(self._task_selected)
        self.task_view.doubleClicked.connect(lambda _i: self._complete_task())
        _shortcut(self.task_view, "Ctrl+Return", self._complete_task)
        self.tasks_empty = _label("No tasks yet.", role="muted")
        section.body.addWidget(self.task_view)
        section.body.addWidget(self.tasks_empty)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.complete_button = _button("Complete", "Complete the selected task")
        self.complete_button.clicked.connect(self._complete_task)
        self.assign_combo = self._people_combo("Assign the selected task to", nobody=False)
        self.assign_button = _button("Assign", "Assign the selected task")
        self.assign_button.clicked.connect(self._assign_task)
        row.addWidget(self.complete_button)
        row.addStretch(1)
        row.addWidget(self.assign_combo, 2)
        row.addWidget(self.assign_button)
        section.body.addLayout(row)

        add = QGridLayout()
        add.setContentsMargins(0, 4, 0, 0)
        add.setHorizontalSpacing(6)
        add.setVerticalSpacing(6)
        self.new_task_edit = QLineEdit()
        self.new_task_edit.setAccessibleName("New task title")
        self.new_task_edit.setPlaceholderText("New task… (Enter adds it)")
        self.new_task_edit.returnPressed.connect(self._add_task)
        self.new_task_owner = self._people_combo("New task owner", nobody=False)
        self.new_task_due = self._date_edit("New task due date", optional=True)
        self.add_task_button = _button("Add task")
        self.add_task_button.clicked.connect(self._add_task)
        add.addWidget(self.new_task_edit, 0, 0, 1, 3)
        add.addWidget(self.new_task_owner, 1, 0)
        add.addWidget(self.new_task_due, 1, 1)
        add.addWidget(self.add_task_button, 1, 2)
        add.setColumnStretch(0, 1)
        section.body.addLayout(add)
        return section

    def _build_documents(self) -> QWidget:
        section = _Section("Documents")
        self.document_model = DocumentModel(self)
        self.document_view = _table(self.document_model, "Document checklist", max_rows=12)
        header = self.document_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.document_view.selectionModel().currentRowChanged.connect(self._refresh_actions)
        self.document_view.doubleClicked.connect(self._document_double_clicked)
        _shortcut(self.document_view, "Ctrl+Return", self._receive_shortcut)
        self.documents_empty = _label("This line of business has no checklist.", role="muted")
        section.body.addWidget(self.document_view)
        section.body.addWidget(self.documents_empty)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.request_button = _button("Request", "Request the selected document")
        self.receive_button = _button("Received…", "Mark the selected document received")
        self.waive_button = _button("Waive…", "Waive the selected document")
        self.expire_button = _button("Expired", "Mark the selected document expired")
        self.open_link_button = _button("Open", "Open the selected document's link")
        self.request_button.clicked.connect(self._request_document)
        self.receive_button.clicked.connect(self._open_receive_form)
        self.waive_button.clicked.connect(self._open_waive_form)
        self.expire_button.clicked.connect(self._expire_document)
        self.open_link_button.clicked.connect(self._open_link)
        for button in (
            self.request_button,
            self.receive_button,
            self.waive_button,
            self.expire_button,
            self.open_link_button,
        ):
            row.addWidget(button)
        row.addStretch(1)
        section.body.addLayout(row)

        # received: date and optional link
        self.receive_form, form = _inline_form("Mark received")
        self.receive_title = _label(role="muted")
        self.received_on_edit = self._date_edit("Date received", optional=False)
        self.receive_link_edit = QLineEdit()
        self.receive_link_edit.setAccessibleName("Link to the stored file")
        self.receive_link_edit.setPlaceholderText("Link or file path (optional)")
        self.receive_link_edit.returnPressed.connect(self._receive_document)
        self.receive_confirm = _button("Mark received", primary=True)
        self.receive_confirm.clicked.connect(self._receive_document)
        self.receive_cancel = _button("Cancel", "Cancel marking received")
        self.receive_cancel.clicked.connect(self._close_forms)
        received_label = _label("Received on", wrap=False)
        received_label.setBuddy(self.received_on_edit)
        form.addWidget(self.receive_title, 0, 0, 1, 4)
        form.addWidget(received_label, 1, 0)
        form.addWidget(self.received_on_edit, 1, 1)
        form.addWidget(self.receive_link_edit, 2, 0, 1, 4)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.receive_cancel)
        buttons.addWidget(self.receive_confirm)
        form.addLayout(buttons, 3, 0, 1, 4)
        form.setColumnStretch(3, 1)
        section.body.addWidget(self.receive_form)
        _shortcut(self.receive_form, "Escape", self._close_forms, children=True)

        # waived: a reason
        self.waive_form, wform = _inline_form("Waive")
        self.waive_title = _label(role="muted")
        self.waive_reason_edit = QLineEdit()
        self.waive_reason_edit.setAccessibleName("Reason for waiving")
        self.waive_reason_edit.setPlaceholderText("Why this document is not needed")
        self.waive_reason_edit.returnPressed.connect(self._waive_document)
        self.waive_confirm = _button("Waive", "Waive the document", primary=True)
        self.waive_confirm.clicked.connect(self._waive_document)
        self.waive_cancel = _button("Cancel", "Cancel waiving")
        self.waive_cancel.clicked.connect(self._close_forms)
        wform.addWidget(self.waive_title, 0, 0)
        wform.addWidget(self.waive_reason_edit, 1, 0)
        wbuttons = QHBoxLayout()
        wbuttons.addStretch(1)
        wbuttons.addWidget(self.waive_cancel)
        wbuttons.addWidget(self.waive_confirm)
        wform.addLayout(wbuttons, 2, 0)
        section.body.addWidget(self.waive_form)
        _shortcut(self.waive_form, "Escape", self._close_forms, children=True)
        self._form_document: DocumentRow | None = None
        return section

    def _build_blocker(self) -> QWidget:
        section = _Section("Blocker and notes")
        self.blocker_edit = QLineEdit()
        self.blocker_edit.setAccessibleName("Blocker reason")
        self.blocker_edit.setPlaceholderText("What is holding this renewal up (empty: nothing)")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setAccessibleName("Notes")
        self.notes_edit.setPlaceholderText("Notes")
        self.notes_edit.setTabChangesFocus(True)
        self.notes_edit.setFixedHeight(self.notes_edit.fontMetrics().lineSpacing() * 4 + 16)
        self.save_notes_button = _button("Save blocker and notes")
        self.save_notes_button.clicked.connect(self._save_blocker_notes)
        self.blocker_edit.returnPressed.connect(self._save_blocker_notes)
        section.body.addWidget(self.blocker_edit)
        section.body.addWidget(self.notes_edit)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.save_notes_button)
        section.body.addLayout(row)
        self.notes_conflict, self.notes_take_button = self._conflict_row(section, "notes")
        return section

    def _build_auto_renewal(self) -> QWidget:
        section = _Section("Auto-renewal")
        self.ar_section = section
        self.ar_state = _label()
        self.ar_state.setAccessibleName("Auto-renewal state")
        self.ar_error = _label(role="error")
        self.ar_error.setAccessibleName("Auto-renewal error")
        self.trigger_model = TriggerModel(self)
        self.trigger_view = _table(self.trigger_model, "Auto-renewal triggers", max_rows=3)
        header = self.trigger_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.ar_none = _label(
            "No auto-renewal handles this renewal's term; it renews by hand.", role="muted"
        )
        section.body.addWidget(self.ar_state)
        section.body.addWidget(self.trigger_view)
        section.body.addWidget(self.ar_error)
        section.body.addWidget(self.ar_none)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.dnr_button = _button("Do not renew", "Mark the policy do not renew")
        self.reactivate_button = _button("Reactivate", "Reactivate the auto-renewal")
        self.discard_button = _button("Discard", "Discard the auto-renewal")
        self.edit_times_button = _button("Edit times…", "Edit the trigger times")
        self.dnr_button.clicked.connect(lambda: self._operate_auto_renewal("do_not_renew"))
        self.reactivate_button.clicked.connect(lambda: self._operate_auto_renewal("reactivate"))
        self.discard_button.clicked.connect(lambda: self._operate_auto_renewal("discard"))
        self.edit_times_button.clicked.connect(self._open_times_form)
        for button in (
            self.dnr_button,
            self.reactivate_button,
            self.discard_button,
            self.edit_times_button,
        ):
            row.addWidget(button)
        row.addStretch(1)
        self.ar_buttons = row
        section.body.addLayout(row)

        self.times_form, grid = _inline_form("Edit trigger times")
        self.times_title = _label(role="muted")
        grid.addWidget(self.times_title, 0, 0, 1, 3)
        self.time_edits: dict[str, tuple[QCheckBox, QDateTimeEdit]] = {}
        for number, event in enumerate(("create", "accept", "issue"), start=1):
            check = QCheckBox(event.capitalize())
            check.setAccessibleName(f"Automatic {event}")
            check.setToolTip(f"Unticked: the {event} step is manual")
            edit = QDateTimeEdit()
            edit.setAccessibleName(f"{event.capitalize()} time")
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("MM/dd/yyyy HH:mm")
            check.toggled.connect(edit.setEnabled)
            grid.addWidget(check, number, 0)
            grid.addWidget(edit, number, 1)
            self.time_edits[event] = (check, edit)
        self.times_confirm = _button("Save times", primary=True)
        self.times_confirm.clicked.connect(self._save_times)
        self.times_cancel = _button("Cancel", "Cancel editing times")
        self.times_cancel.clicked.connect(self._close_forms)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.times_cancel)
        buttons.addWidget(self.times_confirm)
        grid.addLayout(buttons, 4, 0, 1, 3)
        grid.setColumnStretch(2, 1)
        section.body.addWidget(self.times_form)
        _shortcut(self.times_form, "Escape", self._close_forms, children=True)
        return section

    def _build_terms(self) -> QWidget:
        section = _Section("Terms")
        self.term_model = TermModel(self)
        self.term_view = _table(self.term_model, "Terms of the policy", max_rows=8)
        header = self.term_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        section.body.addWidget(self.term_view)
        return section

    def _build_timeline(self) -> QWidget:
        section = _Section("Activity")
        self.timeline_model = TimelineModel(self)
        self.timeline_view = _table(
            self.timeline_model, "Activity timeline", max_rows=14, wrap=True
        )
        header = self.timeline_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.timeline_note = _label(role="muted")
        self.timeline_note.setAccessibleName("Activity note")
        section.body.addWidget(self.timeline_view)
        section.body.addWidget(self.timeline_note)
        return section

    # --- loading --------------------------------------------------------------------

    def _show_state(self, state: str) -> None:
        """empty | loading (nothing shown yet) | reloading | shown."""
        empty = state == "empty"
        self.empty.setVisible(empty)
        self.scroll.setVisible(state in ("reloading", "shown"))
        self.reload_button.setVisible(not empty)
        self.title.setVisible(not empty)
        self.subtitle.setVisible(state in ("reloading", "shown"))
        self.status.setVisible(state in ("loading", "reloading"))
        self.status.setText("Loading…")
        if empty:
            self.error.setVisible(False)
        if state == "loading":
            self.title.setText("Renewal")

    def _loaded(self, generation: int, detail: RenewalDetail) -> None:
        self._loading = False
        if generation != self._generation or detail.summary.renewal_id != self._renewal_id:
            self._after_load()
            return
        self._populate(detail)
        self._show_state("shown")
        if self._conflict_reload:
            self._conflict_reload = False
            self._show_message(AFTER_CONFLICT_RELOAD if self._conflicts else AFTER_RELOAD_NO_CLASH)
        self.loaded.emit(detail.summary.renewal_id)
        self._after_load()

    def _load_failed(self, generation: int, failure: Failure) -> None:
        self._loading = False
        if generation == self._generation:
            self._show_state("reloading" if self.detail is not None else "loading")
            self.status.setVisible(False)
            self._show_message(failure.message)
        self._after_load()

    def _after_load(self) -> None:
        if self._reload_again:
            self._reload_again = False
            self.reload()

    def _on_changed(self, kinds: object) -> None:
        if self.session is None or self._renewal_id is None:
            return
        changed = frozenset(kinds) if isinstance(kinds, set | frozenset | list | tuple) else None
        if changed is not None and changed & SHOWS:
            self.reload()

    # --- showing --------------------------------------------------------------------

    def _populate(self, detail: RenewalDetail) -> None:
        same = self.detail is not None and self.detail.summary.renewal_id == (
            detail.summary.renewal_id
        )
        self.detail = detail
        s = detail.summary
        self.title.setText(s.insured)
        office = f" · {s.office}" if s.office else ""
        self.subtitle.setText(f"{s.policy_number} · {s.carrier}{office}")
        f = self.summary_fields
        sla = f", limit {s.sla_days}" if s.sla_days else ""
        days = f"{s.days_in_stage} day{'s' if s.days_in_stage != 1 else ''} in stage{sla}"
        f["stage"].setText(f"{s.stage_name} · {days}")
        past_sla = s.sla_days is not None and s.days_in_stage > s.sla_days
        theme.set_role(f["stage"], "error" if past_sla else "")
        transaction = f"{s.transaction_state.value.capitalize()} ({s.transaction_type})"
        if s.effective is not None:
            transaction += f" · effective {s.effective:{DATE}}"
        if s.new_end is not None:
            transaction += f" · new end {s.new_end:{DATE}}"
        if s.outcome_reason:
            transaction += f" · {s.outcome_reason}"
        f["transaction"].setText(transaction)
        if s.days_left < 0:
            left = f"expired {-s.days_left} day{'s' if s.days_left != -1 else ''} ago"
        elif s.days_left == 0:
            left = "expires today"
        else:
            left = f"{s.days_left} day{'s' if s.days_left != 1 else ''} left"
        f["expiration"].setText(f"{s.expiration_date:{DATE}} · {left}")
        urgent = s.days_left <= 30 and s.stage_kind.value == "open"
        theme.set_role(f["expiration"], "error" if urgent else "")
        premium = _money(s.premium)
        if s.new_premium is not None:
            premium += f" → {_money(s.new_premium)} new"
        f["premium"].setText(premium)
        f["line"].setText(f"{s.line_name} ({s.line_of_business})")
        team = [
            f"Producer {s.producer_name}" if s.producer_name else "No producer",
            f"CSR {s.csr_name}" if s.csr_name else "no CSR",
        ]
        f["team"].setText(" · ".join(team))
        flags = [_FLAG_WORDS.get(flag, flag.replace("_", " ")) for flag in s.risk_flags]
        if s.blocker_reason:
            flags.insert(0, "Blocked")
        if s.policy_status.value == "cancelled":
            flags.insert(0, "Policy cancelled")
        dnr = detail.auto_renewal and detail.auto_renewal.state is AutoRenewalState.DO_NOT_RENEW
        if dnr and "do not renew" not in {flag.casefold() for flag in flags}:
            flags.append("Do not renew")  # once, even when a risk flag says so too
        f["flags"].setText(", ".join(flags) if flags else "None")
        theme.set_role(f["flags"], "error" if flags else "muted")

        self._fill_people(detail)
        self._set_editor("next_action", s.next_action or "", same)
        self._set_editor("owner", s.next_action_owner, same)
        self._set_editor("due", s.next_action_due, same)
        self._set_editor("blocker", s.blocker_reason or "", same)
        self._set_editor("notes", s.notes or "", same)
        self._show_conflicts()
        if not same:
            self.new_task_due.setDate(_qdate(None))
            self._select_combo(
                self.new_task_owner, self.session.user.username if self.session else None
            )

        self._reset_model(self.task_view, self.task_model, detail.tasks)
        self.tasks_empty.setVisible(not detail.tasks)
        self.task_view.setVisible(bool(detail.tasks))
        self._reset_model(self.document_view, self.document_model, detail.documents)
        self.documents_empty.setVisible(not detail.documents)
        self.document_view.setVisible(bool(detail.documents))
        self._show_auto_renewal(detail)
        self._reset_model(self.term_view, self.term_model, detail.terms)
        self.timeline_model.set_rows(detail.timeline)
        self.timeline_view.setVisible(bool(detail.timeline))
        self.timeline_view.refit()
        note = detail.timeline_note
        if not detail.timeline and note is None:
            note = "Nothing has happened on this renewal yet."
        self.timeline_note.setText(note or "")
        self.timeline_note.setVisible(bool(note))
        if self._form_document is not None:
            before = self._form_document
            still = next((d for d in detail.documents if d.id == before.id), None)
            self._form_document = still
            if still is None:
                self._close_forms()
            elif still.version != before.version:  # the open form is kept, and says so
                now = self.document_model.text(still, 1)
                note = (
                    f"‘{still.document_type}’ was changed meanwhile (now {now.lower()}); "
                    "what you enter here replaces that."
                )
                self.receive_title.setText(note)
                self.waive_title.setText(note)
        self._refresh_actions()

    def _reset_model(self, view: FitTable, model: _RowsModel, rows: Sequence[Any]) -> None:
        """New rows, keeping the selected row (by id) where it still exists."""
        current = model.row(view.currentIndex()) if view.currentIndex().isValid() else None
        model.set_rows(rows)
        if current is not None:
            for number, row in enumerate(rows):
                if getattr(row, "id", None) == getattr(current, "id", object()):
                    view.selectRow(number)
                    break
        view.refit()

    def _fill_people(self, detail: RenewalDetail) -> None:
        for combo in (self.owner_combo, self.assign_combo, self.new_task_owner):
            chosen = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            if combo.property("nobody"):
                combo.addItem("Nobody", None)
            for person in detail.people:
                combo.addItem(f"{person.name} ({_role_label(person.role)})", person.username)
            self._select_combo(combo, chosen)
            combo.blockSignals(False)

    @staticmethod
    def _select_combo(combo: QComboBox, username: str | None) -> None:
        index = combo.findData(username)
        if index < 0 and username is not None and username:
            combo.addItem(username, username)  # an inactive owner stays shown as is
            index = combo.count() - 1
        combo.setCurrentIndex(max(index, 0))

    def _editor_value(self, key: str) -> Any:
        if key == "next_action":
            return self.next_action_edit.text()
        if key == "owner":
            return self.owner_combo.currentData()
        if key == "due":
            return _pydate(self.due_edit.date())
        if key == "blocker":
            return self.blocker_edit.text()
        return self.notes_edit.toPlainText()

    def _set_editor(self, key: str, value: Any, same_renewal: bool) -> None:
        """Show the stored value, unless the user has typed something else in the field
        (a reload after someone else's change must not throw their typing away)."""
        previous = self._loaded_values.get(key, value)
        self._loaded_values[key] = value
        typed = self._editor_value(key)
        if same_renewal and not _same(typed, previous) and not _same(typed, value):
            if not _same(value, previous):
                self._conflicts[key] = value  # saved meanwhile, under the user's typing
            return
        self._conflicts.pop(key, None)
        if same_renewal and _same(typed, value):
            return
        self._put_editor(key, value)

    def _put_editor(self, key: str, value: Any) -> None:
        if key == "next_action":
            self.next_action_edit.setText(value)
        elif key == "owner":
            self._select_combo(self.owner_combo, value)
        elif key == "due":
            self.due_edit.setDate(_qdate(value))
        elif key == "blocker":
            self.blocker_edit.setText(value)
        else:
            self.notes_edit.setPlainText(value)

    def _show_auto_renewal(self, detail: RenewalDetail) -> None:
        ar = detail.auto_renewal
        has = ar is not None
        for widget in (self.ar_state, self.trigger_view, self.dnr_button):
            widget.setVisible(has)
        for button in (self.reactivate_button, self.discard_button, self.edit_times_button):
            button.setVisible(has)
        self.ar_none.setVisible(not has)
        if ar is None:
            self.ar_error.setVisible(False)
            self.times_form.setVisible(False)
            return
        plan = f" · plan {ar.plan}" if ar.plan else " · no plan"
        due = f" · next due {_m(ar.next_due)}" if ar.next_due else ""
        manages = "" if ar.manages_this_renewal else " · not managing this renewal yet"
        self.ar_state.setText(
            f"{_AR_STATE_WORDS[ar.state]}{plan} · {ar.new_term_months}-month term"
            f"{due}{manages} · times in {detail.time_zone}"
        )
        theme.set_role(
            self.ar_state,
            "error" if ar.state in (AutoRenewalState.ERROR, AutoRenewalState.DO_NOT_RENEW) else "",
        )
        self.trigger_model.set_rows(ar.triggers)
        self.trigger_view.refit()
        self.ar_error.setText(f"Last error: {ar.last_error}" if ar.last_error else "")
        self.ar_error.setVisible(bool(ar.last_error))

    # --- what the role and the state allow ------------------------------------------

    def _may(self, action: Action, *extra_owner_ids: int | None) -> bool:
        if self.session is None or self.detail is None:
            return False
        owners = set(self.detail.summary.owner_ids) | {i for i in extra_owner_ids if i}
        return permissions.allowed(
            self.session.user.role, action, in_own_book=self.session.user.id in owners
        )

    def _why_not(self, action: Action) -> str:
        return self.session.refusal(action) if self.session else ""

    def selected_task(self) -> TaskRow | None:
        index = self.task_view.currentIndex()
        return self.task_model.row(index) if index.isValid() else None

    def selected_document(self) -> DocumentRow | None:
        index = self.document_view.currentIndex()
        return self.document_model.row(index) if index.isValid() else None

    def _task_selected(self, *_args: object) -> None:
        task = self.selected_task()
        if task is not None and task.owner:
            self._select_combo(self.assign_combo, task.owner)
        self._refresh_actions()

    def _refresh_actions(self, *_args: object) -> None:
        if self.detail is None:
            return
        may_edit = self._may(Action.RENEWAL_EDIT)
        for widget in (self.next_action_edit, self.due_edit, self.save_next_button):
            _allow(widget, may_edit, self._why_not(Action.RENEWAL_EDIT))
        _allow(
            self.owner_combo,
            self._may(Action.RENEWAL_REASSIGN),
            self._why_not(Action.RENEWAL_REASSIGN),
        )
        if not may_edit and self._may(Action.RENEWAL_REASSIGN):
            _allow(self.save_next_button, True)
        for widget in (self.blocker_edit, self.notes_edit, self.save_notes_button):
            _allow(widget, may_edit, self._why_not(Action.RENEWAL_EDIT))

        task = self.selected_task()
        if task is None:
            reason = "Select a task first."
            ok = False
        elif task.status is not TaskStatus.OPEN:
            reason, ok = f"This task is {task.status.value}.", False
        elif not self._may(Action.TASK_MANAGE, task.owner_id):
            reason, ok = self._why_not(Action.TASK_MANAGE), False
        else:
            reason, ok = "", True
        _allow(self.complete_button, ok, reason)
        _allow(self.assign_button, ok, reason)
        _allow(self.assign_combo, ok, reason)
        if ok:
            self.complete_button.setToolTip(
                "Complete the selected task (Ctrl+Enter in the list, or double-click it)"
            )
        may_tasks = self._may(Action.TASK_MANAGE)
        for widget in (
            self.new_task_edit,
            self.new_task_owner,
            self.new_task_due,
            self.add_task_button,
        ):
            _allow(widget, may_tasks, self._why_not(Action.TASK_MANAGE))

        self._refresh_document_actions()
        self._refresh_auto_renewal_actions()
        self._refresh_new_renewal()

    def _refresh_document_actions(self) -> None:
        doc = self.selected_document()
        buttons = {
            "request": self.request_button,
            "receive": self.receive_button,
            "waive": self.waive_button,
            "expire": self.expire_button,
        }
        if doc is None:
            for button in (*buttons.values(), self.open_link_button):
                _allow(button, False, "Select a document first.")
            return
        if doc.restricted:
            for button in (*buttons.values(), self.open_link_button):
                _allow(button, False, doc.restricted_reason or "")
            return
        managing = self._may(Action.DOCUMENT_MANAGE)
        why = self._why_not(Action.DOCUMENT_MANAGE)
        status = doc.status
        state_reasons = {
            "request": None
            if status in (DocumentStatus.MISSING, DocumentStatus.REQUESTED, DocumentStatus.EXPIRED)
            else f"‘{doc.document_type}’ is already {status.value}.",
            "receive": None,
            "waive": None
            if status is not DocumentStatus.WAIVED
            else f"‘{doc.document_type}’ is already waived.",
            "expire": None
            if status is DocumentStatus.RECEIVED
            else f"Only a received document can expire; ‘{doc.document_type}’ is {status.value}.",
        }
        for key, button in buttons.items():
            if not managing:
                _allow(button, False, why)
            else:
                reason = state_reasons[key]
                _allow(button, reason is None, reason or "")
        self.receive_button.setToolTip(
            self.receive_button.toolTip()
            or "Mark received, with the date and a link (Ctrl+Enter in the list)"
        )
        _allow(
            self.open_link_button,
            bool(doc.storage_link),
            f"‘{doc.document_type}’ has no stored link.",
        )
        if doc.storage_link:
            self.open_link_button.setToolTip(f"Open {doc.storage_link} (double-click the row)")

    def _refresh_auto_renewal_actions(self) -> None:
        ar = self.detail.auto_renewal if self.detail else None
        if ar is None:
            return
        buttons = {
            Operation.DO_NOT_RENEW: self.dnr_button,
            Operation.REACTIVATE: self.reactivate_button,
            Operation.DISCARD: self.discard_button,
        }
        if not self._may(Action.AUTO_RENEWAL_MANAGE):
            why = self._why_not(Action.AUTO_RENEWAL_MANAGE)
            for button in (*buttons.values(), self.edit_times_button):
                _allow(button, False, why)
            self.times_form.setVisible(False)
            return
        if not ar.on_latest_term:
            why = "The policy has renewed since; this term's auto-renewal can no longer be changed."
            for button in (*buttons.values(), self.edit_times_button):
                _allow(button, False, why)
            return
        allowed = allowed_operations(ar.state)
        state = _AR_STATE_SENTENCE[ar.state]
        words = {
            Operation.DO_NOT_RENEW: "marked do not renew",
            Operation.REACTIVATE: "reactivated",
            Operation.DISCARD: "discarded",
        }
        for op, button in buttons.items():
            if op in allowed:
                _allow(button, True)
            elif OPERATIONS[op][1] is ar.state:
                _allow(button, False, f"The auto-renewal is already {state}.")
            elif ar.state is AutoRenewalState.DO_NOT_RENEW and op is Operation.DISCARD:
                _allow(button, False, "Reactivate it first to lift do not renew.")
            else:
                _allow(button, False, f"An auto-renewal that is {state} cannot be {words[op]}.")
        editable = ar.state not in (
            AutoRenewalState.ISSUED,
            AutoRenewalState.TERMINATED,
            AutoRenewalState.DISCARDED,
        )
        _allow(
            self.edit_times_button,
            editable,
            f"An auto-renewal that is {state} can no longer be changed.",
        )
        self.dnr_button.setToolTip(
            self.dnr_button.toolTip()
            or "No renewal of this policy may be issued until the auto-renewal is reactivated"
        )

    def _may_create_renewal(self) -> tuple[bool, str]:
        """Whether the signed-in person may start a renewal of this policy, and why not.
        The book that counts is the account's (its producer and CSR), as the service
        checks it."""
        if self.session is None or self.detail is None:
            return False, "Nobody is signed in."
        s = self.detail.summary
        in_book = self.session.user.id in {s.producer_id, s.csr_id}
        if not permissions.allowed(
            self.session.user.role, Action.RENEWAL_CREATE, in_own_book=in_book
        ):
            return False, self._why_not(Action.RENEWAL_CREATE)
        if s.policy_status.value == "cancelled":
            return False, (
                f"{s.carrier} policy {s.policy_number} is cancelled, so it cannot be renewed."
            )
        return True, ""

    def _refresh_new_renewal(self) -> None:
        """The button under the summary of a renewal that is over (its transaction ended,
        or its card is decided), enabled for whoever may start the policy's next one."""
        if self.detail is None:
            return
        s = self.detail.summary
        over = s.transaction_state in ENDED_STATES or s.stage_kind is not StageKind.OPEN
        self.new_renewal_note.setVisible(over)
        self.new_renewal_button.setVisible(over)
        if not over:
            self.new_renewal_form.setVisible(False)
            return
        self.new_renewal_note.setText(_new_renewal_note(s))
        allowed, reason = self._may_create_renewal()
        _allow(self.new_renewal_button, allowed, reason)
        if allowed:
            self.new_renewal_button.setToolTip(
                f"Start a draft renewal of {s.policy_number}: choose its new end date"
            )
        else:
            self.new_renewal_form.setVisible(False)
        self.new_renewal_confirm.setEnabled(not self._starting)

    def _current_term(self) -> tuple[date, date]:
        """The policy's latest term (start, end): the one a new renewal renews."""
        assert self.detail is not None
        terms = [t for t in self.detail.terms if t.kind == "term"]
        if terms:
            latest = max(terms, key=lambda t: t.end)
            return latest.start, latest.end
        end = self.detail.summary.expiration_date
        return _add_months(end, -12), end

    # --- messages -------------------------------------------------------------------

    def _show_message(self, text: str, *, stale: bool = False) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))
        self.keep_reload_button.setVisible(stale)
        if text:
            self.message.emit(text)

    def _failed(self, failure: Failure) -> None:
        """A save did not happen: say why, keep what was typed."""
        if isinstance(failure.exception, StaleEdit):
            self._show_message(failure.message, stale=True)
        elif changes.is_offline(failure.exception):
            self._show_message(NOT_SAVED_OFFLINE)
        else:
            self._show_message(failure.message)

    def reload_keeping_text(self) -> None:
        """Reload after a refused save: what the user typed stays in the fields, what was
        saved meanwhile is shown under them."""
        self._conflict_reload = True
        self.keep_reload_button.setVisible(False)
        self.reload()

    # --- what was saved meanwhile ---------------------------------------------------

    @property
    def conflicts(self) -> dict[str, Any]:
        """Field → the value saved meanwhile under what the user typed there."""
        return dict(self._conflicts)

    def _show_conflicts(self) -> None:
        for section, note, take in (
            ("next", self.next_conflict, self.next_take_button),
            ("notes", self.notes_conflict, self.notes_take_button),
        ):
            parts = [
                self._conflict_words(key, self._conflicts[key])
                for key in EDITOR_SECTIONS[section]
                if key in self._conflicts
            ]
            text = ""
            if parts:
                text = (
                    f"Saved meanwhile: {_join(parts)}. Your unsaved text is kept above; "
                    "Save puts yours in its place."
                )
            note.setText(text)
            note.setVisible(bool(parts))
            take.setVisible(bool(parts))

    def _conflict_words(self, key: str, value: Any) -> str:
        if key == "next_action":
            return f"next action ‘{value}’" if value else "no next action"
        if key == "owner":
            if not value:
                return "owner nobody"
            index = self.owner_combo.findData(value)
            name = self.owner_combo.itemText(index) if index >= 0 else str(value)
            return f"owner {name}"
        if key == "due":
            return f"due {_d(value)}" if value else "no due date"
        if key == "blocker":
            return f"blocker ‘{value}’" if value else "no blocker"
        text = " ".join(str(value).split())
        if not text:
            return "no notes"
        return f"notes ‘{text if len(text) <= 120 else text[:117] + '…'}’"

    def _take_saved(self, section: str) -> None:
        """Put the saved values back into the fields of ``section`` (dropping the typing)."""
        for key in EDITOR_SECTIONS[section]:
            if key in self._loaded_values:
                self._conflicts.pop(key, None)
                self._put_editor(key, self._loaded_values[key])
        self._show_conflicts()
        if not self._conflicts and self.error.text() in (
            AFTER_CONFLICT_RELOAD,
            AFTER_RELOAD_NO_CLASH,
        ):
            self._show_message("")

    def _refuse(self, text: str) -> None:
        self._show_message(text)

    # --- writing --------------------------------------------------------------------

    def _write(
        self,
        fn: Callable[..., Any],
        *args: Any,
        changes: set[str],
        what: str,
        done: str,
        after: Callable[[], None] | None = None,
        on_result: Callable[[Any], None] | None = None,
        settled: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run one service call through the executor; the broadcast of ``changes`` makes
        every view (this one too) reload. A refusal keeps what the user typed.

        ``after`` runs when it succeeded, ``on_result`` then gets what the service
        returned, and ``settled`` runs first either way (succeeded or refused)."""
        if self.session is None:
            return

        def succeeded(result: object) -> None:
            if settled is not None:
                settled()
            self._show_message("")
            if after is not None:
                after()
            if on_result is not None:
                on_result(result)
            self.message.emit(done)

        def failed(failure: Failure) -> None:
            if settled is not None:
                settled()
            self._failed(failure)

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

    def _save_next_action(self) -> None:
        if self.detail is None:
            return
        s = self.detail.summary
        fields: dict[str, Any] = {}
        text = self.next_action_edit.text().strip()
        if text != (s.next_action or ""):
            fields["next_action"] = text or None
        owner = self.owner_combo.currentData()
        if owner != s.next_action_owner:
            fields["next_action_owner"] = owner
        due = _pydate(self.due_edit.date())
        if due != s.next_action_due:
            fields["next_action_due"] = due
        if not fields:
            self.message.emit("Nothing to save: the next action is as stored.")
            return
        self._write(
            renewals.update_renewal,
            s.renewal_id,
            expected_version=s.version,
            changes={"renewals"},
            what="saving the next action",
            done=f"Saved the next action of {s.policy_number}.",
            **fields,
        )

    def _save_blocker_notes(self) -> None:
        if self.detail is None:
            return
        s = self.detail.summary
        fields: dict[str, Any] = {}
        blocker = self.blocker_edit.text().strip()
        if blocker != (s.blocker_reason or ""):
            fields["blocker_reason"] = blocker or None
        notes = self.notes_edit.toPlainText().strip()
        if notes != (s.notes or "").strip():
            fields["notes"] = notes or None
        if not fields:
            self.message.emit("Nothing to save: the blocker and notes are as stored.")
            return
        self._write(
            renewals.update_renewal,
            s.renewal_id,
            expected_version=s.version,
            changes={"renewals"},
            what="saving the blocker and notes",
            done=f"Saved the blocker and notes of {s.policy_number}.",
            **fields,
        )

    # tasks

    def _add_task(self) -> None:
        if self.detail is None:
            return
        title = self.new_task_edit.text().strip()
        if not title:
            self._refuse("A task needs a title saying what to do.")
            self.new_task_edit.setFocus()
            return
        self._write(
            work.add_task,
            self.detail.summary.renewal_id,
            title,
            owner=self.new_task_owner.currentData(),
            due=_pydate(self.new_task_due.date()),
            changes={"tasks"},
            what="adding the task",
            done=f"Added the task ‘{title}’.",
            after=self.new_task_edit.clear,
        )

    def _complete_task(self) -> None:
        task = self.selected_task()
        if task is None or not self.complete_button.isEnabled():
            return
        self._write(
            work.complete_task,
            task.id,
            expected_version=task.version,
            changes={"tasks"},
            what="completing the task",
            done=f"Completed the task ‘{task.title}’.",
        )

    def _assign_task(self) -> None:
        task = self.selected_task()
        if task is None:
            return
        owner = self.assign_combo.currentData()
        self._write(
            work.update_task,
            task.id,
            expected_version=task.version,
            owner=owner,
            changes={"tasks"},
            what="assigning the task",
            done=f"Assigned the task ‘{task.title}’ to {self.assign_combo.currentText()}.",
        )

    # documents

    def _document_double_clicked(self, index: QModelIndex) -> None:
        doc = self.document_model.row(index)
        if doc is not None and doc.storage_link and not doc.restricted:
            self._open_link()

    def _receive_shortcut(self) -> None:
        if self.receive_button.isEnabled():
            self._open_receive_form()

    def _request_document(self) -> None:
        doc = self.selected_document()
        if doc is None:
            return
        self._write(
            work.request_document,
            doc.id,
            expected_version=doc.version,
            changes={"document_requirements"},
            what="requesting the document",
            done=f"Requested ‘{doc.document_type}’.",
        )

    def _expire_document(self) -> None:
        doc = self.selected_document()
        if doc is None:
            return
        self._write(
            work.expire_document,
            doc.id,
            expected_version=doc.version,
            changes={"document_requirements"},
            what="marking the document expired",
            done=f"Marked ‘{doc.document_type}’ expired.",
        )

    def _close_forms(self) -> None:
        self.receive_form.setVisible(False)
        self.waive_form.setVisible(False)
        self.times_form.setVisible(False)
        self.new_renewal_form.setVisible(False)
        self._form_document = None

    def _open_receive_form(self) -> None:
        doc = self.selected_document()
        if doc is None:
            return
        self._close_forms()
        self._form_document = doc
        self.receive_title.setText(f"Mark ‘{doc.document_type}’ received")
        today = self.detail.today if self.detail else date.today()
        # correcting a receipt keeps its date; anything else was received today
        kept = doc.received_on if doc.status is DocumentStatus.RECEIVED else None
        self.received_on_edit.setDate(_qdate(kept or today))
        self.receive_link_edit.setText(doc.storage_link or "")
        self.receive_form.setVisible(True)
        self.received_on_edit.setFocus()
        self.scroll.ensureWidgetVisible(self.receive_form)

    def _receive_document(self) -> None:
        doc = self._form_document
        if doc is None:
            return
        received = _pydate(self.received_on_edit.date())
        link = self.receive_link_edit.text().strip() or None
        self._write(
            work.receive_document,
            doc.id,
            on=received,
            storage_link=link,
            expected_version=doc.version,
            changes={"document_requirements"},
            what="marking the document received",
            done=f"Marked ‘{doc.document_type}’ received.",
            after=self._close_forms,
        )

    def _open_waive_form(self) -> None:
        doc = self.selected_document()
        if doc is None:
            return
        self._close_forms()
        self._form_document = doc
        self.waive_title.setText(f"Waive ‘{doc.document_type}’: why is it not needed?")
        self.waive_reason_edit.clear()
        self.waive_form.setVisible(True)
        self.waive_reason_edit.setFocus()
        self.scroll.ensureWidgetVisible(self.waive_form)

    def _waive_document(self) -> None:
        doc = self._form_document
        if doc is None:
            return
        reason = self.waive_reason_edit.text().strip()
        if not reason:
            self._refuse(
                f"Waiving ‘{doc.document_type}’ needs a reason; type why it is not needed."
            )
            self.waive_reason_edit.setFocus()
            return
        self._write(
            work.waive_document,
            doc.id,
            reason,
            expected_version=doc.version,
            changes={"document_requirements"},
            what="waiving the document",
            done=f"Waived ‘{doc.document_type}’.",
            after=self._close_forms,
        )

    def _open_link(self) -> None:
        doc = self.selected_document()
        if doc is None or not doc.storage_link:
            return
        url = link_url(doc.storage_link)
        if url is None:
            self._refuse(
                f"The link of ‘{doc.document_type}’ ({doc.storage_link}) is neither a web "
                "address nor a file path, so it cannot be opened."
            )
            return
        if not QDesktopServices.openUrl(url):
            self._refuse(
                f"The link of ‘{doc.document_type}’ ({doc.storage_link}) could not be opened; "
                "check that the file or address still exists."
            )
            return
        self._show_message("")
        self.message.emit(f"Opened {doc.storage_link}.")

    # auto-renewal

    def _operate_auto_renewal(self, op: str) -> None:
        if self.detail is None or self.detail.auto_renewal is None:
            return
        s = self.detail.summary
        fn = {
            "do_not_renew": auto_renewals.do_not_renew,
            "reactivate": auto_renewals.reactivate,
            "discard": auto_renewals.discard,
        }[op]
        done = {
            "do_not_renew": f"Marked {s.policy_number} do not renew.",
            "reactivate": f"Reactivated the auto-renewal of {s.policy_number}.",
            "discard": f"Discarded the auto-renewal of {s.policy_number}.",
        }[op]
        self._write(
            fn,
            s.policy_number,
            carrier=s.carrier,
            changes={"auto_renewals", "renewals"},
            what="changing the auto-renewal",
            done=done,
        )

    def _open_times_form(self) -> None:
        if self.detail is None or self.detail.auto_renewal is None:
            return
        self._close_forms()
        ar = self.detail.auto_renewal
        self.times_title.setText(
            f"Trigger times in {self.detail.time_zone}; untick a step to make it manual."
        )
        for trigger in ar.triggers:
            check, edit = self.time_edits[trigger.event]
            moment = trigger.time
            base = moment or self.detail.summary.expiration
            edit.setDateTime(
                QDateTime(QDate(base.year, base.month, base.day), QTime(base.hour, base.minute))
            )
            check.setChecked(moment is not None)
            edit.setEnabled(moment is not None)
        self.times_form.setVisible(True)
        self.time_edits["create"][0].setFocus()
        self.scroll.ensureWidgetVisible(self.times_form)

    def _save_times(self) -> None:
        if self.detail is None or self.detail.auto_renewal is None:
            return
        zone = ZoneInfo(self.detail.time_zone)
        times: dict[str, datetime | None] = {}
        for event, (check, edit) in self.time_edits.items():
            if not check.isChecked():
                times[f"{event}_time"] = None
                continue
            value = edit.dateTime()
            d, t = value.date(), value.time()
            times[f"{event}_time"] = datetime(
                d.year(), d.month(), d.day(), t.hour(), t.minute(), tzinfo=zone
            )
        s = self.detail.summary
        self._write(
            auto_renewals.update,
            s.policy_number,
            carrier=s.carrier,
            expected_version=self.detail.auto_renewal.version,
            changes={"auto_renewals"},
            what="saving the trigger times",
            done=f"Saved the trigger times of {s.policy_number}.",
            after=self._close_forms,
            **times,
        )

    # a new renewal of the policy

    def _open_new_renewal_form(self) -> None:
        if self.detail is None or not self.new_renewal_button.isEnabled():
            return
        self._close_forms()
        s = self.detail.summary
        start, end = self._current_term()
        self.new_renewal_title.setText(
            f"A new draft renewal of {s.policy_number}; its current term ends {_d(end)}."
        )
        self.new_end_edit.setDate(_qdate(default_new_end(start, end)))
        self.later_check.setChecked(False)
        self.effective_edit.setDate(_qdate(end))
        self.new_renewal_hint.setText(
            f"Unticked, the new term starts when the current one ends ({_d(end)}); a later "
            "start leaves a gap that no term covers."
        )
        self.new_renewal_confirm.setEnabled(not self._starting)
        self.new_renewal_form.setVisible(True)
        self.new_end_edit.setFocus()
        self.scroll.ensureWidgetVisible(self.new_renewal_form)

    def _start_new_renewal(self) -> None:
        if self.detail is None or self.session is None or self._starting:
            return
        s = self.detail.summary
        new_end = _pydate(self.new_end_edit.date())
        effective = _pydate(self.effective_edit.date()) if self.later_check.isChecked() else None
        if new_end is None:
            self._refuse("A new renewal needs the date its new term ends.")
            self.new_end_edit.setFocus()
            return
        self._starting = True
        self.new_renewal_confirm.setEnabled(False)
        self._write(
            transactions.create_renewal,
            s.policy_number,
            new_end=new_end,
            effective=effective,
            carrier=s.carrier,
            changes={"renewals"},
            what="starting a new renewal",
            done=f"Started a new renewal of {s.policy_number}, ending {_d(new_end)}.",
            on_result=self._new_renewal_started,
            settled=self._new_renewal_settled,
        )

    def _new_renewal_settled(self) -> None:
        self._starting = False
        self.new_renewal_confirm.setEnabled(True)

    def _new_renewal_started(self, info: transactions.RenewalInfo) -> None:
        """Show the new draft in the panel (the board shows its card on the broadcast)."""
        self._close_forms()
        self.show_renewal(info.id)


def _same(a: Any, b: Any) -> bool:
    """Whether two field values are the same as far as saving goes (text is saved
    without its surrounding spaces; an empty text is none)."""
    if isinstance(a, str | None) and isinstance(b, str | None):
        return (a or "").strip() == (b or "").strip()
    return a == b


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _role_label(role: str) -> str:
    return "CSR" if role == "csr" else role.capitalize()


__all__ = [
    "NEW_RENEWAL",
    "SHOWS",
    "RenewalDetailPanel",
    "default_new_end",
    "link_url",
    "point_to_new_renewal",
]
