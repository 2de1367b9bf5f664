"""The pipeline board: one column per active stage, a card per renewal.

Read-only. Everything the board shows is worked out by the database for the current
filter: each column's count and premium total, then the first cards of each column
(soonest expiration first, ties by renewal id), then more cards on demand with keyset
pagination ("the cards after this expiration and id"). Python only ever sees the cards
it is about to show, never the whole book, so a book of 50,000 open renewals loads as
fast as a small one.

How the queries stay fast (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL,
50,000 open renewals):

* One statement gives every column's count, premium total and first card ids: the
  renewals that match are read once into a materialized CTE, grouped, and each
  column's first cards picked from it (a top-N sort per stage).
* Filters on the policy or insured (line, carrier, office, producer, CSR, text) first
  find the matching policies (through their indexes; the text as two LIKE scans of
  narrow indexes), and the query starts from those; other filters read the renewals
  from one narrow index (``ix_renewals_board``, migration 0003) instead of the table.
* The cards' details and flags are then read by primary key for the ids picked only
  (a few hundred), with correlated EXISTS for the flags.
* More cards come by keyset ("after this expiration and id"), with a bound the
  expiration index can seek to.
* Open columns keep open work only (:func:`open_work`), which tests the transaction
  state. That column is not in ``ix_renewals_board``, so an unfiltered board reads each
  renewal's row besides its index entry: about a third more time on SQLite for 50,000
  open renewals (some 35 ms). Adding ``transaction_state`` as the last column of the
  index (a migration) makes the index cover the query again, at no cost per card.

Choices made here (the rules were silent):

* Premium is the new premium when known, else the premium of the term being renewed,
  as on the home screen and in the exports.
* Decided columns (won and lost stages) show renewals decided (moved there) within
  ``decided_within_days`` of today, 30 by default: a CSR wants last month's outcomes on
  the board, not every renewal ever decided. ``None`` shows them all.
* "Expiring within N days" keeps terms whose end is at most N days away, including
  those already past their end: a lapsed open renewal is the most urgent of all.
* A role whose renewal permission reaches only its own book (producers) sees only the
  renewals in that book, as in the renewal list export.
* "No next action" and "missing documents" matter only while a renewal is open, so
  cards in decided columns do not carry those two flags.
* A renewal whose transaction was discarded or invalidated is on no column: it is not
  open work (its transaction can no longer move), and it is no outcome either (a
  discarded one was thrown away; an invalidated one's term was renewed by a sibling,
  which is the renewal that counts). See :func:`open_work` and :func:`counted`.

What "open" means (one definition, shared by the board, the queues, the home screen, the
dashboard and the rollup):

* **open work** (:func:`open_work`): a renewal in an open stage whose transaction can
  still move (draft, quoted or accepted). Only these fill open columns, queues and every
  "open" count, premium and aging figure.
* **counted** (:func:`counted`): every renewal but a void one (:data:`VOID_STATES`).
  Decided columns, renewals by stage and the outcomes count only these.
* :func:`on_pipeline` puts the two together: what a stage holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AutoRenewal,
    DocumentRequirement,
    PipelineStage,
    Policy,
    Renewal,
    Term,
    User,
)
from desktop_app.db.types import Money
from desktop_app.domain import permissions
from desktop_app.domain.enums import (
    LINES_OF_BUSINESS,
    AutoRenewalState,
    DocumentStatus,
    Role,
    StageKind,
    TransactionState,
)
from desktop_app.domain.permissions import Action, Scope
from desktop_app.domain.transactions import OPEN_STATES
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.services.agency import day_start, local_date, time_zone
from desktop_app.services.unit import Actor, UnitOfWork, read_only

ZERO = Decimal("0.00")
PAGE_SIZE = 200
MAX_CARDS_PER_COLUMN = 5_000
"""The most cards one request loads into a column (a reload that keeps a long scroll)."""
DEFAULT_DECIDED_WITHIN_DAYS = 30

# Flags, as short codes; the board shows them as small labels.
BLOCKED = "blocked"
MISSING_DOCUMENTS = "missing_documents"
NO_NEXT_ACTION = "no_next_action"
DO_NOT_RENEW = "do_not_renew"
AUTO_RENEWAL = "auto_renewal"
FLAGS: dict[str, str] = {
    BLOCKED: "Blocked",
    MISSING_DOCUMENTS: "Missing documents",
    NO_NEXT_ACTION: "No next action",
    DO_NOT_RENEW: "Do not renew",
    AUTO_RENEWAL: "Auto-renewal",
}
"""Every flag code, in the order a card shows them, with its name in words."""


@dataclass(frozen=True)
class BoardFilter:
    """What the board shows. Empty fields do not filter."""

    my_book: bool = False
    """Only renewals in the signed-in user's book: next-action owner, or the account's
    producer or CSR."""
    producer: str | None = None
    """The account producer's username."""
    csr: str | None = None
    """The account CSR's username."""
    line: str | None = None
    """A line of business code (WORK, AUTOP…)."""
    carrier: str | None = None
    office: str | None = None
    expiring_within_days: int | None = None
    text: str = ""
    """Part of the insured's name or of the policy number (any case)."""
    decided_within_days: int | None = DEFAULT_DECIDED_WITHIN_DAYS
    """Decided columns show renewals decided this many days back (None: all)."""

    @property
    def is_empty(self) -> bool:
        """True when nothing narrows the board (the decided window aside)."""
        return self == BoardFilter(decided_within_days=self.decided_within_days)


