"""Bar charts drawn with QPainter: plain and stacked, horizontal and vertical.

Why not Qt Charts or Qt Graphs: Qt Charts is deprecated since Qt 6.10 and Qt Graphs needs
QML and OpenGL. A painted widget renders offscreen (tests, screenshots) exactly as on
screen, follows the palette, and is easy to make clickable and accessible.

A chart shows :class:`Bar` objects, each made of one or more :class:`Segment` (stacked).
Every segment with a value is an *item*: click it, or Tab into the chart, move with the
arrow keys (Home / End) and press Enter or Space, and :attr:`BarChart.bar_activated` emits
the segment's key. Hovering shows the exact figure in a tooltip. The value axis has
thousands separators (and $ for money); each bar carries its total as a label. With no
bars, or nothing but zeros, the chart says "No data".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop_app.ui import theme

NO_DATA = "No data"
PAD = 8.0
GAP = 6.0


def format_count(value: float | int | Decimal) -> str:
    """12345 → "12,345"."""
    return f"{float(value):,.0f}"


def format_money(value: float | int | Decimal, *, cents: bool = False) -> str:
    """1234567.8 → "$1,234,568" (or "$1,234,567.80" with ``cents``)."""
    amount = float(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}" if cents else f"{sign}${abs(amount):,.0f}"


@dataclass(frozen=True)
class Series:
    """A kind of segment, for the legend (e.g. one pipeline stage)."""

    name: str
    color: str


@dataclass(frozen=True)
class Segment:
    key: object
    """What :attr:`BarChart.bar_activated` emits for this segment."""
    value: float
    series: int | None = None
    """Index into the chart's series (its colour and legend entry)."""
    color: str | None = None
    """A colour of its own (else the series', else the accent)."""
    tooltip: str = ""
    """The exact figure in words; default: "<bar>: <value>"."""


@dataclass(frozen=True)
class Bar:
    label: str
    segments: tuple[Segment, ...]
    text: str | None = None
    """Written at the end of the bar; default: its total, formatted."""
    tooltip: str = ""
    """For segments without a tooltip of their own."""
    emphasis: bool = False
    """Draw the label in the danger colour (e.g. "Past SLA")."""

    @property
    def total(self) -> float:
        return sum(max(0.0, float(s.value)) for s in self.segments)

    @classmethod
    def single(
        cls,
        key: object,
        label: str,
        value: float | int | Decimal,
        *,
        color: str | None = None,
        text: str | None = None,
        tooltip: str = "",
        series: int | None = None,
        emphasis: bool = False,
    ) -> Bar:
        return cls(
            label,
            (Segment(key, float(value), series, color, tooltip),),
            text,
            tooltip,
            emphasis,
        )


@dataclass
class _Item:
    bar: int
    segment: int
    rect: QRectF = field(default_factory=QRectF)


@dataclass(frozen=True)
class _Text:
    text: str
    rect: QRectF
    """The box the text is aligned in."""
    flags: Qt.AlignmentFlag
    role: str
    """"label", "emphasis", "value", "tick" or "legend" (which colour to draw it in)."""


@dataclass
class _Layout:
    size: QSize
    plot: QRectF
    axis_max: float
    ticks: list[float]
    swatches: list[tuple[QRectF, int]]  # legend swatch, series index
    texts: list[_Text]


def _nice_step(raw: float, whole: bool) -> float:
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if step >= raw:
            break
    if whole:
        step = max(1.0, math.ceil(step))
    return step


def chart_colors(widget: QWidget) -> theme.Colors:
    """The theme's colours for the palette the widget actually has (light or dark)."""
    window = widget.palette().color(QPalette.ColorRole.Window)
    scheme = Qt.ColorScheme.Dark if window.lightness() < 128 else Qt.ColorScheme.Light
    return theme.current_colors(scheme=scheme)


