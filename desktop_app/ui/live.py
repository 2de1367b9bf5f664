"""Live data in the window: colleagues' changes appear by themselves, and a database that
cannot be reached is said plainly, retried, and recovered from.

* :class:`LiveFeed` runs :class:`~desktop_app.services.changes.ChangeWatcher` on a QThread
  of its own (its own connection: never the GUI thread, never the database executor's)
  and hands what other desktops committed to :meth:`DatabaseExecutor.broadcast`, so every
  open page refreshes through its usual ``on_changed``. A burst (a bulk import, the timer
  service's batch, one save touching three tables) is gathered for
  :data:`COALESCE_MS` and broadcast once.
* :class:`ConnectionMonitor` decides whether the window is offline: a job that failed
  because the database cannot be reached, or the feed losing its connection, turns it
  offline; a cheap probe on a worker of its own then retries with back-off (1, 2, 4 … 30
  s); when it answers, the window is back online and every page refreshes.
* :class:`ConnectionBanner` is the strip the window shows meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time

from PySide6.QtCore import QEvent, QObject, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from desktop_app.services import changes
from desktop_app.services.changes import Changed, ChangeWatcher, Lost, Restored
from desktop_app.ui import theme
from desktop_app.ui.executor import DatabaseExecutor, Failure

log = logging.getLogger(__name__)

COALESCE_MS = 150
"""Changes that arrive within this long of the first one are broadcast together."""
BACK_ONLINE_MS = 5_000
"""How long "Back online" stays shown."""

_orphans: set[QThread] = set()
"""Watcher threads that did not stop in time (kept alive until they do)."""


class _WatchThread(QThread):
    """Runs the watcher's loop; each event goes to the GUI thread as a queued signal."""

    happened = Signal(object)

    def __init__(self, watcher: ChangeWatcher) -> None:
        super().__init__()
        self.setObjectName("change-feed")
        self.watcher = watcher
        self.stop_event = threading.Event()
        self.finished.connect(self._forget)

    def run(self) -> None:
        threading.current_thread().name = "change-feed"
        while not self.stop_event.is_set():
            try:
                for item in self.watcher.events(self.stop_event):
                    self.happened.emit(item)
            except Exception:  # never let the feed die: log, wait, go again
                log.exception("the change feed failed")
                self.stop_event.wait(5)

    def _forget(self) -> None:
        _orphans.discard(self)


class LiveFeed(QObject):
    """Other desktops' commits to ``db``, broadcast through ``executor`` (see the module
    notes). :meth:`start` it once the window knows its database; :meth:`stop` it before
    the database is disposed."""

    lost = Signal(str)
    """The feed's connection is gone and could not be made again (a sentence)."""
    restored = Signal()
    """The feed is connected again (everything was refreshed)."""
    refreshed = Signal(object)
    """The frozenset of table names just broadcast."""

    def __init__(
        self,
        db: object,
        executor: DatabaseExecutor,
        parent: QObject | None = None,
        *,
        coalesce_ms: int = COALESCE_MS,
        poll_seconds: float = changes.POLL_SECONDS,
    ) -> None:
        super().__init__(parent)
        self.db = db
        self.executor = executor
        self.watcher = ChangeWatcher(db, poll_seconds=poll_seconds)  # type: ignore[arg-type]
        self._thread: _WatchThread | None = None
        self._pending: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(coalesce_ms)
        self._timer.timeout.connect(self._flush)
        self.last_arrival: float | None = None
        """``time.perf_counter()`` when the latest change reached the GUI thread."""

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        thread = _WatchThread(self.watcher)
        thread.happened.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self._thread = thread
        thread.start()

    def stop(self, timeout_ms: int = 5_000) -> None:
        """Stop watching (waits for the thread, at most ``timeout_ms``)."""
        self._timer.stop()
        self._pending.clear()
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.happened.disconnect(self._on_event)
        thread.stop_event.set()
        if not thread.wait(timeout_ms):
            log.warning("the change feed did not stop within %d ms", timeout_ms)
            _orphans.add(thread)  # it stops after its current wait; keep it until then
            return
        self.watcher.close()

    def _on_event(self, item: object) -> None:
        if self._thread is None:
            return
        if isinstance(item, Changed):
            self.last_arrival = time.perf_counter()
            self._pending |= item.tables
            if not self._timer.isActive():
                self._timer.start()
        elif isinstance(item, Lost):
            self.lost.emit(item.message)
        elif isinstance(item, Restored):
            self.restored.emit()

    def _flush(self) -> None:
        kinds, self._pending = frozenset(self._pending), set()
        if kinds and not self.executor.closed:
            self.executor.broadcast(kinds)
            self.refreshed.emit(kinds)


