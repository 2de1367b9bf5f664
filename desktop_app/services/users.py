"""Users and roles, and deciding who is acting."""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from desktop_app.db.engine import Database
from desktop_app.db.models import AuditEvent, User
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.domain.permissions import Action
from desktop_app.errors import RuleViolation, UnknownUser
from desktop_app.services.unit import TIMER_USER, Actor, UnitOfWork, jsonable, unit_of_work

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    full_name: str
    role: Role
    active: bool
    version: int = 0

    @property
    def initials(self) -> str:
        parts = [p for p in re.split(r"[\s._-]+", self.full_name or self.username) if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.username, user.full_name, user.role, user.active, user.version)


def os_username() -> str:
    try:
        name = getpass.getuser()
    except Exception:
        name = "admin"
    cleaned = re.sub(r"[^A-Za-z0-9._@-]", "", name.split("\\")[-1]) or "admin"
    return cleaned[:80]


def ensure_first_admin(db: Database, username: str | None = None) -> UserInfo | None:
    """On an empty database, create the first admin, named after the OS account.

    Returns the new admin, or None when the database already has users.
    """
    username = username or os_username()
    with db.write_session() as session:
        people = select(func.count()).select_from(User).where(User.username != TIMER_USER)
        if session.scalar(people):
            return None
        user = User(username=username, full_name=username, role=Role.ADMIN)
        session.add(user)
        session.flush()
        session.add(
            AuditEvent(
                user_id=user.id,
                actor=username,
                source=AuditSource.SYSTEM,
                action="user.create",
                object_type="users",
                object_id=user.id,
                changes={"username": [None, username], "role": [None, "admin"]},
            )
        )
        session.commit()
        return _info(user)


def add_user(
    db: Database, actor: Actor, username: str, role: Role | str, full_name: str | None = None
) -> UserInfo:
    if not _USERNAME.match(username or ""):
        raise RuleViolation(
            f"'{username}' is not a valid user name; use letters, digits, '.', '_', '-' or '@'."
        )
    try:
        role = Role(role)
    except ValueError:
        raise RuleViolation(
            f"'{role}' is not a role; choose one of {', '.join(r.value for r in Role)}."
        ) from None
    with unit_of_work(db, actor) as uow:
        uow.require(Action.USER_MANAGE)
        if uow.session.scalar(select(User.id).where(User.username == username)) is not None:
            raise RuleViolation(f"A user named '{username}' already exists.")
        user = User(username=username, full_name=full_name or username, role=role)
        uow.session.add(user)
        try:
            uow.session.flush()
        except IntegrityError:
            raise RuleViolation(f"A user named '{username}' already exists.") from None
        uow.audit(
            "user.create",
            "users",
            user.id,
            {
                "username": [None, username],
                "full_name": [None, user.full_name],
                "role": [None, role],
            },
        )
        return _info(user)


def set_role(
    db: Database, actor: Actor, username: str, role: Role | str, expected_version: int | None = None
) -> UserInfo:
    role = Role(role)
    with unit_of_work(db, actor) as uow:
        uow.require(Action.USER_MANAGE)
        user = _staff_member(uow, username, expected_version)
        if user.id == uow.user.id and role is not Role.ADMIN:
            _ensure_another_admin(uow.session, user.id)
        uow.update(user, {"role": role}, "user.update")
        return _info(user)


def _staff_member(uow: UnitOfWork, username: str, expected_version: int | None) -> User:
    """The user to change: a person, never the timer service's own user."""
    if username == TIMER_USER:
        raise RuleViolation(
            f"'{TIMER_USER}' is the timer service's own user; it cannot be changed."
        )
    user = uow.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UnknownUser(f"There is no user named '{username}' in this database.")
    uow.check_version(user, expected_version, f"The user {username}")
    return user


def update_user(
    db: Database,
    actor: Actor,
    username: str,
    *,
    full_name: str,
    expected_version: int | None = None,
) -> UserInfo:
    """Change a user's full name (admins)."""
    full_name = (full_name or "").strip()
    if not full_name:
        raise RuleViolation("A user needs a full name (or their user name again).")
    if len(full_name) > 200:
        raise RuleViolation("A full name can be at most 200 characters long.")
    with unit_of_work(db, actor) as uow:
        uow.require(Action.USER_MANAGE)
        user = _staff_member(uow, username, expected_version)
        uow.update(user, {"full_name": full_name}, "user.update")
        return _info(user)


def deactivate_user(
    db: Database, actor: Actor, username: str, *, expected_version: int | None = None
) -> UserInfo:
    """Stop a user from signing in (their history and book stay). Never yourself, never
    the last active admin."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.USER_MANAGE)
        user = _staff_member(uow, username, expected_version)
        if user.id == uow.user.id:
            raise RuleViolation("You cannot deactivate yourself; ask another admin to do it.")
        if not user.active:
            raise RuleViolation(f"{user.full_name or user.username} is already deactivated.")
        if user.role is Role.ADMIN:
            _ensure_another_admin(uow.session, user.id, deactivating=True)
        uow.update(user, {"active": False}, "user.deactivate")
        return _info(user)


def reactivate_user(
    db: Database, actor: Actor, username: str, *, expected_version: int | None = None
) -> UserInfo:
    """Let a deactivated user sign in again."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.USER_MANAGE)
        user = _staff_member(uow, username, expected_version)
        if user.active:
            raise RuleViolation(f"{user.full_name or user.username} is already active.")
        uow.update(user, {"active": True}, "user.reactivate")
        return _info(user)


def list_staff(db: Database) -> list[UserInfo]:
    """Every person who has a user, active or not (the timer service's user left out)."""
    with db.read_session() as session:
        query = select(User).where(User.username != TIMER_USER).order_by(User.username)
        return [_info(u) for u in session.scalars(query)]


def _ensure_another_admin(session: Session, user_id: int, *, deactivating: bool = False) -> None:
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, User.active.is_(True), User.id != user_id)
    )
    if not others:
        if deactivating:
            raise RuleViolation(
                "The last active admin cannot be deactivated; make someone else admin first."
            )
        raise RuleViolation(
            "The last admin cannot give up the admin role; make someone else admin first."
        )


def list_users(db: Database, *, include_inactive: bool = False) -> list[UserInfo]:
    with db.read_session() as session:
        query = select(User).order_by(User.username)
        if not include_inactive:
            query = query.where(User.active.is_(True))
        return [_info(u) for u in session.scalars(query)]


def get_user(db: Database, username: str) -> UserInfo:
    with db.read_session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise UnknownUser(f"There is no user named '{username}' in this database.")
        return _info(user)


def resolve_actor(db: Database, requested: str | None, source: AuditSource) -> Actor:
    """Who acts: ``requested`` (--as / sign-in), else the default login.

    The default login is the OS account on SQLite and the database login on PostgreSQL.
    A database with no users at all makes that login its first admin, so whoever sets
    up Renewal Desk can then add everyone else.
    """
    default = (db.url.username if not db.is_sqlite else None) or os_username()
    ensure_first_admin(db, default)
    username = requested or default
    user = get_user(db, username)
    if not user.active:
        raise UnknownUser(f"The user '{username}' has been deactivated.")
    return Actor(user.username, source)


__all__ = [
    "UserInfo",
    "add_user",
    "deactivate_user",
    "ensure_first_admin",
    "get_user",
    "jsonable",
    "list_staff",
    "list_users",
    "os_username",
    "reactivate_user",
    "resolve_actor",
    "set_role",
    "update_user",
]
