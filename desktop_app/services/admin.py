"""Agency-wide configuration: pipeline stages, checklist templates, auto-renewal plans,
agency settings, the timer service's state, and backups.

Stages are shared by everyone ("nobody invents private stages: reporting depends on
shared definitions"): an admin edits, reorders and adds to the one list. The order keeps
the pipeline's sense: open stages before outcome stages, a quoted stage before an accepted
one, and a first stage a brand-new renewal can enter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desktop_app.db import migrate
from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AppSetting,
    AutoRenewal,
    AutoRenewalPlan,
    ChecklistTemplate,
    PipelineStage,
    Policy,
    Renewal,
    TimerFiring,
)
from desktop_app.domain import auto_renewal as ar_rules
from desktop_app.domain.enums import (
    LINES_OF_BUSINESS,
    AccessLevel,
    AutoRenewalState,
    StageKind,
    TransactionState,
)
from desktop_app.domain.permissions import Action
from desktop_app.domain.stages import CRITERIA, DEFAULT_STAGES
from desktop_app.domain.transactions import RuleRefused
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.services import agency
from desktop_app.services.auto_renewals import PlanInfo, _plan_info, refused
from desktop_app.services.unit import Actor, UnitOfWork, unit_of_work

BUILT_IN_STAGES = frozenset(spec.key for spec in DEFAULT_STAGES)
"""The stages every agency starts with; they can be edited and reordered, never removed."""

FIRST_STAGE_CRITERIA = frozenset({"next_action"})
"""What the first stage may require: a renewal is opened there with only a next action."""

# --------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class StageInfo:
    id: int
    version: int
    key: str
    name: str
    position: int
    kind: StageKind
    entry_criteria: tuple[str, ...]
    sla_days: int | None
    implied_state: TransactionState | None
    renewals: int = 0
    """How many renewals are in the stage (filled by :func:`stages_for_admin`)."""
    built_in: bool = True
    """One of the default stages (cannot be deactivated)."""


def _info(s: PipelineStage, renewals: int = 0) -> StageInfo:
    return StageInfo(
        s.id,
        s.version,
        s.key,
        s.name,
        s.position,
        s.kind,
        tuple(s.entry_criteria),
        s.sla_days,
        s.implied_state,
        renewals,
        s.key in BUILT_IN_STAGES,
    )


def list_stages(db: Database) -> list[StageInfo]:
    with db.read_session() as session:
        query = (
            select(PipelineStage)
            .where(PipelineStage.active.is_(True))
            .order_by(PipelineStage.position)
        )
        return [_info(s) for s in session.scalars(query)]


def stages_for_admin(db: Database) -> list[StageInfo]:
    """The active stages in order, each with the number of renewals in it."""
    with db.read_session() as session:
        counts = dict(
            session.execute(select(Renewal.stage_id, func.count()).group_by(Renewal.stage_id)).all()
        )
        query = (
            select(PipelineStage)
            .where(PipelineStage.active.is_(True))
            .order_by(PipelineStage.position, PipelineStage.id)
        )
        return [_info(s, int(counts.get(s.id, 0))) for s in session.scalars(query)]


def _active_stages(session: Session) -> list[PipelineStage]:
    return list(
        session.scalars(
            select(PipelineStage)
            .where(PipelineStage.active.is_(True))
            .order_by(PipelineStage.position, PipelineStage.id)
        )
    )


def _load_stage(uow: UnitOfWork, key: str) -> PipelineStage:
    stage = uow.session.scalar(select(PipelineStage).where(PipelineStage.key == key))
    if stage is None:
        raise NotFound(f"There is no pipeline stage '{key}'.")
    return stage


def _labels(codes: Sequence[str]) -> str:
    words = [CRITERIA[c].label for c in codes]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _check_first_stage(stage: PipelineStage, criteria: Sequence[str]) -> None:
    extra = [c for c in criteria if c not in FIRST_STAGE_CRITERIA]
    if extra:
        raise RuleViolation(
            f"New renewals open in {stage.name}, the first stage, so it cannot require "
            f"{_labels(extra)}; only a next action."
        )
    if stage.implied_state is not None:
        raise RuleViolation(
            f"{stage.name} cannot be the first stage: new renewals open there as drafts, "
            f"and it marks the renewal {stage.implied_state.value}."
        )


_STATE_ORDER = (TransactionState.DRAFT, TransactionState.QUOTED, TransactionState.ACCEPTED)


def _check_order(stages: Sequence[PipelineStage]) -> None:
    """Refuse an order of active stages that breaks the pipeline's sense."""
    closed_seen: PipelineStage | None = None
    for stage in stages:
        if stage.kind is StageKind.OPEN and closed_seen is not None:
            raise RuleViolation(
                f"{stage.name} is an open stage, so it must come before {closed_seen.name}: "
                "the outcome stages end the pipeline."
            )
        if stage.kind is not StageKind.OPEN and closed_seen is None:
            closed_seen = stage
    open_stages = [s for s in stages if s.kind is StageKind.OPEN]
    if not open_stages:  # pragma: no cover - built-in stages are never deactivated
        raise RuleViolation("The pipeline needs at least one open stage.")
    _check_first_stage(open_stages[0], open_stages[0].entry_criteria)
    implying = [s for s in open_stages if s.implied_state in _STATE_ORDER]
    for earlier, later in pairwise(implying):
        assert earlier.implied_state is not None and later.implied_state is not None
        if _STATE_ORDER.index(earlier.implied_state) > _STATE_ORDER.index(later.implied_state):
            raise RuleViolation(
                f"{later.name} must come before {earlier.name}: a renewal is "
                f"{later.implied_state.value} before it is {earlier.implied_state.value}."
            )


