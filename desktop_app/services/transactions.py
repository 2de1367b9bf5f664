"""Renewal transactions: create, quote, accept, issue, end; cancelling a policy.

The rules are in :mod:`desktop_app.domain.transactions` (the state machine, the new
term's dates, when a renewal may issue) and :mod:`desktop_app.domain.auto_renewal`; this
module applies them to the database and keeps the pipeline card in step: a renewal that is
quoted, accepted or issued moves forward to the stage that implies that state (never
backwards), and the target stage's entry criteria are checked as for any other move.

Every function here comes in two forms: ``*_in(uow, ...)`` works inside a unit of work
that the caller owns (the timer service and the importer share one transaction for many
steps); the plain form is one unit of work for the command line and the desktop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AutoRenewal,
    AutoRenewalPlan,
    PipelineStage,
    Policy,
    Renewal,
    Term,
)
from desktop_app.domain import auto_renewal as ar_rules
from desktop_app.domain import stages as stage_rules
from desktop_app.domain import transactions as rules
from desktop_app.domain.enums import (
    AutoRenewalState,
    Outcome,
    PolicyStatus,
    StageKind,
    TransactionState,
)
from desktop_app.domain.permissions import Action
from desktop_app.domain.transactions import RuleRefused
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.services import agency
from desktop_app.services import auto_renewals as ars
from desktop_app.services.renewals import add_checklist_in, load_renewal, owners_of
from desktop_app.services.renewals import facts as card_facts
from desktop_app.services.unit import Actor, UnitOfWork, changes_between, read_only, unit_of_work

_S = TransactionState
_A = AutoRenewalState

FIRST_NEXT_ACTION = "Review the renewal offer and confirm terms with the insured"


@dataclass(frozen=True)
class RenewalInfo:
    id: int
    version: int
    policy_id: int
    policy_number: str
    term_id: int
    stage: str
    state: TransactionState
    effective: datetime | None
    new_end: datetime | None
    new_premium: Decimal | None
    transaction_type: str
    new_term_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stage": self.stage,
            "state": self.state.value,
            "effective": self.effective.isoformat() if self.effective else None,
            "new_end": self.new_end.isoformat() if self.new_end else None,
            "new_premium": None if self.new_premium is None else str(self.new_premium),
            "transaction_type": self.transaction_type,
        }


def info_of(session: Session, renewal: Renewal) -> RenewalInfo:
    stage = session.get(PipelineStage, renewal.stage_id)
    policy = session.get(Policy, renewal.policy_id)
    assert stage is not None and policy is not None
    return RenewalInfo(
        renewal.id,
        renewal.version,
        renewal.policy_id,
        policy.policy_number,
        renewal.term_id,
        stage.key,
        renewal.transaction_state,
        renewal.effective_at,
        renewal.new_end_at,
        renewal.new_premium,
        renewal.transaction_type,
        renewal.new_term_id,
    )


def _refused(exc: RuleRefused) -> RuleViolation:
    return RuleViolation(exc.message)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


# --------------------------------------------------------------------------- stages


def _stages(session: Session) -> list[PipelineStage]:
    return agency.per_transaction(session, "stages", lambda: _load_stages(session))


def _load_stages(session: Session) -> list[PipelineStage]:
    return list(
        session.scalars(
            select(PipelineStage)
            .where(PipelineStage.active.is_(True))
            .order_by(PipelineStage.position)
        )
    )


def stage_for_state(session: Session, state: TransactionState) -> PipelineStage | None:
    """The stage a renewal in ``state`` belongs in: the first stage that implies it
    (issued: the first won stage). ``None`` when no stage says."""
    for stage in _stages(session):
        if state is _S.ISSUED and stage.kind is StageKind.WON:
            return stage
        if stage.implied_state is state:
            return stage
    return None


def _enter_stage(
    uow: UnitOfWork, renewal: Renewal, stage: PipelineStage, now: datetime
) -> dict[str, list[Any]]:
    """Move the card into ``stage`` after checking its entry criteria (refused: why)."""
    if stage.id == renewal.stage_id:
        return {}
    current = uow.session.get(PipelineStage, renewal.stage_id)
    assert current is not None
    changes = uow.apply(renewal, {"stage_id": stage.id, "stage_entered_at": now})
    renewal.stage = stage
    missing = stage_rules.missing_for(stage.entry_criteria, card_facts(uow, renewal))
    if missing:
        raise RuleViolation(stage_rules.refusal_message(stage.name, missing))
    changes["stage"] = [current.key, stage.key]
    return changes


def _forward_stage(
    uow: UnitOfWork, renewal: Renewal, state: TransactionState, now: datetime
) -> dict[str, list[Any]]:
    """Move the card forward to the stage implying ``state`` (never backwards)."""
    move = _forward_target(uow.session, renewal.stage_id, state)
    if move is None:
        return {}
    return _enter_stage(uow, renewal, move[0], now)


def _forward_target(
    session: Session, stage_id: int, state: TransactionState
) -> tuple[PipelineStage, PipelineStage] | None:
    """The stage a card in stage ``stage_id`` moves forward to when its renewal reaches
    ``state``, and its current stage; ``None`` when it stays where it is."""
    target = stage_for_state(session, state)
    current = session.get(PipelineStage, stage_id)
    if target is None or current is None:
        return None
    if state is not _S.ISSUED and target.position <= current.position:
        return None
    if target.id == stage_id:
        return None
    return target, current


# --------------------------------------------------------------------------- create


def _first_owner(account: Account, actor_id: int | None) -> int | None:
    """Who owns an automatic renewal's next action: the CSR, else the producer."""
    return account.csr_id or account.producer_id or actor_id


