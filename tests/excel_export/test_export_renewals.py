"""The renewal list export: real files written, read back with openpyxl and csv."""

from __future__ import annotations

import csv
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from desktop_app.db.models import Renewal
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.excel.export_common import ExportCancelled, ExportFailed
from desktop_app.excel.renewal_list import (
    COLUMNS,
    FORMAT_VERSION,
    ID_HEADER,
    MARKER_SHEET,
    MARKER_TEXT,
    SHEET_NAME,
    VERSION_HEADER,
    RenewalRow,
    unescape_csv_text,
)
from desktop_app.services import agency, book, renewals
from desktop_app.services.exporting import export_renewals, renewal_rows
from tests.excel_export.conftest import AS_OF, read
from tests.helpers import small_book

HEADERS = [c.header for c in COLUMNS]


def _cell_value(row: RenewalRow, field: str) -> object:
    value = getattr(row, field)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return value


def _renewal_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Renewal)))


def test_renewal_list_xlsx_is_a_formatted_real_workbook(db, admin, demo, tmp_path: Path) -> None:
    out = tmp_path / "renewals.xlsx"
    result = export_renewals(db, admin, out, as_of=AS_OF)
    expected = renewal_rows(db, admin, as_of=AS_OF)
    assert result.rows == len(expected) == _renewal_count(db) == demo.renewals > 50
    assert result.format == "xlsx" and result.path == out

    wb = read(out)
    assert wb.sheetnames == [SHEET_NAME, MARKER_SHEET]
    marker = wb[MARKER_SHEET]
    assert marker.sheet_state == "hidden"
    assert marker["A1"].value == MARKER_TEXT
    assert marker["A2"].value == FORMAT_VERSION
    assert datetime.fromisoformat(marker["A3"].value).tzinfo is not None

    ws = wb[SHEET_NAME]
    n = len(expected)
    assert [c.value for c in ws[1]] == HEADERS
    assert all(c.font.b for c in ws[1])
    assert ws.freeze_panes == "A2"
    last_col = ws.cell(1, len(COLUMNS)).column_letter
    assert ws.auto_filter.ref == f"A1:{last_col}{n + 1}"
    assert ws.max_row == n + 1
    for i, col in enumerate(COLUMNS, start=1):
        letter = ws.cell(1, i).column_letter
        assert ws.column_dimensions[letter].width == pytest.approx(col.width, abs=1)

    # Every value, as typed cells: dates are dates, money is money, text is text.
    by_field = {c.field: i for i, c in enumerate(COLUMNS, start=1)}
    for r, row in enumerate(expected, start=2):
        for col in COLUMNS:
            cell = ws.cell(r, by_field[col.field])
            assert cell.value == _cell_value(row, col.field), (r, col.header)
            if cell.value is None:
                continue
            if col.kind == "date":
                assert cell.is_date and cell.number_format == "mm/dd/yyyy"
            elif col.kind == "money":
                assert cell.data_type == "n" and cell.number_format == "$#,##0.00"
            elif col.kind == "text":
                assert cell.data_type == "s"
    # The expiration is the agency-calendar day; days left count from the as-of date.
    first = expected[0]
    assert first.days_left == (first.expiration - AS_OF).days
    assert [r.expiration for r in expected] == sorted(r.expiration for r in expected)

    # The Stage and Owner columns offer drop-down lists kept on the hidden sheet.
    sources = {
        str(dv.sqref).split(":")[0].rstrip("0123456789"): dv.formula1
        for dv in ws.data_validations.dataValidation
    }
    stage_letter = ws.cell(1, by_field["stage_name"]).column_letter
    owner_letter = ws.cell(1, by_field["next_action_owner"]).column_letter
    assert MARKER_SHEET in sources[stage_letter] and "$D$2" in sources[stage_letter]
    assert "$E$2" in sources[owner_letter]
    stage_names = [c.value for c in marker["D"][1:] if c.value]
    assert set(stage_names) >= {r.stage_name for r in expected}


