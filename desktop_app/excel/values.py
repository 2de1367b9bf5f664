"""Reading cell values the way agencies type them: dates, money, policy numbers, text.

Pure functions, no database and no files. Each parser takes whatever a spreadsheet cell
or a CSV field holds (a real date, a number, a string with stray spaces) and returns the
value Renewal Desk stores, or raises :class:`BadValue` whose text finishes the sentence
"row 37, Exp Date: …" — e.g. "'13/45/2027' is not a date".

Why so forgiving: an expiration list comes from whatever the agency's management system
exports, then passes through Excel, which turns text dates into real dates, long numbers
into floats and "$1,234.50" into 1234.5 as it pleases. The importer's job is to read all
of those forms and to refuse, with a reason, only what it cannot read for certain.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from desktop_app.domain.enums import LINES_OF_BUSINESS


class BadValue(ValueError):
    """A cell value that cannot be read; the text is the reason, in plain words."""


# --- text ---------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_ODD_SPACE = re.compile(r"\s\s|[^\S ]|\ufeff")  # two spaces, or any space but " "


def clean_text(value: Any) -> str | None:
    """The cell as text with stray spaces removed (non-breaking ones too); None when empty.

    Numbers read as text the way a person would write them: 12.0 is "12".
    """
    if value is None:
        return None
    if type(value) is str:  # the common case, kept fast for 100,000-row lists
        text = value.strip()
        if not _ODD_SPACE.search(text):
            return text or None
    elif isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        value = str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, datetime):
        value = value.strftime("%m/%d/%Y %H:%M") if value.time() != time() else f"{value:%m/%d/%Y}"
    elif isinstance(value, date):
        value = f"{value:%m/%d/%Y}"
    text = _SPACES.sub(" ", str(value).replace("\u00a0", " ").replace("\ufeff", "")).strip()
    return text or None


def is_blank(value: Any) -> bool:
    return clean_text(value) is None


def shown(value: Any) -> str:
    """A value quoted for a message: strings in quotes, real dates and numbers as they are."""
    if isinstance(value, str):
        return f"'{value.strip()}'"
    text = clean_text(value)
    return text if text is not None else "(empty)"


# --- dates --------------------------------------------------------------------------

# Excel's day zero: serial 1 is 1900-01-01 in the 1900 system (which pretends 1900 was a
# leap year, so from serial 61 on the epoch is 1899-12-30), and 1904-01-02 in the 1904
# system that old Mac workbooks use.
_EPOCH_1900 = date(1899, 12, 30)
_EPOCH_1904 = date(1904, 1, 1)
# Serial numbers we accept as dates: 1950-01-01 .. 2199-12-31. A number outside that in a
# date column is more likely a policy number or an amount in the wrong column.
_FIRST_DAY = date(1950, 1, 1)
_LAST_DAY = date(2199, 12, 31)

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

_TIME_TAIL = (
    r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp]\.?[Mm]\.?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_US_NUMERIC = re.compile(
    r"^(\d{1,2})\s*([/\-.])\s*(\d{1,2})\s*\2\s*(\d{2}|\d{4})" + _TIME_TAIL + "$"
)
_ISO = re.compile(r"^(\d{4})([/\-.])(\d{1,2})\2(\d{1,2})" + _TIME_TAIL + "$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")  # 20270105, as AMS exports often have
_MONTH_NAME_FIRST = re.compile(r"^([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")
_DAY_FIRST_NAME = re.compile(r"^(\d{1,2})[\s\-]([A-Za-z]{3,9})\.?[\s\-,]+(\d{2}|\d{4})$")
_SERIAL_TEXT = re.compile(r"^\d{5}(?:\.\d+)?$")


def _year(text: str) -> int:
    """A two-digit year as Excel reads it: 00–29 are 2000s, 30–99 are 1900s."""
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 30 else 1900
    return year


def _make(year: int, month: int, day: int, original: Any) -> date:
    try:
        result = date(year, month, day)
    except ValueError:
        raise BadValue(f"{shown(original)} is not a date") from None
    return result


def serial_to_date(serial: float, *, date1904: bool = False) -> date:
    """The calendar day of an Excel date serial number (the time of day is dropped)."""
    whole = math.floor(serial)
    if date1904:
        return _EPOCH_1904 + timedelta(days=whole)
    if whole < 61:  # before Excel's phantom 1900-02-29
        return _EPOCH_1900 + timedelta(days=whole + 1)
    return _EPOCH_1900 + timedelta(days=whole)


def parse_date(value: Any, *, date1904: bool = False) -> date | None:
    """A calendar date from a real Excel date or date-time, a serial number, or US text.

    Text forms: ``1/5/2027``, ``01-05-27``, ``1.5.2027``, ``2027-01-05`` (optionally with a
    time), ``20270105``, ``Jan 5, 2027``, ``January 5 2027``, ``5-Jan-2027``. Numeric
    dates are month first, as in the US. None for an empty cell.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise BadValue(f"{shown(value)} is not a date")
    if isinstance(value, int | float):
        return _from_serial(value, value, date1904)
    text = clean_text(value)
    if text is None:
        return None
    m = _US_NUMERIC.match(text)
    if m:
        return _make(_year(m.group(4)), int(m.group(1)), int(m.group(3)), value)
    m = _ISO.match(text)
    if m:
        return _make(int(m.group(1)), int(m.group(3)), int(m.group(4)), value)
    m = _COMPACT.match(text)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)), value)
    m = _MONTH_NAME_FIRST.match(text)
    if m and m.group(1).lower() in _MONTHS:
        return _make(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)), value)
    m = _DAY_FIRST_NAME.match(text)
    if m and m.group(2).lower() in _MONTHS:
        return _make(_year(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)), value)
    if _SERIAL_TEXT.match(text):  # a serial number that travelled through a CSV file
        return _from_serial(float(text), value, date1904)
    raise BadValue(f"{shown(value)} is not a date")


