"""The timer service's tick: batches, stopping, its report, its ledger, two at once.

(Exactly-once across OS processes and SIGKILL crash safety have their own, slower tests;
here two timers in one process share a database through separate connections.)
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from desktop_app.db.engine import open_database
from desktop_app.db.models import Renewal, Term, TimerFiring
from desktop_app.domain.enums import AutoRenewalState
from desktop_app.engine import timer
from desktop_app.services import transactions
from tests.engine.conftest import (
    ACCEPT_AT,
    CREATE_AT,
    ISSUE_AT,
    NEW_END,
    NO_PLUGINS,
    Book,
    PluginRecorder,
)
from tests.helpers import dump_database

A = AutoRenewalState
EVENTS = ("create", "accept", "issue")


def _policies(agency: Book, n: int) -> list[str]:
    numbers = [agency.number]
    for i in range(1, n):
        numbers.append(f"WC-{i:04d}")
        agency.add_policy(numbers[-1], end=agency.terms()[0].end_at + timedelta(hours=i))
    return numbers


def test_a_tick_with_nothing_due_writes_nothing(agency: Book, recorder: PluginRecorder) -> None:
    """An idle tick (nothing due) changes no row and calls no plugin."""
    before = dump_database(agency.db)
    report = timer.tick(
        agency.db,
        now=CREATE_AT - timedelta(seconds=1),
        plugins=recorder.plugin_set(),
        housekeeping=False,
    )
    assert report.actions == [] and report.errors == []
    assert report.next_due == CREATE_AT
    assert recorder.requests == []
    assert dump_database(agency.db) == before


def test_the_report_is_json_ready_and_in_utc(agency: Book) -> None:
    """``scheduler once`` prints one JSON object per action; ``now`` may come in any zone."""
    eastern = ISSUE_AT.astimezone(ZoneInfo("America/New_York"))
    report = timer.tick(agency.db, now=eastern, plugins=NO_PLUGINS, housekeeping=False)
    assert report.now == ISSUE_AT and report.now.tzinfo is UTC
    lines = [json.dumps(action) for action in report.actions]
    assert [json.loads(line)["event"] for line in lines] == list(EVENTS)
    first = json.loads(lines[0])
    assert first == {
        "auto_renewal_id": 1,
        "policy_number": agency.number,
        "carrier": "The Hartford",
        "event": "create",
        "at": ISSUE_AT.isoformat(),
        "outcome": "created",
        "renewal_id": 1,
        "state": "active",
        "note": None,
    }
    assert report.next_due == NEW_END - timedelta(days=60)
    assert report.seconds >= 0


def test_work_beyond_one_batch_is_all_done_in_one_tick(agency: Book) -> None:
    """A tick keeps taking batches until nothing due is left."""
    numbers = _policies(agency, 7)
    report = timer.tick(
        agency.db,
        now=ISSUE_AT + timedelta(days=1),
        plugins=NO_PLUGINS,
        housekeeping=False,
        batch_size=2,
    )
    assert Counter(a["event"] for a in report.actions) == {e: 7 for e in EVENTS}
    for number in numbers:
        assert [a["event"] for a in report.actions if a["policy_number"] == number] == list(EVENTS)
    assert timer.due_count(agency.db, ISSUE_AT + timedelta(days=1)) == 0


def test_a_stopped_tick_leaves_the_rest_for_the_next_one(agency: Book) -> None:
    """``should_stop`` (the desktop is closing) ends the tick between batches; what is left
    fires on the next tick, and nothing fires twice."""
    _policies(agency, 5)
    checks = {"n": 0}

    def stop_after_one_batch() -> bool:
        checks["n"] += 1
        return checks["n"] > 1

    now = ACCEPT_AT + timedelta(days=1)
    first = timer.tick(
        agency.db,
        now=now,
        plugins=NO_PLUGINS,
        housekeeping=False,
        batch_size=2,
        should_stop=stop_after_one_batch,
    )
    assert len(first.actions) == 4  # two auto-renewals, create and accept each
    assert timer.due_count(agency.db, now) == 3
    second = timer.tick(agency.db, now=now, plugins=NO_PLUGINS, housekeeping=False)
    assert len(second.actions) == 6
    done = {(a["auto_renewal_id"], a["event"]) for a in first.actions + second.actions}
    assert len(done) == 10
    assert timer.due_count(agency.db, now) == 0


def test_the_ledger_has_one_row_per_firing_with_its_outcome(agency: Book) -> None:
    """Each firing is a ``timer_firings`` row written with its effect: which work, for
    which auto-renewal, when, what came of it, for which renewal and by which process."""
    agency.tick(CREATE_AT)
    renewal_id = agency.ar().renewal_id
    transactions.advance(agency.db, agency.manager, renewal_id, "accepted")
    agency.tick(ISSUE_AT)
    rows = [
        (f.kind, f.subject_id, f.detail, f.fired_at, f.outcome, f.renewal_id)
        for f in agency.firings("auto_renewal.")
    ]
    assert rows == [
        ("auto_renewal.create", 1, "", CREATE_AT, "created", renewal_id),
        ("auto_renewal.accept", 1, "", ISSUE_AT, "no_action", renewal_id),
        ("auto_renewal.issue", 1, "", ISSUE_AT, "issued", renewal_id),
    ]
    assert {f.process for f in agency.firings()} == {timer.process_label()}


def test_the_ledger_refuses_a_second_row_for_the_same_firing(agency: Book) -> None:
    """The unique key (kind, subject, detail) is the last line of defence: a second
    process cannot commit the same firing."""
    agency.tick(CREATE_AT)
    duplicate = TimerFiring(kind="auto_renewal.create", subject_id=1, detail="", outcome="created")
    with pytest.raises(IntegrityError) as refused, agency.db.write_session() as session:
        session.add(duplicate)
        session.commit()
    assert "timer_firings" in str(refused.value)
    assert len(agency.firings("auto_renewal.create")) == 1


def test_two_timers_ticking_the_same_database_at_once_fire_each_trigger_once(
    agency: Book, db_url: str
) -> None:
    """ "Each fires exactly once even when several processes tick the same database at the
    same moment" — here two timers with their own connections, released together."""
    numbers = _policies(agency, 6)
    recorder = PluginRecorder()
    start = threading.Barrier(2)
    reports: list[timer.TickReport] = []
    problems: list[BaseException] = []

    def run() -> None:
        own = open_database(db_url)
        try:
            start.wait()
            reports.append(
                timer.tick(
                    own,
                    now=ISSUE_AT + timedelta(days=1),
                    plugins=recorder.plugin_set(),
                    housekeeping=False,
                    batch_size=2,
                )
            )
        except BaseException as exc:  # reported below, with the other thread's result
            problems.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert problems == []
    fired = Counter((a["auto_renewal_id"], a["event"]) for r in reports for a in r.actions)
    assert len(fired) == 18 and set(fired.values()) == {1}
    plugin_saw = Counter(recorder.events)
    assert plugin_saw == Counter({(e, n): 1 for e in EVENTS for n in numbers})
    with agency.db.read_session() as s:
        per_policy = Counter(s.scalars(select(Renewal.policy_id)))
        terms = Counter(s.scalars(select(Term.policy_id)))
        ledger = s.scalar(
            select(func.count())
            .select_from(TimerFiring)
            .where(TimerFiring.kind.startswith("auto_renewal."))
        )
    assert set(per_policy.values()) == {1} and len(per_policy) == 6
    assert set(terms.values()) == {2}
    assert ledger == 18


def test_a_tick_without_a_time_uses_the_database_clock(agency: Book) -> None:
    """Without ``now`` the tick fires by the database's clock (PostgreSQL: the server's),
    which today is long before the book's 2027 triggers."""
    report = timer.tick(agency.db, plugins=NO_PLUGINS, housekeeping=False)
    assert report.actions == []
    assert abs(report.now - datetime.now(UTC)) < timedelta(minutes=5)
    assert abs(timer.database_now(agency.db) - datetime.now(UTC)) < timedelta(minutes=5)


def test_next_due_time_and_due_count_follow_the_auto_renewals(agency: Book) -> None:
    """What the status bar shows: the next trigger, and how many are due."""
    assert timer.next_due_time(agency.db) == CREATE_AT
    assert timer.due_count(agency.db, CREATE_AT - timedelta(seconds=1)) == 0
    assert timer.due_count(agency.db, CREATE_AT) == 1
    agency.tick(CREATE_AT)
    assert timer.next_due_time(agency.db) == ACCEPT_AT
    assert agency.ar().next_due_at == ACCEPT_AT
