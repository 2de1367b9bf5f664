"""The import service on a real database (SQLite and PostgreSQL): every count and message
of a messy list, preview writes nothing, commit is one transaction, a second import
changes nothing, updates, later terms, plans, saved mappings, permissions, cancel."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from desktop_app.db.models import Account, AuditEvent, AutoRenewal, Policy, Renewal, Term
from desktop_app.domain.enums import AuditSource, Outcome, TransactionState
from desktop_app.errors import NotFound, PermissionDenied, RuleViolation
from desktop_app.services import agency, auto_renewals, book, importing
from desktop_app.services.unit import Actor
from tests.excel import messy
from tests.excel.messy import SIMPLE_HEADER, simple_rows
from tests.helpers import dump_database, small_book


def _staff(make_user) -> Actor:
    make_user("producer", "pat")
    return make_user("csr", "casey")


def _policies(db) -> dict[str, Policy]:
    with db.read_session() as s:
        return {p.policy_number: p for p in s.scalars(select(Policy))}


def _terms(db, number: str) -> list[tuple[datetime, datetime, Decimal | None]]:
    with db.read_session() as s:
        return [
            (t.start_at, t.end_at, t.premium)
            for t in s.scalars(
                select(Term)
                .join(Policy)
                .where(Policy.policy_number == number)
                .order_by(Term.end_at)
            )
        ]


def _midnight(day: date, zone: str = "UTC") -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC)


# --- the messy list ---------------------------------------------------------------------


def test_messy_list_preview_commit_and_second_import(db, admin, make_user, tmp_path):
    csr = _staff(make_user)
    path = messy.messy_workbook(tmp_path)
    parsed = importing.read_file(path)
    before = dump_database(db)

    shown = importing.preview(db, csr, parsed)
    assert dump_database(db) == before  # a preview writes nothing
    assert shown.committed is False
    assert (shown.created, shown.updated, shown.unchanged) == (messy.MESSY_CREATED, 0, 0)
    assert shown.rejected == len(messy.MESSY_REJECTIONS)
    assert [r.message for r in shown.rejections] == messy.MESSY_REJECTIONS
    assert (shown.skipped_blank, shown.skipped_totals, shown.skipped_headings) == (
        messy.MESSY_SKIPPED["blank"],
        messy.MESSY_SKIPPED["total"],
        messy.MESSY_SKIPPED["heading"],
    )
    assert shown.accounts_created == messy.MESSY_ACCOUNTS
    assert shown.header_row == 4 and shown.sheet == "Expirations"

    done = importing.commit(db, csr, parsed)
    assert done.committed is True
    assert (done.created, done.rejected, done.accounts_created) == (
        messy.MESSY_CREATED,
        len(messy.MESSY_REJECTIONS),
        messy.MESSY_ACCOUNTS,
    )
    policies = _policies(db)
    assert sorted(policies) == ["00987", "AU-2", "BOP-77", "HO-1", "WC-000123"]
    assert policies["00987"].carrier == "Travelers"  # stray spaces gone, zeros kept
    assert policies["00987"].line_of_business == "CAUTO"
    assert policies["HO-1"].line_of_business == "HOME"
    assert _terms(db, "WC-000123") == [
        (_midnight(date(2026, 1, 5)), _midnight(date(2027, 1, 5)), Decimal("12400.50"))
    ]
    assert _terms(db, "00987") == [
        (_midnight(date(2026, 1, 5)), _midnight(date(2027, 1, 5)), Decimal("1234.00"))
    ]
    assert _terms(db, "BOP-77")[0][1] == _midnight(date(2027, 2, 1))
    assert _terms(db, "HO-1") == [
        (_midnight(date(2026, 3, 15)), _midnight(date(2027, 3, 15)), Decimal("1850.75"))
    ]
    assert _terms(db, "AU-2")[0][1] == _midnight(date(2027, 3, 16))  # serial 46462
    with db.read_session() as s:
        accounts = {a.name: a for a in s.scalars(select(Account))}
        assert sorted(accounts) == ["Harbor Bakery LLC", "Lakeside Dental", "Maria Gomez"]
        assert policies["00987"].account_id == accounts["Harbor Bakery LLC"].id
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.source == AuditSource.IMPORT)))
        by_action: dict[str, int] = {}
        for e in events:
            by_action[e.action] = by_action.get(e.action, 0) + 1
        assert by_action == {"account.create": 3, "policy.create": 5, "import.run": 1}
        assert all(e.actor == "casey" for e in events)
        created = next(
            e for e in events if e.action == "policy.create" and e.object_id == policies["HO-1"].id
        )
        assert created.changes == {
            "policy_number": [None, "HO-1"],
            "carrier": [None, "Safeco"],
            "line_of_business": [None, "HOME"],
            "term": [
                None,
                [
                    _midnight(date(2026, 3, 15)).isoformat(),
                    _midnight(date(2027, 3, 15)).isoformat(),
                ],
            ],
            "premium": [None, "1850.75"],
        }
        assert created.at.tzinfo is not None
        run = next(e for e in events if e.action == "import.run")
        assert run.changes["counts"][1]["create"] == 5

    after_first = dump_database(db)
    again = importing.commit(db, csr, importing.read_file(path))
    assert (again.created, again.updated, again.unchanged) == (0, 0, messy.MESSY_CREATED)
    assert again.rejected == len(messy.MESSY_REJECTIONS)
    second = dump_database(db)
    # nothing changed but the one audit event recording that the import ran
    assert {k: v for k, v in second.items() if k != "audit_events"} == {
        k: v for k, v in after_first.items() if k != "audit_events"
    }
    assert len(second["audit_events"]) == len(after_first["audit_events"]) + 1


def test_dates_are_midnight_in_the_agency_time_zone(db, admin, tmp_path):
    agency.set_time_zone(db, admin, "America/Chicago")
    path = messy.workbook(
        tmp_path,
        [[*SIMPLE_HEADER, "Eff Date"], ["P-1", "A", "Zurich", "3/1/2027", "BOP", 1, "2/15/2026"]],
    )
    importing.commit(db, admin, importing.read_file(path))
    assert _terms(db, "P-1") == [
        (
            _midnight(date(2026, 2, 15), "America/Chicago"),
            _midnight(date(2027, 3, 1), "America/Chicago"),
            Decimal("1.00"),
        )
    ]
    # the same list again: the Chicago midnights are recognised as the same term
    again = importing.preview(db, admin, importing.read_file(path))
    assert (again.unchanged, again.updated) == (1, 0)


def test_bulk_written_rows_are_stored_exactly_as_the_orm_stores_them(db, admin, tmp_path):
    """Times compare as text on SQLite: an imported term must be byte-for-byte what
    book.add_policy writes, or "the same term" would not be found by equality."""
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, ["P-1", "A", "Zurich", "3/1/2027", "BOP", 1]])
    importing.commit(db, admin, importing.read_file(path))
    with db.read_session() as s:
        account_id = s.scalar(select(Account.id))
    book.add_policy(
        db,
        admin,
        account_id,
        "P-2",
        "Zurich",
        "BOP",
        _midnight(date(2026, 3, 1)),
        _midnight(date(2027, 3, 1)),
        "1.00",
    )
    with db.read_session() as s:
        raw = s.execute(text("SELECT DISTINCT start_at, end_at, premium FROM terms")).all()
        assert len(raw) == 1, raw
        kinds = s.execute(
            text(
                "SELECT DISTINCT source, object_type FROM audit_events WHERE action LIKE '%.create'"
            )
        ).all()
        assert ("import", "policies") in {tuple(k) for k in kinds}


def test_a_row_without_eff_date_covers_the_twelve_months_before(db, admin, tmp_path):
    path = messy.workbook(tmp_path, [SIMPLE_HEADER, ["P-1", "A", "Zurich", "2/29/2028", "BOP", 1]])
    importing.commit(db, admin, importing.read_file(path))
    assert _terms(db, "P-1")[0][:2] == (_midnight(date(2027, 2, 28)), _midnight(date(2028, 2, 29)))


def test_new_policies_need_an_insured_and_a_line(db, admin, tmp_path):
    path = messy.workbook(
        tmp_path,
        [
            SIMPLE_HEADER,
            ["P-1", None, "Zurich", "3/1/2027", "BOP", 1],
            ["P-2", "B", "Zurich", "3/1/2027", None, 1],
            ["P-3", "C", "Zurich", "3/1/2027", "Pet", 1],
        ],
    )
    result = importing.preview(db, admin, importing.read_file(path))
    assert [r.message for r in result.rejections] == [
        "row 2, Insured Name: is empty; Zurich policy P-1 is not in the book yet and a new "
        "policy needs the insured's name",
        "row 3, LOB: is empty; Zurich policy P-2 is not in the book yet and a new policy needs "
        "its line of business",
        "row 4, LOB: 'Pet' is not a line of business Renewal Desk knows; use one of AUTOP, "
        "HOME, DFIRE, BOP, CGL, WORK, CAUTO, UMBRC, UMBRP, PROP, INMRC, FLOOD, PL",
    ]


def test_an_effective_date_after_expiration_is_rejected(db, admin, tmp_path):
    path = messy.workbook(
        tmp_path,
        [[*SIMPLE_HEADER, "Eff Date"], ["P-1", "A", "Zurich", "3/1/2027", "BOP", 1, "3/2/2027"]],
    )
    (rejection,) = importing.preview(db, admin, importing.read_file(path)).rejections
    assert (
        rejection.message == "row 2, Eff Date: 03/02/2027 is not before the expiration (03/01/2027)"
    )


# --- policies already in the book ------------------------------------------------------------


def _existing(db, admin, make_user):
    """small_book's policy WC-000123 (The Hartford, WORK, 12,400, expiring in 60 days)."""
    book = small_book(db, admin, make_user)
    end = _terms(db, "WC-000123")[-1][1]
    return book, end.date()


