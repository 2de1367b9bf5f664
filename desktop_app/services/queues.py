"""Work queues: what each person should do next, and what needs attention.

* **My queue**: the signed-in user's open tasks and the open renewals whose next action
  they own, by due date (overdue first, undated last).
* **Team queue** (managers and admins): the same for everyone, with the owner shown and an
  owner filter.
* **Needs attention**: every open renewal that needs attention, each with its reasons in
  words (no next action, next action or task overdue, blocked, required documents
  missing close to expiry, past the stage's SLA, do not renew, auto-renewal in error).
  Managers and admins see the whole agency; producers and CSRs see their book (the
  account's producer or CSR, or the renewal's next-action owner, is them).
* **Reminders**: the unread notices the timer service wrote for the user.

"Open" is the board's definition (:func:`desktop_app.services.board.open_work`): an open
stage and a transaction that can still move. A renewal that was discarded, or invalidated
because another renewal of its term was issued, is in no queue, and neither are its open
tasks; tasks of a renewal that was decided (renewed, lost, non-renewed) stay, as follow-up
work.

Sorting, filtering, paging and the reason flags are computed by the database, so a queue
over a 50,000-renewal book costs one query per page, never a query per row. "Today" is
the agency's calendar day (:func:`desktop_app.services.agency.local_date`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    false,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

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
    User,
)
from desktop_app.domain.enums import (
    AutoRenewalState,
    DocumentStatus,
    Role,
    StageKind,
    TaskStatus,
)
from desktop_app.domain.transactions import OPEN_STATES
from desktop_app.errors import NotFound, PermissionDenied, RuleViolation
from desktop_app.services import agency
from desktop_app.services.board import counted, open_work
from desktop_app.services.unit import Actor, UnitOfWork, read_only, unit_of_work

DOCUMENT_ATTENTION_DAYS = 30
"""Required documents still missing this many days (or fewer) before expiry need attention.

A constant, not an agency setting (there is none yet); it matches the timer service's
document reminders (``engine.housekeeping.DOCUMENT_REMINDER_DAYS``)."""

PAGE_SIZE = 500
"""Rows per page the desktop loads at a time."""

TEAM_ROLES = frozenset({Role.MANAGER, Role.ADMIN})

# Reason codes of the "needs attention" queue.
NO_NEXT_ACTION = "no_next_action"
NEXT_ACTION_OVERDUE = "next_action_overdue"
OVERDUE_TASK = "overdue_task"
BLOCKED = "blocked"
DOCUMENTS_MISSING = "documents_missing"
PAST_SLA = "past_sla"
DO_NOT_RENEW = "do_not_renew"
AUTO_RENEWAL_ERROR = "auto_renewal_error"

WORK_SORTS = ("due", "kind", "title", "insured", "policy", "stage", "owner", "expiration")
"""Keys :func:`my_queue` and :func:`team_queue` sort by."""
ATTENTION_SORTS = ("expiration", "insured", "policy", "stage", "owner", "due", "reasons")
"""Keys :func:`needs_attention` sorts by."""

NOTICE_KINDS = {
    "task_due": "Task due",
    "document_missing": "Document missing",
    "past_sla": "Past SLA",
    "no_next_action": "No next action",
    "auto_renewal_error": "Auto-renewal error",
}


# --- what the queues return -----------------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    """One line of My queue or the Team queue: an open task, or a renewal someone owns."""

    kind: str
    """"task" or "renewal"."""
    id: int
    """The task's id (kind "task") or the renewal's id (kind "renewal")."""
    version: int
    renewal_id: int
    renewal_version: int
    title: str
    """The task's title, or the renewal's next action ("" when it has none)."""
    insured: str
    policy_number: str
    carrier: str
    stage_key: str
    stage_name: str
    owner: str | None
    """The owner's username (None: nobody)."""
    owner_name: str | None
    due: date | None
    expiration: date
    """The day the policy's current term ends, on the agency's calendar."""
    days_left: int
    """Days from today to ``expiration`` (negative once it has passed)."""
    overdue: bool

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.id)

    @property
    def is_task(self) -> bool:
        return self.kind == "task"


