"""The manager dashboard: the figures behind its charts, and the renewals behind a bar.

Read-only. :func:`dashboard` answers with one frozen :class:`Dashboard` from a handful of
GROUP BY queries (the database aggregates; nothing is counted row by row in Python): one
"cube" of every renewal grouped by stage, days in stage, past SLA, expiration month,
do-not-renew, bound and outcome — which the stage, aging, expiring, at-risk and outcome
charts are sums of — and one query per "by" grouping (producer, CSR, carrier, line of
business, office).

Every bar is a :class:`Cell`: a count, a premium, and the :class:`Criteria` that select
exactly its renewals. :func:`renewals_behind` lists the renewals that match a criteria,
a page at a time; the filters it applies are the very expressions the cube groups by, so a
bar's list always has the bar's count.

The definitions are the manager rollup's (:mod:`desktop_app.services.exporting`): the
same premium (the new premium when known, else the expiring one), the same aging buckets
and SLA test, the same twelve outcome months ending with the as-of month, and retention =
renewed ÷ decided (renewed + lost + non-renewed) by the expiring term's month; dates are
the agency's calendar. The one figure the rollup lacks is *premium at risk*, which here
leaves out what is already bound: see :data:`AT_RISK_MEANS`.

A renewal that was discarded, or invalidated because another renewal of its term was
issued, is in no figure: it is not open work, and it is no outcome either (the issued
sibling is the renewal that counted). "Open" is the board's definition
(:func:`desktop_app.services.board.open_work`).

Who sees what (the rule of the renewal list export): a role whose renewal permission
reaches the whole agency (CSR, manager, admin) sees the whole agency; a producer sees their
own book — renewals of accounts they produce or service, or whose next action they own.
"""

from __future__ import annotations

import time as clock
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, not_, or_, select
from sqlalchemy.orm import aliased

from desktop_app.db.engine import Database
from desktop_app.db.models import Account, AutoRenewal, PipelineStage, Policy, Renewal, Term, User
from desktop_app.domain.enums import (
    LINES_OF_BUSINESS,
    AutoRenewalState,
    Outcome,
    StageKind,
    TransactionState,
)
from desktop_app.excel.export_rollup import AGING_BUCKETS, bucket_label, retention
from desktop_app.services.board import on_pipeline, open_work
from desktop_app.services.exporting import (
    NONE_LABEL,
    OUTCOME_MONTHS,
    _Clock,
    _clock,
    _count_if,
    _in_book,
    _money,
    _money_if,
    _money_sum,
    _month_start,
    _own_book_only,
    _past_sla,
    _premium,
    _stages,
    _user_names,
)
from desktop_app.services.unit import Actor, UnitOfWork, read_only

ZERO = Decimal("0.00")
PAGE_SIZE = 500
"""Rows :func:`renewals_behind` returns at a time unless asked otherwise."""

THIS_MONTH = OUTCOME_MONTHS - 1
"""Month index of the as-of date's month (0 is the first of the twelve outcome months)."""
NEXT_MONTH = OUTCOME_MONTHS
_BEFORE, _AFTER = -1, OUTCOME_MONTHS + 1

BOUND_STATES = (TransactionState.ACCEPTED, TransactionState.ISSUED)
"""A renewal whose transaction reached one of these is bound: the carrier accepted it."""

AT_RISK_MEANS = (
    "open renewals expiring this month that are not yet bound (the carrier has not "
    "accepted the renewal), plus any whose policy is marked do-not-renew"
)
"""What "premium at risk this month" counts, in words for a caption."""


class By(StrEnum):
    """The groupings of the "by" chart."""

    PRODUCER = "producer"
    CSR = "csr"
    CARRIER = "carrier"
    LOB = "lob"
    OFFICE = "office"

    @property
    def label(self) -> str:
        return _BY_LABELS[self]

    @property
    def plural(self) -> str:
        return _BY_PLURALS[self]


_BY_LABELS = {
    By.PRODUCER: "Producer",
    By.CSR: "CSR",
    By.CARRIER: "Carrier",
    By.LOB: "Line of business",
    By.OFFICE: "Office",
}
_BY_PLURALS = {
    By.PRODUCER: "producers",
    By.CSR: "CSRs",
    By.CARRIER: "carriers",
    By.LOB: "lines of business",
    By.OFFICE: "offices",
}


