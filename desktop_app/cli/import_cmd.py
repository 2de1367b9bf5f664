"""``renewal-desk import FILE [--sheet NAME] [--mapping NAME] [--save-mapping NAME]
[--map FIELD=HEADER …] [--dry-run] [--json]``.

Prints the counts and every rejected row; exits 0 when every row was accepted, 1 when
some rows were rejected (or, for our own renewal list, were in conflict), 2 when the file
as a whole cannot be imported (unreadable, no header row, a required column missing) or
the user may not import.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from desktop_app.cli.main import EXIT_OK, CliError, actor_for, open_db, print_json

EXIT_SOME_REJECTED = 1


def register(subparsers: Any) -> dict[str, Any]:
    from desktop_app.excel.mapping import FIELDS

    parser = subparsers.add_parser(
        "import",
        help="import an expiration list (.xlsx, .xlsm, .csv) or an edited renewal list",
        description="Import an expiration list from your management system, or a renewal "
        "list exported by Renewal Desk and edited in Excel. Each row is created, updated, "
        "left unchanged or rejected with its reason. Exit status: 0 all rows accepted, "
        "1 some rows rejected, 2 the file cannot be imported.",
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--sheet", metavar="NAME", help="the sheet to read (default: the first)")
    parser.add_argument(
        "--mapping", metavar="NAME", help="use a saved column mapping (see --save-mapping)"
    )
    parser.add_argument(
        "--save-mapping",
        metavar="NAME",
        help="save the column mapping used for this file under NAME for the next import",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=HEADER",
        help="read FIELD from the column headed HEADER (empty HEADER: do not import FIELD); "
        f"fields: {', '.join(f.key for f in FIELDS)}",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would happen; write nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return {"import": cmd_import}


def _overrides(pairs: list[str]) -> dict[str, str | None]:
    from desktop_app.excel.mapping import FIELD_BY_KEY

    result: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, header = pair.partition("=")
        key = key.strip()
        if not sep or key not in FIELD_BY_KEY:
            raise CliError(
                f"--map needs FIELD=HEADER with FIELD one of {', '.join(FIELD_BY_KEY)} "
                f"(got '{pair}')."
            )
        result[key] = header.strip() or None
    return result


def cmd_import(args: argparse.Namespace) -> int:
    from desktop_app.domain.enums import AuditSource
    from desktop_app.services import importing

    overrides = _overrides(args.map)
    db = open_db(args)
    actor = replace(actor_for(db, args), source=AuditSource.IMPORT)
    interactive = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        if interactive:
            print(f"\rImporting… {100 * done // max(total, 1)}%", end="", file=sys.stderr)

    chosen: dict[str, str | None] = {}
    if args.mapping:
        chosen = importing.get_mapping(db, args.mapping)
    chosen.update(overrides)
    parsed = importing.read_file(args.file, sheet=args.sheet, mapping=chosen or None)
    if args.save_mapping:
        if parsed.kind == "renewal_list":
            raise CliError("A Renewal Desk renewal list needs no saved mapping.")
        to_save: dict[str, str | None] = {k: v for k, v in chosen.items() if v is None}
        to_save.update(parsed.mapping)
        importing.save_mapping(db, actor, args.save_mapping, to_save)
    if args.dry_run:
        result = importing.preview(db, actor, parsed, progress=progress)
    else:
        result = importing.commit(db, actor, parsed, progress=progress)
    if interactive:
        print("\r" + " " * 20 + "\r", end="", file=sys.stderr)
    if args.json:
        out = result.to_json()
        out["dry_run"] = bool(args.dry_run)
        out["saved_mapping"] = args.save_mapping
        print_json(out)
    else:
        _print(result, dry_run=args.dry_run, saved=args.save_mapping)
    return EXIT_OK if result.accepted_all else EXIT_SOME_REJECTED


def _print(result: Any, *, dry_run: bool, saved: str | None) -> None:
    name = Path(result.file).name
    what = "renewal list" if result.kind == "renewal_list" else "list"
    verb = "Would import" if dry_run else "Imported"
    print(f"{verb} {what} {name}, sheet '{result.sheet}' (header on row {result.header_row}):")
    extra = f" ({result.accounts_created} new accounts)" if result.accounts_created else ""
    lines = [
        ("created", result.created, extra),
        ("updated", result.updated, _updated_extra(result)),
        ("unchanged", result.unchanged, ""),
        ("rejected", result.rejected, ""),
    ]
    if result.kind == "renewal_list":
        lines.append(("conflicts", result.conflicts, " (changed since the export)"))
    skipped = ", ".join(
        f"{n} {label}"
        for n, label in (
            (result.skipped_blank, "blank"),
            (result.skipped_totals, "subtotal/total"),
            (result.skipped_headings, "title/heading"),
        )
        if n
    )
    lines.append(("skipped", result.skipped, f" ({skipped})" if skipped else ""))
    for label, n, note in lines:
        print(f"  {label:<10} {n:>7,}{note}")
    if result.rejections:
        print("Rejected:")
        for r in result.rejections:
            print(f"  {r.message}.")
    if result.conflict_list:
        print("Conflicts (not applied):")
        for r in result.conflict_list:
            print(f"  {r.message}.")
    if result.warnings:
        print("Warnings:")
        for r in result.warnings:
            print(f"  {r.message}.")
    if saved:
        print(f"Saved the column mapping as '{saved}'.")
    if dry_run:
        print("Nothing was written (--dry-run).")


def _updated_extra(result: Any) -> str:
    parts = []
    if result.terms_recorded:
        parts.append(f"{result.terms_recorded} later terms recorded")
    if result.plans_assigned:
        parts.append(f"{result.plans_assigned} plans assigned")
    return f" ({', '.join(parts)})" if parts else ""