def _renumber(uow: UnitOfWork, ordered: Sequence[PipelineStage], action: str) -> None:
    """Give the active stages positions 1…n in ``ordered``; inactive ones follow them."""
    inactive = list(
        uow.session.scalars(
            select(PipelineStage)
            .where(PipelineStage.active.is_(False))
            .order_by(PipelineStage.position, PipelineStage.id)
        )
    )
    for position, stage in enumerate([*ordered, *inactive], start=1):
        uow.update(stage, {"position": position}, action)


def _criteria(entry_criteria: Sequence[str], kind: StageKind) -> list[str]:
    unknown = [c for c in entry_criteria if c not in CRITERIA]
    if unknown:
        raise RuleViolation(
            f"Unknown entry criteria {', '.join(unknown)}; choose from {', '.join(CRITERIA)}."
        )
    if kind is StageKind.OPEN and "next_action" not in entry_criteria:
        raise RuleViolation(
            "Every open stage needs a next action with an owner and a due date; "
            "keep that criterion."
        )
    return list(dict.fromkeys(entry_criteria))


def _check_sla(sla_days: int) -> None:
    if sla_days <= 0:
        raise RuleViolation(f"SLA days must be a positive number of days, not {sla_days}.")


def _name_taken(uow: UnitOfWork, name: str, but: int | None = None) -> PipelineStage | None:
    query = select(PipelineStage).where(func.lower(PipelineStage.name) == name.lower())
    if but is not None:
        query = query.where(PipelineStage.id != but)
    return uow.session.scalar(query)