@dataclass(frozen=True)
class Criteria:
    """Which renewals a bar stands for. Every set field narrows the selection.

    ``as_of`` fixes "today" so the list behind a bar is the bar's even if a day passes.
    """

    as_of: date
    title: str = ""
    """The bar in words, e.g. "Gathering info · 8–14 days in stage"."""
    stage_id: int | None = None
    open_only: bool = False
    aging: int | None = None
    """Index into :data:`AGING_BUCKETS` (open renewals only)."""
    past_sla: bool = False
    expires_in: date | None = None
    """The first day of the month (agency calendar) the renewed term expires in."""
    outcome: Outcome | None = None
    undecided: bool = False
    """No outcome yet."""
    at_risk: bool = False
    """See :data:`AT_RISK_MEANS`."""
    do_not_renew: bool | None = None
    """True: the policy is marked do-not-renew; False: it is not."""
    group: By | None = None
    group_key: str | int | None = None
    """With ``group``: the producer's or CSR's user id, the carrier, line or office;
    None means "(none)"."""


@dataclass(frozen=True)
class StageInfo:
    id: int
    name: str
    kind: StageKind
    sla_days: int | None
    active: bool = True


@dataclass(frozen=True)
class Cell:
    """One bar or bar segment: how many renewals, their premium, and which they are."""

    criteria: Criteria
    count: int = 0
    premium: Decimal = ZERO


@dataclass(frozen=True)
class StageFigure:
    stage: StageInfo
    cell: Cell


@dataclass(frozen=True)
class AgingFigure:
    """The open renewals of one stage by days in the stage."""

    stage: StageInfo
    buckets: tuple[Cell, ...]
    """One per :data:`AGING_BUCKETS`."""
    past_sla: Cell


@dataclass(frozen=True)
class ExpiringFigure:
    """Renewals whose term expires in one month, by stage (open and decided)."""

    month: date
    by_stage: tuple[StageFigure, ...]

    @property
    def count(self) -> int:
        return sum(f.cell.count for f in self.by_stage)


@dataclass(frozen=True)
class RiskFigure:
    """A slice of the premium at risk this month: a stage, or "Do not renew"."""

    label: str
    cell: Cell


@dataclass(frozen=True)
class MonthFigure:
    """Renewals of terms expiring in one month, by outcome."""

    month: date
    renewed: Cell
    lost: Cell
    non_renewed: Cell
    undecided: Cell

    @property
    def expiring(self) -> int:
        return self.renewed.count + self.lost.count + self.non_renewed.count + self.undecided.count

    @property
    def decided(self) -> int:
        return self.renewed.count + self.lost.count + self.non_renewed.count

    @property
    def retention(self) -> float | None:
        return retention(self.renewed.count, self.lost.count, self.non_renewed.count)


@dataclass(frozen=True)
class GroupFigure:
    """One producer, CSR, carrier, line of business or office."""

    key: str | int | None
    label: str
    """As the rollup labels it, e.g. "Pat Smith (psmith)", "WORK — Workers compensation"."""
    short: str
    """For a chart's axis, e.g. "Pat Smith", "WORK"."""
    open: Cell
    at_risk: Cell
    renewed: int
    lost: int
    non_renewed: int

    @property
    def decided(self) -> int:
        return self.renewed + self.lost + self.non_renewed

    @property
    def retention(self) -> float | None:
        return retention(self.renewed, self.lost, self.non_renewed)


