"""An auto-renewal plugin that writes down every call, for counting across processes.

Enable it with ``RENEWAL_DESK_PLUGINS=tests.engine_procs.recording_plugin:plugin`` and name
the log file in ``RD_TEST_PLUGIN_LOG``. Each call appends one line ``event ar_id pid``:
the file is opened with ``O_APPEND`` and the line written with one ``write`` (so lines of
concurrent processes never interleave), then fsync'd before the plugin answers, so a line
is on disk for every call the engine made even if the process is killed right after.

``RD_TEST_PLUGIN_SLEEP`` (seconds, default 0) makes the plugin slow, so a test can kill a
process while the engine is inside a plugin call. The answer is always "no change".
"""

from __future__ import annotations

import os
import time
from typing import Any

LOG_ENV = "RD_TEST_PLUGIN_LOG"
SLEEP_ENV = "RD_TEST_PLUGIN_SLEEP"


def plugin(request: dict[str, Any]) -> dict[str, Any]:
    """Record ``(event, auto-renewal id, pid)``, sleep if asked, answer nothing."""
    event = request["renewalEvent"]
    ar_id = request["autoRenewal"]["id"]
    line = f"{event} {ar_id} {os.getpid()}\n".encode()
    fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    pause = float(os.environ.get(SLEEP_ENV) or 0)
    if pause > 0:
        time.sleep(pause)
    return {}


def read_calls(path: str | os.PathLike[str]) -> list[tuple[str, int, int]]:
    """The calls recorded in ``path``: ``(event, auto-renewal id, pid)`` in order."""
    calls: list[tuple[str, int, int]] = []
    if not os.path.exists(path):
        return calls
    with open(path, encoding="ascii") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:  # a line cut short by SIGKILL has fewer parts
                calls.append((parts[0], int(parts[1]), int(parts[2])))
    return calls