@dataclass(frozen=True)
class Reason:
    """Why a renewal needs attention: a code and a sentence."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class AttentionEntry:
    """One open renewal that needs attention, with every reason it does."""

    renewal_id: int
    renewal_version: int
    insured: str
    policy_number: str
    carrier: str
    stage_key: str
    stage_name: str
    owner: str | None
    owner_name: str | None
    next_action: str | None
    due: date | None
    """The next action's due date."""
    expiration: date
    days_left: int
    reasons: tuple[Reason, ...]

    kind = "renewal"

    @property
    def id(self) -> int:
        return self.renewal_id

    @property
    def version(self) -> int:
        return self.renewal_version

    @property
    def key(self) -> tuple[str, int]:
        return ("renewal", self.renewal_id)

    @property
    def is_task(self) -> bool:
        return False

    @property
    def title(self) -> str:
        return self.next_action or ""

    @property
    def overdue(self) -> bool:
        return any(r.code == NEXT_ACTION_OVERDUE for r in self.reasons)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    @property
    def why(self) -> str:
        return " ".join(r.text for r in self.reasons)


@dataclass(frozen=True)
class NoticeInfo:
    """A reminder or flag the timer service raised for the user."""

    id: int
    kind: str
    kind_label: str
    message: str
    renewal_id: int | None
    created_at: datetime
    read_at: datetime | None = None
    insured: str | None = None
    """The insured of the renewal it is about (None: not about a renewal)."""
    policy_number: str | None = None

    @property
    def subject(self) -> str:
        """What it is about, in words ("Harbor Bakery LLC, WC-000123"), or ""."""
        return ", ".join(p for p in (self.insured, self.policy_number) if p)


@dataclass(frozen=True)
class QueueCounts:
    mine: int
    team: int | None
    """None when the user may not see the team queue."""
    attention: int
    unread: int


# --- who may see the team queue ---------------------------------------------------------


def may_see_team(role: Role) -> bool:
    """Managers and admins see everyone's work; producers and CSRs see their own.

    There is no row for this in the permission matrix: the closest actions (e.g.
    ``renewal.reassign``) are also granted to CSRs, who work their own queue.
    """
    return Role(role) in TEAM_ROLES


def team_refusal(role: Role) -> str:
    """One sentence saying why ``role`` does not get the team queue."""
    role = Role(role)
    who = "a CSR" if role is Role.CSR else f"a {role.value}"
    return (
        f"The team queue is for managers and admins; {who} works from My queue and Needs attention."
    )


# --- helpers -------------------------------------------------------------------------------


def _today(session: Session, now: datetime | None) -> tuple[datetime, date, Any]:
    now = now or datetime.now(UTC)
    tz = agency.time_zone(session)
    return now, agency.local_date(now, tz), tz


def agency_today(db: Database, now: datetime | None = None) -> date:
    """Today on the agency's calendar."""
    with db.read_session() as session:
        return _today(session, now)[1]


def _user_id(session: Session, username: str) -> int:
    found = session.scalar(select(User.id).where(User.username == username))
    if found is None:
        raise NotFound(f"There is no user named '{username}' in this database.")
    return found


def _nulls_last(column: Any, descending: bool) -> list[Any]:
    return [case((column.is_(None), 1), else_=0), column.desc() if descending else column]


def _fmt(day: date) -> str:
    return f"{day:%m/%d/%Y}"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


# --- My queue and the Team queue --------------------------------------------------------


_TASK_KIND = literal_column("'task'", String)
_RENEWAL_KIND = literal_column("'renewal'", String)


def _task_rows(*columns: Any) -> Select[Any]:
    """Open tasks with their renewal and its term (every task has both), but not those of
    a discarded or invalidated renewal: that renewal is no work any more, so neither are
    its tasks (they stay on its detail page)."""
    return (
        select(_TASK_KIND.label("kind"), Task.id.label("id"), *columns)
        .select_from(Task)
        .join(Renewal, Renewal.id == Task.renewal_id)
        .join(Term, Term.id == Renewal.term_id)
        .where(Task.status == TaskStatus.OPEN, counted())
    )


