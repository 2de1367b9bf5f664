"""DOMAIN.md "Auto-renewal", one named test per rule, through the services and the timer.

The timer service is always ticked with an explicit ``now``; the plugin is a real callable
(:class:`~tests.engine.conftest.PluginRecorder`) that writes down every request. Every
test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from desktop_app.db.models import DocumentRequirement, Renewal, User
from desktop_app.domain.enums import AuditSource, AutoRenewalState, TransactionState
from desktop_app.errors import (
    NotFound,
    PermissionDenied,
    RuleViolation,
    StaleEdit,
    UserFacingError,
)
from desktop_app.services import admin as admin_service
from desktop_app.services import auto_renewals, book, renewals, transactions, work
from desktop_app.services.unit import TIMER_USER
from tests.engine.conftest import (
    ACCEPT_AT,
    CREATE_AT,
    ISSUE_AT,
    NEW_END,
    TERM_END,
    TERM_START,
    Book,
    PluginRecorder,
    build_book,
)
from tests.helpers import dump_database

A = AutoRenewalState
S = TransactionState
CAMEL = re.compile(r"^[a-z][a-zA-Z]*$")
SEED_KEYS = {
    "autoRenewalState",
    "renewalTransactionType",
    "newTermDuration",
    "renewalTransactionCreateTime",
    "renewalTransactionAcceptTime",
    "renewalTransactionIssueTime",
}


def outcomes(report: Any, number: str | None = None) -> list[tuple[str, str]]:
    return [
        (a["event"], a["outcome"])
        for a in report.actions
        if "event" in a and (number is None or a["policy_number"] == number)
    ]


def answer_once(first: Any, then: Any = None) -> Any:
    """A plugin answer: ``first`` for the first request, ``then`` afterwards."""
    calls = {"n": 0}

    def answer(request: dict[str, Any]) -> Any:
        calls["n"] += 1
        return first if calls["n"] == 1 else then

    return answer


def on_event(event: str, answer: Any, number: str | None = None) -> Any:
    """Answer ``answer`` on ``event`` (for one policy only, when ``number`` is given)."""

    def respond(request: dict[str, Any]) -> Any:
        mine = number is None or request["autoRenewal"]["policyNumber"] == number
        if mine and request["renewalEvent"] == event:
            return answer(request) if callable(answer) else answer
        return None

    return respond


# --------------------------------------------------------------------------- plans


def test_an_account_with_a_plan_gets_an_auto_renewal_on_each_latest_term(agency: Book) -> None:
    """ "An account with a plan gets an auto-renewal on each policy's latest term. Trigger
    times are derived from the term end and the plan's lead days (create = end − create
    lead days, and so on)." """
    second = agency.add_policy(end=TERM_END + timedelta(days=10))
    for policy_id, end in ((agency.policy_id, TERM_END), (second, TERM_END + timedelta(days=10))):
        (ar,) = agency.ars(policy_id)
        assert ar.state is A.ACTIVE
        assert ar.term_id == agency.terms(policy_id)[-1].id
        assert (ar.create_time, ar.accept_time, ar.issue_time) == (
            end - timedelta(days=60),
            end - timedelta(days=30),
            end - timedelta(days=15),
        )
        assert ar.next_due_at == end - timedelta(days=60)
        assert (ar.new_term_months, ar.transaction_type) == (12, "renewal")


def test_assigning_a_plan_gives_every_policy_of_the_account_an_auto_renewal(
    agency: Book,
) -> None:
    """The plan is per account: setting it later gives each policy's latest term one; an
    account without a plan gets none."""
    other = book.create_account(agency.db, agency.admin, "Dockside Diner", producer="pat")
    first = agency.add_policy("GL-1", account_id=other.id, lob="CGL")
    second = agency.add_policy("GL-2", account_id=other.id, lob="CGL", end=TERM_END + timedelta(1))
    assert agency.ars(first) == [] and agency.ars(second) == []
    assert auto_renewals.set_account_plan(agency.db, agency.manager, "Dockside Diner", "Standard")
    assert [len(agency.ars(p)) for p in (first, second)] == [1, 1]
    assert agency.ar(second).create_time == TERM_END + timedelta(days=1) - timedelta(days=60)


def test_empty_lead_days_make_that_step_manual(db, admin, make_user, recorder) -> None:  # type: ignore[no-untyped-def]
    """ "create/accept/issue lead days (each may be empty = that step is manual)": no
    trigger time, no plugin call, no automatic action for that step."""
    agency = build_book(db, admin, make_user, accept=None, issue=None)
    ar = agency.ar()
    assert (ar.create_time, ar.accept_time, ar.issue_time) == (CREATE_AT, None, None)
    report = agency.tick(TERM_END - timedelta(days=1), recorder.plugin_set())
    assert outcomes(report) == [("create", "created")]
    assert recorder.events_of(agency.number) == ["create"]
    assert agency.renewal(agency.ar().renewal_id).transaction_state is S.DRAFT
    assert agency.ar().next_due_at is None


def test_only_the_latest_term_may_have_an_active_auto_renewal(agency: Book) -> None:
    """ "Only the latest term may have an active auto-renewal" — after an issue the old
    term's is issued and the new term holds the only active one; a second one is refused."""
    agency.tick(ISSUE_AT)
    old, new = agency.ars()
    terms = agency.terms()
    assert (old.state, new.state) == (A.ISSUED, A.ACTIVE)
    assert new.term_id == terms[-1].id
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        auto_renewals.create(agency.db, agency.manager, agency.number)
    assert str(refused.value) == (
        "The term of The Hartford policy WC-0000 ending 2028-07-01 already has an "
        "auto-renewal (active)."
    )
    assert dump_database(agency.db) == before


