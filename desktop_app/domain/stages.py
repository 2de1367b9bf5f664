"""Pipeline stages and the entry criteria checked on every move.

Stages are agency-wide and configured by an admin; each names its entry criteria by the
codes below. A move is checked against the target stage's criteria no matter where it
comes from (drag and drop, import, the timer service), and a refused move says in words
what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from desktop_app.domain.enums import StageKind, TransactionState


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


def refusal_message(stage_name: str, missing: list[str]) -> str:
    """One sentence: "Cannot move to Bound: it needs the new premium and a next action."."""
    needs = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    return f"Cannot move to {stage_name}: it needs {needs}."
