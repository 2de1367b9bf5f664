"""The renewal transaction state machine, the new term's dates and calendar arithmetic.

Pure rules: no database, no Qt. The expected transition table is written out by hand,
independently of the one in desktop_app/domain/transactions.py.
"""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from itertools import pairwise, product
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from desktop_app.domain import transactions
from desktop_app.domain.enums import TransactionState
from desktop_app.domain.transactions import (
    IssueRefused,
    RuleRefused,
    TermDatesRefused,
    TransitionKind,
    TransitionRefused,
    advance_path,
    allowed_transitions,
    check_issue_allowed,
    check_new_end,
    check_transition,
    days_before,
    format_moment,
    is_advancing,
    is_transition_allowed,
    months_later,
    new_term_bounds,
    state_after_cancellation,
    state_after_sibling_issued,
    transition_kind,
)

S = TransactionState
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")

# ----------------------------------------------------------------- the transition table

# Rows: from; columns: to. A = advancing, R = reset, T = terminal (no new term), . = refused.
_EXPECTED = """
from         draft  quoted  accepted  issued  discarded  rejected  refused  invalidated
draft        .      A       .         .       T          T         T        T
quoted       R      .       A         .       T          T         T        T
accepted     R      .       .         A       T          T         T        T
issued       .      .       .         .       .          .         .        .
discarded    .      .       .         .       .          .         .        .
rejected     .      .       .         .       .          .         .        .
refused      .      .       .         .       .          .         .        .
invalidated  .      .       .         .       .          .         .        .
"""
_KINDS = {"A": TransitionKind.ADVANCING, "R": TransitionKind.RESET, "T": TransitionKind.TERMINAL}


def _expected_table() -> dict[tuple[S, S], TransitionKind | None]:
    lines = [line.split() for line in _EXPECTED.strip().splitlines()]
    targets = [S(name) for name in lines[0][1:]]
    table: dict[tuple[S, S], TransitionKind | None] = {}
    for row in lines[1:]:
        for target, cell in zip(targets, row[1:], strict=True):
            table[(S(row[0]), target)] = _KINDS.get(cell)
    return table


EXPECTED = _expected_table()


def test_expected_table_covers_every_pair() -> None:
    assert set(EXPECTED) == set(product(S, S))


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED), ids=lambda s: s.value)
def test_transition_table(current: S, target: S) -> None:
    kind = EXPECTED[(current, target)]
    assert is_transition_allowed(current, target) is (kind is not None)
    assert (target in allowed_transitions(current)) is (kind is not None)
    assert is_advancing(current, target) is (kind is TransitionKind.ADVANCING)
    if kind is None:
        with pytest.raises(TransitionRefused) as refused:
            check_transition(current, target)
        message = refused.value.message
        assert message.endswith(".") and message[0].isupper()
        assert message.count(".") == 1, "one sentence"
        with pytest.raises(TransitionRefused):
            transition_kind(current, target)
    else:
        check_transition(current, target)
        assert transition_kind(current, target) is kind


def test_transitions_accept_stored_string_values() -> None:
    check_transition("draft", "quoted")  # type: ignore[arg-type]
    assert allowed_transitions("issued") == frozenset()  # type: ignore[arg-type]


def test_the_happy_path_is_quote_accept_issue() -> None:
    path = [S.DRAFT, S.QUOTED, S.ACCEPTED, S.ISSUED]
    for current, target in pairwise(path):
        assert transition_kind(current, target) is TransitionKind.ADVANCING


def test_terminal_states_allow_nothing() -> None:
    for state in (S.ISSUED, S.DISCARDED, S.REJECTED, S.REFUSED, S.INVALIDATED):
        assert state.is_terminal
        assert allowed_transitions(state) == frozenset()


def test_every_open_state_can_end_without_a_new_term() -> None:
    endings = {S.DISCARDED, S.REJECTED, S.REFUSED, S.INVALIDATED}
    for state in transactions.OPEN_STATES:
        assert endings <= allowed_transitions(state)
        for ending in endings:
            assert transition_kind(state, ending) is TransitionKind.TERMINAL


def test_refusal_message_for_an_issued_renewal() -> None:
    with pytest.raises(TransitionRefused, match=r"^A renewal that is issued cannot be accepted\.$"):
        check_transition(S.ISSUED, S.ACCEPTED)


