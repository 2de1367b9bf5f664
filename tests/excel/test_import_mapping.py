"""Which column holds what: synonyms, the header row below titles, skipped rows."""

from __future__ import annotations

import pytest

from desktop_app.excel import mapping as colmap
from desktop_app.excel.mapping import (
    BLANK,
    DATA,
    HEADING,
    PARTIAL,
    TOTAL,
    classify_row,
    find_header_row,
    guess_columns,
    guess_field,
    normalize_header,
)
from desktop_app.services import importing
from tests.excel import messy


@pytest.mark.parametrize(
    ("header", "field"),
    [
        # every spelling the issue lists …
        ("Policy #", "policy_number"),
        ("Pol No", "policy_number"),
        ("Policy Number", "policy_number"),
        ("Named Insured", "insured"),
        ("Insured Name", "insured"),
        ("Client", "insured"),
        ("Exp Date", "expiration"),
        ("X-Date", "expiration"),
        ("Expiration", "expiration"),
        ("Eff Date", "effective"),
        ("Company", "carrier"),
        ("Carrier", "carrier"),
        ("Writing Company", "carrier"),
        ("LOB", "line_of_business"),
        ("Line", "line_of_business"),
        ("Premium", "premium"),
        ("Annual Premium", "premium"),
        ("Producer", "producer"),
        ("CSR", "csr"),
        ("Rep", "csr"),
        ("Auto-Renewal Plan", "plan"),
        # … in any case and punctuation
        ("POLICY NO.", "policy_number"),
        ("pol. nbr.", "policy_number"),
        ("Policy_Number", "policy_number"),
        ("PolicyNumber", "policy_number"),
        ("Pol#", "policy_number"),
        ("xdate", "expiration"),
        ("X Date", "expiration"),
        ("Exp. Dt.", "expiration"),
        ("Insured's Name", "insured"),
        ("  named   insured ", "insured"),
        ("Effective Date", "effective"),
        ("Line of Business", "line_of_business"),
        ("Policy Type", "line_of_business"),
        ("Written Premium", "premium"),
        ("Account Executive", "producer"),
        ("Account Manager", "csr"),
        ("Branch", "office"),
        ("auto renewal plan", "plan"),
    ],
)
def test_synonyms(header, field):
    found, confidence, matched = guess_field(header)
    assert (found, confidence) == (field, 1.0), matched


def test_a_header_containing_a_synonym_is_a_weaker_guess():
    assert guess_field("Policy Exp Date (mm/dd/yyyy)") == ("expiration", PARTIAL, "exp date")
    assert guess_field("Total Annual Premium $") == ("premium", PARTIAL, "annual premium")
    assert guess_field("Notes") == (None, 0.0, None)


def test_normalize_header():
    assert normalize_header("Pol. Nbr.") == "pol no"
    assert normalize_header("POLICY #") == "policy no"
    assert normalize_header("X-Date") == "x date"
    assert normalize_header(None) == ""


def test_each_field_goes_to_one_column_the_surest_then_leftmost():
    guesses = guess_columns(["Premium", "Annual Premium", "Policy Exp Date", "X-Date"])
    assert [(g.field, g.confidence) for g in guesses] == [
        ("premium", 1.0),
        (None, 0.0),
        (None, 0.0),  # the exact X-Date wins over the partial match
        ("expiration", 1.0),
    ]


def test_a_saved_mapping_decides_first_and_can_exclude_a_field():
    headers = ["Contract Ref", "Client", "Co", "Renews", "Rep"]
    saved = {"policy_number": "Contract Ref", "carrier": "Co", "expiration": "renews", "csr": None}
    guesses = guess_columns(headers, saved)
    assert [g.field for g in guesses] == [
        "policy_number",
        "insured",
        "carrier",
        "expiration",
        None,  # "Rep" would be the CSR, but the mapping says do not import it
    ]
    assert guesses[0].matched == "saved mapping"


def test_header_row_found_below_title_lines_blanks_and_merged_cells(tmp_path):
    guess = importing.guess_mapping(messy.messy_workbook(tmp_path))
    assert guess.sheet == "Expirations"
    assert guess.header_row == 4
    assert guess.missing_required == []
    assert guess.mapping == {
        "policy_number": "Pol No",
        "insured": "Named Insured",
        "carrier": "Writing Company",
        "expiration": "X-Date",
        "effective": "Eff Date",
        "line_of_business": "Line",
        "premium": "Annual Premium",
        "producer": "Producer",
        "csr": "CSR",
    }
    assert all(c.confidence == 1.0 for c in guess.columns)
    assert guess.columns[3].matched == "x date"


def test_no_header_row_is_one_sentence(tmp_path):
    path = messy.workbook(tmp_path, [["just", "numbers"], [1, 2], [3, 4]])
    with pytest.raises(importing.ImportProblem) as caught:
        importing.read_file(path)
    assert caught.value.message == (
        "No header row was found in the first 50 rows of sheet 'Sheet1' of list.xlsx; the "
        "list needs a row naming its columns, such as 'Policy #', 'Carrier' and 'Exp Date'."
    )


def test_a_missing_required_column_is_named(tmp_path):
    path = messy.workbook(tmp_path, [["Policy #", "Insured", "Premium"], ["P-1", "A", 1]])
    guess = importing.guess_mapping(path)
    assert guess.missing_required == ["Carrier", "Exp Date"]
    with pytest.raises(importing.ImportProblem) as caught:
        importing.read_file(path)
    assert caught.value.message == (
        "Sheet 'Sheet1' of list.xlsx has no column for Carrier (e.g. 'Carrier', 'Company', "
        "'Writing Company'); Exp Date (e.g. 'Exp Date', 'X-Date', 'XDate'); rename the column "
        "or choose it in the mapping."
    )


def test_find_header_row_skips_a_title_that_mentions_a_field():
    rows = [
        ["Expiration List — 01/01/2027 to 03/31/2027"],
        [],
        ["Policy #", "Insured", "Carrier", "Exp Date"],
    ]
    assert find_header_row(rows) == 2


HEADER = ["Policy #", "Insured", "Carrier", "Exp Date", "Premium"]
COLUMNS = {"policy_number": 0, "insured": 1, "carrier": 2, "expiration": 3, "premium": 4}


@pytest.mark.parametrize(
    ("row", "kind"),
    [
        (["P-1", "Acme", "Zurich", "1/1/2027", 100], DATA),
        (["", None, "  ", None], BLANK),
        ([], BLANK),
        ([None, "Subtotal", None, None, 100], TOTAL),
        ([None, None, "Total for Zurich:", None, "$1,000.00"], TOTAL),
        (["Grand Total", None, None, None, 5000], TOTAL),
        (["TOTALS", None, None, None, None], TOTAL),
        ([None, None, None, None, 12345.5], TOTAL),  # a sum without a label
        (["Carrier: Zurich", None, None, None, None], HEADING),
        (["Policy #", "Insured", "Carrier", "Exp Date", "Premium"], HEADING),  # page header
        ([None, "Acme", "Zurich", "1/1/2027", 100], DATA),  # no policy number: rejected later
        (["T-1", "Total Fitness LLC", "Zurich", "1/1/2027", 100], DATA),  # a name, not a total
    ],
)
def test_classify_rows(row, kind):
    assert classify_row(row, COLUMNS, HEADER) == kind


def test_every_field_has_its_issue_spellings():
    assert colmap.REQUIRED == ("policy_number", "carrier", "expiration")
    labels = {f.key: f.label for f in colmap.FIELDS}
    assert labels["expiration"] == "Exp Date"
