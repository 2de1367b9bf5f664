"""A renewal whose transaction ended with nothing to record is no longer work, nor a loss.

DOMAIN.md, "Renewal transactions": discarded and invalidated are terminal states without a
new term, and "when one renewal of a term is issued, other open renewals of that term are
invalidated". Such a renewal used to stay on the board in the open stage it was left in:
in the column's count and premium, in its CSR's queue and in Needs attention (with its open
tasks), in the open figures of the home screen, the dashboard and the Excel rollup.

Here every one of those is read through the services, before and after the renewal ends,
on SQLite and on PostgreSQL (the ``db`` fixture): the renewal and its tasks are gone from
each, the open renewals left are exactly the others, and the outcomes count neither a
discarded renewal nor the invalidated sibling of a renewed term as lost. A refused renewal
(Lost) stays what it was: decided, counted as lost, its follow-up task still in the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from pytestqt.qtbot import QtBot

from desktop_app.db.engine import Database
from desktop_app.domain.enums import StageKind, TransactionState
from desktop_app.excel import export_rollup as rollup_xlsx
from desktop_app.services import (
    board,
    book,
    dashboard,
    exporting,
    overview,
    queues,
    renewals,
    transactions,
    users,
    work,
)
from desktop_app.services.unit import Actor
from desktop_app.ui.board import BoardPage
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.session import DeskSession

S = TransactionState


@pytest.fixture
def executor() -> Iterator[DatabaseExecutor]:
    ex = DatabaseExecutor()
    yield ex
    assert ex.shutdown(10_000), "the database worker did not stop"


TODAY = datetime.now(UTC).date()  # the agency of a fresh database is on UTC
AS_OF = TODAY + timedelta(days=45)
"""The dashboard's and the rollup's "today": every term below expires in the twelve
outcome months ending with its month."""
NOW = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=12)


def _day(days: int) -> datetime:
    return datetime.combine(TODAY + timedelta(days=days), datetime.min.time(), UTC)


@dataclass
class Agency:
    db: Database
    manager: Actor
    csr: Actor
    renewal: dict[str, int]
    """Renewal ids by name: ``first`` and ``second`` renew WC-1's term, ``other`` WC-2's,
    ``control`` WC-3's; ``lost`` (WC-4's) was refused by the insured."""
    task: dict[str, int]
    """An open task for casey on every renewal but ``first``, by the renewal's name."""
    premium: dict[str, Decimal]


@pytest.fixture
def agency(db: Database, admin: Actor, make_user: Callable[..., Actor]) -> Agency:
    csr = make_user("csr", "casey")
    manager = make_user("manager", "morgan")
    make_user("producer", "pat")
    account = book.create_account(db, admin, "Harbor Bakery LLC", producer="pat", csr="casey")
    premiums = {"WC-1": "10,000.00", "WC-2": "20,000.00", "WC-3": "3,000.00", "WC-4": "5,000.00"}
    for n, (number, premium) in enumerate(premiums.items()):
        end = _day(20 + 5 * n)
        start = end - timedelta(days=365)
        book.add_policy(db, admin, account.id, number, "The Hartford", "WORK", start, end, premium)
    ids: dict[str, int] = {}
    for name, number in (
        ("first", "WC-1"),
        ("second", "WC-1"),
        ("other", "WC-2"),
        ("control", "WC-3"),
        ("lost", "WC-4"),
    ):
        info = transactions.create_renewal(
            db, manager, number, new_end=_day(365 + 20 + 5 * int(number[-1]))
        )
        ids[name] = info.id
        # a next action overdue since yesterday puts it on Needs attention
        renewals.update_renewal(db, manager, info.id, next_action_due=TODAY - timedelta(days=1))
    tasks = {
        name: work.add_task(
            db, manager, ids[name], f"Call about {name}", owner="casey", due=TODAY - timedelta(2)
        ).id
        for name in ("second", "other", "control", "lost")
    }
    transactions.end_renewal(db, manager, ids["lost"], "refused", reason="Went direct")
    premium = {
        "first": Decimal("10000.00"),
        "second": Decimal("10000.00"),
        "other": Decimal("20000.00"),
        "control": Decimal("3000.00"),
        "lost": Decimal("5000.00"),
    }
    return Agency(db, manager, csr, ids, tasks, premium)


