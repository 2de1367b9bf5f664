"""The main window: menus, status bar, and the page in the middle."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app import APP_NAME, __version__, paths
from desktop_app.domain.permissions import Action
from desktop_app.services.users import UserInfo
from desktop_app.ui import theme
from desktop_app.ui.board import BoardPage
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.export_actions import ExportActions
from desktop_app.ui.home import HomePage
from desktop_app.ui.import_wizard import ImportWizard, finished_sentence
from desktop_app.ui.live import ConnectionBanner, ConnectionMonitor, LiveFeed
from desktop_app.ui.page import Page
from desktop_app.ui.session import DeskSession
from desktop_app.ui.signin import SignInPage
from desktop_app.ui.startup import OPENING, StartupPage
from desktop_app.ui.timer_host import TimerHost, timer_enabled
from desktop_app.ui.tray import NoticeTray

if TYPE_CHECKING:  # the other pages are imported when first shown (a faster start)
    from desktop_app.ui.admin import AdminPage
    from desktop_app.ui.dashboard import DashboardPage
    from desktop_app.ui.detail import RenewalDetailPanel
    from desktop_app.ui.queues import QueuesPage

DEFAULT_SIZE = (1120, 760)
SETTINGS_FILE = "window.ini"


def window_settings() -> QSettings:
    """Per-desktop window state, in the app's config folder (under RENEWAL_DESK_HOME when
    that is set), as an INI file rather than the registry / plist."""
    return QSettings(str(paths.config_dir() / SETTINGS_FILE), QSettings.Format.IniFormat)


def app_icon() -> QIcon:
    try:
        icon = paths.resources_dir() / "icons" / "renewal-desk.svg"
    except FileNotFoundError:
        return QIcon()
    return QIcon(str(icon)) if icon.is_file() else QIcon()


PAGE_KEYS = ("home", "board", "queues", "dashboard", "admin")
"""The pages of the workspace, in navigation order (Ctrl+1 … Ctrl+5)."""


class MainWindow(QMainWindow):
    retry_requested = Signal()
    switch_user_requested = Signal()

    def __init__(
        self,
        executor: DatabaseExecutor,
        *,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.executor = executor
        self.settings = settings or window_settings()
        self.session: DeskSession | None = None
        self.timer_host: TimerHost | None = None
        self.import_wizard: ImportWizard | None = None
        self._home_session: DeskSession | None = None
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)

        self.startup = StartupPage()
        self.signin = SignInPage()
        self.home = HomePage(executor)
        # Pages are built when first shown (or asked for): building every one of them
        # up front costs about half a second of each start.
        self._built: dict[str, Page] = {}
        self._detail: RenewalDetailPanel | None = None
        self.workspace = self._build_workspace()
        self.pages = QStackedWidget()
        self.pages.setObjectName("pages")
        self.pages.addWidget(self.startup)
        self.pages.addWidget(self.signin)
        self.pages.addWidget(self.workspace)
        # The connection banner sits above whatever page is shown.
        self.connection_banner = ConnectionBanner()
        self.connection_banner.retry_requested.connect(self._retry_connection)
        central = QWidget()
        central.setObjectName("central")
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.connection_banner)
        column.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.live: LiveFeed | None = None
        """Other desktops' changes, while a database is open."""
        self.monitor: ConnectionMonitor | None = None
        """Whether that database can be reached."""

        self.detail_dock = QDockWidget("Renewal", self)
        self.detail_dock.setObjectName("renewalDock")
        self.detail_dock.setAllowedAreas(
            Qt.DockWidgetArea.RightDockWidgetArea | Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.detail_dock.setMinimumWidth(400)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.detail_dock)
        self.detail_dock.hide()

        self._build_menus()
        self._build_status_bar()
        self.tray = NoticeTray(self, executor)
        self.tray.open_queue.connect(lambda: self.show_page("queues"))

        self.startup.retry_requested.connect(self.retry_requested)
        self.startup.quit_requested.connect(self.close)
        self.home.message.connect(self.show_status)
        self.home.import_requested.connect(self.open_import_wizard)
        executor.failed.connect(self.show_status)
        self._restore_geometry()
        self.detail_dock.hide()  # restored where it was, shown when a renewal is opened

    # --- construction ---------------------------------------------------------------

    def page_widgets(self) -> list[Page]:
        """The pages built so far."""
        return list(self._built.values())

    def _page(self, key: str) -> QWidget:
        return self.home if key == "home" else self._build_page(key)

    def _build_page(self, key: str) -> Page:
        page = self._built.get(key)
        if page is not None:
            return page
        if key == "board":
            page: Page = BoardPage(self.executor, self.settings)
        elif key == "queues":
            from desktop_app.ui.queues import QueuesPage

            page = QueuesPage(self.executor, self.settings)
            for action in page.actions_for_menu():
                self.work_menu.addAction(action)
        elif key == "dashboard":
            from desktop_app.ui.dashboard import DashboardPage

            page = DashboardPage(self.executor, self.settings)
            page.export_rollup_requested.connect(self._export_rollup)
        else:
            from desktop_app.ui.admin import AdminPage

            page = AdminPage(self.executor, self.settings)
            page.set_timer_host(self.timer_host)
        page.shortcut = f"Ctrl+{PAGE_KEYS.index(key) + 1}"
        page.open_renewal.connect(self.open_renewal)
        page.message.connect(self.show_status)
        self._built[key] = page
        self._holders[key].setWidget(page)
        if self.session is not None:
            page.set_session(self.session)
        return page

    @property
    def board(self) -> BoardPage:
        return self._build_page("board")  # type: ignore[return-value]

    @property
    def queues(self) -> QueuesPage:
        return self._build_page("queues")  # type: ignore[return-value]

    @property
    def dashboard(self) -> DashboardPage:
        return self._build_page("dashboard")  # type: ignore[return-value]

    @property
    def admin(self) -> AdminPage:
        return self._build_page("admin")  # type: ignore[return-value]

    @property
    def detail(self) -> RenewalDetailPanel:
        """The renewal panel (built the first time a renewal is opened)."""
        if self._detail is None:
            from desktop_app.ui.detail import RenewalDetailPanel

            self._detail = RenewalDetailPanel(self.executor)
            self._detail.message.connect(self.show_status)
            self.detail_dock.setWidget(self._detail)
            if self.session is not None:
                self._detail.set_session(self.session)
        return self._detail

    def _build_workspace(self) -> QWidget:
        workspace = QWidget()
        layout = QHBoxLayout(workspace)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setAccessibleName("Pages")
        self.nav.setFixedWidth(160)
        self.nav.setFont(theme.scaled_font(self.nav, 1.05))
        self.nav.setFrameShape(QListWidget.Shape.NoFrame)
        self.views = QStackedWidget()
        self.views.setObjectName("views")
        self._holders: dict[str, QScrollArea] = {}
        titles = {"home": "Home", "board": "Board", "queues": "Queues"}
        titles |= {"dashboard": "Dashboard", "admin": "Admin"}
        for number, key in enumerate(PAGE_KEYS, start=1):
            item = QListWidgetItem(titles[key])
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(f"{titles[key]} (Ctrl+{number})")
            self.nav.addItem(item)
            # A window smaller than a page (a laptop at 200 %) scrolls it rather than
            # refusing to shrink.
            holder = QScrollArea()
            holder.setObjectName(f"{key}Holder")
            holder.setWidgetResizable(True)
            holder.setFrameShape(QScrollArea.Shape.NoFrame)
            if key == "home":
                holder.setWidget(self.home)
            self._holders[key] = holder
            self.views.addWidget(holder)
        self.nav.currentRowChanged.connect(self._nav_changed)
        layout.addWidget(self.nav)
        layout.addWidget(self.views, 1)
        return workspace

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.setToolTipsVisible(True)
        self.import_action = QAction("&Import an Excel list…", self)
        self.import_action.setShortcuts([QKeySequence("Ctrl+I")])
        self.import_action.setStatusTip("Import an expiration list or an edited renewal list")
        self.import_action.setEnabled(False)  # until a role that may import signs in
        self.import_action.triggered.connect(self.open_import_wizard)
        file_menu.addAction(self.import_action)
        self.exports = ExportActions(self, self.executor)
        file_menu.addMenu(self.exports.menu)
        file_menu.addSeparator()
        self.switch_user_action = QAction("S&witch user…", self)
        self.switch_user_action.setShortcut(QKeySequence("Ctrl+Shift+U"))
        self.switch_user_action.setStatusTip("Hand this desk to someone else")
        self.switch_user_action.setEnabled(False)
        self.switch_user_action.triggered.connect(self.switch_user_requested)
        file_menu.addAction(self.switch_user_action)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcuts([QKeySequence("Ctrl+Q")])
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.setStatusTip("Close Renewal Desk")
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)

        view_menu = bar.addMenu("&View")
        view_menu.setToolTipsVisible(True)
        self.page_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for number, key in enumerate(PAGE_KEYS, start=1):
            item = self.nav.item(number - 1)
            action = QAction(item.text(), self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.setToolTip(item.toolTip())
            action.setEnabled(False)
            action.triggered.connect(lambda _checked=False, k=key: self.show_page(k))
            group.addAction(action)
            view_menu.addAction(action)
            self.page_actions[key] = action
        view_menu.addSeparator()
        self.detail_action = self.detail_dock_toggle()
        view_menu.addAction(self.detail_action)

        self.work_menu = bar.addMenu("&Queue")
        self.work_menu.setToolTipsVisible(True)
        # filled by the Queues page when it is built; opening the menu builds it
        self.work_menu.aboutToShow.connect(lambda: self._build_page("queues"))

        help_menu = bar.addMenu("&Help")
        self.about_action = QAction(f"&About {APP_NAME}", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        help_menu.addAction(self.about_action)

    def detail_dock_toggle(self) -> QAction:
        action = self.detail_dock.toggleViewAction()
        action.setText("&Renewal panel")
        action.setShortcut(QKeySequence("Ctrl+Shift+D"))
        action.setToolTip("Show or hide the renewal panel (Ctrl+Shift+D)")
        return action

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        status.setSizeGripEnabled(False)
        self.database_label = QLabel("")
        self.database_label.setAccessibleName("Database")
        self.user_label = QLabel("")
        self.user_label.setAccessibleName("Signed-in user")
        self.timer_label = QLabel("")
        self.timer_label.setAccessibleName("Timer service")
        status.addPermanentWidget(self.timer_label)
        status.addPermanentWidget(self.database_label)
        status.addPermanentWidget(self.user_label)

    # --- states ----------------------------------------------------------------------

    def show_opening(self, text: str = OPENING) -> None:
        self.startup.show_busy(text)
        self.pages.setCurrentWidget(self.startup)

    def show_startup_error(self, message: str) -> None:
        self.startup.show_error(message)
        self.pages.setCurrentWidget(self.startup)

    def show_sign_in(
        self, people: Sequence[UserInfo], last_user: str | None, where: str, message: str = ""
    ) -> None:
        self.signin.show_people(people, last_user, where, message)
        self.pages.setCurrentWidget(self.signin)

    def show_login(self, login: str, where: str, message: str, *, keyring_ok: bool) -> None:
        self.signin.show_login(login, where, message, keyring_ok=keyring_ok)
        self.pages.setCurrentWidget(self.signin)

    def sign_out(self) -> None:
        """Forget who was working (the database stays open; the timer keeps running)."""
        self.session = None
        self.user_label.setText("")
        self.detail_dock.hide()
        self.switch_user_action.setEnabled(False)
        for action in self.page_actions.values():
            action.setEnabled(False)

    def set_session(self, session: DeskSession) -> None:
        self.session = session
        description = session.db.describe()
        self.database_label.setText(description)
        self.database_label.setToolTip(description)
        self.user_label.setText(f"Signed in as {session.user_label}")
        allowed = session.may(Action.IMPORT_RUN)
        self.import_action.setEnabled(allowed)
        self.import_action.setToolTip(
            "Import an Excel list (Ctrl+I)" if allowed else session.refusal(Action.IMPORT_RUN)
        )
        self.exports.set_session(session)
        for page in self.page_widgets():
            page.set_session(session)
        if self._detail is not None:
            self._detail.set_session(session)
        self.switch_user_action.setEnabled(session.db.is_sqlite)
        for action in self.page_actions.values():
            action.setEnabled(True)
        self.pages.setCurrentWidget(self.workspace)
        remembered = str(self.settings.value("main_window/page", "") or "")
        if session.book_empty:
            start = "home"
        elif remembered in PAGE_KEYS:
            start = remembered
        else:
            start = "board"
        self.show_page(start, remember=False)
        if self.timer_host is None or self.timer_host.db is not session.db:
            self._start_timer(session)
        if self.live is None or self.live.db is not session.db:
            self._start_live(session)
        self.tray.set_session(session)
        if session.backup is not None:
            self.show_status(
                f"The database was upgraded; a backup of it was saved as {session.backup}.",
                timeout_ms=15_000,
            )

    # --- pages -----------------------------------------------------------------------

    @property
    def current_page(self) -> str:
        item = self.nav.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else ""

    def show_page(self, key: str, *, remember: bool = True) -> None:
        """Show one of the workspace's pages (it loads the first time it is shown)."""
        row = PAGE_KEYS.index(key)
        if self.nav.currentRow() != row:
            self.nav.setCurrentRow(row)
        else:
            self._nav_changed(row)
        if remember:
            self.settings.setValue("main_window/page", key)

    def _nav_changed(self, row: int) -> None:
        if row < 0 or self.session is None:
            return
        key = PAGE_KEYS[row]
        widget = self._page(key)
        self.views.setCurrentWidget(self._holders[key])
        self.page_actions[key].setChecked(True)
        for page in self.page_widgets():
            if page is not widget:
                page.deactivate()
        if isinstance(widget, Page):
            widget.activate()
        elif self._home_session is not self.session:
            # The home page counts the whole book: only when someone looks at it.
            self._home_session = self.session
            self.home.set_session(self.session)
        self.settings.setValue("main_window/page", key)

    def open_renewal(self, renewal_id: int) -> None:
        """Show a renewal in the panel on the right (from any list)."""
        if self.session is None:
            return
        self.detail_dock.show()
        self.detail.show_renewal(renewal_id)

    def _export_rollup(self) -> None:
        action = self.exports.actions.get("rollup")
        if action is not None and action.isEnabled():
            action.trigger()

    def _start_timer(self, session: DeskSession) -> None:
        """Run the timer service here, unless this desktop was told not to (an office
        that runs ``renewal-desk scheduler run`` on one always-on machine)."""
        if self.timer_host is not None:
            self.timer_host.stop()
            self.timer_host = None
            if "admin" in self._built:
                self._built["admin"].set_timer_host(None)  # type: ignore[attr-defined]
        if not timer_enabled():
            self.timer_label.setText("Timer service: off on this desktop")
            return
        self.timer_host = TimerHost(session.db, views=self.executor, parent=self)
        self.timer_host.state_changed.connect(self._show_timer_state)
        self.timer_host.state_changed.connect(lambda _text: self.tray.check_soon())
        self.timer_host.start()
        if "admin" in self._built:
            self._built["admin"].set_timer_host(self.timer_host)  # type: ignore[attr-defined]

    # --- live data and the connection ---------------------------------------------------

    def _start_live(self, session: DeskSession) -> None:
        """Follow other desktops' changes to this database, and watch that it can be
        reached (see :mod:`desktop_app.ui.live`)."""
        self._stop_live()
        self.monitor = ConnectionMonitor(session.db, self.executor, self)
        self.monitor.changed.connect(self._show_connection)
        self.monitor.back_online.connect(self._back_online)
        self.live = LiveFeed(session.db, self.executor, self)
        self.live.lost.connect(self.monitor.report_offline)
        self.live.restored.connect(self.monitor.probe_now)
        self.live.start()

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live.deleteLater()
            self.live = None
        if self.monitor is not None:
            self.monitor.stop()
            self.monitor.deleteLater()
            self.monitor = None
        self.connection_banner.clear()

    def _retry_connection(self) -> None:
        if self.monitor is not None:
            self.monitor.probe_now()

    def _show_connection(self) -> None:
        monitor = self.monitor
        if monitor is None:
            return
        if monitor.offline:
            self.connection_banner.show_offline(monitor.text(), probing=monitor.probing)
        elif self.connection_banner.state == "offline":
            self.connection_banner.clear()

    def _back_online(self) -> None:
        where = self.monitor.where if self.monitor is not None else "the database"
        text = f"Back online — the database ({where}) can be reached again; pages refreshed."
        self.connection_banner.show_back_online(text)
        self.show_status("Back online.", timeout_ms=5_000)

    def _show_timer_state(self, text: str) -> None:
        self.timer_label.setText(text if len(text) <= 90 else text[:87] + "…")
        self.timer_label.setToolTip(text)

    def show_status(self, text: str, timeout_ms: int = 10_000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    # --- actions ---------------------------------------------------------------------

    def open_import_wizard(self) -> ImportWizard | None:
        """Show the import wizard (the one already open, if any)."""
        if self.session is None or not self.session.may(Action.IMPORT_RUN):
            return None
        wizard = self.import_wizard
        if wizard is None or not wizard.isVisible():
            if wizard is not None:
                wizard.deleteLater()
            wizard = ImportWizard(self.executor, self.session, self)
            wizard.imported.connect(lambda result: self.show_status(finished_sentence(result)))
            self.import_wizard = wizard
            wizard.open()
        wizard.activateWindow()
        return wizard

    def about_text(self) -> str:
        lines = [
            f"<h3>{escape(APP_NAME)} {escape(__version__)}</h3>",
            "<p>Renewal pipeline, work queues, document checklists and auto-renewals "
            "for small insurance agencies.</p>",
        ]
        if self.session is not None:
            lines.append(f"<p>Database: {escape(self.session.db.describe())}")
            book = self.home.book
            if book is not None and book.schema_revision:
                lines.append(f"<br>Schema revision: {escape(book.schema_revision)}")
            lines.append(f"<br>Signed in as {escape(self.session.user_label)}</p>")
        lines.append(f"<p>Log files: {escape(str(paths.log_dir()))}</p>")
        return "".join(lines)

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", self.about_text())

    # --- geometry --------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("main_window/geometry")
        state = self.settings.value("main_window/state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)
        if isinstance(geometry, QByteArray | bytes) and self.restoreGeometry(geometry):
            return
        width, height = DEFAULT_SIZE
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            width = min(width, int(available.width() * 0.9))
            height = min(height, int(available.height() * 0.9))
        self.resize(width, height)

    def save_geometry(self) -> None:
        self.settings.setValue("main_window/geometry", self.saveGeometry())
        self.settings.setValue("main_window/state", self.saveState())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        self._stop_live()
        if self.timer_host is not None:
            self.timer_host.stop()
            self.timer_host = None
        super().closeEvent(event)

    @property
    def settings_file(self) -> Path:
        return Path(self.settings.fileName())