@dataclass(frozen=True)
class BoardCard:
    id: int
    version: int
    stage_key: str
    insured: str
    policy_number: str
    line_of_business: str
    carrier: str
    office: str | None
    expiration: datetime
    """The end of the term being renewed (aware, UTC)."""
    expiration_date: date
    """The day ``expiration`` falls on in the agency's time zone."""
    days_left: int
    """Days from today (agency calendar) to the expiration date; negative once past."""
    owner: str | None
    """The next-action owner's username."""
    owner_name: str | None
    owner_initials: str
    premium: Decimal | None
    next_action: str | None
    next_action_due: date | None
    flags: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[datetime, int]:
        """Where the card sorts in its column (and where the next page starts after it)."""
        return (self.expiration, self.id)


@dataclass(frozen=True)
class BoardColumn:
    key: str
    name: str
    kind: StageKind
    count: int
    """Renewals in this column for the filter (loaded or not)."""
    premium_total: Decimal
    cards: tuple[BoardCard, ...]
    """The first cards, soonest expiration first."""
    has_more: bool
    sla_days: int | None = None


@dataclass(frozen=True)
class Board:
    columns: tuple[BoardColumn, ...]
    filter: BoardFilter
    today: date
    own_book_only: bool = False
    """True when the user's role sees only their own book (whatever the filter)."""

    def column(self, key: str) -> BoardColumn:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    @property
    def count(self) -> int:
        return sum(c.count for c in self.columns)


@dataclass(frozen=True)
class MoreCards:
    stage_key: str
    cards: tuple[BoardCard, ...]
    has_more: bool


@dataclass(frozen=True)
class Person:
    username: str
    name: str


@dataclass(frozen=True)
class FilterChoices:
    """What the filter boxes offer: the people and values the book actually has."""

    producers: tuple[Person, ...] = ()
    csrs: tuple[Person, ...] = ()
    lines: tuple[tuple[str, str], ...] = ()
    """(code, name) of each line of business in the book."""
    carriers: tuple[str, ...] = ()
    offices: tuple[str, ...] = ()
    stages: tuple[str, ...] = field(default=())
    """Active stage keys, in pipeline order."""


# =====================================================================================
# What counts as open, and what counts at all (shared; see the module notes).
# =====================================================================================

