"""A shared office's PostgreSQL database enforces the roles itself (``db provision``).

Each attack is tried the way someone with a CSR's or producer's login would: straight
SQL over their own connection (psql-level), not through the app. The app's own work
under each login must still go through.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import keyring
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from desktop_app.db import migrate, provision
from desktop_app.db.engine import Database, open_database
from desktop_app.domain.enums import AuditSource
from desktop_app.engine import timer
from desktop_app.errors import PermissionDenied
from desktop_app.services import agency, book, renewals, users
from desktop_app.services import auto_renewals as ars
from desktop_app.services.demo import load_demo
from desktop_app.services.unit import Actor
from tests.conftest import PG_ADMIN_URL, PostgresServer
from tests.helpers import MemoryKeyring

pytestmark = pytest.mark.postgres_only


@dataclass
class Office:
    server: PostgresServer
    name: str
    prefix: str
    su: Database
    report: provision.ProvisionReport
    people: dict[str, str]  # role → login
    renewal_id: int  # in prod's book (producer prod, CSR csr)
    other_renewal_id: int  # in someone else's book
    confidential_doc: int
    sensitive_doc_other: int
    targets: dict[str, int]  # auto-renewals, terms and reminders the attacks aim at
    plan: str  # the auto-renewal plan of prod's account "Dockside Deli"

    def url(self, login: str) -> str:
        return make_url(self.server.url(self.name)).set(username=login).render_as_string(False)

    def dsn(self, login: str) -> str:
        return self.url(login).replace("postgresql+psycopg://", "postgresql://")

    def open_as(self, role: str) -> Database:
        return open_database(self.url(self.people[role]))

    def actor(self, role: str) -> Actor:
        return Actor(self.people[role], AuditSource.UI)


@pytest.fixture(scope="module")
def office(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    previous_keyring = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    home = os.environ.get("RENEWAL_DESK_HOME")
    os.environ["RENEWAL_DESK_HOME"] = str(tmp_path_factory.mktemp("office-home"))
    suffix = uuid.uuid4().hex[:6]
    prefix = f"rdt{suffix}_"
    name = postgres.new_database()
    su = open_database(postgres.url(name))
    people = {r: f"{r}_{suffix}" for r in ("admin", "manager", "csr", "prod", "prod2")}
    try:
        users.ensure_first_admin(su, "postgres")
        root = Actor("postgres", AuditSource.CLI)
        load_demo(su, root, policies=40, seed=3)  # people without logins: made before
        # trigger times are counted on this wall clock (daylight saving and all)
        agency.set_time_zone(su, root, "America/Chicago")
        with su.engine.begin() as conn:
            report = provision.provision(conn, prefix)
        roles = {"admin": "admin", "manager": "manager", "csr": "csr", "prod": "producer"}
        roles["prod2"] = "producer"
        for key, login in people.items():
            users.add_user(su, root, login, roles[key], f"{key.title()} {suffix}")
        account = book.create_account(
            su, root, f"Harbor Bakery {suffix}", producer=people["prod"], csr=people["csr"]
        )
        end = datetime.combine(date.today() + timedelta(days=60), datetime.min.time(), UTC)
        policy = book.add_policy(
            su, root, account.id, f"WC-{suffix}", "The Hartford", "WORK",
            end - timedelta(days=365), end, "12,400.00",
        )  # fmt: skip
        card = renewals.open_renewal(
            su, root, policy.id, next_action="Call", owner=people["csr"], due=date.today()
        )
        with su.engine.begin() as conn:
            other = conn.execute(
                text("SELECT min(id) FROM renewals WHERE id <> :r"), {"r": card.id}
            ).scalar()
            docs = conn.execute(
                text("SELECT id FROM document_requirements WHERE renewal_id = :r ORDER BY id"),
                {"r": card.id},
            ).scalars()
            confidential = next(iter(docs))
            conn.execute(
                text(
                    "UPDATE document_requirements SET access_level = 'confidential' WHERE id = :d"
                ),
                {"d": confidential},
            )
            sensitive = conn.execute(
                text("SELECT min(id) FROM document_requirements WHERE renewal_id = :r"),
                {"r": other},
            ).scalar()
            if sensitive is None:  # give the other renewal a document line
                sensitive = conn.execute(
                    text(
                        "INSERT INTO document_requirements (renewal_id, document_type, required,"
                        " status, access_level, version) VALUES (:r, 'Loss runs', true,"
                        " 'missing', 'sensitive', 1) RETURNING id"
                    ),
                    {"r": other},
                ).scalar()
            conn.execute(
                text("UPDATE document_requirements SET access_level = 'sensitive' WHERE id = :d"),
                {"d": sensitive},
            )
        targets = _auto_renewal_targets(su, root, suffix, people, policy.id)
        yield Office(
            postgres,
            name,
            prefix,
            su,
            report,
            people,
            card.id,
            other,
            confidential,
            sensitive,
            targets,
            f"Standard {suffix}",
        )
    finally:
        su.dispose()
        postgres.drop(name)
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for role in [*people.values(), *(f"{prefix}{g}" for g in _GROUPS)]:
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
        keyring.set_keyring(previous_keyring)
        if home is None:
            os.environ.pop("RENEWAL_DESK_HOME", None)
        else:
            os.environ["RENEWAL_DESK_HOME"] = home


def _auto_renewal_targets(
    su: Database, root: Actor, suffix: str, people: dict[str, str], plain_policy: int
) -> dict[str, int]:
    """prod's account "Dockside Deli" on a plan: an active auto-renewal, one marked do not
    renew, a latest term without one; reminders for the CSR and for the manager."""
    plan = f"Standard {suffix}"
    ars.add_plan(su, root, plan, create_lead_days=60, accept_lead_days=30, issue_lead_days=15)
    account = book.create_account(
        su, root, f"Dockside Deli {suffix}", producer=people["prod"], csr=people["csr"], plan=plan
    )
    ends = [_local_midnight(date.today() + timedelta(days=d)) for d in (200, 210, 220)]
    ids = [
        book.add_policy(
            su, root, account.id, f"BOP-{suffix}-{i}", "Travelers", "BOP",
            end - timedelta(days=365), end, "2,100.00",
        ).id
        for i, end in enumerate(ends)
    ]  # fmt: skip
    ars.do_not_renew(su, root, f"BOP-{suffix}-1")
    with su.engine.begin() as conn:

        def one(sql: str, **params: object) -> int:
            return int(conn.execute(text(sql), params).scalar_one())

        ar_of = "SELECT id FROM auto_renewals WHERE policy_id = :p"
        targets = {"ar": one(ar_of, p=ids[0]), "ar_dnr": one(ar_of, p=ids[1])}
        conn.execute(text("DELETE FROM auto_renewals WHERE policy_id = :p"), {"p": ids[2]})
        term_of = "SELECT id FROM terms WHERE policy_id = :p"
        targets |= {"free_policy": ids[2], "free_term": one(term_of, p=ids[2])}
        targets |= {"plain_policy": plain_policy, "plain_term": one(term_of, p=plain_policy)}
        targets["plan"] = one("SELECT id FROM auto_renewal_plans WHERE name = :n", n=plan)
        for key, login in (("csr_notice", people["csr"]), ("other_notice", people["manager"])):
            targets[key] = one(
                "INSERT INTO notices (created_at, user_id, kind, message) SELECT now(), id,"
                " 'task_reminder', 'Call Dockside Deli about loss runs' FROM users"
                " WHERE username = :u RETURNING id",
                u=login,
            )
    return targets


def _local_midnight(day: date, zone: str = "America/Chicago") -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC)


_GROUPS = (
    "producer",
    "csr",
    "manager",
    "admin",
    "timer",
    "read_sensitive",
    "read_confidential",
    "owner",
)


def _psql(office: Office, role: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Run ``sql`` as that person's login, straight over the wire, and commit."""
    with psycopg.connect(office.dsn(office.people[role])) as conn:
        rows = conn.execute(sql, params)
        result = rows.fetchall() if rows.description else []
        conn.commit()
        return result


