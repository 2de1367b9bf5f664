"""The work queues, from the service (both backends): My queue, the Team queue, Needs
attention with its reasons in words, and the timer service's reminders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    AuditEvent,
    AutoRenewal,
    DocumentRequirement,
    Notice,
    Policy,
    Renewal,
    Task,
    User,
)
from desktop_app.domain.enums import AutoRenewalState, TaskStatus
from desktop_app.engine import timer
from desktop_app.engine.plugins import PluginSet
from desktop_app.errors import NotFound, PermissionDenied, RuleViolation
from desktop_app.services import auto_renewals, book, queues, renewals, work
from desktop_app.services.unit import Actor
from tests.helpers import SmallBook, small_book

TODAY = date.today()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def add_renewal(
    db: Database, sb: SmallBook, number: str, *, expires_in: int = 60, owner: str = "casey"
) -> tuple[int, str]:
    """Another policy of the small book's account with an open renewal; (renewal id, number)."""
    end = midnight(TODAY + timedelta(days=expires_in))
    policy = book.add_policy(
        db, sb.admin, sb.account_id, number, "Travelers", "WORK", end - timedelta(days=365), end
    )
    card = renewals.open_renewal(
        db,
        sb.admin,
        policy.id,
        next_action="Call the insured",
        owner=owner,
        due=TODAY + timedelta(days=7),
    )
    return card.id, number


@pytest.fixture
def sb(db: Database, admin: Actor, make_user: Callable[..., Actor]) -> SmallBook:
    return small_book(db, admin, make_user)


# --- Needs attention -----------------------------------------------------------------