def test_updates_premium_line_office_and_account_people(db, admin, make_user, tmp_path):
    book, exp = _existing(db, admin, make_user)
    path = messy.workbook(
        tmp_path,
        [
            [
                "Policy #",
                "Insured",
                "Company",
                "Expiration",
                "LOB",
                "Premium",
                "Office",
                "CSR",
                "Producer",
            ],
            [
                "WC-000123",
                "Harbor Bakery LLC",
                "the hartford",
                exp,
                "Workers Comp",
                13000,
                "Downtown",
                "casey",
                "otto",
            ],
        ],
    )
    result = importing.commit(db, book.csr, importing.read_file(path))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    (change,) = result.changes
    assert change.subject == "the hartford policy WC-000123"
    assert change.changes == {
        "premium": [Decimal("12400.00"), Decimal("13000.00")],
        "office": [None, "Downtown"],
        "producer": ["pat", "otto"],
    }
    assert _terms(db, "WC-000123")[-1][2] == Decimal("13000.00")
    with db.read_session() as s:
        actions = sorted(
            s.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.source == AuditSource.IMPORT, AuditEvent.action != "import.run"
                )
            )
        )
    assert actions == ["account.update", "policy.update", "term.update"]
    again = importing.commit(db, book.csr, importing.read_file(path))
    assert (again.updated, again.unchanged) == (0, 1)