VOID_STATES: tuple[TransactionState, ...] = (
    TransactionState.DISCARDED,
    TransactionState.INVALIDATED,
)
"""Endings that leave nothing to record: a discarded renewal was thrown away (a duplicate,
opened by mistake); an invalidated one was closed because another renewal of its term was
issued. Such a renewal is neither open work nor an outcome (not lost, not renewed: the
issued sibling is the renewal that counts), whatever stage its card was left in."""


def counted(state: Any = None) -> ColumnElement[bool]:
    """SQL: the renewal counts at all: its transaction is not void (:data:`VOID_STATES`).

    ``state``: the transaction-state column to test (default ``Renewal.transaction_state``;
    pass a subquery's column when the query reads one)."""
    column = Renewal.transaction_state if state is None else state
    return column.not_in(VOID_STATES)


def open_work(in_open_stage: Any = None, state: Any = None) -> ColumnElement[bool]:
    """SQL: the renewal is open work: its card is in an open stage and its transaction can
    still move (draft, quoted or accepted), so neither a void renewal nor one that ended in
    an outcome left in an open stage.

    ``in_open_stage``: the SQL saying the card is in an open stage (default
    ``PipelineStage.kind == 'open'``, for a query that joins the stage; the board passes
    its open stage ids); ``state``: as for :func:`counted`."""
    if in_open_stage is None:
        in_open_stage = PipelineStage.kind == StageKind.OPEN
    column = Renewal.transaction_state if state is None else state
    return and_(in_open_stage, column.in_(OPEN_STATES))


def on_pipeline(kind: Any = None, state: Any = None) -> ColumnElement[bool]:
    """SQL: the renewal counts in the stage it is in: open work in an open stage, a counted
    renewal (:func:`counted`) in a decided stage.

    ``kind``: the stage-kind column to test (default ``PipelineStage.kind``); ``state``: as
    for :func:`counted`. Every figure "by stage" (the board's columns, the home screen, the
    dashboard, the rollup) keeps only these renewals."""
    kind = PipelineStage.kind if kind is None else kind
    return or_(
        open_work(kind == StageKind.OPEN, state),
        and_(kind != StageKind.OPEN, counted(state)),
    )


# =====================================================================================
# Helpers.
# =====================================================================================


def initials(full_name: str | None, username: str | None = None) -> str:
    """ "Casey Reyes" → "CR"; a single name gives its first two letters."""
    words = [w for w in (full_name or "").replace("-", " ").split() if w[:1].isalpha()]
    if len(words) >= 2:
        return (words[0][0] + words[-1][0]).upper()
    if words:
        return words[0][:2].upper()
    return (username or "")[:2].upper()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _own_book_only(uow: UnitOfWork) -> bool:
    return permissions.scope(uow.role, Action.RENEWAL_EDIT) is not Scope.ALL


def _user_id(session: Session, username: str, what: str) -> int:
    found = session.scalar(select(User.id).where(User.username == username.strip()))
    if found is None:
        raise NotFound(f"The board's {what} filter names '{username}', who is not a user here.")
    return found


def _in_book(user_id: int) -> ColumnElement[bool]:
    accounts = select(Account.id).where(
        or_(Account.producer_id == user_id, Account.csr_id == user_id)
    )
    return or_(
        Renewal.next_action_owner_id == user_id,
        Renewal.policy_id.in_(select(Policy.id).where(Policy.account_id.in_(accounts))),
    )


@dataclass(frozen=True)
class _Scope:
    """The filter turned into SQL."""

    policies: Select[Any] | None
    """The ids of the policies that match, when the filter names policy or account fields:
    the query starts from them (an index lookup) instead of reading every renewal."""
    where: tuple[ColumnElement[bool], ...]
    """Conditions on the renewal and its term."""
    today: date
    tz: Any
    stage: ColumnElement[Any]
    """The renewal's stage id, as the conditions name it."""


def _active_stages(session: Session) -> list[PipelineStage]:
    return list(
        session.scalars(
            select(PipelineStage)
            .where(PipelineStage.active.is_(True))
            .order_by(PipelineStage.position, PipelineStage.id)
        )
    )