def test_each_reason_appears_with_its_sentence_and_only_where_it_applies(
    db: Database, sb: SmallBook
) -> None:
    clean = sb.renewal_id  # expires in 60 days, next action due in a week, nothing wrong
    no_action, _ = add_renewal(db, sb, "NA-1")
    late_action, _ = add_renewal(db, sb, "NA-2")
    late_task, _ = add_renewal(db, sb, "TK-1")
    blocked, _ = add_renewal(db, sb, "BL-1")
    documents, _ = add_renewal(db, sb, "DOC-1", expires_in=20)
    aging, _ = add_renewal(db, sb, "SLA-1")
    dnr, dnr_number = add_renewal(db, sb, "DNR-1")
    broken, broken_number = add_renewal(db, sb, "ERR-1")

    # Every open stage requires a next action, so only data from outside the services (an
    # old database, a hand edit) lacks one: write it the way such data would arrive.
    with db.write_session() as session:
        session.get(Renewal, no_action).next_action = None
        session.commit()
    renewals.update_renewal(db, sb.admin, late_action, next_action_due=TODAY - timedelta(days=3))
    task = work.add_task(
        db, sb.admin, late_task, "Chase the payroll report", owner="casey", due=TODAY - timedelta(2)
    )
    work.add_task(db, sb.admin, clean, "Not late yet", owner="casey", due=TODAY)
    renewals.update_renewal(db, sb.admin, blocked, blocker_reason="Waiting on loss runs")
    renewals.move_stage(
        db, sb.admin, aging, "gathering", now=datetime.now(UTC) - timedelta(days=20)
    )
    auto_renewals.create(db, sb.admin, dnr_number)
    auto_renewals.do_not_renew(db, sb.admin, dnr_number)
    auto_renewals.create(db, sb.admin, broken_number)
    with db.write_session() as session:  # what the timer service writes when a plugin fails
        ar = session.scalars(
            select(AutoRenewal)
            .join(Policy, Policy.id == AutoRenewal.policy_id)
            .where(Policy.policy_number == broken_number)
        ).one()
        ar.state = AutoRenewalState.ERROR
        ar.last_error = "The create trigger failed: the plugin timed out."
        session.commit()

    entries = queues.needs_attention(db, sb.manager)
    found = {e.renewal_id: e for e in entries}
    assert clean not in found
    assert {rid: e.codes for rid, e in found.items()} == {
        no_action: (queues.NO_NEXT_ACTION,),
        late_action: (queues.NEXT_ACTION_OVERDUE,),
        late_task: (queues.OVERDUE_TASK,),
        blocked: (queues.BLOCKED,),
        documents: (queues.DOCUMENTS_MISSING,),
        aging: (queues.PAST_SLA,),
        dnr: (queues.DO_NOT_RENEW,),
        broken: (queues.AUTO_RENEWAL_ERROR,),
    }
    day = lambda d: f"{d:%m/%d/%Y}"  # noqa: E731
    assert found[no_action].why == "No next action is set."
    assert found[late_action].why == (
        f"The next action was due {day(TODAY - timedelta(days=3))} (3 days ago)."
    )
    assert found[late_task].why == f"A task is overdue since {day(task.due_date)}."
    assert found[blocked].why == "Blocked: Waiting on loss runs."
    assert found[documents].why == (
        "ACORD 130, Loss runs and Payroll report are still missing; the policy expires in 20 days."
    )
    assert found[aging].why == "In Gathering info for 20 days, past its 14-day SLA."
    assert found[dnr].why.startswith("Marked do not renew:")
    assert found[broken].why == (
        "The auto-renewal is in error: The create trigger failed: the plugin timed out."
    )
    # Sorted by expiration: the one expiring in 20 days comes first.
    assert entries[0].renewal_id == documents
    assert entries[0].days_left == 20

    # A wider document window also catches the clean renewal's missing documents.
    wider = {e.renewal_id: e.codes for e in queues.needs_attention(db, sb.manager, 90)}
    assert queues.DOCUMENTS_MISSING in wider[clean]

    # Receiving and waiving the documents takes the reason away.
    for doc in _documents(db, documents):
        work.waive_document(db, sb.admin, doc, reason="Same as expiring")
    assert documents not in {e.renewal_id for e in queues.needs_attention(db, sb.manager)}

    # Two overdue tasks are counted, oldest first.
    work.add_task(db, sb.admin, late_task, "Older", owner="casey", due=TODAY - timedelta(9))
    (entry,) = [e for e in queues.needs_attention(db, sb.manager) if e.renewal_id == late_task]
    assert entry.why == f"2 tasks are overdue, the oldest since {day(TODAY - timedelta(9))}."

    counts = queues.queue_counts(db, sb.manager)
    assert counts.attention == len(queues.needs_attention(db, sb.manager))


def _documents(db: Database, renewal_id: int) -> list[int]:
    with db.read_session() as session:
        return list(
            session.scalars(
                select(DocumentRequirement.id).where(DocumentRequirement.renewal_id == renewal_id)
            )
        )


def test_needs_attention_scope_paging_and_sorting(db: Database, sb: SmallBook) -> None:
    ids = [add_renewal(db, sb, f"BL-{n}", expires_in=40 + n)[0] for n in range(5)]
    for rid in ids:
        renewals.update_renewal(db, sb.admin, rid, blocker_reason="Underwriter referral")
    # Producers and CSRs see their book; another producer sees none of it.
    assert [e.renewal_id for e in queues.needs_attention(db, sb.producer)] == ids
    assert [e.renewal_id for e in queues.needs_attention(db, sb.csr)] == ids
    assert queues.needs_attention(db, sb.other_producer) == []
    # ...unless they own the next action.
    renewals.update_renewal(db, sb.admin, ids[0], next_action_owner="otto")
    assert [e.renewal_id for e in queues.needs_attention(db, sb.other_producer)] == ids[:1]
    # Paging and sorting happen in the database.
    page1 = queues.needs_attention(db, sb.manager, limit=2)
    page2 = queues.needs_attention(db, sb.manager, limit=2, offset=2)
    page3 = queues.needs_attention(db, sb.manager, limit=2, offset=4)
    assert [e.renewal_id for e in page1 + page2 + page3] == ids
    latest_first = queues.needs_attention(db, sb.manager, sort="expiration", descending=True)
    assert [e.renewal_id for e in latest_first] == ids[::-1]
    by_owner = queues.needs_attention(db, sb.manager, sort="owner")
    assert by_owner[0].owner == "casey" and by_owner[-1].owner == "otto"
    assert [e.renewal_id for e in queues.needs_attention(db, sb.manager, owner="otto")] == [ids[0]]
    with pytest.raises(RuleViolation, match="cannot be sorted by 'colour'"):
        queues.needs_attention(db, sb.manager, sort="colour")


