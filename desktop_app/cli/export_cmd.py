"""``renewal-desk export renewals|rollup OUT``: the two exports from the command line."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from desktop_app.cli.main import EXIT_OK, actor_for, open_db, print_json

_DATE_FORMS = ("%Y-%m-%d", "%m/%d/%Y")


def _as_of(text: str) -> date:
    for form in _DATE_FORMS:
        try:
            return datetime.strptime(text.strip(), form).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"'{text}' is not a date (use YYYY-MM-DD or MM/DD/YYYY)")


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of days") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} days is not zero or more")
    return value


def register(subparsers: Any) -> dict[str, Any]:
    """Add ``export renewals`` and ``export rollup``; return {"export": handler}."""
    export = subparsers.add_parser(
        "export", help="write the renewal list (.xlsx/.csv) or the manager rollup (.xlsx)"
    )
    actions = export.add_subparsers(dest="export_command", metavar="WHAT", required=True)

    renewals = actions.add_parser(
        "renewals",
        help="the renewal list: one row per renewal, editable and importable back",
        description="Write one row per renewal to OUT (.xlsx, or .csv for UTF-8 CSV). "
        "Producers get their own book only.",
    )
    renewals.add_argument("out", type=Path, metavar="OUT", help="file to write (.xlsx or .csv)")
    renewals.add_argument("--stage", metavar="S", help="only this stage (key or name)")
    renewals.add_argument(
        "--owner", metavar="U", help="only renewals whose next action this user owns"
    )
    renewals.add_argument(
        "--expiring-within",
        type=_days,
        metavar="DAYS",
        help="only terms expiring from the as-of date through DAYS days later",
    )
    renewals.add_argument(
        "--as-of", type=_as_of, metavar="DATE", help="reference date (default: today)"
    )
    renewals.add_argument("--json", action="store_true", help="print the result as JSON")

    rollup = actions.add_parser(
        "rollup",
        help="the manager rollup workbook (managers and admins)",
        description="Write the manager rollup workbook to OUT (.xlsx): Summary, By producer, "
        "By CSR, By carrier, By line of business, By stage, Needs attention, Outcomes and "
        "retention by month.",
    )
    rollup.add_argument("out", type=Path, metavar="OUT", help="file to write (.xlsx)")
    rollup.add_argument(
        "--as-of", type=_as_of, metavar="DATE", help="reference date (default: today)"
    )
    rollup.add_argument(
        "--attention-days",
        type=_days,
        default=30,
        metavar="DAYS",
        help="flag missing required documents this close to expiry (default 30)",
    )
    rollup.add_argument("--json", action="store_true", help="print the result as JSON")
    return {"export": cmd_export}


def _progress(label: str) -> Any:
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        print(f"\r{label}… {100 * done // max(total, 1)}%", end="", file=sys.stderr)

    return report


def cmd_export(args: argparse.Namespace) -> int:
    from desktop_app.services import exporting

    db = open_db(args)
    actor = actor_for(db, args)
    if args.export_command == "renewals":
        progress = None if args.json else _progress("Writing the renewal list")
        result = exporting.export_renewals(
            db,
            actor,
            args.out,
            stage=args.stage,
            owner=args.owner,
            expiring_within=args.expiring_within,
            as_of=args.as_of,
            progress=progress,
        )
        what = "renewal" if result.rows == 1 else "renewals"
    else:
        progress = None if args.json else _progress("Writing the rollup")
        result = exporting.export_rollup(
            db,
            actor,
            args.out,
            as_of=args.as_of,
            attention_days=args.attention_days,
            progress=progress,
        )
        what = f"rows on {len(result.sheets)} sheets"
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        payload: dict[str, Any] = {
            "path": str(result.path),
            "format": result.format,
            "rows": result.rows,
            "seconds": round(result.seconds, 3),
        }
        if result.sheets:
            payload["sheets"] = list(result.sheets)
        print_json(payload)
    else:
        print(f"Wrote {result.rows:,} {what} to {result.path} in {result.seconds:.1f} s.")
    return EXIT_OK
