"""The book, renewal transactions and auto-renewals from the command line.

``plan``, ``account``, ``policy``, ``renewal``, ``auto-renewal`` and ``agency``: the
commands an agency scripts against (a nightly job that loads new business, a check that
every policy has its auto-renewal). Each is a thin shell over one service function, so the
rules, permissions and audit trail are the same as in the desktop app.

Dates and times. People write calendar dates ("2027-01-05" or "1/5/2027"); a date means
midnight at the start of that day on the agency's wall clock (``agency time-zone``), like
everywhere else in Renewal Desk. Trigger times (``--create-time`` …) are moments and must
carry their UTC offset ("2027-01-05T09:00:00-05:00" or "…Z"), because a bare clock time
is ambiguous on a night when daylight saving changes; a bare date is accepted and means
midnight at its start. ``none`` clears a trigger time: that step becomes manual.

Every command takes ``--json`` and then prints one JSON document (shapes in the README);
without it, one readable line or a short table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from desktop_app.cli.main import EXIT_OK, actor_for, open_db, print_json
from desktop_app.domain.transactions import format_moment

if TYPE_CHECKING:
    from desktop_app.db.engine import Database

Handler = Callable[[argparse.Namespace], int]

_DATE_FORMS = ("%Y-%m-%d", "%m/%d/%Y")
_NONE_WORDS = ("none", "manual", "")


# --------------------------------------------------------------------------- argument types


def parse_date(text: str) -> date:
    """A calendar date written as ISO (2027-01-05) or US (1/5/2027)."""
    cleaned = text.strip()
    for form in _DATE_FORMS:
        try:
            day = datetime.strptime(cleaned, form).date()
        except ValueError:
            continue
        if day.year < 1900:
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a date with a four-digit year (use YYYY-MM-DD or MM/DD/YYYY)"
            )
        return day
    raise argparse.ArgumentTypeError(f"'{text}' is not a date (use YYYY-MM-DD or MM/DD/YYYY)")


def parse_time(text: str) -> datetime | date | None:
    """A trigger time: ISO 8601 with an offset or Z, a bare date, or ``none`` (clear it)."""
    cleaned = text.strip()
    if cleaned.lower() in _NONE_WORDS:
        return None
    if "T" not in cleaned.upper() and " " not in cleaned:
        try:
            return parse_date(cleaned)
        except argparse.ArgumentTypeError:
            pass
    try:
        moment = datetime.fromisoformat(cleaned.replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a time; use ISO 8601 with an offset, like "
            "2027-01-05T09:00:00-05:00 or 2027-01-05T14:00:00Z, a date, or none"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"'{text}' has no UTC offset; add one, like {cleaned}Z or {cleaned}-05:00"
        )
    return moment.astimezone(UTC)


def _lead_days(text: str) -> int | None:
    if text.strip().lower() in _NONE_WORDS:
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of days") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} lead days is not zero or more")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def _renewal_id(text: str) -> int:
    value = _whole(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a renewal id")
    return value


# --------------------------------------------------------------------------- helpers


def agency_zone(db: Database) -> ZoneInfo:
    from desktop_app.services import agency

    with db.read_session() as session:
        return agency.time_zone(session)


def moment_of(value: datetime | date | None, tz: ZoneInfo) -> datetime | None:
    """A parsed DATE or TIME argument as an aware UTC moment (a date: its midnight)."""
    from desktop_app.services import agency

    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return agency.day_start(value, tz)


def _when(moment: datetime | None, tz: ZoneInfo, empty: str = "manual") -> str:
    return empty if moment is None else format_moment(moment, tz)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _carrier_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--carrier", metavar="C", help="the carrier, when two carriers use the same number"
    )


def _session(args: argparse.Namespace) -> tuple[Database, Any]:
    db = open_db(args)
    return db, actor_for(db, args)


# --------------------------------------------------------------------------- register


def register(subparsers: Any) -> dict[str, Handler]:
    """Add the book and auto-renewal command groups; return {name: handler}."""
    _register_plan(subparsers)
    _register_account(subparsers)
    _register_policy(subparsers)
    _register_renewal(subparsers)
    _register_auto_renewal(subparsers)
    _register_agency(subparsers)
    return {
        "plan": cmd_plan,
        "account": cmd_account,
        "policy": cmd_policy,
        "renewal": cmd_renewal,
        "auto-renewal": cmd_auto_renewal,
        "agency": cmd_agency,
    }


def _register_plan(subparsers: Any) -> None:
    plan = subparsers.add_parser("plan", help="auto-renewal plans: add and list")
    actions = plan.add_subparsers(dest="plan_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="add an auto-renewal plan (managers and admins)",
        description="Add an auto-renewal plan. Lead days count back from the term end; "
        "leave one out (or say none) and that step is done by a person.",
    )
    add.add_argument("name", metavar="NAME")
    for step in ("create", "accept", "issue"):
        add.add_argument(
            f"--{step}-lead-days",
            type=_lead_days,
            metavar="N",
            help=f"{step} the renewal N days before the term ends (default: manual)",
        )
    add.add_argument(
        "--term-months",
        type=_whole,
        default=12,
        metavar="N",
        help="length of the new term in months (default 12)",
    )
    add.add_argument(
        "--transaction-type",
        default="renewal",
        metavar="T",
        help="transaction type of the renewals it makes (default: renewal)",
    )
    add.add_argument(
        "--generate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="give every new term its own auto-renewal, so the cycle continues (default: yes)",
    )
    _json_flag(add)
    lst = actions.add_parser("list", help="list the auto-renewal plans")
    _json_flag(lst)


def _register_account(subparsers: Any) -> None:
    account = subparsers.add_parser("account", help="accounts: add, set the auto-renewal plan")
    actions = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add an account (the insured)")
    add.add_argument("name", metavar="NAME", help="the insured's name")
    add.add_argument("--producer", metavar="U", help="the producer's username")
    add.add_argument("--csr", metavar="U", help="the CSR's username")
    add.add_argument("--plan", metavar="NAME", help="the account's auto-renewal plan")
    _json_flag(add)
    set_plan = actions.add_parser(
        "set-plan",
        help="give an account an auto-renewal plan (or --none to take it away)",
        description="Give the account an auto-renewal plan: each of its policies' latest "
        "terms gets an auto-renewal from it. --none takes the plan away (existing "
        "auto-renewals stay as they are).",
    )
    set_plan.add_argument("account", metavar="ACCOUNT", help="the account's id or exact name")
    set_plan.add_argument("plan", metavar="PLAN", nargs="?", help="the plan's name")
    set_plan.add_argument("--none", action="store_true", help="take the account's plan away")
    _json_flag(set_plan)


def _register_policy(subparsers: Any) -> None:
    policy = subparsers.add_parser("policy", help="policies: add, show, cancel, reinstate")
    actions = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a policy with its first term")
    add.add_argument("number", metavar="NUMBER", help="the policy number")
    add.add_argument("--account", required=True, metavar="A", help="the account's id or exact name")
    add.add_argument("--carrier", required=True, metavar="C")
    add.add_argument("--lob", required=True, metavar="L", help="line of business code (e.g. BOP)")
    add.add_argument("--start", required=True, type=parse_date, metavar="DATE")
    add.add_argument(
        "--end", required=True, type=parse_date, metavar="DATE", help="expiration date"
    )
    add.add_argument("--premium", metavar="X", help="the term's premium, e.g. 12,400.00")
    _json_flag(add)
    show = actions.add_parser("show", help="the policy with its terms, renewals and auto-renewals")
    show.add_argument("number", metavar="NUMBER")
    _carrier_flag(show)
    _json_flag(show)
    cancel = actions.add_parser(
        "cancel",
        help="cancel a policy",
        description="Cancel the policy. A renewal an auto-renewal manages goes back to "
        "draft and that auto-renewal becomes invalidated.",
    )
    cancel.add_argument("number", metavar="NUMBER")
    cancel.add_argument(
        "--at", type=parse_date, metavar="DATE", help="cancellation date (default: now)"
    )
    _carrier_flag(cancel)
    _json_flag(cancel)
    reinstate = actions.add_parser("reinstate", help="lift a policy's cancellation")
    reinstate.add_argument("number", metavar="NUMBER")
    _carrier_flag(reinstate)
    _json_flag(reinstate)


def _register_renewal(subparsers: Any) -> None:
    renewal = subparsers.add_parser(
        "renewal", help="renewal transactions: create, advance, discard, reject, refuse"
    )
    actions = renewal.add_subparsers(dest="renewal_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="open a renewal of the policy's latest term",
        description="Open a draft renewal of the policy's latest term. --effective after "
        "the current end makes a renewal with a gap (no term covers the gap).",
    )
    create.add_argument("policy", metavar="POLICY", help="the policy number")
    create.add_argument(
        "--end", required=True, type=parse_date, metavar="DATE", help="the new term's end"
    )
    create.add_argument(
        "--effective",
        type=parse_date,
        metavar="DATE",
        help="the new term's start (default: the current end)",
    )
    _carrier_flag(create)
    _json_flag(create)
    advance = actions.add_parser(
        "advance", help="advance a renewal to quoted, accepted or issued (one step at a time)"
    )
    advance.add_argument("renewal_id", type=_renewal_id, metavar="RENEWAL_ID")
    advance.add_argument("--to", required=True, choices=["quoted", "accepted", "issued"])
    _json_flag(advance)
    for verb, words in (
        ("discard", "throw a renewal away (a duplicate, opened by mistake)"),
        ("reject", "the carrier or the agency declined to renew (Non-renewed)"),
        ("refuse", "the insured declined the renewal (Lost)"),
    ):
        ending = actions.add_parser(verb, help=words)
        ending.add_argument("renewal_id", type=_renewal_id, metavar="RENEWAL_ID")
        if verb != "discard":
            ending.add_argument("--reason", metavar="TEXT", help="why (kept on the renewal)")
        _json_flag(ending)


def _register_auto_renewal(subparsers: Any) -> None:
    ar = subparsers.add_parser(
        "auto-renewal",
        help="auto-renewals: create, show, update, dnr, reactivate, discard",
    )
    actions = ar.add_subparsers(dest="ar_command", metavar="ACTION", required=True)
    for verb, words in (
        ("create", "give the policy's latest term an auto-renewal (from the account's plan)"),
        ("show", "the policy's auto-renewals, oldest term first"),
        ("dnr", "mark the policy do not renew: none of its renewals may be issued"),
        ("reactivate", "make the auto-renewal active again (lifts do not renew, clears error)"),
        ("discard", "switch the auto-renewal off for good"),
    ):
        sub = actions.add_parser(verb, help=words)
        sub.add_argument("policy", metavar="POLICY", help="the policy number")
        _carrier_flag(sub)
        _json_flag(sub)
    update = actions.add_parser(
        "update",
        help="change trigger times, type or term length, or adopt another renewal",
        description="Change the auto-renewal of the policy's latest term. Times are ISO "
        "8601 with an offset (2027-01-05T09:00:00-05:00, …Z) or a date (midnight at its "
        "start in the agency's zone); none makes that step manual.",
    )
    update.add_argument("policy", metavar="POLICY", help="the policy number")
    for step in ("create", "accept", "issue"):
        update.add_argument(
            f"--{step}-time",
            type=parse_time,
            default=argparse.SUPPRESS,
            metavar="T",
            help=f"when to {step} the renewal (none: by hand)",
        )
    update.add_argument(
        "--renewal",
        type=_renewal_id,
        metavar="RENEWAL_ID",
        help="manage this open renewal of the term instead",
    )
    update.add_argument("--transaction-type", metavar="T")
    update.add_argument("--term-months", type=_whole, metavar="N")
    _carrier_flag(update)
    _json_flag(update)


def _register_agency(subparsers: Any) -> None:
    agency = subparsers.add_parser("agency", help="agency-wide settings (time zone)")
    actions = agency.add_subparsers(dest="agency_command", metavar="SETTING", required=True)
    tz = actions.add_parser(
        "time-zone",
        help="show the agency's time zone, or set it (admins)",
        description="Dates are read and shown on this zone's wall clock, and trigger "
        "times are computed on it. Set it before loading policies.",
    )
    tz.add_argument("zone", metavar="ZONE", nargs="?", help="an IANA name, e.g. America/Chicago")
    _json_flag(tz)


# --------------------------------------------------------------------------- plan


def _plan_words(plan: Any) -> str:
    leads = [
        f"{step} {days} days" if days is not None else f"{step} by hand"
        for step, days in (
            ("create", plan.create_lead_days),
            ("accept", plan.accept_lead_days),
            ("issue", plan.issue_lead_days),
        )
    ]
    generate = "new terms get their own" if plan.generate_auto_renewals else "no new ones"
    return (
        f"{', '.join(leads)} before the term ends; {plan.new_term_months}-month "
        f"{plan.transaction_type}; {generate}"
    )


def cmd_plan(args: argparse.Namespace) -> int:
    from desktop_app.services import auto_renewals as ars

    db, actor = _session(args)
    if args.plan_command == "add":
        info = ars.add_plan(
            db,
            actor,
            args.name,
            create_lead_days=args.create_lead_days,
            accept_lead_days=args.accept_lead_days,
            issue_lead_days=args.issue_lead_days,
            new_term_months=args.term_months,
            transaction_type=args.transaction_type,
            generate_auto_renewals=args.generate,
        )
        if args.json:
            print_json(info.to_json())
        else:
            print(f"Added auto-renewal plan '{info.name}' ({_plan_words(info)}).")
        return EXIT_OK
    plans = ars.list_plans(db)
    if args.json:
        print_json([p.to_json() for p in plans])
    elif not plans:
        print("There are no auto-renewal plans yet; add one with 'plan add'.")
    else:
        width = max(len(p.name) for p in plans)
        for p in plans:
            print(f"{p.name:<{width}}  {_plan_words(p)}")
    return EXIT_OK


# --------------------------------------------------------------------------- account


def cmd_account(args: argparse.Namespace) -> int:
    from desktop_app.cli.main import CliError
    from desktop_app.services import auto_renewals as ars
    from desktop_app.services import book

    if args.account_command == "add":
        db, actor = _session(args)
        info = book.create_account(
            db, actor, args.name, producer=args.producer, csr=args.csr, plan=args.plan
        )
        if args.json:
            print_json(
                {
                    "id": info.id,
                    "name": info.name,
                    "producer": info.producer,
                    "csr": info.csr,
                    "plan": info.plan,
                }
            )
        else:
            plan = f", plan '{info.plan}'" if info.plan else ""
            print(f"Added account {info.id}: {info.name}{plan}.")
        return EXIT_OK
    if args.none == (args.plan is not None):
        raise CliError("Name the plan to give the account, or say --none to take its plan away.")
    db, actor = _session(args)
    changed = ars.set_account_plan(db, actor, args.account, None if args.none else args.plan)
    with db.read_session() as session:
        account = ars.find_account(session, args.account)
        name, account_id = account.name, account.id
    if args.json:
        print_json(
            {"id": account_id, "name": name, "plan": None if args.none else args.plan.strip()}
            | {"changed": changed}
        )
    elif args.none:
        print(f"Account {name} has no auto-renewal plan{'' if changed else ' (unchanged)'}.")
    else:
        what = "is now on" if changed else "was already on"
        print(f"Account {name} {what} plan '{args.plan.strip()}'.")
    return EXIT_OK


# --------------------------------------------------------------------------- policy


def cmd_policy(args: argparse.Namespace) -> int:
    from desktop_app.services import auto_renewals as ars
    from desktop_app.services import book, transactions

    db, actor = _session(args)
    tz = agency_zone(db)
    number = args.number
    if args.policy_command == "add":
        with db.read_session() as session:
            account_id = ars.find_account(session, args.account).id
        info = book.add_policy(
            db,
            actor,
            account_id,
            number,
            args.carrier,
            args.lob,
            moment_of(args.start, tz),
            moment_of(args.end, tz),
            args.premium,
        )
        if args.json:
            print_json(
                transactions.policy_detail(db, actor, info.policy_number, carrier=info.carrier)
            )
        else:
            premium = f", premium {info.premium:,}" if info.premium is not None else ""
            print(
                f"Added {info.carrier} policy {info.policy_number} ({info.line_of_business}) "
                f"from {_when(info.term_start, tz)} to {_when(info.term_end, tz)}{premium}."
            )
        return EXIT_OK
    carrier = args.carrier
    if args.policy_command == "cancel":
        transactions.cancel_policy(db, actor, number, at=moment_of(args.at, tz), carrier=carrier)
    elif args.policy_command == "reinstate":
        transactions.reinstate_policy(db, actor, number, carrier=carrier)
    detail = transactions.policy_detail(db, actor, number, carrier=carrier)
    if args.json:
        print_json(detail)
    elif args.policy_command == "cancel":
        print(
            f"Cancelled {detail['carrier']} policy {detail['policy_number']} as of "
            f"{_when(datetime.fromisoformat(detail['cancelled_at']), tz)}."
        )
        for ar in detail["auto_renewals"]:
            if ar["state"] == "invalidated":
                print(
                    "  Its auto-renewal is invalidated; reinstate the policy, then "
                    "'auto-renewal reactivate' to resume it."
                )
    elif args.policy_command == "reinstate":
        print(f"Reinstated {detail['carrier']} policy {detail['policy_number']}.")
    else:
        _print_detail(detail, tz)
    return EXIT_OK


def _iso_when(text: str | None, tz: ZoneInfo, empty: str = "manual") -> str:
    return empty if text is None else format_moment(datetime.fromisoformat(text), tz)


def _print_detail(detail: dict[str, Any], tz: ZoneInfo) -> None:
    status = detail["status"]
    if detail.get("cancelled_at"):
        status += f" since {_iso_when(detail['cancelled_at'], tz)}"
    print(
        f"{detail['carrier']} policy {detail['policy_number']} ({detail['line_of_business']}) "
        f"for {detail['account']}: {status}"
    )
    print("Terms:")
    for term in detail["terms"]:
        premium = f"  premium {term['premium']}" if term["premium"] is not None else ""
        print(f"  {_iso_when(term['start'], tz)} to {_iso_when(term['end'], tz)}{premium}")
    print("Renewals:" if detail["renewals"] else "Renewals: none")
    for r in detail["renewals"]:
        start = f" from {_iso_when(r['effective'], tz)}" if r["effective"] else ""
        end = f" to {_iso_when(r['new_end'], tz, '?')}"
        print(f"  #{r['id']}  {r['state']:<11} stage {r['stage']}{start}{end}")
    print("Auto-renewals:" if detail["auto_renewals"] else "Auto-renewals: none")
    for ar in detail["auto_renewals"]:
        _print_ar(ar, tz, indent="  ")


def _print_ar(ar: dict[str, Any], tz: ZoneInfo, indent: str = "") -> None:
    renewal = f", renewal #{ar['renewal_id']}" if ar["renewal_id"] else ""
    print(f"{indent}term ending {_iso_when(ar['term_end'], tz)}: {ar['state']}{renewal}")
    for step in ("create", "accept", "issue"):
        fired = ar["fired"][step]
        done = f" (fired {_iso_when(fired, tz)})" if fired else ""
        print(f"{indent}  {step:<6} {_iso_when(ar[f'{step}_time'], tz)}{done}")
    if ar["error"]:
        print(f"{indent}  error: {ar['error']}")


# --------------------------------------------------------------------------- renewal


def cmd_renewal(args: argparse.Namespace) -> int:
    from desktop_app.services import transactions

    db, actor = _session(args)
    tz = agency_zone(db)
    if args.renewal_command == "create":
        info = transactions.create_renewal(
            db, actor, args.policy, new_end=args.end, effective=args.effective, carrier=args.carrier
        )
        verb = "Opened"
    elif args.renewal_command == "advance":
        info = transactions.advance(db, actor, args.renewal_id, args.to)
        verb = "Advanced"
    else:
        state = {"discard": "discarded", "reject": "rejected", "refuse": "refused"}
        info = transactions.end_renewal(
            db,
            actor,
            args.renewal_id,
            state[args.renewal_command],
            reason=getattr(args, "reason", None),
        )
        verb = "Ended"
    if args.json:
        print_json(info.to_json() | {"policy_number": info.policy_number})
        return EXIT_OK
    dates = ""
    if info.new_end is not None:
        start = f" from {_when(info.effective, tz)}" if info.effective else ""
        dates = f"; new term{start} to {_when(info.new_end, tz)}"
        if info.effective:
            dates += " (a renewal with a gap)"
    print(
        f"{verb} renewal {info.id} of policy {info.policy_number}: {info.state.value}, "
        f"stage {info.stage}{dates}."
    )
    return EXIT_OK


# --------------------------------------------------------------------------- auto-renewal


def cmd_auto_renewal(args: argparse.Namespace) -> int:
    from desktop_app.cli.main import CliError
    from desktop_app.services import auto_renewals as ars

    db, actor = _session(args)
    tz = agency_zone(db)
    number, carrier = args.policy, args.carrier
    command = args.ar_command
    if command == "show":
        infos = ars.show(db, actor, number, carrier=carrier)
        if args.json:
            print_json([i.to_json() for i in infos])
        elif not infos:
            print(f"Policy {number} has no auto-renewal.")
        else:
            for info in infos:
                _print_ar(info.to_json(), tz)
        return EXIT_OK
    if command == "update":
        options: dict[str, Any] = {}
        for step in ("create", "accept", "issue"):
            if hasattr(args, f"{step}_time"):
                options[f"{step}_time"] = moment_of(getattr(args, f"{step}_time"), tz)
        if args.renewal is not None:
            options["renewal_id"] = args.renewal
        if args.transaction_type is not None:
            options["transaction_type"] = args.transaction_type
        if args.term_months is not None:
            options["new_term_months"] = args.term_months
        if not options:
            raise CliError(
                "Say what to change: --create-time, --accept-time, --issue-time, --renewal, "
                "--transaction-type or --term-months."
            )
        info = ars.update(db, actor, number, carrier=carrier, **options)
        done = "Updated"
    else:
        operation = {
            "create": ars.create,
            "dnr": ars.do_not_renew,
            "reactivate": ars.reactivate,
            "discard": ars.discard,
        }[command]
        info = operation(db, actor, number, carrier=carrier)
        done = {
            "create": "Created",
            "dnr": "Marked do not renew:",
            "reactivate": "Reactivated",
            "discard": "Discarded",
        }[command]
    data = info.to_json()
    if args.json:
        print_json(data | {"policy_number": info.policy_number, "carrier": info.carrier})
        return EXIT_OK
    print(
        f"{done} the auto-renewal of {info.carrier} policy {info.policy_number} "
        f"(term ending {_when(info.term_end, tz)}): {info.state.value}."
    )
    _print_ar(data, tz, indent="  ")
    return EXIT_OK


# --------------------------------------------------------------------------- agency


def cmd_agency(args: argparse.Namespace) -> int:
    from desktop_app.services import agency

    db, actor = _session(args)
    if args.zone is None:
        name = agency_zone(db).key
        changed = False
    else:
        before = agency_zone(db).key
        name = agency.set_time_zone(db, actor, args.zone)
        changed = name != before
    if args.json:
        print_json({"time_zone": name, "changed": changed})
    elif args.zone is None:
        print(f"The agency's time zone is {name}.")
    else:
        print(f"The agency's time zone is now {name}." if changed else f"It already was {name}.")
    return EXIT_OK