def _from_serial(serial: float, original: Any, date1904: bool) -> date:
    if math.isnan(serial) or math.isinf(serial) or serial <= 0 or serial > 200_000:
        raise BadValue(f"{shown(original)} is not a date")
    day = serial_to_date(serial, date1904=date1904)
    if not _FIRST_DAY <= day <= _LAST_DAY:
        raise BadValue(
            f"{shown(original)} is a number, not a date (as a date it would be {day:%m/%d/%Y})"
        )
    return day


# --- money --------------------------------------------------------------------------

CENT = Decimal("0.01")
_MONEY = re.compile(
    r"^(?P<lead>[-+])?\s*(?:\$|USD)?\s*(?P<sign>[-+])?\s*(?P<num>\d[\d,]*(?:\.\d*)?|\.\d+)\s*(?P<trail>-)?$"
)


def parse_money(value: Any) -> Decimal | None:
    """An amount in dollars and cents, rounded half up to the cent; None when empty.

    Reads numbers and text such as ``$1,234.50``, ``1234``, ``-$12.00``, ``$-12``,
    ``1,234.50-`` and the accountant's ``(1,234.50)`` (negative). The sign is kept: whether
    a negative amount is acceptable is the caller's rule, not the reader's.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue(f"{shown(value)} is not an amount of money")
    if isinstance(value, int | float):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise BadValue(f"{shown(value)} is not an amount of money")
        # repr: the float as it was written (2.675, not 2.67499999…)
        return Decimal(repr(value) if isinstance(value, float) else value).quantize(
            CENT, rounding=ROUND_HALF_UP
        )
    if isinstance(value, Decimal):
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    text = clean_text(value)
    if text is None:
        return None
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    m = _MONEY.match(text.replace(" ", ""))
    if not m or not _commas_ok(m.group("num")):
        raise BadValue(f"{shown(value)} is not an amount of money")
    signs = [s for s in (m.group("lead"), m.group("sign"), m.group("trail")) if s]
    if len(signs) > 1 or (negative and signs):
        raise BadValue(f"{shown(value)} is not an amount of money")
    if signs == ["-"]:
        negative = True
    try:
        amount = Decimal(m.group("num").replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise BadValue(f"{shown(value)} is not an amount of money") from None
    amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return -amount if negative else amount


def _commas_ok(number: str) -> bool:
    """Thousands separators, when present, sit every three digits (1,234,567)."""
    whole = number.split(".")[0]
    if "," not in whole:
        return True
    groups = whole.split(",")
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


# --- policy numbers -----------------------------------------------------------------

EXCEL_DIGITS = 15  # Excel keeps 15 significant digits of a number; the rest become zeros
_SCIENTIFIC = re.compile(r"^\d(?:\.\d+)?[Ee]\+?\d+$")


def parse_policy_number(value: Any) -> str | None:
    """A policy number as text, exactly as written (leading zeros kept); None when empty.

    A policy number that Excel stored as a number may already have lost digits: Excel
    keeps 15 significant digits and shows big numbers as ``1.23457E+14``. Such a value
    is refused with the advice to format the column as Text, rather than stored as a
    possibly different number.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadValue(f"{shown(value)} is not a policy number")
    if isinstance(value, int | float):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise BadValue(f"{shown(value)} is not a policy number")
        if isinstance(value, float) and not value.is_integer():
            raise BadValue(
                f"{value!r} is a number with decimals, not a policy number; format the "
                "column as Text in the source file and enter it again"
            )
        digits = str(int(value))
        if len(digits.lstrip("-").rstrip("0")) >= EXCEL_DIGITS or len(digits) > EXCEL_DIGITS:
            # shown as Excel shows it: the 15 digits it kept, zeros after them
            kept = str(int(Decimal(f"{value:.{EXCEL_DIGITS}g}")))
            raise BadValue(
                f"{kept} was stored by Excel as a number, which keeps only {EXCEL_DIGITS} "
                "digits, so it may not be the real policy number; format the column as Text "
                "in the source file and enter it again"
            )
        return digits
    text = clean_text(value)
    if text is None:
        return None
    if _SCIENTIFIC.match(text):
        raise BadValue(
            f"{shown(value)} is a long number that Excel shortened; format the column as "
            "Text in the source file and enter it again"
        )
    if len(text) > 60:
        raise BadValue(f"{shown(value)[:40]}…' is too long for a policy number (60 characters)")
    return text


