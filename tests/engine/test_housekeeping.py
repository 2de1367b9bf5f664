"""The timer service's chores: renewal-window cards, reminders and flags — once per item.

Housekeeping runs at most once per 15-minute slot; each piece of work is written to the
ledger in the same transaction as its effect, so a second tick in the same slot, or in a
later one, never repeats it.

The clock of these tests is "60 days from today" at 15:00 UTC: people's own actions
(opening a renewal by hand) are stamped with the real clock, and the SLA of the first
stage (30 days) must have run out by the time the timer looks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import DocumentRequirement, Notice, Renewal, Task, User
from desktop_app.domain.enums import TaskStatus, TransactionState
from desktop_app.engine import timer
from desktop_app.services import agency as agency_settings
from desktop_app.services import book, renewals, transactions, work
from desktop_app.services.unit import Actor
from tests.engine.conftest import NO_PLUGINS

NOW = datetime.combine(date.today() + timedelta(days=60), time(15, 0), UTC)
SAME_SLOT = NOW + timedelta(minutes=7)
NEXT_SLOT = NOW + timedelta(minutes=15)
NEXT_DAY = NOW + timedelta(days=1)


@dataclass
class Office:
    db: Database
    admin: Actor
    manager: Actor
    csr: Actor
    account_id: int
    count: int = 0

    def policy(self, lob: str, days_left: float, *, cancelled: bool = False) -> int:
        self.count += 1
        number = f"{lob}-{self.count:03d}"
        end = NOW + timedelta(days=days_left)
        info = book.add_policy(
            self.db,
            self.admin,
            self.account_id,
            number,
            "Travelers",
            lob,
            end - timedelta(days=365),
            end,
            "5,000.00",
        )
        if cancelled:
            transactions.cancel_policy(self.db, self.manager, number)
        return info.id

    def tick(self, now: datetime) -> timer.TickReport:
        return timer.tick(self.db, now=now, plugins=NO_PLUGINS, housekeeping=True)

    def cards(self) -> dict[int, list[Renewal]]:
        """Renewals by policy id."""
        out: dict[int, list[Renewal]] = {}
        with self.db.read_session() as s:
            for r in s.scalars(select(Renewal).order_by(Renewal.id)):
                s.expunge(r)
                out.setdefault(r.policy_id, []).append(r)
        return out

    def notices(self) -> Counter[tuple[str, int | None]]:
        with self.db.read_session() as s:
            rows = s.execute(select(Notice.kind, Notice.renewal_id)).all()
            return Counter((kind, renewal_id) for kind, renewal_id in rows)

    def renewal_row(self, renewal_id: int) -> Renewal:
        with self.db.read_session() as s:
            renewal = s.get(Renewal, renewal_id)
            assert renewal is not None
            s.expunge(renewal)
            return renewal

    def manual_renewal(self, number: str) -> int:
        info = transactions.create_renewal(
            self.db, self.manager, number, new_end=NOW + timedelta(days=500)
        )
        return info.id


@pytest.fixture
def office(db: Database, admin: Actor, make_user: Callable[..., Actor]) -> Office:
    make_user("producer", "pat")
    csr = make_user("csr", "casey")
    manager = make_user("manager", "morgan")
    account = book.create_account(db, admin, "Harbor Bakery LLC", producer="pat", csr="casey")
    return Office(db, admin, manager, csr, account.id)


def kinds(report: timer.TickReport) -> Counter[str]:
    return Counter(a["kind"] for a in report.actions if "kind" in a)


def test_housekeeping_runs_once_per_slot(office: Office) -> None:
    """Two ticks in the same 15-minute slot: only the first does the chores."""
    first = office.tick(NOW)
    second = office.tick(SAME_SLOT)
    third = office.tick(NEXT_SLOT)
    assert (first.housekeeping, second.housekeeping, third.housekeeping) == (True, False, True)


def test_renewal_window_cards_open_per_line_of_business_once(office: Office) -> None:
    """ "Creates renewal cards for policies that come within the agency's renewal window
    (the "X days out" list, per line of business)" — once per term."""
    work_in = office.policy("WORK", 100)  # workers comp: 120 days out
    auto_out = office.policy("AUTOP", 100)  # personal auto: 60 days out
    auto_in = office.policy("AUTOP", 50)
    office.policy("CGL", 200)
    office.policy("WORK", -5)  # already expired
    office.policy("WORK", 30, cancelled=True)
    report = office.tick(NOW)
    assert kinds(report)["window_card"] == 2
    cards = office.cards()
    assert set(cards) == {work_in, auto_in}
    with office.db.read_session() as s:
        casey = s.scalar(select(User.id).where(User.username == "casey"))
    for (card,) in cards.values():
        assert card.transaction_state is TransactionState.DRAFT
        assert card.next_action_owner_id == casey and card.next_action
        assert card.new_end_at is not None
    # same slot, later slot, next day: no second card
    for moment in (SAME_SLOT, NEXT_SLOT, NEXT_DAY):
        assert kinds(office.tick(moment))["window_card"] == 0
    assert {p: len(c) for p, c in office.cards().items()} == {work_in: 1, auto_in: 1}
    # the agency widens personal auto to 120 days: the next slot opens that card
    agency_settings.set_window_days(office.db, office.admin, "AUTOP", 120)
    assert kinds(office.tick(NEXT_DAY + timedelta(hours=1)))["window_card"] == 1
    assert set(office.cards()) == {work_in, auto_in, auto_out}


