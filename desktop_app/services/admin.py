"""Agency-wide configuration: pipeline stages (and, later, templates and plans)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from desktop_app.db import migrate
from desktop_app.db.engine import Database
from desktop_app.db.models import PipelineStage
from desktop_app.domain.enums import StageKind, TransactionState
from desktop_app.domain.permissions import Action
from desktop_app.domain.stages import CRITERIA
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.services.unit import Actor, unit_of_work


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


def _info(s: PipelineStage) -> StageInfo:
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
    )


def list_stages(db: Database) -> list[StageInfo]:
    with db.read_session() as session:
        query = (
            select(PipelineStage)
            .where(PipelineStage.active.is_(True))
            .order_by(PipelineStage.position)
        )
        return [_info(s) for s in session.scalars(query)]


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
    with unit_of_work(db, actor) as uow:
        uow.require(Action.STAGE_CONFIGURE)
        stage = uow.session.scalar(select(PipelineStage).where(PipelineStage.key == key))
        if stage is None:
            raise NotFound(f"There is no pipeline stage '{key}'.")
        uow.check_version(stage, expected_version, f"The stage {stage.name}")
        fields: dict[str, object] = {}
        if name is not None:
            if not name.strip():
                raise RuleViolation("A stage needs a name.")
            fields["name"] = name.strip()
        if sla_days is not None:
            if sla_days <= 0:
                raise RuleViolation(f"SLA days must be a positive number of days, not {sla_days}.")
            fields["sla_days"] = sla_days
        if entry_criteria is not None:
            unknown = [c for c in entry_criteria if c not in CRITERIA]
            if unknown:
                raise RuleViolation(
                    f"Unknown entry criteria {', '.join(unknown)}; choose from "
                    f"{', '.join(CRITERIA)}."
                )
            fields["entry_criteria"] = list(dict.fromkeys(entry_criteria))
        uow.update(stage, fields, "stage.update")
        return _info(stage)


def backup_database(db: Database, actor: Actor, dest: Path) -> Path:
    """Copy the SQLite database to ``dest`` (admin only), recorded in the audit trail."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.DATABASE_ADMIN)
        path = migrate.backup_sqlite(db, dest)
        uow.audit("database.backup", "database", None, {"backup": [None, str(path)]})
    return path
