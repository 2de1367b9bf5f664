"""DOMAIN.md "Renewal transactions", one named test per rule, through the services.

Each test runs on SQLite and on PostgreSQL (the ``db`` fixture). Refusals are checked by
their sentence, and a refused operation must leave the database exactly as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from desktop_app.db.models import DocumentRequirement, Policy
from desktop_app.domain.enums import (
    AuditSource,
    AutoRenewalState,
    Outcome,
    PolicyStatus,
    TransactionState,
)
from desktop_app.errors import RuleViolation
from desktop_app.services import auto_renewals, renewals, transactions, work
from desktop_app.services.unit import Actor, unit_of_work
from tests.engine.conftest import (
    ACCEPT_AT,
    CREATE_AT,
    ISSUE_AT,
    NEW_END,
    TERM_END,
    Book,
)
from tests.helpers import dump_database

S = TransactionState
A = AutoRenewalState
DNR_SENTENCE = (
    "The policy is marked do not renew, so none of its renewals can be issued; "
    "reactivate its auto-renewal to lift do not renew."
)


def _create(agency: Book, new_end: datetime = NEW_END, effective: datetime | None = None) -> int:
    info = transactions.create_renewal(
        agency.db, agency.manager, agency.number, new_end=new_end, effective=effective
    )
    return info.id


def _waive_documents(agency: Book, renewal_id: int) -> None:
    with agency.db.read_session() as s:
        ids = list(
            s.scalars(
                select(DocumentRequirement.id).where(DocumentRequirement.renewal_id == renewal_id)
            )
        )
    for doc_id in ids:
        work.waive_document(agency.db, agency.csr, doc_id, "Carrier has it on file")


def _record_term(agency: Book, start: datetime, end: datetime) -> bool:
    """The import path: a later term renewed in the agency's management system."""
    with unit_of_work(agency.db, Actor("admin", AuditSource.IMPORT)) as uow:
        return transactions.record_term_in(uow, agency.policy_id, start, end, Decimal("10500"))


# --------------------------------------------------------------------------- new end


@pytest.mark.parametrize(
    ("new_end", "shown"),
    [(TERM_END, "July 1, 2027"), (TERM_END - timedelta(days=1), "June 30, 2027")],
    ids=["equal", "earlier"],
)
def test_new_end_must_be_strictly_after_the_current_end(
    agency: Book, new_end: datetime, shown: str
) -> None:
    """ "A renewal extends a policy by creating a new term. Its new end time must be
    strictly greater than the policy's current end time." """
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        _create(agency, new_end=new_end)
    assert str(refused.value) == (
        f"The new end ({shown}) must be after the policy's current end (July 1, 2027)."
    )
    assert dump_database(agency.db) == before
    # one second later is enough
    renewal_id = _create(agency, new_end=TERM_END + timedelta(seconds=1))
    assert agency.renewal(renewal_id).new_end_at == TERM_END + timedelta(seconds=1)


# --------------------------------------------------------------------------- new term dates


def test_new_term_starts_at_the_current_end_by_default(agency: Book) -> None:
    """ "By default the new term starts at the current end." """
    renewal_id = _create(agency)
    assert agency.renewal(renewal_id).effective_at is None
    transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    old, new = agency.terms()
    assert (old.start_at, old.end_at) == (datetime(2026, 7, 1, tzinfo=UTC), TERM_END)
    assert (new.start_at, new.end_at) == (TERM_END, NEW_END)


def test_renewal_with_a_gap_starts_at_the_effective_time_and_nothing_covers_the_gap(
    agency: Book,
) -> None:
    """ "An effective time after the current end makes a renewal with a gap: the new term
    starts at the effective time, and no term covers the gap (no gap term or segment is
    created)." """
    effective = TERM_END + timedelta(days=10)
    renewal_id = _create(agency, effective=effective)
    assert agency.renewal(renewal_id).effective_at == effective
    transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    terms = agency.terms()
    assert [(t.start_at, t.end_at) for t in terms] == [
        (datetime(2026, 7, 1, tzinfo=UTC), TERM_END),
        (effective, NEW_END),
    ]
    gap_moment = TERM_END + timedelta(days=5)
    assert not any(t.start_at <= gap_moment < t.end_at for t in terms)


