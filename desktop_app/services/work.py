"""Tasks and document checklists on a renewal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from desktop_app.db.engine import Database
from desktop_app.db.models import DocumentRequirement, Task
from desktop_app.domain.enums import AccessLevel, DocumentStatus, TaskStatus
from desktop_app.domain.permissions import Action
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.services.book import user_id
from desktop_app.services.renewals import load_renewal, owners_of
from desktop_app.services.unit import Actor, UnitOfWork, unit_of_work


@dataclass(frozen=True)
class TaskInfo:
    id: int
    version: int
    renewal_id: int
    task_type: str
    title: str
    owner_id: int | None
    due_date: date | None
    status: TaskStatus
    completed_at: datetime | None


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    version: int
    renewal_id: int
    document_type: str
    required: bool
    status: DocumentStatus
    requested_on: date | None
    received_on: date | None
    expires_on: date | None
    storage_link: str | None
    access_level: AccessLevel
    waive_reason: str | None


def _task_info(t: Task) -> TaskInfo:
    return TaskInfo(
        t.id,
        t.version,
        t.renewal_id,
        t.task_type,
        t.title,
        t.owner_id,
        t.due_date,
        t.status,
        t.completed_at,
    )


def _doc_info(d: DocumentRequirement) -> DocumentInfo:
    return DocumentInfo(
        d.id,
        d.version,
        d.renewal_id,
        d.document_type,
        d.required,
        d.status,
        d.requested_on,
        d.received_on,
        d.expires_on,
        d.storage_link,
        d.access_level,
        d.waive_reason,
    )


def add_task(
    db: Database,
    actor: Actor,
    renewal_id: int,
    title: str,
    *,
    task_type: str = "Follow up",
    owner: str | None = None,
    due: date | None = None,
) -> TaskInfo:
    if not (title or "").strip():
        raise RuleViolation("A task needs a title saying what to do.")
    with unit_of_work(db, actor) as uow:
        renewal = load_renewal(uow, renewal_id)
        uow.require(Action.TASK_MANAGE, owners=owners_of(renewal))
        task = Task(
            renewal_id=renewal.id,
            task_type=task_type,
            title=title.strip(),
            owner_id=user_id(uow, owner) if owner else uow.user.id,
            due_date=due,
        )
        uow.session.add(task)
        uow.session.flush()
        uow.audit(
            "task.create",
            "tasks",
            task.id,
            {
                "renewal_id": [None, renewal.id],
                "title": [None, task.title],
                "due_date": [None, due],
            },
        )
        return _task_info(task)


def _task(uow: UnitOfWork, task_id: int, expected_version: int | None) -> Task:
    task = uow.session.get(Task, task_id)
    if task is None:
        raise NotFound(f"There is no task with id {task_id}.")
    renewal = load_renewal(uow, task.renewal_id)
    owners = owners_of(renewal) | {"task_owner": task.owner_id}
    uow.require(Action.TASK_MANAGE, owners=owners)
    uow.check_version(task, expected_version, f"The task '{task.title}'")
    return task


def complete_task(
    db: Database, actor: Actor, task_id: int, *, expected_version: int | None = None
) -> TaskInfo:
    with unit_of_work(db, actor) as uow:
        task = _task(uow, task_id, expected_version)
        if task.status is not TaskStatus.OPEN:
            raise RuleViolation(f"The task '{task.title}' is already {task.status.value}.")
        uow.update(
            task,
            {
                "status": TaskStatus.DONE,
                "completed_at": datetime.now(UTC),
                "completed_by_id": uow.user.id,
            },
            "task.complete",
        )
        return _task_info(task)


_UNSET: Any = object()


def update_task(
    db: Database,
    actor: Actor,
    task_id: int,
    *,
    expected_version: int | None = None,
    title: str = _UNSET,
    owner: str | None = _UNSET,
    due: date | None = _UNSET,
) -> TaskInfo:
    """Rename, reassign (``owner`` a username, None for nobody) or reschedule (snooze) an
    open task. Only the fields given change."""
    with unit_of_work(db, actor) as uow:
        task = _task(uow, task_id, expected_version)
        if task.status is not TaskStatus.OPEN:
            raise RuleViolation(
                f"The task '{task.title}' is {task.status.value}; it cannot change."
            )
        values: dict[str, Any] = {}
        if title is not _UNSET:
            if not (title or "").strip():
                raise RuleViolation("A task needs a title saying what to do.")
            values["title"] = title.strip()
        if owner is not _UNSET:
            values["owner_id"] = user_id(uow, owner) if owner else None
        if due is not _UNSET:
            values["due_date"] = due
        if values:
            uow.update(task, values, "task.update")
        return _task_info(task)


def _document(
    uow: UnitOfWork, document_id: int, expected_version: int | None
) -> DocumentRequirement:
    doc = uow.session.get(DocumentRequirement, document_id)
    if doc is None:
        raise NotFound(f"There is no document requirement with id {document_id}.")
    renewal = load_renewal(uow, doc.renewal_id)
    owners = owners_of(renewal)
    if doc.access_level is AccessLevel.SENSITIVE:
        uow.require(Action.DOCUMENT_READ_SENSITIVE, owners=owners)
    elif doc.access_level is AccessLevel.CONFIDENTIAL:
        uow.require(Action.DOCUMENT_READ_CONFIDENTIAL, owners=owners)
    uow.require(Action.DOCUMENT_MANAGE, owners=owners)
    uow.check_version(doc, expected_version, f"The document '{doc.document_type}'")
    return doc


def _update_document(
    db: Database,
    actor: Actor,
    document_id: int,
    action: str,
    fields: dict[str, object],
    expected_version: int | None,
) -> DocumentInfo:
    with unit_of_work(db, actor) as uow:
        doc = _document(uow, document_id, expected_version)
        uow.update(doc, fields, action)
        return _doc_info(doc)


def request_document(
    db: Database,
    actor: Actor,
    document_id: int,
    *,
    on: date | None = None,
    expected_version: int | None = None,
) -> DocumentInfo:
    fields = {"status": DocumentStatus.REQUESTED, "requested_on": on or date.today()}
    return _update_document(db, actor, document_id, "document.request", fields, expected_version)


def receive_document(
    db: Database,
    actor: Actor,
    document_id: int,
    *,
    on: date | None = None,
    expires_on: date | None = None,
    storage_link: str | None = None,
    expected_version: int | None = None,
) -> DocumentInfo:
    received = on or date.today()
    if expires_on is not None and expires_on <= received:
        raise RuleViolation(
            f"The expiry date {expires_on:%m/%d/%Y} must come after the date received "
            f"({received:%m/%d/%Y})."
        )
    fields: dict[str, object] = {
        "status": DocumentStatus.RECEIVED,
        "received_on": received,
        "expires_on": expires_on,
    }
    if storage_link:
        fields["storage_link"] = storage_link.strip()
    return _update_document(db, actor, document_id, "document.receive", fields, expected_version)


def waive_document(
    db: Database,
    actor: Actor,
    document_id: int,
    reason: str,
    *,
    expected_version: int | None = None,
) -> DocumentInfo:
    if not (reason or "").strip():
        raise RuleViolation("Waiving a document needs a reason.")
    fields = {"status": DocumentStatus.WAIVED, "waive_reason": reason.strip()}
    return _update_document(db, actor, document_id, "document.waive", fields, expected_version)


def expire_document(
    db: Database, actor: Actor, document_id: int, *, expected_version: int | None = None
) -> DocumentInfo:
    fields = {"status": DocumentStatus.EXPIRED}
    return _update_document(db, actor, document_id, "document.expire", fields, expected_version)
