"""Opening the files agencies have: .xlsx / .xlsm workbooks and .csv text.

What a file *is* is decided from its bytes, never from its name: agencies rename files,
and many management systems' "Excel export" is really HTML or CSV with an .xls name. A
zip container is an Office Open XML workbook (or something else zipped), an OLE2 compound
file is a legacy .xls, a password-protected workbook ("EncryptedPackage") or a Word file;
text is CSV. Anything Renewal Desk cannot read raises :class:`UnusableFile` with one
sentence saying what the file is and what to do.

Hostile or runaway files are refused before they are parsed: a file bigger than
:data:`MAX_FILE_BYTES`, a zip whose contents expand past :data:`MAX_UNCOMPRESSED_BYTES` or
at a ratio only a zip bomb reaches, an XML part that declares a DTD or entities (a real
workbook never does; that is how "billion laughs" attacks start), and a sheet with more
than :data:`MAX_ROWS` rows (counted in the sheet's XML before anything is loaded).

Workbooks are parsed with python-calamine (Rust; about ten times faster than openpyxl's
read-only mode on a 100,000-row list) which gives formula cells' cached values and real
dates. Formatted dates come back as dates in either date system; the 1904 flag is read
from ``xl/workbook.xml`` (with defusedxml) so bare serial numbers convert correctly too.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from desktop_app.errors import UserFacingError

MAX_FILE_BYTES = 250 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
# Deflate cannot do better than ~1030:1. Real sheets compress ~8-20:1, a sheet of empty
# styled rows up to a few hundred; a member this far beyond that is a bomb.
MAX_RATIO = 400
RATIO_CHECK_FROM_BYTES = 20 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_PROLOG_BYTES = 64 * 1024

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"

Kind = Literal["xlsx", "csv"]


class UnusableFile(UserFacingError):
    """A file the importer cannot read, with what it is and what to do about it."""


class UnsafeXmlSetup(UserFacingError):
    """openpyxl would parse XML without defusedxml's protection."""


def check_safe_xml() -> None:
    """Refuse to run when openpyxl is not using defusedxml.

    openpyxl protects against XML entity attacks only when the ``defusedxml`` package is
    importable; without it a hostile workbook could exhaust memory. The app calls this at
    start-up so the problem shows once, plainly, instead of as a risk nobody sees.
    """
    import openpyxl

    if not getattr(openpyxl, "DEFUSEDXML", False):
        raise UnsafeXmlSetup(
            "Renewal Desk cannot read Excel files safely because the defusedxml package "
            "is missing; reinstall Renewal Desk to restore it."
        )


# --- what the bytes say -------------------------------------------------------------


def sniff(head: bytes) -> str:
    """What the first bytes of a file say it is: zip, ole2, empty, text or a named other."""
    if not head:
        return "empty"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(EMPTY_ZIP_MAGIC):
        return "empty zip"
    if head.startswith(OLE2_MAGIC):
        return "ole2"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")):
        return "image"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<html", b"<!doctype html", b"<table", b"<meta", b"<head", b"<body")):
        return "html"
    if text.startswith(b"<?xml") or text.startswith(b"<workbook"):
        return "html" if b"<html" in text else "xml"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "text"
    if b"\x00" in head:
        return "binary"
    return "text"


def _refuse(path: Path, what: str) -> UnusableFile:
    return UnusableFile(f"{path.name} {what}")


# --- the opened file ------------------------------------------------------------------


