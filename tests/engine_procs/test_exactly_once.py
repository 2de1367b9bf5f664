"""Exactly once across OS processes: several ticks of one database at the same moment.

Three processes (``renewal-desk scheduler once --json`` once that command exists, else
``tick_proc`` calling ``timer.tick``) wait behind a barrier file and then tick one
database where every auto-renewal has its create, accept and issue triggers due (fired
one event at a time), or — a day of an office whose timer runs daily — one trigger each,
a third of them creates, a third accepts, a third issues (fired a batch at a time,
set-based). On PostgreSQL that is 700 auto-renewals (2,100 triggers), or 2,000; SQLite
gets fewer, since its writers take turns anyway. Afterwards every due step happened once
(each renewal created, accepted and issued once), each ledger row exists once, the
recording plugin saw each (auto-renewal, event) once, and the processes' printed actions
together name each trigger once.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop_app.db.engine import Database, open_database
from desktop_app.db.models import AuditEvent, AutoRenewal, Policy, Term
from desktop_app.services import book
from tests.engine_procs import bulk, tick_proc
from tests.engine_procs.recording_plugin import read_calls

NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
PROCESSES = 3
MISSED = {"postgresql": 700, "sqlite": 150}  # auto-renewals with all three due
TRIGGERS = {"postgresql": 2000, "sqlite": 450}
PROCESS_SECONDS = 240


@pytest.mark.slow
@pytest.mark.parametrize("book", ["missed", "daily"], ids=["create-accept-issue", "daily"])
def test_three_processes_fire_every_trigger_exactly_once(
    db_url: str, tmp_path: Path, book: str
) -> None:
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    db = open_database(db_url)
    try:
        if book == "missed":
            built = bulk.build_book(db, bulk.due_term_ends(NOW, MISSED[backend], events=3))
            groups = [(built, 3, bulk.EVENTS)]
        else:
            daily = bulk.build_daily_book(db, NOW, TRIGGERS[backend])
            groups = [
                (daily.creates, 1, ("create",)),
                (daily.accepts, 2, ("accept",)),
                (daily.issues, 3, ("issue",)),
            ]
    finally:
        db.dispose()
    expected = {(e, i) for g, _n, due in groups for i in g.auto_renewal_ids for e in due}
    assert len(expected) >= TRIGGERS[backend]

    log = tmp_path / "plugin.log"
    barrier = tmp_path / "go"
    env = tick_proc.process_env(log)
    procs, outs, readies = [], [], []
    for n in range(PROCESSES):
        ready, out = tmp_path / f"ready{n}", tmp_path / f"out{n}.jsonl"
        command = tick_proc.tick_command(db_url, NOW, barrier, ready)
        procs.append(tick_proc.start(command, env, out))
        outs.append(out)
        readies.append(ready)
    try:
        tick_proc.wait_ready(readies, procs)
        barrier.touch()
        codes = [p.wait(timeout=PROCESS_SECONDS) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    errors = [o.with_suffix(".err").read_text() for o in outs]
    assert codes == [0] * PROCESSES, errors

    # What the database holds: every effect once, nothing half done.
    db = open_database(db_url)
    try:
        for group, events, _due in groups:
            bulk.check_all_fired_once(db, group.auto_renewal_ids, group.term_ids, events)
    finally:
        db.dispose()

    # What the processes said they did: each trigger once, as created/accepted/issued.
    reported = [a for out in outs for a in tick_proc.reported_actions(out)]
    said = Counter((a["event"], a["auto_renewal_id"]) for a in reported)
    assert set(said) == expected
    assert max(said.values()) == 1, [k for k, n in said.items() if n > 1][:5]
    outcomes = Counter((a["event"], a["outcome"]) for a in reported)
    # "adopted": a process that had finished firing ran the housekeeping, whose
    # renewal-window chore opened the card first; the create trigger then took it over.
    # Still one renewal per term (checked above).
    due = Counter(e for e, _i in expected)
    assert outcomes["create", "created"] + outcomes["create", "adopted"] == due["create"]
    assert (outcomes["accept", "accepted"], outcomes["issue", "issued"]) == (
        due["accept"],
        due["issue"],
    )

    # What the plugin saw: each (event, auto-renewal) once, and from more than one process.
    calls = read_calls(log)
    seen = Counter((event, ar_id) for event, ar_id, _pid in calls)
    assert set(seen) == expected
    assert max(seen.values()) == 1, [k for k, n in seen.items() if n > 1][:5]
    workers = {pid for _e, _a, pid in calls}
    if backend == "postgresql":
        # SKIP LOCKED lets them work side by side. (On SQLite one writer at a time holds
        # the file, and the one that has it takes the next batch before a waiter wakes.)
        assert len(workers) >= 2, "one process did all the work: the test did not overlap them"


# --------------------------------------------------------------------------- the builder


def _row(obj: object, skip: set[str]) -> dict[str, object]:
    table = type(obj).__table__  # type: ignore[attr-defined]
    return {c.name: getattr(obj, c.key) for c in table.columns if c.name not in skip}


def test_bulk_rows_equal_what_the_services_write(db: Database) -> None:
    """The builder's rows must be the services' rows, or the process tests prove nothing."""
    admin = bulk.ensure_staff_and_plan(db)
    end = datetime(2026, 5, 17, 4, tzinfo=UTC)
    built = bulk.build_book(db, [end])
    account = book.create_account(
        db, admin, "Service Insured", producer=bulk.PRODUCER, csr=bulk.CSR, plan=bulk.PLAN
    )
    made = book.add_policy(
        db,
        admin,
        account.id,
        "SVC-1",
        bulk.CARRIER,
        bulk.LINE,
        end - timedelta(days=365),
        end,
        str(bulk.PREMIUM),
    )
    ids = {"id", "created_at", "policy_id", "term_id", "account_id", "version"}
    with db.read_session() as session:
        ours = session.scalars(
            select(AutoRenewal).where(AutoRenewal.id == built.auto_renewal_ids[0])
        ).one()
        theirs = session.scalars(select(AutoRenewal).where(AutoRenewal.policy_id == made.id)).one()
        assert _row(ours, ids) == _row(theirs, ids)
        assert ours.next_due_at == ours.create_time
        assert (ours.version, ours.state) == (theirs.version, theirs.state)
        our_term = session.get(Term, built.term_ids[0])
        their_term = session.scalars(select(Term).where(Term.policy_id == made.id)).one()
        assert _row(our_term, ids) == _row(their_term, ids)
        our_policy = session.get(Policy, built.policy_ids[0])
        their_policy = session.get(Policy, made.id)
        assert _row(our_policy, ids | {"policy_number"}) == _row(
            their_policy, ids | {"policy_number"}
        )
        for action in ("policy.create", "auto_renewal.create"):
            kinds = {"policy.create": "policies", "auto_renewal.create": "auto_renewals"}
            ours_audit = session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == action,
                    AuditEvent.object_id
                    == (built.policy_ids[0] if action == "policy.create" else ours.id),
                )
            ).one()
            theirs_audit = session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == action,
                    AuditEvent.object_id == (made.id if action == "policy.create" else theirs.id),
                )
            ).one()
            assert ours_audit.object_type == theirs_audit.object_type == kinds[action]
            assert set(ours_audit.changes) == set(theirs_audit.changes)
            for key in ("term", "premium", "term_end", "create_time", "issue_time", "plan"):
                if key in theirs_audit.changes:
                    assert ours_audit.changes[key] == theirs_audit.changes[key], key
