"""How fast the pipeline board is with 50,000 open renewals (SQLite, offscreen).

    python tests/benchmarks/bench_board.py [--db PATH] [--runs 3] [--policies 126000]
                                           [--timer] [--profile] [--service]
                                           [--sqlite-cache-mb MB] [--sqlite-mmap-mb MB]

Uses a demo book big enough for 50,000 open renewals, built once with the demo loader
into ``--db`` (default: ``renewal-desk-bench-board.sqlite3`` in the temporary folder)
and reused by later runs. Each run is a fresh child process that measures:

* **start**: from the child process's start (read from /proc: the kernel's start time of
  the process) to the board interactive: ``create_application`` + ``launch(url,
  "admin")``, the window shown, the database opened, the board's first load applied
  (``window.board.loaded``) and painted. Target under 2 s.
* **filter**: from a filter change to the board reloaded (``loaded``): a text search
  (timed from the query, i.e. after the 150 ms typing pause, which is also shown
  separately) and a line of business picked in its box. Target under 100 ms.
* **move**: a card dropped on the next column (the drop handler the view calls) until it
  is shown in its new column (``card_moved``); then moved back. Target under 100 ms.

The machine is shared, so it runs ``--runs`` times and prints the best and the median of
each figure. ``--timer`` leaves the timer service on in the child (off by default: it
ticks on its own thread and is not the board's cost). ``--profile`` prints where the
child's start-up time went (cProfile, top functions). ``--service`` also times the
board's queries alone, in this process, per filter. ``--sqlite-cache-mb 64`` gives every
SQLite connection of the child a 64 MB page cache (``PRAGMA cache_size``; the default is
2 MB), and ``--sqlite-mmap-mb 256`` memory-maps the file (``PRAGMA mmap_size``), to show
what those settings in ``db/engine.py`` would change. Children run with
compiled bytecode (kept in a cache folder of their own) after one uncounted warm-up
start, as an installed app would. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make ``desktop_app`` importable
    sys.path.insert(0, str(ROOT))

OPEN_TARGET = 50_000
START_TARGET_S = 2.0
FILTER_TARGET_MS = 100.0
MOVE_TARGET_MS = 100.0
DEFAULT_DB = Path(tempfile.gettempdir()) / "renewal-desk-bench-board.sqlite3"
SEARCHES = ("smith", "bakery", "Q1")
LINES = ("WORK", "HOME", "CGL")


# =====================================================================================
# The child: one start of the app, then filters and moves.
# =====================================================================================


def process_started_at() -> float:
    """When this process started (seconds since the epoch), as the kernel recorded it:
    /proc/self/stat field 22 is the start in clock ticks after boot; /proc/uptime says how
    long ago boot was (to 10 ms; /proc/stat's "btime" is whole seconds, too coarse)."""
    with open("/proc/self/stat", encoding="ascii") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()  # field 3 onwards
    start_ticks = int(fields[22 - 3])
    with open("/proc/uptime", encoding="ascii") as f:
        uptime = float(f.read().split()[0])
    now = time.time()
    return now - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


def child(url: str, profile: bool, cache_mb: int, mmap_mb: int) -> dict[str, Any]:
    started = process_started_at()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if cache_mb or mmap_mb:  # what SQLite PRAGMAs in db/engine.py would give
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            if type(dbapi_connection).__module__.startswith("sqlite3"):
                if cache_mb:
                    dbapi_connection.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
                if mmap_mb:
                    dbapi_connection.execute(f"PRAGMA mmap_size={mmap_mb * 1024 * 1024}")

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    phases = {"python started": time.time() - started}
    from PySide6.QtCore import QEventLoop, QTimer

    from desktop_app.ui.app import create_application, launch

    phases["imported"] = time.time() - started
    create_application(["renewal-desk"])
    launcher = launch(url, "admin")
    window = launcher.window
    phases["window shown"] = time.time() - started
    launcher.opened.connect(lambda _s: phases.setdefault("signed in", time.time() - started))

    def wait(signal: Any, timeout_ms: int = 60_000) -> bool:
        loop = QEventLoop()
        fired: list[bool] = []

        def done(*_args: Any) -> None:
            fired.append(True)
            loop.quit()

        signal.connect(done)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()
        signal.disconnect(done)
        return bool(fired)

    board = getattr(window, "board", None)
    if board is None:  # a window without the board wired in yet: put one in
        from desktop_app.ui.board import BoardPage

        assert wait(launcher.opened), "the database did not open"
        board = BoardPage(launcher.executor, None)
        window.pages.addWidget(board)
        window.pages.setCurrentWidget(board)
        board.set_session(launcher.session)
        board.activate()
    try:
        result = measure(board, window, launcher, started, profiler, wait)
        result["phases"] = phases
        return result
    finally:
        window.close()
        launcher.close()


def measure(
    board: Any, window: Any, launcher: Any, started: float, profiler: Any, wait: Any
) -> dict[str, Any]:
    from PySide6.QtCore import QModelIndex, Qt

    assert wait(board.loaded), "the board did not load"
    loaded_at = time.time()
    window.repaint()  # the first paint of the loaded board, synchronously
    painted_at = time.time()
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    if profiler is not None:
        profiler.disable()
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(30)
        print(out.getvalue(), file=sys.stderr)
    result: dict[str, Any] = {
        "start_loaded": loaded_at - started,
        "start_painted": painted_at - started,
        "start_cpu": usage.ru_utime + usage.ru_stime,
        "open": sum(m.count for k, m in board.models.items() if m.kind.value == "open"),
        "columns": {k: (m.count, m.rowCount()) for k, m in board.models.items()},
    }

    # The board's CPU time per load: the query on the worker thread (the service call,
    # timed where the page calls it) plus applying the answer on the GUI thread.
    from desktop_app.services import board as board_service

    query_cpu: list[float] = []
    original = board_service.load_board

    def load_board(*args: Any, **kwargs: Any) -> Any:
        began = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            query_cpu.append((time.thread_time() - began) * 1000)

    board_service.load_board = load_board
    cpu: dict[str, list[float]] = {"search": [], "line": []}

    def timed_load(change: Any, kind: str | None = None) -> float:
        query_cpu.clear()
        began = time.perf_counter()
        change()
        applied = time.thread_time()
        assert wait(board.loaded), "no reload"
        elapsed = (time.perf_counter() - began) * 1000
        if kind is not None and query_cpu:
            gui = (time.thread_time() - applied) * 1000  # GUI thread: the answer applied
            cpu[kind].append(query_cpu[-1] + gui)
        return elapsed

    # The filter boxes fill in after the first load; a person takes longer than that.
    deadline = time.monotonic() + 30
    while board.choices is None and time.monotonic() < deadline:
        wait(board.loaded, 100)

    def reset() -> None:
        if board.filter != type(board.filter)():
            board.clear_filters()
            board.decided_box.setCurrentIndex(0)
            wait(board.loaded)

    searches: list[float] = []
    typed: list[float] = []
    for text in SEARCHES:
        board.search.setText(text)  # the typing pause's timer starts here…
        searches.append(timed_load(board.apply_filters, "search"))  # …the query starts here
        reset()
        typed.append(timed_load(lambda t=text: board.search.setText(t)))
        reset()
    lines: list[float] = []
    box = board.line_box
    for line in LINES:
        index = box.findData(line)
        if index < 0:
            continue
        lines.append(timed_load(lambda i=index: box.setCurrentIndex(i), "line"))
        reset()
    result["search_ms"] = searches
    result["search_cpu_ms"] = cpu["search"]
    result["line_cpu_ms"] = cpu["line"]
    result["search_typed_ms"] = typed
    result["line_ms"] = lines

    moves: list[float] = []
    reloads: list[float] = []

    def move(renewal_id: int, source_key: str, target_key: str) -> None:
        source, target = board.models[source_key], board.models[target_key]
        mime = source.mimeData([source.index(source.row_of(renewal_id))])
        began = time.perf_counter()
        target.dropMimeData(mime, Qt.DropAction.MoveAction, -1, -1, QModelIndex())
        assert wait(board.card_moved), board.banner_text
        moves.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        assert wait(board.loaded), "no reload after the move"
        reloads.append((time.perf_counter() - began) * 1000)

    def within(key: str, card: Any) -> bool:
        """The card would be among the target column's loaded cards (so it is shown)."""
        model = board.models[key]
        return not model.has_more or (bool(model.cards) and card.key < model.cards[-1].key)

    pairs = [("gathering", "upcoming"), ("marketing", "gathering"), ("proposal", "marketing")]
    for source_key, target_key in pairs:
        card = next(
            c
            for c in board.models[source_key].cards
            if "no_next_action" not in c.flags and within(target_key, c)
        )
        move(card.id, source_key, target_key)
        move(card.id, target_key, source_key)  # and back: the cached book stays as it was
    result["move_ms"] = moves
    result["reload_after_move_ms"] = reloads
    return result


# =====================================================================================
# The parent: the database, the runs, the figures.
# =====================================================================================


def open_renewals(path: Path) -> int:
    import sqlite3

    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path) as conn:
            row = conn.execute(
                "SELECT count(*) FROM renewals JOIN pipeline_stages s ON s.id = stage_id "
                "WHERE s.kind = 'open'"
            ).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


