"""Auto-renewal plans and auto-renewals: creating, showing and changing them by hand.

The rules are in :mod:`desktop_app.domain.auto_renewal`; this module loads rows into its
snapshots, writes the results back (with ``next_due_at``, the index the timer service
reads) and audits every change. The timer service's own firing lives in
:mod:`desktop_app.engine.timer`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from desktop_app.db.engine import Database
from desktop_app.db.models import Account, AutoRenewal, AutoRenewalPlan, Policy, Renewal, Term
from desktop_app.domain import auto_renewal as rules
from desktop_app.domain.auto_renewal import KEEP, AutoRenewalFacts, Keep, TriggerEvent
from desktop_app.domain.enums import AutoRenewalState, PolicyStatus, TransactionState
from desktop_app.domain.permissions import Action
from desktop_app.domain.transactions import ENDING_STATES, RuleRefused, months_later
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.services import agency
from desktop_app.services.unit import Actor, UnitOfWork, read_only, unit_of_work

_A = AutoRenewalState

# Settings of an auto-renewal created on an account that has no plan.
DEFAULT_LEADS = {"create": 60, "accept": 30, "issue": 15}


@dataclass(frozen=True)
class PlanInfo:
    id: int
    version: int
    name: str
    create_lead_days: int | None
    accept_lead_days: int | None
    issue_lead_days: int | None
    new_term_months: int
    transaction_type: str
    generate_auto_renewals: bool

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AutoRenewalInfo:
    id: int
    version: int
    policy_id: int
    policy_number: str
    carrier: str
    term_id: int
    term_end: datetime
    plan: str | None
    state: AutoRenewalState
    renewal_id: int | None
    transaction_type: str
    new_term_months: int
    create_time: datetime | None
    accept_time: datetime | None
    issue_time: datetime | None
    fired: dict[str, datetime | None]
    error: str | None
    next_due_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """As ``policy show --json`` and ``auto-renewal show --json`` print it."""

        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "id": self.id,
            "term_end": iso(self.term_end),
            "state": self.state.value,
            "renewal_id": self.renewal_id,
            "plan": self.plan,
            "transaction_type": self.transaction_type,
            "new_term_months": self.new_term_months,
            "create_time": iso(self.create_time),
            "accept_time": iso(self.accept_time),
            "issue_time": iso(self.issue_time),
            "fired": {event: iso(moment) for event, moment in self.fired.items()},
            "error": self.error,
            "next_due_at": iso(self.next_due_at),
        }


def refused(exc: RuleRefused) -> RuleViolation:
    """A domain refusal as the services' user-facing error (same sentence)."""
    return RuleViolation(exc.message)


# --------------------------------------------------------------------------- plans


def _plan_info(plan: AutoRenewalPlan) -> PlanInfo:
    return PlanInfo(
        plan.id,
        plan.version,
        plan.name,
        plan.create_lead_days,
        plan.accept_lead_days,
        plan.issue_lead_days,
        plan.new_term_months,
        plan.transaction_type,
        plan.generate_auto_renewals,
    )


def add_plan(
    db: Database,
    actor: Actor,
    name: str,
    *,
    create_lead_days: int | None = None,
    accept_lead_days: int | None = None,
    issue_lead_days: int | None = None,
    new_term_months: int = 12,
    transaction_type: str = "renewal",
    generate_auto_renewals: bool = True,
) -> PlanInfo:
    """A new auto-renewal plan. Empty lead days make that step manual."""
    name = (name or "").strip()
    if not name:
        raise RuleViolation("An auto-renewal plan needs a name.")
    try:
        rules.check_plan_settings(
            create_lead_days, accept_lead_days, issue_lead_days, new_term_months
        )
    except RuleRefused as exc:
        raise refused(exc) from None
    transaction_type = (transaction_type or "").strip()
    if not transaction_type or len(transaction_type) > rules.MAX_TRANSACTION_TYPE_LENGTH:
        raise RuleViolation("The transaction type must be a name of 1 to 40 characters.")
    with unit_of_work(db, actor) as uow:
        uow.require(Action.PLAN_CONFIGURE)
        if uow.session.scalar(select(AutoRenewalPlan.id).where(AutoRenewalPlan.name == name)):
            raise RuleViolation(f"There is already an auto-renewal plan named '{name}'.")
        plan = AutoRenewalPlan(
            name=name,
            create_lead_days=create_lead_days,
            accept_lead_days=accept_lead_days,
            issue_lead_days=issue_lead_days,
            new_term_months=new_term_months,
            transaction_type=transaction_type,
            generate_auto_renewals=generate_auto_renewals,
        )
        uow.session.add(plan)
        uow.session.flush()
        info = _plan_info(plan)
        uow.audit(
            "plan.create",
            "auto_renewal_plans",
            plan.id,
            {k: [None, v] for k, v in info.to_json().items() if k not in ("id", "version")},
        )
        return info