@dataclass(frozen=True)
class NewRenewal:
    """A draft renewal, checked and ready to insert: its columns, and the changes its
    ``renewal.create`` audit event records."""

    values: dict[str, Any]
    changes: dict[str, list[Any]]


def new_renewal(
    uow: UnitOfWork,
    policy: Any,
    account: Any,
    term: Any,
    *,
    new_end: datetime,
    effective: datetime | None = None,
    transaction_type: str = "renewal",
    now: datetime,
) -> NewRenewal:
    """The row :func:`create_renewal_in` inserts for a renewal of ``term`` (the policy's
    latest), after every check it makes. ``policy``, ``account`` and ``term`` are rows or
    objects with the tables' column names as attributes (the timer service reads them for
    a whole batch at once)."""
    session = uow.session
    uow.require(
        Action.RENEWAL_CREATE, owners={"producer": account.producer_id, "csr": account.csr_id}
    )
    if policy.status is PolicyStatus.CANCELLED:
        raise RuleViolation(
            f"{policy.carrier} policy {policy.policy_number} is cancelled, so it cannot be renewed."
        )
    tz = agency.time_zone(session)
    try:
        start, end = rules.new_term_bounds(term.end_at, effective, new_end, tz=tz)
    except RuleRefused as exc:
        raise _refused(exc) from None
    first = next(s for s in _stages(session) if s.kind is StageKind.OPEN)
    today = agency.local_date(now, tz)
    due = max(today, agency.local_date(term.end_at, tz) - timedelta(days=30))
    values: dict[str, Any] = {
        "policy_id": policy.id,
        "term_id": term.id,
        "stage_id": first.id,
        "stage_entered_at": now,
        "next_action": FIRST_NEXT_ACTION,
        "next_action_owner_id": _first_owner(account, uow.user.id),
        "next_action_due": due,
        "effective_at": start if start != term.end_at else None,
        "new_end_at": end,
        "new_premium": term.premium,
        "transaction_type": transaction_type,
        "transaction_state": _S.DRAFT,
    }
    # A new card has no documents yet: its checklist is copied once it may enter.
    facts = stage_rules.RenewalFacts(
        next_action=values["next_action"],
        next_action_owner_id=values["next_action_owner_id"],
        next_action_due=due,
        new_premium=values["new_premium"],
        effective_at=values["effective_at"],
        new_end_at=end,
        transaction_state=_S.DRAFT,
    )
    missing = stage_rules.missing_for(first.entry_criteria, facts)
    if missing:
        raise RuleViolation(stage_rules.refusal_message(first.name, missing))
    changes = {
        "policy": [None, policy.policy_number],
        "stage": [None, first.key],
        "state": [None, _S.DRAFT],
        "effective": [None, values["effective_at"]],
        "new_end": [None, end],
        "transaction_type": [None, transaction_type],
    }
    return NewRenewal(values, changes)


