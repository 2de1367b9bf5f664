"""Importing the lists agencies have: expiration lists, and our own edited renewal lists.

The steps, each a function the import wizard (or the command line) calls in turn:

1. :func:`inspect_file` — what the file is, its sheets, whether it is our own export.
2. :func:`guess_mapping` — the header row and which column holds what, each guess with
   its confidence and the synonym that matched; a saved mapping (:func:`get_mapping`)
   overrides the guesses.
3. :func:`read_file` — every row parsed and checked on its own (dates, money, policy
   numbers…), blank / subtotal / title rows skipped and counted. No database.
4. :func:`preview` — each row compared with the book: create / update / unchanged /
   rejected (with row, column and reason), nothing written.
5. :func:`commit` — the same decisions taken again inside ONE unit of work (the book may
   have changed since the preview) and written, with audit source ``import``; a failure
   or a cancel half-way leaves the database exactly as it was.

Steps 3–5 take ``progress(done, total)`` and ``cancelled()`` callbacks so a wizard can
show a progress bar and a Cancel button while running off the GUI thread.

Speed: an agency's list can have 100,000 rows. Reading parses a block of rows a column
at a time, each distinct value once (a list repeats a few carriers, lines, people and
days on every row). New accounts, policies, terms and their audit events are written
around the ORM, a table at a time — COPY on PostgreSQL (the next table's text is made
while the server still works through the previous one), executemany on SQLite — with
every value converted by its column type's own bind processor and each audit event's
JSON the very text ``json.dumps`` writes: the same rows and the same events (one per
account and per policy) as :func:`book.create_account_in` and :func:`book.add_policy_in`.
The rarer changes — a new premium, a later term renewed outside, an auto-renewal plan, an
edited renewal card — go through the services' ``*_in`` functions, each in a savepoint
so that a row the services refuse is reported as rejected instead of undoing the whole
import.

Idempotent: a row whose values are already in the book is "unchanged", so importing the
same file twice writes nothing the second time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time as clock
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Table, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AppSetting,
    AutoRenewal,
    AutoRenewalPlan,
    PipelineStage,
    Policy,
    Renewal,
    Term,
    User,
)
from desktop_app.domain import stages as stage_rules
from desktop_app.domain.enums import AuditSource, AutoRenewalState, StageKind
from desktop_app.domain.permissions import Action
from desktop_app.domain.transactions import RuleRefused
from desktop_app.errors import NotFound, RuleViolation, StaleEdit, UserFacingError
from desktop_app.excel import mapping as colmap
from desktop_app.excel import renewal_list
from desktop_app.excel import values as cells
from desktop_app.excel.reader import SpreadsheetFile, UnusableFile, open_spreadsheet
from desktop_app.services import agency, audit, auto_renewals, renewals, transactions
from desktop_app.services.unit import Actor, UnitOfWork, jsonable, read_only, unit_of_work

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
FileKind = Literal["expiration_list", "renewal_list"]

MAPPING_PREFIX = "import.mapping."
CHUNK = 2000  # rows per bulk insert, and between progress reports / cancel checks
TERM_MONTHS = 12  # a row without an effective date covers the 12 months before expiration
SQLITE_CACHE_KIB = -65536  # SQLite's page cache while a list is written (negative: KiB)


class ImportProblem(UserFacingError):
    """The file can be read but not imported as it is (no header row, a missing column)."""


class ImportCancelled(UserFacingError):
    """The person importing pressed Cancel; nothing was written."""


def _check_cancel(cancelled: CancelCheck | None) -> None:
    if cancelled is not None and cancelled():
        raise ImportCancelled("The import was cancelled; nothing was written.")


# =====================================================================================
# Results
# =====================================================================================


@dataclass(frozen=True)
class Rejection:
    """One reason a row was not imported: row number, the file's column header, why."""

    row: int
    column: str | None
    reason: str

    @property
    def message(self) -> str:
        where = f"row {self.row}, {self.column}" if self.column else f"row {self.row}"
        return f"{where}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True)
class RowChange:
    """A row that creates or changes something: what, and field → [old, new]."""

    row: int
    action: Literal["create", "update"]
    subject: str  # "The Hartford policy WC-1" or "renewal 12 (WC-1)"
    changes: dict[str, list[Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "action": self.action,
            "subject": self.subject,
            "changes": jsonable(self.changes),
        }


@dataclass(frozen=True)
class ImportResult:
    """What an import did (``committed``) or would do (a preview)."""

    file: str
    sheet: str
    kind: FileKind
    header_row: int
    mapping: dict[str, str]  # field → the file's header
    committed: bool
    created: int
    updated: int
    unchanged: int
    rejected: int
    conflicts: int
    skipped_blank: int
    skipped_totals: int
    skipped_headings: int
    accounts_created: int
    terms_recorded: int
    plans_assigned: int
    rejections: list[Rejection]
    conflict_list: list[Rejection]
    warnings: list[Rejection]
    changes: list[RowChange]
    seconds: float

    @property
    def accepted_all(self) -> bool:
        return self.rejected == 0 and self.conflicts == 0

    @property
    def skipped(self) -> int:
        return self.skipped_blank + self.skipped_totals + self.skipped_headings

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sheet": self.sheet,
            "kind": self.kind,
            "header_row": self.header_row,
            "mapping": self.mapping,
            "committed": self.committed,
            "counts": {
                "create": self.created,
                "update": self.updated,
                "unchanged": self.unchanged,
                "rejected": self.rejected,
                "conflict": self.conflicts,
                "skipped_blank": self.skipped_blank,
                "skipped_total": self.skipped_totals,
                "skipped_heading": self.skipped_headings,
            },
            "accounts_created": self.accounts_created,
            "terms_recorded": self.terms_recorded,
            "plans_assigned": self.plans_assigned,
            "rejections": [r.to_json() for r in self.rejections],
            "conflicts": [r.to_json() for r in self.conflict_list],
            "warnings": [r.to_json() for r in self.warnings],
            "changes": [c.to_json() for c in self.changes],
            "seconds": self.seconds,
        }


# =====================================================================================
# 1. What the file is
# =====================================================================================


@dataclass(frozen=True)
class FileInfo:
    path: str
    kind: str  # "xlsx" or "csv"
    sheets: list[str]  # visible sheets, in workbook order
    default_sheet: str
    is_renewal_list: bool
    date1904: bool


def _marker_sheet(sf: SpreadsheetFile) -> str | None:
    for name in sf.all_sheets:
        if name == renewal_list.MARKER_SHEET:
            return name
    return None


def _default_sheet(sf: SpreadsheetFile) -> str:
    if _marker_sheet(sf) is not None:
        for name in sf.sheet_names:
            if name == renewal_list.SHEET_NAME:
                return name
    return sf.default_sheet()


def inspect_file(path: str | Path) -> FileInfo:
    """Open the file and say what it is; raises :class:`UnusableFile` when it cannot be read."""
    with open_spreadsheet(path) as sf:
        return FileInfo(
            path=str(sf.path),
            kind=sf.kind,
            sheets=list(sf.sheet_names),
            default_sheet=_default_sheet(sf),
            is_renewal_list=_marker_sheet(sf) is not None
            or _is_renewal_header(_first_rows(sf, _default_sheet(sf))),
            date1904=sf.date1904,
        )


def _first_rows(sf: SpreadsheetFile, sheet: str) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for row in sf.rows(sheet):
        rows.append(row)
        if len(rows) >= colmap.HEADER_SCAN_ROWS:
            break
    return rows


_ID_NORM = colmap.normalize_header(renewal_list.ID_HEADER)
_VERSION_NORM = colmap.normalize_header(renewal_list.VERSION_HEADER)


def _renewal_header_at(rows: list[list[Any]]) -> int | None:
    for i, row in enumerate(rows):
        names = {colmap.normalize_header(v) for v in row}
        if _ID_NORM in names and _VERSION_NORM in names:
            return i
    return None


def _is_renewal_header(rows: list[list[Any]]) -> bool:
    return _renewal_header_at(rows) is not None


# =====================================================================================
# 2. Which column holds what
# =====================================================================================


@dataclass(frozen=True)
class MappingGuess:
    """The header row found and the guess for each column, for the wizard's mapping page."""

    sheet: str
    header_row: int  # 1-based row number in the sheet
    columns: list[colmap.ColumnGuess]
    mapping: dict[str, str]  # field → header text: what save_mapping stores
    missing_required: list[str]  # labels of required fields no column holds
    is_renewal_list: bool


def fields() -> list[colmap.FieldSpec]:
    """The fields a column can be mapped to (for the wizard's drop-downs)."""
    return list(colmap.FIELDS)


def guess_mapping(
    path: str | Path, *, sheet: str | None = None, saved: Mapping[str, str | None] | None = None
) -> MappingGuess:
    """Find the header row of ``sheet`` and guess each column's field."""
    with open_spreadsheet(path) as sf:
        name = sf.sheet(sheet) if sheet else _default_sheet(sf)
        rows = _first_rows(sf, name)
        return _guess(sf, name, rows, saved)