@dataclass(frozen=True)
class Figures:
    """Everything a CSR and a manager see of the open renewals, read through the services."""

    board_cards: frozenset[int]
    """Every card on the board, whatever its column (decided within any time)."""
    board_open: tuple[frozenset[int], int, Decimal]
    """Cards in open columns; the columns' counts and premium totals, summed."""
    upcoming_more: frozenset[int]
    """The Upcoming column paged with "more cards"."""
    my_queue: frozenset[tuple[str, int]]
    """Casey's queue: ("task", task id) and ("renewal", renewal id)."""
    my_queue_count: int
    team_queue: frozenset[tuple[str, int]]
    attention: frozenset[int]
    attention_count: int
    overview_open: tuple[int, Decimal]
    overview_upcoming: int
    dashboard_open: tuple[int, Decimal]
    dashboard_open_list: frozenset[int]
    dashboard_upcoming: int
    dashboard_aging: int
    """Open renewals over every aging bucket of every open stage."""
    dashboard_outcomes: tuple[int, int, int, int, float | None]
    """Renewed, lost, non-renewed, not decided (over the twelve months), retention."""
    rollup_book: int
    rollup_open: tuple[int, Decimal]
    rollup_upcoming: tuple[int, int]
    """Renewals in Upcoming; the sum of its aging buckets."""
    rollup_months: tuple[int, int, int, int]
    """Expiring, renewed, lost, still open (summed over the twelve months)."""
    rollup_attention: frozenset[int]
    rollup_casey_open: int
    workbook_open: tuple[object, object]
    """The workbook's Summary: "Open renewals" and "Open premium"."""


def read_figures(agency: Agency, tmp_path: Path) -> Figures:
    db, manager, csr = agency.db, agency.manager, agency.csr
    loaded = board.load_board(db, csr, board.BoardFilter(decided_within_days=None), today=TODAY)
    open_columns = [c for c in loaded.columns if c.kind is StageKind.OPEN]
    more = board.more_cards(db, csr, None, "upcoming", limit=1, today=TODAY)
    upcoming_more = set(c.id for c in more.cards)
    while more.has_more:
        more = board.more_cards(db, csr, None, "upcoming", more.cards[-1].key, 1, today=TODAY)
        upcoming_more |= {c.id for c in more.cards}

    mine = queues.my_queue(db, csr, now=NOW)
    team = queues.team_queue(db, manager, now=NOW)
    attention = queues.needs_attention(db, csr, now=NOW)
    counts = queues.queue_counts(db, csr, now=NOW)

    home = overview.book_overview(db, with_revision=False)
    (upcoming_row,) = [r for r in home.renewals_by_stage if r.stage == "Upcoming"]

    data = dashboard.dashboard(db, manager, AS_OF)
    (upcoming_figure,) = [f for f in data.stages if f.stage.name == "Upcoming"]
    behind = dashboard.renewals_behind(db, manager, data.open_renewals.criteria)

    rollup = exporting.rollup_data(db, manager, AS_OF)
    (upcoming_stage,) = [s for s in rollup.by_stage if s.name == "Upcoming"]
    (casey,) = [g for g in rollup.by_csr if "casey" in g.label]
    path = tmp_path / f"rollup-{len(list(tmp_path.iterdir()))}.xlsx"
    exporting.export_rollup(db, manager, path, as_of=AS_OF)
    summary = openpyxl.load_workbook(path, data_only=True)[rollup_xlsx.SUMMARY]
    values = {row[0]: row[1] for row in summary.iter_rows(values_only=True) if row[0]}

    return Figures(
        board_cards=frozenset(c.id for col in loaded.columns for c in col.cards),
        board_open=(
            frozenset(c.id for col in open_columns for c in col.cards),
            sum(c.count for c in open_columns),
            sum((c.premium_total for c in open_columns), Decimal("0.00")),
        ),
        upcoming_more=frozenset(upcoming_more),
        my_queue=frozenset(e.key for e in mine),
        my_queue_count=counts.mine,
        team_queue=frozenset(e.key for e in team),
        attention=frozenset(e.renewal_id for e in attention),
        attention_count=counts.attention,
        overview_open=(home.open_renewals, home.open_premium),
        overview_upcoming=upcoming_row.renewals,
        dashboard_open=(data.open_renewals.count, data.open_renewals.premium),
        dashboard_open_list=frozenset(r.renewal_id for r in behind.rows),
        dashboard_upcoming=upcoming_figure.cell.count,
        dashboard_aging=sum(b.count for a in data.aging for b in a.buckets),
        dashboard_outcomes=(
            data.renewed,
            data.lost,
            data.non_renewed,
            sum(m.undecided.count for m in data.months),
            data.retention,
        ),
        rollup_book=rollup.renewals,
        rollup_open=(rollup.open_renewals, rollup.open_premium),
        rollup_upcoming=(upcoming_stage.renewals, sum(upcoming_stage.aging or ())),
        rollup_months=(
            sum(m.expiring for m in rollup.months),
            sum(m.renewed for m in rollup.months),
            sum(m.lost for m in rollup.months),
            sum(m.open for m in rollup.months),
        ),
        rollup_attention=frozenset(a.renewal_id for a in rollup.attention),
        rollup_casey_open=casey.open,
        workbook_open=(values["Open renewals"], values["Open premium"]),
    )


