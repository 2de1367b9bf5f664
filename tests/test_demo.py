"""The demo book: admins only, all or nothing, deterministic, and every renewal in it
meets the entry criteria of the stage it sits in."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from desktop_app.db import migrate
from desktop_app.db.engine import Database, open_database
from desktop_app.db.models import (
    Account,
    AuditEvent,
    AutoRenewal,
    AutoRenewalPlan,
    DocumentRequirement,
    PipelineStage,
    Policy,
    Renewal,
    Task,
    Term,
    User,
)
from desktop_app.domain.enums import (
    LINES_OF_BUSINESS,
    AuditSource,
    AutoRenewalState,
    DocumentStatus,
    Outcome,
    StageKind,
    TaskStatus,
    TransactionState,
)
from desktop_app.domain.stages import RenewalFacts, missing_for
from desktop_app.errors import PermissionDenied, RuleViolation, UserFacingError
from desktop_app.services import users
from desktop_app.services.demo import DemoSummary, add_months, load_demo
from desktop_app.services.unit import TIMER_USER, Actor

TODAY = date(2026, 3, 15)
SMALL = 300


def count(db: Database, model: Any) -> int:
    """Rows of ``model``; for users, the people (not the timer service's own user)."""
    query = select(func.count()).select_from(model)
    if model is User:
        query = query.where(User.username != TIMER_USER)
    with db.read_session() as s:
        return s.scalar(query) or 0


@pytest.fixture
def loaded(db: Database, admin: Actor) -> DemoSummary:
    return load_demo(db, admin, policies=SMALL, seed=7, today=TODAY)


def test_summary_counts_match_the_database(db: Database, loaded: DemoSummary) -> None:
    assert loaded.policies == SMALL
    assert count(db, Policy) == SMALL
    assert count(db, User) == loaded.users + 1  # the admin was there before
    assert count(db, Account) == loaded.accounts
    assert count(db, Term) == loaded.terms
    assert count(db, Renewal) == loaded.renewals
    assert count(db, Task) == loaded.tasks
    assert count(db, DocumentRequirement) == loaded.documents
    assert count(db, AutoRenewalPlan) == loaded.plans
    assert count(db, AutoRenewal) == loaded.auto_renewals
    assert 1.3 < SMALL / loaded.accounts < 2.0  # about 1.6 policies per account
    assert loaded.seconds >= 0
    with db.read_session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "demo.load")).all()
    assert len(events) == 1
    assert events[0].object_type == "database" and events[0].object_id is None
    assert events[0].actor == "admin" and events[0].source is AuditSource.CLI
    assert events[0].changes["policies"] == SMALL


def test_the_book_has_variety(db: Database, loaded: DemoSummary) -> None:
    with db.read_session() as s:
        stage_counts = dict(
            s.execute(
                select(PipelineStage.key, func.count(Renewal.id))
                .outerjoin(Renewal, Renewal.stage_id == PipelineStage.id)
                .group_by(PipelineStage.key)
            ).all()
        )
        lines = set(s.scalars(select(Policy.line_of_business).distinct()))
        carriers = set(s.scalars(select(Policy.carrier).distinct()))
        offices = set(s.scalars(select(Policy.office).distinct()))
        task_statuses = set(s.scalars(select(Task.status).distinct()))
        doc_statuses = set(s.scalars(select(DocumentRequirement.status).distinct()))
        roles = Counter(s.scalars(select(User.role)))
        renewals = s.scalars(select(Renewal)).all()
        links = s.scalars(
            select(DocumentRequirement.storage_link).where(
                DocumentRequirement.storage_link.is_not(None)
            )
        ).all()
        ar_states = set(s.scalars(select(AutoRenewal.state).distinct()))
    assert all(n > 0 for n in stage_counts.values()), stage_counts
    assert len(stage_counts) == 8
    assert len(lines) >= 10 and lines <= set(LINES_OF_BUSINESS)
    assert len(carriers) >= 8
    assert len(offices) == 3
    assert task_statuses == set(TaskStatus)
    assert doc_statuses == set(DocumentStatus)
    assert roles["producer"] >= 2 and roles["csr"] >= 2 and roles["manager"] >= 1
    assert any(link.startswith("\\\\fileserver\\") for link in links)
    assert any(link.startswith("https://") for link in links)
    assert AutoRenewalState.ACTIVE in ar_states
    # Something for the "needs attention" queue.
    assert any(r.blocker_reason for r in renewals)
    assert any(r.risk_flags for r in renewals)
    assert any(r.next_action_due and r.next_action_due < TODAY for r in renewals)


