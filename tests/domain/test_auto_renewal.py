"""Auto-renewal rules: trigger times, firing order, states, and the plugin contract.

Pure rules: no database, no Qt, no clock (every test passes its own ``now``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from desktop_app.domain import auto_renewal as ar
from desktop_app.domain.auto_renewal import (
    KEEP,
    AutoRenewalFacts,
    AutoRenewalRefused,
    InvalidPluginAnswer,
    Operation,
    PluginAnswer,
    TriggerEvent,
    TriggerTimes,
    action_needed,
    apply_plugin_answer,
    due_events,
    fires_plugins,
    plugin_request,
    trigger_times,
    validate_plugin_answer,
)
from desktop_app.domain.enums import AutoRenewalState, TransactionState
from desktop_app.domain.transactions import RuleRefused

A = AutoRenewalState
T = TransactionState
E = TriggerEvent
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")

TERM_END = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # midnight EST


def facts(state: A = A.ACTIVE, **more: object) -> AutoRenewalFacts:
    return AutoRenewalFacts(state=state, **more)  # type: ignore[arg-type]


# ----------------------------------------------------------------- trigger times


def test_trigger_events_fire_in_the_order_create_accept_issue() -> None:
    assert list(TriggerEvent) == [E.CREATE, E.ACCEPT, E.ISSUE]
    assert [e.value for e in TriggerEvent] == ["create", "accept", "issue"]


def test_trigger_time_is_term_end_minus_lead_days() -> None:
    end = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)  # midnight EDT, no DST change within 30 days
    times = trigger_times(end, 30, 14, 7, tz=NEW_YORK)
    assert times == TriggerTimes(
        create=end - timedelta(days=30),
        accept=end - timedelta(days=14),
        issue=end - timedelta(days=7),
    )


def test_empty_lead_days_make_a_step_manual() -> None:
    times = trigger_times(TERM_END, 45, None, None, tz=NEW_YORK)
    assert times.create is not None
    assert times.accept is None and times.issue is None
    assert trigger_times(TERM_END, None, None, None, tz=NEW_YORK) == TriggerTimes()


def test_zero_lead_days_fire_at_the_term_end() -> None:
    assert trigger_times(TERM_END, 0, 0, 0, tz=NEW_YORK).issue == TERM_END


def test_trigger_times_keep_local_midnight_across_the_november_change() -> None:
    # Term ends at midnight EST on December 1 (05:00 UTC). 45 days before is midnight EDT
    # on October 17, which is 04:00 UTC: 45 days minus one hour in UTC.
    times = trigger_times(TERM_END, 45, None, None, tz=NEW_YORK)
    assert times.create == datetime(2026, 10, 17, 4, 0, tzinfo=UTC)
    assert times.create.astimezone(NEW_YORK).time() == time(0, 0)


def test_trigger_times_keep_local_time_across_the_march_change() -> None:
    # 12:01 AM EDT on March 20, 2026 is 04:01 UTC; 30 days earlier is 12:01 AM EST (05:01).
    end = datetime(2026, 3, 20, 4, 1, tzinfo=UTC)
    times = trigger_times(end, 30, 30, 30, tz=NEW_YORK)
    expected = datetime(2026, 2, 18, 5, 1, tzinfo=UTC)
    assert times == TriggerTimes(expected, expected, expected)


def test_trigger_times_in_london_keep_local_midnight() -> None:
    end = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)  # midnight BST, April 1
    times = trigger_times(end, 45, None, None, tz=LONDON)
    assert times.create == datetime(2026, 2, 15, 0, 0, tzinfo=UTC)  # midnight GMT


def test_trigger_times_are_utc() -> None:
    times = trigger_times(TERM_END.astimezone(NEW_YORK), 45, 30, 15, tz=NEW_YORK)
    for _, moment in times:
        assert moment is not None and moment.tzinfo is UTC


def test_trigger_times_refuse_negative_or_naive_input() -> None:
    with pytest.raises(ValueError):
        trigger_times(TERM_END, -1, None, None, tz=NEW_YORK)
    with pytest.raises(ValueError):
        trigger_times(datetime(2026, 12, 1), 45, None, None, tz=NEW_YORK)
    with pytest.raises(ValueError):
        TriggerTimes(create=datetime(2026, 12, 1))


def _season_walls() -> st.SearchStrategy[datetime]:
    """Local term ends in the weeks after the March and November changes."""
    days = st.one_of(
        st.dates(min_value=date(2000, 3, 1), max_value=date(2000, 5, 15)),
        st.dates(min_value=date(2000, 10, 20), max_value=date(2000, 12, 31)),
    )
    times = st.times().map(lambda t: t.replace(microsecond=0))
    return st.builds(
        lambda day, year, clock: datetime.combine(day.replace(year=year), clock),
        days,
        st.integers(min_value=2000, max_value=2045),
        times,
    )


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    first = wall.replace(tzinfo=zone, fold=0)
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return round_trip == wall and first.utcoffset() == wall.replace(tzinfo=zone, fold=1).utcoffset()


LEADS = st.one_of(st.none(), st.integers(min_value=0, max_value=120))


@given(
    wall=_season_walls(),
    create=LEADS,
    accept=LEADS,
    issue=LEADS,
    zone=st.sampled_from([NEW_YORK, LONDON]),
)
def test_lead_days_across_dst_keep_the_local_wall_clock(
    wall: datetime, create: int | None, accept: int | None, issue: int | None, zone: ZoneInfo
) -> None:
    term_end = wall.replace(tzinfo=zone).astimezone(UTC)
    times = trigger_times(term_end, create, accept, issue, tz=zone)
    for lead, moment in zip((create, accept, issue), (times.create, times.accept, times.issue),
                            strict=True):  # fmt: skip
        if lead is None:
            assert moment is None
            continue
        assert moment is not None and moment.tzinfo is UTC
        expected = wall - timedelta(days=lead)
        assume(_exists(wall, zone) and _exists(expected, zone))
        assert moment.astimezone(zone).replace(tzinfo=None) == expected
        assert abs((term_end - moment) - timedelta(days=lead)) <= timedelta(hours=1)


@given(wall=_season_walls(), leads=st.lists(st.integers(0, 120), min_size=3, max_size=3))
def test_more_lead_days_never_fire_later(wall: datetime, leads: list[int]) -> None:
    term_end = wall.replace(tzinfo=NEW_YORK).astimezone(UTC)
    create, accept, issue = sorted(leads, reverse=True)
    times = trigger_times(term_end, create, accept, issue, tz=NEW_YORK)
    assert times.create <= times.accept <= times.issue <= term_end  # type: ignore[operator]


# ----------------------------------------------------------------- due events

TIMES = TriggerTimes(
    create=datetime(2026, 10, 17, 4, tzinfo=UTC),
    accept=datetime(2026, 11, 1, 4, tzinfo=UTC),
    issue=datetime(2026, 11, 16, 5, tzinfo=UTC),
)


def test_nothing_is_due_before_the_first_trigger() -> None:
    assert due_events(TIMES, set(), TIMES.create - timedelta(seconds=1)) == []  # type: ignore[operator]


def test_a_trigger_is_due_at_its_time() -> None:
    assert due_events(TIMES, set(), TIMES.create) == [E.CREATE]  # type: ignore[arg-type]


def test_missed_triggers_fire_together_in_order() -> None:
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert due_events(TIMES, set(), later) == [E.CREATE, E.ACCEPT, E.ISSUE]


def test_order_is_create_accept_issue_even_when_times_are_out_of_order() -> None:
    odd = TriggerTimes(create=TIMES.issue, accept=TIMES.create, issue=TIMES.accept)
    assert due_events(odd, set(), datetime(2027, 1, 1, tzinfo=UTC)) == [E.CREATE, E.ACCEPT, E.ISSUE]


def test_fired_triggers_never_fire_again() -> None:
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert due_events(TIMES, {E.CREATE}, later) == [E.ACCEPT, E.ISSUE]
    assert due_events(TIMES, {E.CREATE, E.ACCEPT, E.ISSUE}, later) == []


def test_manual_steps_are_never_due() -> None:
    manual_accept = TriggerTimes(create=TIMES.create, accept=None, issue=TIMES.issue)
    assert due_events(manual_accept, set(), datetime(2027, 1, 1, tzinfo=UTC)) == [E.CREATE, E.ISSUE]


def test_next_due_time_is_the_earliest_pending_time() -> None:
    assert ar.next_due_time(TIMES, set()) == TIMES.create
    assert ar.next_due_time(TIMES, {E.CREATE}) == TIMES.accept
    assert ar.next_due_time(TIMES, set(TriggerEvent)) is None


# ----------------------------------------------------------------- who fires plugins


@pytest.mark.parametrize("state", list(A), ids=str)
def test_only_an_active_auto_renewal_fires_plugins(state: A) -> None:
    assert fires_plugins(state) is (state is A.ACTIVE)


def test_terminated_and_discarded_never_call_plugins() -> None:
    assert not fires_plugins(A.TERMINATED)
    assert not fires_plugins(A.DISCARDED)
    for state in (A.TERMINATED, A.DISCARDED):
        with pytest.raises(AutoRenewalRefused, match="does not fire its triggers"):
            apply_plugin_answer(
                E.CREATE, facts(state), PluginAnswer(), renewal_state=None, now=TIMES.issue
            )


def test_do_not_renew_on_any_auto_renewal_blocks_issue_on_the_policy() -> None:
    assert ar.blocks_issue([A.ISSUED, A.DO_NOT_RENEW])
    assert not ar.blocks_issue([A.ACTIVE, A.ISSUED, A.ERROR])
    assert not ar.blocks_issue([])


# ----------------------------------------------------------------- state operations

# Written by hand, independently of OPERATIONS: operation → states it may start from.
_EXPECTED_FROM: dict[Operation, set[A]] = {
    Operation.DO_NOT_RENEW: {A.ACTIVE, A.ERROR, A.INVALIDATED},
    Operation.REACTIVATE: {A.DO_NOT_RENEW, A.ERROR, A.INVALIDATED},
    Operation.DISCARD: {A.ACTIVE, A.ERROR, A.INVALIDATED},
    Operation.MARK_ISSUED: {A.ACTIVE, A.ERROR, A.INVALIDATED, A.TERMINATED, A.DISCARDED},
    Operation.TERMINATE: {A.ACTIVE, A.ERROR, A.INVALIDATED},
    Operation.INVALIDATE: {A.ACTIVE, A.ERROR},
    Operation.ERROR: {A.ACTIVE},
}
_TARGET: dict[Operation, A] = {
    Operation.DO_NOT_RENEW: A.DO_NOT_RENEW,
    Operation.REACTIVATE: A.ACTIVE,
    Operation.DISCARD: A.DISCARDED,
    Operation.MARK_ISSUED: A.ISSUED,
    Operation.TERMINATE: A.TERMINATED,
    Operation.INVALIDATE: A.INVALIDATED,
    Operation.ERROR: A.ERROR,
}


def _run(op: Operation, before: AutoRenewalFacts) -> AutoRenewalFacts:
    match op:
        case Operation.DO_NOT_RENEW:
            return ar.do_not_renew(before)
        case Operation.REACTIVATE:
            return ar.reactivate(before, on_latest_term=True)
        case Operation.DISCARD:
            return ar.discard(before)
        case Operation.MARK_ISSUED:
            return ar.mark_issued(before)
        case Operation.TERMINATE:
            return ar.terminate(before, T.REFUSED)
        case Operation.INVALIDATE:
            return ar.invalidate(before)
        case Operation.ERROR:
            return ar.error(before, "The plugin timed out.")
    raise AssertionError(op)


@pytest.mark.parametrize(
    ("op", "state"), [(op, s) for op in Operation for s in A], ids=lambda v: str(v)
)
def test_operation_table(op: Operation, state: A) -> None:
    allowed = state in _EXPECTED_FROM[op]
    assert (op in ar.allowed_operations(state)) is allowed
    assert ar.OPERATIONS[op][1] is _TARGET[op]
    if allowed:
        assert _run(op, facts(state)).state is _TARGET[op]
    else:
        with pytest.raises(AutoRenewalRefused) as refused:
            _run(op, facts(state))
        message = refused.value.message
        assert message[0].isupper() and message.endswith(".")
        assert isinstance(refused.value, RuleRefused)


def test_do_not_renew_from_active() -> None:
    assert ar.do_not_renew(facts()).state is A.DO_NOT_RENEW


def test_do_not_renew_twice_says_so() -> None:
    with pytest.raises(
        AutoRenewalRefused, match=r"^The auto-renewal is already marked do not renew\.$"
    ):
        ar.do_not_renew(facts(A.DO_NOT_RENEW))


def test_reactivate_lifts_do_not_renew() -> None:
    assert ar.reactivate(facts(A.DO_NOT_RENEW), on_latest_term=True).state is A.ACTIVE


def test_reactivate_resumes_after_error_and_clears_the_error() -> None:
    broken = ar.error(facts(), "The plugin said nonsense.")
    assert broken.last_error == "The plugin said nonsense."
    again = ar.reactivate(broken, on_latest_term=True, renewal_state=T.DRAFT)
    assert again.state is A.ACTIVE and again.last_error is None


def test_reactivate_after_cancellation_keeps_the_trigger_times() -> None:
    before = facts(A.INVALIDATED, create_time=TIMES.create, fired_create_at=TIMES.create)
    after = ar.reactivate(before, on_latest_term=True, renewal_state=T.DRAFT)
    assert after.state is A.ACTIVE and after.times == before.times and after.fired == {E.CREATE}


def test_reactivate_only_on_the_latest_term() -> None:
    with pytest.raises(AutoRenewalRefused, match="latest term"):
        ar.reactivate(facts(A.DO_NOT_RENEW), on_latest_term=False)


def test_reactivate_refused_on_a_cancelled_policy() -> None:
    with pytest.raises(AutoRenewalRefused, match="cancelled policy"):
        ar.reactivate(facts(A.INVALIDATED), on_latest_term=True, policy_cancelled=True)


def test_reactivate_refused_when_its_renewal_has_ended() -> None:
    with pytest.raises(AutoRenewalRefused, match="its renewal is rejected"):
        ar.reactivate(facts(A.ERROR), on_latest_term=True, renewal_state=T.REJECTED)


@pytest.mark.parametrize("state", [A.ACTIVE, A.ISSUED, A.TERMINATED, A.DISCARDED])
def test_reactivate_refused_from_other_states(state: A) -> None:
    with pytest.raises(AutoRenewalRefused):
        ar.reactivate(facts(state), on_latest_term=True)


def test_discard_switches_it_off() -> None:
    assert ar.discard(facts()).state is A.DISCARDED


def test_discard_cannot_lift_do_not_renew() -> None:
    with pytest.raises(AutoRenewalRefused) as refused:
        ar.discard(facts(A.DO_NOT_RENEW))
    assert str(refused.value) == (
        "An auto-renewal that is marked do not renew cannot be discarded: "
        "reactivate it first to lift do not renew."
    )


def test_mark_issued_when_any_renewal_of_the_term_is_issued() -> None:
    for state in (A.ACTIVE, A.ERROR, A.INVALIDATED, A.TERMINATED, A.DISCARDED):
        assert ar.mark_issued(facts(state)).state is A.ISSUED


def test_mark_issued_refused_under_do_not_renew() -> None:
    with pytest.raises(AutoRenewalRefused, match="no renewal of its policy may be issued"):
        ar.mark_issued(facts(A.DO_NOT_RENEW))


@pytest.mark.parametrize("ending", [T.DISCARDED, T.REJECTED, T.REFUSED, T.INVALIDATED])
def test_terminate_when_its_renewal_ended_without_a_new_term(ending: T) -> None:
    assert ar.terminate(facts(), ending).state is A.TERMINATED


@pytest.mark.parametrize("state", [T.DRAFT, T.QUOTED, T.ACCEPTED, T.ISSUED])
def test_terminate_refused_while_the_renewal_is_open_or_issued(state: T) -> None:
    with pytest.raises(AutoRenewalRefused, match=f"its renewal is {state.value}"):
        ar.terminate(facts(), state)


def test_terminate_keeps_do_not_renew() -> None:
    with pytest.raises(AutoRenewalRefused, match="only reactivating lifts do not renew"):
        ar.terminate(facts(A.DO_NOT_RENEW), T.REJECTED)


def test_invalidate_on_policy_cancellation() -> None:
    assert ar.invalidate(facts()).state is A.INVALIDATED
    assert ar.invalidate(facts(A.ERROR)).state is A.INVALIDATED


def test_error_records_the_reason() -> None:
    broken = ar.error(facts(), "  The plugin\nraised KeyError.  ")
    assert broken.state is A.ERROR
    assert broken.last_error == "The plugin raised KeyError."


def test_error_needs_a_reason() -> None:
    with pytest.raises(ValueError):
        ar.error(facts(), "   ")


def test_issued_is_final_for_every_operation() -> None:
    assert ar.allowed_operations(A.ISSUED) == frozenset()


def test_changed_fields_lists_columns_old_and_new() -> None:
    before = facts()
    after = ar.error(before, "Boom.")
    assert ar.changed_fields(before, after) == {
        "state": (A.ACTIVE, A.ERROR),
        "last_error": (None, "Boom."),
    }


# ----------------------------------------------------------------- editing and plans


def test_edit_changes_settings_and_stores_times_in_utc() -> None:
    moment = datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK)
    after = ar.edit(facts(A.ERROR), accept_time=moment, new_term_months=6, transaction_type="x")
    assert after.accept_time == moment and after.accept_time.tzinfo is UTC
    assert (after.new_term_months, after.transaction_type) == (6, "x")
    assert ar.edit(after, accept_time=None).accept_time is None
    assert ar.edit(after, issue_time=KEEP) == after


@pytest.mark.parametrize("state", [A.ISSUED, A.TERMINATED, A.DISCARDED])
def test_edit_refused_once_finished(state: A) -> None:
    with pytest.raises(AutoRenewalRefused, match="can no longer be changed"):
        ar.edit(facts(state), new_term_months=6)


def test_edit_refuses_bad_values() -> None:
    with pytest.raises(AutoRenewalRefused, match="months from 1 to 120"):
        ar.edit(facts(), new_term_months=0)
    with pytest.raises(AutoRenewalRefused, match="non-empty"):
        ar.edit(facts(), transaction_type="  ")


def test_plan_lead_days_must_fire_in_order() -> None:
    ar.check_plan_settings(60, 30, 15, 12)
    ar.check_plan_settings(60, None, 15, 12)
    ar.check_plan_settings(None, None, None, 12)
    ar.check_plan_settings(30, 30, 30, 6)
    with pytest.raises(AutoRenewalRefused) as refused:
        ar.check_plan_settings(45, 60, None, 12)
    assert str(refused.value) == (
        "The accept lead days (60) cannot be more than the create lead days (45): "
        "a renewal cannot be accepted before it is created."
    )
    with pytest.raises(AutoRenewalRefused, match="issued before it is created"):
        ar.check_plan_settings(10, None, 20, 12)
    with pytest.raises(AutoRenewalRefused, match="zero or more"):
        ar.check_plan_settings(-1, None, None, 12)
    with pytest.raises(AutoRenewalRefused, match="months"):
        ar.check_plan_settings(60, 30, 15, 0)


# ----------------------------------------------------------------- the plugin answer

VALID_ANSWER = {
    "autoRenewalState": "active",
    "renewalTransactionType": "renewal",
    "newTermDuration": 6,
    "renewalTransactionCreateTime": "2026-10-17T00:00:00-04:00",
    "renewalTransactionAcceptTime": "2026-11-01T04:00:00Z",
    "renewalTransactionIssueTime": None,
}


def test_a_full_valid_answer() -> None:
    answer = validate_plugin_answer(VALID_ANSWER)
    assert answer == PluginAnswer(
        state=A.ACTIVE,
        transaction_type="renewal",
        new_term_months=6,
        create_time=datetime(2026, 10, 17, 4, tzinfo=UTC),
        accept_time=datetime(2026, 11, 1, 4, tzinfo=UTC),
        issue_time=None,
    )
    assert answer.create_time.tzinfo is UTC  # type: ignore[union-attr]


def test_an_empty_answer_changes_nothing() -> None:
    assert validate_plugin_answer({}) == PluginAnswer()
    assert PluginAnswer().state is KEEP


def test_a_null_duration_keeps_the_current_one() -> None:
    assert validate_plugin_answer({"newTermDuration": None}).new_term_months is KEEP


@pytest.mark.parametrize("state", ["active", "doNotRenew", "discarded"])
def test_answer_states_a_plugin_may_set(state: str) -> None:
    assert validate_plugin_answer({"autoRenewalState": state}).state is A(state)


@pytest.mark.parametrize(
    ("answer", "key"),
    [
        ({"autoRenewalState": "issued"}, "autoRenewalState"),
        ({"autoRenewalState": "error"}, "autoRenewalState"),
        ({"autoRenewalState": None}, "autoRenewalState"),
        ({"autoRenewalState": "ACTIVE"}, "autoRenewalState"),
        ({"renewalTransactionType": ""}, "renewalTransactionType"),
        ({"renewalTransactionType": "   "}, "renewalTransactionType"),
        ({"renewalTransactionType": None}, "renewalTransactionType"),
        ({"renewalTransactionType": 7}, "renewalTransactionType"),
        ({"renewalTransactionType": "x" * 41}, "renewalTransactionType"),
        ({"newTermDuration": 0}, "newTermDuration"),
        ({"newTermDuration": -12}, "newTermDuration"),
        ({"newTermDuration": 12.0}, "newTermDuration"),
        ({"newTermDuration": "12"}, "newTermDuration"),
        ({"newTermDuration": True}, "newTermDuration"),
        ({"newTermDuration": 121}, "newTermDuration"),
        ({"renewalTransactionCreateTime": "2026-10-17T00:00:00"}, "renewalTransactionCreateTime"),
        ({"renewalTransactionAcceptTime": "2026-11-01"}, "renewalTransactionAcceptTime"),
        ({"renewalTransactionIssueTime": "next tuesday"}, "renewalTransactionIssueTime"),
        ({"renewalTransactionIssueTime": 1790000000}, "renewalTransactionIssueTime"),
        ({"renewalTransactionIssueTime": ""}, "renewalTransactionIssueTime"),
        ({"renewalTransactionCreateTime": datetime(2026, 1, 1, tzinfo=UTC)}, "CreateTime"),
        ({"renewalState": "active"}, "'renewalState'"),
        ({"autoRenewalState": "active", "extra": 1}, "'extra'"),
        ({1: "x"}, "1"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_invalid_answers_name_the_key(answer: dict[object, object], key: str) -> None:
    with pytest.raises(InvalidPluginAnswer) as invalid:
        validate_plugin_answer(answer)
    message = str(invalid.value)
    assert key in message
    assert message[0].isupper() and message.endswith(".")
    assert isinstance(invalid.value, ValueError)


@pytest.mark.parametrize("answer", [None, [], "active", 42, ("autoRenewalState", "active")])
def test_an_answer_that_is_not_an_object_is_invalid(answer: object) -> None:
    with pytest.raises(InvalidPluginAnswer, match="must be an object of settings"):
        validate_plugin_answer(answer)


def test_several_unknown_keys_are_all_named() -> None:
    with pytest.raises(InvalidPluginAnswer, match="unknown keys 'a', 'b'"):
        validate_plugin_answer({"b": 1, "a": 2})


# ----------------------------------------------------------------- the plugin request


def test_plugin_request_has_exactly_the_event_and_the_whole_auto_renewal() -> None:
    whole = facts(create_time=TIMES.create, id=7, policy_id=3, term_id=5).to_plugin_dict()
    request = plugin_request(E.ACCEPT, whole)
    assert set(request) == {"renewalEvent", "autoRenewal"}
    assert request["renewalEvent"] == "accept"
    assert request["autoRenewal"] == whole


def test_plugin_request_is_a_copy() -> None:
    whole = facts().to_plugin_dict()
    request = plugin_request(E.CREATE, whole)
    request["autoRenewal"]["firedTimes"]["create"] = "scribbled"  # type: ignore[index]
    assert whole["firedTimes"]["create"] is None  # type: ignore[index]


def test_the_plugin_sees_the_answer_keys_with_their_current_values() -> None:
    whole = facts(new_term_months=6, accept_time=TIMES.accept).to_plugin_dict()
    assert set(ar.ANSWER_KEYS) <= set(whole)
    assert whole["autoRenewalState"] == "active"
    assert whole["newTermDuration"] == 6
    assert whole["renewalTransactionAcceptTime"] == "2026-11-01T04:00:00+00:00"
    assert whole["renewalTransactionIssueTime"] is None
    # what the plugin receives, sent back unchanged, is a valid answer
    echo = {key: whole[key] for key in ar.ANSWER_KEYS}
    assert validate_plugin_answer(echo).accept_time == TIMES.accept


# ----------------------------------------------------------------- action needed


@pytest.mark.parametrize(
    ("event", "renewal_state", "needed"),
    [
        (E.CREATE, None, True),
        (E.CREATE, T.DRAFT, False),
        (E.CREATE, T.ACCEPTED, False),
        (E.ACCEPT, None, False),
        (E.ACCEPT, T.DRAFT, True),
        (E.ACCEPT, T.QUOTED, True),
        (E.ACCEPT, T.ACCEPTED, False),
        (E.ACCEPT, T.ISSUED, False),
        (E.ACCEPT, T.DISCARDED, False),
        (E.ISSUE, None, False),
        (E.ISSUE, T.DRAFT, True),
        (E.ISSUE, T.QUOTED, True),
        (E.ISSUE, T.ACCEPTED, True),
        (E.ISSUE, T.ISSUED, False),
        (E.ISSUE, T.REFUSED, False),
        (E.ISSUE, T.INVALIDATED, False),
    ],
)
def test_action_needed(event: E, renewal_state: T | None, needed: bool) -> None:
    assert action_needed(event, renewal_state) is needed


def test_event_targets() -> None:
    assert [ar.event_target(e) for e in TriggerEvent] == [T.DRAFT, T.ACCEPTED, T.ISSUED]


# ----------------------------------------------------------------- applying the answer

ACTIVE = facts(create_time=TIMES.create, accept_time=TIMES.accept, issue_time=TIMES.issue)


def test_no_answer_runs_the_action_and_spends_the_event() -> None:
    now = TIMES.create
    out = apply_plugin_answer(E.CREATE, ACTIVE, PluginAnswer(), renewal_state=None, now=now)
    assert out.run_action and out.mark_fired and out.note is None
    assert out.after == ACTIVE
    assert out.done().fired_create_at == now
    assert out.changes == {"fired_create_at": (None, now)}


def test_the_answer_is_applied_before_the_action() -> None:
    answer = validate_plugin_answer({"newTermDuration": 6, "renewalTransactionType": "short"})
    out = apply_plugin_answer(E.CREATE, ACTIVE, answer, renewal_state=None, now=TIMES.create)
    assert out.run_action
    # the caller creates the renewal from ``after``: the plugin's settings are already there
    assert (out.after.new_term_months, out.after.transaction_type) == (6, "short")


def test_discarded_on_the_create_event_creates_no_renewal() -> None:
    answer = validate_plugin_answer({"autoRenewalState": "discarded"})
    out = apply_plugin_answer(E.CREATE, ACTIVE, answer, renewal_state=None, now=TIMES.create)
    assert not out.run_action
    assert out.after.state is A.DISCARDED
    assert out.note == "The plugin discarded the auto-renewal, so no renewal was created."
    assert not fires_plugins(out.done().state)


def test_discarded_on_a_later_event_stops_the_auto_renewal() -> None:
    answer = PluginAnswer(state=A.DISCARDED)
    out = apply_plugin_answer(E.ISSUE, ACTIVE, answer, renewal_state=T.ACCEPTED, now=TIMES.issue)
    assert not out.run_action and out.after.state is A.DISCARDED


def test_do_not_renew_answer_stops_the_action_and_leaves_the_event_pending() -> None:
    answer = PluginAnswer(state=A.DO_NOT_RENEW)
    out = apply_plugin_answer(E.ACCEPT, ACTIVE, answer, renewal_state=T.DRAFT, now=TIMES.accept)
    assert not out.run_action and not out.mark_fired
    assert out.done().state is A.DO_NOT_RENEW
    assert E.ACCEPT not in out.done().fired
    # reactivated later, the accept trigger is pending and fires on the next tick
    again = ar.reactivate(out.done(), on_latest_term=True, renewal_state=T.DRAFT)
    later = TIMES.accept + timedelta(days=3)  # type: ignore[operator]
    assert due_events(again.times, again.fired, later) == [E.CREATE, E.ACCEPT]


def test_an_active_answer_keeps_it_active() -> None:
    out = apply_plugin_answer(
        E.CREATE, ACTIVE, PluginAnswer(state=A.ACTIVE), renewal_state=None, now=TIMES.create
    )
    assert out.run_action and out.after.state is A.ACTIVE


def test_a_manual_advance_ahead_of_the_trigger_fires_the_plugin_but_does_nothing() -> None:
    out = apply_plugin_answer(
        E.ACCEPT, ACTIVE, PluginAnswer(), renewal_state=T.ACCEPTED, now=TIMES.accept
    )
    assert not out.run_action
    assert out.mark_fired, "the event is spent: it fired, there was simply nothing to do"
    assert out.note == "The renewal is already accepted, so the accept trigger did nothing."


def test_manually_accepted_renewal_is_still_issued_by_the_issue_trigger() -> None:
    out = apply_plugin_answer(
        E.ISSUE, ACTIVE, PluginAnswer(), renewal_state=T.ACCEPTED, now=TIMES.issue
    )
    assert out.run_action


def test_create_with_an_adopted_renewal_does_not_create_another() -> None:
    out = apply_plugin_answer(
        E.CREATE, ACTIVE, PluginAnswer(), renewal_state=T.DRAFT, now=TIMES.create
    )
    assert not out.run_action and out.mark_fired
    assert "no new one was created" in (out.note or "")


def test_an_answer_that_moves_the_event_later_postpones_it() -> None:
    later = TIMES.accept + timedelta(days=2)  # type: ignore[operator]
    answer = PluginAnswer(accept_time=later)
    out = apply_plugin_answer(E.ACCEPT, ACTIVE, answer, renewal_state=T.DRAFT, now=TIMES.accept)
    assert not out.run_action and not out.mark_fired
    assert out.done().accept_time == later
    assert due_events(out.done().times, out.done().fired, later) == [E.CREATE, E.ACCEPT]
    assert out.note == "The plugin postponed the accept step to November 3, 2026 at 4:00 AM."
    in_ny = apply_plugin_answer(
        E.ACCEPT, ACTIVE, answer, renewal_state=T.DRAFT, now=TIMES.accept, tz=NEW_YORK
    )
    assert in_ny.note == "The plugin postponed the accept step to November 2, 2026 at 11:00 PM."


def test_an_answer_that_clears_the_event_time_makes_the_step_manual() -> None:
    answer = PluginAnswer(issue_time=None)
    out = apply_plugin_answer(E.ISSUE, ACTIVE, answer, renewal_state=T.ACCEPTED, now=TIMES.issue)
    assert not out.run_action
    assert out.done().issue_time is None
    assert "manual" in (out.note or "")


def test_an_answer_may_move_other_events() -> None:
    earlier_issue = TIMES.accept
    answer = PluginAnswer(issue_time=earlier_issue)
    out = apply_plugin_answer(E.ACCEPT, ACTIVE, answer, renewal_state=T.DRAFT, now=TIMES.accept)
    assert out.run_action
    done = out.done()
    assert due_events(done.times, done.fired | {E.CREATE}, TIMES.accept) == [E.ISSUE]


def test_a_failed_action_leaves_the_event_pending_in_error() -> None:
    out = apply_plugin_answer(
        E.ISSUE, ACTIVE, PluginAnswer(), renewal_state=T.QUOTED, now=TIMES.issue
    )
    assert out.run_action
    broken = out.failed("The policy is cancelled.")
    assert broken.state is A.ERROR and broken.last_error == "The policy is cancelled."
    assert E.ISSUE not in broken.fired


def test_a_plugin_that_raised_puts_the_auto_renewal_in_error() -> None:
    broken = ar.error(ACTIVE, "The plugin raised RuntimeError: no network.")
    assert broken.state is A.ERROR and not fires_plugins(broken.state)
    assert broken.times == ACTIVE.times


def test_apply_plugin_answer_needs_an_aware_now() -> None:
    with pytest.raises(ValueError):
        apply_plugin_answer(
            E.CREATE, ACTIVE, PluginAnswer(), renewal_state=None, now=datetime(2026, 1, 1)
        )


def test_an_invalid_answer_changes_nothing_and_becomes_an_error() -> None:
    with pytest.raises(InvalidPluginAnswer) as invalid:
        validate_plugin_answer({"autoRenewalState": "issued"})
    broken = ar.error(ACTIVE, str(invalid.value))
    assert ar.changed_fields(ACTIVE, broken).keys() == {"state", "last_error"}
