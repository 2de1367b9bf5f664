"""The book at a glance: read-only counts for the home screen.

Nothing here writes, so no actor or permission check is needed: the numbers are totals
that every role may see. Everything comes back as plain frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from desktop_app.db.engine import Database
from desktop_app.db.models import Account, PipelineStage, Policy, Renewal, Term, User
from desktop_app.db.types import Money
from desktop_app.domain.enums import StageKind
from desktop_app.services.board import on_pipeline

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class StageCount:
    """One row of "renewals by stage"."""

    stage: str
    kind: StageKind
    renewals: int
    premium: Decimal


@dataclass(frozen=True)
class BookOverview:
    database: str
    """Where the data lives, as :meth:`Database.describe` says it."""
    users: int
    """Active users."""
    accounts: int
    policies: int
    open_renewals: int
    """Open work: renewals in an open stage (not yet renewed, lost or non-renewed) whose
    transaction can still move; a discarded or invalidated renewal is not counted."""
    open_premium: Decimal
    """Premium of the open renewals: the new premium where it is known, else the premium of
    the term being renewed."""
    renewals_by_stage: tuple[StageCount, ...]
    """Every active stage in pipeline order (with zero rows), then any inactive stage that
    still holds renewals. A stage counts what the board shows in it: never a discarded or
    invalidated renewal (see :func:`desktop_app.services.board.on_pipeline`)."""
    schema_revision: str | None = None

    @property
    def is_empty(self) -> bool:
        """True for a book with no policies yet: the home screen offers the first steps."""
        return self.policies == 0

    @property
    def renewals(self) -> int:
        return sum(row.renewals for row in self.renewals_by_stage)


def _count(session: Session, model: type, *where: object) -> int:
    query = select(func.count()).select_from(model)
    if where:
        query = query.where(*where)
    return int(session.scalar(query) or 0)


def book_overview(db: Database, *, with_revision: bool = True) -> BookOverview:
    """Counts of the whole book (users, accounts, policies, renewals by stage, premium)."""
    premium = func.coalesce(Renewal.new_premium, Term.premium)
    with db.read_session() as session:
        users = _count(session, User, User.active.is_(True))
        accounts = _count(session, Account)
        policies = _count(session, Policy)
        rows = session.execute(
            select(
                PipelineStage.name,
                PipelineStage.kind,
                PipelineStage.active,
                func.count(Renewal.id),
                # Money keeps whole cents; the sum must come back through it as dollars.
                type_coerce(func.sum(premium), Money()),
            )
            .select_from(PipelineStage)
            # A stage holds the renewals the board shows in it: no discarded or
            # invalidated one, so the open counts are open work (board.on_pipeline).
            .outerjoin(Renewal, and_(Renewal.stage_id == PipelineStage.id, on_pipeline()))
            .outerjoin(Term, Term.id == Renewal.term_id)
            .group_by(
                PipelineStage.id,
                PipelineStage.name,
                PipelineStage.kind,
                PipelineStage.active,
                PipelineStage.position,
            )
            .having(or_(PipelineStage.active.is_(True), func.count(Renewal.id) > 0))
            .order_by(PipelineStage.active.desc(), PipelineStage.position, PipelineStage.id)
        ).all()
    by_stage = tuple(
        StageCount(name, StageKind(kind), int(count or 0), _money(total))
        for name, kind, _active, count, total in rows
    )
    open_rows = [row for row in by_stage if row.kind is StageKind.OPEN]
    revision = _revision(db) if with_revision else None
    return BookOverview(
        database=db.describe(),
        users=users,
        accounts=accounts,
        policies=policies,
        open_renewals=sum(row.renewals for row in open_rows),
        open_premium=sum((row.premium for row in open_rows), ZERO),
        renewals_by_stage=by_stage,
        schema_revision=revision,
    )


def book_is_empty(db: Database) -> bool:
    """True while the book has no renewal at all (the first-run screen's question)."""
    with db.read_session() as session:
        return session.scalar(select(Renewal.id).limit(1)) is None


def _money(value: Decimal | None) -> Decimal:
    return ZERO if value is None else value.quantize(ZERO)


def _revision(db: Database) -> str | None:
    from desktop_app.db import migrate

    try:
        return migrate.current_revision(db)
    except Exception:  # the revision is a nicety for the About box, never worth a failure
        return None
