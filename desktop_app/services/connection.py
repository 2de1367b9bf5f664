"""Which database this desktop opens: testing a connection and saving the choice.

The choice is a per-desktop setting (``Settings.database_url``, without the password); a
PostgreSQL password goes to the system keyring and nowhere else. A saved choice applies
the next time Renewal Desk starts. Nothing here ever puts a password into a sentence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from desktop_app import paths, secrets
from desktop_app.db import urls
from desktop_app.db.engine import ENV_URL, Database, open_database
from desktop_app.domain.permissions import Action
from desktop_app.errors import ConfigurationError, UserFacingError
from desktop_app.services.unit import Actor, unit_of_work
from desktop_app.settings import Settings

DEFAULT_PORT = 5432


@dataclass(frozen=True)
class ConnectionInfo:
    """The database this desktop has open, and what is saved for the next start."""

    description: str
    backend: str  # "sqlite" or "postgresql"
    sqlite_path: str | None
    host: str | None
    port: int | None
    database: str | None
    user: str | None
    saved_url: str | None
    """``Settings.database_url`` (never with a password); None: the default SQLite file."""
    env_override: bool
    """RENEWAL_DESK_DATABASE_URL is set: it wins over the saved setting."""
    keyring_available: bool
    default_sqlite_path: str
    tls: str = "prefer"
    """How the connection uses TLS: one of :data:`TLS_MODES`."""
    ca_file: str | None = None
    """The CA certificate checked against the server's (verify-full); None: the system's."""


@dataclass(frozen=True)
class ConnectionCheck:
    """The result of testing a database URL: ``sentence`` says it in words."""

    ok: bool
    sentence: str
    url: str
    """The URL tested, with any password masked."""
    revision: str | None = None
    head: str | None = None


@dataclass(frozen=True)
class SavedConnection:
    sentence: str
    url: str
    """What was written to the settings file (no password)."""
    password_stored: bool


TLS_MODES = ("prefer", "require", "verify-full")
"""libpq's ``sslmode`` values offered: use TLS when offered, require it, require it and
check that the server's certificate is signed by a trusted CA and names the server."""


def current_connection(db: Database) -> ConnectionInfo:
    url = db.url
    ca = url.query.get("sslrootcert")
    return ConnectionInfo(
        tls=str(url.query.get("sslmode", "prefer")),
        ca_file=None if ca in (None, "system") else str(ca),
        description=db.describe(),
        backend="sqlite" if db.is_sqlite else "postgresql",
        sqlite_path=str(db.sqlite_path) if db.sqlite_path else None,
        host=None if db.is_sqlite else (url.host or "localhost"),
        port=None if db.is_sqlite else (url.port or DEFAULT_PORT),
        database=None if db.is_sqlite else url.database,
        user=None if db.is_sqlite else url.username,
        saved_url=Settings.load().database_url,
        env_override=bool(os.environ.get(ENV_URL)),
        keyring_available=secrets.keyring_usable(),
        default_sqlite_path=str(paths.default_database_path()),
    )


def sqlite_url(path: str | Path) -> str:
    """The URL of a SQLite file (``~`` expanded, made absolute)."""
    text_path = str(path).strip()
    if not text_path:
        raise ConfigurationError("Choose the SQLite database file (a path ending in .sqlite3).")
    full = Path(text_path).expanduser().absolute()
    return urls.sqlite_url(full).render_as_string(hide_password=False)


def postgres_url(
    host: str,
    port: int | None,
    database: str,
    user: str,
    *,
    tls: str = "prefer",
    ca_file: str | None = None,
) -> str:
    """The URL of a PostgreSQL database, without a password; ``tls`` is one of
    :data:`TLS_MODES` (``verify-full`` checks the server's certificate against
    ``ca_file``, or the system's trusted authorities when there is none)."""
    if tls not in TLS_MODES:
        raise ConfigurationError(
            f"'{tls}' is not a TLS setting; use one of {', '.join(TLS_MODES)}."
        )
    query: dict[str, str] = {}
    if tls != "prefer":
        query["sslmode"] = tls
    if tls == "verify-full":
        ca = (ca_file or "").strip()
        if ca and not Path(ca).expanduser().is_file():
            raise ConfigurationError(f"The CA certificate {ca} does not exist.")
        query["sslrootcert"] = str(Path(ca).expanduser().absolute()) if ca else "system"
    host, database, user = (host or "").strip(), (database or "").strip(), (user or "").strip()
    missing = [
        name
        for name, value in (("server", host), ("database", database), ("user", user))
        if not value
    ]
    if missing:
        raise ConfigurationError(f"Fill in the PostgreSQL {' and '.join(missing)}.")
    url = URL.create(
        "postgresql+psycopg",
        username=user,
        host=host,
        port=port or DEFAULT_PORT,
        database=database,
        query=query,
    )
    return url.render_as_string(hide_password=False)


