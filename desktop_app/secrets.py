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
from keyring.backends.chainer import ChainerBackend

SERVICE = "Renewal Desk database"

NO_KEYRING_MESSAGE = (
    "No system keyring is available on this computer, so Renewal Desk cannot remember "
    "the database password; you will be asked for it each session."
)


class KeyringUnavailable(Exception):
    pass


# Backends that would "remember" a password where we promise never to put one: the
# fail/null backends store nothing, keyrings.alt's PlaintextKeyring writes it to a file
# in plain text and its EncryptedKeyring asks for a master password on the console.
_REFUSED_MODULES = ("keyring.backends.fail", "keyring.backends.null")
_REFUSED_CLASSES = ("PlaintextKeyring", "EncryptedKeyring", "UncryptedFileKeyring")


def _acceptable(backend: keyring.backend.KeyringBackend) -> bool:
    cls = type(backend)
    if cls.__module__.startswith(_REFUSED_MODULES):
        return False
    if cls.__module__.startswith("keyrings.alt") and any(
        c.__name__ in _REFUSED_CLASSES for c in cls.__mro__
    ):
        return False
    try:
        priority = backend.priority  # type: ignore[attr-defined]
    except Exception:
        return False
    return bool(priority is None or priority > 0)


def _backend() -> keyring.backend.KeyringBackend | None:
    """The keyring backend to use, or None. Of a chain, the first acceptable member, so a
    password never falls through to a plain-text file further down the chain."""
    backend = keyring.get_keyring()
    if isinstance(backend, ChainerBackend):
        return next((b for b in backend.backends if _acceptable(b)), None)
    return backend if _acceptable(backend) else None


def keyring_usable() -> bool:
    return _backend() is not None


def account_key(user: str, host: str | None, port: int | None, database: str | None) -> str:
    return f"{user}@{host or 'localhost'}:{port or 5432}/{database or ''}"


def get_password(key: str) -> str | None:
    backend = _backend()
    if backend is None:
        return None
    try:
        return backend.get_password(SERVICE, key)
    except keyring.errors.KeyringError:
        return None


def set_password(key: str, password: str) -> None:
    backend = _backend()
    if backend is None:
        raise KeyringUnavailable(NO_KEYRING_MESSAGE)
    try:
        backend.set_password(SERVICE, key, password)
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(
            f"The system keyring refused to store the password ({exc})."
        ) from exc


def delete_password(key: str) -> None:
    backend = _backend()
    if backend is None:
        return
    with contextlib.suppress(keyring.errors.KeyringError):
        backend.delete_password(SERVICE, key)