@dataclass(frozen=True)
class Dashboard:
    as_of: date
    time_zone: str
    whole_agency: bool
    scope: str
    """Whose renewals these are, in a sentence."""
    stages: tuple[StageFigure, ...]
    """Renewals by stage: active stages in pipeline order, then retired ones still holding
    renewals."""
    aging: tuple[AgingFigure, ...]
    """Open stages only."""
    past_sla: Cell
    """Open renewals in their stage longer than its SLA days (every stage)."""
    expiring: tuple[ExpiringFigure, ExpiringFigure]
    """This month and next."""
    at_risk: tuple[RiskFigure, ...]
    """The premium at risk this month: open stages not yet bound, then "Do not renew"."""
    at_risk_total: Cell
    months: tuple[MonthFigure, ...]
    """The twelve months ending with the as-of month."""
    groups: tuple[tuple[By, tuple[GroupFigure, ...]], ...]
    """Each grouping, biggest open premium first."""
    open_renewals: Cell
    expiring_this_month: Cell
    """Open renewals expiring this month (the rollup's "premium at risk" counts these)."""
    seconds: float = field(default=0.0, compare=False)

    @property
    def renewed(self) -> int:
        return sum(m.renewed.count for m in self.months)

    @property
    def lost(self) -> int:
        return sum(m.lost.count for m in self.months)

    @property
    def non_renewed(self) -> int:
        return sum(m.non_renewed.count for m in self.months)

    @property
    def decided(self) -> int:
        return self.renewed + self.lost + self.non_renewed

    @property
    def retention(self) -> float | None:
        """Renewed ÷ decided over the twelve months."""
        return retention(self.renewed, self.lost, self.non_renewed)

    @property
    def window(self) -> str:
        """The outcome months in words, e.g. "Apr 2026 – Mar 2027"."""
        return f"{self.months[0].month:%b %Y} – {self.months[-1].month:%b %Y}"

    def by(self, by: By) -> tuple[GroupFigure, ...] | None:
        """The grouping ``by``, or None when it was not computed."""
        return dict(self.groups).get(by)

    def with_groups(self, by: By, figures: tuple[GroupFigure, ...]) -> Dashboard:
        """The same dashboard with grouping ``by`` added (or replaced)."""
        kept = tuple((b, g) for b, g in self.groups if b is not by)
        return replace(self, groups=(*kept, (by, figures)))


@dataclass(frozen=True)
class RenewalLine:
    """One row of the list behind a bar."""

    renewal_id: int
    insured: str
    policy_number: str
    stage: str
    owner: str | None
    expiration: date
    premium: Decimal | None


@dataclass(frozen=True)
class RenewalPage:
    criteria: Criteria
    total: int
    """All the renewals that match, over every page."""
    offset: int
    rows: tuple[RenewalLine, ...]

    @property
    def more(self) -> bool:
        return self.offset + len(self.rows) < self.total


# =====================================================================================
# The expressions every figure and every list share.
# =====================================================================================


