"""Auto-renewal: the rules that let a term renew itself (seed 003, DOMAIN.md).

An account with an auto-renewal plan gets an auto-renewal on each policy's latest term.
The plan's lead days give three trigger times before the term ends::

    create time = term end − create lead days   → open a renewal (or adopt an open one)
    accept time = term end − accept lead days   → advance it to accepted
    issue time  = term end − issue lead days    → advance it to issued (the new term)

Empty lead days make that step manual: it has no trigger time (:func:`trigger_times`).

Firing. At each trigger time, while the auto-renewal is ``active``, the plugin hook is
called *before* the automatic action with :func:`plugin_request`. Its answer is checked
(:func:`validate_plugin_answer`) and applied first; then the action runs if it is still
allowed (:func:`apply_plugin_answer`). Triggers that came due while nobody ran the timer
service fire on the next tick, in the order create, accept, issue (:func:`due_events`).
An event counts as fired once its plugin call finished with the auto-renewal still
active; an event that failed, or that the plugin stopped by answering ``doNotRenew``,
stays pending and fires again when the auto-renewal is reactivated ("resumes at its
next pending trigger time").

Manual work. Advancing a renewal by hand never calls the plugin and never moves a
trigger time. If the renewal was advanced by hand ahead of a trigger, the plugin still
fires at that time but no action happens (:func:`action_needed`). An automatic accept
or issue walks every step the renewal still lacks (draft → quoted → accepted → issued):
the agency chose those times in its plan. A plan that wants a person to accept should
leave both accept *and* issue lead days empty.

States and the operations that move between them (:data:`OPERATIONS`)::

    operation      from                                          to
    do_not_renew   active, error, invalidated                    doNotRenew
    reactivate     doNotRenew, error, invalidated                active   (latest term only)
    discard        active, error, invalidated                    discarded
    mark_issued    active, error, invalidated, terminated,       issued
                   discarded
    terminate      active, error, invalidated                    terminated
    invalidate     active, error                                 invalidated
    error          active                                        error

Do not renew is sticky: only reactivating lifts it. A renewal of the policy cannot be
issued while any of its auto-renewals is ``doNotRenew`` (:func:`blocks_issue`), so such
an auto-renewal is never marked issued, and it is neither discarded, terminated nor
invalidated, which would lift the block by the back door.

The rules work on :class:`AutoRenewalFacts`, a frozen snapshot named after the columns of
the ``auto_renewals`` table; each operation returns a new snapshot, and
:func:`changed_fields` lists what to write and audit.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import Enum, StrEnum
from itertools import pairwise
from typing import Final

from desktop_app.domain.enums import AutoRenewalState, TransactionState
from desktop_app.domain.transactions import (
    ENDING_STATES,
    RuleRefused,
    days_before,
    format_moment,
    require_aware,
)

__all__ = [
    "ANSWER_KEYS",
    "KEEP",
    "MAX_TERM_MONTHS",
    "MAX_TRANSACTION_TYPE_LENGTH",
    "OPERATIONS",
    "PLUGIN_STATES",
    "AutoRenewalFacts",
    "AutoRenewalRefused",
    "EventOutcome",
    "InvalidPluginAnswer",
    "Keep",
    "Operation",
    "PluginAnswer",
    "TriggerEvent",
    "TriggerTimes",
    "action_needed",
    "allowed_operations",
    "apply_plugin_answer",
    "blocks_issue",
    "changed_fields",
    "check_plan_settings",
    "discard",
    "do_not_renew",
    "due_events",
    "edit",
    "error",
    "event_target",
    "fires_plugins",
    "invalidate",
    "mark_fired",
    "mark_issued",
    "next_due_time",
    "plugin_request",
    "reactivate",
    "terminate",
    "trigger_times",
    "validate_plugin_answer",
]

_A = AutoRenewalState
_T = TransactionState

MAX_TERM_MONTHS: Final = 120
"""Longest new term a plan, an edit or a plugin may ask for (ten years)."""

MAX_TRANSACTION_TYPE_LENGTH: Final = 40
"""Longest transaction type name (the width of the column that stores it)."""


class AutoRenewalRefused(RuleRefused):
    """An operation on an auto-renewal is not allowed in its state; one sentence says why."""


class InvalidPluginAnswer(ValueError):
    """The plugin answered something that is not a valid answer; names the key at fault."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Keep(Enum):
    """Marker meaning "leave this setting as it is", unlike ``None`` (which clears a time)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


# --------------------------------------------------------------------------- trigger times


class TriggerEvent(StrEnum):
    """The three trigger events, declared in the order they fire."""

    CREATE = "create"
    ACCEPT = "accept"
    ISSUE = "issue"


@dataclass(frozen=True)
class TriggerTimes:
    """When each step fires, as aware UTC datetimes; ``None`` means the step is manual."""

    create: datetime | None = None
    accept: datetime | None = None
    issue: datetime | None = None

    def __post_init__(self) -> None:
        for event in TriggerEvent:
            moment = getattr(self, event.value)
            if moment is not None:
                require_aware(moment, f"{event.value} time")

    def at(self, event: TriggerEvent) -> datetime | None:
        """The time of ``event`` (``None``: manual)."""
        return getattr(self, TriggerEvent(event).value)

    def __iter__(self) -> Iterator[tuple[TriggerEvent, datetime | None]]:
        """``(event, time)`` pairs in firing order."""
        return ((event, self.at(event)) for event in TriggerEvent)


def _check_lead_days(value: int | None, what: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} lead days must be a whole number or None")
    if value < 0:
        raise ValueError(f"{what} lead days cannot be negative")


def trigger_times(
    term_end: datetime,
    create_lead_days: int | None,
    accept_lead_days: int | None,
    issue_lead_days: int | None,
    *,
    tz: tzinfo,
) -> TriggerTimes:
    """The trigger times of a term ending at ``term_end``: term end minus each lead days.

    Lead days are counted on the wall clock of ``tz``, the agency's time zone (a
    :class:`zoneinfo.ZoneInfo`): "45 days before a term that ends at 12:01 AM" is 12:01
    AM local time, 45 days earlier, even when daylight saving began or ended in between.
    That is what a CSR reading the plan expects, and it keeps every trigger at the same
    local hour whatever the season. (Subtracting 45 × 24 hours in UTC would land an hour
    off after a DST change, which can move a trigger to the previous day.) The results
    are aware UTC datetimes, as the database stores them. ``None`` lead days give
    ``None``: that step is manual.
    """
    require_aware(term_end, "term end")
    leads = {
        TriggerEvent.CREATE: create_lead_days,
        TriggerEvent.ACCEPT: accept_lead_days,
        TriggerEvent.ISSUE: issue_lead_days,
    }
    times: dict[str, datetime | None] = {}
    for event, lead in leads.items():
        _check_lead_days(lead, event.value)
        times[event.value] = None if lead is None else days_before(term_end, lead, tz)
    return TriggerTimes(**times)


def due_events(
    times: TriggerTimes, fired: Collection[TriggerEvent], now: datetime
) -> list[TriggerEvent]:
    """The events to fire at ``now``: time set, time ≤ ``now``, not fired yet; in order.

    The order is always create, accept, issue, whatever the times say, so a timer service
    that was off for a week fires a missed create before a missed accept.
    """
    require_aware(now, "now")
    return [
        event
        for event, moment in times
        if moment is not None and moment <= now and event not in fired
    ]


def next_due_time(times: TriggerTimes, fired: Collection[TriggerEvent]) -> datetime | None:
    """The earliest time among the events not fired yet (``None``: nothing pending).

    The timer service sleeps until then (a single-shot timer recomputed after each tick).
    """
    pending = [moment for event, moment in times if moment is not None and event not in fired]
    return min(pending, default=None)


def fires_plugins(state: AutoRenewalState) -> bool:
    """True when an auto-renewal in ``state`` fires its triggers (and so calls the plugin).

    Only ``active`` does. ``terminated`` and ``discarded`` never call a plugin again; the
    others (``doNotRenew``, ``error``, ``invalidated``) wait to be reactivated, and
    ``issued`` is done.
    """
    return AutoRenewalState(state) is _A.ACTIVE


def blocks_issue(states: Collection[AutoRenewalState]) -> bool:
    """True when the policy whose auto-renewals are in ``states`` is marked do not renew."""
    return any(AutoRenewalState(state) is _A.DO_NOT_RENEW for state in states)


def check_plan_settings(
    create_lead_days: int | None,
    accept_lead_days: int | None,
    issue_lead_days: int | None,
    new_term_months: int,
) -> None:
    """Refuse an auto-renewal plan whose steps would fire out of order, or a bad duration.

    Lead days count back from the term end, so a later step has *fewer* lead days:
    create ≥ accept ≥ issue (equal lead days fire in order on the same tick).
    """
    leads = (
        ("create", create_lead_days),
        ("accept", accept_lead_days),
        ("issue", issue_lead_days),
    )
    for name, value in leads:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise AutoRenewalRefused(
                f"The {name} lead days must be a whole number of days, zero or more."
            )
    done = {"create": "created", "accept": "accepted", "issue": "issued"}
    given = [(name, value) for name, value in leads if value is not None]
    for (early, early_days), (late, late_days) in pairwise(given):
        if late_days > early_days:
            raise AutoRenewalRefused(
                f"The {late} lead days ({late_days}) cannot be more than the {early} lead "
                f"days ({early_days}): a renewal cannot be {done[late]} before it is "
                f"{done[early]}."
            )
    _check_months(new_term_months, AutoRenewalRefused, "The new term")


# --------------------------------------------------------------------------- the snapshot


@dataclass(frozen=True)
class AutoRenewalFacts:
    """One auto-renewal as the rules see it. Field names are the table's column names."""

    state: AutoRenewalState = _A.ACTIVE
    transaction_type: str = "renewal"
    new_term_months: int = 12
    create_time: datetime | None = None
    accept_time: datetime | None = None
    issue_time: datetime | None = None
    fired_create_at: datetime | None = None
    fired_accept_at: datetime | None = None
    fired_issue_at: datetime | None = None
    last_error: str | None = None
    id: int | None = None
    policy_id: int | None = None
    term_id: int | None = None
    renewal_id: int | None = None

    @property
    def times(self) -> TriggerTimes:
        return TriggerTimes(self.create_time, self.accept_time, self.issue_time)

    @property
    def fired(self) -> frozenset[TriggerEvent]:
        """The events that have fired."""
        return frozenset(e for e in TriggerEvent if getattr(self, f"fired_{e.value}_at"))

    def with_times(self, times: TriggerTimes) -> AutoRenewalFacts:
        return dataclasses.replace(
            self, create_time=times.create, accept_time=times.accept, issue_time=times.issue
        )

    def to_plugin_dict(self) -> dict[str, object]:
        """The whole auto-renewal as the plugin sees it (JSON-ready; times in ISO 8601)."""

        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.astimezone(UTC).isoformat()

        return {
            "id": self.id,
            "policyId": self.policy_id,
            "termId": self.term_id,
            "renewalId": self.renewal_id,
            "autoRenewalState": self.state.value,
            "renewalTransactionType": self.transaction_type,
            "newTermDuration": self.new_term_months,
            "renewalTransactionCreateTime": iso(self.create_time),
            "renewalTransactionAcceptTime": iso(self.accept_time),
            "renewalTransactionIssueTime": iso(self.issue_time),
            "firedTimes": {
                e.value: iso(getattr(self, f"fired_{e.value}_at")) for e in TriggerEvent
            },
            "lastError": self.last_error,
        }