def create_renewal_in(
    uow: UnitOfWork,
    policy: Policy,
    *,
    new_end: datetime,
    effective: datetime | None = None,
    transaction_type: str = "renewal",
    now: datetime | None = None,
) -> Renewal:
    """A draft renewal of the policy's latest term, as a card in the first open stage.

    The new end must be after the policy's current end; an effective time after the
    current end makes a renewal with a gap. The card gets the account's CSR (else its
    producer) as next-action owner, a first next action due 30 days before expiration
    (today at the latest), the expiring premium as the new premium until someone enters
    the carrier's, and the checklist of the line of business.
    """
    session = uow.session
    account = session.get(Account, policy.account_id)
    assert account is not None
    new = new_renewal(
        uow,
        policy,
        account,
        ars.latest_term(session, policy.id),
        new_end=new_end,
        effective=effective,
        transaction_type=transaction_type,
        now=_now(now),
    )
    renewal = Renewal(**new.values)
    session.add(renewal)
    session.flush()
    add_checklist_in(uow, renewal, policy.line_of_business)
    uow.audit("renewal.create", "renewals", renewal.id, new.changes)
    return renewal


# --------------------------------------------------------------------------- issue


def _issue_effects(
    uow: UnitOfWork,
    policy: Policy,
    old_term: Term,
    new_term: Term,
    issued: Renewal | None,
    now: datetime,
) -> None:
    """What issuing a renewal of ``old_term`` does besides the renewal itself.

    The term's auto-renewal becomes issued (first, so that one whose own renewal is now
    invalidated ends ``issued``, not ``terminated``); the term's other open renewals are
    invalidated; with a plan that generates auto-renewals, the new term gets its own.
    """
    session = uow.session
    ar = session.scalar(select(AutoRenewal).where(AutoRenewal.term_id == old_term.id))
    if ar is not None and ar.state is not _A.ISSUED:
        try:
            after = ar_rules.mark_issued(ars.facts_of(ar))
        except RuleRefused as exc:
            raise _refused(exc) from None
        ars.store(uow, ar, after, "auto_renewal.issued")
    siblings = session.scalars(
        select(Renewal).where(
            Renewal.term_id == old_term.id,
            Renewal.transaction_state.in_(rules.OPEN_STATES),
        )
    )
    for other in siblings:
        if issued is not None and other.id == issued.id:
            continue
        state = rules.state_after_sibling_issued(other.transaction_state)
        uow.update(other, {"transaction_state": state}, "renewal.invalidated")
    account = session.get(Account, policy.account_id)
    plan = (
        session.get(AutoRenewalPlan, account.auto_renewal_plan_id)
        if account is not None and account.auto_renewal_plan_id
        else None
    )
    if plan is not None and plan.generate_auto_renewals:
        ars.create_for_term_in(uow, policy, new_term, plan)


def _check_issue(session: Session, policy: Policy) -> None:
    _check_issue_allowed(policy, ars.do_not_renew_on(session, policy.id))


def _check_issue_allowed(policy: Any, do_not_renew: bool) -> None:
    try:
        rules.check_issue_allowed(do_not_renew, policy.status is PolicyStatus.CANCELLED)
    except RuleRefused as exc:
        raise _refused(exc) from None