def test_a_discarded_window_card_is_not_opened_again(office: Office) -> None:
    """Throwing a window card away is a decision; the timer does not undo it."""
    policy = office.policy("HOME", 20)
    office.tick(NOW)
    ((card,),) = office.cards().values()
    transactions.end_renewal(office.db, office.manager, card.id, "discarded")
    office.tick(NEXT_DAY)
    assert [c.id for c in office.cards()[policy]] == [card.id]


def test_task_reminders_come_once_per_task_and_due_date(office: Office) -> None:
    """ "Raises task … reminders": a notice to the task's owner on the due date (or at the
    first tick after it), never twice."""
    office.policy("HOME", 40)
    office.tick(NOW)
    ((card,),) = office.cards().values()
    today = NOW.date()
    due_today = work.add_task(office.db, office.csr, card.id, "Call insured", due=today)
    overdue = work.add_task(office.db, office.csr, card.id, "Get photos", due=today - timedelta(3))
    tomorrow = work.add_task(office.db, office.csr, card.id, "Send quote", due=today + timedelta(1))
    done = work.add_task(office.db, office.csr, card.id, "Old task", due=today - timedelta(5))
    work.complete_task(office.db, office.csr, done.id)
    report = office.tick(NEXT_SLOT)
    assert sorted(a["task_id"] for a in report.actions if a["kind"] == "task_reminder") == [
        due_today.id,
        overdue.id,
    ]
    assert office.tick(NEXT_SLOT + timedelta(minutes=30)).actions == []
    report = office.tick(NEXT_DAY)
    assert [a["task_id"] for a in report.actions if a["kind"] == "task_reminder"] == [tomorrow.id]
    assert office.notices()[("task_due", card.id)] == 3
    with office.db.read_session() as s:
        messages = sorted(s.scalars(select(Notice.message).where(Notice.kind == "task_due")))
    assert messages == [
        "Task 'Call insured' for Harbor Bakery LLC (Travelers HOME-001) is due today.",
        "Task 'Get photos' for Harbor Bakery LLC (Travelers HOME-001) is due overdue since "
        f"{today - timedelta(3):%m/%d/%Y}.",
        "Task 'Send quote' for Harbor Bakery LLC (Travelers HOME-001) is due today.",
    ]


def test_no_task_reminder_for_a_discarded_renewal(office: Office) -> None:
    """A discarded renewal is no one's work: its open tasks stop reminding."""
    office.policy("HOME", 40)
    office.tick(NOW)
    ((card,),) = office.cards().values()
    today = NOW.date()
    kept = work.add_task(office.db, office.csr, card.id, "Call insured", due=today)
    transactions.end_renewal(office.db, office.manager, card.id, TransactionState.DISCARDED)
    report = office.tick(NEXT_SLOT)
    assert [a for a in report.actions if a["kind"] == "task_reminder"] == []
    assert office.notices()[("task_due", card.id)] == 0
    with office.db.read_session() as s:
        task = s.get(Task, kept.id)
        assert task is not None and task.status is TaskStatus.OPEN  # kept, just quiet