def update_stage(
    db: Database,
    actor: Actor,
    key: str,
    *,
    expected_version: int | None = None,
    name: str | None = None,
    sla_days: int | None = None,
    entry_criteria: list[str] | tuple[str, ...] | None = None,
) -> StageInfo:
    """Rename a stage, change its SLA days or its entry criteria (admins)."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.STAGE_CONFIGURE)
        stage = _load_stage(uow, key)
        uow.check_version(stage, expected_version, f"The stage {stage.name}")
        fields: dict[str, object] = {}
        if name is not None:
            if not name.strip():
                raise RuleViolation("A stage needs a name.")
            clash = _name_taken(uow, name.strip(), but=stage.id)
            if clash is not None:
                raise RuleViolation(
                    f"There is already a stage named '{clash.name}'; nothing was saved."
                )
            fields["name"] = name.strip()
        if sla_days is not None:
            _check_sla(sla_days)
            fields["sla_days"] = sla_days
        if entry_criteria is not None:
            criteria = _criteria(entry_criteria, stage.kind)
            if stage.active:
                first = next(
                    (s for s in _active_stages(uow.session) if s.kind is StageKind.OPEN), None
                )
                if first is not None and first.id == stage.id:
                    _check_first_stage(stage, criteria)
            fields["entry_criteria"] = criteria
        uow.update(stage, fields, "stage.update")
        return _info(stage)


def reorder_stage(
    db: Database,
    actor: Actor,
    key: str,
    offset: int,
    *,
    expected_version: int | None = None,
) -> list[StageInfo]:
    """Move a stage ``offset`` places (−1: up, +1: down); returns the stages in order.

    Positions stay 1…n with no gaps; each stage whose position changed is audited.
    """
    with unit_of_work(db, actor) as uow:
        uow.require(Action.STAGE_CONFIGURE)
        stage = _load_stage(uow, key)
        uow.check_version(stage, expected_version, f"The stage {stage.name}")
        if not stage.active:
            raise RuleViolation(f"The stage {stage.name} is deactivated; it has no place.")
        ordered = _active_stages(uow.session)
        index = next(i for i, s in enumerate(ordered) if s.id == stage.id)
        target = index + offset
        if not 0 <= target < len(ordered):
            where = "first" if target < 0 else "last"
            raise RuleViolation(f"{stage.name} is already the {where} stage.")
        ordered.insert(target, ordered.pop(index))
        _check_order(ordered)
        _renumber(uow, ordered, "stage.reorder")
        return [_info(s) for s in ordered]


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return (slug or "stage")[:32]


def add_stage(
    db: Database,
    actor: Actor,
    name: str,
    *,
    after: str,
    sla_days: int | None = None,
    entry_criteria: Sequence[str] = ("next_action",),
) -> StageInfo:
    """Add an open stage right after the open stage ``after`` (a key); every stage after
    it moves down one place. A deactivated stage of the same name comes back instead."""
    name = (name or "").strip()
    if not name:
        raise RuleViolation("A stage needs a name.")
    if len(name) > 80:
        raise RuleViolation("A stage name can be at most 80 characters long.")
    if sla_days is not None:
        _check_sla(sla_days)
    with unit_of_work(db, actor) as uow:
        uow.require(Action.STAGE_CONFIGURE)
        criteria = _criteria(entry_criteria, StageKind.OPEN)
        anchor = _load_stage(uow, after)
        if not anchor.active or anchor.kind is not StageKind.OPEN:
            raise RuleViolation(
                f"A new stage goes after an open stage, and {anchor.name} is "
                f"{'deactivated' if not anchor.active else 'an outcome stage'}."
            )
        stage = _name_taken(uow, name)
        if stage is not None and stage.active:
            raise RuleViolation(f"There is already a stage named '{stage.name}'.")
        if stage is not None and stage.kind is not StageKind.OPEN:  # pragma: no cover
            raise RuleViolation(f"The stage '{stage.name}' is an outcome stage.")
        fields = {"name": name, "sla_days": sla_days, "entry_criteria": criteria}
        if stage is None:
            keys = set(uow.session.scalars(select(PipelineStage.key)))
            key, n = _slug(name), 1
            while key in keys:
                n += 1
                key = f"{_slug(name)}_{n}"
            stage = PipelineStage(
                key=key,
                kind=StageKind.OPEN,
                position=anchor.position + 1,
                implied_state=None,
                active=True,
                **fields,
            )
            uow.session.add(stage)
            uow.session.flush()
            uow.audit(
                "stage.create",
                "pipeline_stages",
                stage.id,
                {
                    "key": [None, key],
                    "name": [None, name],
                    "kind": [None, StageKind.OPEN.value],
                    "sla_days": [None, sla_days],
                    "entry_criteria": [None, criteria],
                },
            )
        else:
            uow.update(stage, {**fields, "active": True}, "stage.reactivate")
        ordered = [s for s in _active_stages(uow.session) if s.id != stage.id]
        index = next(i for i, s in enumerate(ordered) if s.id == anchor.id)
        ordered.insert(index + 1, stage)
        _check_order(ordered)
        _renumber(uow, ordered, "stage.reorder")
        return _info(stage)


def deactivate_stage(
    db: Database, actor: Actor, key: str, *, expected_version: int | None = None
) -> StageInfo:
    """Take an added stage off the pipeline; only while no renewal is in it."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.STAGE_CONFIGURE)
        stage = _load_stage(uow, key)
        uow.check_version(stage, expected_version, f"The stage {stage.name}")
        if not stage.active:
            raise RuleViolation(f"The stage {stage.name} is already deactivated.")
        if stage.key in BUILT_IN_STAGES:
            raise RuleViolation(
                f"{stage.name} is one of the standard stages that reports count on; "
                "rename or reorder it instead."
            )
        inside = uow.session.scalar(
            select(func.count()).select_from(Renewal).where(Renewal.stage_id == stage.id)
        )
        if inside:
            plural = "renewal is" if inside == 1 else "renewals are"
            raise RuleViolation(
                f"{inside:,} {plural} in {stage.name}; move them to another stage "
                "before deactivating it."
            )
        uow.update(stage, {"active": False}, "stage.deactivate")
        ordered = [s for s in _active_stages(uow.session) if s.id != stage.id]
        _check_order(ordered)
        _renumber(uow, ordered, "stage.reorder")
        return _info(stage)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class TemplateInfo:
    """One line of a line of business's default document checklist."""

    id: int
    version: int
    line_of_business: str
    document_type: str
    required: bool
    position: int
    access_level: AccessLevel


