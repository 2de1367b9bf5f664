"""Everything the renewal detail panel shows, read in one transaction.

:func:`renewal_detail` returns a :class:`RenewalDetail`: the card and its transaction, the
tasks, the document checklist (documents the reader may not see are marked restricted and
lose their link), the activity timeline in words, the policy's terms with the gaps between
them, the auto-renewal of the renewal's term with what fired, and the people the owner
pickers offer. Moments are given on the agency's wall clock (its time zone).

Who may read what follows the permission matrix: a document's access level needs
``document.read_sensitive`` / ``document.read_confidential`` (as the document services
require before any change), and the timeline needs ``audit.read`` on the renewal (a
producer reads the history of their own book only; otherwise the timeline is empty and
:attr:`RenewalDetail.timeline_note` says why).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    AuditEvent,
    AutoRenewal,
    AutoRenewalPlan,
    DocumentRequirement,
    PipelineStage,
    Policy,
    Renewal,
    Task,
    Term,
    TimerFiring,
    User,
)
from desktop_app.domain import permissions
from desktop_app.domain.auto_renewal import TriggerEvent
from desktop_app.domain.enums import (
    LINES_OF_BUSINESS,
    AccessLevel,
    AuditSource,
    AutoRenewalState,
    DocumentStatus,
    Outcome,
    PolicyStatus,
    StageKind,
    TaskStatus,
    TransactionState,
)
from desktop_app.domain.permissions import Action
from desktop_app.errors import NotFound
from desktop_app.services import agency
from desktop_app.services.unit import TIMER_USER, Actor, UnitOfWork, read_only

TIMELINE_LIMIT = 500
"""The newest events shown; a renewal's history is rarely a tenth of this."""

DATE = "%m/%d/%Y"
MOMENT = "%m/%d/%Y %H:%M"


@dataclass(frozen=True)
class Person:
    """Someone the owner pickers offer (active staff; the timer service is not offered)."""

    id: int
    username: str
    name: str
    role: str


@dataclass(frozen=True)
class Summary:
    renewal_id: int
    version: int
    policy_id: int
    policy_number: str
    carrier: str
    line_of_business: str
    line_name: str
    office: str | None
    policy_status: PolicyStatus
    insured: str
    producer_id: int | None
    producer_name: str | None
    csr_id: int | None
    csr_name: str | None
    stage_key: str
    stage_name: str
    stage_kind: StageKind
    stage_entered: datetime
    days_in_stage: int
    sla_days: int | None
    transaction_state: TransactionState
    transaction_type: str
    outcome: Outcome | None
    outcome_reason: str | None
    expiration: datetime
    """The end of the term being renewed (exclusive), on the agency's wall clock."""
    expiration_date: date
    days_left: int
    premium: Decimal | None
    new_premium: Decimal | None
    effective: datetime | None
    new_end: datetime | None
    next_action: str | None
    next_action_owner_id: int | None
    next_action_owner: str | None
    """The owner's username (what :func:`renewals.update_renewal` takes)."""
    next_action_owner_name: str | None
    next_action_due: date | None
    target_date: date | None
    blocker_reason: str | None
    notes: str | None
    risk_flags: tuple[str, ...]

    @property
    def owner_ids(self) -> frozenset[int]:
        """Whose book the renewal is in (producer, CSR, next-action owner)."""
        ids = (self.producer_id, self.csr_id, self.next_action_owner_id)
        return frozenset(i for i in ids if i is not None)


@dataclass(frozen=True)
class TaskRow:
    id: int
    version: int
    task_type: str
    title: str
    owner_id: int | None
    owner: str | None
    owner_name: str | None
    due_date: date | None
    status: TaskStatus
    completed_at: datetime | None
    completed_by_name: str | None
    overdue: bool


