"""The timer service inside the window: ticks on a worker, state in the status bar."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from pytestqt.qtbot import QtBot

from desktop_app.db.engine import Database
from desktop_app.engine import timer
from desktop_app.services import auto_renewals as ars
from desktop_app.services import book, transactions
from desktop_app.services.unit import Actor
from desktop_app.ui.timer_host import TimerHost


def _due_policy(db: Database, admin: Actor) -> None:
    """A policy on a plan whose create trigger came due yesterday."""
    ars.add_plan(db, admin, "Auto", create_lead_days=60, accept_lead_days=30)
    account = book.create_account(db, admin, "Harbor Bakery", plan="Auto")
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=59)
    book.add_policy(
        db, admin, account.id, "HB-1", "Travelers", "BOP", end - timedelta(days=365), end
    )


def test_a_tick_runs_off_the_gui_thread_and_reports_in_words(
    qtbot: QtBot, db: Database, admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    _due_policy(db, admin)
    threads: list[int] = []
    real_tick = timer.tick

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())
        return real_tick(*args, **kwargs)

    monkeypatch.setattr(timer, "tick", watched)
    host = TimerHost(db)
    try:
        with qtbot.waitSignal(host.ticked, timeout=20_000) as blocker:
            host.start(first_ms=0)
        report = blocker.args[0]
        assert threads and threads[0] != threading.get_ident()
        assert [a["event"] for a in report.actions if "event" in a] == ["create"]
        assert "1 automatic action" in host.state and "next due" in host.state
        detail = transactions.policy_detail(db, admin, "HB-1")
        assert len(detail["renewals"]) == 1
        assert detail["auto_renewals"][0]["fired"]["create"] is not None
    finally:
        host.stop()


def test_a_failed_tick_is_reported_and_retried(
    qtbot: QtBot, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        from desktop_app.errors import DatabaseUnavailable

        raise DatabaseUnavailable("The database server at 10.0.0.5 cannot be reached.")

    monkeypatch.setattr(timer, "tick", broken)
    host = TimerHost(db, resync_seconds=0)
    try:
        with qtbot.waitSignal(
            host.state_changed, timeout=10_000, check_params_cb=lambda t: "failed" in t
        ):
            host.start(first_ms=0)
        assert "cannot be reached" in host.state and "retrying" in host.state
        qtbot.waitUntil(lambda: calls["n"] >= 2, timeout=10_000)
    finally:
        host.stop()


def test_the_window_shows_the_timer_state(open_window, qtbot: QtBot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RENEWAL_DESK_TIMER", "on")
    launcher = open_window()
    window = launcher.window
    qtbot.waitUntil(lambda: "last tick" in window.timer_label.text(), timeout=20_000)
    assert "nothing pending" in window.timer_label.text()


def test_a_desktop_can_leave_the_timer_to_another_machine(open_window) -> None:  # type: ignore[no-untyped-def]
    launcher = open_window()
    assert launcher.window.timer_host is None
    assert launcher.window.timer_label.text() == "Timer service: off on this desktop"
