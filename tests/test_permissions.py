"""Least privilege by role, enforced by the services (not by hidden buttons).

The expectations below are written out by hand, independently of the matrix in
desktop_app/domain/permissions.py: if someone edits the matrix, this table must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from desktop_app.db.models import DocumentRequirement
from desktop_app.domain import permissions
from desktop_app.domain.enums import Role
from desktop_app.domain.permissions import Action, Scope
from desktop_app.errors import PermissionDenied
from desktop_app.services import admin as admin_service
from desktop_app.services import renewals, users, work
from tests.helpers import SmallBook, dump_database, small_book


def _doc_id(db, book: SmallBook, doc_type: str) -> int:
    with db.read_session() as s:
        return s.scalar(
            select(DocumentRequirement.id).where(
                DocumentRequirement.renewal_id == book.renewal_id,
                DocumentRequirement.document_type == doc_type,
            )
        )


# operation name → callable(db, book, actor)
OPERATIONS: dict[str, Callable] = {
    "add user": lambda db, b, a: users.add_user(db, a, "newbie", "csr"),
    "configure stage": lambda db, b, a: admin_service.update_stage(db, a, "upcoming", sla_days=45),
    "move to next stage": lambda db, b, a: renewals.move_stage(db, a, b.renewal_id, "gathering"),
    "mark lost": lambda db, b, a: renewals.move_stage(
        db, a, b.renewal_id, "lost", outcome_reason="Moved to a direct writer"
    ),
    "edit next action": lambda db, b, a: renewals.update_renewal(
        db, a, b.renewal_id, next_action="Call the insured"
    ),
    "change target date": lambda db, b, a: renewals.update_renewal(
        db, a, b.renewal_id, target_date=date.today() + timedelta(days=30)
    ),
    "reassign": lambda db, b, a: renewals.update_renewal(
        db, a, b.renewal_id, next_action_owner="morgan"
    ),
    "add task": lambda db, b, a: work.add_task(db, a, b.renewal_id, "Order loss runs"),
    "receive sensitive document": lambda db, b, a: work.receive_document(
        db, a, _doc_id(db, b, "Loss runs")
    ),
    "receive standard document": lambda db, b, a: work.receive_document(
        db, a, _doc_id(db, b, "ACORD 130")
    ),
}

# who may do it: the account's producer ("pat"), another producer ("otto"), the CSR,
# a manager, an admin. True = allowed, False = refused.
EXPECTED = """
operation                    pat    otto   csr    manager  admin
add user                     no     no     no     no       yes
configure stage              no     no     no     no       yes
move to next stage           yes    no     yes    yes      yes
mark lost                    yes    no     no     yes      yes
edit next action             yes    no     yes    yes      yes
change target date           no     no     no     yes      yes
reassign                     no     no     yes    yes      yes
add task                     yes    no     yes    yes      yes
receive sensitive document   yes    no     yes    yes      yes
receive standard document    yes    no     yes    yes      yes
"""


def _cases() -> list[tuple[str, str, bool]]:
    lines = [line.split() for line in EXPECTED.strip().splitlines()[1:]]
    who = ["pat", "otto", "csr", "manager", "admin"]
    cases = []
    for parts in lines:
        verdicts = parts[-5:]
        name = " ".join(parts[:-5])
        cases += [(name, w, v == "yes") for w, v in zip(who, verdicts, strict=True)]
    return cases


def _actor(book: SmallBook, who: str):
    return {
        "pat": book.producer,
        "otto": book.other_producer,
        "csr": book.csr,
        "manager": book.manager,
        "admin": book.admin,
    }[who]


@pytest.mark.parametrize(("operation", "who", "allowed"), _cases())
def test_role_matrix_enforced_by_services(db, admin, make_user, operation, who, allowed):
    book = small_book(db, admin, make_user)
    before = dump_database(db)
    run = OPERATIONS[operation]
    if allowed:
        run(db, book, _actor(book, who))
        assert dump_database(db) != before, "an allowed action should have written something"
    else:
        with pytest.raises(PermissionDenied) as refused:
            run(db, book, _actor(book, who))
        message = str(refused.value)
        assert message.endswith(".") and "\n" not in message
        assert message.startswith(("A ", "An "))
        # Refused: not one row changed, not even an audit event.
        assert dump_database(db) == before


def test_matrix_covers_every_action_and_role():
    for action in Action:
        assert set(permissions.MATRIX[action]) == set(Role)


def test_only_admins_manage_users_and_the_database():
    for action in (Action.USER_MANAGE, Action.DATABASE_ADMIN, Action.STAGE_CONFIGURE):
        assert [r for r in Role if permissions.scope(r, action) is not Scope.NONE] == [Role.ADMIN]


def test_refusal_sentence_names_role_and_action():
    assert permissions.refusal(Role.CSR, Action.RENEWAL_SET_OUTCOME) == (
        "A CSR may not set a renewal's outcome."
    )
    assert permissions.refusal(Role.PRODUCER, Action.RENEWAL_MOVE) == (
        "A producer may only move renewals between stages in their own book."
    )