def ensure_database(path: Path, policies: int) -> str:
    url = f"sqlite:///{path}"
    found = open_renewals(path)
    if found >= OPEN_TARGET:
        print(f"Reusing {path} ({found:,} open renewals).")
    else:
        from desktop_app.db import migrate
        from desktop_app.db.engine import open_database
        from desktop_app.domain.enums import AuditSource
        from desktop_app.services import users
        from desktop_app.services.demo import load_demo
        from desktop_app.services.unit import Actor

        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        print(f"Building {path}: a demo book of {policies:,} policies (a minute or two)…")
        began = time.perf_counter()
        db = open_database(url)
        migrate.upgrade(db, backup=False)
        users.ensure_first_admin(db, "admin")
        load_demo(db, Actor("admin", AuditSource.CLI), policies=policies, seed=1)
        db.dispose()
        found = open_renewals(path)
        print(f"  built in {time.perf_counter() - began:.0f} s: {found:,} open renewals.")
    if found < OPEN_TARGET:
        print(f"  warning: only {found:,} open renewals; use a larger --policies.")
    # Bring it to the current schema here, so no child pays for an upgrade and backup.
    from desktop_app.db import migrate
    from desktop_app.db.engine import open_database

    db = open_database(url)
    migrate.upgrade(db, backup=False)
    db.dispose()
    return url


