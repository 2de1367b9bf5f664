"""Database passwords in the OS keyring, and only there.

When no usable keyring backend exists (a headless Linux box without Secret Service,
say), we say so and the caller asks for the password each session. We never fall back
to writing the password anywhere else.
"""

from __future__ import annotations

import contextlib

import keyring
import keyring.backend
import keyring.errors

SERVICE = "Renewal Desk database"

NO_KEYRING_MESSAGE = (
    "No system keyring is available on this computer, so Renewal Desk cannot remember "
    "the database password; you will be asked for it each session."
)


class KeyringUnavailable(Exception):
    pass


def keyring_usable() -> bool:
    backend = keyring.get_keyring()
    try:
        priority = backend.priority  # type: ignore[attr-defined]
    except Exception:
        return False
    module = type(backend).__module__
    if module.startswith("keyring.backends.fail") or module.startswith("keyring.backends.null"):
        return False
    return bool(priority is None or priority > 0)


def account_key(user: str, host: str | None, port: int | None, database: str | None) -> str:
    return f"{user}@{host or 'localhost'}:{port or 5432}/{database or ''}"


def get_password(key: str) -> str | None:
    if not keyring_usable():
        return None
    try:
        return keyring.get_password(SERVICE, key)
    except keyring.errors.KeyringError:
        return None


def set_password(key: str, password: str) -> None:
    if not keyring_usable():
        raise KeyringUnavailable(NO_KEYRING_MESSAGE)
    try:
        keyring.set_password(SERVICE, key, password)
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(
            f"The system keyring refused to store the password ({exc})."
        ) from exc


def delete_password(key: str) -> None:
    if not keyring_usable():
        return
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        keyring.delete_password(SERVICE, key)