@dataclass
class SpreadsheetFile:
    """An opened .xlsx/.xlsm or .csv: its sheets and their rows.

    ``rows(sheet)`` yields each row of a sheet as a list of cell values, starting with the
    sheet's first row (row number = position + 1); short rows are not padded.
    """

    path: Path
    kind: Kind
    sheet_names: list[str]
    hidden_sheets: list[str] = field(default_factory=list)
    date1904: bool = False
    max_rows: int = MAX_ROWS
    _workbook: Any = None
    _parts: dict[str, str] = field(default_factory=dict)  # sheet name → zip member
    _csv: tuple[str, str] | None = None  # (decoded text, delimiter)
    _row_counts: dict[str, int] = field(default_factory=dict)  # sheet → <row> elements
    _heights: dict[str, int] = field(default_factory=dict)  # sheet → rows, once loaded

    def _count(self, name: str) -> int:
        member = self._parts.get(name)
        if member is None:
            return 0
        if name not in self._row_counts:
            self._row_counts[name] = _count_rows(self.path, member, self.max_rows)
        return self._row_counts[name]

    def _check_rows(self, name: str) -> None:
        """Refuse a sheet with more than ``max_rows`` rows before it is loaded. Most sheets
        are far below the bound, which one quick pass over the XML proves; only a sheet
        near it has its rows counted exactly."""
        member = self._parts.get(name)
        if member is None:
            return
        if name not in self._row_counts and _row_bound(self.path, member) <= self.max_rows:
            return
        if self._count(name) > self.max_rows:
            raise _refuse(
                self.path,
                f"has more than {self.max_rows:,} rows on sheet '{name}', more than "
                "Renewal Desk imports at once; split the list into smaller files.",
            )

    @property
    def all_sheets(self) -> list[str]:
        return [*self.sheet_names, *self.hidden_sheets]

    def default_sheet(self) -> str:
        return self.sheet_names[0] if self.sheet_names else self.all_sheets[0]

    def sheet(self, name: str | None) -> str:
        """The sheet called ``name`` (case-insensitive), or the first visible one."""
        if name is None:
            return self.default_sheet()
        for candidate in self.all_sheets:
            if candidate == name or candidate.casefold() == name.strip().casefold():
                return candidate
        raise UnusableFile(
            f"{self.path.name} has no sheet named '{name}'; its sheets are "
            f"{', '.join(repr(s) for s in self.sheet_names)}."
        )

    def estimated_rows(self, sheet: str | None = None) -> int:
        """Roughly how many rows ``rows(sheet)`` will yield (for a progress bar)."""
        if self.kind == "csv":
            assert self._csv is not None
            return self._csv[0].count("\n") + 1
        name = self.sheet(sheet)
        if name in self._heights:
            return self._heights[name]
        return self._count(name)

    def rows(self, sheet: str | None = None) -> Iterator[list[Any]]:
        """An iterator over the rows of ``sheet``; a sheet that cannot be read (too many
        rows, damaged) raises :class:`UnusableFile` here, before any row is read."""
        if self.kind == "csv":
            assert self._csv is not None
            text, delimiter = self._csv
            return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        name = self.sheet(sheet)
        self._check_rows(name)
        try:
            loaded = self._workbook.get_sheet_by_name(name)
            self._heights[name] = loaded.height
            # the rows come straight from calamine: no Python layer per row
            return iter(loaded.iter_rows())
        except Exception as exc:  # calamine's errors: broken XML, missing parts
            raise _refuse(
                self.path,
                f"is damaged: sheet '{name}' cannot be read ({_first_line(exc)}); open it "
                "in Excel and save it again.",
            ) from exc

    def read_cell(self, sheet: str, row: int, column: int) -> Any:
        """One cell (1-based row and column) of a small sheet, e.g. the export marker."""
        for number, values in enumerate(self.rows(sheet), start=1):
            if number == row:
                return values[column - 1] if len(values) >= column else None
        return None

    def close(self) -> None:
        if self._workbook is not None:
            with contextlib.suppress(Exception):  # already closed
                self._workbook.close()
            self._workbook = None

    def __enter__(self) -> SpreadsheetFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_spreadsheet(path: str | Path, *, max_rows: int = MAX_ROWS) -> SpreadsheetFile:
    """Open ``path`` for reading, or raise :class:`UnusableFile` saying why it cannot be."""
    check_safe_xml()
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        raise UnusableFile(f"There is no file {path}.") from None
    except IsADirectoryError:
        raise UnusableFile(f"{path} is a folder, not a file.") from None
    except OSError as exc:
        raise UnusableFile(f"{path.name} cannot be opened ({exc.strerror or exc}).") from None
    if size > MAX_FILE_BYTES:
        raise _refuse(
            path,
            f"is {size / 1024 / 1024:,.0f} MB, more than the {MAX_FILE_BYTES // 1024 // 1024} MB "
            "Renewal Desk imports at once; split the list into smaller files.",
        )
    kind = sniff(head)
    if kind == "zip":
        return _open_zip(path, max_rows)
    if kind == "text":
        return _open_csv(path, max_rows)
    raise _refuse(path, _WHAT_IT_IS.get(kind) or _ole2_message(path))