def changed_fields(
    before: AutoRenewalFacts, after: AutoRenewalFacts
) -> dict[str, tuple[object, object]]:
    """``{column: (old, new)}`` for every field that differs, in declaration order."""
    return {
        f.name: (getattr(before, f.name), getattr(after, f.name))
        for f in dataclasses.fields(AutoRenewalFacts)
        if getattr(before, f.name) != getattr(after, f.name)
    }


def mark_fired(facts: AutoRenewalFacts, event: TriggerEvent, now: datetime) -> AutoRenewalFacts:
    """Record that ``event`` fired at ``now``."""
    require_aware(now, "now")
    return dataclasses.replace(facts, **{f"fired_{TriggerEvent(event).value}_at": now})


# --------------------------------------------------------------------------- operations


class Operation(StrEnum):
    """What may happen to an auto-renewal, by a person, the timer service or a plugin."""

    DO_NOT_RENEW = "do_not_renew"
    REACTIVATE = "reactivate"
    DISCARD = "discard"
    MARK_ISSUED = "mark_issued"
    TERMINATE = "terminate"
    INVALIDATE = "invalidate"
    ERROR = "error"


# operation → (the states it may start from, the state it leads to)
OPERATIONS: Mapping[Operation, tuple[frozenset[AutoRenewalState], AutoRenewalState]] = {
    Operation.DO_NOT_RENEW: (frozenset({_A.ACTIVE, _A.ERROR, _A.INVALIDATED}), _A.DO_NOT_RENEW),
    Operation.REACTIVATE: (frozenset({_A.DO_NOT_RENEW, _A.ERROR, _A.INVALIDATED}), _A.ACTIVE),
    Operation.DISCARD: (frozenset({_A.ACTIVE, _A.ERROR, _A.INVALIDATED}), _A.DISCARDED),
    Operation.MARK_ISSUED: (
        frozenset({_A.ACTIVE, _A.ERROR, _A.INVALIDATED, _A.TERMINATED, _A.DISCARDED}),
        _A.ISSUED,
    ),
    Operation.TERMINATE: (frozenset({_A.ACTIVE, _A.ERROR, _A.INVALIDATED}), _A.TERMINATED),
    Operation.INVALIDATE: (frozenset({_A.ACTIVE, _A.ERROR}), _A.INVALIDATED),
    Operation.ERROR: (frozenset({_A.ACTIVE}), _A.ERROR),
}

