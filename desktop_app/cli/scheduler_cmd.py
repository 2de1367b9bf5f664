"""``renewal-desk scheduler once|run``: the timer service without the desktop app.

``scheduler once`` runs one tick and exits: for cron, for a test, or to see what is due.
``scheduler run`` is the always-on office machine's timer: it ticks until it is stopped
(Ctrl+C or SIGTERM from a service manager), sleeping until the earlier of the next
trigger time and ``--interval`` seconds, because housekeeping (renewal-window cards,
reminders, flags) has no trigger time of its own.

Output. Each action a tick takes is one JSON object on one line of stdout (JSON Lines),
so a log collector or ``jq`` can read the log as it grows; the readable summary of each
tick goes to stderr (not with ``--json``), and so do problems. Nothing a tick does ever
prints a traceback: the details of an unexpected failure go to the log file.

A database outage does not stop ``scheduler run``: it says so on stderr once per attempt
and tries again after 1, 2, 4 … seconds (at most a minute, or the interval when that is
longer), and says when the database is back. Nothing is lost meanwhile: a trigger that
came due fires on the first tick that reaches the database, and exactly once.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from desktop_app.cli.main import EXIT_OK, EXIT_USER_ERROR, CliError, actor_for, open_db

log = logging.getLogger("renewal_desk.scheduler")

DEFAULT_INTERVAL = 60.0
MAX_BACKOFF = 60.0
MIN_SLEEP = 1.0  # never spin: a trigger that stays due waits at least this long
EXIT_TICK_ERRORS = 1


def _iso_moment(text: str) -> datetime:
    """``--now``: ISO 8601 with an offset or Z; a bare date comes back naive (midnight at
    its start in the agency's zone, resolved once the database is open)."""
    from desktop_app.cli.book_cmds import parse_date

    cleaned = text.strip()
    if "T" not in cleaned.upper() and " " not in cleaned:
        try:
            return datetime.combine(parse_date(cleaned), datetime.min.time())
        except argparse.ArgumentTypeError:
            pass
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an ISO 8601 time (e.g. 2027-01-05T09:00:00-05:00 or "
            "2027-01-05T14:00:00Z)"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"'{text}' has no UTC offset; add one, like {cleaned}Z or {cleaned}-05:00"
        )
    return moment.astimezone(UTC)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} seconds is not more than zero")
    return value


def register(subparsers: Any) -> dict[str, Any]:
    """Add ``scheduler once`` and ``scheduler run``; return {"scheduler": handler}."""
    scheduler = subparsers.add_parser(
        "scheduler", help="the timer service: one tick, or tick until stopped"
    )
    actions = scheduler.add_subparsers(dest="scheduler_command", metavar="ACTION", required=True)
    once = actions.add_parser(
        "once",
        help="one tick: fire what is due, print one JSON line per action",
        description="Fire every trigger that is due and do the housekeeping, once. Each "
        "action is printed as one JSON object per line; a summary goes to stderr.",
    )
    once.add_argument(
        "--now",
        type=_iso_moment,
        metavar="ISO-8601",
        help="tick as of this time (admins; default: the database's clock); a bare date "
        "means midnight at its start in the agency's zone",
    )
    once.add_argument(
        "--json", action="store_true", help="only the JSON lines (no summary on stderr)"
    )
    run = actions.add_parser(
        "run",
        help="tick until stopped (Ctrl+C or SIGTERM)",
        description="Tick until stopped. Sleeps until the next trigger time or --interval "
        "seconds, whichever comes first; rides out database outages.",
    )
    run.add_argument(
        "--interval",
        type=_seconds,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"longest sleep between ticks (default {DEFAULT_INTERVAL:g})",
    )
    run.add_argument(
        "--json", action="store_true", help="only the JSON lines (no summaries on stderr)"
    )
    return {"scheduler": cmd_scheduler}


def cmd_scheduler(args: argparse.Namespace) -> int:
    if args.scheduler_command == "once":
        return _once(args)
    return _Runner(args).run()


# --------------------------------------------------------------------------- output


def action_line(action: dict[str, Any]) -> str:
    """One action as one line of JSON; auto-renewal triggers get ``kind: auto_renewal``."""
    kind = action.get("kind", "auto_renewal")
    return json.dumps({"kind": kind, **action}, default=str)


def _say(message: str) -> None:
    print(f"renewal-desk: {message}", file=sys.stderr, flush=True)


def _summary(report: Any, tz: Any) -> str:
    from desktop_app.domain.transactions import format_moment

    counts: Counter[str] = Counter()
    for action in report.actions:
        if "kind" in action:
            counts[action["kind"].replace("_", " ")] += 1
        else:
            counts[f"{action['event']} {action['outcome'].replace('_', ' ')}"] += 1
    done = (
        "; ".join(f"{what} ×{n}" for what, n in sorted(counts.items()))
        if counts
        else "nothing was due"
    )
    following = (
        f"next trigger {format_moment(report.next_due, tz)}"
        if report.next_due is not None
        else "no trigger pending"
    )
    chores = ", housekeeping done" if report.housekeeping else ""
    return (
        f"Tick as of {format_moment(report.now, tz)}: {done}{chores}; {following} "
        f"({report.seconds:.2f} s)."
    )