class _Terms:
    """The SQL for one as-of date: the cube's dimensions, and criteria as WHERE clauses."""

    def __init__(self, uow: UnitOfWork, clock_: _Clock, stages: list[PipelineStage]) -> None:
        self.uow = uow
        self.clock = clock_
        as_of = clock_.as_of
        # Within scope() every renewal is on the pipeline, so an open stage means open work;
        # open_work() says so anyway, for whoever reads a clause on its own.
        self.is_open = open_work()
        self.past_sla = and_(self.is_open, _past_sla(clock_, stages))
        # The outcome months, then next month: firsts[i] is the first day of month i.
        self.firsts = [
            _month_start(as_of, OUTCOME_MONTHS - 1 - i) for i in range(OUTCOME_MONTHS + 2)
        ]
        self.bounds = [clock_.start(d) for d in self.firsts]
        self.month = case(
            (Term.end_at < self.bounds[0], _BEFORE),
            *[(Term.end_at < self.bounds[i + 1], i) for i in range(OUTCOME_MONTHS + 1)],
            else_=_AFTER,
        )
        # Days in stage ≥ low ⇔ entered before the start of (as_of − low + 1), as the
        # rollup's By stage sheet buckets them.
        self.aging_starts = [
            None if high is None else clock_.start(as_of - timedelta(days=high))
            for _low, high in AGING_BUCKETS
        ]
        last = len(AGING_BUCKETS) - 1
        self.bucket = case(
            *[
                (Renewal.stage_entered_at >= start, i)
                for i, start in enumerate(self.aging_starts)
                if start is not None
            ],
            else_=last,
        )
        self.do_not_renew = Renewal.policy_id.in_(
            select(AutoRenewal.policy_id).where(AutoRenewal.state == AutoRenewalState.DO_NOT_RENEW)
        )
        self.bound = Renewal.transaction_state.in_(BOUND_STATES)
        self.this_month = self.in_month(THIS_MONTH)
        self.at_risk = and_(self.is_open, self.this_month, or_(not_(self.bound), self.do_not_renew))
        self.in_window = and_(
            Term.end_at >= self.bounds[0], Term.end_at < self.bounds[OUTCOME_MONTHS]
        )
        self.own_book = _own_book_only(uow)

    def in_month(self, index: int) -> ColumnElement[bool]:
        return and_(Term.end_at >= self.bounds[index], Term.end_at < self.bounds[index + 1])

    def month_index(self, first: date) -> int:
        """The cube's index of the month starting ``first``; -1 outside the cube."""
        for i, day in enumerate(self.firsts[:-1]):
            if day == first:
                return i
        return -1

    def scope(self) -> ColumnElement[bool]:
        """The renewals every figure and every list starts from: those the board shows in
        their stage (never a discarded or invalidated one, which is neither open nor an
        outcome), in the reader's book."""
        if self.own_book:
            return and_(on_pipeline(), _in_book(self.uow.user.id))
        return on_pipeline()

    def where(self, c: Criteria) -> list[ColumnElement[bool]]:
        """The WHERE clauses that select exactly the renewals of ``c``."""
        out: list[ColumnElement[bool]] = [self.scope()]
        if c.stage_id is not None:
            out.append(Renewal.stage_id == c.stage_id)
        if c.open_only:
            out.append(self.is_open)
        if c.aging is not None:
            out.append(self.is_open)
            start = self.aging_starts[c.aging]
            if start is not None:
                out.append(Renewal.stage_entered_at >= start)
            if c.aging > 0:
                previous = self.aging_starts[c.aging - 1]
                assert previous is not None
                out.append(Renewal.stage_entered_at < previous)
        if c.past_sla:
            out.append(self.past_sla)
        if c.expires_in is not None:
            index = self.month_index(c.expires_in)
            if index < 0:
                end = _month_start(c.expires_in, -1)
                out.append(Term.end_at >= self.clock.start(c.expires_in))
                out.append(Term.end_at < self.clock.start(end))
            else:
                out.append(self.in_month(index))
        if c.outcome is not None:
            out.append(Renewal.outcome == c.outcome)
        if c.undecided:
            out.append(Renewal.outcome.is_(None))
        if c.at_risk:
            out.append(self.at_risk)
        if c.do_not_renew is True:
            out.append(self.do_not_renew)
        elif c.do_not_renew is False:
            out.append(not_(self.do_not_renew))
        if c.group is not None:
            key = _GROUP_KEYS[c.group]
            out.append(key.is_(None) if c.group_key is None else key == c.group_key)
        return out


_GROUP_KEYS: dict[By, Any] = {
    By.PRODUCER: Account.producer_id,
    By.CSR: Account.csr_id,
    By.CARRIER: Policy.carrier,
    By.LOB: Policy.line_of_business,
    By.OFFICE: Policy.office,
}


# =====================================================================================
# The dashboard.
# =====================================================================================


@dataclass(frozen=True)
class _CubeRow:
    stage_id: int
    bucket: int
    past_sla: bool
    month: int
    do_not_renew: bool
    bound: bool
    outcome: Outcome | None
    count: int
    premium: Decimal


def _from(terms: _Terms, *, policy: bool = False, account: bool = False) -> Select[Any]:
    """Renewals with their term and stage; the policy and account only when the query (or
    the reader's scope) needs them: joins the database can skip make a big book quicker."""
    query = (
        select()
        .select_from(Renewal)
        .join(Term, Term.id == Renewal.term_id)
        .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
    )
    account = account or terms.own_book
    if policy or account:
        query = query.join(Policy, Policy.id == Renewal.policy_id)
    if account:
        query = query.join(Account, Account.id == Policy.account_id)
    return query