@dataclass(frozen=True)
class DocumentRow:
    id: int
    version: int
    document_type: str
    required: bool
    status: DocumentStatus
    requested_on: date | None
    received_on: date | None
    expires_on: date | None
    storage_link: str | None
    """None when there is none, or when the reader may not see the document."""
    access_level: AccessLevel
    waive_reason: str | None
    restricted: bool
    restricted_reason: str | None
    """Why the reader may not see it (a sentence), when restricted."""


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    who: str
    source: AuditSource
    action: str
    sentence: str
    """Who did what, in words ("Casey Reyes marked ‘Loss runs’ received")."""


@dataclass(frozen=True)
class TermRow:
    """A term of the policy, or a stretch no term covers (``gap``), or the stretch this
    open renewal would leave uncovered when issued (``planned_gap``)."""

    kind: str  # "term" | "gap" | "planned_gap"
    start: date
    end: date
    premium: Decimal | None
    renewed_here: bool
    """The term this renewal renews."""
    created_here: bool
    """The term this renewal created when it was issued."""
    label: str


@dataclass(frozen=True)
class TriggerRow:
    event: str
    time: datetime | None
    """When it fires (None: the step is manual)."""
    fired_at: datetime | None
    outcome: str | None
    """What the timer service's ledger says it did (created, adopted, accepted, …)."""
    note: str | None


@dataclass(frozen=True)
class AutoRenewalPanel:
    id: int
    version: int
    state: AutoRenewalState
    plan: str | None
    transaction_type: str
    new_term_months: int
    triggers: tuple[TriggerRow, ...]
    last_error: str | None
    next_due: datetime | None
    manages_this_renewal: bool
    on_latest_term: bool
    """False when the policy has renewed since: the auto-renewal operations (which act on
    the policy's latest term) would then not act on this one."""


@dataclass(frozen=True)
class RenewalDetail:
    summary: Summary
    tasks: tuple[TaskRow, ...]
    documents: tuple[DocumentRow, ...]
    timeline: tuple[TimelineEntry, ...]
    timeline_note: str | None
    """Why the timeline is empty or cut short, when it is."""
    terms: tuple[TermRow, ...]
    auto_renewal: AutoRenewalPanel | None
    people: tuple[Person, ...]
    time_zone: str
    today: date


# --------------------------------------------------------------------------- reading


