"""A realistic demo book of business, for trying Renewal Desk out or showing it to someone.

``load_demo`` fills an *empty* database with a small agency's book: staff, insureds,
policies with their term history, renewals spread over every pipeline stage (each one
meeting its stage's entry criteria), tasks, document checklists, auto-renewal plans and
auto-renewals. The same seed and the same ``today`` give the same book, row for row.

Speed matters (an admin waits for it, and tests load thousands of policies), so the rows
are generated as plain dictionaries in memory and written with SQLAlchemy Core bulk
inserts, with ids assigned here so child rows can point at their parents. Everything is
one transaction: a failure or a cancel leaves the database exactly as it was.
"""

from __future__ import annotations

import math
import random
import re
import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AutoRenewal,
    AutoRenewalPlan,
    ChecklistTemplate,
    DocumentRequirement,
    PipelineStage,
    Policy,
    Renewal,
    Task,
    Term,
    User,
)
from desktop_app.domain.enums import (
    LINES_OF_BUSINESS,
    AccessLevel,
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
from desktop_app.domain.permissions import Action
from desktop_app.domain.stages import RenewalFacts, missing_for, refusal_message
from desktop_app.errors import RuleViolation, UserFacingError
from desktop_app.services.unit import Actor, unit_of_work

# =====================================================================================
# Data: the names, places, carriers and words the demo book is made of.
# =====================================================================================

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Christopher", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty",
    "Mark", "Sandra", "Steven", "Ashley", "Andrew", "Emily", "Joshua", "Michelle", "Kevin",
    "Amanda", "Brian", "Melissa", "Ryan", "Stephanie", "Jacob", "Rebecca", "Gary", "Laura",
    "Eric", "Amy", "Jonathan", "Angela", "Maria", "Carlos", "Priya", "Wei", "Aisha", "Omar",
    "Hannah", "Grace", "Luis", "Sofia", "Tyler", "Megan",
)  # fmt: skip

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams", "Nelson",
    "Baker", "Hall", "Campbell", "Mitchell", "Carter", "Roberts", "Phillips", "Evans", "Turner",
    "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan",
    "Cooper", "Peterson", "Reed", "Bailey", "Kelly", "Howard", "Ward", "Cox", "Richardson",
    "Wood", "Brooks", "Bennett", "Gray", "Hughes", "Price", "Sanders", "Patel", "Nguyen", "Kim",
    "Schmidt", "Mueller", "Kowalski", "O'Brien", "Sullivan", "Fischer", "Yoder",
)  # fmt: skip

STREETS = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Washington Ave", "Lake Rd",
    "Hill St", "Park Ave", "Church St", "Walnut St", "River Rd", "Sunset Blvd", "Ridge Rd",
    "Highland Ave", "Mill St", "Franklin St", "Jefferson St", "Chestnut St", "Spring St",
    "Meadow Ln", "Industrial Pkwy", "Commerce Dr", "Pine St", "High St", "Broad St",
)  # fmt: skip

# (city, state, first three digits of the ZIP code, telephone area code)
CITIES = (
    ("Columbus", "OH", "432", "614"),
    ("Dayton", "OH", "454", "937"),
    ("Cincinnati", "OH", "452", "513"),
    ("Toledo", "OH", "436", "419"),
    ("Akron", "OH", "443", "330"),
    ("Mansfield", "OH", "449", "419"),
    ("Fort Wayne", "IN", "468", "260"),
    ("Indianapolis", "IN", "462", "317"),
    ("Ann Arbor", "MI", "481", "734"),
    ("Grand Rapids", "MI", "495", "616"),
    ("Erie", "PA", "165", "814"),
    ("Lexington", "KY", "405", "859"),
)

OFFICES = ("Main St", "Northside", "Lakeview")

PLACES = (
    "Blue River", "Northgate", "Riverside", "Summit", "Heartland", "Lakeshore", "Oak Hill",
    "Pioneer", "Keystone", "Prairie", "Buckeye", "Great Lakes", "Tri-County", "Cornerstone",
    "Maple Grove", "Old Mill", "Eastside", "Valley",
)  # fmt: skip

PERSONAL_LINES = ("AUTOP", "HOME", "DFIRE", "UMBRP", "FLOOD")
COMMERCIAL_LINES = ("BOP", "CGL", "WORK", "CAUTO", "UMBRC", "PROP", "INMRC", "PL", "FLOOD")


@dataclass(frozen=True)
class BusinessKind:
    trades: tuple[str, ...]
    lines: tuple[str, ...]  # most likely first


BUSINESS_KINDS = (
    BusinessKind(
        ("Plumbing & Heating", "Roofing", "Electric", "Landscaping", "Builders", "Paving",
         "HVAC Services", "Painting"),
        ("CGL", "WORK", "CAUTO", "INMRC", "UMBRC"),
    ),
    BusinessKind(
        ("Bakery", "Hardware", "Pizzeria", "Cafe", "Florist", "Auto Repair", "Salon",
         "Pet Supply"),
        ("BOP", "WORK", "CAUTO", "UMBRC", "FLOOD"),
    ),
    BusinessKind(
        ("CPAs", "Law Group", "Family Dental", "Engineering", "Physical Therapy", "Architects",
         "Chiropractic", "Consulting"),
        ("BOP", "PL", "WORK", "UMBRC"),
    ),
    BusinessKind(
        ("Properties", "Apartments", "Self Storage", "Realty Holdings", "Plaza"),
        ("PROP", "CGL", "UMBRC", "FLOOD"),
    ),
    BusinessKind(
        ("Machine & Tool", "Fabrication", "Plastics", "Woodworks", "Printing"),
        ("PROP", "CGL", "WORK", "CAUTO", "UMBRC", "INMRC"),
    ),
)  # fmt: skip

# Who writes what. The first carriers of each line are the agency's main markets.
CARRIERS: dict[str, tuple[str, ...]] = {
    "AUTOP": ("Progressive", "Safeco", "Travelers", "Nationwide", "Erie", "Auto-Owners",
              "Liberty Mutual"),
    "HOME": ("Safeco", "Travelers", "Nationwide", "Erie", "Auto-Owners", "Chubb",
             "Liberty Mutual", "Hanover"),
    "DFIRE": ("Safeco", "Foremost", "Erie", "Auto-Owners"),
    "UMBRP": ("Safeco", "Travelers", "Chubb", "Erie", "Auto-Owners"),
    "FLOOD": ("Wright Flood", "Neptune Flood", "Selective"),
    "BOP": ("The Hartford", "Cincinnati Insurance", "Westfield", "Hanover", "Auto-Owners",
            "Erie", "Travelers"),
    "CGL": ("Travelers", "Cincinnati Insurance", "Westfield", "Nationwide", "Liberty Mutual",
            "Hanover"),
    "WORK": ("The Hartford", "Travelers", "Cincinnati Insurance", "Westfield", "Liberty Mutual",
             "Erie", "Accident Fund"),
    "CAUTO": ("Progressive", "Travelers", "Westfield", "Cincinnati Insurance", "Auto-Owners",
              "Erie"),
    "UMBRC": ("Travelers", "Cincinnati Insurance", "Westfield", "The Hartford", "Chubb"),
    "PROP": ("Travelers", "Cincinnati Insurance", "Hanover", "Chubb", "Westfield",
             "Liberty Mutual"),
    "INMRC": ("Travelers", "Hanover", "Cincinnati Insurance", "Westfield", "Auto-Owners"),
    "PL": ("Chubb", "CNA", "Markel", "The Hartford", "Hanover"),
}  # fmt: skip

