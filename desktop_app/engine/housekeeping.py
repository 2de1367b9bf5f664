"""The timer service's chores besides auto-renewal triggers.

Run at most once per :data:`~desktop_app.engine.timer.HOUSEKEEPING_MINUTES` slot by
whichever desktop gets there first (a ledger row claims the slot):

* **renewal window**: a renewal card for every active policy whose latest term ends
  within its line's window ("X days out", :func:`desktop_app.services.agency.window_days`)
  and that has no renewal of that term yet — unless an active auto-renewal's create
  trigger is still to open it (on a plan, the card appears at the plan's create time);
* **task reminders**: a notice to the owner of each open task due today or overdue (once
  per task and due date);
* **document reminders**: a notice for each required document still missing within 30
  days of the renewal's expiration (once per document);
* **flags**: a renewal past its stage's SLA gets the ``past_sla`` risk flag, one whose
  next action is overdue the ``no_next_action`` flag, each with a notice to its owner.

Each piece of work writes a ``timer_firings`` row in the same transaction as its effect,
and the row's unique key makes it happen once even if two desktops overlap.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AutoRenewal,
    DocumentRequirement,
    Notice,
    PipelineStage,
    Policy,
    Renewal,
    Task,
    Term,
    TimerFiring,
)
from desktop_app.domain.enums import (
    AutoRenewalState,
    DocumentStatus,
    PolicyStatus,
    TaskStatus,
)
from desktop_app.domain.transactions import OPEN_STATES, months_later
from desktop_app.errors import UserFacingError
from desktop_app.services import agency, transactions
from desktop_app.services.board import counted, open_work

DOCUMENT_REMINDER_DAYS = 30
LIMIT_PER_CHORE = 2000  # the rest waits for the next slot; keeps one transaction short


def _slot(now: datetime) -> str:
    from desktop_app.engine.timer import HOUSEKEEPING_MINUTES

    minute = now.minute - now.minute % HOUSEKEEPING_MINUTES
    return now.replace(minute=minute, second=0, microsecond=0).isoformat()


def run_if_due(db: Database, now: datetime, report: Any) -> bool:
    """Run the chores if no desktop has run them in this slot; True when this one did."""
    from desktop_app.engine.timer import _timer_uow, process_label

    slot = _slot(now)
    with db.read_session() as session:
        done = session.scalar(
            select(TimerFiring.id).where(
                TimerFiring.kind == "housekeeping",
                TimerFiring.subject_id == 0,
                TimerFiring.detail == slot,
            )
        )
    if done is not None:
        return False
    try:
        with db.write_session() as session:
            session.add(
                TimerFiring(
                    kind="housekeeping",
                    subject_id=0,
                    detail=slot,
                    fired_at=now,
                    outcome="started",
                    process=process_label(),
                )
            )
            session.flush()
            uow = _timer_uow(session)
            tz = agency.time_zone(session)
            report.actions.extend(_window_cards(uow, now, tz))
            report.actions.extend(_task_reminders(uow, now, tz))
            report.actions.extend(_document_reminders(uow, now, tz))
            report.actions.extend(_flags(uow, now, tz))
            session.commit()
    except IntegrityError:
        return False  # another desktop took this slot at the same moment
    return True


def _once(uow: Any, kind: str, subject_id: int, detail: str, now: datetime, **more: Any) -> bool:
    """Record a piece of work in the ledger; False when it was already done."""
    seen = uow.session.scalar(
        select(TimerFiring.id).where(
            TimerFiring.kind == kind,
            TimerFiring.subject_id == subject_id,
            TimerFiring.detail == detail,
        )
    )
    if seen is not None:
        return False
    uow.session.add(
        TimerFiring(kind=kind, subject_id=subject_id, detail=detail, fired_at=now, **more)
    )
    return True


def _seen(uow: Any, keys: list[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
    """Which of these pieces of work, (kind, subject, detail), the ledger already holds:
    one query for a whole chore instead of one per piece."""
    found: set[tuple[str, int, str]] = set()
    kinds = {kind for kind, _s, _d in keys}
    subjects = sorted({subject for _k, subject, _d in keys})
    for start in range(0, len(subjects), 1000):
        found.update(
            tuple(row)  # type: ignore[misc]
            for row in uow.session.execute(
                select(TimerFiring.kind, TimerFiring.subject_id, TimerFiring.detail).where(
                    TimerFiring.kind.in_(kinds),
                    TimerFiring.subject_id.in_(subjects[start : start + 1000]),
                )
            )
        )
    return found & set(keys)


def _record(uow: Any, kind: str, subject_id: int, detail: str, now: datetime, **more: Any) -> None:
    uow.session.add(
        TimerFiring(kind=kind, subject_id=subject_id, detail=detail, fired_at=now, **more)
    )


def _window_cards(uow: Any, now: datetime, tz: Any) -> list[dict[str, Any]]:
    session = uow.session
    windows = agency.window_days(session)
    later = aliased(Term)
    actions: list[dict[str, Any]] = []
    for lob, days in windows.items():
        horizon = now + timedelta(days=days)
        rows = session.execute(
            select(Term, Policy)
            .join(Policy, Policy.id == Term.policy_id)
            .where(
                Policy.line_of_business == lob,
                Policy.status == PolicyStatus.ACTIVE,
                Term.end_at > now,
                Term.end_at <= horizon,
                # The policy's latest term (read from the window's few terms, not by
                # grouping every term of the book).
                ~exists().where(later.policy_id == Term.policy_id, later.end_at > Term.end_at),
                ~exists().where(Renewal.term_id == Term.id),
                ~exists().where(TimerFiring.kind == "window", TimerFiring.subject_id == Term.id),
                # An active auto-renewal with a create trigger opens the card itself (maybe
                # right now, in another desktop's uncommitted batch): never a second card.
                ~exists().where(
                    AutoRenewal.term_id == Term.id,
                    AutoRenewal.state == AutoRenewalState.ACTIVE,
                    AutoRenewal.create_time.is_not(None),
                    AutoRenewal.fired_create_at.is_(None),
                ),
            )
            .order_by(Term.end_at)
            .limit(LIMIT_PER_CHORE)
        ).all()
        for term, policy in rows:
            months = max(1, min(120, round((term.end_at - term.start_at).days / 30.44)))
            savepoint = session.begin_nested()
            try:
                renewal = transactions.create_renewal_in(
                    uow, policy, new_end=months_later(term.end_at, months, tz), now=now
                )
                _once(uow, "window", term.id, "", now, outcome="created", renewal_id=renewal.id)
                session.flush()
                savepoint.commit()
            except UserFacingError as exc:
                savepoint.rollback()
                _once(uow, "window", term.id, "", now, outcome="refused", note=str(exc))
                continue
            actions.append(
                {
                    "kind": "window_card",
                    "policy_number": policy.policy_number,
                    "carrier": policy.carrier,
                    "renewal_id": renewal.id,
                    "expiration": term.end_at.isoformat(),
                }
            )
    return actions


def _notice(uow: Any, user_id: int | None, renewal_id: int | None, kind: str, text: str) -> None:
    uow.session.add(Notice(user_id=user_id, renewal_id=renewal_id, kind=kind, message=text[:500]))


def _renewal_labels(session: Any, ids: set[int]) -> dict[int, str]:
    """Each renewal as its owner knows it (insured, carrier and policy number), read for
    the few renewals being flagged rather than joined onto every open one."""
    labels: dict[int, str] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 900):
        for rid, name, carrier, number in session.execute(
            select(Renewal.id, Account.name, Policy.carrier, Policy.policy_number)
            .join(Policy, Policy.id == Renewal.policy_id)
            .join(Account, Account.id == Policy.account_id)
            .where(Renewal.id.in_(ordered[start : start + 900]))
        ):
            labels[rid] = f"{name} ({carrier} {number})"
    return labels


def _label(policy: Policy, account: Account) -> str:
    return f"{account.name} ({policy.carrier} {policy.policy_number})"


def _task_reminders(uow: Any, now: datetime, tz: Any) -> list[dict[str, Any]]:
    session = uow.session
    today = agency.local_date(now, tz)
    rows = session.execute(
        select(Task, Policy, Account)
        .join(Renewal, Renewal.id == Task.renewal_id)
        .join(Policy, Policy.id == Renewal.policy_id)
        .join(Account, Account.id == Policy.account_id)
        .where(Task.status == TaskStatus.OPEN, Task.due_date <= today)
        .where(counted())  # a discarded or invalidated renewal's tasks are no one's work
        .where(
            ~exists().where(
                TimerFiring.kind == "task_reminder",
                TimerFiring.subject_id == Task.id,
                TimerFiring.detail == func.cast(Task.due_date, TimerFiring.detail.type),
            )
        )
        .order_by(Task.due_date, Task.id)
        .limit(LIMIT_PER_CHORE)
    ).all()
    actions = []
    seen = _seen(uow, [("task_reminder", t.id, t.due_date.isoformat()) for t, _p, _a in rows])
    for task, policy, account in rows:
        if ("task_reminder", task.id, task.due_date.isoformat()) in seen:
            continue
        _record(
            uow,
            "task_reminder",
            task.id,
            task.due_date.isoformat(),
            now,
            outcome="notice",
            renewal_id=task.renewal_id,
        )
        when = "today" if task.due_date == today else f"overdue since {task.due_date:%m/%d/%Y}"
        _notice(
            uow,
            task.owner_id,
            task.renewal_id,
            "task_due",
            f"Task '{task.title}' for {_label(policy, account)} is due {when}.",
        )
        actions.append({"kind": "task_reminder", "task_id": task.id, "renewal_id": task.renewal_id})
    return actions


def _document_reminders(uow: Any, now: datetime, tz: Any) -> list[dict[str, Any]]:
    session = uow.session
    soon = now + timedelta(days=DOCUMENT_REMINDER_DAYS)
    rows = session.execute(
        select(DocumentRequirement, Renewal, Policy, Account, Term.end_at)
        .join(Renewal, Renewal.id == DocumentRequirement.renewal_id)
        .join(Term, Term.id == Renewal.term_id)
        .join(Policy, Policy.id == Renewal.policy_id)
        .join(Account, Account.id == Policy.account_id)
        .where(
            DocumentRequirement.required.is_(True),
            DocumentRequirement.status.in_(
                [DocumentStatus.MISSING, DocumentStatus.REQUESTED, DocumentStatus.EXPIRED]
            ),
            Renewal.transaction_state.in_(OPEN_STATES),
            Term.end_at > now,
            Term.end_at <= soon,
            ~exists().where(
                TimerFiring.kind == "document_reminder",
                TimerFiring.subject_id == DocumentRequirement.id,
            ),
        )
        .order_by(Term.end_at, DocumentRequirement.id)
        .limit(LIMIT_PER_CHORE)
    ).all()
    actions = []
    seen = _seen(uow, [("document_reminder", row[0].id, "") for row in rows])
    for doc, renewal, policy, account, end_at in rows:
        if ("document_reminder", doc.id, "") in seen:
            continue
        _record(uow, "document_reminder", doc.id, "", now, outcome="notice", renewal_id=renewal.id)
        expires = agency.local_date(end_at, tz)
        _notice(
            uow,
            renewal.next_action_owner_id,
            renewal.id,
            "document_missing",
            f"{doc.document_type} for {_label(policy, account)} is still {doc.status.value}; "
            f"the policy expires {expires:%m/%d/%Y}.",
        )
        actions.append(
            {"kind": "document_reminder", "document_id": doc.id, "renewal_id": renewal.id}
        )
    return actions


def _flags(uow: Any, now: datetime, tz: Any) -> list[dict[str, Any]]:
    session = uow.session
    today = agency.local_date(now, tz)
    actions = []
    rows = session.execute(
        select(Renewal, PipelineStage)
        .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
        .where(open_work())
        .where(
            (PipelineStage.sla_days.is_not(None))
            | (Renewal.next_action_due < today)
            | Renewal.next_action.is_(None)
        )
        .order_by(Renewal.id)
    ).all()
    candidates: list[tuple[Renewal, str, str, str]] = []
    for renewal, stage in rows:
        if stage.sla_days and renewal.stage_entered_at + timedelta(days=stage.sla_days) < now:
            candidates.append(
                (
                    renewal,
                    "past_sla",
                    f"{stage.id}:{renewal.stage_entered_at.isoformat()}",
                    f"has been in {stage.name} longer than its {stage.sla_days} days",
                )
            )
        if not (renewal.next_action or "").strip() or (
            renewal.next_action_due is not None and renewal.next_action_due < today
        ):
            due = renewal.next_action_due.isoformat() if renewal.next_action_due else "none"
            candidates.append(
                (renewal, "no_next_action", due, "has no next action that is still current")
            )
    seen = _seen(uow, [(f"flag.{flag}", r.id, detail) for r, flag, detail, _w in candidates])
    labels = _renewal_labels(
        session,
        {r.id for r, flag, detail, _w in candidates if (f"flag.{flag}", r.id, detail) not in seen},
    )
    previous = None
    for renewal, flag, detail, words in candidates:
        if renewal is not previous and len(actions) >= LIMIT_PER_CHORE:
            break  # the limit is looked at between renewals
        previous = renewal
        if (f"flag.{flag}", renewal.id, detail) in seen:
            continue
        _record(
            uow, f"flag.{flag}", renewal.id, detail, now, outcome="flagged", renewal_id=renewal.id
        )
        flags = list(renewal.risk_flags or [])
        if flag not in flags:
            # Written with the rest at the end (one statement for all, not a flush each).
            changes = uow.apply(renewal, {"risk_flags": [*flags, flag]})
            uow.audit("renewal.flag", "renewals", renewal.id, changes)
        _notice(
            uow,
            renewal.next_action_owner_id,
            renewal.id,
            flag,
            f"The renewal of {labels[renewal.id]} {words}.",
        )
        actions.append({"kind": f"flag_{flag}", "renewal_id": renewal.id})
    return actions