@pytest.mark.parametrize(
    ("effective", "sentence"),
    [
        (
            TERM_END - timedelta(days=1),
            "The effective date (June 30, 2027) cannot be before the policy's current end "
            "(July 1, 2027): terms never overlap.",
        ),
        (
            NEW_END,
            "The effective date (July 1, 2028) must be before the new end (July 1, 2028).",
        ),
    ],
    ids=["overlapping", "after-new-end"],
)
def test_an_effective_time_that_would_overlap_or_empty_the_term_is_refused(
    agency: Book, effective: datetime, sentence: str
) -> None:
    """Terms never overlap: an effective time before the current end is refused, and the
    new term must have a length."""
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        _create(agency, effective=effective)
    assert str(refused.value) == sentence
    assert dump_database(agency.db) == before


# --------------------------------------------------------------------------- states


def test_transaction_states_run_draft_quoted_accepted_issued(agency: Book) -> None:
    """ "Transaction states: draft → quoted → accepted → issued" — one step at a time, with
    the card following to the stage each state implies."""
    renewal_id = _create(agency)
    _waive_documents(agency, renewal_id)
    seen = [agency.renewal(renewal_id).transaction_state]
    stages = []
    for target in ("quoted", "accepted", "issued"):
        info = transactions.advance(agency.db, agency.manager, renewal_id, target)
        seen.append(info.state)
        stages.append(info.stage)
    assert seen == [S.DRAFT, S.QUOTED, S.ACCEPTED, S.ISSUED]
    assert stages == ["proposal", "bound", "renewed"]
    assert agency.renewal(renewal_id).outcome is Outcome.RENEWED


@pytest.mark.parametrize("ending", ["discarded", "rejected", "refused"])
def test_terminal_states_end_the_renewal_without_a_new_term(agency: Book, ending: str) -> None:
    """ "terminal without a new term: discarded, rejected, refused, invalidated" — and
    nothing leaves a terminal state."""
    renewal_id = _create(agency)
    info = transactions.end_renewal(agency.db, agency.manager, renewal_id, ending)
    assert info.state is S(ending)
    assert len(agency.terms()) == 1
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    assert str(refused.value) == f"A renewal that is {ending} cannot be issued."
    with pytest.raises(RuleViolation) as again:
        transactions.end_renewal(agency.db, agency.manager, renewal_id, ending)
    assert str(again.value) == f"The renewal is already {ending}."
    assert dump_database(agency.db) == before


def test_an_issued_renewal_cannot_be_ended(agency: Book) -> None:
    """Issued is terminal too: it cannot be discarded, rejected or refused afterwards."""
    renewal_id = _create(agency)
    transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    before = dump_database(agency.db)
    for ending in ("discarded", "rejected", "refused"):
        with pytest.raises(RuleViolation) as refused:
            transactions.end_renewal(agency.db, agency.manager, renewal_id, ending)
        assert str(refused.value) == f"A renewal that is issued cannot be {ending}."
    assert dump_database(agency.db) == before


def test_issuing_creates_the_new_term(agency: Book) -> None:
    """ "Issuing creates the new term" — with the renewal's dates and its new premium."""
    renewal_id = _create(agency)
    renewals.update_renewal(agency.db, agency.manager, renewal_id, new_premium="$10,750.00")
    assert len(agency.terms()) == 1
    info = transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    assert info.state is S.ISSUED
    new = agency.terms()[-1]
    assert (new.start_at, new.end_at, str(new.premium)) == (TERM_END, NEW_END, "10750.00")
    assert agency.renewal(renewal_id).new_term_id == new.id
    # the term's auto-renewal is issued; the plan gives the new term its own
    old_ar, new_ar = agency.ars()
    assert old_ar.state is A.ISSUED and new_ar.state is A.ACTIVE and new_ar.term_id == new.id


def test_issuing_one_renewal_invalidates_the_other_open_renewals_of_the_term(
    agency: Book,
) -> None:
    """ "When one renewal of a term is issued, other open renewals of that term are
    invalidated." A renewal that had already ended keeps its ending."""
    first = _create(agency)
    second = _create(agency, new_end=NEW_END + timedelta(days=30))
    ended = _create(agency)
    transactions.end_renewal(agency.db, agency.manager, ended, "discarded")
    transactions.advance(agency.db, agency.manager, second, "accepted")
    transactions.advance(agency.db, agency.manager, first, "issued")
    states = {r.id: r.transaction_state for r in agency.renewals()}
    assert states == {first: S.ISSUED, second: S.INVALIDATED, ended: S.DISCARDED}
    assert [e.action for e in agency.audit("renewals", second)][-1] == "renewal.invalidated"
    with pytest.raises(RuleViolation) as refused:
        transactions.advance(agency.db, agency.manager, second, "issued")
    assert str(refused.value) == "A renewal that is invalidated cannot be issued."
    assert len(agency.terms()) == 2