# --- My queue and the Team queue ---------------------------------------------------------


def test_my_queue_is_ordered_by_due_date_overdue_first_undated_last(
    db: Database, sb: SmallBook
) -> None:
    second, _ = add_renewal(db, sb, "WC-2")
    renewals.update_renewal(db, sb.admin, second, next_action_due=TODAY + timedelta(days=3))
    undated = work.add_task(db, sb.admin, sb.renewal_id, "Some day", owner="casey")
    late = work.add_task(
        db, sb.admin, sb.renewal_id, "Late one", owner="casey", due=TODAY - timedelta(days=4)
    )
    soon = work.add_task(
        db, sb.admin, sb.renewal_id, "Tomorrow", owner="casey", due=TODAY + timedelta(days=1)
    )
    work.add_task(db, sb.admin, sb.renewal_id, "Pat's", owner="pat", due=TODAY)
    done = work.add_task(db, sb.admin, sb.renewal_id, "Done already", owner="casey", due=TODAY)
    work.complete_task(db, sb.admin, done.id)

    mine = queues.my_queue(db, sb.csr)
    assert [(e.kind, e.id) for e in mine] == [
        ("task", late.id),
        ("task", soon.id),
        ("renewal", second),
        ("renewal", sb.renewal_id),
        ("task", undated.id),
    ]
    first = mine[0]
    assert first.overdue and not mine[1].overdue
    assert (first.title, first.insured, first.policy_number, first.stage_name) == (
        "Late one",
        "Harbor Bakery LLC",
        "WC-000123",
        "Upcoming",
    )
    assert first.days_left == 60 and first.expiration == TODAY + timedelta(days=60)
    assert mine[2].title == "Call the insured" and mine[2].owner == "casey"
    # The producer's queue has their task only (they own no next action).
    assert [e.title for e in queues.my_queue(db, sb.producer)] == ["Pat's"]
    by_title = queues.my_queue(db, sb.csr, sort="title")
    assert [e.title for e in by_title][:2] == ["Call the insured", "Late one"]
    assert queues.queue_counts(db, sb.csr).mine == 5


def test_team_queue_is_for_managers_and_admins(db: Database, sb: SmallBook) -> None:
    work.add_task(db, sb.admin, sb.renewal_id, "Pat's call", owner="pat", due=TODAY)
    for actor, role in ((sb.csr, "a CSR"), (sb.producer, "a producer")):
        with pytest.raises(PermissionDenied) as refused:
            queues.team_queue(db, actor)
        assert str(refused.value) == (
            f"The team queue is for managers and admins; {role} works from My queue "
            "and Needs attention."
        )
        assert queues.queue_counts(db, actor).team is None
    team = queues.team_queue(db, sb.manager)
    assert sorted((e.kind, e.owner) for e in team) == [("renewal", "casey"), ("task", "pat")]
    assert [e.owner for e in queues.team_queue(db, sb.manager, "pat")] == ["pat"]
    assert queues.team_queue(db, sb.admin, "morgan") == []
    assert queues.queue_counts(db, sb.manager, owner="pat").team == 1
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        queues.team_queue(db, sb.manager, "nobody")