def test_document_reminders_come_once_per_missing_document(office: Office) -> None:
    """ "Raises … document reminders": each required document still missing within 30
    days of expiration, once."""
    office.policy("WORK", 25)
    card = office.renewal_row(office.manual_renewal("WORK-001"))
    with office.db.read_session() as s:
        docs = {
            d.document_type: d.id
            for d in s.scalars(
                select(DocumentRequirement).where(DocumentRequirement.renewal_id == card.id)
            )
        }
    assert set(docs) == {"Payroll report", "Loss runs", "ACORD 130"}
    work.receive_document(office.db, office.csr, docs["Payroll report"], on=NOW.date())
    report = office.tick(NOW)
    reminded = sorted(a["document_id"] for a in report.actions if a["kind"] == "document_reminder")
    assert reminded == sorted([docs["Loss runs"], docs["ACORD 130"]])
    for moment in (SAME_SLOT, NEXT_SLOT, NEXT_DAY):
        assert kinds(office.tick(moment))["document_reminder"] == 0
    assert office.notices()[("document_missing", card.id)] == 2
    with office.db.read_session() as s:
        messages = set(s.scalars(select(Notice.message).where(Notice.kind == "document_missing")))
    expires = (NOW + timedelta(days=25)).date()
    assert messages == {
        f"{doc} for Harbor Bakery LLC (Travelers WORK-001) is still missing; the policy "
        f"expires {expires:%m/%d/%Y}."
        for doc in ("Loss runs", "ACORD 130")
    }


def test_a_renewal_past_its_stage_sla_is_flagged_once(office: Office) -> None:
    """ "Flags renewals aging past their stage's SLA" — one flag, one notice, however many
    ticks follow."""
    office.policy("CGL", 300)  # outside every window: no card of the timer's own
    renewal_id = office.manual_renewal("CGL-001")  # entered Upcoming today, SLA 30 days
    renewals.update_renewal(
        office.db, office.manager, renewal_id, next_action_due=NOW.date() + timedelta(days=10)
    )
    report = office.tick(NOW)
    assert kinds(report) == Counter({"flag_past_sla": 1})
    for moment in (SAME_SLOT, NEXT_SLOT, NEXT_DAY):
        assert kinds(office.tick(moment))["flag_past_sla"] == 0
    with office.db.read_session() as s:
        renewal = s.get(Renewal, renewal_id)
        assert renewal is not None and renewal.risk_flags == ["past_sla"]
        # the reminder names the renewal as its owner knows it, not by an internal number
        (message,) = s.scalars(select(Notice.message).where(Notice.kind == "past_sla"))
    assert office.notices()[("past_sla", renewal_id)] == 1
    assert message == (
        "The renewal of Harbor Bakery LLC (Travelers CGL-001) has been in Upcoming longer "
        "than its 30 days."
    )


def test_a_renewal_without_a_current_next_action_is_flagged_once(office: Office) -> None:
    """ "… or with no next action": a next action whose due date has passed is flagged."""
    office.policy("CGL", 300)
    renewal_id = office.manual_renewal("CGL-001")
    renewals.update_renewal(
        office.db, office.manager, renewal_id, next_action_due=NOW.date() - timedelta(days=2)
    )
    first = office.tick(NOW)
    assert kinds(first)["flag_no_next_action"] == 1
    for moment in (SAME_SLOT, NEXT_SLOT, NEXT_DAY):
        assert kinds(office.tick(moment))["flag_no_next_action"] == 0
    with office.db.read_session() as s:
        renewal = s.get(Renewal, renewal_id)
        assert renewal is not None
        assert renewal.risk_flags.count("no_next_action") == 1
        (message,) = s.scalars(select(Notice.message).where(Notice.kind == "no_next_action"))
    assert office.notices()[("no_next_action", renewal_id)] == 1
    assert message == (
        "The renewal of Harbor Bakery LLC (Travelers CGL-001) has no next action that is "
        "still current."
    )


def test_housekeeping_leaves_ended_renewals_alone(office: Office) -> None:
    """Discarded renewals get no flags and no reminders."""
    office.policy("CGL", 20)
    renewal_id = office.manual_renewal("CGL-001")
    transactions.end_renewal(office.db, office.manager, renewal_id, "discarded")
    report = office.tick(NOW)
    assert [a for a in report.actions if a.get("renewal_id") == renewal_id] == []
    assert office.notices() == Counter()