def assert_open_work_is(agency: Agency, f: Figures, names: set[str]) -> None:
    """Every open figure counts exactly the renewals ``names``: ids, counts and premium."""
    ids = frozenset(agency.renewal[n] for n in names)
    n, premium = len(ids), sum((agency.premium[x] for x in names), Decimal("0.00"))
    assert f.board_open == (ids, n, premium)
    assert f.upcoming_more == ids  # every open renewal here is in Upcoming
    assert f.overview_open == (n, premium)
    assert f.overview_upcoming == n
    assert f.dashboard_open == (n, premium)
    assert f.dashboard_open_list == ids
    assert f.dashboard_upcoming == n
    assert f.dashboard_aging == n
    assert f.rollup_open == (n, premium)
    assert f.rollup_upcoming == (n, n)
    assert f.rollup_casey_open == n
    assert f.workbook_open == (n, float(premium))
    # every open renewal is casey's and overdue: her queue and Needs attention, both reports
    assert f.attention == f.rollup_attention == ids
    assert f.attention_count == n
    assert {("renewal", i) for i in ids} <= f.my_queue
    assert {k for k in f.my_queue if k[0] == "renewal"} == {("renewal", i) for i in ids}


def tasks_of(agency: Agency, names: set[str]) -> set[tuple[str, int]]:
    return {("task", agency.task[n]) for n in names}


# --------------------------------------------------------------------------- the tests