def list_plans(db: Database) -> list[PlanInfo]:
    with db.read_session() as session:
        plans = session.scalars(select(AutoRenewalPlan).order_by(AutoRenewalPlan.name))
        return [_plan_info(p) for p in plans]


def plan_named(session: Session, name: str) -> AutoRenewalPlan:
    plan = session.scalar(select(AutoRenewalPlan).where(AutoRenewalPlan.name == name.strip()))
    if plan is None:
        names = ", ".join(session.scalars(select(AutoRenewalPlan.name).order_by("name")))
        known = f"; the plans are {names}" if names else "; add one with 'plan add'"
        raise NotFound(f"There is no auto-renewal plan named '{name}'{known}.")
    return plan


# --------------------------------------------------------------------------- rows ↔ rules


def facts_of(ar: AutoRenewal) -> AutoRenewalFacts:
    return AutoRenewalFacts(
        state=ar.state,
        transaction_type=ar.transaction_type,
        new_term_months=ar.new_term_months,
        create_time=ar.create_time,
        accept_time=ar.accept_time,
        issue_time=ar.issue_time,
        fired_create_at=ar.fired_create_at,
        fired_accept_at=ar.fired_accept_at,
        fired_issue_at=ar.fired_issue_at,
        last_error=ar.last_error,
        id=ar.id,
        policy_id=ar.policy_id,
        term_id=ar.term_id,
        renewal_id=ar.renewal_id,
    )


_STORED = (
    "state",
    "transaction_type",
    "new_term_months",
    "create_time",
    "accept_time",
    "issue_time",
    "fired_create_at",
    "fired_accept_at",
    "fired_issue_at",
    "last_error",
    "renewal_id",
)


def next_due(facts: AutoRenewalFacts) -> datetime | None:
    """When the timer service must next look at this auto-renewal (None: never, as is)."""
    if not rules.fires_plugins(facts.state):
        return None
    return rules.next_due_time(facts.times, facts.fired)


def stored_values(
    after: AutoRenewalFacts, next_due_at: datetime | Keep | None = KEEP
) -> dict[str, Any]:
    """The columns :func:`store` writes for ``after``: its fields and its next due time
    (``next_due_at``: as read from the row, instead of computed)."""
    fields = {name: getattr(after, name) for name in _STORED}
    fields["next_due_at"] = next_due(after) if next_due_at is KEEP else next_due_at
    return fields


def store(
    uow: UnitOfWork, ar: AutoRenewal, after: AutoRenewalFacts, action: str, **source: Any
) -> dict[str, list[Any]]:
    """Write ``after`` into the row (with its next due time) and audit what changed."""
    changes = uow.apply(ar, stored_values(after))
    changes.pop("next_due_at", None)
    if changes:
        uow.session.flush()
        uow.audit(action, "auto_renewals", ar.id, changes, **source)
    return changes


def latest_term(session: Session, policy_id: int) -> Term:
    return session.scalars(
        select(Term).where(Term.policy_id == policy_id).order_by(Term.end_at.desc()).limit(1)
    ).one()


