"""Logging to a rotating file in the user's log folder. Passwords never reach it."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from desktop_app import paths

_configured: Path | None = None


def setup_logging(level: int = logging.INFO) -> Path:
    """Log to ``renewal-desk.log`` in the log folder (rotating, 5 × 2 MB); return its path."""
    global _configured
    if _configured is not None:
        return _configured
    path = paths.log_dir() / "renewal-desk.log"
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    _configured = path
    return path
