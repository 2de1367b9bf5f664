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

On PostgreSQL "now" is the database server's clock, so a desktop whose clock is wrong
fires neither early nor late; on SQLite (one machine) it is this machine's clock.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from desktop_app.db.engine import Database
from desktop_app.db.models import AutoRenewal, Notice, Policy, Renewal, Term, TimerFiring, User
from desktop_app.domain import auto_renewal as rules
from desktop_app.domain.auto_renewal import AutoRenewalFacts, InvalidPluginAnswer, TriggerEvent
from desktop_app.domain.enums import AuditSource, AutoRenewalState, TransactionState
from desktop_app.domain.transactions import OPEN_STATES, months_later
from desktop_app.engine import plugins as plugin_mod
from desktop_app.errors import UserFacingError
from desktop_app.services import agency, transactions
from desktop_app.services import auto_renewals as ars
from desktop_app.services.unit import TIMER_USER, UnitOfWork

log = logging.getLogger("renewal_desk.timer")

BATCH_SQLITE = 50
BATCH_POSTGRES = 100
HOUSEKEEPING_MINUTES = 15
SQLITE_PAUSE_SECONDS = 0.02

_TIME = {e: getattr(AutoRenewal, f"{e.value}_time") for e in TriggerEvent}
_FIRED = {e: getattr(AutoRenewal, f"fired_{e.value}_at") for e in TriggerEvent}


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
        with db.write_session() as session:
            query = (
                select(AutoRenewal.id, *_TIME.values(), *_FIRED.values())
                .where(AutoRenewal.next_due_at <= now)
                .order_by(AutoRenewal.next_due_at, AutoRenewal.id)
                .limit(size)
            )
            if skip:
                query = query.where(AutoRenewal.id.not_in(skip))
            if not db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if not rows:
                return
            uow = _timer_uow(session)
            tz = agency.time_zone(session)
            for row in rows:
                ar_id = row[0]
                skip.add(ar_id)
                times, fired = row[1:4], row[4:7]
                for event, moment, done in zip(TriggerEvent, times, fired, strict=True):
                    if moment is None or moment > now or done is not None:
                        continue  # not due (the claim would refuse it anyway)
                    outcome = _fire_event(uow, ar_id, event, now, tz, plugin_set, label)
                    if outcome is None:
                        continue
                    report.actions.append(outcome)
                    if outcome["outcome"] in ("error", "stopped", "postponed", "manual"):
                        break
            session.commit()


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


def _request_dict(uow: UnitOfWork, facts: AutoRenewalFacts) -> dict[str, Any]:
    """The auto-renewal as the command line shows it, in the plugin's camelCase, plus the
    policy and premiums a plugin needs to decide."""
    data = facts.to_plugin_dict()
    policy = uow.session.get(Policy, facts.policy_id)
    term = uow.session.get(Term, facts.term_id)
    renewal = uow.session.get(Renewal, facts.renewal_id) if facts.renewal_id else None
    assert policy is not None and term is not None
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
    uow: UnitOfWork, event: TriggerEvent, facts: AutoRenewalFacts, plugin_set: Any
) -> tuple[rules.PluginAnswer, list[tuple[str, dict[str, Any]]]]:
    """Call every plugin; merge their checked answers (later plugins win on a key)."""
    merged: dict[str, Any] = {}
    answered: list[tuple[str, dict[str, Any]]] = []
    if not plugin_set.plugins:
        return rules.PluginAnswer(), answered
    request = rules.plugin_request(event, _request_dict(uow, facts))
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


def _fire_event(
    uow: UnitOfWork,
    ar_id: int,
    event: TriggerEvent,
    now: datetime,
    tz: Any,
    plugin_set: plugin_mod.PluginSet,
    label: str,
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
        entry: dict[str, Any] = {
            "auto_renewal_id": ar.id,
            "policy_number": policy.policy_number,
            "carrier": policy.carrier,
            "event": event.value,
            "at": now.isoformat(),
        }
        answer, answered = _ask_plugins(uow, event, before, plugin_set)
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
            result = {
                AutoRenewalState.DISCARDED: "stopped",
                AutoRenewalState.DO_NOT_RENEW: "stopped",
            }.get(final.state, "postponed" if final.times.at(event) else "manual")
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
                    kind=f"auto_renewal.{event.value}",
                    subject_id=ar.id,
                    detail="",
                    fired_at=now,
                    outcome=result,
                    note=outcome.note,
                    renewal_id=renewal.id if renewal else None,
                    process=label,
                )
            )
        session.flush()
        savepoint.commit()
        entry |= {
            "outcome": result,
            "renewal_id": renewal.id if renewal else None,
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
    subject = ("renewals", renewal.id) if renewal else ("auto_renewals", ar.id)
    uow.audit(
        "plugin.answer",
        subject[0],
        subject[1],
        {"plugin": [None, plugin], "event": [None, event.value], "answer": [None, answer]},
        source=AuditSource.PLUGIN,
    )
    state = answer.get("autoRenewalState")
    if state in ("doNotRenew", "discarded"):
        words = "marked the policy do not renew" if state == "doNotRenew" else "discarded"
        uow.session.add(
            Notice(
                user_id=renewal.next_action_owner_id if renewal else None,
                renewal_id=renewal.id if renewal else None,
                kind="plugin",
                message=f"The plugin {plugin} {words} on the {event.value} event.",
            )
        )


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
    session.add(
        Notice(
            user_id=renewal.next_action_owner_id if renewal else None,
            renewal_id=ar.renewal_id,
            kind="auto_renewal_error",
            message=f"Auto-renewal of {policy.carrier} policy {policy.policy_number}: "
            f"{after.last_error}",
        )
    )
    session.flush()
    log.warning("auto-renewal %s %s failed: %s", ar_id, event.value, reason)
    return {
        "auto_renewal_id": ar.id,
        "policy_number": policy.policy_number,
        "carrier": policy.carrier,
        "event": event.value,
        "at": now.isoformat(),
        "outcome": "error",
        "renewal_id": ar.renewal_id,
        "state": AutoRenewalState.ERROR.value,
        "note": after.last_error,
    }


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
