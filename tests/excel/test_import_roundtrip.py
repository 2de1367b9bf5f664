"""Our own renewal list, exported, edited in a spreadsheet and imported back: the edits
are applied through the renewal services; a row changed in the database since the export
is a conflict, listed and not overwritten; importing the same file again changes nothing."""

from __future__ import annotations

import csv
from datetime import date, timedelta

import openpyxl

from desktop_app.excel import renewal_list
from desktop_app.services import exporting, importing, renewals
from tests.helpers import dump_database, small_book


def _edit_xlsx(path, changes: dict[str, object]) -> None:
    """Change cells of the first data row by header, as a CSR would in Excel."""
    wb = openpyxl.load_workbook(path)
    ws = wb[renewal_list.SHEET_NAME]
    header_row = next(
        r for r in range(1, 20) if ws.cell(row=r, column=1).value == renewal_list.ID_HEADER
    )
    columns = {ws.cell(row=header_row, column=c).value: c for c in range(1, ws.max_column + 1)}
    for header, value in changes.items():
        ws.cell(row=header_row + 1, column=columns[header], value=value)
    wb.save(path)


def test_export_edit_import_applies_the_edits(db, admin, make_user, tmp_path):
    book = small_book(db, admin, make_user)
    path = tmp_path / "renewals.xlsx"
    exporting.export_renewals(db, admin, path)
    assert importing.inspect_file(path).is_renewal_list
    due = date.today() + timedelta(days=3)
    _edit_xlsx(
        path,
        {
            "Stage": "Gathering info",
            "Next Action": "Chase the loss runs",
            "Owner": "morgan",
            "Next Action Due": due,
            "Notes": "Called Ann;\nshe will send them Friday",
        },
    )
    parsed = importing.read_file(path)
    assert parsed.kind == "renewal_list"
    before = dump_database(db)
    shown = importing.preview(db, book.manager, parsed)
    assert dump_database(db) == before
    assert (shown.updated, shown.unchanged, shown.conflicts, shown.rejected) == (1, 0, 0, 0)

    done = importing.commit(db, book.manager, parsed)
    assert (done.updated, done.conflicts, done.rejected) == (1, 0, 0)
    (change,) = done.changes
    assert change.changes["stage"] == ["Upcoming", "Gathering info"]
    card = renewals.get_renewal(db, admin, book.renewal_id)
    assert card.stage_name == "Gathering info"
    assert card.next_action == "Chase the loss runs"
    assert card.next_action_owner == "morgan"
    assert card.next_action_due == due
    assert card.notes == "Called Ann;\nshe will send them Friday"

    # the same file again: the values are already there, so nothing changes (even though
    # its Version column is now older than the renewal)
    again = importing.commit(db, book.manager, importing.read_file(path))
    assert (again.updated, again.unchanged, again.conflicts) == (0, 1, 0)
    assert renewals.get_renewal(db, admin, book.renewal_id).version == card.version


def test_a_row_changed_since_the_export_is_a_conflict(db, admin, make_user, tmp_path):
    book = small_book(db, admin, make_user)
    path = tmp_path / "renewals.xlsx"
    exporting.export_renewals(db, admin, path)
    renewals.update_renewal(db, book.csr, book.renewal_id, notes="Edited in the app")
    _edit_xlsx(path, {"Notes": "Edited in Excel"})
    result = importing.commit(db, book.manager, importing.read_file(path))
    assert (result.updated, result.conflicts, result.rejected) == (0, 1, 0)
    (conflict,) = result.conflict_list
    assert conflict.message.startswith(f"row {conflict.row}: renewal ")
    assert "was changed by Test Casey at" in conflict.message
    assert "(exported version 1, now 2); its edits were not applied — export the list again" in (
        conflict.message
    )
    assert renewals.get_renewal(db, admin, book.renewal_id).notes == "Edited in the app"
    assert not result.accepted_all


def test_a_stage_the_renewal_cannot_enter_is_rejected_with_the_reason(
    db, admin, make_user, tmp_path
):
    book = small_book(db, admin, make_user)
    path = tmp_path / "renewals.xlsx"
    exporting.export_renewals(db, admin, path)
    _edit_xlsx(path, {"Stage": "Bound"})
    parsed = importing.read_file(path)
    shown = importing.preview(db, book.manager, parsed)
    done = importing.commit(db, book.manager, parsed)
    for result in (shown, done):
        (rejection,) = result.rejections
        assert rejection.column == "Stage"
        assert rejection.reason.startswith("cannot move to Bound: it needs ")
        assert "the new premium" in rejection.reason
    assert renewals.get_renewal(db, admin, book.renewal_id).stage_name == "Upcoming"
    _edit_xlsx(path, {"Stage": "Bund"})
    (rejection,) = importing.preview(db, book.manager, importing.read_file(path)).rejections
    assert rejection.reason.startswith("'Bund' is not a pipeline stage (the stages are Upcoming,")


def test_a_csr_may_not_change_the_target_date(db, admin, make_user, tmp_path):
    book = small_book(db, admin, make_user)
    path = tmp_path / "renewals.xlsx"
    exporting.export_renewals(db, admin, path)
    _edit_xlsx(path, {"Target Date": date.today() + timedelta(days=20)})
    for step in (importing.preview, importing.commit):
        (rejection,) = step(db, book.csr, importing.read_file(path)).rejections
        assert rejection.reason == "a CSR may not change a renewal's critical dates"


def test_csv_round_trip(db, admin, make_user, tmp_path):
    book = small_book(db, admin, make_user)
    path = tmp_path / "renewals.csv"
    exporting.export_renewals(db, admin, path)
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    rows[1][header.index("Next Action")] = "'=Call the insured"  # the export's escape
    rows[1][header.index("Next Action Due")] = (date.today() + timedelta(days=9)).isoformat()
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    assert importing.inspect_file(path).is_renewal_list
    result = importing.commit(db, book.manager, importing.read_file(path))
    assert (result.updated, result.rejected) == (1, 0)
    card = renewals.get_renewal(db, admin, book.renewal_id)
    assert card.next_action == "=Call the insured"
    assert card.next_action_due == date.today() + timedelta(days=9)


def test_unknown_renewal_and_bad_version(db, admin, make_user, tmp_path):
    small_book(db, admin, make_user)
    path = tmp_path / "renewals.xlsx"
    exporting.export_renewals(db, admin, path)
    _edit_xlsx(path, {renewal_list.ID_HEADER: 999, "Notes": "x"})
    (rejection,) = importing.preview(db, admin, importing.read_file(path)).rejections
    assert rejection.message.endswith(
        "Renewal ID: there is no renewal 999 in this database; was the list exported from "
        "another one?"
    )
    _edit_xlsx(path, {renewal_list.ID_HEADER: "abc"})
    (rejection,) = importing.read_file(path).rejections
    assert rejection.reason == "'abc' is not a renewal id"