def _contains(column: Any, text: str, dialect: str) -> ColumnElement[bool]:
    """``column`` contains ``text``, in any case. SQLite's LIKE ignores case already (and
    ``lower()`` around a column would cost a function call per row)."""
    if dialect == "sqlite":
        return column.like(f"%{_escape_like(text)}%", escape="\\")
    # lower() LIKE: the same answer as ILIKE, and PostgreSQL runs it about twice as fast.
    return func.lower(column).like(f"%{_escape_like(text.lower())}%", escape="\\")


def _scope(
    uow: UnitOfWork,
    flt: BoardFilter,
    stages: Sequence[PipelineStage],
    today: date | None,
    dialect: str,
) -> _Scope:
    session = uow.session
    tz = time_zone(session)
    today = today or local_date(datetime.now(UTC), tz)
    where: list[ColumnElement[bool]] = []
    for days, what in (
        (flt.expiring_within_days, "Expiring within"),
        (flt.decided_within_days, "Decided within"),
    ):
        if days is not None and days < 0:
            raise RuleViolation(f"'{what}' must be zero or more days, not {days}.")

    if flt.expiring_within_days is not None:
        last = today + timedelta(days=flt.expiring_within_days + 1)
        where.append(Term.end_at < day_start(last, tz))

    if _own_book_only(uow) or flt.my_book:
        where.append(_in_book(uow.user.id))

    # Conditions on the policy or its account select the matching policies first.
    policy_where: list[ColumnElement[bool]] = []
    account_where: list[ColumnElement[bool]] = []
    if flt.line:
        policy_where.append(Policy.line_of_business == flt.line.strip().upper())
    if flt.carrier:
        policy_where.append(Policy.carrier == flt.carrier)
    if flt.office:
        policy_where.append(Policy.office == flt.office)
    if flt.producer:
        account_where.append(Account.producer_id == _user_id(session, flt.producer, "producer"))
    if flt.csr:
        account_where.append(Account.csr_id == _user_id(session, flt.csr, "CSR"))
    text = " ".join(flt.text.split())

    def matching(*extra: ColumnElement[bool]) -> Select[Any]:
        query = select(Policy.id).where(*policy_where, *extra)
        if account_where:
            query = query.where(Policy.account_id.in_(select(Account.id).where(*account_where)))
        return query

    policies: Select[Any] | None = None
    if text:
        # The policy number or the insured's name: two index-friendly halves, not one
        # OR across a join.
        by_name = select(Account.id).where(_contains(Account.name, text, dialect))
        policies = matching(_contains(Policy.policy_number, text, dialect)).union(
            matching(Policy.account_id.in_(by_name))
        )
    elif policy_where or account_where:
        policies = matching()
    # Starting from the matching policies is the fast way in; "+ 0" keeps SQLite's planner
    # (which has no statistics) from starting with every renewal of the board's stages.
    stage = Renewal.stage_id + 0 if policies is not None else Renewal.stage_id
    # Open columns hold open work only, decided columns every counted renewal (decided
    # within the window): a discarded or invalidated renewal is on no column. (The state
    # is tested inside each branch: the database still seeks each branch's stages in an
    # index; see the module notes for what the test costs.)
    open_ids = [s.id for s in stages if s.kind is StageKind.OPEN]
    decided_ids = [s.id for s in stages if s.kind is not StageKind.OPEN]
    decided = [stage.in_(decided_ids), counted()]
    if flt.decided_within_days is not None and decided_ids:
        since = day_start(today - timedelta(days=flt.decided_within_days), tz)
        decided.append(Renewal.stage_entered_at >= since)
    where.append(or_(open_work(stage.in_(open_ids)), and_(*decided)))
    return _Scope(policies, tuple(where), today, tz, stage)


def _premium() -> ColumnElement[Any]:
    """The premium a renewal is worth: the new premium when known, else the expiring one."""
    return func.coalesce(Renewal.new_premium, Term.premium)


