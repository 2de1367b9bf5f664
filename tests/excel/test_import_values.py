"""Reading cell values as agencies type them (pure functions, no files, no database)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from desktop_app.excel.values import (
    BadValue,
    clean_text,
    parse_date,
    parse_int,
    parse_line_of_business,
    parse_money,
    parse_policy_number,
    serial_to_date,
)

JAN5 = date(2027, 1, 5)


@pytest.mark.parametrize(
    "value",
    [
        JAN5,
        datetime(2027, 1, 5, 13, 30),
        "1/5/2027",
        "01/05/2027",
        "01-05-27",
        "1-5-27",
        "1.5.2027",
        "2027-01-05",
        "2027/1/5",
        "2027-01-05 00:00:00",
        "2027-01-05T00:00:00",
        "1/5/2027 12:00:00 AM",
        "1/5/2027 3:45 PM",
        "20270105",
        "Jan 5, 2027",
        "January 5 2027",
        "Jan. 5, 2027",
        "jan 5th, 2027",
        "5-Jan-2027",
        "05-Jan-27",
        "  1/5/2027\u00a0",
        46392,
        46392.75,
        "46392",
    ],
)
def test_every_us_date_form_reads_as_the_same_day(value):
    assert parse_date(value) == JAN5


def test_two_digit_years_follow_excel():
    assert parse_date("1/5/29") == date(2029, 1, 5)
    assert parse_date("1/5/30") == date(1930, 1, 5)


def test_serial_numbers_in_the_1904_system():
    # 1904 system: serial 0 is 1904-01-01, so the same day is 1,462 less than in 1900
    assert parse_date(46392 - 1462, date1904=True) == JAN5
    assert serial_to_date(1, date1904=False) == date(1900, 1, 1)
    assert serial_to_date(61) == date(1900, 3, 1)  # after Excel's phantom Feb 29, 1900


@pytest.mark.parametrize("empty", [None, "", "   ", "\u00a0"])
def test_empty_cells_are_no_date(empty):
    assert parse_date(empty) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("13/45/2027", "'13/45/2027' is not a date"),
        ("2/30/2027", "'2/30/2027' is not a date"),
        ("Feb 30, 2027", "'Feb 30, 2027' is not a date"),
        ("soon", "'soon' is not a date"),
        ("Smarch 5, 2027", "'Smarch 5, 2027' is not a date"),
        (12, "12 is a number, not a date (as a date it would be 01/12/1900)"),
        (-5, "-5 is not a date"),
        (True, "Yes is not a date"),
    ],
)
def test_what_is_not_a_date_says_so(value, message):
    with pytest.raises(BadValue) as caught:
        parse_date(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        ("$1,234.50", "1234.50"),
        ("1234", "1234.00"),
        ("1,234", "1234.00"),
        (" $ 1,234.5 ", "1234.50"),
        ("(1,234.50)", "-1234.50"),
        ("($1,234.50)", "-1234.50"),
        ("-$12.00", "-12.00"),
        ("$-12", "-12.00"),
        ("1,234.50-", "-1234.50"),
        ("USD 99", "99.00"),
        (".5", "0.50"),
        (1234, "1234.00"),
        (1234.5, "1234.50"),
        (2.675, "2.68"),  # the float as written, rounded half up
        (Decimal("10.005"), "10.01"),
        ("1,234,567.891", "1234567.89"),
    ],
)
def test_money_forms(value, amount):
    assert parse_money(value) == Decimal(amount)


@pytest.mark.parametrize("value", ["12abc", "1,23", "--1", "($-1)", "$", "1.2.3", "12,34.00"])
def test_what_is_not_money_says_so(value):
    with pytest.raises(BadValue) as caught:
        parse_money(value)
    assert str(caught.value) == f"'{value}' is not an amount of money"


def test_empty_money_is_none():
    assert parse_money(None) is None
    assert parse_money("  ") is None


def test_policy_numbers_stay_text_with_their_leading_zeros():
    assert parse_policy_number("  00987 ") == "00987"
    assert parse_policy_number("WC 000123") == "WC 000123"
    assert parse_policy_number(123456.0) == "123456"
    assert parse_policy_number(987654321012) == "987654321012"
    assert parse_policy_number(None) is None


@pytest.mark.parametrize("value", [123456789012345, 1234567890123456, 1.2345678901234568e17])
def test_long_numeric_policy_numbers_are_flagged_not_changed(value):
    with pytest.raises(BadValue) as caught:
        parse_policy_number(value)
    assert "stored by Excel as a number, which keeps only 15 digits" in str(caught.value)
    assert "format the column as Text" in str(caught.value)


def test_a_fourteen_digit_number_is_exact_and_accepted():
    assert parse_policy_number(12345678901234) == "12345678901234"
    # 15 digits but only 12 significant: Excel stores it exactly
    assert parse_policy_number(123456789012000) == "123456789012000"


def test_scientific_text_and_decimals_are_refused():
    with pytest.raises(BadValue, match="long number that Excel shortened"):
        parse_policy_number("1.23457E+14")
    with pytest.raises(BadValue, match="number with decimals"):
        parse_policy_number(12.5)


def test_stray_spaces_go():
    assert clean_text("  Harbor\u00a0  Bakery\tLLC ") == "Harbor Bakery LLC"
    assert clean_text("   ") is None
    assert clean_text(12.0) == "12"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("WC", "WORK"),
        ("Workers Comp", "WORK"),
        ("workers' compensation", "WORK"),
        ("work", "WORK"),
        ("HO-3", "HOME"),
        ("Personal Auto", "AUTOP"),
        ("Commercial Auto", "CAUTO"),
        ("GL", "CGL"),
        ("E&O", "PL"),
        ("Inland Marine", "INMRC"),
        ("bop", "BOP"),
    ],
)
def test_lines_of_business_by_code_or_name(value, code):
    assert parse_line_of_business(value) == code


def test_an_unknown_or_ambiguous_line_says_what_to_use():
    with pytest.raises(BadValue, match="'Umbrella' could be a commercial or a personal umbrella"):
        parse_line_of_business("Umbrella")
    with pytest.raises(BadValue, match="'Pet' is not a line of business Renewal Desk knows"):
        parse_line_of_business("Pet")


def test_whole_numbers():
    assert parse_int("12") == 12
    assert parse_int(12.0) == 12
    assert parse_int("") is None
    with pytest.raises(BadValue, match="'x' is not a renewal id"):
        parse_int("x", "a renewal id")