_STATE_WORDS: dict[AutoRenewalState, str] = {
    _A.ACTIVE: "active",
    _A.ISSUED: "issued",
    _A.DO_NOT_RENEW: "marked do not renew",
    _A.TERMINATED: "terminated",
    _A.DISCARDED: "discarded",
    _A.ERROR: "in error",
    _A.INVALIDATED: "invalidated",
}

_OPERATION_WORDS: dict[Operation, str] = {
    Operation.DO_NOT_RENEW: "marked do not renew",
    Operation.REACTIVATE: "reactivated",
    Operation.DISCARD: "discarded",
    Operation.MARK_ISSUED: "marked issued",
    Operation.TERMINATE: "terminated",
    Operation.INVALIDATE: "invalidated",
    Operation.ERROR: "put in error",
}

# A hint added to a refusal, when there is a useful next step.
_HINTS: dict[tuple[Operation, AutoRenewalState], str] = {
    (Operation.DISCARD, _A.DO_NOT_RENEW): "reactivate it first to lift do not renew",
    (Operation.TERMINATE, _A.DO_NOT_RENEW): "only reactivating lifts do not renew",
    (Operation.INVALIDATE, _A.DO_NOT_RENEW): "only reactivating lifts do not renew",
    (Operation.MARK_ISSUED, _A.DO_NOT_RENEW): "no renewal of its policy may be issued",
}


