"""The manager rollup: permissions, sheets, charts, totals that match the database, and
the reasons on "Needs attention" — checked against numbers computed here independently."""

from __future__ import annotations

import zipfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop_app.db.models import AutoRenewal, PipelineStage, Renewal, Term
from desktop_app.domain.enums import AutoRenewalState, Outcome, StageKind
from desktop_app.errors import PermissionDenied
from desktop_app.excel import export_rollup as sheets
from desktop_app.services import book, renewals, work
from desktop_app.services.exporting import export_rollup, rollup_data
from desktop_app.services.overview import book_overview
from tests.excel_export.conftest import AS_OF, read
from tests.helpers import small_book


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _independent(db) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The rollup's numbers, computed the slow obvious way: every renewal into Python."""
    with db.read_session() as session:
        stages = {s.id: s for s in session.scalars(select(PipelineStage))}
        rows = session.execute(
            select(
                Renewal.stage_id,
                Renewal.outcome,
                Renewal.stage_entered_at,
                Renewal.new_premium,
                Term.end_at,
                Term.premium,
            ).join(Term, Term.id == Renewal.term_id)
        ).all()
    months: dict[int, Counter[str]] = {}
    open_n, past_sla = 0, 0
    open_premium = Decimal("0.00")
    for stage_id, outcome, entered, new_premium, end_at, premium in rows:
        stage = stages[stage_id]
        expires = end_at.date()  # the demo's agency zone is UTC
        if stage.kind is StageKind.OPEN:
            open_n += 1
            open_premium += new_premium if new_premium is not None else (premium or 0)
            in_stage = (AS_OF - entered.date()).days
            if stage.sla_days and in_stage > stage.sla_days:
                past_sla += 1
        k = _month_index(expires)
        if _month_index(AS_OF) - 11 <= k <= _month_index(AS_OF):
            c = months.setdefault(k, Counter())
            c["expiring"] += 1
            if outcome is not None:
                c[outcome.value] += 1
            if stage.kind is StageKind.OPEN:
                c["open"] += 1
    return {"open": open_n, "open_premium": open_premium, "past_sla": past_sla, "months": months}


def test_only_managers_and_admins_may_export_the_rollup(
    db, admin, make_user, tmp_path: Path
) -> None:
    sb = small_book(db, admin, make_user)
    for actor in (sb.producer, sb.csr):
        with pytest.raises(PermissionDenied, match=r"may not export the manager rollup\.$"):
            export_rollup(db, actor, tmp_path / "r.xlsx")
    assert not (tmp_path / "r.xlsx").exists()
    assert export_rollup(db, sb.manager, tmp_path / "r.xlsx").sheets == sheets.SHEETS
    assert rollup_data(db, admin).open_renewals == 1


