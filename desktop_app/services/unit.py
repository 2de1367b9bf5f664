"""The unit-of-work frame every service function runs in."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from desktop_app.db.engine import Database
from desktop_app.db.models import Base, User
from desktop_app.domain import permissions
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.domain.permissions import Action
from desktop_app.errors import (
    PermissionDenied,
    RuleViolation,
    StaleEdit,
    UnknownUser,
    UserFacingError,
)
from desktop_app.services import audit

log = logging.getLogger(__name__)

TIMER_USER = "timer-service"
"""The inactive user the timer service acts as (created by migration 0002)."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, and through which door (GUI, command line, import, timer…)."""

    username: str
    source: AuditSource = AuditSource.UI


def jsonable(value: Any) -> Any:
    """A value as it is written into an audit event."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def changes_between(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for each field of ``new`` whose value differs from ``old``'s,
    as :meth:`UnitOfWork.apply` records it."""
    return {
        name: [jsonable(old[name]), jsonable(value)]
        for name, value in new.items()
        if old[name] != value
    }


class UnitOfWork:
    """One transaction on behalf of one user."""

    def __init__(self, session: Session, user: User, source: AuditSource) -> None:
        self.session = session
        self.user = user
        self.source = source
        self.checked: list[_Checked] = []
        """The records :meth:`check_version` was asked about, newest last: when the
        database finds one of them changed after all (a colleague's save at the same
        moment), :func:`unit_of_work` names who changed it."""

    @property
    def role(self) -> Role:
        return self.user.role

    def allowed(self, action: Action, *, owners: Mapping[str, int | None] | None = None) -> bool:
        in_book = bool(owners) and self.user.id in {v for v in owners.values() if v is not None}
        return permissions.allowed(self.user.role, action, in_own_book=in_book)

    def require(self, action: Action, *, owners: Mapping[str, int | None] | None = None) -> None:
        """Refuse (before anything is written) unless the user's role may take ``action``.

        ``owners`` names the people whose book the record is in (producer, CSR, next-action
        owner); it matters for roles whose permission is limited to their own book.
        """
        if not self.allowed(action, owners=owners):
            raise PermissionDenied(permissions.refusal(self.user.role, action))

    def apply(self, obj: Base, fields: Mapping[str, Any]) -> dict[str, list[Any]]:
        """Set ``fields`` on ``obj`` and return what changed as {field: [old, new]}."""
        changes: dict[str, list[Any]] = {}
        for name, new in fields.items():
            old = getattr(obj, name)
            if old != new:
                setattr(obj, name, new)
                changes[name] = [jsonable(old), jsonable(new)]
        return changes

    def record(self, action: str, obj: Any, changes: Mapping[str, Any]) -> None:
        """Flush ``obj`` and audit ``changes`` under ``action``; nothing when nothing changed."""
        if changes:
            self.session.flush()
            self.audit(action, obj.__tablename__, obj.id, changes)

    def update(self, obj: Any, fields: Mapping[str, Any], action: str) -> dict[str, list[Any]]:
        """Set ``fields`` on ``obj``, then flush and audit what changed."""
        changes = self.apply(obj, fields)
        self.record(action, obj, changes)
        return changes

    def audit(
        self,
        action: str,
        object_type: str,
        object_id: int | None,
        changes: Mapping[str, Any] | None = None,
        *,
        source: AuditSource | None = None,
    ) -> None:
        """Record an audit event. It is kept with the session and written when the
        transaction commits, at the end of the hash chain (see :mod:`services.audit`);
        a savepoint rolled back drops the events recorded inside it."""
        audit.add(
            self.session, self.audit_values(action, object_type, object_id, changes, source=source)
        )

    def audit_values(
        self,
        action: str,
        object_type: str,
        object_id: int | None,
        changes: Mapping[str, Any] | None = None,
        *,
        source: AuditSource | None = None,
    ) -> dict[str, Any]:
        """The columns of the audit event :meth:`audit` records (for set-based writers,
        which hand a list of them to :func:`services.audit.add_many`)."""
        return {
            "at": datetime.now(UTC),
            "user_id": self.user.id,
            "actor": self.user.username,
            "source": source or self.source,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "changes": jsonable(dict(changes or {})),
        }

    def check_version(self, obj: Any, expected: int | None, what: str) -> None:
        """Refuse an edit made on a stale copy: someone saved ``obj`` after it was loaded.

        A colleague's save that commits between this check and this transaction's UPDATE
        is caught by the database instead (the UPDATE's ``WHERE version = …`` matches no
        row); :func:`unit_of_work` then says the same sentence, read afresh."""
        self.checked.append(_Checked(type(obj), obj.id, obj.version, what))
        if expected is None or obj.version == expected:
            return
        from desktop_app.services.changes import last_change  # changes → agency → here

        # "by Morgan Lee at 11/21/2026 14:32 EST": the person's name, the agency's clock
        who = last_change(self.session, type(obj).__tablename__, obj.id)
        raise StaleEdit(changed_sentence(what, who))


