"""A fast builder of books with auto-renewals, for the process tests and the tick benchmark.

The timer tests need thousands (the benchmark: 200,000) of policies whose auto-renewals
come due at chosen moments. Creating them through ``book.add_policy`` costs a unit of work
per policy, minutes for the benchmark. So this module writes the same rows the services
would write — account, policy, first term, the plan's auto-renewal with its trigger times
and ``next_due_at``, and their audit events — with SQLAlchemy Core bulk inserts in one
transaction, the way :mod:`desktop_app.services.demo` loads its book. The staff and the
plan are made through the services themselves. ``test_exactly_once`` checks, column by
column, that a policy built here equals one built by ``book.add_policy``.

Trigger times come from :func:`desktop_app.domain.auto_renewal.trigger_times` with the
agency's time zone, exactly as ``auto_renewals.create_for_term_in`` computes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select, text

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AuditEvent,
    AutoRenewal,
    AutoRenewalPlan,
    Policy,
    Renewal,
    Term,
    TimerFiring,
    User,
)
from desktop_app.domain import auto_renewal as rules
from desktop_app.domain.enums import (
    AuditSource,
    AutoRenewalState,
    PolicyStatus,
    ServiceTier,
    TransactionState,
)
from desktop_app.services import agency, users
from desktop_app.services import audit as audit_mod
from desktop_app.services import auto_renewals as ars
from desktop_app.services.unit import Actor, jsonable

ADMIN = "admin"
PRODUCER = "pat"
CSR = "casey"
PLAN = "Bulk plan"
LEADS = (60, 30, 15)  # create / accept / issue lead days of the plan
CHUNK = 4000
POLICIES_PER_ACCOUNT = 5
CARRIER = "Bulk Mutual"
LINE = "BOP"
PREMIUM = Decimal("1000.00")
EVENTS = ("create", "accept", "issue")

_TABLES: tuple[Table, ...] = tuple(
    m.__table__  # type: ignore[misc]
    for m in (Account, Policy, Term, AutoRenewal, AuditEvent)
)


@dataclass(frozen=True)
class BulkBook:
    """What was built: the auto-renewal ids in the order of ``term_ends``."""

    auto_renewal_ids: list[int]
    policy_ids: list[int]
    term_ids: list[int]
    plan_id: int


def ensure_staff_and_plan(
    db: Database, leads: tuple[int | None, int | None, int | None] = LEADS
) -> Actor:
    """The first admin, a producer, a CSR and the plan, through the services (idempotent)."""
    users.ensure_first_admin(db, ADMIN)
    admin = Actor(ADMIN, AuditSource.CLI)
    existing = {u.username for u in users.list_users(db, include_inactive=True)}
    if PRODUCER not in existing:
        users.add_user(db, admin, PRODUCER, "producer", full_name="Pat Producer")
    if CSR not in existing:
        users.add_user(db, admin, CSR, "csr", full_name="Casey Csr")
    if PLAN not in {p.name for p in ars.list_plans(db)}:
        ars.add_plan(
            db,
            admin,
            PLAN,
            create_lead_days=leads[0],
            accept_lead_days=leads[1],
            issue_lead_days=leads[2],
        )
    return admin


def due_term_ends(now: datetime, count: int, events: int = 3) -> list[datetime]:
    """Term ends whose first ``events`` triggers (1: create; 3: create, accept, issue) are
    due at ``now`` and whose later ones are not. A minute apart, so they fire in order."""
    # With leads 60/30/15: an end 45 days out has only create due; 20 days out create and
    # accept; 10 days out all three.
    days = {1: 45, 2: 20, 3: 10}[events]
    base = now.astimezone(UTC) + timedelta(days=days)
    return [base + timedelta(minutes=i) for i in range(count)]


def idle_term_ends(now: datetime, count: int) -> list[datetime]:
    """Term ends whose every trigger is still to come (create time ≥ 30 days after now)."""
    base = now.astimezone(UTC) + timedelta(days=LEADS[0] + 30)
    return [base + timedelta(minutes=7 * i) for i in range(count)]


def build_book(
    db: Database,
    term_ends: Sequence[datetime],
    *,
    created_at: datetime | None = None,
    audit: bool = True,
) -> BulkBook:
    """One policy (with one term and one active auto-renewal) per entry of ``term_ends``.

    Every term lasts a year and ends at the given moment. Rows are what ``book.add_policy``
    writes for an account on the plan: ``next_due_at`` is the earliest trigger time.
    """
    ensure_staff_and_plan(db)
    stamp = created_at or datetime.now(UTC)
    with db.write_session() as session:
        tz = agency.time_zone(session)
        admin = session.scalars(select(User).where(User.username == ADMIN)).one()
        producer_id = session.scalar(select(User.id).where(User.username == PRODUCER))
        csr_id = session.scalar(select(User.id).where(User.username == CSR))
        plan = session.scalars(select(AutoRenewalPlan).where(AutoRenewalPlan.name == PLAN)).one()
        next_id = {t.name: (session.scalar(select(func.max(t.c.id))) or 0) + 1 for t in _TABLES}
        rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in _TABLES}

        def take(table: str) -> int:
            value = next_id[table]
            next_id[table] = value + 1
            return value

        def audit_row(action: str, table: str, object_id: int, changes: dict[str, Any]) -> None:
            if audit:
                rows["audit_events"].append(
                    {
                        "id": take("audit_events"),
                        "at": stamp,
                        "user_id": admin.id,
                        "actor": admin.username,
                        "source": AuditSource.CLI.value,
                        "action": action,
                        "object_type": table,
                        "object_id": object_id,
                        "changes": jsonable(changes),
                    }
                )

        book = BulkBook([], [], [], plan.id)
        account_id = 0
        for index, end in enumerate(term_ends):
            end = end.astimezone(UTC)
            start = end - timedelta(days=365)
            if index % POLICIES_PER_ACCOUNT == 0:
                account_id = take("accounts")
                name = f"Bulk Insured {account_id}"
                rows["accounts"].append(
                    {
                        "id": account_id,
                        "name": name,
                        "contact_name": None,
                        "contact_email": None,
                        "contact_phone": None,
                        "address": None,
                        "city": None,
                        "state": None,
                        "postal_code": None,
                        "producer_id": producer_id,
                        "csr_id": csr_id,
                        "service_tier": ServiceTier.STANDARD.value,
                        "auto_renewal_plan_id": plan.id,
                        "created_at": stamp,
                        "version": 1,
                    }
                )
                audit_row(
                    "account.create",
                    "accounts",
                    account_id,
                    {
                        "name": [None, name],
                        "producer": [None, PRODUCER],
                        "csr": [None, CSR],
                        "plan": [None, PLAN],
                    },
                )
            policy_id, term_id, ar_id = take("policies"), take("terms"), take("auto_renewals")
            number = f"BLK-{policy_id:08d}"
            rows["policies"].append(
                {
                    "id": policy_id,
                    "account_id": account_id,
                    "policy_number": number,
                    "carrier": CARRIER,
                    "line_of_business": LINE,
                    "office": None,
                    "status": PolicyStatus.ACTIVE.value,
                    "cancelled_at": None,
                    "created_at": stamp,
                    "version": 1,
                }
            )
            rows["terms"].append(
                {
                    "id": term_id,
                    "policy_id": policy_id,
                    "start_at": start,
                    "end_at": end,
                    "premium": PREMIUM,
                    "created_at": stamp,
                }
            )
            audit_row(
                "policy.create",
                "policies",
                policy_id,
                {
                    "policy_number": [None, number],
                    "carrier": [None, CARRIER],
                    "line_of_business": [None, LINE],
                    "term": [None, [start, end]],
                    "premium": [None, PREMIUM],
                },
            )
            times = rules.trigger_times(
                end, plan.create_lead_days, plan.accept_lead_days, plan.issue_lead_days, tz=tz
            )
            rows["auto_renewals"].append(
                {
                    "id": ar_id,
                    "policy_id": policy_id,
                    "term_id": term_id,
                    "plan_id": plan.id,
                    "state": AutoRenewalState.ACTIVE.value,
                    "renewal_id": None,
                    "create_time": times.create,
                    "accept_time": times.accept,
                    "issue_time": times.issue,
                    "transaction_type": plan.transaction_type,
                    "new_term_months": plan.new_term_months,
                    "fired_create_at": None,
                    "fired_accept_at": None,
                    "fired_issue_at": None,
                    "last_error": None,
                    "next_due_at": rules.next_due_time(times, ()),
                    "created_at": stamp,
                    "version": 1,
                }
            )
            audit_row(
                "auto_renewal.create",
                "auto_renewals",
                ar_id,
                {
                    "policy": [None, number],
                    "term_end": [None, end],
                    "plan": [None, PLAN],
                    "create_time": [None, times.create],
                    "accept_time": [None, times.accept],
                    "issue_time": [None, times.issue],
                },
            )
            book.auto_renewal_ids.append(ar_id)
            book.policy_ids.append(policy_id)
            book.term_ids.append(term_id)
        for table in _TABLES:
            table_rows = rows[table.name]
            if table.name == "audit_events":  # they join the hash chain at the commit
                audit_mod.add_many(session, table_rows)
                continue
            for start_at in range(0, len(table_rows), CHUNK):
                session.execute(insert(table), table_rows[start_at : start_at + CHUNK])
        if not db.is_sqlite:
            # Explicit ids do not move PostgreSQL's sequences; move them past what we wrote.
            for table in _TABLES:
                session.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"
                    )
                )
            session.execute(text("ANALYZE"))
        session.commit()
    return book


@dataclass(frozen=True)
class DailyBook:
    """A day of an office whose timer runs daily: one event due per auto-renewal."""

    creates: BulkBook  # their create is due
    accepts: BulkBook  # created weeks ago, their accept is due
    issues: BulkBook  # created and accepted, their issue is due

    @property
    def due(self) -> dict[str, list[int]]:
        """The event due at ``now`` → the auto-renewals it is due for."""
        return {
            "create": self.creates.auto_renewal_ids,
            "accept": self.accepts.auto_renewal_ids,
            "issue": self.issues.auto_renewal_ids,
        }


def build_daily_book(db: Database, now: datetime, count: int) -> DailyBook:
    """``count`` auto-renewals (a third each) whose one due event at ``now`` is their
    create, their accept or their issue: built with those of :func:`due_term_ends`, then
    ticked (without plugins) at two earlier moments that fire what came before."""
    from desktop_app.engine import plugins, timer

    sizes = [count // 3 + (k < count % 3) for k in range(3)]
    accepts = build_book(db, due_term_ends(now, sizes[1], events=2))
    issues = build_book(db, due_term_ends(now, sizes[2], events=3))
    none = plugins.PluginSet((), ())
    # 25 days before: the creates of both (accepts are 10 and 20 days before, issues
    # 5 days before); 19.5 days before: the accepts of the second.
    for before in (timedelta(days=25), timedelta(days=19, hours=12)):
        report = timer.tick(db, now=now - before, plugins=none, housekeeping=False)
        assert not report.errors and all(a["outcome"] != "error" for a in report.actions)
    creates = build_book(db, due_term_ends(now, sizes[0], events=1))
    return DailyBook(creates, accepts, issues)


def check_all_fired_once(
    db: Database, ar_ids: list[int], term_ids: list[int], events: int = 3
) -> None:
    """The first ``events`` triggers of each of these auto-renewals (3: create, accept and
    issue; 1: create) fired exactly once, with their whole effect, and the others not.

    For each auto-renewal: its fired times, one ledger row per fired event, one renewal of
    its term (issued and pointing at the new term, else accepted or draft), the audit of
    each automatic step once; with all three, issued and one new term with its own
    generated auto-renewal. And no half state anywhere: no renewal that no auto-renewal
    points to, no later term without the issued renewal that made it.
    """
    fired_events = EVENTS[:events]
    wanted = set(ar_ids)
    with db.read_session() as session:
        ars = {
            a.id: a for a in session.scalars(select(AutoRenewal).where(AutoRenewal.id.in_(wanted)))
        }
        assert set(ars) == wanted
        state = AutoRenewalState.ISSUED if events == 3 else AutoRenewalState.ACTIVE
        not_done = {
            i: (a.state.value, a.last_error) for i, a in ars.items() if a.state is not state
        }
        assert not not_done, (
            f"{len(not_done)} auto-renewals not {state.value}, e.g. {list(not_done.items())[:3]}"
        )
        for a in ars.values():
            for e in EVENTS:
                assert (getattr(a, f"fired_{e}_at") is not None) == (e in fired_events), a.id
            assert a.renewal_id is not None and (a.next_due_at is None) == (events == 3), a.id

        firings = Counter(
            session.execute(
                select(TimerFiring.kind, TimerFiring.subject_id).where(
                    TimerFiring.kind.like("auto_renewal.%"),
                    TimerFiring.subject_id.in_(wanted),
                )
            ).all()
        )
        expected = {(f"auto_renewal.{e}", i) for i in wanted for e in fired_events}
        assert set(firings) == expected, "ledger rows missing, or for triggers not due"
        assert all(firings[k] == 1 for k in expected)

        renewals = list(session.scalars(select(Renewal).where(Renewal.term_id.in_(term_ids))))
        per_term = Counter(r.term_id for r in renewals)
        twice = {t: n for t, n in per_term.items() if n != 1}
        assert not twice, f"terms with more than one renewal: {list(twice.items())[:5]}"
        assert set(per_term) == set(term_ids)
        by_id = {r.id: r for r in renewals}
        reached = (TransactionState.DRAFT, TransactionState.ACCEPTED, TransactionState.ISSUED)
        for a in ars.values():
            renewal = by_id[a.renewal_id]
            assert renewal.term_id == a.term_id
            assert renewal.transaction_state is reached[events - 1], renewal.id
            assert (renewal.new_term_id is not None) == (events == 3)
        # No renewal without its auto-renewal pointing to it.
        pointed = {a.renewal_id for a in ars.values()}
        assert pointed == set(by_id)

        policy_ids = {a.policy_id for a in ars.values()}
        terms = list(session.scalars(select(Term).where(Term.policy_id.in_(policy_ids))))
        per_policy = Counter(t.policy_id for t in terms)
        count = 2 if events == 3 else 1
        assert all(per_policy[p] == count for p in policy_ids), "a new term too many or few"
        new_terms = {t.id for t in terms if t.id not in set(term_ids)}
        # No term without the issued renewal that made it.
        assert new_terms == {r.new_term_id for r in renewals if r.new_term_id is not None}

        # The plan generates auto-renewals: each new term has exactly one, active, unfired.
        generated = list(
            session.scalars(select(AutoRenewal).where(AutoRenewal.term_id.in_(new_terms)))
        )
        assert sorted(g.term_id for g in generated) == sorted(new_terms)
        assert all(
            g.state is AutoRenewalState.ACTIVE and g.fired_create_at is None for g in generated
        )

        steps = ("renewal.create", "renewal.auto_accept", "renewal.auto_issue")[:events]
        audits = Counter(
            session.execute(
                select(AuditEvent.action, AuditEvent.object_id).where(
                    AuditEvent.object_type == "renewals",
                    AuditEvent.object_id.in_(list(by_id)),
                )
            ).all()
        )
        for renewal_id in by_id:
            for action in steps:
                assert audits[(action, renewal_id)] == 1, (action, renewal_id)
        assert not {a for a, _ in audits} & {"renewal.auto_accept", "renewal.auto_issue"} - set(
            steps
        ), "an automatic step that was not due"
        total = session.scalar(
            select(func.count()).select_from(Renewal).where(Renewal.policy_id.in_(policy_ids))
        )
        assert total == len(by_id), "renewals exist that these auto-renewals did not make"