def _template_info(t: ChecklistTemplate) -> TemplateInfo:
    return TemplateInfo(
        t.id,
        t.version,
        t.line_of_business,
        t.document_type,
        t.required,
        t.position,
        AccessLevel(t.access_level),
    )


def template_lines(db: Database) -> list[str]:
    """Every line of business with a checklist or a policy, the standard ones first."""
    with db.read_session() as session:
        seen = set(session.scalars(select(ChecklistTemplate.line_of_business).distinct()))
        seen |= set(session.scalars(select(Policy.line_of_business).distinct()))
    return [*LINES_OF_BUSINESS, *sorted(seen - set(LINES_OF_BUSINESS))]


def list_templates(db: Database, line_of_business: str) -> list[TemplateInfo]:
    with db.read_session() as session:
        rows = session.scalars(
            select(ChecklistTemplate)
            .where(ChecklistTemplate.line_of_business == line_of_business)
            .order_by(ChecklistTemplate.position, ChecklistTemplate.id)
        )
        return [_template_info(t) for t in rows]


def _line_templates(uow: UnitOfWork, lob: str) -> list[ChecklistTemplate]:
    return list(
        uow.session.scalars(
            select(ChecklistTemplate)
            .where(ChecklistTemplate.line_of_business == lob)
            .order_by(ChecklistTemplate.position, ChecklistTemplate.id)
        )
    )