def do_not_renew_on(session: Session, policy_id: int) -> bool:
    """True while any auto-renewal of the policy is marked do not renew."""
    states = session.scalars(select(AutoRenewal.state).where(AutoRenewal.policy_id == policy_id))
    return rules.blocks_issue(list(states))


def find_policy(session: Session, number: str, carrier: str | None = None) -> Policy:
    """The policy with this number (and carrier, when two carriers use the same number)."""
    query = select(Policy).where(Policy.policy_number == number.strip())
    if carrier:
        query = query.where(Policy.carrier == carrier.strip())
    found = list(session.scalars(query.options(selectinload(Policy.account)).limit(3)))
    if not found:
        extra = f" with carrier {carrier}" if carrier else ""
        raise NotFound(f"There is no policy numbered '{number}'{extra}.")
    if len(found) > 1:
        carriers = ", ".join(sorted(p.carrier for p in found))
        raise RuleViolation(
            f"Policy number '{number}' exists with several carriers ({carriers}); "
            "say which with --carrier."
        )
    return found[0]


def _info(session: Session, ar: AutoRenewal) -> AutoRenewalInfo:
    policy = session.get(Policy, ar.policy_id)
    term = session.get(Term, ar.term_id)
    plan = session.get(AutoRenewalPlan, ar.plan_id) if ar.plan_id else None
    assert policy is not None and term is not None
    return AutoRenewalInfo(
        id=ar.id,
        version=ar.version,
        policy_id=policy.id,
        policy_number=policy.policy_number,
        carrier=policy.carrier,
        term_id=term.id,
        term_end=term.end_at,
        plan=plan.name if plan else None,
        state=ar.state,
        renewal_id=ar.renewal_id,
        transaction_type=ar.transaction_type,
        new_term_months=ar.new_term_months,
        create_time=ar.create_time,
        accept_time=ar.accept_time,
        issue_time=ar.issue_time,
        fired={e.value: getattr(ar, f"fired_{e.value}_at") for e in TriggerEvent},
        error=ar.last_error,
        next_due_at=ar.next_due_at,
    )


def infos_of_policy(session: Session, policy_id: int) -> list[AutoRenewalInfo]:
    rows = session.scalars(
        select(AutoRenewal)
        .join(Term, Term.id == AutoRenewal.term_id)
        .where(AutoRenewal.policy_id == policy_id)
        .order_by(Term.end_at, AutoRenewal.id)
    )
    return [_info(session, ar) for ar in rows]


# --------------------------------------------------------------------------- creating


def create_for_term_in(
    uow: UnitOfWork, policy: Policy, term: Term, plan: AutoRenewalPlan | None
) -> AutoRenewal:
    """Give ``term`` (the policy's latest) an active auto-renewal with the plan's settings.

    Trigger times are the term end minus the plan's lead days on the agency's wall clock
    (no plan: 60 / 30 / 15 days, 12 months). Refused when the term is not the latest, when
    it already has one, or when another auto-renewal of the policy is active.
    """
    session = uow.session
    if policy.status is PolicyStatus.CANCELLED:
        raise RuleViolation(
            f"{policy.carrier} policy {policy.policy_number} is cancelled, so it gets no "
            "auto-renewal."
        )
    if latest_term(session, policy.id).id != term.id:
        raise RuleViolation("Only the policy's latest term can have an active auto-renewal.")
    existing = session.scalar(select(AutoRenewal).where(AutoRenewal.term_id == term.id))
    if existing is not None:
        raise RuleViolation(
            f"The term of {policy.carrier} policy {policy.policy_number} ending "
            f"{term.end_at:%Y-%m-%d} already has an auto-renewal ({existing.state.value})."
        )
    active = session.scalar(
        select(AutoRenewal.id).where(
            AutoRenewal.policy_id == policy.id, AutoRenewal.state == _A.ACTIVE
        )
    )
    if active is not None:
        raise RuleViolation(
            f"{policy.carrier} policy {policy.policy_number} already has an active auto-renewal."
        )
    values, changes = new_auto_renewal(policy, term, plan, agency.time_zone(session))
    # An open renewal of the term is adopted when the create trigger fires (engine.timer).
    ar = AutoRenewal(**values)
    session.add(ar)
    session.flush()
    uow.audit("auto_renewal.create", "auto_renewals", ar.id, changes)
    return ar