@dataclass(frozen=True)
class _Checked:
    """A record whose version a unit of work checked, and the version it had then."""

    model: Any
    id: int
    version: int
    what: str


SAVED_AT_THE_SAME_MOMENT = (
    "Someone else saved this record at the same moment; reload to see their change."
)
"""The refusal when the database caught a simultaneous save and who made it is unknown."""


def changed_sentence(what: str, who: str | None) -> str:
    """The refusal of a save on a stale copy, e.g. "Renewal WC-000123 was changed by
    Morgan Lee at 11/21/2026 14:32 CST after you opened it; reload to see it." (``who``
    as :func:`changes.last_change` says it)."""
    return f"{what} was changed {who or 'by someone else'} after you opened it; reload to see it."


def _stale_table(error: StaleDataError) -> str | None:
    """The table SQLAlchemy names in "UPDATE statement on table 'renewals' expected to
    update 1 row(s); 0 were matched."."""
    found = re.search(r"on table '([^']+)'", str(error))
    return found.group(1) if found else None


def _simultaneous_refusal(db: Database, checked: list[_Checked], error: StaleDataError) -> str:
    """The sentence for a save the database refused because a colleague's save of the
    same record committed after this one checked the version: who won and when, read
    in a transaction of its own (the failed one is gone; the winner's commit, with its
    audit event, is visible now). A record whose version is still the one checked is
    not the one that changed; when none is found, the general sentence."""
    from desktop_app.services.changes import last_change  # changes → agency → here

    table = _stale_table(error)
    candidates = [c for c in reversed(checked) if table is None or c.model.__tablename__ == table]
    if not candidates:
        return SAVED_AT_THE_SAME_MOMENT
    try:
        with db.read_session() as session:
            for record in candidates:
                now = session.scalar(
                    select(record.model.version).where(record.model.id == record.id)
                )
                if now is None or now == record.version:
                    continue  # gone (said elsewhere) or not changed: not this one
                who = last_change(session, record.model.__tablename__, record.id)
                return changed_sentence(record.what, who)
    except (SQLAlchemyError, UserFacingError) as exc:  # say the refusal anyway
        log.info("who saved %s meanwhile could not be read: %s", table, exc)
    return SAVED_AT_THE_SAME_MOMENT


def load_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UnknownUser(f"There is no user named '{username}' in this database.")
    if not user.active:
        raise UnknownUser(f"The user '{username}' has been deactivated.")
    return user


@contextmanager
def unit_of_work(db: Database, actor: Actor) -> Iterator[UnitOfWork]:
    """Open a write transaction for ``actor``; commit if the block finishes, else roll back.

    A save the database refuses because a colleague's save of the same record committed
    first (``StaleDataError``: the version check in the UPDATE matched no row) is refused
    with the same "changed by NAME at TIME" sentence as :meth:`UnitOfWork.check_version`,
    read once this transaction is rolled back."""
    checked: list[_Checked] = []
    try:
        with db.write_session() as session:
            uow = UnitOfWork(session, load_user(session, actor.username), actor.source)
            checked = uow.checked
            try:
                # Services flush inside the block, so the database's answer can come from
                # there as well as from the commit.
                yield uow
                session.commit()
            except (IntegrityError, DataError) as exc:
                # The database's own rules are the last line of defence behind the services'.
                raise RuleViolation(
                    f"The database refused the change because it breaks one of its rules "
                    f"({_constraint_name(exc)}); nothing was saved."
                ) from exc
    except StaleDataError as exc:
        raise StaleEdit(_simultaneous_refusal(db, checked, exc)) from exc


def _constraint_name(exc: IntegrityError | DataError) -> str:
    text = str(exc.orig)
    for token in text.replace('"', " ").replace(":", " ").split():
        if token.startswith(("uq_", "ck_", "fk_", "pk_")):
            return token
    return text.strip().splitlines()[0] if text.strip() else "integrity"


@contextmanager
def read_only(db: Database, actor: Actor) -> Iterator[UnitOfWork]:
    """A read transaction that still knows who is asking (for row visibility rules)."""
    with db.read_session() as session:
        yield UnitOfWork(session, load_user(session, actor.username), actor.source)
