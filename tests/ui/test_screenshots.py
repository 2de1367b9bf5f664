"""The screenshot script renders both home screens offscreen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage

from desktop_app.ui import home
from desktop_app.ui.screenshots import _fresh_sqlite, render_screens


def test_render_screens(qapp, tmp_path: Path, fake_demo) -> None:  # type: ignore[no-untyped-def]
    url = _fresh_sqlite(tmp_path / "shots.sqlite3")
    written = render_screens(tmp_path / "out", url, as_user="admin", size=(1000, 700))
    assert [p.name for p in written] == ["home-empty.png", "home-overview.png"]
    for path in written:
        image = QImage(str(path))
        assert not image.isNull()
        assert (image.width(), image.height()) == (1000, 700)
    assert fake_demo.calls and fake_demo.calls[0]["policies"] == home.DEMO_POLICIES == 12