def allowed_operations(state: AutoRenewalState) -> frozenset[Operation]:
    """The operations an auto-renewal in ``state`` allows (before per-operation checks)."""
    state = AutoRenewalState(state)
    return frozenset(op for op, (sources, _) in OPERATIONS.items() if state in sources)


def _move(facts: AutoRenewalFacts, op: Operation, **more: object) -> AutoRenewalFacts:
    sources, target = OPERATIONS[op]
    state = AutoRenewalState(facts.state)
    if state not in sources:
        if state is target:
            raise AutoRenewalRefused(f"The auto-renewal is already {_STATE_WORDS[state]}.")
        hint = _HINTS.get((op, state))
        raise AutoRenewalRefused(
            f"An auto-renewal that is {_STATE_WORDS[state]} cannot be {_OPERATION_WORDS[op]}"
            + (f": {hint}." if hint else ".")
        )
    return dataclasses.replace(facts, state=target, **more)  # type: ignore[arg-type]


def do_not_renew(facts: AutoRenewalFacts) -> AutoRenewalFacts:
    """Mark the policy do not renew: no renewal of it may be issued until reactivated."""
    return _move(facts, Operation.DO_NOT_RENEW)


def reactivate(
    facts: AutoRenewalFacts,
    *,
    on_latest_term: bool,
    renewal_state: TransactionState | None = None,
    policy_cancelled: bool = False,
) -> AutoRenewalFacts:
    """Make the auto-renewal active again (lifting do not renew, clearing an error).

    Only the policy's latest term may have an active auto-renewal; a cancelled policy's
    auto-renewal stays as it is; and the renewal it manages (``renewal_state``, ``None``
    when it has none yet) must still be open. It resumes at its next pending trigger:
    triggers already due fire on the next tick. The last error is cleared.
    """
    after = _move(facts, Operation.REACTIVATE, last_error=None)
    if not on_latest_term:
        raise AutoRenewalRefused(
            "Only the auto-renewal of the policy's latest term can be reactivated."
        )
    if policy_cancelled:
        raise AutoRenewalRefused("The auto-renewal of a cancelled policy cannot be reactivated.")
    if renewal_state is not None and TransactionState(renewal_state).is_terminal:
        raise AutoRenewalRefused(
            "The auto-renewal cannot be reactivated because its renewal is "
            f"{TransactionState(renewal_state).value}."
        )
    return after