def test_bigger_books_use_every_line_of_business(db: Database, admin: Actor) -> None:
    load_demo(db, admin, policies=1500, seed=3, today=TODAY)
    with db.read_session() as s:
        lines = set(s.scalars(select(Policy.line_of_business).distinct()))
        carriers = set(s.scalars(select(Policy.carrier).distinct()))
        numbers = s.execute(select(Policy.carrier, Policy.policy_number)).all()
    assert lines == set(LINES_OF_BUSINESS)
    assert len(carriers) >= 12
    assert len(numbers) == len(set(numbers))
    assert any(number.startswith("0") for _, number in numbers)


def test_terms_never_overlap(db: Database, loaded: DemoSummary) -> None:
    with db.read_session() as s:
        terms = s.scalars(select(Term).order_by(Term.policy_id, Term.start_at)).all()
        ends = {
            p: e
            for p, e in s.execute(
                select(Term.policy_id, func.max(Term.end_at)).group_by(Term.policy_id)
            )
        }
    by_policy: dict[int, list[Term]] = defaultdict(list)
    for term in terms:
        assert term.start_at.tzinfo is not None
        assert term.start_at < term.end_at
        assert term.premium is not None and term.premium > 0
        by_policy[term.policy_id].append(term)
    assert len(by_policy) == SMALL
    for policy_terms in by_policy.values():
        for earlier, later in itertools.pairwise(policy_terms):
            assert earlier.end_at <= later.start_at
    # Latest terms end from about 60 days ago up to a year ahead.
    latest = sorted(e.date() for e in ends.values())
    assert latest[0] >= TODAY - timedelta(days=61)
    assert latest[-1] <= add_months(TODAY, 13)


def _facts(renewal: Renewal, outstanding: tuple[str, ...]) -> RenewalFacts:
    return RenewalFacts(
        next_action=renewal.next_action,
        next_action_owner_id=renewal.next_action_owner_id,
        next_action_due=renewal.next_action_due,
        outstanding_required_documents=outstanding,
        new_premium=renewal.new_premium,
        effective_at=renewal.effective_at,
        new_end_at=renewal.new_end_at,
        transaction_state=TransactionState(renewal.transaction_state),
        outcome_reason=renewal.outcome_reason,
    )


def test_every_renewal_meets_its_stage_criteria(db: Database, loaded: DemoSummary) -> None:
    with db.read_session() as s:
        stages = {st.id: st for st in s.scalars(select(PipelineStage))}
        outstanding: dict[int, list[str]] = defaultdict(list)
        for doc in s.scalars(select(DocumentRequirement)):
            if doc.required and doc.status not in (DocumentStatus.RECEIVED, DocumentStatus.WAIVED):
                outstanding[doc.renewal_id].append(doc.document_type)
        renewals = s.scalars(select(Renewal)).all()
        terms = {t.id: t for t in s.scalars(select(Term))}
        latest = dict(
            s.execute(select(Term.policy_id, func.max(Term.end_at)).group_by(Term.policy_id)).all()
        )
    assert renewals
    for r in renewals:
        stage = stages[r.stage_id]
        facts = _facts(r, tuple(outstanding[r.id]))
        assert missing_for(stage.entry_criteria, facts) == [], (stage.key, r.id)
        term = terms[r.term_id]
        assert term.policy_id == r.policy_id
        if stage.kind is StageKind.OPEN:
            assert r.outcome is None and r.next_action and r.next_action_owner_id
            assert term.end_at == latest[r.policy_id]  # open renewals are of the latest term
        if stage.implied_state is not None:
            assert r.transaction_state == stage.implied_state
        if stage.key in ("marketing", "proposal"):
            assert not outstanding[r.id]
        if stage.key == "bound":
            assert r.effective_at == term.end_at and r.new_end_at > term.end_at
            assert r.new_premium is not None
        if stage.kind is StageKind.WON:
            assert r.transaction_state is TransactionState.ISSUED
            assert r.outcome is Outcome.RENEWED and r.new_term_id is not None
            new = terms[r.new_term_id]
            assert new.start_at == r.effective_at >= term.end_at
            assert new.end_at == r.new_end_at == latest[r.policy_id]
            assert new.premium == r.new_premium
        else:
            assert r.new_term_id is None
        if stage.kind is StageKind.LOST:
            assert r.outcome in (Outcome.LOST, Outcome.NON_RENEWED) and r.outcome_reason
            assert r.transaction_state in (TransactionState.REFUSED, TransactionState.REJECTED)
        assert r.created_at <= r.stage_entered_at <= r.updated_at


