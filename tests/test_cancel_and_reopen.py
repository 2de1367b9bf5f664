"""A cancelled policy and a reopened Lost card: the board must tell the same story as the
renewal transaction.

DOMAIN.md, "Renewal transactions": "a cancelled policy resets a renewal that an
auto-renewal manages to draft; the auto-renewal becomes invalidated; the renewal itself is
not invalidated" — so its card leaves Bound (which implies accepted) for the nearest
earlier stage that fits a draft, keeping its next action and owner, and the history says
why. Terminal transaction states are terminal, so a Lost or Non-renewed card whose
transaction was refused or rejected does not reopen: the refusal says so in a sentence,
and the outcomes and retention stay as decided.

The service tests run on SQLite and on PostgreSQL (the ``db`` fixture); the rules at the
end are plain domain tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import DocumentRequirement
from desktop_app.domain import stages as stage_rules
from desktop_app.domain.enums import AutoRenewalState, Outcome, StageKind, TransactionState
from desktop_app.domain.stages import MoveRefused, fits, stages_back, state_after_move
from desktop_app.errors import RuleViolation
from desktop_app.excel import renewal_list
from desktop_app.services import (
    auto_renewals,
    board,
    dashboard,
    detail,
    exporting,
    importing,
    renewals,
    transactions,
    work,
)
from desktop_app.services.unit import Actor
from tests.engine.conftest import ACCEPT_AT, CREATE_AT, ISSUE_AT, NEW_END, Book, build_book
from tests.helpers import dump_database, small_book

S = TransactionState
A = AutoRenewalState


@pytest.fixture
def agency(db: Database, admin: Actor, make_user: Callable[..., Actor]) -> Book:
    """Policy WC-0000 (The Hartford, WORK) on a plan: create 60 / accept 30 / issue 15 days
    before its end on 2027-07-01; the account's CSR is casey."""
    return build_book(db, admin, make_user)


def _waive_documents(agency: Book, renewal_id: int) -> None:
    with agency.db.read_session() as s:
        ids = list(
            s.scalars(
                select(DocumentRequirement.id).where(DocumentRequirement.renewal_id == renewal_id)
            )
        )
    for doc_id in ids:
        work.waive_document(agency.db, agency.csr, doc_id, "Carrier has it on file")


def _column_ids(db: Database, actor: Actor, key: str) -> set[int]:
    return {c.id for c in board.load_board(db, actor).column(key).cards}


# --------------------------------------------------------------------------- cancellation


def test_cancelling_takes_a_bound_auto_renewal_card_back_to_a_stage_that_fits_a_draft(
    agency: Book,
) -> None:
    """The timer accepted the renewal (Bound); the required documents are still out, so
    Marketing / quoting would refuse it: the card goes back to Gathering info."""
    agency.tick(ACCEPT_AT)
    managed = agency.ar().renewal_id
    assert managed is not None
    before = renewals.get_renewal(agency.db, agency.manager, managed)
    assert (before.stage_key, before.transaction_state) == ("bound", S.ACCEPTED)
    cancelled = datetime.now(UTC)

    transactions.cancel_policy(agency.db, agency.manager, agency.number)

    card = renewals.get_renewal(agency.db, agency.manager, managed)
    assert (card.stage_key, card.transaction_state) == ("gathering", S.DRAFT)
    assert card.outcome is None
    # the work stays with the same person
    assert (card.next_action, card.next_action_owner) == (before.next_action, "casey")
    assert card.next_action_due == before.next_action_due
    # aging starts again in the new stage, from the moment of the cancellation
    assert cancelled <= agency.renewal(managed).stage_entered_at <= datetime.now(UTC)
    # the board shows it where a draft belongs, and no longer in Bound
    assert managed in _column_ids(agency.db, agency.manager, "gathering")
    assert managed not in _column_ids(agency.db, agency.manager, "bound")
    ar = agency.ar()
    assert ar.state is A.INVALIDATED and ar.renewal_id == managed

    # one audit event says what changed and why; the renewal is not invalidated
    events = agency.audit("renewals", managed)
    assert "renewal.invalidated" not in [e.action for e in events]
    (reset,) = [e for e in events if e.action == "renewal.reset"]
    assert reset.changes["transaction_state"] == ["accepted", "draft"]
    assert reset.changes["stage"] == ["bound", "gathering"]
    assert reset.changes["reason"] == [
        None,
        "The Hartford policy WC-0000 was cancelled, so the auto-renewal managing this "
        "renewal was invalidated",
    ]
    assert "next_action_owner_id" not in reset.changes
    # and the renewal's history says it in words
    sentences = [
        e.sentence
        for e in detail.renewal_detail(agency.db, agency.manager, managed).timeline
        if e.action == "renewal.reset"
    ]
    assert sentences == [
        "Test Morgan reset the renewal to draft and moved it back from Bound to Gathering "
        "info (the policy was cancelled)"
    ]