def _scalar(office: Office, sql: str, params: dict | None = None) -> object:
    with office.su.engine.connect() as conn:
        return conn.execute(text(sql), params or {}).scalar()


# --- what provisioning sets up ------------------------------------------------------


def test_no_app_role_owns_a_table_or_has_powers(office: Office) -> None:
    rows = _scalar(
        office,
        "SELECT json_agg(json_build_object('name', rolname, 'super', rolsuper, 'rls',"
        " rolbypassrls, 'createrole', rolcreaterole, 'createdb', rolcreatedb))"
        " FROM pg_roles WHERE rolname LIKE :p OR rolname = ANY(:people)",
        {"p": office.prefix + "%", "people": list(office.people.values())},
    )
    roles = {r["name"]: r for r in rows}  # type: ignore[union-attr]
    assert set(office.people.values()) <= set(roles)
    for role_name, role in roles.items():
        assert not role["super"] and not role["rls"] and not role["createdb"], role_name
        if role_name != office.prefix + "owner":
            assert not role["createrole"], role_name
    owners = _scalar(
        office,
        "SELECT array_agg(DISTINCT pg_get_userbyid(relowner)) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')",
    )
    assert owners == [office.prefix + "owner"]


def test_each_person_is_in_exactly_their_group(office: Office) -> None:
    for key, group in (("csr", "csr"), ("prod", "producer"), ("admin", "admin")):
        groups = _scalar(
            office,
            "SELECT array_agg(g.rolname) FROM pg_auth_members m JOIN pg_roles g"
            " ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :u",
            {"u": office.people[key]},
        )
        assert groups == [office.prefix + group]