def test_filters_stage_owner_and_expiring_within(db, admin, demo, tmp_path: Path) -> None:
    every = renewal_rows(db, admin, as_of=AS_OF)
    gathering = renewal_rows(db, admin, stage="gathering", as_of=AS_OF)
    assert gathering == [r for r in every if r.stage_name == "Gathering info"]
    assert gathering == renewal_rows(db, admin, stage="GATHERING INFO", as_of=AS_OF)
    owner = next(r.next_action_owner for r in every if r.next_action_owner)
    assert renewal_rows(db, admin, owner=owner, as_of=AS_OF) == [
        r for r in every if r.next_action_owner == owner
    ]
    soon = renewal_rows(db, admin, expiring_within=30, as_of=AS_OF)
    assert soon == [r for r in every if 0 <= r.days_left <= 30]
    assert soon and len(soon) < len(every)
    both = renewal_rows(db, admin, stage="gathering", expiring_within=30, as_of=AS_OF)
    assert both == [r for r in gathering if 0 <= r.days_left <= 30]

    out = tmp_path / "soon.xlsx"
    result = export_renewals(db, admin, out, expiring_within=30, as_of=AS_OF)
    assert result.rows == len(soon)
    assert read(out)[SHEET_NAME].max_row == len(soon) + 1

    with pytest.raises(NotFound, match=r"^There is no pipeline stage 'nope'; the stages are up"):
        renewal_rows(db, admin, stage="nope")
    with pytest.raises(NotFound, match=r"^There is no user named 'ghost' in this database\.$"):
        export_renewals(db, admin, tmp_path / "x.xlsx", owner="ghost")
    with pytest.raises(RuleViolation, match="zero or more days"):
        renewal_rows(db, admin, expiring_within=-1)
    assert not (tmp_path / "x.xlsx").exists()


def test_a_producer_exports_only_their_own_book(db, admin, make_user, tmp_path: Path) -> None:
    sb = small_book(db, admin, make_user)
    theirs = book.create_account(db, admin, "Otto's Garage", producer="otto", csr="casey")
    end = datetime.combine(date.today() + timedelta(days=40), datetime.min.time(), UTC)
    policy = book.add_policy(
        db, admin, theirs.id, "CA-77", "Progressive", "CAUTO", end - timedelta(days=365), end
    )
    renewals.open_renewal(db, admin, policy.id, next_action="Call", owner="casey", due=date.today())

    def insureds(actor) -> set[str]:  # type: ignore[no-untyped-def]
        return {r.insured for r in renewal_rows(db, actor)}

    assert insureds(sb.producer) == {"Harbor Bakery LLC"}
    assert insureds(sb.other_producer) == {"Otto's Garage"}
    assert insureds(sb.csr) == insureds(sb.manager) == {"Harbor Bakery LLC", "Otto's Garage"}
    out = tmp_path / "pat.csv"
    assert export_renewals(db, sb.producer, out).rows == 1


RISKY = [
    '=HYPERLINK("http://evil.example","click")',
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "\tcmd",
    "\r=1+1",
]


