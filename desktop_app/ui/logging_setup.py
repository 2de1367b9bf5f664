"""Logs for the desktop app: a rotating log file, Qt's own messages, and a crash log.

* ``renewal-desk.log`` in :func:`desktop_app.paths.log_dir`, set up by
  :func:`desktop_app.logs.setup_logging` (rotating; shared with the command line);
* Qt warnings and errors go through :mod:`logging` (``qInstallMessageHandler``), so they
  land in the same file with a time stamp instead of on an invisible console;
* :mod:`faulthandler` writes the stacks of every thread to ``crash.log`` when the process
  dies of a fatal signal; on the next start the app moves that file aside and says so.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

from desktop_app import paths

LOG_FILE_NAME = "renewal-desk.log"  # as desktop_app.logs names it
CRASH_FILE_NAME = "crash.log"

qt_log = logging.getLogger("qt")

_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}

_crash_file: IO[str] | None = None
_previous_qt_handler: Any = None


@dataclass(frozen=True)
class LogFiles:
    log_file: Path
    crash_file: Path
    previous_crash: Path | None
    """The crash log of a previous run that died, moved aside; None after a clean exit."""


def log_file_path() -> Path:
    return paths.log_dir() / LOG_FILE_NAME


def crash_file_path() -> Path:
    return paths.log_dir() / CRASH_FILE_NAME


def qt_message_handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Route one Qt message into :mod:`logging`, then to the handler installed before us."""
    level = _QT_LEVELS.get(mode, logging.WARNING)
    where = ""
    if context is not None and context.file:
        where = f" ({context.file}:{context.line})"
    category = (context.category if context is not None else None) or "default"
    qt_log.log(level, "%s%s [%s]", message, where, category)
    if _previous_qt_handler is not None:
        _previous_qt_handler(mode, context, message)
    elif mode in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        # e.g. no usable display: say it where the person who started us can see it
        print(f"renewal-desk: {message}", file=sys.stderr)


def _log_unhandled(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("desktop_app").critical("Unhandled exception", exc_info=(kind, value, tb))


def install(level: int = logging.INFO) -> LogFiles:
    """Set up logging for the GUI process (call once, before the QApplication exists)."""
    global _crash_file, _previous_qt_handler
    from desktop_app.logs import setup_logging

    log_file = setup_logging(level)  # the same rotating file the command line writes

    previous_crash = _set_aside_previous_crash()
    if _crash_file is None:
        crash = crash_file_path()
        _crash_file = crash.open("w", encoding="utf-8")
        faulthandler.enable(file=_crash_file, all_threads=True)

    previous = qInstallMessageHandler(qt_message_handler)
    if previous is not qt_message_handler:
        _previous_qt_handler = previous
    sys.excepthook = _log_unhandled
    logging.getLogger("desktop_app").info("Renewal Desk starting; log file %s", log_file)
    return LogFiles(log_file, crash_file_path(), previous_crash)


def _set_aside_previous_crash() -> Path | None:
    """A non-empty crash.log at start means the last run died: keep it under a new name."""
    crash = crash_file_path()
    if _crash_file is not None:
        return None
    try:
        if not crash.exists() or crash.stat().st_size == 0:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = crash.with_name(f"crash-{stamp}.log")
        crash.replace(kept)
        return kept
    except OSError:
        return None


def uninstall() -> None:
    """Undo :func:`install` except the log file (at exit: an empty crash log stays)."""
    global _crash_file, _previous_qt_handler
    qInstallMessageHandler(_previous_qt_handler)
    _previous_qt_handler = None
    sys.excepthook = sys.__excepthook__
    if _crash_file is not None:
        faulthandler.disable()
        _crash_file.close()
        _crash_file = None
