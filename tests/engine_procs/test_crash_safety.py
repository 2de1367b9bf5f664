"""Crash safety: a tick process killed (SIGKILL) at random moments, many times.

Each round starts a tick process (the real ``scheduler once`` when it exists), lets it
run for a random time and kills it with SIGKILL: before it claimed anything, after
claiming, inside a plugin call (every other round the recording plugin sleeps a little
per call, so many kills land there), or around the commit. The book holds auto-renewals
with all three triggers due (fired one event at a time) and a day's work of an office
whose timer runs daily: one trigger due each, a create, an accept or an issue (fired a
batch at a time, set-based). After every kill the book must
hold no half state: each trigger is either done with its whole effect or still pending.
After the last kill one clean tick must leave every trigger fired exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop_app.db.engine import Database, open_database
from desktop_app.db.models import AutoRenewal, Renewal, Term, TimerFiring
from desktop_app.domain.enums import AutoRenewalState, TransactionState
from tests.engine_procs import bulk, tick_proc
from tests.engine_procs.recording_plugin import read_calls

NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
AUTO_RENEWALS = 120  # 360 triggers: several batches, more than a few kills can finish
DAILY = 180  # and 180 with one trigger due, fired together
KILLS = 18
SLOW_PLUGIN_SECONDS = 0.02
MAX_DELAY_SECONDS = 2.5


def _no_half_state(db: Database, ar_ids: list[int]) -> tuple[int, int]:
    """Each trigger is done with all of its effect, or not done at all.

    Returns (triggers done, auto-renewals untouched)."""
    done = untouched = 0
    with db.read_session() as session:
        ledger = Counter(
            session.execute(
                select(TimerFiring.kind, TimerFiring.subject_id).where(
                    TimerFiring.kind.like("auto_renewal.%")
                )
            ).all()
        )
        for ar in session.scalars(select(AutoRenewal).where(AutoRenewal.id.in_(ar_ids))):
            fired = {e for e in bulk.EVENTS if getattr(ar, f"fired_{e}_at") is not None}
            assert ar.last_error is None, (ar.id, ar.last_error)
            for e in bulk.EVENTS:
                assert ledger[f"auto_renewal.{e}", ar.id] == (e in fired), (ar.id, e, fired)
            assert fired in ({*bulk.EVENTS[:k]} for k in range(4)), (ar.id, fired)
            renewals = list(session.scalars(select(Renewal).where(Renewal.term_id == ar.term_id)))
            terms = list(session.scalars(select(Term).where(Term.policy_id == ar.policy_id)))
            if "create" not in fired:
                untouched += 1
                assert ar.renewal_id is None and not renewals and len(terms) == 1, ar.id
                assert ar.state is AutoRenewalState.ACTIVE and ar.next_due_at is not None
                continue
            assert [r.id for r in renewals] == [ar.renewal_id], (ar.id, renewals)
            state = renewals[0].transaction_state
            if "issue" in fired:
                assert state is TransactionState.ISSUED and len(terms) == 2, ar.id
                assert ar.state is AutoRenewalState.ISSUED and ar.next_due_at is None
                assert renewals[0].new_term_id in {t.id for t in terms}
            else:
                want = TransactionState.ACCEPTED if "accept" in fired else TransactionState.DRAFT
                assert state is want and len(terms) == 1, (ar.id, state)
                assert ar.state is AutoRenewalState.ACTIVE and ar.next_due_at is not None
            done += len(fired)
    return done, untouched


@pytest.mark.slow
def test_killed_ticks_leave_each_trigger_done_or_pending(db_url: str, tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    db = open_database(db_url)
    try:
        daily = bulk.build_daily_book(db, NOW, DAILY)
        built = bulk.build_book(db, bulk.due_term_ends(NOW, AUTO_RENEWALS, events=3))
    finally:
        db.dispose()
    groups = [(built, 3), (daily.creates, 1), (daily.accepts, 2), (daily.issues, 3)]
    ids = [i for group, _events in groups for i in group.auto_renewal_ids]
    triggers = sum(events * len(group.auto_renewal_ids) for group, events in groups)
    log = tmp_path / "plugin.log"

    def launch(n: int, *, slow: bool) -> tuple[subprocess.Popen[bytes], Path, Path]:
        barrier, ready = tmp_path / f"go{n}", tmp_path / f"ready{n}"
        command = tick_proc.tick_command(db_url, NOW, barrier, ready)
        env = tick_proc.process_env(log, plugin_sleep=SLOW_PLUGIN_SECONDS if slow else 0.0)
        return tick_proc.start(command, env, tmp_path / f"out{n}.jsonl"), barrier, ready

    killed_running = 0
    progress: list[int] = []
    # The next process starts (and imports) while the current one runs, so each round's
    # time goes into ticking, not into starting Python.
    upcoming = launch(0, slow=False)
    for n in range(KILLS):
        proc, barrier, ready = upcoming
        upcoming = launch(n + 1, slow=(n + 1) % 2 == 1)
        tick_proc.wait_ready([ready], [proc])
        barrier.touch()
        time.sleep(rng.uniform(0.05, MAX_DELAY_SECONDS))
        if proc.poll() is None:
            killed_running += 1
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        db = open_database(db_url)
        try:
            done, _untouched = _no_half_state(db, ids)
        finally:
            db.dispose()
        progress.append(done)

    # One clean tick finishes the work.
    proc, barrier, ready = upcoming
    tick_proc.wait_ready([ready], [proc])
    barrier.touch()
    code = proc.wait(timeout=180)
    out = tmp_path / f"out{KILLS}.jsonl"
    assert code == 0, (seed, out.with_suffix(".err").read_text())

    db = open_database(db_url)
    try:
        assert _no_half_state(db, ids) == (triggers, 0)
        for group, events in groups:
            bulk.check_all_fired_once(db, group.auto_renewal_ids, group.term_ids, events)
    finally:
        db.dispose()

    # The kills really landed inside ticks: several processes were still running when
    # killed (once the work is all done, later rounds have nothing left to interrupt),
    # and the plugin was called for work that a kill then rolled back.
    expected = {(e, i) for i in built.auto_renewal_ids for e in bulk.EVENTS}
    expected |= {(e, i) for e, due in daily.due.items() for i in due}
    seen = Counter((event, ar_id) for event, ar_id, _pid in read_calls(log))
    assert set(seen) == expected, seed
    assert killed_running >= 3, (seed, killed_running, progress)
    assert sum(seen.values()) > len(expected), (seed, "no kill undid a plugin-seen trigger")
    # The clean tick printed only what was still pending, each once.
    reported = Counter((a["event"], a["auto_renewal_id"]) for a in tick_proc.reported_actions(out))
    assert all(n == 1 for n in reported.values())
    assert len(reported) == triggers - progress[-1], (seed, progress)
