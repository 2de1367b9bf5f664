"""The fast paths of a big import, on both databases: rows written around the ORM hold
exactly what the ORM would write (text, audit JSON), a column's values parse the same
whether they repeat or not, cancelling at any point writes nothing, SQLite's page cache
is put back."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text

from desktop_app.db.models import Account, Policy
from desktop_app.excel import values as cells
from desktop_app.excel.reader import open_spreadsheet
from desktop_app.services import audit, importing
from tests.excel import messy
from tests.excel.messy import SIMPLE_HEADER, simple_rows
from tests.helpers import dump_database

HEADER = ["Policy #", "Named Insured", "Carrier", "Exp Date", "Eff Date", "LOB", "Premium"]
HEADER += ["Producer", "CSR", "Office"]

# Text that COPY and JSON must escape: quotes, backslashes, non-ASCII, a character
# outside the Basic Multilingual Plane.
TRICKY = [
    ["A\\1", 'Smith "Bob" & Sons', 'Chubb "Special"', date(2027, 3, 1), None, "BOP", 12.5],
    ["B-2", "Back\\slash \\N LLC", "Zürich Ünïon", date(2027, 4, 1), date(2026, 4, 1), "WC", None],
    ["C-3", "日本 商事 🎉", "Travelers", date(2027, 5, 1), None, "HOME", "$1,234.50"],
    ["D-4", 'Smith "Bob" & Sons', "Travelers", date(2027, 6, 1), None, "CGL", 0],
]


def _tricky_rows() -> list[list[object]]:
    rows = []
    for i, row in enumerate(TRICKY):
        office = "Branch\\2" if i % 2 else None
        rows.append([*row, "pat" if i < 2 else None, "casey", office])
    return rows


def test_text_and_audit_json_are_what_the_orm_writes(db, admin, make_user, tmp_path):
    make_user("producer", "pat")
    make_user("csr", "casey")
    path = messy.workbook(tmp_path, [HEADER, *_tricky_rows()])
    result = importing.commit(db, admin, importing.read_file(path))
    assert (result.created, result.accounts_created, result.rejected) == (4, 3, 0)
    with db.read_session() as s:
        policies = {p.policy_number: p for p in s.scalars(select(Policy))}
        assert sorted(policies) == ["A\\1", "B-2", "C-3", "D-4"]
        assert policies["A\\1"].carrier == 'Chubb "Special"'
        assert policies["B-2"].office == "Branch\\2"
        assert policies["B-2"].carrier == "Zürich Ünïon"
        names = {a.id: a.name for a in s.scalars(select(Account))}
        assert sorted(names.values()) == sorted(
            ['Smith "Bob" & Sons', "Back\\slash \\N LLC", "日本 商事 🎉"]
        )
        assert policies["A\\1"].account_id == policies["D-4"].account_id
        stored = s.execute(
            text(
                "SELECT action, object_id, CAST(changes AS TEXT) FROM audit_events "
                "WHERE action IN ('account.create', 'policy.create') ORDER BY id"
            )
        ).all()
        terms = {
            p.policy_number: [p.terms[0].start_at.isoformat(), p.terms[0].end_at.isoformat()]
            for p in policies.values()
        }
        accounts = {a.id: a for a in s.scalars(select(Account))}
        users = {a.id: (a.producer.username if a.producer else None) for a in accounts.values()}
        csrs = {a.id: (a.csr.username if a.csr else None) for a in accounts.values()}
    by_id = {p.id: p for p in policies.values()}
    premiums = {"A\\1": "12.50", "B-2": None, "C-3": "1234.50", "D-4": "0.00"}
    # every account's event first, then every policy's, each in the order of the list
    assert [a for a, _, _ in stored] == ["account.create"] * 3 + ["policy.create"] * 4
    for action, object_id, changes in stored:
        if action == "account.create":
            expected = {
                "name": [None, names[object_id]],
                "producer": [None, users[object_id]],
                "csr": [None, csrs[object_id]],
                "plan": [None, None],
            }
        else:
            p = by_id[object_id]
            expected = {
                "policy_number": [None, p.policy_number],
                "carrier": [None, p.carrier],
                "line_of_business": [None, p.line_of_business],
                "term": [None, terms[p.policy_number]],
                "premium": [None, premiums[p.policy_number]],
            }
        # byte for byte what every audit event stores (the hash chain's canonical JSON)
        assert changes == audit.canonical_changes(expected)


def test_a_second_import_of_tricky_text_changes_nothing(db, admin, make_user, tmp_path):
    make_user("producer", "pat")
    make_user("csr", "casey")
    path = messy.workbook(tmp_path, [HEADER, *_tricky_rows()])
    importing.commit(db, admin, importing.read_file(path))
    before = dump_database(db)
    again = importing.commit(db, admin, importing.read_file(path))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    after = dump_database(db)
    assert {k: v for k, v in after.items() if k != "audit_events"} == {
        k: v for k, v in before.items() if k != "audit_events"
    }
    assert [e[5] for e in after["audit_events"][len(before["audit_events"]) :]] == ["import.run"]


def _reason(parser, value) -> str:
    with pytest.raises(cells.BadValue) as caught:
        parser(value)
    return str(caught.value)


def test_a_value_parses_the_same_wherever_it_repeats(tmp_path):
    """Values are parsed once per distinct value and type: True, 1, 1.0 and "1" are
    equal in Python but not the same cell; a refused value is refused on every row, in
    the first block of rows and in later ones, in columns that repeat and in those that
    do not (policy numbers)."""
    rows: list[list[object]] = []
    premiums = [True, 1, 1.0, "1", "$1.00", "abc"]
    for i in range(1, 5001):
        rows.append([f"P-{i:05d}", f"Insured {i}", "Travelers", "3/1/2027", "BOP", premiums[i % 6]])
    rows[4300][0] = 12.5  # a policy number Excel stored with decimals, in a later block
    rows[4400][4] = "Umbrella"  # a line refused in a later block only
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *rows])
    parsed = importing.read_file(path)
    money = _reason(cells.parse_money, True)
    abc = _reason(cells.parse_money, "abc")
    by_row: dict[int, list[str]] = {}
    for r in parsed.rejections:
        by_row.setdefault(r.row, []).append(f"{r.column}: {r.reason}")
    expected: dict[int, list[str]] = {}
    for i in range(1, 5001):
        row_no = i + 1
        reasons = []
        if i == 4301:
            reasons.append(f"Policy Number: {_reason(cells.parse_policy_number, 12.5)}")
        if i == 4401:
            reasons.append(f"LOB: {_reason(cells.parse_line_of_business, 'Umbrella')}")
        if i % 6 == 0:
            reasons.append(f"Premium: {money}")
        elif i % 6 == 5:
            reasons.append(f"Premium: {abc}")
        if reasons:
            expected[row_no] = reasons
    assert by_row == expected
    kept = {r.row: r.premium for r in parsed.records}
    assert len(kept) == 5000 - len(expected)
    ones = {kept[i + 1] for i in range(1, 5001) if i % 6 in (1, 2, 3, 4) and i + 1 in kept}
    assert ones == {cells.parse_money(1)}


def test_short_csv_rows_read_as_empty_cells(tmp_path):
    path = messy.csv_file(
        tmp_path,
        [SIMPLE_HEADER, ["P-1", "A", "Zurich", "3/1/2027", "BOP", "5"], ["P-2", "B", "Zurich"]],
    )
    parsed = importing.read_file(path)
    assert [r.policy_number for r in parsed.records] == ["P-1"]
    assert [r.message for r in parsed.rejections] == [
        "row 3, Exp Date: is empty; every row needs its expiration date"
    ]


@pytest.mark.parametrize("after", [4, 5, 6, 8, 11])
def test_cancelling_at_any_point_writes_nothing(db, admin, tmp_path, after):
    parsed = importing.read_file(messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(7000)]))
    before = dump_database(db)
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > after

    with pytest.raises(importing.ImportCancelled):
        importing.commit(db, admin, parsed, cancelled=cancelled)
    assert dump_database(db) == before
    # and the connection is fit for the next import
    assert importing.commit(db, admin, parsed).created == 7000


def test_sqlite_page_cache_is_put_back(db, admin, tmp_path):
    if db.dialect != "sqlite":
        pytest.skip("a SQLite setting")
    with db.engine.connect() as conn:
        default = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    importing.commit(
        db, admin, importing.read_file(messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(3)]))
    )
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == default


def test_a_sheet_near_the_row_bound_is_counted_exactly(tmp_path):
    """One quick pass bounds the rows from above; a sheet near the limit is counted."""
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(30)])
    with open_spreadsheet(path, max_rows=31) as sf:  # "row" appears ~62 times
        assert len(list(sf.rows())) == 31
    with open_spreadsheet(path, max_rows=30) as sf, pytest.raises(Exception, match="30 rows"):
        list(sf.rows())


def test_literals_and_copy_text_escape_what_they_must():
    assert importing._sql_literal("o'neil") == "'o''neil'"
    assert [importing._sql_literal(v) for v in (None, 7)] == ["NULL", "7"]
    with pytest.raises(TypeError):
        importing._sql_literal(1.5)
    render = importing._CopyText()
    assert render("a\\b\tc\nd\re") == "a\\\\b\\tc\\nd\\re"
    assert [render(v) for v in (None, 12, "plain", "Zürich 🎉")] == [
        "\\N",
        "12",
        "plain",
        "Zürich 🎉",
    ]


def test_minus_zero_and_zero_stay_apart(tmp_path):
    """-0.0 == 0.0 in Python, but a premium written "-0.00" is not one written "0.00"."""
    rows = [["P-1", "A", "Zurich", "3/1/2027", "BOP", -0.0]]
    rows += [["P-2", "B", "Zurich", "3/1/2027", "BOP", 0.0]]
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, *rows])
    premiums = [str(r.premium) for r in importing.read_file(path).records]
    assert premiums == [str(cells.parse_money(-0.0)), str(cells.parse_money(0.0))]