def renewal_detail(
    db: Database, actor: Actor, renewal_id: int, *, now: datetime | None = None
) -> RenewalDetail:
    """Everything the renewal detail panel shows, in one read transaction."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with read_only(db, actor) as uow:
        session = uow.session
        renewal = session.get(
            Renewal,
            renewal_id,
            options=[
                selectinload(Renewal.policy).selectinload(Policy.account),
                selectinload(Renewal.stage),
                selectinload(Renewal.term),
            ],
        )
        if renewal is None:
            raise NotFound(f"There is no renewal with id {renewal_id}.")
        tz = agency.time_zone(session)
        today = agency.local_date(now, tz)
        users = {u.id: u for u in session.scalars(select(User))}
        stages = {s.key: s.name for s in session.scalars(select(PipelineStage))}
        owners = _owners(renewal)

        summary = _summary(renewal, users, tz, today)
        tasks = tuple(
            _task_row(t, users, tz, today)
            for t in session.scalars(
                select(Task)
                .where(Task.renewal_id == renewal.id)
                .order_by(
                    Task.status != TaskStatus.OPEN,
                    Task.due_date.is_(None),
                    Task.due_date,
                    Task.id,
                )
            )
        )
        documents = tuple(
            _document_row(d, uow, owners)
            for d in session.scalars(
                select(DocumentRequirement)
                .where(DocumentRequirement.renewal_id == renewal.id)
                .order_by(DocumentRequirement.id)
            )
        )
        terms_rows = list(
            session.scalars(
                select(Term).where(Term.policy_id == renewal.policy_id).order_by(Term.start_at)
            )
        )
        terms = _terms(terms_rows, renewal, tz)
        candidates = list(
            session.scalars(
                select(AutoRenewal)
                .where(
                    or_(
                        AutoRenewal.term_id == renewal.term_id,
                        AutoRenewal.renewal_id == renewal.id,
                    )
                )
                .order_by(AutoRenewal.id)
            )
        )
        # the one managing this renewal, else the one of the term it renews
        ar = next((a for a in candidates if a.renewal_id == renewal.id), None) or next(
            iter(candidates), None
        )
        latest_id = max(terms_rows, key=lambda t: t.end_at).id if terms_rows else None
        panel = _auto_renewal(session, ar, renewal, latest_id, tz) if ar else None

        if uow.allowed(Action.AUDIT_READ, owners=owners):
            context = _Context(
                users=users,
                stages=stages,
                tasks={t.id: t.title for t in tasks},
                documents={d.id: d.document_type for d in documents},
                tz=tz,
            )
            subjects: dict[str, Iterable[int]] = {
                "renewals": [renewal.id],
                "tasks": [t.id for t in tasks],
                "document_requirements": [d.id for d in documents],
                "auto_renewals": [ar.id] if ar else [],
                "terms": [i for i in (renewal.term_id, renewal.new_term_id) if i],
                "policies": [renewal.policy_id],
            }
            timeline, note = _timeline(session, subjects, context)
        else:
            timeline = ()
            note = permissions.refusal(uow.role, Action.AUDIT_READ)
        people = tuple(
            Person(u.id, u.username, u.full_name or u.username, u.role.value)
            for u in sorted(users.values(), key=lambda u: (u.full_name or u.username).lower())
            if u.active and u.username != TIMER_USER
        )
        return RenewalDetail(
            summary=summary,
            tasks=tasks,
            documents=documents,
            timeline=timeline,
            timeline_note=note,
            terms=terms,
            auto_renewal=panel,
            people=people,
            time_zone=tz.key,
            today=today,
        )


def _owners(renewal: Renewal) -> dict[str, int | None]:
    account = renewal.policy.account
    return {
        "producer": account.producer_id,
        "csr": account.csr_id,
        "owner": renewal.next_action_owner_id,
    }


def _name(users: Mapping[int, User], user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = users.get(user_id)
    if user is None:
        return f"user {user_id}"
    if user.username == TIMER_USER:
        return "Timer service"
    return user.full_name or user.username


def _summary(renewal: Renewal, users: Mapping[int, User], tz: ZoneInfo, today: date) -> Summary:
    policy, account, term, stage = (
        renewal.policy,
        renewal.policy.account,
        renewal.term,
        renewal.stage,
    )
    owner = users.get(renewal.next_action_owner_id) if renewal.next_action_owner_id else None
    expiration = term.end_at.astimezone(tz)
    return Summary(
        renewal_id=renewal.id,
        version=renewal.version,
        policy_id=policy.id,
        policy_number=policy.policy_number,
        carrier=policy.carrier,
        line_of_business=policy.line_of_business,
        line_name=LINES_OF_BUSINESS.get(policy.line_of_business, policy.line_of_business),
        office=policy.office,
        policy_status=policy.status,
        insured=account.name,
        producer_id=account.producer_id,
        producer_name=_name(users, account.producer_id),
        csr_id=account.csr_id,
        csr_name=_name(users, account.csr_id),
        stage_key=stage.key,
        stage_name=stage.name,
        stage_kind=stage.kind,
        stage_entered=renewal.stage_entered_at.astimezone(tz),
        days_in_stage=max(0, (today - agency.local_date(renewal.stage_entered_at, tz)).days),
        sla_days=stage.sla_days,
        transaction_state=renewal.transaction_state,
        transaction_type=renewal.transaction_type,
        outcome=renewal.outcome,
        outcome_reason=renewal.outcome_reason,
        expiration=expiration,
        expiration_date=expiration.date(),
        days_left=(expiration.date() - today).days,
        premium=term.premium,
        new_premium=renewal.new_premium,
        effective=renewal.effective_at.astimezone(tz) if renewal.effective_at else None,
        new_end=renewal.new_end_at.astimezone(tz) if renewal.new_end_at else None,
        next_action=renewal.next_action,
        next_action_owner_id=renewal.next_action_owner_id,
        next_action_owner=owner.username if owner else None,
        next_action_owner_name=_name(users, renewal.next_action_owner_id),
        next_action_due=renewal.next_action_due,
        target_date=renewal.target_date,
        blocker_reason=renewal.blocker_reason,
        notes=renewal.notes,
        risk_flags=tuple(renewal.risk_flags or ()),
    )


def _task_row(task: Task, users: Mapping[int, User], tz: ZoneInfo, today: date) -> TaskRow:
    owner = users.get(task.owner_id) if task.owner_id else None
    return TaskRow(
        id=task.id,
        version=task.version,
        task_type=task.task_type,
        title=task.title,
        owner_id=task.owner_id,
        owner=owner.username if owner else None,
        owner_name=_name(users, task.owner_id),
        due_date=task.due_date,
        status=task.status,
        completed_at=task.completed_at.astimezone(tz) if task.completed_at else None,
        completed_by_name=_name(users, task.completed_by_id),
        overdue=task.status is TaskStatus.OPEN
        and task.due_date is not None
        and task.due_date < today,
    )


_READ_ACTION = {
    AccessLevel.SENSITIVE: Action.DOCUMENT_READ_SENSITIVE,
    AccessLevel.CONFIDENTIAL: Action.DOCUMENT_READ_CONFIDENTIAL,
}


def may_read_document(
    uow: UnitOfWork, level: AccessLevel, owners: Mapping[str, int | None]
) -> bool:
    """The rule the document services apply (services/work.py): a sensitive document needs
    ``document.read_sensitive``, a confidential one ``document.read_confidential``."""
    action = _READ_ACTION.get(level)
    return action is None or uow.allowed(action, owners=owners)


def _document_row(
    doc: DocumentRequirement, uow: UnitOfWork, owners: Mapping[str, int | None]
) -> DocumentRow:
    visible = may_read_document(uow, doc.access_level, owners)
    reason = None
    if not visible:
        reason = permissions.refusal(uow.role, _READ_ACTION[doc.access_level])
    return DocumentRow(
        id=doc.id,
        version=doc.version,
        document_type=doc.document_type,
        required=doc.required,
        status=doc.status,
        requested_on=doc.requested_on,
        received_on=doc.received_on,
        expires_on=doc.expires_on,
        storage_link=doc.storage_link if visible else None,
        access_level=doc.access_level,
        waive_reason=doc.waive_reason if visible else None,
        restricted=not visible,
        restricted_reason=reason,
    )


def _terms(terms: list[Term], renewal: Renewal, tz: ZoneInfo) -> tuple[TermRow, ...]:
    """The policy's terms, oldest first, with a row for each stretch no term covers."""
    rows: list[TermRow] = []
    previous: Term | None = None
    for term in terms:
        if previous is not None and term.start_at > previous.end_at:
            start, end = _day(previous.end_at, tz), _day(term.start_at, tz)
            rows.append(
                TermRow(
                    "gap", start, end, None, False, False, _gap_label(start, end, "Not covered")
                )
            )
        start, end = _day(term.start_at, tz), _day(term.end_at, tz)
        rows.append(
            TermRow(
                "term",
                start,
                end,
                term.premium,
                term.id == renewal.term_id,
                term.id == renewal.new_term_id,
                f"{start:{DATE}} → {end:{DATE}}",
            )
        )
        previous = term
    current = renewal.term
    if (
        renewal.transaction_state.is_open
        and renewal.effective_at is not None
        and renewal.effective_at > current.end_at
        and previous is not None
        and previous.id == current.id
    ):
        start, end = _day(current.end_at, tz), _day(renewal.effective_at, tz)
        label = _gap_label(start, end, "Not covered if this renewal is issued")
        rows.append(TermRow("planned_gap", start, end, None, False, False, label))
    return tuple(rows)


