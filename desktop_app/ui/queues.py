"""The Queues page: My queue, the Team queue, Needs attention, and the timer's reminders.

Built for working down a list from the keyboard: arrow keys pick an entry, Enter opens it,
Ctrl+D completes a task, Ctrl+Shift+S snoozes, Ctrl+Shift+R reassigns, Ctrl+M moves the
renewal to another stage; after each, the selection moves on to the next entry.

Each queue is a :class:`QueueModel` fed a page at a time by :mod:`desktop_app.services.queues`
(through the executor, never on the GUI thread); clicking a header asks the service for
another order, so nothing is sorted or filtered in a proxy over a large book.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QPersistentModelIndex,
    QSettings,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QBrush, QColor, QGuiApplication, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.domain.enums import StageKind
from desktop_app.domain.permissions import Action
from desktop_app.services import admin, queues, renewals, users, work
from desktop_app.services.admin import StageInfo
from desktop_app.services.queues import AttentionEntry, NoticeInfo, QueueCounts, QueueEntry
from desktop_app.services.users import UserInfo
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure, Job
from desktop_app.ui.page import Page
from desktop_app.ui.session import DeskSession

PAGE_SIZE = queues.PAGE_SIZE
MAX_RELOAD = 5000
"""A refresh reloads as many rows as were showing (to keep the selection), up to this."""
NOTICES_SHOWN = 100
SETTINGS_TAB = "queues/tab"
SETTINGS_OWNER = "queues/team_owner"
TABS = ("mine", "team", "attention")
TAB_TITLES = {"mine": "My queue", "team": "Team queue", "attention": "Needs attention"}
EMPTY = {
    "mine": "Nothing in your queue: no open tasks, and no renewals waiting on you.",
    "team": "Nobody has open tasks or renewals waiting on them.",
    "attention": "Nothing needs attention right now.",
}
SHOWS = frozenset(
    {
        "tasks",
        "renewals",
        "document_requirements",
        "auto_renewals",
        "notices",
        "pipeline_stages",
        "users",
    }
)

Entry = QueueEntry | AttentionEntry


def next_business_day(day: date) -> date:
    """The weekday after ``day`` (Friday → Monday)."""
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _day(value: date | None) -> str:
    return f"{value:%m/%d/%Y}" if value else "—"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _colors() -> theme.Colors:
    """The colours of the palette in use (dark when the window background is dark)."""
    window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
    return theme.DARK if window.lightness() < 128 else theme.LIGHT


def _shortcut_text(action: QAction) -> str:
    keys = action.shortcut()
    return keys.toString(QKeySequence.SequenceFormat.NativeText) if not keys.isEmpty() else ""


# --- the models ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    sort: str | None
    text: Callable[[Any], str]
    right: bool = False
    tip: Callable[[Any], str | None] | None = None
    danger: Callable[[Any], bool] | None = None


def _what(e: Entry) -> str:
    return e.title or "(no next action)"


def _due_tip(e: Entry) -> str | None:
    if e.due is None:
        return "No due date"
    return f"Overdue: was due {_day(e.due)}" if e.overdue else f"Due {_day(e.due)}"


def _days_tip(e: Entry) -> str:
    if e.days_left < 0:
        return f"Expired {_plural(-e.days_left, 'day')} ago, on {_day(e.expiration)}"
    return f"Expires {_day(e.expiration)}"


KIND = Column("Type", "kind", lambda e: "Task" if e.is_task else "Renewal")
WHAT = Column("What", "title", _what, tip=_what)
INSURED = Column("Insured", "insured", lambda e: e.insured, tip=lambda e: e.insured)
POLICY = Column(
    "Policy", "policy", lambda e: e.policy_number, tip=lambda e: f"{e.carrier} {e.policy_number}"
)
STAGE = Column("Stage", "stage", lambda e: e.stage_name)
OWNER = Column("Owner", "owner", lambda e: e.owner_name or e.owner or "Nobody")
DUE = Column("Due", "due", lambda e: _day(e.due), tip=_due_tip, danger=lambda e: e.overdue)
DAYS_LEFT = Column(
    "Days left",
    "expiration",
    lambda e: f"{e.days_left:,}",
    right=True,
    tip=_days_tip,
    danger=lambda e: e.days_left < 0,
)
WHY = Column(
    "Why",
    "reasons",
    lambda e: " · ".join(r.text for r in e.reasons),
    tip=lambda e: "\n".join(f"• {r.text}" for r in e.reasons),
)
NEXT_DUE = Column(
    "Action due", "due", lambda e: _day(e.due), tip=_due_tip, danger=lambda e: e.overdue
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    "mine": (KIND, WHAT, INSURED, POLICY, STAGE, DUE, DAYS_LEFT),
    "team": (KIND, WHAT, OWNER, INSURED, POLICY, STAGE, DUE, DAYS_LEFT),
    "attention": (INSURED, POLICY, STAGE, OWNER, NEXT_DUE, DAYS_LEFT, WHY),
}
DEFAULT_SORT = {"mine": "due", "team": "due", "attention": "expiration"}


class QueueModel(QAbstractTableModel):
    """One queue's rows: the pages loaded so far, in the order the service gave them."""

    more_wanted = Signal()
    """The view scrolled to the end of what is loaded: fetch the next page."""
    sort_wanted = Signal()
    """A header was clicked: reload in the new order (:attr:`sort_key`, :attr:`descending`)."""

    def __init__(self, columns: Sequence[Column], sort_key: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = tuple(columns)
        self.rows: list[Entry] = []
        self.has_more = False
        self.loading = False
        self.sort_key = sort_key
        self.descending = False
        self._danger = QColor(_colors().danger)

    # --- Qt's model interface ------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        if index.column() >= len(self.columns):
            return None
        entry, column = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(entry)
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tip(entry) if column.tip else None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column.danger is not None and column.danger(entry):
                return QBrush(self._danger)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.right else Qt.AlignmentFlag.AlignLeft
            return horizontal | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.UserRole:
            return entry
        return None

    def headerData(
        self,
        section: int,
        orientation: Qt.Orientation,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Sort by {column.header.lower()}" if column.sort else None
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        return not parent.isValid() and self.has_more and not self.loading

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if self.canFetchMore(parent):
            self.loading = True
            self.more_wanted.emit()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns) or self.columns[column].sort is None:
            return
        key = self.columns[column].sort
        descending = order == Qt.SortOrder.DescendingOrder
        if (key, descending) == (self.sort_key, self.descending):
            return
        self.sort_key, self.descending = key, descending
        self.sort_wanted.emit()

    # --- feeding it ----------------------------------------------------------------------

    def sort_column(self) -> int:
        for number, column in enumerate(self.columns):
            if column.sort == self.sort_key:
                return number
        return -1

    def set_rows(self, rows: Sequence[Entry], has_more: bool) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.has_more = has_more
        self.loading = False
        self._danger = QColor(_colors().danger)
        self.endResetModel()

    def append_rows(self, rows: Sequence[Entry], has_more: bool) -> None:
        self.loading = False
        self.has_more = has_more
        known = {e.key for e in self.rows}
        fresh = [e for e in rows if e.key not in known]  # a row may shift between pages
        if fresh:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self.rows.extend(fresh)
            self.endInsertRows()

    def remove(self, key: tuple[str, int]) -> bool:
        """Take the entry ``(kind, id)`` out (it was completed); False when not here."""
        row = self.row_of(key)
        if row < 0:
            return False
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.rows[row]
        self.endRemoveRows()
        return True

    def entry(self, row: int) -> Entry | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def row_of(self, key: tuple[str, int] | None) -> int:
        if key is None:
            return -1
        for number, e in enumerate(self.rows):
            if e.key == key:
                return number
        return -1


def notice_text(notice: NoticeInfo) -> str:
    """A reminder in one line: its kind, what it is about (unless it says so), its text."""
    about = notice.subject
    if about and notice.insured and notice.insured in notice.message:
        about = ""
    return (
        f"{notice.kind_label} — {about}: {notice.message}"
        if about
        else (f"{notice.kind_label}: {notice.message}")
    )


class NoticeModel(QAbstractListModel):
    """The user's unread reminders, newest first."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.notices: list[NoticeInfo] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.notices)

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.notices):
            return None
        notice = self.notices[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return notice_text(notice)
        if role == Qt.ItemDataRole.ToolTipRole:
            when = notice.created_at.astimezone().strftime("%m/%d/%Y %I:%M %p")
            return f"{notice_text(notice)}\nRaised {when}"
        if role == Qt.ItemDataRole.UserRole:
            return notice
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def set_notices(self, notices: Sequence[NoticeInfo]) -> None:
        self.beginResetModel()
        self.notices = list(notices)
        self.endResetModel()

    def notice(self, row: int) -> NoticeInfo | None:
        return self.notices[row] if 0 <= row < len(self.notices) else None


# --- the dialogs ----------------------------------------------------------------------------


def _dialog_buttons(dialog: QDialog, ok: str) -> QDialogButtonBox:
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok)
    buttons.button(QDialogButtonBox.StandardButton.Ok).setAccessibleName(ok)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


def _mnemonic_safe(text: str) -> str:
    """Text for a label with a buddy, where "&" would otherwise underline the next letter."""
    return text.replace("&", "&&")


def _describe(entry: Entry) -> str:
    if entry.is_task:
        return f"the task '{entry.title}' ({entry.insured})"
    return f"the renewal of {entry.insured} ({entry.policy_number})"


class SnoozeDialog(QDialog):
    """Pick the day an entry comes back: the next business day unless told otherwise."""

    def __init__(self, entry: Entry, today: date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Snooze")
        self.entry = entry
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 56)
        intro = QLabel(_mnemonic_safe(f"Snooze {_describe(entry)} until:"))
        intro.setWordWrap(True)
        self.date_edit = QDateEdit()
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("MM/dd/yyyy")
        self.date_edit.setMinimumDate(QDate(today.year, today.month, today.day))
        default = next_business_day(today)
        self.date_edit.setDate(QDate(default.year, default.month, default.day))
        self.date_edit.setAccessibleName("Snooze until")
        intro.setBuddy(self.date_edit)
        layout.addWidget(intro)
        layout.addWidget(self.date_edit)
        layout.addWidget(_dialog_buttons(self, "Snooze"))
        self.date_edit.setFocus()

    def chosen(self) -> date:
        return self.date_edit.date().toPython()  # type: ignore[no-any-return]

    def set_chosen(self, day: date) -> None:
        self.date_edit.setDate(QDate(day.year, day.month, day.day))


class ReassignDialog(QDialog):
    """Pick the active user who takes the entry over."""

    def __init__(
        self, entry: Entry, people: Sequence[UserInfo], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reassign")
        self.entry = entry
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 56)
        intro = QLabel(_mnemonic_safe(f"Give {_describe(entry)} to:"))
        intro.setWordWrap(True)
        self.people = QComboBox()
        self.people.setAccessibleName("New owner")
        for person in people:
            role = "CSR" if person.role.value == "csr" else person.role.value.capitalize()
            self.people.addItem(f"{person.full_name or person.username} ({role})", person.username)
        current = self.people.findData(entry.owner)
        self.people.setCurrentIndex(max(0, current))
        intro.setBuddy(self.people)
        layout.addWidget(intro)
        layout.addWidget(self.people)
        layout.addWidget(_dialog_buttons(self, "Reassign"))
        self.people.setFocus()

    def chosen(self) -> str:
        return str(self.people.currentData())

    def set_chosen(self, username: str) -> None:
        self.people.setCurrentIndex(self.people.findData(username))


class MoveDialog(QDialog):
    """Pick the stage to move the renewal to (and a reason, when it decides the outcome)."""

    def __init__(
        self, entry: Entry, stages: Sequence[StageInfo], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Move to stage")
        self.entry = entry
        self.kinds = {s.key: s.kind for s in stages}
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 56)
        intro = QLabel(f"Move the renewal of {entry.insured} ({entry.policy_number}) to:")
        intro.setWordWrap(True)
        form = QFormLayout()
        self.stages = QComboBox()
        self.stages.setAccessibleName("Stage")
        for stage in stages:
            self.stages.addItem(stage.name, stage.key)
        self.stages.setCurrentIndex(max(0, self.stages.findData(entry.stage_key)))
        self.reason = QLineEdit()
        self.reason.setAccessibleName("Reason for the outcome")
        self.reason.setPlaceholderText("Why it was renewed, lost or non-renewed")
        form.addRow("Stage", self.stages)
        form.addRow("Reason", self.reason)
        self.stages.currentIndexChanged.connect(self._stage_changed)
        self._stage_changed()
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(_dialog_buttons(self, "Move"))
        self.stages.setFocus()

    def _stage_changed(self) -> None:
        decides = self.kinds.get(str(self.stages.currentData())) not in (StageKind.OPEN, None)
        self.reason.setEnabled(decides)

    def chosen(self) -> tuple[str, str | None]:
        reason = self.reason.text().strip() if self.reason.isEnabled() else ""
        return str(self.stages.currentData()), reason or None

    def set_chosen(self, stage_key: str, reason: str | None = None) -> None:
        self.stages.setCurrentIndex(self.stages.findData(stage_key))
        self.reason.setText(reason or "")


# --- the page -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueContext:
    """What the page needs besides the rows: today, counts, reminders, people, stages."""

    today: date
    counts: QueueCounts
    notices: list[NoticeInfo]
    people: list[UserInfo]
    stages: list[StageInfo]
    owner: str | None
    """The team owner filter that was applied (None when the saved one no longer exists)."""


def load_context(db: Any, actor: Any, owner: str | None) -> QueueContext:
    """Runs on the executor's worker."""
    people = users.list_users(db)
    if owner and owner not in {p.username for p in people}:
        owner = None
    return QueueContext(
        today=queues.agency_today(db),
        counts=queues.queue_counts(db, actor, owner=owner),
        notices=queues.unread_notices(db, actor, limit=NOTICES_SHOWN, newest_first=True),
        people=people,
        stages=admin.list_stages(db),
        owner=owner,
    )


class _Tab:
    """One queue: its model, view and loading state."""

    def __init__(self, key: str, model: QueueModel, view: QTableView, stack: QStackedWidget):
        self.key = key
        self.model = model
        self.view = view
        self.stack = stack
        self.empty: QLabel = stack.widget(1)  # type: ignore[assignment]
        self.generation = 0
        self.stale = True
        self.select_key: tuple[str, int] | None = None
        self.select_row = 0
        self.keep_scroll: int | None = None
        """Where the list was scrolled when someone's change made it reload (kept)."""


class QueuesPage(Page):
    """My queue, the Team queue and Needs attention, with keyboard actions on the entry."""

    title = "Queues"

    def __init__(
        self,
        executor: DatabaseExecutor,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(executor, settings, parent)
        self.context: QueueContext | None = None
        self.owner_filter: str | None = None
        self.dialog: QDialog | None = None
        """The snooze / reassign / move dialog while one is open."""
        self._context_generation = 0
        self._loads: list[Job] = []
        self._build_actions()
        self._build()
        self._restore_settings()
        self._update_actions()

    # --- construction ---------------------------------------------------------------------

    def _action(
        self, text: str, keys: Sequence[str], slot: Callable[[], None], name: str
    ) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action("&Open", ["Return", "Enter"], self.open_selected, "open")
        self.complete_action = self._action(
            "&Complete task", ["Ctrl+D"], self.complete_selected, "complete"
        )
        self.snooze_action = self._action("&Snooze…", ["Ctrl+Shift+S"], self.ask_snooze, "snooze")
        self.reassign_action = self._action(
            "&Reassign…", ["Ctrl+Shift+R"], self.ask_reassign, "reassign"
        )
        self.move_action = self._action("&Move to stage…", ["Ctrl+M"], self.ask_move, "move")
        self.dismiss_action = self._action(
            "&Dismiss reminder", ["Delete"], self.dismiss_selected_notice, "dismiss"
        )
        self.dismiss_all_action = self._action(
            "Dismiss &all reminders", [], self.dismiss_all_notices, "dismiss_all"
        )
        self.refresh_action = self._action("Re&fresh", ["F5"], self.refresh, "refresh")
        self.base_text = {
            self.open_action: "Open the renewal",
            self.complete_action: "Complete the task",
            self.snooze_action: "Snooze to a date",
            self.reassign_action: "Reassign to someone else",
            self.move_action: "Move the renewal to another stage",
            self.dismiss_action: "Dismiss the reminder",
            self.dismiss_all_action: "Dismiss all your reminders",
            self.refresh_action: "Reload the queues",
        }
        # Enter opens only from a list (it must not steal Enter from buttons and fields);
        # the other keys work anywhere on the page.
        self.open_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.dismiss_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        for action in (
            self.complete_action,
            self.snooze_action,
            self.reassign_action,
            self.move_action,
            self.refresh_action,
        ):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)
        for action in self.base_text:
            self._set_tip(action, "")

    def actions_for_menu(self) -> list[QAction]:
        """The entry actions, for the window's menu (their shortcuts work on this page)."""
        return [
            self.open_action,
            self.complete_action,
            self.snooze_action,
            self.reassign_action,
            self.move_action,
            self.dismiss_action,
            self.dismiss_all_action,
            self.refresh_action,
        ]

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 20, 24, 16)
        outer.setSpacing(12)

        header = QHBoxLayout()
        header.setSpacing(8)
        self.heading = QLabel("Queues")
        self.heading.setFont(theme.scaled_font(self.heading, 1.6, bold=True))
        self.heading.setAccessibleName("Queues")
        header.addWidget(self.heading)
        header.addStretch(1)
        self.buttons: dict[str, QToolButton] = {}
        for action in (
            self.open_action,
            self.complete_action,
            self.snooze_action,
            self.reassign_action,
            self.move_action,
            self.refresh_action,
        ):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setAccessibleName(self.base_text[action])
            button.setAutoRaise(False)
            header.addWidget(button)
            self.buttons[action.objectName()] = button
        outer.addLayout(header)

        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setAccessibleName("Message")
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setVisible(False)
        outer.addWidget(self.message_label)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Queues")
        self.tab: dict[str, _Tab] = {}
        self.tabs.addTab(self._build_mine(), TAB_TITLES["mine"])
        self.tabs.addTab(self._build_team(), TAB_TITLES["team"])
        self.tabs.addTab(self._build_attention(), TAB_TITLES["attention"])
        self.tabs.currentChanged.connect(self._tab_changed)
        outer.addWidget(self.tabs, 1)

        self.context_menu = QMenu(self)
        self.context_menu.setToolTipsVisible(True)
        for action in (
            self.open_action,
            self.complete_action,
            self.snooze_action,
            self.reassign_action,
            self.move_action,
        ):
            self.context_menu.addAction(action)
        self.context_menu.addSeparator()
        self.context_menu.addAction(self.refresh_action)

    def _table(self, key: str) -> QStackedWidget:
        model = QueueModel(COLUMNS[key], DEFAULT_SORT[key], self)
        view = QTableView()
        view.setObjectName(f"{key}View")
        view.setAccessibleName(TAB_TITLES[key])
        view.setModel(model)
        view.setStyleSheet("QTableView { outline: 0; }")  # the row is the selection
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.setShowGrid(False)
        view.setWordWrap(False)
        view.setTextElideMode(Qt.TextElideMode.ElideRight)
        view.verticalHeader().setVisible(False)
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 14)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(
            lambda pos, v=view: self.context_menu.popup(v.viewport().mapToGlobal(pos))
        )
        head = view.horizontalHeader()
        head.setHighlightSections(False)
        head.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        head.setSectionsMovable(False)
        head.setStretchLastSection(False)
        stretch = {"mine": 1, "team": 1, "attention": len(COLUMNS["attention"]) - 1}[key]
        for number, column in enumerate(COLUMNS[key]):
            mode = (
                QHeaderView.ResizeMode.Stretch
                if number == stretch
                else QHeaderView.ResizeMode.Interactive
            )
            head.setSectionResizeMode(number, mode)
            head.resizeSection(number, self._width(column))
        head.setSortIndicator(model.sort_column(), Qt.SortOrder.AscendingOrder)
        view.setSortingEnabled(True)
        view.addAction(self.open_action)
        view.activated.connect(lambda _index: self.open_selected())
        view.selectionModel().currentRowChanged.connect(lambda *_: self._update_actions())
        model.more_wanted.connect(lambda k=key: self._load_more(k))
        model.sort_wanted.connect(lambda k=key: self._resorted(k))

        empty = QLabel(EMPTY[key])
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)
        empty.setProperty("role", "muted")
        empty.setAccessibleName(f"{TAB_TITLES[key]} is empty")
        stack = QStackedWidget()
        stack.addWidget(view)
        stack.addWidget(empty)
        self.tab[key] = _Tab(key, model, view, stack)
        return stack

    def _width(self, column: Column) -> int:
        chars = {
            "Type": 8,
            "Insured": 24,
            "Policy": 17,
            "Stage": 19,
            "Owner": 20,
            "Due": 11,
            "Action due": 12,
            "Days left": 10,
        }.get(column.header, 20)
        return self.fontMetrics().averageCharWidth() * chars + 24

    def _caption(self, name: str) -> QLabel:
        label = QLabel("")
        label.setProperty("role", "muted")
        label.setAccessibleName(name)
        return label

    def _build_mine(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.setSpacing(10)

        self.notice_card = QFrame()
        self.notice_card.setObjectName("card")
        card = QVBoxLayout(self.notice_card)
        card.setContentsMargins(14, 10, 14, 10)
        card.setSpacing(6)
        row = QHBoxLayout()
        self.notice_heading = QLabel("Reminders")
        self.notice_heading.setFont(theme.scaled_font(self.notice_heading, 1.0, bold=True))
        self.notice_heading.setAccessibleName("Reminders")
        row.addWidget(self.notice_heading)
        row.addStretch(1)
        self.dismiss_button = QToolButton()
        self.dismiss_button.setDefaultAction(self.dismiss_action)
        self.dismiss_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.dismiss_button.setAccessibleName("Dismiss the reminder")
        row.addWidget(self.dismiss_button)
        self.dismiss_all_button = QToolButton()
        self.dismiss_all_button.setDefaultAction(self.dismiss_all_action)
        self.dismiss_all_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.dismiss_all_button.setAccessibleName("Dismiss all reminders")
        row.addWidget(self.dismiss_all_button)
        card.addLayout(row)
        self.notice_model = NoticeModel(self)
        self.notice_view = QListView()
        self.notice_view.setObjectName("noticeView")
        self.notice_view.setAccessibleName("Reminders")
        self.notice_view.setModel(self.notice_model)
        self.notice_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.notice_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.notice_view.setUniformItemSizes(True)
        self.notice_view.setFrameShape(QFrame.Shape.NoFrame)
        self.notice_view.setSpacing(1)
        self.notice_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._fit_notices(4)
        self.notice_view.addAction(self.open_action)
        self.notice_view.addAction(self.dismiss_action)
        self.notice_view.activated.connect(lambda _index: self.open_selected())
        self.notice_view.selectionModel().currentRowChanged.connect(
            lambda *_: self._update_actions()
        )
        card.addWidget(self.notice_view)
        self.notice_card.setVisible(False)
        layout.addWidget(self.notice_card)

        self.mine_caption = self._caption("My queue summary")
        layout.addWidget(self.mine_caption)
        layout.addWidget(self._table("mine"), 1)
        return page

    def _build_team(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.setSpacing(10)
        row = QHBoxLayout()
        row.setSpacing(8)
        label = QLabel("&Owner")
        self.owner_box = QComboBox()
        self.owner_box.setAccessibleName("Owner filter")
        self.owner_box.setMinimumContentsLength(22)
        self.owner_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.owner_box.addItem("Everyone", "")
        label.setBuddy(self.owner_box)
        self.owner_box.activated.connect(self._owner_chosen)
        row.addWidget(label)
        row.addWidget(self.owner_box)
        row.addSpacing(12)
        self.team_caption = self._caption("Team queue summary")
        row.addWidget(self.team_caption)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self._table("team"), 1)
        return page

    def _build_attention(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.setSpacing(10)
        self.attention_caption = self._caption("Needs attention summary")
        layout.addWidget(self.attention_caption)
        layout.addWidget(self._table("attention"), 1)
        return page

    def _restore_settings(self) -> None:
        if self.settings is None:
            return
        tab = str(self.settings.value(SETTINGS_TAB, "mine") or "mine")
        if tab in TABS:
            self.tabs.blockSignals(True)
            self.tabs.setCurrentIndex(TABS.index(tab))
            self.tabs.blockSignals(False)
        self.owner_filter = str(self.settings.value(SETTINGS_OWNER, "") or "") or None

    def _save(self, key: str, value: str) -> None:
        if self.settings is not None:
            self.settings.setValue(key, value)

    # --- the page's life ------------------------------------------------------------------

    def shows(self) -> frozenset[str]:
        return SHOWS

    def set_session(self, session: DeskSession) -> None:
        self.context = None
        for tab in self.tab.values():
            tab.generation += 1
            tab.model.set_rows([], False)
            tab.stale = True
        self.notice_model.set_notices([])
        self._apply_role(session)
        super().set_session(session)
        self._update_actions()

    def activate(self) -> None:
        super().activate()
        self._update_actions()

    def deactivate(self) -> None:
        super().deactivate()
        self._update_actions()

    def _apply_role(self, session: DeskSession) -> None:
        index = TABS.index("team")
        allowed = queues.may_see_team(session.user.role)
        # The session is not in place yet: switching tabs here must load nothing.
        self.tabs.blockSignals(True)
        if not allowed and self.tabs.currentIndex() == index:
            self.tabs.setCurrentIndex(0)
        self.tabs.setTabEnabled(index, allowed)
        self.tabs.blockSignals(False)
        self.tabs.setTabToolTip(
            index,
            "Everyone's open tasks and renewals"
            if allowed
            else queues.team_refusal(session.user.role),
        )
        self._update_actions()

    def refresh(self) -> None:
        if self.session is not None:
            self.reload()

    def on_changed(self, kinds: frozenset[str]) -> None:
        for tab in self.tab.values():
            tab.stale = True
            if tab.model.rows:  # a refresh does not move the list under the reader
                tab.keep_scroll = tab.view.verticalScrollBar().value()
        super().on_changed(kinds)

    def reload(self) -> None:
        super().reload()
        if self.session is None:
            return
        for tab in self.tab.values():
            tab.stale = True
        self._load_tab(self.current_key())  # the rows first: they are what people wait for
        self._load_context()

    def current_key(self) -> str:
        return TABS[max(0, self.tabs.currentIndex())]

    def _tab_changed(self, index: int) -> None:
        key = TABS[index]
        self._save(SETTINGS_TAB, key)
        if self.session is not None and self.tab[key].stale:
            self._load_tab(key)
        self._update_actions()

    # --- loading ---------------------------------------------------------------------------

    def _load_context(self) -> None:
        session = self.session
        assert session is not None
        self._context_generation += 1
        generation = self._context_generation
        self._loads.append(
            self.executor.submit(
                load_context,
                session.db,
                session.actor,
                self.owner_filter,
                on_success=lambda ctx: self._context_loaded(generation, ctx),
                on_failure=self._load_failed,
                what="loading the queues",
            )
        )

    def _context_loaded(self, generation: int, ctx: QueueContext) -> None:
        if generation != self._context_generation:
            return
        self.context = ctx
        if ctx.owner != self.owner_filter:  # that person is gone: show everyone's
            self.owner_filter = ctx.owner
            self._save(SETTINGS_OWNER, "")
            if self.current_key() == "team":
                self._load_tab("team")
        self._fill_owners(ctx.people)
        counts = ctx.counts
        self.tabs.setTabText(0, f"{TAB_TITLES['mine']} ({counts.mine:,})")
        team = TAB_TITLES["team"]
        self.tabs.setTabText(1, team if counts.team is None else f"{team} ({counts.team:,})")
        self.tabs.setTabText(2, f"{TAB_TITLES['attention']} ({counts.attention:,})")
        entries = "entry" if counts.mine == 1 else "entries"
        self.mine_caption.setText(
            f"{counts.mine:,} {entries}: your open tasks and the renewals whose next action "
            "is yours, by due date."
        )
        if counts.team is not None:
            whose = "everyone" if not self.owner_filter else self.owner_box.currentText()
            self.team_caption.setText(f"{counts.team:,} open tasks and renewals for {whose}.")
        scope = (
            "the whole agency"
            if self.session is not None and queues.may_see_team(self.session.user.role)
            else "your book"
        )
        self.attention_caption.setText(
            f"{counts.attention:,} open renewals in {scope} need attention. Required "
            f"documents count as missing within {queues.DOCUMENT_ATTENTION_DAYS} days of expiry."
        )
        self.notice_model.set_notices(ctx.notices)
        shown = len(ctx.notices)
        more = counts.unread - shown
        self.notice_heading.setText(
            f"Reminders ({counts.unread:,})"
            + (f" — showing the newest {shown}" if more > 0 else "")
        )
        self.notice_card.setVisible(shown > 0)
        self._fit_notices(min(4, max(1, shown)))
        self._update_actions()

    def _fit_notices(self, rows: int) -> None:
        """Show ``rows`` whole reminders; more scroll."""
        view = self.notice_view
        row = view.sizeHintForRow(0) if self.notice_model.notices else -1
        if row <= 0:
            row = view.fontMetrics().height() + 4
        view.setFixedHeight(rows * (row + 2 * view.spacing()) + 2 * view.frameWidth())

    def _fill_owners(self, people: Sequence[UserInfo]) -> None:
        self.owner_box.blockSignals(True)
        self.owner_box.clear()
        self.owner_box.addItem("Everyone", "")
        for person in people:
            self.owner_box.addItem(person.full_name or person.username, person.username)
        self.owner_box.setCurrentIndex(max(0, self.owner_box.findData(self.owner_filter or "")))
        self.owner_box.blockSignals(False)

    def _owner_chosen(self, index: int) -> None:
        owner = str(self.owner_box.itemData(index) or "") or None
        if owner == self.owner_filter:
            return
        self.set_owner_filter(owner)

    def set_owner_filter(self, owner: str | None) -> None:
        """Show only ``owner``'s entries in the team queue (None: everyone's)."""
        self.owner_filter = owner
        self._save(SETTINGS_OWNER, owner or "")
        self.owner_box.setCurrentIndex(max(0, self.owner_box.findData(owner or "")))
        if self.session is not None:
            self.tab["team"].select_row = 0
            self.tab["team"].keep_scroll = None
            self._load_context()
            self._load_tab("team")

    def _fetch(self, key: str, limit: int, offset: int) -> tuple[Callable[..., Any], dict]:
        session = self.session
        assert session is not None
        model = self.tab[key].model
        options: dict[str, Any] = {
            "sort": model.sort_key,
            "descending": model.descending,
            "limit": limit,
            "offset": offset,
        }
        if key == "mine":
            return queues.my_queue, options
        if key == "team":
            return queues.team_queue, {"owner": self.owner_filter, **options}
        return queues.needs_attention, options

    def _load_tab(self, key: str) -> None:
        session = self.session
        tab = self.tab[key]
        if session is None:
            return
        if key == "team" and not queues.may_see_team(session.user.role):
            tab.stale = False
            return
        tab.stale = False
        tab.generation += 1
        generation = tab.generation
        current = tab.model.entry(tab.view.currentIndex().row())
        if tab.select_key is None and current is not None:
            tab.select_key, tab.select_row = current.key, tab.view.currentIndex().row()
        limit = min(MAX_RELOAD, max(PAGE_SIZE, len(tab.model.rows)))
        fn, options = self._fetch(key, limit, 0)
        tab.model.loading = True
        self._loads.append(
            self.executor.submit(
                fn,
                session.db,
                session.actor,
                on_success=lambda rows: self._rows_loaded(key, generation, rows, limit),
                on_failure=self._load_failed,
                what=f"loading {TAB_TITLES[key]}",
                **options,
            )
        )

    def _rows_loaded(self, key: str, generation: int, rows: list[Entry], limit: int) -> None:
        tab = self.tab[key]
        if generation != tab.generation:
            return
        tab.model.set_rows(rows, len(rows) >= limit)
        tab.stack.setCurrentIndex(0 if rows else 1)
        row = tab.model.row_of(tab.select_key)
        if row < 0 and rows:
            row = min(tab.select_row, len(rows) - 1)
        tab.select_key = None
        keep, tab.keep_scroll = tab.keep_scroll, None
        if row >= 0:
            tab.view.setCurrentIndex(tab.model.index(row, 0))
            tab.view.scrollTo(tab.model.index(row, 0))
        if keep is not None:
            tab.view.verticalScrollBar().setValue(keep)
        self._update_actions()

    def _load_more(self, key: str) -> None:
        session = self.session
        tab = self.tab[key]
        if session is None:
            tab.model.loading = False
            return
        generation = tab.generation
        offset = len(tab.model.rows)
        fn, options = self._fetch(key, PAGE_SIZE, offset)
        self.executor.submit(
            fn,
            session.db,
            session.actor,
            on_success=lambda rows: self._more_loaded(key, generation, rows),
            on_failure=self._load_failed,
            what=f"loading more of {TAB_TITLES[key]}",
            **options,
        )

    def _more_loaded(self, key: str, generation: int, rows: list[Entry]) -> None:
        tab = self.tab[key]
        if generation != tab.generation:
            return
        tab.model.append_rows(rows, len(rows) >= PAGE_SIZE)

    def _resorted(self, key: str) -> None:
        tab = self.tab[key]
        tab.select_row = 0
        tab.keep_scroll = None
        if self.session is not None:
            self._load_tab(key)

    def _load_failed(self, failure: Failure) -> None:
        for tab in self.tab.values():
            tab.model.loading = False
        if not failure.cancelled:  # a newer load replaced it
            self.show_message(failure.message, error=True)

    def _drop_queued_loads(self) -> bool:
        """A write is coming, and a refresh after it: loads still waiting in the queue
        would only delay the write (the keyboard must not wait on counting a big book).
        True when one was dropped."""
        dropped = False
        for job in self._loads:
            if job.state == Job.PENDING:
                job.cancel()
                dropped = True
        self._loads = [job for job in self._loads if not job.finished]
        return dropped

    # --- messages --------------------------------------------------------------------------

    def show_message(self, text: str, *, error: bool = False) -> None:
        """A sentence above the queue (a refusal in the danger colour), also for the
        status bar."""
        self.message_label.setText(text)
        theme.set_role(self.message_label, "error" if error else "muted")
        self.message_label.setVisible(bool(text))
        if text:
            self.message.emit(text)

    # --- which entry -----------------------------------------------------------------------

    def _notice_focused(self) -> bool:
        return self.notice_view.hasFocus() and self.notice_card.isVisible()

    def selected_entry(self) -> Entry | None:
        """The entry selected in the visible queue."""
        tab = self.tab[self.current_key()]
        return tab.model.entry(tab.view.currentIndex().row())

    def selected_notice(self) -> NoticeInfo | None:
        return self.notice_model.notice(self.notice_view.currentIndex().row())

    def select_entry(self, key: tuple[str, int]) -> bool:
        """Select the entry ``(kind, id)`` in the visible queue; False when it is not there."""
        return self._select(self.tab[self.current_key()], key)

    def _select(self, tab: _Tab, key: tuple[str, int] | None) -> bool:
        row = tab.model.row_of(key)
        if row >= 0:
            tab.view.setCurrentIndex(tab.model.index(row, 0))
        return row >= 0

    # --- which actions may be taken --------------------------------------------------------

    def _set_tip(self, action: QAction, why: str) -> None:
        keys = _shortcut_text(action)
        text = self.base_text[action] + (f" ({keys})" if keys else "")
        action.setToolTip(f"{text}\n{why}" if why else text)
        action.setStatusTip(why or self.base_text[action])

    def _allow(self, action: QAction, why: str) -> None:
        action.setEnabled(not why)
        self._set_tip(action, why)

    def _refusal(self, action: Action) -> str:
        session = self.session
        if session is None:
            return "Sign in first."
        return "" if session.may(action) else session.refusal(action)

    def _update_actions(self) -> None:
        entry = self.selected_entry()
        none = "Select an entry in the queue first."
        if self.session is None or not self.active:
            keys = f" ({self.shortcut})" if self.shortcut else ""
            why = "Sign in first." if self.session is None else f"Show the Queues page{keys} first."
            for action in self.base_text:
                self._allow(action, why)
            return
        self._allow(self.refresh_action, "")
        if entry is None:
            self._allow(self.open_action, "" if self.selected_notice() else none)
            for action in (
                self.complete_action,
                self.snooze_action,
                self.reassign_action,
                self.move_action,
            ):
                self._allow(action, none)
        else:
            task = entry.is_task
            self._allow(self.open_action, "")
            self._allow(
                self.complete_action,
                self._refusal(Action.TASK_MANAGE)
                if task
                else "Only tasks can be completed; this entry is a renewal (move it instead).",
            )
            self._allow(
                self.snooze_action,
                self._refusal(Action.TASK_MANAGE if task else Action.RENEWAL_EDIT),
            )
            self._allow(
                self.reassign_action,
                self._refusal(Action.TASK_MANAGE if task else Action.RENEWAL_REASSIGN),
            )
            self._allow(self.move_action, self._refusal(Action.RENEWAL_MOVE))
        self._allow(
            self.dismiss_action,
            "" if self.selected_notice() else "Select a reminder first.",
        )
        self._allow(
            self.dismiss_all_action, "" if self.notice_model.notices else "No reminders to dismiss."
        )

    # --- the actions -------------------------------------------------------------------------

    def open_selected(self) -> None:
        """Ask the window to open the selected entry's (or reminder's) renewal."""
        if self._notice_focused():
            notice = self.selected_notice()
            if notice is not None and notice.renewal_id is not None:
                self.open_renewal.emit(notice.renewal_id)
            return
        entry = self.selected_entry()
        if entry is not None:
            self.open_renewal.emit(entry.renewal_id)

    def _write(
        self,
        entry: Entry,
        fn: Callable[..., Any],
        *args: Any,
        done: str,
        what: str,
        changes: set[str],
        gone: bool = False,
        **kw: Any,
    ) -> None:
        """Submit a change to ``entry`` and move on to the next entry at once, so the
        keyboard never waits (``gone``: the entry leaves the list, e.g. a completed task).
        A refusal puts the entry back, selected, with the sentence saying why."""
        session = self.session
        assert session is not None
        tab = self.tab[self.current_key()]
        row = tab.model.row_of(entry.key)
        following = (tab.model.entry(row + 1) or tab.model.entry(row - 1)) if row >= 0 else None
        next_key = following.key if following is not None else None
        self._drop_queued_loads()
        if gone:
            tab.model.remove(entry.key)
        if next_key is not None:
            self._select(tab, next_key)
        tab.select_key, tab.select_row = next_key, max(0, row)

        def failed(failure: Failure) -> None:
            tab.select_key, tab.select_row = entry.key, max(0, row)
            self.show_message(failure.message, error=True)
            # Nothing changed, so no refresh comes by itself: show the book as it is.
            self._stale = True
            if self.active:
                self.reload()

        self.executor.submit(
            fn,
            session.db,
            session.actor,
            *args,
            on_success=lambda _result: self.show_message(done),
            on_failure=failed,
            what=what,
            changes=changes,
            **kw,
        )

    def _target(self, action: QAction) -> Entry | None:
        entry = self.selected_entry()
        if entry is None or self.session is None:
            return None
        if not action.isEnabled():
            why = action.statusTip()
            if why and why != self.base_text[action]:
                self.show_message(why, error=True)
            return None
        return entry

    def complete_selected(self) -> None:
        """Complete the selected task (Ctrl+D)."""
        entry = self._target(self.complete_action)
        if entry is None or not entry.is_task:
            return
        self._write(
            entry,
            work.complete_task,
            entry.id,
            expected_version=entry.version,
            done=f"Completed '{entry.title}'.",
            what="completing the task",
            changes={"tasks"},
            gone=True,
        )

    def ask_snooze(self) -> None:
        """Open the snooze dialog for the selected entry (Ctrl+Shift+S)."""
        entry = self._target(self.snooze_action)
        if entry is None or self.context is None:
            return
        dialog = SnoozeDialog(entry, self.context.today, self)
        self._open_dialog(dialog, lambda: self.snooze_selected(dialog.chosen(), entry))

    def snooze_selected(self, day: date, entry: Entry | None = None) -> None:
        """Move the entry's due date to ``day`` (a task's due date, a renewal's next-action
        due date)."""
        entry = entry or self.selected_entry()
        if entry is None or self.session is None:
            return
        done = f"Snoozed {_describe(entry)} to {_day(day)}."
        self._edit(entry, "snoozing", done, task={"due": day}, renewal={"next_action_due": day})

    def ask_reassign(self) -> None:
        """Open the reassign dialog for the selected entry (Ctrl+Shift+R)."""
        entry = self._target(self.reassign_action)
        if entry is None or self.context is None:
            return
        dialog = ReassignDialog(entry, self.context.people, self)
        self._open_dialog(dialog, lambda: self.reassign_selected(dialog.chosen(), entry))

    def reassign_selected(self, username: str, entry: Entry | None = None) -> None:
        """Give the entry to ``username`` (a task's owner, a renewal's next-action owner)."""
        entry = entry or self.selected_entry()
        if entry is None or self.session is None:
            return
        done = f"Gave {_describe(entry)} to {username}."
        owner = {"owner": username}
        self._edit(entry, "reassigning", done, task=owner, renewal={"next_action_owner": username})

    def _edit(
        self, entry: Entry, verb: str, done: str, *, task: dict[str, Any], renewal: dict[str, Any]
    ) -> None:
        """Change a task (its owner, its due date) or a renewal's next action, by kind."""
        if entry.is_task:
            self._write(
                entry,
                work.update_task,
                entry.id,
                expected_version=entry.version,
                done=done,
                what=f"{verb} the task",
                changes={"tasks"},
                **task,
            )
        else:
            self._write(
                entry,
                renewals.update_renewal,
                entry.renewal_id,
                expected_version=entry.renewal_version,
                done=done,
                what=f"{verb} the renewal",
                changes={"renewals"},
                **renewal,
            )

    def ask_move(self) -> None:
        """Open the move dialog for the selected entry's renewal (Ctrl+M)."""
        entry = self._target(self.move_action)
        if entry is None or self.context is None:
            return
        dialog = MoveDialog(entry, self.context.stages, self)
        self._open_dialog(dialog, lambda: self.move_selected(*dialog.chosen(), entry=entry))

    def move_selected(
        self, stage_key: str, outcome_reason: str | None = None, *, entry: Entry | None = None
    ) -> None:
        """Move the entry's renewal to ``stage_key`` (its entry criteria are checked)."""
        entry = entry or self.selected_entry()
        if entry is None or self.session is None:
            return
        names = {s.key: s.name for s in (self.context.stages if self.context else [])}
        where = f"{entry.insured} ({entry.policy_number})"
        self._write(
            entry,
            renewals.move_stage,
            entry.renewal_id,
            stage_key,
            expected_version=entry.renewal_version,
            outcome_reason=outcome_reason,
            done=f"Moved {where} to {names.get(stage_key, stage_key)}.",
            what="moving the renewal",
            changes={"renewals"},
        )

    def _open_dialog(self, dialog: QDialog, accepted: Callable[[], None]) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(accepted)
        dialog.finished.connect(lambda _result: self._dialog_closed(dialog))
        dialog.open()

    def _dialog_closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        self.window().activateWindow()
        self.tab[self.current_key()].view.setFocus()

    def dismiss_all_notices(self) -> None:
        """Mark all the user's reminders read."""
        session = self.session
        if session is None or not self.notice_model.notices:
            return
        self.executor.submit(
            queues.dismiss_all_notices,
            session.db,
            session.actor,
            on_success=lambda n: self.show_message(f"Dismissed {_plural(n, 'reminder')}."),
            on_failure=lambda failure: self.show_message(failure.message, error=True),
            what="dismissing the reminders",
            changes={"notices"},
        )

    def dismiss_selected_notice(self) -> None:
        """Mark the selected reminder read (Delete in the reminders list)."""
        notice = self.selected_notice()
        session = self.session
        if notice is None or session is None:
            return
        self.executor.submit(
            queues.dismiss_notice,
            session.db,
            session.actor,
            notice.id,
            on_success=lambda _info: self.show_message("Reminder dismissed."),
            on_failure=lambda failure: self.show_message(failure.message, error=True),
            what="dismissing the reminder",
            changes={"notices"},
        )