def _guess(
    sf: SpreadsheetFile,
    sheet: str,
    rows: list[list[Any]],
    saved: Mapping[str, str | None] | None,
) -> MappingGuess:
    if not any(any(not cells.is_blank(v) for v in row) for row in rows):
        raise UnusableFile(
            f"The sheet '{sheet}' in {sf.path.name} is empty; choose the sheet that holds the list."
            if sf.kind == "xlsx"
            else f"{sf.path.name} has no rows; export the list again."
        )
    at = _renewal_header_at(rows)
    if at is not None and (_marker_sheet(sf) is not None or sf.kind == "csv" or not saved):
        headers = [cells.clean_text(v) or "" for v in rows[at]]
        columns = [
            colmap.ColumnGuess(i, h, _EDIT_FIELDS.get(colmap.normalize_header(h)), 1.0, h)
            for i, h in enumerate(headers)
        ]
        return MappingGuess(
            sheet,
            at + 1,
            columns,
            {c.field: c.header for c in columns if c.field},
            [],
            True,
        )
    at = colmap.find_header_row(rows, saved)
    if at is None:
        raise ImportProblem(
            f"No header row was found in the first {colmap.HEADER_SCAN_ROWS} rows of sheet "
            f"'{sheet}' of {sf.path.name}; the list needs a row naming its columns, such as "
            "'Policy #', 'Carrier' and 'Exp Date'."
        )
    columns = colmap.guess_columns(rows[at], saved)
    found = {c.field for c in columns if c.field}
    missing = [f.label for f in colmap.FIELDS if f.required and f.key not in found]
    mapped = {c.field: c.header for c in columns if c.field}
    for key, header in (saved or {}).items():
        if header is None or header == "":
            mapped.setdefault(key, "")  # explicitly not imported
    return MappingGuess(sheet, at + 1, columns, mapped, missing, False)


# The renewal list's columns: normalized header → the RenewalRow field it holds.
_EDIT_FIELDS: dict[str, str] = {
    colmap.normalize_header(c.header): c.field for c in renewal_list.COLUMNS
}
_EDITABLE: tuple[str, ...] = renewal_list.EDITABLE_FIELDS


# --- saved mappings ------------------------------------------------------------------


def _mapping_key(name: str) -> str:
    clean = (name or "").strip()
    if not clean or len(MAPPING_PREFIX) + len(clean) > 80:
        raise RuleViolation(
            f"'{name}' cannot name a mapping; use 1 to {80 - len(MAPPING_PREFIX)} characters."
        )
    return MAPPING_PREFIX + clean


def list_mappings(db: Database) -> list[str]:
    """Names of the saved import mappings, alphabetically."""
    with db.read_session() as session:
        keys = session.scalars(
            select(AppSetting.key).where(AppSetting.key.startswith(MAPPING_PREFIX))
        )
        return sorted((k[len(MAPPING_PREFIX) :] for k in keys), key=str.casefold)


def get_mapping(db: Database, name: str) -> dict[str, str | None]:
    """A saved mapping: field → the header it reads (None: that field is not imported)."""
    with db.read_session() as session:
        return _mapping_in(session, name)


def _mapping_in(session: Session, name: str) -> dict[str, str | None]:
    row = session.get(AppSetting, _mapping_key(name))
    if row is None:
        names = [
            k[len(MAPPING_PREFIX) :]
            for k in session.scalars(
                select(AppSetting.key).where(AppSetting.key.startswith(MAPPING_PREFIX))
            )
        ]
        known = f"; the saved ones are {', '.join(sorted(names))}" if names else ""
        raise NotFound(f"There is no saved import mapping named '{name.strip()}'{known}.")
    value = row.value if isinstance(row.value, dict) else json.loads(row.value)
    return {k: v for k, v in dict(value.get("fields", {})).items() if k in colmap.FIELD_BY_KEY}


def save_mapping(db: Database, actor: Actor, name: str, mapping: Mapping[str, str | None]) -> None:
    """Save ``mapping`` (field → header text; None or "" = do not import) under ``name``
    for the next import from the same source. Anyone who may import may save one."""
    unknown = set(mapping) - set(colmap.FIELD_BY_KEY)
    if unknown:
        raise RuleViolation(
            f"A mapping cannot name {', '.join(sorted(unknown))}; the fields are "
            f"{', '.join(colmap.FIELD_BY_KEY)}."
        )
    key = _mapping_key(name)
    value = {"fields": {k: (v or None) for k, v in mapping.items()}}
    with unit_of_work(db, actor) as uow:
        uow.require(Action.IMPORT_RUN)
        row = uow.session.get(AppSetting, key)
        old = None if row is None else row.value
        if old == value:
            return
        if row is None:
            uow.session.add(AppSetting(key=key, value=value))
        else:
            row.value = value
        uow.audit("import.mapping.save", "app_settings", None, {key: [old, value]})


# =====================================================================================
# 3. Reading and checking every row (no database)
# =====================================================================================


@dataclass(slots=True)
class ListRow:
    """One row of an expiration list, parsed; None = the file does not say."""

    row: int
    policy_number: str
    carrier: str
    expiration: date
    insured: str | None = None
    effective: date | None = None
    line_of_business: str | None = None
    premium: Decimal | None = None
    producer: str | None = None
    csr: str | None = None
    office: str | None = None
    plan: str | None = None


@dataclass(slots=True)
class EditRow:
    """One row of our own renewal list: which renewal, the version exported, the edits."""

    row: int
    renewal_id: int
    version: int
    values: dict[str, Any]  # editable field → value (None = the cell is empty)


@dataclass
class ParsedFile:
    """A file read and checked row by row; :func:`preview` and :func:`commit` take it."""

    path: Path
    sheet: str
    kind: FileKind
    header_row: int
    headers: list[str]
    mapping: dict[str, str]  # field → header
    records: list[Any]  # ListRow or EditRow
    rejections: list[Rejection]
    skipped_blank: int = 0
    skipped_totals: int = 0
    skipped_headings: int = 0
    rows_read: int = 0


_LIMITS = {"policy_number": 60, "carrier": 120, "insured": 200, "office": 80, "plan": 120}


