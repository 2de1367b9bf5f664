"""The database executor: jobs off the GUI thread, one at a time, in order; results and
failures back on the GUI thread as plain sentences."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from pytestqt.qtbot import QtBot

from desktop_app.errors import RuleViolation
from desktop_app.ui.executor import DatabaseExecutor, Failure


def test_jobs_run_off_the_gui_thread_and_callbacks_on_it(
    qtbot: QtBot, executor: DatabaseExecutor
) -> None:
    gui = threading.get_ident()
    seen: dict[str, object] = {}

    def job(x: int, *, y: int) -> int:
        seen["job_thread"] = threading.get_ident()
        seen["worker"] = executor.is_worker_thread()
        return x + y

    def done(result: int) -> None:
        seen["result"] = result
        seen["callback_thread"] = threading.get_ident()

    executor.submit(job, 2, y=3, on_success=done)
    qtbot.waitUntil(lambda: "result" in seen, timeout=5000)
    assert seen["job_thread"] != gui
    assert seen["worker"] is True
    assert seen["callback_thread"] == gui
    assert seen["result"] == 5
    assert not executor.is_worker_thread()


def test_jobs_run_one_at_a_time_in_submission_order(
    qtbot: QtBot, executor: DatabaseExecutor
) -> None:
    started: list[int] = []
    finished: list[int] = []
    callbacks: list[int] = []
    running = {"now": 0, "max": 0}
    lock = threading.Lock()

    def job(i: int) -> int:
        with lock:
            running["now"] += 1
            running["max"] = max(running["max"], running["now"])
        started.append(i)
        time.sleep(0.002 * (i % 3))
        finished.append(i)
        with lock:
            running["now"] -= 1
        return i

    for i in range(25):
        executor.submit(job, i, on_success=callbacks.append)
    qtbot.waitUntil(lambda: len(callbacks) == 25, timeout=10_000)
    assert started == finished == callbacks == list(range(25))
    assert running["max"] == 1


def test_a_user_facing_error_arrives_as_its_own_sentence(
    qtbot: QtBot, executor: DatabaseExecutor
) -> None:
    failures: list[Failure] = []

    def job() -> None:
        raise RuleViolation("Cannot move to Bound: it needs the new premium.")

    executor.submit(job, on_failure=failures.append, on_success=pytest.fail)
    qtbot.waitUntil(lambda: bool(failures), timeout=5000)
    assert failures[0].message == "Cannot move to Bound: it needs the new premium."
    assert failures[0].user_facing and not failures[0].cancelled
    assert str(failures[0]) == failures[0].message


def test_an_unexpected_error_is_logged_and_reported_plainly(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture, tmp_path
) -> None:
    log_file = tmp_path / "renewal-desk.log"
    ex = DatabaseExecutor(log_file=log_file)
    failures: list[Failure] = []

    def counting_the_book() -> None:
        raise ZeroDivisionError("division by zero")

    try:
        with caplog.at_level(logging.ERROR, logger="desktop_app.ui.executor"):
            ex.submit(counting_the_book, on_failure=failures.append, what="counting the book")
            qtbot.waitUntil(lambda: bool(failures), timeout=5000)
    finally:
        ex.shutdown()
    message = failures[0].message
    assert message == (
        f"Something went wrong while counting the book; details are in the log file {log_file}."
    )
    assert "Traceback" not in message and "ZeroDivisionError" not in message
    assert isinstance(failures[0].exception, ZeroDivisionError)
    record = next(r for r in caplog.records if "counting the book" in r.getMessage())
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError


def test_a_failure_nobody_handles_is_broadcast(qtbot: QtBot, executor: DatabaseExecutor) -> None:
    def job() -> None:
        raise RuleViolation("No.")

    with qtbot.waitSignal(executor.failed, timeout=5000) as blocker:
        executor.submit(job)
    assert blocker.args == ["No."]


def test_changes_are_broadcast_after_success(qtbot: QtBot, executor: DatabaseExecutor) -> None:
    order: list[object] = []
    executor.changed.connect(lambda kinds: order.append(("changed", kinds)))
    with qtbot.waitSignal(executor.changed, timeout=5000) as blocker:
        executor.submit(
            lambda: 1, on_success=lambda r: order.append(("success", r)), changes={"renewals"}
        )
    assert blocker.args == [frozenset({"renewals"})]
    assert order == [("success", 1), ("changed", frozenset({"renewals"}))]

    # a failed job changes nothing, so nothing is broadcast
    failed: list[Failure] = []
    executor.submit(lambda: 1 / 0, on_failure=failed.append, changes={"policies"})
    qtbot.waitUntil(lambda: bool(failed), timeout=5000)
    assert len(order) == 2

    # a job may also announce changes itself, from the worker thread
    with qtbot.waitSignal(executor.changed, timeout=5000) as blocker:
        executor.submit(lambda: executor.broadcast({"tasks"}))
    assert blocker.args == [frozenset({"tasks"})]


def test_progress_reaches_the_gui_thread_and_the_last_report_wins(
    qtbot: QtBot, executor: DatabaseExecutor
) -> None:
    gui = threading.get_ident()
    reports: list[tuple[int, int]] = []
    threads: set[int] = set()
    done: list[object] = []

    def on_progress(n: int, total: int) -> None:
        threads.add(threading.get_ident())
        reports.append((n, total))

    def job(*, progress) -> str:  # type: ignore[no-untyped-def]
        for n in range(1, 2001):
            progress(n, 2000)
        return "ok"

    executor.submit(job, progress=on_progress, on_success=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=5000)
    assert threads == {gui}
    assert reports and reports[-1] == (2000, 2000)
    assert reports == sorted(reports)
    assert len(reports) <= 2000


def test_cancelling_a_running_and_a_queued_job(qtbot: QtBot, executor: DatabaseExecutor) -> None:
    entered = threading.Event()
    outcomes: list[object] = []

    def long_job(*, cancelled) -> str:  # type: ignore[no-untyped-def]
        entered.set()
        deadline = time.monotonic() + 5
        while not cancelled():
            if time.monotonic() > deadline:
                return "never cancelled"
            time.sleep(0.005)
        return "stopped"

    running = executor.submit(long_job, cancellable=True, on_success=outcomes.append)
    queued = executor.submit(
        lambda: "ran", on_success=outcomes.append, on_failure=outcomes.append, what="counting"
    )
    assert entered.wait(5)
    queued.cancel()
    running.cancel()
    qtbot.waitUntil(lambda: len(outcomes) == 2, timeout=5000)
    assert outcomes[0] == "stopped"
    assert isinstance(outcomes[1], Failure)
    assert outcomes[1].cancelled and outcomes[1].message == "Counting was cancelled."


def test_busy_while_jobs_are_outstanding(qtbot: QtBot, executor: DatabaseExecutor) -> None:
    states: list[bool] = []
    executor.busy_changed.connect(states.append)
    gate = threading.Event()
    executor.submit(gate.wait, 5)
    executor.submit(lambda: None)
    assert executor.busy
    gate.set()
    qtbot.waitUntil(lambda: not executor.busy, timeout=5000)
    assert states == [True, False]


def test_shutdown_waits_for_the_running_job_and_refuses_new_ones(qtbot: QtBot) -> None:
    ex = DatabaseExecutor()
    entered = threading.Event()
    finished = threading.Event()
    never: list[object] = []

    def slow() -> None:
        entered.set()
        time.sleep(0.3)
        finished.set()

    ex.submit(slow)
    dropped = ex.submit(never.append, 1)
    assert entered.wait(5)
    assert ex.shutdown(5000)
    assert finished.is_set()
    assert dropped.is_cancelled() and never == []
    with pytest.raises(RuntimeError):
        ex.submit(lambda: None)
    assert ex.shutdown()  # twice is fine
