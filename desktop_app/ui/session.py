"""What the window knows once the database is open: where, and who is working."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.domain import permissions
from desktop_app.domain.permissions import Action
from desktop_app.services.unit import Actor
from desktop_app.services.users import UserInfo

if TYPE_CHECKING:  # the UI passes the handle to services; it never opens sessions itself
    from desktop_app.db.engine import Database


@dataclass(frozen=True)
class DeskSession:
    db: Database
    actor: Actor
    user: UserInfo
    upgraded_from: str | None = None
    """The schema revision before this start's upgrade (None: nothing to upgrade)."""
    backup: Path | None = None
    """The SQLite backup taken before upgrading, if one was."""
    book_empty: bool = False
    """No renewal in the book yet when this person signed in (the window opens on the
    first steps rather than on the board)."""

    def may(self, action: Action) -> bool:
        """Whether the signed-in role may take ``action`` at all (to enable controls; the
        services check again when data is written)."""
        return permissions.allowed(self.user.role, action) or (
            permissions.scope(self.user.role, action) is permissions.Scope.OWN
        )

    def refusal(self, action: Action) -> str:
        return permissions.refusal(self.user.role, action)

    @property
    def user_label(self) -> str:
        name = self.user.full_name or self.user.username
        role = "CSR" if self.user.role.value == "csr" else self.user.role.value.capitalize()
        return f"{name} ({role})"
