"""Books to export: the demo book for realistic numbers, a small hand-built one for exact
reasons and permissions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook

from desktop_app.db.engine import Database
from desktop_app.services.demo import DemoSummary, load_demo
from desktop_app.services.unit import Actor

AS_OF = date(2027, 3, 15)
"""The demo book is built around this day; exports use it as their as-of date."""


@pytest.fixture
def demo(db: Database, admin: Actor) -> DemoSummary:
    return load_demo(db, admin, policies=250, seed=11, today=AS_OF)


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def days_from(day: date, n: int) -> date:
    return day + timedelta(days=n)


def read(path: Path, *, data_only: bool = False) -> Workbook:
    return load_workbook(path, data_only=data_only)
