"""How fast a 100,000-row expiration list imports, beside the raw floor of the same run.

    python tests/benchmarks/bench_import.py [--rows 100000] [--repeat 3] [--no-postgres]
                                            [--skip-openpyxl]

Generates an expiration list of ``--rows`` rows × 15 columns (.xlsx, real dates, money as
numbers, the columns an agency system exports), then measures, each in a fresh child
process so its peak memory (max RSS, interpreter included) is its own:

* bare parse with python-calamine (every cell of every row, nothing else);
* bare parse with openpyxl in read-only mode;
* bare bulk insert of the same rows, 15 columns, into a scratch table (SQLAlchemy Core
  executemany on SQLite; COPY on PostgreSQL);
* the whole import — ``importing.import_file``: sniff, size checks, parse, validate,
  compare with the book, write accounts, policies, terms and their audit events in one
  unit of work — into a fresh SQLite file and a fresh PostgreSQL database.

Target: the whole import within 3× of (fastest bare parse + bulk insert), peak memory
under 500 MB. Prints rows per second and peak memory; exits 1 when a target is missed.
``--repeat N`` measures everything N times (one file, fresh databases each round) and
prints, per database, the best and the median floor and import and both ratios; the
verdict takes the medians, as a machine shared with other work slows single runs unevenly.
Each ratio compares phases of the same file on the same machine in the same run; the
floor's parse includes importing python-calamine, as the import's time does.
Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

PG_ADMIN_URL = os.environ.get(
    "RENEWAL_DESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RATIO_TARGET = 3.0
MEMORY_TARGET_MB = 500

HEADER = [
    "Policy #",
    "Named Insured",
    "Writing Company",
    "Exp Date",
    "Eff Date",
    "LOB",
    "Annual Premium",
    "Producer",
    "CSR",
    "Office",
    "Address",
    "City",
    "State",
    "Zip",
    "Phone",
]
CARRIERS = ["The Hartford", "Travelers", "Zurich", "Chubb", "Cincinnati Insurance", "Safeco"]
LINES = ["WORK", "BOP", "CGL", "CAUTO", "HOME", "AUTOP", "PROP", "UMBRC"]
CITIES = [("Springfield", "IL"), ("Madison", "WI"), ("Columbus", "OH"), ("Austin", "TX")]
PRODUCERS = ["pat", "otto", "quinn"]
CSRS = ["casey", "riley"]


# --- the file -------------------------------------------------------------------------------


def generate(path: Path, rows: int, seed: int = 7) -> None:
    import xlsxwriter

    rnd = random.Random(seed)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Expirations")
    money = book.add_format({"num_format": "$#,##0.00"})
    day = book.add_format({"num_format": "mm/dd/yyyy"})
    sheet.write_row(0, 0, HEADER)
    first = date(2027, 1, 1)
    for r in range(1, rows + 1):
        exp = first + timedelta(days=rnd.randrange(365))
        city, state = rnd.choice(CITIES)
        sheet.write_string(r, 0, f"P{r:08d}")
        sheet.write_string(r, 1, f"Insured {r // 2:06d} LLC")  # two policies per insured
        sheet.write_string(r, 2, rnd.choice(CARRIERS))
        sheet.write_datetime(r, 3, exp, day)
        sheet.write_datetime(r, 4, exp.replace(year=exp.year - 1), day)
        sheet.write_string(r, 5, rnd.choice(LINES))
        sheet.write_number(r, 6, round(rnd.uniform(400, 60000), 2), money)
        sheet.write_string(r, 7, PRODUCERS[(r // 2) % len(PRODUCERS)])  # one per insured
        sheet.write_string(r, 8, CSRS[(r // 2) % len(CSRS)])
        sheet.write_string(r, 9, "Main")
        sheet.write_string(r, 10, f"{rnd.randrange(1, 9999)} Oak Street")
        sheet.write_string(r, 11, city)
        sheet.write_string(r, 12, state)
        sheet.write_string(r, 13, f"{rnd.randrange(10000, 99999)}")
        sheet.write_string(r, 14, f"555-{rnd.randrange(1000, 9999)}")
    book.close()


# --- phases, each run in its own process ---------------------------------------------------


def _rows_calamine(path: Path) -> list[list[object]]:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    return list(book.get_sheet_by_index(0).iter_rows())


def phase_calamine(path: Path, url: str | None) -> int:
    return len(_rows_calamine(path)) - 1


def phase_openpyxl(path: Path, url: str | None) -> int:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    n = sum(1 for _ in book.active.iter_rows(values_only=True))
    book.close()
    return n - 1


def phase_insert(path: Path, url: str | None) -> tuple[int, float]:
    """Bulk insert of the parsed rows (parse time excluded from the returned seconds)."""
    from sqlalchemy import Column, Date, Float, Integer, MetaData, String, Table, insert

    from desktop_app.db.engine import open_database

    rows = _rows_calamine(path)[1:]
    names = [f"c{i}" for i in range(15)]
    records = [dict(zip(names, r, strict=False)) for r in rows]
    meta = MetaData()
    table = Table(
        "bench_rows",
        meta,
        Column("id", Integer, primary_key=True),
        *[
            Column(n, Date if i in (3, 4) else Float if i == 6 else String(200))
            for i, n in enumerate(names)
        ],
    )
    db = open_database(url)
    meta.create_all(db.engine)
    started = time.perf_counter()
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            raw = conn.connection.driver_connection
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY bench_rows ({', '.join(names)}) FROM STDIN") as copy,
            ):
                for r in rows:
                    copy.write_row(r)
    else:
        with db.write_session() as session:
            for start in range(0, len(records), 10_000):
                session.execute(insert(table), records[start : start + 10_000])
            session.commit()
    seconds = time.perf_counter() - started
    meta.drop_all(db.engine)
    db.dispose()
    return len(rows), seconds


def phase_import(path: Path, url: str | None) -> int:
    from desktop_app.db import migrate
    from desktop_app.db.engine import open_database
    from desktop_app.domain.enums import AuditSource, Role
    from desktop_app.services import importing, users
    from desktop_app.services.unit import Actor

    db = open_database(url)
    migrate.upgrade(db, backup=False)
    users.ensure_first_admin(db, "admin")
    admin = Actor("admin", AuditSource.CLI)
    for name in PRODUCERS:
        users.add_user(db, admin, name, Role.PRODUCER)
    for name in CSRS:
        users.add_user(db, admin, name, Role.CSR)
    started = time.perf_counter()
    result = importing.import_file(db, Actor("casey", AuditSource.IMPORT), path)
    seconds = time.perf_counter() - started
    if result.rejected:
        print(f"  (unexpected rejections: {result.to_json()['counts']})", file=sys.stderr)
    db.dispose()
    return result.created, seconds  # type: ignore[return-value]


PHASES = {
    "calamine": phase_calamine,
    "openpyxl": phase_openpyxl,
    "insert": phase_insert,
    "import": phase_import,
}


def child(phase: str, path: Path, url: str | None) -> None:
    started = time.perf_counter()
    out = PHASES[phase](path, url)
    seconds = time.perf_counter() - started
    if isinstance(out, tuple):
        rows, seconds = out
    else:
        rows = out
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def measure(phase: str, path: Path, url: str | None = None) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", phase, "--file", str(path)]
    if url:
        cmd += ["--url", url]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def show(label: str, m: dict[str, float]) -> None:
    print(
        f"  {label:<34} {m['seconds']:7.2f} s  {m['rows'] / m['seconds']:>9,.0f} rows/s  "
        f"peak {m['peak_mb']:6.0f} MB"
    )


# --- databases ---------------------------------------------------------------------------------


def _pg_database() -> tuple[str, object] | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        admin = create_engine(
            PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect():
            pass
    except Exception as exc:
        print(f"PostgreSQL skipped: no server at {PG_ADMIN_URL} ({type(exc).__name__})")
        return None
    name = f"rd_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every measurement")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--skip-openpyxl", action="store_true", help="it takes ~30 s")
    parser.add_argument("--child", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.file, args.url)
        return 0

    # label → the seconds and peak memory of each round
    floors: dict[str, list[float]] = {}
    imports: dict[str, list[float]] = {}
    peaks: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="rd-bench-import-") as folder:
        path = Path(folder) / "expirations.xlsx"
        started = time.perf_counter()
        generate(path, args.rows)
        size_mb = path.stat().st_size / 1024 / 1024
        print(
            f"Expiration list: {args.rows:,} rows x 15 columns, {size_mb:.1f} MB "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        for number in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"Round {number} of {args.repeat}:")
            for label, floor, whole, peak in _round(path, Path(folder), number, args):
                floors.setdefault(label, []).append(floor)
                imports.setdefault(label, []).append(whole)
                peaks.setdefault(label, []).append(peak)
    ok = True
    if args.repeat > 1:
        print(f"Over {args.repeat} rounds (floor = fastest bare parse + bare insert, same round):")
    for label in floors:
        best = min(imports[label]) / min(floors[label])
        middle = statistics.median(imports[label]) / statistics.median(floors[label])
        if args.repeat > 1:
            print(
                f"  {label:<11} floor best {min(floors[label]):5.2f} s, median "
                f"{statistics.median(floors[label]):5.2f} s; import best "
                f"{min(imports[label]):5.2f} s, median {statistics.median(imports[label]):5.2f} s;"
                f" ratio best {best:.2f}x, median {middle:.2f}x; peak {max(peaks[label]):.0f} MB"
            )
        if middle > RATIO_TARGET or max(peaks[label]) > MEMORY_TARGET_MB:
            ok = False
    print(
        f"Targets: the whole import within {RATIO_TARGET:.0f}x the floor (median over the "
        f"rounds), peak memory {MEMORY_TARGET_MB} MB per process."
    )
    return 0 if ok else 1


def _round(
    path: Path, folder: Path, number: int, args: argparse.Namespace
) -> Iterator[tuple[str, float, float, float]]:
    """One round of measurements: (database, floor seconds, import seconds, peak MB)."""
    print("Bare parse:")
    parses = {"calamine": measure("calamine", path)}
    show("python-calamine", parses["calamine"])
    if not args.skip_openpyxl:
        parses["openpyxl"] = measure("openpyxl", path)
        show("openpyxl read-only", parses["openpyxl"])
    fastest = min(m["seconds"] for m in parses.values())

    targets: list[tuple[str, str | None, object]] = []
    sqlite_insert = folder / f"insert{number}.sqlite3"
    sqlite_import = folder / f"import{number}.sqlite3"
    targets.append(("SQLite", f"sqlite:///{sqlite_insert}", f"sqlite:///{sqlite_import}"))
    pg = None if args.no_postgres else _pg_database()
    pg2 = None if args.no_postgres or pg is None else _pg_database()
    if pg is not None and pg2 is not None:
        targets.append(("PostgreSQL", pg[0], pg2[0]))
    try:
        for label, insert_url, import_url in targets:
            print(f"{label}:")
            bulk = measure("insert", path, insert_url)
            show("bare bulk insert (15 columns)", bulk)
            whole = measure("import", path, str(import_url))
            show("whole import (parse+check+write)", whole)
            floor = fastest + bulk["seconds"]
            ratio = whole["seconds"] / floor
            verdict = "ok" if ratio <= RATIO_TARGET else "OVER TARGET"
            print(
                f"  whole / (fastest parse {fastest:.2f} s + insert {bulk['seconds']:.2f} s)"
                f" = {ratio:.2f}x (target {RATIO_TARGET:.0f}x: {verdict})"
            )
            yield label, floor, whole["seconds"], whole["peak_mb"]
    finally:
        for handle in (pg, pg2):
            if handle is not None:
                handle[1]()  # type: ignore[operator]


if __name__ == "__main__":
    sys.exit(main())
