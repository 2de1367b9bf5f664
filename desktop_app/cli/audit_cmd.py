"""``renewal-desk audit verify``: check the activity history's hash chain.

Exit status: 0 when every event links to the one before it (and, with ``--expect``, the
kept head still has its hash); 1 when the history was tampered with, the first bad event
named in one sentence; 2 when the check cannot run (no database, no permission, a
malformed ``--expect``).
"""

from __future__ import annotations

import argparse
from typing import Any

from desktop_app.cli.main import EXIT_OK, actor_for, open_db, print_json

EXIT_TAMPERED = 1


def register(subparsers: Any) -> dict[str, Any]:
    """Add ``audit verify``; return {"audit": handler}."""
    group = subparsers.add_parser("audit", help="check the activity history")
    actions = group.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="prove no audit event was changed or deleted after it was written",
        description="Recompute the hash chain of the activity history, oldest event "
        "first, and name the first event that does not match. Exit 0: intact; 1: "
        "tampered with; 2: the check could not run.",
    )
    verify.add_argument(
        "--expect",
        metavar="SEQ:HASH",
        help="a head printed by an earlier verify and kept elsewhere: it must still match",
    )
    verify.add_argument("--json", action="store_true", help="print JSON")
    return {"audit": cmd_audit}


def cmd_audit(args: argparse.Namespace) -> int:
    from desktop_app.services import audit

    expect = audit.parse_head(args.expect) if args.expect else None
    db = open_db(args)
    check = audit.verify(db, actor_for(db, args), expect=expect)
    if args.json:
        print_json(
            {
                "ok": check.ok,
                "events": check.events,
                "head": None
                if check.head_seq is None
                else {"seq": check.head_seq, "hash": check.head_hash},
                "problem": None
                if check.problem is None
                else {
                    "kind": check.problem.kind,
                    "seq": check.problem.seq,
                    "event_id": check.problem.event_id,
                    "message": check.problem.message,
                },
            }
        )
    elif check.problem is not None:
        print(check.problem.message)
        if check.problem.kind in ("changed", "missing") and check.events == 1:
            print("The event before it (seq 1) is intact.")
        elif check.problem.kind in ("changed", "missing") and check.events:
            print(f"The {check.events:,} events before it (seq 1 to {check.head_seq}) are intact.")
    elif check.head_seq is None:
        print("The activity history is empty; there is nothing to check yet.")
    else:
        kept = " and still match the kept head" if expect else ""
        print(
            f"The activity history is intact: {check.events:,} events, each linked to the "
            f"one before it{kept}."
        )
        print(f"Head: {check.head_seq}:{check.head_hash}")
        print(
            "Keep this head somewhere else (a note, an email to yourself): a later "
            f"'renewal-desk audit verify --expect {check.head_seq}:{check.head_hash}' "
            "proves nothing up to it was rewritten since."
        )
    return EXIT_OK if check.ok else EXIT_TAMPERED
