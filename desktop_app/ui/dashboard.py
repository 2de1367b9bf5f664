"""The manager dashboard: headline figures and charts a manager reads at a glance.

Renewals by stage, aging in stage, expiring this month and next, premium at risk this
month, outcomes and retention by month, and the book by producer / CSR / carrier / line
of business / office. Every figure comes from one call of
:func:`desktop_app.services.dashboard.dashboard` on the database executor. Activating a
bar (click, or Tab + arrows + Enter) lists the renewals behind it underneath, fetched a
page at a time through the executor; Enter or a double-click on a row opens the renewal.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSettings,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.domain.enums import StageKind
from desktop_app.domain.permissions import Action
from desktop_app.excel.export_rollup import AGING_BUCKETS
from desktop_app.services import dashboard as service
from desktop_app.services.dashboard import (
    AT_RISK_MEANS,
    By,
    Cell,
    Criteria,
    Dashboard,
    RenewalLine,
    RenewalPage,
    StageInfo,
)
from desktop_app.ui import theme
from desktop_app.ui.charts import Bar, BarChart, Segment, Series, chart_colors
from desktop_app.ui.executor import DatabaseExecutor, Failure
from desktop_app.ui.page import Page
from desktop_app.ui.session import DeskSession

LIST_PAGE = 200
"""Rows fetched at a time for the list behind a bar."""
TOP_GROUPS = 12
"""The "by" chart shows the biggest groups only."""
MEASURES = (("renewals", "Renewals"), ("premium", "Premium"))
SETTING_BY = "dashboard/by"
SETTING_MEASURE = "dashboard/measure"
LOADING = "Loading…"
WIDE = 1500
"""From this page width on, the charts are laid out in three columns."""


def money(amount: Decimal | float, *, cents: bool = False) -> str:
    """Dollars with thousands separators: "$1,234,568", or "$1,234,567.89" with cents."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if cents:
        return f"${value.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"
    return f"${value.quantize(Decimal(1), ROUND_HALF_UP):,}"


def count(n: int) -> str:
    return f"{n:,}"


def plural(n: int, word: str = "renewal") -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _label(text: str = "", *, role: str | None = None, wrap: bool = False) -> QLabel:
    label = QLabel(text)
    if role:
        label.setProperty("role", role)
    label.setWordWrap(wrap)
    return label


# --- colours -----------------------------------------------------------------------------

_WON = ("#2e7d32", "#5cc26a")
_LOST = (("#d9480f", "#f59f5a"), ("#b42318", "#f97066"))
_NEUTRAL = ("#9aa1ad", "#6b7280")
_OPEN_RAMP = (("#9cb9f0", "#1d3f8f"), ("#2f5296", "#a9c4f7"))


def _mix(a: str, b: str, t: float) -> str:
    ca, cb = QColor(a), QColor(b)
    return QColor(
        round(ca.red() + (cb.red() - ca.red()) * t),
        round(ca.green() + (cb.green() - ca.green()) * t),
        round(ca.blue() + (cb.blue() - ca.blue()) * t),
    ).name()


def stage_colors(stages: Sequence[StageInfo], dark: bool) -> dict[int, str]:
    """One colour per stage: open stages a ramp of blues in pipeline order, won green,
    lost ones orange and red."""
    d = 1 if dark else 0
    opened = [s for s in stages if s.kind is StageKind.OPEN]
    lost = [s for s in stages if s.kind is StageKind.LOST]
    out: dict[int, str] = {}
    start, end = _OPEN_RAMP[d]
    for i, s in enumerate(opened):
        out[s.id] = _mix(start, end, i / max(1, len(opened) - 1))
    for i, s in enumerate(lost):
        out[s.id] = _LOST[i % len(_LOST)][d]
    for s in stages:
        if s.kind is StageKind.WON:
            out[s.id] = _WON[d]
    return out


# --- pieces --------------------------------------------------------------------------------


