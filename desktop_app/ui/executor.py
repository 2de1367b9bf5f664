"""One serial executor for database work, so the GUI thread never waits on the database.

In the manner of Anki's ``taskman``/``operations``: every database call a view makes goes
through :class:`DatabaseExecutor.submit`. Jobs run one at a time, in the order they were
submitted, on a single worker thread; their results come back on the GUI thread through
queued signals, to the ``on_success`` / ``on_failure`` callbacks given with the job.

* A :class:`~desktop_app.errors.UserFacingError` reaches ``on_failure`` as its own
  one-sentence message.
* Anything else is logged with its traceback and reported as a plain sentence that says
  what was being done and where the log file is.
* A job that changes data names the kinds of objects it changed (``changes=``); after its
  ``on_success`` ran, :attr:`DatabaseExecutor.changed` broadcasts them so every view decides
  for itself whether to refresh.

Example::

    executor.submit(
        overview.book_overview, db,
        on_success=self.show_overview,
        on_failure=lambda failure: self.show_message(failure.message),
        what="loading the book overview",
    )
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from desktop_app.errors import UserFacingError

log = logging.getLogger(__name__)

SuccessCallback = Callable[[Any], None]
FailureCallback = Callable[["Failure"], None]
ProgressCallback = Callable[..., None]


class Cancelled(UserFacingError):
    """Raised by (or for) a job that stopped because someone pressed Cancel."""


@dataclass(frozen=True)
class Failure:
    """Why a job did not succeed, ready to show: ``message`` is one plain sentence."""

    message: str
    exception: BaseException
    cancelled: bool = False

    @property
    def user_facing(self) -> bool:
        return isinstance(self.exception, UserFacingError)

    def __str__(self) -> str:
        return self.message


class Job:
    """A handle on one submitted job: cancel it, or ask how far it got."""

    PENDING, RUNNING, FINISHED = "pending", "running", "finished"

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        what: str,
        on_success: SuccessCallback | None,
        on_failure: FailureCallback | None,
        progress: ProgressCallback | None,
        changes: frozenset[str],
        number: int,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.what = what
        self.on_success = on_success
        self.on_failure = on_failure
        self.progress = progress
        self.changes = changes
        self.number = number
        self.state = Job.PENDING
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._latest_progress: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._progress_posted = False

    def cancel(self) -> None:
        """Ask the job to stop. A job that has not started is dropped; a running job stops
        when it next checks ``cancelled()`` (jobs submitted with ``cancellable=True``)."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        """True once the job ran (or was dropped) and its callbacks were delivered."""
        return self.state == Job.FINISHED

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker is done with the job (not its callbacks); for tests and
        shutdown only: never call it on the GUI thread while the user waits."""
        return self._finished.wait(timeout)

    def __repr__(self) -> str:
        return f"<Job #{self.number} {self.what!r} {self.state}>"


class _Worker(QThread):
    """The one thread that talks to the database."""

    def __init__(self, executor: DatabaseExecutor) -> None:
        super().__init__()
        self.setObjectName("database-worker")
        self._executor = executor
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.current: Job | None = None
        self.thread_ident: int | None = None

    def run(self) -> None:
        self.thread_ident = threading.get_ident()
        threading.current_thread().name = "database-worker"  # for the log file
        while True:
            job = self.jobs.get()
            if job is None:
                return
            self._executor._run(job)


def _sentence(what: str) -> str:
    return what[:1].upper() + what[1:]


def default_log_file() -> Path:
    from desktop_app.ui.logging_setup import log_file_path

    return log_file_path()