def test_a_later_term_is_recorded_and_closes_the_open_renewal(db, admin, make_user, tmp_path):
    book, exp = _existing(db, admin, make_user)
    later = exp.replace(year=exp.year + 1)
    path = messy.workbook(
        tmp_path,
        [SIMPLE_HEADER, ["WC-000123", "Harbor Bakery LLC", "The Hartford", later, "WORK", 14000]],
    )
    preview = importing.preview(db, book.csr, importing.read_file(path))
    assert (preview.updated, preview.terms_recorded) == (1, 1)
    result = importing.commit(db, book.csr, importing.read_file(path))
    assert (result.updated, result.terms_recorded, result.rejected) == (1, 1, 0)
    terms = _terms(db, "WC-000123")
    assert len(terms) == 2
    assert terms[1] == (terms[0][1], _midnight(later), Decimal("14000.00"))
    with db.read_session() as s:
        renewal = s.get(Renewal, book.renewal_id)
        assert renewal.transaction_state is TransactionState.ISSUED
        assert renewal.outcome is Outcome.RENEWED
    again = importing.commit(db, book.csr, importing.read_file(path))
    assert (again.updated, again.unchanged) == (0, 1)
    assert len(_terms(db, "WC-000123")) == 2


def test_an_overlapping_later_term_is_rejected(db, admin, make_user, tmp_path):
    book, exp = _existing(db, admin, make_user)
    path = messy.workbook(
        tmp_path,
        [
            [*SIMPLE_HEADER, "Eff Date"],
            [
                "WC-000123",
                "Harbor Bakery LLC",
                "The Hartford",
                exp + timedelta(days=365),
                "WORK",
                1,
                exp - timedelta(days=10),
            ],
        ],
    )
    (rejection,) = importing.preview(db, book.csr, importing.read_file(path)).rejections
    assert rejection.message == (
        f"row 2, Eff Date: the new term would start {exp - timedelta(days=10):%m/%d/%Y}, before "
        f"the current term ends ({exp:%m/%d/%Y}); terms cannot overlap"
    )


