"""Render the main window to PNG files, offscreen (for the README and for review).

    python -m desktop_app.ui.screenshots OUT_DIR [DATABASE_URL] [--policies N] [--scale S] [--dark]

Without a URL, a new SQLite file in a temporary folder is used, with a first admin named
"admin". The first picture is the home screen of the empty database; then demo data is
loaded through the window's own button and the overview is rendered.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SIZE = (1120, 760)


def _wait(app: object, predicate: Callable[[], bool], timeout: float, what: str) -> None:
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)  # type: ignore[attr-defined]
        time.sleep(0.01)


def render_screens(
    out_dir: str | Path,
    database_url: str,
    *,
    as_user: str | None = None,
    demo_policies: int | None = None,
    size: tuple[int, int] = SIZE,
    dark: bool = False,
) -> list[Path]:
    """Render ``home-empty.png`` (the first-run screen; the database should have no
    policies) and ``home-overview.png`` (after loading demo data) into ``out_dir``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt

    from desktop_app.ui import home, theme
    from desktop_app.ui.app import create_application, launch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = create_application([sys.argv[0] if sys.argv else "renewal-desk"])
    if dark:
        theme.apply(app, Qt.ColorScheme.Dark)
    launcher = launch(database_url, as_user)
    window = launcher.window
    written: list[Path] = []
    saved_policies = home.DEMO_POLICIES
    try:
        window.resize(*size)
        _wait(app, lambda: launcher.session is not None or window.startup.failed, 60, "the DB")
        if launcher.session is None:
            raise RuntimeError(window.startup.status.text())
        page = window.home
        _wait(app, lambda: page.showing != "loading", 60, "the home screen")
        path = out / ("home-empty.png" if page.showing == "first-run" else "home-start.png")
        _save(app, window, path)
        written.append(path)

        if page.showing == "first-run":
            if demo_policies is not None:
                home.DEMO_POLICIES = demo_policies
            finished: list[object] = []
            page.demo_finished.connect(finished.append)
            page.first_run.demo_button.click()
            _wait(app, lambda: bool(finished), 1800, "the demo data")
            _wait(app, lambda: page.showing == "overview" and not page._refreshing, 120, "counts")
        path = out / "home-overview.png"
        _save(app, window, path)
        written.append(path)
    finally:
        home.DEMO_POLICIES = saved_policies
        window.close()
        launcher.close()
        window.deleteLater()
        app.processEvents()
    return written


def _save(app: object, window: object, path: Path) -> None:
    app.processEvents()  # type: ignore[attr-defined]
    window.statusBar().clearMessage()  # type: ignore[attr-defined]
    app.processEvents()  # type: ignore[attr-defined]
    if not window.grab().save(str(path)):  # type: ignore[attr-defined]
        raise OSError(f"could not write {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--policies", type=int, default=None, help="demo policies to load")
    parser.add_argument("--scale", type=float, default=None, help="device pixel ratio (e.g. 2)")
    parser.add_argument("--dark", action="store_true", help="the dark colour scheme")
    args = parser.parse_args(argv)
    if args.scale:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    with tempfile.TemporaryDirectory(prefix="renewal-desk-shots-") as tmp:
        os.environ.setdefault("RENEWAL_DESK_HOME", str(Path(tmp) / "home"))
        url, as_user = args.database_url, None
        if url is None:
            url, as_user = _fresh_sqlite(Path(tmp) / "screens.sqlite3"), "admin"
        for path in render_screens(
            args.out_dir, url, as_user=as_user, demo_policies=args.policies, dark=args.dark
        ):
            print(path)
    return 0


def _fresh_sqlite(path: Path) -> str:
    from desktop_app.db import migrate
    from desktop_app.db.engine import open_database
    from desktop_app.services import users

    url = f"sqlite:///{path}"
    db = open_database(url)
    try:
        migrate.upgrade(db)
        users.ensure_first_admin(db, "admin")
    finally:
        db.dispose()
    return url


if __name__ == "__main__":
    sys.exit(main())