def test_issuing_one_renewal_takes_its_invalidated_sibling_off_every_open_figure(
    agency: Agency, tmp_path: Path
) -> None:
    before = read_figures(agency, tmp_path)
    assert_open_work_is(agency, before, {"first", "second", "other", "control"})
    assert before.my_queue == {
        ("renewal", agency.renewal[n]) for n in ("first", "second", "other", "control")
    } | tasks_of(agency, {"second", "other", "control", "lost"})

    transactions.advance(agency.db, agency.manager, agency.renewal["first"], "issued")

    second = renewals.get_renewal(agency.db, agency.manager, agency.renewal["second"])
    assert (second.transaction_state, second.stage_key) == (S.INVALIDATED, "upcoming")
    after = read_figures(agency, tmp_path)
    assert_open_work_is(agency, after, {"other", "control"})
    # the invalidated card is on no column at all, not even a decided one
    assert agency.renewal["second"] not in after.board_cards
    assert agency.renewal["first"] in after.board_cards - after.board_open[0]  # Renewed
    # its task left casey's queue and the team queue; the lost renewal's follow-up stays
    assert after.my_queue == {
        ("renewal", agency.renewal[n]) for n in ("other", "control")
    } | tasks_of(agency, {"other", "control", "lost"})
    assert after.my_queue_count == len(after.my_queue) == before.my_queue_count - 3
    assert ("task", agency.task["second"]) not in after.team_queue
    assert ("task", agency.task["lost"]) in after.team_queue
    # outcomes: the term was renewed once, and the invalidated sibling is no loss
    assert before.dashboard_outcomes == (0, 1, 0, 4, 0.0)
    assert after.dashboard_outcomes == (1, 1, 0, 2, 0.5)
    assert after.rollup_months == (4, 1, 1, 2)  # expiring: first, other, control, lost
    assert after.rollup_book == 4 == before.rollup_book - 1


def test_a_discarded_renewal_leaves_every_open_figure_and_is_no_loss(
    agency: Agency, tmp_path: Path
) -> None:
    before = read_figures(agency, tmp_path)
    assert agency.renewal["other"] in before.board_cards
    assert ("task", agency.task["other"]) in before.my_queue

    transactions.end_renewal(agency.db, agency.manager, agency.renewal["other"], "discarded")

    other = renewals.get_renewal(agency.db, agency.manager, agency.renewal["other"])
    assert (other.transaction_state, other.stage_key, other.outcome) == (
        S.DISCARDED,
        "upcoming",
        None,
    )
    after = read_figures(agency, tmp_path)
    assert_open_work_is(agency, after, {"first", "second", "control"})
    assert agency.renewal["other"] not in after.board_cards
    assert ("task", agency.task["other"]) not in after.my_queue | after.team_queue
    assert after.my_queue_count == before.my_queue_count - 2
    assert after.dashboard_outcomes == (0, 1, 0, 3, 0.0)  # still only the refused one lost
    assert after.rollup_months == (4, 0, 1, 3)
    assert after.rollup_book == before.rollup_book - 1


def test_the_renewal_list_still_lists_an_ended_renewal_with_its_state(agency: Agency) -> None:
    """The renewal list is the whole list, not the open work: a discarded renewal is on it,
    and its transaction column says it was discarded."""
    transactions.end_renewal(agency.db, agency.manager, agency.renewal["other"], "discarded")
    rows = {r.id: r for r in exporting.renewal_rows(agency.db, agency.manager)}
    assert rows[agency.renewal["other"]].transaction_state == "discarded"


def test_the_board_page_shows_the_ended_renewals_nowhere(
    agency: Agency, qtbot: QtBot, executor: DatabaseExecutor
) -> None:
    """What casey sees on the desktop: Upcoming holds the one renewal still open, and its
    header counts one renewal and its premium; no column shows the two that ended."""
    transactions.advance(agency.db, agency.manager, agency.renewal["first"], "issued")
    transactions.end_renewal(agency.db, agency.manager, agency.renewal["other"], "discarded")

    page = BoardPage(executor)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    page.show()
    qtbot.waitExposed(page)
    session = DeskSession(agency.db, agency.csr, users.get_user(agency.db, "casey"))
    with qtbot.waitSignal(page.loaded, timeout=20_000):
        page.set_session(session)
        page.activate()

    upcoming = page.models["upcoming"]
    assert [c.id for c in upcoming.cards] == [agency.renewal["control"]]
    assert page.columns["upcoming"].stats.text() == "1 renewal · $3,000"
    shown = {c.id for model in page.models.values() for c in model.cards}
    assert agency.renewal["second"] not in shown
    assert agency.renewal["other"] not in shown
    assert agency.renewal["first"] in {c.id for c in page.models["renewed"].cards}