def test_refusal_message_for_skipping_a_step() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(S.DRAFT, S.ISSUED)
    assert str(refused.value) == "A renewal that is a draft cannot be issued before it is accepted."


def test_refusal_message_for_stepping_back() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(S.ACCEPTED, S.QUOTED)
    assert str(refused.value) == (
        "A renewal that is accepted cannot be quoted; it can only be reset to draft."
    )


def test_refusal_message_for_the_same_state() -> None:
    with pytest.raises(TransitionRefused, match=r"^The renewal is already quoted\.$"):
        check_transition(S.QUOTED, S.QUOTED)


def test_refusal_message_for_reopening_a_terminal_renewal() -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(S.REJECTED, S.DRAFT)
    assert str(refused.value) == "A renewal that is rejected cannot be reset to draft."


def test_refusals_are_rule_refusals() -> None:
    assert issubclass(TransitionRefused, RuleRefused)
    assert issubclass(TermDatesRefused, RuleRefused)
    assert issubclass(IssueRefused, RuleRefused)


# ----------------------------------------------------------------- walking the road to issue


def test_advance_path_walks_every_missing_step() -> None:
    assert advance_path(S.DRAFT, S.ISSUED) == (S.QUOTED, S.ACCEPTED, S.ISSUED)
    assert advance_path(S.DRAFT, S.ACCEPTED) == (S.QUOTED, S.ACCEPTED)
    assert advance_path(S.QUOTED, S.ACCEPTED) == (S.ACCEPTED,)


def test_advance_path_is_empty_when_already_there_or_beyond() -> None:
    assert advance_path(S.ACCEPTED, S.ACCEPTED) == ()
    assert advance_path(S.ACCEPTED, S.QUOTED) == ()
    assert advance_path(S.ISSUED, S.ISSUED) == ()


def test_advance_path_steps_are_each_allowed() -> None:
    for current in transactions.OPEN_STATES:
        for target in (S.QUOTED, S.ACCEPTED, S.ISSUED):
            here = current
            for step in advance_path(current, target):
                assert transition_kind(here, step) is TransitionKind.ADVANCING
                here = step


def test_advance_path_refuses_a_renewal_that_ended() -> None:
    with pytest.raises(TransitionRefused, match="refused cannot be issued"):
        advance_path(S.REFUSED, S.ISSUED)


def test_advance_path_target_must_be_a_step() -> None:
    with pytest.raises(ValueError):
        advance_path(S.DRAFT, S.DISCARDED)


def test_issuing_one_renewal_invalidates_the_open_siblings() -> None:
    for state in transactions.OPEN_STATES:
        assert state_after_sibling_issued(state) is S.INVALIDATED
    for state in (S.ISSUED, S.DISCARDED, S.REJECTED, S.REFUSED, S.INVALIDATED):
        assert state_after_sibling_issued(state) is state


def test_cancellation_resets_a_managed_renewal_to_draft() -> None:
    for state in transactions.OPEN_STATES:
        assert state_after_cancellation(state, managed_by_auto_renewal=True) is S.DRAFT
    for state in (S.QUOTED, S.ACCEPTED):
        assert transition_kind(state, S.DRAFT) is TransitionKind.RESET


def test_cancellation_does_not_invalidate_the_managed_renewal() -> None:
    assert state_after_cancellation(S.ACCEPTED, managed_by_auto_renewal=True) is not (S.INVALIDATED)


def test_cancellation_leaves_unmanaged_and_terminal_renewals_alone() -> None:
    assert state_after_cancellation(S.QUOTED, managed_by_auto_renewal=False) is S.QUOTED
    assert state_after_cancellation(S.ISSUED, managed_by_auto_renewal=True) is S.ISSUED


# ----------------------------------------------------------------- the new term's dates

END = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # midnight in New York


def test_new_end_must_be_strictly_after_the_current_end() -> None:
    check_new_end(END, END + timedelta(seconds=1))
    with pytest.raises(TermDatesRefused):
        check_new_end(END, END)
    with pytest.raises(TermDatesRefused):
        check_new_end(END, END - timedelta(days=1))