_SAVE_AS = "open it in Excel and save it as an Excel Workbook (.xlsx)"
_WHAT_IT_IS: dict[str, str] = {
    "empty": "is empty (0 bytes); export the list again from your system.",
    "empty zip": "is an empty zip archive, not a workbook; export the list again.",
    "pdf": "is a PDF document, not a spreadsheet; export the list from your system as "
    "Excel or CSV instead.",
    "image": "is a picture, not a spreadsheet; export the list as Excel or CSV instead.",
    "rtf": f"is a Word (RTF) document, not a spreadsheet; {_SAVE_AS}.",
    "html": f"is a web page (HTML) saved with a spreadsheet name, as some systems export "
    f"'Excel' files; {_SAVE_AS}.",
    "xml": f"is an XML file (such as an Excel 2003 XML spreadsheet), not an .xlsx workbook; "
    f"{_SAVE_AS}.",
    "binary": "is not a spreadsheet Renewal Desk can read; export the list as Excel "
    "(.xlsx) or CSV.",
}


def _ole2_message(path: Path) -> str:
    """Tell apart the OLE2 files people bring: encrypted .xlsx, legacy .xls, Word .doc.

    The compound file's directory names its streams in UTF-16; a password-protected
    .xlsx keeps the real workbook in a stream called "EncryptedPackage".
    """
    names = {
        "EncryptedPackage": "is protected with a password; open it in Excel, remove the "
        "password (File > Info > Protect Workbook) and save it again.",
        "Workbook": f"is a legacy Excel 97-2003 workbook (.xls); {_SAVE_AS}.",
        "Book": f"is a legacy Excel 5.0/95 workbook (.xls); {_SAVE_AS}.",
        "WordDocument": "is a Word document, not a spreadsheet; export the list as Excel "
        "(.xlsx) or CSV.",
    }
    found = set()
    needles = {name: name.encode("utf-16-le") + b"\x00\x00" for name in names}
    tail = b""
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            window = tail + chunk
            found |= {name for name, needle in needles.items() if needle in window}
            tail = window[-64:]
    for name, message in names.items():
        if name in found:
            return message
    return f"is an older Office file that is not an Excel workbook; {_SAVE_AS}."


# --- .xlsx / .xlsm ----------------------------------------------------------------------