def test_renewal_cards_exist_for_terms_ending_in_the_window(
    db: Database, loaded: DemoSummary
) -> None:
    with db.read_session() as s:
        renewed_terms = set(s.scalars(select(Renewal.term_id)))
        new_terms = set(
            s.scalars(select(Renewal.new_term_id).where(Renewal.new_term_id.is_not(None)))
        )
        per_policy = Counter(s.scalars(select(Renewal.policy_id)))
        active = set(s.scalars(select(Policy.id).where(Policy.status == "active")))
        latest: dict[int, Term] = {}
        for term in s.scalars(select(Term).order_by(Term.end_at)):
            latest[term.policy_id] = term
    assert max(per_policy.values()) == 1
    window_end = TODAY + timedelta(days=150)
    for policy_id, term in latest.items():
        if term.id in new_terms or policy_id not in active:
            continue
        assert (term.id in renewed_terms) == (term.end_at.date() <= window_end)


def test_tasks_and_documents_are_consistent(db: Database, loaded: DemoSummary) -> None:
    with db.read_session() as s:
        tasks = s.scalars(select(Task)).all()
        docs = s.scalars(select(DocumentRequirement)).all()
        per_renewal = Counter(t.renewal_id for t in tasks)
    assert min(per_renewal.values()) >= 1 and max(per_renewal.values()) <= 3
    assert len(per_renewal) == loaded.renewals
    for t in tasks:
        assert t.owner_id is not None and t.due_date is not None
        if t.status is TaskStatus.DONE:
            assert t.completed_at is not None and t.completed_by_id is not None
        else:
            assert t.completed_at is None
    assert any(t.status is TaskStatus.OPEN and t.due_date < TODAY for t in tasks)
    for d in docs:
        if d.status is DocumentStatus.RECEIVED:
            assert d.received_on and d.received_on < TODAY
            assert d.expires_on is None or d.expires_on > TODAY
        if d.status is DocumentStatus.EXPIRED:
            assert d.expires_on and d.expires_on < TODAY
        if d.status is DocumentStatus.WAIVED:
            assert d.waive_reason and not d.storage_link
        if d.status in (DocumentStatus.MISSING, DocumentStatus.REQUESTED):
            assert d.storage_link is None
    assert {d.access_level.value for d in docs} >= {"standard", "sensitive"}


def test_auto_renewals_follow_their_plans(db: Database, loaded: DemoSummary) -> None:
    with db.read_session() as s:
        plans = {p.id: p for p in s.scalars(select(AutoRenewalPlan))}
        ars = s.scalars(select(AutoRenewal)).all()
        terms = {t.id: t for t in s.scalars(select(Term))}
        latest = dict(
            s.execute(select(Term.policy_id, func.max(Term.end_at)).group_by(Term.policy_id)).all()
        )
        planned_policies = set(
            s.scalars(
                select(Policy.id)
                .join(Account, Account.id == Policy.account_id)
                .where(Account.auto_renewal_plan_id.is_not(None), Policy.status == "active")
            )
        )
        renewals = {r.id: r for r in s.scalars(select(Renewal))}
    assert {p.name for p in plans.values()} >= {
        "Personal lines 45/30/15",
        "Commercial — manual issue",
    }
    assert ars and {a.policy_id for a in ars} == planned_policies
    active = Counter(a.policy_id for a in ars if a.state is AutoRenewalState.ACTIVE)
    assert max(active.values()) == 1
    for a in ars:
        plan, term = plans[a.plan_id], terms[a.term_id]
        assert term.policy_id == a.policy_id
        assert a.create_time == term.end_at - timedelta(days=plan.create_lead_days)
        if plan.issue_lead_days is None:
            assert a.issue_time is None
        if a.state is AutoRenewalState.ACTIVE:
            assert term.end_at == latest[a.policy_id]
        for fired, due in (
            (a.fired_create_at, a.create_time),
            (a.fired_accept_at, a.accept_time),
            (a.fired_issue_at, a.issue_time),
        ):
            if fired is not None:
                assert due is not None and due <= fired
        if a.renewal_id is not None:
            renewal = renewals[a.renewal_id]
            assert renewal.term_id == a.term_id
            if a.state is AutoRenewalState.ISSUED:
                assert renewal.transaction_state is TransactionState.ISSUED
            if a.fired_accept_at is not None and a.state is AutoRenewalState.ACTIVE:
                assert renewal.transaction_state is TransactionState.ACCEPTED
        if a.state is AutoRenewalState.ERROR:
            assert a.last_error


