"""Database URLs: parsing, the embedded default, and keeping passwords out of text."""

from __future__ import annotations

import ntpath
import os
import re
import sys
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from desktop_app.errors import ConfigurationError

SHARED_OFFICE_HINT = (
    "put the database on a PostgreSQL server instead (see 'Set up a shared office' in the README)"
)


def parse(url: str) -> URL:
    """Parse a database URL given by the user; accept ``postgresql://`` and ``sqlite:///``.

    Any PostgreSQL driver name becomes psycopg (the one installed), and a password given
    as ``?password=`` moves into the URL's password, so it is hidden like any other.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):  # ValueError: a port that is not a number
        raise ConfigurationError(
            f"'{redact(url)}' is not a database URL; use e.g. "
            "postgresql://user@server/renewals or sqlite:///C:/path/renewals.sqlite3."
        ) from None
    if "@" in (parsed.host or ""):
        raise ConfigurationError(
            f"The database URL '{redact(url)}' has more than one @; "
            "write an @ inside the user name or password as %40."
        )
    if "password" in parsed.query:
        query_password = parsed.query["password"]
        if isinstance(query_password, tuple):
            query_password = query_password[-1]
        parsed = parsed.difference_update_query(["password"])
        if parsed.password is None:
            parsed = parsed.set(password=query_password)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):  # postgres:// is what many hosts hand out
        parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.database:
            raise ConfigurationError(
                f"The PostgreSQL URL '{redact(parsed)}' names no database; "
                "add /DATABASE at the end."
            )
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise ConfigurationError(
                f"The PostgreSQL URL '{redact(parsed)}' has port {parsed.port}; "
                "a port is a number from 1 to 65535 (PostgreSQL's is usually 5432)."
            )
        return parsed
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:" or _sqlite_memory(parsed):
            raise ConfigurationError(
                "An in-memory SQLite database would lose everything on exit; give a file path."
            )
        return parsed.set(drivername="sqlite+pysqlite")
    raise ConfigurationError(
        f"Renewal Desk works with SQLite or PostgreSQL, not '{parsed.drivername}' "
        f"({redact(parsed)})."
    )


def _sqlite_memory(url: URL) -> bool:
    return url.query.get("mode") == "memory" or (url.database or "").startswith("file::memory:")


def sqlite_url(path: Path) -> URL:
    return URL.create("sqlite+pysqlite", database=str(path))


# "scheme://user:password@host…" (or without the scheme) when the URL cannot be parsed.
_CREDENTIALS = re.compile(
    r"^(?P<head>(?:[^:/@\s]+://)?[^:/@\s]*):(?P<password>.*)@(?P<tail>[^@]*)$"
)
_QUERY_PASSWORD = re.compile(r"(?i)(?P<key>[?&;]password=)(?P<value>[^&;#]*)")


def redact(url: str | URL) -> str:
    """The URL with any password replaced by ***, safe for messages and logs."""
    return _without_password(url, "***")


def strip_password(url: str | URL) -> str:
    """The URL with any password removed, for saving (the password lives in the keyring)."""
    return _without_password(url, None)


def _without_password(url: str | URL, mask: str | None) -> str:
    text = url if isinstance(url, str) else None
    if isinstance(url, str):
        try:
            url = make_url(url)
        except (ArgumentError, ValueError, TypeError):
            return _mask_unparsed(url, mask)
    if "@" in (url.host or ""):  # an unescaped @ in the password: all before the last @ goes
        return _mask_unparsed(text or url.render_as_string(hide_password=False), mask)
    if url.password is None and "password" not in url.query:
        # Nothing to hide: keep the text as the user wrote it (no re-escaping).
        return text if text is not None else url.render_as_string(hide_password=False)
    had_password = url.password is not None
    query_password = "password" in url.query
    if query_password:
        url = url.difference_update_query(["password"])
    # URL.set(password=None) means "leave as is"; _replace really removes it.
    url = url._replace(password=None)
    rendered = url.render_as_string(hide_password=False)
    if mask is None:
        return rendered
    if query_password:
        rendered += ("&" if url.query else "?") + f"password={mask}"
    if had_password and "://" in rendered and "@" in rendered:
        scheme, rest = rendered.split("://", 1)
        user, host = rest.split("@", 1)
        rendered = f"{scheme}://{user}:{mask}@{host}"
    return rendered


def _mask_unparsed(text: str, mask: str | None) -> str:
    text = _QUERY_PASSWORD.sub(lambda m: m["key"] + (mask or ""), text)
    match = _CREDENTIALS.match(text)
    if match:
        password = f":{mask}" if mask else ""
        text = f"{match['head']}{password}@{match['tail']}"
    return text


# --- SQLite on a network share -------------------------------------------------------

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smbfs",
        "smb2",
        "smb3",
        "afpfs",
        "webdav",
        "davfs",
        "fuse.sshfs",
        "sshfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "fuse.rclone",
        "fuse.s3fs",
    }
)


def parse_mount_table(text: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) pairs from Linux /proc/mounts or macOS ``mount`` output."""
    mounts: list[tuple[str, str]] = []
    for line in text.splitlines():
        if " on " in line and " (" in line:  # macOS: "//u@srv/share on /Volumes/share (smbfs, …)"
            _, rest = line.split(" on ", 1)
            point, opts = rest.rsplit(" (", 1)
            mounts.append((point, opts.split(",", 1)[0].strip(" )")))
            continue
        fields = line.split()
        if len(fields) >= 3:  # Linux: "server:/export /mnt/share nfs4 rw,… 0 0"
            mounts.append((_unescape_mount_field(fields[1]), fields[2]))
    return mounts


