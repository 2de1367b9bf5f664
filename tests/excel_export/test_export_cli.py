"""``renewal-desk export …`` as a user types it: files, --json, exit codes, one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from desktop_app.cli.main import run
from desktop_app.excel import export_rollup as sheets
from desktop_app.excel.renewal_list import SHEET_NAME
from tests.excel_export.conftest import AS_OF
from tests.helpers import small_book


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert "Traceback" not in err
    assert lines[0].startswith("renewal-desk: ") and lines[0].endswith(".")
    return lines[0]


def test_export_renewals_and_rollup_with_json(db_url, db, admin, demo, capsys, tmp_path) -> None:
    base = ("--database-url", db_url, "--as", "admin", "export")
    out = tmp_path / "list.xlsx"
    code, stdout, err = _run(
        capsys, *base, "renewals", str(out), "--as-of", AS_OF.isoformat(), "--json"
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["path"] == str(out) and report["format"] == "xlsx"
    assert report["rows"] == demo.renewals and report["seconds"] >= 0
    assert load_workbook(out)[SHEET_NAME].max_row == demo.renewals + 1

    out_csv = tmp_path / "soon.csv"
    code, stdout, err = _run(
        capsys,
        *base,
        "renewals",
        str(out_csv),
        "--stage",
        "gathering",
        "--expiring-within",
        "60",
        "--as-of",
        "03/15/2027",
    )
    assert code == 0, err
    lines = out_csv.read_text(encoding="utf-8-sig").splitlines()
    n = len(lines) - 1
    assert 0 < n < demo.renewals
    assert (
        stdout
        == f"Wrote {n:,} renewal{'s' if n != 1 else ''} to {out_csv} in "
        + (stdout.split(" in ")[1])
    )

    rollup = tmp_path / "rollup.xlsx"
    code, stdout, err = _run(
        capsys, *base, "rollup", str(rollup), "--as-of", "2027-03-15", "--json"
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["sheets"] == list(sheets.SHEETS) and report["rows"] > 0
    assert load_workbook(rollup).sheetnames == list(sheets.SHEETS)


def test_export_mistakes_are_one_sentence_exit_2(
    db_url, db, admin, make_user, capsys, tmp_path: Path
) -> None:
    small_book(db, admin, make_user)
    base = ("--database-url", db_url, "--as", "admin", "export")
    cases = [
        (("renewals", str(tmp_path / "nowhere" / "x.xlsx")), "does not exist"),
        (("renewals", str(tmp_path / "x.xls")), "give a file name ending in .xlsx"),
        (("rollup", str(tmp_path / "x.csv")), "The rollup is saved as .xlsx"),
        (("renewals", str(tmp_path / "x.xlsx"), "--stage", "limbo"), "no pipeline stage 'limbo'"),
        (("renewals", str(tmp_path / "x.xlsx"), "--owner", "ghost"), "no user named 'ghost'"),
    ]
    for argv, words in cases:
        code, _, err = _run(capsys, *base, *argv)
        assert code == 2, argv
        assert words in _one_sentence(err)
    code, _, err = _run(
        capsys,
        "--database-url",
        db_url,
        "--as",
        "casey",
        "export",
        "rollup",
        str(tmp_path / "r.xlsx"),
    )
    assert code == 2
    assert _one_sentence(err) == "renewal-desk: A CSR may not export the manager rollup."
    for bad in (("--as-of", "13/45/2027"), ("--expiring-within", "-3")):
        with pytest.raises(SystemExit) as exit_info:  # argparse's own exit
            _run(capsys, *base, "renewals", str(tmp_path / "x.xlsx"), *bad)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("renewal-desk: Argument ")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".xlsx", ".csv")) == []
