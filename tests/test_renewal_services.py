"""Stage entry criteria, stale edits and the audit trail, through the services."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from desktop_app.db.models import AuditEvent, DocumentRequirement
from desktop_app.domain.enums import AuditSource, Outcome, TransactionState
from desktop_app.errors import RuleViolation, StaleEdit
from desktop_app.services import admin as admin_service
from desktop_app.services import renewals, work
from tests.helpers import dump_database, small_book


def test_invalid_stage_move_says_what_is_missing_and_writes_nothing(db, admin, make_user):
    book = small_book(db, admin, make_user)
    before = dump_database(db)
    with pytest.raises(RuleViolation) as refused:
        renewals.move_stage(db, book.csr, book.renewal_id, "marketing")
    assert str(refused.value) == (
        "Cannot move to Marketing / quoting: it needs the required documents received or "
        "waived (Payroll report, Loss runs, ACORD 130)."
    )
    assert dump_database(db) == before


def test_bound_needs_premium_and_new_term_dates(db, admin, make_user):
    book = small_book(db, admin, make_user)
    with pytest.raises(RuleViolation, match="the new premium and the new term's end date"):
        renewals.move_stage(db, book.csr, book.renewal_id, "bound")


def test_renewed_needs_an_issued_transaction(db, admin, make_user):
    book = small_book(db, admin, make_user)
    with pytest.raises(RuleViolation, match="the renewal transaction issued"):
        renewals.move_stage(db, book.manager, book.renewal_id, "renewed")


def test_move_after_documents_are_in(db, admin, make_user):
    book = small_book(db, admin, make_user)
    with db.read_session() as s:
        docs = s.scalars(
            select(DocumentRequirement).where(DocumentRequirement.renewal_id == book.renewal_id)
        ).all()
    for doc in docs:
        if doc.document_type == "Loss runs":
            work.waive_document(db, book.csr, doc.id, "Carrier has five clean years on file")
        else:
            work.receive_document(db, book.csr, doc.id, storage_link=r"\\files\bakery\doc.pdf")
    card = renewals.move_stage(db, book.csr, book.renewal_id, "marketing")
    assert card.stage_key == "marketing"
    renewals.update_renewal(db, book.csr, book.renewal_id, new_premium="$13,050.00")
    card = renewals.move_stage(db, book.csr, book.renewal_id, "proposal")
    assert card.transaction_state is TransactionState.QUOTED
    assert card.new_premium is not None and str(card.new_premium) == "13050.00"


def test_lost_records_outcome_and_reason(db, admin, make_user):
    book = small_book(db, admin, make_user)
    card = renewals.move_stage(
        db, book.producer, book.renewal_id, "lost", outcome_reason="Insured moved to a captive"
    )
    assert card.outcome is Outcome.LOST
    assert card.transaction_state is TransactionState.REFUSED


def test_stale_edit_is_refused_and_writes_nothing(db, admin, make_user):
    book = small_book(db, admin, make_user)
    seen = renewals.get_renewal(db, book.csr, book.renewal_id)
    # A colleague saves first.
    renewals.update_renewal(
        db, book.manager, book.renewal_id, expected_version=seen.version, notes="Called insured"
    )
    before = dump_database(db)
    with pytest.raises(StaleEdit) as stale:
        renewals.update_renewal(
            db, book.csr, book.renewal_id, expected_version=seen.version, notes="My note"
        )
    assert "changed by Test Morgan at" in str(stale.value)
    assert dump_database(db) == before
    assert renewals.get_renewal(db, book.csr, book.renewal_id).notes == "Called insured"


def test_concurrent_orm_update_of_same_version_conflicts(db, admin, make_user):
    """Two sessions load version N; the second UPDATE ... WHERE version = N matches nothing."""
    from desktop_app.db.models import Renewal

    book = small_book(db, admin, make_user)
    with db.write_session() as s1, db.read_session() as s2:
        b = s2.get(Renewal, book.renewal_id)
        s2.commit()  # the second user keeps the loaded copy (version 1) on screen
        a = s1.get(Renewal, book.renewal_id)
        a.notes = "first"
        s1.commit()
        b.notes = "second"
        from sqlalchemy.orm.exc import StaleDataError

        with pytest.raises(StaleDataError):
            s2.commit()
    assert renewals.get_renewal(db, admin, book.renewal_id).notes == "first"


def test_every_change_is_audited_with_old_and_new(db, admin, make_user):
    book = small_book(db, admin, make_user)
    renewals.update_renewal(
        db, book.csr, book.renewal_id, next_action="Chase payroll", next_action_due=date(2027, 1, 5)
    )
    with db.read_session() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "renewal.update")).one()
    assert event.actor == "casey"
    assert event.source is AuditSource.UI
    assert event.object_type == "renewals" and event.object_id == book.renewal_id
    assert event.changes["next_action"] == ["Request payroll report", "Chase payroll"]
    assert event.changes["next_action_due"][1] == "2027-01-05"
    assert event.at.tzinfo is not None


def test_open_stage_cannot_lose_its_next_action(db, admin, make_user):
    book = small_book(db, admin, make_user)
    before = dump_database(db)
    with pytest.raises(RuleViolation, match="needs a next action"):
        renewals.update_renewal(db, book.csr, book.renewal_id, next_action="")
    assert dump_database(db) == before


def test_admin_edits_criteria_and_moves_obey(db, admin, make_user):
    book = small_book(db, admin, make_user)
    admin_service.update_stage(
        db, admin, "gathering", entry_criteria=["next_action", "new_premium"]
    )
    with pytest.raises(RuleViolation, match="the new premium"):
        renewals.move_stage(db, book.csr, book.renewal_id, "gathering")
    admin_service.update_stage(db, admin, "gathering", entry_criteria=["next_action"])
    assert renewals.move_stage(db, book.csr, book.renewal_id, "gathering").stage_key == "gathering"


def test_unknown_criterion_is_refused(db, admin):
    with pytest.raises(RuleViolation, match="Unknown entry criteria telepathy"):
        admin_service.update_stage(db, admin, "gathering", entry_criteria=["telepathy"])


def test_task_completion_is_recorded(db, admin, make_user):
    book = small_book(db, admin, make_user)
    task = work.add_task(db, book.csr, book.renewal_id, "Call insured", due=date.today())
    done = work.complete_task(db, book.csr, task.id, expected_version=task.version)
    assert done.completed_at is not None
    with pytest.raises(RuleViolation, match="already done"):
        work.complete_task(db, book.csr, task.id)


def test_receipt_date_must_precede_expiry(db, admin, make_user):
    book = small_book(db, admin, make_user)
    with db.read_session() as s:
        doc_id = s.scalars(
            select(DocumentRequirement.id).where(DocumentRequirement.renewal_id == book.renewal_id)
        ).first()
    with pytest.raises(RuleViolation, match="must come after the date received"):
        work.receive_document(
            db, book.csr, doc_id, on=date(2027, 1, 10), expires_on=date(2027, 1, 1)
        )


def test_database_constraint_at_commit_becomes_a_sentence(db, admin):
    """If a rule slips past a service, the database's constraint still refuses it cleanly."""
    from desktop_app.db.models import User
    from desktop_app.domain.enums import Role
    from desktop_app.services.unit import unit_of_work

    before = dump_database(db)
    with (
        pytest.raises(RuleViolation, match=r"breaks one of its rules .*nothing was saved"),
        unit_of_work(db, admin) as uow,
    ):
        uow.session.add(User(username="admin", full_name="Twin", role=Role.CSR))
    assert dump_database(db) == before