class DatabaseExecutor(QObject):
    """Runs database jobs one at a time on a worker thread; callbacks on the GUI thread.

    Create it on the GUI thread. Call :meth:`shutdown` before the application object goes
    away (``run_gui`` connects it to ``QCoreApplication.aboutToQuit``).
    """

    changed = Signal(object)
    """A frozenset of object kinds ("policies", "renewals", …) that a job changed."""

    failed = Signal(str)
    """The message of a failed job that had no ``on_failure`` of its own."""

    busy_changed = Signal(bool)
    """True while any job is queued or running."""

    job_failed = Signal(object)
    """The :class:`Failure` of every failed job, after its own ``on_failure`` ran (so the
    window can tell, say, that the database cannot be reached)."""

    _deliver = Signal(object)

    def __init__(self, parent: QObject | None = None, *, log_file: Path | None = None) -> None:
        super().__init__(parent)
        self._log_file = log_file
        self._numbers = itertools.count(1)
        self._outstanding = 0
        self._closed = False
        self._deliver.connect(self._on_deliver, Qt.ConnectionType.QueuedConnection)
        self._worker = _Worker(self)
        self._worker.start()

    # --- public API ---------------------------------------------------------------

    def submit(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        on_success: SuccessCallback | None = None,
        on_failure: FailureCallback | None = None,
        progress: ProgressCallback | None = None,
        cancellable: bool = False,
        what: str | None = None,
        changes: Iterable[str] = (),
        **kwargs: Any,
    ) -> Job:
        """Queue ``fn(*args, **kwargs)`` to run after every job submitted before it.

        ``on_success(result)`` or ``on_failure(Failure)`` is then called on the GUI thread.
        ``progress``: a GUI-thread callback; ``fn`` is given a ``progress=`` keyword
        argument to call (from the worker, as often as it likes) with whatever arguments
        ``progress`` takes; reports are coalesced, the latest one wins.
        ``cancellable``: ``fn`` is given ``cancelled=`` (a callable returning True once
        :meth:`Job.cancel` was called) and should stop soon after it returns True.
        ``what``: the job in words ("loading demo data"), for the failure sentence.
        ``changes``: the kinds of objects ``fn`` writes; broadcast by :attr:`changed`
        after a success.
        """
        if self._closed:
            raise RuntimeError("the database executor has been shut down")
        job = Job(
            fn,
            args,
            dict(kwargs),
            what=what or f"running {getattr(fn, '__name__', 'a task')}",
            on_success=on_success,
            on_failure=on_failure,
            progress=progress,
            changes=frozenset(changes),
            number=next(self._numbers),
        )
        if progress is not None:
            job.kwargs["progress"] = self._reporter(job)
        if cancellable:
            job.kwargs["cancelled"] = job.is_cancelled
        self._outstanding += 1
        if self._outstanding == 1:
            self.busy_changed.emit(True)
        self._worker.jobs.put(job)
        return job

    def broadcast(self, kinds: Iterable[str]) -> None:
        """Tell every view that objects of ``kinds`` changed (callable from any thread)."""
        kinds = frozenset(kinds)
        if kinds:
            self._deliver.emit(lambda: self.changed.emit(kinds))

    @property
    def busy(self) -> bool:
        return self._outstanding > 0

    @property
    def closed(self) -> bool:
        return self._closed

    def is_worker_thread(self) -> bool:
        """True when called from the executor's worker thread."""
        return threading.get_ident() == self._worker.thread_ident

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop taking jobs, drop the queued ones, ask the running one to cancel and wait
        for it. Returns False when it did not finish within ``timeout_ms``."""
        if self._closed:
            return True
        self._closed = True
        dropped: list[Job] = []
        while True:
            try:
                job = self._worker.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.cancel()
                dropped.append(job)
        for job in dropped:
            job.state = Job.FINISHED
            job._finished.set()
        self._worker.jobs.put(None)
        running = self._worker.current
        if running is not None:
            running.cancel()
        finished = self._worker.wait(timeout_ms)
        if not finished:
            log.error("the database worker did not stop within %d ms", timeout_ms)
        return bool(finished)

    # --- worker side ---------------------------------------------------------------

    def _run(self, job: Job) -> None:
        self._worker.current = job
        try:
            if job.is_cancelled():
                dropped = self._failure(job, Cancelled(f"{_sentence(job.what)} was cancelled."))
                self._post(job, lambda: self._fail(job, dropped))
                return
            job.state = Job.RUNNING
            try:
                result = job.fn(*job.args, **job.kwargs)
            except BaseException as error:  # report every failure; never kill the worker
                failure = self._failure(job, error)
                self._post(job, lambda: self._fail(job, failure))
                return
            self._post(job, lambda: self._succeed(job, result))
        finally:
            self._worker.current = None
            job._finished.set()

    def _failure(self, job: Job, error: BaseException) -> Failure:
        cancelled = isinstance(error, Cancelled) or job.is_cancelled()
        if isinstance(error, UserFacingError):
            return Failure(error.message, error, cancelled)
        log.error("Job #%d failed while %s", job.number, job.what, exc_info=error)
        if cancelled:
            message = f"{_sentence(job.what)} was cancelled."
        else:
            where = self._log_file or default_log_file()
            message = f"Something went wrong while {job.what}; details are in the log file {where}."
        return Failure(message, error, cancelled)

    def _post(self, job: Job, callback: Callable[[], None]) -> None:
        self._deliver.emit(lambda: self._complete(job, callback))

    def _reporter(self, job: Job) -> Callable[..., None]:
        def report(*args: Any, **kwargs: Any) -> None:
            with job._lock:
                job._latest_progress = (args, kwargs)
                if job._progress_posted:
                    return
                job._progress_posted = True
            self._deliver.emit(lambda: self._report(job))

        return report

    # --- GUI side ------------------------------------------------------------------

    @Slot(object)
    def _on_deliver(self, callback: Callable[[], None]) -> None:
        if self._closed:
            return
        callback()

    def _report(self, job: Job) -> None:
        with job._lock:
            latest, job._latest_progress = job._latest_progress, None
            job._progress_posted = False
        if latest is None or job.finished or job.progress is None:
            return
        args, kwargs = latest
        job.progress(*args, **kwargs)

    def _complete(self, job: Job, callback: Callable[[], None]) -> None:
        job.state = Job.FINISHED
        self._outstanding -= 1
        if self._outstanding == 0:
            self.busy_changed.emit(False)
        callback()

    def _succeed(self, job: Job, result: Any) -> None:
        if job.on_success is not None:
            job.on_success(result)
        if job.changes:
            self.changed.emit(job.changes)

    def _fail(self, job: Job, failure: Failure) -> None:
        if job.on_failure is not None:
            job.on_failure(failure)
        elif not failure.cancelled:
            self.failed.emit(failure.message)
        if not failure.cancelled:
            self.job_failed.emit(failure)