def _day(moment: datetime, tz: ZoneInfo) -> date:
    return agency.local_date(moment, tz)


def _gap_label(start: date, end: date, words: str) -> str:
    days = (end - start).days
    return f"{words}: {start:{DATE}} → {end:{DATE}} ({days} day{'s' if days != 1 else ''})"


def _auto_renewal(
    session: Session, ar: AutoRenewal, renewal: Renewal, latest_term_id: int | None, tz: ZoneInfo
) -> AutoRenewalPanel:
    plan = session.get(AutoRenewalPlan, ar.plan_id) if ar.plan_id else None
    ledger = {
        row.kind.removeprefix("auto_renewal."): row
        for row in session.scalars(
            select(TimerFiring).where(
                TimerFiring.subject_id == ar.id,
                TimerFiring.kind.in_([f"auto_renewal.{e.value}" for e in TriggerEvent]),
            )
        )
    }

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(tz) if moment is not None else None

    triggers = []
    for event in TriggerEvent:
        fired = getattr(ar, f"fired_{event.value}_at")
        entry = ledger.get(event.value)
        triggers.append(
            TriggerRow(
                event=event.value,
                time=local(getattr(ar, f"{event.value}_time")),
                fired_at=local(fired if fired is not None else entry.fired_at if entry else None),
                outcome=entry.outcome if entry else None,
                note=entry.note if entry else None,
            )
        )
    return AutoRenewalPanel(
        id=ar.id,
        version=ar.version,
        state=ar.state,
        plan=plan.name if plan else None,
        transaction_type=ar.transaction_type,
        new_term_months=ar.new_term_months,
        triggers=tuple(triggers),
        last_error=ar.last_error,
        next_due=local(ar.next_due_at),
        manages_this_renewal=ar.renewal_id == renewal.id,
        on_latest_term=ar.term_id == latest_term_id,
    )