def test_an_older_term_is_unchanged_and_an_unknown_earlier_date_rejected(
    db, admin, make_user, tmp_path
):
    book, exp = _existing(db, admin, make_user)
    start = _terms(db, "WC-000123")[0][0].date()
    path = messy.workbook(
        tmp_path,
        [
            SIMPLE_HEADER,
            ["WC-000123", "Harbor Bakery LLC", "The Hartford", exp, "WORK", None],
            ["WC-000124", "Harbor Bakery LLC", "The Hartford", exp, "WORK", None],
        ],
    )
    importing.commit(db, book.csr, importing.read_file(path))
    path = messy.workbook(
        tmp_path,
        [
            SIMPLE_HEADER,
            [
                "WC-000123",
                "Harbor Bakery LLC",
                "The Hartford",
                start - timedelta(days=3),
                "WORK",
                None,
            ],
        ],
        name="older.xlsx",
    )
    (rejection,) = importing.preview(db, book.csr, importing.read_file(path)).rejections
    assert rejection.message == (
        f"row 2, Exp Date: {start - timedelta(days=3):%m/%d/%Y} is before the current term of "
        f"The Hartford policy WC-000123 (ending {exp:%m/%d/%Y}) and matches none of its terms"
    )


def test_do_not_renew_blocks_a_later_term(db, admin, make_user, tmp_path):
    book, exp = _existing(db, admin, make_user)
    auto_renewals.add_plan(db, admin, "Standard", create_lead_days=30)
    auto_renewals.set_account_plan(db, admin, "Harbor Bakery LLC", "Standard")
    auto_renewals.do_not_renew(db, admin, "WC-000123")
    path = messy.workbook(
        tmp_path,
        [
            SIMPLE_HEADER,
            [
                "WC-000123",
                "Harbor Bakery LLC",
                "The Hartford",
                exp + timedelta(days=365),
                "WORK",
                1,
            ],
        ],
    )
    (rejection,) = importing.preview(db, book.csr, importing.read_file(path)).rejections
    assert rejection.message == (
        "row 2, Exp Date: The Hartford policy WC-000123 is marked do not renew, so no later "
        "term can be recorded for it; reactivate its auto-renewal first"
    )


def test_a_plan_column_assigns_the_plan(db, admin, make_user, tmp_path):
    book, exp = _existing(db, admin, make_user)
    auto_renewals.add_plan(db, admin, "Gold", create_lead_days=60, accept_lead_days=30)
    path = messy.workbook(
        tmp_path,
        [
            [*SIMPLE_HEADER, "Auto-Renewal Plan"],
            ["WC-000123", "Harbor Bakery LLC", "The Hartford", exp, "WORK", None, "gold"],
            ["N-1", "New Client Co", "Zurich", exp, "BOP", 500, "Gold"],
            ["N-2", "Other Co", "Zurich", exp, "BOP", 500, "Platinum"],
        ],
    )
    result = importing.commit(db, book.csr, importing.read_file(path))
    assert (result.created, result.updated, result.plans_assigned) == (1, 1, 2)
    assert [r.message for r in result.rejections] == [
        "row 4, Auto-Renewal Plan: 'Platinum' is not an auto-renewal plan (the plans are: Gold)"
    ]
    with db.read_session() as s:
        plan_ids = dict(s.execute(select(Account.name, Account.auto_renewal_plan_id)).all())
        assert plan_ids["Harbor Bakery LLC"] is not None
        assert plan_ids["New Client Co"] == plan_ids["Harbor Bakery LLC"]
        # each policy's latest term got its auto-renewal from the plan
        assert s.scalar(select(func.count()).select_from(AutoRenewal)) == 2
    again = importing.commit(db, book.csr, importing.read_file(path))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_an_existing_account_is_found_by_name_and_disagreements_are_warned(
    db, admin, make_user, tmp_path
):
    book, exp = _existing(db, admin, make_user)
    path = messy.workbook(
        tmp_path,
        [
            [*SIMPLE_HEADER, "Producer"],
            ["N-1", "harbor  bakery llc", "Zurich", exp, "BOP", 1, "pat"],
            ["N-2", "Harbor Bakery LLC", "Zurich", exp, "BOP", 1, "otto"],
        ],
    )
    result = importing.commit(db, book.csr, importing.read_file(path))
    assert (result.created, result.accounts_created) == (2, 0)
    assert [w.message for w in result.warnings] == [
        "row 3, Producer: 'otto' differs from row 2 ('pat') for the same insured; row 2's "
        "value is used"
    ]
    policies = _policies(db)
    assert policies["N-1"].account_id == policies["N-2"].account_id == book.account_id


# --- saved mappings ---------------------------------------------------------------------------


