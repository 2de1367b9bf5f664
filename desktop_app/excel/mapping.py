"""Which column holds what: the header synonym table, finding the header row, and telling
data rows from blank, subtotal and title rows.

Every agency management system spells its columns its own way ("Policy #", "Pol No",
"Policy Number"; "Exp Date", "X-Date", "Expiration"…). Headers are compared after
:func:`normalize_header`, which ignores case, punctuation and the usual abbreviations
("#", "No", "Nbr", "Num" are all "number"; "Dt" is "date"), so one synonym covers many
spellings. A header that *contains* a synonym ("Policy Exp Date (mm/dd/yyyy)") is a
weaker guess, shown with a lower confidence so the import wizard can ask.

Pure functions: rows in, decisions out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from desktop_app.excel.values import clean_text


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str  # how messages name the field when the file's own header is unknown
    required: bool
    synonyms: tuple[str, ...]


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "policy_number",
        "Policy #",
        True,
        (
            "Policy #",
            "Policy No",
            "Policy Number",
            "Pol No",
            "Pol #",
            "Pol",
            "Policy",
            "PolicyNumber",
            "PolNo",
            "Policy ID",
            "Contract Number",
        ),
    ),
    FieldSpec(
        "insured",
        "Named Insured",
        False,  # needed only for a policy new to the book (checked per row)
        (
            "Named Insured",
            "Insured Name",
            "Insured",
            "Insured's Name",
            "First Named Insured",
            "Client",
            "Client Name",
            "Customer",
            "Customer Name",
            "Account",
            "Account Name",
            "Business Name",
            "Name",
            "Applicant",
        ),
    ),
    FieldSpec(
        "carrier",
        "Carrier",
        True,
        (
            "Carrier",
            "Company",
            "Writing Company",
            "Writing Carrier",
            "Carrier Name",
            "Company Name",
            "Insurance Company",
            "Ins Co",
            "Insurer",
            "Issuing Company",
            "Issuing Carrier",
            "Market",
        ),
    ),
    FieldSpec(
        "expiration",
        "Exp Date",
        True,
        (
            "Exp Date",
            "X-Date",
            "XDate",
            "Expiration",
            "Expiration Date",
            "Exp",
            "Expires",
            "Expiring",
            "Expire Date",
            "Expiry",
            "Expiry Date",
            "Policy Expiration",
            "Policy Expiration Date",
            "Pol Exp",
            "Pol Exp Date",
            "Renewal Date",
            "Term End",
            "End Date",
            "Policy End Date",
        ),
    ),
    FieldSpec(
        "effective",
        "Eff Date",
        False,
        (
            "Eff Date",
            "Effective",
            "Effective Date",
            "Eff",
            "Inception",
            "Inception Date",
            "Start Date",
            "Term Start",
            "Policy Effective Date",
            "Pol Eff",
            "Pol Eff Date",
            "Policy Start",
        ),
    ),
    FieldSpec(
        "line_of_business",
        "LOB",
        False,
        (
            "LOB",
            "Line",
            "Line of Business",
            "Lines",
            "Line of Coverage",
            "Business Line",
            "Coverage",
            "Coverage Type",
            "Policy Type",
            "Pol Type",
            "Type",
            "Type of Policy",
            "Product",
        ),
    ),
    FieldSpec(
        "premium",
        "Premium",
        False,
        (
            "Premium",
            "Annual Premium",
            "Annualized Premium",
            "Written Premium",
            "Total Premium",
            "Policy Premium",
            "Term Premium",
            "Full Term Premium",
            "Current Premium",
            "Expiring Premium",
            "Est Premium",
            "Estimated Premium",
            "Premium Amount",
            "Prem",
        ),
    ),
    FieldSpec(
        "producer",
        "Producer",
        False,
        (
            "Producer",
            "Producer Name",
            "Prod",
            "Agent",
            "Agent Name",
            "Account Executive",
            "AE",
            "Executive",
            "Sales Rep",
            "Salesperson",
        ),
    ),
    FieldSpec(
        "csr",
        "CSR",
        False,
        (
            "CSR",
            "CSR Name",
            "Rep",
            "Account Rep",
            "Account Manager",
            "AM",
            "Service Rep",
            "Customer Service Rep",
            "Customer Service Representative",
            "Servicer",
        ),
    ),
    FieldSpec(
        "office", "Office", False, ("Office", "Branch", "Branch Office", "Region", "Division")
    ),
    FieldSpec(
        "plan",
        "Auto-Renewal Plan",
        False,
        ("Auto-Renewal Plan", "Auto Renewal Plan", "AutoRenewal Plan", "Auto Renew Plan", "Plan"),
    ),
)
FIELD_BY_KEY: dict[str, FieldSpec] = {f.key: f for f in FIELDS}
REQUIRED: tuple[str, ...] = tuple(f.key for f in FIELDS if f.required)

_WORDS = {
    "number": "no",
    "num": "no",
    "nbr": "no",
    "nmbr": "no",
    "no": "no",
    "dt": "date",
}


def normalize_header(text: Any) -> str:
    """A header reduced to lowercase words: "Pol. Nbr." and "POLICY #" → "pol no" /
    "policy no"; "X-Date" → "x date"; "Insured's Name" → "insureds name"."""
    cleaned = clean_text(text)
    if cleaned is None:
        return ""
    s = cleaned.lower().replace("'", "").replace("\u2019", "")
    s = s.replace("#", " no ").replace("&", " and ")
    s = re.sub(r"[^a-z0-9]+", " ", s)
    words = [_WORDS.get(w, w) for w in s.split()]
    return " ".join(w for w in words if w)


_EXACT: dict[str, str] = {}
for _spec in FIELDS:
    for _syn in (_spec.key.replace("_", " "), *_spec.synonyms):
        _EXACT.setdefault(normalize_header(_syn), _spec.key)
# "xdate" written as one word, "policyno" glued: compare without spaces as well
_GLUED: dict[str, str] = {k.replace(" ", ""): v for k, v in _EXACT.items()}
# Longest first, so "policy exp date" finds "exp date" before "policy".
_PARTIAL: list[tuple[str, str]] = sorted(
    ((k, v) for k, v in _EXACT.items() if len(k) >= 3), key=lambda kv: -len(kv[0])
)

EXACT = 1.0
PARTIAL = 0.6


@dataclass(frozen=True)
class ColumnGuess:
    """What one column is taken to hold, and how sure that guess is."""

    column: int  # 0-based position in the row
    header: str  # as written in the file
    field: str | None
    confidence: float  # 1.0 a synonym, 0.6 contains one, 1.0 from a saved mapping, 0 none
    matched: str | None  # the synonym (normalized) or "saved mapping" that decided it


def guess_field(header: Any) -> tuple[str | None, float, str | None]:
    """(field, confidence, matched synonym) for one header text."""
    norm = normalize_header(header)
    if not norm:
        return None, 0.0, None
    if norm in _EXACT:
        return _EXACT[norm], EXACT, norm
    glued = norm.replace(" ", "")
    if glued in _GLUED:
        return _GLUED[glued], EXACT, glued
    padded = f" {norm} "
    for synonym, key in _PARTIAL:
        if f" {synonym} " in padded:
            return key, PARTIAL, synonym
    return None, 0.0, None


def guess_columns(
    headers: Sequence[Any], saved: Mapping[str, str | None] | None = None
) -> list[ColumnGuess]:
    """The guess for every column. A saved mapping (field → header text, or None for "do
    not import this field") decides first; synonyms fill in the rest. Each field goes to
    one column: the surest guess, then the leftmost."""
    saved = dict(saved or {})
    saved_by_header = {
        normalize_header(h): key for key, h in saved.items() if h is not None and h != ""
    }
    excluded = {key for key, h in saved.items() if h is None or h == ""}
    raw: list[ColumnGuess] = []
    for i, header in enumerate(headers):
        text = clean_text(header) or ""
        norm = normalize_header(header)
        if norm and norm in saved_by_header:
            raw.append(ColumnGuess(i, text, saved_by_header[norm], EXACT, "saved mapping"))
            continue
        key, confidence, matched = guess_field(header)
        if key is not None and (key in excluded or key in saved_by_header.values()):
            key, confidence, matched = None, 0.0, None
        raw.append(ColumnGuess(i, text, key, confidence, matched))
    best: dict[str, ColumnGuess] = {}
    for guess in raw:
        if guess.field is None:
            continue
        held = best.get(guess.field)
        if held is None or guess.confidence > held.confidence:
            best[guess.field] = guess
    winners = {(g.field, g.column) for g in best.values()}
    return [
        g
        if (g.field, g.column) in winners or g.field is None
        else ColumnGuess(g.column, g.header, None, 0.0, None)
        for g in raw
    ]


def mapping_of(guesses: Sequence[ColumnGuess]) -> dict[str, int]:
    """field → column position, from the guesses."""
    return {g.field: g.column for g in guesses if g.field is not None}


def header_score(row: Sequence[Any], saved: Mapping[str, str | None] | None = None) -> float:
    """How much a row looks like a header row: fields it names (surely = 1, partly = 0.5)."""
    guesses = guess_columns(row, saved)
    return sum(1.0 if g.confidence >= EXACT else 0.5 for g in guesses if g.field is not None)


HEADER_SCAN_ROWS = 50


def find_header_row(
    rows: Sequence[Sequence[Any]], saved: Mapping[str, str | None] | None = None
) -> int | None:
    """Position (0-based) of the header row among the first rows, below any title lines,
    blank rows and merged title cells; None when no row names at least two fields."""
    best_at, best_score = None, 1.5
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        if sum(1 for v in row if clean_text(v) is not None) < 2:
            continue  # a title line or a blank row
        score = header_score(row, saved)
        if score > best_score:
            best_at, best_score = i, score
    return best_at


# --- telling rows apart -------------------------------------------------------------

_TOTAL = re.compile(r"\b(sub ?total|grand total|totals?|count|sum)\b")
_TOTAL_START = re.compile(r"^(sub ?totals?|grand totals?|totals?)\b")  # in a policy # cell

DATA, BLANK, TOTAL, HEADING = "data", "blank", "total", "heading"


def classify_row(row: Sequence[Any], mapping: Mapping[str, int], header: Sequence[str]) -> str:
    """DATA, or why the row is skipped: BLANK, TOTAL (subtotal / total / grand total, or a
    row of sums with no policy, insured or date) or HEADING (a group label such as
    "Carrier: Travelers", or the header repeated on a new printed page).

    A row with both a policy number and an expiration is data (a total row has no
    expiration date); that common case is decided without looking at the other cells.
    """
    p, x = mapping.get("policy_number"), mapping.get("expiration")
    if p is not None and x is not None and p < len(row) and x < len(row):
        policy, expiration = row[p], row[x]
        if (
            policy is not None
            and expiration is not None
            and (not isinstance(policy, str) or policy.strip())
            and (not isinstance(expiration, str) or expiration.strip())
            and clean_text(policy) != header[p]
        ):
            return DATA
    texts = [clean_text(v) for v in row]
    filled = [(i, t) for i, t in enumerate(texts) if t is not None]
    if not filled:
        return BLANK

    def cell(key: str) -> str | None:
        i = mapping.get(key)
        return texts[i] if i is not None and i < len(texts) else None

    if len(filled) == 1 and cell("insured") is None and cell("expiration") is None:
        # one lone cell: a group label ("Carrier: Zurich"), a page title, or a total
        i, text = filled[0]
        lone = row[i]
        if isinstance(lone, int | float) and not isinstance(lone, bool):
            return TOTAL  # a sum without a label
        if _TOTAL.search(normalize_header(text)) or _looks_like_amount(text):
            return TOTAL
        return HEADING
    policy = cell("policy_number")
    if policy is not None and not _TOTAL_START.search(normalize_header(policy)):
        if normalize_header(policy) == normalize_header(header[mapping["policy_number"]]):
            return HEADING  # the header again
        return DATA
    if any(_TOTAL.search(normalize_header(t)) for _, t in filled):
        return TOTAL
    if cell("insured") is None and cell("expiration") is None:
        numbers = [v for v in row if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers or any(_looks_like_amount(t) for _, t in filled):
            return TOTAL
    return DATA


def row_classifier(
    mapping: Mapping[str, int], header: Sequence[str]
) -> Callable[[Sequence[Any]], str]:
    """:func:`classify_row` for one list's mapping and header, as a function of the row
    alone: the common case (a policy number and an expiration) is decided with the
    columns looked up once instead of on every row."""
    p, x = mapping.get("policy_number"), mapping.get("expiration")

    def classify(row: Sequence[Any]) -> str:
        return classify_row(row, mapping, header)

    if p is None or x is None:
        return classify
    head = header[p]
    need = max(p, x)

    def fast(row: Sequence[Any]) -> str:
        if len(row) > need:
            policy, expiration = row[p], row[x]
            if (
                policy is not None
                and expiration is not None
                and (not isinstance(policy, str) or policy.strip())
                and (not isinstance(expiration, str) or expiration.strip())
                and clean_text(policy) != head
            ):
                return DATA
        return classify_row(row, mapping, header)

    return fast


def _looks_like_amount(text: str) -> bool:
    return bool(re.fullmatch(r"\(?-?\$?\s*[\d,]+(\.\d+)?\)?", text))
