"""Exports: the renewal list (xlsx or CSV) and the manager rollup workbook.

Read-only services: they gather rows in one read transaction on behalf of a user and hand
them to :mod:`desktop_app.excel` to lay out. Every number is computed by the database with
GROUP BY and conditional sums — never a query per renewal — so a book of 100,000 renewals
exports in seconds, and the renewal list is streamed from the cursor into the file
without holding the whole book in memory.

Dates are the agency's: "as of" defaults to today on the agency's wall clock (see
:mod:`desktop_app.services.agency`), a term's expiration is the calendar day its end falls
on there, and every date comparison is turned into a comparison of UTC moments
(``day_start``) so SQLite and PostgreSQL count the same rows.

The rollup counts what the board shows: open figures count open work (an open stage and a
transaction that can still move, :func:`desktop_app.services.board.open_work`), and a
renewal that was discarded, or invalidated because another renewal of its term was issued,
is in no figure at all — not open, not expiring, not lost. The renewal list is the whole
list: it keeps such renewals, with their transaction state in a column of their own.

Who sees what: the rollup needs ``export.rollup`` (managers and admins). The renewal list
is open to every role, but a role whose ``renewal.edit`` permission reaches only its own
book (producers) gets only the renewals in that book: the account's producer or CSR, or
the renewal's next-action owner.

For the GUI: :func:`export_renewals` and :func:`export_rollup` take ``progress(done,
total)`` and ``cancelled()`` callbacks and write to a temporary file that replaces the
target only when complete, so they can run on a worker thread with a progress bar and a
Cancel button.
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    false,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AutoRenewal,
    DocumentRequirement,
    PipelineStage,
    Policy,
    Renewal,
    Task,
    Term,
    User,
)
from desktop_app.db.types import Money
from desktop_app.domain import permissions
from desktop_app.domain.enums import (
    LINES_OF_BUSINESS,
    AutoRenewalState,
    DocumentStatus,
    Outcome,
    StageKind,
    TaskStatus,
)
from desktop_app.domain.permissions import Action, Scope
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.excel import export_rollup as rollup_xlsx
from desktop_app.excel.export_common import (
    CancelCheck,
    ExportCancelled,
    ExportFailed,
    ProgressCallback,
    check_target,
)
from desktop_app.excel.export_renewals import (
    write_renewal_list_csv,
    write_renewal_list_xlsx,
)
from desktop_app.excel.export_rollup import (
    AGING_BUCKETS,
    AttentionRow,
    GroupRow,
    MonthRow,
    Rollup,
    StageRow,
)
from desktop_app.excel.renewal_list import RenewalRow
from desktop_app.services.agency import day_start, local_date, time_zone
from desktop_app.services.board import on_pipeline, open_work
from desktop_app.services.unit import Actor, UnitOfWork, read_only

ZERO = Decimal("0.00")
STREAM_CHUNK = 2_000  # rows fetched from the cursor at a time
DEFAULT_ATTENTION_DAYS = 30
EXPIRING_SOON_DAYS = 30
OUTCOME_MONTHS = 12
NONE_LABEL = "(none)"
_ERROR_TEXT_MAX = 160


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: Path
    format: str  # "xlsx" or "csv"
    rows: int
    """Renewals in the renewal list; data rows over all sheets for the rollup."""
    seconds: float
    sheets: tuple[str, ...] = ()


# =====================================================================================
# Shared pieces.
# =====================================================================================


@dataclass(frozen=True)
class _Clock:
    """The as-of date and the agency's zone; turns calendar days into UTC moments."""

    as_of: date
    tz: ZoneInfo

    def start(self, day: date) -> datetime:
        """The first moment of ``day`` on the agency's wall clock."""
        return day_start(day, self.tz)

    def day(self, moment: datetime) -> date:
        return local_date(moment, self.tz)


def _clock(session: Session, as_of: date | None) -> _Clock:
    tz = time_zone(session)
    return _Clock(as_of or local_date(datetime.now(UTC), tz), tz)


