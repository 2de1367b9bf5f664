"""The main window: menus, status bar, and the page in the middle."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QStackedWidget, QWidget

from desktop_app import APP_NAME, __version__, paths
from desktop_app.domain.permissions import Action
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.export_actions import ExportActions
from desktop_app.ui.home import HomePage
from desktop_app.ui.import_wizard import ImportWizard, finished_sentence
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
        self.import_wizard: ImportWizard | None = None
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
        self.home.import_requested.connect(self.open_import_wizard)
        executor.failed.connect(self.show_status)
        self._restore_geometry()

    # --- construction ---------------------------------------------------------------

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
        allowed = session.may(Action.IMPORT_RUN)
        self.import_action.setEnabled(allowed)
        self.import_action.setToolTip(
            "Import an Excel list (Ctrl+I)" if allowed else session.refusal(Action.IMPORT_RUN)
        )
        self.exports.set_session(session)
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