def test_rollup_numbers_match_the_database(db, admin, demo) -> None:
    data = rollup_data(db, admin, AS_OF)
    truth = _independent(db)
    overview = book_overview(db, with_revision=False)

    # By stage agrees with the home screen's own count, stage for stage.
    assert [(s.name, s.renewals, s.premium) for s in data.by_stage] == [
        (s.stage, s.renewals, s.premium) for s in overview.renewals_by_stage
    ]
    assert data.renewals == overview.renewals == demo.renewals
    assert data.open_renewals == overview.open_renewals == truth["open"]
    assert data.open_premium == overview.open_premium == truth["open_premium"]
    assert data.past_sla == truth["past_sla"] > 0
    for s in data.by_stage:
        if s.aging is not None:
            assert sum(s.aging) == s.renewals
            assert (s.oldest_days or 0) >= max(
                (lo for (lo, _), n in zip(sheets.AGING_BUCKETS, s.aging, strict=True) if n),
                default=0,
            )

    # Every grouping adds up to the same open book and the same decisions.
    for groups in (data.by_producer, data.by_csr, data.by_carrier, data.by_lob):
        assert sum(g.open for g in groups) == data.open_renewals
        assert sum((g.open_premium for g in groups), Decimal(0)) == data.open_premium
        assert sum(g.past_sla for g in groups) == data.past_sla
        assert sum(g.attention for g in groups) == len(data.attention)
        assert sum(g.renewed for g in groups) == data.renewed
        assert sum(g.lost + g.non_renewed for g in groups) == data.lost + data.non_renewed

    # Outcomes by expiration month, against the obvious computation.
    assert len(data.months) == 12 and data.months[-1].month == date(2027, 3, 1)
    months = truth["months"]
    for m in data.months:
        c = months.get(_month_index(m.month), Counter())
        assert (m.expiring, m.renewed, m.lost, m.non_renewed, m.open) == (
            c["expiring"],
            c[Outcome.RENEWED.value],
            c[Outcome.LOST.value],
            c[Outcome.NON_RENEWED.value],
            c["open"],
        ), m.month
    assert data.renewed > 0 and data.lost + data.non_renewed > 0

    # Needs attention: every reason code counted, past SLA agrees with By stage.
    counts = data.reason_counts()
    assert counts["past_sla"] == data.past_sla
    assert all(len(a.reasons) == len(a.reason_codes) > 0 for a in data.attention)
    assert [a.expiration for a in data.attention] == sorted(a.expiration for a in data.attention)


def test_rollup_workbook_layout_formulas_and_charts(db, admin, demo, tmp_path: Path) -> None:
    out = tmp_path / "rollup.xlsx"
    result = export_rollup(db, admin, out, as_of=AS_OF)
    data = rollup_data(db, admin, AS_OF)
    assert result.sheets == sheets.SHEETS
    wb = read(out)
    values = read(out, data_only=True)  # the cached results a viewer shows
    assert wb.sheetnames == list(sheets.SHEETS)
    assert wb.active.title == sheets.SUMMARY

    def table(name: str) -> tuple[int, list[str]]:
        ws = wb[name]
        for row in ws.iter_rows(min_row=1, max_row=8):
            if row[0].font.b and row[0].fill.fgColor.rgb not in (None, "00000000"):
                return row[0].row, [c.value for c in row if c.value is not None]
        raise AssertionError(f"no header row on {name}")

    for name in sheets.SHEETS[1:]:
        ws = wb[name]
        top, header = table(name)
        assert ws.freeze_panes is not None and ws.freeze_panes.endswith(str(top + 1))
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{top}:")

    # By producer: a Total row of SUM formulas whose cached values are the database's.
    top, header = table(sheets.BY_PRODUCER)
    ws, vs = wb[sheets.BY_PRODUCER], values[sheets.BY_PRODUCER]
    total_row = top + len(data.by_producer) + 1
    assert ws.cell(total_row, 1).value == "Total"
    col = {h: i + 1 for i, h in enumerate(header)}
    open_col = col["Open renewals"]
    letter = ws.cell(1, open_col).column_letter
    assert ws.cell(total_row, open_col).value == f"=SUM({letter}{top + 1}:{letter}{total_row - 1})"
    assert vs.cell(total_row, open_col).value == data.open_renewals
    assert vs.cell(total_row, col["Open premium"]).value == pytest.approx(float(data.open_premium))
    assert ws.cell(top + 1, col["Open premium"]).number_format == "$#,##0.00"
    retention = ws.cell(total_row, col["Retention"])
    assert retention.value.startswith("=IF(") and retention.number_format == "0.0%"
    decided = data.renewed + data.lost + data.non_renewed
    assert vs.cell(total_row, col["Retention"]).value == pytest.approx(data.renewed / decided)
    for i, g in enumerate(data.by_producer, start=top + 1):
        assert vs.cell(i, open_col).value == g.open
        assert vs.cell(i, 1).value == g.label

    # By stage: counts per stage and the total equal the database's.
    top, header = table(sheets.BY_STAGE)
    vs = values[sheets.BY_STAGE]
    col = {h: i + 1 for i, h in enumerate(header)}
    for i, s in enumerate(data.by_stage, start=top + 1):
        assert vs.cell(i, 1).value == s.name
        assert vs.cell(i, col["Renewals"]).value == s.renewals
    total_row = top + len(data.by_stage) + 1
    assert vs.cell(total_row, col["Renewals"]).value == data.renewals
    assert wb[sheets.BY_STAGE].cell(total_row, col["Renewals"]).value.startswith("=SUM(")

    # Outcomes: decided and retention are formulas; the 12-month total ties to Summary.
    top, header = table(sheets.OUTCOMES)
    ws, vs = wb[sheets.OUTCOMES], values[sheets.OUTCOMES]
    col = {h: i + 1 for i, h in enumerate(header)}
    first = top + 1
    assert ws.cell(first, 1).is_date and ws.cell(first, 1).number_format == "mmm yyyy"
    assert ws.cell(first, col["Decided"]).value.startswith("=")
    total_row = top + 13
    assert ws.cell(total_row, 1).value == "12 months"
    assert vs.cell(total_row, col["Renewed"]).value == data.renewed
    assert vs.cell(total_row, col["Decided"]).value == decided
    assert vs.cell(total_row, col["Retention"]).value == pytest.approx(data.renewed / decided)

    # Summary: the headline figures.
    summary = {
        row[0].value: row[1].value
        for row in values[sheets.SUMMARY].iter_rows(min_row=1)
        if row[0].value is not None
    }
    assert summary["Open renewals"] == data.open_renewals
    assert summary["Renewals in the book"] == data.renewals
    assert summary["Needs attention"] == len(data.attention)
    assert summary[f"Retention ({data.window})"] == pytest.approx(data.renewed / decided)

    # Needs attention: one row per renewal, each with its reasons.
    top, header = table(sheets.ATTENTION)
    ws = wb[sheets.ATTENTION]
    col = {h: i + 1 for i, h in enumerate(header)}
    assert ws.max_row == top + len(data.attention)
    for i, a in enumerate(data.attention, start=top + 1):
        assert ws.cell(i, col["Renewal ID"]).value == a.renewal_id
        assert ws.cell(i, col["Reasons"]).value == "; ".join(a.reasons)

    # Native charts: a stacked column chart by stage, a combined chart on Outcomes.
    assert len(wb[sheets.BY_STAGE]._charts) == 1
    assert len(wb[sheets.OUTCOMES]._charts) == 1
    with zipfile.ZipFile(out) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 2
        xml = "".join(z.read(n).decode() for n in charts)
    assert "<c:barChart>" in xml and "<c:lineChart>" in xml


