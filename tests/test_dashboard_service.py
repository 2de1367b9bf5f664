"""The manager dashboard's figures (both backends): a hand-built book with every figure
worked out by hand, the list behind every bar, who sees what, and agreement with the
exported rollup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from desktop_app.db.engine import Database
from desktop_app.db.models import AutoRenewal, PipelineStage, Renewal
from desktop_app.domain.enums import AutoRenewalState, Outcome, StageKind, TransactionState
from desktop_app.excel.export_rollup import AGING_BUCKETS
from desktop_app.services import agency, book, renewals
from desktop_app.services.dashboard import (
    AT_RISK_MEANS,
    By,
    Cell,
    Criteria,
    Dashboard,
    dashboard,
    renewals_behind,
)
from desktop_app.services.dashboard import groups as one_grouping
from desktop_app.services.demo import load_demo
from desktop_app.services.exporting import rollup_data
from desktop_app.services.unit import Actor

AS_OF = date(2027, 3, 15)
ZONE = "America/New_York"
TZ = ZoneInfo(ZONE)


def _local(day: date, hour: int = 0) -> datetime:
    """``hour`` o'clock on ``day`` on the agency's wall clock, as a UTC moment."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ).astimezone(UTC)


@dataclass(frozen=True)
class Spec:
    name: str
    end: datetime
    stage: str
    days_in_stage: int
    premium: str
    producer: str = "pat"
    new_premium: str | None = None
    outcome: Outcome | None = None
    state: TransactionState = TransactionState.DRAFT
    do_not_renew: bool = False


SPECS = (
    # Open, expiring this month (March 2027).
    Spec("R1", _local(date(2027, 3, 20)), "upcoming", 7, "1000"),
    # 10 pm on March 31 in New York is already April 1 in UTC: still March here.
    Spec("R2", _local(date(2027, 3, 31), 22), "gathering", 14, "900", new_premium="2500"),
    Spec("R3", _local(date(2027, 3, 25)), "bound", 9, "4000", state=TransactionState.ACCEPTED),
    Spec("R4", _local(date(2027, 3, 28)), "proposal", 40, "800", do_not_renew=True),
    Spec("R11", _local(date(2027, 3, 5)), "upcoming", 20, "600", producer="otto"),
    # Open, expiring next month.
    Spec("R5", _local(date(2027, 4, 10)), "marketing", 70, "1200", producer="otto"),
    # Decided.
    Spec("R6", _local(date(2027, 2, 10)), "renewed", 30, "3000", outcome=Outcome.RENEWED),
    Spec("R7", _local(date(2027, 2, 20)), "lost", 30, "500", outcome=Outcome.LOST),
    Spec("R8", _local(date(2026, 12, 5)), "non_renewed", 30, "700", outcome=Outcome.NON_RENEWED),
    Spec("R9", _local(date(2027, 1, 15)), "renewed", 30, "2000", outcome=Outcome.RENEWED),
    # Outside the twelve outcome months (they start April 1, 2026).
    Spec("R10", _local(date(2026, 3, 10)), "renewed", 30, "1500", outcome=Outcome.RENEWED),
)


@dataclass
class HandBook:
    ids: dict[str, int]
    producer: Actor
    other_producer: Actor
    csr: Actor
    manager: Actor


@pytest.fixture
def hand_book(db: Database, admin: Actor, make_user) -> HandBook:  # type: ignore[no-untyped-def]
    agency.set_time_zone(db, admin, ZONE)
    pat, otto = make_user("producer", "pat"), make_user("producer", "otto")
    casey, morgan = make_user("csr", "casey"), make_user("manager", "morgan")
    accounts = {
        p: book.create_account(db, admin, f"{p.title()} Insured LLC", producer=p, csr="casey").id
        for p in ("pat", "otto")
    }
    ids: dict[str, int] = {}
    for n, spec in enumerate(SPECS):
        policy = book.add_policy(
            db,
            admin,
            accounts[spec.producer],
            f"POL-{n:03d}",
            "Acme Mutual" if n % 2 else "Beacon",
            "HOME" if n % 3 else "WORK",
            spec.end - timedelta(days=365),
            spec.end,
            spec.premium,
            office="Main St" if spec.producer == "pat" else None,
        )
        card = renewals.open_renewal(
            db, admin, policy.id, next_action="Call", owner="casey", due=AS_OF
        )
        ids[spec.name] = card.id
    with db.write_session() as session:
        stages = {s.key: s.id for s in session.scalars(select(PipelineStage))}
        for spec in SPECS:
            session.execute(
                update(Renewal)
                .where(Renewal.id == ids[spec.name])
                .values(
                    stage_id=stages[spec.stage],
                    stage_entered_at=_local(AS_OF - timedelta(days=spec.days_in_stage), 10),
                    new_premium=None if spec.new_premium is None else Decimal(spec.new_premium),
                    outcome=spec.outcome,
                    transaction_state=spec.state,
                )
            )
            if spec.do_not_renew:
                renewal = session.get(Renewal, ids[spec.name])
                assert renewal is not None
                session.add(
                    AutoRenewal(
                        policy_id=renewal.policy_id,
                        term_id=renewal.term_id,
                        state=AutoRenewalState.DO_NOT_RENEW,
                    )
                )
        session.commit()
    return HandBook(ids, pat, otto, casey, morgan)


