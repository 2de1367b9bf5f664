"""The frozen build proves the PyInstaller spec complete: installers/build_linux.sh
freezes the app and the frozen executable passes its --self-test (a new SQLite database
upgraded with the bundled migrations, the demo book, every main screen, an .xlsx written
and read back, a timer tick). A bundle missing a piece fails loudly, naming it.

Windows and macOS builds cannot run here; they use the same spec."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_app import __version__
from desktop_app.selftest import STEPS

CHECKOUT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="the proof build is the Linux one"),
]


def _person(tmp: Path) -> dict[str, str]:
    """A desktop user's environment: their own home, none of our settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("RENEWAL_DESK_", "XDG_", "QT_"))
    }
    env["HOME"] = str(tmp)
    return env


@pytest.fixture(scope="module")
def build(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    if importlib.util.find_spec("PyInstaller") is None:
        if IN_CI:
            pytest.fail('PyInstaller is missing; `pip install -e ".[test]"` installs it.')
        pytest.skip('PyInstaller is not installed (pip install -e ".[test]")')
    out = tmp_path_factory.mktemp("frozen")
    env = {
        **os.environ,
        "DIST_DIR": str(out / "dist"),
        "WORK_DIR": str(out / "work"),
        "PYTHON": sys.executable,
    }
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(CHECKOUT / "installers" / "build_linux.sh")],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    print(f"build_linux.sh took {time.monotonic() - started:.0f} s")
    assert done.returncode == 0, f"build_linux.sh failed:\n{done.stdout}\n{done.stderr}"
    return out / "dist" / "renewal-desk", done


def test_build_script_freezes_the_app_and_its_self_test_passes(
    build: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    bundle, done = build
    lines = done.stdout.splitlines()
    assert f"frozen build in {bundle}" in done.stdout, done.stdout
    for number, step in enumerate(STEPS, 1):
        assert any(
            line.startswith(f"{number}/{len(STEPS)} {step} ") and " ok " in line for line in lines
        ), (step, done.stdout)
    assert f"Self-test passed: {len(STEPS)} steps" in done.stdout
    assert any(line.startswith(f"Bundle: {bundle} (") for line in lines), done.stdout
    assert any(line.startswith("Frozen start: --version in ") for line in lines), done.stdout


def test_frozen_command_line_and_bundle_contents(
    build: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    bundle, _ = build
    exe = bundle / "renewal-desk"
    done = subprocess.run(
        [str(exe), "--version"], env=_person(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"renewal-desk {__version__}"
    bundled = bundle / "_internal" / "desktop_app" / "_bundled"
    revisions = sorted(p.name for p in (CHECKOUT / "migrations" / "versions").glob("*.py"))
    assert sorted(p.name for p in (bundled / "migrations" / "versions").glob("*.py")) == revisions
    assert (bundled / "resources" / "icons" / "renewal-desk.svg").is_file()
    assert not (bundled / "resources" / "screenshots").exists()  # README pictures stay out
    internal = bundle / "_internal"
    assert not list(internal.rglob("*Qt6Quick*")), "QtQuick was bundled"
    assert not list(internal.rglob("*Qt6WebEngine*")), "QtWebEngine was bundled"
    assert not list(internal.rglob("sqldrivers")), "Qt's SQL drivers were bundled"
    assert not [p for p in internal.rglob("*") if p.is_symlink() and not p.exists()]


def test_frozen_self_test_names_what_the_bundle_lacks(
    build: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """A copy of the bundle without a Qt plugin, then without the migrations."""
    bundle, _ = build
    broken = tmp_path / "renewal-desk"
    shutil.copytree(bundle, broken, symlinks=True)
    internal = broken / "_internal"
    env = {**_person(tmp_path / "person"), "QT_QPA_PLATFORM": "offscreen"}

    def self_test() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(broken / "renewal-desk"), "--self-test"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    (svg,) = internal.glob("PySide6/Qt/plugins/imageformats/libqsvg.so")
    svg.unlink()
    done = self_test()
    assert done.returncode == 1
    assert f"2/{len(STEPS)} qt-plugins  FAILED" in done.stdout
    assert "Self-test failed at step 'qt-plugins': The Qt plugin imageformats/qsvg is missing" in (
        done.stderr
    )

    shutil.rmtree(internal / "desktop_app" / "_bundled" / "migrations")
    done = self_test()
    assert done.returncode == 1
    assert f"1/{len(STEPS)} resources   FAILED" in done.stdout
    assert (
        "Self-test failed at step 'resources': The app's migrations folder is missing from "
        "this build" in done.stderr
    )
    # Whatever failed, the person's own folders were never touched.
    person = tmp_path / "person"
    assert not [p for p in person.rglob("*") if "renewal" in p.name.lower()]
