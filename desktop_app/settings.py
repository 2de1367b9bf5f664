"""Per-desktop settings in a small JSON file. Never a password: those live in the keyring."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop_app import paths


@dataclass
class Settings:
    database_url: str | None = None  # without password; None means the embedded SQLite file
    last_user: str | None = None
    plugins: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or paths.settings_path()
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError):
            # An unreadable settings file must not lock anyone out; start from defaults.
            return cls()
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, path: Path | None = None) -> None:
        from desktop_app.db.urls import strip_password

        path = path or paths.settings_path()
        data = asdict(self)
        if self.database_url:
            data["database_url"] = strip_password(self.database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