class ConnectionMonitor(QObject):
    """Online or offline, and when the next try is (see the module notes)."""

    went_offline = Signal(str)
    """The database cannot be reached (the sentence of the failure)."""
    back_online = Signal()
    """It can again; a refresh of everything has been broadcast."""
    changed = Signal()
    """The state or the countdown changed: show :meth:`text` again."""

    def __init__(
        self,
        db: object,
        executor: DatabaseExecutor,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.db = db
        self.executor = executor
        self.offline = False
        self.reason = ""
        self.probing = False
        self.attempts = 0
        self._next_at = 0.0
        self._worker: DatabaseExecutor | None = None
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self.probe_now)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1_000)
        self._countdown.timeout.connect(self.changed)
        executor.job_failed.connect(self._job_failed)

    # --- what is known --------------------------------------------------------------------

    @property
    def where(self) -> str:
        describe = getattr(self.db, "describe", None)
        return describe() if callable(describe) else "the database"

    def seconds_left(self) -> int:
        return max(0, round(self._next_at - time.monotonic()))

    def text(self) -> str:
        """The banner's sentence."""
        if not self.offline:
            return ""
        head = f"Offline — the database ({self.where}) cannot be reached"
        tail = "trying again now…" if self.probing else f"retrying in {self.seconds_left()} s…"
        return (
            f"{head}; {tail} What is shown stays readable; changes cannot be saved until "
            "it is back."
        )

    # --- what happens ----------------------------------------------------------------------

    def report_offline(self, message: str) -> None:
        """Something could not reach the database: go offline (once) and start retrying."""
        self.reason = message
        if self.offline:
            return
        self.offline = True
        self.attempts = 0
        log.warning("offline: %s", message)
        self._schedule()
        self.went_offline.emit(message)
        self.changed.emit()

    def probe_now(self) -> None:
        """Try the database now (ignored while a try is under way)."""
        if self.probing:
            return
        if self._worker is None:
            self._worker = DatabaseExecutor(self)
        if self._worker.closed:
            return
        self.probing = True
        self._retry.stop()
        self.changed.emit()
        self._worker.submit(
            changes.probe,
            self.db,
            on_success=self._probe_answered,
            on_failure=self._probe_failed,
            what="checking the database connection",
        )

    def stop(self) -> None:
        self._retry.stop()
        self._countdown.stop()
        if self._worker is not None:
            self._worker.shutdown(3_000)

    def _job_failed(self, failure: Failure) -> None:
        if changes.is_offline(failure.exception):
            self.report_offline(failure.message)

    def _probe_answered(self, _result: object) -> None:
        self.probing = False
        if not self.offline:
            return
        self.offline = False
        self._countdown.stop()
        self._retry.stop()
        log.info("back online after %d retries", self.attempts)
        if not self.executor.closed:
            self.executor.broadcast(changes.ALL_TABLES)
        self.back_online.emit()
        self.changed.emit()

    def _probe_failed(self, failure: Failure) -> None:
        self.probing = False
        if not self.offline:
            if changes.is_offline(failure.exception):
                self.report_offline(failure.message)
            return
        self.reason = failure.message
        self.attempts += 1
        self._schedule()
        self.changed.emit()

    def _schedule(self) -> None:
        delay = changes.backoff_delay(self.attempts)
        self._next_at = time.monotonic() + delay
        self._retry.start(int(delay * 1000))
        self._countdown.start()


class ConnectionBanner(QFrame):
    """A strip across the top of the window: offline (with Retry now), or back online."""

    retry_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionBanner")
        self.setAccessibleName("Connection")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 10, 8)
        layout.setSpacing(10)
        self.label = QLabel("")
        self.label.setObjectName("connectionBannerText")
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Connection state")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.retry_button = QPushButton("Retry now")
        self.retry_button.setAccessibleName("Retry connecting now")
        self.retry_button.setAutoDefault(False)
        self.retry_button.clicked.connect(self.retry_requested)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.state = "hidden"
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.timeout.connect(self.clear)
        self.setVisible(False)
        self._style()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def show_offline(self, text: str, *, probing: bool = False) -> None:
        self._hide_timer.stop()
        self.state = "offline"
        self.label.setText(text)
        self.setAccessibleDescription(text)
        self.retry_button.setVisible(True)
        self.retry_button.setEnabled(not probing)
        self._style()
        self.setVisible(True)

    def show_back_online(self, text: str, timeout_ms: int = BACK_ONLINE_MS) -> None:
        self.state = "online"
        self.label.setText(text)
        self.setAccessibleDescription(text)
        self.retry_button.setVisible(False)
        self._style()
        self.setVisible(True)
        self._hide_timer.start(timeout_ms)

    def clear(self) -> None:
        self._hide_timer.stop()
        self.state = "hidden"
        self.label.setText("")
        self.setVisible(False)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._style()

    def _style(self) -> None:
        window = self.palette().color(QPalette.ColorRole.Window)
        colors = theme.DARK if window.lightness() < 128 else theme.LIGHT
        color = colors.danger if self.state == "offline" else colors.accent
        sheet = (
            f"QFrame#connectionBanner {{ background: {colors.surface}; "
            f"border-bottom: 2px solid {color}; }}"
            f"QLabel#connectionBannerText {{ color: {color}; font-weight: 600; }}"
        )
        if sheet != self.styleSheet():
            self.setStyleSheet(sheet)


__all__ = ["COALESCE_MS", "ConnectionBanner", "ConnectionMonitor", "LiveFeed"]
