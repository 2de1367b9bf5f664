"""The home screen's numbers, straight from the service (both backends)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import Renewal
from desktop_app.domain.enums import StageKind
from desktop_app.domain.stages import DEFAULT_STAGES
from desktop_app.services.overview import BookOverview, book_overview
from desktop_app.services.unit import Actor
from tests.ui.fakes import FakeDemo


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
    FakeDemo()(db, admin, policies=16)  # 2 renewals per stage; premium 1000 + i
    with db.write_session() as session:  # one renewal with a quoted new premium
        renewal = session.scalars(select(Renewal).order_by(Renewal.id)).first()
        assert renewal is not None
        renewal.new_premium = Decimal("1234.56")
        session.commit()

    book = book_overview(db)
    assert not book.is_empty
    assert (book.users, book.accounts, book.policies) == (1, 16, 16)
    by_name = {row.stage: row for row in book.renewals_by_stage}
    assert [row.renewals for row in book.renewals_by_stage] == [2] * 8
    # stage 1 holds policies 0 and 8: premiums 1000 (quoted 1234.56 instead) and 1008
    assert by_name["Upcoming"].premium == Decimal("1234.56") + Decimal("1008.00")
    assert by_name["Renewed"].kind is StageKind.WON
    open_rows = [r for r in book.renewals_by_stage if r.kind is StageKind.OPEN]
    assert book.open_renewals == 10 == sum(r.renewals for r in open_rows)
    assert book.open_premium == sum((r.premium for r in open_rows), Decimal("0"))
    expected = sum(Decimal(1000 + i) for i in range(16) if i % 8 < 5) + Decimal("234.56")
    assert book.open_premium == expected
    assert isinstance(book.open_premium, Decimal)
