"""How long one timer tick takes over a big book, on SQLite and on PostgreSQL.

    python tests/benchmarks/bench_tick.py [--total 200000] [--due 2000] [--events 1]
                                          [--repeat N] [--cache DIR]
                                          [--postgres URL | --no-postgres] [--no-sqlite]
                                          [--profile]

Builds a fresh database with ``--total`` policies, each with an active auto-renewal
(the bulk builder of ``tests/engine_procs/bulk.py``: the rows the services write), of
which ``--due`` have their first ``--events`` triggers due (1: create; 3: create, accept
and issue) and the rest are months away. ``daily`` is a day of an office whose timer runs
every day: a third of the due auto-renewals have their create due, a third their accept
(their create fired weeks ago), a third their issue (create and accept fired). Then it
times, as of one fixed "now":

* the due tick: firing everything due (no plugin), then the housekeeping of that slot,
  each timed on its own (targets: firing under 5 s);
* the idle tick: nothing due and the housekeeping slot already taken, which is what
  every tick between triggers costs (median of ``--idle-runs``; target under 20 ms).

``--repeat N`` times it N times, each on a fresh copy of the built book, and prints the
best and the median. ``--cache DIR`` keeps the built book between runs of this script
(SQLite: a file in DIR; PostgreSQL: a template database named after the book), so only
the first run pays for building 200,000 policies; the key includes the migration head
and the builder's source, so a changed schema or builder builds afresh.

``--profile`` prints where the (first) due tick's time goes (cProfile, top functions by
cumulative and by own time). PostgreSQL: throw-away databases on ``--postgres`` (the
server's admin URL; default RENEWAL_DESK_TEST_PG or postgres@127.0.0.1), skipped with
a note when no server answers. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

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


def build(db: Database, args: argparse.Namespace) -> float:
    migrate.upgrade(db, backup=False)
    started = time.perf_counter()
    ends = bulk.idle_term_ends(NOW, args.total - args.due)
    if args.events == "daily":
        bulk.build_book(db, ends, audit=not args.no_audit)
        bulk.build_daily_book(db, NOW, args.due)
    else:
        ends += bulk.due_term_ends(NOW, args.due, events=int(args.events))
        bulk.build_book(db, ends, audit=not args.no_audit)
    return time.perf_counter() - started


def expected_firings(args: argparse.Namespace) -> int:
    return args.due if args.events == "daily" else args.due * int(args.events)


def book_key(args: argparse.Namespace) -> str:
    """Names one built book: its size, what is due, the schema and the builder's code."""
    source = Path(bulk.__file__).read_bytes() + migrate.head_revision().encode()
    digest = hashlib.sha1(source).hexdigest()[:8]
    audit = "noaudit" if args.no_audit else "audit"
    return f"tick_{args.total}_{args.due}_{args.events}_{audit}_{digest}"


def measure(label: str, db: Database, args: argparse.Namespace, profile: bool) -> dict[str, float]:
    """One due tick, the housekeeping after it, then the idle ticks."""
    due = timer.due_count(db, NOW)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = timer.tick(db, now=NOW, plugins=NO_PLUGINS, housekeeping=False)
    if profiler:
        profiler.disable()
    firing = time.perf_counter() - started
    fired = sum(1 for a in report.actions if a.get("outcome") not in ("error", None))
    assert not report.errors, report.errors
    assert fired == expected_firings(args), (fired, due, report.actions[:3])

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
        f"{label:<11} due tick:  {fired:,} triggers fired in {firing:6.2f} s "
        f"({firing / max(fired, 1) * 1000:.2f} ms each){flag}"
    )
    print(f"{'':<11} housekeeping of the slot afterwards: {housekeeping:6.2f} s")
    flag = "" if idle_ms < IDLE_TARGET_MS else f"  (over the {IDLE_TARGET_MS:g} ms target)"
    print(
        f"{'':<11} idle tick: median {idle_ms:6.1f} ms of {len(idle)} "
        f"(min {min(idle):.1f}, max {max(idle):.1f}){flag}; "
        f"loading plugins each tick: median {statistics.median(loaded):.1f} ms",
        flush=True,
    )
    if profiler:
        for order in ("cumulative", "tottime"):
            buffer = io.StringIO()
            pstats.Stats(profiler, stream=buffer).sort_stats(order).print_stats(args.profile)
            print(buffer.getvalue())
    return {
        "firing": firing,
        "per_trigger_ms": firing / max(fired, 1) * 1000,
        "housekeeping": housekeeping,
        "idle_ms": idle_ms,
    }