def test_with_its_documents_in_the_card_goes_back_only_to_marketing(agency: Book) -> None:
    agency.tick(ACCEPT_AT)
    managed = agency.ar().renewal_id
    assert managed is not None
    _waive_documents(agency, managed)

    transactions.cancel_policy(agency.db, agency.manager, agency.number)

    card = renewals.get_renewal(agency.db, agency.manager, managed)
    assert (card.stage_key, card.transaction_state) == ("marketing", S.DRAFT)


def test_a_quoted_card_in_proposal_sent_goes_back_as_well(agency: Book) -> None:
    agency.tick(CREATE_AT)
    managed = agency.ar().renewal_id
    assert managed is not None
    _waive_documents(agency, managed)
    transactions.advance(agency.db, agency.csr, managed, "quoted")
    assert renewals.get_renewal(agency.db, agency.csr, managed).stage_key == "proposal"

    transactions.cancel_policy(agency.db, agency.manager, agency.number)

    card = renewals.get_renewal(agency.db, agency.manager, managed)
    assert (card.stage_key, card.transaction_state) == ("marketing", S.DRAFT)
    (reset,) = [e for e in agency.audit("renewals", managed) if e.action == "renewal.reset"]
    assert reset.changes["stage"] == ["proposal", "marketing"]


def test_a_draft_card_stays_where_it_is(agency: Book) -> None:
    """A managed renewal that is still a draft already fits its stage: only the
    auto-renewal changes, and the card's history gets no reset it did not have."""
    agency.tick(CREATE_AT)
    managed = agency.ar().renewal_id
    assert managed is not None
    renewals.move_stage(agency.db, agency.csr, managed, "gathering")
    version = renewals.get_renewal(agency.db, agency.csr, managed).version

    transactions.cancel_policy(agency.db, agency.manager, agency.number)

    card = renewals.get_renewal(agency.db, agency.manager, managed)
    assert (card.stage_key, card.transaction_state, card.version) == ("gathering", S.DRAFT, version)
    assert "renewal.reset" not in [e.action for e in agency.audit("renewals", managed)]
    assert agency.ar().state is A.INVALIDATED


def test_a_renewal_no_auto_renewal_manages_is_left_to_people(agency: Book) -> None:
    """DOMAIN.md prescribes the reset only for a managed renewal. Another renewal keeps
    its transaction and its stage; it cannot be issued while the policy is cancelled, and
    people decide its outcome."""
    auto_renewals.discard(agency.db, agency.manager, agency.number)
    unmanaged = transactions.create_renewal(
        agency.db, agency.manager, agency.number, new_end=NEW_END
    ).id
    transactions.advance(agency.db, agency.manager, unmanaged, "accepted")
    assert renewals.get_renewal(agency.db, agency.csr, unmanaged).stage_key == "bound"

    transactions.cancel_policy(agency.db, agency.manager, agency.number)

    card = renewals.get_renewal(agency.db, agency.manager, unmanaged)
    assert (card.stage_key, card.transaction_state) == ("bound", S.ACCEPTED)
    assert "renewal.reset" not in [e.action for e in agency.audit("renewals", unmanaged)]
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        transactions.advance(agency.db, agency.manager, unmanaged, "issued")
    assert str(refused.value) == "A renewal of a cancelled policy cannot be issued."
    assert dump_database(agency.db) == before
    card = renewals.move_stage(
        agency.db, agency.manager, unmanaged, "lost", outcome_reason="Policy cancelled for non-pay"
    )
    assert (card.stage_key, card.outcome, card.transaction_state) == (
        "lost",
        Outcome.LOST,
        S.REFUSED,
    )