def _owned_rows(*columns: Any) -> Select[Any]:
    """Open renewals (:func:`~desktop_app.services.board.open_work`: an open stage and a
    transaction that can still move) whose next action someone owns."""
    return (
        select(_RENEWAL_KIND.label("kind"), Renewal.id.label("id"), *columns)
        .select_from(Renewal)
        .join(Term, Term.id == Renewal.term_id)
        .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
        .where(open_work(), Renewal.next_action_owner_id.is_not(None))
    )


def _keys_union(owner_id: int | None, sort: str) -> Any:
    """Phase one of a page: the entries' keys and only what ordering them needs, so the
    database sorts narrow rows (joins for the other columns come in phase two)."""
    common = (Term.end_at.label("expiration_at"),)
    task = _task_rows(Task.due_date.label("due"), *common)
    owned = _owned_rows(Renewal.next_action_due.label("due"), *common)
    if sort == "title":
        task = task.add_columns(Task.title.label("title"))
        owned = owned.add_columns(Renewal.next_action.label("title"))
    elif sort in ("insured", "policy"):
        column = Account.name.label("insured") if sort == "insured" else Policy.policy_number
        task = task.join(Policy, Policy.id == Renewal.policy_id).add_columns(column)
        owned = owned.join(Policy, Policy.id == Renewal.policy_id).add_columns(column)
        if sort == "insured":
            task = task.join(Account, Account.id == Policy.account_id)
            owned = owned.join(Account, Account.id == Policy.account_id)
    elif sort == "stage":
        task = task.join(PipelineStage, PipelineStage.id == Renewal.stage_id)
        task = task.add_columns(PipelineStage.position.label("stage_position"))
        owned = owned.add_columns(PipelineStage.position.label("stage_position"))
    elif sort == "owner":
        task = task.outerjoin(User, User.id == Task.owner_id)
        owned = owned.join(User, User.id == Renewal.next_action_owner_id)
        task = task.add_columns(User.full_name.label("owner_name"))
        owned = owned.add_columns(User.full_name.label("owner_name"))
    if owner_id is not None:
        task = task.where(Task.owner_id == owner_id)
        owned = owned.where(Renewal.next_action_owner_id == owner_id)
    return union_all(task, owned).subquery("work")


def _work_order(u: Any, sort: str, descending: bool) -> list[Any]:
    """ORDER BY for :func:`_keys_union`: the sort key, then due date (undated last),
    expiration, kind and id, so pages never overlap."""
    if sort not in WORK_SORTS:
        raise RuleViolation(f"A queue cannot be sorted by '{sort}'; use one of {WORK_SORTS}.")

    def plain(column: Any) -> list[Any]:
        return [column.desc() if descending else column]

    if sort in ("due", "title", "owner"):
        name = {"due": "due", "title": "title", "owner": "owner_name"}[sort]
        main = _nulls_last(u.c[name], descending)
    else:
        name = {
            "kind": "kind",
            "insured": "insured",
            "policy": "policy_number",
            "stage": "stage_position",
            "expiration": "expiration_at",
        }[sort]
        main = plain(u.c[name])
    return [*main, *_nulls_last(u.c.due, False), u.c.expiration_at, u.c.kind, u.c.id]


def _details(session: Session, kind: str, ids: list[int]) -> Any:
    """Phase two: everything an entry shows, for the keys of one page."""
    columns = (
        Renewal.id.label("renewal_id"),
        Renewal.version.label("renewal_version"),
        Account.name.label("insured"),
        Policy.policy_number,
        Policy.carrier,
        PipelineStage.key.label("stage_key"),
        PipelineStage.name.label("stage_name"),
        User.username.label("owner"),
        User.full_name.label("owner_name"),
        Term.end_at.label("expiration_at"),
    )
    if kind == "task":
        query = _task_rows(
            Task.version, Task.title, Task.due_date.label("due"), *columns
        ).outerjoin(User, User.id == Task.owner_id)
        query = query.join(PipelineStage, PipelineStage.id == Renewal.stage_id).where(
            Task.id.in_(ids)
        )
    else:
        query = (
            _owned_rows(
                Renewal.version,
                Renewal.next_action.label("title"),
                Renewal.next_action_due.label("due"),
                *columns,
            )
            .join(User, User.id == Renewal.next_action_owner_id)
            .where(Renewal.id.in_(ids))
        )
    query = query.join(Policy, Policy.id == Renewal.policy_id).join(
        Account, Account.id == Policy.account_id
    )
    return session.execute(query)