def test_new_end_refusal_is_one_sentence_in_the_agency_zone() -> None:
    with pytest.raises(TermDatesRefused) as refused:
        check_new_end(END, END - timedelta(days=31), tz=NEW_YORK)
    assert str(refused.value) == (
        "The new end (May 1, 2026) must be after the policy's current end (June 1, 2026)."
    )


def test_new_term_starts_at_the_current_end_by_default() -> None:
    new_end = months_later(END, 12, NEW_YORK)
    assert new_term_bounds(END, None, new_end) == (END, new_end)


def test_effective_equal_to_the_current_end_is_not_a_gap() -> None:
    new_end = END + timedelta(days=365)
    assert new_term_bounds(END, END, new_end) == (END, new_end)


def test_effective_after_the_current_end_is_a_renewal_with_a_gap() -> None:
    effective = END + timedelta(days=10)
    new_end = END + timedelta(days=375)
    start, end = new_term_bounds(END, effective, new_end)
    assert (start, end) == (effective, new_end)
    assert start > END, "nothing covers the gap between the terms"


def test_effective_before_the_current_end_is_refused() -> None:
    with pytest.raises(TermDatesRefused, match="cannot be before the policy's current end"):
        new_term_bounds(END, END - timedelta(hours=1), END + timedelta(days=365))


def test_effective_must_be_before_the_new_end() -> None:
    new_end = END + timedelta(days=30)
    with pytest.raises(TermDatesRefused, match="must be before the new end"):
        new_term_bounds(END, new_end, new_end)
    with pytest.raises(TermDatesRefused, match="must be before the new end"):
        new_term_bounds(END, new_end + timedelta(days=1), new_end)


def test_new_term_bounds_checks_the_new_end() -> None:
    with pytest.raises(TermDatesRefused, match="must be after the policy's current end"):
        new_term_bounds(END, None, END)


def test_naive_times_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        check_new_end(END, datetime(2027, 6, 1))
    with pytest.raises(ValueError, match="aware"):
        months_later(datetime(2027, 6, 1), 1)


def test_format_moment_shows_midnight_as_a_date_and_other_times_with_a_clock() -> None:
    assert format_moment(END, NEW_YORK) == "June 1, 2026"
    assert format_moment(END + timedelta(minutes=1), NEW_YORK) == "June 1, 2026 at 12:01 AM"
    assert format_moment(END + timedelta(hours=13, minutes=5), NEW_YORK) == (
        "June 1, 2026 at 1:05 PM"
    )
    assert format_moment(END) == "June 1, 2026 at 4:00 AM"


# ----------------------------------------------------------------- issuing


def test_issue_is_allowed_on_an_active_policy_without_do_not_renew() -> None:
    check_issue_allowed(do_not_renew_on_policy=False, policy_cancelled=False)


def test_do_not_renew_blocks_issue() -> None:
    with pytest.raises(IssueRefused, match="do not renew"):
        check_issue_allowed(do_not_renew_on_policy=True, policy_cancelled=False)


def test_a_cancelled_policy_blocks_issue() -> None:
    with pytest.raises(IssueRefused, match=r"^A renewal of a cancelled policy cannot be issued\.$"):
        check_issue_allowed(do_not_renew_on_policy=False, policy_cancelled=True)


# ----------------------------------------------------------------- calendar arithmetic


def test_months_later_adds_calendar_months() -> None:
    start = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    assert months_later(start, 12) == datetime(2027, 3, 15, 12, 0, tzinfo=UTC)
    assert months_later(start, 6) == datetime(2026, 9, 15, 12, 0, tzinfo=UTC)
    assert months_later(start, 0) == start
    assert months_later(start, -3) == datetime(2025, 12, 15, 12, 0, tzinfo=UTC)


