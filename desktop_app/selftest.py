"""``renewal-desk --self-test``: prove that this installation is complete.

Made for the frozen build (``installers/``), where a module, a Qt plugin or a data folder
left out of the bundle shows only when someone double-clicks the app; it runs from a
checkout too (``python -m desktop_app --self-test``). Each step uses the app's own code
paths, in a temporary folder (``RENEWAL_DESK_HOME``), so it never touches the user's
data, and offscreen unless ``QT_QPA_PLATFORM`` says otherwise:

1. resources    the bundled migrations and resources (icons) are where the app looks
2. qt-plugins   the Qt plugins the app needs: this platform's and the offscreen one,
                the SVG image format and icon engine
3. database     a new SQLite database, upgraded with the bundled migrations
4. demo-data    the demo book loaded into it
5. keyring      every keyring backend loads, this system's among them
6. screens      every main screen rendered once (``desktop_app.ui.screenshots``)
7. excel        the renewal list and the rollup written as .xlsx and read back
8. timer-tick   one tick of the timer service, with the example plugin loaded

It prints one line per step with its time and exits 0; on the first failure it says in
one sentence which step failed and what is missing, and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app import __version__

STEPS = (
    "resources",
    "qt-plugins",
    "database",
    "demo-data",
    "keyring",
    "screens",
    "excel",
    "timer-tick",
)
DEFAULT_POLICIES = 150
SELFTEST_USER = "selftest"
EXAMPLE_PLUGIN = "desktop_app.plugins.premium_threshold:plugin"
# What the app reads at run time from resources/ (the installers' icons are separate).
REQUIRED_RESOURCES = ("icons/renewal-desk.svg", "icons/renewal-desk-256.png")
# Screens render_screens must write (home-empty/home-start depends on the data).
EXPECTED_SCREENS = (
    "home-overview",
    "board",
    "renewal-detail",
    "queues",
    "dashboard",
    "admin",
    "import-mapping",
    "import-preview",
    "sign-in",
)
# Modules each OS's keyring backend needs; without them it silently stores nothing.
KEYRING_NEEDS = {
    "linux": ("keyring.backends.SecretService", "secretstorage", "jeepney"),
    "win32": ("keyring.backends.Windows", "win32ctypes.pywin32.win32cred"),
    "darwin": ("keyring.backends.macOS", "keyring.backends.macOS.api"),
}
NATIVE_PLATFORM = {"linux": "xcb", "win32": "windows", "darwin": "cocoa"}
# The plugin folders a desktop uses; each plugin found in them must load.
CHECKED_PLUGIN_FOLDERS = (
    "platforms",
    "platformthemes",
    "platforminputcontexts",
    "styles",
    "imageformats",
    "iconengines",
    "xcbglintegrations",
    "wayland-decoration-client",
    "wayland-graphics-integration-client",
    "wayland-shell-integration",
)
# The library a plugin could not find, in a loader error (Linux; macOS).
_MISSING_LIBRARY = re.compile(
    r"([^\s/:]+): cannot open shared object file|Library not loaded: (\S+)"
)
# Libraries of Qt's own, which the build must carry (system ones it need not).
_QT_LIBRARY = re.compile(r"^(lib)?(Qt6|icu|pyside6|shiboken6)|Qt\w*\.framework", re.IGNORECASE)
# Qt messages that say nothing about the installation.
QUIET_QT_MESSAGES = ("This plugin does not support propagateSizeHints",)


class StepFailed(Exception):
    """A step found something missing or wrong; the message is one plain sentence."""


@dataclass
class Context:
    folder: Path
    policies: int
    keep: Path | None
    url: str = ""
    db: Any = None
    actor: Any = None
    qt_messages: list[str] = field(default_factory=list)


def run(argv: list[str] | None = None) -> int:
    """Run every step; print one line each; return the exit status (0: all passed)."""
    parser = argparse.ArgumentParser(
        prog="renewal-desk --self-test",
        description="Check that this installation of Renewal Desk is complete.",
    )
    parser.add_argument(
        "--policies", type=int, default=DEFAULT_POLICIES, metavar="N", help="demo book size"
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the rendered screens and workbooks here"
    )
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # a pipe on Windows may not take every path
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    began = time.perf_counter()
    _print_header()
    with tempfile.TemporaryDirectory(prefix="renewal-desk-selftest-") as tmp:
        ctx = Context(Path(tmp), max(1, args.policies), args.keep)
        with _isolated_environment(ctx.folder):
            try:
                status = _run_steps(ctx)
            finally:
                if ctx.db is not None:
                    ctx.db.dispose()
    if status == 0:
        print(f"Self-test passed: {len(STEPS)} steps in {time.perf_counter() - began:.1f} s.")
    return status


def _run_steps(ctx: Context) -> int:
    steps: dict[str, Callable[[Context], str]] = {
        "resources": _resources,
        "qt-plugins": _qt_plugins,
        "database": _database,
        "demo-data": _demo_data,
        "keyring": _keyring,
        "screens": _screens,
        "excel": _excel,
        "timer-tick": _timer_tick,
    }
    for number, name in enumerate(STEPS, 1):
        started = time.perf_counter()
        try:
            detail = steps[name](ctx)
        except Exception as exc:
            seconds = time.perf_counter() - started
            print(f"{number}/{len(STEPS)} {name:<11} FAILED {seconds:6.2f} s", flush=True)
            print(
                f"renewal-desk: Self-test failed at step '{name}': {_sentence(exc)}",
                file=sys.stderr,
            )
            if not _plain(exc):  # unexpected: the traceback helps whoever built it
                print("Details:", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
            return 1
        seconds = time.perf_counter() - started
        print(f"{number}/{len(STEPS)} {name:<11} ok {seconds:6.2f} s  {detail}", flush=True)
    return 0


def _plain(exc: BaseException) -> bool:
    """An error whose message says it all: something missing, or a rule of the app."""
    from desktop_app.errors import UserFacingError

    return isinstance(exc, StepFailed | UserFacingError | FileNotFoundError | ImportError)


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return f"The module '{exc.name}' is missing from this installation."
    if _plain(exc) and not isinstance(exc, ImportError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = text.strip() or type(exc).__name__
    return text if text.endswith((".", "?", "!")) else text + "."


def _print_header() -> None:
    frozen = getattr(sys, "frozen", False)
    where = (
        f"frozen build in {Path(sys.executable).parent}"
        if frozen
        else f"from {Path(__file__).resolve().parent.parent}"
    )
    print(
        f"Renewal Desk {__version__} self-test: {where}; Python {platform.python_version()} "
        f"on {platform.system()} {platform.machine()}",
        flush=True,
    )
    since = seconds_since_process_start()
    if since is not None:
        print(f"Started {since:.2f} s after the process began.", flush=True)


def seconds_since_process_start() -> float | None:
    """How long ago this process started (Linux only: read from /proc), else None."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        started = int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of the whole line
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return max(0.0, uptime - started)