def _new_term_bounds(
    session: Session, policy: Any, renewal: Any, latest: Any
) -> tuple[datetime, datetime]:
    """The new term issuing ``renewal`` creates (``latest``: the policy's latest term)."""
    if latest.id != renewal.term_id:
        raise RuleViolation(
            f"{policy.carrier} policy {policy.policy_number} was renewed since renewal "
            f"{renewal.id} was opened, so it can no longer be issued."
        )
    if renewal.new_end_at is None:
        raise RuleViolation(
            f"Renewal {renewal.id} cannot be issued without the new term's end date."
        )
    tz = agency.time_zone(session)
    try:
        return rules.new_term_bounds(latest.end_at, renewal.effective_at, renewal.new_end_at, tz=tz)
    except RuleRefused as exc:
        raise _refused(exc) from None


def _term_changes(policy: Any, start: datetime, end: datetime) -> dict[str, list[Any]]:
    return {"policy": [None, policy.policy_number], "term": [None, [start, end]]}


def _issue(uow: UnitOfWork, renewal: Renewal, policy: Policy, now: datetime) -> Term:
    session = uow.session
    _check_issue(session, policy)
    start, end = _new_term_bounds(session, policy, renewal, ars.latest_term(session, policy.id))
    term = Term(policy_id=policy.id, start_at=start, end_at=end, premium=renewal.new_premium)
    session.add(term)
    session.flush()
    uow.audit("term.create", "terms", term.id, _term_changes(policy, start, end))
    renewal.new_term_id = term.id
    return term


@dataclass(frozen=True)
class PlannedAdvance:
    """What :func:`advance_in` writes to a renewal's own row, worked out beforehand: the
    columns it sets, the changes its audit event records and, when issuing, the new
    term's columns and the changes of its ``term.create`` audit event."""

    values: dict[str, Any]
    changes: dict[str, list[Any]]
    term: dict[str, Any] | None = None
    term_changes: dict[str, list[Any]] | None = None


def planned_advance(
    uow: UnitOfWork,
    renewal: Any,
    policy: Any,
    account: Any,
    target: TransactionState,
    *,
    now: datetime,
    latest: Any,
    do_not_renew: bool,
    outstanding: tuple[str, ...],
) -> PlannedAdvance:
    """The row-level part of :func:`advance_in`, from rows read beforehand (the timer
    service reads them for a whole batch): every check it makes and what it sets on the
    renewal and its card. What issuing does besides (the auto-renewal, a generated one)
    is the caller's. ``renewal``, ``policy``, ``account``, ``latest`` (the policy's
    latest term) are rows or objects with the tables' column names as attributes;
    ``do_not_renew``: whether an auto-renewal of the policy is marked do not renew;
    ``outstanding``: the renewal's required documents not yet received or waived.
    """
    target = TransactionState(target)
    needed = Action.RENEWAL_SET_OUTCOME if target is _S.ISSUED else Action.RENEWAL_MOVE
    uow.require(
        needed,
        owners={
            "producer": account.producer_id,
            "csr": account.csr_id,
            "owner": renewal.next_action_owner_id,
        },
    )
    steps = _advance_path(renewal.transaction_state, target)
    if not steps:
        return PlannedAdvance({}, {})
    before = renewal.transaction_state
    fields: dict[str, Any] = {"transaction_state": steps[-1]}
    term: dict[str, Any] | None = None
    term_changes: dict[str, list[Any]] | None = None
    if steps[-1] is _S.ISSUED:
        _check_issue_allowed(policy, do_not_renew)
        start, end = _new_term_bounds(uow.session, policy, renewal, latest)
        term = {"policy_id": policy.id, "start_at": start, "end_at": end}
        term["premium"] = renewal.new_premium
        term_changes = _term_changes(policy, start, end)
        fields["outcome"] = Outcome.RENEWED
    changes = changes_between({name: getattr(renewal, name) for name in fields}, fields)
    move = _forward_target(uow.session, renewal.stage_id, steps[-1])
    if move is not None:
        stage, current = move
        moved = {"stage_id": stage.id, "stage_entered_at": now}
        changes |= changes_between(
            {"stage_id": renewal.stage_id, "stage_entered_at": renewal.stage_entered_at}, moved
        )
        fields |= moved
        facts = stage_rules.RenewalFacts(
            next_action=renewal.next_action,
            next_action_owner_id=renewal.next_action_owner_id,
            next_action_due=renewal.next_action_due,
            outstanding_required_documents=outstanding,
            new_premium=renewal.new_premium,
            effective_at=renewal.effective_at,
            new_end_at=renewal.new_end_at,
            transaction_state=steps[-1],
            outcome_reason=renewal.outcome_reason,
        )
        missing = stage_rules.missing_for(stage.entry_criteria, facts)
        if missing:
            raise RuleViolation(stage_rules.refusal_message(stage.name, missing))
        changes["stage"] = [current.key, stage.key]
    changes["transaction_state"] = [before.value, steps[-1].value]
    return PlannedAdvance(fields, changes, term, term_changes)