def discard(facts: AutoRenewalFacts) -> AutoRenewalFacts:
    """Switch the auto-renewal off for good: no more triggers or plugin calls."""
    return _move(facts, Operation.DISCARD)


def mark_issued(facts: AutoRenewalFacts) -> AutoRenewalFacts:
    """A renewal of the auto-renewal's term was issued (automatically or by hand).

    Call it *before* invalidating the term's other open renewals, so an auto-renewal
    whose own renewal is invalidated by the issue ends ``issued``, not ``terminated``.
    """
    return _move(facts, Operation.MARK_ISSUED)


def terminate(facts: AutoRenewalFacts, renewal_state: TransactionState) -> AutoRenewalFacts:
    """The renewal the auto-renewal manages ended without a new term: stop for good.

    ``renewal_state`` must be discarded, rejected, refused or invalidated.
    """
    renewal_state = TransactionState(renewal_state)
    after = _move(facts, Operation.TERMINATE)
    if renewal_state not in ENDING_STATES:
        raise AutoRenewalRefused(
            "The auto-renewal is terminated only when its renewal is discarded, rejected, "
            f"refused or invalidated, and its renewal is {renewal_state.value}."
        )
    return after


def invalidate(facts: AutoRenewalFacts) -> AutoRenewalFacts:
    """The policy was cancelled. The managed renewal is reset to draft, not invalidated
    (:func:`desktop_app.domain.transactions.state_after_cancellation`)."""
    return _move(facts, Operation.INVALIDATE)


def error(facts: AutoRenewalFacts, reason: str) -> AutoRenewalFacts:
    """The auto-renewal cannot advance (a plugin failed, an action was refused).

    ``reason`` is kept as the last error, for the person who edits and reactivates it.
    """
    reason = " ".join(str(reason).split())
    if not reason:
        raise ValueError("an auto-renewal error needs a reason")
    return _move(facts, Operation.ERROR, last_error=reason)