@contextmanager
def _isolated_environment(folder: Path) -> Iterator[None]:
    """Point every path of the app into ``folder``, offscreen, with the example plugin
    and without the desktop's own timer (the timer step ticks explicitly)."""
    wanted = {
        "RENEWAL_DESK_HOME": str(folder / "home"),
        "RENEWAL_DESK_PLUGINS": EXAMPLE_PLUGIN,
        "RENEWAL_DESK_TIMER": "off",
        "RENEWAL_DESK_DATABASE_URL": None,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM") or "offscreen",
    }
    saved = {name: os.environ.get(name) for name in wanted}
    for name, value in wanted.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --------------------------------------------------------------------------- the steps


def _resources(ctx: Context) -> str:
    from desktop_app import paths
    from desktop_app.db import migrate

    migrations = paths.migrations_dir()
    revisions = sorted((migrations / "versions").glob("*.py"))
    if not (migrations / "env.py").is_file() or not revisions:
        raise StepFailed(f"The migrations in {migrations} are incomplete (env.py or versions/).")
    head = migrate.quick_head()
    if head is None:
        raise StepFailed(f"The migrations in {migrations} have no single head revision.")
    resources = paths.resources_dir()
    for name in REQUIRED_RESOURCES:
        if not (resources / name).is_file():
            raise StepFailed(f"The resource {name} is missing from {resources}.")
    return f"{len(revisions)} migrations (head {head}) and resources in {resources.parent}"


def _plugin_folders() -> list[Path]:
    from PySide6.QtCore import QCoreApplication, QLibraryInfo

    found = [Path(p) for p in QCoreApplication.libraryPaths()]
    found.append(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)))
    return [p for p in dict.fromkeys(found) if p.is_dir()]


def _qt_plugins(ctx: Context) -> str:
    import PySide6
    from PySide6 import QtCore

    platform_name = os.environ["QT_QPA_PLATFORM"].split(":", 1)[0]
    needed = [
        ("platforms", f"q{platform_name}"),
        ("imageformats", "qsvg"),
        ("iconengines", "qsvgicon"),
    ]
    native = NATIVE_PLATFORM.get(sys.platform)
    if native and native != platform_name:
        needed.append(("platforms", f"q{native}"))
    folders = _plugin_folders()
    for kind, stem in needed:
        if not any(_plugin_file(folder / kind, stem) for folder in folders):
            shown = ", ".join(str(f) for f in folders) or "no plugin folder at all"
            raise StepFailed(f"The Qt plugin {kind}/{stem} is missing (looked in {shown}).")
    loaded, wanting = _load_plugins(folders)
    detail = f"Qt {QtCore.qVersion()} (PySide6 {PySide6.__version__}); {loaded} plugins load"
    if wanting:
        libraries = sorted({lib for libs in wanting.values() for lib in libs})
        detail += (
            f"; {len(wanting)} more need system libraries this computer lacks "
            f"({', '.join(libraries[:4])}{', ...' if len(libraries) > 4 else ''})"
        )
    return detail


