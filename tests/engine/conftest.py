"""Fixtures for the service-level tests of renewal transactions and the auto-renewal engine.

Everything is built through the services (never by writing rows), so a test exercises the
same path an agency's desktop does. Every clock is explicit: the timer service is always
ticked with ``now=…`` and the book's dates are fixed, far from today's date.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import AuditEvent, AutoRenewal, Notice, Renewal, Term, TimerFiring
from desktop_app.domain.enums import AuditSource
from desktop_app.engine import timer
from desktop_app.engine.plugins import Plugin, PluginSet
from desktop_app.services import auto_renewals, book
from desktop_app.services.unit import Actor

TERM_START = datetime(2026, 7, 1, tzinfo=UTC)
TERM_END = datetime(2027, 7, 1, tzinfo=UTC)
LEADS = {"create": 60, "accept": 30, "issue": 15}
CREATE_AT = TERM_END - timedelta(days=LEADS["create"])  # 2027-05-02
ACCEPT_AT = TERM_END - timedelta(days=LEADS["accept"])  # 2027-06-01
ISSUE_AT = TERM_END - timedelta(days=LEADS["issue"])  # 2027-06-16
NEW_END = datetime(2028, 7, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- plugins


@dataclass
class PluginRecorder:
    """A real plugin that writes down every request it receives and answers as told.

    ``answer`` is either a dict (the same answer every time), or a callable taking the
    request and returning the answer (it may raise, or block, like a broken plugin).
    """

    answer: Any = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    name: str = "recorder"

    def __call__(self, request: dict[str, Any]) -> Any:
        self.requests.append(request)
        if callable(self.answer):
            return self.answer(request)
        return self.answer

    def plugin_set(self, timeout: float = 5.0) -> PluginSet:
        return PluginSet((Plugin(self.name, self),), (), timeout)

    @property
    def events(self) -> list[tuple[str, str | None]]:
        """(event, policy number) per request, in the order they came."""
        return [(r["renewalEvent"], r["autoRenewal"].get("policyNumber")) for r in self.requests]

    def events_of(self, policy_number: str) -> list[str]:
        return [event for event, number in self.events if number == policy_number]


@pytest.fixture
def recorder() -> PluginRecorder:
    return PluginRecorder()


@pytest.fixture
def release_hung_plugins() -> Iterator[threading.Event]:
    """An event a hanging plugin waits on; set at teardown so no thread outlives the test."""
    gate = threading.Event()
    yield gate
    gate.set()


NO_PLUGINS = PluginSet((), ())


# --------------------------------------------------------------------------- the book


@dataclass
class Book:
    """A small agency: people, a plan, an account on the plan and one policy on it."""

    db: Database
    admin: Actor
    manager: Actor
    producer: Actor
    csr: Actor
    plan: str
    account_id: int
    policy_id: int
    number: str
    carrier: str
    counter: list[int] = field(default_factory=lambda: [0])

    # -- building -------------------------------------------------------------------

    def add_policy(
        self,
        number: str | None = None,
        *,
        account_id: int | None = None,
        lob: str = "WORK",
        start: datetime = TERM_START,
        end: datetime = TERM_END,
        premium: str = "10,000.00",
    ) -> int:
        if number is None:
            self.counter[0] += 1
            number = f"WC-{self.counter[0]:04d}"
        info = book.add_policy(
            self.db,
            self.admin,
            account_id or self.account_id,
            number,
            self.carrier,
            lob,
            start,
            end,
            premium,
        )
        return info.id

    # -- reading ---------------------------------------------------------------------

    def ar(self, policy_id: int | None = None) -> AutoRenewal:
        """The auto-renewal of the policy's latest term (a detached copy)."""
        with self.db.read_session() as s:
            row = s.scalars(
                select(AutoRenewal)
                .join(Term, Term.id == AutoRenewal.term_id)
                .where(AutoRenewal.policy_id == (policy_id or self.policy_id))
                .order_by(Term.end_at.desc())
                .limit(1)
            ).one()
            s.expunge(row)
            return row

    def ars(self, policy_id: int | None = None) -> list[AutoRenewal]:
        with self.db.read_session() as s:
            rows = list(
                s.scalars(
                    select(AutoRenewal)
                    .join(Term, Term.id == AutoRenewal.term_id)
                    .where(AutoRenewal.policy_id == (policy_id or self.policy_id))
                    .order_by(Term.end_at)
                )
            )
            s.expunge_all()
            return rows

    def terms(self, policy_id: int | None = None) -> list[Term]:
        with self.db.read_session() as s:
            rows = list(
                s.scalars(
                    select(Term)
                    .where(Term.policy_id == (policy_id or self.policy_id))
                    .order_by(Term.start_at)
                )
            )
            s.expunge_all()
            return rows

    def renewals(self, policy_id: int | None = None) -> list[Renewal]:
        with self.db.read_session() as s:
            rows = list(
                s.scalars(
                    select(Renewal)
                    .where(Renewal.policy_id == (policy_id or self.policy_id))
                    .order_by(Renewal.id)
                )
            )
            s.expunge_all()
            return rows

    def renewal(self, renewal_id: int) -> Renewal:
        with self.db.read_session() as s:
            row = s.get(Renewal, renewal_id)
            assert row is not None
            s.expunge(row)
            return row

    def audit(self, object_type: str | None = None, object_id: int | None = None) -> list[Any]:
        with self.db.read_session() as s:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if object_type is not None:
                query = query.where(AuditEvent.object_type == object_type)
            if object_id is not None:
                query = query.where(AuditEvent.object_id == object_id)
            rows = list(s.scalars(query))
            s.expunge_all()
            return rows

    def notices(self, kind: str | None = None) -> list[Notice]:
        with self.db.read_session() as s:
            query = select(Notice).order_by(Notice.id)
            if kind is not None:
                query = query.where(Notice.kind == kind)
            rows = list(s.scalars(query))
            s.expunge_all()
            return rows

    def firings(self, kind_prefix: str = "") -> list[TimerFiring]:
        with self.db.read_session() as s:
            rows = list(
                s.scalars(
                    select(TimerFiring)
                    .where(TimerFiring.kind.startswith(kind_prefix))
                    .order_by(TimerFiring.id)
                )
            )
            s.expunge_all()
            return rows

    # -- acting ----------------------------------------------------------------------

    def tick(
        self, now: datetime, plugins: PluginSet | None = None, *, housekeeping: bool = False
    ) -> timer.TickReport:
        """One tick of the timer service at ``now`` (no housekeeping unless asked)."""
        return timer.tick(
            self.db,
            now=now,
            plugins=plugins if plugins is not None else NO_PLUGINS,
            housekeeping=housekeeping,
        )


