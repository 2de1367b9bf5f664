"""The renewal transaction: its state machine, the new term's dates, and when it may issue.

A renewal extends a policy by creating a new term (seed 003). The transaction that does
it moves through::

    draft ──quote──▶ quoted ──accept──▶ accepted ──issue──▶ issued   (creates the new term)
      ▲                 │                   │
      └─────reset───────┴───────────────────┘

and any open renewal (draft, quoted or accepted) may instead end *without* a new term:

* **discarded**   – the agency threw the renewal away (a duplicate, opened by mistake);
* **rejected**    – the carrier or the agency declined to renew ("Non-renewed" stage);
* **refused**     – the insured declined or moved elsewhere ("Lost" stage);
* **invalidated** – the system closed it: another renewal of the same term was issued.

Issued and the four endings are terminal: nothing leaves them. Steps are never skipped:
a draft is quoted before it is accepted, and accepted before it is issued (the timer
service walks the steps one by one with :func:`advance_path`). *Reset* takes a quoted or
accepted renewal back to draft; it is what happens to a renewal managed by an
auto-renewal when its policy is cancelled (:func:`state_after_cancellation`).

Dates. The new term starts where the current one ends, unless the renewal has an
effective time *after* the current end: that is a renewal with a gap, the new term starts
at the effective time and no term covers the gap. The new end must be strictly after the
policy's current end (:func:`check_new_end`, :func:`new_term_bounds`).

Issuing. No renewal of a policy is issued while an auto-renewal of that policy is marked
do not renew, nor on a cancelled policy (:func:`check_issue_allowed`). When one renewal of
a term is issued, the other open renewals of that term are invalidated
(:func:`state_after_sibling_issued`).

Calendar arithmetic (:func:`months_later`, :func:`days_before`) works on the wall clock of
a time zone, normally the agency's: a twelve-month term that ends at midnight in New York
ends at midnight in New York a year later, whatever daylight saving did in between.
Every time here is an aware :class:`~datetime.datetime`; naive times are a programming
error and raise :class:`ValueError`.

Refusals raise a subclass of :class:`RuleRefused` whose message is one plain sentence for
the person at the keyboard; the services turn it into their own user-facing error.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from desktop_app.domain.enums import TransactionState

__all__ = [
    "ADVANCE_ORDER",
    "ENDING_STATES",
    "OPEN_STATES",
    "IssueRefused",
    "RuleRefused",
    "TermDatesRefused",
    "TransitionKind",
    "TransitionRefused",
    "advance_path",
    "allowed_transitions",
    "check_issue_allowed",
    "check_new_end",
    "check_transition",
    "days_before",
    "format_moment",
    "is_advancing",
    "is_transition_allowed",
    "months_later",
    "new_term_bounds",
    "require_aware",
    "state_after_cancellation",
    "state_after_sibling_issued",
    "transition_kind",
]

_S = TransactionState


# --------------------------------------------------------------------------- refusals


class RuleRefused(Exception):
    """A business rule of the domain refused something; ``message`` is one sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TransitionRefused(RuleRefused):
    """The renewal transaction cannot move from its state to the one asked for."""


class TermDatesRefused(RuleRefused):
    """The renewal's effective time or new end does not make a valid new term."""


class IssueRefused(RuleRefused):
    """The renewal may not be issued now (do not renew, cancelled policy)."""


# --------------------------------------------------------------------------- the state machine


class TransitionKind(StrEnum):
    """What a transition does to a renewal."""

    ADVANCING = "advancing"  # quote, accept, issue: one step towards the new term
    RESET = "reset"  # back to draft (quoted or accepted → draft)
    TERMINAL = "terminal"  # ends the renewal without a new term


OPEN_STATES: tuple[TransactionState, ...] = (_S.DRAFT, _S.QUOTED, _S.ACCEPTED)
"""States a renewal can still move from, in pipeline order."""

