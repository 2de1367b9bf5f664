"""Reminders from the timer service as desktop notifications.

The timer service writes reminders and flags for people into the ``notices`` table (the
queue lists them too). This object looks for the signed-in person's unread ones every
minute, and soon after each timer tick, through the executor, and shows the new ones as a
system-tray notification — or in the status bar where the desktop has no tray (e.g. a
bare X server, or the tests' offscreen platform).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QMenu, QSystemTrayIcon

from desktop_app import APP_NAME
from desktop_app.services import queues
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.session import DeskSession

POLL_MS = 60_000
SOON_MS = 1_500


class NoticeTray(QObject):
    open_queue = Signal()
    """The person clicked a notification (or the tray's "Open my queue")."""
    shown = Signal(list)
    """The notices just announced (for tests)."""

    def __init__(self, window: QMainWindow, executor: DatabaseExecutor) -> None:
        super().__init__(window)
        self.window = window
        self.executor = executor
        self.session: DeskSession | None = None
        self.last_seen: int | None = None
        self._checking = False
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(window.windowIcon(), self)
            self.icon.setToolTip(APP_NAME)
            menu = QMenu(window)
            menu.addAction("Open my queue", self.open_queue.emit)
            menu.addAction(f"Show {APP_NAME}", self._raise)
            self.icon.setContextMenu(menu)
            self.icon.messageClicked.connect(self.open_queue.emit)
            self.icon.activated.connect(lambda _reason: self._raise())
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.check)
        self.soon = QTimer(self)
        self.soon.setSingleShot(True)
        self.soon.setInterval(SOON_MS)
        self.soon.timeout.connect(self.check)

    def set_session(self, session: DeskSession) -> None:
        """Start watching this person's notices; those already there when they sign in are
        in their queue, not popped up again."""
        changed = self.session is None or self.session.user.id != session.user.id
        self.session = session
        if changed:
            self.last_seen = None
        if self.icon is not None:
            self.icon.show()
        self.timer.start()
        self.check()

    def check_soon(self) -> None:
        if self.session is not None:
            self.soon.start()

    def check(self) -> None:
        session = self.session
        if session is None or self._checking or self.executor.closed:
            return
        self._checking = True
        first = self.last_seen is None
        self.executor.submit(
            queues.unread_notices,
            session.db,
            session.actor,
            since_id=self.last_seen,
            on_success=lambda found: self._found(session, found, first),
            on_failure=lambda _failure: self._done(),
            what="looking for reminders",
        )

    def _done(self) -> None:
        self._checking = False

    def _found(self, session: DeskSession, found: list[Any], first: bool) -> None:
        self._checking = False
        if session is not self.session:
            return
        if found:
            self.last_seen = max([notice.id for notice in found] + [self.last_seen or 0])
        elif self.last_seen is None:
            self.last_seen = 0
        if first or not found:
            return
        self.announce(found)

    def announce(self, found: list[Any]) -> None:
        if len(found) == 1:
            title, text = "Reminder", found[0].message
        else:
            title = f"{len(found)} reminders"
            text = "; ".join(notice.message for notice in found[:3])
            if len(found) > 3:
                text += "; …"
        if self.icon is not None and self.icon.isVisible():
            self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10_000)
        else:
            self.window.statusBar().showMessage(f"{title}: {text}", 15_000)
        self.executor.broadcast({"notices"})
        self.shown.emit(list(found))

    def _raise(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
