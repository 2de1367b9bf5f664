"""The renewal list workbook: the columns Renewal Desk exports and reads back.

The export and the import share this one description, so an exported list that a CSR
edited in Excel comes back with the edits applied to the right fields. A file is our own
export when it has the hidden marker sheet :data:`MARKER_SHEET` (xlsx) or, for CSV, when
its header holds both :data:`ID_HEADER` and :data:`VERSION_HEADER`.

What the importer can count on in our own files: dates are real date cells in the xlsx
and ISO text (2027-03-01) in the CSV; amounts are numbers (no "$" in the CSV); usernames
in Owner, Producer and CSR; stage names in Stage. Text that begins with a formula
character (``= + - @``, tab, carriage return) is a plain string cell in the xlsx, and in the
CSV carries a leading apostrophe that :func:`unescape_csv_text` removes. In the xlsx a
carriage return inside a text is written as the line feed Excel itself uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final, Literal

from desktop_app.excel.export_common import FORMULA_PREFIXES

SHEET_NAME: Final = "Renewals"
MARKER_SHEET: Final = "_renewal_desk"
"""A hidden sheet: A1 = :data:`MARKER_TEXT`, A2 = :data:`FORMAT_VERSION`, A3 = export time
(UTC, ISO 8601); column B labels them; columns D and E (from row 2) list the stage names
and usernames that the Stage and Owner drop-downs offer."""
MARKER_TEXT: Final = "Renewal Desk renewal list"
FORMAT_VERSION: Final = 1

ID_HEADER: Final = "Renewal ID"
VERSION_HEADER: Final = "Version"

Kind = Literal["int", "text", "date", "datetime", "money", "days"]


@dataclass(frozen=True)
class Column:
    header: str
    field: str  # the RenewalCard / export-row field it comes from
    kind: Kind
    editable: bool = False  # applied back on import of an edited export
    width: int = 14


COLUMNS: Final[tuple[Column, ...]] = (
    Column(ID_HEADER, "id", "int", width=10),
    Column(VERSION_HEADER, "version", "int", width=8),
    Column("Insured", "insured", "text", width=30),
    Column("Policy #", "policy_number", "text", width=16),
    Column("Carrier", "carrier", "text", width=22),
    Column("LOB", "line_of_business", "text", width=8),
    Column("Expiration", "expiration", "date", width=12),
    Column("Days Left", "days_left", "days", width=9),
    Column("Premium", "premium", "money", width=12),
    Column("New Premium", "new_premium", "money", width=12),
    Column("Stage", "stage_name", "text", editable=True, width=18),
    Column("Transaction", "transaction_state", "text", width=12),
    Column("Next Action", "next_action", "text", editable=True, width=32),
    Column("Owner", "next_action_owner", "text", editable=True, width=12),
    Column("Next Action Due", "next_action_due", "date", editable=True, width=14),
    Column("Target Date", "target_date", "date", editable=True, width=12),
    Column("Producer", "producer", "text", width=12),
    Column("CSR", "csr", "text", width=12),
    Column("Notes", "notes", "text", editable=True, width=40),
)

EDITABLE_FIELDS: Final = tuple(c.field for c in COLUMNS if c.editable)

CSV_DATE_FORMAT: Final = "%Y-%m-%d"
"""Dates in the CSV export: ISO, which Excel in any locale and the importer both read."""


@dataclass(frozen=True, slots=True)
class RenewalRow:
    """One exported renewal; its fields are the ``field`` names of :data:`COLUMNS`."""

    id: int
    version: int
    insured: str
    policy_number: str
    carrier: str
    line_of_business: str
    expiration: date
    """The calendar day the term ends in the agency's time zone (the date on the policy)."""
    days_left: int
    """Days from the export's "as of" date to the expiration; negative once it has passed."""
    premium: Decimal | None
    new_premium: Decimal | None
    stage_name: str
    transaction_state: str
    next_action: str | None
    next_action_owner: str | None
    next_action_due: date | None
    target_date: date | None
    producer: str | None
    csr: str | None
    notes: str | None


def unescape_csv_text(text: str) -> str:
    """Undo the apostrophe the CSV export puts before formula-like text ("'=A1" → "=A1").

    Only an apostrophe followed by one of the formula characters is ours; any other
    leading apostrophe was typed by someone and is kept.
    """
    if text.startswith("'") and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text