# --------------------------------------------------------------------------- the timeline


@dataclass(frozen=True)
class _Context:
    users: Mapping[int, User]
    stages: Mapping[str, str]
    tasks: Mapping[int, str]
    documents: Mapping[int, str]
    tz: ZoneInfo


def _timeline(
    session: Session, subjects: Mapping[str, Iterable[int]], context: _Context
) -> tuple[tuple[TimelineEntry, ...], str | None]:
    conditions = []
    for object_type, ids in subjects.items():
        ids = list(ids)
        if ids:
            conditions.append(
                and_(AuditEvent.object_type == object_type, AuditEvent.object_id.in_(ids))
            )
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(or_(*conditions))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(TIMELINE_LIMIT + 1)
        )
    )
    note = None
    if len(events) > TIMELINE_LIMIT:
        events = events[:TIMELINE_LIMIT]
        note = f"Only the newest {TIMELINE_LIMIT} events are shown."
    entries = []
    for event in events:
        who = _who(event, context)
        entries.append(
            TimelineEntry(
                at=event.at.astimezone(context.tz),
                who=who,
                source=event.source,
                action=event.action,
                sentence=f"{who} {describe_event(event, context)}",
            )
        )
    return tuple(entries), note


def _who(event: AuditEvent, context: _Context) -> str:
    if event.action == "plugin.answer":
        plugin = _new(event.changes, "plugin")
        if plugin:
            return f"plugin {plugin_short_name(str(plugin))}"
    if event.user_id is not None and event.user_id in context.users:
        return _name(context.users, event.user_id) or event.actor
    return "Timer service" if event.actor == TIMER_USER else event.actor


def plugin_short_name(spec: str) -> str:
    """``premium_threshold`` for ``desktop_app.plugins.premium_threshold:plugin`` or
    ``premium_threshold (pkg.mod:plugin)``."""
    text = spec.strip()
    if " (" in text:
        return text.split(" (", 1)[0]
    module = text.split(":", 1)[0]
    return module.rsplit(".", 1)[-1] or text