def _print_report(report: Any, tz: Any, *, quiet: bool, always_summary: bool) -> None:
    for action in report.actions:
        print(action_line(action), flush=True)
    if not quiet and (always_summary or report.actions):
        print(_summary(report, tz), file=sys.stderr, flush=True)
    for problem in report.errors:
        _say(problem)


# --------------------------------------------------------------------------- once


def _once(args: argparse.Namespace) -> int:
    from desktop_app.domain.permissions import Action
    from desktop_app.engine import timer
    from desktop_app.services import agency
    from desktop_app.services.unit import read_only

    db = open_db(args)
    actor = actor_for(db, args)
    with db.read_session() as session:
        tz = agency.time_zone(session)
    now = args.now
    if now is not None:
        # Ticking as of another time fires triggers early (or late): an admin's call.
        with read_only(db, actor) as uow:
            if not uow.allowed(Action.SETTINGS_MANAGE):
                raise CliError(
                    "Only an admin may tick as of another time (--now); "
                    "leave it out to tick as of now."
                )
        if now.tzinfo is None:
            now = agency.day_start(now.date(), tz)
    report = timer.tick(db, now=now)
    _print_report(report, tz, quiet=args.json, always_summary=True)
    return EXIT_TICK_ERRORS if report.errors else EXIT_OK


# --------------------------------------------------------------------------- run


class _Runner:
    """The ``scheduler run`` loop: tick, print, sleep; stop cleanly on a signal."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.interval: float = args.interval
        self.stop_requested = False
        self.backoff = 0.0
        self.outage = False

    # signals ---------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_requested:
            # A second signal: stop now. Whatever the tick had not committed rolls back
            # and fires on the next tick (that is the engine's crash-safety promise).
            raise KeyboardInterrupt
        self.stop_requested = True
        name = signal.Signals(signum).name
        _say(f"{name} received; stopping after the current tick.")

    def _install_signals(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _sleep(self, seconds: float) -> None:
        """Sleep, waking at once when a stop is requested (checked every 0.2 s)."""
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.stop_requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))

    # outages ---------------------------------------------------------------

    def _retry_later(self, problem: str) -> None:
        self.backoff = min(max(self.backoff * 2, 1.0), max(MAX_BACKOFF, self.interval))
        self.outage = True
        _say(f"{problem.rstrip('.')}; trying again in {self.backoff:g} s.")
        self._sleep(self.backoff)

    def _recovered(self) -> None:
        if self.outage:
            _say("The database is reachable again; ticking as usual.")
        self.outage = False
        self.backoff = 0.0

    def _problem(self, exc: BaseException) -> str:
        """One sentence for a failed tick; the traceback goes to the log only."""
        from sqlalchemy.exc import DBAPIError

        from desktop_app.errors import UserFacingError

        if isinstance(exc, UserFacingError):
            return exc.message
        if isinstance(exc, DBAPIError):
            first = str(exc.orig or exc).strip().splitlines()
            detail = first[0].rstrip(".") if first else type(exc).__name__
            return f"The database refused the tick ({detail})"
        log.error("scheduler tick failed", exc_info=exc)
        return f"The tick failed ({type(exc).__name__}); the details are in the log file"

    # the loop --------------------------------------------------------------

    def _connect(self) -> Any:
        """Open the database (retrying while it is down); None when stopped first."""
        while not self.stop_requested:
            try:
                db = open_db(self.args)
                actor_for(db, self.args)  # only a user of this database runs its timer
                return db
            except Exception as exc:
                from desktop_app.errors import DatabaseUnavailable

                if not isinstance(exc, DatabaseUnavailable):
                    raise
                self._retry_later(self._problem(exc))
        return None

    def run(self) -> int:
        from desktop_app.engine import plugins as plugin_mod
        from desktop_app.engine import timer
        from desktop_app.services import agency

        self._install_signals()
        try:
            db = self._connect()
            if db is None:
                _say("Stopped before the first tick.")
                return EXIT_OK
            self._recovered()
            _say(
                f"Timer service running on {db.describe()}: at most "
                f"{self.interval:g} s between ticks; stop with Ctrl+C or SIGTERM."
            )
            plugin_set = plugin_mod.load_plugins()
            ticks = 0
            while not self.stop_requested:
                if plugin_set.problems:  # maybe fixed since (a package installed)
                    plugin_set = plugin_mod.load_plugins()
                try:
                    with db.read_session() as session:
                        tz = agency.time_zone(session)
                    report = timer.tick(
                        db, plugins=plugin_set, should_stop=lambda: self.stop_requested
                    )
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    self._retry_later(self._problem(exc))
                    continue
                self._recovered()
                ticks += 1
                _print_report(report, tz, quiet=self.args.json, always_summary=False)
                self._sleep(self._pause(report))
            _say(f"Stopped after {ticks} tick{'s' if ticks != 1 else ''}.")
            return EXIT_OK
        except KeyboardInterrupt:
            _say("Stopped in the middle of a tick; what it had not saved fires on the next one.")
            return EXIT_USER_ERROR
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _pause(self, report: Any) -> float:
        """Seconds until the next trigger (by the clock the tick used), capped by the
        interval, and at least :data:`MIN_SLEEP` so a trigger that stays due cannot spin."""
        if report.next_due is None:
            return self.interval
        until = (report.next_due - report.now).total_seconds() - report.seconds
        return max(min(MIN_SLEEP, self.interval), min(self.interval, until))
