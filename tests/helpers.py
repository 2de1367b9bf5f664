"""Shared test helpers: a small book to act on, and a fingerprint of a whole database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import keyring.backend
from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import Base
from desktop_app.services import book, renewals
from desktop_app.services.unit import Actor


def dump_database(db: Database) -> dict[str, list[tuple]]:
    """Every row of every table, in key order: equal dumps mean nothing was written."""
    out: dict[str, list[tuple]] = {}
    with db.read_session() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


@dataclass
class SmallBook:
    producer: Actor
    other_producer: Actor
    csr: Actor
    manager: Actor
    admin: Actor
    account_id: int
    policy_id: int
    renewal_id: int


def small_book(db: Database, admin: Actor, make_user) -> SmallBook:  # type: ignore[no-untyped-def]
    """One account (producer + CSR), one policy expiring in 60 days, one open renewal."""
    producer = make_user("producer", "pat")
    other = make_user("producer", "otto")
    csr = make_user("csr", "casey")
    manager = make_user("manager", "morgan")
    account = book.create_account(
        db, admin, "Harbor Bakery LLC", producer="pat", csr="casey", contact_name="Ann Lee"
    )
    end = datetime.combine(date.today() + timedelta(days=60), datetime.min.time(), UTC)
    policy = book.add_policy(
        db,
        admin,
        account.id,
        "WC-000123",
        "The Hartford",
        "WORK",
        end - timedelta(days=365),
        end,
        "12,400.00",
    )
    card = renewals.open_renewal(
        db,
        admin,
        policy.id,
        next_action="Request payroll report",
        owner="casey",
        due=date.today() + timedelta(days=7),
    )
    return SmallBook(producer, other, csr, manager, admin, account.id, policy.id, card.id)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in the test process: never touches the developer's own."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)