def test_generate_auto_renewals_gives_every_new_term_its_own(agency: Book, recorder) -> None:  # type: ignore[no-untyped-def]
    """ "With generate auto-renewals, every new term (e.g. the one an issued renewal
    creates) gets its own auto-renewal, so the cycle continues by itself." """
    agency.tick(ISSUE_AT, recorder.plugin_set())
    agency.tick(NEW_END - timedelta(days=15), recorder.plugin_set())
    terms = agency.terms()
    assert [t.end_at for t in terms] == [TERM_END, NEW_END, datetime(2029, 7, 1, tzinfo=UTC)]
    ars = agency.ars()
    assert [a.term_id for a in ars] == [t.id for t in terms]
    assert [a.state for a in ars] == [A.ISSUED, A.ISSUED, A.ACTIVE]
    assert ars[1].create_time == NEW_END - timedelta(days=60)
    assert recorder.events_of(agency.number) == ["create", "accept", "issue"] * 2


def test_without_generate_the_new_term_gets_no_auto_renewal(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    """A plan without generate-auto-renewals renews once; the new term can get one by hand."""
    agency = build_book(db, admin, make_user, generate=False)
    agency.tick(ISSUE_AT)
    assert len(agency.terms()) == 2
    assert [a.state for a in agency.ars()] == [A.ISSUED]
    info = auto_renewals.create(agency.db, agency.manager, agency.number)
    assert info.term_end == NEW_END and info.state is A.ACTIVE
    assert [a.state for a in agency.ars()] == [A.ISSUED, A.ACTIVE]


# --------------------------------------------------------------------------- states


def test_state_issued_when_a_renewal_of_the_term_is_issued_automatically(agency: Book) -> None:
    """ "issued (a renewal of the term was issued, automatically or by hand)" — automatically."""
    report = agency.tick(ISSUE_AT)
    assert outcomes(report)[-1] == ("issue", "issued")
    assert agency.ars()[0].state is A.ISSUED


def test_state_issued_when_a_renewal_of_the_term_is_issued_by_hand(agency: Book) -> None:
    """ "… or by hand" — even a renewal the auto-renewal does not manage."""
    renewal_id = transactions.create_renewal(
        agency.db, agency.manager, agency.number, new_end=NEW_END
    ).id
    assert agency.ar().renewal_id is None
    transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    assert agency.ars()[0].state is A.ISSUED


@pytest.mark.parametrize("ending", ["discarded", "rejected", "refused"])
def test_state_terminated_when_its_renewal_ends_without_a_new_term(
    agency: Book, recorder: PluginRecorder, ending: str
) -> None:
    """ "terminated (its renewal reached discarded/rejected/refused/invalidated; no more
    plugin calls)" """
    agency.tick(CREATE_AT, recorder.plugin_set())
    transactions.end_renewal(agency.db, agency.manager, agency.ar().renewal_id, ending)
    assert agency.ar().state is A.TERMINATED
    assert agency.ar().next_due_at is None
    report = agency.tick(ISSUE_AT + timedelta(days=1), recorder.plugin_set())
    assert report.actions == []
    assert recorder.events_of(agency.number) == ["create"]
    before = dump_database(agency.db)
    with pytest.raises(RuleViolation) as refused:
        auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    assert str(refused.value) == "An auto-renewal that is terminated cannot be reactivated."
    assert dump_database(agency.db) == before


def test_state_discarded_by_hand_means_no_plugin_calls(agency: Book, recorder) -> None:  # type: ignore[no-untyped-def]
    """ "discarded (inactive, no plugin calls)" """
    info = auto_renewals.discard(agency.db, agency.manager, agency.number)
    assert info.state is A.DISCARDED and info.next_due_at is None
    assert agency.tick(ISSUE_AT + timedelta(days=1), recorder.plugin_set()).actions == []
    assert recorder.requests == []
    assert agency.renewals() == []


def test_state_error_when_the_plugin_fails_and_it_can_be_edited_and_reactivated(
    agency: Book,
) -> None:
    """ "error (cannot advance; can be edited and reactivated)" — the failed event stays
    pending and fires once the auto-renewal is active again."""

    def broken(request: dict[str, Any]) -> Any:
        raise RuntimeError("rating service down")

    failing = PluginRecorder(answer=broken)
    report = agency.tick(CREATE_AT, failing.plugin_set())
    assert outcomes(report) == [("create", "error")]
    ar = agency.ar()
    assert ar.state is A.ERROR and ar.fired_create_at is None and ar.next_due_at is None
    assert ar.last_error == (
        "The create trigger failed: The plugin recorder failed: RuntimeError: rating service down"
    )
    # stays put while in error
    assert agency.tick(CREATE_AT + timedelta(days=1), failing.plugin_set()).actions == []
    assert len(failing.requests) == 1
    # editable while in error
    later = CREATE_AT + timedelta(days=2)
    info = auto_renewals.update(agency.db, agency.manager, agency.number, create_time=later)
    assert info.state is A.ERROR and info.create_time == later
    info = auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    assert info.state is A.ACTIVE and info.error is None and info.next_due_at == later
    fixed = PluginRecorder()
    assert outcomes(agency.tick(later, fixed.plugin_set())) == [("create", "created")]
    assert fixed.events_of(agency.number) == ["create"]


def test_state_invalidated_when_the_policy_is_cancelled(agency: Book, recorder) -> None:  # type: ignore[no-untyped-def]
    """ "invalidated" (the state added for cancellation): no triggers until reactivated."""
    agency.tick(CREATE_AT, recorder.plugin_set())
    transactions.cancel_policy(agency.db, agency.manager, agency.number)
    ar = agency.ar()
    assert ar.state is A.INVALIDATED and ar.next_due_at is None
    assert agency.tick(ISSUE_AT, recorder.plugin_set()).actions == []
    assert recorder.events_of(agency.number) == ["create"]


def test_state_do_not_renew_by_hand_stops_the_triggers(agency: Book, recorder) -> None:  # type: ignore[no-untyped-def]
    """ "doNotRenew" set by a person: no triggers, no plugin calls, nothing issued."""
    info = auto_renewals.do_not_renew(agency.db, agency.manager, agency.number)
    assert info.state is A.DO_NOT_RENEW and info.next_due_at is None
    assert agency.tick(ISSUE_AT, recorder.plugin_set()).actions == []
    assert recorder.requests == []


def test_state_do_not_renew_by_the_plugin_blocks_the_issue(agency: Book) -> None:
    """A plugin's ``doNotRenew`` puts the policy in do not renew: the action does not run,
    the event stays pending, and nobody can issue until it is reactivated."""
    plugin = PluginRecorder(answer=on_event("accept", {"autoRenewalState": "doNotRenew"}))
    report = agency.tick(ACCEPT_AT, plugin.plugin_set())
    assert outcomes(report) == [("create", "created"), ("accept", "stopped")]
    ar = agency.ar()
    assert ar.state is A.DO_NOT_RENEW and ar.fired_accept_at is None
    renewal_id = ar.renewal_id
    assert agency.renewal(renewal_id).transaction_state is S.DRAFT
    with pytest.raises(RuleViolation, match=r"^The policy is marked do not renew"):
        transactions.advance(agency.db, agency.manager, renewal_id, "issued")
    # reactivated, the pending accept fires (and calls the plugin) again
    auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    calm = PluginRecorder()
    report = agency.tick(ISSUE_AT, calm.plugin_set())
    assert outcomes(report) == [("accept", "accepted"), ("issue", "issued")]
    assert calm.events_of(agency.number) == ["accept", "issue"]


# --------------------------------------------------------------------------- the plugin


def test_the_plugin_is_called_before_each_action_with_renewal_event_and_auto_renewal(
    agency: Book,
) -> None:
    """ "At each non-empty trigger time, before the automatic action, the plugin hook is
    called with {"renewalEvent": …, "autoRenewal": {…the whole auto-renewal…}}" — exactly
    those two keys, the auto-renewal's keys in camelCase as in the source document."""
    seen: list[tuple[str, Any, Any]] = []

    def look(request: dict[str, Any]) -> None:
        # the auto-renewal and its renewal as the engine read them just before acting
        ar = request["autoRenewal"]
        seen.append((request["renewalEvent"], ar["renewalId"], ar["renewalState"]))

    plugin = PluginRecorder(answer=look)
    agency.tick(ISSUE_AT, plugin.plugin_set())
    assert seen == [
        ("create", None, None),
        ("accept", 1, "draft"),
        ("issue", 1, "accepted"),
    ]
    for request in plugin.requests:
        assert set(request) == {"renewalEvent", "autoRenewal"}
        body = request["autoRenewal"]
        assert set(body) >= SEED_KEYS
        assert all(CAMEL.match(key) for key in body), sorted(body)
        assert body["autoRenewalState"] == "active"
        assert body["renewalTransactionCreateTime"] == CREATE_AT.isoformat()
        assert body["renewalTransactionAcceptTime"] == ACCEPT_AT.isoformat()
        assert body["renewalTransactionIssueTime"] == ISSUE_AT.isoformat()
        assert body["newTermDuration"] == 12
        assert body["renewalTransactionType"] == "renewal"
        assert body["policyNumber"] == agency.number
    first, second, third = (r["autoRenewal"]["firedTimes"] for r in plugin.requests)
    assert first == {"create": None, "accept": None, "issue": None}
    assert second["create"] == ISSUE_AT.isoformat() and second["accept"] is None
    assert third["accept"] == ISSUE_AT.isoformat() and third["issue"] is None


def test_plugin_answer_active_lets_the_action_run(agency: Book) -> None:
    """``autoRenewalState: active`` changes nothing: the action runs."""
    plugin = PluginRecorder(answer={"autoRenewalState": "active"})
    report = agency.tick(ISSUE_AT, plugin.plugin_set())
    assert outcomes(report) == [("create", "created"), ("accept", "accepted"), ("issue", "issued")]


def test_plugin_answer_discarded_on_create_means_no_renewal_is_created(agency: Book) -> None:
    """ "`discarded` on the create event means no renewal is created." """
    plugin = PluginRecorder(answer={"autoRenewalState": "discarded"})
    report = agency.tick(ISSUE_AT, plugin.plugin_set())
    assert outcomes(report) == [("create", "stopped")]
    assert agency.renewals() == []
    ar = agency.ar()
    assert ar.state is A.DISCARDED and ar.renewal_id is None and ar.next_due_at is None
    assert len(plugin.requests) == 1
    assert agency.tick(ISSUE_AT + timedelta(days=1), plugin.plugin_set()).actions == []
    assert len(plugin.requests) == 1


def test_plugin_answer_discarded_on_accept_stops_the_auto_renewal(agency: Book) -> None:
    """A later ``discarded`` leaves the renewal to people: it is neither accepted nor issued."""
    plugin = PluginRecorder(answer=on_event("accept", {"autoRenewalState": "discarded"}))
    report = agency.tick(ISSUE_AT, plugin.plugin_set())
    assert outcomes(report) == [("create", "created"), ("accept", "stopped")]
    ar = agency.ar()
    assert ar.state is A.DISCARDED
    assert agency.renewal(ar.renewal_id).transaction_state is S.DRAFT
    assert len(agency.terms()) == 1


def test_plugin_answer_renewal_transaction_type_is_applied_before_create(agency: Book) -> None:
    """``renewalTransactionType``: the answer is applied first, then the action runs."""
    plugin = PluginRecorder(answer=answer_once({"renewalTransactionType": "rewrite"}))
    agency.tick(CREATE_AT, plugin.plugin_set())
    ar = agency.ar()
    assert ar.transaction_type == "rewrite"
    assert agency.renewal(ar.renewal_id).transaction_type == "rewrite"


def test_plugin_answer_new_term_duration_is_applied_before_create(agency: Book) -> None:
    """``newTermDuration``: a six-month renewal instead of the plan's twelve."""
    plugin = PluginRecorder(answer=answer_once({"newTermDuration": 6}))
    agency.tick(ISSUE_AT, plugin.plugin_set())
    assert agency.ars()[0].new_term_months == 6
    assert agency.terms()[-1].end_at == datetime(2028, 1, 1, tzinfo=UTC)


def test_plugin_answer_create_time_later_postpones_the_create(agency: Book) -> None:
    """``renewalTransactionCreateTime`` later than now: nothing yet, it fires then."""
    later = CREATE_AT + timedelta(days=3)
    plugin = PluginRecorder(answer=answer_once({"renewalTransactionCreateTime": later.isoformat()}))
    report = agency.tick(CREATE_AT, plugin.plugin_set())
    assert outcomes(report) == [("create", "postponed")]
    ar = agency.ar()
    assert (ar.create_time, ar.fired_create_at, ar.next_due_at) == (later, None, later)
    assert agency.renewals() == []
    assert agency.tick(later - timedelta(seconds=1), plugin.plugin_set()).actions == []
    assert outcomes(agency.tick(later, plugin.plugin_set())) == [("create", "created")]
    assert plugin.events_of(agency.number) == ["create", "create"]


def test_plugin_answer_accept_time_moves_the_accept_trigger(agency: Book) -> None:
    """``renewalTransactionAcceptTime`` answered on create moves the accept trigger."""
    later = ACCEPT_AT + timedelta(days=5)
    plugin = PluginRecorder(
        answer=on_event("create", {"renewalTransactionAcceptTime": later.isoformat()})
    )
    agency.tick(CREATE_AT, plugin.plugin_set())
    assert agency.ar().accept_time == later
    assert agency.tick(ACCEPT_AT, plugin.plugin_set()).actions == []
    assert outcomes(agency.tick(later, plugin.plugin_set())) == [("accept", "accepted")]


def test_plugin_answer_issue_time_null_makes_the_issue_manual(agency: Book) -> None:
    """``renewalTransactionIssueTime: null`` makes the issue step manual."""
    plugin = PluginRecorder(answer=on_event("accept", {"renewalTransactionIssueTime": None}))
    agency.tick(ACCEPT_AT, plugin.plugin_set())
    ar = agency.ar()
    assert ar.issue_time is None and ar.next_due_at is None
    assert agency.tick(TERM_END, plugin.plugin_set()).actions == []
    assert agency.renewal(ar.renewal_id).transaction_state is S.ACCEPTED
    assert len(agency.terms()) == 1


def test_plugin_answer_issue_time_on_the_issue_event_postpones_it(agency: Book) -> None:
    """An answer that moves the firing event's own time later postpones it."""
    later = ISSUE_AT + timedelta(days=2)
    plugin = PluginRecorder(
        answer=on_event("issue", answer_once({"renewalTransactionIssueTime": later.isoformat()}))
    )
    report = agency.tick(ISSUE_AT, plugin.plugin_set())
    assert outcomes(report)[-1] == ("issue", "postponed")
    assert len(agency.terms()) == 1
    assert outcomes(agency.tick(later, plugin.plugin_set())) == [("issue", "issued")]
    assert len(agency.terms()) == 2


def _hang(gate: threading.Event) -> Any:
    def hang(request: dict[str, Any]) -> Any:
        gate.wait(30)
        return {}

    return hang


@pytest.mark.parametrize(
    ("misbehaviour", "reason"),
    [
        ("raises", "The plugin recorder failed: ValueError: no rating for WC-0000"),
        ("hangs", "The plugin recorder did not answer within 0.2 seconds."),
        ("unknown key", "The plugin's answer has the unknown key 'renewNow'."),
        ("not an object", "The plugin's answer must be an object of settings, not list."),
        (
            "bad state",
            "The plugin's autoRenewalState must be one of active, discarded, doNotRenew, "
            "not 'issued'.",
        ),
        (
            "bad duration",
            "The plugin's newTermDuration must be a whole number of months from 1 to 120.",
        ),
        ("naive time", "The plugin's renewalTransactionAcceptTime ('2027-06-01T00:00:00') needs"),
        (
            "not a time",
            "The plugin's renewalTransactionIssueTime ('next Tuesday') is not an ISO 8601 date "
            "and time.",
        ),
    ],
)
def test_a_plugin_that_raises_hangs_or_answers_nonsense_puts_only_that_auto_renewal_in_error(
    agency: Book, release_hung_plugins: threading.Event, misbehaviour: str, reason: str
) -> None:
    """ "A plugin that raises or answers nonsense puts the auto-renewal in error with the
    reason — the service never crashes" (and one that hangs past its time limit); the
    other auto-renewals of the same tick go on as usual."""
    answers: dict[str, Any] = {
        "raises": lambda r: (_ for _ in ()).throw(ValueError("no rating for WC-0000")),
        "hangs": _hang(release_hung_plugins),
        "unknown key": {"renewNow": True},
        "not an object": ["doNotRenew"],
        "bad state": {"autoRenewalState": "issued"},
        "bad duration": {"newTermDuration": 0},
        "naive time": {"renewalTransactionAcceptTime": "2027-06-01T00:00:00"},
        "not a time": {"renewalTransactionIssueTime": "next Tuesday"},
    }
    agency.add_policy("WC-0001")
    agency.add_policy("WC-0002")
    plugin = PluginRecorder(answer=on_event("create", answers[misbehaviour], number="WC-0001"))
    report = agency.tick(CREATE_AT, plugin.plugin_set(timeout=0.2))
    assert sorted(outcomes(report)) == [
        ("create", "created"),
        ("create", "created"),
        ("create", "error"),
    ]
    assert report.errors == []
    broken = agency.ar(agency.policy_id + 1)
    assert broken.state is A.ERROR
    assert broken.last_error is not None
    assert broken.last_error.startswith(f"The create trigger failed: {reason.rstrip('.')}")
    assert broken.fired_create_at is None and broken.renewal_id is None
    assert agency.renewals(agency.policy_id + 1) == []
    notices = agency.notices("auto_renewal_error")
    assert [n.message for n in notices] == [
        f"Auto-renewal of The Hartford policy WC-0001: {broken.last_error}"
    ]
    for other in (agency.policy_id, agency.policy_id + 2):
        ar = agency.ar(other)
        assert ar.state is A.ACTIVE and ar.fired_create_at == CREATE_AT
        assert agency.renewal(ar.renewal_id).transaction_state is S.DRAFT
    # the next tick carries on with the others and leaves the broken one alone
    report = agency.tick(ACCEPT_AT, plugin.plugin_set(timeout=0.2))
    assert sorted(outcomes(report)) == [("accept", "accepted")] * 2
    assert plugin.events_of("WC-0001") == ["create"]


def test_a_plugin_answering_none_changes_nothing(agency: Book) -> None:
    """``None`` (or ``{}``) is "no change": the action runs as planned."""
    plugin = PluginRecorder(answer=None)
    report = agency.tick(ISSUE_AT, plugin.plugin_set())
    assert outcomes(report) == [("create", "created"), ("accept", "accepted"), ("issue", "issued")]
    assert [e.action for e in agency.audit() if e.action == "plugin.answer"] == []


# --------------------------------------------------------------------------- manual work


def test_manual_advancing_never_calls_the_plugin_and_never_changes_trigger_times(
    agency: Book, recorder: PluginRecorder
) -> None:
    """ "Manual advancing never calls the plugin and never changes the trigger times." """
    agency.tick(CREATE_AT, recorder.plugin_set())
    before = agency.ar()
    transactions.advance(agency.db, agency.manager, before.renewal_id, "accepted")
    after = agency.ar()
    assert len(recorder.requests) == 1
    for column in (
        "create_time",
        "accept_time",
        "issue_time",
        "fired_create_at",
        "fired_accept_at",
        "fired_issue_at",
        "next_due_at",
        "state",
    ):
        assert getattr(after, column) == getattr(before, column), column


def test_a_renewal_advanced_by_hand_ahead_still_fires_the_plugin_but_no_action(
    agency: Book, recorder: PluginRecorder
) -> None:
    """ "If a renewal was advanced by hand ahead of a trigger, the plugin still fires at
    that time but no action happens." """
    agency.tick(CREATE_AT, recorder.plugin_set())
    renewal_id = agency.ar().renewal_id
    transactions.advance(agency.db, agency.manager, renewal_id, "accepted")
    audit_before = len(agency.audit("renewals", renewal_id))
    report = agency.tick(ACCEPT_AT, recorder.plugin_set())
    assert outcomes(report) == [("accept", "no_action")]
    assert recorder.events_of(agency.number) == ["create", "accept"]
    assert recorder.requests[-1]["autoRenewal"]["renewalState"] == "accepted"
    assert report.actions[0]["note"] == (
        "The renewal is already accepted, so the accept trigger did nothing."
    )
    assert len(agency.audit("renewals", renewal_id)) == audit_before
    assert agency.ar().fired_accept_at == ACCEPT_AT
    (firing,) = agency.firings("auto_renewal.accept")
    assert firing.outcome == "no_action"
    # the seed's example: accepted by hand, then issued by the auto-renewal at its time
    report = agency.tick(ISSUE_AT, recorder.plugin_set())
    assert outcomes(report) == [("issue", "issued")]
    assert recorder.events_of(agency.number) == ["create", "accept", "issue"]


def test_an_open_renewal_at_create_time_is_adopted_instead_of_a_duplicate(
    agency: Book, recorder: PluginRecorder
) -> None:
    """ "If an open renewal for the term already exists when the create trigger fires, the
    auto-renewal adopts it instead of creating a duplicate card." """
    mine = transactions.create_renewal(agency.db, agency.manager, agency.number, new_end=NEW_END).id
    report = agency.tick(CREATE_AT, recorder.plugin_set())
    assert outcomes(report) == [("create", "adopted")]
    assert [r.id for r in agency.renewals()] == [mine]
    assert agency.ar().renewal_id == mine
    assert recorder.events_of(agency.number) == ["create"]
    agency.tick(ISSUE_AT, recorder.plugin_set())
    assert agency.renewal(mine).transaction_state is S.ISSUED
    assert len(agency.terms()) == 2


def test_an_adopted_pipeline_card_is_then_advanced_automatically(
    agency: Book, recorder: PluginRecorder
) -> None:
    """An auto-renewal that adopts the card a CSR opened on the board (which has no
    transaction dates yet) must be able to accept and issue it: "adopts it" means it then
    manages it automatically (seed 003: "so that it is then managed automatically"). The
    engine gives it the new term it would have given its own renewal."""
    card = renewals.open_renewal(
        agency.db,
        agency.csr,
        agency.policy_id,
        next_action="Request payroll report",
        owner="casey",
        due=date(2027, 5, 15),
    )
    report = agency.tick(ISSUE_AT, recorder.plugin_set())
    assert outcomes(report) == [("create", "adopted"), ("accept", "accepted"), ("issue", "issued")]
    assert [r.id for r in agency.renewals()] == [card.id]
    assert agency.terms()[-1].end_at == NEW_END


# --------------------------------------------------------------------------- the timer


def test_missed_triggers_fire_on_the_next_tick_in_order_each_exactly_once(
    agency: Book, recorder: PluginRecorder
) -> None:
    """ "Triggers that came due while no client was running fire on the next tick, in
    order (create, accept, issue), each exactly once." """
    agency.add_policy("WC-0001", end=TERM_END + timedelta(days=3))
    late = ISSUE_AT + timedelta(days=10)
    report = agency.tick(late, recorder.plugin_set())
    for number in (agency.number, "WC-0001"):
        assert outcomes(report, number) == [
            ("create", "created"),
            ("accept", "accepted"),
            ("issue", "issued"),
        ]
        assert recorder.events_of(number) == ["create", "accept", "issue"]
    ledger = [(f.kind, f.subject_id) for f in agency.firings("auto_renewal.")]
    assert sorted(ledger) == sorted(
        (f"auto_renewal.{e}", ar) for e in ("create", "accept", "issue") for ar in (1, 2)
    )
    first = agency.ars()[0]
    assert first.fired_create_at == first.fired_accept_at == first.fired_issue_at == late
    # again, and later: nothing fires twice
    calls = len(recorder.requests)
    assert agency.tick(late, recorder.plugin_set()).actions == []
    assert agency.tick(late + timedelta(days=5), recorder.plugin_set()).actions == []
    assert len(recorder.requests) == calls
    assert len(agency.firings("auto_renewal.")) == 6


def test_each_trigger_fires_at_its_time_and_not_before(
    agency: Book, recorder: PluginRecorder
) -> None:
    """A tick one second before a trigger does nothing; at the trigger time it fires."""
    one = timedelta(seconds=1)
    for moment, expected in (
        (CREATE_AT - one, []),
        (CREATE_AT, [("create", "created")]),
        (ACCEPT_AT - one, []),
        (ACCEPT_AT, [("accept", "accepted")]),
        (ISSUE_AT - one, []),
        (ISSUE_AT, [("issue", "issued")]),
    ):
        assert outcomes(agency.tick(moment, recorder.plugin_set())) == expected, moment
    report = agency.tick(ISSUE_AT)
    assert report.next_due == NEW_END - timedelta(days=60)


def test_entry_criteria_refusing_an_automatic_step_put_the_auto_renewal_in_error(
    agency: Book,
) -> None:
    """ "Where a stage's entry criteria still refuse an automatic step, the auto-renewal
    goes to error with that reason and the renewal shows in the needs-attention queue." """
    admin_service.update_stage(
        agency.db,
        agency.admin,
        "bound",
        entry_criteria=["next_action", "new_premium", "new_term_dates", "required_documents"],
    )
    agency.tick(CREATE_AT)
    renewal_id = agency.ar().renewal_id
    report = agency.tick(ACCEPT_AT)
    assert outcomes(report) == [("accept", "error")]
    sentence = (
        "Cannot move to Bound: it needs the required documents received or waived "
        "(Payroll report, Loss runs, ACORD 130)."
    )
    ar = agency.ar()
    assert ar.state is A.ERROR
    assert ar.last_error == f"The accept trigger failed: {sentence}"
    renewal = agency.renewal(renewal_id)
    assert renewal.transaction_state is S.DRAFT  # nothing half-done
    (notice,) = agency.notices("auto_renewal_error")
    assert notice.renewal_id == renewal_id
    assert notice.user_id == renewal.next_action_owner_id
    assert sentence in notice.message
    # people fix it, reactivate, and the pending accept fires
    with agency.db.read_session() as s:
        docs = list(
            s.scalars(
                select(DocumentRequirement.id).where(DocumentRequirement.renewal_id == renewal_id)
            )
        )
    for doc_id in docs:
        work.receive_document(agency.db, agency.csr, doc_id, on=date(2027, 6, 2))
    auto_renewals.reactivate(agency.db, agency.manager, agency.number)
    assert outcomes(agency.tick(ACCEPT_AT + timedelta(days=2))) == [("accept", "accepted")]


def test_renewals_the_engine_creates_have_an_owner_and_a_next_action(
    agency: Book,
) -> None:
    """ "Renewals the engine creates get an owner (the account's CSR, else its producer)
    and a first next action." """
    no_csr = book.create_account(
        agency.db, agency.admin, "Dockside Diner", producer="pat", plan="Standard"
    )
    other = agency.add_policy("GL-7", account_id=no_csr.id, lob="CGL")
    agency.tick(CREATE_AT)
    with agency.db.read_session() as s:
        names = dict(s.execute(select(User.id, User.username)).all())
    with_csr = agency.renewal(agency.ar().renewal_id)
    without = agency.renewal(agency.ar(other).renewal_id)
    assert names[with_csr.next_action_owner_id] == "casey"
    assert names[without.next_action_owner_id] == "pat"
    for renewal in (with_csr, without):
        assert renewal.next_action == transactions.FIRST_NEXT_ACTION
        assert renewal.next_action_due == date(2027, 6, 1)  # 30 days before expiration
        assert renewal.new_end_at == NEW_END
        assert renewal.new_premium is not None


def test_automatic_work_is_audited_with_source_scheduler_or_plugin(agency: Book) -> None:
    """Every automatic change is an audit event by the timer service, source ``scheduler``;
    a plugin's answer is recorded with source ``plugin``."""
    plugin = PluginRecorder(answer=on_event("accept", {"renewalTransactionType": "renewal-2"}))
    first_new = max(e.id for e in agency.audit())
    agency.tick(ISSUE_AT, plugin.plugin_set())
    events = [e for e in agency.audit() if e.id > first_new]
    assert events
    assert {e.actor for e in events} == {TIMER_USER}
    by_source: dict[AuditSource, set[str]] = {}
    for e in events:
        by_source.setdefault(e.source, set()).add(e.action)
    assert set(by_source) == {AuditSource.SCHEDULER, AuditSource.PLUGIN}
    assert by_source[AuditSource.PLUGIN] == {"plugin.answer"}
    assert {
        "renewal.create",
        "renewal.auto_accept",
        "renewal.auto_issue",
        "term.create",
        "auto_renewal.issued",
        "auto_renewal.create",
    } <= by_source[AuditSource.SCHEDULER]
    (answer,) = [e for e in events if e.action == "plugin.answer"]
    renewal_id = agency.ars()[0].renewal_id
    assert (answer.object_type, answer.object_id) == ("renewals", renewal_id)
    assert answer.changes["answer"] == [None, {"renewalTransactionType": "renewal-2"}]
    assert answer.changes["event"] == [None, "accept"]


# --------------------------------------------------------------------------- operations


def test_updating_trigger_times_type_and_duration(agency: Book, recorder) -> None:  # type: ignore[no-untyped-def]
    """ "update trigger times / type / duration": the timer follows the new settings."""
    later = CREATE_AT + timedelta(days=7)
    info = auto_renewals.update(
        agency.db,
        agency.manager,
        agency.number,
        create_time=later,
        transaction_type="rewrite",
        new_term_months=18,
    )
    assert (info.create_time, info.transaction_type, info.new_term_months) == (
        later,
        "rewrite",
        18,
    )
    assert info.next_due_at == later
    (event,) = [
        e for e in agency.audit("auto_renewals", info.id) if e.action == "auto_renewal.update"
    ]
    assert event.changes["create_time"] == [CREATE_AT.isoformat(), later.isoformat()]
    assert agency.tick(CREATE_AT, recorder.plugin_set()).actions == []
    agency.tick(later, recorder.plugin_set())
    renewal = agency.renewal(agency.ar().renewal_id)
    assert renewal.transaction_type == "rewrite"
    assert renewal.new_end_at == datetime(2029, 1, 1, tzinfo=UTC)


def test_moving_the_time_of_an_event_that_fired_does_not_fire_it_again(
    agency: Book, recorder: PluginRecorder
) -> None:
    """Changing the time of an event that already fired does not make it fire again."""
    agency.tick(CREATE_AT, recorder.plugin_set())
    auto_renewals.update(
        agency.db, agency.manager, agency.number, create_time=CREATE_AT + timedelta(days=1)
    )
    assert agency.tick(CREATE_AT + timedelta(days=2), recorder.plugin_set()).actions == []
    assert len(agency.renewals()) == 1
    assert recorder.events_of(agency.number) == ["create"]


def test_pointing_the_auto_renewal_at_another_renewal_makes_it_manage_that_one(
    agency: Book,
) -> None:
    """ "It is OK to create a renewal transaction while an auto-renewal is active. You may
    want to then update the auto-renewal with the locator of the alternate renewal so
    that it is then managed automatically." """
    agency.tick(CREATE_AT)
    own = agency.ar().renewal_id
    alternate = transactions.create_renewal(
        agency.db, agency.manager, agency.number, new_end=NEW_END + timedelta(days=31)
    ).id
    info = auto_renewals.update(agency.db, agency.manager, agency.number, renewal_id=alternate)
    assert info.renewal_id == alternate
    agency.tick(ISSUE_AT)
    states = {r.id: r.transaction_state for r in agency.renewals()}
    assert states == {own: S.INVALIDATED, alternate: S.ISSUED}
    assert agency.terms()[-1].end_at == NEW_END + timedelta(days=31)
    assert agency.ars()[0].state is A.ISSUED


# --------------------------------------------------------------------------- refusals


def _refusals(agency: Book) -> list[tuple[str, Any, type[UserFacingError], str]]:
    """(what, the refused call, error type, the sentence) — built on one small book."""
    db, manager, number = agency.db, agency.manager, agency.number
    other = agency.add_policy("WC-0001")
    auto_renewals.discard(db, manager, "WC-0001")
    foreign = transactions.create_renewal(db, manager, "WC-0001", new_end=NEW_END).id
    ended = transactions.create_renewal(db, manager, number, new_end=NEW_END).id
    transactions.end_renewal(db, manager, ended, "discarded")
    bare = book.create_account(db, agency.admin, "Plain Account", producer="pat")
    agency.add_policy("WC-0002", account_id=bare.id)
    auto_renewals.do_not_renew(db, manager, number)
    del other
    return [
        (
            "dnr twice",
            lambda: auto_renewals.do_not_renew(db, manager, number),
            RuleViolation,
            "The auto-renewal is already marked do not renew.",
        ),
        (
            "discard under dnr",
            lambda: auto_renewals.discard(db, manager, number),
            RuleViolation,
            "An auto-renewal that is marked do not renew cannot be discarded: reactivate it "
            "first to lift do not renew.",
        ),
        (
            "reactivate a discarded one",
            lambda: auto_renewals.reactivate(db, manager, "WC-0001"),
            RuleViolation,
            "An auto-renewal that is discarded cannot be reactivated.",
        ),
        (
            "edit a discarded one",
            lambda: auto_renewals.update(db, manager, "WC-0001", new_term_months=6),
            RuleViolation,
            "An auto-renewal that is discarded can no longer be changed.",
        ),
        (
            "bad duration",
            lambda: auto_renewals.update(db, manager, number, new_term_months=0),
            RuleViolation,
            "The new term must be a whole number of months from 1 to 120.",
        ),
        (
            "renewal of another policy",
            lambda: auto_renewals.update(db, manager, number, renewal_id=foreign),
            NotFound,
            f"Renewal {foreign} is not a renewal of The Hartford policy WC-0000.",
        ),
        (
            "ended renewal",
            lambda: auto_renewals.update(db, manager, number, renewal_id=ended),
            RuleViolation,
            f"Renewal {ended} is discarded; an auto-renewal can only take over an open renewal.",
        ),
        (
            "no auto-renewal",
            lambda: auto_renewals.do_not_renew(db, manager, "WC-0002"),
            NotFound,
            "The Hartford policy WC-0002 has no auto-renewal; create one with "
            "'auto-renewal create'.",
        ),
        (
            "second one on the term",
            lambda: auto_renewals.create(db, manager, number),
            RuleViolation,
            "The term of The Hartford policy WC-0000 ending 2027-07-01 already has an "
            "auto-renewal (doNotRenew).",
        ),
        (
            "a CSR",
            lambda: auto_renewals.reactivate(db, agency.csr, number),
            PermissionDenied,
            "A CSR may not change auto-renewals.",
        ),
        (
            "plan out of order",
            lambda: auto_renewals.add_plan(
                db, manager, "Odd", create_lead_days=30, accept_lead_days=45
            ),
            RuleViolation,
            "The accept lead days (45) cannot be more than the create lead days (30): a "
            "renewal cannot be accepted before it is created.",
        ),
        (
            "plan name taken",
            lambda: auto_renewals.add_plan(db, manager, "Standard"),
            RuleViolation,
            "There is already an auto-renewal plan named 'Standard'.",
        ),
        (
            "unknown plan",
            lambda: auto_renewals.set_account_plan(db, manager, "Plain Account", "Gold"),
            NotFound,
            "There is no auto-renewal plan named 'Gold'; the plans are Standard.",
        ),
        (
            "unknown policy",
            lambda: auto_renewals.show(db, manager, "NOPE-1"),
            NotFound,
            "There is no policy numbered 'NOPE-1'.",
        ),
    ]


def test_every_refused_auto_renewal_operation_says_why_and_changes_nothing(
    agency: Book,
) -> None:
    """ "Each refused operation says why, in a sentence" — and writes nothing."""
    for what, call, kind, sentence in _refusals(agency):
        before = dump_database(agency.db)
        with pytest.raises(kind) as refused:
            call()
        assert str(refused.value) == sentence, what
        assert dump_database(agency.db) == before, what


def test_a_terminated_auto_renewal_is_never_asked_again(agency: Book, recorder) -> None:  # type: ignore[no-untyped-def]
    """Terminated means "no more plugin calls or events", even for triggers long past."""
    agency.tick(ACCEPT_AT, recorder.plugin_set())
    transactions.end_renewal(
        agency.db, agency.manager, agency.ar().renewal_id, "refused", reason="Moved to Acme"
    )
    assert agency.ar().state is A.TERMINATED
    assert agency.tick(TERM_END, recorder.plugin_set()).actions == []
    assert recorder.events_of(agency.number) == ["create", "accept"]
    with agency.db.read_session() as s:
        renewal = s.scalar(select(Renewal))
        assert renewal is not None and renewal.outcome_reason == "Moved to Acme"


def test_the_first_term_auto_renewal_uses_the_agency_plan_settings_not_defaults(
    db, admin, make_user
) -> None:  # type: ignore[no-untyped-def]
    """A plan's own settings (duration, type) go onto the auto-renewals it creates."""
    agency = build_book(db, admin, make_user, create=90, accept=None, issue=None)
    ar = agency.ar()
    assert ar.create_time == TERM_END - timedelta(days=90)
    assert ar.plan_id is not None
    assert agency.terms()[0].start_at == TERM_START


def test_editing_trigger_times_on_a_stale_copy_is_refused(agency: Book) -> None:
    """Two managers edit the same auto-renewal's times: the second is told, not overwritten."""
    seen = auto_renewals.show(agency.db, agency.manager, agency.number)[-1]
    first = CREATE_AT + timedelta(days=2)
    auto_renewals.update(
        agency.db, agency.manager, agency.number, create_time=first, expected_version=seen.version
    )
    with pytest.raises(StaleEdit, match=r"changed by .* after you opened it"):
        auto_renewals.update(
            agency.db,
            agency.manager,
            agency.number,
            create_time=CREATE_AT + timedelta(days=5),
            expected_version=seen.version,
        )
    assert auto_renewals.show(agency.db, agency.manager, agency.number)[-1].create_time == first
