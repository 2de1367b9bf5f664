"""The renewal list workbook: the columns Renewal Desk exports and reads back.

The export and the import share this one description, so an exported list that a CSR
edited in Excel comes back with the edits applied to the right fields. A file is our own
export when it has the hidden marker sheet :data:`MARKER_SHEET` (xlsx) or, for CSV, when
its header holds both :data:`ID_HEADER` and :data:`VERSION_HEADER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

SHEET_NAME: Final = "Renewals"
MARKER_SHEET: Final = "_renewal_desk"
"""A hidden sheet: A1 = :data:`MARKER_TEXT`, A2 = :data:`FORMAT_VERSION`, A3 = export time."""
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
