"""Every path the app uses, in one place (platform conventions via platformdirs).

``RENEWAL_DESK_HOME`` moves all of them under one folder: tests, the frozen build's
self-test and portable installs use it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from desktop_app import APP_NAME

_PACKAGE_DIR = Path(__file__).resolve().parent


def _home() -> Path | None:
    value = os.environ.get("RENEWAL_DESK_HOME")
    return Path(value) if value else None


def data_dir() -> Path:
    home = _home()
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    home = _home()
    path = (
        home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    home = _home()
    path = home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_database_path() -> Path:
    return data_dir() / "renewal-desk.sqlite3"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def _bundled(name: str) -> Path:
    """A folder shipped with the app: inside the wheel or the frozen build (PyInstaller
    puts it under ``sys._MEIPASS``), else the checkout's.

    The checkout's folder counts only next to our pyproject.toml: an installed package's
    parent is site-packages, where some other distribution may have put a ``migrations``.
    """
    bundled = _PACKAGE_DIR / "_bundled" / name
    if bundled.is_dir():
        return bundled
    frozen_root = getattr(sys, "_MEIPASS", None)  # a PyInstaller build (installers/)
    if getattr(sys, "frozen", False) and frozen_root:
        bundled = Path(frozen_root) / "desktop_app" / "_bundled" / name
        if bundled.is_dir():
            return bundled
        raise FileNotFoundError(
            f"The app's {name} folder is missing from this build (looked in {bundled})."
        )
    checkout = _PACKAGE_DIR.parent
    if (checkout / name).is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / name
    raise FileNotFoundError(f"The app's {name} folder is missing from this installation.")


def migrations_dir() -> Path:
    return _bundled("migrations")


def resources_dir() -> Path:
    return _bundled("resources")