def _describe(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return f"PostgreSQL {url.host or 'localhost'}/{url.database}"


def _parse(url: str, password: str | None) -> URL:
    parsed = urls.parse(url)
    if password and parsed.get_backend_name() != "sqlite":
        parsed = parsed.set(password=password)
    return parsed


def _new_sqlite_file(path: Path) -> ConnectionCheck | None:
    """A sentence for a SQLite path that holds no file yet (None: the file exists)."""
    shown = str(path)
    if path.is_dir():
        return ConnectionCheck(False, f"{shown} is a folder, not a database file.", shown)
    if path.exists():
        return None
    urls.refuse_network_sqlite(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return ConnectionCheck(
            False, f"The database cannot be created at {shown}: {folder} is not a folder.", shown
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        return ConnectionCheck(
            False,
            f"The database cannot be created at {shown}: you may not write in {folder}.",
            shown,
        )
    return ConnectionCheck(
        True,
        f"There is no database at {shown} yet; Renewal Desk will create one there "
        "the next time it starts.",
        shown,
    )


def check_connection(url: str, password: str | None = None) -> ConnectionCheck:
    """Open ``url`` (with ``password``, else the keyring's), run ``SELECT 1`` and read its
    schema state. Expected problems come back as a sentence, never as an exception.

    A SQLite path with no file yet is not created: the sentence says it will be.
    """
    try:
        parsed = _parse(url, password)
    except ConfigurationError as exc:
        return ConnectionCheck(False, exc.message, urls.redact(url))
    shown = urls.redact(parsed)
    if parsed.get_backend_name() == "sqlite":
        try:
            early = _new_sqlite_file(Path(parsed.database or ""))
        except UserFacingError as exc:
            return ConnectionCheck(False, exc.message, shown)
        if early is not None:
            return early
    try:
        db = open_database(parsed)
    except UserFacingError as exc:
        return ConnectionCheck(False, _scrub(exc.message, password), shown)
    try:
        return _schema_state(db, shown)
    except UserFacingError as exc:
        return ConnectionCheck(False, _scrub(exc.message, password), shown)
    finally:
        db.dispose()


def _scrub(sentence: str, password: str | None) -> str:
    return sentence.replace(password, "***") if password else sentence


def _schema_state(db: Database, shown: str) -> ConnectionCheck:
    from desktop_app.db import migrate

    with db.translated_errors(), db.engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()
    where = db.describe()
    revision = migrate.current_revision(db)
    head = migrate.head_revision()
    migrate.check_not_newer(db, revision)
    if revision is None:
        migrate.refuse_foreign_database(db)
        return ConnectionCheck(
            True,
            f"Connected to {where}: it is empty, and Renewal Desk will set it up the next "
            "time it starts.",
            shown,
            None,
            head,
        )
    if revision == head:
        return ConnectionCheck(
            True,
            f"Connected to {where}: a Renewal Desk database, up to date (schema {revision}).",
            shown,
            revision,
            head,
        )
    return ConnectionCheck(
        True,
        f"Connected to {where}: a Renewal Desk database that will be upgraded from schema "
        f"{revision} to {head} the next time Renewal Desk starts.",
        shown,
        revision,
        head,
    )


def save_connection(
    db: Database, actor: Actor, url: str, password: str | None = None
) -> SavedConnection:
    """Make ``url`` the database this desktop opens from its next start (admins).

    The settings file gets the URL without a password; a PostgreSQL password (given, or
    inside the URL) goes to the system keyring, or — when there is no safe keyring —
    nowhere, and the sentence says so. Recorded in the open database's audit trail.
    """
    parsed = urls.parse(url)
    password = password or parsed.password
    if isinstance(password, str) and not password:
        password = None
    stripped = urls.strip_password(parsed)
    with unit_of_work(db, actor) as uow:
        uow.require(Action.DATABASE_ADMIN)
        settings = Settings.load()
        old = settings.database_url
        stored = False
        note = ""
        if parsed.get_backend_name() != "sqlite" and password:
            key = secrets.account_key(
                parsed.username or "", parsed.host, parsed.port, parsed.database
            )
            try:
                secrets.set_password(key, str(password))
                stored = True
                note = " The password is in the system keyring."
            except secrets.KeyringUnavailable as exc:
                note = (
                    f" {_no_keyring(str(exc))} The password was not saved anywhere; "
                    "Renewal Desk will ask for it when it starts."
                )
        settings.database_url = stripped
        try:
            settings.save()
        except OSError as exc:
            raise UserFacingError(
                f"The settings file {paths.settings_path()} could not be written "
                f"({exc.strerror or exc}); nothing was changed."
            ) from exc
        if old != stripped:
            uow.audit(
                "database.connection",
                "database",
                None,
                {"database_url": [old, stripped]},
            )
    override = (
        f" {ENV_URL} is set on this computer, though, and it wins over the saved choice."
        if os.environ.get(ENV_URL)
        else ""
    )
    sentence = (
        f"Saved: Renewal Desk will open {_describe(parsed)} the next time it starts."
        f"{note}{override}"
    )
    return SavedConnection(sentence, stripped, stored)


def _no_keyring(message: str) -> str:
    if message == secrets.NO_KEYRING_MESSAGE:
        return "No safe system keyring is available on this computer."
    return message