# Policy number shapes, carrier by carrier: '#' is a digit (leading zeros are kept), '@' a
# capital letter, '{code}' the carrier's own code for the line of business.
POLICY_NUMBER_FORMATS: dict[str, str] = {
    "Progressive": "#########",
    "Safeco": "O@#######",
    "Travelers": "{code}-#@#####-##",
    "The Hartford": "## {code} @@####",
    "Nationwide": "ACP {code} #######",
    "Chubb": "####-##-##",
    "Liberty Mutual": "@##-###-######-##",
    "Erie": "Q##-#######",
    "Cincinnati Insurance": "{code} #######",
    "Hanover": "Z{code} @######-##",
    "Auto-Owners": "##-###-###-##",
    "Westfield": "{code} #######",
    "Foremost": "###-#######-##",
    "Wright Flood": "## ########## ##",
    "Neptune Flood": "NEP######",
    "Selective": "FLD#######",
    "CNA": "###########",
    "Markel": "MKLV#PL######",
    "Accident Fund": "WCV#######",
}
CARRIER_LINE_CODES: dict[str, dict[str, str]] = {
    "Travelers": {"AUTOP": "PA", "HOME": "HO", "UMBRP": "PU", "BOP": "ZPP", "CGL": "ZLP",
                  "WORK": "UB", "CAUTO": "BA", "UMBRC": "CUP", "PROP": "ZPP", "INMRC": "QT"},
    "The Hartford": {"BOP": "SBA", "WORK": "WEC", "UMBRC": "SBU", "PL": "MPL"},
    "Nationwide": {"AUTOP": "PA", "HOME": "HO", "CGL": "GLO"},
    "Cincinnati Insurance": {"BOP": "EPP", "CGL": "ENP", "WORK": "EWC", "CAUTO": "EBA",
                             "UMBRC": "ENP", "PROP": "EPP", "INMRC": "EMA"},
    "Hanover": {"HOME": "HO", "BOP": "BP", "CGL": "GL", "PROP": "CP", "INMRC": "IM",
                "PL": "PL"},
    "Westfield": {"BOP": "BOP", "CGL": "CWP", "WORK": "WC", "CAUTO": "CAP", "UMBRC": "CUP",
                  "PROP": "CWP", "INMRC": "CWP"},
}  # fmt: skip

# Annual premium per line: (median dollars, spread as a log-normal sigma, floor dollars).
PREMIUMS: dict[str, tuple[float, float, float]] = {
    "AUTOP": (1700, 0.45, 450),
    "HOME": (1600, 0.5, 500),
    "DFIRE": (900, 0.45, 300),
    "UMBRP": (350, 0.35, 150),
    "FLOOD": (900, 0.7, 400),
    "BOP": (1800, 0.7, 500),
    "CGL": (2800, 0.9, 600),
    "WORK": (4500, 1.1, 750),
    "CAUTO": (6500, 0.8, 1500),
    "UMBRC": (1800, 0.7, 500),
    "PROP": (5200, 0.9, 900),
    "INMRC": (900, 0.8, 250),
    "PL": (2600, 0.8, 750),
}

# What the next action says, per default stage (other stages use the generic ones).
NEXT_ACTIONS: dict[str, tuple[str, ...]] = {
    "upcoming": ("Review account and coverage before renewal", "Send renewal questionnaire",
                 "Confirm exposures with insured", "Call insured to start the renewal"),
    "gathering": ("Follow up on missing documents", "Chase the signed application",
                  "Get updated payroll and sales figures", "Confirm driver and vehicle changes"),
    "marketing": ("Submit to markets for quotes", "Follow up with underwriter on quote",
                  "Compare carrier quotes", "Ask two carriers to remarket"),
    "proposal": ("Review proposal with insured", "Follow up on the proposal decision",
                 "Send revised proposal", "Get signed proposal acceptance"),
    "bound": ("Issue renewal and send new declarations", "Send invoice and collect payment",
              "Issue certificates of insurance", "Confirm the carrier issued the renewal"),
}  # fmt: skip
GENERIC_NEXT_ACTIONS = ("Follow up with insured", "Review the file", "Call the underwriter")

RISK_FLAGS = (
    "Premium up 20%+", "Open claim", "Carrier appetite change", "Insured shopping",
    "Late payer", "Coverage gap", "Loss ratio over 60%",
)  # fmt: skip
DO_NOT_RENEW_FLAG = "Do not renew"

BLOCKERS = (
    "Waiting on loss runs from prior carrier",
    "Insured not returning calls",
    "Underwriter referral pending",
    "Waiting on inspection report",
    "Need signed ACORD application",
    "Payroll audit dispute with carrier",
)
LOST_REASONS = (
    "Moved to a direct writer for price",
    "Insured sold the business",
    "Went with another agency",
    "Competitor quote 18% lower",
    "Insured moved out of state",
    "Coverage no longer needed",
)
NON_RENEWED_REASONS = (
    "Carrier non-renewed: loss frequency",
    "Carrier exited this line in the state",
    "Agency declined: unpaid premium history",
    "Carrier non-renewed: roof age",
    "Risk outside carrier appetite",
)
RENEWED_REASONS = (
    "Renewed as expiring",
    "Renewed with a premium credit",
    "Remarketed; stayed with carrier",
)
WAIVE_REASONS = (
    "Carrier did not require it this year",
    "No changes since last year",
    "Underwriter waived: clean loss history",
    "Same as expiring",
)
NOTES = (
    "Insured prefers email.",
    "Wants quotes by mid-month.",
    "Review umbrella limits at renewal.",
    "Last year's claim closed without payment.",
    "Spouse handles the insurance; call after 5 pm.",
    "Ask about bundling home and auto.",
)

