"""The timer service inside the desktop app: a Qt timer that hands ticks to a worker.

In the manner of Vorta's scheduler: a single-shot timer, re-armed after each tick for the
next due time (at most :data:`RESYNC_SECONDS` away, so a change made on another desktop,
a clock change or a wake from sleep is picked up within a minute). Ticks run on their own
:class:`~desktop_app.ui.executor.DatabaseExecutor` worker — never on the GUI thread, and
never queued behind (or holding up) the window's own database jobs. The last tick, the
next due time and any error are published as one line for the status bar.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop_app.engine import timer
from desktop_app.engine.timer import TickReport
from desktop_app.ui.executor import DatabaseExecutor, Failure

log = logging.getLogger(__name__)

RESYNC_SECONDS = 60
TIMER_ENV_VAR = "RENEWAL_DESK_TIMER"


def timer_enabled() -> bool:
    """False when ``RENEWAL_DESK_TIMER=off``: this desktop leaves the timer to another
    machine (``renewal-desk scheduler run``)."""
    return os.environ.get(TIMER_ENV_VAR, "on").strip().lower() not in ("off", "0", "no")


FIRST_TICK_MS = 2_000  # let the window settle first


class TimerHost(QObject):
    """Runs :func:`desktop_app.engine.timer.tick` on a schedule for one open database."""

    state_changed = Signal(str)
    """One line for the status bar: last tick, next due, errors."""

    ticked = Signal(object)
    """The :class:`~desktop_app.engine.timer.TickReport` of each finished tick."""

    def __init__(
        self,
        db: Any,
        *,
        views: DatabaseExecutor | None = None,
        parent: QObject | None = None,
        resync_seconds: int = RESYNC_SECONDS,
    ) -> None:
        super().__init__(parent)
        self.db = db
        self.views = views  # told what changed, so boards and queues refresh
        self.resync_seconds = resync_seconds
        self.worker = DatabaseExecutor(self)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.tick_now)
        self.last_report: TickReport | None = None
        self.last_error: str | None = None
        self.running = False
        self.state = "Timer service: starting"

    def start(self, first_ms: int = FIRST_TICK_MS) -> None:
        self.timer.start(first_ms)
        self._publish("Timer service: starting")

    def stop(self) -> None:
        self.timer.stop()
        self.worker.shutdown()

    def tick_now(self) -> None:
        """Hand one tick to the worker (ignored while one is running)."""
        if self.running or self.worker.closed:
            return
        self.running = True
        self.worker.submit(
            timer.tick,
            self.db,
            on_success=self._done,
            on_failure=self._failed,
            what="running the timer service",
        )

    def _done(self, report: TickReport) -> None:
        self.running = False
        self.last_report, self.last_error = report, None
        if report.actions and self.views is not None:
            self.views.broadcast({"renewals", "auto_renewals", "notices"})
        self.ticked.emit(report)
        self._rearm(report.next_due)
        self._publish(self.describe(report))

    def _failed(self, failure: Failure) -> None:
        self.running = False
        self.last_error = failure.message
        log.warning("timer tick failed: %s", failure.message)
        self._rearm(None)
        self._publish(f"Timer service: the last tick failed ({failure.message}); retrying.")

    def _rearm(self, next_due: datetime | None) -> None:
        if self.worker.closed:
            return
        wait = float(self.resync_seconds)
        if next_due is not None:
            wait = min(wait, max(0.0, (next_due - datetime.now(UTC)).total_seconds()))
        self.timer.start(max(200, int(wait * 1000)))

    def _publish(self, text: str) -> None:
        self.state = text
        self.state_changed.emit(text)

    @staticmethod
    def describe(report: TickReport) -> str:
        """The status-bar line for a tick."""
        local = report.now.astimezone()
        parts = [f"Timer service: last tick {local:%H:%M}"]
        acted = [a for a in report.actions if a.get("outcome") != "error"]
        failed = [a for a in report.actions if a.get("outcome") == "error"]
        if acted:
            parts.append(f"{len(acted)} automatic action{'s' if len(acted) != 1 else ''}")
        if failed:
            parts.append(f"{len(failed)} auto-renewal{'s' if len(failed) != 1 else ''} in error")
        if report.errors:
            parts.append(report.errors[0])
        if report.next_due is not None:
            parts.append(f"next due {report.next_due.astimezone():%m/%d/%Y %H:%M}")
        else:
            parts.append("nothing pending")
        return ", ".join(parts)