def test_provisioning_again_changes_nothing(office: Office) -> None:
    with office.su.engine.begin() as conn:
        again = provision.provision(conn, office.prefix)
    assert again.created_roles == [] and again.owner_password is None
    assert office.report.owner_password and office.report.timer_password


def test_passwords_are_stored_as_scram_verifiers(office: Office) -> None:
    stored = _scalar(
        office, "SELECT rolpassword FROM pg_authid WHERE rolname = :u", {"u": office.people["csr"]}
    )
    assert str(stored).startswith("SCRAM-SHA-256$")


# --- attacks with a CSR's or producer's own login, straight SQL ----------------------

# An auto-renewal row as the app would add it for the Dockside Deli term that has none
# (plan: 60 / 30 / 15 lead days, 12 months), with the state, issue time and due time given.
_NEW_AR = (
    "INSERT INTO auto_renewals (policy_id, term_id, plan_id, state, create_time, accept_time,"
    " issue_time, transaction_type, new_term_months, next_due_at, created_at, version)"
    " SELECT {policy}, {term}, {{plan}}, {state}, t.end_at - interval '60 days',"
    " t.end_at - interval '30 days', {issue}, 'renewal', 12, {due}, now(), 1"
    " FROM terms t WHERE t.id = {term}"
)
_FREE = {"policy": "{free_policy}", "term": "{free_term}"}

REFUSED = [
    ("csr", "DELETE FROM audit_events"),
    ("csr", "UPDATE audit_events SET action = 'nothing happened'"),
    ("csr", "TRUNCATE audit_events"),
    ("csr", "UPDATE users SET role = 'admin'"),
    (
        "csr",
        "INSERT INTO users (username, full_name, role, active, version)"
        " VALUES ('mallory', 'Mallory', 'admin', true, 1)",
    ),
    ("csr", "UPDATE app_settings SET value = '\"UTC\"' WHERE key = 'database.security'"),
    ("csr", "INSERT INTO app_settings (key, value) VALUES ('agency.time_zone', '\"UTC\"')"),
    ("csr", "UPDATE renewals SET outcome = 'lost' WHERE id = {renewal}"),
    ("csr", "UPDATE renewals SET target_date = '2030-01-01' WHERE id = {renewal}"),
    ("csr", "DELETE FROM renewals WHERE id = {renewal}"),
    ("csr", "UPDATE auto_renewal_plans SET name = 'x'"),
    ("csr", "UPDATE pipeline_stages SET sla_days = 1"),
    ("csr", "SELECT rd_set_login('mallory', 'admin', NULL, true)"),
    ("csr", "SET ROLE {prefix}admin"),
    ("csr", "SET SESSION AUTHORIZATION postgres"),
    ("csr", "ALTER TABLE renewals DISABLE TRIGGER ALL"),
    ("csr", "ALTER TABLE document_requirements DISABLE ROW LEVEL SECURITY"),
    ("csr", "DROP POLICY rd_read ON document_requirements"),
    ("csr", "CREATE TABLE stash (x text)"),
    (
        "csr",
        "INSERT INTO audit_events (at, actor, source, action, object_type, changes, db_user)"
        " VALUES (now(), '{admin}', 'ui', 'renewal.update', 'renewals', '{{}}', '{csr}')",
    ),
    (
        "csr",
        "INSERT INTO audit_events (at, actor, source, action, object_type, changes, db_user)"
        " VALUES (now(), '{csr}', 'ui', 'renewal.update', 'renewals', '{{}}', '{admin}')",
    ),
    ("prod", "UPDATE renewals SET notes = 'mine now' WHERE id = {other}"),
    ("prod", "UPDATE renewals SET next_action_owner_id = NULL WHERE id = {renewal}"),
    (
        "prod",
        "UPDATE accounts SET producer_id = (SELECT id FROM users WHERE username = '{prod}')"
        " WHERE id = (SELECT a.id FROM accounts a JOIN policies p ON p.account_id = a.id"
        " JOIN renewals r ON r.policy_id = p.id WHERE r.id = {other})",
    ),
    ("prod", "UPDATE tasks SET title = 'x' WHERE renewal_id = {other}"),
    ("prod", "UPDATE timer_firings SET outcome = 'x'"),
    # auto-renewals are a manager's (auto_renewal.manage): neither their state by hand...
    ("csr", "UPDATE auto_renewals SET state = 'doNotRenew', next_due_at = NULL WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET state = 'doNotRenew', next_due_at = NULL"),
    (
        "csr",
        "UPDATE auto_renewals SET state = 'active',"
        " next_due_at = least(create_time, accept_time, issue_time) WHERE id = {ar_dnr}",
    ),
    ("csr", "UPDATE auto_renewals SET state = 'discarded', next_due_at = NULL WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET state = 'terminated', next_due_at = NULL WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET state = 'issued', next_due_at = NULL WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET state = 'invalidated', next_due_at = NULL WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET state = 'issued' WHERE id = {ar_dnr}"),
    # ... nor their settings, the renewal they manage or what fired
    ("csr", "UPDATE auto_renewals SET plan_id = NULL WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET issue_time = now(), next_due_at = now() WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET new_term_months = 1 WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET transaction_type = 'rewrite' WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET next_due_at = NULL WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET fired_create_at = now() WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET renewal_id = {renewal} WHERE id = {ar}"),
    ("csr", "UPDATE auto_renewals SET last_error = 'x', state = 'error' WHERE id = {ar}"),
    ("prod", "UPDATE auto_renewals SET state = 'doNotRenew', next_due_at = NULL WHERE id = {ar}"),
    ("prod", "UPDATE auto_renewals SET new_term_months = 120 WHERE id = {ar}"),
    ("prod", "UPDATE auto_renewals SET state = 'discarded', next_due_at = NULL WHERE id = {ar}"),
    # nor one of their own making
    (
        "csr",
        _NEW_AR.format(
            state="'doNotRenew'", issue="t.end_at - interval '15 days'", due="NULL", **_FREE
        ),
    ),
    (
        "csr",
        _NEW_AR.format(state="'active'", issue="now()", due="now()", **_FREE),
    ),
    (
        "csr",
        _NEW_AR.format(
            state="'active'",
            issue="t.end_at - interval '15 days'",
            due="t.end_at - interval '60 days'",
            policy="{plain_policy}",
            term="{plain_term}",
        ),
    ),
    (
        "prod",
        _NEW_AR.format(
            state="'discarded'", issue="t.end_at - interval '15 days'", due="NULL", **_FREE
        ),
    ),
    # reminders: only one's own, only marked read; only the timer service writes them
    ("csr", "UPDATE notices SET read_at = now() WHERE id = {other_notice}"),
    ("csr", "UPDATE notices SET read_at = now()"),
    ("csr", "UPDATE notices SET message = 'Wire the premium to acct 123' WHERE id = {csr_notice}"),
    (
        "csr",
        "UPDATE notices SET user_id = (SELECT id FROM users WHERE username = '{manager}')"
        " WHERE id = {csr_notice}",
    ),
    ("prod", "UPDATE notices SET message = 'x', read_at = now() WHERE id = {other_notice}"),
    ("manager", "UPDATE notices SET message = 'x' WHERE id = {csr_notice}"),
    (
        "csr",
        "INSERT INTO notices (created_at, user_id, kind, message) SELECT now(), id,"
        " 'task_reminder', 'Wire the premium to acct 123' FROM users WHERE username = '{manager}'",
    ),
]