def _cube(terms: _Terms) -> list[_CubeRow]:
    """Every renewal in scope, grouped by every dimension a chart splits on."""
    inner = (
        _from(terms)
        .add_columns(
            Renewal.stage_id.label("stage_id"),
            terms.bucket.label("bucket"),
            case((terms.past_sla, 1), else_=0).label("past_sla"),
            terms.month.label("month"),
            case((terms.do_not_renew, 1), else_=0).label("dnr"),
            case((terms.bound, 1), else_=0).label("bound"),
            Renewal.outcome.label("outcome"),
            _premium().label("premium"),
        )
        .where(terms.scope())
        .subquery()
    )
    dims = (
        inner.c.stage_id,
        inner.c.bucket,
        inner.c.past_sla,
        inner.c.month,
        inner.c.dnr,
        inner.c.bound,
        inner.c.outcome,
    )
    query = select(*dims, func.count(), _money_sum(inner.c.premium)).group_by(*dims)
    return [
        _CubeRow(
            int(stage_id),
            int(bucket),
            bool(past),
            int(month),
            bool(dnr),
            bool(bound),
            None if outcome is None else Outcome(outcome),
            int(n),
            _money(premium),
        )
        for stage_id, bucket, past, month, dnr, bound, outcome, n, premium in (
            terms.uow.session.execute(query)
        )
    ]


def _sum(rows: Iterable[_CubeRow], criteria: Criteria) -> Cell:
    n, premium = 0, ZERO
    for row in rows:
        n += row.count
        premium += row.premium
    return Cell(criteria, n, premium)


