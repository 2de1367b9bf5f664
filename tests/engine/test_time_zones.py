"""Trigger times on the agency's wall clock: across daylight saving, and in zones not UTC.

"Times are stored in UTC and shown in the agency's time zone." Lead days count on the
agency's calendar, so a term that ends at local midnight gets its triggers at local
midnight — which is a different UTC hour on each side of a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from desktop_app.db.engine import Database
from desktop_app.errors import RuleViolation
from desktop_app.services import agency as agency_settings
from desktop_app.services import transactions
from desktop_app.services.unit import Actor
from tests.engine.conftest import Book, PluginRecorder, build_book

NEW_YORK = ZoneInfo("America/New_York")


def local_midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC)


def agency_in(
    zone: str,
    db: Database,
    admin: Actor,
    make_user: Callable[..., Actor],
    end: date,
    **leads: Any,
) -> Book:
    """The agency's zone is set first (trigger times are computed when the term gets its
    auto-renewal), then a one-year policy ending at local midnight of ``end``."""
    assert agency_settings.set_time_zone(db, admin, zone) == zone
    end_at = local_midnight(end, zone)
    start_at = local_midnight(end.replace(year=end.year - 1), zone)
    return build_book(db, admin, make_user, start=start_at, end=end_at, **leads)


def fired(book: Book, moment: datetime) -> list[tuple[str, str]]:
    report = book.tick(moment, PluginRecorder().plugin_set())
    return [(a["event"], a["outcome"]) for a in report.actions]


def test_trigger_times_across_the_spring_daylight_saving_change(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    """New York, a term ending March 20, 2027 at local midnight (EDT, 04:00 UTC): 30 lead
    days is February 18 at local midnight — EST, so 05:00 UTC; 5 lead days is March 15,
    after the change, 04:00 UTC."""
    book = agency_in(
        "America/New_York", db, admin, make_user, date(2027, 3, 20), create=30, accept=5, issue=0
    )
    ar = book.ar()
    assert book.terms()[0].end_at == datetime(2027, 3, 20, 4, 0, tzinfo=UTC)
    assert ar.create_time == datetime(2027, 2, 18, 5, 0, tzinfo=UTC)
    assert ar.accept_time == datetime(2027, 3, 15, 4, 0, tzinfo=UTC)
    assert ar.issue_time == datetime(2027, 3, 20, 4, 0, tzinfo=UTC)
    assert fired(book, datetime(2027, 2, 18, 4, 59, tzinfo=UTC)) == []
    assert fired(book, datetime(2027, 2, 18, 5, 0, tzinfo=UTC)) == [("create", "created")]
    assert fired(book, datetime(2027, 3, 15, 3, 59, tzinfo=UTC)) == []
    assert fired(book, datetime(2027, 3, 15, 4, 0, tzinfo=UTC)) == [("accept", "accepted")]
    # the new term also ends at local midnight, a year on (EDT again: 04:00 UTC)
    renewal = book.renewal(book.ar().renewal_id)
    assert renewal.new_end_at == datetime(2028, 3, 20, 4, 0, tzinfo=UTC)
    assert renewal.new_end_at.astimezone(NEW_YORK).time() == datetime.min.time()


def test_trigger_times_across_the_autumn_daylight_saving_change(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    """New York, a term ending November 20, 2027 at local midnight (EST, 05:00 UTC): 30
    and 15 lead days fall before November 7 (EDT, 04:00 UTC), 10 lead days after it."""
    book = agency_in(
        "America/New_York",
        db,
        admin,
        make_user,
        date(2027, 11, 20),
        create=30,
        accept=15,
        issue=10,
    )
    ar = book.ar()
    assert book.terms()[0].end_at == datetime(2027, 11, 20, 5, 0, tzinfo=UTC)
    assert ar.create_time == datetime(2027, 10, 21, 4, 0, tzinfo=UTC)
    assert ar.accept_time == datetime(2027, 11, 5, 4, 0, tzinfo=UTC)
    assert ar.issue_time == datetime(2027, 11, 10, 5, 0, tzinfo=UTC)
    assert fired(book, datetime(2027, 10, 21, 3, 59, 59, tzinfo=UTC)) == []
    assert fired(book, datetime(2027, 10, 21, 4, 0, tzinfo=UTC)) == [("create", "created")]
    assert fired(book, datetime(2027, 11, 5, 4, 0, tzinfo=UTC)) == [("accept", "accepted")]
    assert fired(book, datetime(2027, 11, 10, 4, 59, tzinfo=UTC)) == []
    assert fired(book, datetime(2027, 11, 10, 5, 0, tzinfo=UTC)) == [("issue", "issued")]
    new_term = book.terms()[-1]
    assert (new_term.start_at, new_term.end_at) == (
        datetime(2027, 11, 20, 5, 0, tzinfo=UTC),
        datetime(2028, 11, 20, 5, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("zone", "end", "lead", "create_at"),
    [
        # no change within the lead time: local midnight is 00:00 minus the zone's offset
        ("UTC", date(2027, 7, 1), 60, datetime(2027, 5, 2, 0, 0, tzinfo=UTC)),
        ("America/Los_Angeles", date(2027, 7, 1), 60, datetime(2027, 5, 2, 7, 0, tzinfo=UTC)),
        ("America/Chicago", date(2027, 7, 1), 60, datetime(2027, 5, 2, 5, 0, tzinfo=UTC)),
        # the southern hemisphere: NZDT (+13) ends April 4, 2027; the term ends in NZST
        # (+12, April 19 12:00 UTC) and the trigger, March 21, is still in NZDT
        ("Pacific/Auckland", date(2027, 4, 20), 30, datetime(2027, 3, 20, 11, 0, tzinfo=UTC)),
    ],
)
def test_the_agency_time_zone_sets_the_utc_instant_of_a_trigger(  # type: ignore[no-untyped-def]
    db, admin, make_user, zone: str, end: date, lead: int, create_at: datetime
) -> None:
    """An agency zone other than UTC moves the trigger's UTC instant to that zone's local
    midnight; a tick a minute before does nothing, the tick at it fires."""
    book = agency_in(zone, db, admin, make_user, end, create=lead, accept=None, issue=None)
    ar = book.ar()
    assert ar.create_time == create_at
    assert ar.create_time.astimezone(ZoneInfo(zone)).time() == datetime.min.time()
    assert fired(book, create_at - timedelta(minutes=1)) == []
    assert fired(book, create_at) == [("create", "created")]


def test_dates_typed_by_people_mean_local_midnight(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    """``renewal create --end 2028-03-20`` in a New York agency is midnight in New York."""
    book = agency_in("America/New_York", db, admin, make_user, date(2027, 3, 20))
    info = transactions.create_renewal(
        db, book.manager, book.number, new_end=date(2028, 3, 20), effective=date(2027, 3, 25)
    )
    assert info.new_end == datetime(2028, 3, 20, 4, 0, tzinfo=UTC)
    assert info.effective == datetime(2027, 3, 25, 4, 0, tzinfo=UTC)


def test_messages_show_times_on_the_agency_wall_clock(db, admin, make_user) -> None:  # type: ignore[no-untyped-def]
    """A postponement note names the local date, not the UTC one (05:00 UTC is midnight)."""
    book = agency_in("America/New_York", db, admin, make_user, date(2027, 3, 20), create=30)
    later = datetime(2027, 2, 21, 5, 0, tzinfo=UTC)
    plugin = PluginRecorder(
        answer=lambda r: (
            {"renewalTransactionCreateTime": later.isoformat()}
            if r["renewalEvent"] == "create" and not r["autoRenewal"]["renewalId"]
            else None
        )
    )
    report = book.tick(datetime(2027, 2, 18, 5, 0, tzinfo=UTC), plugin.plugin_set())
    assert report.actions[0]["note"] == "The plugin postponed the create step to February 21, 2027."
    with pytest.raises(RuleViolation) as refused:
        transactions.create_renewal(db, book.manager, book.number, new_end=date(2027, 3, 20))
    assert str(refused.value) == (
        "The new end (March 20, 2027) must be after the policy's current end (March 20, 2027)."
    )


def test_an_unknown_time_zone_is_refused_in_a_sentence(db, admin) -> None:  # type: ignore[no-untyped-def]
    """Setting the zone to something that is not an IANA name says what to use instead."""
    with pytest.raises(RuleViolation) as refused:
        agency_settings.set_time_zone(db, admin, "Eastern")
    assert str(refused.value) == (
        "'Eastern' is not a time zone name; use one like America/New_York or America/Chicago."
    )