def _load_plugins(folders: list[Path]) -> tuple[int, dict[str, set[str]]]:
    """Load every plugin a desktop may use (without starting it). A plugin that misses a
    Qt library fails the step: the build left it out. One that misses a system library
    (on Linux: X11/Wayland/GTK pieces a server lacks) is only counted."""
    from PySide6.QtCore import QPluginLoader

    loaded = 0
    wanting: dict[str, set[str]] = {}
    for folder in folders:
        for kind in CHECKED_PLUGIN_FOLDERS:
            if not (folder / kind).is_dir():
                continue
            for path in sorted((folder / kind).iterdir()):
                if path.suffix not in (".so", ".dll", ".dylib"):
                    continue
                loader = QPluginLoader(str(path.resolve()))
                if loader.load():
                    loaded += 1
                    continue
                error = loader.errorString()
                found = _MISSING_LIBRARY.search(error)
                missing = (found.group(1) or found.group(2)) if found else None
                if sys.platform == "win32" or (missing and _QT_LIBRARY.search(missing)):
                    raise StepFailed(
                        f"The Qt plugin {kind}/{path.name} cannot load, so this installation "
                        f"is incomplete: {missing or error}."
                    )
                wanting.setdefault(f"{kind}/{path.name}", set()).add(missing or error)
    return loaded, wanting


def _plugin_file(folder: Path, stem: str) -> bool:
    if not folder.is_dir():
        return False
    for path in folder.iterdir():
        name = path.name.removeprefix("lib")
        base = name.split(".", 1)[0]
        if base in (stem, f"{stem}d") and path.suffix in (".so", ".dll", ".dylib"):
            return True
    return False


def _database(ctx: Context) -> str:
    from sqlalchemy import text

    from desktop_app.db import migrate
    from desktop_app.db.engine import open_database
    from desktop_app.domain.enums import AuditSource
    from desktop_app.services import users

    path = ctx.folder / "selftest.sqlite3"
    ctx.url = f"sqlite:///{path.as_posix()}"
    ctx.db = open_database(ctx.url)
    result = migrate.upgrade(ctx.db)
    head = migrate.head_revision()
    if result.to_revision != head:
        raise StepFailed(f"The database stopped at schema {result.to_revision}, not {head}.")
    with ctx.db.read_session() as session:
        stages = session.execute(text("SELECT count(*) FROM pipeline_stages")).scalar_one()
    if not stages:
        raise StepFailed("The migrations created no pipeline stages.")
    users.ensure_first_admin(ctx.db, SELFTEST_USER)
    ctx.actor = users.resolve_actor(ctx.db, SELFTEST_USER, AuditSource.CLI)
    return f"SQLite upgraded to schema {head}, {stages} pipeline stages; {_postgres_driver()}"


def _postgres_driver() -> str:
    """The PostgreSQL driver and dialect are there (nothing is connected to)."""
    import psycopg
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://selftest@127.0.0.1/selftest")
    engine.dispose()
    if psycopg.pq.__impl__ not in ("binary", "c"):
        raise StepFailed(
            "The PostgreSQL driver's compiled part (psycopg-binary, with libpq) is missing; "
            f"psycopg fell back to its {psycopg.pq.__impl__} implementation."
        )
    major, minor = divmod(psycopg.pq.version(), 10000)
    implementation = psycopg.pq.__impl__
    return (
        f"PostgreSQL driver psycopg {psycopg.__version__} ({implementation}, libpq {major}.{minor})"
    )


def _demo_data(ctx: Context) -> str:
    from desktop_app.services.demo import load_demo

    summary = load_demo(ctx.db, ctx.actor, policies=ctx.policies, seed=1)
    if summary.policies != ctx.policies or not summary.renewals:
        raise StepFailed(f"The demo book has {summary.policies} policies, not {ctx.policies}.")
    return (
        f"{summary.policies} policies, {summary.renewals} renewals, "
        f"{summary.auto_renewals} auto-renewals"
    )


