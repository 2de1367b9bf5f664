"""Renewal cards: opening one, editing it, and moving it through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    ChecklistTemplate,
    DocumentRequirement,
    PipelineStage,
    Policy,
    Renewal,
    Term,
    User,
)
from desktop_app.domain import stages as stage_rules
from desktop_app.domain.enums import (
    DocumentStatus,
    Outcome,
    StageKind,
    TransactionState,
)
from desktop_app.domain.permissions import Action
from desktop_app.domain.transactions import RuleRefused
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.services import auto_renewals
from desktop_app.services.agency import per_transaction
from desktop_app.services.book import parse_money, user_id
from desktop_app.services.unit import Actor, UnitOfWork, read_only, unit_of_work


@dataclass(frozen=True)
class RenewalCard:
    id: int
    version: int
    policy_id: int
    policy_number: str
    carrier: str
    line_of_business: str
    insured: str
    stage_key: str
    stage_name: str
    next_action: str | None
    next_action_owner: str | None
    next_action_due: date | None
    target_date: date | None
    expiration: datetime
    premium: Decimal | None
    new_premium: Decimal | None
    transaction_state: TransactionState
    outcome: Outcome | None
    blocker_reason: str | None
    notes: str | None


def _card(session: Any, renewal: Renewal) -> RenewalCard:
    policy, term = renewal.policy, renewal.term
    owner = (
        session.get(User, renewal.next_action_owner_id) if renewal.next_action_owner_id else None
    )
    return RenewalCard(
        id=renewal.id,
        version=renewal.version,
        policy_id=policy.id,
        policy_number=policy.policy_number,
        carrier=policy.carrier,
        line_of_business=policy.line_of_business,
        insured=policy.account.name,
        stage_key=renewal.stage.key,
        stage_name=renewal.stage.name,
        next_action=renewal.next_action,
        next_action_owner=owner.username if owner else None,
        next_action_due=renewal.next_action_due,
        target_date=renewal.target_date,
        expiration=term.end_at,
        premium=term.premium,
        new_premium=renewal.new_premium,
        transaction_state=renewal.transaction_state,
        outcome=renewal.outcome,
        blocker_reason=renewal.blocker_reason,
        notes=renewal.notes,
    )


def load_renewal(uow: UnitOfWork, renewal_id: int) -> Renewal:
    renewal = uow.session.get(
        Renewal,
        renewal_id,
        options=[selectinload(Renewal.policy).selectinload(Policy.account)],
    )
    if renewal is None:
        raise NotFound(f"There is no renewal with id {renewal_id}.")
    return renewal


def owners_of(renewal: Renewal) -> dict[str, int | None]:
    """Whose book a renewal is in: the account's producer and CSR, and the next-action owner."""
    account = renewal.policy.account
    return {
        "producer": account.producer_id,
        "csr": account.csr_id,
        "owner": renewal.next_action_owner_id,
    }


def _stage(uow: UnitOfWork, key: str) -> PipelineStage:
    stage = uow.session.scalar(select(PipelineStage).where(PipelineStage.key == key))
    if stage is None or not stage.active:
        names = ", ".join(
            uow.session.scalars(
                select(PipelineStage.key)
                .where(PipelineStage.active.is_(True))
                .order_by(PipelineStage.position)
            )
        )
        raise NotFound(f"There is no pipeline stage '{key}'; the stages are {names}.")
    return stage


def facts(uow: UnitOfWork, renewal: Renewal) -> stage_rules.RenewalFacts:
    outstanding = tuple(
        uow.session.scalars(
            select(DocumentRequirement.document_type)
            .where(
                DocumentRequirement.renewal_id == renewal.id,
                DocumentRequirement.required.is_(True),
                DocumentRequirement.status.not_in([DocumentStatus.RECEIVED, DocumentStatus.WAIVED]),
            )
            .order_by(DocumentRequirement.id)
        )
    )
    return stage_rules.RenewalFacts(
        next_action=renewal.next_action,
        next_action_owner_id=renewal.next_action_owner_id,
        next_action_due=renewal.next_action_due,
        outstanding_required_documents=outstanding,
        new_premium=renewal.new_premium,
        effective_at=renewal.effective_at,
        new_end_at=renewal.new_end_at,
        transaction_state=renewal.transaction_state,
        outcome_reason=renewal.outcome_reason,
    )


