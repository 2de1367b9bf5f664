"""Starting the desktop app: the application object, the window, then the database.

The window appears at once with "Opening database…"; opening, upgrading (SQLite is backed
up first) and deciding who is signed in happen on the database executor's worker thread.
A problem the user can act on (the server is unreachable, the database is newer than the
app, a SQLite file on a network share, an unknown user) is shown in the window as one
plain sentence with Retry and Quit, never as a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from desktop_app import APP_ID, APP_NAME, __version__
from desktop_app.db import migrate
from desktop_app.db.engine import Database, needs_password, open_database, resolve_url
from desktop_app.domain.enums import AuditSource
from desktop_app.errors import DatabaseUnavailable, UserFacingError
from desktop_app.services import overview, users
from desktop_app.settings import Settings
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.session import DeskSession

log = logging.getLogger(__name__)

ORGANIZATION = "Renewal Desk"


class PasswordNeeded(UserFacingError):
    """The office database wants a password this desktop does not have (or had a wrong one)."""

    def __init__(self, message: str, login: str, where: str) -> None:
        super().__init__(message)
        self.login = login
        self.where = where


@dataclass(frozen=True)
class ChooseUser:
    """The database is open and up to date; several people share it: ask who is working."""

    db: Database
    people: tuple[users.UserInfo, ...]
    last_user: str | None
    upgraded_from: str | None
    backup: Path | None


def open_session(
    database_url: str | None,
    as_user: str | None,
    progress: Callable[[str], None] | None = None,
    *,
    login: str | None = None,
    password: str | None = None,
    remember: bool = False,
) -> DeskSession | ChooseUser:
    """Open and upgrade the database and decide who is working (on the worker thread).

    On SQLite without ``as_user``, several active people mean a :class:`ChooseUser`
    answer (the window asks); on PostgreSQL the database login is the person, and a
    missing or wrong password raises :class:`PasswordNeeded` (the window asks for it).
    """
    report = progress or (lambda _text: None)
    url = resolve_url(database_url)
    if url.get_backend_name() != "sqlite":
        if login:
            url = url.set(username=login)
        if password:
            url = url.set(password=password)
    try:
        db = open_database(url)
    except DatabaseUnavailable as exc:
        if url.get_backend_name() == "sqlite" or not needs_password(exc):
            raise
        where = f"{url.database or ''} on {url.host or 'localhost'}"
        message = "" if password is None else "That password was not accepted; try again."
        raise PasswordNeeded(message, url.username or users.os_username(), where) from exc
    try:
        report("Checking the database is up to date…")
        result = migrate.upgrade(db)
        if password and remember:
            from desktop_app import secrets

            key = secrets.account_key(url.username or "", url.host, url.port, url.database)
            with contextlib.suppress(secrets.KeyringUnavailable):
                secrets.set_password(key, password)
        upgraded_from = result.from_revision if result.changed else None
        if result.changed:
            log.info(
                "upgraded %s from %s to %s",
                db.describe(),
                result.from_revision,
                result.to_revision,
            )
        if db.is_sqlite and as_user is None:
            users.ensure_first_admin(db, users.os_username())
            people = tuple(users.list_users(db))
            if len(people) > 1:
                last = Settings.load().last_user
                return ChooseUser(db, people, last, upgraded_from, result.backup)
            if len(people) == 1:  # one person keeps this book: no question to ask
                as_user = people[0].username
        report("Signing in…")
        return sign_in(db, as_user, upgraded_from=upgraded_from, backup=result.backup)
    except BaseException:
        db.dispose()
        raise


def sign_in(
    db: Database,
    username: str | None,
    *,
    upgraded_from: str | None = None,
    backup: Path | None = None,
    remember: bool = False,
) -> DeskSession:
    """Who works in this window (``username``, else the default login), on the worker."""
    actor = users.resolve_actor(db, username, AuditSource.UI)
    user = users.get_user(db, actor.username)
    if remember:
        settings = Settings.load()
        if settings.last_user != user.username:
            settings.last_user = user.username
            with contextlib.suppress(OSError):
                settings.save()
    return DeskSession(
        db=db,
        actor=actor,
        user=user,
        upgraded_from=upgraded_from,
        backup=backup,
        book_empty=overview.book_is_empty(db),
    )


class Launcher(QObject):
    """Opens the database for a window, asks who is working when it must, and retries."""

    opened = Signal(object)
    """The :class:`DeskSession`, once the database is open and the user known."""
    failed = Signal(str)
    """The sentence shown when opening failed."""
    asking = Signal(str)
    """The sign-in page is waiting for the person: "people" or "login"."""

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
        self._choosing: ChooseUser | None = None
        window.retry_requested.connect(self.start)
        window.switch_user_requested.connect(self.switch_user)
        window.signin.user_chosen.connect(self._choose)
        window.signin.login_submitted.connect(self._login)
        window.signin.quit_requested.connect(window.close)

    def start(self) -> None:
        self._open()

    def _open(self, **login: Any) -> None:
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
            **login,
        )

    def _login(self, login: str, password: str, remember: bool) -> None:
        self._open(login=login, password=password, remember=remember)

    def _opened(self, result: DeskSession | ChooseUser) -> None:
        if isinstance(result, ChooseUser):
            self._choosing = result
            self.window.show_sign_in(result.people, result.last_user, result.db.describe())
            self.asking.emit("people")
            return
        self._choosing = None
        self.session = result
        self.window.set_session(result)
        self.opened.emit(result)

    def _choose(self, username: str) -> None:
        choosing = self._choosing
        if choosing is None or self.executor.closed:
            return
        self.executor.submit(
            sign_in,
            choosing.db,
            username,
            upgraded_from=choosing.upgraded_from,
            backup=choosing.backup,
            remember=True,
            on_success=self._opened,
            on_failure=lambda failure: self.window.show_sign_in(
                choosing.people, username, choosing.db.describe(), failure.message
            ),
            what="signing in",
        )

    def switch_user(self) -> None:
        """Back to the list of people (a shared SQLite book), keeping the database open."""
        session = self.session
        if session is None or not session.db.is_sqlite or self.executor.closed:
            return

        def listed(people: list[users.UserInfo]) -> None:
            self.session = None
            self._choosing = ChooseUser(
                session.db, tuple(people), session.user.username, None, None
            )
            self.window.sign_out()
            self.window.show_sign_in(
                self._choosing.people, session.user.username, session.db.describe()
            )
            self.asking.emit("people")

        self.executor.submit(
            users.list_users,
            session.db,
            on_success=listed,
            what="listing the people who use this book",
        )

    def _failed(self, failure: Failure) -> None:
        if isinstance(failure.exception, PasswordNeeded):
            from desktop_app import secrets

            needed = failure.exception
            self.window.show_login(
                needed.login, needed.where, needed.message, keyring_ok=secrets.keyring_usable()
            )
            self.asking.emit("login")
            return
        self.window.show_startup_error(failure.message)
        self.failed.emit(failure.message)

    def close(self) -> None:
        """Stop the executor (waiting for a running job), then let go of the database."""
        self.executor.shutdown()
        if self.session is not None:
            self.session.db.dispose()
        elif self._choosing is not None:
            self._choosing.db.dispose()


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