def _work_page(
    uow: UnitOfWork,
    owner_id: int | None,
    sort: str,
    descending: bool,
    limit: int | None,
    offset: int,
    now: datetime | None,
) -> list[QueueEntry]:
    session = uow.session
    now, today, tz = _today(session, now)
    u = _keys_union(owner_id, sort)
    query = select(u.c.kind, u.c.id).order_by(*_work_order(u, sort, descending))
    query = query.offset(max(0, offset))
    if limit is not None:
        query = query.limit(max(0, limit))
    keys = [(kind, id_) for kind, id_ in session.execute(query)]
    rows: dict[tuple[str, int], Any] = {}
    for kind in ("task", "renewal"):
        ids = [id_ for k, id_ in keys if k == kind]
        for start in range(0, len(ids), 900):  # stay under SQLite's parameter limit
            for r in _details(session, kind, ids[start : start + 900]):
                rows[(kind, r.id)] = r
    out = []
    for key in keys:
        r = rows.get(key)
        if r is None:  # pragma: no cover - both phases read one snapshot
            continue
        expiration = agency.local_date(r.expiration_at, tz)
        out.append(
            QueueEntry(
                kind=key[0],
                id=key[1],
                version=r.version,
                renewal_id=r.renewal_id,
                renewal_version=r.renewal_version,
                title=r.title or "",
                insured=r.insured,
                policy_number=r.policy_number,
                carrier=r.carrier,
                stage_key=r.stage_key,
                stage_name=r.stage_name,
                owner=r.owner,
                owner_name=r.owner_name,
                due=r.due,
                expiration=expiration,
                days_left=(expiration - today).days,
                overdue=r.due is not None and r.due < today,
            )
        )
    return out


def my_queue(
    db: Database,
    actor: Actor,
    *,
    sort: str = "due",
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
    now: datetime | None = None,
) -> list[QueueEntry]:
    """The actor's open tasks and the open renewals whose next action they own, by due
    date: overdue first, undated last (``sort``: one of :data:`WORK_SORTS`)."""
    with read_only(db, actor) as uow:
        return _work_page(uow, uow.user.id, sort, descending, limit, offset, now)


def _require_team(uow: UnitOfWork) -> None:
    if not may_see_team(uow.role):
        raise PermissionDenied(team_refusal(uow.role))


def team_queue(
    db: Database,
    actor: Actor,
    owner: str | None = None,
    *,
    sort: str = "due",
    descending: bool = False,
    limit: int | None = PAGE_SIZE,
    offset: int = 0,
    now: datetime | None = None,
) -> list[QueueEntry]:
    """Everyone's open tasks and owned open renewals (managers and admins), or only
    ``owner``'s; a page of ``limit`` rows from ``offset``."""
    with read_only(db, actor) as uow:
        _require_team(uow)
        owner_id = _user_id(uow.session, owner) if owner else None
        return _work_page(uow, owner_id, sort, descending, limit, offset, now)


# --- Needs attention -------------------------------------------------------------------


@dataclass(frozen=True)
class _Attention:
    """The pieces of a Needs attention query, for one moment and one person."""

    conditions: dict[str, ColumnElement[bool]]
    overdue: Any
    docs: Any
    dnr: Any
    error: Any


