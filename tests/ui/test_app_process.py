"""run_gui and the log set-up, each in a process of its own (they install process-wide
handlers: a Qt message handler, faulthandler, sys.excepthook)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RENEWAL_DESK_HOME=str(home))
    env.pop("RENEWAL_DESK_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


CLOSE_WHEN_READY = """
    import sys
    from PySide6.QtCore import QTimer
    from desktop_app.ui import app as ui_app

    original = ui_app.launch

    def launch(*args, **kwargs):
        launcher = original(*args, **kwargs)
        def opened(session):
            print("OPENED", session.user.username, session.user.role.value, flush=True)
            QTimer.singleShot(50, launcher.window.close)
        def failed(message):
            print("FAILED", message, flush=True)
            QTimer.singleShot(50, launcher.window.close)
        launcher.opened.connect(opened)
        launcher.failed.connect(failed)
        return launcher

    ui_app.launch = launch
    sys.exit(ui_app.run_gui({url!r}, None))
"""


def test_run_gui_opens_a_new_sqlite_database_and_exits_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    result = run_python(CLOSE_WHEN_READY.format(url=url), tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "OPENED" in result.stdout and " admin" in result.stdout, result.stdout
    logs = tmp_path / "home" / "logs"
    assert "Renewal Desk starting" in (logs / "renewal-desk.log").read_text(encoding="utf-8")
    assert (logs / "crash.log").read_text(encoding="utf-8") == ""
    assert (tmp_path / "home" / "config" / "window.ini").is_file()


def test_run_gui_with_an_unreachable_database_says_so(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:9/renewals"
    result = run_python(CLOSE_WHEN_READY.format(url=url), tmp_path / "home")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAILED"))
    assert "cannot be opened" in line and "Traceback" not in result.stdout + result.stderr


def test_qt_messages_go_to_the_log_and_a_crash_lands_in_the_crash_log(tmp_path: Path) -> None:
    code = """
        import logging
        from PySide6.QtCore import qWarning
        from desktop_app.ui import logging_setup

        files = logging_setup.install()
        print(files.previous_crash)
        qWarning("a warning from Qt")
        logging.getLogger("desktop_app").info("hello")
        import faulthandler
        faulthandler._sigsegv()
    """
    home = tmp_path / "home"
    crashed = run_python(code, home)
    assert crashed.returncode != 0
    logs = home / "logs"
    text = (logs / "renewal-desk.log").read_text(encoding="utf-8")
    assert "a warning from Qt" in text and "WARNING" in text and "hello" in text
    crash = (logs / "crash.log").read_text(encoding="utf-8")
    assert "Fatal Python error" in crash

    # The next start keeps that crash log under another name and says where it is.
    again = run_python(
        """
        from desktop_app.ui import logging_setup
        files = logging_setup.install()
        print(files.previous_crash)
        logging_setup.uninstall()
        """,
        home,
    )
    assert again.returncode == 0, again.stderr
    kept = Path(again.stdout.strip())
    assert kept.parent == logs and kept.name.startswith("crash-")
    assert "Fatal Python error" in kept.read_text(encoding="utf-8")
    assert (logs / "crash.log").read_text(encoding="utf-8") == ""


@pytest.mark.skipif(sys.platform == "win32", reason="signals differ on Windows")
def test_unhandled_exceptions_are_logged(tmp_path: Path) -> None:
    code = """
        import sys
        from desktop_app.ui import logging_setup
        logging_setup.install()
        try:
            raise ValueError("boom")
        except ValueError:
            sys.excepthook(*sys.exc_info())
    """
    home = tmp_path / "home"
    result = run_python(code, home)
    assert result.returncode == 0, result.stderr
    text = (home / "logs" / "renewal-desk.log").read_text(encoding="utf-8")
    assert "Unhandled exception" in text and "ValueError: boom" in text