def build_book(
    db: Database,
    admin: Actor,
    make_user: Callable[..., Actor],
    *,
    create: int | None = LEADS["create"],
    accept: int | None = LEADS["accept"],
    issue: int | None = LEADS["issue"],
    generate: bool = True,
    csr: bool = True,
    end: datetime = TERM_END,
    start: datetime = TERM_START,
) -> Book:
    manager = make_user("manager", "morgan")
    producer = make_user("producer", "pat")
    casey = make_user("csr", "casey")
    plan = auto_renewals.add_plan(
        db,
        admin,
        "Standard",
        create_lead_days=create,
        accept_lead_days=accept,
        issue_lead_days=issue,
        new_term_months=12,
        generate_auto_renewals=generate,
    )
    account = book.create_account(
        db,
        admin,
        "Harbor Bakery LLC",
        producer="pat",
        csr="casey" if csr else None,
        plan=plan.name,
    )
    the_book = Book(
        db=db,
        admin=admin,
        manager=manager,
        producer=producer,
        csr=casey,
        plan=plan.name,
        account_id=account.id,
        policy_id=0,
        number="WC-0000",
        carrier="The Hartford",
    )
    the_book.policy_id = the_book.add_policy("WC-0000", start=start, end=end)
    return the_book


@pytest.fixture
def agency(db: Database, admin: Actor, make_user: Callable[..., Actor]) -> Book:
    """A plan (create 60 / accept 30 / issue 15 days, 12 months, generate), an account with
    a producer and a CSR on it, and policy WC-0000 from 2026-07-01 to 2027-07-01 UTC."""
    return build_book(db, admin, make_user)


def audit_sources(events: list[Any]) -> set[AuditSource]:
    return {e.source for e in events}
