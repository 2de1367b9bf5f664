"""ui/ talks to services through the executor; it never reaches into the data layer."""

from __future__ import annotations

import ast
from pathlib import Path

import desktop_app.ui

UI_DIR = Path(desktop_app.ui.__file__).parent
FORBIDDEN = ("desktop_app.db.models", "desktop_app.db.types", "sqlalchemy.orm")
# Opening and upgrading the database at start is the one sanctioned use of db/ (app.py);
# the screenshot script prepares its own scratch database.
ALLOWED_DB = {
    "app.py": {"desktop_app.db", "desktop_app.db.engine"},
    "screenshots.py": {"desktop_app.db", "desktop_app.db.engine"},
    "session.py": {"desktop_app.db.engine"},  # a type annotation only
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_ui_modules_do_not_import_models_or_sessions() -> None:
    files = sorted(UI_DIR.glob("*.py"))
    assert files
    for path in files:
        modules = imported_modules(path)
        bad = {m for m in modules if m.startswith(FORBIDDEN)}
        assert not bad, f"{path.name} imports {sorted(bad)}"
        db_modules = {
            m for m in modules if m == "desktop_app.db" or m.startswith("desktop_app.db.")
        }
        assert db_modules <= ALLOWED_DB.get(path.name, set()), f"{path.name}: {db_modules}"
