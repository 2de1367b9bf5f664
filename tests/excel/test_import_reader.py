"""Opening files: the real type from the bytes, a sentence for every unusable file, and
hostile files refused before they are parsed."""

from __future__ import annotations

from datetime import date

import openpyxl
import pytest
import xlsxwriter

from desktop_app.excel import reader
from desktop_app.excel.reader import UnsafeXmlSetup, UnusableFile, check_safe_xml, open_spreadsheet
from desktop_app.services import importing
from tests.excel import messy
from tests.excel.messy import SIMPLE_HEADER, simple_rows


def _refusal(path, **kwargs) -> str:
    with pytest.raises(UnusableFile) as caught:
        importing.read_file(path, **kwargs)
    message = caught.value.message
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    return message


# --- every unusable file gets one sentence ----------------------------------------------


def test_password_protected_workbook(tmp_path):
    path = messy.ole2_file(tmp_path, "locked.xlsx", "EncryptedPackage")
    assert _refusal(path) == (
        "locked.xlsx is protected with a password; open it in Excel, remove the password "
        "(File > Info > Protect Workbook) and save it again."
    )


def test_legacy_xls(tmp_path):
    path = messy.ole2_file(tmp_path, "old.xls", "Workbook")
    assert _refusal(path) == (
        "old.xls is a legacy Excel 97-2003 workbook (.xls); open it in Excel and save it as "
        "an Excel Workbook (.xlsx)."
    )


def test_word_document_renamed(tmp_path):
    path = messy.ole2_file(tmp_path, "list.xlsx", "WordDocument")
    assert _refusal(path) == (
        "list.xlsx is a Word document, not a spreadsheet; export the list as Excel (.xlsx) or CSV."
    )


def test_xlsb(tmp_path):
    assert _refusal(messy.xlsb_file(tmp_path)) == (
        "list.xlsb is an Excel Binary Workbook (.xlsb); open it in Excel and save it as an "
        "Excel Workbook (.xlsx)."
    )


def test_renamed_pdf(tmp_path):
    assert _refusal(messy.renamed_pdf(tmp_path)) == (
        "list.xlsx is a PDF document, not a spreadsheet; export the list from your system as "
        "Excel or CSV instead."
    )


def test_html_saved_as_xls(tmp_path):
    assert _refusal(messy.html_as_xls(tmp_path)) == (
        "export.xls is a web page (HTML) saved with a spreadsheet name, as some systems export "
        "'Excel' files; open it in Excel and save it as an Excel Workbook (.xlsx)."
    )


def test_truncated_zip(tmp_path):
    good = messy.messy_workbook(tmp_path)
    assert _refusal(messy.truncated(good, tmp_path)) == (
        "truncated.xlsx is damaged or incomplete (its zip container cannot be read); open it "
        "in Excel and save it again, or export it again."
    )


def test_zip_that_is_not_a_workbook(tmp_path):
    assert _refusal(messy.plain_zip(tmp_path)) == (
        "photos.xlsx is a zip archive, not an Excel workbook; unzip it and import the "
        "workbook inside, or export the list again."
    )


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert _refusal(path) == "empty.csv is empty (0 bytes); export the list again from your system."


def test_missing_file(tmp_path):
    assert _refusal(tmp_path / "nope.xlsx") == f"There is no file {tmp_path / 'nope.xlsx'}."


def test_empty_sheet(tmp_path):
    path = messy.workbook(tmp_path, [], extra_sheets={"Data": [SIMPLE_HEADER, *simple_rows(2)]})
    assert _refusal(path) == (
        "The sheet 'Sheet1' in list.xlsx is empty; choose the sheet that holds the list."
    )
    # the right sheet reads fine
    assert len(importing.read_file(path, sheet="data").records) == 2


def test_unknown_sheet(tmp_path):
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(1)])
    assert _refusal(path, sheet="Renewals") == (
        "list.xlsx has no sheet named 'Renewals'; its sheets are 'Sheet1'."
    )


def test_a_csv_with_only_blank_lines(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\r\n  \r\n")
    assert _refusal(path) == "blank.csv has no rows; export the list again."


# --- the type comes from the bytes, not the name -------------------------------------------


def test_a_csv_named_xlsx_is_read_as_csv(tmp_path):
    path = messy.csv_file(tmp_path, [SIMPLE_HEADER, *simple_rows(2)], name="really-csv.xlsx")
    parsed = importing.read_file(path)
    assert [r.policy_number for r in parsed.records] == ["P-00001", "P-00002"]


def test_a_workbook_named_csv_is_read_as_a_workbook(tmp_path):
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(2)], name="really-xlsx.csv")
    assert importing.inspect_file(path).kind == "xlsx"
    assert len(importing.read_file(path).records) == 2


# --- CSV variants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "bom", "encoding"),
    [(",", False, "utf-8"), (",", True, "utf-8"), (";", True, "utf-8"), (";", False, "cp1252")],
)
def test_csv_forms(tmp_path, delimiter, bom, encoding):
    rows = [SIMPLE_HEADER, ["P-1", "Café Olé", "Travelers", "3/1/2027", "BOP", "$1.234,00"]]
    if delimiter == ",":
        rows[1][5] = "$1,234.00"
    else:
        rows[1][5] = "1234"
    path = messy.csv_file(tmp_path, rows, delimiter=delimiter, bom=bom, encoding=encoding)
    parsed = importing.read_file(path)
    assert parsed.rejections == []
    (record,) = parsed.records
    assert record.insured == "Café Olé"
    assert record.expiration == date(2027, 3, 1)
    assert record.premium is not None and int(record.premium) == 1234