def _check_months(value: object, exc: type[Exception], what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TERM_MONTHS:
        raise exc(f"{what} must be a whole number of months from 1 to {MAX_TERM_MONTHS}.")
    return value


def _check_type(value: object, exc: type[Exception], what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise exc(f"{what} must be a non-empty text.")
    if len(value.strip()) > MAX_TRANSACTION_TYPE_LENGTH:
        raise exc(f"{what} must be at most {MAX_TRANSACTION_TYPE_LENGTH} characters.")
    return value.strip()


def edit(
    facts: AutoRenewalFacts,
    *,
    transaction_type: str | Keep = KEEP,
    new_term_months: int | Keep = KEEP,
    create_time: datetime | Keep | None = KEEP,
    accept_time: datetime | Keep | None = KEEP,
    issue_time: datetime | Keep | None = KEEP,
) -> AutoRenewalFacts:
    """Change an auto-renewal's settings by hand (``KEEP`` leaves one as it is).

    Allowed while it can still act: active, marked do not renew, in error or invalidated.
    A time set to ``None`` makes that step manual. Changing the time of an event that
    has already fired does not make it fire again. Times are stored in UTC.
    """
    state = AutoRenewalState(facts.state)
    if state in (_A.ISSUED, _A.TERMINATED, _A.DISCARDED):
        raise AutoRenewalRefused(
            f"An auto-renewal that is {_STATE_WORDS[state]} can no longer be changed."
        )
    changes: dict[str, object] = {}
    if transaction_type is not KEEP:
        changes["transaction_type"] = _check_type(
            transaction_type, AutoRenewalRefused, "The transaction type"
        )
    if new_term_months is not KEEP:
        changes["new_term_months"] = _check_months(
            new_term_months, AutoRenewalRefused, "The new term"
        )
    for name, value in (
        ("create_time", create_time),
        ("accept_time", accept_time),
        ("issue_time", issue_time),
    ):
        if value is KEEP:
            continue
        if value is not None:
            value = require_aware(value, name.replace("_", " ")).astimezone(UTC)
        changes[name] = value
    return dataclasses.replace(facts, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the plugin

ANSWER_KEYS: tuple[str, ...] = (
    "autoRenewalState",
    "renewalTransactionType",
    "newTermDuration",
    "renewalTransactionCreateTime",
    "renewalTransactionAcceptTime",
    "renewalTransactionIssueTime",
)
"""Every key a plugin may answer with; any other key makes the answer invalid."""

PLUGIN_STATES: frozenset[AutoRenewalState] = frozenset({_A.ACTIVE, _A.DO_NOT_RENEW, _A.DISCARDED})
"""The states a plugin may put its auto-renewal in."""

_TIME_KEYS: dict[str, str] = {
    "renewalTransactionCreateTime": "create_time",
    "renewalTransactionAcceptTime": "accept_time",
    "renewalTransactionIssueTime": "issue_time",
}


@dataclass(frozen=True)
class PluginAnswer:
    """A checked plugin answer. ``KEEP``: the plugin did not mention the setting.

    A time of ``None`` (the plugin answered ``null``) makes that step manual. A
    ``newTermDuration`` of ``null`` keeps the current duration.
    """

    state: AutoRenewalState | Keep = KEEP
    transaction_type: str | Keep = KEEP
    new_term_months: int | Keep = KEEP
    create_time: datetime | Keep | None = KEEP
    accept_time: datetime | Keep | None = KEEP
    issue_time: datetime | Keep | None = KEEP

    def time_of(self, event: TriggerEvent) -> datetime | Keep | None:
        return getattr(self, f"{TriggerEvent(event).value}_time")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_time(key: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPluginAnswer(
            f"The plugin's {key} must be an ISO 8601 date and time text or null, "
            f"not {_shown(value)}."
        )
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidPluginAnswer(
            f"The plugin's {key} ({_shown(value)}) is not an ISO 8601 date and time."
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidPluginAnswer(
            f"The plugin's {key} ({_shown(value)}) needs a UTC offset, "
            "such as 2026-05-01T00:00:00-04:00 or …Z."
        )
    return moment.astimezone(UTC)


def validate_plugin_answer(answer: object) -> PluginAnswer:
    """Check what a plugin answered and turn it into a :class:`PluginAnswer`.

    The answer must be a dict whose keys are among :data:`ANSWER_KEYS` (each optional):

    * ``autoRenewalState``: "active", "doNotRenew" or "discarded";
    * ``renewalTransactionType``: a non-empty text (at most 40 characters);
    * ``newTermDuration``: a whole number of months from 1 to 120, or null (keep);
    * ``renewalTransactionCreateTime`` / ``…AcceptTime`` / ``…IssueTime``: an ISO 8601
      date and time *with* a UTC offset, or null (that step becomes manual).

    Anything else raises :class:`InvalidPluginAnswer` with a sentence naming the key.
    """
    if not isinstance(answer, dict):
        raise InvalidPluginAnswer(
            f"The plugin's answer must be an object of settings, not {type(answer).__name__}."
        )
    unknown = [key for key in answer if key not in ANSWER_KEYS]
    if unknown:
        names = ", ".join(sorted(_shown(key) for key in unknown))
        plural = "keys" if len(unknown) > 1 else "key"
        raise InvalidPluginAnswer(f"The plugin's answer has the unknown {plural} {names}.")
    fields: dict[str, object] = {}
    if "autoRenewalState" in answer:
        value = answer["autoRenewalState"]
        allowed = ", ".join(sorted(s.value for s in PLUGIN_STATES))
        if not isinstance(value, str) or value not in {s.value for s in PLUGIN_STATES}:
            raise InvalidPluginAnswer(
                f"The plugin's autoRenewalState must be one of {allowed}, not {_shown(value)}."
            )
        fields["state"] = AutoRenewalState(value)
    if "renewalTransactionType" in answer:
        fields["transaction_type"] = _check_type(
            answer["renewalTransactionType"],
            InvalidPluginAnswer,
            "The plugin's renewalTransactionType",
        )
    if "newTermDuration" in answer and answer["newTermDuration"] is not None:
        fields["new_term_months"] = _check_months(
            answer["newTermDuration"], InvalidPluginAnswer, "The plugin's newTermDuration"
        )
    for key, name in _TIME_KEYS.items():
        if key in answer:
            fields[name] = _parse_time(key, answer[key])
    return PluginAnswer(**fields)  # type: ignore[arg-type]


def plugin_request(event: TriggerEvent, auto_renewal: Mapping[str, object]) -> dict[str, object]:
    """What the plugin hook receives: ``{"renewalEvent": …, "autoRenewal": {…}}``.

    ``auto_renewal`` is the whole auto-renewal as the plugin sees it (see
    :meth:`AutoRenewalFacts.to_plugin_dict`); it is copied, so a plugin that scribbles on
    its request cannot change ours.
    """
    return {
        "renewalEvent": TriggerEvent(event).value,
        "autoRenewal": copy.deepcopy(dict(auto_renewal)),
    }


def event_target(event: TriggerEvent) -> TransactionState:
    """The transaction state the event's action brings the renewal to."""
    return {
        TriggerEvent.CREATE: _T.DRAFT,
        TriggerEvent.ACCEPT: _T.ACCEPTED,
        TriggerEvent.ISSUE: _T.ISSUED,
    }[TriggerEvent(event)]


def action_needed(event: TriggerEvent, renewal_state: TransactionState | None) -> bool:
    """True when the event's automatic action has something to do.

    ``renewal_state`` is the state of the renewal the auto-renewal manages, ``None`` when
    it has none. *create* acts only when there is no renewal yet (if an open renewal of
    the term exists, the caller adopts it instead). *accept* acts on a draft or quoted
    renewal; *issue* on a draft, quoted or accepted one. A renewal advanced by hand to or
    past the event's step, or already ended, needs nothing: the plugin still fired.
    """
    event = TriggerEvent(event)
    if event is TriggerEvent.CREATE:
        return renewal_state is None
    if renewal_state is None:
        return False
    renewal_state = TransactionState(renewal_state)
    if renewal_state.is_terminal:
        return False
    order = (_T.DRAFT, _T.QUOTED, _T.ACCEPTED, _T.ISSUED)
    return order.index(renewal_state) < order.index(event_target(event))


@dataclass(frozen=True)
class EventOutcome:
    """What a fired trigger comes to, once the plugin's answer is applied.

    ``after`` is the auto-renewal with the answer applied. ``run_action`` says whether the
    caller should now create, accept or issue the renewal. ``mark_fired`` says whether the
    event is spent (it is not when the plugin postponed it, made it manual or stopped the
    auto-renewal). ``note`` says in one sentence why no action runs (``None`` when it does).
    The caller stores :meth:`done` when the action succeeded or none was needed, and
    :meth:`failed` when the action failed.
    """

    event: TriggerEvent
    before: AutoRenewalFacts
    after: AutoRenewalFacts
    run_action: bool
    mark_fired: bool
    now: datetime
    note: str | None = None

    def done(self) -> AutoRenewalFacts:
        """The auto-renewal to store: ``after``, with the event marked fired if it is spent."""
        return mark_fired(self.after, self.event, self.now) if self.mark_fired else self.after

    def failed(self, reason: str) -> AutoRenewalFacts:
        """The auto-renewal to store when the action failed: in error, the event pending.

        The event is not marked fired, so it fires again once the auto-renewal is edited
        and reactivated.
        """
        return error(self.after, reason)

    @property
    def changes(self) -> dict[str, tuple[object, object]]:
        """``{column: (old, new)}`` between ``before`` and :meth:`done`."""
        return changed_fields(self.before, self.done())


def _no_action_note(event: TriggerEvent, renewal_state: TransactionState | None) -> str:
    if event is TriggerEvent.CREATE:
        return "The auto-renewal already has a renewal, so no new one was created."
    if renewal_state is None:
        return f"There is no renewal to {event.value}, so nothing was done."
    state = TransactionState(renewal_state).value
    return f"The renewal is already {state}, so the {event.value} trigger did nothing."


_ANSWER_SETTINGS = (
    "transaction_type",
    "new_term_months",
    "create_time",
    "accept_time",
    "issue_time",
)


def apply_plugin_answer(
    event: TriggerEvent,
    facts: AutoRenewalFacts,
    answer: PluginAnswer,
    *,
    renewal_state: TransactionState | None,
    now: datetime,
    tz: tzinfo = UTC,
) -> EventOutcome:
    """Apply the plugin's answer to a firing ``event``, then decide whether the action runs.

    The answer comes first: its settings replace the auto-renewal's, and its state moves
    the auto-renewal (to do not renew or discarded) by the usual rules. The action then
    runs only if it is still allowed:

    * the auto-renewal must still be active: ``discarded`` on the create event means no
      renewal is created; ``doNotRenew`` stops here and leaves the event pending, so it
      fires again once someone reactivates the auto-renewal;
    * the event must still be due: an answer that moves this event's own time later than
      ``now`` postpones it (it fires again then), and one that clears it makes the step
      manual;
    * the renewal must need it (:func:`action_needed`): after a manual advance ahead of
      the trigger the plugin has fired but nothing happens.

    ``renewal_state`` is the state of the renewal the auto-renewal manages (``None``: it
    has none). ``tz`` only decides how a time reads in the note. Only an active
    auto-renewal fires (:func:`fires_plugins`); anything else is refused.
    """
    event = TriggerEvent(event)
    require_aware(now, "now")
    if not fires_plugins(facts.state):
        raise AutoRenewalRefused(
            f"An auto-renewal that is {_STATE_WORDS[AutoRenewalState(facts.state)]} "
            "does not fire its triggers."
        )
    settings = {
        name: getattr(answer, name)
        for name in _ANSWER_SETTINGS
        if getattr(answer, name) is not KEEP
    }
    after = dataclasses.replace(facts, **settings)
    if answer.state is _A.DO_NOT_RENEW:
        after = do_not_renew(after)
    elif answer.state is _A.DISCARDED:
        after = discard(after)

    def outcome(run: bool, spent: bool, note: str | None) -> EventOutcome:
        return EventOutcome(event, facts, after, run, spent, now, note)

    if after.state is _A.DISCARDED:
        what = "no renewal was created" if event is TriggerEvent.CREATE else "nothing was done"
        return outcome(False, False, f"The plugin discarded the auto-renewal, so {what}.")
    if after.state is _A.DO_NOT_RENEW:
        return outcome(
            False, False, "The plugin marked the policy do not renew, so nothing was done."
        )
    moment = after.times.at(event)
    if moment is None:
        return outcome(
            False, False, f"The plugin made the {event.value} step manual, so nothing was done."
        )
    if moment > now:
        when = format_moment(moment, tz)
        return outcome(False, False, f"The plugin postponed the {event.value} step to {when}.")
    if not action_needed(event, renewal_state):
        return outcome(False, True, _no_action_note(event, renewal_state))
    return outcome(True, True, None)