# --------------------------------------------------------------------------- do not renew


def test_do_not_renew_blocks_issuing_by_hand(agency: Book) -> None:
    """ "Do not renew: while any auto-renewal of the policy is in doNotRenew, no renewal of
    that policy may be issued — manually …" """
    renewal_id = _create(agency)
    transactions.advance(agency.db, agency.manager, renewal_id, "accepted")
    auto_renewals.do_not_renew(agency.db, agency.manager, agency.number)
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    assert str(refused.value) == DNR_SENTENCE
    assert dump_database(agency.db) == before
    assert len(agency.terms()) == 1


def test_do_not_renew_blocks_issuing_by_the_timer(agency: Book, recorder) -> None:  # type: ignore[no-untyped-def]
    """ "… or automatically": a policy marked do not renew is never issued by the timer
    service, however late it runs, and its plugin is not called."""
    agency.tick(ACCEPT_AT, recorder.plugin_set())  # created and accepted
    auto_renewals.do_not_renew(agency.db, agency.manager, agency.number)
    calls = len(recorder.requests)
    report = agency.tick(ISSUE_AT + timedelta(days=30), recorder.plugin_set())
    assert report.actions == []
    assert len(recorder.requests) == calls
    assert len(agency.terms()) == 1
    ar = agency.ar()
    assert ar.state is A.DO_NOT_RENEW and ar.fired_issue_at is None
    assert agency.renewal(ar.renewal_id).transaction_state is S.ACCEPTED


def test_do_not_renew_blocks_recording_a_term_from_an_import(agency: Book) -> None:
    """ "… by import": recording a later term renewed in the management system is refused
    while the policy is marked do not renew."""
    auto_renewals.do_not_renew(agency.db, agency.manager, agency.number)
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        _record_term(agency, TERM_END, NEW_END)
    assert str(refused.value) == DNR_SENTENCE
    assert dump_database(agency.db) == before


def test_reactivating_lifts_do_not_renew(agency: Book, recorder) -> None:  # type: ignore[no-untyped-def]
    """ "Reactivating lifts it": by hand, by import and by the timer issuing works again."""
    renewal_id = _create(agency)
    auto_renewals.do_not_renew(agency.db, agency.manager, agency.number)
    info = auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    assert info.state is A.ACTIVE
    transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    assert len(agency.terms()) == 2
    # the new term's auto-renewal: do not renew, then reactivated, then the import path
    auto_renewals.do_not_renew(agency.db, agency.manager, agency.number)
    auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    assert _record_term(agency, NEW_END, NEW_END + timedelta(days=365)) is True
    assert len(agency.terms()) == 3
    # and the timer, on the third term's auto-renewal
    auto_renewals.do_not_renew(agency.db, agency.manager, agency.number)
    auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    agency.tick(NEW_END + timedelta(days=365), recorder.plugin_set())
    assert len(agency.terms()) == 4


def test_record_term_closes_the_open_renewal_as_renewed(agency: Book) -> None:
    """The import path counts as an issue: the open renewal is issued (renewed outside),
    the term's auto-renewal marked issued, and a second identical import changes nothing."""
    renewal_id = _create(agency)
    assert _record_term(agency, TERM_END, NEW_END) is True
    renewal = agency.renewal(renewal_id)
    assert renewal.transaction_state is S.ISSUED and renewal.outcome is Outcome.RENEWED
    assert agency.ars()[0].state is A.ISSUED
    before = dump_database(agency.db)
    assert _record_term(agency, TERM_END, NEW_END) is False
    assert dump_database(agency.db) == before


# --------------------------------------------------------------------------- cancellation


