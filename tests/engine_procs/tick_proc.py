"""One tick in its own OS process, started on a signal, for the process tests.

Two ways to run::

    python -m tests.engine_procs.tick_proc URL --now ISO [--barrier FILE] [--ready FILE]
    python -m tests.engine_procs.tick_proc --cli [--barrier FILE] [--ready FILE] -- ARGS…

The first calls ``timer.tick(db, now=…)`` itself and prints one JSON object per action
(the shape ``renewal-desk scheduler once --json`` prints). The second runs the real command
line, ``python -m desktop_app ARGS…``, inside this process.

Either way the slow part of starting (importing SQLAlchemy and the app, opening the
database) happens first; then the process writes ``--ready`` and waits until ``--barrier``
exists. A test starts several of them, waits until every one is ready and creates the
barrier file, so they really start ticking at the same moment — or kills one at a chosen
moment after releasing it.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.001
ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.engine_procs.recording_plugin:plugin"


def _signal_ready(ready: str | None) -> None:
    if ready:
        Path(ready).write_text(str(os.getpid()), encoding="ascii")


def _wait_for(barrier: str | None, limit: float = 120.0) -> None:
    if not barrier:
        return
    deadline = time.monotonic() + limit
    while not os.path.exists(barrier):
        if time.monotonic() > deadline:
            raise SystemExit(f"tick_proc: the barrier {barrier} never appeared")
        time.sleep(POLL_SECONDS)


def _run_cli(args: argparse.Namespace) -> int:
    # Import what the command needs before the barrier, so the start is not an import race.
    import desktop_app.cli.main as cli_main

    cli_main.build_parser()
    import desktop_app.engine.timer  # noqa: F401

    argv = list(args.rest)
    _signal_ready(args.ready)
    _wait_for(args.barrier)
    sys.argv = ["desktop_app", *argv]
    try:
        runpy.run_module("desktop_app", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


def _run_direct(args: argparse.Namespace) -> int:
    from desktop_app.db.engine import open_database
    from desktop_app.engine import timer

    db = open_database(args.url)
    now = datetime.fromisoformat(args.now) if args.now else None
    _signal_ready(args.ready)
    _wait_for(args.barrier)
    report = timer.tick(
        db, now=now, housekeeping=not args.no_housekeeping, batch_size=args.batch or None
    )
    for action in report.actions:
        print(json.dumps(action, default=str), flush=True)
    for error in report.errors:
        print(json.dumps({"error": error}), flush=True)
    db.dispose()
    return 1 if report.errors else 0


# --------------------------------------------------------------------------- for the tests
def scheduler_cli_available() -> bool:
    """True once ``renewal-desk scheduler once`` exists (then the tests drive the real CLI)."""
    from desktop_app.cli import main as cli_main

    return (ROOT / "desktop_app" / "cli" / "scheduler_cmd.py").exists() and (
        "scheduler_cmd" in cli_main.COMMAND_MODULES
    )


def process_env(plugin_log: Path, *, plugin_sleep: float = 0.0) -> dict[str, str]:
    """The environment of a tick process: this checkout importable, the recording plugin."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["RENEWAL_DESK_PLUGINS"] = PLUGIN
    env["RD_TEST_PLUGIN_LOG"] = str(plugin_log)
    env["RD_TEST_PLUGIN_SLEEP"] = str(plugin_sleep)
    return env


def tick_command(url: str, now: datetime, barrier: Path, ready: Path) -> list[str]:
    """The command of one tick process that waits for ``barrier``: the real CLI
    (``python -m desktop_app … scheduler once --now ISO --json``) when it exists, else
    :mod:`tests.engine_procs.tick_proc` calling ``timer.tick`` itself."""
    wait = ["--barrier", str(barrier), "--ready", str(ready)]
    runner = [sys.executable, "-m", "tests.engine_procs.tick_proc"]
    if scheduler_cli_available():
        # --now is an admin's call; the bulk builder's first admin is "admin".
        cli = ["--database-url", url, "--as", "admin", "scheduler", "once"]
        cli += ["--now", now.isoformat(), "--json"]
        return [*runner, "--cli", *wait, "--", *cli]
    return [*runner, url, "--now", now.isoformat(), *wait]


def start(command: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    """Start a tick process writing its stdout to ``out`` (stderr to ``out``.err)."""
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=out.open("wb"),
        stderr=out.with_suffix(".err").open("wb"),
    )


def wait_ready(paths: list[Path], procs: list[subprocess.Popen[bytes]], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not all(p.exists() for p in paths):
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"a tick process ended before it was ready ({proc.args})")
        if time.monotonic() > deadline:
            raise AssertionError("the tick processes did not get ready in time")
        time.sleep(0.005)


def reported_actions(out: Path) -> list[dict[str, Any]]:
    """The auto-renewal actions a process printed (one JSON object per line)."""
    actions = []
    for line in out.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if isinstance(data, dict) and "auto_renewal_id" in data and "event" in data:
            actions.append(data)
    return actions


# --------------------------------------------------------------------------- the process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="the database URL (direct mode)")
    parser.add_argument("--now", help="the tick's 'now', ISO 8601 (direct mode)")
    parser.add_argument("--batch", type=int, default=0, help="batch size (direct mode)")
    parser.add_argument("--no-housekeeping", action="store_true")
    parser.add_argument("--cli", action="store_true", help="run python -m desktop_app ARGS")
    parser.add_argument("--barrier", help="wait until this file exists before ticking")
    parser.add_argument("--ready", help="write this file once ready to tick")
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:  # everything after "--" goes to the command line untouched
        at = argv.index("--")
        argv, rest = argv[:at], argv[at + 1 :]
    args = parser.parse_args(argv)
    args.rest = rest
    if args.cli:
        return _run_cli(args)
    if not args.url:
        parser.error("the database URL is needed")
    return _run_direct(args)


if __name__ == "__main__":
    sys.exit(main())
