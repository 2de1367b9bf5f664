"""Users and roles, and deciding who is acting."""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from desktop_app.db import provision
from desktop_app.db.engine import Database
from desktop_app.db.models import User
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.domain.permissions import Action
from desktop_app.errors import PermissionDenied, RuleViolation, UnknownUser
from desktop_app.services import audit
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
    first_password: str | None = None
    """On a shared PostgreSQL database, the new login's password when it was generated
    here (shown once to the admin, who hands it over; never stored or logged)."""

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
        audit.add(
            session,
            {
                "user_id": user.id,
                "actor": username,
                "source": AuditSource.SYSTEM,
                "action": "user.create",
                "object_type": "users",
                "object_id": user.id,
                "changes": {"username": [None, username], "role": [None, "admin"]},
            },
        )
        session.commit()
        return _info(user)


def add_user(
    db: Database,
    actor: Actor,
    username: str,
    role: Role | str,
    full_name: str | None = None,
    *,
    password: str | None = None,
) -> UserInfo:
    """Add a person. On a provisioned PostgreSQL database this also creates their login
    role in their role's group, with ``password`` or a generated one (see
    :attr:`UserInfo.first_password`), in the same transaction."""
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
        first_password = None
        if provision.settings_of(uow.session) is not None:
            first_password = None if password else provision.generate_password()
            provision.set_login(
                uow.session, username, role.value, password=password or first_password
            )
        return replace(_info(user), first_password=first_password)


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
        _sync_login(uow, user)
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
        _sync_login(uow, user)
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
        _sync_login(uow, user)
        return _info(user)


def set_password(db: Database, actor: Actor, username: str, password: str | None = None) -> str:
    """Give a person's database login a new password (admins, shared PostgreSQL only);
    returns it (generated when not given) to be handed over once."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.USER_MANAGE)
        user = _staff_member(uow, username, None)
        if provision.settings_of(uow.session) is None:
            raise RuleViolation(
                "Only a shared PostgreSQL database set up with 'renewal-desk db provision' "
                "has a login per person."
            )
        password = password or provision.generate_password()
        provision.set_login(
            uow.session, user.username, user.role.value, password=password, active=user.active
        )
        uow.audit("user.password", "users", user.id, {"password": ["***", "***"]})
        return password


def _sync_login(uow: UnitOfWork, user: User) -> None:
    """Keep a person's database login in step with their role and whether they are active."""
    if provision.settings_of(uow.session) is not None:
        provision.set_login(uow.session, user.username, user.role.value, active=user.active)


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
    login, app_role = _login(db)
    if app_role == "timer" and requested is None:
        # The office server's scheduler logs in as the timer login: it acts as the
        # timer service's own user, never as a person.
        return Actor(TIMER_USER, source)
    default = login or os_username()
    ensure_first_admin(db, default)
    username = requested or default
    # On a provisioned database a person's login is who they are (the owner or a
    # superuser may still act as someone, e.g. to set up the first people).
    if app_role is not None and username != login:
        raise PermissionDenied(
            f"On this shared database everyone works as their own login; you are signed "
            f"in as '{login}', so you cannot act as '{username}'."
        )
    user = get_user(db, username)
    if not user.active:
        raise UnknownUser(f"The user '{username}' has been deactivated.")
    return Actor(user.username, source)


def _login(db: Database) -> tuple[str | None, str | None]:
    """The database login (None on SQLite) and, on a provisioned server, its app role."""
    if db.is_sqlite:
        return None, None
    with db.read_session() as session:
        return provision.session_login(session), provision.app_role(session)


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
    "set_password",
    "set_role",
    "update_user",
]
