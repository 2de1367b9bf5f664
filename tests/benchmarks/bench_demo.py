"""How fast the demo book loads, on SQLite and on PostgreSQL.

    python tests/benchmarks/bench_demo.py [--policies 20000] [--seed 1]

Creates a fresh SQLite file in a temporary folder and a throw-away PostgreSQL database
(skipped, with a note, when no server answers at RENEWAL_DESK_TEST_PG or
postgresql+psycopg://postgres@127.0.0.1:5432/postgres), migrates both, creates the first
admin, loads the demo book and prints seconds, rows written and rows per second.
Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import fields
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from desktop_app.db import migrate
from desktop_app.db.engine import Database, open_database
from desktop_app.domain.enums import AuditSource
from desktop_app.services import users
from desktop_app.services.demo import DemoSummary, load_demo
from desktop_app.services.unit import Actor

PG_ADMIN_URL = os.environ.get(
    "RENEWAL_DESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TARGET_SECONDS = 20.0


def rows_written(summary: DemoSummary) -> int:
    return sum(getattr(summary, f.name) for f in fields(summary) if f.name != "seconds")


def run(label: str, db: Database, policies: int, seed: int) -> float:
    migrate.upgrade(db, backup=False)
    users.ensure_first_admin(db, "admin")
    started = time.perf_counter()
    summary = load_demo(db, Actor("admin", AuditSource.CLI), policies=policies, seed=seed)
    seconds = time.perf_counter() - started
    rows = rows_written(summary)
    print(
        f"{label:<11} {policies:>7,} policies  {seconds:7.2f} s  {rows:>9,} rows  "
        f"{rows / seconds:>9,.0f} rows/s"
    )
    print(
        f"{'':<11} accounts {summary.accounts:,}, terms {summary.terms:,}, "
        f"renewals {summary.renewals:,}, tasks {summary.tasks:,}, "
        f"documents {summary.documents:,}, auto-renewals {summary.auto_renewals:,}"
    )
    return seconds


def bench_sqlite(policies: int, seed: int) -> float:
    with tempfile.TemporaryDirectory(prefix="rd-bench-") as folder:
        db = open_database(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        try:
            return run("SQLite", db, policies, seed)
        finally:
            db.dispose()


def bench_postgres(policies: int, seed: int) -> float | None:
    try:
        admin = create_engine(
            PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with admin.connect():
            pass
    except Exception as exc:
        print(f"PostgreSQL  skipped: no server at {PG_ADMIN_URL} ({type(exc).__name__})")
        return None
    name = f"rd_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        db = open_database(url)
        try:
            return run("PostgreSQL", db, policies, seed)
        finally:
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    sqlite_seconds = bench_sqlite(args.policies, args.seed)
    if not args.no_postgres:
        bench_postgres(args.policies, args.seed)
    if args.policies >= 20_000 and sqlite_seconds > TARGET_SECONDS:
        print(f"SQLite is over the {TARGET_SECONDS:.0f} s target.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