def _new(changes: Mapping[str, Any] | None, key: str) -> Any:
    pair = (changes or {}).get(key)
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return pair[1]
    return pair


def _old(changes: Mapping[str, Any] | None, key: str) -> Any:
    pair = (changes or {}).get(key)
    if isinstance(pair, list | tuple) and len(pair) == 2:
        return pair[0]
    return None


def _quote(text: Any) -> str:
    value = str(text or "").strip()
    if len(value) > 80:
        value = value[:79].rstrip() + "…"
    return f"‘{value}’"


def _date_text(value: Any) -> str:
    if not value:
        return "no date"
    try:
        return f"{date.fromisoformat(str(value)[:10]):{DATE}}"
    except ValueError:
        return str(value)


def _moment_text(value: Any, tz: ZoneInfo) -> str:
    if not value:
        return "manual"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(tz):{MOMENT}}"


def _money_text(value: Any) -> str:
    if value in (None, ""):
        return "nothing"
    try:
        return f"${Decimal(str(value)):,.2f}"
    except ArithmeticError:
        return str(value)


def _and(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


_STATE_WORDS = {
    "active": "active",
    "issued": "issued",
    "doNotRenew": "do not renew",
    "terminated": "terminated",
    "discarded": "discarded",
    "error": "in error",
    "invalidated": "invalidated",
}

_FLAG_WORDS = {
    "past_sla": "past its stage's time limit",
    "no_next_action": "no next action on time",
}

_TRANSACTION_VERBS = {
    "quoted": "quoted the renewal",
    "accepted": "accepted the renewal",
    "issued": "issued the renewal",
}


def describe_event(event: Any, context: _Context) -> str:
    """What an audit event did, in words, without who did it ("marked ‘Loss runs’
    received"). ``event`` has ``action``, ``object_type``, ``object_id`` and ``changes``."""
    action, changes = event.action, dict(event.changes or {})
    kind, _, verb = action.partition(".")
    describe = _DESCRIBERS.get(kind)
    if describe is not None:
        text = describe(verb, changes, event, context)
        if text:
            return text
    return f"recorded {action.replace('_', ' ')} on {event.object_type.replace('_', ' ')}"


def _renewal_words(verb: str, changes: dict[str, Any], event: Any, context: _Context) -> str:
    stage_change = changes.get("stage")
    stage_words = ""
    if isinstance(stage_change, list) and len(stage_change) == 2 and stage_change[1]:
        stage_words = f" (now in {context.stages.get(stage_change[1], stage_change[1])})"
    if verb == "create":
        return "created the renewal"
    if verb == "move" and isinstance(stage_change, list):
        old, new = (context.stages.get(s, s) if s else "nowhere" for s in stage_change)
        reason = _new(changes, "outcome_reason")
        return f"moved the renewal from {old} to {new}" + (f": {reason}" if reason else "")
    if verb in ("advance", "auto_accept", "auto_issue"):
        state = _new(changes, "transaction_state")
        words = _TRANSACTION_VERBS.get(str(state), f"advanced the renewal to {state}")
        return words + stage_words
    if verb == "discard":
        return "discarded the renewal" + stage_words
    if verb in ("reject", "refuse"):
        outcome = "non-renewed" if verb == "reject" else "lost"
        reason = _new(changes, "outcome_reason")
        return f"marked the renewal {outcome}" + (f": {reason}" if reason else "")
    if verb == "invalidated":
        return "invalidated the renewal (another renewal of the term was issued)"
    if verb == "reset":
        if isinstance(stage_change, list) and len(stage_change) == 2 and stage_change[1]:
            old, new = (context.stages.get(s, s) for s in stage_change)
            return (
                f"reset the renewal to draft and moved it back from {old} to {new} "
                "(the policy was cancelled)"
            )
        return "reset the renewal to draft (the policy was cancelled)"
    if verb == "renewed_outside":
        return "closed the renewal as renewed outside Renewal Desk" + stage_words
    if verb == "adopt":
        return "handed the renewal to its auto-renewal"
    if verb == "flag":
        added = [
            f
            for f in (_new(changes, "risk_flags") or [])
            if f not in (_old(changes, "risk_flags") or [])
        ]
        words = [_FLAG_WORDS.get(f, str(f).replace("_", " ")) for f in added]
        return "flagged the renewal: " + _and(words) if words else "changed the renewal's flags"
    if verb == "update":
        return _and([_field_words(name, pair, context) for name, pair in changes.items()])
    return ""


def _field_words(name: str, pair: Any, context: _Context) -> str:
    new = pair[1] if isinstance(pair, list | tuple) and len(pair) == 2 else pair
    if name == "next_action":
        return f"set the next action to {_quote(new)}" if new else "cleared the next action"
    if name == "next_action_owner_id":
        who = _name(context.users, new) if isinstance(new, int) else None
        return f"gave the next action to {who}" if who else "left the next action without an owner"
    if name == "next_action_due":
        return f"set the next action due {_date_text(new)}" if new else "cleared the due date"
    if name == "blocker_reason":
        return f"set the blocker to {_quote(new)}" if new else "cleared the blocker"
    if name == "notes":
        return "edited the notes" if new else "cleared the notes"
    if name == "new_premium":
        return f"set the new premium to {_money_text(new)}"
    if name == "target_date":
        return f"set the target date to {_date_text(new)}" if new else "cleared the target date"
    if name == "risk_flags":
        return "changed the risk flags"
    return f"changed the {name.replace('_', ' ')}"


def _task_words(verb: str, changes: dict[str, Any], event: Any, context: _Context) -> str:
    title = _new(changes, "title") if verb == "create" else None
    title = title or context.tasks.get(event.object_id, f"#{event.object_id}")
    if verb == "create":
        due = _new(changes, "due_date")
        return f"added the task {_quote(title)}" + (f", due {_date_text(due)}" if due else "")
    if verb == "complete":
        return f"completed the task {_quote(title)}"
    if verb == "update":
        parts = []
        if "title" in changes:
            parts.append(f"renamed the task {_quote(_old(changes, 'title'))} to {_quote(title)}")
        if "owner_id" in changes:
            owner = _name(context.users, _new(changes, "owner_id"))
            parts.append(
                f"assigned the task {_quote(title)} to {owner}"
                if owner
                else f"unassigned the task {_quote(title)}"
            )
        if "due_date" in changes:
            parts.append(
                f"moved the task {_quote(title)} to {_date_text(_new(changes, 'due_date'))}"
            )
        return _and(parts)
    return ""


def _document_words(verb: str, changes: dict[str, Any], event: Any, context: _Context) -> str:
    name = _quote(context.documents.get(event.object_id, f"document #{event.object_id}"))
    if verb == "request":
        return f"requested {name}"
    if verb == "receive":
        return f"marked {name} received"
    if verb == "waive":
        reason = _new(changes, "waive_reason")
        return f"waived {name}" + (f": {reason}" if reason else "")
    if verb == "expire":
        return f"marked {name} expired"
    if verb == "set_link":
        return f"changed the link of {name}"
    if verb == "reopen":
        return f"reopened {name}"
    return ""


def _auto_renewal_words(verb: str, changes: dict[str, Any], event: Any, context: _Context) -> str:
    state = _new(changes, "state") if "state" in changes else None
    state_words = f" (now {_STATE_WORDS.get(str(state), state)})" if state else ""
    if verb == "create":
        plan = _new(changes, "plan")
        return "created the auto-renewal" + (f" from the plan {plan}" if plan else "")
    if verb == "do_not_renew":
        return "set do-not-renew"
    if verb == "reactivate":
        return "reactivated the auto-renewal"
    if verb == "discard":
        return "discarded the auto-renewal"
    if verb == "issued":
        return "marked the auto-renewal issued"
    if verb == "terminated":
        return "stopped the auto-renewal (its renewal ended)"
    if verb == "invalidated":
        return "invalidated the auto-renewal (the policy was cancelled)"
    if verb == "error":
        return f"put the auto-renewal in error: {_new(changes, 'last_error')}"
    if verb.startswith("fire_"):
        trigger = verb.removeprefix("fire_")
        if _new(changes, f"fired_{trigger}_at"):
            return f"fired the {trigger} trigger{state_words}"
        if state:
            # the plugin stopped it: the trigger stays pending until reactivated
            return f"held the {trigger} trigger{state_words}"
        return f"looked at the {trigger} trigger"
    if verb == "update":
        parts = []
        for event_name in ("create", "accept", "issue"):
            key = f"{event_name}_time"
            if key in changes:
                parts.append(
                    f"set the {event_name} time to {_moment_text(_new(changes, key), context.tz)}"
                )
        if "transaction_type" in changes:
            parts.append(f"set the transaction type to {_new(changes, 'transaction_type')}")
        if "new_term_months" in changes:
            parts.append(f"set the new term to {_new(changes, 'new_term_months')} months")
        if "renewal_id" in changes:
            parts.append("pointed the auto-renewal at this renewal")
        return _and(parts) or "changed the auto-renewal"
    return ""


def _plugin_words(verb: str, changes: dict[str, Any], event: Any, context: _Context) -> str:
    if verb != "answer":
        return ""
    answer = _new(changes, "answer") or {}
    parts = []
    state = answer.get("autoRenewalState") if isinstance(answer, dict) else None
    if state == "doNotRenew":
        parts.append("set do-not-renew")
    elif state == "discarded":
        parts.append("discarded the auto-renewal")
    elif state == "active":
        parts.append("kept the auto-renewal active")
    if isinstance(answer, dict):
        if "renewalTransactionType" in answer:
            parts.append(f"set the transaction type to {answer['renewalTransactionType']}")
        if answer.get("newTermDuration") is not None:
            parts.append(f"set the new term to {answer['newTermDuration']} months")
        for key, name in (
            ("renewalTransactionCreateTime", "create"),
            ("renewalTransactionAcceptTime", "accept"),
            ("renewalTransactionIssueTime", "issue"),
        ):
            if key in answer:
                parts.append(f"set the {name} time to {_moment_text(answer[key], context.tz)}")
    words = _and(parts) or "answered"
    fired = _new(changes, "event")
    return f"{words} on the {fired} event" if fired else words


def _term_words(verb: str, changes: dict[str, Any], event: Any, context: _Context) -> str:
    if verb == "create":
        span = _new(changes, "term")
        if isinstance(span, list) and len(span) == 2:
            start, end = (_local_date_text(v, context.tz) for v in span)
            return f"created the new term {start} → {end}"
        return "created a new term"
    if verb == "update" and "premium" in changes:
        return f"set the term's premium to {_money_text(_new(changes, 'premium'))}"
    return ""


def _local_date_text(value: Any, tz: ZoneInfo) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(tz):{DATE}}"


def _policy_words(verb: str, changes: dict[str, Any], event: Any, context: _Context) -> str:
    if verb == "create":
        return "added the policy"
    if verb == "cancel":
        return "cancelled the policy"
    if verb == "reinstate":
        return "reinstated the policy"
    if verb == "update":
        fields = [re.sub(r"_id$", "", n).replace("_", " ") for n in changes]
        return "updated the policy's " + _and(fields) if fields else "updated the policy"
    return ""


_DESCRIBERS = {
    "renewal": _renewal_words,
    "task": _task_words,
    "document": _document_words,
    "auto_renewal": _auto_renewal_words,
    "plugin": _plugin_words,
    "term": _term_words,
    "policy": _policy_words,
}


__all__ = [
    "AutoRenewalPanel",
    "DocumentRow",
    "Person",
    "RenewalDetail",
    "Summary",
    "TaskRow",
    "TermRow",
    "TimelineEntry",
    "TriggerRow",
    "describe_event",
    "renewal_detail",
]