def _attention_parts(
    session: Session,
    within_days: int,
    now: datetime,
    today: date,
    tz: Any,
    ids: list[int] | None = None,
) -> _Attention:
    """The reason conditions (each a SQL boolean) and the grouped subqueries they read;
    ``ids`` narrows the subqueries to those renewals (the details of one page)."""
    horizon = agency.day_start(today + timedelta(days=within_days + 1), tz)
    overdue_q = select(
        Task.renewal_id.label("renewal_id"),
        func.count().label("n"),
        func.min(Task.due_date).label("oldest"),
    ).where(Task.status == TaskStatus.OPEN, Task.due_date < today)
    docs_q = (
        select(
            DocumentRequirement.renewal_id.label("renewal_id"),
            func.count().label("n"),
            func.aggregate_strings(DocumentRequirement.document_type, "|").label("names"),
        )
        .join(Renewal, Renewal.id == DocumentRequirement.renewal_id)
        .join(Term, Term.id == Renewal.term_id)
        .where(
            DocumentRequirement.required.is_(True),
            DocumentRequirement.status.not_in([DocumentStatus.RECEIVED, DocumentStatus.WAIVED]),
            Renewal.transaction_state.in_(OPEN_STATES),
            Term.end_at < horizon,
        )
    )
    if ids is not None:
        overdue_q = overdue_q.where(Task.renewal_id.in_(ids))
        docs_q = docs_q.where(DocumentRequirement.renewal_id.in_(ids))
    overdue = overdue_q.group_by(Task.renewal_id).subquery("overdue")
    docs = docs_q.group_by(DocumentRequirement.renewal_id).subquery("docs")
    dnr = (
        select(AutoRenewal.policy_id.label("policy_id"))
        .where(AutoRenewal.state == AutoRenewalState.DO_NOT_RENEW)
        .group_by(AutoRenewal.policy_id)
        .subquery("dnr")
    )
    error = (
        select(
            AutoRenewal.policy_id.label("policy_id"),
            func.max(AutoRenewal.last_error).label("last_error"),
        )
        .where(AutoRenewal.state == AutoRenewalState.ERROR)
        .group_by(AutoRenewal.policy_id)
        .subquery("ar_error")
    )
    sla_stages = session.execute(
        select(PipelineStage.id, PipelineStage.sla_days).where(
            PipelineStage.kind == StageKind.OPEN, PipelineStage.sla_days.is_not(None)
        )
    ).all()
    past_sla: ColumnElement[bool] = (
        or_(
            *(
                and_(
                    Renewal.stage_id == stage_id,
                    Renewal.stage_entered_at < now - timedelta(days=sla_days),
                )
                for stage_id, sla_days in sla_stages
            )
        )
        if sla_stages
        else false()
    )
    conditions: dict[str, ColumnElement[bool]] = {
        NO_NEXT_ACTION: or_(
            Renewal.next_action.is_(None),
            func.trim(Renewal.next_action) == "",
            Renewal.next_action_owner_id.is_(None),
            Renewal.next_action_due.is_(None),
        ),
        NEXT_ACTION_OVERDUE: Renewal.next_action_due < today,
        OVERDUE_TASK: overdue.c.n.is_not(None),
        BLOCKED: and_(Renewal.blocker_reason.is_not(None), func.trim(Renewal.blocker_reason) != ""),
        DOCUMENTS_MISSING: docs.c.n.is_not(None),
        PAST_SLA: past_sla,
        DO_NOT_RENEW: dnr.c.policy_id.is_not(None),
        AUTO_RENEWAL_ERROR: error.c.policy_id.is_not(None),
    }
    return _Attention(conditions, overdue, docs, dnr, error)


def _attending(query: Select[Any], parts: _Attention) -> Select[Any]:
    """``query`` (over renewals, their stage and term) joined to the reason subqueries and
    narrowed to open renewals with at least one reason."""
    return (
        query.outerjoin(parts.overdue, parts.overdue.c.renewal_id == Renewal.id)
        .outerjoin(parts.docs, parts.docs.c.renewal_id == Renewal.id)
        .outerjoin(parts.dnr, parts.dnr.c.policy_id == Renewal.policy_id)
        .outerjoin(parts.error, parts.error.c.policy_id == Renewal.policy_id)
        .where(open_work(), or_(*parts.conditions.values()))
    )