def test_months_later_clamps_the_day_at_the_end_of_the_month() -> None:
    jan31 = datetime(2027, 1, 31, tzinfo=UTC)
    assert months_later(jan31, 1) == datetime(2027, 2, 28, tzinfo=UTC)
    assert months_later(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert months_later(datetime(2028, 2, 29, tzinfo=UTC), 12) == datetime(2029, 2, 28, tzinfo=UTC)
    assert months_later(datetime(2026, 8, 31, tzinfo=UTC), 1) == datetime(2026, 9, 30, tzinfo=UTC)


def test_months_later_keeps_local_midnight_across_daylight_saving() -> None:
    # A term ending at midnight in New York in winter (05:00 UTC) renews for six months
    # to midnight in summer (04:00 UTC), not to 01:00 EDT.
    winter = datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
    summer = months_later(winter, 6, NEW_YORK)
    assert summer == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    assert summer.tzinfo is UTC
    assert summer.astimezone(NEW_YORK).hour == 0


def test_months_later_moves_a_skipped_wall_clock_time_forward() -> None:
    # 2:30 AM on March 8, 2026 does not exist in New York: it reads as 3:30 AM EDT.
    before = datetime(2026, 2, 8, 2, 30, tzinfo=NEW_YORK)
    after = months_later(before, 1)
    assert after.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert after.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)


def test_months_later_takes_the_first_of_two_repeated_wall_clock_times() -> None:
    # 1:30 AM on November 1, 2026 happens twice in New York; the first is EDT (05:30 UTC).
    before = datetime(2026, 10, 1, 1, 30, tzinfo=NEW_YORK)
    assert months_later(before, 1).astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_days_before_keeps_local_wall_clock_time_in_new_york() -> None:
    # Term ends at midnight EDT on March 20, 2026; 30 days earlier is midnight EST.
    end = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
    assert days_before(end, 30, NEW_YORK) == datetime(2026, 2, 18, 5, 0, tzinfo=UTC)


def test_days_before_keeps_local_wall_clock_time_in_london() -> None:
    # Midnight BST on April 1, 2026 is 23:00 UTC the day before; 45 days earlier is GMT.
    end = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
    assert days_before(end, 45, LONDON) == datetime(2026, 2, 15, 0, 0, tzinfo=UTC)


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(transactions).failed == 0


# ----------------------------------------------------------------- properties across DST

_WALL_TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 12, 31))
_ZONES = st.sampled_from([NEW_YORK, LONDON])


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    """True when the wall-clock time happens exactly once in ``zone``."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return round_trip == wall and first.utcoffset() == second.utcoffset()


def _add_months_by_hand(wall: datetime, months: int) -> datetime:
    total = wall.year * 12 + (wall.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    last_day = [31, 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28,
                31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]  # fmt: skip
    return wall.replace(year=year, month=month, day=min(wall.day, last_day))


@given(wall=_WALL_TIMES, months=st.integers(min_value=-36, max_value=120), zone=_ZONES)
def test_months_later_keeps_the_local_wall_clock(
    wall: datetime, months: int, zone: ZoneInfo
) -> None:
    expected = _add_months_by_hand(wall, months)
    assume(_exists(wall, zone) and _exists(expected, zone))
    start_utc = wall.replace(tzinfo=zone).astimezone(UTC)
    result = months_later(start_utc, months, zone)
    assert result.tzinfo is UTC
    assert result.astimezone(zone).replace(tzinfo=None) == expected


@given(wall=_WALL_TIMES, months=st.integers(min_value=1, max_value=120), zone=_ZONES)
def test_months_later_always_moves_forward_and_lands_in_the_right_month(
    wall: datetime, months: int, zone: ZoneInfo
) -> None:
    start = wall.replace(tzinfo=zone).astimezone(UTC)
    result = months_later(start, months, zone)
    assert result > start
    local = result.astimezone(zone)
    expected = _add_months_by_hand(wall, months)
    # a skipped wall-clock time moves forward by at most the hour of the gap
    assert (local.year, local.month) == (expected.year, expected.month)


@given(wall=_WALL_TIMES, days=st.integers(min_value=0, max_value=400), zone=_ZONES)
def test_days_before_keeps_the_local_wall_clock(wall: datetime, days: int, zone: ZoneInfo) -> None:
    expected = wall - timedelta(days=days)
    assume(_exists(wall, zone) and _exists(expected, zone))
    end = wall.replace(tzinfo=zone).astimezone(UTC)
    result = days_before(end, days, zone)
    assert result.tzinfo is UTC
    assert result.astimezone(zone).replace(tzinfo=None) == expected
    # the UTC distance is the days plus or minus at most the one-hour DST shift
    assert abs((end - result) - timedelta(days=days)) <= timedelta(hours=1)
