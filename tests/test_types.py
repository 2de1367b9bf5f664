"""UTCDateTime keeps instants in UTC and refuses naive times; Money keeps cents exact.
Both on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError

from desktop_app.db.engine import Database
from desktop_app.db.models import Account, Policy, Term
from desktop_app.db.types import Money, UTCDateTime

probe_metadata = MetaData()
probe = Table(
    "type_probe",
    probe_metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime()),
    Column("amount", Money()),
)


@pytest.fixture
def probe_db(db: Database) -> Database:
    probe_metadata.create_all(db.engine)
    return db


NEW_YORK = ZoneInfo("America/New_York")
INSTANTS = [
    datetime(2025, 1, 15, 9, 30, tzinfo=NEW_YORK),  # EST, -05:00
    datetime(2025, 7, 15, 9, 30, tzinfo=NEW_YORK),  # EDT, -04:00
    datetime(2025, 3, 9, 3, 0, 0, 123456, tzinfo=NEW_YORK),  # just after the DST jump
    datetime(2025, 11, 2, 1, 30, fold=1, tzinfo=NEW_YORK),  # the second 1:30 (EST)
    datetime(2025, 6, 1, 23, 45, tzinfo=ZoneInfo("Asia/Kolkata")),  # +05:30
    datetime(2024, 2, 29, 12, 0, tzinfo=timezone(timedelta(hours=-8))),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


# --- UTCDateTime -----------------------------------------------------------------------------


def test_aware_datetimes_come_back_as_the_same_instant_in_utc(probe_db: Database) -> None:
    with probe_db.write_session() as s:
        for i, at in enumerate(INSTANTS):
            s.execute(insert(probe).values(id=i, at=at))
        s.commit()
    with probe_db.read_session() as s:
        rows = dict(s.execute(select(probe.c.id, probe.c.at)).all())
    for i, at in enumerate(INSTANTS):
        got = rows[i]
        # the same instant (== on an ambiguous local time is always False across zones,
        # PEP 495, so compare in UTC)
        assert got == at.astimezone(UTC)
        assert got.timestamp() == at.timestamp()
        assert got.tzinfo is UTC


def test_sorting_and_comparing_follow_the_instant(probe_db: Database) -> None:
    with probe_db.write_session() as s:
        for i, at in enumerate(INSTANTS):
            s.execute(insert(probe).values(id=i, at=at))
        s.commit()
    with probe_db.read_session() as s:
        ordered = s.scalars(select(probe.c.at).order_by(probe.c.at)).all()
        # 09:30 in New York in winter is 14:30 UTC; ask in another zone
        cutoff = datetime(2025, 1, 15, 20, 0, tzinfo=ZoneInfo("Asia/Kolkata"))  # 14:30 UTC
        at_cutoff = s.scalars(select(probe.c.id).where(probe.c.at == cutoff)).all()
    assert ordered == sorted(at.astimezone(UTC) for at in INSTANTS)
    assert at_cutoff == [0]


def test_naive_datetimes_are_refused(probe_db: Database) -> None:
    with pytest.raises(StatementError) as caught, probe_db.write_session() as s:
        s.execute(insert(probe).values(id=1, at=datetime(2025, 1, 1, 12, 0)))
        s.commit()
    assert isinstance(caught.value.orig, ValueError)
    assert "naive" in str(caught.value.orig)
    with pytest.raises(StatementError), probe_db.read_session() as s:
        s.execute(select(probe).where(probe.c.at < datetime(2025, 1, 1)))
    with probe_db.read_session() as s:
        assert s.execute(select(func.count()).select_from(probe)).scalar() == 0


def test_none_stays_none(probe_db: Database) -> None:
    with probe_db.write_session() as s:
        s.execute(insert(probe).values(id=1, at=None, amount=None))
        s.commit()
    with probe_db.read_session() as s:
        assert s.execute(select(probe.c.at, probe.c.amount)).one() == (None, None)


def test_sqlite_stores_utc_text_and_reads_hand_written_text() -> None:
    kind = UTCDateTime()
    at = datetime(2025, 7, 4, 8, 0, tzinfo=NEW_YORK)
    stored = kind.process_bind_param(at, sqlite.dialect())
    assert stored == datetime(2025, 7, 4, 12, 0)  # naive UTC for SQLite
    assert kind.process_bind_param(at, postgresql.dialect()) == at
    assert kind.process_result_value("2025-07-04 12:00:00", sqlite.dialect()) == datetime(
        2025, 7, 4, 12, 0, tzinfo=UTC
    )


def test_orm_models_use_the_types(db: Database) -> None:
    start = datetime(2025, 3, 1, 0, 0, tzinfo=NEW_YORK)
    with db.write_session() as s:
        account = Account(name="Acme Plumbing")
        policy = Policy(
            account=account, policy_number="WC-1", carrier="Hartford", line_of_business="WORK"
        )
        s.add(
            Term(
                policy=policy,
                start_at=start,
                end_at=start + timedelta(days=365),
                premium=Decimal("12345.67"),
            )
        )
        s.commit()
    with db.read_session() as s:
        term = s.scalars(select(Term)).one()
        created = s.scalars(select(Account.created_at)).one()
    assert term.start_at == start and term.start_at.tzinfo is UTC
    assert term.premium == Decimal("12345.67")
    assert created.tzinfo is UTC
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)


# --- Money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_amount", "expected"),
    [
        (Decimal("0.01"), Decimal("0.01")),
        (Decimal("1234567.89"), Decimal("1234567.89")),
        (Decimal("99999999999.99"), Decimal("99999999999.99")),
        (Decimal("10"), Decimal("10.00")),
        (5, Decimal("5.00")),
        ("10.50", Decimal("10.50")),
        (Decimal("0.005"), Decimal("0.01")),  # half a cent rounds up
        (Decimal("2.675"), Decimal("2.68")),
        (2.675, Decimal("2.68")),  # a float as typed, not as stored in binary
        (0.1, Decimal("0.10")),
        (Decimal("-3.10"), Decimal("-3.10")),
    ],
)
def test_money_round_trips_exactly(probe_db: Database, given_amount, expected) -> None:
    with probe_db.write_session() as s:
        s.execute(insert(probe).values(id=1, amount=given_amount))
        s.commit()
    with probe_db.read_session() as s:
        got = s.execute(select(probe.c.amount)).scalar_one()
        cents = s.execute(text("SELECT amount FROM type_probe")).scalar_one()
    assert isinstance(got, Decimal)
    assert got == expected
    assert got.as_tuple().exponent == -2
    assert cents == int(expected * 100)  # stored as whole cents


def test_money_sums_exactly(probe_db: Database) -> None:
    amounts = [Decimal("0.10")] * 1000 + [Decimal("0.01")] * 7 + [Decimal("1999.99")]
    with probe_db.write_session() as s:
        s.execute(insert(probe), [{"id": i, "amount": a} for i, a in enumerate(amounts)])
        s.commit()
    with probe_db.read_session() as s:
        total = s.execute(select(func.sum(probe.c.amount))).scalar_one()
        over_100 = s.execute(
            select(func.count()).where(probe.c.amount > Decimal("100"))
        ).scalar_one()
    assert isinstance(total, Decimal)
    assert total == Decimal("2100.06") == sum(amounts)
    assert str(total) == "2100.06"
    assert over_100 == 1


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_money_bind_and_result_are_inverse(cents: int) -> None:
    kind = Money()
    amount = Decimal(cents) / 100
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        stored = kind.process_bind_param(amount, dialect)
        assert stored == cents
        assert kind.process_result_value(stored, dialect) == amount
