"""Random sequences of manual operations, plugin answers and ticks never break the rules.

A Hypothesis state machine drives a small agency (one account on a plan, two policies)
through people's operations (create, advance, end renewals; do not renew, reactivate,
discard, edit and point auto-renewals; cancel and reinstate; record a term from an
import), a scripted plugin whose next answer the machine draws, and timer ticks with a
clock that only moves forward. After every step it checks, in the database:

* the terms of a policy never overlap;
* at most one auto-renewal per policy is active, and it is on the latest term;
* nothing was issued while an auto-renewal of the policy was in do not renew (replayed
  from the audit trail, in the order things happened);
* each (auto-renewal, event) has at most one ``timer_firings`` row, and once the ledger
  has it, the auto-renewal's ``fired_<event>_at`` is set and never changes again;
* ``next_due_at`` (the timer's index) is the earliest pending trigger of an active
  auto-renewal, and empty otherwise;
* an auto-renewal only ever manages a renewal of its own term; a term is renewed by at
  most one issued renewal.

Every refusal on the way must be a user-facing sentence, never a crash.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from desktop_app.db.engine import Database, open_database
from desktop_app.db.models import (
    AuditEvent,
    AutoRenewal,
    DocumentRequirement,
    Policy,
    Renewal,
    Term,
    TimerFiring,
)
from desktop_app.domain.enums import AuditSource, AutoRenewalState, TransactionState
from desktop_app.engine import timer
from desktop_app.engine.plugins import Plugin, PluginSet
from desktop_app.errors import UserFacingError
from desktop_app.services import auto_renewals, book, transactions, users, work
from desktop_app.services.unit import Actor, unit_of_work

A = AutoRenewalState
S = TransactionState
EVENTS = ("create", "accept", "issue")
TIME_KEYS = {
    "create": "renewalTransactionCreateTime",
    "accept": "renewalTransactionAcceptTime",
    "issue": "renewalTransactionIssueTime",
}
START = datetime(2027, 1, 1, tzinfo=UTC)  # two weeks before the first trigger
NUMBERS = ("WC-1", "WC-2")
ANSWERS = (
    "nothing",
    "active",
    "doNotRenew",
    "discarded",
    "raise",
    "nonsense",
    "postpone",
    "manual",
    "six months",
    "type",
)


class ScriptedPlugin:
    """A real plugin whose next answer the machine chooses; afterwards it answers nothing."""

    def __init__(self) -> None:
        self.next: str = "nothing"
        self.calls = 0

    def __call__(self, request: dict[str, Any]) -> Any:
        self.calls += 1
        kind, self.next = self.next, "nothing"
        event = request["renewalEvent"]
        body = request["autoRenewal"]
        if kind == "raise":
            raise RuntimeError("scripted failure")
        if kind == "nonsense":
            return {"renewNow": "please"}
        if kind in ("active", "doNotRenew", "discarded"):
            return {"autoRenewalState": kind}
        if kind == "postpone":
            moment = datetime.fromisoformat(body[TIME_KEYS[event]]) + timedelta(days=3)
            return {TIME_KEYS[event]: moment.isoformat()}
        if kind == "manual":
            return {TIME_KEYS[event]: None}
        if kind == "six months":
            return {"newTermDuration": 6}
        if kind == "type":
            return {"renewalTransactionType": "rewrite"}
        return None


def is_sentence(message: str) -> bool:
    text = message.strip()
    return bool(text) and text[0].isupper() and text.endswith(".") and "Traceback" not in text


class AgencyMachine(RuleBasedStateMachine):
    """One agency, two policies, a scripted plugin and a clock that moves forward."""

    new_database: Callable[[], tuple[str, Callable[[], None]]]

    def __init__(self) -> None:
        super().__init__()
        url, self._drop = type(self).new_database()
        self.db: Database = open_database(url)
        users.ensure_first_admin(self.db, "admin")
        self.admin = Actor("admin", AuditSource.CLI)
        users.add_user(self.db, self.admin, "morgan", "manager", full_name="Morgan")
        users.add_user(self.db, self.admin, "casey", "csr", full_name="Casey")
        users.add_user(self.db, self.admin, "pat", "producer", full_name="Pat")
        self.manager = Actor("morgan", AuditSource.UI)
        self.csr = Actor("casey", AuditSource.UI)
        auto_renewals.add_plan(
            self.db,
            self.admin,
            "Standard",
            create_lead_days=60,
            accept_lead_days=30,
            issue_lead_days=15,
        )
        account = book.create_account(
            self.db, self.admin, "Harbor Bakery LLC", producer="pat", csr="casey", plan="Standard"
        )
        self.policy_ids = []
        for number, end in zip(NUMBERS, (datetime(2027, 7, 1), datetime(2027, 3, 15)), strict=True):
            end = end.replace(tzinfo=UTC)
            info = book.add_policy(
                self.db,
                self.admin,
                account.id,
                number,
                "The Hartford",
                "WORK",
                end - timedelta(days=365),
                end,
                "10,000.00",
            )
            self.policy_ids.append(info.id)
        self.clock = START
        self.plugin = ScriptedPlugin()
        self.plugins = PluginSet((Plugin("scripted", self.plugin),), (), 5.0)
        self.fired_seen: dict[tuple[int, str], datetime] = {}
        self.replayed_audit_id = 0
        self.ar_state: dict[int, A] = {}
        self.refusals = 0

    def teardown(self) -> None:
        self.db.dispose()
        self._drop()

    # ------------------------------------------------------------------- helpers

    def attempt(self, operation: Callable[[], Any]) -> None:
        """Run a person's operation; a refusal must be one user-facing sentence."""
        try:
            operation()
        except UserFacingError as exc:
            self.refusals += 1
            assert is_sentence(str(exc)), repr(str(exc))

    def renewal_id(self, policy: int, which: int) -> int | None:
        with self.db.read_session() as s:
            ids = list(
                s.scalars(
                    select(Renewal.id)
                    .where(Renewal.policy_id == self.policy_ids[policy])
                    .order_by(Renewal.id)
                )
            )
        return ids[which % len(ids)] if ids else None

    def latest_end(self, policy: int) -> datetime:
        with self.db.read_session() as s:
            return s.scalars(
                select(Term.end_at)
                .where(Term.policy_id == self.policy_ids[policy])
                .order_by(Term.end_at.desc())
                .limit(1)
            ).one()

    # ------------------------------------------------------------------- the timer

    @rule(days=st.integers(0, 60), housekeeping=st.booleans())
    def tick(self, days: int, housekeeping: bool) -> None:
        self._tick(days, housekeeping)

    @rule(answer=st.sampled_from(ANSWERS), days=st.integers(0, 45))
    def script_then_tick(self, answer: str, days: int) -> None:
        self.plugin.next = answer
        self._tick(days, False)

    def _tick(self, days: int, housekeeping: bool) -> None:
        self.clock += timedelta(days=days)
        report = timer.tick(
            self.db, now=self.clock, plugins=self.plugins, housekeeping=housekeeping
        )
        assert report.errors == []
        for action in report.actions:
            if action.get("outcome") == "error":
                assert is_sentence(action["note"]) or action["note"].startswith("The ")

    @rule(answer=st.sampled_from(ANSWERS))
    def script_the_plugin(self, answer: str) -> None:
        self.plugin.next = answer

    # ------------------------------------------------------------------- renewals

    @rule(policy=st.integers(0, 1), months=st.integers(-1, 14), gap=st.booleans())
    def create_renewal(self, policy: int, months: int, gap: bool) -> None:
        end = self.latest_end(policy)
        new_end = end + timedelta(days=30 * months)
        effective = end + timedelta(days=5) if gap else None
        self.attempt(
            lambda: transactions.create_renewal(
                self.db, self.manager, NUMBERS[policy], new_end=new_end, effective=effective
            )
        )

    @rule(policy=st.integers(0, 1), which=st.integers(0, 5))
    def receive_documents(self, policy: int, which: int) -> None:
        renewal_id = self.renewal_id(policy, which)
        if renewal_id is None:
            return
        with self.db.read_session() as s:
            docs = list(
                s.scalars(
                    select(DocumentRequirement.id).where(
                        DocumentRequirement.renewal_id == renewal_id
                    )
                )
            )
        for doc in docs:
            self.attempt(lambda doc=doc: work.waive_document(self.db, self.csr, doc, "On file"))

    @rule(
        policy=st.integers(0, 1),
        which=st.integers(0, 5),
        to=st.sampled_from(["quoted", "accepted", "issued"]),
    )
    def advance(self, policy: int, which: int, to: str) -> None:
        renewal_id = self.renewal_id(policy, which)
        if renewal_id is not None:
            self.attempt(lambda: transactions.advance(self.db, self.manager, renewal_id, to))

    @rule(
        policy=st.integers(0, 1),
        which=st.integers(0, 5),
        ending=st.sampled_from(["discarded", "rejected", "refused"]),
    )
    def end_renewal(self, policy: int, which: int, ending: str) -> None:
        renewal_id = self.renewal_id(policy, which)
        if renewal_id is not None:
            self.attempt(
                lambda: transactions.end_renewal(self.db, self.manager, renewal_id, ending)
            )

    @rule(policy=st.integers(0, 1), months=st.integers(1, 14), gap=st.booleans())
    def record_term_from_an_import(self, policy: int, months: int, gap: bool) -> None:
        end = self.latest_end(policy)
        start = end + timedelta(days=7) if gap else end

        def record() -> None:
            with unit_of_work(self.db, Actor("admin", AuditSource.IMPORT)) as uow:
                transactions.record_term_in(
                    uow,
                    self.policy_ids[policy],
                    start,
                    end + timedelta(days=30 * months),
                    Decimal("10500.00"),
                )

        self.attempt(record)

    # ------------------------------------------------------------------- auto-renewals

    @rule(
        policy=st.integers(0, 1),
        operation=st.sampled_from(["do_not_renew", "reactivate", "discard", "create"]),
    )
    def operate(self, policy: int, operation: str) -> None:
        call = getattr(auto_renewals, operation)
        self.attempt(lambda: call(self.db, self.manager, NUMBERS[policy]))

    @rule(
        policy=st.integers(0, 1),
        event=st.sampled_from(EVENTS),
        offset=st.one_of(st.none(), st.integers(-10, 60)),
    )
    def update_time(self, policy: int, event: str, offset: int | None) -> None:
        moment = None if offset is None else self.clock + timedelta(days=offset)
        self.attempt(
            lambda: auto_renewals.update(
                self.db, self.manager, NUMBERS[policy], **{f"{event}_time": moment}
            )
        )

    @rule(policy=st.integers(0, 1), which=st.integers(0, 5))
    def point_at_a_renewal(self, policy: int, which: int) -> None:
        renewal_id = self.renewal_id(policy, which)
        if renewal_id is not None:
            self.attempt(
                lambda: auto_renewals.update(
                    self.db, self.manager, NUMBERS[policy], renewal_id=renewal_id
                )
            )

    # ------------------------------------------------------------------- the policy

    @rule(policy=st.integers(0, 1))
    def cancel(self, policy: int) -> None:
        self.attempt(lambda: transactions.cancel_policy(self.db, self.manager, NUMBERS[policy]))

    @rule(policy=st.integers(0, 1))
    def reinstate(self, policy: int) -> None:
        self.attempt(lambda: transactions.reinstate_policy(self.db, self.manager, NUMBERS[policy]))

    # ------------------------------------------------------------------- invariants

    @invariant()
    def the_rules_hold(self) -> None:
        with self.db.read_session() as s:
            terms = list(s.scalars(select(Term).order_by(Term.policy_id, Term.start_at)))
            ars = list(s.scalars(select(AutoRenewal).order_by(AutoRenewal.id)))
            renewals = list(s.scalars(select(Renewal).order_by(Renewal.id)))
            ledger = list(
                s.scalars(select(TimerFiring).where(TimerFiring.kind.startswith("auto_renewal.")))
            )
            events = list(
                s.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.id > self.replayed_audit_id)
                    .order_by(AuditEvent.id)
                )
            )
            policies = {p.id: p for p in s.scalars(select(Policy))}

        by_policy: dict[int, list[Term]] = {}
        for term in terms:
            by_policy.setdefault(term.policy_id, []).append(term)
        latest = {pid: max(ts, key=lambda t: t.end_at).id for pid, ts in by_policy.items()}
        term_policy = {t.id: t.policy_id for t in terms}

        # terms of a policy never overlap
        for pid, ts in by_policy.items():
            for before, after in pairwise(ts):
                assert before.end_at <= after.start_at, (pid, before.end_at, after.start_at)

        # at most one active auto-renewal per policy, on the latest term
        for pid in policies:
            active = [a for a in ars if a.policy_id == pid and a.state is A.ACTIVE]
            assert len(active) <= 1, pid
            for a in active:
                assert a.term_id == latest[pid], (pid, a.id)

        # nothing issued under do not renew: replay the audit trail in order
        ar_policy = {a.id: a.policy_id for a in ars}
        for event in events:
            if event.object_type == "auto_renewals":
                if event.action == "auto_renewal.create":
                    self.ar_state[event.object_id] = A.ACTIVE
                elif "state" in event.changes:
                    self.ar_state[event.object_id] = A(event.changes["state"][1])
            elif event.object_type == "terms" and event.action == "term.create":
                pid = term_policy[event.object_id]
                blocking = [
                    ar_id
                    for ar_id, state in self.ar_state.items()
                    if ar_policy.get(ar_id) == pid and state is A.DO_NOT_RENEW
                ]
                assert not blocking, f"term {event.object_id} created under do not renew"
            self.replayed_audit_id = event.id
        for a in ars:  # the replay agrees with the table
            assert self.ar_state.get(a.id) is a.state, (a.id, self.ar_state.get(a.id), a.state)

        # the ledger: one row per (auto-renewal, event), and fired times stick
        seen = [(f.subject_id, f.kind.removeprefix("auto_renewal.")) for f in ledger]
        assert len(seen) == len(set(seen))
        by_id = {a.id: a for a in ars}
        for ar_id, event in seen:
            assert getattr(by_id[ar_id], f"fired_{event}_at") is not None, (ar_id, event)
        for a in ars:
            for event in EVENTS:
                value = getattr(a, f"fired_{event}_at")
                key = (a.id, event)
                if key in self.fired_seen:
                    assert value == self.fired_seen[key], (key, value, self.fired_seen[key])
                elif value is not None:
                    self.fired_seen[key] = value
                    assert key in seen, f"{key} fired without a ledger row"

        # the timer's index agrees with the auto-renewal
        for a in ars:
            pending = [
                getattr(a, f"{e}_time")
                for e in EVENTS
                if getattr(a, f"{e}_time") is not None and getattr(a, f"fired_{e}_at") is None
            ]
            expected = min(pending) if a.state is A.ACTIVE and pending else None
            assert a.next_due_at == expected, (a.id, a.state, a.next_due_at, expected)

        # an auto-renewal manages a renewal of its own term; one issue per term
        renewal_term = {r.id: r.term_id for r in renewals}
        for a in ars:
            if a.renewal_id is not None:
                assert renewal_term[a.renewal_id] == a.term_id, a.id
        issued = [r.term_id for r in renewals if r.transaction_state is S.ISSUED]
        assert len(issued) == len(set(issued))
        for r in renewals:
            if r.transaction_state is S.ISSUED:
                assert r.new_term_id is not None and term_policy[r.new_term_id] == r.policy_id


MACHINE_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_random_operations_never_break_the_rules_on_sqlite(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """The state machine on SQLite: a fresh database file per example."""

    def new_database() -> tuple[str, Callable[[], None]]:
        path = tmp_path / f"machine-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)

    machine = type(
        "SqliteAgencyMachine", (AgencyMachine,), {"new_database": staticmethod(new_database)}
    )
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)


def test_random_operations_never_break_the_rules_on_postgresql(
    request: pytest.FixtureRequest,
) -> None:
    """The same machine on PostgreSQL (fewer examples: a database per example costs more)."""
    server = request.getfixturevalue("postgres")

    def new_database() -> tuple[str, Callable[[], None]]:
        name = server.new_database()
        return server.url(name), lambda: server.drop(name)

    machine = type(
        "PostgresAgencyMachine", (AgencyMachine,), {"new_database": staticmethod(new_database)}
    )
    run_state_machine_as_test(
        machine, settings=settings(MACHINE_SETTINGS, max_examples=8, stateful_step_count=20)
    )
