"""The fixed vocabularies of the domain. Values are what the database stores."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    PRODUCER = "producer"
    CSR = "csr"
    MANAGER = "manager"
    ADMIN = "admin"


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class TransactionState(StrEnum):
    """State of a renewal transaction (seed 003: draft → quoted → accepted → issued)."""

    DRAFT = "draft"
    QUOTED = "quoted"
    ACCEPTED = "accepted"
    ISSUED = "issued"
    DISCARDED = "discarded"
    REJECTED = "rejected"
    REFUSED = "refused"
    INVALIDATED = "invalidated"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_TRANSACTION_STATES

    @property
    def is_open(self) -> bool:
        return not self.is_terminal


TERMINAL_TRANSACTION_STATES = frozenset(
    {
        TransactionState.ISSUED,
        TransactionState.DISCARDED,
        TransactionState.REJECTED,
        TransactionState.REFUSED,
        TransactionState.INVALIDATED,
    }
)


class AutoRenewalState(StrEnum):
    ACTIVE = "active"
    ISSUED = "issued"
    DO_NOT_RENEW = "doNotRenew"
    TERMINATED = "terminated"
    DISCARDED = "discarded"
    ERROR = "error"
    INVALIDATED = "invalidated"


class PolicyStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class DocumentStatus(StrEnum):
    MISSING = "missing"
    REQUESTED = "requested"
    RECEIVED = "received"
    EXPIRED = "expired"
    WAIVED = "waived"


class AccessLevel(StrEnum):
    """Who may see a document: everyone, the account team and up, or managers only."""

    STANDARD = "standard"
    SENSITIVE = "sensitive"
    CONFIDENTIAL = "confidential"


class ServiceTier(StrEnum):
    STANDARD = "standard"
    PREFERRED = "preferred"
    PREMIER = "premier"


class AuditSource(StrEnum):
    UI = "ui"
    IMPORT = "import"
    SCHEDULER = "scheduler"
    PLUGIN = "plugin"
    CLI = "cli"
    SYSTEM = "system"


class Outcome(StrEnum):
    RENEWED = "renewed"
    LOST = "lost"
    NON_RENEWED = "non_renewed"


# ACORD-style line-of-business codes with the names agencies say out loud.
LINES_OF_BUSINESS: dict[str, str] = {
    "AUTOP": "Personal auto",
    "HOME": "Homeowners",
    "DFIRE": "Dwelling fire",
    "BOP": "Businessowners",
    "CGL": "Commercial general liability",
    "WORK": "Workers compensation",
    "CAUTO": "Commercial auto",
    "UMBRC": "Commercial umbrella",
    "UMBRP": "Personal umbrella",
    "PROP": "Commercial property",
    "INMRC": "Inland marine",
    "FLOOD": "Flood",
    "PL": "Professional liability",
}