def _unescape_mount_field(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes (\\040…)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def filesystem_type(path: Path, mounts: list[tuple[str, str]]) -> str | None:
    """The filesystem type of the mount holding ``path``: the longest matching mount point,
    and of several mounts on one point the last (it hides the ones before, as an NFS share
    mounted over its systemd automount point does)."""
    best: tuple[int, str] | None = None
    text = str(path)
    for point, fstype in mounts:
        prefix = point.rstrip("/") + "/"
        if (text == point or text.startswith(prefix) or point == "/") and (
            best is None or len(point) >= best[0]
        ):
            best = (len(point), fstype)
    return best[1] if best else None


def _windows_drive_is_remote(path: str) -> bool:  # pragma: no cover - Windows only
    import ctypes

    drive = ntpath.splitdrive(path)[0]
    if not drive:
        return False
    drive_remote = 4
    return ctypes.windll.kernel32.GetDriveTypeW(drive + "\\") == drive_remote  # type: ignore[attr-defined]


def _current_mount_table() -> list[tuple[str, str]]:
    if sys.platform.startswith("linux"):
        try:
            return parse_mount_table(Path("/proc/mounts").read_text())
        except OSError:
            return []
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        import subprocess

        try:
            out = subprocess.run(["mount"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return parse_mount_table(out)
    return []


def network_share_reason(
    path: str | Path, *, platform: str | None = None, mounts: list[tuple[str, str]] | None = None
) -> str | None:
    """Why ``path`` is on a network share (a sentence fragment), or None when it is local."""
    platform = platform or sys.platform
    text = str(path)
    windows = platform.startswith("win")
    if windows and text.replace("/", "\\").startswith(("\\\\?\\", "\\\\.\\")):
        # Win32 device paths: \\?\UNC\server\share is a share, \\?\C:\… is local.
        rest = text[4:]
        if rest.replace("/", "\\").upper().startswith("UNC\\"):
            return "it is a network (UNC) path"
        text = rest
    elif text.startswith("\\\\") or (windows and text.startswith("//")):
        return "it is a network (UNC) path"
    if windows:
        if mounts is None and _windows_drive_is_remote(text):  # pragma: no cover
            return f"drive {ntpath.splitdrive(text)[0]} is a mapped network drive"
        return None
    table = _current_mount_table() if mounts is None else mounts
    # realpath: a symlink in the user's folder may point onto a share.
    resolved = Path(os.path.realpath(text))
    fstype = filesystem_type(resolved, table)
    if fstype and (fstype in NETWORK_FILESYSTEMS or fstype.startswith(("nfs", "smb", "cifs"))):
        return f"it is on a network filesystem ({fstype})"
    return None


def refuse_network_sqlite(path: str | Path, **kwargs: object) -> None:
    reason = network_share_reason(path, **kwargs)  # type: ignore[arg-type]
    if reason:
        raise ConfigurationError(
            f"The SQLite database {path} cannot be used because {reason}: SQLite files on a "
            f"network share get corrupted when several computers write to them; "
            f"{SHARED_OFFICE_HINT}."
        )