def _attention_keys(
    uow: UnitOfWork, parts: _Attention, owner: str | None, sort: str | None
) -> tuple[Select[Any], list[Any]]:
    """Phase one: the ids of the renewals that need attention (in the actor's scope), with
    only the joins the scope and ``sort`` need, and the ORDER BY keys for ``sort``."""
    flags = [case((cond, 1), else_=0) for cond in parts.conditions.values()]
    reason_count = sum(flags, start=literal_column("0"))
    query = (
        select(Renewal.id)
        .select_from(Renewal)
        .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
        .join(Term, Term.id == Renewal.term_id)
    )
    scoped = not may_see_team(uow.role)
    if scoped or sort in ("insured", "policy"):
        query = query.join(Policy, Policy.id == Renewal.policy_id).join(
            Account, Account.id == Policy.account_id
        )
    if sort == "owner":
        query = query.outerjoin(User, User.id == Renewal.next_action_owner_id)
    query = _attending(query, parts)
    if scoped:
        me = uow.user.id
        query = query.where(
            or_(
                Account.producer_id == me,
                Account.csr_id == me,
                Renewal.next_action_owner_id == me,
            )
        )
    if owner:
        query = query.where(Renewal.next_action_owner_id == _user_id(uow.session, owner))
    keys = {
        "expiration": Term.end_at,
        "insured": Account.name,
        "policy": Policy.policy_number,
        "stage": PipelineStage.position,
        "owner": User.full_name,
        "due": Renewal.next_action_due,
        "reasons": reason_count,
    }
    return query, [keys[sort]] if sort else []


def _attention_details(uow: UnitOfWork, parts: _Attention, ids: list[int]) -> Any:
    """Phase two: what each of ``ids`` shows, with its reason flags."""
    flags = {code: case((cond, 1), else_=0) for code, cond in parts.conditions.items()}
    query = (
        select(
            Renewal.id.label("renewal_id"),
            Renewal.version.label("renewal_version"),
            Renewal.next_action,
            Renewal.next_action_due.label("due"),
            Renewal.blocker_reason,
            Renewal.stage_entered_at,
            Account.name.label("insured"),
            Policy.policy_number,
            Policy.carrier,
            PipelineStage.key.label("stage_key"),
            PipelineStage.name.label("stage_name"),
            PipelineStage.sla_days,
            User.username.label("owner"),
            User.full_name.label("owner_name"),
            Term.end_at.label("expiration_at"),
            parts.overdue.c.n.label("overdue_n"),
            parts.overdue.c.oldest.label("overdue_oldest"),
            parts.docs.c.names.label("missing_names"),
            parts.error.c.last_error,
            *(flag.label(f"f_{code}") for code, flag in flags.items()),
        )
        .select_from(Renewal)
        .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
        .join(Term, Term.id == Renewal.term_id)
        .join(Policy, Policy.id == Renewal.policy_id)
        .join(Account, Account.id == Policy.account_id)
        .outerjoin(User, User.id == Renewal.next_action_owner_id)
    )
    return uow.session.execute(_attending(query, parts).where(Renewal.id.in_(ids)))


def _reasons(r: Any, now: datetime, today: date, expiration: date) -> tuple[Reason, ...]:
    out: list[Reason] = []
    if r.f_no_next_action:
        if not (r.next_action or "").strip():
            text = "No next action is set."
        elif r.owner is None:
            text = "The next action has no owner."
        else:
            text = "The next action has no due date."
        out.append(Reason(NO_NEXT_ACTION, text))
    if r.f_next_action_overdue:
        late = (today - r.due).days
        out.append(
            Reason(
                NEXT_ACTION_OVERDUE,
                f"The next action was due {_fmt(r.due)} ({_days(late)} ago).",
            )
        )
    if r.f_overdue_task:
        n = int(r.overdue_n)
        text = (
            f"A task is overdue since {_fmt(r.overdue_oldest)}."
            if n == 1
            else f"{n} tasks are overdue, the oldest since {_fmt(r.overdue_oldest)}."
        )
        out.append(Reason(OVERDUE_TASK, text))
    if r.f_blocked:
        out.append(Reason(BLOCKED, f"Blocked: {r.blocker_reason.strip().rstrip('.')}."))
    if r.f_documents_missing:
        names = sorted(set((r.missing_names or "").split("|")) - {""})
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        verb = "is" if len(names) == 1 else "are"
        left = (expiration - today).days
        when = (
            f"the policy expires in {_days(left)}"
            if left > 0
            else "the policy expires today"
            if left == 0
            else f"the policy expired {_days(-left)} ago"
        )
        out.append(Reason(DOCUMENTS_MISSING, f"{listed} {verb} still missing; {when}."))
    if r.f_past_sla:
        days_in = (now - r.stage_entered_at).days
        out.append(
            Reason(
                PAST_SLA,
                f"In {r.stage_name} for {_days(days_in)}, past its {r.sla_days}-day SLA.",
            )
        )
    if r.f_do_not_renew:
        out.append(
            Reason(
                DO_NOT_RENEW,
                "Marked do not renew: it cannot be issued until the auto-renewal is reactivated.",
            )
        )
    if r.f_auto_renewal_error:
        error = " ".join((r.last_error or "no reason was recorded").split())
        if len(error) > 200:
            error = error[:199] + "…"
        out.append(Reason(AUTO_RENEWAL_ERROR, f"The auto-renewal is in error: {error}"))
    return tuple(out)