@pytest.mark.parametrize(("who", "sql"), REFUSED, ids=[f"{w}: {s[:60]}" for w, s in REFUSED])
def test_the_database_refuses(office: Office, who: str, sql: str) -> None:
    before = _fingerprint(office)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        _psql(office, who, _statement(office, sql))
    assert refused.value.diag.message_primary  # the server says why, in words
    assert _fingerprint(office) == before


def _statement(office: Office, sql: str) -> str:
    return sql.format(
        renewal=office.renewal_id,
        other=office.other_renewal_id,
        prefix=office.prefix,
        **office.people,
        **office.targets,
    )


def _fingerprint(office: Office) -> tuple[object, ...]:
    """Every row of the tables the attacks aim at, and how many audit events there are."""
    tables = ("renewals", "auto_renewals", "notices")
    return (
        *(
            _scalar(office, f"SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM {t} r")
            for t in tables
        ),
        _scalar(office, "SELECT count(*) FROM audit_events"),
    )


SENTENCES = [
    (
        "csr",
        "UPDATE auto_renewals SET state = 'doNotRenew', next_due_at = NULL WHERE id = {ar}",
        "A CSR may not change auto-renewals.",
    ),
    (
        "prod",
        "UPDATE auto_renewals SET issue_time = now() WHERE id = {ar}",
        "A producer may not change auto-renewals.",
    ),
    (
        "csr",
        "UPDATE auto_renewals SET state = 'issued', next_due_at = NULL WHERE id = {ar}",
        "An auto-renewal is marked issued only once its term has been renewed.",
    ),
    (
        "csr",
        "UPDATE auto_renewals SET state = 'terminated', next_due_at = NULL WHERE id = {ar}",
        "An auto-renewal is terminated only when its renewal is discarded, rejected, refused"
        " or invalidated.",
    ),
    (
        "csr",
        "UPDATE auto_renewals SET state = 'invalidated', next_due_at = NULL WHERE id = {ar}",
        "An auto-renewal is invalidated only when its policy is cancelled.",
    ),
    (
        "csr",
        _NEW_AR.format(state="'active'", issue="now()", due="now()", **_FREE),
        "A CSR may not choose an auto-renewal's trigger times; they follow the account's plan.",
    ),
    (
        "csr",
        _NEW_AR.format(
            state="'doNotRenew'", issue="t.end_at - interval '15 days'", due="NULL", **_FREE
        ),
        "A CSR may only add the auto-renewal that the account's plan gives a policy's latest term.",
    ),
    (
        "csr",
        "UPDATE notices SET read_at = now() WHERE id = {other_notice}",
        "Only the person a reminder is for may mark it read.",
    ),
    (
        "csr",
        "UPDATE notices SET message = 'x' WHERE id = {csr_notice}",
        "A reminder can only be marked read; its text, recipient and renewal stay as the timer"
        " service wrote them.",
    ),
]