def test_team_queue_pages_fit_together_in_every_order(db: Database, sb: SmallBook) -> None:
    add_renewal(db, sb, "WC-2", owner="pat")
    add_renewal(db, sb, "WC-3", owner="otto", expires_in=90)
    for n, who in enumerate(["casey", "pat", "otto", None, "casey"]):
        due = None if n == 3 else TODAY + timedelta(days=n - 1)
        work.add_task(db, sb.admin, sb.renewal_id, f"Task {n}", owner=who or "casey", due=due)
    everything = queues.team_queue(db, sb.manager, limit=None)
    assert len(everything) == 8
    for sort in queues.WORK_SORTS:
        for descending in (False, True):
            whole = queues.team_queue(db, sb.manager, sort=sort, descending=descending)
            pages = [
                e
                for offset in range(0, 8, 3)
                for e in queues.team_queue(
                    db, sb.manager, sort=sort, descending=descending, limit=3, offset=offset
                )
            ]
            assert [e.key for e in pages] == [e.key for e in whole], (sort, descending)
            assert set(whole) == set(everything), sort
    by_owner = [e.owner_name for e in queues.team_queue(db, sb.manager, sort="owner")]
    assert by_owner == sorted(by_owner)
    by_expiry = [e.expiration for e in queues.team_queue(db, sb.manager, sort="expiration")]
    assert by_expiry == sorted(by_expiry)
    by_insured = queues.team_queue(db, sb.manager, sort="insured", descending=True)
    assert [e.insured for e in by_insured] == sorted((e.insured for e in by_insured), reverse=True)


# --- reminders ----------------------------------------------------------------------------


def test_reminders_from_the_timer_service_can_be_dismissed(db: Database, sb: SmallBook) -> None:
    late = work.add_task(
        db, sb.admin, sb.renewal_id, "Call back", owner="casey", due=TODAY - timedelta(days=1)
    )
    timer.tick(db, plugins=PluginSet((), ()), housekeeping=True)
    (notice,) = queues.unread_notices(db, sb.csr)
    assert notice.kind == "task_due" and notice.kind_label == "Task due"
    assert notice.message.startswith("Task 'Call back' for Harbor Bakery LLC")
    assert notice.renewal_id == sb.renewal_id
    assert notice.subject == "Harbor Bakery LLC, WC-000123"
    assert queues.unread_notices(db, sb.producer) == []
    assert queues.unread_notices(db, sb.csr, since_id=notice.id) == []
    assert queues.queue_counts(db, sb.csr).unread == 1

    with pytest.raises(PermissionDenied, match="someone else's"):
        queues.dismiss_notice(db, sb.producer, notice.id)
    dismissed = queues.dismiss_notice(db, sb.csr, notice.id)
    assert dismissed.read_at is not None
    assert queues.unread_notices(db, sb.csr) == []
    assert queues.dismiss_notice(db, sb.csr, notice.id).read_at == dismissed.read_at
    with db.read_session() as session:
        assert session.get(Notice, notice.id).read_at is not None
        events = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_type == "notices", AuditEvent.object_id == notice.id
            )
        ).all()
    assert events == ["notice.dismiss"]
    with pytest.raises(NotFound):
        queues.dismiss_notice(db, sb.csr, 999_999)
    with db.read_session() as session:
        assert session.get(Task, late.id).status is TaskStatus.OPEN  # only the reminder went

    # Dismissing them all at once touches only the actor's own.
    with db.write_session() as session:
        users_ = {u.username: u.id for u in session.scalars(select(User))}
        for who in ("casey", "casey", "pat"):
            session.add(Notice(user_id=users_[who], kind="past_sla", message="Renewal 1 aged."))
        session.commit()
    assert [n.kind_label for n in queues.unread_notices(db, sb.csr)] == ["Past SLA"] * 2
    assert queues.unread_notices(db, sb.csr)[0].subject == ""
    assert queues.dismiss_all_notices(db, sb.csr) == 2
    assert queues.unread_notices(db, sb.csr) == []
    assert len(queues.unread_notices(db, sb.producer)) == 1
    assert queues.dismiss_all_notices(db, sb.csr) == 0