ADVANCE_ORDER: tuple[TransactionState, ...] = (_S.DRAFT, _S.QUOTED, _S.ACCEPTED, _S.ISSUED)
"""The road to a new term, one step at a time."""

ENDING_STATES: tuple[TransactionState, ...] = (
    _S.DISCARDED,
    _S.REJECTED,
    _S.REFUSED,
    _S.INVALIDATED,
)
"""Terminal states that end a renewal *without* a new term."""

_ENDINGS = {state: TransitionKind.TERMINAL for state in ENDING_STATES}

# current state → {target state: kind}. A state absent from the inner dict cannot be reached.
_TRANSITIONS: dict[TransactionState, dict[TransactionState, TransitionKind]] = {
    _S.DRAFT: {_S.QUOTED: TransitionKind.ADVANCING, **_ENDINGS},
    _S.QUOTED: {_S.ACCEPTED: TransitionKind.ADVANCING, _S.DRAFT: TransitionKind.RESET, **_ENDINGS},
    _S.ACCEPTED: {_S.ISSUED: TransitionKind.ADVANCING, _S.DRAFT: TransitionKind.RESET, **_ENDINGS},
    _S.ISSUED: {},
    _S.DISCARDED: {},
    _S.REJECTED: {},
    _S.REFUSED: {},
    _S.INVALIDATED: {},
}

# How a state reads after "A renewal that is …".
_AS_STATE: dict[TransactionState, str] = {_S.DRAFT: "a draft"}
# How a target reads after "… cannot be …".
_AS_TARGET: dict[TransactionState, str] = {_S.DRAFT: "reset to draft"}


def _state_words(state: TransactionState) -> str:
    return _AS_STATE.get(state, state.value)


def _target_words(state: TransactionState) -> str:
    return _AS_TARGET.get(state, state.value)


def allowed_transitions(state: TransactionState) -> frozenset[TransactionState]:
    """The states a renewal in ``state`` may move to (empty for a terminal state)."""
    return frozenset(_TRANSITIONS[TransactionState(state)])


def is_transition_allowed(current: TransactionState, target: TransactionState) -> bool:
    """True when a renewal in ``current`` may move to ``target``."""
    return TransactionState(target) in _TRANSITIONS[TransactionState(current)]


def check_transition(current: TransactionState, target: TransactionState) -> None:
    """Refuse, with a sentence, a move of the transaction from ``current`` to ``target``.

    >>> try:
    ...     check_transition(TransactionState.ISSUED, TransactionState.ACCEPTED)
    ... except TransitionRefused as refusal:
    ...     print(refusal)
    A renewal that is issued cannot be accepted.
    """
    current, target = TransactionState(current), TransactionState(target)
    if target in _TRANSITIONS[current]:
        return
    if current is target:
        raise TransitionRefused(f"The renewal is already {_state_words(current)}.")
    message = f"A renewal that is {_state_words(current)} cannot be {_target_words(target)}"
    if current.is_open and target in ADVANCE_ORDER:
        # skipping ahead (draft → accepted) or stepping back (accepted → quoted)
        if ADVANCE_ORDER.index(target) > ADVANCE_ORDER.index(current):
            before = ADVANCE_ORDER[ADVANCE_ORDER.index(target) - 1]
            message += f" before it is {before.value}"
        else:
            message += "; it can only be reset to draft"
    raise TransitionRefused(message + ".")


def transition_kind(current: TransactionState, target: TransactionState) -> TransitionKind:
    """Whether moving ``current`` → ``target`` advances, resets or ends the renewal.

    Raises :class:`TransitionRefused` when the move is not allowed at all.
    """
    check_transition(current, target)
    return _TRANSITIONS[TransactionState(current)][TransactionState(target)]


def is_advancing(current: TransactionState, target: TransactionState) -> bool:
    """True for quote, accept and issue: one allowed step towards the new term."""
    kind = _TRANSITIONS[TransactionState(current)].get(TransactionState(target))
    return kind is TransitionKind.ADVANCING


