"""The screenshot script renders every main screen, the renewal panel, two import wizard
pages and the sign-in list offscreen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage

from desktop_app.db.engine import open_database
from desktop_app.services.overview import book_overview
from desktop_app.ui import home
from desktop_app.ui.import_wizard import WIZARD_SIZE
from desktop_app.ui.screenshots import _fresh_sqlite, render_screens


def test_render_screens(qapp, tmp_path: Path, small_demo: int) -> None:  # type: ignore[no-untyped-def]
    url = _fresh_sqlite(tmp_path / "shots.sqlite3")
    written = render_screens(
        tmp_path / "out", url, as_user="admin", demo_policies=25, size=(1000, 700)
    )
    assert [p.name for p in written] == [
        "home-empty.png",
        "home-overview.png",
        "board.png",
        "renewal-detail.png",
        "queues.png",
        "dashboard.png",
        "admin.png",
        "import-mapping.png",
        "import-preview.png",
        "sign-in.png",  # the demo book has several people: switching user lists them
    ]
    sizes = {"import-mapping.png": WIZARD_SIZE, "import-preview.png": WIZARD_SIZE}
    for path in written:
        image = QImage(str(path))
        assert not image.isNull()
        assert (image.width(), image.height()) == sizes.get(path.name, (1000, 700))
    db = open_database(url)
    try:
        # loaded through the window's own button; the wizard was only taken to its preview
        assert book_overview(db).policies == 25
    finally:
        db.dispose()
    assert small_demo == home.DEMO_POLICIES  # put back afterwards
