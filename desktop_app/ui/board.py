"""The pipeline board: a column per stage, a card per renewal, drag a card to move it.

Model/view all the way down, so 50,000 open renewals stay smooth: each column is a
``QListView`` over its own :class:`ColumnModel`, which holds only the cards loaded so far
(the first page comes with the board; more arrive through ``fetchMore`` as the column is
scrolled) and the cards are painted by :class:`CardDelegate`, not built as widgets. The
database does the filtering, counting and ordering (:mod:`desktop_app.services.board`);
every query goes through the executor, and a newer filter supersedes an older one (stale
answers are dropped by generation number).

A drop (or Ctrl+Shift+Right / Ctrl+Shift+Left) asks the service to move the renewal; the
card stays where it is until the service has said yes, so a refused move simply leaves it
in its column and the reason is shown in the banner above the board.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QEvent,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSettings,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QDragMoveEvent,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.domain.enums import StageKind
from desktop_app.domain.permissions import Action
from desktop_app.errors import StaleEdit
from desktop_app.services import board as board_service
from desktop_app.services import renewals
from desktop_app.services.board import Board, BoardCard, BoardColumn, BoardFilter, FilterChoices
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure, Job
from desktop_app.ui.page import Page, point_to_new_renewal
from desktop_app.ui.session import DeskSession

CARD_MIME = "application/x-renewal-desk-card"
SEARCH_DELAY_MS = 150
FIRST_PAGE = 40
REFRESH_DELAY_MS = 120  # a burst of change broadcasts (the timer service) is one reload
URGENT_DAYS = 14
SOON_DAYS = 30
DECIDED_CHOICES: tuple[tuple[str, int | None], ...] = (
    ("Decided: last 30 days", 30),
    ("Decided: last 90 days", 90),
    ("Decided: last 12 months", 365),
    ("Decided: any time", None),
)
ANY = -1  # "decided any time" in the combo box
SETTINGS_PREFIX = "board/"
FLAG_SHORT: dict[str, str] = {
    board_service.BLOCKED: "Blocked",
    board_service.MISSING_DOCUMENTS: "Docs",
    board_service.NO_NEXT_ACTION: "No action",
    board_service.DO_NOT_RENEW: "DNR",
    board_service.AUTO_RENEWAL: "Auto",
}
MOVE_CHANGES = frozenset({"renewals", "auto_renewals"})

# Colours the theme does not have: amber for "soon", and the column and card surfaces.
AMBER = {False: "#b54708", True: "#fdb022"}
COLUMN_BG = {False: "#e8ebf0", True: "#17191d"}
CARD_BG = {False: "#ffffff", True: "#2a2f36"}


def _is_dark(_palette: QPalette | None = None) -> bool:
    """Whether the application's palette is the dark one. (A widget's own palette can be
    bent by a style sheet — a transparent background — so the application's decides.)"""
    window = QApplication.palette().color(QPalette.ColorRole.Window)
    return window.lightness() < 128


def _colors(palette: QPalette | None = None) -> theme.Colors:
    return theme.DARK if _is_dark(palette) else theme.LIGHT


def dollars(amount: Decimal | None) -> str:
    """$1,235 (whole dollars, for cards)."""
    return "–" if amount is None else f"${amount:,.0f}"


def compact_dollars(amount: Decimal) -> str:
    """$25.0M, $512k or $980, for column headers."""
    if amount >= 1_000_000:
        return f"${amount / 1_000_000:,.1f}M"
    if amount >= 10_000:
        return f"${amount / 1_000:,.0f}k"
    return f"${amount:,.0f}"


def days_text(days: int) -> str:
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "1 day ago"
    if days < 0:
        return f"{-days} days ago"
    return f"{days} days"


def urgency_color(days: int, palette: QPalette) -> QColor | None:
    """Red at two weeks or less, amber at a month or less, else None (plain text)."""
    dark = _is_dark(palette)
    if days <= URGENT_DAYS:
        return QColor(_colors(palette).danger)
    if days <= SOON_DAYS:
        return QColor(AMBER[dark])
    return None


def card_sentence(card: BoardCard) -> str:
    """The card in words (screen readers, tooltips)."""
    parts = [
        f"{card.insured}, {card.carrier} {card.line_of_business} policy {card.policy_number}",
        f"expires {card.expiration_date:%m/%d/%Y} ({days_text(card.days_left)})",
        f"premium {dollars(card.premium)}",
        f"next action by {card.owner_name}" if card.owner_name else "no next-action owner",
    ]
    if card.flags:
        parts.append("; ".join(board_service.FLAGS[f] for f in card.flags))
    return ", ".join(parts)


# =====================================================================================
# The model of one column.
# =====================================================================================


