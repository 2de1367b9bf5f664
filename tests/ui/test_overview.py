"""The home screen's numbers, straight from the service (both backends)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from desktop_app.db.engine import Database
from desktop_app.db.models import PipelineStage, Renewal, User
from desktop_app.domain.enums import StageKind
from desktop_app.domain.stages import DEFAULT_STAGES
from desktop_app.services.demo import load_demo
from desktop_app.services.overview import BookOverview, book_overview
from desktop_app.services.renewals import update_renewal
from desktop_app.services.unit import Actor

TODAY = date(2026, 3, 15)


def counted_by_hand(db: Database) -> tuple[int, list[tuple[str, StageKind, int, Decimal]]]:
    """Active users, and (stage, kind, renewals, premium) per active stage in pipeline order,
    counted row by row: a renewal's premium is its quoted new premium, else its term's."""
    with db.read_session() as session:
        users = session.scalar(select(func.count()).where(User.active.is_(True))) or 0
        stages = session.scalars(
            select(PipelineStage)
            .where(PipelineStage.active.is_(True))
            .order_by(PipelineStage.position)
        ).all()
        renewals = session.scalars(select(Renewal)).all()
        rows = []
        for stage in stages:
            mine = [r for r in renewals if r.stage_id == stage.id]
            premium = sum(
                (r.term.premium if r.new_premium is None else r.new_premium for r in mine),
                Decimal("0.00"),
            )
            rows.append((stage.name, StageKind(stage.kind), len(mine), premium))
    return users, rows


def test_an_empty_book(db: Database) -> None:
    book = book_overview(db)
    assert isinstance(book, BookOverview)
    assert book.is_empty
    assert (book.users, book.accounts, book.policies, book.open_renewals) == (0, 0, 0, 0)
    assert book.open_premium == Decimal("0.00")
    assert [row.stage for row in book.renewals_by_stage] == [s.name for s in DEFAULT_STAGES]
    assert all(row.renewals == 0 for row in book.renewals_by_stage)
    assert book.database == db.describe()
    assert book.schema_revision


def test_counts_and_premium_by_stage(db: Database, admin: Actor) -> None:
    summary = load_demo(db, admin, policies=40, seed=1, today=TODAY)
    book = book_overview(db)
    assert not book.is_empty
    users, by_hand = counted_by_hand(db)
    assert (book.users, book.accounts, book.policies) == (
        users,
        summary.accounts,
        summary.policies,
    )
    assert book.users == summary.users + 1  # the demo staff and the admin
    rows = [(r.stage, r.kind, r.renewals, r.premium) for r in book.renewals_by_stage]
    assert rows == by_hand
    assert [r.stage for r in book.renewals_by_stage] == [s.name for s in DEFAULT_STAGES]
    assert all(r.renewals > 0 for r in book.renewals_by_stage)  # the demo fills every stage
    assert book.renewals == summary.renewals
    by_name = {row.stage: row for row in book.renewals_by_stage}
    assert by_name["Renewed"].kind is StageKind.WON
    open_rows = [r for r in book.renewals_by_stage if r.kind is StageKind.OPEN]
    assert len(open_rows) == 5
    assert book.open_renewals == sum(r.renewals for r in open_rows)
    assert book.open_premium == sum((r.premium for r in open_rows), Decimal("0"))
    assert isinstance(book.open_premium, Decimal)

    # Quoting a new premium on an open renewal replaces its term's premium in the totals.
    with db.read_session() as session:
        renewal = session.scalars(
            select(Renewal)
            .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
            .where(PipelineStage.name == "Upcoming", Renewal.new_premium.is_(None))
            .order_by(Renewal.id)
        ).first()
        assert renewal is not None
        renewal_id, expiring = renewal.id, renewal.term.premium
    update_renewal(db, admin, renewal_id, new_premium="1234.56")
    after = book_overview(db)
    assert [(r.stage, r.kind, r.renewals, r.premium) for r in after.renewals_by_stage] == (
        counted_by_hand(db)[1]
    )
    difference = Decimal("1234.56") - expiring
    assert after.renewals_by_stage[0].premium == by_name["Upcoming"].premium + difference
    assert after.renewals_by_stage[1:] == book.renewals_by_stage[1:]
    assert after.open_premium == book.open_premium + difference