def open_renewal_in(
    uow: UnitOfWork,
    policy_id: int,
    *,
    next_action: str,
    owner: str,
    due: date,
) -> RenewalCard:
    """Open a renewal card for the policy's latest term in the first stage, with the
    document checklist of its line of business."""
    policy = uow.session.get(Policy, policy_id, options=[selectinload(Policy.account)])
    if policy is None:
        raise NotFound(f"There is no policy with id {policy_id}.")
    account = policy.account
    owner_id = user_id(uow, owner)
    uow.require(
        Action.RENEWAL_CREATE,
        owners={"producer": account.producer_id, "csr": account.csr_id},
    )
    term = uow.session.scalars(
        select(Term).where(Term.policy_id == policy_id).order_by(Term.end_at.desc()).limit(1)
    ).one()
    existing = uow.session.scalar(
        select(func.count())
        .select_from(Renewal)
        .where(
            Renewal.term_id == term.id,
            Renewal.transaction_state.in_(
                [TransactionState.DRAFT, TransactionState.QUOTED, TransactionState.ACCEPTED]
            ),
        )
    )
    if existing:
        raise RuleViolation(
            f"{policy.carrier} policy {policy.policy_number} already has an open renewal."
        )
    first = uow.session.scalars(
        select(PipelineStage)
        .where(PipelineStage.active.is_(True), PipelineStage.kind == StageKind.OPEN)
        .order_by(PipelineStage.position)
        .limit(1)
    ).one()
    renewal = Renewal(
        policy_id=policy.id,
        term_id=term.id,
        stage_id=first.id,
        next_action=next_action,
        next_action_owner_id=owner_id,
        next_action_due=due,
    )
    uow.session.add(renewal)
    uow.session.flush()
    missing = stage_rules.missing_for(first.entry_criteria, facts(uow, renewal))
    if missing:
        raise RuleViolation(stage_rules.refusal_message(first.name, missing))
    add_checklist_in(uow, renewal, policy.line_of_business)
    uow.audit(
        "renewal.create",
        "renewals",
        renewal.id,
        {
            "stage": [None, first.key],
            "next_action": [None, next_action],
            "owner": [None, owner],
        },
    )
    uow.session.flush()
    return _card(uow.session, renewal)


def add_checklist_in(uow: UnitOfWork, renewal: Renewal, line_of_business: str) -> None:
    """The line of business's document checklist, copied onto a new renewal."""
    for values in checklist_rows(uow, renewal.id, line_of_business):
        uow.session.add(DocumentRequirement(**values))


def checklist_rows(uow: UnitOfWork, renewal_id: int, line_of_business: str) -> list[dict[str, Any]]:
    """The columns of the documents :func:`add_checklist_in` gives a new renewal."""
    return [
        {
            "renewal_id": renewal_id,
            "document_type": document_type,
            "required": required,
            "access_level": access_level,
        }
        for document_type, required, access_level in _checklist(uow, line_of_business)
    ]


def _checklist(uow: UnitOfWork, line_of_business: str) -> tuple[tuple[Any, ...], ...]:
    """The line's checklist templates as (document type, required, access level), read
    once per transaction (the timer service opens many renewals in one)."""
    return per_transaction(  # type: ignore[no-any-return]
        uow.session,
        ("checklist", line_of_business),
        lambda: tuple(
            tuple(row)
            for row in uow.session.execute(
                select(
                    ChecklistTemplate.document_type,
                    ChecklistTemplate.required,
                    ChecklistTemplate.access_level,
                )
                .where(ChecklistTemplate.line_of_business == line_of_business)
                .order_by(ChecklistTemplate.position)
            )
        ),
    )


def get_renewal(db: Database, actor: Actor, renewal_id: int) -> RenewalCard:
    with read_only(db, actor) as uow:
        return _card(uow.session, load_renewal(uow, renewal_id))