def cells(data: Dashboard) -> list[Cell]:
    """Every bar and bar segment of the dashboard."""
    out = [data.open_renewals, data.expiring_this_month, data.at_risk_total, data.past_sla]
    out += [f.cell for f in data.stages]
    for a in data.aging:
        out += [*a.buckets, a.past_sla]
    for e in data.expiring:
        out += [s.cell for s in e.by_stage]
    out += [f.cell for f in data.at_risk]
    for m in data.months:
        out += [m.renewed, m.lost, m.non_renewed, m.undecided]
    for _by, groups in data.groups:
        for g in groups:
            out += [g.open, g.at_risk]
    return out


def _ids(db: Database, actor: Actor, criteria: Criteria) -> list[int]:
    page = renewals_behind(db, actor, criteria, limit=100_000)
    assert page.total == len(page.rows) and not page.more
    return [r.renewal_id for r in page.rows]


def test_figures_of_a_hand_built_book(db: Database, admin: Actor, hand_book: HandBook) -> None:
    data = dashboard(db, admin, AS_OF)
    ids = hand_book.ids
    assert data.whole_agency and data.scope == "The whole agency."
    assert data.time_zone == ZONE and data.as_of == AS_OF

    def named(criteria: Criteria) -> set[str]:
        found = set(_ids(db, admin, criteria))
        return {name for name, rid in ids.items() if rid in found}

    # Headline figures.
    assert (data.open_renewals.count, data.open_renewals.premium) == (6, Decimal("10100.00"))
    assert named(data.open_renewals.criteria) == {"R1", "R2", "R3", "R4", "R5", "R11"}
    assert (data.expiring_this_month.count, data.expiring_this_month.premium) == (
        5,
        Decimal("8900.00"),
    )
    # At risk: open, expiring in March, not bound (R3 is) — plus do-not-renew (R4).
    assert (data.at_risk_total.count, data.at_risk_total.premium) == (4, Decimal("4900.00"))
    assert named(data.at_risk_total.criteria) == {"R1", "R2", "R4", "R11"}
    assert {f.label: (f.cell.count, f.cell.premium) for f in data.at_risk} == {
        "Upcoming": (2, Decimal("1600.00")),
        "Gathering info": (1, Decimal("2500.00")),
        "Do not renew": (1, Decimal("800.00")),
    }
    assert "not yet bound" in AT_RISK_MEANS and "do-not-renew" in AT_RISK_MEANS

    # Renewals by stage: count and premium (R2's quoted premium replaces its term's).
    assert [(f.stage.name, f.cell.count, f.cell.premium) for f in data.stages] == [
        ("Upcoming", 2, Decimal("1600.00")),
        ("Gathering info", 1, Decimal("2500.00")),
        ("Marketing / quoting", 1, Decimal("1200.00")),
        ("Proposal sent", 1, Decimal("800.00")),
        ("Bound", 1, Decimal("4000.00")),
        ("Renewed", 3, Decimal("6500.00")),
        ("Lost", 1, Decimal("500.00")),
        ("Non-renewed", 1, Decimal("700.00")),
    ]

    # Aging in stage: 7 days is still 0–7, 14 still 8–14; past SLA is "more than".
    assert len(AGING_BUCKETS) == 5
    assert {a.stage.name: [c.count for c in a.buckets] for a in data.aging} == {
        "Upcoming": [1, 0, 1, 0, 0],
        "Gathering info": [0, 1, 0, 0, 0],
        "Marketing / quoting": [0, 0, 0, 0, 1],
        "Proposal sent": [0, 0, 0, 1, 0],
        "Bound": [0, 1, 0, 0, 0],
    }
    assert {a.stage.name: a.past_sla.count for a in data.aging} == {
        "Upcoming": 0,
        "Gathering info": 0,
        "Marketing / quoting": 1,
        "Proposal sent": 1,
        "Bound": 1,
    }
    assert named(data.past_sla.criteria) == {"R3", "R4", "R5"}

    # Expiring this month and next, by stage.
    march, april = data.expiring
    assert (march.month, april.month) == (date(2027, 3, 1), date(2027, 4, 1))
    assert {s.stage.name: s.cell.count for s in march.by_stage if s.cell.count} == {
        "Upcoming": 2,
        "Gathering info": 1,
        "Proposal sent": 1,
        "Bound": 1,
    }
    assert {s.stage.name: s.cell.count for s in april.by_stage if s.cell.count} == {
        "Marketing / quoting": 1
    }

    # Outcomes and retention = renewed ÷ decided over the twelve months (R10 is older).
    assert [m.month for m in data.months] == [
        date(2026 + (3 + i) // 12, (3 + i) % 12 + 1, 1) for i in range(12)
    ]
    by_month = {
        m.month: (m.renewed.count, m.lost.count, m.non_renewed.count, m.undecided.count)
        for m in data.months
        if m.expiring
    }
    assert by_month == {
        date(2026, 12, 1): (0, 0, 1, 0),
        date(2027, 1, 1): (1, 0, 0, 0),
        date(2027, 2, 1): (1, 1, 0, 0),
        date(2027, 3, 1): (0, 0, 0, 5),
    }
    assert (data.renewed, data.lost, data.non_renewed, data.decided) == (2, 1, 1, 4)
    assert data.retention == 0.5
    assert data.months[-2].retention == 0.5 and data.months[-1].retention is None
    assert data.window == "Apr 2026 – Mar 2027"

    # By producer / office / line.
    producers = {g.short: g for g in data.by(By.PRODUCER)}
    assert producers["Test Pat"].label == "Test Pat (pat)"
    assert (producers["Test Pat"].open.count, producers["Test Otto"].open.count) == (4, 2)
    assert (producers["Test Pat"].renewed, producers["Test Pat"].decided) == (2, 4)
    assert producers["Test Otto"].retention is None
    assert (producers["Test Pat"].at_risk.count, producers["Test Otto"].at_risk.count) == (3, 1)
    offices = {g.label: g.open.count for g in data.by(By.OFFICE)}
    assert offices == {"Main St": 4, "(none)": 2}
    assert named(next(g for g in data.by(By.OFFICE) if g.key is None).open.criteria) == {
        "R5",
        "R11",
    }
    assert {g.label for g in data.by(By.LOB)} == {
        "HOME — Homeowners",
        "WORK — Workers compensation",
    }


def test_every_bar_lists_exactly_its_renewals(
    db: Database, admin: Actor, hand_book: HandBook
) -> None:
    data = dashboard(db, admin, AS_OF)
    for cell in cells(data):
        page = renewals_behind(db, admin, cell.criteria, limit=100_000)
        assert page.total == len(page.rows) == cell.count, cell.criteria.title
        total = sum((r.premium or Decimal(0) for r in page.rows), Decimal("0.00"))
        assert total == cell.premium, cell.criteria.title
        assert [r.expiration for r in page.rows] == sorted(r.expiration for r in page.rows)
    # R2 expires on March 31 on the agency's calendar, though it is April 1 in UTC.
    rows = renewals_behind(db, admin, data.at_risk_total.criteria).rows
    r2 = next(r for r in rows if r.renewal_id == hand_book.ids["R2"])
    assert r2.expiration == date(2027, 3, 31)
    assert (r2.stage, r2.owner, r2.premium) == ("Gathering info", "Test Casey", Decimal("2500.00"))


def test_the_list_comes_in_pages(db: Database, admin: Actor, hand_book: HandBook) -> None:
    everything = Criteria(AS_OF, "Every renewal")
    whole = _ids(db, admin, everything)
    assert len(whole) == len(SPECS)
    paged: list[int] = []
    offset = 0
    while True:
        page = renewals_behind(db, admin, everything, offset=offset, limit=3)
        assert page.total == len(SPECS) and page.offset == offset
        paged += [r.renewal_id for r in page.rows]
        if not page.more:
            break
        offset += len(page.rows)
    assert paged == whole
    assert renewals_behind(db, admin, everything, offset=50).rows == ()


def test_who_sees_what(db: Database, admin: Actor, hand_book: HandBook) -> None:
    ids = hand_book.ids
    mine = dashboard(db, hand_book.producer, AS_OF)
    assert not mine.whole_agency and mine.scope.startswith("Your book (Test Pat): ")
    assert mine.open_renewals.count == 4  # R1–R4; R5 and R11 are otto's
    assert mine.at_risk_total.count == 3
    assert sum(f.cell.count for f in mine.stages) == 9
    assert {g.short for g in mine.by(By.PRODUCER)} == {"Test Pat"}
    for cell in cells(mine):
        assert renewals_behind(db, hand_book.producer, cell.criteria).total == cell.count
    # Otto's own renewals are out of Pat's reach even with the criteria of Otto's bar.
    theirs = dashboard(db, hand_book.other_producer, AS_OF)
    assert theirs.open_renewals.count == 2
    otto_bar = next(
        g for g in dashboard(db, admin, AS_OF).by(By.PRODUCER) if g.short == "Test Otto"
    )
    assert renewals_behind(db, hand_book.producer, otto_bar.open.criteria).total == 0
    assert set(_ids(db, hand_book.other_producer, otto_bar.open.criteria)) == {
        ids["R5"],
        ids["R11"],
    }
    # CSRs and managers: the whole agency.
    for actor in (hand_book.csr, hand_book.manager):
        data = dashboard(db, actor, AS_OF)
        assert data.whole_agency and data.open_renewals.count == 6


def _agree(data: Dashboard, db: Database, admin: Actor) -> None:
    rollup = rollup_data(db, admin, data.as_of)
    assert data.open_renewals.count == rollup.open_renewals
    assert data.open_renewals.premium == rollup.open_premium
    # The rollup's "premium at risk" is every open renewal expiring this month; the
    # dashboard shows that as "expiring this month" and leaves bound ones out of at risk.
    assert data.expiring_this_month.count == rollup.expiring_this_month
    assert data.expiring_this_month.premium == rollup.premium_at_risk_this_month
    assert data.at_risk_total.premium <= rollup.premium_at_risk_this_month
    assert data.past_sla.count == rollup.past_sla
    assert [
        (f.stage.name, f.stage.kind.value, f.cell.count, f.cell.premium) for f in data.stages
    ] == [(s.name, s.kind, s.renewals, s.premium) for s in rollup.by_stage]
    aging = {
        a.stage.name: (tuple(c.count for c in a.buckets), a.past_sla.count) for a in data.aging
    }
    assert aging == {
        s.name: (s.aging, s.past_sla) for s in rollup.by_stage if s.kind == StageKind.OPEN.value
    }
    assert [
        (m.month, m.expiring, m.renewed.count, m.lost.count, m.non_renewed.count)
        for m in data.months
    ] == [(m.month, m.expiring, m.renewed, m.lost, m.non_renewed) for m in rollup.months]
    assert (data.renewed, data.lost, data.non_renewed) == (
        rollup.renewed,
        rollup.lost,
        rollup.non_renewed,
    )
    for by, groups in (
        (By.PRODUCER, rollup.by_producer),
        (By.CSR, rollup.by_csr),
        (By.CARRIER, rollup.by_carrier),
        (By.LOB, rollup.by_lob),
    ):
        assert [
            (g.label, g.open.count, g.open.premium, g.renewed, g.lost, g.non_renewed)
            for g in data.by(by)
        ] == [
            (g.label, g.open, g.open_premium, g.renewed, g.lost, g.non_renewed) for g in groups
        ], by


def test_the_dashboard_agrees_with_the_rollup(
    db: Database, admin: Actor, hand_book: HandBook
) -> None:
    _agree(dashboard(db, admin, AS_OF), db, admin)


def test_the_dashboard_agrees_with_the_rollup_on_the_demo_book(db: Database, admin: Actor) -> None:
    load_demo(db, admin, policies=250, seed=11, today=AS_OF)
    data = dashboard(db, admin, AS_OF)
    assert data.open_renewals.count > 50 and data.decided > 10 and data.past_sla.count > 0
    _agree(data, db, admin)
    for cell in cells(data):
        assert renewals_behind(db, admin, cell.criteria, limit=1).total == cell.count, (
            cell.criteria.title
        )


def test_one_grouping_at_a_time(db: Database, admin: Actor, hand_book: HandBook) -> None:
    whole = dashboard(db, admin, AS_OF)
    one = dashboard(db, admin, AS_OF, by=By.OFFICE)
    assert [by for by, _ in one.groups] == [By.OFFICE]
    assert one.by(By.PRODUCER) is None and one.by(By.OFFICE) == whole.by(By.OFFICE)
    carriers = one_grouping(db, admin, By.CARRIER, AS_OF)
    assert carriers == whole.by(By.CARRIER)
    both = one.with_groups(By.CARRIER, carriers)
    assert both.by(By.CARRIER) == carriers and both.by(By.OFFICE) == one.by(By.OFFICE)
    assert both.stages == whole.stages and both.months == whole.months


def test_an_empty_book(db: Database, admin: Actor) -> None:
    data = dashboard(db, admin, AS_OF)
    assert data.open_renewals.count == 0 and data.retention is None
    assert all(f.cell.count == 0 for f in data.stages)
    assert [f.label for f in data.at_risk] == ["Do not renew"]
    assert all(groups == () for _by, groups in data.groups)
    assert renewals_behind(db, admin, data.open_renewals.criteria).total == 0