def _premium() -> ColumnElement[Any]:
    """The premium a renewal is worth: the new premium when known, else the expiring one."""
    return func.coalesce(Renewal.new_premium, Term.premium)


def _money_sum(expr: ColumnElement[Any]) -> ColumnElement[Decimal]:
    # Money keeps whole cents; the sum must come back through it as dollars.
    return type_coerce(func.sum(expr), Money())


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _money_if(condition: ColumnElement[bool], expr: ColumnElement[Any]) -> ColumnElement[Decimal]:
    return _money_sum(case((condition, expr), else_=None))


def _money(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value.quantize(ZERO)


def _own_book_only(uow: UnitOfWork) -> bool:
    """True for a role whose renewal permission does not reach the whole agency."""
    return permissions.scope(uow.role, Action.RENEWAL_EDIT) is not Scope.ALL


def _in_book(user_id: int) -> ColumnElement[bool]:
    return or_(
        Account.producer_id == user_id,
        Account.csr_id == user_id,
        Renewal.next_action_owner_id == user_id,
    )


def _expiring_between(clock_: _Clock, first: date, last: date) -> ColumnElement[bool]:
    """The term's expiration date (agency calendar) is from ``first`` through ``last``."""
    return and_(
        Term.end_at >= clock_.start(first), Term.end_at < clock_.start(last + timedelta(days=1))
    )


def _past_sla(clock_: _Clock, stages: list[PipelineStage]) -> ColumnElement[bool]:
    """Open renewals in their stage more days than its SLA.

    Days in stage = as-of date − the agency-calendar day the renewal entered the stage;
    "more than SLA days" is entering before the start of (as-of − SLA days).
    """
    parts = [
        and_(
            Renewal.stage_id == s.id,
            Renewal.stage_entered_at < clock_.start(clock_.as_of - timedelta(days=s.sla_days)),
        )
        for s in stages
        if s.kind is StageKind.OPEN and s.sla_days
    ]
    return or_(*parts) if parts else false()


def _stages(session: Session) -> list[PipelineStage]:
    return list(
        session.scalars(select(PipelineStage).order_by(PipelineStage.position, PipelineStage.id))
    )


def _user_names(session: Session) -> dict[int, tuple[str, str]]:
    return {
        uid: (username, full_name)
        for uid, username, full_name in session.execute(
            select(User.id, User.username, User.full_name)
        )
    }


# =====================================================================================
# The renewal list.
# =====================================================================================


def _resolve_stage(session: Session, stage: str) -> int:
    wanted = stage.strip().casefold()
    for s in _stages(session):
        if wanted in (s.key.casefold(), s.name.casefold()):
            return s.id
    keys = ", ".join(s.key for s in _stages(session) if s.active)
    raise NotFound(f"There is no pipeline stage '{stage}'; the stages are {keys}.")


def _resolve_user(session: Session, username: str) -> int:
    found = session.scalar(select(User.id).where(User.username == username.strip()))
    if found is None:
        raise NotFound(f"There is no user named '{username}' in this database.")
    return found


def _renewal_query(
    uow: UnitOfWork,
    clock_: _Clock,
    *,
    stage: str | None,
    owner: str | None,
    expiring_within: int | None,
) -> Select[Any]:
    session = uow.session
    owner_u, producer_u, csr_u = aliased(User), aliased(User), aliased(User)
    query = (
        select(
            Renewal.id,
            Renewal.version,
            Account.name,
            Policy.policy_number,
            Policy.carrier,
            Policy.line_of_business,
            Term.end_at,
            Term.premium,
            Renewal.new_premium,
            PipelineStage.name,
            Renewal.transaction_state,
            Renewal.next_action,
            owner_u.username,
            Renewal.next_action_due,
            Renewal.target_date,
            producer_u.username,
            csr_u.username,
            Renewal.notes,
        )
        .select_from(Renewal)
        .join(Policy, Policy.id == Renewal.policy_id)
        .join(Account, Account.id == Policy.account_id)
        .join(Term, Term.id == Renewal.term_id)
        .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
        .outerjoin(owner_u, owner_u.id == Renewal.next_action_owner_id)
        .outerjoin(producer_u, producer_u.id == Account.producer_id)
        .outerjoin(csr_u, csr_u.id == Account.csr_id)
        .order_by(Term.end_at, Account.name, Renewal.id)
    )
    if stage is not None:
        query = query.where(Renewal.stage_id == _resolve_stage(session, stage))
    if owner is not None:
        query = query.where(Renewal.next_action_owner_id == _resolve_user(session, owner))
    if expiring_within is not None:
        if expiring_within < 0:
            raise RuleViolation(
                f"'Expiring within' must be zero or more days, not {expiring_within}."
            )
        last = clock_.as_of + timedelta(days=expiring_within)
        query = query.where(_expiring_between(clock_, clock_.as_of, last))
    if _own_book_only(uow):
        query = query.where(_in_book(uow.user.id))
    return query


def _rows(session: Session, query: Select[Any], clock_: _Clock) -> Iterator[RenewalRow]:
    as_of, tz = clock_.as_of, clock_.tz
    result = session.execute(query.execution_options(yield_per=STREAM_CHUNK))
    for (
        rid,
        version,
        insured,
        number,
        carrier,
        lob,
        end_at,
        premium,
        new_premium,
        stage_name,
        state,
        next_action,
        owner,
        due,
        target,
        producer,
        csr,
        notes,
    ) in result:
        expiration = end_at.astimezone(tz).date()
        yield RenewalRow(
            rid,
            version,
            insured,
            number,
            carrier,
            lob,
            expiration,
            (expiration - as_of).days,
            premium,
            new_premium,
            stage_name,
            state.value,
            next_action,
            owner,
            due,
            target,
            producer,
            csr,
            notes,
        )


def renewal_rows(
    db: Database,
    actor: Actor,
    stage: str | None = None,
    owner: str | None = None,
    expiring_within: int | None = None,
    as_of: date | None = None,
) -> list[RenewalRow]:
    """The renewals of the renewal list, soonest expiration first.

    ``stage``: a stage key or name; ``owner``: the next-action owner's username;
    ``expiring_within``: only terms expiring from ``as_of`` through ``as_of`` + that many
    days. Producers get only their own book (see the module notes).
    """
    with read_only(db, actor) as uow:
        clock_ = _clock(uow.session, as_of)
        query = _renewal_query(
            uow, clock_, stage=stage, owner=owner, expiring_within=expiring_within
        )
        return list(_rows(uow.session, query, clock_))


def export_renewals(
    db: Database,
    actor: Actor,
    path: Path | str,
    *,
    stage: str | None = None,
    owner: str | None = None,
    expiring_within: int | None = None,
    as_of: date | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> ExportResult:
    """Write the renewal list to ``path`` (.xlsx or .csv, chosen by the extension).

    The filters are those of :func:`renewal_rows`. Rows stream from the database into the
    file; ``path`` is replaced only when the file is complete.
    """
    started = clock.perf_counter()
    target = check_target(Path(path), (".xlsx", ".csv"), "renewal list")
    kind = target.suffix.lower().lstrip(".")
    with read_only(db, actor) as uow:
        session = uow.session
        clock_ = _clock(session, as_of)
        query = _renewal_query(
            uow, clock_, stage=stage, owner=owner, expiring_within=expiring_within
        )
        total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = _rows(session, query, clock_)
        if kind == "csv":
            written = write_renewal_list_csv(
                rows, total, target, progress=progress, cancelled=cancelled
            )
        else:
            stage_names = list(
                session.scalars(
                    select(PipelineStage.name)
                    .where(PipelineStage.active.is_(True))
                    .order_by(PipelineStage.position)
                )
            )
            usernames = list(
                session.scalars(
                    select(User.username).where(User.active.is_(True)).order_by(User.username)
                )
            )
            written = write_renewal_list_xlsx(
                rows,
                total,
                target,
                stage_names=stage_names,
                usernames=usernames,
                title=f"Renewal list as of {clock_.as_of:%m/%d/%Y}",
                progress=progress,
                cancelled=cancelled,
            )
    return ExportResult(target, kind, written, clock.perf_counter() - started)


# =====================================================================================
# The manager rollup.
# =====================================================================================


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _base_from() -> Select[Any]:
    """The renewals the rollup counts: those the board shows in their stage, so never a
    discarded or invalidated one (:func:`desktop_app.services.board.on_pipeline`)."""
    return (
        select()
        .select_from(Renewal)
        .join(Policy, Policy.id == Renewal.policy_id)
        .join(Account, Account.id == Policy.account_id)
        .join(Term, Term.id == Renewal.term_id)
        .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
        .where(on_pipeline())
    )


def _reasons(
    as_of: date,
    *,
    next_action: str | None,
    lacks_action: bool,
    due: date | None,
    n_tasks: int | None,
    oldest_task: date | None,
    blocker: str | None,
    n_docs: int | None,
    days_left: int,
    past_sla: bool,
    in_stage: int,
    stage: PipelineStage,
    do_not_renew: bool,
    n_errors: int | None,
    error: str | None,
) -> list[tuple[str, str]]:
    """Why a renewal needs attention: (reason code, one sentence) in REASONS order."""
    out: list[tuple[str, str]] = []
    if lacks_action:
        text = "No next action" if not (next_action or "").strip() else "No next-action owner"
        out.append(("no_next_action", text))
    if due is not None and due < as_of:
        late = (as_of - due).days
        day_s = "day" if late == 1 else "days"
        out.append(
            ("next_action_overdue", f"Next action {late} {day_s} overdue (due {due:%m/%d/%Y})")
        )
    if n_tasks:
        plural = "task" if n_tasks == 1 else "tasks"
        oldest = f" (oldest due {oldest_task:%m/%d/%Y})" if oldest_task else ""
        out.append(("overdue_task", f"{n_tasks} overdue {plural}{oldest}"))
    if blocker is not None and blocker.strip():
        out.append(("blocked", f"Blocked: {blocker.strip()}"))
    if n_docs:
        plural = "document" if n_docs == 1 else "documents"
        if days_left >= 0:
            when = f"expires in {days_left} days" if days_left != 1 else "expires tomorrow"
        else:
            when = f"expired {-days_left} days ago"
        out.append(("documents_missing", f"{n_docs} required {plural} outstanding; {when}"))
    if past_sla:
        out.append(
            ("past_sla", f"Past SLA: {in_stage} days in {stage.name} (SLA {stage.sla_days} days)")
        )
    if do_not_renew:
        out.append(("do_not_renew", "Do not renew (auto-renewal)"))
    if n_errors:
        detail = " ".join((error or "no reason recorded").split())
        if len(detail) > _ERROR_TEXT_MAX:
            detail = detail[: _ERROR_TEXT_MAX - 1] + "…"
        out.append(("auto_renewal_error", f"Auto-renewal in error: {detail}"))
    return out


class _RollupBuilder:
    def __init__(self, uow: UnitOfWork, clock_: _Clock, attention_days: int) -> None:
        self.session = uow.session
        self.uow = uow
        self.clock = clock_
        self.attention_days = attention_days
        self.stages = _stages(self.session)
        self.users = _user_names(self.session)
        as_of = clock_.as_of
        self.is_open = open_work()
        self.past_sla = and_(self.is_open, _past_sla(clock_, self.stages))
        self.window_first = _month_start(as_of, OUTCOME_MONTHS - 1)
        self.window_end = _month_start(as_of, -1)  # first day after the window
        self.in_window = and_(
            Term.end_at >= clock_.start(self.window_first),
            Term.end_at < clock_.start(self.window_end),
        )
        self.lapsed = and_(self.is_open, Term.end_at < clock_.start(as_of))
        self.expiring_soon = and_(
            self.is_open,
            _expiring_between(clock_, as_of, as_of + timedelta(days=EXPIRING_SOON_DAYS)),
        )

    def user_label(self, user_id: int | None) -> str:
        if user_id is None or user_id not in self.users:
            return NONE_LABEL
        username, full_name = self.users[user_id]
        return f"{full_name} ({username})" if full_name else username

    # --- groups ------------------------------------------------------------------

    def groups(
        self, key: ColumnElement[Any], attention: dict[Any, int], label: Any
    ) -> tuple[GroupRow, ...]:
        premium = _premium()
        query = (
            _base_from()
            .add_columns(
                key,
                _count_if(self.is_open),
                _money_if(self.is_open, premium),
                _count_if(self.lapsed),
                _count_if(self.expiring_soon),
                _count_if(self.past_sla),
                _count_if(and_(self.in_window, Renewal.outcome == Outcome.RENEWED)),
                _count_if(and_(self.in_window, Renewal.outcome == Outcome.LOST)),
                _count_if(and_(self.in_window, Renewal.outcome == Outcome.NON_RENEWED)),
                _money_if(and_(self.in_window, Renewal.outcome == Outcome.RENEWED), premium),
            )
            .group_by(key)
        )
        rows = [
            GroupRow(
                label=label(k),
                open=int(n_open),
                open_premium=_money(open_premium),
                lapsed=int(lapsed),
                expiring_soon=int(soon),
                past_sla=int(past),
                attention=attention.get(k, 0),
                renewed=int(renewed),
                lost=int(lost),
                non_renewed=int(non),
                renewed_premium=_money(renewed_premium),
            )
            for (
                k,
                n_open,
                open_premium,
                lapsed,
                soon,
                past,
                renewed,
                lost,
                non,
                renewed_premium,
            ) in self.session.execute(query)
        ]
        # Biggest open book first; a tie (or none open) by name.
        rows.sort(key=lambda g: (-g.open_premium, g.label.casefold()))
        return tuple(rows)

    # --- stages ------------------------------------------------------------------

    def by_stage(self) -> tuple[StageRow, ...]:
        clock_ = self.clock
        buckets = []
        for low, high in AGING_BUCKETS:
            # days in stage ≥ low  ⇔ entered before the start of (as_of − low + 1)
            cond = [self.is_open]
            if low > 0:
                cond.append(
                    Renewal.stage_entered_at < clock_.start(clock_.as_of - timedelta(days=low - 1))
                )
            if high is not None:
                cond.append(
                    Renewal.stage_entered_at >= clock_.start(clock_.as_of - timedelta(days=high))
                )
            buckets.append(_count_if(and_(*cond)))
        query = (
            select(
                PipelineStage.id,
                func.count(Renewal.id),
                _money_sum(_premium()),
                _count_if(self.past_sla),
                func.min(case((self.is_open, Renewal.stage_entered_at), else_=None)),
                *buckets,
            )
            .select_from(PipelineStage)
            .outerjoin(Renewal, and_(Renewal.stage_id == PipelineStage.id, on_pipeline()))
            .outerjoin(Term, Term.id == Renewal.term_id)
            .group_by(PipelineStage.id)
        )
        found = {row[0]: row[1:] for row in self.session.execute(query)}
        out = []
        for s in self.stages:
            count, premium, past, oldest, *aging = found[s.id]
            if not s.active and not count:
                continue
            is_open = s.kind is StageKind.OPEN
            oldest_days = None
            if is_open and oldest is not None:
                if isinstance(oldest, str):  # a raw SQLite value from MIN() over a CASE
                    oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
                oldest_days = max(0, (clock_.as_of - clock_.day(oldest)).days)
            out.append(
                StageRow(
                    name=s.name,
                    kind=s.kind.value,
                    sla_days=s.sla_days,
                    renewals=int(count or 0),
                    premium=_money(premium),
                    aging=tuple(int(a) for a in aging) if is_open else None,
                    past_sla=int(past) if is_open else None,
                    oldest_days=oldest_days,
                )
            )
        # Active stages in pipeline order first, then retired stages still holding renewals.
        active = {s.name: s.active for s in self.stages}
        out.sort(key=lambda row: not active[row.name])
        return tuple(out)

    # --- needs attention ---------------------------------------------------------

    def attention(self) -> tuple[list[AttentionRow], dict[str, dict[Any, int]]]:
        clock_, as_of = self.clock, self.clock.as_of
        tasks = (
            select(
                Task.renewal_id.label("renewal_id"),
                func.count().label("n"),
                func.min(Task.due_date).label("oldest"),
            )
            .where(Task.status == TaskStatus.OPEN, Task.due_date < as_of)
            .group_by(Task.renewal_id)
            .subquery()
        )
        docs = (
            select(DocumentRequirement.renewal_id.label("renewal_id"), func.count().label("n"))
            .where(
                DocumentRequirement.required.is_(True),
                DocumentRequirement.status.not_in([DocumentStatus.RECEIVED, DocumentStatus.WAIVED]),
            )
            .group_by(DocumentRequirement.renewal_id)
            .subquery()
        )
        dnr = (
            select(AutoRenewal.policy_id.label("policy_id"), func.count().label("n"))
            .where(AutoRenewal.state == AutoRenewalState.DO_NOT_RENEW)
            .group_by(AutoRenewal.policy_id)
            .subquery()
        )
        errors = (
            select(
                AutoRenewal.term_id.label("term_id"),
                func.count().label("n"),
                func.max(AutoRenewal.last_error).label("error"),
            )
            .where(AutoRenewal.state == AutoRenewalState.ERROR)
            .group_by(AutoRenewal.term_id)
            .subquery()
        )
        near_expiry = Term.end_at < clock_.start(as_of + timedelta(days=self.attention_days + 1))
        no_next_action = or_(
            Renewal.next_action.is_(None),
            func.trim(Renewal.next_action) == "",
            Renewal.next_action_owner_id.is_(None),
        )
        overdue = Renewal.next_action_due < as_of
        blocked = and_(Renewal.blocker_reason.is_not(None), func.trim(Renewal.blocker_reason) != "")
        docs_near = and_(docs.c.n.is_not(None), near_expiry)
        query = (
            _base_from()
            .add_columns(
                Renewal.id,
                Account.name,
                Policy.policy_number,
                Policy.carrier,
                Policy.line_of_business,
                Term.end_at,
                PipelineStage.id,
                Renewal.stage_entered_at,
                Renewal.next_action,
                Renewal.next_action_owner_id,
                Renewal.next_action_due,
                Account.producer_id,
                Account.csr_id,
                _premium(),
                Renewal.blocker_reason,
                no_next_action,
                tasks.c.n,
                tasks.c.oldest,
                docs.c.n,
                near_expiry,
                self.past_sla,
                dnr.c.n,
                errors.c.n,
                errors.c.error,
            )
            .outerjoin(tasks, tasks.c.renewal_id == Renewal.id)
            .outerjoin(docs, docs.c.renewal_id == Renewal.id)
            .outerjoin(dnr, dnr.c.policy_id == Renewal.policy_id)
            .outerjoin(errors, errors.c.term_id == Renewal.term_id)
            .where(
                self.is_open,
                or_(
                    no_next_action,
                    overdue,
                    tasks.c.n.is_not(None),
                    blocked,
                    docs_near,
                    self.past_sla,
                    dnr.c.n.is_not(None),
                    errors.c.n.is_not(None),
                ),
            )
            .order_by(Term.end_at, Account.name, Renewal.id)
        )
        stages = {s.id: s for s in self.stages}
        counts: dict[str, dict[Any, int]] = {"producer": {}, "csr": {}, "carrier": {}, "lob": {}}
        out: list[AttentionRow] = []
        for row in self.session.execute(query):
            (
                rid,
                insured,
                number,
                carrier,
                lob,
                end_at,
                stage_id,
                entered,
                next_action,
                owner_id,
                due,
                producer_id,
                csr_id,
                premium,
                blocker,
                lacks_action,
                n_tasks,
                oldest_task,
                n_docs,
                is_near,
                is_past_sla,
                n_dnr,
                n_errors,
                error,
            ) = row
            stage = stages[stage_id]
            expiration = clock_.day(end_at)
            days_left = (expiration - as_of).days
            in_stage = max(0, (as_of - clock_.day(entered)).days)
            reasons = _reasons(
                as_of,
                next_action=next_action,
                lacks_action=bool(lacks_action),
                due=due,
                n_tasks=n_tasks,
                oldest_task=oldest_task,
                blocker=blocker,
                n_docs=n_docs if is_near else None,
                days_left=days_left,
                past_sla=bool(is_past_sla),
                in_stage=in_stage,
                stage=stage,
                do_not_renew=bool(n_dnr),
                n_errors=n_errors,
                error=error,
            )
            codes = [code for code, _ in reasons]
            texts = [text for _, text in reasons]
            if not codes:  # pragma: no cover - the WHERE clause asks for the same reasons
                continue
            for dimension, key in (
                ("producer", producer_id),
                ("csr", csr_id),
                ("carrier", carrier),
                ("lob", lob),
            ):
                counts[dimension][key] = counts[dimension].get(key, 0) + 1
            out.append(
                AttentionRow(
                    renewal_id=rid,
                    insured=insured,
                    policy_number=number,
                    carrier=carrier,
                    line_of_business=lob,
                    expiration=expiration,
                    days_left=days_left,
                    stage=stage.name,
                    days_in_stage=in_stage,
                    next_action=next_action,
                    owner=self.users[owner_id][0] if owner_id in self.users else None,
                    next_action_due=due,
                    producer=self.users[producer_id][0] if producer_id in self.users else None,
                    csr=self.users[csr_id][0] if csr_id in self.users else None,
                    premium=premium,
                    reason_codes=tuple(codes),
                    reasons=tuple(texts),
                )
            )
        return out, counts

    # --- months ------------------------------------------------------------------

    def months(self) -> tuple[MonthRow, ...]:
        firsts = [_month_start(self.clock.as_of, OUTCOME_MONTHS - 1 - i) for i in range(13)]
        bounds = [self.clock.start(d) for d in firsts]
        month = case(*[(Term.end_at < bounds[i + 1], i) for i in range(OUTCOME_MONTHS)], else_=None)
        inner = (
            _base_from()
            .add_columns(
                month.label("month"),
                Renewal.outcome.label("outcome"),
                PipelineStage.kind.label("kind"),
                _premium().label("premium"),
                Term.premium.label("expiring"),
            )
            .where(Term.end_at >= bounds[0], Term.end_at < bounds[-1])
            .subquery()
        )
        lost = inner.c.outcome.in_([Outcome.LOST, Outcome.NON_RENEWED])
        query = select(
            inner.c.month,
            func.count(),
            _count_if(inner.c.outcome == Outcome.RENEWED),
            _count_if(inner.c.outcome == Outcome.LOST),
            _count_if(inner.c.outcome == Outcome.NON_RENEWED),
            _count_if(inner.c.kind == StageKind.OPEN),
            _money_if(inner.c.outcome == Outcome.RENEWED, inner.c.premium),
            _money_if(lost, inner.c.expiring),
        ).group_by(inner.c.month)
        found = {row[0]: row[1:] for row in self.session.execute(query)}
        out = []
        for i in range(OUTCOME_MONTHS):
            n, renewed, lost_n, non, n_open, renewed_premium, lost_premium = found.get(
                i, (0, 0, 0, 0, 0, None, None)
            )
            out.append(
                MonthRow(
                    month=firsts[i],
                    expiring=int(n),
                    renewed=int(renewed),
                    lost=int(lost_n),
                    non_renewed=int(non),
                    open=int(n_open),
                    renewed_premium=_money(renewed_premium),
                    lost_premium=_money(lost_premium),
                )
            )
        return tuple(out)

    # --- the whole -----------------------------------------------------------------

    def build(self) -> Rollup:
        clock_ = self.clock
        attention, counts = self.attention()
        stages = self.by_stage()
        month_first = _month_start(clock_.as_of)
        next_month = _month_start(clock_.as_of, -1)
        this_month = and_(
            self.is_open,
            Term.end_at >= clock_.start(month_first),
            Term.end_at < clock_.start(next_month),
        )
        total, expiring, at_risk = self.session.execute(
            _base_from().add_columns(
                func.count(Renewal.id), _count_if(this_month), _money_if(this_month, _premium())
            )
        ).one()
        open_stages = [s for s in stages if s.kind == StageKind.OPEN.value]
        user = self.uow.user
        return Rollup(
            as_of=clock_.as_of,
            time_zone=clock_.tz.key,
            exported_by=f"{user.full_name} ({user.username})" if user.full_name else user.username,
            exported_at=datetime.now(UTC),
            attention_days=self.attention_days,
            renewals=int(total),
            open_renewals=sum(s.renewals for s in open_stages),
            open_premium=sum((s.premium for s in open_stages), ZERO),
            expiring_this_month=int(expiring),
            premium_at_risk_this_month=_money(at_risk),
            past_sla=sum(s.past_sla or 0 for s in open_stages),
            by_producer=self.groups(Account.producer_id, counts["producer"], self.user_label),
            by_csr=self.groups(Account.csr_id, counts["csr"], self.user_label),
            by_carrier=self.groups(Policy.carrier, counts["carrier"], str),
            by_lob=self.groups(
                Policy.line_of_business,
                counts["lob"],
                lambda code: f"{code} — {LINES_OF_BUSINESS.get(code, code)}",
            ),
            by_stage=stages,
            attention=tuple(attention),
            months=self.months(),
        )


def rollup_data(
    db: Database,
    actor: Actor,
    as_of: date | None = None,
    *,
    attention_days: int = DEFAULT_ATTENTION_DAYS,
) -> Rollup:
    """Everything the manager rollup shows (managers and admins only).

    ``as_of``: the reference day (default: today in the agency's time zone); the outcome
    months are the twelve ending with its month. ``attention_days``: required documents
    still outstanding put a renewal on "Needs attention" when its term expires within
    this many days.
    """
    if attention_days < 0:
        raise RuleViolation(
            f"The documents warning must be zero or more days before expiry, not {attention_days}."
        )
    with read_only(db, actor) as uow:
        uow.require(Action.EXPORT_ROLLUP)
        return _RollupBuilder(uow, _clock(uow.session, as_of), attention_days).build()


def export_rollup(
    db: Database,
    actor: Actor,
    path: Path | str,
    *,
    as_of: date | None = None,
    attention_days: int = DEFAULT_ATTENTION_DAYS,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> ExportResult:
    """Write the manager rollup workbook to ``path`` (.xlsx); see :func:`rollup_data`."""
    started = clock.perf_counter()
    target = check_target(Path(path), (".xlsx",), "rollup")
    data = rollup_data(db, actor, as_of, attention_days=attention_days)
    rows = rollup_xlsx.write_rollup_xlsx(data, target, progress=progress, cancelled=cancelled)
    return ExportResult(target, "xlsx", rows, clock.perf_counter() - started, rollup_xlsx.SHEETS)


__all__ = [
    "ExportCancelled",
    "ExportFailed",
    "ExportResult",
    "export_renewals",
    "export_rollup",
    "renewal_rows",
    "rollup_data",
]