def test_after_reinstating_and_reactivating_the_card_moves_forward_again(agency: Book) -> None:
    """ "Reactivating the auto-renewal resumes it at its next pending trigger time": the
    issue trigger walks the draft to issued and the card from Gathering info to Renewed."""
    agency.tick(ACCEPT_AT)
    managed = agency.ar().renewal_id
    assert managed is not None
    transactions.cancel_policy(agency.db, agency.manager, agency.number)
    assert renewals.get_renewal(agency.db, agency.csr, managed).stage_key == "gathering"

    transactions.reinstate_policy(agency.db, agency.manager, agency.number)
    auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    agency.tick(ISSUE_AT)

    card = renewals.get_renewal(agency.db, agency.manager, managed)
    assert (card.stage_key, card.transaction_state, card.outcome) == (
        "renewed",
        S.ISSUED,
        Outcome.RENEWED,
    )


# --------------------------------------------------------------------------- reopening


def test_a_lost_card_does_not_reopen_and_nothing_changes(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    book = small_book(db, admin, make_user)
    renewals.move_stage(db, book.manager, book.renewal_id, "lost", outcome_reason="Moved away")
    before = dump_database(db)
    with pytest.raises(RuleViolation) as refused:
        renewals.move_stage(db, book.manager, book.renewal_id, "gathering")
    assert str(refused.value) == (
        "Renewal WC-000123 is in Lost and its transaction was refused, which is final, so it "
        "cannot move back to Gathering info; to renew the policy after all, start a new "
        "renewal of it."
    )
    assert dump_database(db) == before
    card = renewals.get_renewal(db, book.manager, book.renewal_id)
    assert (card.stage_key, card.outcome, card.transaction_state) == (
        "lost",
        Outcome.LOST,
        S.REFUSED,
    )


def test_a_non_renewed_card_does_not_reopen_either(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    book = small_book(db, admin, make_user)
    renewals.move_stage(
        db, book.manager, book.renewal_id, "non_renewed", outcome_reason="Carrier exits the line"
    )
    with pytest.raises(RuleViolation) as refused:
        renewals.move_stage(db, book.manager, book.renewal_id, "upcoming")
    assert str(refused.value).startswith(
        "Renewal WC-000123 is in Non-renewed and its transaction was rejected, which is final"
    )
    # nor is it renewed by dragging: Renewed wants an issued transaction
    with pytest.raises(RuleViolation) as not_won:
        renewals.move_stage(db, book.manager, book.renewal_id, "renewed")
    assert str(not_won.value) == "Cannot move to Renewed: it needs the renewal transaction issued."
    card = renewals.get_renewal(db, book.manager, book.renewal_id)
    assert (card.stage_key, card.outcome) == ("non_renewed", Outcome.NON_RENEWED)


def test_the_outcomes_and_retention_keep_the_decision(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    book = small_book(db, admin, make_user)
    renewals.move_stage(db, book.manager, book.renewal_id, "lost", outcome_reason="Moved away")
    expires = date.today() + timedelta(days=60)
    with pytest.raises(RuleViolation):
        renewals.move_stage(db, book.manager, book.renewal_id, "gathering")
    data = dashboard.dashboard(db, book.manager, as_of=expires)
    assert (data.renewed, data.lost, data.non_renewed, data.decided) == (0, 1, 0, 1)
    assert data.retention == 0.0


def test_correcting_why_it_ended_is_allowed_with_its_own_reason(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    """Lost ↔ Non-renewed corrects which way the renewal ended; it stays ended."""
    book = small_book(db, admin, make_user)
    renewals.move_stage(db, book.manager, book.renewal_id, "lost", outcome_reason="Moved away")
    with pytest.raises(RuleViolation, match="a reason for the outcome"):
        renewals.move_stage(db, book.manager, book.renewal_id, "non_renewed")
    card = renewals.move_stage(
        db, book.manager, book.renewal_id, "non_renewed", outcome_reason="Carrier declined"
    )
    assert (card.outcome, card.transaction_state) == (Outcome.NON_RENEWED, S.REJECTED)
    card = renewals.move_stage(
        db, book.manager, book.renewal_id, "lost", outcome_reason="Went direct after all"
    )
    assert (card.outcome, card.transaction_state) == (Outcome.LOST, S.REFUSED)


def test_a_new_renewal_of_the_policy_is_the_way_to_work_it_again(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    """What the refusal advises works: the lost card stays as history and counts as lost,
    and a new renewal of the same term opens as a draft in the first stage."""
    book = small_book(db, admin, make_user)
    renewals.move_stage(db, book.manager, book.renewal_id, "lost", outcome_reason="Moved away")
    end = date.today() + timedelta(days=60)
    info = transactions.create_renewal(
        db, book.manager, "WC-000123", new_end=end.replace(year=end.year + 1)
    )
    assert (info.stage, info.state) == ("upcoming", S.DRAFT)
    assert renewals.get_renewal(db, book.manager, book.renewal_id).stage_key == "lost"


def test_a_discarded_or_invalidated_renewal_has_no_outcome_to_record(agency: Book) -> None:
    """Marking a renewal the system closed (another one of its term was issued) or the
    agency threw away as lost would count a loss that did not happen."""
    first = transactions.create_renewal(agency.db, agency.manager, agency.number, new_end=NEW_END)
    second = transactions.create_renewal(agency.db, agency.manager, agency.number, new_end=NEW_END)
    transactions.advance(agency.db, agency.manager, first.id, "issued")
    assert agency.renewal(second.id).transaction_state is S.INVALIDATED
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        renewals.move_stage(
            agency.db, agency.manager, second.id, "lost", outcome_reason="Duplicate"
        )
    assert str(refused.value) == (
        "Renewal WC-0000 was invalidated when another renewal of its term was issued, so it "
        "has no outcome to record in Lost."
    )
    assert dump_database(agency.db) == before
    data = dashboard.dashboard(agency.db, agency.manager, as_of=date(2027, 7, 15))
    assert (data.renewed, data.lost, data.retention) == (1, 0, 1.0)

    other = agency.add_policy()
    auto_renewals.discard(agency.db, agency.manager, "WC-0001")
    thrown = transactions.create_renewal(agency.db, agency.manager, "WC-0001", new_end=NEW_END)
    transactions.end_renewal(agency.db, agency.manager, thrown.id, "discarded")
    with pytest.raises(RuleViolation) as discarded:
        renewals.move_stage(
            agency.db, agency.manager, thrown.id, "non_renewed", outcome_reason="Opened twice"
        )
    assert str(discarded.value) == (
        "Renewal WC-0001 was discarded, so it has no outcome to record in Non-renewed."
    )
    assert agency.renewals(other)[0].outcome is None


def _edit_stage(path: Path, stage: str) -> None:
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[renewal_list.SHEET_NAME]
    header = next(
        r for r in range(1, 20) if sheet.cell(row=r, column=1).value == renewal_list.ID_HEADER
    )
    columns = {sheet.cell(row=header, column=c).value: c for c in range(1, sheet.max_column + 1)}
    sheet.cell(row=header + 1, column=columns["Stage"], value=stage)
    workbook.save(path)


def test_an_imported_list_cannot_reopen_a_lost_card_and_its_preview_says_so(  # type: ignore[no-untyped-def]
    db, admin, make_user, tmp_path
) -> None:
    """The renewal list, exported, edited in Excel and imported back: the preview tells
    the same refusal the import then gives, and the card stays Lost."""
    book = small_book(db, admin, make_user)
    renewals.move_stage(db, book.manager, book.renewal_id, "lost", outcome_reason="Moved away")
    path = tmp_path / "renewals.xlsx"
    exporting.export_renewals(db, admin, path)
    _edit_stage(path, "Gathering info")
    parsed = importing.read_file(path)
    shown = importing.preview(db, book.manager, parsed)
    done = importing.commit(db, book.manager, parsed)
    for result in (shown, done):
        assert result.updated == 0
        (rejection,) = result.rejections
        assert rejection.column == "Stage"
        assert rejection.reason.startswith(
            "renewal WC-000123 is in Lost and its transaction was refused, which is final"
        )
    card = renewals.get_renewal(db, admin, book.renewal_id)
    assert (card.stage_key, card.outcome) == ("lost", Outcome.LOST)


# --------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class _Stage:
    key: str
    name: str
    kind: StageKind
    position: int
    implied_state: TransactionState | None = None
    entry_criteria: tuple[str, ...] = ("next_action",)


PIPELINE = tuple(
    _Stage(spec.key, spec.name, spec.kind, i, spec.implied_state, spec.entry_criteria)
    for i, spec in enumerate(stage_rules.DEFAULT_STAGES, start=1)
)
BY_KEY = {s.key: s for s in PIPELINE}


def test_which_open_stages_fit_which_transaction_state() -> None:
    fitting = {
        state: [s.key for s in PIPELINE if fits(s, state)]
        for state in (S.DRAFT, S.QUOTED, S.ACCEPTED, S.REFUSED)
    }
    assert fitting == {
        S.DRAFT: ["upcoming", "gathering", "marketing"],
        S.QUOTED: ["upcoming", "gathering", "marketing", "proposal"],
        S.ACCEPTED: ["upcoming", "gathering", "marketing", "proposal", "bound"],
        S.REFUSED: ["upcoming", "gathering", "marketing"],
    }


def test_a_reset_card_looks_back_nearest_first() -> None:
    back = stages_back(PIPELINE, BY_KEY["bound"], S.DRAFT)
    assert [s.key for s in back] == ["marketing", "gathering", "upcoming"]
    assert stages_back(PIPELINE, BY_KEY["upcoming"], S.DRAFT) == []


@pytest.mark.parametrize(
    ("state", "source", "target", "after"),
    [
        (S.DRAFT, "upcoming", "proposal", S.QUOTED),
        (S.ACCEPTED, "bound", "gathering", S.ACCEPTED),  # never backwards
        (S.QUOTED, "proposal", "lost", S.REFUSED),
        (S.REFUSED, "lost", "non_renewed", S.REJECTED),  # a correction of why it ended
        (S.REJECTED, "non_renewed", "lost", S.REFUSED),
        (S.ISSUED, "renewed", "renewed", S.ISSUED),
        (S.REFUSED, "lost", "renewed", S.REFUSED),  # Renewed's criteria then refuse it
    ],
)
def test_state_after_a_move(
    state: TransactionState, source: str, target: str, after: TransactionState
) -> None:
    assert state_after_move(state, BY_KEY[source], BY_KEY[target]) is after


@pytest.mark.parametrize(
    ("state", "source", "target", "words"),
    [
        (S.REFUSED, "lost", "upcoming", "is in Lost and its transaction was refused"),
        (S.REJECTED, "non_renewed", "bound", "is in Non-renewed and its transaction was rejected"),
        (S.ISSUED, "renewed", "bound", "was issued, so it can only be in a Renewed stage"),
        (S.DISCARDED, "gathering", "lost", "was discarded, so it has no outcome"),
        (S.INVALIDATED, "upcoming", "non_renewed", "was invalidated when another renewal"),
    ],
)
def test_moves_that_would_contradict_the_transaction_are_refused(
    state: TransactionState, source: str, target: str, words: str
) -> None:
    with pytest.raises(MoveRefused) as refused:
        state_after_move(state, BY_KEY[source], BY_KEY[target], renewal="Renewal X-1")
    assert str(refused.value).startswith(f"Renewal X-1 {words}")


def test_a_decided_card_whose_transaction_is_still_open_may_reopen() -> None:
    """A lost stage that implies no state (or a card decided before this rule) leaves its
    transaction open; reopening it keeps the transaction as it is."""
    undecided_lost = _Stage("walked", "Walked away", StageKind.LOST, 9)
    assert state_after_move(S.QUOTED, BY_KEY["marketing"], undecided_lost) is S.QUOTED
    assert state_after_move(S.QUOTED, undecided_lost, BY_KEY["gathering"]) is S.QUOTED
    assert state_after_move(S.DRAFT, undecided_lost, BY_KEY["bound"]) is S.ACCEPTED