# Task catalogue: (type, title with {contact}/{carrier}/{line}, lines or None for any, phase).
# Phase 0 is early work (gathering), 1 the middle (marketing), 2 the end (proposal, binding).
TASK_TYPES: tuple[tuple[str, str, tuple[str, ...] | None, int], ...] = (
    ("Call insured", "Call {contact} about the {line} renewal", None, 0),
    ("Send questionnaire", "Send the renewal questionnaire to {contact}", None, 0),
    ("Request loss runs", "Request 5-year loss runs from {carrier}", COMMERCIAL_LINES, 0),
    ("Order MVRs", "Order MVRs for all listed drivers", ("AUTOP", "CAUTO"), 0),
    ("Update payroll", "Get updated payroll by class code", ("WORK",), 0),
    ("Update schedule", "Update the vehicle and equipment schedule", ("CAUTO", "INMRC"), 1),
    ("Market account", "Send the submission to three markets", None, 1),
    ("Review quotes", "Compare renewal quotes", None, 1),
    ("Send proposal", "Send the renewal proposal to {contact}", None, 2),
    ("Bind coverage", "Bind the renewal with {carrier}", None, 2),
    ("Send invoice", "Invoice the renewal premium", None, 2),
    ("Issue certificates", "Reissue certificates of insurance", COMMERCIAL_LINES, 2),
)


@dataclass(frozen=True)
class PlanSpec:
    name: str
    create: int | None
    accept: int | None
    issue: int | None
    personal: bool
    months: int = 12


PLANS = (
    PlanSpec("Personal lines 45/30/15", 45, 30, 15, personal=True),
    PlanSpec("Commercial — manual issue", 90, 30, None, personal=False),
    PlanSpec("Preferred personal 60/30 — manual issue", 60, 30, None, personal=True),
)

# Document statuses by how far the renewal has got: (statuses, weights).
_M, _Q, _R, _E, _W = (
    DocumentStatus.MISSING,
    DocumentStatus.REQUESTED,
    DocumentStatus.RECEIVED,
    DocumentStatus.EXPIRED,
    DocumentStatus.WAIVED,
)
DOCUMENT_MIX: dict[str, tuple[tuple[DocumentStatus, ...], tuple[int, ...]]] = {
    "first": ((_M, _Q, _R), (65, 30, 5)),  # the renewal has just come up
    "early": ((_M, _Q, _R, _E, _W), (20, 35, 30, 10, 5)),  # gathering (or lost)
    "late": ((_Q, _R, _E, _W), (20, 60, 10, 10)),  # past gathering, no document gate
    "gathered": ((_R, _W), (85, 15)),  # required documents once the gate is passed
    "optional": ((_R, _W, _M, _Q), (50, 20, 15, 15)),  # optional ones at that point
}

CHUNK = 4000  # rows per bulk insert
RENEWAL_WINDOW_DAYS = 150  # renewal cards exist for terms ending this close
PLAN_SHARE = 0.15  # of accounts on an auto-renewal plan

# =====================================================================================
# The public interface.
# =====================================================================================


@dataclass(frozen=True)
class DemoSummary:
    """What ``load_demo`` wrote: rows added per kind (existing users are not counted)."""

    users: int
    accounts: int
    policies: int
    terms: int
    renewals: int
    tasks: int
    documents: int
    plans: int
    auto_renewals: int
    seconds: float


class DemoCancelled(UserFacingError):
    """The person loading demo data cancelled it."""


ProgressCallback = Callable[[int, int], None]


def load_demo(
    db: Database,
    actor: Actor,
    *,
    policies: int = 5000,
    seed: int = 1,
    today: date | None = None,
    progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> DemoSummary:
    """Fill an empty database with a demo book of ``policies`` policies (admins only).

    Deterministic for a given ``seed`` and ``today`` (default: the current date). All of it
    is one transaction: if it fails or ``cancelled()`` answers True, nothing is written.
    ``progress(done, total)`` is called after every chunk of rows.
    """
    if policies < 1:
        raise RuleViolation("A demo book needs at least one policy.")
    started = clock.perf_counter()
    today = today or date.today()
    with unit_of_work(db, actor) as uow:
        uow.require(Action.DEMO_LOAD)
        session = uow.session
        if db.dialect == "postgresql":
            # We hand out ids ourselves: keep other desktops from inserting meanwhile.
            session.execute(text(f"LOCK TABLE {', '.join(_TABLE_NAMES)} IN EXCLUSIVE MODE"))
        existing = session.scalar(select(func.count()).select_from(Policy)) or 0
        if existing:
            raise RuleViolation(
                f"This database already has {existing} policies; demo data goes only into "
                "an empty database."
            )
        _check_cancel(cancelled)
        book = _Book(session, random.Random(seed), today)
        book.build(policies)
        _check_cancel(cancelled)
        _write(session, book.rows, progress, cancelled)
        counts = {name: len(rows) for name, rows in book.rows.items()}
        uow.audit("demo.load", "database", None, {"seed": seed, "today": today, **counts})
    return DemoSummary(
        users=counts["users"],
        accounts=counts["accounts"],
        policies=counts["policies"],
        terms=counts["terms"],
        renewals=counts["renewals"],
        tasks=counts["tasks"],
        documents=counts["document_requirements"],
        plans=counts["auto_renewal_plans"],
        auto_renewals=counts["auto_renewals"],
        seconds=round(clock.perf_counter() - started, 3),
    )


def _check_cancel(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise DemoCancelled("Loading demo data was cancelled; nothing was written.")


# =====================================================================================
# Writing: Core bulk inserts in chunks, parents before children.
# =====================================================================================

_TABLES: tuple[Table, ...] = tuple(
    m.__table__  # type: ignore[misc]
    for m in (
        User,
        AutoRenewalPlan,
        Account,
        Policy,
        Term,
        Renewal,
        Task,
        DocumentRequirement,
        AutoRenewal,
    )
)
_TABLE_NAMES = tuple(t.name for t in _TABLES)


def _write(
    session: Session,
    rows: dict[str, list[dict[str, Any]]],
    progress: ProgressCallback | None,
    cancelled: Callable[[], bool] | None,
) -> None:
    total = sum(len(r) for r in rows.values())
    done = 0
    if progress is not None:
        progress(0, total)
    for table in _TABLES:
        table_rows = rows[table.name]
        statement = insert(table)
        for start in range(0, len(table_rows), CHUNK):
            _check_cancel(cancelled)
            chunk = table_rows[start : start + CHUNK]
            session.execute(statement, chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    if session.get_bind().dialect.name == "postgresql":
        # Explicit ids do not move PostgreSQL's sequences; move them past what we wrote.
        for table in _TABLES:
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"
                )
            )


# =====================================================================================
# Generating: plain Python, deterministic for a seed and a day.
# =====================================================================================


def _at(day: date, hours: float = 0.0) -> datetime:
    """``day`` at midnight UTC, plus ``hours``."""
    return datetime.combine(day, time(), UTC) + timedelta(hours=hours)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), clamped to the end of a short month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", value.lower())


@dataclass(frozen=True)
class _Stage:
    id: int
    key: str
    name: str
    position: int
    kind: StageKind
    criteria: tuple[str, ...]
    sla_days: int | None
    implied_state: TransactionState | None


