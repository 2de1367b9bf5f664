"""Errors a user may see. Each carries one plain sentence saying what and where."""

from __future__ import annotations


class UserFacingError(Exception):
    """Base of every error whose message is written for the person at the keyboard."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(UserFacingError):
    """A bad database URL, an unusable location, a missing password."""


class DatabaseUnavailable(UserFacingError):
    """The database cannot be reached or opened."""


class DatabaseTooNew(UserFacingError):
    """The database was migrated by a newer version of Renewal Desk."""


class PermissionDenied(UserFacingError):
    """The acting user's role may not take this action."""


class RuleViolation(UserFacingError):
    """A business rule refused the change (stage entry criteria, dates…)."""


class StaleEdit(UserFacingError):
    """Someone else saved the record after this user loaded it."""


class NotFound(UserFacingError):
    """The record asked for does not exist."""


class UnknownUser(UserFacingError):
    """The acting user is not a (active) user of this database."""