def advance_path(
    current: TransactionState, target: TransactionState
) -> tuple[TransactionState, ...]:
    """The advancing steps that take a renewal from ``current`` to ``target``, in order.

    Empty when the renewal is already at or past ``target`` on the road to issue (a renewal
    advanced by hand ahead of a trigger needs nothing). Raises :class:`TransitionRefused`
    when the road is closed: a terminal renewal cannot advance, and ``target`` must be one
    of quoted, accepted or issued.

    >>> advance_path(TransactionState.DRAFT, TransactionState.ACCEPTED)
    (<TransactionState.QUOTED: 'quoted'>, <TransactionState.ACCEPTED: 'accepted'>)
    """
    current, target = TransactionState(current), TransactionState(target)
    if target not in ADVANCE_ORDER[1:]:
        raise ValueError(f"{target.value} is not a step on the way to issue")
    if current is _S.ISSUED:
        return ()
    if current.is_terminal:
        check_transition(current, target)  # raises with the sentence
    here, there = ADVANCE_ORDER.index(current), ADVANCE_ORDER.index(target)
    return ADVANCE_ORDER[here + 1 : there + 1]


def state_after_sibling_issued(state: TransactionState) -> TransactionState:
    """What happens to a renewal when *another* renewal of the same term is issued.

    Open renewals are invalidated; a terminal one keeps its state.
    """
    state = TransactionState(state)
    return _S.INVALIDATED if state.is_open else state


def state_after_cancellation(
    state: TransactionState, *, managed_by_auto_renewal: bool
) -> TransactionState:
    """What a policy cancellation does to a renewal of that policy.

    A renewal that an auto-renewal manages is reset to draft (the auto-renewal itself is
    invalidated, see :mod:`desktop_app.domain.auto_renewal`); it is *not* invalidated,
    and its card goes back to a stage that fits a draft
    (:func:`desktop_app.domain.stages.stages_back`). Other renewals, and terminal ones,
    keep their state: people decide what to do.
    """
    state = TransactionState(state)
    if managed_by_auto_renewal and state.is_open:
        return _S.DRAFT
    return state


# --------------------------------------------------------------------------- the new term


