"""Who may do what: the permission matrix, defined once and readable as a table.

Each cell says how far a role's permission reaches:

* ``all``  – on every record;
* ``own``  – only on records in the user's own book (the account's producer or CSR,
  or the renewal's next-action owner);
* ``-``    – not at all.

The services check this table where data is written; the GUI only reads it to disable
what a role may not do. A hidden button is never the only guard.
"""

from __future__ import annotations

from enum import StrEnum

from desktop_app.domain.enums import Role


class Action(StrEnum):
    USER_MANAGE = "user.manage"
    SETTINGS_MANAGE = "settings.manage"
    STAGE_CONFIGURE = "stage.configure"
    TEMPLATE_CONFIGURE = "template.configure"
    PLAN_CONFIGURE = "plan.configure"
    ACCOUNT_EDIT = "account.edit"
    POLICY_EDIT = "policy.edit"
    RENEWAL_CREATE = "renewal.create"
    RENEWAL_EDIT = "renewal.edit"
    RENEWAL_MOVE = "renewal.move"
    RENEWAL_SET_OUTCOME = "renewal.set_outcome"
    RENEWAL_CRITICAL_DATES = "renewal.critical_dates"
    RENEWAL_REASSIGN = "renewal.reassign"
    TASK_MANAGE = "task.manage"
    DOCUMENT_MANAGE = "document.manage"
    DOCUMENT_READ_SENSITIVE = "document.read_sensitive"
    DOCUMENT_READ_CONFIDENTIAL = "document.read_confidential"
    AUTO_RENEWAL_MANAGE = "auto_renewal.manage"
    IMPORT_RUN = "import.run"
    EXPORT_ROLLUP = "export.rollup"
    AUDIT_READ = "audit.read"
    DEMO_LOAD = "demo.load"
    DATABASE_ADMIN = "database.admin"


class Scope(StrEnum):
    ALL = "all"
    OWN = "own"
    NONE = "-"


# The matrix. Keep the columns aligned: it is meant to be read by people.
_MATRIX = """
action                       producer  csr   manager  admin
user.manage                  -         -     -        all
settings.manage              -         -     -        all
stage.configure              -         -     -        all
template.configure           -         -     -        all
plan.configure               -         -     all      all
account.edit                 own       all   all      all
policy.edit                  own       all   all      all
renewal.create               own       all   all      all
renewal.edit                 own       all   all      all
renewal.move                 own       all   all      all
renewal.set_outcome          own       -     all      all
renewal.critical_dates       -         -     all      all
renewal.reassign             -         all   all      all
task.manage                  own       all   all      all
document.manage              own       all   all      all
document.read_sensitive      own       all   all      all
document.read_confidential   -         -     all      all
auto_renewal.manage          -         -     all      all
import.run                   -         all   all      all
export.rollup                -         -     all      all
audit.read                   own       all   all      all
demo.load                    -         -     -        all
database.admin               -         -     -        all
"""


def _parse(text: str) -> dict[Action, dict[Role, Scope]]:
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    roles = [Role(name) for name in header[1:]]
    table: dict[Action, dict[Role, Scope]] = {}
    for row in rows:
        action = Action(row[0])
        table[action] = {role: Scope(cell) for role, cell in zip(roles, row[1:], strict=True)}
    missing = set(Action) - set(table)
    if missing:  # pragma: no cover - guards edits of the table above
        raise RuntimeError(f"permission matrix has no row for {sorted(missing)}")
    return table


MATRIX: dict[Action, dict[Role, Scope]] = _parse(_MATRIX)

_WHAT: dict[Action, str] = {
    Action.USER_MANAGE: "manage users",
    Action.SETTINGS_MANAGE: "change agency settings",
    Action.STAGE_CONFIGURE: "configure pipeline stages",
    Action.TEMPLATE_CONFIGURE: "configure checklist templates",
    Action.PLAN_CONFIGURE: "configure auto-renewal plans",
    Action.ACCOUNT_EDIT: "edit accounts",
    Action.POLICY_EDIT: "edit policies",
    Action.RENEWAL_CREATE: "create renewals",
    Action.RENEWAL_EDIT: "edit renewals",
    Action.RENEWAL_MOVE: "move renewals between stages",
    Action.RENEWAL_SET_OUTCOME: "set a renewal's outcome",
    Action.RENEWAL_CRITICAL_DATES: "change a renewal's critical dates",
    Action.RENEWAL_REASSIGN: "reassign renewals",
    Action.TASK_MANAGE: "manage tasks",
    Action.DOCUMENT_MANAGE: "manage documents",
    Action.DOCUMENT_READ_SENSITIVE: "see sensitive documents",
    Action.DOCUMENT_READ_CONFIDENTIAL: "see confidential documents",
    Action.AUTO_RENEWAL_MANAGE: "change auto-renewals",
    Action.IMPORT_RUN: "import Excel lists",
    Action.EXPORT_ROLLUP: "export the manager rollup",
    Action.AUDIT_READ: "read the activity history",
    Action.DEMO_LOAD: "load demo data",
    Action.DATABASE_ADMIN: "administer the database",
}


def scope(role: Role, action: Action) -> Scope:
    return MATRIX[action][role]


def allowed(role: Role, action: Action, *, in_own_book: bool = False) -> bool:
    """True when ``role`` may take ``action`` on a record (``in_own_book`` for that record)."""
    granted = MATRIX[action][role]
    return granted is Scope.ALL or (granted is Scope.OWN and in_own_book)


def describe(action: Action) -> str:
    """The action in words, for messages such as "A CSR may not <describe>."."""
    return _WHAT[action]


def refusal(role: Role, action: Action) -> str:
    """One sentence saying why ``role`` may not take ``action``."""
    granted = MATRIX[action][role]
    article = "An" if role.value[0] in "aeiou" else "A"
    label = role.value.upper() if role is Role.CSR else role.value
    if granted is Scope.OWN:
        return f"{article} {label} may only {describe(action)} in their own book."
    return f"{article} {label} may not {describe(action)}."