def test_cancellation_resets_the_managed_renewal_to_draft_and_invalidates_its_auto_renewal(
    agency: Book,
) -> None:
    """ "Cancellation: a cancelled policy resets a renewal that an auto-renewal manages to
    draft; the auto-renewal becomes invalidated; the renewal itself is not invalidated."
    A renewal no auto-renewal manages is left to people."""
    agency.tick(ACCEPT_AT)
    managed = agency.ar().renewal_id
    assert agency.renewal(managed).transaction_state is S.ACCEPTED
    other_policy = agency.add_policy()
    auto_renewals.discard(agency.db, agency.manager, "WC-0001")
    unmanaged = transactions.create_renewal(
        agency.db, agency.manager, "WC-0001", new_end=NEW_END
    ).id
    transactions.advance(agency.db, agency.manager, unmanaged, "accepted")

    transactions.cancel_policy(agency.db, agency.manager, agency.number)
    transactions.cancel_policy(agency.db, agency.manager, "WC-0001")

    assert agency.renewal(managed).transaction_state is S.DRAFT
    ar = agency.ar()
    assert ar.state is A.INVALIDATED and ar.renewal_id == managed
    assert agency.renewal(unmanaged).transaction_state is S.ACCEPTED
    assert agency.ar(other_policy).state is A.DISCARDED
    events = [e.action for e in agency.audit("renewals", managed)]
    assert "renewal.reset" in events and "renewal.invalidated" not in events


def test_a_cancelled_policy_cannot_be_renewed_or_issued(agency: Book) -> None:
    """Cancelling stops renewing: no new renewal, no issue, and the timer does nothing."""
    renewal_id = _create(agency)
    transactions.cancel_policy(agency.db, agency.manager, agency.number)
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    assert str(refused.value) == "A renewal of a cancelled policy cannot be issued."
    with pytest.raises(RuleViolation) as no_new:
        _create(agency)
    assert str(no_new.value) == (
        "The Hartford policy WC-0000 is cancelled, so it cannot be renewed."
    )
    with pytest.raises(RuleViolation) as twice:
        transactions.cancel_policy(agency.db, agency.manager, agency.number)
    assert str(twice.value) == "The Hartford policy WC-0000 is already cancelled."
    assert agency.tick(ISSUE_AT + timedelta(days=60)).actions == []
    assert dump_database(agency.db) == before


def test_reactivating_after_cancellation_resumes_at_the_next_pending_trigger(
    agency: Book, recorder
) -> None:  # type: ignore[no-untyped-def]
    """ "Reactivating the auto-renewal resumes it at its next pending trigger time" — not
    while the policy is still cancelled."""
    agency.tick(ACCEPT_AT)
    transactions.cancel_policy(agency.db, agency.manager, agency.number)
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    assert str(refused.value) == "The auto-renewal of a cancelled policy cannot be reactivated."
    assert dump_database(agency.db) == before
    transactions.reinstate_policy(agency.db, agency.manager, agency.number)
    info = auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    assert info.state is A.ACTIVE
    assert info.next_due_at == ISSUE_AT  # create and accept already fired
    assert agency.tick(ISSUE_AT - timedelta(seconds=1), recorder.plugin_set()).actions == []
    report = agency.tick(ISSUE_AT, recorder.plugin_set())
    # the renewal was reset to draft: the issue trigger walks it all the way
    assert [(a["event"], a["outcome"]) for a in report.actions] == [("issue", "issued")]
    assert recorder.events_of(agency.number) == ["issue"]
    assert len(agency.terms()) == 2
    assert agency.ars()[0].state is A.ISSUED


def test_reinstating_a_policy_that_is_not_cancelled_is_refused(agency: Book) -> None:
    """Every refused operation says why, in a sentence."""
    with pytest.raises(RuleViolation) as refused:
        transactions.reinstate_policy(agency.db, agency.manager, agency.number)
    assert str(refused.value) == "The Hartford policy WC-0000 is not cancelled."


def test_manual_operations_leave_the_policy_status_and_the_create_trigger_alone(
    agency: Book,
) -> None:
    """Creating and advancing renewals by hand never moves trigger times (seed 003:
    "These times are specifically reserved for automatic actions")."""
    before = agency.ar()
    renewal_id = _create(agency)
    transactions.advance(agency.db, agency.manager, renewal_id, "accepted")
    after = agency.ar()
    assert (after.create_time, after.accept_time, after.issue_time) == (
        before.create_time,
        before.accept_time,
        before.issue_time,
    )
    assert after.create_time == CREATE_AT
    with agency.db.read_session() as s:
        policy = s.get(Policy, agency.policy_id)
        assert policy is not None and policy.status is PolicyStatus.ACTIVE
