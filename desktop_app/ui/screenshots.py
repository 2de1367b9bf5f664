"""Render the main window to PNG files, offscreen (for the README and for review).

    python -m desktop_app.ui.screenshots OUT_DIR [DATABASE_URL] [--policies N] [--scale S] [--dark]

Without a URL, a new SQLite file in a temporary folder is used, with a first admin named
"admin". The first picture is the home screen of the empty database; then demo data is
loaded through the window's own button and the overview is rendered. Last, the import
wizard is driven on a sample expiration list (see :func:`sample_list`) up to its mapping
page and its preview, which are rendered too; nothing is imported.
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
    policies), ``home-overview.png`` (after loading demo data), and the import wizard's
    ``import-mapping.png`` and ``import-preview.png`` into ``out_dir``."""
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
        window.show_page("home", remember=False)  # a book with data opens on the board
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
        written.extend(_render_pages(app, window, out))
        written.extend(_render_import_wizard(app, window, out))
        written.extend(_render_sign_in(app, launcher, out))
    finally:
        home.DEMO_POLICIES = saved_policies
        window.close()
        launcher.close()
        window.deleteLater()
        app.processEvents()
    return written


def _settled(app: object, window: object, what: str) -> None:
    """Wait until the window's database work is done and the events are processed."""
    executor = window.executor  # type: ignore[attr-defined]
    _wait(app, lambda: not executor.busy, 300, what)
    for _ in range(5):
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.02)


def _render_pages(app: object, window: object, out: Path) -> list[Path]:
    """The board, a renewal's panel beside it, the queues, the dashboard and the admin
    screen, each over the demo book."""
    written: list[Path] = []
    for key in ("board", "queues", "dashboard", "admin"):
        window.show_page(key, remember=False)  # type: ignore[attr-defined]
        if key == "queues":  # the first admin owns no work: show what needs attention
            window.queues.tabs.setCurrentIndex(2)  # type: ignore[attr-defined]
        _settled(app, window, f"the {key}")
        path = out / f"{key}.png"
        _save(app, window, path)
        written.append(path)
        if key == "board":
            renewal_id = _a_renewal(window.board)  # type: ignore[attr-defined]
            if renewal_id is not None:
                window.board.select_card(renewal_id)  # type: ignore[attr-defined]
                window.open_renewal(renewal_id)  # type: ignore[attr-defined]
                _settled(app, window, "the renewal panel")
                path = out / "renewal-detail.png"
                _save(app, window, path)
                written.append(path)
                window.detail_dock.hide()  # type: ignore[attr-defined]
    window.show_page("board", remember=False)  # type: ignore[attr-defined]
    return written


def _a_renewal(board: object) -> int | None:
    """A card worth showing in the panel: the first one still being worked."""
    models = board.models  # type: ignore[attr-defined]
    for key in ("gathering", "marketing", "upcoming", *models):
        model = models.get(key)
        if model is not None and model.cards:
            return int(model.cards[0].id)
    return None


def _render_sign_in(app: object, launcher: object, out: Path) -> list[Path]:
    """The sign-in list a shared SQLite book shows (the demo book has several people)."""
    window = launcher.window  # type: ignore[attr-defined]
    if not window.switch_user_action.isEnabled():
        return []
    window.switch_user_action.trigger()
    _wait(app, lambda: window.pages.currentWidget() is window.signin, 60, "the sign-in page")
    path = out / "sign-in.png"
    _save(app, window, path)
    return [path]


def _render_import_wizard(app: object, window: object, out: Path) -> list[Path]:
    """Drive the import wizard on :func:`sample_list` to its mapping page and its preview."""
    from desktop_app.ui.import_wizard import ImportWizard

    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="renewal-desk-sample-") as tmp:
        sample = sample_list(Path(tmp) / "Expiration list Q1 2027.xlsx")
        wizard = window.open_import_wizard()  # type: ignore[attr-defined]
        if wizard is None:
            return written
        try:
            wizard.file_page.path.setText(str(sample))
            wizard.next()
            _wait(app, lambda: wizard.currentId() == ImportWizard.SHEET, 60, "the sheets")
            wizard.sheet_page.select("Expiring")
            wizard.next()
            _wait(app, lambda: wizard.mapping_page.step is not None, 60, "the mapping")
            path = out / "import-mapping.png"
            _save(app, wizard, path)
            written.append(path)
            wizard.next()
            _wait(app, lambda: wizard.preview_page.result is not None, 120, "the preview")
            path = out / "import-preview.png"
            _save(app, wizard, path)
            written.append(path)
        finally:
            wizard.reject()
            _wait(app, lambda: not wizard.busy, 60, "the wizard to stop")
            wizard.deleteLater()
    return written


def sample_list(path: Path) -> Path:
    """An expiration list as an agency system exports it, for the wizard's pictures: a
    title line, synonyms (one only partly matching), text dates and money, a bad date, a
    policy listed twice, a blank row and a subtotal."""
    from datetime import datetime

    import openpyxl

    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Read me"
    notes["A1"] = "Policies expiring 01/01/2027 to 03/31/2027, exported from the agency system."
    ws = wb.create_sheet("Expiring")
    ws["A1"] = "Expiration List — 01/01/2027 to 03/31/2027"
    ws.merge_cells("A1:H1")
    ws.append([])
    ws.append(
        [
            "Pol No",
            "Named Insured",
            "Writing Company",
            "LOB",
            "Eff Date",
            "Policy Expiration (mm/dd/yyyy)",
            "Annual Premium",
            "Home Office",
        ]
    )
    rows = [
        (
            "WC-204118",
            "Harbor Bakery LLC",
            "The Hartford",
            "WORK",
            "1/5/2026",
            "1/5/2027",
            "$12,400.00",
        ),
        ("BOP-0077", "Blue Fin Cafe", "Travelers", "BOP", "1/20/2026", "Jan 20, 2027", "2,310.50"),
        ("CA-99120", "Blue Fin Cafe", "Travelers", "CAUTO", "2/1/2026", "13/45/2027", "4,980"),
        ("GL-55310", "Cedar Dental Group", "Zurich", "CGL", "2/3/2026", "02-03-27", "$3,150.00"),
        ("BOP-0077", "Blue Fin Cafe", "Travelers", "BOP", "1/20/2026", "2027-01-20", "2,310.50"),
        None,
        ("HO-7781234", "Maria Alvarez", "Safeco", "HOME", "2/14/2026", "2/14/2027", "1,842.00"),
        ("PA-3320981", "Maria Alvarez", "Safeco", "AUTOP", "2/14/2026", "2/14/2027", "2,106.00"),
        ("PROP-4410", "Northgate Storage", "Chubb", "PROP", "3/1/2026", "3/1/2027", "(1,200.00)"),
        ("UMB-2219", "Northgate Storage", "Chubb", "Umbrella", "3/1/2026", "3/1/2027", "950"),
        ("PL-88120", "Orchard Law PC", "CNA", "PL", "3/15/2026", datetime(2027, 3, 15), 6200),
        ("CGL-11902", "Pine Street Auto", "Nationwide", "CGL", "3/20/2026", "3/20/2027", "8,450"),
    ]
    for row in rows:
        ws.append([*row, "Main Street"] if row else [])
    ws.append([None, "Subtotal", None, None, None, None, 45498.5])
    wb.save(path)
    return path


def _save(app: object, window: object, path: Path) -> None:
    app.processEvents()  # type: ignore[attr-defined]
    if hasattr(window, "statusBar"):
        window.statusBar().clearMessage()
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