def needs_attention(
    db: Database,
    actor: Actor,
    within_days: int = DOCUMENT_ATTENTION_DAYS,
    *,
    owner: str | None = None,
    sort: str = "expiration",
    descending: bool = False,
    limit: int | None = PAGE_SIZE,
    offset: int = 0,
    now: datetime | None = None,
) -> list[AttentionEntry]:
    """Open renewals that need attention, each with its reasons (``sort``: one of
    :data:`ATTENTION_SORTS`; ``owner``: only that next-action owner's).

    Managers and admins see every renewal; producers and CSRs those of their book."""
    if sort not in ATTENTION_SORTS:
        raise RuleViolation(
            f"Needs attention cannot be sorted by '{sort}'; use one of {ATTENTION_SORTS}."
        )
    if within_days < 0:
        raise RuleViolation("The document window must be zero or more days before expiry.")
    with read_only(db, actor) as uow:
        now, today, tz = _today(uow.session, now)
        parts = _attention_parts(uow.session, within_days, now, today, tz)
        query, (key,) = _attention_keys(uow, parts, owner, sort)
        ordered = (
            _nulls_last(key, descending)
            if sort in ("owner", "due")
            else [key.desc() if descending else key]
        )
        query = query.order_by(*ordered, Term.end_at, Renewal.id).offset(max(0, offset))
        if limit is not None:
            query = query.limit(max(0, limit))
        ids = list(uow.session.scalars(query))
        rows: dict[int, Any] = {}
        for start in range(0, len(ids), 900):  # stay under SQLite's parameter limit
            chunk = ids[start : start + 900]
            narrow = _attention_parts(uow.session, within_days, now, today, tz, chunk)
            rows.update((r.renewal_id, r) for r in _attention_details(uow, narrow, chunk))
        out = []
        for renewal_id in ids:
            r = rows.get(renewal_id)
            if r is None:  # pragma: no cover - both phases read one snapshot
                continue
            expiration = agency.local_date(r.expiration_at, tz)
            out.append(
                AttentionEntry(
                    renewal_id=r.renewal_id,
                    renewal_version=r.renewal_version,
                    insured=r.insured,
                    policy_number=r.policy_number,
                    carrier=r.carrier,
                    stage_key=r.stage_key,
                    stage_name=r.stage_name,
                    owner=r.owner,
                    owner_name=r.owner_name,
                    next_action=r.next_action,
                    due=r.due,
                    expiration=expiration,
                    days_left=(expiration - today).days,
                    reasons=_reasons(r, now, today, expiration),
                )
            )
        return out


# --- counts -----------------------------------------------------------------------------


def _work_count(session: Session, owner_id: int | None) -> int:
    """How many entries a work queue holds (``owner_id``: only theirs)."""
    tasks = (
        select(func.count())
        .select_from(Task)
        .join(Renewal, Renewal.id == Task.renewal_id)
        .where(Task.status == TaskStatus.OPEN, counted())
    )
    owned = (
        select(func.count())
        .select_from(Renewal)
        .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
        .where(open_work(), Renewal.next_action_owner_id.is_not(None))
    )
    if owner_id is not None:
        tasks = tasks.where(Task.owner_id == owner_id)
        owned = owned.where(Renewal.next_action_owner_id == owner_id)
    return int(session.scalar(tasks) or 0) + int(session.scalar(owned) or 0)