class Headline(QFrame):
    """One headline figure: a big value, what it is, and a line of detail."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 10)
        layout.setSpacing(0)
        self.caption = _label(caption, role="muted")
        self.value = _label("–")
        self.value.setFont(theme.scaled_font(self.value, 1.6, bold=True))
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.value.setAccessibleName(caption)
        self.detail = _label("", role="muted")
        self.caption.setBuddy(self.value)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)

    def set_value(self, value: str, detail: str = "") -> None:
        self.value.setText(value)
        self.detail.setText(detail)
        self.detail.setToolTip(detail)
        text = f"{self.caption.text()}: {value}" + (f" ({detail})" if detail else "")
        self.value.setAccessibleName(text)


class ChartCard(QFrame):
    """A chart with its title and a caption saying what it counts."""

    def __init__(self, chart: BarChart, caption: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.chart = chart
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(2)
        self.heading = _label(chart.title)
        self.heading.setFont(theme.scaled_font(self.heading, 1.1, bold=True))
        self.caption = _label(caption, role="muted", wrap=True)
        layout.addWidget(self.heading)
        layout.addWidget(self.caption)
        layout.addSpacing(4)
        layout.addWidget(chart, 1)

    def set_title(self, title: str) -> None:
        self.heading.setText(title)
        self.chart.title = title
        self.chart.setAccessibleName(title)

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)
        self.caption.setVisible(bool(text))


class RenewalListModel(QAbstractTableModel):
    """The renewals behind a bar; more pages are asked for as the view scrolls."""

    COLUMNS = ("Insured", "Policy number", "Stage", "Owner", "Expiration", "Premium")

    more_wanted = Signal(int)
    """The view wants rows from this offset on (the page fetches them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[RenewalLine] = []
        self.total = 0
        self.criteria: Criteria | None = None
        self.fetching = False

    def reset(self, page: RenewalPage | None) -> None:
        self.beginResetModel()
        self.rows = list(page.rows) if page is not None else []
        self.total = page.total if page is not None else 0
        self.criteria = page.criteria if page is not None else None
        self.fetching = False
        self.endResetModel()

    def append(self, page: RenewalPage) -> None:
        self.fetching = False
        if page.criteria != self.criteria or page.offset != len(self.rows) or not page.rows:
            return
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page.rows) - 1)
        self.rows.extend(page.rows)
        self.total = page.total
        self.endInsertRows()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        if parent.isValid():
            return False
        return not self.fetching and len(self.rows) < self.total

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if self.canFetchMore(parent):
            self.fetching = True
            self.more_wanted.emit(len(self.rows))

    def renewal_id(self, row: int) -> int:
        return self.rows[row].renewal_id

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        line = self.rows[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if column == 0:
                return line.insured
            if column == 1:
                return line.policy_number
            if column == 2:
                return line.stage
            if column == 3:
                return line.owner or "–"
            if column == 4:
                return f"{line.expiration:%m/%d/%Y}"
            if column == 5:
                return "–" if line.premium is None else money(line.premium, cents=True)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return line.renewal_id
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in (4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


# --- the page ------------------------------------------------------------------------------


class DashboardPage(Page):
    title = "Dashboard"

    loaded = Signal(object)
    """The :class:`Dashboard` just shown."""
    load_failed = Signal(str)
    list_loaded = Signal(object)
    """A :class:`RenewalPage` of the list behind a bar, just shown."""
    groups_loaded = Signal(object)
    """The :class:`By` grouping just fetched after the "By" choice changed."""
    export_rollup_requested = Signal()
    """The Export rollup button was pressed (the window runs File → Export rollup)."""

    def __init__(
        self,
        executor: DatabaseExecutor,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(executor, settings, parent)
        self.setObjectName("dashboardPage")
        self.data: Dashboard | None = None
        self.by = By.PRODUCER
        self.measure = "renewals"
        self.loading = False
        self._again = False
        self._generation = 0
        self._list_generation = 0
        self.list_criteria: Criteria | None = None
        self._restore_choices()
        self._build()
        self._show_placeholders(LOADING)

    # --- construction ------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 12)
        outer.setSpacing(10)

        header = QHBoxLayout()
        header.setSpacing(10)
        self.heading = _label("Dashboard")
        self.heading.setFont(theme.scaled_font(self.heading, 1.6, bold=True))
        header.addWidget(self.heading)
        header.addStretch(1)
        show_label = _label("&Show")
        self.measure_box = QComboBox()
        self.measure_box.setAccessibleName("Show renewals or premium")
        self.measure_box.setToolTip("Size the stage, expiring and group bars by count or premium")
        for value, text in MEASURES:
            self.measure_box.addItem(text, value)
        self.measure_box.setCurrentIndex(max(0, self.measure_box.findData(self.measure)))
        show_label.setBuddy(self.measure_box)
        by_label = _label("B&y")
        self.by_box = QComboBox()
        self.by_box.setAccessibleName("Group the book by")
        self.by_box.setToolTip("Group the last chart by producer, CSR, carrier, line or office")
        for by in By:
            self.by_box.addItem(by.label, by.value)
        self.by_box.setCurrentIndex(max(0, self.by_box.findData(self.by.value)))
        by_label.setBuddy(self.by_box)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh the dashboard")
        self.refresh_button.setToolTip("Count everything again (F5)")
        self.refresh_button.setShortcut(QKeySequence("F5"))
        self.export_button = QPushButton("Export rollup…")
        self.export_button.setAccessibleName("Export the manager rollup")
        self.export_button.setEnabled(False)
        for widget in (
            show_label,
            self.measure_box,
            by_label,
            self.by_box,
            self.refresh_button,
            self.export_button,
        ):
            header.addWidget(widget)
        outer.addLayout(header)

        self.scope_label = _label("", role="muted", wrap=True)
        self.scope_label.setAccessibleName("Whose renewals the dashboard counts")
        self.scope_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = _label(LOADING, role="muted", wrap=True)
        self.status.setAccessibleName("Dashboard status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.scope_label)
        outer.addWidget(self.status)

        figures = QHBoxLayout()
        figures.setSpacing(12)
        self.open_figure = Headline("Open renewals")
        self.premium_figure = Headline("Premium open")
        self.risk_figure = Headline("At risk this month")
        self.retention_figure = Headline("Retention, last 12 months")
        for figure in (
            self.open_figure,
            self.premium_figure,
            self.risk_figure,
            self.retention_figure,
        ):
            figures.addWidget(figure, 1)
        outer.addLayout(figures)

        # Charts.
        vertical = Qt.Orientation.Vertical
        self.stage_chart = BarChart("Renewals by stage")
        self.aging_chart = BarChart("Aging in stage", orientation=vertical)
        self.expiring_chart = BarChart("Expiring this month and next")
        self.risk_chart = BarChart("Premium at risk this month", money=True)
        self.months_chart = BarChart("Outcomes and retention by month", orientation=vertical)
        self.group_chart = BarChart("By producer")
        self.charts = (
            self.stage_chart,
            self.aging_chart,
            self.expiring_chart,
            self.risk_chart,
            self.months_chart,
            self.group_chart,
        )
        self.cards = {chart: ChartCard(chart) for chart in self.charts}
        grid_host = QWidget()
        grid_host.setObjectName("dashboardCharts")
        self.grid = QGridLayout(grid_host)
        self.grid.setContentsMargins(0, 0, 4, 0)
        self.grid.setHorizontalSpacing(12)
        self.grid.setVerticalSpacing(12)
        self.columns = 0
        self._arrange(2)
        for chart in self.charts:
            chart.bar_activated.connect(self.show_behind)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(grid_host)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        grid_host.setAutoFillBackground(False)
        self.scroll.viewport().setAutoFillBackground(False)

        # The list behind a bar.
        self.list_panel = QFrame()
        self.list_panel.setObjectName("card")
        panel = QVBoxLayout(self.list_panel)
        panel.setContentsMargins(14, 10, 14, 10)
        panel.setSpacing(6)
        top = QHBoxLayout()
        self.list_heading = _label("")
        self.list_heading.setFont(theme.scaled_font(self.list_heading, 1.05, bold=True))
        self.list_heading.setWordWrap(True)
        self.list_hint = _label("Enter or double-click opens a renewal.", role="muted")
        self.close_list_button = QPushButton("Close list")
        self.close_list_button.setAccessibleName("Close the list of renewals")
        self.close_list_button.setToolTip("Hide the list behind the bar (Esc)")
        top.addWidget(self.list_heading, 1)
        top.addWidget(self.list_hint)
        top.addWidget(self.close_list_button)
        panel.addLayout(top)
        self.list_model = RenewalListModel(self)
        self.table = QTableView()
        self.table.setModel(self.list_model)
        self.table.setAccessibleName("Renewals behind the selected bar")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 12)
        head = self.table.horizontalHeader()
        head.setHighlightSections(False)
        head.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        em = self.fontMetrics().horizontalAdvance("M")
        for column, width in ((1, 10), (2, 10), (3, 10), (4, 7), (5, 8)):
            head.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            head.resizeSection(column, width * em)
        panel.addWidget(self.table, 1)
        self.list_panel.setVisible(False)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.scroll)
        self.splitter.addWidget(self.list_panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        outer.addWidget(self.splitter, 1)

        self.refresh_button.clicked.connect(self.reload)
        self.export_button.clicked.connect(self.export_rollup_requested)
        self.measure_box.currentIndexChanged.connect(self._measure_changed)
        self.by_box.currentIndexChanged.connect(self._by_changed)
        self.close_list_button.clicked.connect(self.close_list)
        self.table.activated.connect(self._row_activated)
        self.list_model.more_wanted.connect(self._fetch_more)

    def _arrange(self, columns: int) -> None:
        """Lay the chart cards out in ``columns`` columns (three on a wide window)."""
        if columns == self.columns:
            return
        for chart in self.charts:
            self.grid.removeWidget(self.cards[chart])
        for i, chart in enumerate(self.charts):
            self.grid.addWidget(self.cards[chart], i // columns, i % columns)
        for c in range(3):
            self.grid.setColumnStretch(c, 1 if c < columns else 0)
        self.columns = columns

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._arrange(3 if event.size().width() >= WIDE else 2)

    # --- settings ------------------------------------------------------------------------

    def _restore_choices(self) -> None:
        if self.settings is None:
            return
        by = self.settings.value(SETTING_BY)
        if isinstance(by, str) and by in {b.value for b in By}:
            self.by = By(by)
        measure = self.settings.value(SETTING_MEASURE)
        if measure in {m for m, _ in MEASURES}:
            self.measure = str(measure)

    def _remember(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue(SETTING_BY, self.by.value)
        self.settings.setValue(SETTING_MEASURE, self.measure)

    def _measure_changed(self) -> None:
        self.measure = str(self.measure_box.currentData())
        self._remember()
        if self.data is not None:
            self._draw(self.data)

    def _by_changed(self) -> None:
        self.by = By(str(self.by_box.currentData()))
        self._remember()
        data = self.data
        if data is None or self.session is None:
            self.cards[self.group_chart].set_title(self._by_title())
            return
        if data.by(self.by) is not None:
            self._draw_groups(data)
            return
        # Fetch the grouping the dashboard was loaded without.
        self.cards[self.group_chart].set_title(self._by_title())
        self.group_chart.set_placeholder(LOADING)
        self.group_chart.set_bars([])
        generation, by = self._generation, self.by
        self.executor.submit(
            service.groups,
            self.session.db,
            self.session.actor,
            by,
            data.as_of,
            on_success=lambda figures: self._groups_loaded(generation, data, by, figures),
            on_failure=lambda failure: self._failed(generation, failure),
            what=f"counting the book by {by.label.lower()}",
        )

    def _groups_loaded(
        self, generation: int, data: Dashboard, by: By, figures: tuple[Any, ...]
    ) -> None:
        if generation != self._generation or self.data is not data:
            return  # reloaded meanwhile: the new load carries its own grouping
        self.data = data.with_groups(by, figures)
        if by is self.by:
            self._draw_groups(self.data)
        self.groups_loaded.emit(by)

    def _by_title(self) -> str:
        return "By CSR" if self.by is By.CSR else f"By {self.by.label.lower()}"

    def set_by(self, by: By) -> None:
        self.by_box.setCurrentIndex(self.by_box.findData(By(by).value))

    def set_measure(self, measure: str) -> None:
        self.measure_box.setCurrentIndex(self.measure_box.findData(measure))

    # --- session and loading ---------------------------------------------------------

    def shows(self) -> frozenset[str]:
        return frozenset(
            {
                "renewals",
                "terms",
                "policies",
                "auto_renewals",
                "pipeline_stages",
                "accounts",
                "users",
            }
        )

    def set_session(self, session: DeskSession) -> None:
        self._generation += 1
        self.loading = False
        self._again = False
        self.data = None
        self.close_list()
        self._show_placeholders(LOADING)
        allowed = session.may(Action.EXPORT_ROLLUP)
        self.export_button.setEnabled(allowed)
        reason = "" if allowed else session.refusal(Action.EXPORT_ROLLUP)
        self.export_button.setToolTip(
            "Save the manager rollup workbook (File → Export → Manager rollup)"
            if allowed
            else reason
        )
        self.export_button.setAccessibleDescription(reason)
        self.scope_label.setText("")
        super().set_session(session)

    def reload(self) -> None:
        super().reload()
        if self.session is None or self.executor.closed:
            return
        if self.loading:
            self._again = True
            return
        self.loading = True
        self.refresh_button.setEnabled(False)
        self._set_status(LOADING)
        generation = self._generation
        self.executor.submit(
            service.dashboard,
            self.session.db,
            self.session.actor,
            by=self.by,
            on_success=lambda data: self._loaded(generation, data),
            on_failure=lambda failure: self._failed(generation, failure),
            what="loading the dashboard",
        )

    def _set_status(self, text: str, *, error: bool = False) -> None:
        """ "Loading…" or what went wrong, above the charts; nothing once loaded."""
        self.status.setText(text)
        theme.set_role(self.status, "error" if error else "muted")
        self.status.setVisible(bool(text))

    def _finished(self) -> None:
        self.loading = False
        self.refresh_button.setEnabled(True)
        if self._again:
            self._again = False
            self.reload()

    def _loaded(self, generation: int, data: Dashboard) -> None:
        if generation != self._generation:
            return
        self.data = data
        self._draw(data)
        self._finished()
        if self.list_criteria is not None and self.list_panel.isVisible():
            self._load_list(self.list_criteria)
        self.loaded.emit(data)

    def _failed(self, generation: int, failure: Failure) -> None:
        if generation != self._generation:
            return
        self._finished()
        self._set_status(failure.message, error=True)
        if self.data is None:
            self._show_placeholders("Could not load")
        self.message.emit(failure.message)
        self.load_failed.emit(failure.message)

    # --- drawing ---------------------------------------------------------------------

    def _show_placeholders(self, text: str) -> None:
        for chart in self.charts:
            chart.set_placeholder(text)
            chart.set_bars([])
        for figure in (
            self.open_figure,
            self.premium_figure,
            self.risk_figure,
            self.retention_figure,
        ):
            figure.set_value("–")

    def _value(self, cell: Cell) -> float:
        return float(cell.premium) if self.measure == "premium" else float(cell.count)

    def _figure_text(self, cell: Cell) -> str:
        return f"{plural(cell.count)}, {money(cell.premium, cents=True)}"

    def _draw(self, data: Dashboard) -> None:
        dark = chart_colors(self).dark
        colors = stage_colors([f.stage for f in data.stages], dark)
        this_month = data.expiring[0].month
        for chart in self.charts:
            chart.set_placeholder("No data")

        self.scope_label.setText(
            f"{data.scope} As of {data.as_of:%A, %B} {data.as_of.day}, {data.as_of.year} "
            f"({data.time_zone}). Click a bar (or Tab to a chart, arrows, Enter) to list "
            "the renewals behind it."
        )
        self._set_status("")
        self.open_figure.set_value(
            count(data.open_renewals.count),
            f"{count(data.expiring_this_month.count)} expire in {this_month:%B}",
        )
        self.premium_figure.set_value(
            money(data.open_renewals.premium), "new premium where quoted, else expiring"
        )
        self.risk_figure.set_value(
            money(data.at_risk_total.premium),
            f"{plural(data.at_risk_total.count)} not bound or do-not-renew",
        )
        self.retention_figure.set_value(
            "–" if data.retention is None else f"{data.retention:.1%}",
            f"{count(data.renewed)} renewed of {count(data.decided)} decided",
        )

        premium = self.measure == "premium"
        unit = "premium" if premium else "renewals"

        # Renewals by stage.
        self.stage_chart.set_bars(
            [
                Bar.single(
                    f.cell.criteria,
                    f.stage.name,
                    self._value(f.cell),
                    color=colors.get(f.stage.id),
                    tooltip=f"{f.stage.name}: {self._figure_text(f.cell)}",
                )
                for f in data.stages
            ],
            money=premium,
        )
        self.cards[self.stage_chart].set_caption(
            f"Every renewal card by its stage, sized by {unit}."
        )

        # Aging in stage.
        open_stages = [a.stage for a in data.aging]
        series = [Series(s.name, colors.get(s.id, "#888888")) for s in open_stages]
        bars = []
        for i, (low, high) in enumerate(AGING_BUCKETS):
            label = f"{low}–{high}" if high is not None else f"> {low - 1}"
            segments = tuple(
                Segment(
                    a.buckets[i].criteria,
                    a.buckets[i].count,
                    j,
                    tooltip=f"{a.stage.name}, {label} days in stage: "
                    f"{self._figure_text(a.buckets[i])}",
                )
                for j, a in enumerate(data.aging)
            )
            bars.append(Bar(label, segments, tooltip=f"{label} days in stage"))
        breakdown = ", ".join(
            f"{a.stage.name} {count(a.past_sla.count)}" for a in data.aging if a.past_sla.count
        )
        bars.append(
            Bar.single(
                data.past_sla.criteria,
                "Past SLA",
                data.past_sla.count,
                color=chart_colors(self).danger,
                emphasis=True,
                tooltip=f"Past the stage's SLA: {self._figure_text(data.past_sla)}"
                + (f" ({breakdown})" if breakdown else ""),
            )
        )
        self.aging_chart.set_bars(bars, series, money=False)
        self.cards[self.aging_chart].set_caption(
            "Open renewals by days in their current stage; Past SLA counts those in a "
            "stage longer than its SLA days (they are in the day bars too)."
        )

        # Expiring this month and next.
        all_series = [Series(f.stage.name, colors.get(f.stage.id, "#888888")) for f in data.stages]
        index = {f.stage.id: j for j, f in enumerate(data.stages)}
        self.expiring_chart.set_bars(
            [
                Bar(
                    f"{e.month:%B}",
                    tuple(
                        Segment(
                            s.cell.criteria,
                            self._value(s.cell),
                            index[s.stage.id],
                            tooltip=f"Expiring in {e.month:%B %Y}, {s.stage.name}: "
                            f"{self._figure_text(s.cell)}",
                        )
                        for s in e.by_stage
                    ),
                    tooltip=f"Expiring in {e.month:%B %Y}",
                )
                for e in data.expiring
            ],
            all_series,
            money=premium,
        )
        self.cards[self.expiring_chart].set_caption(
            f"Renewals whose term expires in {data.expiring[0].month:%B} or "
            f"{data.expiring[1].month:%B}, open and decided, by stage; sized by {unit}."
        )

        # Premium at risk this month.
        by_name = {f.stage.name: f.stage for f in data.stages}
        self.risk_chart.set_bars(
            [
                Bar.single(
                    f.cell.criteria,
                    f.label,
                    float(f.cell.premium),
                    color=(
                        colors.get(by_name[f.label].id)
                        if f.label in by_name
                        else chart_colors(self).danger
                    ),
                    text=f"{money(f.cell.premium)} · {count(f.cell.count)}",
                    tooltip=f"At risk in {this_month:%B %Y}, {f.label}: "
                    f"{self._figure_text(f.cell)}",
                    emphasis=f.label not in by_name,
                )
                for f in data.at_risk
            ],
            money=True,
        )
        self.cards[self.risk_chart].set_caption(
            f"At risk: {AT_RISK_MEANS.replace('this month', f'in {this_month:%B}')}. "
            "Bars: premium · renewals."
        )

        # Outcomes and retention by month.
        dark_index = 1 if dark else 0
        outcome_series = [
            Series("Renewed", _WON[dark_index]),
            Series("Lost", _LOST[0][dark_index]),
            Series("Non-renewed", _LOST[1][dark_index]),
            Series("Not decided", _NEUTRAL[dark_index]),
        ]
        month_bars = []
        for m in data.months:
            kept = (
                "no renewals decided"
                if m.retention is None
                else f"retention {m.retention:.0%} ({count(m.renewed.count)} of "
                f"{count(m.decided)} decided)"
            )
            parts = (m.renewed, m.lost, m.non_renewed, m.undecided)
            names = ("Renewed", "Lost", "Non-renewed", "Not decided")
            month_bars.append(
                Bar(
                    f"{m.month:%b}",
                    tuple(
                        Segment(
                            cell.criteria,
                            cell.count,
                            j,
                            tooltip=f"{m.month:%B %Y}, {names[j].lower()}: "
                            f"{self._figure_text(cell)}; {kept}",
                        )
                        for j, cell in enumerate(parts)
                    ),
                    text=percent(m.retention) if m.decided else "",
                    tooltip=f"{m.month:%B %Y}: {kept}",
                )
            )
        self.months_chart.set_bars(month_bars, outcome_series, money=False)
        self.cards[self.months_chart].set_caption(
            f"Renewals by the month their term expires ({data.window}); the % above a "
            "bar is its retention: renewed ÷ decided."
        )
        self._draw_groups(data)

    def _draw_groups(self, data: Dashboard) -> None:
        premium = self.measure == "premium"
        by = self.by
        card = self.cards[self.group_chart]
        card.set_title(self._by_title())
        figures = data.by(by)
        if figures is None:
            return
        self.group_chart.set_placeholder("No data")
        groups = sorted(
            figures,
            key=lambda g: (-self._value(g.open), g.label.casefold()),
        )
        shown = [g for g in groups if g.open.count or g.decided][:TOP_GROUPS]
        accent = chart_colors(self).accent
        bars = []
        for g in shown:
            value = self._value(g.open)
            text = money(g.open.premium) if premium else count(g.open.count)
            if g.retention is not None:
                text += f" · {g.retention:.0%}"
            kept = (
                "no renewals decided in the last 12 months"
                if g.retention is None
                else f"retention {g.retention:.0%} ({count(g.renewed)} of {count(g.decided)} "
                "decided, last 12 months)"
            )
            bars.append(
                Bar.single(
                    g.open.criteria,
                    g.short,
                    value,
                    color=accent,
                    text=text,
                    tooltip=f"{g.label}: {plural(g.open.count, 'open renewal')}, "
                    f"{money(g.open.premium, cents=True)} open premium; {kept}; "
                    f"{money(g.at_risk.premium)} at risk this month",
                )
            )
        self.group_chart.set_bars(bars, money=premium)
        more = len([g for g in groups if g.open.count or g.decided]) - len(shown)
        unit = "open premium" if premium else "open renewals"
        caption = f"{unit.capitalize()} per {by.label.lower() if by is not By.CSR else 'CSR'}"
        caption += "; the % is retention over the last 12 months."
        if more > 0:
            caption += f" The biggest {len(shown)} of {len(shown) + more} {by.plural}."
        card.set_caption(caption)

    # --- the list behind a bar ------------------------------------------------------------

    def show_behind(self, criteria: object) -> None:
        """List the renewals behind a bar (its :class:`Criteria`)."""
        if not isinstance(criteria, Criteria) or self.session is None:
            return
        self.list_criteria = criteria
        self.list_model.reset(None)
        self.list_heading.setText(f"{criteria.title}: loading…")
        if not self.list_panel.isVisible():
            self.list_panel.setVisible(True)
            total = max(1, self.splitter.height())
            self.splitter.setSizes([total * 55 // 100, total * 45 // 100])
        self._load_list(criteria)

    def _load_list(self, criteria: Criteria) -> None:
        if self.session is None:
            return
        self._list_generation += 1
        generation = self._list_generation
        self.executor.submit(
            service.renewals_behind,
            self.session.db,
            self.session.actor,
            criteria,
            limit=LIST_PAGE,
            on_success=lambda page: self._list_first(generation, page),
            on_failure=lambda failure: self._list_failed(generation, failure),
            what="listing the renewals behind the bar",
        )

    def _list_first(self, generation: int, page: RenewalPage) -> None:
        if generation != self._list_generation:
            return
        self.list_model.reset(page)
        for column in range(1, self.list_model.columnCount()):
            self.table.resizeColumnToContents(column)
        self.list_heading.setText(f"{page.criteria.title}: {plural(page.total)}")
        self.table.setAccessibleDescription(f"{page.criteria.title}: {plural(page.total)}")
        if page.rows:
            self.table.selectRow(0)
        self.list_loaded.emit(page)

    def _fetch_more(self, offset: int) -> None:
        criteria = self.list_model.criteria
        if self.session is None or criteria is None:
            return
        generation = self._list_generation
        self.executor.submit(
            service.renewals_behind,
            self.session.db,
            self.session.actor,
            criteria,
            offset=offset,
            limit=LIST_PAGE,
            on_success=lambda page: self._list_more(generation, page),
            on_failure=lambda failure: self._list_failed(generation, failure),
            what="listing more renewals",
        )

    def _list_more(self, generation: int, page: RenewalPage) -> None:
        if generation != self._list_generation:
            return
        self.list_model.append(page)
        self.list_loaded.emit(page)

    def _list_failed(self, generation: int, failure: Failure) -> None:
        if generation != self._list_generation:
            return
        self.list_model.fetching = False
        title = self.list_criteria.title if self.list_criteria else "The list"
        self.list_heading.setText(f"{title}: {failure.message}")
        self.message.emit(failure.message)

    def close_list(self) -> None:
        self._list_generation += 1
        self.list_criteria = None
        self.list_model.reset(None)
        self.list_panel.setVisible(False)

    def _row_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_renewal.emit(self.list_model.renewal_id(index.row()))

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape and self.list_panel.isVisible():
            self.close_list()
            event.accept()
            return
        super().keyPressEvent(event)