# --- lines of business --------------------------------------------------------------


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


# What agency systems and people write for each ACORD line-of-business code.
LINE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "AUTOP": ("Personal auto", "Auto", "PPA", "Private passenger auto", "Personal automobile"),
    "HOME": ("Homeowners", "Homeowner", "Home", "HO", "HO3", "HO-3", "HO5", "HO6", "Condo"),
    "DFIRE": ("Dwelling fire", "Dwelling", "DP", "DP1", "DP3", "DP-3", "Landlord"),
    "BOP": ("Businessowners", "Business owners", "Business owner's policy", "BOP"),
    "CGL": ("Commercial general liability", "General liability", "GL", "CGL"),
    "WORK": ("Workers compensation", "Workers comp", "Work comp", "WC", "Workmans comp"),
    "CAUTO": ("Commercial auto", "Business auto", "BA", "Comm auto"),
    "UMBRC": ("Commercial umbrella", "CUMB", "Commercial excess", "Excess liability"),
    "UMBRP": ("Personal umbrella", "PUMB", "PUP"),
    "PROP": ("Commercial property", "Property", "CPROP"),
    "INMRC": ("Inland marine", "IM", "Contractors equipment", "Equipment floater"),
    "FLOOD": ("Flood", "NFIP", "Flood insurance"),
    "PL": ("Professional liability", "E&O", "Errors and omissions", "Errors & omissions", "PL"),
}
_LINES: dict[str, str] = {_key(code): code for code in LINES_OF_BUSINESS}
for _code, _names in LINE_SYNONYMS.items():
    for _name in _names:
        _LINES.setdefault(_key(_name), _code)
for _code, _name in LINES_OF_BUSINESS.items():
    _LINES.setdefault(_key(_name), _code)


def parse_line_of_business(value: Any) -> str | None:
    """The ACORD code (``WORK``, ``AUTOP``…) for a code or a name agencies use; None if empty."""
    text = clean_text(value)
    if text is None:
        return None
    found = _LINES.get(_key(text))
    if found is not None:
        return found
    if _key(text) == "umbrella":
        raise BadValue(
            f"{shown(value)} could be a commercial or a personal umbrella; write UMBRC or UMBRP"
        )
    raise BadValue(
        f"{shown(value)} is not a line of business Renewal Desk knows; use one of "
        f"{', '.join(LINES_OF_BUSINESS)}"
    )


# --- whole numbers (ids and versions in our own export) -------------------------------


def parse_int(value: Any, what: str = "a whole number") -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise BadValue(f"{shown(value)} is not {what}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = clean_text(value) or ""
    if re.fullmatch(r"\d+(?:\.0+)?", text):
        return int(text.split(".")[0])
    raise BadValue(f"{shown(value)} is not {what}")
