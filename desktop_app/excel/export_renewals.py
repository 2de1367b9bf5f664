"""Writing the renewal list: an xlsx a CSR can filter, edit and import back, or a CSV.

The xlsx is written with XlsxWriter in constant-memory mode: each row goes to disk as soon
as the next one starts, so 100,000 renewals need a few megabytes, not a few hundred. Cells
are written with the typed methods (``write_number``, ``write_string``), never the generic
``write``, so no text is ever guessed to be a formula, a number or a link.

Layout (see :mod:`desktop_app.excel.renewal_list` for the columns):

* sheet "Renewals": bold header (editable columns in green), frozen header row, autofilter,
  widths per column, dates as real dates (mm/dd/yyyy), premiums in dollars and cents; the
  Stage and Owner columns offer drop-down lists;
* hidden sheet ``_renewal_desk``: A1 the marker text, A2 the format version, A3 the export
  time (UTC, ISO 8601) — how the importer knows its own export — and, in columns D and E,
  the stage names and usernames the drop-down lists offer.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.exceptions import FileCreateError

from desktop_app.excel.export_common import (
    KIND_CODES,
    CancelCheck,
    Progress,
    ProgressCallback,
    RowPlan,
    atomic_target,
    clean_text,
    csv_text,
    discard_workbook,
    os_error_of,
    row_writer,
    write_failed,
)
from desktop_app.excel.renewal_list import (
    COLUMNS,
    CSV_DATE_FORMAT,
    FORMAT_VERSION,
    MARKER_SHEET,
    MARKER_TEXT,
    SHEET_NAME,
    RenewalRow,
)

WHAT = "renewal list"
DATE_FORMAT = "mm/dd/yyyy"
MONEY_FORMAT = "$#,##0.00"
# Keep every cell as typed: no formulas, numbers or links guessed from text.
WORKBOOK_OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
    "default_date_format": DATE_FORMAT,
}


def write_renewal_list_xlsx(
    rows: Iterable[RenewalRow],
    total: int,
    path: Path,
    *,
    stage_names: Sequence[str] = (),
    usernames: Sequence[str] = (),
    exported_at: datetime | None = None,
    title: str = "Renewal list",
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> int:
    """Write ``rows`` (``total`` of them, for progress) to ``path``; return the rows written.

    ``path`` is replaced only when the whole workbook is written.
    """
    exported_at = exported_at or datetime.now(UTC)
    meter = Progress(total, progress, cancelled)
    with atomic_target(path, WHAT) as temp:
        workbook = xlsxwriter.Workbook(str(temp), WORKBOOK_OPTIONS)
        try:
            written = _fill_workbook(
                workbook, rows, meter, stage_names, usernames, exported_at, title
            )
            meter.finish()
        except BaseException:
            discard_workbook(workbook)
            raise
        try:
            workbook.close()
        except (FileCreateError, OSError) as exc:
            raise write_failed(path, os_error_of(exc), WHAT) from exc
    return written


def _fill_workbook(
    workbook: xlsxwriter.Workbook,
    rows: Iterable[RenewalRow],
    meter: Progress,
    stage_names: Sequence[str],
    usernames: Sequence[str],
    exported_at: datetime,
    title: str,
) -> int:
    workbook.set_properties(
        {
            "title": title,
            "author": "Renewal Desk",
            "comments": f"{MARKER_TEXT}, format {FORMAT_VERSION}",
            "created": exported_at.replace(tzinfo=None),
        }
    )
    header_read = workbook.add_format(
        {"bold": True, "bg_color": "#DCE6F1", "bottom": 1, "valign": "vcenter"}
    )
    header_edit = workbook.add_format(
        {"bold": True, "bg_color": "#D8EED2", "bottom": 1, "valign": "vcenter"}
    )
    date_fmt = workbook.add_format({"num_format": DATE_FORMAT})
    money_fmt = workbook.add_format({"num_format": MONEY_FORMAT})
    int_fmt = workbook.add_format({"num_format": "0"})
    quoted = workbook.add_format({"quote_prefix": True})

    sheet = workbook.add_worksheet(SHEET_NAME)
    marker = workbook.add_worksheet(MARKER_SHEET)
    sheet.activate()

    formats = {"date": date_fmt, "money": money_fmt, "int": int_fmt, "days": int_fmt}
    plan: RowPlan = []
    for c, col in enumerate(COLUMNS):
        fmt = formats.get(col.kind)
        sheet.set_column(c, c, col.width, fmt)
        sheet.write_string(0, c, col.header, header_edit if col.editable else header_read)
        plan.append((c, KIND_CODES[col.kind], fmt))
    sheet.set_row(0, 20)
    sheet.freeze_panes(1, 0)

    values_of = attrgetter(*(col.field for col in COLUMNS))
    write_row = row_writer(sheet, plan, quoted)
    r = 0
    for r, row in enumerate(rows, start=1):
        write_row(r, values_of(row))
        if r >= meter.next_report:
            meter.check(r)
    last_col = len(COLUMNS) - 1
    sheet.autofilter(0, 0, max(r, 1), last_col)
    sheet.set_landscape()
    sheet.repeat_rows(0)
    sheet.fit_to_pages(1, 0)
    sheet.set_paper(1)  # US Letter
    sheet.set_header(f"&L&B{title}&R&D")
    sheet.set_footer("&CPage &P of &N")

    _write_marker(marker, exported_at, stage_names, usernames)
    if r:
        _validations(sheet, r, stage_names, usernames)
    return r


def _write_marker(
    marker: Any, exported_at: datetime, stage_names: Sequence[str], usernames: Sequence[str]
) -> None:
    # Rows must go in order in constant-memory mode: lay everything out row by row.
    column_a: list[str | int] = [
        MARKER_TEXT,
        FORMAT_VERSION,
        exported_at.astimezone(UTC).isoformat(timespec="seconds"),
    ]
    labels = ("marker", "format version", "exported at (UTC)")
    height = max(len(column_a), len(stage_names) + 1, len(usernames) + 1)
    for row in range(height):
        if row < len(column_a):
            value = column_a[row]
            if isinstance(value, int):
                marker.write_number(row, 0, value)
            else:
                marker.write_string(row, 0, value)
            marker.write_string(row, 1, labels[row])
        if row == 0:
            marker.write_string(0, 3, "stages")
            marker.write_string(0, 4, "users")
            continue
        if row - 1 < len(stage_names):
            marker.write_string(row, 3, clean_text(stage_names[row - 1]))
        if row - 1 < len(usernames):
            marker.write_string(row, 4, clean_text(usernames[row - 1]))
    marker.hide()


def _validations(
    sheet: Any, last_row: int, stage_names: Sequence[str], usernames: Sequence[str]
) -> None:
    """Drop-down lists on Stage and Owner, from the lists on the hidden marker sheet."""
    for field, names, col_letter, what in (
        ("stage_name", stage_names, "D", "a pipeline stage"),
        ("next_action_owner", usernames, "E", "a Renewal Desk username"),
    ):
        if not names:
            continue
        c = next(i for i, col in enumerate(COLUMNS) if col.field == field)
        sheet.data_validation(
            1,
            c,
            last_row,
            c,
            {
                "validate": "list",
                "source": f"='{MARKER_SHEET}'!${col_letter}$2:${col_letter}${len(names) + 1}",
                "error_type": "warning",
                "error_title": "Not in the list",
                "error_message": f"Renewal Desk expects {what} here; the import will "
                "refuse a value it does not know.",
            },
        )


def write_renewal_list_csv(
    rows: Iterable[RenewalRow],
    total: int,
    path: Path,
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> int:
    """Write ``rows`` as CSV (UTF-8 with a byte-order mark, so Excel reads the accents).

    Dates are ISO (2027-03-01), premiums plain numbers (1234.50), and formula-like text is
    prefixed with an apostrophe; :func:`renewal_list.unescape_csv_text` removes it again.
    """
    meter = Progress(total, progress, cancelled)
    kinds = [(col.field, col.kind) for col in COLUMNS]
    n = 0
    with atomic_target(path, WHAT) as temp:
        try:
            with open(temp, "w", encoding="utf-8-sig", newline="") as handle:
                out = csv.writer(handle)
                out.writerow([col.header for col in COLUMNS])
                for n, row in enumerate(rows, start=1):
                    out.writerow([_csv_value(getattr(row, f), k) for f, k in kinds])
                    meter.check(n)
                meter.finish()
        except OSError as exc:
            raise write_failed(path, exc, WHAT) from exc
    return n


def _csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "text":
        return csv_text(value)
    if kind == "date":
        return value.strftime(CSV_DATE_FORMAT)
    if kind == "money":
        return str(value if isinstance(value, Decimal) else Decimal(str(value)))
    return str(value)