def _document_type(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise RuleViolation("A checklist line needs a document type, e.g. Loss runs.")
    if len(text) > 120:
        raise RuleViolation("A document type can be at most 120 characters long.")
    return text


def _template_clash(uow: UnitOfWork, lob: str, doc: str, but: int | None = None) -> None:
    query = select(ChecklistTemplate.document_type).where(
        ChecklistTemplate.line_of_business == lob,
        func.lower(ChecklistTemplate.document_type) == doc.lower(),
    )
    if but is not None:
        query = query.where(ChecklistTemplate.id != but)
    clash = uow.session.scalar(query)
    if clash is not None:
        raise RuleViolation(f"The {lob} checklist already has {clash}.")


def _load_template(uow: UnitOfWork, template_id: int, expected: int | None) -> ChecklistTemplate:
    template = uow.session.get(ChecklistTemplate, template_id)
    if template is None:
        raise NotFound(f"There is no checklist line with id {template_id}; reload the list.")
    uow.check_version(
        template,
        expected,
        f"The {template.line_of_business} checklist line {template.document_type}",
    )
    return template


def add_template(
    db: Database,
    actor: Actor,
    line_of_business: str,
    document_type: str,
    *,
    required: bool = True,
    access_level: AccessLevel | str = AccessLevel.STANDARD,
) -> TemplateInfo:
    """Add a document to the end of a line's checklist (renewals opened from now on)."""
    lob = (line_of_business or "").strip().upper()
    if not lob or len(lob) > 10:
        raise RuleViolation(f"'{line_of_business}' is not a line of business code.")
    doc = _document_type(document_type)
    level = _access_level(access_level)
    with unit_of_work(db, actor) as uow:
        uow.require(Action.TEMPLATE_CONFIGURE)
        _template_clash(uow, lob, doc)
        existing = _line_templates(uow, lob)
        template = ChecklistTemplate(
            line_of_business=lob,
            document_type=doc,
            required=required,
            position=len(existing) + 1,
            access_level=level,
        )
        uow.session.add(template)
        uow.session.flush()
        uow.audit(
            "template.create",
            "checklist_templates",
            template.id,
            {
                "line_of_business": [None, lob],
                "document_type": [None, doc],
                "required": [None, required],
                "access_level": [None, level.value],
            },
        )
        _renumber_templates(uow, [*existing, template])
        return _template_info(template)


def _access_level(value: AccessLevel | str) -> AccessLevel:
    try:
        return AccessLevel(value)
    except ValueError:
        raise RuleViolation(
            f"'{value}' is not an access level; choose "
            f"{', '.join(level.value for level in AccessLevel)}."
        ) from None


def _renumber_templates(uow: UnitOfWork, ordered: Sequence[ChecklistTemplate]) -> None:
    for position, template in enumerate(ordered, start=1):
        uow.update(template, {"position": position}, "template.reorder")


def update_template(
    db: Database,
    actor: Actor,
    template_id: int,
    *,
    expected_version: int | None = None,
    document_type: str | None = None,
    required: bool | None = None,
    access_level: AccessLevel | str | None = None,
) -> TemplateInfo:
    """Change a checklist line; renewals already open keep the checklist they have."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.TEMPLATE_CONFIGURE)
        template = _load_template(uow, template_id, expected_version)
        fields: dict[str, object] = {}
        if document_type is not None:
            doc = _document_type(document_type)
            _template_clash(uow, template.line_of_business, doc, but=template.id)
            fields["document_type"] = doc
        if required is not None:
            fields["required"] = bool(required)
        if access_level is not None:
            fields["access_level"] = _access_level(access_level)
        uow.update(template, fields, "template.update")
        return _template_info(template)


def remove_template(
    db: Database, actor: Actor, template_id: int, *, expected_version: int | None = None
) -> list[TemplateInfo]:
    """Remove a checklist line; returns the line's checklist as it is now."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.TEMPLATE_CONFIGURE)
        template = _load_template(uow, template_id, expected_version)
        lob = template.line_of_business
        uow.audit(
            "template.delete",
            "checklist_templates",
            template.id,
            {
                "line_of_business": [lob, None],
                "document_type": [template.document_type, None],
                "required": [template.required, None],
                "access_level": [AccessLevel(template.access_level).value, None],
            },
        )
        uow.session.delete(template)
        uow.session.flush()
        rest = _line_templates(uow, lob)
        _renumber_templates(uow, rest)
        return [_template_info(t) for t in rest]


def move_template(
    db: Database,
    actor: Actor,
    template_id: int,
    offset: int,
    *,
    expected_version: int | None = None,
) -> list[TemplateInfo]:
    """Move a checklist line ``offset`` places (−1: up, +1: down) within its line."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.TEMPLATE_CONFIGURE)
        template = _load_template(uow, template_id, expected_version)
        ordered = _line_templates(uow, template.line_of_business)
        index = next(i for i, t in enumerate(ordered) if t.id == template.id)
        target = index + offset
        if not 0 <= target < len(ordered):
            where = "first" if target < 0 else "last"
            raise RuleViolation(f"{template.document_type} is already the {where} document.")
        ordered.insert(target, ordered.pop(index))
        _renumber_templates(uow, ordered)
        return [_template_info(t) for t in ordered]


# --------------------------------------------------------------------------- plans


def update_plan(
    db: Database,
    actor: Actor,
    plan_id: int,
    *,
    expected_version: int | None = None,
    name: str,
    create_lead_days: int | None,
    accept_lead_days: int | None,
    issue_lead_days: int | None,
    new_term_months: int,
    transaction_type: str,
    generate_auto_renewals: bool,
) -> PlanInfo:
    """Change every setting of an auto-renewal plan (managers and admins).

    Auto-renewals already created keep their trigger times; the plan's new settings apply
    to the auto-renewals it creates from now on.
    """
    name = (name or "").strip()
    if not name:
        raise RuleViolation("An auto-renewal plan needs a name.")
    if len(name) > 120:
        raise RuleViolation("A plan name can be at most 120 characters long.")
    try:
        ar_rules.check_plan_settings(
            create_lead_days, accept_lead_days, issue_lead_days, new_term_months
        )
    except RuleRefused as exc:
        raise refused(exc) from None
    transaction_type = (transaction_type or "").strip()
    if not transaction_type or len(transaction_type) > ar_rules.MAX_TRANSACTION_TYPE_LENGTH:
        raise RuleViolation("The transaction type must be a name of 1 to 40 characters.")
    with unit_of_work(db, actor) as uow:
        uow.require(Action.PLAN_CONFIGURE)
        plan = uow.session.get(AutoRenewalPlan, plan_id)
        if plan is None:
            raise NotFound(f"There is no auto-renewal plan with id {plan_id}; reload the list.")
        uow.check_version(plan, expected_version, f"The plan {plan.name}")
        clash = uow.session.scalar(
            select(AutoRenewalPlan.name).where(
                func.lower(AutoRenewalPlan.name) == name.lower(), AutoRenewalPlan.id != plan.id
            )
        )
        if clash is not None:
            raise RuleViolation(f"There is already an auto-renewal plan named '{clash}'.")
        uow.update(
            plan,
            {
                "name": name,
                "create_lead_days": create_lead_days,
                "accept_lead_days": accept_lead_days,
                "issue_lead_days": issue_lead_days,
                "new_term_months": new_term_months,
                "transaction_type": transaction_type,
                "generate_auto_renewals": bool(generate_auto_renewals),
            },
            "plan.update",
        )
        return _plan_info(plan)


@dataclass(frozen=True)
class PlanUsage:
    plan: PlanInfo
    accounts: int
    """Accounts on the plan."""


def plans_for_admin(db: Database) -> list[PlanUsage]:
    """Every plan, by name, with how many accounts are on it."""
    with db.read_session() as session:
        counts = dict(
            session.execute(
                select(Account.auto_renewal_plan_id, func.count())
                .where(Account.auto_renewal_plan_id.is_not(None))
                .group_by(Account.auto_renewal_plan_id)
            ).all()
        )
        plans = session.scalars(select(AutoRenewalPlan).order_by(AutoRenewalPlan.name))
        return [PlanUsage(_plan_info(p), int(counts.get(p.id, 0))) for p in plans]


# --------------------------------------------------------------------------- agency settings


@dataclass(frozen=True)
class AgencySettings:
    time_zone: str
    window_days: dict[str, int]
    """Days before expiration a renewal card opens, per line of business."""


def agency_settings(db: Database) -> AgencySettings:
    with db.read_session() as session:
        return AgencySettings(agency.time_zone(session).key, agency.window_days(session))


def save_agency_settings(
    db: Database,
    actor: Actor,
    *,
    time_zone: str | None = None,
    window_days: Mapping[str, int] | None = None,
) -> AgencySettings:
    """Set the agency's time zone and renewal windows in one unit of work (admins)."""
    zone = agency.zone_named(time_zone).key if time_zone is not None else None
    windows: dict[str, int] = {}
    for line, days in (window_days or {}).items():
        lob = line.strip().upper()
        if lob not in agency.DEFAULT_WINDOW_DAYS:
            raise RuleViolation(f"'{line}' is not a line of business.")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise RuleViolation(f"The renewal window for {lob} must be from 1 to 365 days.")
        windows[lob] = days
    with unit_of_work(db, actor) as uow:
        uow.require(Action.SETTINGS_MANAGE)

        def put(key: str, value: object) -> None:
            row = uow.session.get(AppSetting, key)
            old = None if row is None else row.value
            if old == value:
                return
            if row is None:
                uow.session.add(AppSetting(key=key, value=value))
            else:
                row.value = value
            uow.audit("setting.change", "app_settings", None, {key: [old, value]})

        if zone is not None:
            put(agency.TIME_ZONE_KEY, zone)
        current = agency.window_days(uow.session)
        changed = {lob: days for lob, days in windows.items() if current[lob] != days}
        if changed:
            row = uow.session.get(AppSetting, agency.WINDOW_KEY)
            saved = dict(row.value) if row is not None and row.value else {}
            put(agency.WINDOW_KEY, {**saved, **changed})
        return AgencySettings(zone or agency.time_zone(uow.session).key, {**current, **changed})


# --------------------------------------------------------------------------- timer service


@dataclass(frozen=True)
class FiringInfo:
    """One line of the timer service's ledger."""

    id: int
    kind: str
    subject_id: int
    detail: str
    fired_at: datetime
    outcome: str
    note: str | None
    process: str | None
    renewal_id: int | None = None


@dataclass(frozen=True)
class AutoRenewalError:
    id: int
    policy_number: str
    carrier: str
    error: str | None
    renewal_id: int | None


@dataclass(frozen=True)
class TimerStatus:
    firings: tuple[FiringInfo, ...]
    """The newest firings, newest first."""
    next_due_at: datetime | None
    """The earliest pending trigger of an active auto-renewal."""
    by_state: dict[AutoRenewalState, int]
    errors: tuple[AutoRenewalError, ...]
    errors_total: int
    last_housekeeping: datetime | None
    time_zone: str


def timer_status(db: Database, *, firings: int = 50, errors: int = 200) -> TimerStatus:
    """What the timer service did lately and what it will do next (read only)."""
    with db.read_session() as session:
        rows = session.scalars(
            select(TimerFiring)
            .order_by(TimerFiring.fired_at.desc(), TimerFiring.id.desc())
            .limit(firings)
        )
        fired = tuple(
            FiringInfo(
                f.id,
                f.kind,
                f.subject_id,
                f.detail,
                f.fired_at,
                f.outcome,
                f.note,
                f.process,
                f.renewal_id,
            )
            for f in rows
        )
        next_due = session.scalar(
            select(func.min(AutoRenewal.next_due_at)).where(
                AutoRenewal.state == AutoRenewalState.ACTIVE
            )
        )
        by_state = {state: 0 for state in AutoRenewalState}
        for state, n in session.execute(
            select(AutoRenewal.state, func.count()).group_by(AutoRenewal.state)
        ).all():
            by_state[AutoRenewalState(state)] = int(n)
        failing = session.execute(
            select(
                AutoRenewal.id,
                Policy.policy_number,
                Policy.carrier,
                AutoRenewal.last_error,
                AutoRenewal.renewal_id,
            )
            .join(Policy, Policy.id == AutoRenewal.policy_id)
            .where(AutoRenewal.state == AutoRenewalState.ERROR)
            .order_by(AutoRenewal.id)
            .limit(errors)
        ).all()
        # Newest first down the fired_at index: a housekeeping row is never far from the top.
        housekeeping = session.scalar(
            select(TimerFiring.fired_at)
            .where(TimerFiring.kind == "housekeeping")
            .order_by(TimerFiring.fired_at.desc())
            .limit(1)
        )
        zone = agency.time_zone(session).key
    return TimerStatus(
        firings=fired,
        next_due_at=next_due,
        by_state=by_state,
        errors=tuple(AutoRenewalError(*row) for row in failing),
        errors_total=by_state[AutoRenewalState.ERROR],
        last_housekeeping=housekeeping,
        time_zone=zone,
    )


# --------------------------------------------------------------------------- backups


def backup_database(db: Database, actor: Actor, dest: Path) -> Path:
    """Copy the SQLite database to ``dest`` (admin only), recorded in the audit trail."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.DATABASE_ADMIN)
        path = migrate.backup_sqlite(db, dest)
        uow.audit("database.backup", "database", None, {"backup": [None, str(path)]})
    return path