def test_formula_like_text_stays_text_in_xlsx_and_csv(db, admin, make_user, tmp_path: Path) -> None:
    sb = small_book(db, admin, make_user)
    for i, text in enumerate(RISKY):
        account = book.create_account(db, admin, f"{text} Co", producer="pat")
        end = datetime.combine(date.today() + timedelta(days=30 + i), datetime.min.time(), UTC)
        policy = book.add_policy(
            db, admin, account.id, f"{text[:1]}P{i}", "Erie", "HOME", end - timedelta(days=365), end
        )
        card = renewals.open_renewal(
            db, admin, policy.id, next_action=text, owner="casey", due=date.today()
        )
        renewals.update_renewal(db, admin, card.id, notes=text)
    del sb

    xlsx = tmp_path / "risky.xlsx"
    export_renewals(db, admin, xlsx)
    # Nothing in the sheet is a formula, and the texts come back exactly.
    ws = read(xlsx)[SHEET_NAME]
    header = [c.value for c in ws[1]]
    notes_col = header.index("Notes") + 1
    action_col = header.index("Next Action") + 1
    insured_col = header.index("Insured") + 1
    seen_notes = []
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
        note = row[notes_col - 1]
        if note.value is not None:
            seen_notes.append(note.value)
            assert note.data_type == "s"
            assert note.quotePrefix  # stays text even when someone edits the cell
            assert row[action_col - 1].value == note.value
            assert row[insured_col - 1].value == f"{note.value} Co".strip()  # names are trimmed
    # A carriage return becomes the line feed Excel itself uses for a line break in a cell.
    assert sorted(seen_notes) == sorted(t.replace("\r", "\n") for t in RISKY)
    with zipfile.ZipFile(xlsx) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml

    # In CSV the risky texts carry an apostrophe, which the importer's helper removes.
    out = tmp_path / "risky.csv"
    export_renewals(db, admin, out)
    with open(out, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    notes = [r["Notes"] for r in rows if r["Notes"]]
    assert all(n.startswith("'") for n in notes)
    assert sorted(unescape_csv_text(n) for n in notes) == sorted(RISKY)
    insureds = sorted(unescape_csv_text(r["Insured"]) for r in rows if r["Notes"])
    assert insureds == sorted(f"{text} Co".strip() for text in RISKY)
    assert sum(r["Insured"].startswith("'") for r in rows) == len(RISKY) - 1  # not "cmd Co"
    assert unescape_csv_text("'Brien") == "'Brien"  # a real apostrophe is kept


def test_csv_is_utf8_with_bom_iso_dates_plain_amounts(db, admin, demo, tmp_path: Path) -> None:
    out = tmp_path / "renewals.csv"
    result = export_renewals(db, admin, out, as_of=AS_OF)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf" + ID_HEADER.encode())
    with open(out, encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == HEADERS and VERSION_HEADER in table[0]
    expected = renewal_rows(db, admin, as_of=AS_OF)
    assert len(table) - 1 == result.rows == len(expected)
    for line, row in zip(table[1:], expected, strict=True):
        record = dict(zip(HEADERS, line, strict=True))
        assert int(record[ID_HEADER]) == row.id
        assert int(record[VERSION_HEADER]) == row.version
        assert record["Expiration"] == row.expiration.isoformat()
        assert Decimal(record["Premium"]) == row.premium
        assert record["Stage"] == row.stage_name
        assert record["Notes"] == (row.notes or "")


def test_expiration_is_the_agency_calendar_day(db, admin, make_user) -> None:
    sb = small_book(db, admin, make_user)
    agency.set_time_zone(db, admin, "America/Los_Angeles")
    tz = agency.zone_named("America/Los_Angeles")
    expires = date.today() + timedelta(days=45)
    end = agency.day_start(expires, tz)  # 07:00 or 08:00 UTC: the UTC date is the same…
    late = agency.day_start(expires, tz) - timedelta(hours=1)  # …and this is the day before
    account = book.create_account(db, admin, "Pacific Deli", producer="pat")
    for number, moment in (("PD-1", end), ("PD-2", late)):
        policy = book.add_policy(
            db, admin, account.id, number, "Safeco", "BOP", moment - timedelta(days=365), moment
        )
        renewals.open_renewal(
            db, admin, policy.id, next_action="Call", owner="casey", due=date.today()
        )
    rows = {r.policy_number: r for r in renewal_rows(db, admin, as_of=date.today())}
    assert rows["PD-1"].expiration == expires
    assert rows["PD-2"].expiration == expires - timedelta(days=1)
    assert rows["PD-1"].days_left == 45
    within = {
        r.policy_number for r in renewal_rows(db, admin, expiring_within=44, as_of=date.today())
    }
    assert "PD-2" in within and "PD-1" not in within
    del sb


def test_nothing_half_written_cancel_progress_and_bad_paths(
    db, admin, demo, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "out"  # the SQLite file lives in tmp_path itself
    tmp_path.mkdir()
    target = tmp_path / "list.xlsx"
    target.write_bytes(b"the old file")
    calls: list[tuple[int, int]] = []
    with pytest.raises(ExportCancelled, match="cancelled; no file was written"):
        export_renewals(
            db, admin, target, progress=lambda d, t: calls.append((d, t)), cancelled=lambda: True
        )
    assert target.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.xlsx"]

    calls.clear()
    result = export_renewals(db, admin, target, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (result.rows, result.rows)
    assert all(t == result.rows for _, t in calls)
    assert zipfile.is_zipfile(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.xlsx"]

    csv_target = tmp_path / "list.csv"
    with pytest.raises(ExportCancelled):
        export_renewals(db, admin, csv_target, cancelled=lambda: True)
    assert not csv_target.exists()

    for bad, message in (
        (tmp_path / "list.xls", r"^The renewal list is saved as \.xlsx or \.csv, but 'list\.xls'"),
        (tmp_path / "no-such-folder" / "x.xlsx", r"^The folder '.*no-such-folder' does not exist"),
        (tmp_path / "folder.xlsx", r"is a folder; give a file name ending in \.xlsx\.$"),
    ):
        if bad.name == "folder.xlsx":
            bad.mkdir()
        with pytest.raises(ExportFailed, match=message):
            export_renewals(db, admin, bad)


def test_an_unwritable_folder_is_one_sentence(db, admin, demo, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:  # running as root: permissions do not stop us
            probe.unlink()
            pytest.skip("permissions are not enforced for this user (root)")
        with pytest.raises(ExportFailed, match=r"^Renewal Desk may not write in the folder"):
            export_renewals(db, admin, folder / "list.xlsx")
    finally:
        folder.chmod(0o700)


def test_an_empty_book_exports_a_header_only_list(db, admin, tmp_path: Path) -> None:
    out = tmp_path / "empty.xlsx"
    assert export_renewals(db, admin, out).rows == 0
    ws = read(out)[SHEET_NAME]
    assert [c.value for c in ws[1]] == HEADERS and ws.max_row == 1
    out_csv = tmp_path / "empty.csv"
    assert export_renewals(db, admin, out_csv).rows == 0
    assert out_csv.read_text(encoding="utf-8-sig").splitlines() == [",".join(HEADERS)]