class ColumnModel(QAbstractListModel):
    """The loaded cards of one stage, soonest expiration first; more on ``fetchMore``.

    ``fetchMore`` is called by the view while it paints, so it only asks for the next
    page (:attr:`fetch_requested`); the page's answer comes back through :meth:`append`.
    A drop never changes the model by itself: it asks for the move
    (:attr:`drop_requested`) and returns False, so the card stays put until the service
    has moved it.
    """

    CardRole = Qt.ItemDataRole.UserRole + 1

    fetch_requested = Signal(str, object)
    """(stage key, the key of the last loaded card): load the cards after it."""
    drop_requested = Signal(int, str, str)
    """(renewal id, from stage key, to stage key)."""

    def __init__(self, key: str, name: str, kind: StageKind, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.name = name
        self.kind = kind
        self.cards: list[BoardCard] = []
        self._ids: set[int] = set()
        self.count = 0
        self.premium_total = Decimal("0.00")
        self.has_more = False
        self.fetching = False
        self.generation = 0
        self.drag_allowed = True
        self.drop_allowed = True
        self.refusal = ""
        """Why cards of this column cannot be moved, when they cannot."""

    # --- the Qt model ---------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.cards)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.cards):
            return None
        card = self.cards[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{card.insured} — {card.policy_number}"
        if role == ColumnModel.CardRole:
            return card
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return card_sentence(card)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [
                f"<b>{_html(card.insured)}</b>",
                f"{_html(card.carrier)} · {card.line_of_business} · {_html(card.policy_number)}",
                f"Expires {card.expiration_date:%m/%d/%Y} ({days_text(card.days_left)})",
                f"Premium {dollars(card.premium)}",
            ]
            if card.next_action:
                due = f", due {card.next_action_due:%m/%d/%Y}" if card.next_action_due else ""
                who = card.owner_name or "nobody"
                lines.append(f"Next: {_html(card.next_action)} ({_html(who)}{due})")
            if card.flags:
                lines.append(", ".join(board_service.FLAGS[f] for f in card.flags))
            lines.append(
                _html(self.refusal)
                if self.refusal
                else "Drag to another column, or Ctrl+Shift+Right / Ctrl+Shift+Left; Enter opens it"
            )
            return "<br>".join(lines)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        drop = Qt.ItemFlag.ItemIsDropEnabled if self.drop_allowed else Qt.ItemFlag.NoItemFlags
        if not index.isValid():
            return drop
        drag = Qt.ItemFlag.ItemIsDragEnabled if self.drag_allowed else Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | drag | drop

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [CARD_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        data = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        if rows:
            card = self.cards[rows[0]]
            payload = {"id": card.id, "version": card.version, "stage": self.key}
            data.setData(CARD_MIME, QByteArray(json.dumps(payload).encode()))
            data.setText(f"{card.insured} — {card.policy_number}")
        return data

    @staticmethod
    def dragged(data: QMimeData) -> dict[str, Any] | None:
        """What a drag carries: {"id", "version", "stage"}, or None for anything else."""
        if data is None or not data.hasFormat(CARD_MIME):
            return None
        try:
            payload = json.loads(bytes(data.data(CARD_MIME).data()).decode())
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), int):
            return None
        return payload

    def canDropMimeData(
        self,
        data: QMimeData,
        action: Qt.DropAction,
        row: int,
        column: int,
        parent: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        payload = self.dragged(data)
        return bool(self.drop_allowed and payload and payload.get("stage") != self.key)

    def dropMimeData(
        self,
        data: QMimeData,
        action: Qt.DropAction,
        row: int,
        column: int,
        parent: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        if action == Qt.DropAction.IgnoreAction:
            return True
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        payload = self.dragged(data)
        assert payload is not None
        self.drop_requested.emit(payload["id"], str(payload.get("stage", "")), self.key)
        return False  # the move happens (or not) when the service answers

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        return not parent.isValid() and self.has_more and not self.fetching

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if parent.isValid() or not self.has_more or self.fetching:
            return
        self.fetching = True
        self.fetch_requested.emit(self.key, self.cards[-1].key if self.cards else None)

    # --- loading ----------------------------------------------------------------------

    def set_column(self, column: BoardColumn, generation: int) -> None:
        """Show a freshly loaded column (a reset: everything before is gone)."""
        self.beginResetModel()
        self.name = column.name
        self.kind = column.kind
        self.cards = list(column.cards)
        self._ids = {c.id for c in self.cards}
        self.count = column.count
        self.premium_total = column.premium_total
        self.has_more = column.has_more
        self.fetching = False
        self.generation = generation
        self.endResetModel()

    def append(self, more: board_service.MoreCards, generation: int) -> int:
        """Add the cards a fetch brought (ignored when the column was reloaded since).
        Returns how many rows were added."""
        if generation != self.generation:
            return 0
        self.fetching = False
        new = [c for c in more.cards if c.id not in self._ids]
        if new:
            first = len(self.cards)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self.cards.extend(new)
            self._ids.update(c.id for c in new)
            self.endInsertRows()
        self.has_more = more.has_more and bool(more.cards)
        return len(new)

    def fetch_failed(self, generation: int) -> None:
        if generation == self.generation:
            self.fetching = False

    def row_of(self, renewal_id: int) -> int:
        if renewal_id not in self._ids:
            return -1
        for row, card in enumerate(self.cards):
            if card.id == renewal_id:
                return row
        return -1

    def card(self, renewal_id: int) -> BoardCard | None:
        row = self.row_of(renewal_id)
        return self.cards[row] if row >= 0 else None

    def take(self, renewal_id: int) -> BoardCard | None:
        """Remove a card that moved away; the column's count and total follow."""
        row = self.row_of(renewal_id)
        if row < 0:
            return None
        self.beginRemoveRows(QModelIndex(), row, row)
        card = self.cards.pop(row)
        self._ids.discard(renewal_id)
        self.endRemoveRows()
        self.count = max(0, self.count - 1)
        self.premium_total -= card.premium or Decimal("0.00")
        return card

    def put(self, card: BoardCard) -> int:
        """Add a card that moved here: in its place by expiration when that place is among
        the loaded cards (else it arrives with a later page). Returns its row, or -1."""
        self.count += 1
        self.premium_total += card.premium or Decimal("0.00")
        if card.id in self._ids:
            return self.row_of(card.id)
        row = bisect_left([c.key for c in self.cards], card.key)
        if row == len(self.cards) and self.has_more:
            return -1
        self.beginInsertRows(QModelIndex(), row, row)
        self.cards.insert(row, card)
        self._ids.add(card.id)
        self.endInsertRows()
        return row


def _html(text: str) -> str:
    from html import escape

    return escape(text)


# =====================================================================================
# Painting a card.
# =====================================================================================


class CardDelegate(QStyledItemDelegate):
    """Paints a card: insured and owner; policy, line and carrier; expiration with days
    left (red within two weeks, amber within a month) and premium; flags."""

    MARGIN = 6
    PADDING = 10

    def _fonts(self, base: QFont) -> tuple[QFont, QFont]:
        bold = QFont(base)
        bold.setWeight(QFont.Weight.DemiBold)
        small = QFont(base)
        if base.pointSizeF() > 0:
            small.setPointSizeF(base.pointSizeF() * 0.85)
        else:
            small.setPixelSize(max(8, round(base.pixelSize() * 0.85)))
        return bold, small

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        line = QFontMetrics(option.font).height()
        _bold, small = self._fonts(option.font)
        chip = QFontMetrics(small).height() + 4
        content = 3 * line + 10 + chip  # three lines of text (2, 2 and 6 apart), the flags
        return QSize(160, self.MARGIN + 2 * self.PADDING - 4 + content)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        card = index.data(ColumnModel.CardRole)
        if not isinstance(card, BoardCard):
            return
        palette = option.palette
        dark = _is_dark(palette)
        colors = _colors(palette)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus)
        bold, small = self._fonts(option.font)
        fm = QFontMetrics(option.font)
        fm_bold = QFontMetrics(bold)
        fm_small = QFontMetrics(small)
        text = QColor(colors.text)
        muted = QColor(colors.muted)

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        rect = option.rect.adjusted(self.MARGIN, self.MARGIN // 2, -self.MARGIN, -self.MARGIN // 2)
        border = QColor(colors.accent if (selected or hovered) else colors.border)
        painter.setPen(QPen(border, 2 if selected else 1))
        painter.setBrush(QColor(CARD_BG[dark]))
        painter.drawRoundedRect(rect.adjusted(0, 0, -1, -1), 7, 7)
        model = index.model()
        decided = isinstance(model, ColumnModel) and model.kind is not StageKind.OPEN
        # Nearing expiration matters while a renewal is open, not once it is decided.
        urgent = None if decided else urgency_color(card.days_left, palette)
        if urgent is not None:  # a stripe down the left edge says "soon" at a glance
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(urgent)
            painter.drawRoundedRect(
                QRect(rect.left() + 1, rect.top() + 6, 3, rect.height() - 12), 1.5, 1.5
            )
        if focused and selected:
            painter.setPen(QPen(QColor(colors.accent), 1, Qt.PenStyle.DotLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(3, 3, -4, -4), 5, 5)

        inner = rect.adjusted(self.PADDING + 2, self.PADDING - 2, -self.PADDING, -self.PADDING + 2)
        line = fm.height()
        y = inner.top()

        # 1: insured, owner initials at the right
        bubble = fm_small.height() + 6
        name_width = inner.width() - (bubble + 6 if card.owner_initials else 0)
        painter.setFont(bold)
        painter.setPen(text)
        painter.drawText(
            QRect(inner.left(), y, name_width, line),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm_bold.elidedText(card.insured, Qt.TextElideMode.ElideRight, name_width),
        )
        if card.owner_initials:
            circle = QRect(inner.right() - bubble + 1, y + (line - bubble) // 2, bubble, bubble)
            fill = QColor(colors.accent)
            fill.setAlpha(60 if dark else 38)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawEllipse(circle)
            painter.setFont(small)
            painter.setPen(QColor(colors.accent_hover if not dark else colors.text))
            painter.drawText(circle, Qt.AlignmentFlag.AlignCenter, card.owner_initials)
        y += line + 2

        # 2: policy number · line · carrier
        painter.setFont(option.font)
        painter.setPen(muted)
        detail = f"{card.policy_number} · {card.line_of_business} · {card.carrier}"
        painter.drawText(
            QRect(inner.left(), y, inner.width(), line),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(detail, Qt.TextElideMode.ElideRight, inner.width()),
        )
        y += line + 2

        # 3: expiration and days left, premium at the right
        premium = dollars(card.premium)
        premium_width = fm_bold.horizontalAdvance(premium)
        painter.setFont(bold)
        painter.setPen(text)
        painter.drawText(
            QRect(inner.right() - premium_width + 1, y, premium_width, line),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            premium,
        )
        painter.setFont(option.font)
        left_width = inner.width() - premium_width - 8
        expires = f"{card.expiration_date:%m/%d/%y}"
        painter.setPen(muted)
        painter.drawText(
            QRect(inner.left(), y, left_width, line),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(expires, Qt.TextElideMode.ElideRight, left_width),
        )
        used = fm.horizontalAdvance(expires + "  ")
        if used < left_width:
            painter.setPen(urgent if urgent is not None else muted)
            if urgent is not None:
                painter.setFont(bold)
            painter.drawText(
                QRect(inner.left() + used, y, left_width - used, line),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                QFontMetrics(painter.font()).elidedText(
                    days_text(card.days_left), Qt.TextElideMode.ElideRight, left_width - used
                ),
            )
        y += line + 6

        # 4: flags
        painter.setFont(small)
        x = inner.left()
        chip_h = fm_small.height() + 4
        for flag in card.flags:
            label = FLAG_SHORT.get(flag, flag)
            width = fm_small.horizontalAdvance(label) + 12
            if x + width > inner.right() + 1:
                break
            color = self._flag_color(flag, colors, dark)
            fill = QColor(color)
            fill.setAlpha(48 if dark else 28)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            chip = QRect(x, y, width, chip_h)
            painter.drawRoundedRect(chip, chip_h / 2, chip_h / 2)
            painter.setPen(color)
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, label)
            x += width + 4
        painter.restore()

    @staticmethod
    def _flag_color(flag: str, colors: theme.Colors, dark: bool) -> QColor:
        if flag in (board_service.BLOCKED, board_service.DO_NOT_RENEW):
            return QColor(colors.danger)
        if flag in (board_service.MISSING_DOCUMENTS, board_service.NO_NEXT_ACTION):
            return QColor(AMBER[dark])
        return QColor(colors.accent)


# =====================================================================================
# A column: header and list.
# =====================================================================================


class ColumnView(QListView):
    """The list of one column's cards."""

    neighbour_requested = Signal(int)
    """Left/Right arrow: move the focus to the column before (-1) or after (+1)."""
    drag_moved = Signal(QPoint)
    """A drag is over this list at this global position (to scroll the board)."""
    menu_requested = Signal(QPoint)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = "Loading…"
        self.setObjectName("boardList")
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setDropIndicatorShown(False)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMouseTracking(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalScrollBar().setSingleStep(24)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.modifiers() == Qt.KeyboardModifier.NoModifier and event.key() in (
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
        ):
            self.neighbour_requested.emit(-1 if event.key() == Qt.Key.Key_Left else 1)
            event.accept()
            return
        super().keyPressEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        super().dragMoveEvent(event)
        self.drag_moved.emit(self.viewport().mapToGlobal(event.position().toPoint()))

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        index = self.indexAt(event.pos())
        if index.isValid():
            self.setCurrentIndex(index)
            self.menu_requested.emit(event.globalPos())

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0 and self.placeholder:
            painter = QPainter(self.viewport())
            painter.setPen(QColor(_colors(self.palette()).muted))
            painter.drawText(
                self.viewport().rect().adjusted(12, 16, -12, -12),
                int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                | int(Qt.TextFlag.TextWordWrap),
                self.placeholder,
            )


class BoardColumnWidget(QFrame):
    """A column: the stage's name, its count and premium, and its cards."""

    def __init__(
        self, model: ColumnModel, delegate: CardDelegate, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("boardColumn")
        self.model = model
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 8, 4, 4)
        layout.setSpacing(2)
        header = QHBoxLayout()
        header.setContentsMargins(10, 0, 10, 4)
        header.setSpacing(8)
        self.stripe = QFrame()
        self.stripe.setObjectName("boardStripe")
        self.stripe.setFixedWidth(4)
        self.title = QLabel(model.name)
        self.title.setObjectName("boardColumnTitle")
        self.title.setFont(theme.scaled_font(self.title, 1.05, bold=True))
        self.stats = QLabel("")
        self.stats.setObjectName("boardColumnStats")
        self.stats.setProperty("role", "muted")
        titles = QVBoxLayout()
        titles.setContentsMargins(0, 0, 0, 0)
        titles.setSpacing(0)
        titles.addWidget(self.title)
        titles.addWidget(self.stats)
        header.addWidget(self.stripe)
        header.addLayout(titles, 1)
        layout.addLayout(header)
        self.view = ColumnView()
        self.view.setModel(model)
        self.view.setItemDelegate(delegate)
        self.title.setBuddy(self.view)
        layout.addWidget(self.view, 1)
        self.refresh_header()

    def refresh_header(self) -> None:
        model = self.model
        self.title.setText(model.name)
        plural = "renewal" if model.count == 1 else "renewals"
        self.stats.setText(f"{model.count:,} {plural} · {compact_dollars(model.premium_total)}")
        detail = f"{model.count:,} {plural}, premium ${model.premium_total:,.2f}"
        self.stats.setToolTip(detail)
        self.title.setToolTip(f"{model.name}: {detail}")
        self.view.setAccessibleName(f"{model.name} column")
        self.view.setAccessibleDescription(f"{detail}. {model.refusal}".strip())
        self.stripe.setStyleSheet(f"background: {self._kind_color()}; border-radius: 2px;")

    def _kind_color(self) -> str:
        colors = _colors(self.palette())
        if self.model.kind is StageKind.WON:
            return "#12b76a" if colors.dark else "#067647"
        if self.model.kind is StageKind.LOST:
            return colors.danger
        return colors.accent


# =====================================================================================
# The page.
# =====================================================================================


class BoardPage(Page):
    """The pipeline board (see the module notes)."""

    title = "Board"
    loaded = Signal()
    """A full board load (first load, filter change, refresh) has been applied."""
    card_moved = Signal(int, str)
    """(renewal id, stage key): a move succeeded and the card is shown in its new column."""

    first_page = FIRST_PAGE
    """Cards per column in a load: a screenful and more (the rest arrive as it scrolls)."""
    page_size = board_service.PAGE_SIZE
    """Cards per fetch when a column is scrolled to its end."""

    def __init__(
        self,
        executor: DatabaseExecutor,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(executor, settings, parent)
        self.setObjectName("boardPage")
        self.today: date | None = None
        """The agency's today for the board's day counts (None: the real date)."""
        self.board: Board | None = None
        self.choices: FilterChoices | None = None
        self.filter = self._restored_filter()
        self.models: dict[str, ColumnModel] = {}
        self.columns: dict[str, BoardColumnWidget] = {}
        self.reason_dialog: QInputDialog | None = None
        self._applied: BoardFilter | None = None
        self._generation = 0
        self._load_job: Job | None = None
        self._choices_job: Job | None = None
        self._last_view: ColumnView | None = None
        self._moving: set[int] = set()
        self._delegate = CardDelegate(self)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filters)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.reload)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        outer.setSpacing(8)
        outer.addLayout(self._build_toolbar())
        outer.addWidget(self._build_banner())
        self.scroll = QScrollArea()
        self.scroll.setObjectName("boardScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.strip = QWidget()
        self.strip.setObjectName("boardStrip")
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(0, 0, 0, 0)
        self.strip_layout.setSpacing(10)
        self.scroll.setWidget(self.strip)
        outer.addWidget(self.scroll, 1)
        self._build_actions()
        self._show_filter(self.filter)
        self._apply_style()

    # --- construction ---------------------------------------------------------------

    def _build_toolbar(self) -> QVBoxLayout:
        """Two rows: search, my book, expiring, decided and Clear; then the people and
        places (so the board fits a 1,000-pixel window)."""
        rows = QVBoxLayout()
        rows.setSpacing(6)
        bar = QHBoxLayout()
        bar.setSpacing(8)
        people = QHBoxLayout()
        people.setSpacing(8)
        rows.addLayout(bar)
        rows.addLayout(people)
        self.search = QLineEdit()
        self.search.setObjectName("boardSearch")
        self.search.setPlaceholderText("Search insured or policy #")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search insured or policy number")
        self.search.setToolTip("Search by insured name or policy number (Ctrl+F)")
        self.search.setMinimumWidth(200)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        bar.addWidget(self.search, 1)

        self.my_book = QCheckBox("My book")
        self.my_book.setAccessibleName("My book")
        self.my_book.setToolTip(
            "Only renewals whose next action is mine, or whose account I produce or serve"
        )
        self.my_book.toggled.connect(lambda _on: self.apply_filters())
        bar.addWidget(self.my_book)

        def combo(name: str, everyone: str) -> QComboBox:
            box = QComboBox()
            box.setAccessibleName(name)
            box.setToolTip(name)
            box.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            box.setMinimumContentsLength(8)
            box.addItem(everyone, None)
            box.currentIndexChanged.connect(lambda _i: self.apply_filters())
            people.addWidget(box, 1)
            return box

        self.producer_box = combo("Producer filter", "All producers")
        self.csr_box = combo("CSR filter", "All CSRs")
        self.line_box = combo("Line of business filter", "All lines")
        self.carrier_box = combo("Carrier filter", "All carriers")
        self.office_box = combo("Office filter", "All offices")

        self.expiring = QSpinBox()
        self.expiring.setAccessibleName("Expiring within days")
        self.expiring.setToolTip(
            "Only terms ending within this many days (lapsed ones included); 0 shows all"
        )
        self.expiring.setRange(0, 730)
        self.expiring.setSpecialValueText("Any expiration")
        self.expiring.setPrefix("Expiring ≤ ")
        self.expiring.setSuffix(" days")
        self.expiring.setSingleStep(15)
        self.expiring.setAccelerated(True)
        self.expiring.valueChanged.connect(lambda _v: self._search_timer.start())
        bar.addWidget(self.expiring)

        self.decided_box = QComboBox()
        self.decided_box.setAccessibleName("Decided within")
        self.decided_box.setToolTip(
            "Which renewed, lost and non-renewed renewals the decided columns show"
        )
        for label, days in DECIDED_CHOICES:
            self.decided_box.addItem(label, ANY if days is None else days)
        self.decided_box.currentIndexChanged.connect(lambda _i: self.apply_filters())
        bar.addWidget(self.decided_box)

        self.clear_button = QPushButton("Clear")
        self.clear_button.setAccessibleName("Clear filters")
        self.clear_button.setToolTip("Show the whole board again")
        self.clear_button.clicked.connect(self.clear_filters)
        bar.addWidget(self.clear_button)
        return rows

    def _build_banner(self) -> QFrame:
        self.banner = QFrame()
        self.banner.setObjectName("boardBanner")
        layout = QHBoxLayout(self.banner)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(8)
        self.banner_label = QLabel("")
        self.banner_label.setObjectName("boardBannerText")
        self.banner_label.setWordWrap(True)
        self.banner_label.setAccessibleName("Board message")
        self.banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.banner_close = QToolButton()
        self.banner_close.setText("✕")
        self.banner_close.setAutoRaise(True)
        self.banner_close.setAccessibleName("Dismiss the message")
        self.banner_close.setToolTip("Dismiss (Esc)")
        self.banner_close.clicked.connect(self.hide_banner)
        layout.addWidget(self.banner_label, 1)
        layout.addWidget(self.banner_close, 0, Qt.AlignmentFlag.AlignTop)
        self.banner.setVisible(False)
        return self.banner

    def _build_actions(self) -> None:
        def action(text: str, keys: str, slot: Any) -> QAction:
            act = QAction(text, self)
            act.setShortcut(QKeySequence(keys))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.setToolTip(
                f"{text} ({QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)})"
            )
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.move_next_action = action(
            "Move to the next stage", "Ctrl+Shift+Right", lambda: self.move_selected(1)
        )
        self.move_previous_action = action(
            "Move to the previous stage", "Ctrl+Shift+Left", lambda: self.move_selected(-1)
        )
        self.open_action = QAction("Open renewal\tEnter", self)
        self.open_action.setToolTip("Open renewal (Enter or double-click)")
        self.open_action.triggered.connect(self.open_selected)
        self.search_action = action("Search the board", "Ctrl+F", self._focus_search)
        self.refresh_action = action("Refresh the board", "F5", self.reload)
        self.dismiss_action = action("Dismiss the message", "Esc", self.hide_banner)
        self.dismiss_action.setEnabled(False)

    def _apply_style(self) -> None:
        dark = _is_dark(self.palette())
        colors = _colors(self.palette())
        self.setStyleSheet(
            f"""
QFrame#boardColumn {{ background: {COLUMN_BG[dark]}; border: 1px solid {colors.border};
    border-radius: 10px; }}
QFrame#boardColumn QLabel {{ background: transparent; }}
QLabel#boardColumnTitle {{ color: {colors.text}; }}
QLabel#boardColumnStats {{ color: {colors.muted}; }}
QListView#boardList {{ background: {COLUMN_BG[dark]}; border: none; }}
QListView#boardList QScrollBar:vertical {{ width: 8px; background: transparent; margin: 2px 1px; }}
QListView#boardList QScrollBar::handle:vertical {{ background: {colors.border};
    border-radius: 3px; min-height: 28px; }}
QListView#boardList QScrollBar::handle:vertical:hover {{ background: {colors.muted}; }}
QListView#boardList QScrollBar::add-line:vertical, QListView#boardList QScrollBar::sub-line:vertical
    {{ height: 0; }}
QListView#boardList QScrollBar::add-page:vertical, QListView#boardList QScrollBar::sub-page:vertical
    {{ background: transparent; }}
QWidget#boardStrip, QScrollArea#boardScroll {{ background: transparent; }}
QFrame#boardBanner {{ background: {colors.surface}; border: 1px solid {colors.danger};
    border-radius: 8px; }}
QLabel#boardBannerText {{ color: {colors.danger}; }}
QLineEdit#boardSearch {{ background: {colors.surface}; color: {colors.text};
    border: 1px solid {colors.border}; border-radius: 6px; padding: 4px 8px; }}
QLineEdit#boardSearch:focus {{ border: 1px solid {colors.accent}; }}
"""
        )
        for column in self.columns.values():
            column.refresh_header()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and not getattr(self, "_styling", False):
            self._styling = True
            try:
                self._apply_style()
            finally:
                self._styling = False

    # --- session and refresh ----------------------------------------------------------

    def set_session(self, session: DeskSession) -> None:
        self.choices = None
        super().set_session(session)
        for model in self.models.values():
            self._set_permissions(model)
        for column in self.columns.values():
            self._describe_view(column)

    def shows(self) -> frozenset[str]:
        return frozenset(
            {
                "renewals",
                "tasks",
                "document_requirements",
                "auto_renewals",
                "pipeline_stages",
                "policies",
                "terms",
                "accounts",
                "users",
            }
        )

    def on_changed(self, kinds: frozenset[str]) -> None:
        if kinds & {"users", "accounts", "policies"}:
            self.choices = None
        self._stale = True
        if self.active:
            self._refresh_timer.start()  # several broadcasts in a row: one reload

    def reload(self) -> None:
        super().reload()
        if self.session is None or self.executor.closed:
            return  # signed out, or the window is closing
        self._load()
        if self.choices is None:
            self._load_choices()  # after the board: the jobs run one at a time

    def _load(self) -> None:
        if self.session is None or self.executor.closed:
            return
        self._generation += 1
        generation = self._generation
        if self._load_job is not None and not self._load_job.finished:
            self._load_job.cancel()  # dropped if it has not started; ignored if it has
        flt = self.filter
        # A refresh keeps what was scrolled into view; a new filter starts at the top.
        limits = {
            key: model.rowCount()
            for key, model in self.models.items()
            if model.rowCount() > self.first_page and flt == self._applied
        }
        self._load_job = self.executor.submit(
            board_service.load_board,
            self.session.db,
            self.session.actor,
            flt,
            self.first_page,
            limits=limits,
            today=self.today,
            on_success=lambda result: self._apply_board(generation, result),
            on_failure=lambda failure: self._load_failed(generation, failure),
            what="loading the board",
        )

    def _load_choices(self) -> None:
        if self.session is None or self.executor.closed:
            return
        if self._choices_job is not None and not self._choices_job.finished:
            return
        self._choices_job = self.executor.submit(
            board_service.filter_choices,
            self.session.db,
            on_success=self._apply_choices,
            on_failure=lambda failure: self.show_banner(failure.message),
            what="loading the board's filter choices",
        )

    def _load_failed(self, generation: int, failure: Failure) -> None:
        if generation != self._generation or failure.cancelled:
            return
        self.show_banner(failure.message)
        self.message.emit(failure.message)

    # --- applying a load ---------------------------------------------------------------

    def _apply_board(self, generation: int, result: Board) -> None:
        if generation != self._generation:
            return  # a newer filter was asked for meanwhile
        self.board = result
        same_filter = result.filter == self._applied
        self._applied = result.filter
        self._ensure_columns(result)
        focused = self._current_view()
        had_focus = focused is not None and focused.hasFocus()
        for column in result.columns:
            widget = self.columns[column.key]
            view = widget.view
            selected = self._selected_card(view)
            top = view.indexAt(QPoint(8, 8))
            top_id = top.data(ColumnModel.CardRole).id if top.isValid() else None
            widget.model.set_column(column, generation)
            view.placeholder = (
                "No renewals" if result.filter.is_empty else "No renewals match the filters"
            )
            widget.refresh_header()
            if top_id is not None and same_filter:
                row = widget.model.row_of(top_id)
                if row >= 0:
                    view.scrollTo(
                        widget.model.index(row), QAbstractItemView.ScrollHint.PositionAtTop
                    )
            if selected is not None:
                row = widget.model.row_of(selected.id)
                if row >= 0:
                    view.selectionModel().setCurrentIndex(
                        widget.model.index(row),
                        view.selectionModel().SelectionFlag.ClearAndSelect,
                    )
        if had_focus and focused is not None:
            focused.setFocus()
        self.loaded.emit()

    def _ensure_columns(self, result: Board) -> None:
        wanted = [(c.key, c.name, c.kind) for c in result.columns]
        have = [(m.key, m.name, m.kind) for m in self.models.values()]
        if [k for k, _n, _kind in wanted] == [k for k, _n, _kind in have]:
            for key, name, kind in wanted:
                self.models[key].name, self.models[key].kind = name, kind
            return
        for column in self.columns.values():
            self.strip_layout.removeWidget(column)
            column.deleteLater()
        for model in self.models.values():
            model.deleteLater()
        self.models, self.columns = {}, {}
        width = max(250, QFontMetrics(self.font()).averageCharWidth() * 36)
        for key, name, kind in wanted:
            model = ColumnModel(key, name, kind, self)
            self._set_permissions(model)
            model.fetch_requested.connect(self._fetch_more)
            model.drop_requested.connect(self.request_move)
            widget = BoardColumnWidget(model, self._delegate)
            widget.setMinimumWidth(width)
            widget.view.activated.connect(self._activated)
            widget.view.neighbour_requested.connect(
                lambda step, k=key: self._focus_neighbour(k, step)
            )
            widget.view.drag_moved.connect(self._autoscroll)
            widget.view.menu_requested.connect(lambda pos, k=key: self._card_menu(k, pos))
            widget.view.installEventFilter(self)
            self.models[key] = model
            self.columns[key] = widget
            self.strip_layout.addWidget(widget, 1)
            widget.show()
            self._describe_view(widget)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FocusIn and isinstance(watched, ColumnView):
            self._last_view = watched
        return super().eventFilter(watched, event)

    def _set_permissions(self, model: ColumnModel) -> None:
        session = self.session
        if session is None:
            return
        may_move = session.may(Action.RENEWAL_MOVE)
        may_decide = session.may(Action.RENEWAL_SET_OUTCOME)
        decided = model.kind is not StageKind.OPEN
        if not may_move:
            model.refusal = session.refusal(Action.RENEWAL_MOVE)
        elif decided and not may_decide:
            model.refusal = session.refusal(Action.RENEWAL_SET_OUTCOME)
        else:
            model.refusal = ""
        model.drag_allowed = model.drop_allowed = not model.refusal

    def _describe_view(self, widget: BoardColumnWidget) -> None:
        session = self.session
        view = widget.view
        may_move = session is not None and session.may(Action.RENEWAL_MOVE)
        view.setDragEnabled(may_move and widget.model.drag_allowed)
        if widget.model.refusal:
            view.setToolTip(widget.model.refusal)
        else:
            view.setToolTip(
                "Drag a card to another column to move it, or press Ctrl+Shift+Right / "
                "Ctrl+Shift+Left; Enter opens it"
            )
        widget.refresh_header()

    # --- fetching more -------------------------------------------------------------------

    def _fetch_more(self, key: str, after: object) -> None:
        model = self.models.get(key)
        if model is None:
            return
        if self.session is None or self.executor.closed:
            model.fetching = False
            return
        generation = model.generation
        self.executor.submit(
            board_service.more_cards,
            self.session.db,
            self.session.actor,
            self._applied or self.filter,
            key,
            after,
            self.page_size,
            today=self.today,
            on_success=lambda more: model.append(more, generation),
            on_failure=lambda failure: self._fetch_failed(model, generation, failure),
            what=f"loading more cards of {model.name}",
        )

    def _fetch_failed(self, model: ColumnModel, generation: int, failure: Failure) -> None:
        model.fetch_failed(generation)
        if generation == model.generation and not failure.cancelled:
            self.show_banner(failure.message)

    # --- filters -------------------------------------------------------------------------

    def _restored_filter(self) -> BoardFilter:
        settings = self.settings
        if settings is None:
            return BoardFilter()

        def text(name: str) -> str | None:
            value = settings.value(SETTINGS_PREFIX + name)
            return str(value) if value not in (None, "") else None

        def number(name: str, default: int | None) -> int | None:
            value = settings.value(SETTINGS_PREFIX + name)
            if value in (None, ""):
                return default
            if str(value) == "any":
                return None
            try:
                return max(0, int(str(value)))
            except ValueError:
                return default

        flag = str(settings.value(SETTINGS_PREFIX + "my_book", "false")).lower() in ("true", "1")
        expiring = number("expiring_within_days", None)
        return BoardFilter(
            my_book=flag,
            producer=text("producer"),
            csr=text("csr"),
            line=text("line"),
            carrier=text("carrier"),
            office=text("office"),
            expiring_within_days=expiring or None,
            text=text("text") or "",
            decided_within_days=number(
                "decided_within_days", board_service.DEFAULT_DECIDED_WITHIN_DAYS
            ),
        )

    def _save_filter(self, flt: BoardFilter) -> None:
        settings = self.settings
        if settings is None:
            return
        values: dict[str, Any] = {
            "my_book": "true" if flt.my_book else "false",
            "producer": flt.producer or "",
            "csr": flt.csr or "",
            "line": flt.line or "",
            "carrier": flt.carrier or "",
            "office": flt.office or "",
            "expiring_within_days": ""
            if flt.expiring_within_days is None
            else flt.expiring_within_days,
            "text": flt.text,
            "decided_within_days": "any"
            if flt.decided_within_days is None
            else flt.decided_within_days,
        }
        for name, value in values.items():
            settings.setValue(SETTINGS_PREFIX + name, value)

    def _filter_from_controls(self) -> BoardFilter:
        decided = self.decided_box.currentData()
        return BoardFilter(
            my_book=self.my_book.isChecked(),
            producer=self.producer_box.currentData(),
            csr=self.csr_box.currentData(),
            line=self.line_box.currentData(),
            carrier=self.carrier_box.currentData(),
            office=self.office_box.currentData(),
            expiring_within_days=self.expiring.value() or None,
            text=" ".join(self.search.text().split()),
            decided_within_days=None if decided == ANY else decided,
        )

    def _show_filter(self, flt: BoardFilter) -> None:
        """Put ``flt`` into the controls without triggering a reload."""
        widgets: list[QWidget] = [
            self.search,
            self.my_book,
            self.producer_box,
            self.csr_box,
            self.line_box,
            self.carrier_box,
            self.office_box,
            self.expiring,
            self.decided_box,
        ]
        blocked = [w.blockSignals(True) for w in widgets]
        try:
            if self.search.text() != flt.text:
                self.search.setText(flt.text)
            self.my_book.setChecked(flt.my_book)
            for box, value in (
                (self.producer_box, flt.producer),
                (self.csr_box, flt.csr),
                (self.line_box, flt.line),
                (self.carrier_box, flt.carrier),
                (self.office_box, flt.office),
            ):
                found = box.findData(value)
                if found < 0 and value is not None:
                    box.addItem(value, value)  # until the choices arrive
                    found = box.count() - 1
                box.setCurrentIndex(max(0, found))
            self.expiring.setValue(flt.expiring_within_days or 0)
            days = ANY if flt.decided_within_days is None else flt.decided_within_days
            found = self.decided_box.findData(days)
            if found < 0:  # a number of days from the settings file that is not offered
                self.decided_box.addItem(f"Decided: last {days} days", days)
                found = self.decided_box.count() - 1
            self.decided_box.setCurrentIndex(found)
        finally:
            for widget, was in zip(widgets, blocked, strict=True):
                widget.blockSignals(was)
        self.clear_button.setEnabled(not flt.is_empty)

    def _show_choices(self, flt: BoardFilter) -> None:
        """Select ``flt``'s people and places in their boxes (and leave the search text
        and the other controls alone: the person may be typing)."""
        for box, value in (
            (self.producer_box, flt.producer),
            (self.csr_box, flt.csr),
            (self.line_box, flt.line),
            (self.carrier_box, flt.carrier),
            (self.office_box, flt.office),
        ):
            blocked = box.blockSignals(True)
            try:
                box.setCurrentIndex(max(0, box.findData(value)))
            finally:
                box.blockSignals(blocked)

    def _apply_choices(self, choices: FilterChoices) -> None:
        self.choices = choices
        entries: list[tuple[QComboBox, list[tuple[str, str]]]] = [
            (self.producer_box, [(p.name, p.username) for p in choices.producers]),
            (self.csr_box, [(p.name, p.username) for p in choices.csrs]),
            (self.line_box, [(f"{code} – {name}", code) for code, name in choices.lines]),
            (self.carrier_box, [(c, c) for c in choices.carriers]),
            (self.office_box, [(o, o) for o in choices.offices]),
        ]
        for box, items in entries:
            box.blockSignals(True)
            try:
                first = box.itemText(0)
                box.clear()
                box.addItem(first, None)
                for label, value in items:
                    box.addItem(label, value)
            finally:
                box.blockSignals(False)
        # A remembered choice that no longer exists (a carrier gone, a user removed) is
        # dropped rather than filtering on nothing.
        known = {
            "producer": {p.username for p in choices.producers},
            "csr": {p.username for p in choices.csrs},
            "line": {c for c, _n in choices.lines},
            "carrier": set(choices.carriers),
            "office": set(choices.offices),
        }
        gone = {
            name: None
            for name, values in known.items()
            if getattr(self.filter, name) is not None and getattr(self.filter, name) not in values
        }
        cleaned = replace(self.filter, **gone)
        self._show_choices(cleaned)
        if cleaned != self.filter:
            self.filter = cleaned
            self._save_filter(cleaned)
            if self.session is not None and self.active:
                self._load()

    def apply_filters(self) -> None:
        """Read the filter controls; reload the board if they say something new."""
        self._search_timer.stop()
        flt = self._filter_from_controls()
        self.clear_button.setEnabled(not flt.is_empty)
        if flt == self.filter:
            return
        self.filter = flt
        self._save_filter(flt)
        if self.session is None:
            return
        if self.active:
            self._load()
        else:
            self._stale = True

    def set_filter(self, flt: BoardFilter) -> None:
        """Show the board for ``flt`` (the controls follow)."""
        self._show_filter(flt)
        self.apply_filters()

    def clear_filters(self) -> None:
        self.set_filter(BoardFilter(decided_within_days=self.filter.decided_within_days))

    def _focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    # --- banner --------------------------------------------------------------------------

    def show_banner(self, text: str) -> None:
        self.banner_label.setText(text)
        self.banner.setVisible(bool(text))
        self.banner.setAccessibleDescription(text)
        self.dismiss_action.setEnabled(bool(text))  # Esc is free for others otherwise

    def hide_banner(self) -> None:
        self.show_banner("")

    @property
    def banner_text(self) -> str:
        return self.banner_label.text() if self.banner.isVisible() else ""

    # --- selection and keyboard --------------------------------------------------------------

    def _current_view(self) -> ColumnView | None:
        focus = self.focusWidget()
        while focus is not None and not isinstance(focus, ColumnView):
            focus = focus.parentWidget()
        if isinstance(focus, ColumnView):
            return focus
        return (
            self._last_view if self._last_view in [c.view for c in self.columns.values()] else None
        )

    @staticmethod
    def _selected_card(view: ColumnView) -> BoardCard | None:
        index = view.currentIndex()
        if not index.isValid() or not view.selectionModel().isSelected(index):
            return None
        card = index.data(ColumnModel.CardRole)
        return card if isinstance(card, BoardCard) else None

    def selected_card(self) -> BoardCard | None:
        view = self._current_view()
        return self._selected_card(view) if view is not None else None

    def select_card(self, renewal_id: int) -> bool:
        """Select (and focus) a loaded card; False when it is not loaded."""
        for column in self.columns.values():
            row = column.model.row_of(renewal_id)
            if row >= 0:
                index = column.model.index(row)
                column.view.setFocus(Qt.FocusReason.OtherFocusReason)
                column.view.setCurrentIndex(index)
                column.view.scrollTo(index)
                self._last_view = column.view
                return True
        return False

    def _focus_neighbour(self, key: str, step: int) -> None:
        keys = list(self.columns)
        position = keys.index(key) + step
        if not 0 <= position < len(keys):
            return
        source = self.columns[key].view
        target = self.columns[keys[position]].view
        row = max(0, source.currentIndex().row())
        target.setFocus(Qt.FocusReason.OtherFocusReason)
        if target.model().rowCount():
            target.setCurrentIndex(target.model().index(min(row, target.model().rowCount() - 1), 0))

    def _activated(self, index: QModelIndex) -> None:
        card = index.data(ColumnModel.CardRole)
        if isinstance(card, BoardCard):
            self.open_renewal.emit(card.id)

    def open_selected(self) -> None:
        card = self.selected_card()
        if card is not None:
            self.open_renewal.emit(card.id)

    def move_selected(self, step: int) -> None:
        """Move the selected card to the next (+1) or previous (-1) stage."""
        card = self.selected_card()
        if card is None:
            return
        keys = list(self.columns)
        position = keys.index(card.stage_key) + step
        if not 0 <= position < len(keys):
            return
        self.request_move(card.id, card.stage_key, keys[position])

    def _card_menu(self, key: str, global_pos: QPoint) -> None:
        card = self._selected_card(self.columns[key].view)
        if card is None:
            return
        menu = QMenu(self)
        menu.setToolTipsVisible(True)
        menu.addAction(self.open_action)
        menu.addSeparator()
        menu.addAction(self.move_next_action)
        menu.addAction(self.move_previous_action)
        move_to = menu.addMenu("Move to")
        for other in self.models.values():
            if other.key == key:
                continue
            act = move_to.addAction(other.name)
            act.triggered.connect(
                lambda _checked=False, to=other.key: self.request_move(card.id, key, to)
            )
        menu.popup(global_pos)

    def _autoscroll(self, global_pos: QPoint) -> None:
        viewport = self.scroll.viewport()
        x = viewport.mapFromGlobal(global_pos).x()
        bar = self.scroll.horizontalScrollBar()
        edge = 48
        if x < edge:
            bar.setValue(bar.value() - 24)
        elif x > viewport.width() - edge:
            bar.setValue(bar.value() + 24)

    # --- moving ---------------------------------------------------------------------------

    def move_refusal(self, from_key: str, to_key: str) -> str:
        """Why the signed-in role may not make this move ("" when it may try)."""
        session = self.session
        if session is None:
            return "Nobody is signed in."
        if not session.may(Action.RENEWAL_MOVE):
            return session.refusal(Action.RENEWAL_MOVE)
        kinds = [self.models[k].kind for k in (from_key, to_key) if k in self.models]
        if any(k is not StageKind.OPEN for k in kinds) and not session.may(
            Action.RENEWAL_SET_OUTCOME
        ):
            return session.refusal(Action.RENEWAL_SET_OUTCOME)
        return ""

    def request_move(self, renewal_id: int, from_key: str, to_key: str) -> None:
        """Move a card (a drop, a shortcut, the menu): ask for a reason first when the
        target is a lost stage; the service checks the stage's entry criteria."""
        source = self.models.get(from_key)
        target = self.models.get(to_key)
        card = source.card(renewal_id) if source is not None else None
        if card is None or target is None or from_key == to_key or renewal_id in self._moving:
            return
        refusal = self.move_refusal(from_key, to_key)
        if refusal:
            self._refused(refusal)
            return
        if target.kind is StageKind.LOST:
            self._ask_reason(card, target)
            return
        self._submit_move(card, to_key, None)

    def _ask_reason(self, card: BoardCard, target: ColumnModel) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle(f"Move to {target.name}")
        dialog.setInputMode(QInputDialog.InputMode.TextInput)
        dialog.setLabelText(
            f"Why is {card.insured} ({card.policy_number}) {target.name.lower()}?\n"
            "The reason is saved with the outcome."
        )
        dialog.setOkButtonText(f"Move to {target.name}")
        dialog.setAccessibleName(f"Reason for moving to {target.name}")
        dialog.textValueSelected.connect(lambda text: self._submit_move(card, target.key, text))
        dialog.finished.connect(lambda _result: self._forget_dialog(dialog))
        self.reason_dialog = dialog
        dialog.open()

    def _forget_dialog(self, dialog: QInputDialog) -> None:
        if self.reason_dialog is dialog:
            self.reason_dialog = None
        dialog.deleteLater()

    def _submit_move(self, card: BoardCard, to_key: str, reason: str | None) -> None:
        if self.session is None or self.executor.closed:
            return
        target = self.models[to_key]
        options: dict[str, Any] = {"expected_version": card.version}
        if reason is not None:
            options["outcome_reason"] = reason
        self._moving.add(card.id)
        self.executor.submit(
            renewals.move_stage,
            self.session.db,
            self.session.actor,
            card.id,
            to_key,
            on_success=lambda result: self._moved(card, to_key, result),
            on_failure=lambda failure: self._move_failed(card, failure),
            what=f"moving {card.policy_number} to {target.name}",
            changes=MOVE_CHANGES,
            **options,
        )

    def _moved(self, card: BoardCard, to_key: str, result: renewals.RenewalCard) -> None:
        self._moving.discard(card.id)
        source = self.models.get(card.stage_key)
        target = self.models.get(to_key)
        view = self._current_view()
        selected = self._selected_card(view) if view is not None else None
        follow = selected is not None and selected.id == card.id
        if source is not None:
            source.take(card.id)
            self.columns[source.key].refresh_header()
        if target is not None:
            moved = replace(card, stage_key=to_key, version=result.version)
            if target.kind is not StageKind.OPEN:  # those two matter only while open
                open_only = (board_service.NO_NEXT_ACTION, board_service.MISSING_DOCUMENTS)
                moved = replace(moved, flags=tuple(f for f in moved.flags if f not in open_only))
            row = target.put(moved)
            self.columns[to_key].refresh_header()
            if row >= 0 and follow:
                self.select_card(card.id)
        self.hide_banner()
        name = target.name if target is not None else to_key
        self.message.emit(f"Moved {card.insured} ({card.policy_number}) to {name}.")
        self.card_moved.emit(card.id, to_key)

    def _move_failed(self, card: BoardCard, failure: Failure) -> None:
        self._moving.discard(card.id)
        self._refused(point_to_new_renewal(failure.message))
        if isinstance(failure.exception, StaleEdit):
            self.reload()  # someone else saved it: show what they saved

    def _refused(self, reason: str) -> None:
        self.show_banner(reason)
        self.message.emit(reason)