class BarChart(QWidget):
    """A bar chart; ``orientation`` Horizontal draws bars left to right, one per row."""

    bar_activated = Signal(object)
    """The key of the segment clicked or activated from the keyboard."""
    current_changed = Signal(object)
    """The key of the newly selected segment (None when nothing is)."""

    def __init__(
        self,
        title: str,
        *,
        orientation: Qt.Orientation = Qt.Orientation.Horizontal,
        money: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.title = title
        self.orientation = orientation
        self.money = money
        self.bars: tuple[Bar, ...] = ()
        self.series: tuple[Series, ...] = ()
        self.placeholder = NO_DATA
        self._items: list[_Item] = []
        self._current: int | None = None
        self._hover: int | None = None
        self._pressed: int | None = None
        self._layout: _Layout | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_Hover, True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(title)
        self._describe()

    # --- data ------------------------------------------------------------------------

    def set_bars(
        self,
        bars: Sequence[Bar],
        series: Sequence[Series] = (),
        *,
        money: bool | None = None,
    ) -> None:
        """Show ``bars`` (in order: top to bottom, or left to right)."""
        if money is not None:
            self.money = money
        previous = self.current_key()
        self.bars = tuple(bars)
        self.series = tuple(series)
        self._items = [
            _Item(b, s)
            for b, bar in enumerate(self.bars)
            for s, segment in enumerate(bar.segments)
            if segment.value > 0
        ]
        self._current = None
        self._hover = None
        self._pressed = None
        if previous is not None:
            self._current = self.item_index(previous)
        self._layout = None
        self._describe()
        self.updateGeometry()
        self.update()

    def set_placeholder(self, text: str) -> None:
        """What an empty chart says (default "No data"; "Loading…" before the first data)."""
        self.placeholder = text
        self._describe()
        self.update()

    @property
    def empty(self) -> bool:
        return not self._items

    def item_count(self) -> int:
        """How many segments can be selected (those with a value)."""
        return len(self._items)

    def item_key(self, index: int) -> object:
        return self._segment(index).key

    def item_value(self, index: int) -> float:
        return float(self._segment(index).value)

    def item_index(self, key: object) -> int | None:
        for i in range(len(self._items)):
            if self._segment(i).key == key:
                return i
        return None

    def item_rect(self, index: int) -> QRectF:
        """Where item ``index`` is drawn, in widget coordinates."""
        self._ensure_layout()
        return QRectF(self._items[index].rect)

    def item_at(self, pos: QPointF) -> int | None:
        self._ensure_layout()
        for i, item in enumerate(self._items):
            if item.rect.adjusted(-1, -1, 1, 1).contains(pos):
                return i
        return None

    def current(self) -> int | None:
        return self._current

    def current_key(self) -> object:
        return None if self._current is None else self._segment(self._current).key

    def set_current(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self._items):
            index = None
        if index == self._current:
            return
        self._current = index
        self._describe()
        self.update()
        self.current_changed.emit(self.current_key())

    def activate(self, index: int | None = None) -> None:
        """Emit :attr:`bar_activated` for item ``index`` (default: the current one)."""
        index = self._current if index is None else index
        if index is None or not 0 <= index < len(self._items):
            return
        self.bar_activated.emit(self._segment(index).key)

    def tooltip_for(self, index: int) -> str:
        item = self._items[index]
        bar = self.bars[item.bar]
        segment = bar.segments[item.segment]
        if segment.tooltip:
            return segment.tooltip
        if bar.tooltip:
            return bar.tooltip
        name = self._series_name(segment)
        label = f"{bar.label} · {name}" if name else bar.label
        return f"{label}: {self.format(segment.value, exact=True)}"

    def bar_text(self, bar: int) -> str:
        """The label written at the end of bar ``bar``."""
        b = self.bars[bar]
        return b.text if b.text is not None else self.format(b.total)

    def axis_labels(self) -> list[str]:
        """The value axis' tick labels, as drawn."""
        self._ensure_layout()
        assert self._layout is not None
        return [self.format(t) for t in self._layout.ticks]

    def format(self, value: float, *, exact: bool = False) -> str:
        if self.money:
            return format_money(value, cents=exact)
        return format_count(value)

    def summary(self) -> str:
        """The figures in one sentence, for screen readers."""
        if self.empty:
            return f"{self.title}: {self.placeholder}."
        parts = []
        for b, bar in enumerate(self.bars):
            text = f"{bar.label}: {self.bar_text(b)}"
            if len(bar.segments) > 1:
                inner = ", ".join(
                    f"{self._series_name(s) or 'part'} {self.format(s.value)}"
                    for s in bar.segments
                    if s.value > 0
                )
                if inner:
                    text += f" ({inner})"
            parts.append(text)
        return f"{self.title}. " + "; ".join(parts) + "."

    # --- helpers -----------------------------------------------------------------------

    def _segment(self, index: int) -> Segment:
        item = self._items[index]
        return self.bars[item.bar].segments[item.segment]

    def _series_name(self, segment: Segment) -> str:
        if segment.series is not None and 0 <= segment.series < len(self.series):
            return self.series[segment.series].name
        return ""

    def _color(self, segment: Segment, colors: theme.Colors) -> QColor:
        if segment.color:
            return QColor(segment.color)
        if segment.series is not None and 0 <= segment.series < len(self.series):
            return QColor(self.series[segment.series].color)
        return QColor(colors.accent)

    def _describe(self) -> None:
        summary = self.summary()
        key = self._current
        if key is not None and key < len(self._items):
            summary = f"Selected: {self.tooltip_for(key)}. {summary}"
        self.setAccessibleDescription(summary)

    def _horizontal(self) -> bool:
        return self.orientation == Qt.Orientation.Horizontal

    def _metrics(self) -> QFontMetricsF:
        return QFontMetricsF(self.font())

    # --- size ---------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        fm = self._metrics()
        n = max(1, len(self.bars))
        legend = (fm.height() + 6) * 2 if self.series else 0
        if self._horizontal():
            return QSize(420, int(legend + n * fm.height() * 2.0 + fm.height() + 4 * PAD))
        return QSize(420, int(legend + fm.height() * 14))

    def minimumSizeHint(self) -> QSize:
        fm = self._metrics()
        n = max(1, len(self.bars))
        legend = (fm.height() + 6) if self.series else 0
        if self._horizontal():
            return QSize(260, int(legend + n * (fm.height() + 6) + fm.height() + 4 * PAD))
        return QSize(260, int(legend + fm.height() * 9))

    # --- layout --------------------------------------------------------------------------

    def _ensure_layout(self) -> None:
        if self._layout is None or self._layout.size != self.size():
            self._layout = self._compute_layout()

    def _legend(
        self, width: float, top: float
    ) -> tuple[list[tuple[QRectF, int]], list[_Text], float]:
        fm = self._metrics()
        used = {s.series for b in self.bars for s in b.segments if s.series is not None}
        entries = [i for i in range(len(self.series)) if i in used]
        if not entries:
            return [], [], 0.0
        swatch = max(8.0, fm.height() * 0.6)
        line_h = fm.height() + 4
        x, y = PAD, top
        swatches: list[tuple[QRectF, int]] = []
        texts: list[_Text] = []
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        for i in entries:
            name = self.series[i].name
            text_w = min(fm.horizontalAdvance(name) + 1, width - 2 * PAD - swatch - 4)
            need = swatch + 4 + text_w
            if x > PAD and x + need > width - PAD:
                x, y = PAD, y + line_h
            swatches.append((QRectF(x, y + (line_h - swatch) / 2, swatch, swatch), i))
            name = fm.elidedText(name, Qt.TextElideMode.ElideRight, text_w)
            texts.append(_Text(name, QRectF(x + swatch + 4, y, text_w, line_h), left, "legend"))
            x += need + 14
        return swatches, texts, y + line_h - top

    def _ticks(self, maximum: float, room: float, label_room: float) -> tuple[float, list[float]]:
        """A nice axis for values up to ``maximum`` over ``room`` pixels, with ticks at
        least ``label_room`` pixels apart (room for their labels)."""
        whole = True if not self.money else maximum >= 10
        if maximum <= 0:
            return 1.0, [0.0, 1.0]
        for target in (6, 5, 4, 3, 2, 1):
            step = _nice_step(maximum / target, whole)
            top = step * math.ceil(maximum / step - 1e-9)
            ticks = [step * i for i in range(round(top / step) + 1)]
            spacing = room * step / top if top else room
            widest = max(self._tick_extent(t) for t in ticks)
            if spacing >= widest + label_room:
                return top, ticks
        return maximum, [0.0, maximum]

    def _tick_extent(self, value: float) -> float:
        fm = self._metrics()
        if self._horizontal():
            return fm.horizontalAdvance(self.format(value))
        return fm.height()

    def _compute_layout(self) -> _Layout:
        fm = self._metrics()
        w, h = float(self.width()), float(self.height())
        swatches, texts, legend_h = self._legend(w, PAD)
        top = PAD + legend_h + (GAP if legend_h else 0)
        n = len(self.bars)
        maximum = max((b.total for b in self.bars), default=0.0)
        values = [self.bar_text(i) for i in range(n)]
        items = self._items
        align = Qt.AlignmentFlag
        if self._horizontal():
            label_w = min(
                max((fm.horizontalAdvance(b.label) for b in self.bars), default=0.0) + 2,
                w * 0.38,
            )
            text_w = max((fm.horizontalAdvance(t) for t in values), default=0.0) + GAP
            axis_h = fm.height() + 4
            left = PAD + label_w + GAP
            right = w - PAD - text_w
            plot = QRectF(left, top, max(10.0, right - left), max(10.0, h - PAD - axis_h - top))
            axis_max, ticks = self._ticks(maximum, plot.width(), 12)
            # The last tick's label, centred on the plot's right edge, must stay inside.
            last_w = fm.horizontalAdvance(self.format(ticks[-1])) / 2
            if plot.right() + last_w > w - 2:
                plot.setRight(w - 2 - last_w)
                axis_max, ticks = self._ticks(maximum, plot.width(), 12)
            slot = plot.height() / max(1, n)
            thickness = min(slot * 0.72, fm.height() * 1.5)
            scale = plot.width() / axis_max if axis_max else 0.0
            for tick in ticks:
                x = plot.left() + tick * scale
                label = self.format(tick)
                tw = fm.horizontalAdvance(label) + 2
                rect = QRectF(x - tw / 2, plot.bottom() + 2, tw, fm.height())
                texts.append(_Text(label, rect, align.AlignCenter, "tick"))
            for b, bar in enumerate(self.bars):
                centre = plot.top() + slot * (b + 0.5)
                row = QRectF(PAD, centre - slot / 2, label_w, slot)
                label = fm.elidedText(bar.label, Qt.TextElideMode.ElideRight, label_w)
                role = "emphasis" if bar.emphasis else "label"
                texts.append(_Text(label, row, align.AlignRight | align.AlignVCenter, role))
                x = plot.left()
                for item in items:
                    if item.bar == b:
                        length = max(0.0, float(bar.segments[item.segment].value)) * scale
                        item.rect = QRectF(x, centre - thickness / 2, length, thickness)
                        x += length
                end = plot.left() + bar.total * scale
                value_rect = QRectF(end + 4, centre - slot / 2, text_w, slot)
                value = fm.elidedText(values[b], Qt.TextElideMode.ElideRight, text_w)
                texts.append(
                    _Text(value, value_rect, align.AlignLeft | align.AlignVCenter, "value")
                )
        else:
            label_h = fm.height() + 4
            text_h = fm.height() + 2
            top += text_h
            plot_h = max(10.0, h - PAD - label_h - top)
            axis_max, ticks = self._ticks(maximum, plot_h, 4)
            tick_w = max(fm.horizontalAdvance(self.format(t)) for t in ticks) + 2
            left = PAD + tick_w + GAP
            plot = QRectF(left, top, max(10.0, w - PAD - left), plot_h)
            slot = plot.width() / max(1, n)
            thickness = min(slot * 0.68, fm.height() * 3.2)
            scale = plot.height() / axis_max if axis_max else 0.0
            for tick in ticks:
                y = plot.bottom() - tick * scale
                rect = QRectF(PAD, y - fm.height() / 2, tick_w, fm.height())
                texts.append(
                    _Text(self.format(tick), rect, align.AlignRight | align.AlignVCenter, "tick")
                )
            for b, bar in enumerate(self.bars):
                centre = plot.left() + slot * (b + 0.5)
                column = QRectF(centre - slot / 2 + 1, plot.bottom() + 4, slot - 2, label_h)
                label = fm.elidedText(bar.label, Qt.TextElideMode.ElideRight, column.width())
                role = "emphasis" if bar.emphasis else "label"
                texts.append(_Text(label, column, align.AlignHCenter | align.AlignTop, role))
                y = plot.bottom()
                for item in items:
                    if item.bar == b:
                        length = max(0.0, float(bar.segments[item.segment].value)) * scale
                        item.rect = QRectF(centre - thickness / 2, y - length, thickness, length)
                        y -= length
                end = plot.bottom() - bar.total * scale
                value_rect = QRectF(centre - slot / 2 + 1, end - text_h, slot - 2, text_h)
                value = fm.elidedText(values[b], Qt.TextElideMode.ElideRight, value_rect.width())
                texts.append(
                    _Text(value, value_rect, align.AlignHCenter | align.AlignBottom, "value")
                )
        return _Layout(self.size(), plot, axis_max, ticks, swatches, texts)

    def plot_rect(self) -> QRectF:
        """The area the bars are drawn in."""
        self._ensure_layout()
        assert self._layout is not None
        return QRectF(self._layout.plot)

    def text_boxes(self) -> list[tuple[str, QRectF]]:
        """Every text the chart draws (labels, totals, axis, legend) and the rectangle it
        covers, for tests that nothing overlaps."""
        if self.empty:
            return []
        self._ensure_layout()
        assert self._layout is not None
        fm = self._metrics()
        return [
            (t.text, fm.boundingRect(t.rect, int(t.flags), t.text))
            for t in self._layout.texts
            if t.text
        ]

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._layout = None
        super().resizeEvent(event)

    # --- painting -------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        colors = chart_colors(self)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setFont(self.font())
        fm = self._metrics()
        if self.empty:
            painter.setPen(QColor(colors.muted))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            if self.hasFocus():
                self._focus_frame(painter, QRectF(self.rect()).adjusted(2, 2, -2, -2), colors)
            painter.end()
            return
        self._ensure_layout()
        layout = self._layout
        assert layout is not None
        plot = layout.plot
        text = QColor(colors.text)
        pens = {
            "label": text,
            "emphasis": QColor(colors.danger),
            "value": QColor(colors.muted),
            "tick": QColor(colors.muted),
            "legend": QColor(colors.muted),
        }

        # Grid lines, legend swatches, then every text.
        painter.setPen(QPen(QColor(colors.border), 1))
        for tick in layout.ticks:
            offset = tick / layout.axis_max if layout.axis_max else 0.0
            if self._horizontal():
                x = plot.left() + offset * plot.width()
                painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            else:
                y = plot.bottom() - offset * plot.height()
                painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        painter.setPen(Qt.PenStyle.NoPen)
        for swatch, i in layout.swatches:
            painter.setBrush(QColor(self.series[i].color))
            painter.drawRoundedRect(swatch, 2, 2)
        for t in layout.texts:
            painter.setPen(pens[t.role])
            painter.drawText(t.rect, t.flags, t.text)

        # Bars.
        separator = QColor(colors.surface)
        for i, item in enumerate(self._items):
            segment = self.bars[item.bar].segments[item.segment]
            color = self._color(segment, colors)
            if i == self._hover:
                color = color.lighter(115) if not colors.dark else color.lighter(125)
            painter.setPen(
                QPen(separator, 1) if len(self.bars[item.bar].segments) > 1 else Qt.PenStyle.NoPen
            )
            painter.setBrush(color)
            painter.drawRect(item.rect)
            self._segment_label(painter, item, segment, color, fm)

        # Selection.
        if self._current is not None:
            rect = self._items[self._current].rect.adjusted(-2, -2, 2, 2)
            pen = QPen(text, 2)
            if not self.hasFocus():
                pen.setStyle(Qt.PenStyle.DotLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
        elif self.hasFocus():
            self._focus_frame(painter, plot.adjusted(-4, -4, 4, 4), colors)
        painter.end()

    def _segment_label(
        self, painter: QPainter, item: _Item, segment: Segment, color: QColor, fm: QFontMetricsF
    ) -> None:
        """The segment's own value inside it, when the bar is stacked and it fits."""
        if len(self.bars[item.bar].segments) < 2:
            return
        label = self.format(segment.value)
        rect = item.rect
        if fm.horizontalAdvance(label) + 6 > rect.width() or fm.height() + 2 > rect.height():
            return
        painter.setPen(QColor("#ffffff") if color.lightness() < 150 else QColor("#111111"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)

    def _focus_frame(self, painter: QPainter, rect: QRectF, colors: theme.Colors) -> None:
        pen = QPen(QColor(colors.accent), 1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 4, 4)

    # --- interaction ----------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            pos = event.pos()  # type: ignore[attr-defined]
            index = self.item_at(QPointF(pos))
            if index is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(
                    event.globalPos(),  # type: ignore[attr-defined]
                    self.tooltip_for(index),
                    self,
                    self.item_rect(index).toAlignedRect(),
                )
            return True
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._layout = None
            self.update()
        return super().event(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.item_at(event.position())
        if index != self._hover:
            self._hover = index
            self.setCursor(
                Qt.CursorShape.PointingHandCursor
                if index is not None
                else Qt.CursorShape.ArrowCursor
            )
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if self._hover is not None:
            self._hover = None
            self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self._pressed = self.item_at(event.position())
        if self._pressed is not None:
            self.set_current(self._pressed)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mouseReleaseEvent(event)
            return
        index = self.item_at(event.position())
        if index is not None and index == self._pressed:
            self.activate(index)
        self._pressed = None
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        n = len(self._items)
        if n and key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_Left, Qt.Key.Key_Up):
            forward = key in (Qt.Key.Key_Right, Qt.Key.Key_Down)
            if self._current is None:
                self.set_current(0 if forward else n - 1)
            else:
                self.set_current((self._current + (1 if forward else -1)) % n)
            event.accept()
            return
        if n and key in (Qt.Key.Key_Home, Qt.Key.Key_End):
            self.set_current(0 if key == Qt.Key.Key_Home else n - 1)
            event.accept()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and n:
            if self._current is None:
                self.set_current(0)
            self.activate()
            event.accept()
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        self.update()
        super().focusInEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self.update()
        super().focusOutEvent(event)