def test_excel_unicode_text_is_utf16_with_tabs(tmp_path):
    text = "\t".join(SIMPLE_HEADER) + "\r\nP-1\tZoë\tTravelers\t3/1/2027\tBOP\t10\r\n"
    path = tmp_path / "unicode.txt"
    path.write_bytes(text.encode("utf-16"))
    (record,) = importing.read_file(path).records
    assert record.insured == "Zoë"


# --- dates and formulas in workbooks ------------------------------------------------------


def test_1904_workbook_dates_and_serials_read_correctly(tmp_path):
    serial_1904 = (date(2027, 1, 5) - date(1904, 1, 1)).days
    path = messy.workbook(
        tmp_path,
        [
            SIMPLE_HEADER,
            ["P-1", "A", "Travelers", date(2027, 1, 5), "BOP", 1],
            ["P-2", "B", "Travelers", serial_1904, "BOP", 1],
        ],
        date1904=True,
    )
    info = importing.inspect_file(path)
    assert info.date1904 is True
    records = importing.read_file(path).records
    assert [r.expiration for r in records] == [date(2027, 1, 5), date(2027, 1, 5)]


def test_formula_cells_give_their_cached_values(tmp_path):
    path = tmp_path / "formulas.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, SIMPLE_HEADER)
    ws.write_row(1, 0, ["P-1", "Formula Inc", "Travelers", "3/1/2027", "BOP"])
    ws.write_formula(1, 5, "=1000+234.5", None, 1234.5)
    ws.write_formula(1, 0, '="P-"&"77"', None, "P-77")
    wb.close()
    (record,) = importing.read_file(path).records
    assert record.policy_number == "P-77"
    assert str(record.premium) == "1234.50"


# --- hostile files ------------------------------------------------------------------------


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"])
def test_billion_laughs_is_refused_before_parsing(tmp_path, part):
    path = messy.billion_laughs(tmp_path, part=part)
    assert _refusal(path) == (
        "laughs.xlsx contains XML declarations (a DTD) that real workbooks never have and "
        "that can be used to attack the computer reading it; it was not opened."
    )


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"])
def test_entities_stay_harmless_even_past_the_prolog_check(tmp_path, monkeypatch, part):
    # Defence in depth: were the DTD check skipped, calamine's parser does not expand
    # entities and openpyxl (with defusedxml, which the app insists on) refuses them.
    path = messy.billion_laughs(tmp_path, part=part)
    monkeypatch.setattr(reader, "_check_prolog", lambda *args: None)
    message = _refusal(path)
    assert message.startswith("laughs.xlsx is damaged: sheet 'Sheet1' cannot be read") or (
        message.startswith("laughs.xlsx is damaged and cannot be read")
    )
    assert "unrecognized entity" in message
    check_safe_xml()
    with pytest.raises(ValueError, match="invalid XML"):
        openpyxl.load_workbook(path)


def test_check_safe_xml_refuses_without_defusedxml(monkeypatch):
    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)
    with pytest.raises(UnsafeXmlSetup) as caught:
        check_safe_xml()
    assert caught.value.message == (
        "Renewal Desk cannot read Excel files safely because the defusedxml package is "
        "missing; reinstall Renewal Desk to restore it."
    )


def test_zip_bomb_is_refused(tmp_path):
    path = messy.zip_bomb(tmp_path)
    message = _refusal(path)
    assert message.startswith(
        "bomb.xlsx is not a normal workbook: its part xl/worksheets/sheet1.xml expands "
    )
    assert message.endswith(
        "times, as only a deliberately hostile file (a zip bomb) does; it was not opened."
    )


def test_too_much_uncompressed_data_is_refused(tmp_path, monkeypatch):
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(50)])
    monkeypatch.setattr(reader, "MAX_UNCOMPRESSED_BYTES", 1000)
    assert "when opened, more than Renewal Desk reads at once; split the list" in _refusal(path)


def test_too_many_rows_is_refused_before_loading(tmp_path):
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(30)])
    with open_spreadsheet(path, max_rows=20) as sf, pytest.raises(UnusableFile) as caught:
        list(sf.rows())
    assert caught.value.message == (
        "list.xlsx has more than 20 rows on sheet 'Sheet1', more than Renewal Desk imports "
        "at once; split the list into smaller files."
    )
    csv_path = messy.csv_file(tmp_path, [SIMPLE_HEADER, *simple_rows(30)])
    with pytest.raises(UnusableFile, match="has more than 20 rows"):
        open_spreadsheet(csv_path, max_rows=20)


def test_too_big_a_file_is_refused(tmp_path, monkeypatch):
    path = messy.csv_file(tmp_path, [SIMPLE_HEADER, *simple_rows(50)])
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 100)
    assert "MB Renewal Desk imports at once; split the list into smaller files." in _refusal(path)


def test_row_numbers_match_the_sheet(tmp_path):
    with open_spreadsheet(messy.messy_workbook(tmp_path)) as sf:
        rows = list(sf.rows("Expirations"))
    assert rows[0][0] == messy.MESSY_TITLE
    assert rows[3][0] == "Pol No"  # row 4
    assert rows[4][0] == "WC-000123"  # row 5
    assert sf.sheet_names == ["Expirations", "Notes"]
