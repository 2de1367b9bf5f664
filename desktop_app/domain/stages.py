"""Pipeline stages and the entry criteria checked on every move.

Stages are agency-wide and configured by an admin; each names its entry criteria by the
codes below. A move is checked against the target stage's criteria no matter where it
comes from (drag and drop, import, the timer service), and a refused move says in words
what is missing.

A card's stage and its renewal transaction must tell the same story (:func:`fits`,
:func:`state_after_move`): a stage may imply a transaction state (Proposal sent: quoted,
Bound: accepted, Lost: refused, Non-renewed: rejected), and a transaction that has ended
is not brought back to life by dragging its card. When a policy is cancelled and the
renewal an auto-renewal manages goes back to draft, its card goes back to the nearest
earlier open stage that fits a draft (:func:`stages_back`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from desktop_app.domain.enums import StageKind, TransactionState
from desktop_app.domain.transactions import ADVANCE_ORDER, RuleRefused


@dataclass(frozen=True)
class Criterion:
    code: str
    label: str  # what the stage needs, shown in the admin screen


CRITERIA: dict[str, Criterion] = {
    c.code: c
    for c in (
        Criterion("next_action", "a next action with an owner and a due date"),
        Criterion("required_documents", "every required document received or waived"),
        Criterion("new_premium", "the new premium"),
        Criterion("new_term_dates", "the new term's dates"),
        Criterion("transaction_issued", "the renewal transaction issued"),
        Criterion("outcome_reason", "a reason for the outcome"),
    )
}


@dataclass(frozen=True)
class StageSpec:
    key: str
    name: str
    kind: StageKind
    sla_days: int | None
    entry_criteria: tuple[str, ...]
    implied_state: TransactionState | None = None


DEFAULT_STAGES: tuple[StageSpec, ...] = (
    StageSpec("upcoming", "Upcoming", StageKind.OPEN, 30, ("next_action",)),
    StageSpec("gathering", "Gathering info", StageKind.OPEN, 14, ("next_action",)),
    StageSpec(
        "marketing",
        "Marketing / quoting",
        StageKind.OPEN,
        21,
        ("next_action", "required_documents"),
    ),
    StageSpec(
        "proposal",
        "Proposal sent",
        StageKind.OPEN,
        10,
        ("next_action", "required_documents", "new_premium"),
        TransactionState.QUOTED,
    ),
    StageSpec(
        "bound",
        "Bound",
        StageKind.OPEN,
        7,
        ("next_action", "new_premium", "new_term_dates"),
        TransactionState.ACCEPTED,
    ),
    StageSpec("renewed", "Renewed", StageKind.WON, None, ("transaction_issued",)),
    StageSpec("lost", "Lost", StageKind.LOST, None, ("outcome_reason",), TransactionState.REFUSED),
    StageSpec(
        "non_renewed",
        "Non-renewed",
        StageKind.LOST,
        None,
        ("outcome_reason",),
        TransactionState.REJECTED,
    ),
)


# Default document checklist per line of business: (document type, required?).
DEFAULT_CHECKLISTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "AUTOP": (("Driver list", True), ("Vehicle list", True), ("Prior carrier dec page", False)),
    "HOME": (("Renewal questionnaire", True), ("Home inspection", False)),
    "DFIRE": (("Renewal questionnaire", True), ("Rental agreement", False)),
    "BOP": (("Renewal application", True), ("Loss runs", True), ("Sales figures", False)),
    "CGL": (("ACORD 125", True), ("ACORD 126", True), ("Loss runs", True), ("Sales figures", True)),
    "WORK": (("Payroll report", True), ("Loss runs", True), ("ACORD 130", True)),
    "CAUTO": (("ACORD 127", True), ("Driver list", True), ("Vehicle schedule", True)),
    "UMBRC": (("Underlying schedule", True), ("Loss runs", True)),
    "UMBRP": (("Underlying schedule", True),),
    "PROP": (("Statement of values", True), ("Loss runs", True), ("ACORD 140", True)),
    "INMRC": (("Equipment schedule", True),),
    "FLOOD": (("Elevation certificate", True),),
    "PL": (("Renewal application", True), ("Loss runs", True)),
}


@dataclass(frozen=True)
class RenewalFacts:
    """What the entry criteria look at, taken from a renewal at the moment of a move."""

    next_action: str | None
    next_action_owner_id: int | None
    next_action_due: object | None
    outstanding_required_documents: tuple[str, ...] = ()
    new_premium: Decimal | None = None
    effective_at: datetime | None = None
    new_end_at: datetime | None = None
    transaction_state: TransactionState = TransactionState.DRAFT
    outcome_reason: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def missing_for(criteria: tuple[str, ...] | list[str], facts: RenewalFacts) -> list[str]:
    """What the renewal still lacks for a stage with ``criteria``, in words (empty: may enter)."""
    missing: list[str] = []
    for code in criteria:
        if code == "next_action":
            if not (facts.next_action or "").strip():
                missing.append("a next action")
            if facts.next_action_owner_id is None:
                missing.append("a next-action owner")
            if facts.next_action_due is None:
                missing.append("a next-action due date")
        elif code == "required_documents":
            if facts.outstanding_required_documents:
                docs = ", ".join(facts.outstanding_required_documents)
                missing.append(f"the required documents received or waived ({docs})")
        elif code == "new_premium":
            if facts.new_premium is None:
                missing.append("the new premium")
        elif code == "new_term_dates":
            if facts.new_end_at is None:
                missing.append("the new term's end date")
        elif code == "transaction_issued":
            if facts.transaction_state is not TransactionState.ISSUED:
                missing.append("the renewal transaction issued")
        elif code == "outcome_reason":
            if not (facts.outcome_reason or "").strip():
                missing.append("a reason for the outcome")
        else:
            raise ValueError(f"unknown entry criterion {code!r}")
    return missing


def needs_words(missing: list[str]) -> str:
    """What is missing, as one list in words: "the new premium and a next action"."""
    return missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]


def refusal_message(stage_name: str, missing: list[str]) -> str:
    """One sentence: "Cannot move to Bound: it needs the new premium and a next action."."""
    return f"Cannot move to {stage_name}: it needs {needs_words(missing)}."


# --------------------------------------------------------------------------- stage and transaction


class StageLike(Protocol):
    """What the rules below read of a stage (a database row or a :class:`StageSpec`)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> StageKind: ...
    @property
    def implied_state(self) -> TransactionState | None: ...


