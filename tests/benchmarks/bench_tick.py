"""How long one timer tick takes over a big book, on SQLite and on PostgreSQL.

    python tests/benchmarks/bench_tick.py [--total 200000] [--due 2000] [--events 1]
                                          [--postgres URL | --no-postgres] [--profile]

Builds a fresh database with ``--total`` policies, each with an active auto-renewal
(the bulk builder of ``tests/engine_procs/bulk.py``: the rows the services write), of
which ``--due`` have their first ``--events`` triggers due (1: create; 3: create, accept
and issue) and the rest are months away. Then it times, as of one fixed "now":

* the due tick: firing everything due (no plugin), then the housekeeping of that slot,
  each timed on its own (targets: firing under 5 s);
* the idle tick: nothing due and the housekeeping slot already taken, which is what
  every tick between triggers costs (median of ``--idle-runs``; target under 20 ms).

``--profile`` prints where the due tick's time goes (cProfile, top functions by
cumulative and by own time). PostgreSQL: a throw-away database on ``--postgres`` (the
server's admin URL; default RENEWAL_DESK_TEST_PG or postgres@127.0.0.1), skipped with
a note when no server answers. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make ``tests`` importable
    sys.path.insert(0, str(ROOT))

from desktop_app.db import migrate  # noqa: E402
from desktop_app.db.engine import Database, open_database  # noqa: E402
from desktop_app.engine import plugins as plugin_mod  # noqa: E402
from desktop_app.engine import timer  # noqa: E402
from tests.engine_procs import bulk  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "RENEWAL_DESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
DUE_TARGET_SECONDS = 5.0
IDLE_TARGET_MS = 20.0
NO_PLUGINS = plugin_mod.PluginSet((), ())


def run(label: str, db: Database, args: argparse.Namespace) -> dict[str, float]:
    migrate.upgrade(db, backup=False)
    started = time.perf_counter()
    ends = bulk.idle_term_ends(NOW, args.total - args.due)
    ends += bulk.due_term_ends(NOW, args.due, events=args.events)
    bulk.build_book(db, ends, audit=not args.no_audit)
    built = time.perf_counter() - started
    due = timer.due_count(db, NOW)
    print(f"{label:<11} built {args.total:,} auto-renewals ({due:,} due) in {built:.1f} s")

    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = timer.tick(db, now=NOW, plugins=NO_PLUGINS, housekeeping=False)
    if profiler:
        profiler.disable()
    firing = time.perf_counter() - started
    fired = sum(1 for a in report.actions if a.get("outcome") not in ("error", None))
    assert not report.errors, report.errors
    assert fired == args.due * args.events, (fired, report.actions[:3])

    started = time.perf_counter()
    chores = timer.tick(db, now=NOW, plugins=NO_PLUGINS, housekeeping=True)
    housekeeping = time.perf_counter() - started
    assert chores.housekeeping and not chores.errors

    idle = []
    for _ in range(args.idle_runs):
        started = time.perf_counter()
        report = timer.tick(db, now=NOW, plugins=NO_PLUGINS)
        idle.append((time.perf_counter() - started) * 1000)
        assert not report.actions and not report.housekeeping
    idle_ms = statistics.median(idle)
    # The tick as the desktop calls it: plugins loaded from the settings each time.
    loaded = []
    for _ in range(args.idle_runs):
        started = time.perf_counter()
        timer.tick(db, now=NOW)
        loaded.append((time.perf_counter() - started) * 1000)

    flag = "" if firing < DUE_TARGET_SECONDS else f"  (over the {DUE_TARGET_SECONDS:g} s target)"
    print(
        f"{'':<11} due tick:  {fired:,} triggers fired in {firing:6.2f} s "
        f"({firing / max(fired, 1) * 1000:.1f} ms each){flag}"
    )
    print(f"{'':<11} housekeeping of the slot afterwards: {housekeeping:6.2f} s")
    flag = "" if idle_ms < IDLE_TARGET_MS else f"  (over the {IDLE_TARGET_MS:g} ms target)"
    print(
        f"{'':<11} idle tick: median {idle_ms:6.1f} ms of {len(idle)} "
        f"(min {min(idle):.1f}, max {max(idle):.1f}){flag}; "
        f"loading plugins each tick: median {statistics.median(loaded):.1f} ms"
    )
    if profiler:
        for order in ("cumulative", "tottime"):
            buffer = io.StringIO()
            pstats.Stats(profiler, stream=buffer).sort_stats(order).print_stats(args.profile)
            print(buffer.getvalue())
    return {"firing": firing, "housekeeping": housekeeping, "idle_ms": idle_ms}


def bench_sqlite(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="rd-bench-") as folder:
        db = open_database(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        try:
            return run("SQLite", db, args)
        finally:
            db.dispose()


def bench_postgres(args: argparse.Namespace) -> dict[str, float] | None:
    try:
        admin = create_engine(
            args.postgres, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect():
            pass
    except Exception as exc:
        print(f"PostgreSQL  skipped: no server at {args.postgres} ({type(exc).__name__})")
        return None
    name = f"rd_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        db = open_database(url)
        try:
            return run("PostgreSQL", db, args)
        finally:
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=200_000)
    parser.add_argument("--due", type=int, default=2_000)
    parser.add_argument("--events", type=int, choices=(1, 2, 3), default=1)
    parser.add_argument("--idle-runs", type=int, default=9)
    parser.add_argument("--postgres", default=PG_ADMIN_URL, metavar="URL")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-audit", action="store_true", help="build without audit rows")
    parser.add_argument("--profile", type=int, nargs="?", const=30, default=0, metavar="N")
    args = parser.parse_args(argv)
    os.environ.pop(plugin_mod.ENV_VAR, None)
    results = []
    if not args.no_sqlite:
        results.append(bench_sqlite(args))
    if not args.no_postgres:
        results.append(bench_postgres(args))
    missed = [
        r
        for r in results
        if r and (r["firing"] >= DUE_TARGET_SECONDS or r["idle_ms"] >= IDLE_TARGET_MS)
    ]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