def _open_zip(path: Path, max_rows: int) -> SpreadsheetFile:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        raise _refuse(
            path,
            "is damaged or incomplete (its zip container cannot be read); open it in Excel "
            "and save it again, or export it again.",
        ) from None
    with archive:
        infos = archive.infolist()
        names = {i.filename for i in infos}
        if "xl/workbook.bin" in names:
            raise _refuse(path, f"is an Excel Binary Workbook (.xlsb); {_SAVE_AS}.")
        if "xl/workbook.xml" not in names:
            if "word/document.xml" in names:
                what = "is a Word document, not a spreadsheet; export the list as Excel or CSV."
            elif any(n.startswith("ppt/") for n in names):
                what = "is a PowerPoint file, not a spreadsheet; export the list as Excel or CSV."
            elif "content.xml" in names:
                what = f"is an OpenDocument file (.ods); {_SAVE_AS}."
            else:
                what = "is a zip archive, not an Excel workbook; unzip it and import the "
                what += "workbook inside, or export the list again."
            raise _refuse(path, what)
        _check_sizes(path, infos)
        for info in infos:
            if info.filename.endswith((".xml", ".rels", ".vml")):
                _check_prolog(path, archive, info)
        date1904, parts = _workbook_facts(path, archive)
    try:
        from python_calamine import (
            CalamineWorkbook,
            PasswordError,
            SheetTypeEnum,
            SheetVisibleEnum,
        )
    except ImportError:  # pragma: no cover - a dependency
        raise UnusableFile("Renewal Desk is missing its Excel reader; reinstall it.") from None
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except PasswordError:
        raise _refuse(path, "is protected with a password; remove the password in Excel.") from None
    except Exception as exc:
        raise _refuse(
            path,
            f"is damaged and cannot be read ({_first_line(exc)}); open it in Excel and save "
            "it again.",
        ) from None
    visible, hidden = [], []
    for meta in workbook.sheets_metadata:
        if meta.typ != SheetTypeEnum.WorkSheet:
            continue
        if meta.visible == SheetVisibleEnum.Visible:
            visible.append(meta.name)
        else:
            hidden.append(meta.name)
    if not visible and not hidden:
        workbook.close()
        raise _refuse(path, "has no worksheets; export the list again.")
    return SpreadsheetFile(
        path=path,
        kind="xlsx",
        sheet_names=visible,
        hidden_sheets=hidden,
        date1904=date1904,
        max_rows=max_rows,
        _workbook=workbook,
        _parts=parts,
    )


