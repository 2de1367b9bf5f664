"""One tick of the timer service: fire what is due, exactly once, through the services.

``tick(db, now=…)`` finds the auto-renewals whose next trigger time has come (one index
range scan on ``auto_renewals.next_due_at``) and fires their events in order (create,
accept, issue). Then, at most once per :data:`HOUSEKEEPING_MINUTES` slot across every
desktop, it runs the housekeeping (:mod:`desktop_app.engine.housekeeping`).

Exactly once, with many processes ticking one database:

* work is taken in batches inside one write transaction. On PostgreSQL the batch is
  selected ``FOR UPDATE SKIP LOCKED``, so two processes take different rows. SQLite has
  no row locks (SQLAlchemy renders ``SKIP LOCKED`` as nothing there); its write
  transactions start with ``BEGIN IMMEDIATE``, which lets one writer in at a time;
* each event is then claimed with a conditional UPDATE (``… SET fired_<event>_at = now
  WHERE fired_<event>_at IS NULL AND <event>_time <= now AND state = 'active'``) — only
  the process whose UPDATE changed the row fires it;
* its effect, the auto-renewal's new state and a row in the ``timer_firings`` ledger are
  written in the same transaction, and the ledger's unique key (kind, auto-renewal) is the
  last line of defence.

A process killed anywhere in a batch (after claiming, inside a plugin, before commit)
loses the whole uncommitted batch: each trigger is then still pending, and the next tick
fires it. (The plugin may then have been called for it twice; its effect happens once.)

Firing together. Most auto-renewals in a batch have one event due (a create, an accept
or an issue: the timer runs daily). Those are fired together (:func:`_fire_together`):
claimed with one conditional UPDATE per event kind, read with a few queries, decided one
by one with the same rules (``transactions.new_renewal``, ``transactions.planned_advance``,
``auto_renewals.new_auto_renewal``, the domain's) and the same plugin calls, then written
with one statement per table (COPY on PostgreSQL), rows in the order firing them one by
one writes them: the same ids, audit events, ledger rows and notices. A database error
while doing so rolls back to a savepoint and fires them one at a time after all, with the
plugin answers already given. The rest — missed triggers (several due at once), a create
that adopts a card opened by hand, an issue that invalidates other open renewals of the
term — fire one event at a time (:func:`_fire_event`), in the batch's order.

On PostgreSQL "now" is the database server's clock, so a desktop whose clock is wrong
fires neither early nor late; on SQLite (one machine) it is this machine's clock.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from desktop_app.db import provision
from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AutoRenewal,
    AutoRenewalPlan,
    DocumentRequirement,
    Notice,
    Policy,
    Renewal,
    Term,
    TimerFiring,
    User,
)
from desktop_app.domain import auto_renewal as rules
from desktop_app.domain.auto_renewal import AutoRenewalFacts, InvalidPluginAnswer, TriggerEvent
from desktop_app.domain.enums import (
    AuditSource,
    AutoRenewalState,
    DocumentStatus,
    TransactionState,
)
from desktop_app.domain.transactions import OPEN_STATES, months_later
from desktop_app.engine import plugins as plugin_mod
from desktop_app.errors import RuleViolation, UserFacingError
from desktop_app.services import agency, audit, renewals, transactions
from desktop_app.services import auto_renewals as ars
from desktop_app.services.unit import TIMER_USER, UnitOfWork, changes_between

log = logging.getLogger("renewal_desk.timer")

BATCH_SQLITE = 50
BATCH_POSTGRES = 100
BATCH_MAX = 1000
BATCH_SECONDS = 0.25
"""Batches start at BATCH_SQLITE / BATCH_POSTGRES rows and grow (up to BATCH_MAX) while
one takes less than this: a write transaction (on SQLite, the database's one write lock)
is held about this long, however fast each row goes."""
HOUSEKEEPING_MINUTES = 15
SQLITE_PAUSE_SECONDS = 0.02
SET_BASED = True
"""Fire a batch's lone triggers together (False: one event at a time, as the rest; the
tests compare the two)."""

_TIME = {e: getattr(AutoRenewal, f"{e.value}_time") for e in TriggerEvent}
_FIRED = {e: getattr(AutoRenewal, f"fired_{e.value}_at") for e in TriggerEvent}
_CREATE = TriggerEvent.CREATE
_STOPPED = {AutoRenewalState.DISCARDED: "stopped", AutoRenewalState.DO_NOT_RENEW: "stopped"}
_LAST = ("error", "stopped", "postponed", "manual")  # outcomes after which an AR's turn ends
# What a tick must know of each auto-renewal it takes: its facts, version and next due time.
_ROW = (
    AutoRenewal.id,
    AutoRenewal.version,
    AutoRenewal.next_due_at,
    AutoRenewal.state,
    AutoRenewal.transaction_type,
    AutoRenewal.new_term_months,
    *_TIME.values(),
    *_FIRED.values(),
    AutoRenewal.last_error,
    AutoRenewal.policy_id,
    AutoRenewal.term_id,
    AutoRenewal.renewal_id,
)
Answers = dict[tuple[int, TriggerEvent], Any]


@dataclass
class TickReport:
    """What one tick did: one JSON-ready dict per action, errors, when to look next."""

    now: datetime
    actions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    next_due: datetime | None = None
    seconds: float = 0.0
    housekeeping: bool = False


def process_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def database_now(db: Database) -> datetime:
    """The time to fire by: the PostgreSQL server's clock, or this machine's for SQLite."""
    if db.is_sqlite:
        return datetime.now(UTC)
    with db.read_session() as session:
        value = session.execute(select(func.statement_timestamp())).scalar_one()
    return value.astimezone(UTC)


def next_due_time(db: Database) -> datetime | None:
    """The earliest pending trigger of any active auto-renewal (None: nothing pending)."""
    with db.read_session() as session:
        return session.scalar(select(func.min(AutoRenewal.next_due_at)))


def _timer_uow(session: Any, source: AuditSource = AuditSource.SCHEDULER) -> UnitOfWork:
    user = session.scalar(select(User).where(User.username == TIMER_USER))
    if user is None:  # pragma: no cover - migration 0002 creates it
        raise RuntimeError("the timer service's user is missing; run 'renewal-desk db upgrade'")
    return UnitOfWork(session, user, source)


def tick(
    db: Database,
    *,
    now: datetime | None = None,
    plugins: plugin_mod.PluginSet | None = None,
    housekeeping: bool = True,
    batch_size: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TickReport:
    """Do everything that is due at ``now`` (default: the database's clock)."""
    started = time.perf_counter()
    now = (now or database_now(db)).astimezone(UTC)
    report = TickReport(now=now)
    refusal = _login_may_not_fire(db)
    if refusal:
        report.errors.append(refusal)
        report.seconds = time.perf_counter() - started
        return report
    plugin_set = plugins if plugins is not None else plugin_mod.load_plugins()
    if plugin_set.problems:
        # Firing without a configured plugin could issue what the plugin would stop.
        report.errors.extend(plugin_set.problems)
        report.errors.append("No auto-renewal trigger fired until the plugin loads.")
    else:
        _fire_due(db, now, plugin_set, report, batch_size, should_stop)
    if housekeeping and not should_stop():
        from desktop_app.engine import housekeeping as chores

        report.housekeeping = chores.run_if_due(db, now, report)
    report.next_due = next_due_time(db)
    report.seconds = time.perf_counter() - started
    return report


def _login_may_not_fire(db: Database) -> str | None:
    """On a shared office's database only logins allowed to run automatic work (managers,
    admins, the office server's timer login) fire; a producer's or CSR's desktop leaves it
    to them, since the database would refuse part of the work anyway."""
    if db.is_sqlite:
        return None
    with db.read_session() as session:
        role = provision.app_role(session)
    if role in ("producer", "csr"):
        who = "a CSR's" if role == "csr" else "a producer's"
        return (
            "Automatic work on this shared database runs on managers' and admins' desktops "
            f"and on the office server's scheduler, not under {who} login."
        )
    return None


@dataclass(frozen=True)
class _Due:
    """One auto-renewal of a batch, as the batch read it (under its lock)."""

    facts: AutoRenewalFacts
    version: int
    next_due_at: datetime | None
    events: tuple[TriggerEvent, ...]  # due now and not fired, in firing order


def _due(row: Any, now: datetime) -> _Due:
    facts = AutoRenewalFacts(
        state=row.state,
        transaction_type=row.transaction_type,
        new_term_months=row.new_term_months,
        create_time=row.create_time,
        accept_time=row.accept_time,
        issue_time=row.issue_time,
        fired_create_at=row.fired_create_at,
        fired_accept_at=row.fired_accept_at,
        fired_issue_at=row.fired_issue_at,
        last_error=row.last_error,
        id=row.id,
        policy_id=row.policy_id,
        term_id=row.term_id,
        renewal_id=row.renewal_id,
    )
    events = tuple(rules.due_events(facts.times, facts.fired, now))
    return _Due(facts, row.version, row.next_due_at, events)


def _fire_due(
    db: Database,
    now: datetime,
    plugin_set: plugin_mod.PluginSet,
    report: TickReport,
    batch_size: int | None,
    should_stop: Callable[[], bool],
) -> None:
    size = batch_size or (BATCH_SQLITE if db.is_sqlite else BATCH_POSTGRES)
    label = process_label()
    skip: set[int] = set()  # rows this tick already handled but left due (errors)
    batches = 0
    while not should_stop():
        if batches and db.is_sqlite:
            # Let other desktops' waiting writes in between batches (SQLite has one
            # writer at a time; a long backlog must not starve their saves).
            time.sleep(SQLITE_PAUSE_SECONDS)
        batches += 1
        started = time.perf_counter()
        with db.write_session() as session:
            query = (
                select(*_ROW)
                .where(AutoRenewal.next_due_at <= now)
                .order_by(AutoRenewal.next_due_at, AutoRenewal.id)
                .limit(size)
            )
            if skip:
                query = query.where(AutoRenewal.id.not_in(skip))
            if not db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            dues = [_due(row, now) for row in session.execute(query)]
            if not dues:
                return
            uow = _timer_uow(session)
            tz = agency.time_zone(session)
            together = _lone_events(session, dues) if SET_BASED else set()
            run: list[_Due] = []
            for due in dues:
                if due.facts.id in together:
                    run.append(due)
                    continue
                if run:
                    report.actions.extend(_fire_together(uow, run, now, tz, plugin_set, label))
                    run = []
                _fire_row(uow, due, now, tz, plugin_set, label, report)
            if run:
                report.actions.extend(_fire_together(uow, run, now, tz, plugin_set, label))
            # What is still due after its turn (an error, a postponed or failed claim)
            # waits for the next tick.
            skip.update(
                session.scalars(
                    select(AutoRenewal.id).where(
                        AutoRenewal.id.in_([due.facts.id for due in dues]),
                        AutoRenewal.next_due_at <= now,
                    )
                )
            )
            session.commit()
        if batch_size is None and len(dues) == size:
            took = max(time.perf_counter() - started, 0.001)
            size = min(BATCH_MAX, max(size, int(size * min(4.0, BATCH_SECONDS / took))))


def _fire_row(
    uow: UnitOfWork,
    due: _Due,
    now: datetime,
    tz: Any,
    plugin_set: plugin_mod.PluginSet,
    label: str,
    report: TickReport,
    asked: Answers | None = None,
) -> None:
    """Fire the auto-renewal's due events one at a time, in order, until one ends its turn."""
    for event in due.events:
        outcome = _fire_event(uow, due.facts.id, event, now, tz, plugin_set, label, asked)
        if outcome is None:
            continue  # not ours (the claim refused it)
        report.actions.append(outcome)
        if outcome["outcome"] in _LAST:
            break


def _claim(uow: UnitOfWork, ar_id: int, event: TriggerEvent, now: datetime) -> bool:
    """The conditional UPDATE that makes this process the one that fires ``event``."""
    result = uow.session.execute(
        update(AutoRenewal)
        .where(
            AutoRenewal.id == ar_id,
            AutoRenewal.state == AutoRenewalState.ACTIVE,
            _FIRED[event].is_(None),
            _TIME[event].is_not(None),
            _TIME[event] <= now,
        )
        .values({_FIRED[event]: now})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _request_dict(
    facts: AutoRenewalFacts, policy: Any, term: Any, renewal: Any | None
) -> dict[str, Any]:
    """The auto-renewal as the command line shows it, in the plugin's camelCase, plus the
    policy and premiums a plugin needs to decide."""
    data = facts.to_plugin_dict()
    data |= {
        "policyNumber": policy.policy_number,
        "carrier": policy.carrier,
        "lineOfBusiness": policy.line_of_business,
        "termStart": term.start_at.isoformat(),
        "termEnd": term.end_at.isoformat(),
        "termPremium": None if term.premium is None else str(term.premium),
        "renewalState": renewal.transaction_state.value if renewal else None,
        "renewalNewPremium": (
            None if renewal is None or renewal.new_premium is None else str(renewal.new_premium)
        ),
    }
    return data


def _ask_plugins(
    event: TriggerEvent,
    facts: AutoRenewalFacts,
    plugin_set: Any,
    about: Callable[[], tuple[Any, Any, Any]],
    asked: Answers | None = None,
) -> tuple[rules.PluginAnswer, list[tuple[str, dict[str, Any]]]]:
    """Call every plugin; merge their checked answers (later plugins win on a key).

    ``about`` gives the policy, term and renewal the request describes. ``asked`` keeps
    what the plugins answered (or how they failed) per auto-renewal and event, so firing
    again after a database error does not ask them twice.
    """
    key = (facts.id or 0, event)
    if asked is not None and key in asked:
        known = asked[key]
        if isinstance(known, plugin_mod.PluginFailed):
            raise plugin_mod.PluginFailed(str(known))
        return known  # type: ignore[no-any-return]
    try:
        known = _call_plugins(event, facts, plugin_set, about)
    except plugin_mod.PluginFailed as exc:
        if asked is not None:
            asked[key] = exc
        raise
    if asked is not None:
        asked[key] = known
    return known


def _call_plugins(
    event: TriggerEvent,
    facts: AutoRenewalFacts,
    plugin_set: Any,
    about: Callable[[], tuple[Any, Any, Any]],
) -> tuple[rules.PluginAnswer, list[tuple[str, dict[str, Any]]]]:
    merged: dict[str, Any] = {}
    answered: list[tuple[str, dict[str, Any]]] = []
    if not plugin_set.plugins:
        return rules.PluginAnswer(), answered
    request = rules.plugin_request(event, _request_dict(facts, *about()))
    for plugin in plugin_set.plugins:
        answer = plugin_mod.call(
            plugin, rules.plugin_request(event, request["autoRenewal"]), plugin_set.timeout
        )
        if answer is None:
            answer = {}
        try:
            rules.validate_plugin_answer(answer)
        except InvalidPluginAnswer as exc:
            raise plugin_mod.PluginFailed(
                f"{exc.message.rstrip('.')} (plugin {plugin.name})."
            ) from None
        if answer:
            answered.append((plugin.name, dict(answer)))
        merged.update(answer)
    return rules.validate_plugin_answer(merged), answered


def _entry(ar_id: int, policy: Any, event: TriggerEvent, now: datetime) -> dict[str, Any]:
    """The start of a report line: which auto-renewal, which policy, which event, when."""
    return {
        "auto_renewal_id": ar_id,
        "policy_number": policy.policy_number,
        "carrier": policy.carrier,
        "event": event.value,
        "at": now.isoformat(),
    }


def _fire_event(
    uow: UnitOfWork,
    ar_id: int,
    event: TriggerEvent,
    now: datetime,
    tz: Any,
    plugin_set: plugin_mod.PluginSet,
    label: str,
    asked: Answers | None = None,
) -> dict[str, Any] | None:
    """Fire one event of one auto-renewal in a savepoint; None when it was not ours."""
    session = uow.session
    savepoint = session.begin_nested()
    try:
        if not _claim(uow, ar_id, event, now):
            savepoint.rollback()
            return None
        ar = session.get(AutoRenewal, ar_id, populate_existing=True)
        assert ar is not None
        policy = session.get(Policy, ar.policy_id)
        assert policy is not None
        # The claim wrote fired_<event>_at behind the ORM's back; tell the ORM the row had
        # none, so storing the outcome writes (and audits) the firing like any change.
        set_committed_value(ar, f"fired_{event.value}_at", None)
        before = ars.facts_of(ar)
        entry = _entry(ar.id, policy, event, now)

        def about() -> tuple[Any, Any, Any]:
            term = session.get(Term, before.term_id)
            renewal = session.get(Renewal, before.renewal_id) if before.renewal_id else None
            return policy, term, renewal

        answer, answered = _ask_plugins(event, before, plugin_set, about, asked)
        renewal = session.get(Renewal, ar.renewal_id) if ar.renewal_id else None
        outcome = rules.apply_plugin_answer(
            event,
            before,
            answer,
            renewal_state=renewal.transaction_state if renewal else None,
            now=now,
            tz=tz,
        )
        after = outcome.after
        result = "no_action"
        if outcome.run_action:
            after, result, renewal = _act(uow, ar, policy, event, after, renewal, now, tz)
        final = outcome.done() if not outcome.run_action else rules.mark_fired(after, event, now)
        if ar.state is not before.state:  # the action itself moved it (issued)
            final = dataclasses.replace(final, state=ar.state)
        if not outcome.mark_fired:
            final = dataclasses.replace(final, **{f"fired_{event.value}_at": None})
            result = _STOPPED.get(final.state, "postponed" if final.times.at(event) else "manual")
        for name, given in answered:
            _plugin_activity(uow, ar, renewal, name, event, given)
        ars.store(uow, ar, final, f"auto_renewal.fire_{event.value}")
        if not outcome.mark_fired:  # the event stays pending: undo the claim
            session.execute(
                update(AutoRenewal)
                .where(AutoRenewal.id == ar.id)
                .values({_FIRED[event]: None})
                .execution_options(synchronize_session=False)
            )
        if outcome.mark_fired:
            session.add(
                TimerFiring(
                    **_firing(ar.id, event, now, result, outcome.note, _id_of(renewal), label)
                )
            )
        session.flush()
        savepoint.commit()
        entry |= {
            "outcome": result,
            "renewal_id": _id_of(renewal),
            "state": final.state.value,
            "note": outcome.note,
        }
        return entry
    except IntegrityError as exc:
        savepoint.rollback()
        session.expire_all()
        fired = session.scalar(
            select(TimerFiring.id).where(
                TimerFiring.kind == f"auto_renewal.{event.value}", TimerFiring.subject_id == ar_id
            )
        )
        if fired is not None:
            return None  # another process recorded this firing first: it is theirs
        return _fail(uow, ar_id, event, now, f"the database refused the change ({exc.orig})")
    except (UserFacingError, plugin_mod.PluginFailed, rules.AutoRenewalRefused) as exc:
        savepoint.rollback()
        session.expire_all()
        return _fail(uow, ar_id, event, now, str(exc))
    except DBAPIError:
        raise  # the database went away: the batch rolls back, the next tick retries
    except Exception as exc:
        # A bug must cost one auto-renewal, not stop the timer for everyone.
        log.exception("auto-renewal %s %s failed", ar_id, event.value)
        savepoint.rollback()
        session.expire_all()
        return _fail(uow, ar_id, event, now, f"internal error ({type(exc).__name__}: {exc})")


def _id_of(renewal: Any | None) -> int | None:
    return renewal.id if renewal is not None else None


def _firing(
    ar_id: int,
    event: TriggerEvent,
    now: datetime,
    outcome: str,
    note: str | None,
    renewal: int | None,
    label: str,
) -> dict[str, Any]:
    """The ledger row of a spent trigger (its unique key: kind, auto-renewal, detail)."""
    return {
        "kind": f"auto_renewal.{event.value}",
        "subject_id": ar_id,
        "detail": "",
        "fired_at": now,
        "outcome": outcome,
        "note": note,
        "renewal_id": renewal,
        "process": label,
    }


def _act(
    uow: UnitOfWork,
    ar: AutoRenewal,
    policy: Policy,
    event: TriggerEvent,
    after: AutoRenewalFacts,
    renewal: Renewal | None,
    now: datetime,
    tz: Any,
) -> tuple[AutoRenewalFacts, str, Renewal | None]:
    """Run the event's automatic action through the services."""
    session = uow.session
    if event is TriggerEvent.CREATE:
        existing = session.scalar(
            select(Renewal)
            .where(Renewal.term_id == ar.term_id, Renewal.transaction_state.in_(OPEN_STATES))
            .order_by(Renewal.id)
            .limit(1)
        )
        if existing is not None:
            ars.prepare_adopted_in(uow, existing, after)
            return dataclasses.replace(after, renewal_id=existing.id), "adopted", existing
        term = session.get(Term, ar.term_id)
        assert term is not None
        created = transactions.create_renewal_in(
            uow,
            policy,
            new_end=months_later(term.end_at, after.new_term_months, tz),
            transaction_type=after.transaction_type,
            now=now,
        )
        return dataclasses.replace(after, renewal_id=created.id), "created", created
    assert renewal is not None
    target = TransactionState.ACCEPTED if event is TriggerEvent.ACCEPT else TransactionState.ISSUED
    transactions.advance_in(uow, renewal, target, now=now, action=f"renewal.auto_{event.value}")
    session.refresh(ar)
    return after, target.value, renewal


def _plugin_answer_rows(
    ar_id: int,
    renewal: int | None,
    owner: int | None,
    plugin: str,
    event: TriggerEvent,
    answer: dict[str, Any],
) -> tuple[tuple[str, int], dict[str, list[Any]], dict[str, Any] | None]:
    """A plugin's answer as written down: the subject and changes of its ``plugin.answer``
    audit event (in the renewal's activity, else the auto-renewal's) and, when it stops
    the auto-renewal, the notice to the renewal's owner."""
    subject = ("renewals", renewal) if renewal is not None else ("auto_renewals", ar_id)
    changes = {"plugin": [None, plugin], "event": [None, event.value], "answer": [None, answer]}
    state = answer.get("autoRenewalState")
    notice = None
    if state in ("doNotRenew", "discarded"):
        words = "marked the policy do not renew" if state == "doNotRenew" else "discarded"
        notice = {
            "user_id": owner,
            "renewal_id": renewal,
            "kind": "plugin",
            "message": f"The plugin {plugin} {words} on the {event.value} event.",
        }
    return subject, changes, notice


def _plugin_activity(
    uow: UnitOfWork,
    ar: AutoRenewal,
    renewal: Renewal | None,
    plugin: str,
    event: TriggerEvent,
    answer: dict[str, Any],
) -> None:
    """A plugin's answer, in the renewal's activity (source ``plugin``) and, when it stops
    the auto-renewal, as a notice to the renewal's owner."""
    owner = renewal.next_action_owner_id if renewal else None
    subject, changes, notice = _plugin_answer_rows(
        ar.id, _id_of(renewal), owner, plugin, event, answer
    )
    uow.audit("plugin.answer", *subject, changes, source=AuditSource.PLUGIN)
    if notice is not None:
        uow.session.add(Notice(**notice))


def _error_notice(
    policy: Any, renewal: int | None, owner: int | None, last_error: str | None
) -> dict[str, Any]:
    return {
        "user_id": owner,
        "renewal_id": renewal,
        "kind": "auto_renewal_error",
        "message": f"Auto-renewal of {policy.carrier} policy {policy.policy_number}: {last_error}",
    }


def _fail(
    uow: UnitOfWork, ar_id: int, event: TriggerEvent, now: datetime, reason: str
) -> dict[str, Any]:
    """Put the auto-renewal in error with ``reason``; the event stays pending."""
    session = uow.session
    ar = session.get(AutoRenewal, ar_id, populate_existing=True)
    assert ar is not None
    policy = session.get(Policy, ar.policy_id)
    assert policy is not None
    after = rules.error(ars.facts_of(ar), f"The {event.value} trigger failed: {reason}")
    ars.store(uow, ar, after, "auto_renewal.error")
    renewal = session.get(Renewal, ar.renewal_id) if ar.renewal_id else None
    owner = renewal.next_action_owner_id if renewal else None
    session.add(Notice(**_error_notice(policy, ar.renewal_id, owner, after.last_error)))
    session.flush()
    log.warning("auto-renewal %s %s failed: %s", ar_id, event.value, reason)
    return _entry(ar.id, policy, event, now) | {
        "outcome": "error",
        "renewal_id": ar.renewal_id,
        "state": AutoRenewalState.ERROR.value,
        "note": after.last_error,
    }


# --------------------------------------------------------------------------- together


def _lone_events(session: Any, dues: list[_Due]) -> set[int]:
    """The auto-renewals of the batch to fire together: active, with one event due, and
    with nothing only firing one at a time handles: a card opened by hand to adopt
    (create), other open renewals of the term to invalidate or a renewal of another term
    (issue)."""
    lone = [d for d in dues if len(d.events) == 1 and d.facts.state is AutoRenewalState.ACTIVE]
    if not lone:
        return set()
    terms = {d.facts.term_id for d in lone}
    managed = {d.facts.renewal_id for d in lone if d.facts.renewal_id is not None}
    open_on: dict[int, set[int]] = {}
    found: dict[int, Any] = {}
    for row in session.execute(
        select(Renewal.id, Renewal.term_id, Renewal.transaction_state).where(
            or_(
                and_(Renewal.term_id.in_(terms), Renewal.transaction_state.in_(OPEN_STATES)),
                Renewal.id.in_(managed),
            )
        )
    ):
        found[row.id] = row
        if row.transaction_state in OPEN_STATES:
            open_on.setdefault(row.term_id, set()).add(row.id)
    chosen = set()
    for due in lone:
        facts, event = due.facts, due.events[0]
        renewal = found.get(facts.renewal_id) if facts.renewal_id is not None else None
        others = open_on.get(facts.term_id, set()) - {facts.renewal_id}  # type: ignore[operator]
        if event is _CREATE and renewal is None and others:
            continue  # adopts the card opened by hand
        issuing = event is TriggerEvent.ISSUE and renewal is not None
        if (
            issuing
            and renewal.transaction_state in OPEN_STATES
            and (renewal.term_id != facts.term_id or others)
        ):
            continue  # invalidates the term's other open renewals
        chosen.add(facts.id)  # type: ignore[arg-type]
    return chosen


class _New:
    """Stands for the id of a row that firing inserts, until the write hands out ids."""

    def __init__(self, table: str) -> None:
        self.table = table

    def __repr__(self) -> str:
        return f"<new {self.table}>"


_NEW_RENEWAL, _NEW_TERM, _NEW_AR = _New("renewals"), _New("terms"), _New("auto_renewals")


@dataclass
class _Batch:
    """What firing a run of lone triggers needs, read with one query per table."""

    policies: dict[int, Any]  # policy id → policy row with its account's people and plan
    terms: dict[int, Any]
    latest: dict[int, Any]  # policy id → its latest term
    renewals: dict[int, Any]  # the renewals the auto-renewals manage
    outstanding: dict[int, tuple[str, ...]]  # renewal id → required documents not in
    blocked: set[int]  # policies marked do not renew
    plans: dict[int, Any]


@dataclass
class _Effect:
    """What firing one trigger comes to, worked out before anything is written."""

    due: _Due
    policy: Any
    event: TriggerEvent
    final: AutoRenewalFacts
    action: str  # the audit action of the auto-renewal's last store
    result: str
    note: str | None
    mark_fired: bool
    owner: int | None = None  # the next-action owner of the renewal it manages
    answered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    # The auto-renewal's row as the last store finds it (None: as the batch read it).
    baseline: dict[str, Any] | None = None
    baseline_version: int | None = None
    # Audit events written before the plugins' answers: (action, table, id, changes).
    audits: list[tuple[str, str, Any, dict[str, Any]]] = field(default_factory=list)
    new_renewal: transactions.NewRenewal | None = None
    advanced: tuple[Any, transactions.PlannedAdvance] | None = None  # (renewal, plan)
    new_term: dict[str, Any] | None = None
    new_auto_renewal: dict[str, Any] | None = None


def _fire_together(
    uow: UnitOfWork,
    dues: list[_Due],
    now: datetime,
    tz: Any,
    plugin_set: plugin_mod.PluginSet,
    label: str,
) -> list[dict[str, Any]]:
    """Fire these auto-renewals' lone triggers together (see the module's docstring)."""
    asked: Answers = {}
    session = uow.session
    try:
        with session.begin_nested():
            return _together(uow, dues, now, tz, plugin_set, label, asked)
    except (DBAPIError, StaleDataError) as exc:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            raise
        log.warning(
            "firing %d triggers together failed (%s); firing them one at a time", len(dues), exc
        )
    session.expire_all()
    report = TickReport(now=now)
    for due in dues:
        _fire_row(uow, due, now, tz, plugin_set, label, report, asked)
    return report.actions


def _together(
    uow: UnitOfWork,
    dues: list[_Due],
    now: datetime,
    tz: Any,
    plugin_set: plugin_mod.PluginSet,
    label: str,
    asked: Answers,
) -> list[dict[str, Any]]:
    session = uow.session
    table = AutoRenewal.__table__
    claimed: set[int] = set()
    for event in TriggerEvent:
        ids = [d.facts.id for d in dues if d.events[0] is event]
        if not ids:
            continue
        fired, moment = table.c[f"fired_{event.value}_at"], table.c[f"{event.value}_time"]
        claimed.update(
            session.scalars(
                update(table)
                .where(
                    table.c.id.in_(ids),
                    table.c.state == AutoRenewalState.ACTIVE,
                    fired.is_(None),
                    moment.is_not(None),
                    moment <= now,
                )
                .values({fired: now})
                .returning(table.c.id)
            )
        )
    mine = [d for d in dues if d.facts.id in claimed]
    if not mine:
        return []
    batch = _read_batch(session, mine)
    effects = [_effect(uow, due, batch, now, tz, plugin_set, asked) for due in mine]
    return _write(uow, effects, now, label)


def _read_batch(session: Any, dues: list[_Due]) -> _Batch:
    policy_ids = {d.facts.policy_id for d in dues}
    policies = {
        row.id: row
        for row in session.execute(
            select(
                Policy.id,
                Policy.policy_number,
                Policy.carrier,
                Policy.line_of_business,
                Policy.status,
                Policy.account_id,
                Account.producer_id,
                Account.csr_id,
                Account.auto_renewal_plan_id,
            )
            .join(Account, Account.id == Policy.account_id)
            .where(Policy.id.in_(policy_ids))
        )
    }
    terms: dict[int, Any] = {}
    latest: dict[int, Any] = {}
    for row in session.execute(
        select(Term.id, Term.policy_id, Term.start_at, Term.end_at, Term.premium).where(
            Term.policy_id.in_(policy_ids)
        )
    ):
        terms[row.id] = row
        if row.policy_id not in latest or row.end_at > latest[row.policy_id].end_at:
            latest[row.policy_id] = row
    batch = _Batch(policies, terms, latest, {}, {}, set(), {})
    managed = {d.facts.renewal_id for d in dues if d.facts.renewal_id is not None}
    if managed:
        columns = [c for c in Renewal.__table__.c if c.name not in ("notes", "risk_flags")]
        batch.renewals = {
            row.id: row for row in session.execute(select(*columns).where(Renewal.id.in_(managed)))
        }
    advancing = {
        d.facts.renewal_id
        for d in dues
        if d.events[0] is not _CREATE and d.facts.renewal_id is not None
    }
    if advancing:
        outstanding: dict[int, list[str]] = {}
        for renewal_id, document in session.execute(
            select(DocumentRequirement.renewal_id, DocumentRequirement.document_type)
            .where(
                DocumentRequirement.renewal_id.in_(advancing),
                DocumentRequirement.required.is_(True),
                DocumentRequirement.status.not_in([DocumentStatus.RECEIVED, DocumentStatus.WAIVED]),
            )
            .order_by(DocumentRequirement.id)
        ):
            outstanding.setdefault(renewal_id, []).append(document)
        batch.outstanding = {k: tuple(v) for k, v in outstanding.items()}
    issuing = {d.facts.policy_id for d in dues if d.events[0] is TriggerEvent.ISSUE}
    if issuing:
        states: dict[int, list[AutoRenewalState]] = {}
        for policy_id, state in session.execute(
            select(AutoRenewal.policy_id, AutoRenewal.state).where(
                AutoRenewal.policy_id.in_(issuing)
            )
        ):
            states.setdefault(policy_id, []).append(state)
        batch.blocked = {p for p, found in states.items() if rules.blocks_issue(found)}
        plan_ids = {policies[p].auto_renewal_plan_id for p in issuing} - {None}
        if plan_ids:
            batch.plans = {
                row.id: row
                for row in session.execute(
                    select(*AutoRenewalPlan.__table__.c).where(AutoRenewalPlan.id.in_(plan_ids))
                )
            }
    return batch


def _effect(
    uow: UnitOfWork,
    due: _Due,
    batch: _Batch,
    now: datetime,
    tz: Any,
    plugin_set: plugin_mod.PluginSet,
    asked: Answers,
) -> _Effect:
    """Decide one trigger as :func:`_fire_event` does, without writing anything."""
    before, event = due.facts, due.events[0]
    policy = batch.policies[before.policy_id]
    renewal = batch.renewals.get(before.renewal_id) if before.renewal_id else None
    owner = renewal.next_action_owner_id if renewal else None
    try:
        term = batch.terms[before.term_id]
        answer, answered = _ask_plugins(
            event, before, plugin_set, lambda: (policy, term, renewal), asked
        )
        outcome = rules.apply_plugin_answer(
            event,
            before,
            answer,
            renewal_state=renewal.transaction_state if renewal else None,
            now=now,
            tz=tz,
        )
        effect = _Effect(
            due,
            policy,
            event,
            outcome.done(),
            f"auto_renewal.fire_{event.value}",
            "no_action",
            outcome.note,
            outcome.mark_fired,
            owner,
            answered=answered,
        )
        if outcome.run_action:
            _act_together(uow, effect, outcome.after, renewal, term, batch, now, tz)
        elif not outcome.mark_fired:
            effect.final = dataclasses.replace(effect.final, **{f"fired_{event.value}_at": None})
            pending = "postponed" if effect.final.times.at(event) else "manual"
            effect.result = _STOPPED.get(effect.final.state, pending)
        return effect
    except (UserFacingError, plugin_mod.PluginFailed, rules.AutoRenewalRefused) as exc:
        reason = str(exc)
    except Exception as exc:
        # A bug must cost one auto-renewal, not stop the timer for everyone.
        log.exception("auto-renewal %s %s failed", before.id, event.value)
        reason = f"internal error ({type(exc).__name__}: {exc})"
    after = rules.error(before, f"The {event.value} trigger failed: {reason}")
    log.warning("auto-renewal %s %s failed: %s", before.id, event.value, reason)
    notice = _error_notice(policy, before.renewal_id, owner, after.last_error)
    return _Effect(
        due,
        policy,
        event,
        after,
        "auto_renewal.error",
        "error",
        after.last_error,
        False,
        owner,
        notices=[notice],
    )


def _act_together(
    uow: UnitOfWork,
    effect: _Effect,
    after: AutoRenewalFacts,
    renewal: Any,
    term: Any,
    batch: _Batch,
    now: datetime,
    tz: Any,
) -> None:
    """Work out the event's automatic action as :func:`_act` runs it."""
    due, event, policy = effect.due, effect.event, effect.policy
    effect.final = rules.mark_fired(after, event, now)
    latest = batch.latest[policy.id]
    if event is _CREATE:
        new = transactions.new_renewal(
            uow,
            policy,
            policy,  # the row carries the account's producer and CSR
            latest,
            new_end=months_later(term.end_at, after.new_term_months, tz),
            transaction_type=after.transaction_type,
            now=now,
        )
        effect.new_renewal = new
        effect.final = dataclasses.replace(effect.final, renewal_id=_NEW_RENEWAL)  # type: ignore[arg-type]
        effect.owner = new.values["next_action_owner_id"]
        effect.audits.append(("renewal.create", "renewals", _NEW_RENEWAL, new.changes))
        effect.result = "created"
        return
    target = TransactionState.ACCEPTED if event is TriggerEvent.ACCEPT else TransactionState.ISSUED
    plan = transactions.planned_advance(
        uow,
        renewal,
        policy,
        policy,
        target,
        now=now,
        latest=latest,
        do_not_renew=policy.id in batch.blocked,
        outstanding=batch.outstanding.get(renewal.id, ()),
    )
    effect.result = target.value
    before = due.facts
    read = ars.stored_values(before, due.next_due_at)
    fired = f"fired_{event.value}_at"
    # advance_in reads the auto-renewal again afterwards, with the claim's fired time.
    effect.baseline, effect.baseline_version = read | {fired: now}, due.version
    if not plan.values:
        return
    effect.advanced = (renewal, plan)
    if plan.term is None:
        effect.audits.append((f"renewal.auto_{event.value}", "renewals", renewal.id, plan.changes))
        return
    # Issued: the new term, the renewal, the auto-renewal marked issued, a generated one.
    effect.new_term = plan.term
    effect.audits.append(("term.create", "terms", _NEW_TERM, plan.term_changes or {}))
    effect.audits.append((f"renewal.auto_{event.value}", "renewals", renewal.id, plan.changes))
    try:
        issued = rules.mark_issued(before)
    except rules.AutoRenewalRefused as exc:
        raise RuleViolation(exc.message) from None
    marked = ars.stored_values(issued)
    changes = changes_between(read, marked)
    if changes:
        effect.baseline_version = due.version + 1
    changes.pop("next_due_at", None)
    if changes:
        effect.audits.append(("auto_renewal.issued", "auto_renewals", before.id, changes))
    effect.baseline = marked | {fired: now}
    effect.final = dataclasses.replace(effect.final, state=AutoRenewalState.ISSUED)
    plan_row = batch.plans.get(policy.auto_renewal_plan_id)
    if plan_row is not None and plan_row.generate_auto_renewals:
        new_term = _Term(_NEW_TERM, plan.term["end_at"])
        values, made = ars.new_auto_renewal(policy, new_term, plan_row, tz)
        effect.new_auto_renewal = values
        effect.audits.append(("auto_renewal.create", "auto_renewals", _NEW_AR, made))


@dataclass(frozen=True)
class _Term:
    """The new term an issue creates, as much as its generated auto-renewal needs."""

    id: Any
    end_at: datetime


# The renewal columns advancing it may set (transactions.planned_advance).
_ADVANCED = ("transaction_state", "outcome", "stage_id", "stage_entered_at", "new_term_id")


def _write(
    uow: UnitOfWork, effects: list[_Effect], now: datetime, label: str
) -> list[dict[str, Any]]:
    """Write the effects with one statement per table, rows in the order firing them one
    by one would write them (so ids and the order of audit events are the same)."""
    rows = _Rows(uow.session)
    stamp = datetime.now(UTC)
    new_renewals = iter(rows.new_ids(Renewal.__table__, sum(bool(e.new_renewal) for e in effects)))
    new_terms = iter(rows.new_ids(Term.__table__, sum(bool(e.new_term) for e in effects)))
    new_ars = iter(
        rows.new_ids(AutoRenewal.__table__, sum(bool(e.new_auto_renewal) for e in effects))
    )
    out: dict[str, list[dict[str, Any]]] = {
        name: []
        for name in (
            "renewals",
            "documents",
            "terms",
            "renewal_updates",
            "updates",
            "auto_renewals",
            "firings",
            "notices",
            "audits",
        )
    }
    entries: list[dict[str, Any]] = []
    for effect in effects:
        due = effect.due
        ar_id = due.facts.id
        assert ar_id is not None
        made: dict[_New, int] = {}
        if effect.new_renewal is not None:
            made[_NEW_RENEWAL] = next(new_renewals)
            out["renewals"].append(effect.new_renewal.values | {"id": made[_NEW_RENEWAL]})
            out["documents"] += renewals.checklist_rows(
                uow, made[_NEW_RENEWAL], effect.policy.line_of_business
            )
        if effect.new_term is not None:
            made[_NEW_TERM] = next(new_terms)
            out["terms"].append(effect.new_term | {"id": made[_NEW_TERM]})
        if effect.new_auto_renewal is not None:
            made[_NEW_AR] = next(new_ars)
            values = effect.new_auto_renewal | {"id": made[_NEW_AR]}
            out["auto_renewals"].append(values | {"term_id": made[_NEW_TERM]})

        def known(value: Any, made: dict[_New, int] = made) -> Any:
            return made[value] if isinstance(value, _New) else value

        final = dataclasses.replace(effect.final, renewal_id=known(effect.final.renewal_id))
        if effect.advanced is not None:
            renewal, plan = effect.advanced
            # The same columns on every row (one statement): as read, unless advanced.
            row = {c: getattr(renewal, c) for c in _ADVANCED} | plan.values
            row["new_term_id"] = made.get(_NEW_TERM, renewal.new_term_id)
            out["renewal_updates"].append(
                {"b_id": renewal.id, "b_version": renewal.version, **row}
                | {"version": renewal.version + 1, "updated_at": stamp}
            )
        for action, kind, object_id, changes in effect.audits:
            out["audits"].append(uow.audit_values(action, kind, known(object_id), changes))
        for name, given in effect.answered:
            subject, changes, notice = _plugin_answer_rows(
                ar_id, final.renewal_id, effect.owner, name, effect.event, given
            )
            out["audits"].append(
                uow.audit_values("plugin.answer", *subject, changes, source=AuditSource.PLUGIN)
            )
            if notice is not None:
                out["notices"].append(notice)
        values = ars.stored_values(final)
        baseline = effect.baseline or ars.stored_values(due.facts, due.next_due_at)
        version = due.version if effect.baseline_version is None else effect.baseline_version
        changes = changes_between(baseline, values)
        if changes:
            version += 1
        changes.pop("next_due_at", None)
        if changes:
            out["audits"].append(uow.audit_values(effect.action, "auto_renewals", ar_id, changes))
        # Every claimed row is written: the claim set its fired time already.
        out["updates"].append(
            {"b_id": ar_id, "b_version": due.version, "version": version, **values}
        )
        if effect.mark_fired:
            out["firings"].append(
                _firing(
                    ar_id, effect.event, now, effect.result, effect.note, final.renewal_id, label
                )
            )
        out["notices"] += effect.notices
        entries.append(
            _entry(ar_id, effect.policy, effect.event, now)
            | {
                "outcome": effect.result,
                "renewal_id": final.renewal_id,
                "state": final.state.value,
                "note": effect.note,
            }
        )
    # Parents before children; the auto-renewals that end before those that start (one
    # active auto-renewal per policy).
    rows.insert(Term.__table__, out["terms"])
    rows.insert(Renewal.__table__, out["renewals"])
    rows.insert(DocumentRequirement.__table__, out["documents"])
    rows.update(Renewal.__table__, out["renewal_updates"])
    rows.update(AutoRenewal.__table__, out["updates"])
    rows.insert(AutoRenewal.__table__, out["auto_renewals"])
    rows.insert(TimerFiring.__table__, out["firings"])
    rows.insert(Notice.__table__, out["notices"])
    # Audit events join the hash chain when the batch commits (services.audit).
    audit.add_many(uow.session, out["audits"])
    return entries


class _Rows:
    """Writes many rows of a table at once, in the database's fastest way: executemany on
    SQLite, COPY on PostgreSQL (a multi-row INSERT there spends longer in the driver
    parsing its SQL than the server spends writing).

    Values go through their column type's bind processor (UTC times, money as cents,
    enumeration values, JSON), and columns a row leaves out get their Python-side default,
    as an ORM insert would.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.connection = session.connection()
        self.dialect = self.connection.dialect
        self.postgres = self.dialect.name == "postgresql"

    def new_ids(self, table: Any, count: int) -> list[int]:
        """``count`` fresh primary keys, in order: from the table's sequence on PostgreSQL;
        after the current maximum on SQLite (the write lock is ours)."""
        if count == 0:
            return []
        if self.postgres:
            sql = (
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                "FROM generate_series(1, %s)"
            )
            with self._cursor(sql) as cursor:
                cursor.execute(sql, (count,))
                return [row[0] for row in cursor.fetchall()]
        top = self.session.scalar(select(func.max(table.c.id))) or 0
        return list(range(top + 1, top + 1 + count))

    @contextmanager
    def _cursor(self, statement: str) -> Iterator[Any]:
        """A cursor of the driver's own, whose errors come out as SQLAlchemy's."""
        dbapi = self.dialect.loaded_dbapi
        try:
            with self.connection.connection.driver_connection.cursor() as cursor:
                yield cursor
        except dbapi.Error as exc:
            raise DBAPIError.instance(
                statement, None, exc, dbapi.Error, dialect=self.dialect
            ) from exc

    def _complete(self, table: Any, rows: list[dict[str, Any]]) -> list[str]:
        """Fill in the Python-side defaults the rows leave out; the columns to write."""
        names = list(rows[0])
        for column in table.c:
            default = column.default
            if column.name in rows[0] or default is None:
                continue
            if default.is_callable:
                value = default.arg(None)
            elif default.is_scalar:
                value = default.arg
            else:
                continue
            names.append(column.name)
            for row in rows:
                row[column.name] = value
        return names

    def insert(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        names = self._complete(table, rows)
        if not self.postgres or not provision.copy_allowed(self.connection, table.name):
            # Row security (a shared office's confidential documents) refuses COPY FROM.
            self.session.execute(insert(table), rows)
            return
        convert = [(n, table.c[n].type._cached_bind_processor(self.dialect)) for n in names]
        sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        with self._cursor(sql) as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(
                    [
                        row[n] if process is None or row[n] is None else process(row[n])
                        for n, process in convert
                    ]
                )

    def update(self, table: Any, rows: list[dict[str, Any]]) -> None:
        """Write each row (``b_id``, ``b_version``: which row, as read) with one statement;
        refused as stale when a row changed since it was read."""
        if not rows:
            return
        if not self.postgres:
            result = self.session.execute(
                update(table).where(
                    table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version")
                ),
                rows,
            )
            count = result.rowcount
        else:
            names = [n for n in rows[0] if n not in ("b_id", "b_version")]
            types = {n: table.c[n].type for n in names}
            types |= {"b_id": table.c.id.type, "b_version": table.c.version.type}
            order = ["b_id", "b_version", *names]
            arrays = []
            for n in order:
                process = types[n]._cached_bind_processor(self.dialect)
                values = [r[n] for r in rows]
                if process is not None:
                    values = [None if v is None else process(v) for v in values]
                arrays.append(values)
            casts = ", ".join(f"%s::{types[n].compile(dialect=self.dialect)}[]" for n in order)
            sets = ", ".join(f"{n} = u.{n}" for n in names)
            sql = (
                f"UPDATE {table.name} SET {sets} FROM unnest({casts}) AS u({', '.join(order)}) "
                f"WHERE {table.name}.id = u.b_id AND {table.name}.version = u.b_version"
            )
            with self._cursor(sql) as cursor:
                cursor.execute(sql, arrays)
                count = cursor.rowcount
        if count != len(rows):
            raise StaleDataError(f"a row of {table.name} changed while its trigger fired")


def due_count(db: Database, now: datetime) -> int:
    """How many auto-renewals have a trigger due at ``now`` (for status displays)."""
    with db.read_session() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(AutoRenewal)
                .where(and_(AutoRenewal.next_due_at.is_not(None), AutoRenewal.next_due_at <= now))
            )
            or 0
        )
