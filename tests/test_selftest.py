"""``renewal-desk --self-test`` from a checkout: every step passes, the user's folders stay
untouched, and an installation without its migrations fails with a sentence naming them.
(The frozen build runs the same self-test in tests/test_frozen_build.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from desktop_app.selftest import STEPS

CHECKOUT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path) -> dict[str, str]:
    """The environment of a person at a desktop: a home folder of their own, and no
    RENEWAL_DESK_HOME or display settings of ours."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RENEWAL_DESK_", "XDG_", "QT_"))
    }
    env["HOME"] = str(tmp_path / "person")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _user_folders(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if "renewal" in p.name.lower()] if home.exists() else []


def test_self_test_passes_every_step_without_touching_the_users_data(tmp_path: Path) -> None:
    env = _env(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--self-test"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for number, step in enumerate(STEPS, 1):
        assert any(
            line.startswith(f"{number}/{len(STEPS)} {step} ") and " ok " in line for line in lines
        ), (step, done.stdout)
    assert lines[-1].startswith(f"Self-test passed: {len(STEPS)} steps in ")
    assert "10 screens rendered" in done.stdout, done.stdout
    assert "read back unchanged" in done.stdout
    # Nothing under the person's home: no database, settings or logs of theirs.
    assert _user_folders(Path(env["HOME"])) == []
    assert not list(tmp_path.glob("*.xlsx"))


def test_an_installation_without_its_migrations_fails_saying_so(tmp_path: Path) -> None:
    """The package alone, as a broken installer might leave it: no _bundled folder and
    no checkout around it."""
    site = tmp_path / "site"
    shutil.copytree(
        CHECKOUT / "desktop_app",
        site / "desktop_app",
        ignore=shutil.ignore_patterns("__pycache__", "_bundled"),
    )
    env = {**_env(tmp_path), "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--self-test"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"1/{len(STEPS)} resources   FAILED" in done.stdout
    assert done.stderr.strip() == (
        "renewal-desk: Self-test failed at step 'resources': "
        "The app's migrations folder is missing from this installation."
    )
    assert "Self-test passed" not in done.stdout