def _check_sizes(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _refuse(
            path,
            f"would expand to {total / 1024 / 1024:,.0f} MB when opened, more than Renewal "
            "Desk reads at once; split the list into smaller files.",
        )
    for info in infos:
        if info.file_size >= RATIO_CHECK_FROM_BYTES and info.file_size > MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise _refuse(
                path,
                f"is not a normal workbook: its part {info.filename} expands "
                f"{info.file_size // max(info.compress_size, 1):,} times, as only a "
                "deliberately hostile file (a zip bomb) does; it was not opened.",
            )


def _check_prolog(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Refuse an XML part whose prolog declares a DTD (entity attacks start there).

    A DTD can only appear before the root element, so reading up to the first start tag
    is enough; comments and processing instructions before it are skipped.
    """
    verdict: bool | None = None
    try:
        with archive.open(info) as stream:
            data = b""
            while verdict is None and len(data) < MAX_PROLOG_BYTES:
                chunk = stream.read(4096)
                if not chunk:
                    verdict = True  # no root element: the parser will say what is wrong
                    break
                data += chunk
                verdict = _prolog_verdict(data)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise _refuse(
            path,
            f"is damaged or incomplete ({_first_line(exc)}); open it in Excel and save it "
            "again, or export it again.",
        ) from None
    if verdict is not True:  # a DTD, or a prolog longer than any real one
        raise _refuse(
            path,
            "contains XML declarations (a DTD) that real workbooks never have and that can be "
            "used to attack the computer reading it; it was not opened.",
        )


def _prolog_verdict(data: bytes) -> bool | None:
    """True: the root element starts without a DTD; False: a DTD; None: need more bytes."""
    text = data.lstrip(b"\xef\xbb\xbf")
    i = 0
    while True:
        while i < len(text) and text[i : i + 1] in b" \t\r\n":
            i += 1
        if i >= len(text):
            return None
        if text.startswith(b"<?", i):
            end = text.find(b"?>", i)
        elif text.startswith(b"<!--", i):
            end = text.find(b"-->", i)
        elif text.startswith(b"<!", i):
            return False  # <!DOCTYPE …> (or <!ENTITY …>)
        elif text.startswith(b"<", i):
            return True
        else:
            return True  # not XML at all: let the parser say so
        if end < 0:
            return None
        i = end + 2


def _workbook_facts(path: Path, archive: zipfile.ZipFile) -> tuple[bool, dict[str, str]]:
    """The 1904 flag and each sheet's XML part, from xl/workbook.xml and its rels."""
    from defusedxml import ElementTree

    try:
        root = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels_root = (
            ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
            if "xl/_rels/workbook.xml.rels" in archive.namelist()
            else None
        )
    except Exception as exc:
        raise _refuse(
            path, f"is damaged: its workbook part cannot be read ({_first_line(exc)})."
        ) from None
    date1904 = False
    for el in root.iter():
        if el.tag.endswith("}workbookPr") or el.tag == "workbookPr":
            date1904 = (el.get("date1904") or "").lower() in ("1", "true")
    targets: dict[str, str] = {}
    if rels_root is not None:
        for rel in rels_root:
            target = rel.get("Target") or ""
            if target.startswith("/"):
                member = target.lstrip("/")
            else:
                member = str(PurePosixPath("xl") / target)
            targets[rel.get("Id") or ""] = member
    parts: dict[str, str] = {}
    for el in root.iter():
        if el.tag.endswith("}sheet") or el.tag == "sheet":
            rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)
            if rid and rid in targets:
                parts[el.get("name") or ""] = targets[rid]
    return date1904, parts


def _count_rows(path: Path, member: str, limit: int) -> int:
    """How many ``<row`` elements the sheet's XML holds, stopping once past ``limit``.

    Streamed in chunks, so a sheet of any size costs little memory; it also proves the
    part decompresses to what the zip directory promised (a lying directory fails here).
    """
    patterns = (b"<row ", b"<row>", b":row ", b":row>")
    count = 0
    tail = b""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            while chunk := stream.read(4 * 1024 * 1024):
                window = tail + chunk
                count += sum(window.count(p) for p in patterns)
                tail = window[-4:]  # shorter than a pattern: nothing in it was counted
                if count > limit:
                    return count
    except KeyError:
        return 0
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise _refuse(
            path,
            f"is damaged or incomplete ({_first_line(exc)}); open it in Excel and save it "
            "again, or export it again.",
        ) from None
    return count


def _row_bound(path: Path, member: str) -> int:
    """At least as many as :func:`_count_rows` counts: every "row" in the sheet's XML
    (start and end tags, and any text that says "row"), in one pass."""
    count = 0
    tail = b""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            while chunk := stream.read(4 * 1024 * 1024):
                window = tail + chunk
                count += window.count(b"row")
                tail = window[-2:]  # shorter than "row": nothing in it was counted
    except KeyError:
        return 0
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise _refuse(
            path,
            f"is damaged or incomplete ({_first_line(exc)}); open it in Excel and save it "
            "again, or export it again.",
        ) from None
    return count


# --- .csv ---------------------------------------------------------------------------------


def _open_csv(path: Path, max_rows: int) -> SpreadsheetFile:
    raw = path.read_bytes()
    text = _decode(path, raw)
    del raw
    if not text.strip():
        raise _refuse(path, "has no rows; export the list again.")
    lines = text.count("\n") + 1
    if lines > max_rows:
        raise _refuse(
            path,
            f"has more than {max_rows:,} rows, more than Renewal Desk imports at once; "
            "split the list into smaller files.",
        )
    return SpreadsheetFile(
        path=path,
        kind="csv",
        sheet_names=[path.stem],
        max_rows=max_rows,
        _csv=(text, _delimiter(text)),
    )


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode Text"), else the
    Windows code page that Excel's plain "CSV (Comma delimited)" writes."""
    if raw.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        if encoding != "utf-8":
            raise _refuse(path, "is not readable text; export the list again.") from None
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        raise _refuse(
            path, "is not text in a known encoding; in Excel save it as 'CSV UTF-8'."
        ) from None


def _delimiter(text: str) -> str:
    """Comma, semicolon (European Excel) or tab: the one that splits the rows widest."""
    sample = [line for line in text[: 64 * 1024].splitlines()[:40] if line.strip()][:30]
    best, best_width = ",", 0
    for delimiter in (",", ";", "\t"):
        widths = [len(r) for r in csv.reader(sample, delimiter=delimiter)]
        width = max(widths, default=0)
        if width > best_width:
            best, best_width = delimiter, width
    return best


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line[:160].rstrip(".")