def require_aware(moment: datetime, what: str = "time") -> datetime:
    """Return ``moment``, or raise :class:`ValueError` when it has no time zone."""
    if not isinstance(moment, datetime):
        raise TypeError(f"the {what} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"the {what} must be an aware datetime (with a UTC offset)")
    return moment


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_moment(moment: datetime, tz: tzinfo = UTC) -> str:
    """A time as people read it in messages, on the wall clock of ``tz``.

    Midnight shows as the date alone ("June 1, 2025"); any other time adds the clock
    ("June 1, 2025 at 12:01 AM"). Month names are spelled out here rather than taken from
    the operating system's locale, so messages read the same on every desktop.
    """
    local = require_aware(moment).astimezone(tz)
    text = f"{_MONTHS[local.month - 1]} {local.day}, {local.year}"
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return text
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return f"{text} at {hour}:{local.minute:02d} {half}"


def check_new_end(current_policy_end: datetime, new_end: datetime, *, tz: tzinfo = UTC) -> None:
    """Refuse a new end that is not strictly after the policy's current end.

    ``tz`` only decides how the dates read in the message (the agency's time zone).
    """
    require_aware(current_policy_end, "policy's current end")
    require_aware(new_end, "new end")
    if new_end <= current_policy_end:
        raise TermDatesRefused(
            f"The new end ({format_moment(new_end, tz)}) must be after the policy's "
            f"current end ({format_moment(current_policy_end, tz)})."
        )


def new_term_bounds(
    current_end: datetime,
    effective: datetime | None,
    new_end: datetime,
    *,
    tz: tzinfo = UTC,
) -> tuple[datetime, datetime]:
    """The new term's ``(start, end)`` for a renewal of a policy that ends at ``current_end``.

    * no effective time, or one equal to the current end: the term starts at the current end;
    * an effective time after the current end: a renewal with a gap, the term starts at
      the effective time (nothing covers the gap);
    * an effective time before the current end is refused: terms never overlap;
    * the effective time must be before the new end, and the new end after the current end.

    ``tz`` only decides how the dates read in a refusal.
    """
    check_new_end(current_end, new_end, tz=tz)
    if effective is None:
        return current_end, new_end
    require_aware(effective, "effective time")
    if effective < current_end:
        raise TermDatesRefused(
            f"The effective date ({format_moment(effective, tz)}) cannot be before the "
            f"policy's current end ({format_moment(current_end, tz)}): terms never overlap."
        )
    if effective >= new_end:
        raise TermDatesRefused(
            f"The effective date ({format_moment(effective, tz)}) must be before the new "
            f"end ({format_moment(new_end, tz)})."
        )
    return effective, new_end


def check_issue_allowed(do_not_renew_on_policy: bool, policy_cancelled: bool) -> None:
    """Refuse issuing a renewal of a policy marked do not renew, or of a cancelled policy.

    This holds for every door: by hand, by import and by the timer service.
    ``do_not_renew_on_policy`` is true while any auto-renewal of the policy is in
    ``doNotRenew`` (see :func:`desktop_app.domain.auto_renewal.blocks_issue`).
    """
    if policy_cancelled:
        raise IssueRefused("A renewal of a cancelled policy cannot be issued.")
    if do_not_renew_on_policy:
        raise IssueRefused(
            "The policy is marked do not renew, so none of its renewals can be issued; "
            "reactivate its auto-renewal to lift do not renew."
        )


# --------------------------------------------------------------------------- calendar


def _on_wall_clock(wall: datetime, zone: tzinfo) -> datetime:
    """Attach ``zone`` to a naive wall-clock time and return it in UTC.

    Daylight saving makes some wall-clock times ambiguous (they happen twice in the
    autumn) and some impossible (they are skipped in the spring). We follow PEP 495 with
    ``fold=0``: an ambiguous time is the first of the two moments, and an impossible time
    is read with the offset in force before the change, which moves it forward by the
    size of the gap (2:30 AM on a spring-forward night becomes 3:30 AM).
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def months_later(moment: datetime, months: int, tz: tzinfo | None = None) -> datetime:
    """``moment`` plus ``months`` calendar months, on the wall clock of ``tz``.

    The day is clamped at the end of a shorter month (January 31 + 1 month is February
    28 or 29) and the time of day is kept on the wall clock of ``tz`` (default: the
    zone ``moment`` carries). Pass the agency's zone for a term stored in UTC, so a term
    that ends at local midnight gets a new end at local midnight. The result carries the
    same ``tzinfo`` as ``moment``. Negative ``months`` go back in time.
    """
    require_aware(moment, "moment")
    if isinstance(months, bool) or not isinstance(months, int):
        raise TypeError("months must be a whole number")
    zone = tz if tz is not None else moment.tzinfo
    assert zone is not None  # require_aware
    local = moment.astimezone(zone)
    years, month0 = divmod(local.month - 1 + months, 12)
    year, month = local.year + years, month0 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    wall = local.replace(tzinfo=None, year=year, month=month, day=day, fold=0)
    return _on_wall_clock(wall, zone).astimezone(moment.tzinfo)


def days_before(moment: datetime, days: int, tz: tzinfo) -> datetime:
    """``days`` calendar days before ``moment`` on the wall clock of ``tz``, in UTC.

    "45 days before a term that ends at midnight in New York" is midnight in New York,
    45 days earlier, even when daylight saving changed in between: the UTC difference is
    then 45 days plus or minus an hour.
    """
    require_aware(moment, "moment")
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError("days must be a whole number")
    wall = moment.astimezone(tz).replace(tzinfo=None) - timedelta(days=days)
    return _on_wall_clock(wall, tz)