class _Builder:
    def __init__(
        self, uow: UnitOfWork, as_of: date | None, wanted: tuple[By, ...] = tuple(By)
    ) -> None:
        self.uow = uow
        self.wanted = wanted
        self.session = uow.session
        self.clock = _clock(self.session, as_of)
        self.as_of = self.clock.as_of
        self.stage_rows = _stages(self.session)
        self.terms = _Terms(uow, self.clock, self.stage_rows)
        self.users = _user_names(self.session)

    def criteria(self, title: str, **fields: Any) -> Criteria:
        return Criteria(self.as_of, title, **fields)

    def build(self) -> Dashboard:
        started = clock.perf_counter()
        cube = _cube(self.terms)
        infos = {
            s.id: StageInfo(s.id, s.name, s.kind, s.sla_days, s.active) for s in self.stage_rows
        }
        kind = {s.id: s.kind for s in self.stage_rows}
        open_rows = [r for r in cube if kind[r.stage_id] is StageKind.OPEN]
        this_month, next_month = self.terms.firsts[THIS_MONTH], self.terms.firsts[NEXT_MONTH]

        # Renewals by stage.
        stages = []
        for s in self.stage_rows:
            cell = _sum(
                (r for r in cube if r.stage_id == s.id), self.criteria(s.name, stage_id=s.id)
            )
            if s.active or cell.count:
                stages.append(StageFigure(infos[s.id], cell))
        stages.sort(key=lambda f: not f.stage.active)
        shown = [f.stage for f in stages]
        open_stages = [s for s in shown if s.kind is StageKind.OPEN]

        # Aging in stage.
        aging = []
        for s in open_stages:
            mine = [r for r in open_rows if r.stage_id == s.id]
            buckets = tuple(
                _sum(
                    (r for r in mine if r.bucket == i),
                    self.criteria(
                        f"{s.name} · {bucket_label(low, high)} in stage", stage_id=s.id, aging=i
                    ),
                )
                for i, (low, high) in enumerate(AGING_BUCKETS)
            )
            past = _sum(
                (r for r in mine if r.past_sla),
                self.criteria(f"{s.name} · past the stage's SLA", stage_id=s.id, past_sla=True),
            )
            aging.append(AgingFigure(s, buckets, past))

        # Expiring this month and next, by stage.
        expiring = []
        for index, first in ((THIS_MONTH, this_month), (NEXT_MONTH, next_month)):
            expiring.append(
                ExpiringFigure(
                    first,
                    tuple(
                        StageFigure(
                            s,
                            _sum(
                                (r for r in cube if r.stage_id == s.id and r.month == index),
                                self.criteria(
                                    f"Expiring in {first:%B %Y} · {s.name}",
                                    stage_id=s.id,
                                    expires_in=first,
                                ),
                            ),
                        )
                        for s in shown
                    ),
                )
            )

        # Premium at risk this month.
        risky = [r for r in open_rows if r.month == THIS_MONTH and (not r.bound or r.do_not_renew)]
        month_words = f"{this_month:%B %Y}"
        at_risk = [
            RiskFigure(
                s.name,
                _sum(
                    (r for r in risky if r.stage_id == s.id and not r.do_not_renew),
                    self.criteria(
                        f"At risk in {month_words} · {s.name}",
                        stage_id=s.id,
                        at_risk=True,
                        do_not_renew=False,
                    ),
                ),
            )
            for s in open_stages
        ]
        at_risk = [f for f in at_risk if f.cell.count]
        at_risk.append(
            RiskFigure(
                "Do not renew",
                _sum(
                    (r for r in risky if r.do_not_renew),
                    self.criteria(
                        f"At risk in {month_words} · do not renew", at_risk=True, do_not_renew=True
                    ),
                ),
            )
        )
        at_risk_total = _sum(risky, self.criteria(f"At risk in {month_words}", at_risk=True))

        # Outcomes by month.
        months = []
        for i in range(OUTCOME_MONTHS):
            first = self.terms.firsts[i]
            mine = [r for r in cube if r.month == i]

            def part(title: str, rows: list[_CubeRow], first: date = first, **kw: Any) -> Cell:
                return _sum(rows, self.criteria(f"{title} · {first:%B %Y}", expires_in=first, **kw))

            months.append(
                MonthFigure(
                    first,
                    renewed=part(
                        "Renewed",
                        [r for r in mine if r.outcome is Outcome.RENEWED],
                        outcome=Outcome.RENEWED,
                    ),
                    lost=part(
                        "Lost", [r for r in mine if r.outcome is Outcome.LOST], outcome=Outcome.LOST
                    ),
                    non_renewed=part(
                        "Non-renewed",
                        [r for r in mine if r.outcome is Outcome.NON_RENEWED],
                        outcome=Outcome.NON_RENEWED,
                    ),
                    undecided=part(
                        "Not decided", [r for r in mine if r.outcome is None], undecided=True
                    ),
                )
            )

        groups = tuple((by, self.groups(by)) for by in self.wanted)
        user = self.uow.user
        whole = not self.terms.own_book
        if whole:
            scope = "The whole agency."
        else:
            name = user.full_name or user.username
            scope = (
                f"Your book ({name}): renewals of accounts you produce or service, or whose "
                "next action you own."
            )
        return Dashboard(
            as_of=self.as_of,
            time_zone=self.clock.tz.key,
            whole_agency=whole,
            scope=scope,
            stages=tuple(stages),
            aging=tuple(aging),
            past_sla=_sum(
                (r for r in open_rows if r.past_sla),
                self.criteria("Past the stage's SLA", past_sla=True),
            ),
            expiring=(expiring[0], expiring[1]),
            at_risk=tuple(at_risk),
            at_risk_total=at_risk_total,
            months=tuple(months),
            groups=groups,
            open_renewals=_sum(open_rows, self.criteria("Open renewals", open_only=True)),
            expiring_this_month=_sum(
                (r for r in open_rows if r.month == THIS_MONTH),
                self.criteria(
                    f"Open renewals expiring in {month_words}",
                    open_only=True,
                    expires_in=this_month,
                ),
            ),
            seconds=clock.perf_counter() - started,
        )

    # --- by producer / CSR / carrier / line / office ----------------------------------

    def user_label(self, user_id: int | None) -> tuple[str, str]:
        if user_id is None or user_id not in self.users:
            return NONE_LABEL, NONE_LABEL
        username, full_name = self.users[user_id]
        if full_name:
            return f"{full_name} ({username})", full_name
        return username, username

    def label(self, by: By, key: Any) -> tuple[str, str]:
        if by in (By.PRODUCER, By.CSR):
            return self.user_label(key)
        if key is None or key == "":
            return NONE_LABEL, NONE_LABEL
        if by is By.LOB:
            return f"{key} — {LINES_OF_BUSINESS.get(key, key)}", str(key)
        return str(key), str(key)

    def groups(self, by: By) -> tuple[GroupFigure, ...]:
        t = self.terms
        key = _GROUP_KEYS[by]
        premium = _premium()
        decided = and_(t.in_window, Renewal.outcome == Outcome.RENEWED)
        query = (
            _from(t, policy=True, account=by in (By.PRODUCER, By.CSR))
            .add_columns(
                key,
                _count_if(t.is_open),
                _money_if(t.is_open, premium),
                _count_if(t.at_risk),
                _money_if(t.at_risk, premium),
                _count_if(decided),
                _count_if(and_(t.in_window, Renewal.outcome == Outcome.LOST)),
                _count_if(and_(t.in_window, Renewal.outcome == Outcome.NON_RENEWED)),
            )
            .where(t.scope())
            .group_by(key)
        )
        out = []
        for (
            k,
            n_open,
            open_premium,
            n_risk,
            risk_premium,
            renewed,
            lost,
            non,
        ) in self.session.execute(query):
            label, short = self.label(by, k)
            out.append(
                GroupFigure(
                    key=k,
                    label=label,
                    short=short,
                    open=Cell(
                        self.criteria(
                            f"Open renewals · {by.label} {label}",
                            open_only=True,
                            group=by,
                            group_key=k,
                        ),
                        int(n_open),
                        _money(open_premium),
                    ),
                    at_risk=Cell(
                        self.criteria(
                            f"At risk this month · {by.label} {label}",
                            at_risk=True,
                            group=by,
                            group_key=k,
                        ),
                        int(n_risk),
                        _money(risk_premium),
                    ),
                    renewed=int(renewed),
                    lost=int(lost),
                    non_renewed=int(non),
                )
            )
        # Biggest open book first; a tie (or none open) by name, as the rollup sorts.
        out.sort(key=lambda g: (-g.open.premium, g.label.casefold()))
        return tuple(out)


