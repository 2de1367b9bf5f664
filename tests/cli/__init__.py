"""Command-line tests: the real ``renewal-desk`` against a real database.

Helpers shared by the modules here: run the command line in this process (with
``capsys``) or as a child process, and check the one-sentence error contract.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from desktop_app.cli.main import run

REPO = Path(__file__).resolve().parents[2]


class Cli:
    """``cli("policy", "show", "X", "--json")`` → (exit code, stdout, stderr), as one user."""

    def __init__(self, db_url: str, user: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.db_url = db_url
        self.user = user
        self.capsys = capsys

    def __call__(self, *argv: str, user: str | None = None) -> tuple[int, str, str]:
        self.capsys.readouterr()  # drop anything printed before (fixtures, earlier steps)
        try:
            code = run(["--database-url", self.db_url, "--as", user or self.user, *argv])
        except SystemExit as exc:  # argparse refuses the arguments before run() starts
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv: str, user: str | None = None) -> str:
        code, out, err = self(*argv, user=user)
        assert code == 0, f"{argv} exited {code}: {err}"
        assert "Traceback" not in err
        return out

    def json(self, *argv: str, user: str | None = None) -> Any:
        return json.loads(self.ok(*argv, "--json", user=user))

    def refused(self, *argv: str, user: str | None = None) -> str:
        """Run a command that must fail with exit 2 and one sentence; return the sentence."""
        code, out, err = self(*argv, user=user)
        assert code == 2, f"{argv} exited {code} (expected 2): {out} {err}"
        return one_sentence(err)


def one_sentence(err: str) -> str:
    """The single ``renewal-desk: …`` line of stderr (argparse's usage line aside)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("usage:")]
    lines = [line for line in lines if not line.startswith(" ")]  # usage continuation lines
    assert len(lines) == 1, f"expected one sentence on stderr, got {lines!r}"
    line = lines[0]
    assert line.startswith("renewal-desk: ") and line.endswith("."), line
    return line.removeprefix("renewal-desk: ")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse JSON Lines output: every non-empty line must be one JSON object."""
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


def subprocess_cli(
    db_url: str, user: str, *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m desktop_app --database-url URL --as USER …`` as a child process."""
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", "--database-url", db_url, "--as", user, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        check=False,
    )
