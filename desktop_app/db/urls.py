"""Database URLs: parsing, the embedded default, and keeping passwords out of text."""

from __future__ import annotations

import ntpath
import os
import sys
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from desktop_app.errors import ConfigurationError

SHARED_OFFICE_HINT = (
    "put the database on a PostgreSQL server instead (see 'Set up a shared office' in the README)"
)


def parse(url: str) -> URL:
    """Parse a database URL given by the user; accept ``postgresql://`` and ``sqlite:///``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            f"'{redact(url)}' is not a database URL; use e.g. "
            "postgresql://user@server/renewals or sqlite:///C:/path/renewals.sqlite3."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.database:
            raise ConfigurationError(
                f"The PostgreSQL URL '{redact(url)}' names no database; add /DATABASE at the end."
            )
        return parsed
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigurationError(
                "An in-memory SQLite database would lose everything on exit; give a file path."
            )
        return parsed.set(drivername="sqlite+pysqlite")
    raise ConfigurationError(
        f"Renewal Desk works with SQLite or PostgreSQL, not '{parsed.drivername}' ({redact(url)})."
    )


def sqlite_url(path: Path) -> URL:
    return URL.create("sqlite+pysqlite", database=str(path))


def redact(url: str | URL) -> str:
    """The URL with any password replaced by ***, safe for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
        return url


def strip_password(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(password=None).render_as_string(hide_password=False)


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
            point = fields[1].replace("\\040", " ")
            mounts.append((point, fields[2]))
    return mounts


def filesystem_type(path: Path, mounts: list[tuple[str, str]]) -> str | None:
    """The filesystem type of the mount holding ``path`` (the longest matching mount point)."""
    best: tuple[int, str] | None = None
    text = str(path)
    for point, fstype in mounts:
        prefix = point.rstrip("/") + "/"
        if (text == point or text.startswith(prefix) or point == "/") and (
            best is None or len(point) > best[0]
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
    if text.startswith(("\\\\", "//")) and platform.startswith("win"):
        return "it is a network (UNC) path"
    if text.startswith("\\\\"):
        return "it is a network (UNC) path"
    if platform.startswith("win"):
        if mounts is None and _windows_drive_is_remote(text):  # pragma: no cover
            return f"drive {ntpath.splitdrive(text)[0]} is a mapped network drive"
        return None
    table = _current_mount_table() if mounts is None else mounts
    resolved = Path(os.path.abspath(text))
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