def summarize(label: str, runs: list[dict[str, float]]) -> dict[str, float]:
    """Best and median of the runs (the machine may be shared: both say something)."""
    firing = [r["firing"] for r in runs]
    idle = [r["idle_ms"] for r in runs]
    each = [r["per_trigger_ms"] for r in runs]
    if len(runs) > 1:
        print(
            f"{label:<11} over {len(runs)} runs: due tick best {min(firing):.2f} s, median "
            f"{statistics.median(firing):.2f} s ({min(each):.2f} / "
            f"{statistics.median(each):.2f} ms per trigger); idle tick best "
            f"{min(idle):.1f} ms, median {statistics.median(idle):.1f} ms",
            flush=True,
        )
    return {"firing": statistics.median(firing), "idle_ms": statistics.median(idle)}


def repeat(
    label: str,
    args: argparse.Namespace,
    fresh_copy: Callable[[], Any],
) -> dict[str, float]:
    runs = []
    for n in range(args.repeat):
        with fresh_copy() as db:
            runs.append(measure(label, db, args, profile=bool(args.profile) and n == 0))
    return summarize(label, runs)


def bench_sqlite(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="rd-bench-") as folder:
        built = Path(folder) / "built.sqlite3"
        cached = Path(args.cache) / f"{book_key(args)}.sqlite3" if args.cache else None
        if cached is not None and cached.exists():
            built = cached
            print(f"SQLite      using the book cached in {cached}")
        else:
            target = cached or built
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            db = open_database(f"sqlite:///{partial}")
            seconds = build(db, args)
            db.dispose()
            _sqlite_copy(partial, target)
            for extra in (partial, *partial.parent.glob(partial.name + "-*")):
                extra.unlink(missing_ok=True)
            built = target
            print(f"SQLite      built {args.total:,} auto-renewals in {seconds:.1f} s")

        @contextmanager
        def fresh_copy() -> Iterator[Database]:
            path = Path(folder) / f"run-{uuid.uuid4().hex[:6]}.sqlite3"
            _sqlite_copy(built, path)
            db = open_database(f"sqlite:///{path}")
            try:
                yield db
            finally:
                db.dispose()
                for extra in (path, *path.parent.glob(path.name + "-*")):
                    extra.unlink(missing_ok=True)

        return repeat("SQLite", args, fresh_copy)


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file (its WAL included)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()


def _pg_execute(admin: Engine, sql: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(sql))


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

    def url(name: str) -> str:
        return make_url(args.postgres).set(database=name).render_as_string(hide_password=False)

    template = f"rd_bench_{book_key(args)}" if args.cache else f"rd_bench_{uuid.uuid4().hex[:8]}"
    made: list[str] = []
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": template}
            ).first()
        if exists and args.cache:
            print(f"PostgreSQL  using the book cached in the database {template}")
        else:
            partial = f"{template}_partial"
            _pg_execute(admin, f'DROP DATABASE IF EXISTS "{partial}" WITH (FORCE)')
            _pg_execute(admin, f'CREATE DATABASE "{partial}"')
            db = open_database(url(partial))
            try:
                seconds = build(db, args)
            finally:
                db.dispose()
            _pg_execute(admin, f'ALTER DATABASE "{partial}" RENAME TO "{template}"')
            if not args.cache:
                made.append(template)
            print(f"PostgreSQL  built {args.total:,} auto-renewals in {seconds:.1f} s")

        @contextmanager
        def fresh_copy() -> Iterator[Database]:
            name = f"rd_bench_run_{uuid.uuid4().hex[:8]}"
            _pg_execute(admin, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            db = open_database(url(name))
            try:
                yield db
            finally:
                db.dispose()
                _pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return repeat("PostgreSQL", args, fresh_copy)
    finally:
        for name in made:
            _pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=200_000)
    parser.add_argument("--due", type=int, default=2_000)
    parser.add_argument("--events", choices=("1", "2", "3", "daily"), default="1")
    parser.add_argument("--repeat", type=int, default=1, metavar="N")
    parser.add_argument("--cache", metavar="DIR", help="keep built books between runs")
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