class PositionedStage(StageLike, Protocol):
    @property
    def position(self) -> int: ...


_Stage = TypeVar("_Stage", bound=PositionedStage)


class MoveRefused(RuleRefused):
    """A move between stages would contradict the renewal's transaction."""


_S = TransactionState
_ROAD = ADVANCE_ORDER[:-1]  # draft, quoted, accepted: the open states, in order

PEOPLE_ENDINGS: tuple[TransactionState, ...] = (_S.REFUSED, _S.REJECTED)
"""The endings people decide with an outcome: the insured declined or moved (refused, a
Lost stage), the carrier or the agency declined (rejected, a Non-renewed stage). Deciding
again between the two corrects *why* the renewal ended; it stays ended."""


def fits(stage: StageLike, state: TransactionState) -> bool:
    """True when a card whose transaction is in ``state`` belongs in the open ``stage``:
    the stage implies no state, or one the transaction has reached. A draft does not
    belong in Proposal sent (quoted) or Bound (accepted); an accepted renewal may sit in
    Proposal sent (moved back by hand). Outcome stages fit no open transaction."""
    state = TransactionState(state)
    if stage.kind is not StageKind.OPEN:
        return False
    implied = stage.implied_state
    if implied is None:
        return True
    if implied in _ROAD and state in _ROAD:
        return _ROAD.index(state) >= _ROAD.index(implied)
    return state is implied


def stages_back(
    stages: Iterable[_Stage], current: PositionedStage, state: TransactionState
) -> list[_Stage]:
    """The open stages before ``current`` that fit a transaction in ``state``, nearest
    first: where a card goes back to when its renewal is reset (Bound → Marketing /
    quoting, else Gathering info, else Upcoming). The caller takes the first whose entry
    criteria the card meets."""
    back = [s for s in stages if s.position < current.position and fits(s, state)]
    return sorted(back, key=lambda s: s.position, reverse=True)


def state_after_move(
    state: TransactionState,
    current: StageLike,
    target: StageLike,
    *,
    renewal: str = "The renewal",
) -> TransactionState:
    """The transaction state of a renewal a person moves from ``current`` to ``target``.

    * Into an open stage: the state the stage implies when that is further on the road
      to issue (Proposal sent makes a draft quoted), else unchanged; never backwards.
    * Into a lost stage: an open renewal ends the way the stage implies (Lost: refused,
      Non-renewed: rejected); a refused or rejected one takes the other ending (a
      correction of why it ended); one that was discarded or invalidated has no outcome
      to record and is refused, so it is not counted as lost in the outcomes.
    * Into a won stage: unchanged; the stage's entry criteria want it issued.

    Refused with :class:`MoveRefused`, in one sentence about ``renewal``: an issued
    renewal anywhere but a won stage, and *reopening* — moving a decided card back into
    an open stage — when its transaction has ended. Terminal states are terminal: the
    renewal stays in the outcomes as decided, and a new renewal of the policy is the way
    to work it again. Reopening a decided card whose transaction is still open (a lost
    stage that implies no state) is allowed; its transaction is kept as it is.
    """
    state = TransactionState(state)
    if state is _S.ISSUED:
        if target.kind is not StageKind.WON:
            raise MoveRefused(
                f"{renewal} was issued, so it can only be in a Renewed stage; start a "
                "renewal of the new term instead."
            )
        return state
    implied = target.implied_state
    if target.kind is StageKind.OPEN:
        if current.kind is not StageKind.OPEN and state.is_terminal:
            raise MoveRefused(
                f"{renewal} is in {current.name} and its transaction was {state.value}, "
                f"which is final, so it cannot move back to {target.name}; to renew the "
                "policy after all, start a new renewal of it."
            )
        if implied in _ROAD and state in _ROAD and _ROAD.index(implied) > _ROAD.index(state):
            return implied
        return state
    if target.kind is StageKind.LOST:
        if state is _S.DISCARDED:
            raise MoveRefused(
                f"{renewal} was discarded, so it has no outcome to record in {target.name}."
            )
        if state is _S.INVALIDATED:
            raise MoveRefused(
                f"{renewal} was invalidated when another renewal of its term was issued, "
                f"so it has no outcome to record in {target.name}."
            )
        if implied is not None and implied.is_terminal and implied is not _S.ISSUED:
            ends_now = state.is_open
            corrects = state in PEOPLE_ENDINGS and implied in PEOPLE_ENDINGS
            if ends_now or corrects:
                return implied
        return state
    return state
