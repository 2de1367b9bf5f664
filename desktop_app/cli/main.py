"""``renewal-desk [--database-url URL] [--as USERNAME] COMMAND``.

Every failure a user can cause prints one plain sentence to stderr and exits with
status 2; the traceback, if any, goes to the log file only.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from desktop_app import __version__
from desktop_app.errors import UserFacingError

log = logging.getLogger("renewal_desk.cli")

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_INTERNAL = 3


class CliError(UserFacingError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"renewal-desk: {message[0].upper()}{message[1:].rstrip('.')}.\n")
        raise SystemExit(EXIT_USER_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="renewal-desk",
        description="Renewal Desk: the renewal pipeline for your agency. "
        "With no command it opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"renewal-desk {__version__}")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="the database to use (default: $RENEWAL_DESK_DATABASE_URL, the saved setting, "
        "or the SQLite file in your data folder)",
    )
    parser.add_argument("--as", dest="as_user", metavar="USERNAME", help="act as this user")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    db = sub.add_parser("db", help="database upgrade, status and backup")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="bring the database to this version's schema")
    db_sub.add_parser("current", help="show the database's schema version")
    backup = db_sub.add_parser(
        "backup", help="copy the SQLite database to PATH (safe while in use)"
    )
    backup.add_argument("path", type=Path, metavar="PATH")
    prov = db_sub.add_parser(
        "provision",
        help="set up a shared PostgreSQL database's roles and rules (once, as superuser/owner)",
    )
    prov.add_argument(
        "--prefix",
        default="renewal_desk_",
        metavar="TEXT",
        help="start of the role names (default renewal_desk_)",
    )

    demo = sub.add_parser("demo", help="fill an empty database with a realistic demo book")
    demo.add_argument("--policies", type=_positive_int, default=5000, metavar="N")
    demo.add_argument("--seed", type=int, default=1, metavar="N")

    user = sub.add_parser("user", help="add and list users")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_sub.add_parser("add", help="add a user")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=["producer", "csr", "manager", "admin"])
    add.add_argument("--full-name", metavar="TEXT")
    add.add_argument(
        "--generate-password",
        action="store_true",
        help="on a shared PostgreSQL database, generate the first password instead of asking",
    )
    pwd = user_sub.add_parser(
        "password", help="give a person's database login a new password (shared PostgreSQL)"
    )
    pwd.add_argument("name", metavar="NAME")
    pwd.add_argument("--generate-password", action="store_true", help="generate it")
    lst = user_sub.add_parser("list", help="list users")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.add_argument("--all", action="store_true", help="include deactivated users")
    for module in _command_modules():
        COMMANDS.update(module.register(sub))
    return parser


def _command_modules() -> list[Any]:
    """Modules that add their own commands: each has ``register(subparsers) -> {name: fn}``."""
    import importlib

    return [importlib.import_module(f"desktop_app.cli.{name}") for name in COMMAND_MODULES]


# Command groups that live in their own module (kept apart so each stays readable).
COMMAND_MODULES: list[str] = [
    "export_cmd",
    "import_cmd",
    "book_cmds",
    "scheduler_cmd",
    "audit_cmd",
]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _prompt(message: str) -> str | None:
    if not sys.stdin or not sys.stdin.isatty():
        return None
    return getpass.getpass(message)


def open_db(args: argparse.Namespace, *, upgrade: bool = True):  # type: ignore[no-untyped-def]
    from desktop_app.db import migrate
    from desktop_app.db.engine import open_database, resolve_url

    db = open_database(resolve_url(args.database_url), prompt=_prompt)
    if upgrade:
        result = migrate.upgrade(db)
        if result.changed and result.from_revision is not None:
            where = f" (backup: {result.backup})" if result.backup else ""
            print(f"Upgraded the database to schema {result.to_revision}{where}.", file=sys.stderr)
    return db


def actor_for(db: Any, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from desktop_app.domain.enums import AuditSource
    from desktop_app.services.users import resolve_actor

    return resolve_actor(db, args.as_user, AuditSource.CLI)


def cmd_db(args: argparse.Namespace) -> int:
    from desktop_app.db import migrate

    if args.db_command == "upgrade":
        db = open_db(args, upgrade=False)
        result = migrate.upgrade(db)
        if result.changed:
            extra = f"; backup written to {result.backup}" if result.backup else ""
            print(
                f"Upgraded {db.describe()} from {result.from_revision or 'empty'} "
                f"to {result.to_revision}{extra}."
            )
        else:
            print(f"{db.describe()} is already at schema {result.to_revision}.")
        return EXIT_OK
    if args.db_command == "current":
        db = open_db(args, upgrade=False)
        current = migrate.current_revision(db)
        migrate.check_not_newer(db, current)
        head = migrate.head_revision()
        state = "up to date" if current == head else f"needs upgrade to {head}"
        print(f"{db.describe()}: schema {current or 'empty'} ({state})")
        return EXIT_OK
    if args.db_command == "provision":
        return _provision(args)
    if args.db_command == "backup":
        from desktop_app.services.admin import backup_database

        db = open_db(args, upgrade=False)
        path = backup_database(db, actor_for(db, args), args.path)
        print(f"Backed up {db.describe()} to {path}.")
        return EXIT_OK
    raise CliError(f"Unknown db action '{args.db_command}'.")


def cmd_demo(args: argparse.Namespace) -> int:
    from desktop_app.services.demo import load_demo

    db = open_db(args)
    actor = actor_for(db, args)
    interactive = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if interactive:
            print(f"\rLoading demo data… {100 * done // max(total, 1)}%", end="", file=sys.stderr)

    summary = load_demo(db, actor, policies=args.policies, seed=args.seed, progress=progress)
    if interactive:
        print(file=sys.stderr)
    print(
        f"Loaded {summary.policies} policies for {summary.accounts} accounts "
        f"({summary.terms} terms, {summary.renewals} renewals, {summary.tasks} tasks, "
        f"{summary.documents} documents) in {summary.seconds:.1f} s."
    )
    return EXIT_OK


def cmd_user(args: argparse.Namespace) -> int:
    from desktop_app.services import users

    db = open_db(args)
    actor = actor_for(db, args)
    if args.user_command == "add":
        password = _new_password(db, args)
        info = users.add_user(db, actor, args.name, args.role, args.full_name, password=password)
        print(f"Added {info.username} ({info.full_name}) as {info.role.value}.")
        if info.first_password:
            print(
                f"{info.full_name} signs in with the login '{info.username}' and this password "
                f"(shown only now): {info.first_password}"
            )
        elif password:
            print(f"{info.full_name} signs in with the login '{info.username}'.")
        return EXIT_OK
    if args.user_command == "password":
        new = users.set_password(db, actor, args.name, _new_password(db, args))
        if not args.generate_password and sys.stdin.isatty():
            print(f"The password of '{args.name}' was changed.")
        else:
            print(f"The new password of '{args.name}' (shown only now): {new}")
        return EXIT_OK
    listed = users.list_users(db, include_inactive=args.all)
    if args.json:
        rows = [
            {
                "username": u.username,
                "full_name": u.full_name,
                "role": u.role.value,
                "active": u.active,
            }
            for u in listed
        ]
        print(json.dumps(rows, indent=2))
    else:
        width = max((len(u.username) for u in listed), default=8)
        for u in listed:
            flag = "" if u.active else "  (deactivated)"
            print(f"{u.username:<{width}}  {u.role.value:<8}  {u.full_name}{flag}")
    return EXIT_OK


def _new_password(db: Any, args: argparse.Namespace) -> str | None:
    """On a provisioned PostgreSQL database, ask for a person's password at the terminal
    (never on the command line); None means "generate one"."""
    from desktop_app.db import provision

    with db.read_session() as session:
        if provision.settings_of(session) is None:
            return None
    if args.generate_password or not sys.stdin.isatty():
        return None
    first = getpass.getpass(f"Password for {args.name} (empty: generate one): ")
    if not first:
        return None
    if getpass.getpass("The same password again: ") != first:
        raise CliError("The two passwords differ; nothing was changed.")
    return first


def _provision(args: argparse.Namespace) -> int:
    from desktop_app.db import provision

    db = open_db(args)
    with db.translated_errors(), db.engine.begin() as conn:
        report = provision.provision(conn, args.prefix)
    created = ", ".join(report.created_roles) or "none (all existed)"
    print(f"Provisioned {db.describe()} for a shared office ({report.tables} tables).")
    print(f"Roles created: {created}.")
    print(f"Schema owner: {report.owner} (run 'renewal-desk db upgrade' as this login).")
    for label, login, password in (
        ("schema owner", report.owner, report.owner_password),
        (
            "timer service (for 'scheduler run' on the office server)",
            provision.group(report.prefix, "timer"),
            report.timer_password,
        ),
    ):
        if password:
            print(f"Password of the {label} login '{login}' (shown only now): {password}")
    print("Next: add each person with 'renewal-desk user add NAME --role ROLE'.")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "db": cmd_db,
    "demo": cmd_demo,
    "user": cmd_user,
}


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from desktop_app.logs import setup_logging

    args = build_parser().parse_args(argv)
    if args.command is None:
        from desktop_app.ui.app import run_gui

        return run_gui(args.database_url, args.as_user)
    log_file = setup_logging()
    try:
        if args.command == "import":
            from desktop_app.excel.reader import check_safe_xml

            check_safe_xml()
        return COMMANDS[args.command](args)
    except UserFacingError as exc:
        print(f"renewal-desk: {exc.message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("renewal-desk: Stopped; nothing further was written.", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        log.exception("command %s failed", args.command)
        print(
            f"renewal-desk: Something went wrong ({type(exc).__name__}); "
            f"the details are in {log_file}.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON (what every ``--json`` option prints)."""
    print(json.dumps(value, indent=2, default=str))
