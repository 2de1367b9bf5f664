"""The home screen: first steps on an empty book, the book at a glance otherwise."""

from __future__ import annotations

import time
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.domain import permissions
from desktop_app.domain.enums import StageKind
from desktop_app.domain.permissions import Action
from desktop_app.services import demo, overview
from desktop_app.services.demo import DemoSummary
from desktop_app.services.overview import BookOverview
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure, Job
from desktop_app.ui.session import DeskSession

DEMO_POLICIES = 5000
DEMO_SEED = 1
IMPORT_NOTE = "Excel workbooks (.xlsx, .xlsm) and CSV files; you see a preview first."
DEMO_NOTE = "It loads in the background; you can cancel it."
DEMO_CHANGES = frozenset(
    {
        "users",
        "accounts",
        "policies",
        "terms",
        "renewals",
        "tasks",
        "document_requirements",
        "auto_renewal_plans",
        "auto_renewals",
    }
)
"""What loading demo data writes (object kinds as in audit events: table names)."""


def money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def count(n: int) -> str:
    return f"{n:,}"


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


class FirstRunPanel(QWidget):
    """An empty book: load demo data, or import the agency's Excel list."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 32, 40, 32)
        outer.setSpacing(0)

        column = QWidget()
        column.setMaximumWidth(880)
        column.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(column)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)

        self.title = _label("Welcome to Renewal Desk")
        self.title.setFont(theme.scaled_font(self.title, 1.9, bold=True))
        self.title.setAccessibleName("Welcome to Renewal Desk")
        self.intro = _label(
            "There are no policies in this database yet. Load demo data to look around, "
            "or bring in your agency's policy list.",
            role="muted",
            wrap=True,
        )
        self.intro.setFont(theme.scaled_font(self.intro, 1.1))
        layout.addWidget(self.title)
        layout.addWidget(self.intro)
        layout.addSpacing(24)

        choices = QHBoxLayout()
        choices.setSpacing(20)
        self.demo_button = QPushButton("Load demo data")
        self.demo_button.setAccessibleName("Load demo data")
        self.demo_note = _label(DEMO_NOTE, role="muted", wrap=True)
        demo_card = self._choice(
            "Explore with sample data",
            f"{count(DEMO_POLICIES)} made-up policies with accounts, renewals in every "
            "stage, tasks and document checklists. Good for a tour, not for real work.",
            self.demo_button,
            self.demo_note,
        )
        self.import_button = QPushButton("Import an Excel list")
        self.import_button.setAccessibleName("Import an Excel list")
        self.import_button.setEnabled(False)  # until a role that may import signs in
        self.import_note = import_note = _label(IMPORT_NOTE, role="muted", wrap=True)
        import_card = self._choice(
            "Bring in your book",
            "Import the policy list you export from your management system, as it is: "
            "the import says row by row what it would change before it changes anything.",
            self.import_button,
            import_note,
        )
        choices.addWidget(demo_card, 1)
        choices.addWidget(import_card, 1)
        layout.addLayout(choices)
        layout.addSpacing(20)

        self.progress_row = QWidget()
        progress_layout = QHBoxLayout(self.progress_row)
        progress_layout.setContentsMargins(0, 0, 0, 0)
        progress_layout.setSpacing(12)
        self.progress_label = _label("Loading demo data…")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Demo data progress")
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel loading demo data")
        progress_layout.addWidget(self.progress_label)
        progress_layout.addWidget(self.progress, 1)
        progress_layout.addWidget(self.cancel_button)
        self.progress_row.setVisible(False)
        layout.addWidget(self.progress_row)

        self.message = _label("", role="error", wrap=True)
        self.message.setAccessibleName("Message")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setVisible(False)
        layout.addWidget(self.message)

        row = QHBoxLayout()
        row.setSpacing(0)
        row.addStretch(1)
        row.addWidget(column, 100)
        row.addStretch(1)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def _choice(self, title: str, text: str, button: QPushButton, note: QLabel) -> QFrame:
        card = _card()
        layout = QVBoxLayout(card)
        layout.setContentsMargins(22, 20, 22, 20)
        layout.setSpacing(10)
        heading = _label(title)
        heading.setFont(theme.scaled_font(heading, 1.25, bold=True))
        body = _label(text, role="muted", wrap=True)
        button.setProperty("role", "primary")
        button.setProperty("size", "big")
        button.setFont(theme.scaled_font(button, 1.1, bold=True))
        button.setMinimumHeight(button.sizeHint().height())
        layout.addWidget(heading)
        layout.addWidget(body, 1)
        layout.addSpacing(6)
        layout.addWidget(button)
        layout.addWidget(note)
        return card

    def allow_demo(self, allowed: bool, reason: str = "") -> None:
        self.demo_button.setEnabled(allowed)
        self.demo_button.setToolTip("" if allowed else reason)
        self.demo_button.setAccessibleDescription("" if allowed else reason)
        self.demo_note.setText(DEMO_NOTE if allowed else reason)
        theme.set_role(self.demo_note, "muted")

    def allow_import(self, allowed: bool, reason: str = "") -> None:
        self.import_button.setEnabled(allowed)
        self.import_button.setToolTip("" if allowed else reason)
        self.import_button.setAccessibleDescription("" if allowed else reason)
        self.import_note.setText(IMPORT_NOTE if allowed else reason)

    def set_loading(self, loading: bool) -> None:
        self.progress_row.setVisible(loading)
        self.cancel_button.setEnabled(loading)
        if loading:
            self.progress.setRange(0, 0)
            self.progress_label.setText("Loading demo data…")
            self.show_message("")

    def show_progress(self, done: int, total: int) -> None:
        """Show a report from ``load_demo``: ``done`` of ``total`` rows written."""
        self.progress.setRange(0, total)
        self.progress.setValue(min(done, total))
        self.progress.setFormat(f"{count(done)} of {count(total)}")

    def show_message(self, text: str, *, error: bool = True) -> None:
        self.message.setText(text)
        theme.set_role(self.message, "error" if error else "muted")
        self.message.setVisible(bool(text))


class MetricCard(QFrame):
    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 14)
        layout.setSpacing(2)
        self.value = _label("–")
        self.value.setFont(theme.scaled_font(self.value, 1.8, bold=True))
        self.value.setAccessibleName(caption)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption = _label(caption, role="muted")
        self.caption.setBuddy(self.value)
        layout.addWidget(self.value)
        layout.addWidget(self.caption)

    def set_value(self, text: str) -> None:
        self.value.setText(text)
        self.value.setAccessibleName(f"{self.caption.text()}: {text}")


class OverviewPanel(QWidget):
    """Counts of the book and renewals by stage."""

    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 28, 32, 24)
        layout.setSpacing(16)

        header = QHBoxLayout()
        header.setSpacing(12)
        self.title = _label("Your book")
        self.title.setFont(theme.scaled_font(self.title, 1.7, bold=True))
        self.updated = _label("", role="muted")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh the overview")
        self.refresh_button.setToolTip("Count the book again (F5)")
        self.refresh_button.setShortcut("F5")
        self.refresh_button.clicked.connect(self.refresh_requested)
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.updated)
        header.addWidget(self.refresh_button)
        layout.addLayout(header)

        metrics = QGridLayout()
        metrics.setHorizontalSpacing(14)
        metrics.setVerticalSpacing(14)
        self.policies = MetricCard("Policies")
        self.accounts = MetricCard("Accounts")
        self.open_renewals = MetricCard("Open renewals")
        self.open_premium = MetricCard("Premium in open renewals")
        self.users = MetricCard("Users")
        cards = (self.policies, self.accounts, self.open_renewals, self.open_premium, self.users)
        for column, card in enumerate(cards):
            metrics.addWidget(card, 0, column)
            metrics.setColumnStretch(column, 1)
        layout.addLayout(metrics)

        section = _label("Renewals by stage")
        section.setFont(theme.scaled_font(section, 1.2, bold=True))
        layout.addSpacing(4)
        layout.addWidget(section)

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("stageTable")
        self.table.setAccessibleName("Renewals by stage")
        self.table.setHorizontalHeaderLabels(["Stage", "Kind", "Renewals", "Premium"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        em = self.fontMetrics().horizontalAdvance("M")
        for column, width in ((1, 8), (2, 9), (3, 12)):
            head.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            head.resizeSection(column, width * em)
        head.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        head.setHighlightSections(False)
        self.table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        layout.addWidget(self.table)
        layout.addStretch(1)

    def show_overview(self, book: BookOverview) -> None:
        self.policies.set_value(count(book.policies))
        self.accounts.set_value(count(book.accounts))
        self.open_renewals.set_value(count(book.open_renewals))
        self.open_premium.set_value(money(book.open_premium))
        self.users.set_value(count(book.users))
        self.updated.setText(f"Counted at {time.strftime('%H:%M')}")
        rows = book.renewals_by_stage
        self.table.setRowCount(len(rows))
        kinds = {StageKind.OPEN: "Open", StageKind.WON: "Won", StageKind.LOST: "Lost"}
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for r, row in enumerate(rows):
            cells = (
                (row.stage, None),
                (kinds.get(row.kind, str(row.kind)), None),
                (count(row.renewals), right),
                (money(row.premium), right),
            )
            for c, (text, align) in enumerate(cells):
                item = QTableWidgetItem(text)
                if align is not None:
                    item.setTextAlignment(align)
                self.table.setItem(r, c, item)
        for column in (2, 3):
            item = self.table.horizontalHeaderItem(column)
            if item is not None:
                item.setTextAlignment(right)
        self.table.resizeRowsToContents()


class HomePage(QWidget):
    """Chooses between the first-run panel and the overview, and keeps them current."""

    overview_shown = Signal(object)
    """The :class:`BookOverview` just shown (for tests and the status bar)."""
    demo_finished = Signal(object)
    """The demo summary, or a :class:`Failure`."""
    message = Signal(str)
    """A short line for the status bar."""
    import_requested = Signal()
    """The first-run page's "Import an Excel list" button was pressed."""

    def __init__(self, executor: DatabaseExecutor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("homePage")
        self.executor = executor
        self.session: DeskSession | None = None
        self.book: BookOverview | None = None
        self._refreshing = False
        self._refresh_again = False
        self._demo_job: Job | None = None

        self.loading = _label("Counting your book…", role="muted")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.first_run = FirstRunPanel()
        self.overview = OverviewPanel()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.loading)
        self.stack.addWidget(self.first_run)
        self.stack.addWidget(self.overview)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

        self.first_run.demo_button.clicked.connect(self.load_demo)
        self.first_run.cancel_button.clicked.connect(self.cancel_demo)
        self.first_run.import_button.clicked.connect(self.import_requested)
        self.overview.refresh_requested.connect(self.refresh)
        executor.changed.connect(self._on_changed)

    @property
    def showing(self) -> str:
        """Which panel is up: "loading", "first-run" or "overview"."""
        current = self.stack.currentWidget()
        if current is self.first_run:
            return "first-run"
        if current is self.overview:
            return "overview"
        return "loading"

    def set_session(self, session: DeskSession) -> None:
        self.session = session
        role = session.user.role
        if permissions.allowed(role, Action.DEMO_LOAD):
            self.first_run.allow_demo(True)
        else:
            self.first_run.allow_demo(False, permissions.refusal(role, Action.DEMO_LOAD))
        self.first_run.allow_import(
            session.may(Action.IMPORT_RUN), session.refusal(Action.IMPORT_RUN)
        )
        self.stack.setCurrentWidget(self.loading)
        self.refresh()

    # --- overview -------------------------------------------------------------------

    def refresh(self) -> None:
        if self.session is None or self.executor.closed:
            return
        if self._refreshing:
            self._refresh_again = True
            return
        self._refreshing = True
        self.overview.refresh_button.setEnabled(False)
        self.executor.submit(
            overview.book_overview,
            self.session.db,
            on_success=self._show_overview,
            on_failure=self._overview_failed,
            what="counting the book",
        )

    def _refresh_done(self) -> None:
        self._refreshing = False
        self.overview.refresh_button.setEnabled(True)
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    def _show_overview(self, book: BookOverview) -> None:
        self.book = book
        if book.is_empty and self._demo_job is None:
            self.stack.setCurrentWidget(self.first_run)
        elif not book.is_empty:
            self.overview.show_overview(book)
            self.stack.setCurrentWidget(self.overview)
        self._refresh_done()
        self.overview_shown.emit(book)

    def _overview_failed(self, failure: Failure) -> None:
        self._refresh_done()
        self.message.emit(failure.message)
        if self.stack.currentWidget() is self.loading:
            self.loading.setText(failure.message)
            theme.set_role(self.loading, "error")

    def _on_changed(self, kinds: frozenset[str]) -> None:
        if kinds & {"policies", "accounts", "renewals", "users", "terms", "pipeline_stages"}:
            self.refresh()

    # --- demo data --------------------------------------------------------------------

    def load_demo(self) -> None:
        if self.session is None or self._demo_job is not None:
            return
        self.first_run.demo_button.setEnabled(False)
        self.first_run.set_loading(True)
        self._demo_job = self.executor.submit(
            demo.load_demo,
            self.session.db,
            self.session.actor,
            policies=DEMO_POLICIES,
            seed=DEMO_SEED,
            progress=self.first_run.show_progress,
            cancellable=True,
            on_success=self._demo_loaded,
            on_failure=self._demo_failed,
            what="loading demo data",
            changes=DEMO_CHANGES,
        )

    def cancel_demo(self) -> None:
        if self._demo_job is not None:
            self._demo_job.cancel()
            self.first_run.cancel_button.setEnabled(False)
            self.first_run.progress_label.setText("Cancelling…")

    def _demo_finished(self) -> None:
        self._demo_job = None
        self.first_run.set_loading(False)
        if self.session is not None:
            self.first_run.demo_button.setEnabled(
                permissions.allowed(self.session.user.role, Action.DEMO_LOAD)
            )

    def _demo_loaded(self, summary: DemoSummary) -> None:
        self._demo_finished()
        self.message.emit(
            f"Loaded {count(summary.policies)} demo policies for {count(summary.accounts)} "
            f"accounts in {summary.seconds:.1f} s."
        )
        self.demo_finished.emit(summary)

    def _demo_failed(self, failure: Failure) -> None:
        self._demo_finished()
        self.first_run.show_message(failure.message, error=not failure.cancelled)
        self.message.emit(failure.message)
        self.demo_finished.emit(failure)
        self.refresh()
