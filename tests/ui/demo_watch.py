"""The real demo loader, watched from a test: what it was asked, where it ran, how far it
got; and, when a test needs a controlled moment, held still partway through."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from desktop_app.db.engine import Database
from desktop_app.services.demo import DemoSummary
from desktop_app.services.unit import Actor


class DemoWatch:
    """Wraps the real ``load_demo``, which does all the work: records each call (with the
    thread it ran on) and its progress reports. With ``hold`` set, the loader stops after its
    first report of rows written (inside its transaction) until :meth:`release`, or until
    its job is cancelled."""

    def __init__(self, real: Callable[..., DemoSummary]) -> None:
        self.real = real
        self.calls: list[dict[str, Any]] = []
        self.threads: list[int] = []
        self.reports: list[tuple[int, int]] = []
        self.hold = False
        self.holding = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def __call__(
        self,
        db: Database,
        actor: Actor,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> DemoSummary:
        self.calls.append({"actor": actor.username, **kwargs})
        self.threads.append(threading.get_ident())

        def report(done: int, total: int) -> None:
            self.reports.append((done, total))
            if progress is not None:
                progress(done, total)
            if self.hold and done > 0 and not self.holding.is_set():
                self.holding.set()
                for _ in range(3000):  # at most 30 s
                    if self._released.wait(0.01) or (cancelled is not None and cancelled()):
                        break

        return self.real(db, actor, progress=report, cancelled=cancelled, **kwargs)
