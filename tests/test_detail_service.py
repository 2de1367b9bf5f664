"""The renewal detail read service (both backends): the card, tasks, documents by access
level, the activity timeline in words (people, the timer service, a plugin), terms with
their gaps, the auto-renewal and what fired."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from desktop_app.db.engine import Database
from desktop_app.db.models import DocumentRequirement, Renewal
from desktop_app.domain.enums import (
    AccessLevel,
    AuditSource,
    AutoRenewalState,
    DocumentStatus,
    TaskStatus,
)
from desktop_app.errors import NotFound, StaleEdit
from desktop_app.services import detail, renewals, transactions, work
from desktop_app.services.unit import Actor
from tests.engine.conftest import (
    ACCEPT_AT,
    CREATE_AT,
    NEW_END,
    NO_PLUGINS,
    TERM_END,
    PluginRecorder,
    build_book,
)
from tests.helpers import small_book


def _doc_id(db: Database, renewal_id: int, name: str) -> int:
    with db.read_session() as s:
        return s.scalars(
            select(DocumentRequirement.id).where(
                DocumentRequirement.renewal_id == renewal_id,
                DocumentRequirement.document_type == name,
            )
        ).one()


def test_the_card_its_tasks_and_documents(
    db: Database, admin: Actor, make_user: Callable[..., Actor]
) -> None:
    b = small_book(db, admin, make_user)
    task = work.add_task(db, b.csr, b.renewal_id, "Call Ann about payroll", due=date(2030, 1, 5))
    work.update_task(db, b.csr, task.id, owner="morgan")
    loss_runs = _doc_id(db, b.renewal_id, "Loss runs")
    work.receive_document(
        db, b.csr, loss_runs, on=date.today(), storage_link="https://files.example/loss.pdf"
    )
    renewals.update_renewal(db, b.csr, b.renewal_id, blocker_reason="Waiting on the insured")

    info = detail.renewal_detail(db, b.csr, b.renewal_id)
    s = info.summary
    assert (s.insured, s.policy_number, s.carrier, s.line_name) == (
        "Harbor Bakery LLC",
        "WC-000123",
        "The Hartford",
        "Workers compensation",
    )
    assert (s.stage_name, s.transaction_state.value) == ("Upcoming", "draft")
    assert s.days_left == 60
    assert s.premium is not None and str(s.premium) == "12400.00"
    assert (s.next_action, s.next_action_owner, s.next_action_owner_name) == (
        "Request payroll report",
        "casey",
        "Test Casey",
    )
    assert s.blocker_reason == "Waiting on the insured"
    assert s.version == 2
    assert [(t.title, t.owner, t.owner_name, t.status) for t in info.tasks] == [
        ("Call Ann about payroll", "morgan", "Test Morgan", TaskStatus.OPEN)
    ]
    assert [(d.document_type, d.status, d.required) for d in info.documents] == [
        ("Payroll report", DocumentStatus.MISSING, True),
        ("Loss runs", DocumentStatus.RECEIVED, True),
        ("ACORD 130", DocumentStatus.MISSING, True),
    ]
    assert info.documents[1].storage_link == "https://files.example/loss.pdf"
    assert info.auto_renewal is None
    assert [t.kind for t in info.terms] == ["term"]
    assert info.terms[0].renewed_here
    people = {p.username for p in info.people}
    assert {"pat", "otto", "casey", "morgan", "admin"} <= people
    assert "timer-service" not in people

    sentences = [e.sentence for e in info.timeline]
    assert sentences[:4] == [
        "Test Casey set the blocker to ‘Waiting on the insured’",
        "Test Casey marked ‘Loss runs’ received",
        "Test Casey assigned the task ‘Call Ann about payroll’ to Test Morgan",
        "Test Casey added the task ‘Call Ann about payroll’, due 01/05/2030",
    ]
    assert sentences[-1] == "admin added the policy"
    assert "admin created the renewal" in sentences
    assert [e.at for e in info.timeline] == sorted((e.at for e in info.timeline), reverse=True)
    assert {e.source for e in info.timeline[:4]} == {AuditSource.UI}


def test_the_timeline_shows_the_timer_service_and_a_plugin(
    db: Database, admin: Actor, make_user: Callable[..., Actor]
) -> None:
    """The timer service creates the renewal at its create trigger (source scheduler); at
    the accept trigger a plugin answers do not renew (source plugin)."""
    agency = build_book(db, admin, make_user)
    agency.tick(CREATE_AT)
    (renewal,) = agency.renewals()
    stop = PluginRecorder(
        answer=lambda r: (
            {"autoRenewalState": "doNotRenew"} if r["renewalEvent"] == "accept" else {}
        ),
        name="desktop_app.plugins.premium_threshold:plugin",
    )
    agency.tick(ACCEPT_AT, stop.plugin_set())
    work.request_document(db, agency.csr, _doc_id(db, renewal.id, "Loss runs"), on=date(2027, 6, 2))

    info = detail.renewal_detail(db, agency.csr, renewal.id, now=ACCEPT_AT + timedelta(days=1))
    entries = [(e.who, e.source, e.sentence) for e in info.timeline]
    assert entries[0] == ("Test Casey", AuditSource.UI, "Test Casey requested ‘Loss runs’")
    assert (
        "plugin premium_threshold",
        AuditSource.PLUGIN,
        "plugin premium_threshold set do-not-renew on the accept event",
    ) in entries
    assert (
        "Timer service",
        AuditSource.SCHEDULER,
        "Timer service created the renewal",
    ) in entries
    assert (
        "Timer service",
        AuditSource.SCHEDULER,
        "Timer service fired the create trigger",
    ) in entries
    assert ("admin", AuditSource.CLI, "admin created the auto-renewal from the plan Standard") in (
        entries
    )
    assert (
        "Timer service",
        AuditSource.SCHEDULER,
        "Timer service held the accept trigger (now do not renew)",
    ) in entries
    # newest first: the plugin's answer came after the renewal was created
    sentences = [e[2] for e in entries]
    assert sentences.index(
        "plugin premium_threshold set do-not-renew on the accept event"
    ) < sentences.index("Timer service created the renewal")

    ar = info.auto_renewal
    assert ar is not None
    assert ar.state is AutoRenewalState.DO_NOT_RENEW
    assert ar.manages_this_renewal and ar.on_latest_term
    assert ar.plan == "Standard"
    create, accept, issue = ar.triggers
    assert (create.event, create.outcome, create.fired_at) == ("create", "created", CREATE_AT)
    assert create.time == CREATE_AT
    assert (accept.event, accept.fired_at, accept.outcome) == ("accept", None, None)
    assert issue.time == TERM_END - timedelta(days=15)
    assert info.time_zone == "UTC"
    assert info.summary.days_left == (TERM_END.date() - (ACCEPT_AT + timedelta(days=1)).date()).days


def test_a_renewal_with_a_gap_shows_the_stretch_nothing_covers(
    db: Database, admin: Actor, make_user: Callable[..., Actor]
) -> None:
    agency = build_book(db, admin, make_user)
    effective = TERM_END + timedelta(days=14)
    created = transactions.create_renewal(
        db, agency.manager, agency.number, new_end=NEW_END, effective=effective
    )
    before = detail.renewal_detail(db, agency.manager, created.id)
    assert [(t.kind, t.label) for t in before.terms] == [
        ("term", "07/01/2026 → 07/01/2027"),
        (
            "planned_gap",
            "Not covered if this renewal is issued: 07/01/2027 → 07/15/2027 (14 days)",
        ),
    ]

    transactions.advance(db, agency.manager, created.id, "issued")
    after = detail.renewal_detail(db, agency.manager, created.id)
    assert [(t.kind, t.label, t.renewed_here, t.created_here) for t in after.terms] == [
        ("term", "07/01/2026 → 07/01/2027", True, False),
        ("gap", "Not covered: 07/01/2027 → 07/15/2027 (14 days)", False, False),
        ("term", "07/15/2027 → 07/01/2028", False, True),
    ]
    sentences = [e.sentence for e in after.timeline]
    assert "Test Morgan issued the renewal (now in Renewed)" in sentences
    assert "Test Morgan created the new term 07/15/2027 → 07/01/2028" in sentences
    assert "Test Morgan marked the auto-renewal issued" in sentences


def test_documents_the_reader_may_not_see_are_restricted_without_their_link(
    db: Database, admin: Actor, make_user: Callable[..., Actor]
) -> None:
    """Sensitive documents: the account team and managers; confidential ones: managers and
    admins. A producer outside the book sees neither link nor the activity history."""
    b = small_book(db, admin, make_user)
    payroll = _doc_id(db, b.renewal_id, "Payroll report")  # sensitive by template
    acord = _doc_id(db, b.renewal_id, "ACORD 130")
    work.receive_document(db, b.csr, payroll, storage_link="https://files.example/payroll.pdf")
    work.receive_document(db, b.csr, acord, storage_link=r"\\server\clients\acord.pdf")
    with db.write_session() as s:  # an admin-configured confidential document
        s.execute(
            update(DocumentRequirement)
            .where(DocumentRequirement.id == acord)
            .values(access_level=AccessLevel.CONFIDENTIAL)
        )
        s.commit()

    def seen(actor: Actor) -> dict[str, tuple[bool, str | None]]:
        info = detail.renewal_detail(db, actor, b.renewal_id)
        return {d.document_type: (d.restricted, d.storage_link) for d in info.documents}

    assert seen(b.manager) == {
        "Payroll report": (False, "https://files.example/payroll.pdf"),
        "Loss runs": (False, None),
        "ACORD 130": (False, r"\\server\clients\acord.pdf"),
    }
    assert seen(b.csr)["Payroll report"] == (False, "https://files.example/payroll.pdf")
    assert seen(b.csr)["ACORD 130"] == (True, None)
    assert seen(b.producer)["Payroll report"] == (False, "https://files.example/payroll.pdf")
    assert seen(b.producer)["ACORD 130"] == (True, None)
    outsider = detail.renewal_detail(db, b.other_producer, b.renewal_id)
    by_name = {d.document_type: d for d in outsider.documents}
    assert (by_name["Payroll report"].restricted, by_name["Payroll report"].storage_link) == (
        True,
        None,
    )
    assert by_name["Payroll report"].restricted_reason == (
        "A producer may only see sensitive documents in their own book."
    )
    assert by_name["ACORD 130"].restricted_reason == (
        "A producer may not see confidential documents."
    )
    assert by_name["Loss runs"].restricted  # sensitive by template too
    assert outsider.timeline == ()
    assert outsider.timeline_note == (
        "A producer may only read the activity history in their own book."
    )
    # the producer of the book reads its history
    own = detail.renewal_detail(db, b.producer, b.renewal_id)
    assert own.timeline and own.timeline_note is None


def test_an_unknown_renewal_is_one_sentence(db: Database, admin: Actor) -> None:
    with pytest.raises(NotFound, match=r"There is no renewal with id 999\."):
        detail.renewal_detail(db, admin, 999)


def test_a_stale_version_is_what_the_panel_sends_back(
    db: Database, admin: Actor, make_user: Callable[..., Actor]
) -> None:
    """The version the detail gives is the one update_renewal checks."""
    b = small_book(db, admin, make_user)
    seen = detail.renewal_detail(db, b.csr, b.renewal_id).summary.version
    renewals.update_renewal(db, b.manager, b.renewal_id, notes="Called", expected_version=seen)
    with db.read_session() as s:
        assert s.get(Renewal, b.renewal_id).notes == "Called"  # type: ignore[union-attr]
    with pytest.raises(StaleEdit, match="was changed by Test Morgan at"):
        renewals.update_renewal(db, b.csr, b.renewal_id, notes="Other", expected_version=seen)


def test_times_are_on_the_agency_wall_clock(
    db: Database, admin: Actor, make_user: Callable[..., Actor]
) -> None:
    from desktop_app.services import agency as agency_settings

    agency = build_book(db, admin, make_user)
    agency_settings.set_time_zone(db, admin, "America/Chicago")
    agency.tick(CREATE_AT, NO_PLUGINS)
    (renewal,) = agency.renewals()
    info = detail.renewal_detail(db, agency.manager, renewal.id)
    assert info.time_zone == "America/Chicago"
    ar = info.auto_renewal
    assert ar is not None
    assert ar.triggers[0].time is not None
    assert ar.triggers[0].time.utcoffset() == timedelta(hours=-5)
    assert ar.triggers[0].time == CREATE_AT
    assert info.summary.expiration == TERM_END
    assert info.summary.expiration_date == date(2027, 6, 30)  # midnight UTC is the evening before
    assert all(e.at.tzinfo is not None and e.at.utcoffset() != timedelta(0) for e in info.timeline)