def dashboard(
    db: Database,
    actor: Actor,
    as_of: date | None = None,
    *,
    by: By | Iterable[By] | None = None,
) -> Dashboard:
    """Every figure of the manager dashboard, for ``actor`` (see the module notes for who
    sees what). ``as_of``: "today" (default: today on the agency's wall clock). ``by``: the
    groupings to compute (default: all five); the page asks for the one it shows and
    fetches another with :func:`groups` when the user switches."""
    wanted = tuple(By) if by is None else ((by,) if isinstance(by, By) else tuple(by))
    with read_only(db, actor) as uow:
        return _Builder(uow, as_of, wanted).build()


def groups(db: Database, actor: Actor, by: By, as_of: date) -> tuple[GroupFigure, ...]:
    """One grouping of the "by" chart, as :func:`dashboard` computes it."""
    with read_only(db, actor) as uow:
        return _Builder(uow, as_of, (by,)).groups(by)


def renewals_behind(
    db: Database,
    actor: Actor,
    criteria: Criteria,
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> RenewalPage:
    """The renewals a bar stands for, soonest expiration first: ``limit`` of them from
    ``offset``, and how many there are in all."""
    offset, limit = max(0, offset), max(1, limit)
    with read_only(db, actor) as uow:
        session = uow.session
        clock_ = _clock(session, criteria.as_of)
        terms = _Terms(uow, clock_, _stages(session))
        where = terms.where(criteria)
        counted = _from(terms, account=True).add_columns(func.count()).where(*where)
        total = int(session.scalar(counted) or 0)
        owner = aliased(User)
        query = (
            _from(terms, account=True)
            .add_columns(
                Renewal.id,
                Account.name,
                Policy.policy_number,
                PipelineStage.name,
                owner.full_name,
                owner.username,
                Term.end_at,
                _premium(),
            )
            .outerjoin(owner, owner.id == Renewal.next_action_owner_id)
            .where(*where)
            # Soonest expiration first. Sorting on an expression keeps PostgreSQL from
            # walking the whole terms index in date order when few renewals match.
            .order_by(func.coalesce(Term.end_at, Term.end_at), Account.name, Renewal.id)
            .offset(offset)
            .limit(limit)
        )
        found = session.execute(query).all() if offset < total else []
        rows = tuple(
            RenewalLine(
                rid,
                insured,
                number,
                stage,
                full_name or username,
                clock_.day(end_at),
                premium,
            )
            for rid, insured, number, stage, full_name, username, end_at, premium in found
        )
    return RenewalPage(criteria, total, offset, rows)


__all__ = [
    "AT_RISK_MEANS",
    "By",
    "Cell",
    "Criteria",
    "Dashboard",
    "GroupFigure",
    "MonthFigure",
    "RenewalLine",
    "RenewalPage",
    "dashboard",
    "groups",
    "renewals_behind",
]