def _matched(scope: _Scope, *columns: Any) -> Select[Any]:
    """SELECT ``columns`` FROM the renewals (and their terms) that match the filter."""
    if scope.policies is not None:
        found = scope.policies.subquery("board_policies")
        query = select(*columns).select_from(found).join(Renewal, Renewal.policy_id == found.c.id)
    else:
        query = select(*columns).select_from(Renewal)
    return query.join(Term, Term.id == Renewal.term_id).where(*scope.where)


def _after(key: tuple[datetime, int] | None) -> ColumnElement[bool] | None:
    if key is None:
        return None
    expiration, renewal_id = key
    # The first condition is implied by the second; it lets the database seek to the
    # place in the expiration index instead of reading it from the start.
    return and_(
        Term.end_at >= expiration,
        or_(Term.end_at > expiration, and_(Term.end_at == expiration, Renewal.id > renewal_id)),
    )


def _columns(
    session: Session, scope: _Scope, limits: Mapping[int, int]
) -> tuple[dict[int, tuple[int, Decimal]], list[int]]:
    """Each stage's count and premium total, and the ids of its first ``limits[stage]``
    cards, in one statement: the matching renewals are read once (a materialized CTE),
    then grouped, and each column's first cards picked from them."""
    matched = _matched(
        scope,
        Renewal.id.label("id"),
        Renewal.stage_id.label("stage_id"),
        Term.end_at.label("end_at"),
        _premium().label("premium"),
    ).cte("board_matched")
    totals = select(
        literal(0).label("part"),
        matched.c.stage_id,
        null().label("id"),
        func.count().label("n"),
        type_coerce(func.sum(matched.c.premium), Money()).label("total"),
    ).group_by(matched.c.stage_id)
    parts: list[Any] = [totals]
    for stage_id, limit in limits.items():
        page = (
            select(matched.c.id, matched.c.stage_id)
            .where(matched.c.stage_id == stage_id)
            .order_by(matched.c.end_at, matched.c.id)
            .limit(limit)
            .subquery()
        )
        parts.append(select(literal(1), page.c.stage_id, page.c.id, null(), null()))
    rows = session.execute(union_all(*parts)).all()
    counts: dict[int, tuple[int, Decimal]] = {}
    ids: list[int] = []
    for part, stage_id, rid, n, total in rows:
        if part == 0:
            counts[stage_id] = (int(n), _money(total))
        else:
            ids.append(rid)
    return counts, ids


