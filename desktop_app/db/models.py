"""The data model: one typed SQLAlchemy class per object of the domain.

Rules the database can hold are held here: foreign keys, uniqueness, check constraints
for every enumeration and for a term's start < end, NOT NULLs. Rows that people edit carry
a ``version`` column; SQLAlchemy adds ``WHERE version = :seen`` to every UPDATE, so a stale
edit fails instead of overwriting someone else's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from desktop_app.db.types import Money, UTCDateTime
from desktop_app.domain.enums import (
    AccessLevel,
    AuditSource,
    AutoRenewalState,
    DocumentStatus,
    Outcome,
    PolicyStatus,
    Role,
    ServiceTier,
    StageKind,
    TaskStatus,
    TransactionState,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def enum_type(enum: type[StrEnum], name: str) -> Enum:
    """A portable enumeration: VARCHAR plus a named CHECK constraint, values as stored."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum) + 4,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), Decimal: Money()}


class Versioned:
    """Optimistic locking: every UPDATE checks and bumps ``version``."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}


class User(Versioned, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineStage(Versioned, Base):
    __tablename__ = "pipeline_stages"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[StageKind] = mapped_column(enum_type(StageKind, "kind"))
    entry_criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    sla_days: Mapped[int | None] = mapped_column(Integer)
    implied_state: Mapped[TransactionState | None] = mapped_column(
        enum_type(TransactionState, "implied_state")
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (CheckConstraint("sla_days IS NULL OR sla_days > 0", name="sla_positive"),)


class ChecklistTemplate(Versioned, Base):
    """One line of the default document checklist for a line of business."""

    __tablename__ = "checklist_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_of_business: Mapped[str] = mapped_column(String(10))
    document_type: Mapped[str] = mapped_column(String(120))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    access_level: Mapped[AccessLevel] = mapped_column(
        enum_type(AccessLevel, "access_level"), default=AccessLevel.STANDARD
    )

    __table_args__ = (UniqueConstraint("line_of_business", "document_type"),)


class AutoRenewalPlan(Versioned, Base):
    __tablename__ = "auto_renewal_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    create_lead_days: Mapped[int | None] = mapped_column(Integer)
    accept_lead_days: Mapped[int | None] = mapped_column(Integer)
    issue_lead_days: Mapped[int | None] = mapped_column(Integer)
    new_term_months: Mapped[int] = mapped_column(Integer, default=12)
    transaction_type: Mapped[str] = mapped_column(String(40), default="renewal")
    generate_auto_renewals: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint("create_lead_days IS NULL OR create_lead_days >= 0", name="create_lead"),
        CheckConstraint("accept_lead_days IS NULL OR accept_lead_days >= 0", name="accept_lead"),
        CheckConstraint("issue_lead_days IS NULL OR issue_lead_days >= 0", name="issue_lead"),
        CheckConstraint("new_term_months > 0", name="term_months_positive"),
    )


class Account(Versioned, Base):
    """The insured."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(2))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    producer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    csr_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    service_tier: Mapped[ServiceTier] = mapped_column(
        enum_type(ServiceTier, "service_tier"), default=ServiceTier.STANDARD
    )
    auto_renewal_plan_id: Mapped[int | None] = mapped_column(ForeignKey("auto_renewal_plans.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    producer: Mapped[User | None] = relationship(foreign_keys=[producer_id])
    csr: Mapped[User | None] = relationship(foreign_keys=[csr_id])
    policies: Mapped[list[Policy]] = relationship(back_populates="account")


class Policy(Versioned, Base):
    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    policy_number: Mapped[str] = mapped_column(String(60))
    carrier: Mapped[str] = mapped_column(String(120))
    line_of_business: Mapped[str] = mapped_column(String(10), index=True)
    office: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[PolicyStatus] = mapped_column(
        enum_type(PolicyStatus, "status"), default=PolicyStatus.ACTIVE
    )
    cancelled_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="policies")
    terms: Mapped[list[Term]] = relationship(
        back_populates="policy", order_by="Term.start_at", foreign_keys="Term.policy_id"
    )

    __table_args__ = (UniqueConstraint("carrier", "policy_number"),)


class Term(Base):
    """One coverage period. ``end_at`` is exclusive; terms of a policy never overlap."""

    __tablename__ = "terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    start_at: Mapped[datetime] = mapped_column()
    end_at: Mapped[datetime] = mapped_column()
    premium: Mapped[Decimal | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    policy: Mapped[Policy] = relationship(back_populates="terms", foreign_keys=[policy_id])

    __table_args__ = (
        CheckConstraint("start_at < end_at", name="start_before_end"),
        CheckConstraint("premium IS NULL OR premium >= 0", name="premium_not_negative"),
        UniqueConstraint("policy_id", "start_at"),
        Index("ix_terms_policy_id_end_at", "policy_id", "end_at"),
        Index("ix_terms_end_at", "end_at"),
    )


class Renewal(Versioned, Base):
    """One renewal cycle of a policy's latest term: the pipeline card and the transaction."""

    __tablename__ = "renewals"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), index=True)
    # pipeline card
    stage_id: Mapped[int] = mapped_column(ForeignKey("pipeline_stages.id"), index=True)
    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_action: Mapped[str | None] = mapped_column(String(300))
    next_action_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    next_action_due: Mapped[date | None] = mapped_column(Date)
    target_date: Mapped[date | None] = mapped_column(Date)
    risk_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    blocker_reason: Mapped[str | None] = mapped_column(String(300))
    outcome: Mapped[Outcome | None] = mapped_column(enum_type(Outcome, "outcome"))
    outcome_reason: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    # renewal transaction
    effective_at: Mapped[datetime | None] = mapped_column()
    new_end_at: Mapped[datetime | None] = mapped_column()
    new_premium: Mapped[Decimal | None] = mapped_column()
    transaction_type: Mapped[str] = mapped_column(String(40), default="renewal")
    transaction_state: Mapped[TransactionState] = mapped_column(
        enum_type(TransactionState, "transaction_state"), default=TransactionState.DRAFT
    )
    new_term_id: Mapped[int | None] = mapped_column(ForeignKey("terms.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    policy: Mapped[Policy] = relationship()
    term: Mapped[Term] = relationship(foreign_keys=[term_id])
    stage: Mapped[PipelineStage] = relationship()
    next_action_owner: Mapped[User | None] = relationship()
    tasks: Mapped[list[Task]] = relationship(back_populates="renewal", order_by="Task.id")
    documents: Mapped[list[DocumentRequirement]] = relationship(
        back_populates="renewal", order_by="DocumentRequirement.id"
    )

    __table_args__ = (
        CheckConstraint("new_premium IS NULL OR new_premium >= 0", name="new_premium_not_negative"),
        CheckConstraint(
            "effective_at IS NULL OR new_end_at IS NULL OR effective_at < new_end_at",
            name="effective_before_new_end",
        ),
        # The pipeline board reads these columns of every renewal its filter keeps
        # (migrations 0003 and 0006): one narrow index instead of the wide table.
        Index(
            "ix_renewals_board",
            "stage_id",
            "stage_entered_at",
            "term_id",
            "policy_id",
            "next_action_owner_id",
            "new_premium",
            "transaction_state",
        ),
    )


class Task(Versioned, Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    renewal_id: Mapped[int] = mapped_column(ForeignKey("renewals.id"), index=True)
    task_type: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(300))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[TaskStatus] = mapped_column(
        enum_type(TaskStatus, "status"), default=TaskStatus.OPEN
    )
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    renewal: Mapped[Renewal] = relationship(back_populates="tasks")

    __table_args__ = (
        CheckConstraint(
            "(status = 'done') = (completed_at IS NOT NULL)", name="completed_when_done"
        ),
    )


class DocumentRequirement(Versioned, Base):
    """One line of a renewal's checklist. A link to the file, never the file's bytes."""

    __tablename__ = "document_requirements"

    id: Mapped[int] = mapped_column(primary_key=True)
    renewal_id: Mapped[int] = mapped_column(ForeignKey("renewals.id"), index=True)
    document_type: Mapped[str] = mapped_column(String(120))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[DocumentStatus] = mapped_column(
        enum_type(DocumentStatus, "status"), default=DocumentStatus.MISSING
    )
    requested_on: Mapped[date | None] = mapped_column(Date)
    received_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    storage_link: Mapped[str | None] = mapped_column(String(1000))
    access_level: Mapped[AccessLevel] = mapped_column(
        enum_type(AccessLevel, "access_level"), default=AccessLevel.STANDARD
    )
    waive_reason: Mapped[str | None] = mapped_column(String(300))

    renewal: Mapped[Renewal] = relationship(back_populates="documents")

    __table_args__ = (
        UniqueConstraint("renewal_id", "document_type"),
        CheckConstraint("status <> 'waived' OR waive_reason IS NOT NULL", name="waived_has_reason"),
        CheckConstraint("status <> 'received' OR received_on IS NOT NULL", name="received_dated"),
        # On a shared office's database, row security hides documents above a login's
        # access level, and PostgreSQL checks an INSERT's RETURNING rows against it: a
        # CSR adding a checklist with a confidential line would be refused. New ids come
        # from the sequence first instead.
        {"implicit_returning": False},
    )


class AutoRenewal(Versioned, Base):
    """The automatic renewal handling of one term (seed 003)."""

    __tablename__ = "auto_renewals"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), unique=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("auto_renewal_plans.id"))
    state: Mapped[AutoRenewalState] = mapped_column(
        enum_type(AutoRenewalState, "state"), default=AutoRenewalState.ACTIVE
    )
    renewal_id: Mapped[int | None] = mapped_column(ForeignKey("renewals.id"))
    create_time: Mapped[datetime | None] = mapped_column()
    accept_time: Mapped[datetime | None] = mapped_column()
    issue_time: Mapped[datetime | None] = mapped_column()
    transaction_type: Mapped[str] = mapped_column(String(40), default="renewal")
    new_term_months: Mapped[int] = mapped_column(Integer, default=12)
    fired_create_at: Mapped[datetime | None] = mapped_column()
    fired_accept_at: Mapped[datetime | None] = mapped_column()
    fired_issue_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    # The earliest trigger still to fire while active (NULL otherwise): the timer service
    # finds due work with one index range scan instead of reading every auto-renewal.
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("new_term_months > 0", name="term_months_positive"),
        # Only one active auto-renewal per policy; which term holds it is the service's rule.
        Index(
            "uq_auto_renewals_one_active_per_policy",
            "policy_id",
            unique=True,
            sqlite_where=CheckConstraint("state = 'active'").sqltext,
            postgresql_where=CheckConstraint("state = 'active'").sqltext,
        ),
    )


