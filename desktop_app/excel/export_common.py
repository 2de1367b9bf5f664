"""What every export shares: safe text, Excel's date numbers, and writing files atomically.

Three promises hold for every file Renewal Desk writes:

* **Nothing half-written.** The workbook is built in a temporary file beside the target and
  moved over it only when complete (``os.replace`` is atomic on one volume), so a failure,
  a cancel or a full disk leaves the old file as it was — the same way qutebrowser's
  ``savefile_open`` saves its config.
* **No formula runs.** A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return could be taken for a formula by a spreadsheet (CSV injection). In xlsx
  such text is written as a string cell with Excel's "quote prefix" style, so it stays
  text even when someone edits the cell; in CSV it gets a leading apostrophe.
* **One plain sentence** when the file cannot be written, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Final

from desktop_app.errors import UserFacingError

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]

FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
"""Text starting with one of these could be run as a formula by a spreadsheet."""

MAX_CELL_TEXT: Final = 32_767  # Excel's limit for one cell
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")  # … or a carriage return
_EXCEL_EPOCH: Final = date(1899, 12, 30)
EXCEL_EPOCH_ORDINAL: Final = _EXCEL_EPOCH.toordinal()
PROGRESS_EVERY: Final = 2_000  # rows between progress reports / cancel checks


class ExportFailed(UserFacingError):
    """The export file could not be written where the user asked."""


class ExportCancelled(UserFacingError):
    """The user cancelled an export; the target file was not touched."""


def is_risky(text: str) -> bool:
    """True when ``text`` would be read as a formula by some spreadsheet."""
    return text.startswith(FORMULA_PREFIXES)


def clean_text(text: str) -> str:
    """``text`` as an xlsx cell can hold it.

    No XML-illegal control characters; line breaks as Excel makes them (Alt+Enter gives a
    bare line feed — a carriage return would be stored as the escape ``_x000D_``, which
    some readers show literally); at most Excel's 32,767 characters.
    """
    if NEEDS_CLEANING.search(text) is not None:
        text = _ILLEGAL_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text if len(text) <= MAX_CELL_TEXT else text[:MAX_CELL_TEXT]


def csv_text(text: str) -> str:
    """``text`` for a CSV cell: a leading apostrophe keeps a formula-like value inert."""
    if _ILLEGAL_XML.search(text):
        text = _ILLEGAL_XML.sub("", text)
    return "'" + text if is_risky(text) else text


def excel_serial(day: date) -> int:
    """The day as Excel's 1900-system serial number (what a date cell really holds).

    Written with a date number format, it is a real date to Excel and LibreOffice; doing the
    arithmetic here is several times faster than XlsxWriter's general datetime conversion.
    """
    return (day - _EXCEL_EPOCH).days


def check_target(path: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """Refuse, before any work is done, a target that cannot become the file asked for."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        kinds = " or ".join(suffixes)
        shown = f"'{path.suffix}'" if path.suffix else "no extension"
        raise ExportFailed(
            f"The {what} is saved as {kinds}, but '{path.name}' has {shown}; "
            f"give a file name ending in {suffixes[0]}."
        )
    if path.is_dir():
        raise ExportFailed(f"'{path}' is a folder; give a file name ending in {suffixes[0]}.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ExportFailed(
            f"The folder '{parent}' does not exist; choose an existing folder for the {what}."
        )
    return path.absolute()