@pytest.mark.parametrize(
    ("who", "sql", "sentence"), SENTENCES, ids=[f"{w}: {t[:50]}" for w, _, t in SENTENCES]
)
def test_an_auto_renewal_or_reminder_refusal_says_why(
    office: Office, who: str, sql: str, sentence: str
) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        _psql(office, who, _statement(office, sql))
    assert refused.value.diag.message_primary == sentence


def test_a_person_marks_their_own_reminder_read_over_sql(office: Office) -> None:
    notice = office.targets["csr_notice"]
    _psql(office, "csr", "UPDATE notices SET read_at = now() WHERE id = %s", (notice,))
    assert _scalar(office, "SELECT read_at FROM notices WHERE id = :n", {"n": notice})
    _psql(office, "csr", "UPDATE notices SET read_at = NULL WHERE id = %s", (notice,))


def test_a_refusal_reads_as_a_sentence(office: Office) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        _psql(
            office, "prod", f"UPDATE renewals SET notes = 'x' WHERE id = {office.other_renewal_id}"
        )
    assert (
        caught.value.diag.message_primary
        == "A producer may only change renewals in their own book."
    )


def test_documents_above_your_access_level_are_invisible(office: Office) -> None:
    count = "SELECT count(*) FROM document_requirements WHERE id = %s"
    assert _psql(office, "csr", count, (office.confidential_doc,)) == [(0,)]
    assert _psql(office, "prod", count, (office.confidential_doc,)) == [(0,)]
    assert _psql(office, "manager", count, (office.confidential_doc,)) == [(1,)]
    # sensitive: the account team's producer only; CSRs see every book
    assert _psql(office, "prod", count, (office.sensitive_doc_other,)) == [(0,)]
    assert _psql(office, "csr", count, (office.sensitive_doc_other,)) == [(1,)]
    # and what one cannot see, one cannot change
    _psql(
        office,
        "csr",
        "UPDATE document_requirements SET storage_link = 'x' WHERE id = %s",
        (office.confidential_doc,),
    )
    link = _scalar(
        office,
        "SELECT storage_link FROM document_requirements WHERE id = :d",
        {"d": office.confidential_doc},
    )
    assert link != "x"


def test_a_producer_may_change_their_own_book(office: Office) -> None:
    _psql(
        office,
        "prod",
        "UPDATE renewals SET notes = 'called the insured' WHERE id = %s",
        (office.renewal_id,),
    )
    notes = _scalar(office, "SELECT notes FROM renewals WHERE id = :r", {"r": office.renewal_id})
    assert notes == "called the insured"


# --- the app's own work under each login ---------------------------------------------


def test_the_app_works_under_a_csr_login_and_audits_as_that_login(office: Office) -> None:
    db = office.open_as("csr")
    try:
        actor = users.resolve_actor(db, None, AuditSource.UI)
        assert actor.username == office.people["csr"]
        card = renewals.update_renewal(db, actor, office.renewal_id, next_action="Send quote")
        assert card.next_action == "Send quote"
        with office.su.engine.connect() as conn:
            row = conn.execute(
                text("SELECT actor, db_user FROM audit_events ORDER BY id DESC LIMIT 1")
            ).one()
        assert tuple(row) == (office.people["csr"], office.people["csr"])
    finally:
        db.dispose()


