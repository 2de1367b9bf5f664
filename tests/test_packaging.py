"""The installed wheel, not only the checkout, carries the migrations and resources and can
create a database with them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(out),
            str(CHECKOUT),
        ],
        cwd=out,
    )
    (built,) = out.glob("renewal_desk-*.whl")
    return built


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = "desktop_app/_bundled/"
    assert f"{bundled}migrations/env.py" in names
    assert f"{bundled}migrations/script.py.mako" in names
    revisions = sorted(p.name for p in (CHECKOUT / "migrations" / "versions").glob("*.py"))
    assert revisions, "the checkout has no revisions"
    for name in revisions:
        assert f"{bundled}migrations/versions/{name}" in names
    assert any(n.startswith(f"{bundled}resources/") for n in names)
    for name in (
        "desktop_app/__init__.py",
        "desktop_app/paths.py",
        "desktop_app/db/migrate.py",
        "desktop_app/db/models.py",
    ):
        assert name in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.endswith((".sqlite3", ".sqlite3-wal", ".db"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "renewal-desk = desktop_app.__main__:main" in text
    assert "[gui_scripts]" in text


_SMOKE = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    target = Path(sys.argv[1]).resolve()
    db_path = Path(sys.argv[2])

    import desktop_app
    from desktop_app import paths

    assert Path(desktop_app.__file__).resolve().is_relative_to(target), desktop_app.__file__
    migrations = paths.migrations_dir().resolve()
    assert migrations.is_relative_to(target), migrations
    assert migrations == target / "desktop_app" / "_bundled" / "migrations", migrations
    assert paths.resources_dir().resolve().is_relative_to(target)

    from sqlalchemy import text
    from desktop_app.db import migrate
    from desktop_app.db.engine import open_database

    db = open_database(f"sqlite:///{db_path}")
    result = migrate.upgrade(db)
    assert result.to_revision == migrate.head_revision(), result
    with db.read_session() as s:
        stages = s.execute(text("SELECT count(*) FROM pipeline_stages")).scalar()
    db.dispose()
    assert stages == 8, stages
    print("ok", result.to_revision, migrations)
    """
)


def test_installed_wheel_migrates_a_new_database(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        cwd=tmp_path,
    )
    script = tmp_path / "smoke.py"
    script.write_text(_SMOKE, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "RENEWAL_DESK_HOME": str(tmp_path / "home"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("RENEWAL_DESK_DATABASE_URL", None)
    done = _run(
        [sys.executable, str(script), str(target), str(tmp_path / "fresh.sqlite3")],
        cwd=elsewhere,
        env=env,
    )
    assert done.stdout.startswith("ok ")
