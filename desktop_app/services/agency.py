"""Agency-wide settings every desktop shares: the time zone, renewal windows.

They live in the ``app_settings`` table, not in a desktop's settings file, because the
timer service on any desktop must compute the same trigger times, and every screen must
show the same dates.

Calendar dates and moments. People speak in dates ("expires 3/1/2027"); the database
stores moments in UTC. A date means midnight at the *start* of that day on the agency's
wall clock, and a term's end is exclusive, so a policy "from 3/1/2026 to 3/1/2027" covers
every moment up to, not including, midnight of March 1, 2027 in the agency's zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from desktop_app.db.engine import Database
from desktop_app.db.models import AppSetting
from desktop_app.domain.enums import LINES_OF_BUSINESS
from desktop_app.domain.permissions import Action
from desktop_app.errors import RuleViolation
from desktop_app.services.unit import Actor, unit_of_work

TIME_ZONE_KEY = "agency.time_zone"
WINDOW_KEY = "agency.renewal_window_days"
DEFAULT_TIME_ZONE = "UTC"

# How many days before expiration a renewal card appears on the board ("X days out"),
# per line of business. Commercial lines need longer: loss runs, applications and
# marketing to several carriers take weeks; personal lines renew on the carrier's offer.
DEFAULT_WINDOW_DAYS: dict[str, int] = {
    "AUTOP": 60,
    "HOME": 60,
    "DFIRE": 60,
    "UMBRP": 60,
    "FLOOD": 60,
    "INMRC": 90,
    "BOP": 90,
    "PL": 90,
    "CGL": 120,
    "WORK": 120,
    "CAUTO": 120,
    "UMBRC": 120,
    "PROP": 120,
}
assert set(DEFAULT_WINDOW_DAYS) == set(LINES_OF_BUSINESS)


def _get(session: Session, key: str) -> Any:
    row = session.get(AppSetting, key)
    return None if row is None else row.value


def zone_named(name: str) -> ZoneInfo:
    """The time zone called ``name`` (an IANA name such as America/New_York)."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleViolation(
            f"'{name}' is not a time zone name; use one like America/New_York or America/Chicago."
        ) from None


def per_transaction(session: Session, key: object, load: Any) -> Any:
    """``load()`` once per session: agency-wide rows (stages, templates, the time zone) do
    not change inside one transaction, and the timer service asks for them per renewal."""
    cache = session.info.setdefault("renewal_desk_cache", {})
    if key not in cache:
        cache[key] = load()
    return cache[key]


def time_zone(session: Session) -> ZoneInfo:
    """The agency's time zone (UTC until an admin sets it)."""
    return per_transaction(session, TIME_ZONE_KEY, lambda: _time_zone(session))


def _time_zone(session: Session) -> ZoneInfo:
    name = _get(session, TIME_ZONE_KEY)
    if not name:
        return ZoneInfo(DEFAULT_TIME_ZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def window_days(session: Session) -> dict[str, int]:
    """Days before expiration that a renewal card is opened, per line of business."""
    saved = _get(session, WINDOW_KEY) or {}
    return {lob: int(saved.get(lob, days)) for lob, days in DEFAULT_WINDOW_DAYS.items()}


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` on the agency's wall clock, in UTC."""
    return datetime.combine(day, time(), tz).astimezone(UTC)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The calendar date ``moment`` falls on in the agency's zone."""
    return moment.astimezone(tz).date()


def set_setting(db: Database, actor: Actor, key: str, value: Any) -> None:
    """Change one agency-wide setting (admins only); audited like every change."""
    with unit_of_work(db, actor) as uow:
        uow.require(Action.SETTINGS_MANAGE)
        row = uow.session.get(AppSetting, key)
        old = None if row is None else row.value
        if row is None:
            uow.session.add(AppSetting(key=key, value=value))
        else:
            row.value = value
        if old != value:
            uow.audit("setting.change", "app_settings", None, {key: [old, value]})


def set_time_zone(db: Database, actor: Actor, name: str) -> str:
    """Set the agency's time zone; returns its canonical name."""
    zone = zone_named(name)
    set_setting(db, actor, TIME_ZONE_KEY, zone.key)
    return zone.key


def set_window_days(db: Database, actor: Actor, line_of_business: str, days: int) -> None:
    lob = line_of_business.strip().upper()
    if lob not in DEFAULT_WINDOW_DAYS:
        raise RuleViolation(f"'{line_of_business}' is not a line of business.")
    if not 1 <= days <= 365:
        raise RuleViolation("The renewal window must be from 1 to 365 days.")
    with db.read_session() as session:
        current = dict(_get(session, WINDOW_KEY) or {})
    current[lob] = days
    set_setting(db, actor, WINDOW_KEY, current)