def test_a_lost_renewal_does_not_reopen_but_its_ending_can_be_corrected(db, admin, make_user):
    """Refused and rejected are terminal: the card stays decided (see
    tests/test_cancel_and_reopen.py); moving it to the other lost stage corrects why it
    ended, with a reason of its own."""
    book = small_book(db, admin, make_user)
    renewals.move_stage(db, book.manager, book.renewal_id, "lost", outcome_reason="Moved away")
    with pytest.raises(RuleViolation, match="its transaction was refused, which is final"):
        renewals.move_stage(db, book.manager, book.renewal_id, "gathering")
    card = renewals.get_renewal(db, book.manager, book.renewal_id)
    assert card.outcome is Outcome.LOST
    assert card.transaction_state is TransactionState.REFUSED
    # A new decision needs its own reason; the old one does not carry over.
    with pytest.raises(RuleViolation, match="a reason for the outcome"):
        renewals.move_stage(db, book.manager, book.renewal_id, "non_renewed")
    card = renewals.move_stage(
        db, book.manager, book.renewal_id, "non_renewed", outcome_reason="Carrier declined"
    )
    assert card.outcome is Outcome.NON_RENEWED
    assert card.transaction_state is TransactionState.REJECTED


def test_lost_to_non_renewed_takes_the_new_state(db, admin, make_user):
    book = small_book(db, admin, make_user)
    renewals.move_stage(db, book.manager, book.renewal_id, "lost", outcome_reason="Moved away")
    card = renewals.move_stage(
        db, book.manager, book.renewal_id, "non_renewed", outcome_reason="Carrier declined"
    )
    assert card.transaction_state is TransactionState.REJECTED


def test_duplicate_stage_name_is_a_sentence_not_a_crash(db, admin):
    before = dump_database(db)
    with pytest.raises(RuleViolation, match="nothing was saved"):
        admin_service.update_stage(db, admin, "gathering", name="Upcoming")
    assert dump_database(db) == before


def test_task_snooze_and_reassign_are_audited_and_refused_when_done(db, admin, make_user):
    book = small_book(db, admin, make_user)
    task = work.add_task(db, book.csr, book.renewal_id, "Call insured", due=date(2027, 1, 4))
    moved = work.update_task(db, book.csr, task.id, due=date(2027, 1, 11))
    assert moved.due_date == date(2027, 1, 11) and moved.owner_id == task.owner_id
    with pytest.raises(StaleEdit):
        work.update_task(db, book.csr, task.id, expected_version=task.version, owner=None)
    handed = work.update_task(db, book.csr, task.id, owner=book.producer.username)
    assert handed.owner_id != task.owner_id and handed.due_date == date(2027, 1, 11)
    with db.read_session() as s:
        actions = s.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "tasks", AuditEvent.object_id == task.id
            )
        ).all()
    assert actions.count("task.update") == 2
    work.complete_task(db, book.producer, task.id)
    with pytest.raises(RuleViolation, match="is done; it cannot change"):
        work.update_task(db, book.producer, task.id, due=date(2027, 2, 1))
