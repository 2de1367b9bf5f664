"""A shared office's PostgreSQL database: roles, grants and the rules the server enforces.

When every desktop can reach the database, checks inside the app are not enough: anyone
with a login could open psql. ``renewal-desk db provision`` (run once by an admin with a
superuser or owner URL) makes the server itself enforce the permission matrix:

* a **schema owner** role (``<prefix>owner``) owns every table; migrations run as it. No
  app role owns a table, is a superuser, may create roles or bypass row security.
* one **group role per app role** (``<prefix>producer``, ``csr``, ``manager``, ``admin``)
  plus ``<prefix>timer`` (what automatic work needs; managers and admins are members, and
  it can log in for ``renewal-desk scheduler run`` on the office server). Each person's
  login role carries their user name and is a member of exactly one group
  (:func:`set_login`, called by ``renewal-desk user add``).
* **least grants**: every group reads; only the work tables are written; config tables
  only by admins (plans by managers too); nobody but the owner deletes or truncates,
  except admins removing a checklist template; the audit table is insert-only; reminders
  (``notices``) are written by the timer service only.
* **triggers** for the matrix's row scopes: a producer changes only their own book (the
  account's producer or CSR, or the renewal's next-action owner), may not reassign or
  change critical dates; a CSR may not set outcomes or critical dates; agency settings
  other than saved import mappings are an admin's; auto-renewals are a manager's (a CSR's
  or producer's work only adds the one an account's plan calls for and moves it to
  issued, terminated or invalidated as its renewal or policy did); a person marks only
  their own reminders read and changes nothing else in them.
* **row-level security** on document requirements: confidential ones are visible to
  managers and admins (and the timer) only, sensitive ones to producers of the account.
* the **audit trail** is bound to the login: an event's ``db_user`` must be the
  connection's ``session_user``, never something the client chose, and its actor must be
  that login (or the timer service, for logins allowed to run automatic work).

Everything here is idempotent: provisioning again (or after an upgrade added tables)
re-applies it. Row-level security makes ``COPY FROM`` unavailable on that table to app
roles, so bulk writers ask :func:`copy_allowed` first.
"""

from __future__ import annotations

import json
import re
import secrets as _random
import string
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from desktop_app.errors import ConfigurationError, PermissionDenied, RuleViolation

APP_ROLES = ("producer", "csr", "manager", "admin")
DEFAULT_PREFIX = "renewal_desk_"
SETTING_KEY = "database.security"
"""The ``app_settings`` row saying the database is provisioned, and with which prefix."""
TIMER_USER = "timer-service"
_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$")

# Tables people's work writes (rows scoped by the triggers below).
WORK_TABLES = (
    "accounts",
    "policies",
    "terms",
    "renewals",
    "tasks",
    "document_requirements",
    "auto_renewals",
    "notices",
)
CONFIG_TABLES = ("users", "pipeline_stages", "checklist_templates", "auto_renewal_plans")
RLS_TABLES = frozenset({"document_requirements"})
BOOK_TABLES = tuple(t for t in WORK_TABLES if t != "notices")
"""Work tables whose rows belong to an account's book (a producer's scope)."""


@dataclass
class ProvisionReport:
    """What provisioning did, for the command line to print."""

    prefix: str
    owner: str
    created_roles: list[str] = field(default_factory=list)
    tables: int = 0
    owner_password: str | None = None
    timer_password: str | None = None


def generate_password(length: int = 20) -> str:
    """A random password of letters and digits (easy to read out, no quoting trouble)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(_random.choice(alphabet) for _ in range(length))


def scram_verifier(conn: Connection, login: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password``, computed here by libpq: the server is
    sent the verifier, so the password itself never reaches a statement or a server log."""
    raw = conn.connection.driver_connection
    verifier = raw.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
    return verifier.decode()


def group(prefix: str, role: str) -> str:
    return f"{prefix}{role}"


def check_prefix(prefix: str) -> str:
    if not _PREFIX.match(prefix):
        raise ConfigurationError(
            f"'{prefix}' cannot start role names; use lower-case letters, digits and _ "
            "(e.g. renewal_desk_)."
        )
    return prefix


def settings_of(conn: Connection | Session) -> dict[str, Any] | None:
    """The provisioning record (``{"prefix": …, "owner": …}``), or None when the database
    was never provisioned (SQLite, or a server used without roles)."""
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    if bind.dialect.name != "postgresql":
        return None
    row = conn.execute(
        text("SELECT value FROM app_settings WHERE key = :k"), {"k": SETTING_KEY}
    ).first()
    if row is None:
        return None
    value = row[0]
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None