def test_needs_attention_says_why(db, admin, make_user) -> None:
    sb = small_book(db, admin, make_user)  # expires in 60 days; next action due in 7
    today = date.today()
    # Blocked, with an overdue task, 20 days in Gathering info (SLA 14).
    renewals.update_renewal(db, admin, sb.renewal_id, blocker_reason="Waiting on loss runs")
    work.add_task(db, admin, sb.renewal_id, "Chase payroll", due=today - timedelta(days=3))
    work.add_task(db, admin, sb.renewal_id, "Call agent", due=today - timedelta(days=5))
    entered = datetime.now(UTC) - timedelta(days=20)
    renewals.move_stage(db, admin, sb.renewal_id, "gathering", now=entered)

    # A second policy: do-not-renew and an auto-renewal in error, next action overdue.
    account = book.create_account(db, admin, "=Evil Corp", producer="pat", csr="casey")
    end = datetime.combine(today + timedelta(days=10), datetime.min.time(), UTC)
    policy = book.add_policy(
        db, admin, account.id, "HO-9", "Safeco", "HOME", end - timedelta(days=365), end
    )
    card = renewals.open_renewal(
        db, admin, policy.id, next_action="Call", owner="casey", due=today - timedelta(days=2)
    )
    with db.write_session() as session:  # the auto-renewal engine is not what is tested here
        term_id = session.scalar(select(Renewal.term_id).where(Renewal.id == card.id))
        session.add(
            AutoRenewal(
                policy_id=policy.id,
                term_id=term_id,
                state=AutoRenewalState.ERROR,
                last_error="Accept at 2027-02-01: Bound needs the new premium",
            )
        )
        old_term = Term(
            policy_id=policy.id,
            start_at=end - timedelta(days=730),
            end_at=end - timedelta(days=365),
        )
        session.add(old_term)
        session.flush()
        session.add(
            AutoRenewal(
                policy_id=policy.id, term_id=old_term.id, state=AutoRenewalState.DO_NOT_RENEW
            )
        )
        session.commit()

    data = rollup_data(db, admin, today, attention_days=30)
    by_id = {a.renewal_id: a for a in data.attention}
    assert set(by_id) == {sb.renewal_id, card.id}
    first = by_id[sb.renewal_id]
    assert first.reason_codes == ("overdue_task", "blocked", "past_sla")
    assert first.reasons == (
        f"2 overdue tasks (oldest due {today - timedelta(days=5):%m/%d/%Y})",
        "Blocked: Waiting on loss runs",
        "Past SLA: 20 days in Gathering info (SLA 14 days)",
    )
    assert first.days_in_stage == 20 and first.stage == "Gathering info"
    second = by_id[card.id]
    # HOME has required documents, all missing, and the term ends within 30 days.
    assert second.reason_codes == (
        "next_action_overdue",
        "documents_missing",
        "do_not_renew",
        "auto_renewal_error",
    )
    assert (
        second.reasons[0]
        == f"Next action 2 days overdue (due {today - timedelta(days=2):%m/%d/%Y})"
    )
    assert second.reasons[1].endswith("outstanding; expires in 10 days")
    assert (
        second.reasons[3]
        == "Auto-renewal in error: Accept at 2027-02-01: Bound needs the new premium"
    )
    assert second.insured == "=Evil Corp"

    # Within 60 days the first renewal's missing WORK documents count as well.
    wider = {a.renewal_id: a for a in rollup_data(db, admin, today, attention_days=60).attention}
    assert "documents_missing" in wider[sb.renewal_id].reason_codes
    by_producer = {g.label: g for g in data.by_producer}
    assert by_producer["Test Pat (pat)"].attention == 2
    assert data.reason_counts()["do_not_renew"] == 1


