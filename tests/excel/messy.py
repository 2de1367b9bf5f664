"""Builders of the files agencies really bring: messy expiration lists and bad files.

Each builder writes a real file (with openpyxl, the csv module or zipfile) into a folder
and returns its path, so the tests read exactly what an agency would hand over.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils.datetime import CALENDAR_MAC_1904

# --- a messy expiration list --------------------------------------------------------

MESSY_TITLE = "Expiration List — 01/01/2027 to 03/31/2027"
MESSY_HEADER = [
    "Pol No",
    "Named Insured",
    "Writing Company",
    "X-Date",
    "Eff Date",
    "Line",
    "Annual Premium",
    "Producer",
    "CSR",
]

# (row number in the sheet, cells). Row numbers are what the messages must name.
MESSY_ROWS: list[tuple[int, list[Any]]] = [
    # real Excel date, money as text with $ and comma
    (
        5,
        [
            "WC-000123",
            "Harbor Bakery LLC",
            "The Hartford",
            date(2027, 1, 5),
            None,
            "WC",
            "$12,400.50",
            "pat",
            "casey",
        ],
    ),
    # text date m/d/yyyy, leading zeros kept, stray spaces everywhere
    (
        6,
        [
            "  00987  ",
            " Harbor  Bakery LLC ",
            " Travelers ",
            " 1/5/2027 ",
            "1/5/2026",
            "Commercial Auto",
            " 1,234 ",
            "pat",
            "casey",
        ],
    ),
    # text date mm-dd-yy, number premium
    (
        7,
        [
            "BOP-77",
            "Lakeside Dental",
            "Cincinnati Insurance",
            "02-01-27",
            None,
            "BOP",
            3300,
            "pat",
            None,
        ],
    ),
    # ISO text date, accountant's negative → rejected (a premium cannot be negative)
    (
        8,
        [
            "GL-5",
            "Lakeside Dental",
            "Cincinnati Insurance",
            "2027-02-01",
            None,
            "GL",
            "(1,234.50)",
            None,
            None,
        ],
    ),
    # "Jan 5, 2027" and a date-time
    (
        9,
        [
            "HO-1",
            "Maria Gomez",
            "Safeco",
            "Mar 15, 2027",
            datetime(2026, 3, 15, 0, 0),
            "Homeowners",
            1850.75,
            None,
            "casey",
        ],
    ),
    # a serial number in the date column
    (10, ["AU-2", "Maria Gomez", "Safeco", 46462, None, "Personal Auto", "980", None, None]),
    # subtotal row
    (11, [None, "Subtotal Safeco", None, None, None, None, 2830.75, None, None]),
    # blank row
    (12, [None, None, None, None, None, None, None, None, None]),
    # not a date
    (13, ["UM-3", "Maria Gomez", "Safeco", "13/45/2027", None, "UMBRP", 400, None, None]),
    # duplicate of row 5 (carrier differs only in case and spacing)
    (
        14,
        [
            "WC-000123",
            "Harbor Bakery LLC",
            "the  HARTFORD",
            date(2027, 1, 5),
            None,
            "WC",
            12400.5,
            "pat",
            "casey",
        ],
    ),
    # long number Excel stored as a number: flagged
    (
        15,
        [
            123456789012345678,
            "Big Number Co",
            "Travelers",
            date(2027, 3, 1),
            None,
            "CGL",
            500,
            None,
            None,
        ],
    ),
    # a group heading, one cell
    (16, ["Carrier: Zurich", None, None, None, None, None, None, None, None]),
    # unknown producer
    (
        17,
        [
            "PL-9",
            "Smith & Jones CPA",
            "Zurich",
            date(2027, 3, 1),
            None,
            "E&O",
            2200,
            "nobody",
            None,
        ],
    ),
    # missing policy number
    (18, [None, "No Number Inc", "Zurich", date(2027, 3, 1), None, "CGL", 100, None, None]),
    # grand total
    (19, ["Grand Total", None, None, None, None, None, 24865.25, None, None]),
]

# What importing the messy list must report.
MESSY_CREATED = 5  # rows 5, 6, 7, 9 and 10
MESSY_ACCOUNTS = 3  # Harbor Bakery LLC, Lakeside Dental, Maria Gomez
MESSY_SKIPPED = {"blank": 1, "total": 2, "heading": 1}  # rows 12; 11 and 19; 16
MESSY_REJECTIONS = [
    "row 8, Annual Premium: '(1,234.50)' is negative; a premium cannot be",
    "row 13, X-Date: '13/45/2027' is not a date",
    "row 14, Pol No: the HARTFORD policy WC-000123 is also on row 5; only row 5 is imported",
    "row 15, Pol No: 123456789012346000 was stored by Excel as a number, which keeps only 15 "
    "digits, so it may not be the real policy number; format the column as Text in the "
    "source file and enter it again",
    "row 17, Producer: 'nobody' is not a Renewal Desk user; add the user first or correct the name",
    "row 18, Pol No: is empty; every row needs its policy number",
]


def messy_workbook(folder: Path, name: str = "expirations.xlsx") -> Path:
    """Two title lines (one a merged cell), a blank row, the header on row 4, then
    :data:`MESSY_ROWS` at their row numbers (with blank, subtotal and total rows)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Expirations"
    ws["A1"] = MESSY_TITLE
    ws.merge_cells("A1:I1")
    ws["A2"] = "Printed 12/15/2026 by the agency system"
    for c, header in enumerate(MESSY_HEADER, start=1):
        ws.cell(row=4, column=c, value=header)
    for row, values in MESSY_ROWS:
        for c, value in enumerate(values, start=1):
            if value is not None:
                ws.cell(row=row, column=c, value=value)
    # a second, unrelated sheet
    notes = wb.create_sheet("Notes")
    notes["A1"] = "Nothing to import here"
    path = folder / name
    wb.save(path)
    return path