def move_stage_in(
    uow: UnitOfWork,
    renewal_id: int,
    stage_key: str,
    *,
    expected_version: int | None = None,
    outcome_reason: str | None = None,
    now: datetime | None = None,
) -> RenewalCard:
    """Move a renewal to another stage, checking the target stage's entry criteria."""
    renewal = load_renewal(uow, renewal_id)
    owners = owners_of(renewal)
    uow.require(Action.RENEWAL_MOVE, owners=owners)
    target = _stage(uow, stage_key)
    current = renewal.stage
    if target.kind is not StageKind.OPEN or current.kind is not StageKind.OPEN:
        # deciding an outcome, or reopening a decided renewal
        uow.require(Action.RENEWAL_SET_OUTCOME, owners=owners)
    uow.check_version(renewal, expected_version, f"Renewal {renewal.policy.policy_number}")
    if target.id == current.id:
        return _card(uow.session, renewal)
    # Terminal states are terminal: a decided card whose transaction ended does not
    # reopen, and an issued one stays in a won stage (the sentence says what to do).
    try:
        state = stage_rules.state_after_move(
            renewal.transaction_state,
            current,
            target,
            renewal=f"Renewal {renewal.policy.policy_number}",
        )
    except RuleRefused as exc:
        raise RuleViolation(exc.message) from None
    fields: dict[str, Any] = {
        "stage_id": target.id,
        "stage_entered_at": now or datetime.now(UTC),
        "transaction_state": state,
    }
    if current.kind is not StageKind.OPEN:
        # Reopening or re-deciding: the old decision and its reason no longer hold.
        fields["outcome_reason"] = None
    if target.kind is not StageKind.OPEN:
        # every decision needs its own reason
        fields["outcome_reason"] = (outcome_reason or "").strip() or None
    outcome: Outcome | None = None
    if target.kind is StageKind.WON:
        outcome = Outcome.RENEWED
    elif target.kind is StageKind.LOST:
        rejected = target.implied_state is TransactionState.REJECTED
        outcome = Outcome.NON_RENEWED if rejected else Outcome.LOST
    fields["outcome"] = outcome
    changes = uow.apply(renewal, fields)
    missing = stage_rules.missing_for(target.entry_criteria, facts(uow, renewal))
    if missing:
        raise RuleViolation(stage_rules.refusal_message(target.name, missing))
    renewal.stage = target
    changes["stage"] = [current.key, target.key]
    uow.record("renewal.move", renewal, changes)
    # A decision that ends the transaction stops the auto-renewal managing it.
    auto_renewals.terminate_managing_in(uow, renewal)
    return _card(uow.session, renewal)


# field name → the permission needed to change it
_EDITABLE: dict[str, Action] = {
    "next_action": Action.RENEWAL_EDIT,
    "next_action_due": Action.RENEWAL_EDIT,
    "blocker_reason": Action.RENEWAL_EDIT,
    "notes": Action.RENEWAL_EDIT,
    "risk_flags": Action.RENEWAL_EDIT,
    "new_premium": Action.RENEWAL_EDIT,
    "next_action_owner": Action.RENEWAL_REASSIGN,
    "target_date": Action.RENEWAL_CRITICAL_DATES,
}


def update_renewal_in(
    uow: UnitOfWork,
    renewal_id: int,
    *,
    expected_version: int | None = None,
    **fields: Any,
) -> RenewalCard:
    """Edit a renewal's card fields; each field is checked against the permission it needs."""
    unknown = set(fields) - set(_EDITABLE)
    if unknown:
        raise RuleViolation(
            f"These renewal fields cannot be edited here: {', '.join(sorted(unknown))}."
        )
    renewal = load_renewal(uow, renewal_id)
    owners = owners_of(renewal)
    for name in fields:
        uow.require(_EDITABLE[name], owners=owners)
    uow.check_version(renewal, expected_version, f"Renewal {renewal.policy.policy_number}")
    values = dict(fields)
    if "next_action_owner" in values:
        values["next_action_owner_id"] = user_id(uow, values.pop("next_action_owner"))
    if "new_premium" in values:
        values["new_premium"] = parse_money(values["new_premium"], "new premium")
    changes = uow.apply(renewal, values)
    # The card must still meet its current stage's criteria (e.g. a next action).
    missing = stage_rules.missing_for(renewal.stage.entry_criteria, facts(uow, renewal))
    if missing:
        raise RuleViolation(
            f"Renewal {renewal.policy.policy_number} is in {renewal.stage.name}, "
            f"which needs {', '.join(missing)}; the change was not saved."
        )
    uow.record("renewal.update", renewal, changes)
    return _card(uow.session, renewal)


def open_renewal(db: Database, actor: Actor, policy_id: int, **options: Any) -> RenewalCard:
    """Open a renewal card (one unit of work); see :func:`open_renewal_in`."""
    with unit_of_work(db, actor) as uow:
        return open_renewal_in(uow, policy_id, **options)


def move_stage(
    db: Database, actor: Actor, renewal_id: int, stage_key: str, **options: Any
) -> RenewalCard:
    """Move a renewal to another stage (one unit of work); see :func:`move_stage_in`."""
    with unit_of_work(db, actor) as uow:
        return move_stage_in(uow, renewal_id, stage_key, **options)


def update_renewal(db: Database, actor: Actor, renewal_id: int, **fields: Any) -> RenewalCard:
    """Edit a renewal's card fields (one unit of work); see :func:`update_renewal_in`."""
    with unit_of_work(db, actor) as uow:
        return update_renewal_in(uow, renewal_id, **fields)


def stage_keys(db: Database) -> list[str]:
    with db.read_session() as session:
        return list(
            session.scalars(
                select(PipelineStage.key)
                .where(PipelineStage.active.is_(True))
                .order_by(PipelineStage.position)
            )
        )


__all__ = [
    "RenewalCard",
    "get_renewal",
    "move_stage",
    "open_renewal",
    "owners_of",
    "stage_keys",
    "update_renewal",
]