def app_role(conn: Connection | Session) -> str | None:
    """The app role of this connection's login on a provisioned database (``producer``,
    ``csr``, ``manager``, ``admin`` or ``timer``); None for the owner, a superuser, or a
    database that was not provisioned."""
    if settings_of(conn) is None:
        return None
    return conn.execute(text("SELECT rd_role()")).scalar()


def session_login(conn: Connection | Session) -> str:
    return str(conn.execute(text("SELECT session_user")).scalar())


def copy_allowed(conn: Connection, table: str) -> bool:
    """False when ``COPY table FROM`` would be refused because row-level security applies
    to this login (PostgreSQL refuses COPY FROM then; use INSERT)."""
    if table not in RLS_TABLES:
        return True
    cache = conn.connection.info.setdefault("renewal_desk_copy", {})
    if table not in cache:
        cache[table] = bool(
            conn.execute(
                text(
                    "SELECT NOT c.relrowsecurity OR r.rolsuper OR r.rolbypassrls "
                    "OR pg_has_role(c.relowner, 'USAGE') "
                    "FROM pg_class c, pg_roles r "
                    "WHERE c.oid = CAST(:t AS regclass) AND r.rolname = current_user"
                ),
                {"t": table},
            ).scalar()
        )
    return cache[table]


# --- provisioning ----------------------------------------------------------------