def _keyring(ctx: Context) -> str:
    from importlib.metadata import entry_points

    from desktop_app import secrets

    backends = list(entry_points(group="keyring.backends"))
    if not backends:
        raise StepFailed(
            "No keyring backends are registered (keyring's package metadata is missing)."
        )
    for ep in backends:
        try:
            ep.load()
        except Exception as exc:
            raise StepFailed(
                f"The keyring backend {ep.name} ({ep.value}) failed to load: {_sentence(exc)}"
            ) from exc
    for module in KEYRING_NEEDS.get(sys.platform, ()):
        importlib.import_module(module)
    usable = "usable" if secrets.keyring_usable() else "none usable in this session"
    return (
        f"{len(backends)} backends load ({', '.join(sorted(ep.name for ep in backends))}); "
        f"system keyring: {usable}"
    )


def _screens(ctx: Context) -> str:
    from desktop_app.ui import screenshots

    out = ctx.keep or ctx.folder / "screens"
    with _qt_messages(ctx):
        written = screenshots.render_screens(out, ctx.url, as_user=SELFTEST_USER)
        icon_detail = _check_icons()
    names = {p.stem for p in written}
    missing = [name for name in EXPECTED_SCREENS if name not in names]
    if missing:
        raise StepFailed(f"These screens were not rendered: {', '.join(missing)}.")
    for path in written:
        if not path.is_file() or path.stat().st_size < 2000:
            raise StepFailed(f"The screen {path.name} came out empty.")
    problems = [m for m in ctx.qt_messages if "plugin" in m.lower()]
    if problems:
        raise StepFailed(f"Qt reported a plugin problem: {problems[0]}")
    return f"{len(written)} screens rendered ({', '.join(p.stem for p in written)}); {icon_detail}"


def _check_icons() -> str:
    from PySide6.QtGui import QImage

    from desktop_app import paths
    from desktop_app.ui.main_window import app_icon

    icon = app_icon()
    if icon.isNull() or icon.pixmap(64, 64).isNull():
        raise StepFailed("The window icon (icons/renewal-desk.svg) could not be drawn.")
    png = paths.resources_dir() / "icons" / "renewal-desk-256.png"
    if QImage(str(png)).isNull():
        raise StepFailed(f"The icon {png.name} could not be read.")
    return "window icon drawn from SVG"


@contextmanager
def _qt_messages(ctx: Context) -> Iterator[None]:
    """Collect Qt's warnings (a missing plugin is reported this way), dropping the ones
    that say nothing about the installation."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if any(quiet in message for quiet in QUIET_QT_MESSAGES):
            return
        if kind != QtMsgType.QtDebugMsg:
            ctx.qt_messages.append(message)
            print(f"Qt: {message}", file=sys.stderr)

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


def _excel(ctx: Context) -> str:
    import openpyxl

    from desktop_app.excel import export_rollup
    from desktop_app.excel.reader import check_safe_xml
    from desktop_app.services import exporting, importing

    check_safe_xml()
    out = ctx.keep or ctx.folder
    listed = exporting.export_renewals(ctx.db, ctx.actor, out / "selftest-renewals.xlsx")
    back = importing.import_file(ctx.db, ctx.actor, listed.path, dry_run=True)
    if back.rejected or back.conflicts or back.created or back.updated:
        raise StepFailed(
            f"Reading back the exported renewal list would change the book ({back.created} "
            f"new, {back.updated} updated, {back.rejected} rejected, {back.conflicts} "
            "conflicts); it should change nothing."
        )
    if back.unchanged != listed.rows:
        raise StepFailed(
            f"The renewal list has {listed.rows} renewals but {back.unchanged} were read back."
        )
    rollup = exporting.export_rollup(ctx.db, ctx.actor, out / "selftest-rollup.xlsx")
    workbook = openpyxl.load_workbook(rollup.path, read_only=True)
    try:
        sheets = tuple(workbook.sheetnames)
    finally:
        workbook.close()
    if sheets[: len(export_rollup.SHEETS)] != tuple(export_rollup.SHEETS):
        raise StepFailed(f"The rollup workbook has the sheets {sheets}, not the expected ones.")
    return (
        f"renewal list ({listed.rows} rows) written and read back unchanged; "
        f"rollup ({len(sheets)} sheets) written and opened"
    )


def _timer_tick(ctx: Context) -> str:
    from desktop_app.engine import plugins, timer

    loaded = plugins.load_plugins()
    if loaded.problems:
        raise StepFailed(loaded.problems[0])
    if not any(p.name == EXAMPLE_PLUGIN for p in loaded.plugins):
        raise StepFailed(f"The example plugin {EXAMPLE_PLUGIN} was not loaded.")
    report = timer.tick(ctx.db, plugins=loaded)
    if report.errors:
        raise StepFailed(f"The timer tick reported: {report.errors[0]}")
    housekeeping = ", housekeeping done" if report.housekeeping else ""
    return f"{len(report.actions)} actions{housekeeping}, with {len(loaded.plugins)} plugin(s)"