# --- small builders ---------------------------------------------------------------------


def workbook(
    folder: Path,
    rows: Sequence[Sequence[Any]],
    name: str = "list.xlsx",
    *,
    sheet: str = "Sheet1",
    date1904: bool = False,
    extra_sheets: dict[str, Sequence[Sequence[Any]]] | None = None,
) -> Path:
    """A workbook whose first sheet holds ``rows`` from A1 down."""
    wb = openpyxl.Workbook()
    if date1904:
        wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(list(row))
    for title, sheet_rows in (extra_sheets or {}).items():
        other = wb.create_sheet(title)
        for row in sheet_rows:
            other.append(list(row))
    path = folder / name
    wb.save(path)
    return path


def csv_file(
    folder: Path,
    rows: Sequence[Sequence[Any]],
    name: str = "list.csv",
    *,
    delimiter: str = ",",
    bom: bool = False,
    encoding: str = "utf-8",
) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path = folder / name
    path.write_bytes(data)
    return path


SIMPLE_HEADER = ["Policy Number", "Insured Name", "Carrier", "Exp Date", "LOB", "Premium"]


def simple_rows(n: int = 3, *, start: int = 1) -> list[list[Any]]:
    return [
        [f"P-{i:05d}", f"Insured {i}", "Travelers", "3/1/2027", "BOP", f"${1000 + i:,}.00"]
        for i in range(start, start + n)
    ]


# --- bad files ------------------------------------------------------------------------------

# A minimal OLE2 compound file header plus directory names in UTF-16, as a real
# encrypted .xlsx / legacy .xls / Word .doc carries them.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def ole2_file(folder: Path, name: str, stream: str) -> Path:
    """An OLE2 compound file whose directory names ``stream`` (e.g. EncryptedPackage)."""
    header = _OLE2_MAGIC + b"\x00" * (512 - len(_OLE2_MAGIC))
    entry = stream.encode("utf-16-le") + b"\x00\x00"
    directory = entry + b"\x00" * (128 - len(entry))
    root = "Root Entry".encode("utf-16-le") + b"\x00\x00"
    path = folder / name
    path.write_bytes(header + root + b"\x00" * (128 - len(root)) + directory + b"\x00" * 256)
    return path


def renamed_pdf(folder: Path, name: str = "list.xlsx") -> Path:
    path = folder / name
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    return path


def html_as_xls(folder: Path, name: str = "export.xls") -> Path:
    path = folder / name
    path.write_text(
        "<html><body><table><tr><td>Policy #</td><td>Exp Date</td></tr></table></body></html>",
        encoding="utf-8",
    )
    return path


def truncated(source: Path, folder: Path, name: str = "truncated.xlsx") -> Path:
    data = source.read_bytes()
    path = folder / name
    path.write_bytes(data[: len(data) // 2])
    return path


def xlsb_file(folder: Path, name: str = "list.xlsb") -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.bin", b"\x83\x01\x00")
    return path


def plain_zip(folder: Path, name: str = "photos.xlsx") -> Path:
    path = folder / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    return path


def zip_bomb(folder: Path, name: str = "bomb.xlsx", megabytes: int = 60) -> Path:
    """A workbook whose sheet XML is padded with zeros that expand ~1000×."""
    source = workbook(folder, [SIMPLE_HEADER, *simple_rows(1)], name="bomb-source.xlsx")
    path = folder / name
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data + b" " * (megabytes * 1024 * 1024)
            z.writestr(info.filename, data)
    return path


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n'
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">'
    '<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">'
    '<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">'
    '<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">'
    '<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">'
    '<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>\n'
)


def billion_laughs(folder: Path, name: str = "laughs.xlsx", part: str = "xl/sharedStrings.xml"):
    """A workbook whose ``part`` declares the "billion laughs" entities and uses them
    where the first policy number was (written by XlsxWriter, whose text goes to the
    shared strings)."""
    import xlsxwriter

    source = folder / "laughs-source.xlsx"
    book = xlsxwriter.Workbook(str(source))
    sheet = book.add_worksheet()
    for r, row in enumerate([SIMPLE_HEADER, *simple_rows(1)]):
        sheet.write_row(r, 0, row)
    book.close()
    path = folder / name
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member in src.namelist():
            data = src.read(member)
            if member == part:
                text = data.decode("utf-8")
                body = text[text.index("?>") + 2 :] if text.startswith("<?xml") else text
                body = body.replace("P-00001", "&lol9;", 1)
                if part.endswith("sheet1.xml"):  # an inline-string cell using it
                    body = body.replace(
                        "</sheetData>",
                        '<row r="3"><c r="A3" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
                        "</sheetData>",
                    )
                data = (BILLION_LAUGHS + body).encode("utf-8")
            z.writestr(member, data)
    return path