def _auto_renewals_of(office: Office, number: str) -> list[dict[str, object]]:
    """The policy's auto-renewals, oldest term first, as the server has them."""
    with office.su.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.state, a.create_time, a.accept_time, a.issue_time, a.next_due_at,"
                " a.plan_id, t.end_at AS term_end FROM auto_renewals a"
                " JOIN terms t ON t.id = a.term_id JOIN policies p ON p.id = a.policy_id"
                " WHERE p.policy_number = :n ORDER BY t.end_at"
            ),
            {"n": number},
        ).mappings()
        return [dict(r) for r in rows]


def test_a_csrs_work_still_moves_auto_renewals(office: Office, tmp_path: Path) -> None:
    """Adding policies, giving an account a plan, importing a list (with a later term)
    and cancelling a policy add or move auto-renewals, under the CSR's own login."""
    tag = uuid.uuid4().hex[:6]
    db = office.open_as("csr")
    try:
        actor = users.resolve_actor(db, None, AuditSource.UI)
        people = {"producer": office.people["prod"], "csr": office.people["csr"]}
        account = book.create_account(db, actor, f"Pier Cafe {tag}", **people, plan=office.plan)
        soon = _local_midnight(date.today() + timedelta(days=120))
        # the issue trigger falls on 1:30 AM of the night clocks go back, which happens twice
        twice = datetime(2027, 11, 22, 1, 30, tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)
        later = _local_midnight(date.today() + timedelta(days=150))
        for number, end in (("A", soon), ("B", twice), ("C", later)):
            book.add_policy(
                db, actor, account.id, f"PC-{tag}-{number}", "Chubb", "BOP",
                end - timedelta(days=365), end, "900.00",
            )  # fmt: skip
        made = _auto_renewals_of(office, f"PC-{tag}-A")
        sixty_before = _local_midnight(date.today() + timedelta(days=60))  # local midnight
        assert [(a["state"], a["create_time"]) for a in made] == [("active", sixty_before)]
        ambiguous = _auto_renewals_of(office, f"PC-{tag}-B")[0]
        assert ambiguous["issue_time"] == datetime(2027, 11, 7, 6, 30, tzinfo=UTC)  # 1:30 CDT
        # a plan given later reaches the account's policies
        bare = book.create_account(db, actor, f"Bare Bones {tag}", **people)
        book.add_policy(
            db, actor, bare.id, f"BB-{tag}", "Chubb", "BOP",
            soon - timedelta(days=365), soon, "400.00",
        )  # fmt: skip
        assert _auto_renewals_of(office, f"BB-{tag}") == []
        ars.set_account_plan(db, actor, str(bare.id), office.plan)
        assert [a["state"] for a in _auto_renewals_of(office, f"BB-{tag}")] == ["active"]
        # cancelling a policy invalidates its auto-renewal
        from desktop_app.services import importing, transactions
        from tests.excel.messy import SIMPLE_HEADER, workbook

        transactions.cancel_policy(db, actor, f"PC-{tag}-A")
        assert [a["state"] for a in _auto_renewals_of(office, f"PC-{tag}-A")] == ["invalidated"]
        # a list with a later term and a new client on the plan
        c_end = later.astimezone(ZoneInfo("America/Chicago")).date()
        renewed_to = c_end.replace(year=c_end.year + 1)
        path = workbook(
            tmp_path,
            [
                [*SIMPLE_HEADER, "Auto-Renewal Plan"],
                [f"PC-{tag}-C", f"Pier Cafe {tag}", "Chubb", renewed_to, "BOP", 950, None],
                [f"NQ-{tag}", f"Quay Books {tag}", "Chubb", renewed_to, "BOP", 300, office.plan],
            ],
        )
        result = importing.commit(db, actor, importing.read_file(path))
        assert result.rejections == [] and (result.created, result.terms_recorded) == (1, 1)
        assert [a["state"] for a in _auto_renewals_of(office, f"PC-{tag}-C")] == [
            "issued",
            "active",
        ]
        assert [a["state"] for a in _auto_renewals_of(office, f"NQ-{tag}")] == ["active"]
    finally:
        db.dispose()
    writers = _scalar(
        office,
        "SELECT array_agg(DISTINCT db_user) FROM audit_events WHERE object_type ="
        " 'auto_renewals' AND changes::text LIKE :tag",
        {"tag": f"%{tag}%"},
    )
    assert writers == [office.people["csr"]]