def test_rollup_text_is_never_a_formula(db, admin, make_user, tmp_path: Path) -> None:
    sb = small_book(db, admin, make_user)
    account = book.create_account(db, admin, "@SUM(1+1) Holdings", producer="pat")
    end = datetime.combine(date.today() + timedelta(days=5), datetime.min.time(), UTC)
    policy = book.add_policy(
        db, admin, account.id, "-12", "+Carrier", "HOME", end - timedelta(days=365), end
    )
    renewals.open_renewal(db, admin, policy.id, next_action="=1+1", owner="casey", due=date.today())
    del sb
    out = tmp_path / "rollup.xlsx"
    export_rollup(db, admin, out)
    wb = read(out)
    found = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value in (
                    "@SUM(1+1) Holdings",
                    "-12",
                    "+Carrier",
                    "=1+1",
                ):
                    assert cell.data_type == "s" and cell.quotePrefix, (ws.title, cell.coordinate)
                    found.add(cell.value)
    assert found == {"@SUM(1+1) Holdings", "-12", "+Carrier", "=1+1"}
    assert "+Carrier" in {g.label for g in rollup_data(db, admin).by_carrier}


def test_an_empty_book_still_makes_a_complete_rollup(db, admin, tmp_path: Path) -> None:
    out = tmp_path / "empty.xlsx"
    result = export_rollup(db, admin, out, as_of=AS_OF)
    wb = read(out, data_only=True)
    assert wb.sheetnames == list(sheets.SHEETS)
    data = rollup_data(db, admin, AS_OF)
    assert data.renewals == 0 and not data.attention and result.rows == len(data.by_stage) + 12
    assert all(s.renewals == 0 for s in data.by_stage)