def _page_ids(
    session: Session,
    scope: _Scope,
    stage_id: int,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> list[int]:
    query = (
        _matched(scope, Renewal.id)
        .where(scope.stage == stage_id)
        .order_by(Term.end_at, Renewal.id)
        .limit(limit)
    )
    condition = _after(after)
    if condition is not None:
        query = query.where(condition)
    return list(session.scalars(query))


def _cards(
    session: Session,
    scope: _Scope,
    ids: Sequence[int],
    stages: Mapping[int, PipelineStage],
) -> list[BoardCard]:
    """The cards of ``ids``, with their flags, soonest expiration first.

    Three lookups by primary key (renewals with their terms and flags; their policies
    and insureds; the owners) rather than one five-table join: PostgreSQL's planner
    otherwise hashes the whole policies table for a few hundred cards."""
    if not ids:
        return []
    outstanding = exists().where(
        DocumentRequirement.renewal_id == Renewal.id,
        DocumentRequirement.required.is_(True),
        DocumentRequirement.status.not_in([DocumentStatus.RECEIVED, DocumentStatus.WAIVED]),
    )
    do_not_renew = exists().where(
        AutoRenewal.policy_id == Renewal.policy_id,
        AutoRenewal.state == AutoRenewalState.DO_NOT_RENEW,
    )
    managed = exists().where(
        AutoRenewal.term_id == Renewal.term_id, AutoRenewal.renewal_id == Renewal.id
    )
    rows = session.execute(
        select(
            Renewal.id,
            Renewal.version,
            Renewal.stage_id,
            Renewal.policy_id,
            Term.end_at,
            Term.premium,
            Renewal.new_premium,
            Renewal.next_action,
            Renewal.next_action_owner_id,
            Renewal.next_action_due,
            Renewal.blocker_reason,
            outstanding,
            do_not_renew,
            managed,
        )
        .select_from(Renewal)
        .join(Term, Term.id == Renewal.term_id)
        .where(Renewal.id.in_(bindparam("ids", expanding=True))),
        {"ids": list(ids)},
    ).all()
    policies = {
        pid: rest
        for pid, *rest in session.execute(
            select(
                Policy.id,
                Account.name,
                Policy.policy_number,
                Policy.line_of_business,
                Policy.carrier,
                Policy.office,
            )
            .join(Account, Account.id == Policy.account_id)
            .where(Policy.id.in_(bindparam("ids", expanding=True))),
            {"ids": sorted({row.policy_id for row in rows})},
        )
    }
    owner_ids = sorted({row.next_action_owner_id for row in rows} - {None})
    owners = {
        uid: (username, full_name)
        for uid, username, full_name in session.execute(
            select(User.id, User.username, User.full_name).where(
                User.id.in_(bindparam("ids", expanding=True))
            ),
            {"ids": owner_ids},
        )
    }
    tz, today = scope.tz, scope.today
    cards = []
    for (
        rid,
        version,
        stage_id,
        policy_id,
        end_at,
        premium,
        new_premium,
        next_action,
        owner_id,
        due,
        blocker,
        has_outstanding,
        has_dnr,
        is_managed,
    ) in rows:
        insured, number, lob, carrier, office = policies[policy_id]
        username, full_name = owners.get(owner_id, (None, None))
        stage = stages[stage_id]
        is_open = stage.kind is StageKind.OPEN
        flags = []
        if blocker is not None and blocker.strip():
            flags.append(BLOCKED)
        if is_open and has_outstanding:
            flags.append(MISSING_DOCUMENTS)
        if is_open and (not (next_action or "").strip() or owner_id is None):
            flags.append(NO_NEXT_ACTION)
        if has_dnr:
            flags.append(DO_NOT_RENEW)
        if is_managed:
            flags.append(AUTO_RENEWAL)
        expiration_date = local_date(end_at, tz)
        cards.append(
            BoardCard(
                id=rid,
                version=version,
                stage_key=stage.key,
                insured=insured,
                policy_number=number,
                line_of_business=lob,
                carrier=carrier,
                office=office,
                expiration=end_at,
                expiration_date=expiration_date,
                days_left=(expiration_date - today).days,
                owner=username,
                owner_name=full_name,
                owner_initials=initials(full_name, username) if username else "",
                premium=new_premium if new_premium is not None else premium,
                next_action=next_action,
                next_action_due=due,
                flags=tuple(flags),
            )
        )
    cards.sort(key=lambda c: c.key)
    return cards


def _money(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value.quantize(ZERO)


# =====================================================================================
# The services.
# =====================================================================================


def load_board(
    db: Database,
    actor: Actor,
    flt: BoardFilter | None = None,
    page_size: int = PAGE_SIZE,
    *,
    limits: Mapping[str, int] | None = None,
    today: date | None = None,
) -> Board:
    """Every active stage's column for ``flt``: count, premium total and first cards.

    ``page_size`` cards per column, or ``limits[stage_key]`` for a column (a reload that
    keeps what was scrolled into view), at most :data:`MAX_CARDS_PER_COLUMN`.
    ``today`` (agency calendar) defaults to the current date.
    """
    flt = flt or BoardFilter()
    if page_size < 1:
        raise RuleViolation(f"A page of the board needs at least one card, not {page_size}.")
    with read_only(db, actor) as uow:
        session = uow.session
        stages = _active_stages(session)
        scope = _scope(uow, flt, stages, today, db.dialect)
        limits = limits or {}
        wanted = {
            s.id: max(1, min(max(limits.get(s.key, page_size), page_size), MAX_CARDS_PER_COLUMN))
            for s in stages
        }
        totals, ids = _columns(session, scope, wanted)
        cards = _cards(session, scope, ids, {s.id: s for s in stages})
    per_stage: dict[str, list[BoardCard]] = {}
    for card in cards:
        per_stage.setdefault(card.stage_key, []).append(card)
    columns = []
    for stage in stages:
        n, total = totals.get(stage.id, (0, ZERO))
        shown = tuple(per_stage.get(stage.key, ()))
        columns.append(
            BoardColumn(
                key=stage.key,
                name=stage.name,
                kind=StageKind(stage.kind),
                count=n,
                premium_total=total,
                cards=shown,
                has_more=len(shown) < n,
                sla_days=stage.sla_days,
            )
        )
    return Board(tuple(columns), flt, scope.today, own_book_only=_own_book_only(uow))


def more_cards(
    db: Database,
    actor: Actor,
    flt: BoardFilter | None,
    stage_key: str,
    after: tuple[datetime, int] | None = None,
    limit: int = PAGE_SIZE,
    *,
    today: date | None = None,
) -> MoreCards:
    """The next ``limit`` cards of one column, after the card whose key is ``after``
    (its expiration and id; None: from the start)."""
    flt = flt or BoardFilter()
    if limit < 1:
        raise RuleViolation(f"A page of the board needs at least one card, not {limit}.")
    limit = min(limit, MAX_CARDS_PER_COLUMN)
    with read_only(db, actor) as uow:
        session = uow.session
        stages = _active_stages(session)
        by_key = {s.key: s for s in stages}
        stage = by_key.get(stage_key)
        if stage is None:
            names = ", ".join(by_key)
            raise NotFound(f"There is no pipeline stage '{stage_key}'; the stages are {names}.")
        scope = _scope(uow, flt, stages, today, db.dialect)
        ids = _page_ids(session, scope, stage.id, limit + 1, after)
        cards = _cards(session, scope, ids[:limit], {s.id: s for s in stages})
    return MoreCards(stage_key, tuple(cards), len(ids) > limit)


def filter_choices(db: Database) -> FilterChoices:
    """The producers, CSRs, lines, carriers and offices the filter boxes offer."""
    with db.read_session() as session:

        def people(column: Any, role: Role) -> tuple[Person, ...]:
            in_use = select(column).where(column.is_not(None)).distinct()
            rows = session.execute(
                select(User.username, User.full_name)
                .where(or_(User.id.in_(in_use), and_(User.role == role, User.active.is_(True))))
                .order_by(User.full_name, User.username)
            )
            return tuple(Person(u, n or u) for u, n in rows)

        lines = session.scalars(
            select(Policy.line_of_business).distinct().order_by(Policy.line_of_business)
        ).all()
        carriers = session.scalars(select(Policy.carrier).distinct().order_by(Policy.carrier))
        offices = session.scalars(
            select(Policy.office)
            .distinct()
            .where(Policy.office.is_not(None))
            .order_by(Policy.office)
        )
        return FilterChoices(
            producers=people(Account.producer_id, Role.PRODUCER),
            csrs=people(Account.csr_id, Role.CSR),
            lines=tuple((code, LINES_OF_BUSINESS.get(code, code)) for code in lines),
            carriers=tuple(carriers),
            offices=tuple(o for o in offices if o.strip()),
            stages=tuple(s.key for s in _active_stages(session)),
        )


__all__ = [
    "AUTO_RENEWAL",
    "BLOCKED",
    "DO_NOT_RENEW",
    "FLAGS",
    "MISSING_DOCUMENTS",
    "NO_NEXT_ACTION",
    "PAGE_SIZE",
    "VOID_STATES",
    "Board",
    "BoardCard",
    "BoardColumn",
    "BoardFilter",
    "FilterChoices",
    "MoreCards",
    "Person",
    "counted",
    "filter_choices",
    "initials",
    "load_board",
    "more_cards",
    "on_pipeline",
    "open_work",
]