@dataclass(frozen=True)
class _Person:
    id: int
    username: str
    full_name: str
    role: Role
    office: str


@dataclass(frozen=True)
class _Plan:
    id: int
    spec: PlanSpec
    generate: bool = True


@dataclass
class _Account:
    id: int
    name: str
    personal: bool
    contact: str
    producer: _Person
    csr: _Person
    office: str
    plan: _Plan | None
    kind: BusinessKind | None  # None for a personal-lines insured
    row: dict[str, Any]


@dataclass
class _Policy:
    id: int
    account: _Account
    line: str
    carrier: str
    months: int
    term_id: int  # latest term before any renewal in the demo
    start: date
    end: date
    premium: Decimal
    cancelled: bool
    created_at: datetime


@dataclass
class _Decision:
    """Where a renewal stands, decided before its rows are written."""

    renewal_id: int
    policy: _Policy
    stage: _Stage
    entered_at: datetime | None = None  # set when an automatic step moved it
    auto_state: AutoRenewalState | None = None
    auto_error: str | None = None
    fired: dict[str, datetime] = field(default_factory=dict)


class _Book:
    """Builds every row of the demo book as dictionaries ready for Core inserts."""

    def __init__(self, session: Session, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.now = _at(today)  # "now" for the demo: anything before it has happened
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in _TABLE_NAMES}
        self.next_id = {
            t.name: (session.scalar(select(func.max(t.c.id))) or 0) + 1 for t in _TABLES
        }
        self.taken_usernames = set(session.scalars(select(User.username)))
        self.existing_plans = {p.name: p for p in session.scalars(select(AutoRenewalPlan))}
        self.stages = [
            _Stage(
                s.id,
                s.key,
                s.name,
                s.position,
                StageKind(s.kind),
                tuple(s.entry_criteria or ()),
                s.sla_days,
                TransactionState(s.implied_state) if s.implied_state else None,
            )
            for s in session.scalars(
                select(PipelineStage)
                .where(PipelineStage.active.is_(True))
                .order_by(PipelineStage.position, PipelineStage.id)
            )
        ]
        if not self.stages:
            raise RuleViolation("There are no active pipeline stages to put demo renewals in.")
        self.templates: dict[str, list[tuple[str, bool, AccessLevel]]] = {}
        for t in session.scalars(
            select(ChecklistTemplate).order_by(
                ChecklistTemplate.line_of_business, ChecklistTemplate.position, ChecklistTemplate.id
            )
        ):
            self.templates.setdefault(t.line_of_business, []).append(
                (t.document_type, t.required, AccessLevel(t.access_level))
            )
        self._prepare_stage_tables()
        self.policy_numbers: dict[str, set[str]] = {}

    # --- stages ---------------------------------------------------------------------

    def _prepare_stage_tables(self) -> None:
        self.open_stages = [s for s in self.stages if s.kind is StageKind.OPEN]
        self.won_stage = next((s for s in self.stages if s.kind is StageKind.WON), None)
        self.lost_stages = [s for s in self.stages if s.kind is StageKind.LOST]
        self.accepted_stage = next(
            (s for s in self.open_stages if s.implied_state is TransactionState.ACCEPTED), None
        )
        # A renewal deep in the pipeline has passed every earlier stage's gate too.
        self.cumulative: dict[int, set[str]] = {}
        self.open_state: dict[int, TransactionState] = {}
        passed: set[str] = set()
        state = TransactionState.DRAFT
        for s in self.open_stages:
            passed |= set(s.criteria)
            state = s.implied_state or state
            self.cumulative[s.id] = set(passed)
            self.open_state[s.id] = state
        for s in self.stages:
            if s.kind is StageKind.WON:
                self.cumulative[s.id] = (passed - {"next_action"}) | set(s.criteria)
            elif s.kind is StageKind.LOST:
                self.cumulative[s.id] = set(s.criteria)
        # 0: early work, 1: the middle, 2: closing in (and every decided stage).
        n_open = max(1, len(self.open_stages))
        self.phase = {s.id: min(2, i * 3 // n_open) for i, s in enumerate(self.open_stages)}
        self.phase.update({s.id: 2 for s in self.stages if s.kind is not StageKind.OPEN})

    # --- the whole book -------------------------------------------------------------

    def build(self, n_policies: int) -> None:
        self._users(n_policies)
        self._plans()
        policies = self._accounts_and_policies(n_policies)
        decisions = [self._decide(p) for p in policies if self._needs_renewal(p)]
        self._cover_every_stage(decisions)
        by_policy = {d.policy.id: d for d in decisions}
        for policy in policies:
            decision = by_policy.get(policy.id)
            new_term = self._renewal(decision) if decision else None
            if policy.account.plan is not None and not policy.cancelled:
                self._auto_renewals(policy, decision, new_term)

    def _take_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    # --- staff ----------------------------------------------------------------------

    def _users(self, n_policies: int) -> None:
        scale = math.sqrt(n_policies / 5000)
        counts = {
            Role.PRODUCER: max(3, min(16, round(4 * scale))),
            Role.CSR: max(3, min(24, round(6 * scale))),
            Role.MANAGER: 1 if n_policies < 3000 else 2,
        }
        self.staff: dict[Role, list[_Person]] = {role: [] for role in counts}
        used_names: set[tuple[str, str]] = set()
        for role, count in counts.items():
            for i in range(count):
                first, last = self._unused_name(used_names)
                person = _Person(
                    self._take_id("users"),
                    self._username(first, last),
                    f"{first} {last}",
                    role,
                    OFFICES[i % len(OFFICES)],
                )
                self.staff[role].append(person)
                self.rows["users"].append(
                    {
                        "id": person.id,
                        "username": person.username,
                        "full_name": person.full_name,
                        "role": role.value,
                        "active": True,
                        "created_at": self.now - timedelta(days=self.rng.randint(90, 3000)),
                        "version": 1,
                    }
                )
        # Some producers carry much bigger books than others.
        self.producer_weights = [self.rng.uniform(0.5, 1.8) for _ in self.staff[Role.PRODUCER]]

    def _unused_name(self, used: set[tuple[str, str]]) -> tuple[str, str]:
        while True:
            name = (self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES))
            if name not in used:
                used.add(name)
                return name

    def _username(self, first: str, last: str) -> str:
        base = _slug(first[0] + last)
        name, n = base, 1
        while name in self.taken_usernames:
            n += 1
            name = f"{base}{n}"
        self.taken_usernames.add(name)
        return name

    # --- auto-renewal plans ---------------------------------------------------------

    def _plans(self) -> None:
        self.plans: list[_Plan] = []
        for spec in PLANS:
            existing = self.existing_plans.get(spec.name)
            if existing is not None:  # an admin made it already: use it as it is
                actual = PlanSpec(
                    spec.name,
                    existing.create_lead_days,
                    existing.accept_lead_days,
                    existing.issue_lead_days,
                    spec.personal,
                    existing.new_term_months,
                )
                self.plans.append(_Plan(existing.id, actual, existing.generate_auto_renewals))
                continue
            plan = _Plan(self._take_id("auto_renewal_plans"), spec)
            self.plans.append(plan)
            self.rows["auto_renewal_plans"].append(
                {
                    "id": plan.id,
                    "name": spec.name,
                    "create_lead_days": spec.create,
                    "accept_lead_days": spec.accept,
                    "issue_lead_days": spec.issue,
                    "new_term_months": spec.months,
                    "transaction_type": "renewal",
                    "generate_auto_renewals": plan.generate,
                    "version": 1,
                }
            )

    def _pick_plan(self, personal: bool) -> _Plan | None:
        if self.rng.random() >= PLAN_SHARE:
            return None
        fitting = [p for p in self.plans if p.spec.personal == personal]
        weights = [3 if i == 0 else 1 for i in range(len(fitting))]
        return self.rng.choices(fitting, weights)[0] if fitting else None

    # --- accounts, policies, terms --------------------------------------------------

    def _accounts_and_policies(self, n_policies: int) -> list[_Policy]:
        policies: list[_Policy] = []
        while len(policies) < n_policies:
            account = self._account()
            wanted = self.rng.choices((1, 2, 3, 4), (55, 30, 11, 4))[0]
            lines = self._lines_for(account, min(wanted, n_policies - len(policies)))
            size = self.rng.lognormvariate(0, 0.5)  # bigger insureds pay more on every line
            made = [self._policy(account, line, size) for line in lines]
            account.row["created_at"] = min(p.created_at for p in made)
            policies.extend(made)
        return policies

    def _account(self) -> _Account:
        rng = self.rng
        personal = rng.random() < 0.55
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, zip3, area = rng.choice(CITIES)
        if personal:
            name = f"{first} {last}"
            if rng.random() < 0.15:
                name = f"{first} & {rng.choice(FIRST_NAMES)} {last}"
            email = f"{_slug(first)}.{_slug(last)}{rng.randint(1, 99)}@example.net"
            kind = None
        else:
            kind = rng.choice(BUSINESS_KINDS)
            name = self._business_name(kind, last)
            domain = _slug(name.removesuffix(" LLC").removesuffix(" Inc."))[:30]
            email = f"office@{domain}.example.com"
        producer = rng.choices(self.staff[Role.PRODUCER], self.producer_weights)[0]
        local_csrs = [c for c in self.staff[Role.CSR] if c.office == producer.office]
        csr = rng.choice(local_csrs or self.staff[Role.CSR])
        tier = rng.choices(
            (ServiceTier.STANDARD, ServiceTier.PREFERRED, ServiceTier.PREMIER),
            (75, 20, 5) if personal else (55, 30, 15),
        )[0]
        account_id = self._take_id("accounts")
        row = {
            "id": account_id,
            "name": name,
            "contact_name": f"{first} {last}",
            "contact_email": email,
            # 555-01xx numbers are reserved for fiction: nobody real gets called.
            "contact_phone": f"({area}) 555-01{rng.randint(0, 99):02d}",
            "address": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
            "city": city,
            "state": state,
            "postal_code": f"{zip3}{rng.randint(1, 99):02d}",
            "producer_id": producer.id,
            "csr_id": csr.id,
            "service_tier": tier.value,
            "auto_renewal_plan_id": None,
            "created_at": None,  # the first policy's date, filled in once it exists
            "version": 1,
        }
        plan = self._pick_plan(personal)
        if plan is not None:
            row["auto_renewal_plan_id"] = plan.id
        self.rows["accounts"].append(row)
        return _Account(
            account_id,
            name,
            personal,
            f"{first} {last}",
            producer,
            csr,
            producer.office,
            plan,
            kind,
            row,
        )

    def _business_name(self, kind: BusinessKind, last: str) -> str:
        rng = self.rng
        trade = rng.choice(kind.trades)
        pattern = rng.randrange(4)
        if pattern == 0:
            name = f"{last} {trade}"
        elif pattern == 1:
            name = f"{rng.choice(PLACES)} {trade}"
        elif pattern == 2:
            name = f"{last} & {rng.choice(LAST_NAMES)} {trade}"
        else:
            name = f"{last} & Sons {trade}"
        return name + rng.choice(("", "", " LLC", " Inc.", " Co."))

    def _lines_for(self, account: _Account, count: int) -> list[str]:
        rng = self.rng
        if account.personal:
            first = rng.choices(("AUTOP", "HOME", "DFIRE"), (50, 40, 10))[0]
            rest = [x for x in ("AUTOP", "HOME", "UMBRP", "FLOOD", "DFIRE") if x != first]
            weights = [5 if x in ("AUTOP", "HOME") else 2 if x == "UMBRP" else 1 for x in rest]
        else:
            kind = account.kind
            assert kind is not None
            first = kind.lines[0] if rng.random() < 0.7 else rng.choice(kind.lines)
            rest = [x for x in kind.lines if x != first]
            weights = [len(rest) - i for i in range(len(rest))]
        lines = [first]
        while len(lines) < count and rest:
            pick = rng.choices(range(len(rest)), weights)[0]
            lines.append(rest.pop(pick))
            weights.pop(pick)
        return lines

    def _policy(self, account: _Account, line: str, size: float) -> _Policy:
        rng = self.rng
        markets = CARRIERS[line]
        carrier = rng.choices(markets, [len(markets) - i + 2 for i in range(len(markets))])[0]
        # Personal auto often renews every six months (but not on a plan: plans say 12).
        months = 6 if line == "AUTOP" and account.plan is None and rng.random() < 0.5 else 12
        span = round(months * 30.44)
        end = self.today + timedelta(days=rng.randint(-60, span - 61))
        premium = self._premium(line, months, size if not account.personal else 1.0)
        n_terms = rng.choices((1, 2, 3), (25, 35, 40))[0]
        policy_id = self._take_id("policies")
        # Terms, newest first: each one ends where the next begins.
        term_rows = []
        term_end, term_premium = end, premium
        for _ in range(n_terms):
            term_start = add_months(term_end, -months)
            term_rows.append(
                {
                    "id": 0,
                    "policy_id": policy_id,
                    "start_at": _at(term_start),
                    "end_at": _at(term_end),
                    "premium": term_premium,
                    "created_at": _at(term_start) - timedelta(days=rng.randint(3, 25)),
                }
            )
            term_end = term_start
            term_premium = _money(float(term_premium) / rng.uniform(1.0, 1.12))
        for row in reversed(term_rows):  # ids in time order
            row["id"] = self._take_id("terms")
        self.rows["terms"].extend(reversed(term_rows))
        first_term = term_rows[-1]
        cancelled = end > self.today + timedelta(days=RENEWAL_WINDOW_DAYS) and rng.random() < 0.02
        start = term_rows[0]["start_at"].date()
        row = {
            "id": policy_id,
            "account_id": account.id,
            "policy_number": self._policy_number(carrier, line),
            "carrier": carrier,
            "line_of_business": line,
            "office": account.office,
            "status": (PolicyStatus.CANCELLED if cancelled else PolicyStatus.ACTIVE).value,
            "cancelled_at": _at(start + timedelta(days=rng.randint(5, 55)), 15)
            if cancelled
            else None,
            "created_at": first_term["created_at"],
            "version": 1,
        }
        self.rows["policies"].append(row)
        return _Policy(
            policy_id,
            account,
            line,
            carrier,
            months,
            term_rows[0]["id"],
            start,
            end,
            premium,
            cancelled,
            row["created_at"],
        )

    def _premium(self, line: str, months: int, size: float) -> Decimal:
        median, sigma, floor = PREMIUMS[line]
        annual = self.rng.lognormvariate(math.log(median * size), sigma)
        annual = min(max(floor, annual), 15 * median)  # a small agency's book: no jumbo risks
        amount = annual * months / 12
        if self.rng.random() < 0.7:  # carriers mostly quote whole dollars
            return Decimal(round(amount))
        return _money(amount)

    def _policy_number(self, carrier: str, line: str) -> str:
        shape = POLICY_NUMBER_FORMATS.get(carrier, "@@#######")
        code = CARRIER_LINE_CODES.get(carrier, {}).get(line, line[:2])
        shape = shape.replace("{code}", code)
        used = self.policy_numbers.setdefault(carrier, set())
        while True:
            number = "".join(
                self.rng.choice("0123456789")
                if c == "#"
                else self.rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
                if c == "@"
                else c
                for c in shape
            )
            if number not in used:
                used.add(number)
                return number

    # --- renewals: where each one stands --------------------------------------------

    def _needs_renewal(self, policy: _Policy) -> bool:
        return not policy.cancelled and (policy.end - self.today).days <= RENEWAL_WINDOW_DAYS

    def _decide(self, policy: _Policy) -> _Decision:
        decision = _Decision(
            self._take_id("renewals"), policy, self._pick_stage((policy.end - self.today).days)
        )
        if policy.account.plan is not None:
            self._follow_plan(decision, policy.account.plan)
        return decision

    def _pick_stage(self, days_left: int) -> _Stage:
        """Renewals further along the closer the term end is; nearly all past ones decided."""
        rng = self.rng
        if days_left <= 0:
            decided = 0.97
        elif days_left <= 30:
            decided = 0.35
        elif days_left <= 60:
            decided = 0.06
        elif days_left <= 90:
            decided = 0.015
        else:
            decided = 0.0
        if (rng.random() < decided or not self.open_stages) and (
            self.won_stage or self.lost_stages
        ):
            if self.won_stage and (not self.lost_stages or rng.random() < 0.84):
                return self.won_stage
            weights = [3 if i == 0 else 2 for i in range(len(self.lost_stages))]
            return rng.choices(self.lost_stages, weights)[0]
        last = len(self.open_stages) - 1
        progress = min(1.0, max(0.0, (RENEWAL_WINDOW_DAYS - days_left) / RENEWAL_WINDOW_DAYS))
        index = round(progress * last - 0.3 + rng.gauss(0, 0.6))
        return self.open_stages[min(last, max(0, index))]

    def _follow_plan(self, decision: _Decision, plan: _Plan) -> None:
        """Make the renewal agree with the auto-renewal triggers that have already fired."""
        rng = self.rng
        triggers = _triggers(plan.spec, decision.policy.end)
        due = {event: t for event, t in triggers.items() if t is not None and t < self.now}
        fire = {event: t + timedelta(minutes=rng.randint(1, 20)) for event, t in due.items()}
        stage = decision.stage
        if stage.kind is StageKind.LOST:  # its renewal was refused or rejected
            decision.auto_state = AutoRenewalState.TERMINATED
            decision.fired = {k: v for k, v in fire.items() if k == "create"}
            return
        if stage.kind is StageKind.WON:  # issued (by the issue trigger, or by hand)
            decision.auto_state = AutoRenewalState.ISSUED
            issued = fire.get("issue") or self._entered_at(stage, decision.policy.end)
            decision.entered_at = issued
            decision.fired = {event: t for event, t in fire.items() if t <= issued}
            return
        if "create" not in due:
            return  # the timer service has not reached this one yet: active, nothing fired
        decision.fired["create"] = fire["create"]
        accepted = self.accepted_stage
        before_accept = accepted is None or stage.position < accepted.position
        if before_accept and rng.random() < 0.12:  # the plugin answered doNotRenew
            decision.auto_state = AutoRenewalState.DO_NOT_RENEW
            return
        if "accept" in due and accepted is not None:
            if before_accept:
                if rng.random() < 0.25:  # the automatic accept could not move it
                    decision.auto_state = AutoRenewalState.ERROR
                    decision.auto_error = self._accept_error(stage, due["accept"])
                    return
                decision.stage = accepted
                decision.entered_at = fire["accept"]
            decision.fired["accept"] = fire["accept"]
        if "issue" in due and self.won_stage is not None:
            decision.stage = self.won_stage
            decision.entered_at = fire["issue"]
            decision.fired["issue"] = fire["issue"]
            decision.auto_state = AutoRenewalState.ISSUED
        else:
            decision.auto_state = AutoRenewalState.ACTIVE

    def _accept_error(self, stage: _Stage, when: datetime) -> str:
        assert self.accepted_stage is not None
        has = self.cumulative[stage.id]
        facts = RenewalFacts(  # what a card in ``stage`` has (open cards have a next action)
            next_action="next action",
            next_action_owner_id=0,
            next_action_due=self.today,
            outstanding_required_documents=() if "required_documents" in has else ("Loss runs",),
            new_premium=Decimal(1) if "new_premium" in has else None,
            new_end_at=when if "new_term_dates" in has else None,
        )
        missing = missing_for(self.accepted_stage.criteria, facts) or ["an underwriter's OK"]
        return f"Accept at {when:%Y-%m-%d %H:%M} UTC: " + refusal_message(
            self.accepted_stage.name, missing
        )

    def _cover_every_stage(self, decisions: list[_Decision]) -> None:
        """Small books still show every stage: move a few hand-worked renewals over."""
        movable = [d for d in decisions if d.policy.account.plan is None]
        for stage in self.stages:
            if any(d.stage.id == stage.id for d in decisions):
                continue
            counts: dict[int, int] = {}
            for d in movable:
                counts[d.stage.id] = counts.get(d.stage.id, 0) + 1
            donors = [d for d in movable if counts[d.stage.id] > 1]
            if donors:
                self.rng.choice(donors).stage = stage

    # --- renewals: the rows ---------------------------------------------------------

    def _renewal(self, decision: _Decision) -> dict[str, Any] | None:
        """Write the renewal, its checklist and tasks; return the new term if it renewed."""
        rng = self.rng
        policy, stage = decision.policy, decision.stage
        account = policy.account
        has = self.cumulative[stage.id]
        entered = decision.entered_at or self._entered_at(stage, policy.end)
        entered = max(entered, _at(policy.start, 30))
        created = entered - timedelta(days=rng.randint(0, 45))
        created = max(min(created, entered), _at(policy.start, 24))
        row: dict[str, Any] = {
            "id": decision.renewal_id,
            "policy_id": policy.id,
            "term_id": policy.term_id,
            "stage_id": stage.id,
            "stage_entered_at": entered,
            "next_action": None,
            "next_action_owner_id": None,
            "next_action_due": None,
            "target_date": policy.end - timedelta(days=21 if not account.personal else 10),
            "risk_flags": [],
            "blocker_reason": None,
            "outcome": None,
            "outcome_reason": None,
            "notes": rng.choice(NOTES) if rng.random() < 0.15 else None,
            "effective_at": None,
            "new_end_at": None,
            "new_premium": None,
            "transaction_type": "renewal",
            "transaction_state": TransactionState.DRAFT.value,
            "new_term_id": None,
            "created_at": created,
            "updated_at": min(self.now, entered + timedelta(hours=rng.randint(0, 72))),
            "version": 1,
        }
        if stage.kind is StageKind.OPEN:
            self._open_card(row, decision, entered)
            row["transaction_state"] = self.open_state[stage.id].value
        if "new_premium" in has or stage.kind is StageKind.WON or rng.random() < 0.25:
            change = min(0.45, max(-0.15, rng.gauss(0.06, 0.08)))
            row["new_premium"] = _money(float(policy.premium) * (1 + change))
        if "new_term_dates" in has or stage.kind is StageKind.WON:
            effective = policy.end
            if stage.kind is StageKind.WON and rng.random() < 0.02:
                effective += timedelta(days=rng.randint(3, 12))  # lapsed, renewed with a gap
            row["effective_at"] = _at(effective)
            row["new_end_at"] = _at(add_months(policy.end, policy.months))
        if decision.auto_state is AutoRenewalState.DO_NOT_RENEW:
            row["risk_flags"] = [*row["risk_flags"], DO_NOT_RENEW_FLAG]
        new_term = None
        if stage.kind is StageKind.WON:
            row["transaction_state"] = TransactionState.ISSUED.value
            row["outcome"] = Outcome.RENEWED.value
            row["outcome_reason"] = rng.choice(RENEWED_REASONS) if rng.random() < 0.5 else None
            new_term = {
                "id": self._take_id("terms"),
                "policy_id": policy.id,
                "start_at": row["effective_at"],
                "end_at": row["new_end_at"],
                "premium": row["new_premium"],
                "created_at": entered,
            }
            self.rows["terms"].append(new_term)
            row["new_term_id"] = new_term["id"]
        elif stage.kind is StageKind.LOST:
            rejected = stage.implied_state is TransactionState.REJECTED
            row["transaction_state"] = (stage.implied_state or TransactionState.REFUSED).value
            row["outcome"] = (Outcome.NON_RENEWED if rejected else Outcome.LOST).value
            row["outcome_reason"] = rng.choice(NON_RENEWED_REASONS if rejected else LOST_REASONS)
        self.rows["renewals"].append(row)
        self._documents(decision, created.date(), entered.date())
        self._tasks(decision, row)
        return new_term

    def _entered_at(self, stage: _Stage, end: date) -> datetime:
        rng = self.rng
        yesterday = self.today - timedelta(days=1)
        if stage.kind is StageKind.OPEN:
            sla = stage.sla_days or 14
            days = rng.randint(sla + 1, 2 * sla + 5) if rng.random() < 0.15 else rng.randint(0, sla)
            return self.now - timedelta(days=days, hours=rng.randint(1, 9))
        if stage.kind is StageKind.WON:
            decided = min(end - timedelta(days=rng.randint(0, 30)), yesterday)
        else:
            decided = min(end - timedelta(days=rng.randint(-10, 30)), yesterday)
        return _at(decided, rng.randint(13, 22))

    def _open_card(self, row: dict[str, Any], decision: _Decision, entered: datetime) -> None:
        """Next action, owner and due date (every open stage needs them), flags, blocker."""
        rng = self.rng
        account, stage = decision.policy.account, decision.stage
        late_stage = self.phase[stage.id] == 2
        if rng.random() < 0.02 and self.staff[Role.MANAGER]:
            owner = rng.choice(self.staff[Role.MANAGER])  # escalated
        elif rng.random() < (0.55 if late_stage else 0.25):
            owner = account.producer
        else:
            owner = account.csr
        in_stage = max(0, (self.today - entered.date()).days)
        roll = rng.random()
        if roll < 0.015 and in_stage > 10:  # long forgotten: feeds "needs attention"
            due = self.today - timedelta(days=rng.randint(10, min(30, in_stage)))
        elif roll < 0.04 and in_stage > 0:
            due = self.today - timedelta(days=rng.randint(1, min(9, in_stage)))
        else:
            due = self.today + timedelta(days=rng.randint(0, 14))
        row["next_action"] = rng.choice(NEXT_ACTIONS.get(stage.key, GENERIC_NEXT_ACTIONS))
        row["next_action_owner_id"] = owner.id
        row["next_action_due"] = due
        if rng.random() < 0.12:
            row["risk_flags"] = rng.sample(RISK_FLAGS, rng.choice((1, 1, 2)))
        if rng.random() < 0.06:
            row["blocker_reason"] = rng.choice(BLOCKERS)

    def _documents(self, decision: _Decision, opened: date, entered: date) -> None:
        rng = self.rng
        policy, stage = decision.policy, decision.stage
        done = "required_documents" in self.cumulative[stage.id]
        early = stage.kind is StageKind.OPEN and self.phase[stage.id] == 0
        first = bool(self.open_stages) and stage.id == self.open_stages[0].id
        folder = re.sub(r"[^A-Za-z0-9&' -]", "", policy.account.name).strip()
        for doc_type, required, access in self.templates.get(policy.line, []):
            if done:
                mix = DOCUMENT_MIX["gathered" if required else "optional"]
            elif first:
                mix = DOCUMENT_MIX["first"]
            elif early or stage.kind is StageKind.LOST:
                mix = DOCUMENT_MIX["early"]
            else:
                mix = DOCUMENT_MIX["late"]
            status = rng.choices(mix[0], mix[1])[0]
            self.rows["document_requirements"].append(
                self._document(
                    decision.renewal_id,
                    folder,
                    doc_type,
                    required,
                    access,
                    status,
                    opened,
                    entered,
                )
            )

    def _document(
        self,
        renewal_id: int,
        folder: str,
        doc_type: str,
        required: bool,
        access: AccessLevel,
        status: DocumentStatus,
        opened: date,
        entered: date,
    ) -> dict[str, Any]:
        rng = self.rng
        yesterday = self.today - timedelta(days=1)
        requested = received = expires = link = waive = None
        if status is not DocumentStatus.MISSING and status is not DocumentStatus.WAIVED:
            requested = entered - timedelta(days=rng.randint(0, 25))
            requested = min(max(requested, opened), yesterday)
        if status is DocumentStatus.RECEIVED:
            assert requested is not None
            received = min(requested + timedelta(days=rng.randint(1, 20)), yesterday)
            if rng.random() < 0.3:  # e.g. loss runs are good for a few months
                expires = received + timedelta(days=rng.choice((60, 90, 180, 365)))
                if expires <= self.today:  # that would be an expired document, not this one
                    expires = None
        elif status is DocumentStatus.EXPIRED:
            expires = self.today - timedelta(days=rng.randint(1, 60))
            received = expires - timedelta(days=rng.choice((90, 180, 365)))
            requested = received - timedelta(days=rng.randint(1, 15))
        elif status is DocumentStatus.WAIVED:
            waive = rng.choice(WAIVE_REASONS)
        if received is not None and rng.random() < 0.9:
            file_name = f"{doc_type} {received:%Y-%m-%d}.pdf"
            if rng.random() < 0.7:
                link = f"\\\\fileserver\\clients\\{folder}\\{file_name}"
            else:
                link = (
                    "https://agency.sharepoint.example/clients/"
                    f"{_slug(folder)}/{_slug(doc_type)}-{received:%Y%m%d}.pdf"
                )
        return {
            "id": self._take_id("document_requirements"),
            "renewal_id": renewal_id,
            "document_type": doc_type,
            "required": required,
            "status": status.value,
            "requested_on": requested,
            "received_on": received,
            "expires_on": expires,
            "storage_link": link,
            "access_level": access.value,
            "waive_reason": waive,
            "version": 1,
        }

    def _tasks(self, decision: _Decision, renewal: dict[str, Any]) -> None:
        rng = self.rng
        policy, stage = decision.policy, decision.stage
        account = policy.account
        phase = self.phase[stage.id]
        fitting = [
            t for t in TASK_TYPES if (t[2] is None or policy.line in t[2]) and t[3] <= phase + 1
        ]
        count = min(len(fitting), rng.choices((1, 2, 3), (35, 40, 25))[0])
        for task_type, title, _lines, _phase in rng.sample(fitting, count):
            owner = account.producer if rng.random() < 0.25 else account.csr
            if stage.kind is StageKind.OPEN:
                status = rng.choices(
                    (TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.CANCELLED), (65, 28, 7)
                )[0]
            else:
                status = rng.choices((TaskStatus.DONE, TaskStatus.CANCELLED), (80, 20))[0]
            if stage.kind is StageKind.OPEN:
                due = self.today + timedelta(days=rng.randint(-12, 20))
            else:
                due = renewal["stage_entered_at"].date() - timedelta(days=rng.randint(0, 20))
            created = renewal["created_at"]
            completed_at = completed_by = None
            if status is TaskStatus.DONE:
                day = min(due, self.today - timedelta(days=1))
                completed_at = max(created, _at(day, rng.randint(13, 22)))
                completed_by = owner.id
            self.rows["tasks"].append(
                {
                    "id": self._take_id("tasks"),
                    "renewal_id": decision.renewal_id,
                    "task_type": task_type,
                    "title": title.format(
                        contact=account.contact,
                        carrier=policy.carrier,
                        line=LINES_OF_BUSINESS[policy.line].lower(),
                    ),
                    "owner_id": owner.id,
                    "due_date": due,
                    "status": status.value,
                    "completed_by_id": completed_by,
                    "completed_at": completed_at,
                    "created_at": created,
                    "version": 1,
                }
            )

    # --- auto-renewals --------------------------------------------------------------

    def _auto_renewals(
        self, policy: _Policy, decision: _Decision | None, new_term: dict[str, Any] | None
    ) -> None:
        """The auto-renewal of the term being renewed, and of the new term if one was issued."""
        plan = policy.account.plan
        assert plan is not None
        state = AutoRenewalState.ACTIVE
        fired: dict[str, datetime] = {}
        error = renewal_id = None
        if decision is not None:
            state = decision.auto_state or AutoRenewalState.ACTIVE
            fired, error = decision.fired, decision.auto_error
            if fired or state is not AutoRenewalState.ACTIVE:
                renewal_id = decision.renewal_id  # created, adopted, or decided
        self._auto_renewal_row(
            policy.id,
            policy.term_id,
            plan,
            policy.end,
            state,
            renewal_id,
            fired,
            error,
            _at(policy.start, 12),
        )
        if new_term is not None and plan.generate:
            self._auto_renewal_row(
                policy.id,
                new_term["id"],
                plan,
                new_term["end_at"].date(),
                AutoRenewalState.ACTIVE,
                None,
                {},
                None,
                new_term["created_at"],
            )

    def _auto_renewal_row(
        self,
        policy_id: int,
        term_id: int,
        plan: _Plan,
        end: date,
        state: AutoRenewalState,
        renewal_id: int | None,
        fired: dict[str, datetime],
        error: str | None,
        created: datetime,
    ) -> None:
        triggers = _triggers(plan.spec, end)
        pending = [
            moment
            for event, moment in triggers.items()
            if moment is not None and fired.get(event) is None
        ]
        next_due = min(pending) if pending and state is AutoRenewalState.ACTIVE else None
        self.rows["auto_renewals"].append(
            {
                "id": self._take_id("auto_renewals"),
                "policy_id": policy_id,
                "term_id": term_id,
                "plan_id": plan.id,
                "state": state.value,
                "renewal_id": renewal_id,
                "create_time": triggers["create"],
                "accept_time": triggers["accept"],
                "issue_time": triggers["issue"],
                "transaction_type": "renewal",
                "new_term_months": plan.spec.months,
                "fired_create_at": fired.get("create"),
                "fired_accept_at": fired.get("accept"),
                "fired_issue_at": fired.get("issue"),
                "last_error": error,
                "next_due_at": next_due,
                "created_at": created,
                "version": 1,
            }
        )


def _triggers(plan: PlanSpec, end: date) -> dict[str, datetime | None]:
    """Trigger times: the term end minus each lead time (None: that step is manual)."""
    return {
        event: None if lead is None else _at(end - timedelta(days=lead))
        for event, lead in (("create", plan.create), ("accept", plan.accept), ("issue", plan.issue))
    }


def _money(amount: float) -> Decimal:
    return Decimal(round(amount * 100)) / 100