def test_a_producers_work_still_moves_auto_renewals(office: Office) -> None:
    """Issuing or discarding a renewal in their own book marks its auto-renewal issued or
    terminated (and the new term gets its own), under the producer's own login."""
    from desktop_app.services import transactions

    tag = uuid.uuid4().hex[:6]
    root = Actor("postgres", AuditSource.CLI)
    db = office.open_as("prod")
    try:
        actor = users.resolve_actor(db, None, AuditSource.UI)
        account = book.create_account(
            db, actor, f"Lighthouse Books {tag}", producer=office.people["prod"], plan=office.plan
        )
        end = _local_midnight(date.today() + timedelta(days=90))
        for number in ("I", "D", "L"):
            book.add_policy(
                db, actor, account.id, f"LB-{tag}-{number}", "Chubb", "BOP",
                end - timedelta(days=365), end, "700.00",
            )  # fmt: skip
        # issuing a renewal by hand: the auto-renewal is issued, the new term gets its own
        card = transactions.create_renewal(
            db, actor, f"LB-{tag}-I", new_end=end.date().replace(year=end.year + 1)
        )
        transactions.advance(db, actor, card.id, "issued")
        assert [a["state"] for a in _auto_renewals_of(office, f"LB-{tag}-I")] == [
            "issued",
            "active",
        ]
        # discarding the renewal an auto-renewal manages terminates it
        managed = transactions.create_renewal(
            db, actor, f"LB-{tag}-D", new_end=end.date().replace(year=end.year + 1)
        )
        ars.update(office.su, root, f"LB-{tag}-D", renewal_id=managed.id)  # a manager's step
        transactions.end_renewal(db, actor, managed.id, "discarded")
        assert [a["state"] for a in _auto_renewals_of(office, f"LB-{tag}-D")] == ["terminated"]
        # and so does moving its card to Lost on the board
        lost = transactions.create_renewal(
            db, actor, f"LB-{tag}-L", new_end=end.date().replace(year=end.year + 1)
        )
        ars.update(office.su, root, f"LB-{tag}-L", renewal_id=lost.id)
        renewals.move_stage(db, actor, lost.id, "lost", outcome_reason="Went to another agency")
        assert [a["state"] for a in _auto_renewals_of(office, f"LB-{tag}-L")] == ["terminated"]
    finally:
        db.dispose()


def test_people_dismiss_their_own_reminders_in_the_app(office: Office) -> None:
    from desktop_app.services import queues

    with office.su.engine.begin() as conn:
        mine = [
            conn.execute(
                text(
                    "INSERT INTO notices (created_at, user_id, kind, message) SELECT now(), id,"
                    " 'task_reminder', :m FROM users WHERE username = :u RETURNING id"
                ),
                {"m": message, "u": office.people["csr"]},
            ).scalar_one()
            for message in ("Call the carrier", "Chase loss runs")
        ]
    db = office.open_as("csr")
    try:
        actor = users.resolve_actor(db, None, AuditSource.UI)
        assert queues.dismiss_notice(db, actor, mine[0]).read_at is not None
        assert queues.dismiss_all_notices(db, actor) >= 1
        with pytest.raises(PermissionDenied, match="someone else's"):
            queues.dismiss_notice(db, actor, office.targets["other_notice"])
    finally:
        db.dispose()
    unread = _scalar(
        office,
        "SELECT count(*) FROM notices WHERE id = ANY(:ids) AND read_at IS NULL",
        {"ids": mine},
    )
    assert unread == 0
    theirs = {"n": office.targets["other_notice"]}
    assert _scalar(office, "SELECT read_at FROM notices WHERE id = :n", theirs) is None


def test_the_app_refuses_to_act_as_someone_else(office: Office) -> None:
    db = office.open_as("csr")
    try:
        with pytest.raises(PermissionDenied, match="own login"):
            users.resolve_actor(db, office.people["admin"], AuditSource.CLI)
    finally:
        db.dispose()


def test_a_refusal_by_the_database_reaches_the_app_as_a_sentence(office: Office) -> None:
    db = office.open_as("prod")
    try:
        with pytest.raises(PermissionDenied) as caught, db.write_session() as session:
            session.execute(
                text("UPDATE renewals SET notes = 'x' WHERE id = :r"),
                {"r": office.other_renewal_id},
            )
        assert str(caught.value) == "A producer may only change renewals in their own book."
    finally:
        db.dispose()


def test_admin_adds_a_person_with_a_login_in_their_group(office: Office) -> None:
    db = office.open_as("admin")
    login = f"newcsr_{uuid.uuid4().hex[:6]}"
    try:
        actor = users.resolve_actor(db, None, AuditSource.UI)
        info = users.add_user(db, actor, login, "csr", "New Person")
        assert info.first_password and len(info.first_password) >= 16
        in_group = _scalar(
            office, "SELECT pg_has_role(:u, :g, 'MEMBER')", {"u": login, "g": office.prefix + "csr"}
        )
        assert in_group is True
        users.set_role(db, actor, login, "manager")
        groups = _scalar(
            office,
            "SELECT array_agg(g.rolname) FROM pg_auth_members m JOIN pg_roles g"
            " ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :u",
            {"u": login},
        )
        assert groups == [office.prefix + "manager"]
        users.deactivate_user(db, actor, login)
        can_login = _scalar(
            office, "SELECT rolcanlogin FROM pg_roles WHERE rolname = :u", {"u": login}
        )
        assert can_login is False
        with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
            psycopg.connect(office.dsn(login)).close()
    finally:
        db.dispose()
        with office.su.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP ROLE IF EXISTS "{login}"'))


