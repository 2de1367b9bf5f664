"""Set-based firing writes exactly what firing one event at a time does.

The timer service fires a batch's lone create, accept and issue triggers with a few
set-based statements (:data:`desktop_app.engine.timer.SET_BASED`). These tests build one
representative book, copy the database, tick the copy one event at a time (the flag off)
and the original set-based, and compare every row of every table, the ticks' reports and
what the plugin saw. Only wall-clock stamps (``created_at``, ``updated_at``, an audit
event's ``at``) may differ.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from desktop_app.db.engine import Database, open_database
from desktop_app.db.models import AutoRenewal, Base, Policy, TimerFiring
from desktop_app.domain.enums import AuditSource
from desktop_app.engine import timer
from desktop_app.engine.plugins import Plugin, PluginSet
from desktop_app.services import admin as admin_service
from desktop_app.services import agency as agency_settings
from desktop_app.services import auto_renewals, book, renewals, transactions
from desktop_app.services.unit import Actor, unit_of_work
from tests.engine.conftest import Book, PluginRecorder

NOW = datetime(2027, 5, 10, 12, tzinfo=UTC)  # creates due
LATER = datetime(2027, 5, 21, 12, tzinfo=UTC)  # the first accepts due, an issue
LATEST = datetime(2027, 6, 5, 12, tzinfo=UTC)  # issues and more accepts due
# an audit event's chain hash covers its time, so it differs with the clock too
WALL_CLOCK = {"created_at", "updated_at", "at", "hash"}


# --------------------------------------------------------------------------- the book


def _end(day: int, hour: int = 0) -> datetime:
    """A term end ``day`` days after 2027-06-01: its create is due at NOW (its accept not,
    from day 9 on)."""
    return datetime(2027, 6, 1, tzinfo=UTC) + timedelta(days=day, hours=hour)


def _build(agency: Book) -> None:
    """Policies whose create triggers come due together, covering every kind of firing."""
    db, admin = agency.db, agency.admin
    agency_settings.set_time_zone(db, admin, "America/Chicago")
    # A line whose checklist is empty, and one with a sensitive document.
    for template in admin_service.list_templates(db, "FLOOD"):
        admin_service.remove_template(db, admin, template.id)
    admin_service.add_template(db, admin, "HOME", "Roof photos", access_level="sensitive")
    short = auto_renewals.add_plan(
        db,
        admin,
        "Create only",
        create_lead_days=45,
        new_term_months=6,
        transaction_type="rewrite",
        generate_auto_renewals=False,
    )
    no_csr = book.create_account(db, admin, "Producer Only Inc", producer="pat", plan="Standard")
    nobody = book.create_account(db, admin, "Unowned LLC", plan="Standard")
    short_account = book.create_account(
        db, admin, "Short Plan Co", producer="pat", csr="casey", plan=short.name
    )
    ids: dict[str, int] = {}

    def add(number: str, end: datetime, **options: Any) -> None:
        ids[number] = agency.add_policy(number, start=end - timedelta(days=365), end=end, **options)

    add("P-BOTH", _end(3), lob="WORK")  # create and accept both due: missed triggers
    add("P-BOP", _end(9), lob="BOP")
    add("P-HOME", _end(10), lob="HOME", account_id=no_csr.id)
    add("P-FLOOD", _end(11), lob="FLOOD")
    add("P-ERR", _end(12), lob="CGL")
    add("P-DNR", _end(13), lob="PROP")
    add("P-ADOPT", _end(14), lob="BOP")
    add("P-SHORT", _end(14, 12), lob="BOP", account_id=short_account.id)
    add("P-DISC", _end(15), lob="AUTOP")
    add("P-POST", _end(16), lob="UMBRC")
    add("P-MAN", _end(17), lob="PL")
    add("P-TYPE", _end(18), lob="INMRC")
    add("P-POINT", _end(19), lob="DFIRE")
    add("P-NOPREM", _end(20), lob="WORK", premium="")
    add("P-NOBODY", _end(21), lob="CAUTO", account_id=nobody.id)
    add("P-HANDDNR", _end(22), lob="HOME")
    add("P-SIB", _end(10, 6), lob="WORK")  # a second card appears before its issue
    add("P-LATER", _end(60), lob="WORK")  # not due yet
    for n in range(8):  # plain ones, so that batches hold several in a row
        add(f"P-PLAIN{n}", _end(23 + n % 4, n), lob=("WORK", "BOP", "HOME", "CGL")[n % 4])
    # A card opened by hand: the create trigger adopts it.
    renewals.open_renewal(
        db,
        admin,
        ids["P-ADOPT"],
        next_action="Call the insured",
        owner="casey",
        due=date(2027, 5, 1),
    )
    # A card opened by hand that the auto-renewal was pointed at: the create does nothing.
    card = renewals.open_renewal(
        db, admin, ids["P-POINT"], next_action="Get the form", owner="pat", due=date(2027, 5, 3)
    )
    auto_renewals.update(db, admin, "P-POINT", renewal_id=card.id)
    auto_renewals.do_not_renew(db, admin, "P-HANDDNR")


def _answer(request: dict[str, Any]) -> Any:
    number, event = request["autoRenewal"]["policyNumber"], request["renewalEvent"]
    if (number, event) in (("P-ERR", "create"), ("P-TYPE", "issue")):
        raise RuntimeError("rating service unavailable")
    return {
        ("P-DNR", "create"): {"autoRenewalState": "doNotRenew"},
        ("P-DISC", "create"): {"autoRenewalState": "discarded"},
        ("P-POST", "create"): {"renewalTransactionCreateTime": "2027-05-20T09:00:00-05:00"},
        ("P-MAN", "create"): {"renewalTransactionCreateTime": None},
        ("P-TYPE", "create"): {"renewalTransactionType": "rewrite", "newTermDuration": 6},
        ("P-PLAIN1", "create"): {"autoRenewalState": "active"},
        ("P-HOME", "accept"): {"renewalTransactionType": "rewrite"},
        ("P-PLAIN2", "accept"): {"autoRenewalState": "doNotRenew"},
        ("P-PLAIN3", "accept"): {"renewalTransactionIssueTime": None},
        ("P-FLOOD", "issue"): {"newTermDuration": 24, "renewalTransactionType": "renewal"},
        ("P-BOP", "issue"): {"renewalTransactionIssueTime": "2027-06-20T00:00:00Z"},
    }.get((number, event))


def _second_card(db: Database) -> None:
    """A second renewal of P-SIB's term (the command line's ``renewal create`` allows it):
    issuing the first invalidates it."""
    with unit_of_work(db, Actor("admin", AuditSource.CLI)) as uow:
        policy = auto_renewals.find_policy(uow.session, "P-SIB")
        end = datetime(2028, 6, 30, 5, tzinfo=UTC)
        transactions.create_renewal_in(uow, policy, new_end=end, now=LATER)


def _ar_ids(db: Database, *numbers: str) -> set[int]:
    with db.read_session() as session:
        return set(
            session.scalars(
                select(AutoRenewal.id)
                .join(Policy, Policy.id == AutoRenewal.policy_id)
                .where(Policy.policy_number.in_(numbers))
            )
        )


# --------------------------------------------------------------------------- two copies


@contextmanager
def _copy_of(db: Database, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A second database holding exactly what ``db`` holds now."""
    db.dispose()
    if db.is_sqlite:
        assert db.sqlite_path is not None
        path = db.sqlite_path.with_name(f"copy-{uuid.uuid4().hex[:6]}.sqlite3")
        source, target = sqlite3.connect(db.sqlite_path), sqlite3.connect(path)
        with target:
            source.backup(target)
        source.close()
        target.close()
        copy = open_database(f"sqlite:///{path}")
        try:
            yield copy
        finally:
            copy.dispose()
        return
    server = request.getfixturevalue("postgres")
    name = f"rd_copy_{uuid.uuid4().hex[:8]}"
    server._execute(f'CREATE DATABASE "{name}" TEMPLATE "{db.url.database}"')
    copy = open_database(server.url(name))
    try:
        yield copy
    finally:
        copy.dispose()
        server.drop(name)