def new_auto_renewal(
    policy: Any, term: Any, plan: Any | None, tz: Any
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The columns of the auto-renewal :func:`create_for_term_in` gives ``term`` with the
    plan's settings, and the changes its audit event records. ``policy``, ``term`` and
    ``plan`` are rows or objects with the tables' column names as attributes."""
    if plan is not None:
        leads = (plan.create_lead_days, plan.accept_lead_days, plan.issue_lead_days)
        months, kind = plan.new_term_months, plan.transaction_type
    else:
        leads = (DEFAULT_LEADS["create"], DEFAULT_LEADS["accept"], DEFAULT_LEADS["issue"])
        months, kind = 12, "renewal"
    times = rules.trigger_times(term.end_at, *leads, tz=tz)
    facts = AutoRenewalFacts(
        state=_A.ACTIVE,
        transaction_type=kind,
        new_term_months=months,
        create_time=times.create,
        accept_time=times.accept,
        issue_time=times.issue,
    )
    values = {
        "policy_id": policy.id,
        "term_id": term.id,
        "plan_id": plan.id if plan else None,
        "state": _A.ACTIVE,
        "create_time": times.create,
        "accept_time": times.accept,
        "issue_time": times.issue,
        "transaction_type": kind,
        "new_term_months": months,
        "next_due_at": next_due(facts),
    }
    changes = {
        "policy": [None, policy.policy_number],
        "term_end": [None, term.end_at],
        "plan": [None, plan.name if plan else None],
        "create_time": [None, times.create],
        "accept_time": [None, times.accept],
        "issue_time": [None, times.issue],
    }
    return values, changes


def ensure_for_latest_term_in(uow: UnitOfWork, policy: Policy) -> AutoRenewal | None:
    """The auto-renewal an account's plan gives the policy's latest term, if it has none.

    Nothing happens when the account has no plan, the policy is cancelled, the term
    already has one or another auto-renewal of the policy is active.
    """
    account = uow.session.get(Account, policy.account_id)
    if account is None or account.auto_renewal_plan_id is None:
        return None
    if policy.status is PolicyStatus.CANCELLED:
        return None
    term = latest_term(uow.session, policy.id)
    taken = uow.session.scalar(
        select(AutoRenewal.id).where(
            (AutoRenewal.term_id == term.id)
            | ((AutoRenewal.policy_id == policy.id) & (AutoRenewal.state == _A.ACTIVE))
        )
    )
    if taken is not None:
        return None
    plan = uow.session.get(AutoRenewalPlan, account.auto_renewal_plan_id)
    return create_for_term_in(uow, policy, term, plan)


def assign_plan_in(uow: UnitOfWork, account_id: int, plan_name: str | None) -> bool:
    """Give an account a plan (or none); each of its policies' latest terms gets an
    auto-renewal from it. Returns whether anything changed."""
    account = uow.session.get(Account, account_id)
    if account is None:
        raise NotFound(f"There is no account with id {account_id}.")
    uow.require(
        Action.ACCOUNT_EDIT, owners={"producer": account.producer_id, "csr": account.csr_id}
    )
    plan = plan_named(uow.session, plan_name) if plan_name else None
    changes = uow.update(
        account, {"auto_renewal_plan_id": plan.id if plan else None}, "account.set_plan"
    )
    if plan is not None:
        for policy in uow.session.scalars(select(Policy).where(Policy.account_id == account.id)):
            ensure_for_latest_term_in(uow, policy)
    return bool(changes)


def set_account_plan(db: Database, actor: Actor, account: str, plan_name: str | None) -> bool:
    """``account set-plan``: ``account`` is the account's id or its exact name."""
    with unit_of_work(db, actor) as uow:
        return assign_plan_in(uow, find_account(uow.session, account).id, plan_name)


def find_account(session: Session, ref: str) -> Account:
    text = str(ref).strip()
    if text.isdigit():
        found = session.get(Account, int(text))
        if found is not None:
            return found
    matches = list(session.scalars(select(Account).where(Account.name == text).limit(2)))
    if not matches:
        raise NotFound(f"There is no account named '{text}'.")
    if len(matches) > 1:
        raise RuleViolation(f"Several accounts are named '{text}'; use the account's id.")
    return matches[0]


def prepare_adopted_in(uow: UnitOfWork, renewal: Renewal, facts: AutoRenewalFacts) -> None:
    """Give a renewal an auto-renewal takes over what the engine gives its own renewals
    and the card may lack (a pipeline card opened by hand has no transaction yet): the new
    term's end (term end + the auto-renewal's months), the expiring premium as the new
    premium, the transaction type. Fields a person already filled in are kept."""
    term = uow.session.get(Term, renewal.term_id)
    assert term is not None
    fields: dict[str, Any] = {}
    if renewal.new_end_at is None:
        tz = agency.time_zone(uow.session)
        fields["new_end_at"] = months_later(term.end_at, facts.new_term_months, tz)
    if renewal.new_premium is None and term.premium is not None:
        fields["new_premium"] = term.premium
    if renewal.transaction_state is TransactionState.DRAFT:
        fields["transaction_type"] = facts.transaction_type
    uow.update(renewal, fields, "renewal.adopt")


def terminate_managing_in(uow: UnitOfWork, renewal: Renewal) -> None:
    """The auto-renewal managing ``renewal`` stops for good when the renewal has ended
    without a new term (discarded, rejected, refused or invalidated)."""
    if renewal.transaction_state not in ENDING_STATES:
        return
    ar = uow.session.scalar(select(AutoRenewal).where(AutoRenewal.renewal_id == renewal.id))
    if ar is None or ar.state not in rules.OPERATIONS[rules.Operation.TERMINATE][0]:
        return
    after = rules.terminate(facts_of(ar), renewal.transaction_state)
    store(uow, ar, after, "auto_renewal.terminated")


# --------------------------------------------------------------------------- by hand


def _policy_ar(uow: UnitOfWork, policy: Policy) -> AutoRenewal:
    """The auto-renewal a person means by "the policy's auto-renewal": the latest term's,
    else the most recent one."""
    rows = list(
        uow.session.scalars(
            select(AutoRenewal)
            .join(Term, Term.id == AutoRenewal.term_id)
            .where(AutoRenewal.policy_id == policy.id)
            .order_by(Term.end_at.desc())
            .limit(1)
        )
    )
    if not rows:
        raise NotFound(
            f"{policy.carrier} policy {policy.policy_number} has no auto-renewal; "
            "create one with 'auto-renewal create'."
        )
    return rows[0]


def _owners(policy: Policy) -> dict[str, int | None]:
    return {"producer": policy.account.producer_id, "csr": policy.account.csr_id}


def create(
    db: Database, actor: Actor, number: str, *, carrier: str | None = None
) -> AutoRenewalInfo:
    """Create an auto-renewal for the policy's latest term by hand."""
    with unit_of_work(db, actor) as uow:
        policy = find_policy(uow.session, number, carrier)
        uow.require(Action.AUTO_RENEWAL_MANAGE, owners=_owners(policy))
        plan_id = policy.account.auto_renewal_plan_id
        plan = uow.session.get(AutoRenewalPlan, plan_id) if plan_id else None
        ar = create_for_term_in(uow, policy, latest_term(uow.session, policy.id), plan)
        return _info(uow.session, ar)


def show(
    db: Database, actor: Actor, number: str, *, carrier: str | None = None
) -> list[AutoRenewalInfo]:
    with read_only(db, actor) as uow:
        policy = find_policy(uow.session, number, carrier)
        return infos_of_policy(uow.session, policy.id)


def _renewal_state(session: Session, ar: AutoRenewal) -> Any:
    if ar.renewal_id is None:
        return None
    return session.get(Renewal, ar.renewal_id).transaction_state  # type: ignore[union-attr]


def _operate(db: Database, actor: Actor, number: str, carrier: str | None, op: str) -> Any:
    with unit_of_work(db, actor) as uow:
        policy = find_policy(uow.session, number, carrier)
        uow.require(Action.AUTO_RENEWAL_MANAGE, owners=_owners(policy))
        ar = _policy_ar(uow, policy)
        before = facts_of(ar)
        try:
            if op == "do_not_renew":
                after = rules.do_not_renew(before)
            elif op == "discard":
                after = rules.discard(before)
            else:
                latest = latest_term(uow.session, policy.id)
                after = rules.reactivate(
                    before,
                    on_latest_term=latest.id == ar.term_id,
                    renewal_state=_renewal_state(uow.session, ar),
                    policy_cancelled=policy.status is PolicyStatus.CANCELLED,
                )
        except RuleRefused as exc:
            raise refused(exc) from None
        store(uow, ar, after, f"auto_renewal.{op}")
        return _info(uow.session, ar)


def do_not_renew(db: Database, actor: Actor, number: str, *, carrier: str | None = None) -> Any:
    """Mark the policy do not renew: none of its renewals may be issued until reactivated."""
    return _operate(db, actor, number, carrier, "do_not_renew")


def reactivate(db: Database, actor: Actor, number: str, *, carrier: str | None = None) -> Any:
    """Lift do not renew / clear an error / resume after invalidation, at the next pending
    trigger (triggers already due fire on the next tick)."""
    return _operate(db, actor, number, carrier, "reactivate")


def discard(db: Database, actor: Actor, number: str, *, carrier: str | None = None) -> Any:
    """Switch the auto-renewal off for good."""
    return _operate(db, actor, number, carrier, "discard")


def update(
    db: Database,
    actor: Actor,
    number: str,
    *,
    carrier: str | None = None,
    create_time: datetime | Keep | None = KEEP,
    accept_time: datetime | Keep | None = KEEP,
    issue_time: datetime | Keep | None = KEEP,
    transaction_type: str | Keep = KEEP,
    new_term_months: int | Keep = KEEP,
    renewal_id: int | Keep = KEEP,
    expected_version: int | None = None,
) -> AutoRenewalInfo:
    """Change trigger times, type or duration, or point the auto-renewal at another open
    renewal of its term (it then manages that one). ``expected_version`` is the version
    the editor loaded: a change saved since then refuses the edit."""
    with unit_of_work(db, actor) as uow:
        policy = find_policy(uow.session, number, carrier)
        uow.require(Action.AUTO_RENEWAL_MANAGE, owners=_owners(policy))
        ar = _policy_ar(uow, policy)
        uow.check_version(ar, expected_version, f"The auto-renewal of {policy.policy_number}")
        before = facts_of(ar)
        try:
            after = rules.edit(
                before,
                transaction_type=transaction_type,
                new_term_months=new_term_months,
                create_time=create_time,
                accept_time=accept_time,
                issue_time=issue_time,
            )
        except RuleRefused as exc:
            raise refused(exc) from None
        if renewal_id is not KEEP:
            renewal = uow.session.get(Renewal, renewal_id)
            if renewal is None or renewal.policy_id != policy.id:
                raise NotFound(
                    f"Renewal {renewal_id} is not a renewal of {policy.carrier} policy "
                    f"{policy.policy_number}."
                )
            if renewal.term_id != ar.term_id:
                raise RuleViolation(
                    f"Renewal {renewal_id} renews another term; an auto-renewal can only "
                    "manage a renewal of its own term."
                )
            if not renewal.transaction_state.is_open:
                raise RuleViolation(
                    f"Renewal {renewal_id} is {renewal.transaction_state.value}; an "
                    "auto-renewal can only take over an open renewal."
                )
            after = dataclasses.replace(after, renewal_id=renewal.id)
            prepare_adopted_in(uow, renewal, after)
        store(uow, ar, after, "auto_renewal.update")
        return _info(uow.session, ar)
