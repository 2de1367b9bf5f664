"""The admin's units of work: users, stages, checklist templates, plans, agency settings,
the timer service's state and the database connection (both backends)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import keyring
import pytest
from keyring.backends.fail import Keyring as FailKeyring
from sqlalchemy import func, select

from desktop_app import paths, secrets
from desktop_app.db.engine import Database
from desktop_app.db.models import AuditEvent, DocumentRequirement, PipelineStage
from desktop_app.domain.enums import AccessLevel, AutoRenewalState, Role
from desktop_app.domain.stages import DEFAULT_STAGES
from desktop_app.engine import timer
from desktop_app.errors import PermissionDenied, RuleViolation, StaleEdit
from desktop_app.services import admin as svc
from desktop_app.services import auto_renewals, book, connection, demo, renewals, users
from desktop_app.services.unit import TIMER_USER, Actor
from desktop_app.settings import Settings
from tests.helpers import MemoryKeyring, dump_database, small_book

# --------------------------------------------------------------------------- helpers


def audit_actions(db: Database) -> list[str]:
    with db.read_session() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def stage_positions(db: Database) -> list[tuple[str, int]]:
    """(key, position) of every stage, active ones first, in order."""
    with db.read_session() as s:
        rows = s.execute(
            select(PipelineStage.key, PipelineStage.position, PipelineStage.active).order_by(
                PipelineStage.position
            )
        ).all()
    return [(k, p) for k, p, _a in rows]


def assert_positions_contiguous(db: Database) -> None:
    positions = [p for _k, p in stage_positions(db)]
    assert positions == list(range(1, len(positions) + 1))
    for stage in svc.list_stages(db):
        assert stage.position <= len(svc.list_stages(db))


def keys(db: Database) -> list[str]:
    return [s.key for s in svc.list_stages(db)]


def stage(db: Database, key: str) -> svc.StageInfo:
    return next(s for s in svc.stages_for_admin(db) if s.key == key)


# --------------------------------------------------------------------------- permissions

# operation name → callable(db, admin_actor, acting_actor)
OPERATIONS: dict[str, Callable] = {
    "update user": lambda db, a, x: users.update_user(db, x, "admin", full_name="Boss"),
    "deactivate user": lambda db, a, x: users.deactivate_user(db, x, "morgan"),
    "reactivate user": lambda db, a, x: users.reactivate_user(db, x, "admin"),
    "reorder stage": lambda db, a, x: svc.reorder_stage(db, x, "gathering", 1),
    "add stage": lambda db, a, x: svc.add_stage(db, x, "Underwriting", after="gathering"),
    "deactivate stage": lambda db, a, x: svc.deactivate_stage(db, x, "marketing"),
    "add template": lambda db, a, x: svc.add_template(db, x, "WORK", "Experience mod"),
    "update template": lambda db, a, x: svc.update_template(db, x, 1, required=False),
    "remove template": lambda db, a, x: svc.remove_template(db, x, 1),
    "move template": lambda db, a, x: svc.move_template(db, x, 2, -1),
    "update plan": lambda db, a, x: svc.update_plan(
        db,
        x,
        1,
        name="Standard",
        create_lead_days=90,
        accept_lead_days=30,
        issue_lead_days=None,
        new_term_months=12,
        transaction_type="renewal",
        generate_auto_renewals=True,
    ),
    "agency settings": lambda db, a, x: svc.save_agency_settings(
        db, x, time_zone="America/Chicago"
    ),
    "save connection": lambda db, a, x: connection.save_connection(
        db, x, "postgresql://rd@db.example/renewals", "s3cret"
    ),
}


@pytest.fixture
def staffed(db: Database, admin: Actor, make_user) -> dict[str, Actor]:  # type: ignore[no-untyped-def]
    auto_renewals.add_plan(db, admin, "Standard", create_lead_days=60, accept_lead_days=30)
    return {
        "producer": make_user("producer", "pat"),
        "csr": make_user("csr", "casey"),
        "manager": make_user("manager", "morgan"),
    }


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("role", ["producer", "csr", "manager"])
def test_only_admins_configure(db, admin, staffed, operation, role) -> None:  # type: ignore[no-untyped-def]
    before = dump_database(db)
    settings_before = paths.settings_path().exists()
    if operation == "update plan" and role == "manager":  # managers configure plans too
        OPERATIONS[operation](db, admin, staffed[role])
        assert audit_actions(db)[-1] == "plan.update"
        return
    with pytest.raises(PermissionDenied, match="may not"):
        OPERATIONS[operation](db, admin, staffed[role])
    assert dump_database(db) == before
    assert paths.settings_path().exists() == settings_before
    assert keyring.get_keyring().store == {}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- users


def test_users_deactivate_reactivate_and_rename_are_audited(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("csr", "casey")
    casey = users.get_user(db, "casey")
    off = users.deactivate_user(db, admin, "casey", expected_version=casey.version)
    assert not off.active
    assert "casey" not in [u.username for u in users.list_users(db)]
    assert "casey" in [u.username for u in users.list_staff(db)]
    with pytest.raises(RuleViolation, match="already deactivated"):
        users.deactivate_user(db, admin, "casey")
    on = users.reactivate_user(db, admin, "casey", expected_version=off.version)
    assert on.active and on.version > off.version
    renamed = users.update_user(db, admin, "casey", full_name="Casey Reyes")
    assert renamed.full_name == "Casey Reyes"
    assert audit_actions(db)[-3:] == ["user.deactivate", "user.reactivate", "user.update"]
    # a copy loaded before those changes is stale
    with pytest.raises(StaleEdit, match="The user casey was changed by admin"):
        users.set_role(db, admin, "casey", Role.MANAGER, expected_version=casey.version)
    with pytest.raises(StaleEdit):
        users.deactivate_user(db, admin, "casey", expected_version=casey.version)


def test_the_last_admin_stays(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    before = dump_database(db)
    with pytest.raises(RuleViolation, match="cannot deactivate yourself"):
        users.deactivate_user(db, admin, "admin")
    with pytest.raises(RuleViolation, match="last admin cannot give up"):
        users.set_role(db, admin, "admin", Role.CSR)
    assert dump_database(db) == before
    second = make_user("admin", "ada")
    # with two admins, one may step down or deactivate the other
    users.deactivate_user(db, second, "admin")
    with pytest.raises(RuleViolation, match="cannot deactivate yourself"):
        users.deactivate_user(db, second, "ada")
    users.reactivate_user(db, second, "admin")
    users.set_role(db, admin, "admin", Role.MANAGER)
    assert users.get_user(db, "admin").role is Role.MANAGER
    with pytest.raises(RuleViolation, match="last admin cannot give up"):
        users.set_role(db, second, "ada", Role.CSR)


def test_the_timer_service_user_is_neither_listed_nor_editable(db, admin) -> None:  # type: ignore[no-untyped-def]
    assert TIMER_USER not in [u.username for u in users.list_staff(db)]
    before = dump_database(db)
    for change in (
        lambda: users.set_role(db, admin, TIMER_USER, Role.ADMIN),
        lambda: users.reactivate_user(db, admin, TIMER_USER),
        lambda: users.update_user(db, admin, TIMER_USER, full_name="Robot"),
    ):
        with pytest.raises(RuleViolation, match="timer service's own user"):
            change()
    assert dump_database(db) == before


# --------------------------------------------------------------------------- stages


def test_reorder_keeps_positions_unique_and_contiguous(db, admin) -> None:  # type: ignore[no-untyped-def]
    default = [s.key for s in DEFAULT_STAGES]
    assert keys(db) == default
    gathering = stage(db, "gathering")
    moved = svc.reorder_stage(db, admin, "gathering", 1, expected_version=gathering.version)
    assert [s.key for s in moved] == keys(db)
    assert keys(db)[:3] == ["upcoming", "marketing", "gathering"]
    assert_positions_contiguous(db)
    svc.reorder_stage(db, admin, "lost", 1)
    assert keys(db)[-2:] == ["non_renewed", "lost"]
    svc.add_stage(db, admin, "Underwriting review", after="marketing", sla_days=5)
    svc.reorder_stage(db, admin, "underwriting_review", -1)
    assert keys(db)[:4] == ["upcoming", "underwriting_review", "marketing", "gathering"]
    assert_positions_contiguous(db)
    assert "stage.reorder" in audit_actions(db)
    # the copy loaded before the moves is stale
    with pytest.raises(StaleEdit, match="The stage Gathering info was changed by admin"):
        svc.reorder_stage(db, admin, "gathering", -1, expected_version=gathering.version)


@pytest.mark.parametrize(
    ("key", "offset", "reason"),
    [
        ("upcoming", -1, "Upcoming is already the first stage"),
        ("non_renewed", 1, "already the last stage"),
        ("bound", 1, "Bound is an open stage, so it must come before Renewed"),
        ("bound", -1, "Bound must come before Proposal sent|Proposal sent must come before"),
        ("gathering", -1, "New renewals open in Gathering info|first stage"),
        ("upcoming", 1, "New renewals open in Gathering info|first stage"),
    ],
)
def test_reorders_that_break_the_pipeline_are_refused(db, admin, key, offset, reason) -> None:  # type: ignore[no-untyped-def]
    # give "gathering" a criterion a new renewal cannot meet, so it cannot become first
    svc.update_stage(db, admin, "gathering", entry_criteria=["next_action", "new_premium"])
    before = dump_database(db)
    with pytest.raises(RuleViolation, match=reason):
        svc.reorder_stage(db, admin, key, offset)
    assert dump_database(db) == before


def test_the_first_stage_only_requires_a_next_action(db, admin) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuleViolation, match=r"New renewals open in Upcoming.*the new premium"):
        svc.update_stage(db, admin, "upcoming", entry_criteria=["next_action", "new_premium"])
    with pytest.raises(RuleViolation, match="Every open stage needs a next action"):
        svc.update_stage(db, admin, "marketing", entry_criteria=["required_documents"])
    # outcome stages need no next action
    won = svc.update_stage(db, admin, "renewed", entry_criteria=["transaction_issued"])
    assert won.entry_criteria == ("transaction_issued",)


def test_add_stage_between_open_stages_and_the_board_obeys_it(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    b = small_book(db, admin, make_user)
    added = svc.add_stage(
        db,
        admin,
        "Loss control visit",
        after="upcoming",
        sla_days=10,
        entry_criteria=["next_action", "new_premium"],
    )
    assert (added.key, added.kind.value, added.implied_state) == (
        "loss_control_visit",
        "open",
        None,
    )
    assert not added.built_in
    assert keys(db)[:3] == ["upcoming", "loss_control_visit", "gathering"]
    assert_positions_contiguous(db)
    with pytest.raises(RuleViolation, match="Cannot move to Loss control visit: it needs the new"):
        renewals.move_stage(db, b.csr, b.renewal_id, "loss_control_visit")
    with pytest.raises(RuleViolation, match="already a stage named 'Bound'"):
        svc.add_stage(db, admin, "bound", after="upcoming")
    with pytest.raises(RuleViolation, match="after an open stage, and Renewed is an outcome"):
        svc.add_stage(db, admin, "Celebration", after="renewed")
    events = [a for a in audit_actions(db) if a.startswith("stage.")]
    assert "stage.create" in events


def test_an_added_stage_with_renewals_cannot_be_deactivated(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    b = small_book(db, admin, make_user)
    added = svc.add_stage(db, admin, "Pre-renewal call", after="upcoming")
    renewals.move_stage(db, b.csr, b.renewal_id, "pre_renewal_call")
    assert stage(db, "pre_renewal_call").renewals == 1
    before = dump_database(db)
    with pytest.raises(RuleViolation, match="1 renewal is in Pre-renewal call; move them"):
        svc.deactivate_stage(db, admin, "pre_renewal_call")
    with pytest.raises(RuleViolation, match="one of the standard stages"):
        svc.deactivate_stage(db, admin, "marketing")
    assert dump_database(db) == before
    renewals.move_stage(db, b.csr, b.renewal_id, "gathering")
    current = stage(db, "pre_renewal_call")
    with pytest.raises(StaleEdit):
        svc.deactivate_stage(db, admin, "pre_renewal_call", expected_version=added.version - 1)
    svc.deactivate_stage(db, admin, "pre_renewal_call", expected_version=current.version)
    assert "pre_renewal_call" not in keys(db)
    assert_positions_contiguous(db)
    assert "stage.deactivate" in audit_actions(db)
    # the same name brings it back, at the new place
    again = svc.add_stage(db, admin, "Pre-renewal call", after="marketing")
    assert again.id == added.id
    assert keys(db).index("pre_renewal_call") == keys(db).index("marketing") + 1
    assert_positions_contiguous(db)


# --------------------------------------------------------------------------- templates


def _checklist(db: Database, renewal_id: int) -> list[tuple[str, bool]]:
    with db.read_session() as s:
        rows = s.execute(
            select(DocumentRequirement.document_type, DocumentRequirement.required)
            .where(DocumentRequirement.renewal_id == renewal_id)
            .order_by(DocumentRequirement.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_template_edits_apply_to_new_renewals_only(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    b = small_book(db, admin, make_user)  # a WORK renewal
    old = _checklist(db, b.renewal_id)
    assert old == [("Payroll report", True), ("Loss runs", True), ("ACORD 130", True)]
    work = svc.list_templates(db, "WORK")
    assert [t.position for t in work] == [1, 2, 3]
    payroll, loss_runs, acord = work
    svc.add_template(
        db, admin, "WORK", "Experience mod worksheet", required=False, access_level="sensitive"
    )
    svc.update_template(
        db, admin, acord.id, expected_version=acord.version, document_type="ACORD 130 (signed)"
    )
    svc.remove_template(db, admin, payroll.id, expected_version=payroll.version)
    svc.move_template(db, admin, loss_runs.id, 1)
    now = svc.list_templates(db, "WORK")
    assert [(t.document_type, t.position) for t in now] == [
        ("ACORD 130 (signed)", 1),
        ("Loss runs", 2),
        ("Experience mod worksheet", 3),
    ]
    assert now[2].access_level is AccessLevel.SENSITIVE
    assert _checklist(db, b.renewal_id) == old  # the open renewal keeps its checklist

    end = datetime.combine(date.today() + timedelta(days=90), datetime.min.time(), UTC)
    policy = book.add_policy(
        db, admin, b.account_id, "WC-000999", "Travelers", "WORK", end - timedelta(days=365), end
    )
    card = renewals.open_renewal(
        db, admin, policy.id, next_action="Ask for payroll", owner="casey", due=date.today()
    )
    assert _checklist(db, card.id) == [
        ("ACORD 130 (signed)", True),
        ("Loss runs", True),
        ("Experience mod worksheet", False),
    ]
    actions = audit_actions(db)
    for action in ("template.create", "template.update", "template.delete", "template.reorder"):
        assert action in actions


def test_template_rules(db, admin) -> None:  # type: ignore[no-untyped-def]
    loss_runs = next(t for t in svc.list_templates(db, "WORK") if t.document_type == "Loss runs")
    before = dump_database(db)
    with pytest.raises(RuleViolation, match="The WORK checklist already has Loss runs"):
        svc.add_template(db, admin, "work", "loss runs")
    with pytest.raises(RuleViolation, match="needs a document type"):
        svc.add_template(db, admin, "WORK", "  ")
    with pytest.raises(RuleViolation, match="not an access level"):
        svc.add_template(db, admin, "WORK", "Fleet list", access_level="secret")
    with pytest.raises(RuleViolation, match=r"already the (first|last) document"):
        svc.move_template(db, admin, loss_runs.id, 5)
    assert dump_database(db) == before
    svc.update_template(db, admin, loss_runs.id, required=False)
    with pytest.raises(StaleEdit, match="The WORK checklist line Loss runs was changed"):
        svc.update_template(
            db, admin, loss_runs.id, expected_version=loss_runs.version, required=True
        )
    # a new line of business gets its own checklist, and is listed from then on
    svc.add_template(db, admin, "MARINE", "Vessel survey")
    assert "MARINE" in svc.template_lines(db)


# --------------------------------------------------------------------------- plans


def test_update_plan_is_audited_and_leaves_existing_auto_renewals(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    demo.load_demo(db, admin, policies=30, seed=3)
    usage = svc.plans_for_admin(db)
    assert usage and all(u.accounts >= 0 for u in usage)
    plan = usage[0].plan
    with db.read_session() as s:
        from desktop_app.db.models import AutoRenewal

        triggers = s.execute(
            select(AutoRenewal.id, AutoRenewal.create_time).order_by(AutoRenewal.id)
        ).all()
    changed = svc.update_plan(
        db,
        admin,
        plan.id,
        expected_version=plan.version,
        name=plan.name + " (revised)",
        create_lead_days=75,
        accept_lead_days=None,
        issue_lead_days=None,
        new_term_months=6,
        transaction_type="renewal",
        generate_auto_renewals=False,
    )
    assert (changed.create_lead_days, changed.accept_lead_days, changed.new_term_months) == (
        75,
        None,
        6,
    )
    with db.read_session() as s:
        from desktop_app.db.models import AutoRenewal

        assert (
            s.execute(
                select(AutoRenewal.id, AutoRenewal.create_time).order_by(AutoRenewal.id)
            ).all()
            == triggers
        )
    assert audit_actions(db)[-1] == "plan.update"
    before = dump_database(db)
    with pytest.raises(StaleEdit):
        svc.update_plan(
            db,
            admin,
            plan.id,
            expected_version=plan.version,
            name=plan.name,
            create_lead_days=60,
            accept_lead_days=30,
            issue_lead_days=15,
            new_term_months=12,
            transaction_type="renewal",
            generate_auto_renewals=True,
        )
    with pytest.raises(RuleViolation, match="cannot be more than the create lead days"):
        svc.update_plan(
            db,
            admin,
            plan.id,
            name="Odd",
            create_lead_days=10,
            accept_lead_days=30,
            issue_lead_days=None,
            new_term_months=12,
            transaction_type="renewal",
            generate_auto_renewals=True,
        )
    assert dump_database(db) == before


# --------------------------------------------------------------------------- agency settings, timer


def test_agency_settings_in_one_unit_of_work(db, admin) -> None:  # type: ignore[no-untyped-def]
    start = svc.agency_settings(db)
    assert start.time_zone == "UTC" and start.window_days["WORK"] == 120
    before = dump_database(db)
    with pytest.raises(RuleViolation, match="not a time zone name"):
        svc.save_agency_settings(db, admin, time_zone="Mars/Olympus", window_days={"WORK": 90})
    with pytest.raises(RuleViolation, match="WORK must be from 1 to 365"):
        svc.save_agency_settings(db, admin, window_days={"WORK": 0})
    assert dump_database(db) == before
    saved = svc.save_agency_settings(
        db, admin, time_zone="America/Chicago", window_days={"WORK": 90, "HOME": 60}
    )
    assert saved.time_zone == "America/Chicago"
    assert saved.window_days["WORK"] == 90
    assert svc.agency_settings(db) == saved
    assert audit_actions(db)[-2:] == ["setting.change", "setting.change"]
    # unchanged values write nothing
    again = dump_database(db)
    svc.save_agency_settings(db, admin, time_zone="America/Chicago", window_days={"WORK": 90})
    assert dump_database(db) == again


def test_timer_status_reports_the_ledger_and_auto_renewals(db, admin) -> None:  # type: ignore[no-untyped-def]
    demo.load_demo(db, admin, policies=60, seed=1)
    report = timer.tick(db)
    status = svc.timer_status(db)
    with db.read_session() as s:
        from desktop_app.db.models import AutoRenewal, TimerFiring

        by_state = dict(
            s.execute(select(AutoRenewal.state, func.count()).group_by(AutoRenewal.state)).all()
        )
        firings = s.scalar(select(func.count()).select_from(TimerFiring))
        next_due = s.scalar(
            select(func.min(AutoRenewal.next_due_at)).where(
                AutoRenewal.state == AutoRenewalState.ACTIVE
            )
        )
    assert {k: v for k, v in status.by_state.items() if v} == by_state
    assert status.errors_total == by_state.get(AutoRenewalState.ERROR, 0)
    assert len(status.errors) == status.errors_total
    assert all(e.error for e in status.errors)
    assert len(status.firings) == min(50, firings)
    assert [f.fired_at for f in status.firings] == sorted(
        (f.fired_at for f in status.firings), reverse=True
    )
    assert status.next_due_at == next_due
    assert report.housekeeping and status.last_housekeeping == report.now


# --------------------------------------------------------------------------- connection


def test_connection_to_a_good_database(db_url: str, db: Database) -> None:
    check = connection.check_connection(db_url)
    assert check.ok, check.sentence
    assert check.sentence.startswith(f"Connected to {db.describe()}: a Renewal Desk database")
    assert "up to date" in check.sentence and check.revision == check.head


def test_connection_to_an_empty_postgres_database(postgres) -> None:  # type: ignore[no-untyped-def]
    name = postgres.new_database(migrated=False)
    check = connection.check_connection(postgres.url(name))
    assert check.ok and "it is empty, and Renewal Desk will set it up" in check.sentence


def test_connection_to_sqlite_paths(tmp_path: Path) -> None:
    new = tmp_path / "new folder" / "desk.sqlite3"
    check = connection.check_connection(connection.sqlite_url(new))
    assert check.ok
    assert check.sentence == (
        f"There is no database at {new} yet; Renewal Desk will create one there the next "
        "time it starts."
    )
    assert not new.parent.exists()  # testing creates nothing

    junk = tmp_path / "notes.sqlite3"
    junk.write_text("shopping list\n" * 200)
    check = connection.check_connection(connection.sqlite_url(junk))
    assert not check.ok
    assert check.sentence.startswith(f"The database (SQLite file {junk}) cannot be opened")

    under_a_file = junk / "desk.sqlite3"
    check = connection.check_connection(connection.sqlite_url(under_a_file))
    assert not check.ok and "is not a folder" in check.sentence

    check = connection.check_connection(connection.sqlite_url(tmp_path))
    assert not check.ok and check.sentence == f"{tmp_path} is a folder, not a database file."

    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    check = connection.check_connection(connection.sqlite_url(newer))
    assert not check.ok and "upgraded by a newer version of Renewal Desk" in check.sentence

    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE recipes (id INTEGER PRIMARY KEY)")
    check = connection.check_connection(connection.sqlite_url(foreign))
    assert not check.ok and "not Renewal Desk's (recipes)" in check.sentence


def test_connection_to_an_unreachable_server_is_a_sentence() -> None:
    url = connection.postgres_url("127.0.0.1", 1, "renewals", "rd")
    check = connection.check_connection(url, password="hunter2-secret")
    assert not check.ok
    assert check.sentence.startswith("The database (PostgreSQL 127.0.0.1/renewals) cannot be")
    assert "hunter2" not in check.sentence and "hunter2" not in check.url
    bad = connection.check_connection("mysql://me@somewhere/db")
    assert not bad.ok and "SQLite or PostgreSQL" in bad.sentence
    with pytest.raises(Exception, match="Fill in the PostgreSQL server and user"):
        connection.postgres_url("", 5432, "renewals", " ")


def test_connection_with_a_wrong_password_says_so_without_it(postgres) -> None:  # type: ignore[no-untyped-def]
    # the test server trusts every login, so a wrong password still connects: the sentence
    # must simply never contain it
    url = postgres.url(postgres.template)
    check = connection.check_connection(url, password="not-the-password")
    assert "not-the-password" not in check.sentence + check.url


def test_save_connection_writes_settings_and_keyring_only(db, admin) -> None:  # type: ignore[no-untyped-def]
    url = connection.postgres_url("db.example", 5433, "renewals", "rd")
    saved = connection.save_connection(db, admin, url, "s3cret-pw")
    assert saved.password_stored
    assert "next time it starts" in saved.sentence and "PostgreSQL db.example/renewals" in (
        saved.sentence
    )
    text = paths.settings_path().read_text()
    assert "s3cret" not in text
    assert json.loads(text)["database_url"] == "postgresql+psycopg://rd@db.example:5433/renewals"
    assert Settings.load().database_url == saved.url
    key = secrets.account_key("rd", "db.example", 5433, "renewals")
    assert secrets.get_password(key) == "s3cret-pw"
    assert audit_actions(db)[-1] == "database.connection"
    with db.read_session() as s:
        changes = s.scalar(select(AuditEvent.changes).order_by(AuditEvent.id.desc()).limit(1))
    assert "s3cret" not in json.dumps(changes)
    info = connection.current_connection(db)
    assert info.saved_url == saved.url and info.keyring_available

    # a SQLite file needs no password
    path = Path(paths.data_dir()) / "other.sqlite3"
    sqlite_saved = connection.save_connection(db, admin, connection.sqlite_url(path))
    assert not sqlite_saved.password_stored
    assert Settings.load().database_url == f"sqlite+pysqlite:///{path}"


def test_save_connection_without_a_keyring_stores_the_password_nowhere(db, admin) -> None:  # type: ignore[no-untyped-def]
    keyring.set_keyring(FailKeyring())
    try:
        saved = connection.save_connection(
            db, admin, "postgresql://rd:pw-in-url-42@db.example/renewals"
        )
        assert not connection.current_connection(db).keyring_available
    finally:
        keyring.set_keyring(MemoryKeyring())
    assert not saved.password_stored
    assert "No safe system keyring" in saved.sentence
    assert "not saved anywhere" in saved.sentence
    assert "pw-in-url-42" not in paths.settings_path().read_text()
    assert "pw-in-url-42" not in saved.sentence + saved.url
    for path in Path(paths.config_dir()).parent.rglob("*"):
        if path.is_file():
            assert b"pw-in-url-42" not in path.read_bytes()
