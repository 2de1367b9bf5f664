"""A throw-away PostgreSQL server that asks for passwords (SCRAM), for the tests of the
database login: the project's own server trusts every local connection, so a password
prompt can only be exercised against a server of its own."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class ScramServer:
    host: str
    port: int
    login: str
    password: str

    @property
    def url(self) -> str:
        """The URL without the password, as a desktop has it in its settings."""
        return f"postgresql+psycopg://{self.login}@{self.host}:{self.port}/postgres"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def why_not() -> str | None:
    """Why no such server can be started here (None: it can)."""
    if _bin_dir() is None:
        return "PostgreSQL's initdb is not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as another user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scram_server(
    login: str = "office_user", password: str = "s3cret-Pa55"
) -> Iterator[ScramServer]:
    bindir = _bin_dir()
    assert bindir is not None
    as_postgres: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="rd-scram-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(password + "\n")
    if as_postgres:
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    run = lambda *cmd: subprocess.run(  # noqa: E731
        [*as_postgres, *cmd], check=True, capture_output=True, text=True, timeout=120
    )
    try:
        run(
            str(bindir / "initdb"), "-D", str(data), "-U", login, "--pwfile", str(pwfile),
            "--auth=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(root / "log"),
            "start",
        )
        yield ScramServer("127.0.0.1", port, login, password)
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
