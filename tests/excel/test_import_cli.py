"""``renewal-desk import``: counts and rejected rows, --json, --dry-run, saved mappings,
and the exit status (0 all accepted, 1 some rejected, 2 the file cannot be imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import func, select

from desktop_app.cli.main import run
from desktop_app.db.models import AuditEvent, Policy
from desktop_app.domain.enums import AuditSource
from tests.excel import messy
from tests.excel.messy import SIMPLE_HEADER, simple_rows
from tests.helpers import dump_database


def _run(capsys, db_url, *argv: str) -> tuple[int, str, str]:
    code = run(["--database-url", db_url, "--as", "admin", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _policy_count(db) -> int:
    with db.read_session() as s:
        return s.scalar(select(func.count()).select_from(Policy)) or 0


def test_messy_list_prints_counts_and_rejections_and_exits_1(
    db, db_url, admin, make_user, capsys, tmp_path
):
    make_user("producer", "pat")
    make_user("csr", "casey")
    path = messy.messy_workbook(tmp_path)
    code, out, err = _run(capsys, db_url, "import", str(path))
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == "Imported list expirations.xlsx, sheet 'Expirations' (header on row 4):"
    assert lines[1:6] == [
        "  created          5 (3 new accounts)",
        "  updated          0",
        "  unchanged        0",
        "  rejected         6",
        "  skipped          4 (1 blank, 2 subtotal/total, 1 title/heading)",
    ]
    assert lines[6] == "Rejected:"
    assert lines[7:13] == [f"  {m}." for m in messy.MESSY_REJECTIONS]
    assert _policy_count(db) == 5
    with db.read_session() as s:
        sources = set(s.scalars(select(AuditEvent.source).where(AuditEvent.action == "import.run")))
    assert sources == {AuditSource.IMPORT}


def test_json_and_dry_run_write_nothing(db, db_url, admin, capsys, tmp_path):
    path = messy.workbook(
        tmp_path, [SIMPLE_HEADER, *simple_rows(2), ["P-9", "X", "Zurich", "soon", "BOP", 1]]
    )
    before = dump_database(db)
    code, out, err = _run(capsys, db_url, "import", str(path), "--dry-run", "--json")
    assert code == 1, err
    assert dump_database(db) == before
    data = json.loads(out)
    assert data["dry_run"] is True and data["committed"] is False
    assert data["kind"] == "expiration_list" and data["sheet"] == "Sheet1"
    assert data["header_row"] == 1
    assert data["counts"] == {
        "create": 2,
        "update": 0,
        "unchanged": 0,
        "rejected": 1,
        "conflict": 0,
        "skipped_blank": 0,
        "skipped_total": 0,
        "skipped_heading": 0,
    }
    assert data["rejections"] == [
        {
            "row": 4,
            "column": "Exp Date",
            "reason": "'soon' is not a date",
            "message": "row 4, Exp Date: 'soon' is not a date",
        }
    ]
    assert data["mapping"]["expiration"] == "Exp Date"
    assert data["changes"] == []  # creates are counted, updates itemised


def test_all_accepted_exits_0_and_the_second_run_changes_nothing(
    db, db_url, admin, capsys, tmp_path
):
    path = messy.csv_file(tmp_path, [SIMPLE_HEADER, *simple_rows(3)], bom=True, delimiter=";")
    code, out, _ = _run(capsys, db_url, "import", str(path))
    assert code == 0
    assert "  created          3 (3 new accounts)" in out
    code, out, _ = _run(capsys, db_url, "import", str(path), "--json")
    assert code == 0
    assert json.loads(out)["counts"]["unchanged"] == 3
    assert _policy_count(db) == 3


def test_an_unusable_file_exits_2_with_one_sentence(db_url, admin, capsys, tmp_path):
    path = messy.ole2_file(tmp_path, "old.xls", "Workbook")
    code, out, err = _run(capsys, db_url, "import", str(path))
    assert code == 2 and out == ""
    assert err.strip() == (
        "renewal-desk: old.xls is a legacy Excel 97-2003 workbook (.xls); open it in Excel and "
        "save it as an Excel Workbook (.xlsx)."
    )
    path = messy.workbook(tmp_path, [["Policy #", "Insured"], ["P-1", "A"]])
    code, _, err = _run(capsys, db_url, "import", str(path))
    assert code == 2
    assert err.startswith("renewal-desk: Sheet 'Sheet1' of list.xlsx has no column for Carrier")


def test_a_producer_is_refused_with_exit_2(db_url, admin, make_user, capsys, tmp_path):
    make_user("producer", "pat")
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(1)])
    code = run(["--database-url", db_url, "--as", "pat", "import", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == "renewal-desk: A producer may not import Excel lists."


def test_map_save_mapping_and_reuse(db, db_url, admin, capsys, tmp_path):
    rows = [
        ["Contract Ref", "Client", "Co", "Renews On", "Kind"],
        ["C-1", "A", "Zurich", "3/1/2027", "BOP"],
    ]
    path = messy.workbook(tmp_path, rows)
    code, _, err = _run(capsys, db_url, "import", str(path), "--dry-run")
    assert code == 2 and "No header row was found" in err
    code, out, err = _run(
        capsys,
        db_url,
        "import",
        str(path),
        "--dry-run",
        "--map",
        "policy_number=Contract Ref",
        "--map",
        "carrier=Co",
        "--map",
        "expiration=Renews On",
        "--map",
        "line_of_business=Kind",
        "--save-mapping",
        "Old AMS",
    )
    assert code == 0, err
    assert "Saved the column mapping as 'Old AMS'." in out
    other = messy.workbook(
        tmp_path, [rows[0], ["C-2", "B", "Zurich", "4/1/2027", "CGL"]], name="next-month.xlsx"
    )
    code, out, err = _run(capsys, db_url, "import", str(other), "--mapping", "Old AMS")
    assert code == 0, err
    assert "  created          1 (1 new accounts)" in out
    code, _, err = _run(capsys, db_url, "import", str(other), "--mapping", "Nope")
    assert code == 2
    assert err.strip() == (
        "renewal-desk: There is no saved import mapping named 'Nope'; the saved ones are Old AMS."
    )
    code, _, err = _run(capsys, db_url, "import", str(other), "--map", "color=Kind")
    assert code == 2 and "--map needs FIELD=HEADER with FIELD one of policy_number" in err


def test_as_a_separate_process(tmp_path):
    env = dict(os.environ, RENEWAL_DESK_HOME=str(tmp_path / "home"))
    env.pop("RENEWAL_DESK_DATABASE_URL", None)
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(2)])
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "import", str(path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["create"] == 2
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04garbage")
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "import", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "renewal-desk: bad.xlsx is damaged or incomplete (its zip container cannot be read); "
        "open it in Excel and save it again, or export it again."
    )