def _advance_path(state: TransactionState, target: TransactionState) -> list[TransactionState]:
    try:
        return list(rules.advance_path(state, target))
    except RuleRefused as exc:
        raise _refused(exc) from None
    except ValueError:
        raise RuleViolation(
            f"A renewal can be advanced to quoted, accepted or issued, not {target.value}."
        ) from None


def advance_in(
    uow: UnitOfWork,
    renewal: Renewal,
    target: TransactionState,
    *,
    now: datetime | None = None,
    action: str = "renewal.advance",
) -> list[TransactionState]:
    """Advance the renewal to ``target`` (quoted, accepted or issued), one step at a time.

    Returns the steps taken (empty when it already was there or past). Issuing creates the
    new term and invalidates the term's other open renewals; it is refused while the
    policy is marked do not renew or is cancelled.
    """
    now = _now(now)
    target = TransactionState(target)
    policy = uow.session.get(Policy, renewal.policy_id)
    assert policy is not None
    needed = Action.RENEWAL_SET_OUTCOME if target is _S.ISSUED else Action.RENEWAL_MOVE
    uow.require(needed, owners=owners_of(renewal))
    steps = _advance_path(renewal.transaction_state, target)
    if not steps:
        return []
    before = renewal.transaction_state
    fields: dict[str, Any] = {"transaction_state": steps[-1]}
    term: Term | None = None
    if steps[-1] is _S.ISSUED:
        term = _issue(uow, renewal, policy, now)
        fields["outcome"] = Outcome.RENEWED
    # One UPDATE of the renewal, at the record: the queries on the way (stages, the
    # documents the stage's criteria look at) must not flush it half changed.
    with uow.session.no_autoflush:
        changes = uow.apply(renewal, fields)
        changes |= _forward_stage(uow, renewal, steps[-1], now)
    changes["transaction_state"] = [before.value, steps[-1].value]
    uow.record(action, renewal, changes)
    if term is not None:
        old_term = uow.session.get(Term, renewal.term_id)
        assert old_term is not None
        _issue_effects(uow, policy, old_term, term, renewal, now)
    return steps


# --------------------------------------------------------------------------- ending


_ENDINGS = {_S.DISCARDED: "discard", _S.REJECTED: "reject", _S.REFUSED: "refuse"}
_DEFAULT_REASON = {
    _S.REJECTED: "Non-renewed (no reason given)",
    _S.REFUSED: "The insured declined (no reason given)",
}