def read_file(
    path: str | Path,
    *,
    sheet: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> ParsedFile:
    """Read every row of ``sheet`` and check each on its own: values parse, required
    values are there, a policy is listed once. Raises :class:`UnusableFile` or
    :class:`ImportProblem` when the file as a whole cannot be imported."""
    with open_spreadsheet(path) as sf:
        name = sf.sheet(sheet) if sheet else _default_sheet(sf)
        rows = sf.rows(name)
        total = max(sf.estimated_rows(name), 1)
        head: list[list[Any]] = []
        for row in rows:
            head.append(row)
            if len(head) >= colmap.HEADER_SCAN_ROWS:
                break
        guess = _guess(sf, name, head, mapping)
        # the stream starts with the header row itself (offset 0)
        stream = _chain(head[guess.header_row - 1 :], rows)
        first = guess.header_row
        headers = [c.header for c in guess.columns]
        if guess.is_renewal_list:
            return _read_edits(sf, name, guess, headers, stream, first, total, progress, cancelled)
        if guess.missing_required:
            missing = guess.missing_required
            specs = [f for f in colmap.FIELDS if f.label in missing]
            examples = "; ".join(
                f"{s.label} (e.g. {', '.join(repr(x) for x in s.synonyms[:3])})" for s in specs
            )
            raise ImportProblem(
                f"Sheet '{name}' of {sf.path.name} has no column for {examples}; rename the "
                "column or choose it in the mapping."
            )
        return _read_list(sf, name, guess, headers, stream, first, total, progress, cancelled)


def _chain(head: list[list[Any]], rest: Iterator[list[Any]]) -> Iterator[list[Any]]:
    yield from head
    yield from rest


class _RowReader:
    """Helpers shared by both kinds of list: one row's cells by field, problems noted."""

    def __init__(self, headers: list[str], columns: dict[str, int], row_no: int) -> None:
        self.headers = headers
        self.columns = columns
        self.row_no = row_no
        self.problems: list[Rejection] = []
        self.values: list[Any] = []

    def header(self, key: str) -> str:
        i = self.columns.get(key)
        if i is not None and i < len(self.headers) and self.headers[i]:
            return self.headers[i]
        spec = colmap.FIELD_BY_KEY.get(key)
        return spec.label if spec else key

    def raw(self, key: str) -> Any:
        i = self.columns.get(key)
        if i is None or i >= len(self.values):
            return None
        value = self.values[i]
        return None if isinstance(value, str) and not value.strip() else value

    def fail(self, key: str, reason: str) -> None:
        self.problems.append(Rejection(self.row_no, self.header(key), reason))

    def parse(self, key: str, parser: Callable[[Any], Any]) -> Any:
        value = self.raw(key)
        if value is None or value == "":
            return None
        try:
            return parser(value)
        except cells.BadValue as exc:
            self.fail(key, str(exc))
            return None

    def text(self, key: str) -> str | None:
        value = cells.clean_text(self.raw(key))
        limit = _LIMITS.get(key)
        if value is not None and limit is not None and len(value) > limit:
            self.fail(key, f"'{value[:30]}…' is longer than {limit} characters")
            return None
        return value


def _read_list(
    sf: SpreadsheetFile,
    sheet: str,
    guess: MappingGuess,
    headers: list[str],
    stream: Iterable[list[Any]],
    first_row: int,
    total: int,
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
) -> ParsedFile:
    columns = colmap.mapping_of(guess.columns)
    parsed = ParsedFile(
        path=sf.path,
        sheet=sheet,
        kind="expiration_list",
        header_row=guess.header_row,
        headers=headers,
        mapping={k: v for k, v in guess.mapping.items() if v},
        records=[],
        rejections=[],
    )
    seen: dict[tuple[str, str], int] = {}
    date1904 = sf.date1904

    def as_date(value: Any) -> date | None:
        return cells.parse_date(value, date1904=date1904)

    def negative_checked(value: Any) -> Decimal | None:
        amount = cells.parse_money(value)
        if amount is not None and amount < 0:
            raise cells.BadValue(f"{cells.shown(value)} is negative; a premium cannot be")
        return amount

    parsers: dict[str, Callable[[Any], Any]] = {
        "policy_number": _limited(cells.parse_policy_number, 60),
        "carrier": _limited(cells.clean_text, _LIMITS["carrier"]),
        "expiration": as_date,
        "effective": as_date,
        "line_of_business": cells.parse_line_of_business,
        "premium": negative_checked,
        "insured": _limited(cells.clean_text, _LIMITS["insured"]),
        "producer": cells.clean_text,
        "csr": cells.clean_text,
        "office": _limited(cells.clean_text, _LIMITS["office"]),
        "plan": _limited(cells.clean_text, _LIMITS["plan"]),
    }
    # (field, column position, parser, the file's header) for the mapped fields
    plan = [
        (key, columns[key], parser, headers[columns[key]] or colmap.FIELD_BY_KEY[key].label)
        for key, parser in parsers.items()
        if key in columns
    ]
    header_of = {key: header for key, _, _, header in plan}

    def header(key: str) -> str:
        return header_of.get(key) or colmap.FIELD_BY_KEY[key].label

    classify = colmap.row_classifier(columns, headers)
    data, blank, totals = colmap.DATA, colmap.BLANK, colmap.TOTAL
    records, rejections = parsed.records, parsed.rejections
    fields = {key: (i, head, _Column(parser)) for key, i, parser, head in plan}
    need = max(i for i, _, _ in fields.values()) + 1
    carrier_keys: dict[str, str] = {}
    rows_read = 0
    for start, block in _blocks(stream, CHUNK):
        _check_cancel(cancelled)
        if progress is not None:
            progress(min(first_row + start, total), total)
        if start == 0:
            block, start = block[1:], 1  # the header row itself
        rows_read += len(block)
        # Blank, subtotal and heading rows are counted and left out.
        rows: list[list[Any]] = []
        numbers: list[int] = []
        for row_no, values in enumerate(block, first_row + start):
            kind = classify(values)
            if kind == data:
                rows.append(values)
                numbers.append(row_no)
            elif kind == blank:
                parsed.skipped_blank += 1
            elif kind == totals:
                parsed.skipped_totals += 1
            else:
                parsed.skipped_headings += 1
        if not rows:
            continue
        # Each column of the block parsed at once: every distinct value once.
        if any(len(values) < need for values in rows):  # a CSV row cut short
            rows = [v if len(v) >= need else [*v, *([None] * (need - len(v)))] for v in rows]
        by_column = list(zip(*rows, strict=False))
        got: dict[str, list[Any]] = {}
        problems_at: dict[int, list[Rejection]] = {}
        for key, (i, head, column) in fields.items():  # in the order rows are checked
            results, refused = column.parse(by_column[i])
            got[key] = results
            for j in refused:
                problems_at.setdefault(j, []).append(Rejection(numbers[j], head, results[j].reason))
        for j, (row_no, number, carrier, expiration, *rest) in enumerate(
            zip(numbers, *(got.get(key, _NONE) for key in _ROW_FIELDS), strict=False)
        ):
            problems = problems_at.get(j)
            if problems is not None or number is None or carrier is None or expiration is None:
                problems = problems or []
                failed = {p.column for p in problems}
                for key, value in (
                    ("policy_number", number),
                    ("carrier", carrier),
                    ("expiration", expiration),
                ):
                    if value is None and header(key) not in failed:
                        problems.append(
                            Rejection(
                                row_no, header(key), f"is empty; every row needs its {_noun(key)}"
                            )
                        )
            effective = rest[1]
            if not problems and effective is not None and not effective < expiration:
                problems = [
                    Rejection(
                        row_no,
                        header("effective"),
                        f"{effective:%m/%d/%Y} is not before the expiration "
                        f"({expiration:%m/%d/%Y})",
                    )
                ]
            if problems:
                rejections.extend(problems)
                continue
            carrier_key = carrier_keys.get(carrier)
            if carrier_key is None:
                carrier_key = carrier_keys[carrier] = policy_key(carrier, "")[0]
            key = (carrier_key, number.strip())
            if key in seen:
                rejections.append(
                    Rejection(
                        row_no,
                        header("policy_number"),
                        f"{carrier} policy {number} is also on row "
                        f"{seen[key]}; only row {seen[key]} is imported",
                    )
                )
                continue
            seen[key] = row_no
            records.append(ListRow(row_no, number, carrier, expiration, *rest))
    parsed.rows_read = rows_read
    if progress is not None:
        progress(total, total)
    return parsed


# ListRow's fields after the row number, in order; a field the file lacks is None throughout.
_ROW_FIELDS = (
    "policy_number",
    "carrier",
    "expiration",
    "insured",
    "effective",
    "line_of_business",
    "premium",
    "producer",
    "csr",
    "office",
    "plan",
)
_NONE = itertools.repeat(None)


def _blocks(rows: Iterable[list[Any]], size: int) -> Iterator[tuple[int, list[list[Any]]]]:
    """``rows`` in lists of ``size``, each with the position of its first row."""
    iterator = iter(rows)
    start = 0
    while block := list(itertools.islice(iterator, size)):
        yield start, block
        start += len(block)


class _Refused:
    """A value a parser refused, remembered with its reason."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


MEMO_SIZE = 4096  # distinct values of a column remembered at most (then forgotten)
_BLANKS: dict[tuple[type, Any], Any] = {(type(None), None): None, (str, ""): None}


class _Column:
    """One column's parser, run once per distinct value of the column.

    A list repeats the same few carriers, lines, people and days on every row, so each
    is parsed once and looked up after that. Values are told apart by type as well (1,
    1.0 and True are equal in Python but parse differently). A column whose values
    hardly repeat (policy numbers) is parsed value by value instead, and what a column
    remembers is forgotten past :data:`MEMO_SIZE` values.
    """

    __slots__ = ("memo", "parser", "refused", "unique")

    def __init__(self, parser: Callable[[Any], Any]) -> None:
        self.parser = parser
        self.memo: dict[tuple[type, Any], Any] = dict(_BLANKS)
        self.refused: set[tuple[type, Any]] = set()
        self.unique = 0  # blocks to parse value by value (the values hardly repeat)

    def parse(self, values: Sequence[Any]) -> tuple[list[Any], list[int]]:
        """Each value parsed (None for an empty cell, a :class:`_Refused` for a value the
        parser refused), and the positions of the refused ones."""
        if self.unique:
            self.unique -= 1
            return self._each(values)
        if 0.0 in values:  # -0.0 == 0.0, yet "-0.00" is not "0.00": no remembering
            return self._each(values)
        keys = list(zip(map(type, values), values, strict=True))
        memo = self.memo
        if len(memo) > MEMO_SIZE:
            memo.clear()
            memo.update(_BLANKS)
            self.refused.clear()
        try:
            new = set(keys).difference(memo)
        except TypeError:  # a value that cannot be remembered
            return self._each(values)
        if len(new) * 2 > len(keys):
            self.unique = 8  # look again after eight blocks
        for key in new:
            result = memo[key] = _parse_cell(self.parser, key[1])
            if type(result) is _Refused:
                self.refused.add(key)
        results = list(map(memo.__getitem__, keys))
        if not self.refused or self.refused.isdisjoint(keys):
            return results, []
        return results, [j for j, r in enumerate(results) if type(r) is _Refused]

    def _each(self, values: Sequence[Any]) -> tuple[list[Any], list[int]]:
        parser = self.parser
        results: list[Any] = []
        refused: list[int] = []
        for value in values:
            if value is None or value == "":
                results.append(None)
                continue
            try:
                results.append(parser(value))
            except cells.BadValue as exc:
                refused.append(len(results))
                results.append(_Refused(str(exc)))
        return results, refused


def _parse_cell(parser: Callable[[Any], Any], value: Any) -> Any:
    """The parsed value, or a :class:`_Refused` with the parser's reason."""
    try:
        return parser(value)
    except cells.BadValue as exc:
        return _Refused(str(exc))


def _limited(parser: Callable[[Any], str | None], limit: int) -> Callable[[Any], str | None]:
    """``parser`` refusing text longer than the database column holds."""

    def parse(value: Any) -> str | None:
        text = parser(value)
        if text is not None and len(text) > limit:
            raise cells.BadValue(f"'{text[:30]}…' is longer than {limit} characters")
        return text

    return parse


def _noun(key: str) -> str:
    return {
        "policy_number": "policy number",
        "carrier": "carrier",
        "expiration": "expiration date",
    }[key]


def policy_key(carrier: str, policy_number: str) -> tuple[str, str]:
    """How a policy is recognised: the carrier without regard to case or spacing, and the
    policy number as written, trimmed."""
    return (" ".join(carrier.split()).casefold(), policy_number.strip())


def _read_edits(
    sf: SpreadsheetFile,
    sheet: str,
    guess: MappingGuess,
    headers: list[str],
    stream: Iterable[list[Any]],
    first_row: int,
    total: int,
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
) -> ParsedFile:
    columns = {c.field: c.column for c in guess.columns if c.field}
    parsed = ParsedFile(
        path=sf.path,
        sheet=sheet,
        kind="renewal_list",
        header_row=guess.header_row,
        headers=headers,
        mapping=dict(guess.mapping),
        records=[],
        rejections=[],
    )
    csv_file = sf.kind == "csv"
    kinds = {c.field: c.kind for c in renewal_list.COLUMNS}
    date1904 = sf.date1904
    seen: dict[int, int] = {}
    reader = _RowReader(headers, columns, 0)
    for offset, values in enumerate(stream):
        row_no = first_row + offset
        if offset % CHUNK == 0:
            _check_cancel(cancelled)
            if progress is not None:
                progress(min(row_no, total), total)
        if offset == 0:
            continue
        parsed.rows_read += 1
        if all(cells.is_blank(v) for v in values):
            parsed.skipped_blank += 1
            continue
        reader.row_no, reader.values, reader.problems = row_no, values, []
        renewal_id = reader.parse("id", lambda v: cells.parse_int(v, "a renewal id"))
        version = reader.parse("version", lambda v: cells.parse_int(v, "a version number"))
        for key, value in (("id", renewal_id), ("version", version)):
            if value is None and not reader.problems:
                reader.fail(key, "is empty; leave the Renewal ID and Version columns as exported")
        edits: dict[str, Any] = {}
        for name in _EDITABLE:
            if name not in columns:
                continue
            raw = reader.raw(name)
            if kinds[name] == "date":
                edits[name] = reader.parse(name, lambda v: cells.parse_date(v, date1904=date1904))
            else:
                text = None if raw is None else str(raw) if not isinstance(raw, str) else raw
                if text is not None and csv_file:
                    text = renewal_list.unescape_csv_text(text)
                # notes keep their line breaks; one-line fields lose stray spaces
                edits[name] = (
                    (text or "").strip() or None if name == "notes" else cells.clean_text(text)
                )
        if reader.problems:
            parsed.rejections.extend(reader.problems)
            continue
        assert renewal_id is not None and version is not None
        if renewal_id in seen:
            parsed.rejections.append(
                Rejection(
                    row_no,
                    reader.header("id"),
                    f"renewal {renewal_id} is also on row {seen[renewal_id]}; only row "
                    f"{seen[renewal_id]} is imported",
                )
            )
            continue
        seen[renewal_id] = row_no
        parsed.records.append(EditRow(row_no, renewal_id, version, edits))
    if progress is not None:
        progress(total, total)
    return parsed


# =====================================================================================
# 4./5. Comparing with the book, and writing
# =====================================================================================


def preview(
    db: Database,
    actor: Actor,
    parsed: ParsedFile,
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> ImportResult:
    """What committing ``parsed`` would do, row by row; nothing is written."""
    started = clock.perf_counter()
    with read_only(db, actor) as uow:
        uow.require(Action.IMPORT_RUN)
        if parsed.kind == "renewal_list":
            outcome = _EditPlanner(uow, parsed).run(write=False, cancelled=cancelled)
        else:
            outcome = _ListPlanner(uow, parsed, progress, cancelled).plan()
        uow.session.rollback()
    return outcome.result(parsed, committed=False, seconds=clock.perf_counter() - started)


def commit(
    db: Database,
    actor: Actor,
    parsed: ParsedFile,
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> ImportResult:
    """Write every accepted row of ``parsed`` in one unit of work (audit source
    ``import``); the rows are compared with the book again first, as it may have changed
    since the preview. Cancelling, or any failure, leaves the database as it was."""
    started = clock.perf_counter()
    actor = replace(actor, source=AuditSource.IMPORT)
    with unit_of_work(db, actor) as uow:
        uow.require(Action.IMPORT_RUN)
        if parsed.kind == "renewal_list":
            outcome = _EditPlanner(uow, parsed).run(write=True, cancelled=cancelled)
        else:
            planner = _ListPlanner(uow, parsed, progress, cancelled)
            outcome = planner.plan()
            planner.write(outcome)
        uow.audit(
            "import.run",
            "imports",
            None,
            {
                "file": [None, parsed.path.name],
                "sheet": [None, parsed.sheet],
                "kind": [None, parsed.kind],
                "counts": [None, outcome.counts()],
            },
        )
        _check_cancel(cancelled)
    return outcome.result(parsed, committed=True, seconds=clock.perf_counter() - started)


def import_file(
    db: Database,
    actor: Actor,
    path: str | Path,
    *,
    sheet: str | None = None,
    mapping_name: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> ImportResult:
    """Read, check and (unless ``dry_run``) write a file: the command line's whole import.

    ``mapping_name`` loads a saved mapping; ``mapping`` (field → header) overrides it.
    """
    chosen: dict[str, str | None] = {}
    if mapping_name:
        chosen = get_mapping(db, mapping_name)
    chosen.update(mapping or {})
    parsed = read_file(path, sheet=sheet, mapping=chosen or None, cancelled=cancelled)
    if dry_run:
        return preview(db, actor, parsed, progress=progress, cancelled=cancelled)
    return commit(db, actor, parsed, progress=progress, cancelled=cancelled)


@dataclass
class _Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accounts_created: int = 0
    terms_recorded: int = 0
    plans_assigned: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    conflicts: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)
    changes: list[RowChange] = field(default_factory=list)
    plans: list[_RowPlan] = field(default_factory=list)  # expiration lists: what to write

    def counts(self) -> dict[str, int]:
        return {
            "create": self.created,
            "update": self.updated,
            "unchanged": self.unchanged,
            "rejected": len({r.row for r in self.rejections}),
            "conflict": len(self.conflicts),
        }

    def result(self, parsed: ParsedFile, *, committed: bool, seconds: float) -> ImportResult:
        rejections = sorted(
            [*parsed.rejections, *self.rejections], key=lambda r: (r.row, r.column or "")
        )
        return ImportResult(
            file=str(parsed.path),
            sheet=parsed.sheet,
            kind=parsed.kind,
            header_row=parsed.header_row,
            mapping=dict(parsed.mapping),
            committed=committed,
            created=self.created,
            updated=self.updated,
            unchanged=self.unchanged,
            rejected=len({r.row for r in rejections}),
            conflicts=len(self.conflicts),
            skipped_blank=parsed.skipped_blank,
            skipped_totals=parsed.skipped_totals,
            skipped_headings=parsed.skipped_headings,
            accounts_created=self.accounts_created,
            terms_recorded=self.terms_recorded,
            plans_assigned=self.plans_assigned,
            rejections=rejections,
            conflict_list=sorted(self.conflicts, key=lambda r: r.row),
            warnings=sorted(self.warnings, key=lambda r: r.row),
            changes=sorted(self.changes, key=lambda c: c.row),
            seconds=round(seconds, 3),
        )


# --- expiration lists ------------------------------------------------------------------


def nearest_day(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar day whose midnight (in ``tz``) is nearest to ``moment``.

    Term boundaries are midnights; taking the nearest one (rather than the date the
    moment falls on) keeps a term written at midnight UTC — before the agency set its
    time zone, say — on the same calendar day as the list's date.
    """
    return (moment.astimezone(tz) + timedelta(hours=12)).date()


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), clamped to the end of a short month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


@dataclass(slots=True)
class _KnownPolicy:
    id: int
    account_id: int
    policy_number: str
    carrier: str
    line_of_business: str
    office: str | None
    terms: list[tuple[datetime, datetime, Decimal | None, int]]  # (start, end, premium, id)


@dataclass(slots=True)
class _KnownAccount:
    id: int
    name: str
    producer_id: int | None
    csr_id: int | None
    plan_id: int | None


@dataclass(slots=True)
class _RowPlan:
    row: ListRow
    action: Literal["create", "update"]
    subject: str
    changes: dict[str, list[Any]]
    policy_id: int | None = None
    account_id: int | None = None  # existing account (create: the one to attach to)
    new_account: str | None = None  # create: the normalized name of a new account
    start: datetime | None = None
    end: datetime | None = None
    later_term: bool = False
    term_id: int | None = None  # same-term premium change: the term
    premium: Decimal | None = None
    policy_fields: dict[str, Any] = field(default_factory=dict)
    account_fields: dict[str, Any] = field(default_factory=dict)
    plan: str | None = None  # assign this plan to the account


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


class _ListPlanner:
    """Decides create / update / unchanged / rejected for each row of an expiration list,
    from one snapshot of the book taken in the caller's transaction."""

    def __init__(
        self,
        uow: UnitOfWork,
        parsed: ParsedFile,
        progress: ProgressCallback | None,
        cancelled: CancelCheck | None,
    ) -> None:
        self.uow = uow
        self.session = uow.session
        self.parsed = parsed
        self.progress = progress
        self.cancelled = cancelled
        self.tz = agency.time_zone(self.session)
        self._day_starts: dict[date, datetime] = {}
        self._carriers: dict[str, str] = {}
        self._term_before: dict[date, date] = {}  # expiration → a term's start 12 months before
        self._found: dict[str, tuple[int, str] | None] = {}  # a name in the file → user

    def at(self, day: date) -> datetime:
        moment = self._day_starts.get(day)
        if moment is None:
            moment = self._day_starts[day] = agency.day_start(day, self.tz)
        return moment

    def _key(self, carrier: str, policy_number: str) -> tuple[str, str]:
        """:func:`policy_key`, each carrier's spelling normalised once."""
        norm = self._carriers.get(carrier)
        if norm is None:
            norm = self._carriers[carrier] = policy_key(carrier, "")[0]
        return (norm, policy_number.strip())

    # -- the snapshot ---------------------------------------------------------------

    def _load(self) -> None:
        s = self.session
        self.people: dict[str, tuple[int, str]] = {}
        by_full: dict[str, list[tuple[int, str]]] = {}
        for uid, username, full_name in s.execute(
            select(User.id, User.username, User.full_name).where(User.active.is_(True))
        ):
            self.people[username.casefold()] = (uid, username)
            by_full.setdefault(_name_key(full_name or ""), []).append((uid, username))
        for name, found in by_full.items():
            if len(found) == 1 and name:
                self.people.setdefault(name, found[0])
        self.usernames = {uid: username for uid, username in self.people.values()}
        self.plans = {
            _name_key(name): (pid, name)
            for pid, name in s.execute(select(AutoRenewalPlan.id, AutoRenewalPlan.name))
        }
        self.plan_names = {pid: name for pid, name in self.plans.values()}
        self.keys = [self._key(r.carrier, r.policy_number) for r in self.parsed.records]
        wanted = set(self.keys)
        ids: dict[tuple[str, str], int] = {}
        for pid, carrier, number in s.execute(
            select(Policy.id, Policy.carrier, Policy.policy_number)
        ):
            key = self._key(carrier, number)
            if key in wanted:
                ids[key] = pid
        self.policy_ids = ids
        self.policies: dict[int, _KnownPolicy] = {}
        id_list = sorted(ids.values())
        for chunk in _chunks(id_list, 900):
            for p in s.execute(
                select(
                    Policy.id,
                    Policy.account_id,
                    Policy.policy_number,
                    Policy.carrier,
                    Policy.line_of_business,
                    Policy.office,
                ).where(Policy.id.in_(chunk))
            ):
                self.policies[p.id] = _KnownPolicy(
                    p.id, p.account_id, p.policy_number, p.carrier, p.line_of_business, p.office, []
                )
            for t in s.execute(
                select(Term.policy_id, Term.start_at, Term.end_at, Term.premium, Term.id).where(
                    Term.policy_id.in_(chunk)
                )
            ):
                self.policies[t.policy_id].terms.append((t.start_at, t.end_at, t.premium, t.id))
        for p in self.policies.values():
            p.terms.sort(key=lambda t: t[1])
        self.dnr = set(
            s.scalars(
                select(AutoRenewal.policy_id).where(
                    AutoRenewal.state == AutoRenewalState.DO_NOT_RENEW
                )
            )
        )
        self.accounts: dict[int, _KnownAccount] = {}
        self.account_by_name: dict[str, int] = {}
        for a in s.execute(
            select(
                Account.id,
                Account.name,
                Account.producer_id,
                Account.csr_id,
                Account.auto_renewal_plan_id,
            ).order_by(Account.id)
        ):
            self.accounts[a.id] = _KnownAccount(
                a.id, a.name, a.producer_id, a.csr_id, a.auto_renewal_plan_id
            )
            self.account_by_name.setdefault(_name_key(a.name), a.id)

    # -- deciding ---------------------------------------------------------------------

    def plan(self) -> _Outcome:
        self._load()
        out = _Outcome()
        # account-level values wanted by the file: account → field → (row, value)
        self.wanted: dict[Any, dict[str, tuple[int, Any, str]]] = {}
        self.new_accounts: dict[str, dict[str, Any]] = {}
        for i, (record, key) in enumerate(zip(self.parsed.records, self.keys, strict=True)):
            if i % CHUNK == 0:
                _check_cancel(self.cancelled)
            problems: list[Rejection] = []
            plan = self._decide(record, key, problems, out)
            if problems:
                out.rejections.extend(problems)
            elif plan is None:
                out.unchanged += 1
            else:
                out.plans.append(plan)
                if plan.action == "create":
                    out.created += 1
                    continue
                out.updated += 1
                out.changes.append(RowChange(record.row, plan.action, plan.subject, plan.changes))
        out.accounts_created = len({p.new_account for p in out.plans if p.new_account is not None})
        out.terms_recorded = sum(1 for p in out.plans if p.later_term)
        out.plans_assigned = len(
            {(p.account_id, p.new_account) for p in out.plans if p.plan is not None}
        )
        return out

    def _header(self, key: str) -> str:
        header = self.parsed.mapping.get(key)
        return header or colmap.FIELD_BY_KEY[key].label

    def _person(
        self, record: ListRow, key: str, name: str | None, problems: list[Rejection]
    ) -> int | None:
        if name is None:
            return None
        found = self._found.get(name, False)
        if found is False:
            found = self._found[name] = self.people.get(name.casefold()) or self.people.get(
                _name_key(name)
            )
        if found is None:
            problems.append(
                Rejection(
                    record.row,
                    self._header(key),
                    f"'{name}' is not a Renewal Desk user; add the user first or correct the name",
                )
            )
            return None
        return found[0]

    def _plan_name(self, record: ListRow, problems: list[Rejection]) -> tuple[int, str] | None:
        if record.plan is None:
            return None
        found = self.plans.get(_name_key(record.plan))
        if found is None:
            known = ", ".join(sorted(self.plan_names.values())) or "none yet"
            problems.append(
                Rejection(
                    record.row,
                    self._header("plan"),
                    f"'{record.plan}' is not an auto-renewal plan (the plans are: {known})",
                )
            )
        return found

    def _want(
        self, account: Any, record: ListRow, name: str, value: Any, shown: str, out: _Outcome
    ) -> tuple[int, Any, str]:
        """Account-level values (producer, CSR, plan): the first row naming the account
        decides; a later row that disagrees gets a warning, not a rejection. Returns the
        deciding (row, value, as shown)."""
        wanted = self.wanted.get(account)
        if wanted is None:
            wanted = self.wanted[account] = {}
        first = wanted.get(name)
        if first is None:
            first = wanted[name] = (record.row, value, shown)
            return first
        row, held, held_shown = first
        if held != value:
            out.warnings.append(
                Rejection(
                    record.row,
                    self._header(name),
                    f"'{shown}' differs from row {row} ('{held_shown}') for the same insured; "
                    f"row {row}'s value is used",
                )
            )
        return first

    def _decide(
        self,
        record: ListRow,
        key: tuple[str, str],
        problems: list[Rejection],
        out: _Outcome,
    ) -> _RowPlan | None:
        producer_id = self._person(record, "producer", record.producer, problems)
        csr_id = self._person(record, "csr", record.csr, problems)
        plan = self._plan_name(record, problems)
        if problems:
            return None
        subject = f"{record.carrier} policy {record.policy_number}"
        policy_id = self.policy_ids.get(key)
        end = self.at(record.expiration)
        if policy_id is None:
            return self._decide_new(record, problems, out, subject, end, producer_id, csr_id, plan)
        known = self.policies[policy_id]
        account = self.accounts[known.account_id]
        if not known.terms:  # cannot happen through the services; say so if it does
            problems.append(
                Rejection(record.row, None, f"{subject} has no term in the book to compare with")
            )
            return None
        latest_start, latest_end, latest_premium, latest_id = known.terms[-1]
        latest_day = nearest_day(latest_end, self.tz)
        changes: dict[str, list[Any]] = {}
        plan_row = _RowPlan(record, "update", subject, changes, policy_id=policy_id)
        plan_row.account_id = account.id
        if record.expiration == latest_day:
            if record.premium is not None and record.premium != latest_premium:
                changes["premium"] = [latest_premium, record.premium]
                plan_row.term_id, plan_row.premium = latest_id, record.premium
        elif record.expiration > latest_day:
            if policy_id in self.dnr:
                problems.append(
                    Rejection(
                        record.row,
                        self._header("expiration"),
                        f"{subject} is marked do not renew, so no later term can be recorded "
                        "for it; reactivate its auto-renewal first",
                    )
                )
                return None
            if record.effective is not None:
                start = self.at(record.effective)
                if record.effective < latest_day:
                    problems.append(
                        Rejection(
                            record.row,
                            self._header("effective"),
                            f"the new term would start {record.effective:%m/%d/%Y}, before "
                            f"the current term ends ({latest_day:%m/%d/%Y}); terms cannot "
                            "overlap",
                        )
                    )
                    return None
            else:
                # Renewed without a gap, unless the list skips a whole term.
                start = max(latest_end, self.at(add_months(record.expiration, -TERM_MONTHS)))
            plan_row.later_term = True
            plan_row.start, plan_row.end, plan_row.premium = start, end, record.premium
            changes["term"] = [
                [latest_start, latest_end],
                [start, end],
            ]
            if record.premium is not None:
                changes["premium"] = [latest_premium, record.premium]
        else:
            if not any(nearest_day(t[1], self.tz) == record.expiration for t in known.terms):
                problems.append(
                    Rejection(
                        record.row,
                        self._header("expiration"),
                        f"{record.expiration:%m/%d/%Y} is before the current term of {subject} "
                        f"(ending {latest_day:%m/%d/%Y}) and matches none of its terms",
                    )
                )
                return None
            # an older list: that term is already in the book
        if record.line_of_business and record.line_of_business != known.line_of_business:
            plan_row.policy_fields["line_of_business"] = record.line_of_business
            changes["line_of_business"] = [known.line_of_business, record.line_of_business]
        if record.office and record.office != known.office:
            plan_row.policy_fields["office"] = record.office
            changes["office"] = [known.office, record.office]
        self._account_changes(plan_row, account.id, account, producer_id, csr_id, plan, out)
        return plan_row if changes else None

    def _account_changes(
        self,
        plan_row: _RowPlan,
        key: Any,
        account: _KnownAccount | None,
        producer_id: int | None,
        csr_id: int | None,
        plan: tuple[int, str] | None,
        out: _Outcome,
    ) -> None:
        record, changes = plan_row.row, plan_row.changes
        for name, value, shown in (
            ("producer", producer_id, record.producer),
            ("csr", csr_id, record.csr),
        ):
            if value is None:
                continue
            first_row, first_value, _ = self._want(key, record, name, value, shown, out)
            if first_row != record.row or account is None:
                continue
            current = account.producer_id if name == "producer" else account.csr_id
            if current != first_value:
                plan_row.account_fields[f"{name}_id"] = first_value
                changes[name] = [self.usernames.get(current), self.usernames.get(first_value)]
        if plan is not None:
            first_row = self._want(key, record, "plan", plan[0], plan[1], out)[0]
            if first_row == record.row and (account is None or account.plan_id != plan[0]):
                plan_row.plan = plan[1]
                old = self.plan_names.get(account.plan_id) if account and account.plan_id else None
                changes["plan"] = [old, plan[1]]

    def _decide_new(
        self,
        record: ListRow,
        problems: list[Rejection],
        out: _Outcome,
        subject: str,
        end: datetime,
        producer_id: int | None,
        csr_id: int | None,
        plan: tuple[int, str] | None,
    ) -> _RowPlan | None:
        if record.insured is None:
            problems.append(
                Rejection(
                    record.row,
                    self._header("insured"),
                    f"is empty; {subject} is not in the book yet and a new policy needs the "
                    "insured's name",
                )
            )
        if record.line_of_business is None:
            problems.append(
                Rejection(
                    record.row,
                    self._header("line_of_business"),
                    f"is empty; {subject} is not in the book yet and a new policy needs its "
                    "line of business",
                )
            )
        if problems:
            return None
        assert record.insured is not None and record.line_of_business is not None
        effective = record.effective
        if effective is None:
            effective = self._term_before.get(record.expiration)
            if effective is None:
                effective = add_months(record.expiration, -TERM_MONTHS)
                self._term_before[record.expiration] = effective
        start = self.at(effective)
        # creates are counted, not itemised: a 100,000-row list would be 100,000 entries
        changes: dict[str, list[Any]] = {}
        plan_row = _RowPlan(record, "create", subject, changes, start=start, end=end)
        plan_row.premium = record.premium
        name = _name_key(record.insured)
        account_id = self.account_by_name.get(name)
        if account_id is not None:
            plan_row.account_id = account_id
            account = self.accounts[account_id]
            self._account_changes(plan_row, account_id, account, producer_id, csr_id, plan, out)
        else:
            plan_row.new_account = name
            target = self.new_accounts.get(name)
            if target is None:
                target = self.new_accounts[name] = {
                    "name": record.insured,
                    "producer_id": None,
                    "csr_id": None,
                    "plan": None,
                }
            key = ("new", name)
            if plan is None:  # the common case, as _account_changes decides it
                row = record.row
                for field_, column, value, shown in (
                    ("producer", "producer_id", producer_id, record.producer),
                    ("csr", "csr_id", csr_id, record.csr),
                ):
                    if (
                        value is not None
                        and self._want(key, record, field_, value, shown, out)[0] == row
                    ):
                        target[column] = value
                return plan_row
            self._account_changes(plan_row, key, None, producer_id, csr_id, plan, out)
            wanted = self.wanted.get(key)
            if wanted is not None:
                for field_, column in (("producer", "producer_id"), ("csr", "csr_id")):
                    first = wanted.get(field_)
                    if first is not None and first[0] == record.row:
                        target[column] = first[1]
            if plan_row.plan is not None:
                target["plan"] = plan_row.plan
        return plan_row

    # -- writing ----------------------------------------------------------------------

    def write(self, out: _Outcome) -> None:
        """Write the plan: new accounts, policies, terms and their audit events in bulk,
        then each change to a policy already in the book through the services."""
        uow, session = self.uow, self.session
        uow.require(Action.ACCOUNT_EDIT)
        uow.require(Action.POLICY_EDIT)
        creates = [p for p in out.plans if p.action == "create"]
        updates = [p for p in out.plans if p.action == "update"]
        total = len(creates) + len(updates)
        if self.progress is not None:
            self.progress(0, total)
        self._write_creates(creates, total)
        # Plans the file assigns to accounts with new policies, and the auto-renewal an
        # account's existing plan gives each new policy (as book.add_policy_in does).
        planned: set[int | None] = set()
        for p in creates:
            if p.plan is not None and p.account_id not in planned:
                planned.add(p.account_id)
                self._assign_plan(p)
        with_plan = {aid for aid, a in self.accounts.items() if a.plan_id is not None}
        for p in creates:
            if p.account_id in with_plan and p.account_id not in planned:
                policy = session.get(Policy, p.policy_id)
                assert policy is not None
                auto_renewals.ensure_for_latest_term_in(uow, policy)
        # Changes to policies already in the book: through the services, row by row.
        done = len(creates)
        for p in updates:
            if done % CHUNK == 0:
                _check_cancel(self.cancelled)
            self._update(p, out)
            done += 1
            if self.progress is not None and done % 200 == 0:
                self.progress(done, total)
        if self.progress is not None:
            self.progress(total, total)

    def _write_creates(self, creates: list[_RowPlan], total: int) -> None:
        """New accounts, policies and terms, and one audit event per account and per policy
        (the events :func:`book.create_account_in` and :func:`book.add_policy_in` write),
        around the ORM: COPY on PostgreSQL, executemany on SQLite.

        The order is the old one, so ids and audit events come out the same: every new
        account and its event first, then chunk by chunk the policies, their terms and
        their events; progress counts the rows of the list whose writing is complete.
        Every value is converted to the database's form once per distinct value (a list
        has a few hundred days and a handful of carriers), and each audit event's JSON is
        put together from pieces encoded once — the very text every audit event stores
        (the hash chain's canonical JSON, :func:`services.audit.canonical_changes`). The
        events join the chain at the commit (:func:`services.audit.add_encoded`).
        """
        uow = self.uow
        bulk = _Bulk(self.session, self.cancelled)
        now = datetime.now(UTC)
        name_of = self.usernames.get
        accounts_t: Table = Account.__table__  # type: ignore[assignment]
        policies_t: Table = Policy.__table__  # type: ignore[assignment]
        terms_t: Table = Term.__table__  # type: ignore[assignment]

        # Ids handed out before writing, so children point at their parents directly.
        names = list(self.new_accounts)
        new_ids = dict(zip(names, bulk.new_ids(accounts_t, len(names)), strict=True))
        policy_ids = bulk.new_ids(policies_t, len(creates))
        for p, pid in zip(creates, policy_ids, strict=True):
            p.policy_id = pid
            if p.new_account is not None:
                p.account_id = new_ids[p.new_account]

        new_accounts = self.new_accounts
        text = _JsonText()
        when = bulk.converter(terms_t, "start_at")
        money = bulk.converter(terms_t, "premium", remember=False)
        event = {"at": now, "user_id": uow.user.id, "actor": uow.user.username}
        event["source"] = uow.source.value
        steps = [
            bulk.rows(
                accounts_t,
                ("id", "name", "producer_id", "csr_id"),
                (
                    (new_ids[n], a["name"], a["producer_id"], a["csr_id"])
                    for n, a in ((n, new_accounts[n]) for n in names)
                ),
                {"service_tier": "standard", "version": 1, "created_at": now},
            ),
        ]
        audit.add_encoded(
            self.session,
            {**event, "action": "account.create", "object_type": "accounts"},
            (
                (
                    new_ids[n],
                    f'{{"csr":[null,{text(name_of(a["csr_id"]))}],'
                    f'"name":[null,{text.fresh(a["name"])}],"plan":[null,null],'
                    f'"producer":[null,{text(name_of(a["producer_id"]))}]}}',
                )
                for n, a in ((n, new_accounts[n]) for n in names)
            ),
        )
        for chunk in _chunks(creates, CHUNK):
            steps.append(
                bulk.rows(
                    policies_t,
                    ("id", "account_id", "policy_number", "carrier", "line_of_business", "office"),
                    (
                        (
                            p.policy_id,
                            p.account_id,
                            p.row.policy_number,
                            p.row.carrier,
                            p.row.line_of_business,
                            p.row.office,
                        )
                        for p in chunk
                    ),
                    {"status": "active", "version": 1, "created_at": now},
                )
            )
            # The database numbers the terms itself, in this order (as it would one by one).
            steps.append(
                bulk.rows(
                    terms_t,
                    ("policy_id", "start_at", "end_at", "premium"),
                    ((p.policy_id, when(p.start), when(p.end), money(p.premium)) for p in chunk),
                    {"created_at": now},
                    converted=True,
                    completes=len(chunk),
                )
            )
        audit.add_encoded(
            self.session,
            {**event, "action": "policy.create", "object_type": "policies"},
            (
                (
                    p.policy_id,
                    f'{{"carrier":[null,{text(p.row.carrier)}],'
                    f'"line_of_business":[null,{text(p.row.line_of_business)}],'
                    f'"policy_number":[null,{text.fresh(p.row.policy_number)}],'
                    f'"premium":[null,{text.amount(p.premium)}],'
                    f'"term":[null,{text.term(p.start, p.end)}]}}',
                )
                for p in creates
            ),
        )
        done = 0

        def advance(rows: int) -> None:
            nonlocal done
            done += rows
            if self.progress is not None:
                self.progress(done, total)

        bulk.write(steps, advance)

    def _assign_plan(self, p: _RowPlan) -> None:
        assert p.account_id is not None and p.plan is not None
        auto_renewals.assign_plan_in(self.uow, p.account_id, p.plan)

    def _update(self, p: _RowPlan, out: _Outcome) -> None:
        """One row's changes to a policy already in the book, in a savepoint: a change the
        services refuse rejects that row only."""
        uow, session = self.uow, self.session
        savepoint = session.begin_nested()
        try:
            policy = session.get(Policy, p.policy_id)
            assert policy is not None
            if p.policy_fields:
                uow.update(policy, p.policy_fields, "policy.update")
            if p.term_id is not None:
                term = session.get(Term, p.term_id)
                assert term is not None
                uow.update(term, {"premium": p.premium}, "term.update")
            if p.account_fields:
                account = session.get(Account, p.account_id)
                assert account is not None
                uow.update(account, p.account_fields, "account.update")
            if p.plan is not None:
                self._assign_plan(p)
            if p.later_term:
                assert p.start is not None and p.end is not None
                transactions.record_term_in(uow, policy.id, p.start, p.end, p.premium)
            session.flush()
            savepoint.commit()
        except UserFacingError as exc:
            savepoint.rollback()
            out.updated -= 1
            if p.later_term:
                out.terms_recorded -= 1
            out.changes = [c for c in out.changes if c.row != p.row.row]
            column = self._header("expiration") if p.later_term else None
            out.rejections.append(Rejection(p.row.row, column, _sentence_part(exc.message)))


def _sentence_part(message: str) -> str:
    """A service's sentence as the reason part of "row 5, Exp Date: …"."""
    message = message.strip().rstrip(".")
    first = message.split(" ", 1)[0]
    if len(first) > 1 and first.isupper():  # an acronym ("CSR …") keeps its capitals
        return message
    return message[:1].lower() + message[1:]


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class _JsonText:
    """Pieces of JSON text exactly as an audit event stores them (the hash chain's
    canonical form, ``audit.canonical_changes``: characters as they are, no spaces), the
    repeated ones (carriers, lines, people, terms) encoded once."""

    def __init__(self) -> None:
        self._memo: dict[Any, str] = {None: "null"}
        self.fresh = _encode_json_string  # for values that do not repeat

    def __call__(self, value: str | None) -> str:
        found = self._memo.get(value)
        if found is None:
            found = self._memo[value] = _encode_json_string(value)  # type: ignore[arg-type]
        return found

    def amount(self, value: Decimal | None) -> str:
        return "null" if value is None else _encode_json_string(str(value))

    def term(self, start: datetime | None, end: datetime | None) -> str:
        key = ("term", start, end)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = f"[{self(_iso(start))},{self(_iso(end))}]"
        return found


_encode_json_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _new_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys for ``table``, handed out before the rows are written
    so children can point at their parents without a round trip per row.

    PostgreSQL: taken from the table's own sequence, so other desktops inserting at the
    same time get other ids. SQLite: the unit of work holds the database's write lock
    (BEGIN IMMEDIATE), so the ids after the current maximum are ours.
    """
    if count == 0:
        return []
    name = table.name
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{name}', 'id')) "
                "FROM generate_series(1, %s)",
                (count,),
            )
            return [row[0] for row in cursor.fetchall()]
    top = session.scalar(text(f"SELECT COALESCE(MAX(id), 0) FROM {name}")) or 0
    return list(range(top + 1, top + 1 + count))


class _Bulk:
    """Rows written around the ORM in the database's own form, step by step (a table, or a
    chunk of one): one COPY per step on PostgreSQL, executemany per :data:`CHUNK` rows on
    SQLite. Cancel is checked between chunks of rows.

    Each value goes through its column type's own bind processor — the very conversion
    SQLAlchemy applies (UTC times, money as cents, enumeration values) — remembered per
    distinct value; the columns that are the same on every row are converted once.
    """

    def __init__(self, session: Session, cancelled: CancelCheck | None) -> None:
        self.session = session
        self.connection = session.connection()
        self.dialect = self.connection.dialect
        self.postgres = self.dialect.name == "postgresql"
        self.cancelled = cancelled

    def new_ids(self, table: Table, count: int) -> list[int]:
        return _new_ids(self.session, table, count)

    def converter(
        self, table: Table, column: str, *, remember: bool = True
    ) -> Callable[[Any], Any]:
        """``column``'s conversion to the database's form; ``remember``: once per value."""
        process = table.c[column].type._cached_bind_processor(self.dialect)
        if process is None:
            return lambda value: value
        if not remember:
            return lambda value: None if value is None else process(value)
        memo: dict[Any, Any] = {None: None}

        def convert(value: Any) -> Any:
            try:
                return memo[value]
            except KeyError:
                done = memo[value] = process(value)
                return done

        return convert

    def rows(
        self,
        table: Table,
        columns: tuple[str, ...],
        rows: Iterable[tuple[Any, ...]],
        constants: Mapping[str, Any],
        *,
        converted: bool = False,
        completes: int = 0,
    ) -> _TableRows:
        """``rows`` (tuples in ``columns`` order) with ``constants`` (column → value, the
        same on every row), to be written by :meth:`write`. ``converted``: the rows are in
        the database's form already; otherwise each column is converted here.
        ``completes``: the rows of the list whose writing is complete once these are in."""
        fixed = {name: self.converter(table, name)(value) for name, value in constants.items()}
        if not converted:
            converters = [
                (i, self.converter(table, name))
                for i, name in enumerate(columns)
                if table.c[name].type._cached_bind_processor(self.dialect) is not None
            ]
            if converters:
                rows = (_converted(row, converters) for row in rows)
        return _TableRows(table.name, (*columns, *fixed), tuple(fixed.values()), rows, completes)

    def write(self, steps: list[_TableRows], advance: Callable[[int], None]) -> None:
        """Insert each step's rows, in order (parents first); ``advance(n)`` after a step
        that completes ``n`` rows of the list."""
        if self.postgres:
            self._copy(steps, advance)
            return
        # SQLite's page cache (2 MB by default) is made big enough for the indexes being
        # filled, so pages are not written out and read back during the transaction.
        connection = self.connection
        cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        bigger = cache is not None and 0 > cache > SQLITE_CACHE_KIB
        if bigger:
            connection.exec_driver_sql(f"PRAGMA cache_size = {SQLITE_CACHE_KIB}")
        try:
            for step in steps:
                # the values the same on every row are written into the statement itself
                varying = len(step.names) - len(step.fixed)
                marks = ["?"] * varying + [_sql_literal(v) for v in step.fixed]
                statement = (
                    f"INSERT INTO {step.name} ({', '.join(step.names)}) VALUES ({', '.join(marks)})"
                )
                for chunk in _batches(step.rows, CHUNK):
                    _check_cancel(self.cancelled)
                    connection.exec_driver_sql(statement, chunk)
                if step.completes:
                    advance(step.completes)
        finally:
            if bigger:
                with contextlib.suppress(SQLAlchemyError):  # the error already raised counts
                    connection.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")

    def _copy(self, steps: list[_TableRows], advance: Callable[[int], None]) -> None:
        """One COPY per step. While the server still works through a step's rows, the
        next step's text is made ready: the two sides work at the same time."""
        render = _CopyText()

        def text(step: _TableRows) -> list[bytes]:
            tail = "".join("\t" + render(v) for v in step.fixed) + "\n"
            return [
                "".join(["\t".join(map(render, row)) + tail for row in chunk]).encode()
                for chunk in _batches(step.rows, CHUNK)
            ]

        raw = self.connection.connection.driver_connection
        ready = text(steps[0]) if steps else []
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            for i, step in enumerate(steps):
                if not ready:  # nothing to write (a list with no new account, say)
                    ready = text(steps[i + 1]) if i + 1 < len(steps) else []
                    continue
                statement = f"COPY {step.name} ({', '.join(step.names)}) FROM STDIN"
                with cursor.copy(statement) as copy:
                    for data in ready:
                        _check_cancel(self.cancelled)
                        copy.write(data)
                    ready = text(steps[i + 1]) if i + 1 < len(steps) else []
                if step.completes:
                    advance(step.completes)


@dataclass
class _TableRows:
    """Rows for one table: the column names, the values the same on every row (in the
    database's form) and the rows themselves (produced once, lazily)."""

    name: str
    names: tuple[str, ...]
    fixed: tuple[Any, ...]
    rows: Iterable[tuple[Any, ...]]
    completes: int = 0  # rows of the list completely written once these are


class _CopyText:
    """Values in PostgreSQL's COPY text form: ``\\N`` for NULL, special characters escaped,
    times in ISO form (remembered: a list has a few hundred distinct days)."""

    _ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})

    def __init__(self) -> None:
        self._times: dict[datetime, str] = {}

    def __call__(self, value: Any) -> str:
        kind = type(value)
        if kind is str:
            if value.isprintable() and "\\" not in value:
                return value
            return value.translate(self._ESCAPES)
        if kind is int:
            return str(value)
        if value is None:
            return "\\N"
        if kind is datetime:
            found = self._times.get(value)
            if found is None:
                if value.tzinfo is None:
                    raise ValueError(f"naive datetime {value!r} cannot be written")
                found = self._times[value] = value.isoformat()
            return found
        if kind is bool:
            return "t" if value else "f"
        raise TypeError(f"cannot write {kind.__name__} values with COPY")


def _sql_literal(value: Any) -> str:
    """A value in the database's form as an SQL literal (NULL, a whole number, text)."""
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    if type(value) is str and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__} values")