def _dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """The book by natural keys (ids may differ between databases)."""
    with db.read_session() as s:
        number = {p.id: (p.carrier, p.policy_number) for p in s.scalars(select(Policy))}
        stage = dict(s.execute(select(PipelineStage.id, PipelineStage.key)).all())
        user = dict(s.execute(select(User.id, User.username)).all())
        account = {a.id: a for a in s.scalars(select(Account))}
        renewal_key = {r.id: number[r.policy_id] for r in s.scalars(select(Renewal))}
        return {
            "users": sorted(
                (u.username, u.full_name, u.role.value) for u in s.scalars(select(User))
            ),
            "policies": sorted(
                (
                    *number[p.id],
                    p.line_of_business,
                    p.office,
                    p.status.value,
                    account[p.account_id].name,
                    account[p.account_id].contact_email,
                    user[account[p.account_id].producer_id],
                )
                for p in s.scalars(select(Policy))
            ),
            "terms": sorted(
                (*number[t.policy_id], t.start_at, t.end_at, t.premium)
                for t in s.scalars(select(Term))
            ),
            "renewals": sorted(
                (
                    *number[r.policy_id],
                    stage[r.stage_id],
                    r.stage_entered_at,
                    r.next_action,
                    r.next_action_due,
                    r.new_premium,
                    r.transaction_state.value,
                    tuple(r.risk_flags),
                    r.outcome_reason,
                )
                for r in s.scalars(select(Renewal))
            ),
            "tasks": sorted(
                (*renewal_key[t.renewal_id], t.task_type, t.status.value, t.due_date)
                for t in s.scalars(select(Task))
            ),
            "documents": sorted(
                (*renewal_key[d.renewal_id], d.document_type, d.status.value, d.storage_link)
                for d in s.scalars(select(DocumentRequirement))
            ),
            "auto_renewals": sorted(
                (*number[a.policy_id], a.state.value, a.create_time, a.fired_create_at)
                for a in s.scalars(select(AutoRenewal))
            ),
        }


def _fresh_sqlite(path: Path) -> Database:
    other = open_database(f"sqlite:///{path}")
    migrate.upgrade(other, backup=False)
    users.ensure_first_admin(other, "admin")
    return other


def test_same_seed_and_day_give_the_same_book(db: Database, admin: Actor, tmp_path: Path) -> None:
    load_demo(db, admin, policies=SMALL, seed=11, today=TODAY)
    other = _fresh_sqlite(tmp_path / "again.sqlite3")
    different = _fresh_sqlite(tmp_path / "different.sqlite3")
    try:
        load_demo(other, admin, policies=SMALL, seed=11, today=TODAY)
        load_demo(different, admin, policies=SMALL, seed=12, today=TODAY)
        first = _dump(db)
        assert first == _dump(other)
        assert first["policies"] != _dump(different)["policies"]
    finally:
        other.dispose()
        different.dispose()


@pytest.mark.parametrize("role", ["csr", "manager", "producer"])
def test_only_an_admin_may_load_demo_data(db: Database, make_user: Any, role: str) -> None:
    actor = make_user(role)
    users_before = count(db, User)
    with pytest.raises(PermissionDenied):
        load_demo(db, actor, policies=50, today=TODAY)
    assert count(db, Policy) == 0 and count(db, Account) == 0
    assert count(db, User) == users_before
    assert count(db, AutoRenewalPlan) == 0