@contextmanager
def atomic_target(path: Path, what: str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    On any exception (including a cancel) the temporary file is removed and ``path`` is
    left exactly as it was.
    """
    folder = path.parent
    try:
        temp = _new_temp(path)
    except OSError as exc:
        raise ExportFailed(
            f"Renewal Desk may not write in the folder '{folder}' ({_why(exc)}); "
            f"choose another folder for the {what}."
        ) from exc
    try:
        yield temp
        try:
            os.replace(temp, path)
        except OSError as exc:
            raise ExportFailed(
                f"Could not save '{path}' ({_why(exc)}); if it is open in Excel or another "
                "program, close it and export again."
            ) from exc
    finally:
        if temp.exists():
            with contextlib.suppress(OSError):  # the target is safe either way
                temp.unlink()


def _new_temp(path: Path) -> Path:
    """Create an empty, uniquely named file beside ``path``.

    Unlike ``mkstemp`` (always 0600), it gets the permissions the user's umask gives any
    new file, so the finished export is as readable as one saved by Excel.
    """
    for _ in range(100):
        temp = path.with_name(f".~{path.stem}-{secrets.token_hex(4)}{path.suffix}")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temp
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover


def write_failed(path: Path, exc: OSError, what: str) -> ExportFailed:
    """The sentence for an error while writing the temporary file (disk full, say)."""
    return ExportFailed(
        f"Could not write the {what} to '{path.parent}' ({_why(exc)}); nothing was saved."
    )


def _why(exc: OSError) -> str:
    text = exc.strerror or type(exc).__name__
    return text[0].lower() + text[1:] if text else "unknown error"


TEXT, DATE, MONEY, NUMBER = range(4)
KIND_CODES: Final = {
    "text": TEXT,
    "date": DATE,
    "month": DATE,
    "money": MONEY,
    "int": NUMBER,
    "days": NUMBER,
    "pct": NUMBER,
}
"""How a column's values are written: the kinds of the column specs, reduced to four."""

RowPlan = list[tuple[int, int, Any]]
"""(column, kind code from :data:`KIND_CODES`, XlsxWriter format) for each written column."""


def row_writer(sheet: Any, plan: RowPlan, quoted: Any) -> Callable[[int, Sequence[Any]], None]:
    """A function writing one row of values with the typed XlsxWriter calls.

    It is the hot loop of every export (two million cells for 100,000 renewals), so the
    choices are made once here: text goes through ``write_string`` (never a formula; with
    the ``quoted`` quote-prefix format when it looks like one), dates as Excel serial
    numbers with their date format, money and counts through ``write_number``. ``None``
    and empty text leave the cell empty.
    """
    write_string, write_number = sheet.write_string, sheet.write_number
    needs_cleaning = NEEDS_CLEANING.search

    def write(r: int, values: Sequence[Any]) -> None:
        for c, kind, fmt in plan:
            value = values[c]
            if value is None:
                continue
            if kind == TEXT:
                if value:
                    quote = quoted if value.startswith(FORMULA_PREFIXES) else fmt
                    if needs_cleaning(value) is not None or len(value) > MAX_CELL_TEXT:
                        value = clean_text(value)
                    write_string(r, c, value, quote)
            elif kind == DATE:
                write_number(r, c, value.toordinal() - EXCEL_EPOCH_ORDINAL, fmt)
            elif kind == MONEY:
                write_number(r, c, float(value), fmt)
            else:
                write_number(r, c, value, fmt)

    return write


def discard_workbook(workbook: Any) -> None:
    """Drop a half-built workbook's temporary files without writing it."""
    for sheet in workbook.worksheets():
        handle = getattr(sheet, "row_data_fh", None)
        if handle is not None and not handle.closed:
            handle.close()
        name = getattr(sheet, "row_data_filename", None)
        if name:
            Path(name).unlink(missing_ok=True)


def os_error_of(exc: BaseException) -> OSError:
    """The operating system's error behind ``exc`` (XlsxWriter wraps it)."""
    if isinstance(exc, OSError):
        return exc
    cause = exc.__cause__ or exc.__context__
    return cause if isinstance(cause, OSError) else OSError(str(exc))


class Progress:
    """Reports progress every few thousand rows and stops the export when cancelled."""

    def __init__(
        self, total: int, progress: ProgressCallback | None, cancelled: CancelCheck | None
    ) -> None:
        self.total = total
        self._progress = progress
        self._cancelled = cancelled
        self.next_report = 0

    def check(self, done: int) -> None:
        """Call with the rows done so far; cheap enough to call on every row."""
        if done < self.next_report:
            return
        self.next_report = done + PROGRESS_EVERY
        if self._cancelled is not None and self._cancelled():
            raise ExportCancelled("The export was cancelled; no file was written.")
        if self._progress is not None:
            self._progress(done, self.total)

    def finish(self) -> None:
        if self._cancelled is not None and self._cancelled():
            raise ExportCancelled("The export was cancelled; no file was written.")
        if self._progress is not None:
            self._progress(self.total, self.total)