class AuditEvent(Base):
    """Append-only history: who, when, from where, what object, which fields old → new.

    A hash chain makes changes after the fact detectable: ``seq`` numbers the events 1, 2,
    3 … without gaps, and ``hash`` covers the event and the hash of the one before it
    (``desktop_app.services.audit`` writes and verifies them). ``db_user`` is the
    PostgreSQL login that wrote the row (NULL on SQLite).
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(80))
    source: Mapped[AuditSource] = mapped_column(enum_type(AuditSource, "source"))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    hash: Mapped[str] = mapped_column(String(64))
    db_user: Mapped[str | None] = mapped_column(String(63))

    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)


class TimerFiring(Base):
    """The ledger of the timer service: one row per piece of automatic work done.

    Written in the same transaction as the work's effect. The unique key is the last line
    of defence for "exactly once": two desktops that both think a trigger is theirs cannot
    both commit it. ``kind`` names the work (``auto_renewal.create``, ``window``,
    ``task_reminder``…), ``subject_id`` the row it was done for, and ``detail`` tells
    repeated work on the same row apart (a reminder per due date).
    """

    __tablename__ = "timer_firings"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(80), default="")
    fired_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    outcome: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    renewal_id: Mapped[int | None] = mapped_column(ForeignKey("renewals.id"))
    process: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (UniqueConstraint("kind", "subject_id", "detail"),)


class Notice(Base):
    """A reminder or flag for people: shown in the queue and as a desktop notification."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    renewal_id: Mapped[int | None] = mapped_column(ForeignKey("renewals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))
    read_at: Mapped[datetime | None] = mapped_column()


class AppSetting(Base):
    """Agency-wide settings shared by every desktop (time zone, renewal window…)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
