"""Starting the desktop app: the application object, the window, then the database.

The window appears at once with "Opening database…"; opening, upgrading (SQLite is backed
up first) and deciding who is signed in happen on the database executor's worker thread.
A problem the user can act on (the server is unreachable, the database is newer than the
app, a SQLite file on a network share, an unknown user) is shown in the window as one
plain sentence with Retry and Quit, never as a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from desktop_app import APP_ID, APP_NAME, __version__
from desktop_app.db import migrate
from desktop_app.db.engine import open_database
from desktop_app.domain.enums import AuditSource
from desktop_app.services import users
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.session import DeskSession

log = logging.getLogger(__name__)

ORGANIZATION = "Renewal Desk"


def open_session(
    database_url: str | None,
    as_user: str | None,
    progress: Callable[[str], None] | None = None,
) -> DeskSession:
    """Open and upgrade the database and decide who is working (on the worker thread)."""
    report = progress or (lambda _text: None)
    db = open_database(database_url)
    try:
        report("Checking the database is up to date…")
        result = migrate.upgrade(db)
        report("Signing in…")
        actor = users.resolve_actor(db, as_user, AuditSource.UI)
        user = users.get_user(db, actor.username)
    except BaseException:
        db.dispose()
        raise
    if result.changed:
        log.info(
            "upgraded %s from %s to %s", db.describe(), result.from_revision, result.to_revision
        )
    return DeskSession(
        db=db,
        actor=actor,
        user=user,
        upgraded_from=result.from_revision if result.changed else None,
        backup=result.backup,
    )


class Launcher(QObject):
    """Opens the database for a window, and retries when asked."""

    opened = Signal(object)
    """The :class:`DeskSession`, once the database is open and the user known."""
    failed = Signal(str)
    """The sentence shown when opening failed."""

    def __init__(
        self,
        executor: DatabaseExecutor,
        window: MainWindow,
        database_url: str | None,
        as_user: str | None,
    ) -> None:
        super().__init__(window)
        self.executor = executor
        self.window = window
        self.database_url = database_url
        self.as_user = as_user
        self.session: DeskSession | None = None
        window.retry_requested.connect(self.start)

    def start(self) -> None:
        if self.session is not None or self.executor.closed:
            return
        self.window.show_opening()
        self.executor.submit(
            open_session,
            self.database_url,
            self.as_user,
            progress=self.window.startup.show_busy,
            on_success=self._opened,
            on_failure=self._failed,
            what="opening the database",
        )

    def _opened(self, session: DeskSession) -> None:
        self.session = session
        self.window.set_session(session)
        self.opened.emit(session)

    def _failed(self, failure: Failure) -> None:
        self.window.show_startup_error(failure.message)
        self.failed.emit(failure.message)

    def close(self) -> None:
        """Stop the executor (waiting for a running job), then let go of the database."""
        self.executor.shutdown()
        if self.session is not None:
            self.session.db.dispose()


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, named, styled and following the system's light/dark scheme."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        QGuiApplication.setApplicationName(APP_NAME)
        QGuiApplication.setOrganizationName(ORGANIZATION)
        QGuiApplication.setApplicationVersion(__version__)
        QGuiApplication.setDesktopFileName(APP_ID)
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    theme.apply(app)
    theme.follow_system_scheme(app)
    return app


def launch(
    database_url: str | None,
    as_user: str | None,
    *,
    executor: DatabaseExecutor | None = None,
    show: bool = True,
) -> Launcher:
    """Build the window, show it, and start opening the database in the background."""
    executor = executor or DatabaseExecutor()
    window = MainWindow(executor)
    launcher = Launcher(executor, window, database_url, as_user)
    if show:
        window.show()
    launcher.start()
    return launcher


def run_gui(database_url: str | None, as_user: str | None, argv: list[str] | None = None) -> int:
    """Run the desktop app until its window closes; returns the exit status."""
    from desktop_app.ui import logging_setup

    files = logging_setup.install()
    app = create_application(argv)
    launcher = launch(database_url, as_user)
    if files.previous_crash is not None:
        launcher.window.show_status(
            f"Renewal Desk stopped unexpectedly last time; details are in {files.previous_crash}.",
            timeout_ms=30_000,
        )
    from desktop_app.errors import UserFacingError
    from desktop_app.excel.reader import check_safe_xml

    try:
        check_safe_xml()
    except UserFacingError as exc:  # said once, plainly; imports refuse on their own too
        launcher.window.show_status(exc.message, timeout_ms=60_000)
    app.aboutToQuit.connect(launcher.close)
    try:
        return int(app.exec())
    finally:
        launcher.close()
        logging_setup.uninstall()