def run_child(url: str, args: argparse.Namespace, home: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["RENEWAL_DESK_HOME"] = str(home)
    # As installed: compiled bytecode is there (in a cache of our own, not the checkout).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "renewal-desk-bench-pycache")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not args.timer:
        env["RENEWAL_DESK_TIMER"] = "off"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", url]
    if args.profile:
        command.append("--profile")
    if args.sqlite_cache_mb:
        command += ["--sqlite-cache-mb", str(args.sqlite_cache_mb)]
    if args.sqlite_mmap_mb:
        command += ["--sqlite-mmap-mb", str(args.sqlite_mmap_mb)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if args.profile:
        print(done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the child failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][len("RESULT ") :])


def service_times(url: str) -> None:
    from sqlalchemy import select

    from desktop_app.db.engine import open_database
    from desktop_app.db.models import User
    from desktop_app.domain.enums import Role
    from desktop_app.services import board
    from desktop_app.services.board import BoardFilter
    from desktop_app.services.unit import Actor
    from desktop_app.ui.board import FIRST_PAGE

    db = open_database(url)
    admin = Actor("admin")
    with db.read_session() as session:
        csr = session.scalar(select(User.username).where(User.role == Role.CSR).limit(1))
    cases = [
        ("no filter", BoardFilter()),
        ("decided any time", BoardFilter(decided_within_days=None)),
        *[(f"text {t!r}", BoardFilter(text=t)) for t in SEARCHES],
        *[(f"line {line}", BoardFilter(line=line)) for line in LINES],
        ("expiring ≤ 30 days", BoardFilter(expiring_within_days=30)),
        (f"my book ({csr})", BoardFilter(my_book=True)),
    ]
    print(f"\nThe board's queries alone (load_board, {FIRST_PAGE} cards a column), best of 5:")
    for label, flt in cases:
        times = []
        who = Actor(csr) if flt.my_book and csr else admin
        for _ in range(5):
            began = time.perf_counter()
            loaded = board.load_board(db, who, flt, FIRST_PAGE)
            times.append((time.perf_counter() - began) * 1000)
        print(
            f"  {label:<20} {min(times):7.1f} ms  (median {statistics.median(times):6.1f})  "
            f"{loaded.count:>6,} renewals"
        )
    column = board.load_board(db, admin).column("gathering")
    times = []
    for _ in range(5):
        began = time.perf_counter()
        board.more_cards(db, admin, BoardFilter(), "gathering", column.cards[-1].key)
        times.append((time.perf_counter() - began) * 1000)
    print(f"  {'next 200 cards':<20} {min(times):7.1f} ms")
    db.dispose()


def summary(label: str, values: list[float], unit: str, target: float) -> str:
    best, median = min(values), statistics.median(values)
    places = 2 if unit == "s" else 0
    flag = "" if median < target else f"   (median over the {target:g} {unit} target)"
    return (
        f"  {label:<34} best {best:7.{places}f} {unit:<2}  median {median:7.{places}f} {unit}{flag}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB)
    parser.add_argument("--policies", type=int, default=126_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timer", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--service", action="store_true")
    parser.add_argument("--sqlite-cache-mb", type=int, default=0, metavar="MB")
    parser.add_argument("--sqlite-mmap-mb", type=int, default=0, metavar="MB")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = child(args.child, args.profile, args.sqlite_cache_mb, args.sqlite_mmap_mb)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    url = ensure_database(args.db, args.policies)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-board-") as home:
        print("Warming up (bytecode, the OS file cache): one start not counted…")
        run_child(url, args, Path(home) / "warm-up")
        for n in range(args.runs):
            result = run_child(url, args, Path(home) / f"run{n}")
            results.append(result)
            print(
                f"run {n + 1}: interactive {result['start_painted']:.2f} s "
                f"(CPU {result['start_cpu']:.2f} s); "
                f"search {', '.join(f'{v:.0f}' for v in result['search_ms'])} ms; "
                f"line {', '.join(f'{v:.0f}' for v in result['line_ms'])} ms; "
                f"move {', '.join(f'{v:.0f}' for v in result['move_ms'])} ms"
            )
    first = results[0]
    print(f"\n{first['open']:,} open renewals; columns (count, cards loaded): {first['columns']}")
    print(f"Figures over {len(results)} runs (each filter and move several times per run):")

    def every(key: str) -> list[float]:
        return [v for r in results for v in (r[key] if isinstance(r[key], list) else [r[key]])]

    rows = [
        ("start → board loaded", "start_loaded", "s", START_TARGET_S),
        ("start → board interactive", "start_painted", "s", START_TARGET_S),
        ("  CPU the process used by then", "start_cpu", "s", START_TARGET_S),
        ("text search → loaded", "search_ms", "ms", FILTER_TARGET_MS),
        ("  with the 150 ms typing pause", "search_typed_ms", "ms", FILTER_TARGET_MS + 150),
        ("  CPU: query + applying it", "search_cpu_ms", "ms", FILTER_TARGET_MS),
        ("line filter → loaded", "line_ms", "ms", FILTER_TARGET_MS),
        ("  CPU: query + applying it", "line_cpu_ms", "ms", FILTER_TARGET_MS),
        ("card move → shown in new column", "move_ms", "ms", MOVE_TARGET_MS),
        ("  then the refresh after the move", "reload_after_move_ms", "ms", 1_000),
    ]
    for label, key, unit, target in rows:
        print(summary(label, every(key), unit, target))
    print("Where the start went (median seconds after the process started):")
    for phase in results[0]["phases"]:
        at = statistics.median(r["phases"].get(phase, float("nan")) for r in results)
        print(f"  {phase:<34} {at:5.2f} s")
    at = statistics.median(r["start_loaded"] for r in results)
    print(f"  {'board loaded':<34} {at:5.2f} s")
    if args.service:
        service_times(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