def provision(conn: Connection, prefix: str = DEFAULT_PREFIX) -> ProvisionReport:
    """Create the owner and group roles and apply grants, triggers and row security.

    ``conn`` is in a transaction, logged in as a superuser or as the tables' owner (who
    must then be allowed to create roles). The caller commits.
    """
    check_prefix(prefix)
    if conn.dialect.name != "postgresql":
        raise ConfigurationError(
            "Provisioning roles is for a shared PostgreSQL database; an embedded SQLite "
            "file has no logins to give out."
        )
    me = conn.execute(
        text("SELECT rolname, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    ).one()
    tables = _tables(conn)
    if "alembic_version" not in tables:
        raise ConfigurationError(
            "This database has no Renewal Desk tables yet; run 'renewal-desk db upgrade' "
            "with the same URL first."
        )
    report = ProvisionReport(prefix=prefix, owner=me.rolname, tables=len(tables))
    run = _runner(conn)
    existing = _existing_roles(conn)
    if me.rolsuper:
        report.owner = group(prefix, "owner")
        if report.owner not in existing:
            report.owner_password = generate_password()
            verifier = scram_verifier(conn, report.owner, report.owner_password)
            run(
                f"CREATE ROLE {_q(report.owner)} LOGIN CREATEROLE NOSUPERUSER "
                f"NOBYPASSRLS PASSWORD {_lit(verifier)}"
            )
            report.created_roles.append(report.owner)
    elif not me.rolcreaterole:
        raise PermissionDenied(
            f"The login '{me.rolname}' may not create roles; provision with a superuser "
            "URL, or give the owner the CREATEROLE right first."
        )
    else:
        not_mine = [t for t in tables if tables[t] != me.rolname]
        if not_mine:
            raise PermissionDenied(
                f"The login '{me.rolname}' does not own the table {not_mine[0]}; provision "
                "with a superuser URL or as the login that owns the tables."
            )
    for name in [*APP_ROLES, "timer", "read_sensitive", "read_confidential"]:
        role = group(prefix, name)
        if role in existing:
            continue
        login = "LOGIN" if name == "timer" else "NOLOGIN"
        run(
            f"CREATE ROLE {_q(role)} {login} INHERIT NOSUPERUSER NOCREATEDB "
            "NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        )
        report.created_roles.append(role)
        if name == "timer":
            report.timer_password = generate_password()
            verifier = scram_verifier(conn, role, report.timer_password)
            run(f"ALTER ROLE {_q(role)} PASSWORD {_lit(verifier)}")
    if me.rolsuper:
        for table in tables:
            run(f"ALTER TABLE {_q(table)} OWNER TO {_q(report.owner)}")
        database = conn.execute(text("SELECT current_database()")).scalar()
        run(f"GRANT CREATE, CONNECT, TEMPORARY ON DATABASE {_q(database)} TO {_q(report.owner)}")
        run(f"GRANT CREATE, USAGE ON SCHEMA public TO {_q(report.owner)}")
    _record(conn, prefix, report.owner)
    apply(conn, prefix, report.owner)
    return report


def apply(conn: Connection, prefix: str, owner: str) -> None:
    """Grants, functions, triggers and row security (idempotent)."""
    g = {name: group(prefix, name) for name in [*APP_ROLES, "timer"]}
    g["read_sensitive"] = group(prefix, "read_sensitive")
    g["read_confidential"] = group(prefix, "read_confidential")
    run = _runner(conn)
    # Who belongs to what: an admin can do what a manager can, and both run the timer.
    run(f"GRANT {_q(g['manager'])} TO {_q(g['admin'])}")
    run(f"GRANT {_q(g['timer'])} TO {_q(g['manager'])}")
    run(f"GRANT {_q(g['read_confidential'])} TO {_q(g['timer'])}")
    run(f"GRANT {_q(g['read_sensitive'])} TO {_q(g['timer'])}")
    run(f"GRANT {_q(g['read_sensitive'])} TO {_q(g['csr'])}")
    database = conn.execute(text("SELECT current_database()")).scalar()
    people = [g[name] for name in [*APP_ROLES, "timer"]]
    everyone = ", ".join(_q(r) for r in people)
    run(f"REVOKE ALL ON DATABASE {_q(database)} FROM PUBLIC")
    run(f"GRANT CONNECT, TEMPORARY ON DATABASE {_q(database)} TO {everyone}")
    run("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    run(f"GRANT USAGE ON SCHEMA public TO {everyone}")
    tables = _tables(conn)
    for table in tables:
        run(f"REVOKE ALL ON TABLE {_q(table)} FROM PUBLIC")
        for role in people:
            run(f"REVOKE ALL ON TABLE {_q(table)} FROM {_q(role)}")
        run(f"GRANT SELECT ON TABLE {_q(table)} TO {everyone}")
    run(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {everyone}")
    writers = ", ".join(_q(g[r]) for r in ("producer", "csr", "timer"))
    for table in BOOK_TABLES:
        if table in tables:
            run(f"GRANT INSERT, UPDATE ON TABLE {_q(table)} TO {writers}")
    if "notices" in tables:
        # Reminders are written by the timer service only; people just mark theirs read.
        run(f"GRANT INSERT, UPDATE ON TABLE notices TO {_q(g['timer'])}")
        run(f"GRANT UPDATE ON TABLE notices TO {_q(g['producer'])}, {_q(g['csr'])}")
    run(f"GRANT INSERT ON TABLE audit_events TO {writers}")
    run(f"GRANT INSERT, UPDATE ON TABLE app_settings TO {_q(g['csr'])}, {_q(g['timer'])}")
    run(f"GRANT INSERT, UPDATE ON TABLE timer_firings TO {_q(g['timer'])}")
    run(f"GRANT INSERT, UPDATE ON TABLE auto_renewal_plans TO {_q(g['manager'])}")
    for table in CONFIG_TABLES:
        run(f"GRANT INSERT, UPDATE ON TABLE {_q(table)} TO {_q(g['admin'])}")
    run(f"GRANT DELETE ON TABLE checklist_templates TO {_q(g['admin'])}")
    for statement in _functions(prefix, owner):
        run(statement)
    run("REVOKE ALL ON FUNCTION rd_set_login(text, text, text, boolean) FROM PUBLIC")
    run(f"GRANT EXECUTE ON FUNCTION rd_set_login(text, text, text, boolean) TO {_q(g['admin'])}")
    audit_bound = bool(
        conn.execute(
            text(
                "SELECT 1 FROM information_schema.columns "
                "WHERE table_name = 'audit_events' AND column_name = 'db_user'"
            )
        ).first()
    )
    for statement in _triggers(prefix, audit_bound=audit_bound, tables=set(tables)):
        run(statement)
    for statement in _row_security(prefix):
        run(statement)


def _functions(prefix: str, owner: str) -> list[str]:
    groups = ", ".join(_lit(group(prefix, r)) for r in APP_ROLES)
    timer = _lit(group(prefix, "timer"))
    order = " ".join(
        f"WHEN {_lit(group(prefix, r))} THEN {i}" for i, r in enumerate(reversed(APP_ROLES))
    )
    definer = "SECURITY DEFINER SET search_path = pg_catalog, public"
    statements = [
        # The app role of the login this session started with (never a role it SET).
        f"""CREATE OR REPLACE FUNCTION rd_role() RETURNS text LANGUAGE sql STABLE {definer} AS $$
            SELECT CASE WHEN session_user = {timer} THEN 'timer' ELSE (
              SELECT substr(g.rolname, {len(prefix) + 1})
                FROM pg_auth_members m
                JOIN pg_roles g ON g.oid = m.roleid
                JOIN pg_roles u ON u.oid = m.member
               WHERE u.rolname = session_user AND g.rolname IN ({groups})
               ORDER BY CASE g.rolname {order} END
               LIMIT 1) END
        $$""",
        f"""CREATE OR REPLACE FUNCTION rd_me() RETURNS integer LANGUAGE sql STABLE {definer} AS $$
            SELECT id FROM users WHERE username = session_user
        $$""",
        f"""CREATE OR REPLACE FUNCTION rd_account_in_book(a integer) RETURNS boolean
            LANGUAGE sql STABLE {definer} AS $$
            SELECT EXISTS (SELECT 1 FROM accounts
                            WHERE id = a AND rd_me() IN (producer_id, csr_id))
        $$""",
        f"""CREATE OR REPLACE FUNCTION rd_policy_in_book(p integer) RETURNS boolean
            LANGUAGE sql STABLE {definer} AS $$
            SELECT rd_account_in_book((SELECT account_id FROM policies WHERE id = p))
        $$""",
        f"""CREATE OR REPLACE FUNCTION rd_renewal_in_book(r integer) RETURNS boolean
            LANGUAGE sql STABLE {definer} AS $$
            SELECT EXISTS (SELECT 1 FROM renewals
                            WHERE id = r AND (next_action_owner_id = rd_me()
                                              OR rd_policy_in_book(policy_id)))
        $$""",
        """CREATE OR REPLACE FUNCTION rd_refuse(message text) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = message;
            END $$""",
        # A producer's own book, for every table whose rows belong to an account.
        f"""CREATE OR REPLACE FUNCTION rd_guard_producer() RETURNS trigger LANGUAGE plpgsql
            {definer} AS $$
            DECLARE
              row_in_book boolean;
              what text := replace(TG_TABLE_NAME, '_', ' ');
            BEGIN
              IF rd_role() IS DISTINCT FROM 'producer' THEN RETURN NEW; END IF;
              FOR i IN 1..(CASE WHEN TG_OP = 'UPDATE' THEN 2 ELSE 1 END) LOOP
                DECLARE r record;
                BEGIN
                  IF i = 1 THEN r := NEW; ELSE r := OLD; END IF;
                  -- one statement per table: a record's fields are looked up when run
                  IF TG_TABLE_NAME = 'accounts' THEN
                    row_in_book := rd_me() IN (r.producer_id, r.csr_id);
                  ELSIF TG_TABLE_NAME IN ('policies') THEN
                    row_in_book := rd_account_in_book(r.account_id);
                  ELSIF TG_TABLE_NAME IN ('terms', 'auto_renewals') THEN
                    row_in_book := rd_policy_in_book(r.policy_id);
                  ELSIF TG_TABLE_NAME = 'renewals' THEN
                    row_in_book := r.next_action_owner_id = rd_me()
                                   OR rd_policy_in_book(r.policy_id);
                  ELSIF TG_TABLE_NAME = 'tasks' THEN
                    row_in_book := r.owner_id = rd_me() OR rd_renewal_in_book(r.renewal_id);
                  ELSE
                    row_in_book := rd_renewal_in_book(r.renewal_id);
                  END IF;
                  IF NOT coalesce(row_in_book, false) THEN
                    PERFORM rd_refuse('A producer may only change ' || what
                                      || ' in their own book.');
                  END IF;
                END;
              END LOOP;
              IF TG_TABLE_NAME = 'renewals' AND TG_OP = 'UPDATE' THEN
                IF NEW.next_action_owner_id IS DISTINCT FROM OLD.next_action_owner_id THEN
                  PERFORM rd_refuse('A producer may not reassign renewals.');
                END IF;
                IF NEW.target_date IS DISTINCT FROM OLD.target_date THEN
                  PERFORM rd_refuse('A producer may not change a renewal''s critical dates.');
                END IF;
              END IF;
              RETURN NEW;
            END $$""",
        f"""CREATE OR REPLACE FUNCTION rd_guard_csr_renewal() RETURNS trigger LANGUAGE plpgsql
            {definer} AS $$
            BEGIN
              IF rd_role() IS DISTINCT FROM 'csr' THEN RETURN NEW; END IF;
              IF NEW.outcome IS DISTINCT FROM OLD.outcome THEN
                PERFORM rd_refuse('A CSR may not set a renewal''s outcome.');
              END IF;
              -- the trigger fires only when the outcome or the target date changed
              PERFORM rd_refuse('A CSR may not change a renewal''s critical dates.');
              RETURN NEW;
            END $$""",
        # Auto-renewals are a manager's (auto_renewal.manage). A CSR's or producer's work
        # still moves them, as the services do: adding a policy or importing a list gives
        # the latest term the one its account's plan calls for; issuing, ending a renewal
        # or cancelling the policy marks it issued, terminated or invalidated. Anything
        # else (do not renew, reactivating, discarding, the plan, the trigger times, the
        # new term, the renewal it manages, what fired) is refused.
        f"""CREATE OR REPLACE FUNCTION rd_guard_auto_renewal() RETURNS trigger LANGUAGE plpgsql
            {definer} AS $$
            DECLARE
              r text := rd_role();
              who text;
              term record;
              plan record;
              tz text;
              leads integer[];
              times timestamptz[];
              wanted timestamptz;
              -- what only follows the state; every other column stays as it was
              moving text[] := ARRAY['state', 'next_due_at', 'version'];
            BEGIN
              IF r IS NULL OR r NOT IN ('csr', 'producer') THEN RETURN NEW; END IF;
              who := CASE r WHEN 'csr' THEN 'A CSR' ELSE 'A producer' END;
              IF TG_OP = 'UPDATE' THEN
                IF to_jsonb(NEW) - moving IS DISTINCT FROM to_jsonb(OLD) - moving THEN
                  PERFORM rd_refuse(who || ' may not change auto-renewals.');
                END IF;
                IF NEW.state IS DISTINCT FROM OLD.state THEN
                  IF NEW.state = 'issued'
                     AND OLD.state IN ('active', 'error', 'invalidated', 'terminated',
                                       'discarded') THEN
                    IF NOT EXISTS (SELECT 1 FROM terms mine JOIN terms later
                                     ON later.policy_id = mine.policy_id
                                    AND later.end_at > mine.end_at
                                    WHERE mine.id = NEW.term_id) THEN
                      PERFORM rd_refuse('An auto-renewal is marked issued only once its '
                                        || 'term has been renewed.');
                    END IF;
                  ELSIF NEW.state = 'terminated'
                        AND OLD.state IN ('active', 'error', 'invalidated') THEN
                    IF NOT EXISTS (SELECT 1 FROM renewals WHERE id = NEW.renewal_id
                                      AND transaction_state IN ('discarded', 'rejected',
                                                                'refused', 'invalidated')) THEN
                      PERFORM rd_refuse('An auto-renewal is terminated only when its renewal '
                                        || 'is discarded, rejected, refused or invalidated.');
                    END IF;
                  ELSIF NEW.state = 'invalidated' AND OLD.state IN ('active', 'error') THEN
                    IF NOT EXISTS (SELECT 1 FROM policies
                                    WHERE id = NEW.policy_id AND status = 'cancelled') THEN
                      PERFORM rd_refuse('An auto-renewal is invalidated only when its policy '
                                        || 'is cancelled.');
                    END IF;
                  ELSE
                    PERFORM rd_refuse(who || ' may not change auto-renewals.');
                  END IF;
                END IF;
                -- the due time only clears, when the auto-renewal stops being active
                IF NEW.next_due_at IS DISTINCT FROM OLD.next_due_at
                   AND NOT (NEW.next_due_at IS NULL AND NEW.state <> 'active') THEN
                  PERFORM rd_refuse(who || ' may not change auto-renewals.');
                END IF;
                RETURN NEW;
              END IF;
              -- INSERT: exactly what the account's plan gives the policy's latest term.
              SELECT t.end_at INTO term FROM terms t
               WHERE t.id = NEW.term_id AND t.policy_id = NEW.policy_id
                 AND NOT EXISTS (SELECT 1 FROM terms later WHERE later.policy_id = t.policy_id
                                    AND later.end_at > t.end_at);
              IF FOUND THEN
                SELECT pl.* INTO plan FROM policies p
                  JOIN accounts a ON a.id = p.account_id
                  JOIN auto_renewal_plans pl ON pl.id = a.auto_renewal_plan_id
                 WHERE p.id = NEW.policy_id AND p.status <> 'cancelled';
              END IF;
              IF NOT FOUND THEN
                PERFORM rd_refuse(who || ' may only add the auto-renewal that the account''s '
                                  || 'plan gives a policy''s latest term.');
              END IF;
              IF NEW.plan_id IS DISTINCT FROM plan.id
                 OR NEW.state IS DISTINCT FROM 'active' OR NEW.renewal_id IS NOT NULL
                 OR NEW.transaction_type IS DISTINCT FROM plan.transaction_type
                 OR NEW.new_term_months IS DISTINCT FROM plan.new_term_months
                 OR num_nonnulls(NEW.fired_create_at, NEW.fired_accept_at, NEW.fired_issue_at,
                                 NEW.last_error) > 0
                 OR NEW.next_due_at IS DISTINCT FROM
                    least(NEW.create_time, NEW.accept_time, NEW.issue_time) THEN
                PERFORM rd_refuse(who || ' may only add the auto-renewal that the account''s '
                                  || 'plan gives a policy''s latest term.');
              END IF;
              -- Each trigger time is the term end less the plan's lead days on the agency's
              -- wall clock (a zone the server does not know counts as UTC, as in the app).
              -- Within three hours: Python and PostgreSQL read a wall-clock time that
              -- daylight saving repeats as different moments.
              tz := coalesce((SELECT value #>> '{{}}' FROM app_settings
                               WHERE key = 'agency.time_zone'), 'UTC');
              BEGIN
                PERFORM now() AT TIME ZONE tz;
              EXCEPTION WHEN OTHERS THEN
                tz := 'UTC';
              END;
              leads := ARRAY[plan.create_lead_days, plan.accept_lead_days, plan.issue_lead_days];
              times := ARRAY[NEW.create_time, NEW.accept_time, NEW.issue_time];
              FOR i IN 1..3 LOOP
                wanted := ((term.end_at AT TIME ZONE tz) - make_interval(days => leads[i]))
                          AT TIME ZONE tz;
                IF (times[i] IS NULL) <> (wanted IS NULL)
                   OR abs(extract(epoch FROM times[i] - wanted)) > 3 * 3600 THEN
                  PERFORM rd_refuse(who || ' may not choose an auto-renewal''s trigger '
                                    || 'times; they follow the account''s plan.');
                END IF;
              END LOOP;
              RETURN NEW;
            END $$""",
        # A person's reminders: only they mark them read, and nobody rewrites them.
        f"""CREATE OR REPLACE FUNCTION rd_guard_notice() RETURNS trigger LANGUAGE plpgsql
            {definer} AS $$
            DECLARE r text := rd_role();
            BEGIN
              IF r IS NULL OR r = 'timer' THEN RETURN NEW; END IF;
              IF OLD.user_id IS DISTINCT FROM rd_me() THEN
                PERFORM rd_refuse('Only the person a reminder is for may mark it read.');
              END IF;
              IF to_jsonb(NEW) - 'read_at' IS DISTINCT FROM to_jsonb(OLD) - 'read_at' THEN
                PERFORM rd_refuse('A reminder can only be marked read; its text, recipient '
                                  || 'and renewal stay as the timer service wrote them.');
              END IF;
              RETURN NEW;
            END $$""",
        f"""CREATE OR REPLACE FUNCTION rd_guard_setting() RETURNS trigger LANGUAGE plpgsql
            {definer} AS $$
            BEGIN
              IF rd_role() IN ('producer', 'csr', 'manager', 'timer')
                 AND NEW.key NOT LIKE 'import.mapping.%' THEN
                PERFORM rd_refuse('Only an admin may change agency settings.');
              END IF;
              RETURN NEW;
            END $$""",
        # Who acted is the login: the event's db_user is session_user, its actor the
        # login's user (or the timer service, for logins that run automatic work).
        f"""CREATE OR REPLACE FUNCTION rd_guard_audit() RETURNS trigger LANGUAGE plpgsql
            {definer} AS $$
            DECLARE r text := rd_role();
            BEGIN
              IF r IS NULL THEN RETURN NEW; END IF;
              IF NEW.db_user IS DISTINCT FROM session_user::text THEN
                PERFORM rd_refuse('An audit event must name the database login that wrote it.');
              END IF;
              IF NEW.actor IS DISTINCT FROM session_user::text
                 AND NOT (NEW.actor = {_lit(TIMER_USER)} AND r IN ('timer', 'manager', 'admin'))
              THEN
                PERFORM rd_refuse('An audit event must name the person signed in, '
                                  || session_user || ', as its actor.');
              END IF;
              RETURN NEW;
            END $$""",
        # People's logins: created and changed only through this function, by admins.
        f"""CREATE OR REPLACE FUNCTION rd_set_login(p_name text, p_role text, p_verifier text,
                                                   p_active boolean) RETURNS void
            LANGUAGE plpgsql {definer} AS $$
            DECLARE
              existing record;
              caller text := rd_role();
              g text;
            BEGIN
              IF caller IS DISTINCT FROM 'admin' AND NOT pg_has_role(session_user,
                   (SELECT relowner FROM pg_class WHERE oid = 'users'::regclass), 'MEMBER') THEN
                PERFORM rd_refuse('Only an admin may manage database logins.');
              END IF;
              IF p_role NOT IN ('producer', 'csr', 'manager', 'admin') THEN
                RAISE EXCEPTION 'unknown role %', p_role;
              END IF;
              IF p_name !~ '^[A-Za-z0-9][A-Za-z0-9._@-]{{0,62}}$'
                 OR p_name LIKE {_lit(prefix + "%")} THEN
                PERFORM rd_refuse('"' || p_name || '" cannot be a database login.');
              END IF;
              IF p_verifier IS NOT NULL AND p_verifier NOT LIKE 'SCRAM-SHA-256$%' THEN
                RAISE EXCEPTION 'a password must be sent as a SCRAM verifier';
              END IF;
              SELECT * INTO existing FROM pg_roles WHERE rolname = p_name;
              IF FOUND THEN
                IF existing.rolsuper OR existing.rolcreaterole OR existing.rolcreatedb
                   OR existing.rolreplication OR existing.rolbypassrls
                   OR NOT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles gr
                                    ON gr.oid = m.roleid
                                   WHERE m.member = existing.oid AND gr.rolname IN ({groups}))
                THEN
                  PERFORM rd_refuse('The database already has a login "' || p_name
                                    || '" that is not a Renewal Desk login; choose another '
                                    || 'user name.');
                END IF;
              ELSE
                EXECUTE format('CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOCREATEDB '
                               'NOCREATEROLE NOREPLICATION NOBYPASSRLS', p_name);
              END IF;
              IF p_verifier IS NOT NULL THEN
                EXECUTE format('ALTER ROLE %I PASSWORD %L', p_name, p_verifier);
              END IF;
              FOREACH g IN ARRAY ARRAY[{groups}] LOOP
                IF g = {_lit(prefix)} || p_role THEN
                  EXECUTE format('GRANT %I TO %I', g, p_name);
                ELSE
                  EXECUTE format('REVOKE %I FROM %I', g, p_name);
                END IF;
              END LOOP;
              EXECUTE format('ALTER ROLE %I %s', p_name,
                             CASE WHEN p_active THEN 'LOGIN' ELSE 'NOLOGIN' END);
            END $$""",
    ]
    names = [
        "rd_role()",
        "rd_me()",
        "rd_account_in_book(integer)",
        "rd_policy_in_book(integer)",
        "rd_renewal_in_book(integer)",
        "rd_refuse(text)",
        "rd_guard_producer()",
        "rd_guard_csr_renewal()",
        "rd_guard_auto_renewal()",
        "rd_guard_notice()",
        "rd_guard_setting()",
        "rd_guard_audit()",
        "rd_set_login(text, text, text, boolean)",
    ]
    statements += [f"ALTER FUNCTION {name} OWNER TO {_q(owner)}" for name in names]
    return statements


def _triggers(
    prefix: str, *, audit_bound: bool = True, tables: Collection[str] | None = None
) -> list[str]:
    """The triggers' statements; ``tables``: those the schema has (all when None)."""
    producer = _lit(group(prefix, "producer"))
    csr = _lit(group(prefix, "csr"))
    manager = _lit(group(prefix, "manager"))
    has = set(WORK_TABLES) if tables is None else set(tables)
    statements: list[str] = []
    for table in BOOK_TABLES:
        statements += [
            f"DROP TRIGGER IF EXISTS rd_producer_book ON {table}",
            f"""CREATE TRIGGER rd_producer_book BEFORE INSERT OR UPDATE ON {table}
                FOR EACH ROW WHEN (pg_has_role(session_user, {producer}, 'MEMBER'))
                EXECUTE FUNCTION rd_guard_producer()""",
        ]
    statements += [
        "DROP TRIGGER IF EXISTS rd_csr_renewal ON renewals",
        f"""CREATE TRIGGER rd_csr_renewal BEFORE UPDATE ON renewals FOR EACH ROW
            WHEN ((NEW.outcome IS DISTINCT FROM OLD.outcome
                   OR NEW.target_date IS DISTINCT FROM OLD.target_date)
                  AND pg_has_role(session_user, {csr}, 'MEMBER'))
            EXECUTE FUNCTION rd_guard_csr_renewal()""",
        "DROP TRIGGER IF EXISTS rd_auto_renewal ON auto_renewals",
        f"""CREATE TRIGGER rd_auto_renewal BEFORE INSERT OR UPDATE ON auto_renewals
            FOR EACH ROW WHEN (pg_has_role(session_user, {csr}, 'MEMBER')
                               OR pg_has_role(session_user, {producer}, 'MEMBER'))
            EXECUTE FUNCTION rd_guard_auto_renewal()""",
    ]
    if "notices" in has:  # from schema 0002 on
        statements += [
            "DROP TRIGGER IF EXISTS rd_notice ON notices",
            f"""CREATE TRIGGER rd_notice BEFORE UPDATE ON notices FOR EACH ROW
                WHEN (pg_has_role(session_user, {csr}, 'MEMBER')
                      OR pg_has_role(session_user, {producer}, 'MEMBER')
                      OR pg_has_role(session_user, {manager}, 'MEMBER'))
                EXECUTE FUNCTION rd_guard_notice()""",
        ]
    statements += [
        "DROP TRIGGER IF EXISTS rd_setting ON app_settings",
        """CREATE TRIGGER rd_setting BEFORE INSERT OR UPDATE ON app_settings FOR EACH ROW
            WHEN (NEW.key NOT LIKE 'import.mapping.%')
            EXECUTE FUNCTION rd_guard_setting()""",
    ]
    if not audit_bound:  # a schema before the audit chain (0004) has no db_user column
        return statements
    return [
        *statements,
        "DROP TRIGGER IF EXISTS rd_audit_login ON audit_events",
        """CREATE TRIGGER rd_audit_login BEFORE INSERT ON audit_events FOR EACH ROW
            WHEN (NEW.db_user IS DISTINCT FROM session_user::text
                  OR NEW.actor IS DISTINCT FROM session_user::text)
            EXECUTE FUNCTION rd_guard_audit()""",
    ]


def _row_security(prefix: str) -> list[str]:
    sensitive = _lit(group(prefix, "read_sensitive"))
    confidential = _lit(group(prefix, "read_confidential"))
    # The role checks are uncorrelated subqueries: evaluated once per statement.
    visible = f"""access_level = 'standard'
        OR (access_level = 'sensitive'
            AND ((SELECT pg_has_role(session_user, {sensitive}, 'MEMBER'))
                 OR rd_renewal_in_book(renewal_id)))
        OR (access_level = 'confidential'
            AND (SELECT pg_has_role(session_user, {confidential}, 'MEMBER')))"""
    table = "document_requirements"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS rd_read ON {table}",
        f"CREATE POLICY rd_read ON {table} FOR SELECT USING ({visible})",
        f"DROP POLICY IF EXISTS rd_add ON {table}",
        f"CREATE POLICY rd_add ON {table} FOR INSERT WITH CHECK (true)",
        f"DROP POLICY IF EXISTS rd_change ON {table}",
        f"CREATE POLICY rd_change ON {table} FOR UPDATE USING (true) WITH CHECK (true)",
        f"DROP POLICY IF EXISTS rd_remove ON {table}",
        f"CREATE POLICY rd_remove ON {table} FOR DELETE USING (true)",
    ]


def refresh(conn: Connection) -> bool:
    """Re-apply grants and rules after an upgrade (new tables need them); False when the
    database is not provisioned."""
    record = settings_of(conn)
    if record is None:
        return False
    apply(conn, record["prefix"], record["owner"])
    return True


# --- people's logins ---------------------------------------------------------------


def set_login(
    session: Session,
    username: str,
    role: str,
    *,
    password: str | None = None,
    active: bool = True,
) -> None:
    """Create or change ``username``'s login role: its group, password and whether it may
    log in. Runs in the caller's transaction (role changes in PostgreSQL are transactional,
    so a refused user change leaves the login as it was)."""
    if not _LOGIN.match(username):
        raise RuleViolation(f"'{username}' cannot be a database login name.")
    conn = session.connection()
    verifier = scram_verifier(conn, username, password) if password else None
    conn.execute(
        text("SELECT rd_set_login(:n, :r, :v, :a)"),
        {"n": username, "r": role, "v": verifier, "a": active},
    )


# --- helpers -----------------------------------------------------------------------


def _record(conn: Connection, prefix: str, owner: str) -> None:
    value = json.dumps({"prefix": prefix, "owner": owner})
    conn.execute(
        text(
            "INSERT INTO app_settings (key, value) VALUES (:k, CAST(:v AS json)) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ),
        {"k": SETTING_KEY, "v": value},
    )


def _tables(conn: Connection) -> dict[str, str]:
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        )
    ).all()
    return {name: owner for name, owner in rows}


def _existing_roles(conn: Connection) -> set[str]:
    return set(conn.execute(text("SELECT rolname FROM pg_roles")).scalars())


def _runner(conn: Connection) -> Any:
    """Runs DDL on the driver's own cursor, in the same transaction: the statements hold
    % and : characters that no placeholder syntax should touch."""
    raw = conn.connection.driver_connection

    def run(sql: str) -> None:
        raw.execute(sql)

    return run


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