def test_a_csr_cannot_add_people_even_through_the_login_function(office: Office) -> None:
    db = office.open_as("csr")
    try:
        actor = users.resolve_actor(db, None, AuditSource.UI)
        with pytest.raises(PermissionDenied):
            users.add_user(db, actor, "mallory", "admin")
    finally:
        db.dispose()
    assert _scalar(office, "SELECT count(*) FROM pg_roles WHERE rolname = 'mallory'") == 0


def test_an_upgrade_needs_the_owner(office: Office, tmp_path: Path) -> None:
    name = office.server.new_database()
    db = open_database(office.server.url(name))
    try:
        with db.engine.begin() as conn:
            provision.provision(conn, office.prefix)
            conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    finally:
        db.dispose()
    url = make_url(office.server.url(name)).set(username=office.people["csr"])
    as_csr = open_database(url.render_as_string(False))
    try:
        with pytest.raises(PermissionDenied, match="only its owner may run"):
            migrate.upgrade(as_csr)
    finally:
        as_csr.dispose()
        office.server.drop(name)


def test_a_connection_that_requires_tls_says_so_in_words(postgres: PostgresServer) -> None:
    from desktop_app.services import connection

    url = connection.postgres_url("127.0.0.1", 5432, "postgres", "postgres", tls="verify-full")
    assert "sslmode=verify-full" in url and "sslrootcert=system" in url
    check = connection.check_connection(url)
    ssl_on = _server_has_tls()
    if ssl_on:
        assert not check.ok and "certificate" in check.sentence
    else:
        assert not check.ok
        assert "does not offer encrypted connections" in check.sentence


def _server_has_tls() -> bool:
    admin = create_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            return conn.execute(text("SHOW ssl")).scalar() == "on"
    finally:
        admin.dispose()


def test_the_office_servers_scheduler_runs_as_the_timer_login(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop_app.cli.main import run

    timer_login = office.prefix + "timer"
    code = run(["--database-url", office.url(timer_login), "scheduler", "once", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    actions = [json.loads(line) for line in captured.out.strip().splitlines()]
    # housekeeping wrote its reminders and flags under the timer login
    assert {"task_reminder", "flag_past_sla"} <= {a["kind"] for a in actions}
    assert "renewal-desk:" not in captured.err  # no problem reported


def test_provision_and_user_add_from_the_command_line(
    postgres: PostgresServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from desktop_app.cli.main import run

    name = postgres.new_database()
    prefix = f"rdc{uuid.uuid4().hex[:6]}_"
    login = f"ann_{uuid.uuid4().hex[:6]}"
    url = postgres.url(name)
    try:
        assert run(["--database-url", url, "db", "provision", "--prefix", prefix]) == 0
        out = capsys.readouterr().out
        assert f"{prefix}owner" in out and "shown only now" in out
        assert run(["--database-url", url, "user", "add", login, "--role", "csr"]) == 0
        out = capsys.readouterr().out
        password = out.rsplit(": ", 1)[-1].strip()
        assert len(password) >= 16 and f"login '{login}'" in out
        # never in a file this desktop wrote (settings, logs)
        home = Path(os.environ["RENEWAL_DESK_HOME"])
        for path in home.rglob("*"):
            if path.is_file():
                assert password not in path.read_text(errors="replace"), path
    finally:
        postgres.drop(name)
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for role in [login, *(f"{prefix}{g}" for g in _GROUPS)]:
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


# after the scheduler's test: this tick's housekeeping takes a slot 400 days ahead
def test_timer_runs_under_a_manager_login_and_not_under_a_csr(office: Office) -> None:
    csr = office.open_as("csr")
    try:
        report = timer.tick(csr, now=datetime.now(UTC) + timedelta(days=400))
        assert report.actions == [] and "not under" in report.errors[0]
    finally:
        csr.dispose()
    manager = office.open_as("manager")
    try:
        report = timer.tick(manager, now=datetime.now(UTC) + timedelta(days=400))
        assert report.actions, report.errors
        problems = [e for e in report.errors if "allow" in e or "may" in e or "refus" in e]
        assert problems == []
        # the timer's audit events name the timer service, written by the manager's login
        row = _scalar(
            office,
            "SELECT count(*) FROM audit_events WHERE actor = 'timer-service' AND db_user = :u",
            {"u": office.people["manager"]},
        )
        assert row and row > 0
    finally:
        manager.dispose()