def end_in(
    uow: UnitOfWork,
    renewal: Renewal,
    state: TransactionState,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """End an open renewal without a new term: discarded, rejected or refused.

    A rejected renewal moves to the stage implying rejected (Non-renewed), a refused one
    to the one implying refused (Lost), with the reason; a discarded one leaves the board.
    The auto-renewal managing it is terminated.
    """
    now = _now(now)
    state = TransactionState(state)
    if state not in _ENDINGS:
        raise RuleViolation("A renewal can be discarded, rejected or refused.")
    uow.require(Action.RENEWAL_SET_OUTCOME, owners=owners_of(renewal))
    try:
        rules.check_transition(renewal.transaction_state, state)
    except RuleRefused as exc:
        raise _refused(exc) from None
    before = renewal.transaction_state
    fields: dict[str, Any] = {"transaction_state": state}
    if state is not _S.DISCARDED:
        fields["outcome_reason"] = (reason or "").strip() or _DEFAULT_REASON[state]
        fields["outcome"] = Outcome.NON_RENEWED if state is _S.REJECTED else Outcome.LOST
    changes = uow.apply(renewal, fields)
    stage = stage_for_state(uow.session, state)
    if stage is not None:
        changes |= _enter_stage(uow, renewal, stage, now)
    changes["transaction_state"] = [before.value, state.value]
    uow.record(f"renewal.{_ENDINGS[state]}", renewal, changes)
    ars.terminate_managing_in(uow, renewal)


# --------------------------------------------------------------------------- the policy


def cancel_policy_in(
    uow: UnitOfWork, policy: Policy, at: datetime | None = None, *, now: datetime | None = None
) -> None:
    """Cancel the policy (``at``: when the cancellation takes effect).

    Each renewal an auto-renewal manages is reset to draft (it is *not* invalidated) and
    that auto-renewal becomes invalidated. A reset renewal whose card sits in a stage that
    implies more than a draft (Proposal sent, Bound) goes back to the nearest earlier open
    stage that fits a draft and whose entry criteria it meets, keeping its next action and
    its owner; one ``renewal.reset`` audit event says what changed and why. Renewals no
    auto-renewal manages keep their transaction and their stage: people decide what to
    do, and none of them can be issued while the policy is cancelled.
    """
    if policy.status is PolicyStatus.CANCELLED:
        raise RuleViolation(f"{policy.carrier} policy {policy.policy_number} is already cancelled.")
    account = uow.session.get(Account, policy.account_id)
    assert account is not None
    uow.require(Action.POLICY_EDIT, owners={"producer": account.producer_id, "csr": account.csr_id})
    uow.update(
        policy,
        {"status": PolicyStatus.CANCELLED, "cancelled_at": _now(at)},
        "policy.cancel",
    )
    rows = uow.session.scalars(select(AutoRenewal).where(AutoRenewal.policy_id == policy.id))
    for ar in rows:
        if ar.state not in ar_rules.OPERATIONS[ar_rules.Operation.INVALIDATE][0]:
            continue
        if ar.renewal_id is not None:
            renewal = uow.session.get(Renewal, ar.renewal_id)
            assert renewal is not None
            _reset_after_cancellation(uow, policy, renewal, _now(now))
        ars.store(uow, ar, ar_rules.invalidate(ars.facts_of(ar)), "auto_renewal.invalidated")


def _reset_after_cancellation(
    uow: UnitOfWork, policy: Policy, renewal: Renewal, now: datetime
) -> None:
    """Reset a renewal an auto-renewal manages to draft, and its card to a stage that
    fits a draft (see :func:`cancel_policy_in`)."""
    state = rules.state_after_cancellation(renewal.transaction_state, managed_by_auto_renewal=True)
    with uow.session.no_autoflush:
        changes = uow.apply(renewal, {"transaction_state": state})
        if state.is_open:
            changes |= _back_to_fitting_stage(uow, policy, renewal, now)
    if changes:
        changes["reason"] = [
            None,
            f"{policy.carrier} policy {policy.policy_number} was cancelled, so the "
            "auto-renewal managing this renewal was invalidated",
        ]
        uow.record("renewal.reset", renewal, changes)


def _back_to_fitting_stage(
    uow: UnitOfWork, policy: Policy, renewal: Renewal, now: datetime
) -> dict[str, list[Any]]:
    """Move the card back to the nearest earlier open stage that fits its transaction and
    whose entry criteria it meets; nothing when its stage fits, or nothing earlier fits
    (the first stage is where every draft starts)."""
    current = uow.session.get(PipelineStage, renewal.stage_id)
    assert current is not None
    if current.kind is not StageKind.OPEN or stage_rules.fits(current, renewal.transaction_state):
        return {}
    back = stage_rules.stages_back(_stages(uow.session), current, renewal.transaction_state)
    if not back:
        return {}
    facts = card_facts(uow, renewal)
    for stage in back:
        if not stage_rules.missing_for(stage.entry_criteria, facts):
            changes = uow.apply(renewal, {"stage_id": stage.id, "stage_entered_at": now})
            renewal.stage = stage
            changes["stage"] = [current.key, stage.key]
            return changes
    nearest = back[0]
    missing = stage_rules.missing_for(nearest.entry_criteria, facts)
    raise RuleViolation(
        f"{policy.carrier} policy {policy.policy_number} was not cancelled: its renewal goes "
        f"back to draft, so its card must leave {current.name}, but {nearest.name} needs "
        f"{stage_rules.needs_words(missing)}."
    )


def reinstate_policy_in(uow: UnitOfWork, policy: Policy) -> None:
    """Lift a cancellation (the insured paid, the cancellation was a mistake)."""
    if policy.status is not PolicyStatus.CANCELLED:
        raise RuleViolation(f"{policy.carrier} policy {policy.policy_number} is not cancelled.")
    account = uow.session.get(Account, policy.account_id)
    assert account is not None
    uow.require(Action.POLICY_EDIT, owners={"producer": account.producer_id, "csr": account.csr_id})
    uow.update(policy, {"status": PolicyStatus.ACTIVE, "cancelled_at": None}, "policy.reinstate")


def record_term_in(
    uow: UnitOfWork,
    policy_id: int,
    start: datetime,
    end: datetime,
    premium: Decimal | None,
    *,
    now: datetime | None = None,
) -> bool:
    """Record a later term that was renewed outside (in the agency's management system).

    The policy's open renewal of its latest term is closed as renewed (issued, in the won
    stage), its other open renewals invalidated, its auto-renewal marked issued. Refused
    when the term would overlap the latest one or while the policy is marked do not renew.
    Returns False when the policy already has exactly this term.
    """
    now = _now(now)
    session = uow.session
    policy = session.get(Policy, policy_id)
    if policy is None:
        raise NotFound(f"There is no policy with id {policy_id}.")
    account = session.get(Account, policy.account_id)
    assert account is not None
    uow.require(Action.POLICY_EDIT, owners={"producer": account.producer_id, "csr": account.csr_id})
    same = session.scalar(
        select(Term.id).where(
            Term.policy_id == policy.id, Term.start_at == start, Term.end_at == end
        )
    )
    if same is not None:
        return False
    latest = ars.latest_term(session, policy.id)
    tz = agency.time_zone(session)
    effective = start if start != latest.end_at else None
    try:
        start, end = rules.new_term_bounds(latest.end_at, effective, end, tz=tz)
    except RuleRefused as exc:
        raise _refused(exc) from None
    _check_issue(session, policy)
    open_renewals = list(
        session.scalars(
            select(Renewal)
            .where(Renewal.term_id == latest.id, Renewal.transaction_state.in_(rules.OPEN_STATES))
            .order_by(Renewal.id)
        )
    )
    term = Term(policy_id=policy.id, start_at=start, end_at=end, premium=premium)
    session.add(term)
    session.flush()
    uow.audit(
        "term.create",
        "terms",
        term.id,
        {"policy": [None, policy.policy_number], "term": [None, [start, end]]},
    )
    closed: Renewal | None = None
    if open_renewals:
        closed = open_renewals[0]
        before = closed.transaction_state
        changes = uow.apply(
            closed,
            {
                "transaction_state": _S.ISSUED,
                "outcome": Outcome.RENEWED,
                "effective_at": effective,
                "new_end_at": end,
                "new_premium": premium if premium is not None else closed.new_premium,
                "new_term_id": term.id,
            },
        )
        won = stage_for_state(session, _S.ISSUED)
        if won is not None:
            changes |= _enter_stage(uow, closed, won, now)
        changes["transaction_state"] = [before.value, _S.ISSUED.value]
        uow.record("renewal.renewed_outside", closed, changes)
    _issue_effects(uow, policy, latest, term, closed, now)
    return True


# --------------------------------------------------------------------------- one unit each


def create_renewal(
    db: Database,
    actor: Actor,
    number: str,
    *,
    new_end: datetime | date,
    effective: datetime | date | None = None,
    carrier: str | None = None,
) -> RenewalInfo:
    """``renewal create``: dates are calendar dates in the agency's time zone."""
    with unit_of_work(db, actor) as uow:
        policy = ars.find_policy(uow.session, number, carrier)
        tz = agency.time_zone(uow.session)
        renewal = create_renewal_in(
            uow,
            policy,
            new_end=moment(new_end, tz),
            effective=None if effective is None else moment(effective, tz),
        )
        return info_of(uow.session, renewal)


def moment(value: datetime | date, tz: Any) -> datetime:
    """A date as midnight at its start in the agency's zone; a datetime as given."""
    if isinstance(value, datetime):
        return rules.require_aware(value, "time").astimezone(UTC)
    return agency.day_start(value, tz)


def advance(
    db: Database, actor: Actor, renewal_id: int, target: TransactionState | str
) -> RenewalInfo:
    with unit_of_work(db, actor) as uow:
        renewal = load_renewal(uow, renewal_id)
        advance_in(uow, renewal, TransactionState(target))
        return info_of(uow.session, renewal)


def end_renewal(
    db: Database,
    actor: Actor,
    renewal_id: int,
    state: TransactionState | str,
    *,
    reason: str | None = None,
) -> RenewalInfo:
    with unit_of_work(db, actor) as uow:
        renewal = load_renewal(uow, renewal_id)
        end_in(uow, renewal, TransactionState(state), reason=reason)
        return info_of(uow.session, renewal)


def cancel_policy(
    db: Database,
    actor: Actor,
    number: str,
    *,
    at: datetime | date | None = None,
    carrier: str | None = None,
) -> None:
    with unit_of_work(db, actor) as uow:
        policy = ars.find_policy(uow.session, number, carrier)
        when = None if at is None else moment(at, agency.time_zone(uow.session))
        cancel_policy_in(uow, policy, when)


def reinstate_policy(
    db: Database, actor: Actor, number: str, *, carrier: str | None = None
) -> None:
    with unit_of_work(db, actor) as uow:
        reinstate_policy_in(uow, ars.find_policy(uow.session, number, carrier))


def policy_detail(
    db: Database, actor: Actor, number: str, *, carrier: str | None = None
) -> dict[str, Any]:
    """``policy show --json``: the policy, its terms, renewals and auto-renewals."""
    with read_only(db, actor) as uow:
        session = uow.session
        policy = ars.find_policy(session, number, carrier)
        terms = session.scalars(
            select(Term).where(Term.policy_id == policy.id).order_by(Term.start_at)
        )
        renewals = session.scalars(
            select(Renewal).where(Renewal.policy_id == policy.id).order_by(Renewal.id)
        )
        return {
            "policy_number": policy.policy_number,
            "carrier": policy.carrier,
            "line_of_business": policy.line_of_business,
            "account": policy.account.name,
            "status": policy.status.value,
            "cancelled_at": policy.cancelled_at.isoformat() if policy.cancelled_at else None,
            "terms": [
                {
                    "start": t.start_at.isoformat(),
                    "end": t.end_at.isoformat(),
                    "premium": None if t.premium is None else str(t.premium),
                }
                for t in terms
            ],
            "renewals": [info_of(session, r).to_json() for r in renewals],
            "auto_renewals": [i.to_json() for i in ars.infos_of_policy(session, policy.id)],
        }