def test_saved_mapping_is_reused_by_name(db, admin, make_user, tmp_path):
    csr = _staff(make_user)
    path = messy.workbook(
        tmp_path,
        [
            ["Contract Ref", "Client", "Co", "Renews On", "Kind", "Rep"],
            ["C-1", "A", "Zurich", "3/1/2027", "BOP", "casey"],
        ],
    )
    with pytest.raises(importing.ImportProblem):
        importing.read_file(path)
    mapping = {
        "policy_number": "Contract Ref",
        "carrier": "Co",
        "expiration": "Renews On",
        "line_of_business": "Kind",
        "csr": None,
    }
    importing.save_mapping(db, csr, "Old AMS", mapping)
    assert importing.list_mappings(db) == ["Old AMS"]
    assert importing.get_mapping(db, "Old AMS") == mapping
    with db.read_session() as s:
        assert s.scalar(select(AuditEvent.action).where(AuditEvent.action == "import.mapping.save"))
    guess = importing.guess_mapping(path, saved=importing.get_mapping(db, "Old AMS"))
    assert guess.mapping["policy_number"] == "Contract Ref" and guess.mapping["csr"] == ""
    result = importing.import_file(db, csr, path, mapping_name="Old AMS")
    assert (result.created, result.rejected) == (1, 0)
    with pytest.raises(NotFound) as caught:
        importing.get_mapping(db, "Nope")
    assert caught.value.message == (
        "There is no saved import mapping named 'Nope'; the saved ones are Old AMS."
    )


# --- rights, cancelling, all or nothing -------------------------------------------------------


def test_a_producer_may_not_import(db, admin, make_user, tmp_path):
    producer = make_user("producer", "pat")
    parsed = importing.read_file(messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(1)]))
    for step in (importing.preview, importing.commit):
        with pytest.raises(PermissionDenied) as caught:
            step(db, producer, parsed)
        assert (
            caught.value.message == "A producer may only import Excel lists in their own book."
            or (caught.value.message == "A producer may not import Excel lists.")
        )
    with pytest.raises(PermissionDenied):
        importing.save_mapping(db, producer, "x", {"policy_number": "Policy"})


def test_cancel_leaves_the_database_as_it_was(db, admin, tmp_path):
    parsed = importing.read_file(messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(5000)]))
    before = dump_database(db)
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(importing.ImportCancelled) as caught:
        importing.commit(db, admin, parsed, cancelled=cancelled)
    assert caught.value.message == "The import was cancelled; nothing was written."
    assert dump_database(db) == before


def test_a_failure_half_way_writes_nothing(db, admin, make_user, tmp_path, monkeypatch):
    _, exp = _existing(db, admin, make_user)
    path = messy.workbook(
        tmp_path,
        [
            SIMPLE_HEADER,
            *simple_rows(3),
            ["WC-000123", "Harbor Bakery LLC", "The Hartford", exp, "WORK", 99],
        ],
    )
    before = dump_database(db)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(importing._ListPlanner, "_update", broken)
    with pytest.raises(RuntimeError):
        importing.commit(db, admin, importing.read_file(path))
    assert dump_database(db) == before


def test_a_row_the_services_refuse_at_commit_is_rejected_alone(
    db, admin, make_user, tmp_path, monkeypatch
):
    _, exp = _existing(db, admin, make_user)
    later = exp + timedelta(days=365)
    path = messy.workbook(
        tmp_path,
        [
            SIMPLE_HEADER,
            *simple_rows(2),
            ["WC-000123", "Harbor Bakery LLC", "The Hartford", later, "WORK", 99],
        ],
    )

    def refuse(*args, **kwargs):
        raise RuleViolation("The renewal cannot be issued: the policy is cancelled.")

    monkeypatch.setattr(importing.transactions, "record_term_in", refuse)
    result = importing.commit(db, admin, importing.read_file(path))
    assert (result.created, result.updated, result.terms_recorded) == (2, 0, 0)
    assert [r.message for r in result.rejections] == [
        "row 4, Exp Date: the renewal cannot be issued: the policy is cancelled"
    ]
    assert len(_terms(db, "WC-000123")) == 1
    assert sorted(_policies(db)) == ["P-00001", "P-00002", "WC-000123"]


def test_progress_is_reported(db, admin, tmp_path):
    seen: list[tuple[int, int]] = []
    parsed = importing.read_file(
        messy.workbook(tmp_path, [SIMPLE_HEADER, *simple_rows(4500)]),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1][0] == seen[-1][1] and len(seen) >= 3
    seen.clear()
    importing.commit(db, admin, parsed, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 4500) and seen[-1] == (4500, 4500)
