"""The main window: menus, status bar, and the page in the middle."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QStackedWidget, QWidget

from desktop_app import APP_NAME, __version__, paths
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.home import HomePage
from desktop_app.ui.session import DeskSession
from desktop_app.ui.startup import OPENING, StartupPage
from desktop_app.ui.timer_host import TimerHost, timer_enabled

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


class MainWindow(QMainWindow):
    retry_requested = Signal()

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
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")

        self.startup = StartupPage()
        self.home = HomePage(executor)
        self.pages = QStackedWidget()
        self.pages.setObjectName("pages")
        self.pages.addWidget(self.startup)
        self.pages.addWidget(self.home)
        self.setCentralWidget(self.pages)

        self._build_menus()
        self._build_status_bar()

        self.startup.retry_requested.connect(self.retry_requested)
        self.startup.quit_requested.connect(self.close)
        self.home.message.connect(self.show_status)
        executor.failed.connect(self.show_status)
        self._restore_geometry()

    # --- construction ---------------------------------------------------------------

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcuts([QKeySequence("Ctrl+Q")])
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.setStatusTip("Close Renewal Desk")
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)

        help_menu = bar.addMenu("&Help")
        self.about_action = QAction(f"&About {APP_NAME}", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)
        help_menu.addAction(self.about_action)

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

    def set_session(self, session: DeskSession) -> None:
        self.session = session
        description = session.db.describe()
        self.database_label.setText(description)
        self.database_label.setToolTip(description)
        self.user_label.setText(f"Signed in as {session.user_label}")
        self.home.set_session(session)
        self.pages.setCurrentWidget(self.home)
        self._start_timer(session)
        if session.backup is not None:
            self.show_status(
                f"The database was upgraded; a backup of it was saved as {session.backup}.",
                timeout_ms=15_000,
            )

    def _start_timer(self, session: DeskSession) -> None:
        """Run the timer service here, unless this desktop was told not to (an office
        that runs ``renewal-desk scheduler run`` on one always-on machine)."""
        if self.timer_host is not None:
            self.timer_host.stop()
            self.timer_host = None
        if not timer_enabled():
            self.timer_label.setText("Timer service: off on this desktop")
            return
        self.timer_host = TimerHost(session.db, views=self.executor, parent=self)
        self.timer_host.state_changed.connect(self._show_timer_state)
        self.timer_host.start()

    def _show_timer_state(self, text: str) -> None:
        self.timer_label.setText(text if len(text) <= 90 else text[:87] + "…")
        self.timer_label.setToolTip(text)

    def show_status(self, text: str, timeout_ms: int = 10_000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    # --- actions ---------------------------------------------------------------------

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
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        if self.timer_host is not None:
            self.timer_host.stop()
            self.timer_host = None
        super().closeEvent(event)

    @property
    def settings_file(self) -> Path:
        return Path(self.settings.fileName())