def queue_counts(
    db: Database,
    actor: Actor,
    *,
    owner: str | None = None,
    within_days: int = DOCUMENT_ATTENTION_DAYS,
    now: datetime | None = None,
) -> QueueCounts:
    """How many entries each queue holds (``owner`` filters the team queue), and the
    actor's unread reminders."""
    with read_only(db, actor) as uow:
        session = uow.session
        now, today, tz = _today(session, now)
        mine = _work_count(session, uow.user.id)
        team = None
        if may_see_team(uow.role):
            team = _work_count(session, _user_id(session, owner) if owner else None)
        parts = _attention_parts(session, within_days, now, today, tz)
        query, _ = _attention_keys(uow, parts, None, None)
        attention = session.scalar(select(func.count()).select_from(query.subquery()))
        unread = session.scalar(
            select(func.count())
            .select_from(Notice)
            .where(Notice.user_id == uow.user.id, Notice.read_at.is_(None))
        )
        return QueueCounts(int(mine or 0), team, int(attention or 0), int(unread or 0))


# --- reminders (notices) ---------------------------------------------------------------


def _notice_info(
    n: Notice, insured: str | None = None, policy_number: str | None = None
) -> NoticeInfo:
    label = NOTICE_KINDS.get(n.kind) or n.kind.replace("_", " ").capitalize()
    return NoticeInfo(
        n.id,
        n.kind,
        label,
        n.message,
        n.renewal_id,
        n.created_at,
        n.read_at,
        insured,
        policy_number,
    )


def unread_notices(
    db: Database,
    actor: Actor,
    since_id: int | None = None,
    *,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[NoticeInfo]:
    """The actor's unread reminders, oldest first (``newest_first`` for showing them);
    with ``since_id``, only those that arrived after it (for desktop notifications)."""
    with read_only(db, actor) as uow:
        query = (
            select(Notice, Account.name, Policy.policy_number)
            .outerjoin(Renewal, Renewal.id == Notice.renewal_id)
            .outerjoin(Policy, Policy.id == Renewal.policy_id)
            .outerjoin(Account, Account.id == Policy.account_id)
            .where(Notice.user_id == uow.user.id, Notice.read_at.is_(None))
            .order_by(Notice.id.desc() if newest_first else Notice.id)
        )
        if since_id is not None:
            query = query.where(Notice.id > since_id)
        if limit is not None:
            query = query.limit(limit)
        return [_notice_info(*row) for row in uow.session.execute(query)]


def dismiss_notice(
    db: Database, actor: Actor, notice_id: int, *, now: datetime | None = None
) -> NoticeInfo:
    """Mark one of the actor's reminders read (dismissing a read one changes nothing)."""
    with unit_of_work(db, actor) as uow:
        notice = uow.session.get(Notice, notice_id)
        if notice is None:
            raise NotFound(f"There is no reminder with id {notice_id}.")
        if notice.user_id != uow.user.id:
            raise PermissionDenied("That reminder is someone else's; only they can dismiss it.")
        if notice.read_at is None:
            uow.update(notice, {"read_at": now or datetime.now(UTC)}, "notice.dismiss")
        return _notice_info(notice)


def dismiss_all_notices(db: Database, actor: Actor, *, now: datetime | None = None) -> int:
    """Mark every unread reminder of the actor read; returns how many there were."""
    with unit_of_work(db, actor) as uow:
        result = uow.session.execute(
            update(Notice)
            .where(Notice.user_id == uow.user.id, Notice.read_at.is_(None))
            .values(read_at=now or datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
        count = int(result.rowcount or 0)
        if count:
            uow.audit("notice.dismiss_all", "notices", None, {"dismissed": [None, count]})
        return count


__all__ = [
    "ATTENTION_SORTS",
    "DOCUMENT_ATTENTION_DAYS",
    "PAGE_SIZE",
    "WORK_SORTS",
    "AttentionEntry",
    "NoticeInfo",
    "QueueCounts",
    "QueueEntry",
    "Reason",
    "agency_today",
    "dismiss_all_notices",
    "dismiss_notice",
    "may_see_team",
    "my_queue",
    "needs_attention",
    "queue_counts",
    "team_queue",
    "team_refusal",
    "unread_notices",
]