def _rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in key order, without wall-clock stamps."""
    out: dict[str, list[dict[str, Any]]] = {}
    with db.read_session() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            out[table.name] = [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in rows]
    return out


def _canonical(
    rows: dict[str, list[dict[str, Any]]], actions: list[list[dict[str, Any]]]
) -> tuple[dict[str, list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """The rows and reports with every id replaced by its rank in its table, so that two
    databases that differ only by the gaps a rolled-back insert leaves in PostgreSQL's
    sequences compare equal."""
    rank = {
        name: {row["id"]: n for n, row in enumerate(table_rows, 1)}
        for name, table_rows in rows.items()
        if table_rows and "id" in table_rows[0]
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for table in Base.metadata.sorted_tables:
        refs = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys}
        if "id" in table.c:
            refs["id"] = table.name
        fixed = []
        for row in rows[table.name]:
            row = dict(row)
            for column, target in refs.items():
                if row[column] is not None and target in rank:
                    row[column] = rank[target][row[column]]
            if table.name == "audit_events":
                if row["object_type"] in rank:
                    row["object_id"] = rank[row["object_type"]].get(row["object_id"])
                if "renewal_id" in row["changes"]:
                    row["changes"] = row["changes"] | {
                        "renewal_id": [
                            v and rank["renewals"][v] for v in row["changes"]["renewal_id"]
                        ]
                    }
            if table.name == "timer_firings":
                row["subject_id"] = rank["auto_renewals"][row["subject_id"]]
            fixed.append(row)
        out[table.name] = fixed
    reports = [
        [
            a
            | {
                "auto_renewal_id": rank["auto_renewals"][a["auto_renewal_id"]],
                "renewal_id": a["renewal_id"] and rank["renewals"][a["renewal_id"]],
            }
            for a in report
        ]
        for report in actions
    ]
    return out, reports


def _same_rows(got: dict[str, list[Any]], wanted: dict[str, list[Any]]) -> None:
    """Table by table; a failure shows only the rows that differ."""
    assert list(got) == list(wanted)
    for name in wanted:
        if got[name] != wanted[name]:
            extra = [r for r in got[name] if r not in wanted[name]]
            missing = [r for r in wanted[name] if r not in got[name]]
            raise AssertionError(f"{name}: extra {extra[:3]}, missing {missing[:3]}")


def _tick(db: Database, now: datetime, recorder: PluginRecorder, **options: Any) -> list[Any]:
    """One tick with two plugins: the recorder and one that never answers."""
    plugins = PluginSet(
        (Plugin("recorder", recorder), Plugin("silent", lambda request: None)), (), 5.0
    )
    report = timer.tick(db, now=now, plugins=plugins, housekeeping=False, **options)
    assert report.errors == []
    return report.actions


def _count_single_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Record every event fired through the one-event-at-a-time path."""
    calls: list[tuple[int, str]] = []
    original: Callable[..., Any] = timer._fire_event

    def counting(uow: Any, ar_id: int, event: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((ar_id, event.value))
        return original(uow, ar_id, event, *args, **kwargs)

    monkeypatch.setattr(timer, "_fire_event", counting)
    return calls


def _compare(
    agency: Book,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    moments: tuple[datetime, ...] = (NOW, LATER, LATEST),
    *,
    exact_ids: bool = True,
    before: dict[datetime, Callable[[Database], None]] | None = None,
    **options: Any,
) -> list[tuple[list[tuple[int, str]], list[Any]]]:
    """Tick a copy one at a time and the book set-based at each of ``moments`` (after
    ``before[moment]`` on both, if given); check that both end with the same rows, reports
    and plugin calls (``exact_ids`` False: up to gaps in the ids). Returns, per tick, the
    events the set-based run fired one at a time and its report."""
    before = before or {}
    with _copy_of(agency.db, request) as reference:
        one_by_one = PluginRecorder(_answer)
        with monkeypatch.context() as patch:
            patch.setattr(timer, "SET_BASED", False)
            expected = []
            for when in moments:
                before.get(when, lambda db: None)(reference)
                expected.append(_tick(reference, when, one_by_one, **options))
        calls = _count_single_events(monkeypatch)
        in_bulk = PluginRecorder(_answer)
        ticks: list[tuple[list[tuple[int, str]], list[Any]]] = []
        for when in moments:
            before.get(when, lambda db: None)(agency.db)
            calls.clear()
            actions = _tick(agency.db, when, in_bulk, **options)
            ticks.append((list(calls), actions))
        actual = [actions for _calls, actions in ticks]
        if exact_ids:
            _same_rows(_rows(agency.db), _rows(reference))
            assert actual == expected
            assert in_bulk.requests == one_by_one.requests
        else:
            got, got_reports = _canonical(_rows(agency.db), actual)
            wanted, wanted_reports = _canonical(_rows(reference), expected)
            _same_rows(got, wanted)
            assert got_reports == wanted_reports
            assert in_bulk.events == one_by_one.events
    return ticks


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("batch_size", [None, 4], ids=["default-batches", "batches-of-4"])
def test_set_based_creates_write_what_one_at_a_time_writes(
    agency: Book,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    batch_size: int | None,
) -> None:
    """Created, adopted, pointed-at, a plugin error, do not renew, discarded, postponed,
    manual, a changed type and duration, empty and sensitive checklists, owners from the
    CSR, the producer or nobody, a create-only plan, a missed create + accept, and later
    the accepts and an issue between set-based creates: the same rows, reports and plugin
    calls either way."""
    _build(agency)
    singles = _ar_ids(agency.db, "P-ADOPT", "P-BOTH")
    ticks = _compare(
        agency, request, monkeypatch, before={LATEST: _second_card}, batch_size=batch_size
    )
    (calls, actions), (_, later), (last_calls, last) = ticks
    outcomes = {a["policy_number"]: a["outcome"] for a in actions if a["event"] == "create"}
    assert outcomes["P-BOP"] == outcomes["P-TYPE"] == outcomes["P-NOBODY"] == "created"
    assert outcomes["P-ADOPT"] == "adopted" and outcomes["P-POINT"] == "no_action"
    assert outcomes["P-ERR"] == "error" and outcomes["P-DNR"] == outcomes["P-DISC"] == "stopped"
    assert outcomes["P-POST"] == "postponed" and outcomes["P-MAN"] == "manual"
    assert "P-HANDDNR" not in outcomes and "P-LATER" not in outcomes
    # Only the adoption and the missed create + accept went one event at a time.
    assert {ar_id for ar_id, _ in calls} == singles
    outcomes = {(a["policy_number"], a["event"]): a["outcome"] for a in later + last}
    assert outcomes["P-HOME", "accept"] == outcomes["P-ADOPT", "accept"] == "accepted"
    assert outcomes["P-PLAIN2", "accept"] == "stopped"
    assert outcomes["P-BOTH", "issue"] == outcomes["P-FLOOD", "issue"] == "issued"
    assert outcomes["P-BOP", "issue"] == "postponed" and outcomes["P-MAN", "issue"] == "no_action"
    assert outcomes["P-TYPE", "issue"] == outcomes["P-NOPREM", "accept"] == "error"
    assert outcomes["P-SIB", "issue"] == "issued"
    # At the last tick only the issue that invalidates a second card went one at a time.
    assert {ar_id for ar_id, _ in last_calls} == _ar_ids(agency.db, "P-SIB") & {
        a["auto_renewal_id"] for a in last
    }


def test_a_database_error_in_the_set_based_write_falls_back_to_one_at_a_time(
    agency: Book, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger row already there makes the set-based write fail; that batch is then fired
    one event at a time (with the plugin answers already given: the plugin is not asked
    twice), which leaves that firing to whoever wrote the row. Nothing is lost or doubled:
    the result equals firing one at a time from the start (on PostgreSQL up to the ids
    the rolled-back inserts took from the sequences)."""
    _build(agency)
    (flood,), (home,) = _ar_ids(agency.db, "P-FLOOD"), _ar_ids(agency.db, "P-HOME")
    fallen_back = _ar_ids(agency.db, "P-FLOOD", "P-BOP")
    with agency.db.write_session() as session:
        session.execute(
            insert(TimerFiring),
            [
                {
                    "kind": f"auto_renewal.{event}",
                    "subject_id": ar_id,
                    "detail": "",
                    "fired_at": NOW,
                    "outcome": "created",
                    "process": "another desktop",
                }
                for event, ar_id in (("create", flood), ("issue", home))
            ],
        )
        session.commit()
    (calls, actions), _later, (last_calls, last) = _compare(
        agency, request, monkeypatch, exact_ids=agency.db.is_sqlite
    )
    assert "P-FLOOD" not in {a["policy_number"] for a in actions}
    assert fallen_back <= {ar_id for ar_id, _ in calls}
    assert ("P-HOME", "issue") not in {(a["policy_number"], a["event"]) for a in last}
    assert (home, "issue") in last_calls


def test_many_creates_over_several_batches_match_one_at_a_time(
    agency: Book, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sixty lone creates in batches of 25, each with its checklist and owner."""
    for n in range(60):
        end = _end(10, n)
        agency.add_policy(
            f"M-{n:03d}",
            lob=("WORK", "BOP", "HOME")[n % 3],
            start=end - timedelta(days=365),
            end=end,
        )
    ((calls, actions),) = _compare(agency, request, monkeypatch, (NOW,), batch_size=25)
    assert len(actions) == 61 and {a["outcome"] for a in actions} == {"created"}
    assert calls == []