def _converted(
    row: tuple[Any, ...], converters: list[tuple[int, Callable[[Any], Any]]]
) -> tuple[Any, ...]:
    values = list(row)
    for i, convert in converters:
        values[i] = convert(values[i])
    return tuple(values)


def _batches(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _EditPlanner:
    """Applies the editable columns of our exported renewal list (stage by name, next
    action, owner, due date, target date, notes) through the renewal services. A row whose
    renewal changed since the export (its Version) is a conflict, never overwritten."""

    def __init__(self, uow: UnitOfWork, parsed: ParsedFile) -> None:
        self.uow = uow
        self.session = uow.session
        self.parsed = parsed

    def _header(self, name: str) -> str:
        return self.parsed.mapping.get(name) or name

    def run(self, *, write: bool, cancelled: CancelCheck | None) -> _Outcome:
        s = self.session
        out = _Outcome()
        stages = list(
            s.scalars(
                select(PipelineStage)
                .where(PipelineStage.active.is_(True))
                .order_by(PipelineStage.position)
            )
        )
        by_name = {_name_key(st.name): st for st in stages}
        by_name |= {_name_key(st.key): st for st in stages if _name_key(st.key) not in by_name}
        people = {
            u.casefold(): (uid, u)
            for uid, u in s.execute(select(User.id, User.username).where(User.active.is_(True)))
        }
        records: list[EditRow] = self.parsed.records
        for i, record in enumerate(records):
            if i % 200 == 0:
                _check_cancel(cancelled)
            self._row(record, out, stages, by_name, people, write)
        return out

    def _row(
        self,
        record: EditRow,
        out: _Outcome,
        stages: list[PipelineStage],
        by_name: dict[str, PipelineStage],
        people: dict[str, tuple[int, str]],
        write: bool,
    ) -> None:
        s = self.session
        renewal = s.get(
            Renewal,
            record.renewal_id,
            options=[selectinload(Renewal.policy).selectinload(Policy.account)],
        )
        if renewal is None:
            out.rejections.append(
                Rejection(
                    record.row,
                    self._header("id"),
                    f"there is no renewal {record.renewal_id} in this database; was the list "
                    "exported from another one?",
                )
            )
            return
        subject = f"renewal {renewal.id} ({renewal.policy.policy_number})"
        owner_name = (
            s.scalar(select(User.username).where(User.id == renewal.next_action_owner_id))
            if renewal.next_action_owner_id
            else None
        )
        current: dict[str, Any] = {
            "stage_name": renewal.stage.name,
            "next_action": renewal.next_action,
            "next_action_owner": owner_name,
            "next_action_due": renewal.next_action_due,
            "target_date": renewal.target_date,
            "notes": renewal.notes,
        }
        problems: list[Rejection] = []
        fields_: dict[str, Any] = {}
        target: PipelineStage | None = None
        changes: dict[str, list[Any]] = {}
        for name, value in record.values.items():
            old = current[name]
            if name == "stage_name":
                if value is None:
                    problems.append(
                        Rejection(record.row, self._header(name), "is empty; a renewal has a stage")
                    )
                    continue
                stage = by_name.get(_name_key(value))
                if stage is None:
                    names = ", ".join(st.name for st in stages)
                    problems.append(
                        Rejection(
                            record.row,
                            self._header(name),
                            f"'{value}' is not a pipeline stage (the stages are {names})",
                        )
                    )
                    continue
                if stage.id != renewal.stage_id:
                    target = stage
                    changes["stage"] = [old, stage.name]
                continue
            if name == "next_action_owner" and value is not None:
                found = people.get(value.casefold())
                if found is None:
                    problems.append(
                        Rejection(
                            record.row,
                            self._header(name),
                            f"'{value}' is not a Renewal Desk user",
                        )
                    )
                    continue
                value = found[1]
            if _same(old, value):
                continue
            fields_[name] = value
            changes[name] = [old, value]
        if problems:
            out.rejections.extend(problems)
            return
        if not changes:
            out.unchanged += 1
            return
        if renewal.version != record.version:
            out.conflicts.append(self._conflict(record, renewal, subject))
            return
        if not write:
            problem = self._predict(renewal, fields_, target)
            if problem is not None:
                column = self._header("stage_name") if target is not None else None
                out.rejections.append(Rejection(record.row, column, problem))
                return
            out.updated += 1
            out.changes.append(RowChange(record.row, "update", subject, changes))
            return
        savepoint = s.begin_nested()
        try:
            version = record.version
            if fields_:
                card = renewals.update_renewal_in(
                    self.uow, renewal.id, expected_version=version, **fields_
                )
                version = card.version
            if target is not None:
                renewals.move_stage_in(self.uow, renewal.id, target.key, expected_version=version)
            s.flush()
            savepoint.commit()
        except StaleEdit:
            savepoint.rollback()
            s.refresh(renewal)
            out.conflicts.append(self._conflict(record, renewal, subject))
            return
        except UserFacingError as exc:
            savepoint.rollback()
            column = self._header("stage_name") if target is not None else None
            out.rejections.append(Rejection(record.row, column, _sentence_part(exc.message)))
            return
        out.updated += 1
        out.changes.append(RowChange(record.row, "update", subject, changes))

    def _conflict(self, record: EditRow, renewal: Renewal, subject: str) -> Rejection:
        from desktop_app.services.changes import last_change

        last = last_change(self.session, "renewals", renewal.id)
        who = f" {last}" if last is not None else ""
        return Rejection(
            record.row,
            None,
            f"{subject} was changed{who} after the export (exported version {record.version}, "
            f"now {renewal.version}); its edits were not applied — export the list again to "
            "edit it",
        )

    def _predict(
        self, renewal: Renewal, fields_: dict[str, Any], target: PipelineStage | None
    ) -> str | None:
        """What the services would refuse, worked out without writing: permissions and the
        entry criteria of the stage the card would be in."""
        uow = self.uow
        owners = renewals.owners_of(renewal)
        needed = {renewals._EDITABLE[name] for name in fields_}
        if target is not None:
            needed.add(Action.RENEWAL_MOVE)
            if target.kind is not StageKind.OPEN or renewal.stage.kind is not StageKind.OPEN:
                needed.add(Action.RENEWAL_SET_OUTCOME)
        for action in sorted(needed):
            if not uow.allowed(action, owners=owners):
                from desktop_app.domain import permissions

                return _sentence_part(permissions.refusal(uow.role, action))
        if target is not None:
            # what the move would do to the transaction (a decided card does not reopen)
            try:
                stage_rules.state_after_move(
                    renewal.transaction_state,
                    renewal.stage,
                    target,
                    renewal=f"Renewal {renewal.policy.policy_number}",
                )
            except RuleRefused as exc:
                return _sentence_part(exc.message)
        facts = renewals.facts(uow, renewal)
        owner_id = facts.next_action_owner_id
        if "next_action_owner" in fields_:
            value = fields_["next_action_owner"]
            owner_id = (
                None
                if value is None
                else self.session.scalar(select(User.id).where(User.username == value))
            )
        facts = replace(
            facts,
            next_action=fields_.get("next_action", facts.next_action),
            next_action_owner_id=owner_id,
            next_action_due=fields_.get("next_action_due", facts.next_action_due),
        )
        stage = target or renewal.stage
        if target is not None:
            facts = replace(facts, outcome_reason=None)
        missing = stage_rules.missing_for(stage.entry_criteria, facts)
        if missing:
            if target is not None:
                return _sentence_part(stage_rules.refusal_message(stage.name, missing))
            return (
                f"renewal {renewal.id} is in {stage.name}, which needs {', '.join(missing)}; "
                "the change would not be saved"
            )
        return None


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, str) or isinstance(new, str):
        return (cells.clean_text(old) or None) == (cells.clean_text(new) or None)
    return old == new


__all__ = [
    "EditRow",
    "FileInfo",
    "ImportCancelled",
    "ImportProblem",
    "ImportResult",
    "ListRow",
    "MappingGuess",
    "ParsedFile",
    "Rejection",
    "RowChange",
    "commit",
    "fields",
    "get_mapping",
    "guess_mapping",
    "import_file",
    "inspect_file",
    "list_mappings",
    "policy_key",
    "preview",
    "read_file",
    "save_mapping",
]
