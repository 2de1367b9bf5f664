"""Accounts and policies: the book of business."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import Account, Policy, Term, User
from desktop_app.domain.enums import LINES_OF_BUSINESS, ServiceTier
from desktop_app.domain.permissions import Action
from desktop_app.errors import NotFound, RuleViolation, UnknownUser
from desktop_app.services import auto_renewals
from desktop_app.services.unit import Actor, UnitOfWork, unit_of_work


@dataclass(frozen=True)
class AccountInfo:
    id: int
    version: int
    name: str
    producer: str | None
    csr: str | None
    plan: str | None


@dataclass(frozen=True)
class PolicyInfo:
    id: int
    version: int
    account_id: int
    policy_number: str
    carrier: str
    line_of_business: str
    term_start: datetime
    term_end: datetime
    premium: Decimal | None


def user_id(uow: UnitOfWork, username: str | None) -> int | None:
    if username is None:
        return None
    found = uow.session.scalar(select(User.id).where(User.username == username))
    if found is None:
        raise UnknownUser(f"There is no user named '{username}' in this database.")
    return found


def parse_money(value: Decimal | int | float | str | None, what: str = "premium") -> Decimal | None:
    if value is None or value == "":
        return None
    text = str(value).replace("$", "").replace(",", "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise RuleViolation(f"'{value}' is not an amount of money for the {what}.") from None
    if amount < 0:
        raise RuleViolation(f"The {what} cannot be negative ({value}).")
    return amount.quantize(Decimal("0.01"))


def create_account_in(
    uow: UnitOfWork,
    name: str,
    *,
    producer: str | None = None,
    csr: str | None = None,
    plan: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
    service_tier: ServiceTier = ServiceTier.STANDARD,
) -> AccountInfo:
    name = (name or "").strip()
    if not name:
        raise RuleViolation("An account needs the insured's name.")
    producer_id, csr_id = user_id(uow, producer), user_id(uow, csr)
    uow.require(Action.ACCOUNT_EDIT, owners={"producer": producer_id, "csr": csr_id})
    plan_id = None
    if plan:
        plan_id = auto_renewals.plan_named(uow.session, plan).id
    account = Account(
        name=name,
        producer_id=producer_id,
        csr_id=csr_id,
        auto_renewal_plan_id=plan_id,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_phone=contact_phone,
        service_tier=service_tier,
    )
    uow.session.add(account)
    uow.session.flush()
    uow.audit(
        "account.create",
        "accounts",
        account.id,
        {
            "name": [None, name],
            "producer": [None, producer],
            "csr": [None, csr],
            "plan": [None, plan],
        },
    )
    return AccountInfo(account.id, account.version, name, producer, csr, plan)


def add_policy_in(
    uow: UnitOfWork,
    account_id: int,
    policy_number: str,
    carrier: str,
    line_of_business: str,
    start: datetime,
    end: datetime,
    premium: Decimal | str | None = None,
    *,
    office: str | None = None,
) -> PolicyInfo:
    """A new policy with its first term."""
    policy_number, carrier = (policy_number or "").strip(), (carrier or "").strip()
    lob = (line_of_business or "").strip().upper()
    if not policy_number or not carrier:
        raise RuleViolation("A policy needs a policy number and a carrier.")
    if lob not in LINES_OF_BUSINESS:
        raise RuleViolation(
            f"'{line_of_business}' is not a line of business; use one of "
            f"{', '.join(LINES_OF_BUSINESS)}."
        )
    if not end > start:
        raise RuleViolation(
            f"The term must end after it starts ({start:%Y-%m-%d} to {end:%Y-%m-%d})."
        )
    amount = parse_money(premium)
    account = uow.session.get(Account, account_id)
    if account is None:
        raise NotFound(f"There is no account with id {account_id}.")
    uow.require(Action.POLICY_EDIT, owners={"producer": account.producer_id, "csr": account.csr_id})
    clash = uow.session.scalar(
        select(Policy.id).where(Policy.carrier == carrier, Policy.policy_number == policy_number)
    )
    if clash is not None:
        raise RuleViolation(f"{carrier} policy {policy_number} is already in the book.")
    policy = Policy(
        account_id=account_id,
        policy_number=policy_number,
        carrier=carrier,
        line_of_business=lob,
        office=office,
    )
    uow.session.add(policy)
    uow.session.flush()
    term = Term(policy_id=policy.id, start_at=start, end_at=end, premium=amount)
    uow.session.add(term)
    uow.session.flush()
    uow.audit(
        "policy.create",
        "policies",
        policy.id,
        {
            "policy_number": [None, policy_number],
            "carrier": [None, carrier],
            "line_of_business": [None, lob],
            "term": [None, [start, end]],
            "premium": [None, amount],
        },
    )
    # An account on an auto-renewal plan gets an auto-renewal on the new term.
    auto_renewals.ensure_for_latest_term_in(uow, policy)
    return PolicyInfo(
        policy.id, policy.version, account_id, policy_number, carrier, lob, start, end, amount
    )


def create_account(db: Database, actor: Actor, name: str, **options: Any) -> AccountInfo:
    """A new account (one unit of work); see :func:`create_account_in`."""
    with unit_of_work(db, actor) as uow:
        return create_account_in(uow, name, **options)


def add_policy(
    db: Database, actor: Actor, account_id: int, *args: Any, **options: Any
) -> PolicyInfo:
    """A new policy with its first term (one unit of work); see :func:`add_policy_in`."""
    with unit_of_work(db, actor) as uow:
        return add_policy_in(uow, account_id, *args, **options)