def test_loading_twice_is_refused(db: Database, admin: Actor, loaded: DemoSummary) -> None:
    users_before = count(db, User)
    with pytest.raises(RuleViolation, match=f"already has {SMALL} policies"):
        load_demo(db, admin, policies=50, today=TODAY)
    assert count(db, Policy) == SMALL and count(db, User) == users_before


def test_cancel_midway_writes_nothing(db: Database, admin: Actor) -> None:
    calls: list[tuple[int, int]] = []

    def cancelled() -> bool:
        return len(calls) >= 3  # after a few chunks have gone in

    with pytest.raises(UserFacingError, match="cancelled; nothing was written"):
        load_demo(
            db,
            admin,
            policies=2000,
            seed=2,
            today=TODAY,
            progress=lambda d, t: calls.append((d, t)),
            cancelled=cancelled,
        )
    assert len(calls) >= 3 and calls[-1][0] > 0
    assert count(db, User) == 1
    for model in (
        Account,
        Policy,
        Term,
        Renewal,
        Task,
        DocumentRequirement,
        AutoRenewal,
        AutoRenewalPlan,
    ):
        assert count(db, model) == 0, model
    with db.read_session() as s:
        assert s.scalar(select(func.count()).where(AuditEvent.action == "demo.load")) == 0
    # And the database is still usable for a real load afterwards.
    assert load_demo(db, admin, policies=20, today=TODAY).policies == 20


def test_progress_reaches_the_total(db: Database, admin: Actor) -> None:
    calls: list[tuple[int, int]] = []
    summary = load_demo(
        db, admin, policies=SMALL, today=TODAY, progress=lambda d, t: calls.append((d, t))
    )
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and calls[0][0] == 0
    assert (
        calls[-1][0]
        == calls[-1][1]
        == sum(
            getattr(summary, f)
            for f in (
                "users",
                "accounts",
                "policies",
                "terms",
                "renewals",
                "tasks",
                "documents",
                "plans",
                "auto_renewals",
            )
        )
    )


def test_new_records_get_fresh_ids_after_a_demo_load(
    db: Database, admin: Actor, loaded: DemoSummary
) -> None:
    """Ids were handed out by the loader; the database's own counters must follow."""
    users.add_user(db, admin, "newbie", "csr")
    with db.write_session() as s:
        account = Account(name="After Demo LLC")
        s.add(account)
        s.flush()
        policy = Policy(
            account_id=account.id, policy_number="X-1", carrier="Erie", line_of_business="BOP"
        )
        s.add(policy)
        s.commit()
    assert count(db, Account) == loaded.accounts + 1


def test_demo_users_keep_existing_users(db: Database, admin: Actor, make_user: Any) -> None:
    make_user("csr", "jsmith")
    summary = load_demo(db, admin, policies=SMALL, seed=5, today=TODAY)
    assert count(db, User) == summary.users + 2
    with db.read_session() as s:
        names = list(s.scalars(select(User.username)))
    assert len(names) == len(set(names))


def test_an_existing_plan_of_the_same_name_is_used_as_it_is(db: Database, admin: Actor) -> None:
    with db.write_session() as s:
        s.add(
            AutoRenewalPlan(
                name="Personal lines 45/30/15", create_lead_days=40, issue_lead_days=None
            )
        )
        s.commit()
    summary = load_demo(db, admin, policies=SMALL, seed=4, today=TODAY)
    assert summary.plans == 2
    with db.read_session() as s:
        plan = s.scalar(
            select(AutoRenewalPlan).where(AutoRenewalPlan.name == "Personal lines 45/30/15")
        )
        assert plan is not None and plan.create_lead_days == 40
        ars = s.scalars(select(AutoRenewal).where(AutoRenewal.plan_id == plan.id)).all()
        terms = {t.id: t for t in s.scalars(select(Term))}
    assert ars
    for a in ars:
        assert a.create_time == terms[a.term_id].end_at - timedelta(days=40)
        assert a.accept_time is None and a.issue_time is None


def test_default_today_is_the_current_date(db: Database, admin: Actor) -> None:
    load_demo(db, admin, policies=40, seed=1)
    with db.read_session() as s:
        ends = s.scalars(select(Term.end_at)).all()
    assert max(e.date() for e in ends) > date.today()
