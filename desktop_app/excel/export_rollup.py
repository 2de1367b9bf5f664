"""Writing the manager rollup: one workbook a manager hands around at the pipeline meeting.

The numbers come from :mod:`desktop_app.services.exporting` as the plain dataclasses
below; this module only lays them out. Every table has a bold header, a frozen header row,
an autofilter, real numbers with currency and percent formats, and a Total row made of
real formulas (``=SUM(…)``) whose cached results are the database's own totals, so the file
reads correctly even in a viewer that does not recalculate. Retention is a formula too:
renewed ÷ (renewed + lost + non-renewed).

Sheets, in order: :data:`SHEETS`.

A renewal that was discarded, or invalidated because another renewal of its term was
issued, is in no figure: :mod:`desktop_app.services.exporting` leaves it out of every
count, so it is neither open nor lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import xlsxwriter
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.utility import xl_rowcol_to_cell

from desktop_app.excel.export_common import (
    KIND_CODES,
    CancelCheck,
    Progress,
    ProgressCallback,
    RowPlan,
    atomic_target,
    clean_text,
    discard_workbook,
    excel_serial,
    is_risky,
    os_error_of,
    row_writer,
    write_failed,
)
from desktop_app.excel.export_renewals import WORKBOOK_OPTIONS

WHAT = "rollup"
SUMMARY = "Summary"
BY_PRODUCER = "By producer"
BY_CSR = "By CSR"
BY_CARRIER = "By carrier"
BY_LOB = "By line of business"
BY_STAGE = "By stage"
ATTENTION = "Needs attention"
OUTCOMES = "Outcomes and retention by month"
SHEETS: Final = (
    SUMMARY,
    BY_PRODUCER,
    BY_CSR,
    BY_CARRIER,
    BY_LOB,
    BY_STAGE,
    ATTENTION,
    OUTCOMES,
)

AGING_BUCKETS: Final = ((0, 7), (8, 14), (15, 30), (31, 60), (61, None))
"""Days in the current stage, as the By stage sheet groups open renewals."""


def bucket_label(low: int, high: int | None) -> str:
    return f"Over {low - 1} days" if high is None else f"{low}–{high} days"


# Reasons a renewal needs attention, in the order they are listed: code → label.
REASONS: Final = {
    "no_next_action": "No next action",
    "next_action_overdue": "Next action overdue",
    "overdue_task": "Overdue task",
    "blocked": "Blocked",
    "documents_missing": "Required documents missing near expiry",
    "past_sla": "Past the stage's SLA",
    "do_not_renew": "Do not renew",
    "auto_renewal_error": "Auto-renewal in error",
}


@dataclass(frozen=True)
class GroupRow:
    """One producer, CSR, carrier or line of business."""

    label: str
    open: int
    open_premium: Decimal
    lapsed: int
    """Open renewals whose term has already expired."""
    expiring_soon: int
    """Open renewals expiring from the as-of date through the next 30 days."""
    past_sla: int
    attention: int
    renewed: int
    lost: int
    non_renewed: int
    renewed_premium: Decimal


@dataclass(frozen=True)
class StageRow:
    name: str
    kind: str
    sla_days: int | None
    renewals: int
    premium: Decimal
    aging: tuple[int, ...] | None
    """Open stages: renewals per :data:`AGING_BUCKETS`; None for decided stages."""
    past_sla: int | None
    oldest_days: int | None


@dataclass(frozen=True)
class AttentionRow:
    renewal_id: int
    insured: str
    policy_number: str
    carrier: str
    line_of_business: str
    expiration: date
    days_left: int
    stage: str
    days_in_stage: int
    next_action: str | None
    owner: str | None
    next_action_due: date | None
    producer: str | None
    csr: str | None
    premium: Decimal | None
    reason_codes: tuple[str, ...]
    reasons: tuple[str, ...]
    """One sentence per reason, in :data:`REASONS` order."""


@dataclass(frozen=True)
class MonthRow:
    month: date
    """The first day of the month the terms expire in."""
    expiring: int
    renewed: int
    lost: int
    non_renewed: int
    open: int
    renewed_premium: Decimal
    lost_premium: Decimal
    """Expiring premium of the lost and non-renewed renewals."""


@dataclass(frozen=True)
class Rollup:
    as_of: date
    time_zone: str
    exported_by: str
    exported_at: datetime
    attention_days: int
    """"Missing documents" counts when the term expires within this many days."""
    renewals: int
    open_renewals: int
    """Open work: renewals in an open stage whose transaction can still move."""
    open_premium: Decimal
    expiring_this_month: int
    premium_at_risk_this_month: Decimal
    past_sla: int
    by_producer: tuple[GroupRow, ...]
    by_csr: tuple[GroupRow, ...]
    by_carrier: tuple[GroupRow, ...]
    by_lob: tuple[GroupRow, ...]
    by_stage: tuple[StageRow, ...]
    attention: tuple[AttentionRow, ...]
    months: tuple[MonthRow, ...]
    """The twelve months ending with the as-of date's month."""

    @property
    def window(self) -> str:
        """The outcome window in words, e.g. "Apr 2026 – Mar 2027"."""
        if not self.months:
            return ""
        return f"{self.months[0].month:%b %Y} – {self.months[-1].month:%b %Y}"

    @property
    def renewed(self) -> int:
        return sum(m.renewed for m in self.months)

    @property
    def lost(self) -> int:
        return sum(m.lost for m in self.months)

    @property
    def non_renewed(self) -> int:
        return sum(m.non_renewed for m in self.months)

    def reason_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(REASONS, 0)
        for row in self.attention:
            for code in row.reason_codes:
                counts[code] += 1
        return counts


def retention(renewed: int, lost: int, non_renewed: int) -> float | None:
    """Renewed ÷ decided; None when nothing was decided."""
    decided = renewed + lost + non_renewed
    return renewed / decided if decided else None


# =====================================================================================
# The workbook.
# =====================================================================================


def write_rollup_xlsx(
    rollup: Rollup,
    path: Path,
    *,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> int:
    """Write the rollup workbook to ``path`` (replaced only when complete).

    Returns the number of data rows written over all sheets.
    """
    total = (
        len(rollup.by_producer)
        + len(rollup.by_csr)
        + len(rollup.by_carrier)
        + len(rollup.by_lob)
        + len(rollup.by_stage)
        + len(rollup.attention)
        + len(rollup.months)
    )
    meter = Progress(total, progress, cancelled)
    with atomic_target(path, WHAT) as temp:
        workbook = xlsxwriter.Workbook(str(temp), WORKBOOK_OPTIONS)
        try:
            written = _Writer(workbook, rollup, meter).write()
            meter.finish()
        except BaseException:
            discard_workbook(workbook)
            raise
        try:
            workbook.close()
        except (FileCreateError, OSError) as exc:
            raise write_failed(path, os_error_of(exc), WHAT) from exc
    return written


@dataclass(frozen=True)
class _Col:
    header: str
    kind: str  # text, int, money, pct, date, month
    width: float


class _Writer:
    def __init__(self, workbook: xlsxwriter.Workbook, rollup: Rollup, meter: Progress) -> None:
        self.wb = workbook
        self.r = rollup
        self.meter = meter
        self.done = 0
        add = workbook.add_format
        self.title = add({"bold": True, "font_size": 14})
        self.subtitle = add({"italic": True, "font_color": "#595959"})
        self.note = add({"italic": True, "font_color": "#595959", "font_size": 9})
        self.header = add(
            {"bold": True, "bg_color": "#DCE6F1", "bottom": 1, "text_wrap": True, "valign": "top"}
        )
        self.fmt: dict[str, Any] = {
            "text": None,
            "quoted": add({"quote_prefix": True}),
            "int": add({"num_format": "#,##0"}),
            "money": add({"num_format": "$#,##0.00"}),
            "pct": add({"num_format": "0.0%"}),
            "date": add({"num_format": "mm/dd/yyyy"}),
            "month": add({"num_format": "mmm yyyy", "align": "left"}),
        }
        total = {"bold": True, "top": 1, "bg_color": "#F2F2F2"}
        self.total_fmt: dict[str, Any] = {
            "text": add(total),
            "int": add({**total, "num_format": "#,##0"}),
            "money": add({**total, "num_format": "$#,##0.00"}),
            "pct": add({**total, "num_format": "0.0%"}),
        }
        self.blank_total = add(total)

    # --- helpers -----------------------------------------------------------------

    def _sheet(self, name: str, columns: Sequence[_Col]) -> Any:
        ws = self.wb.add_worksheet(name)
        for c, col in enumerate(columns):
            ws.set_column(c, c, col.width)
        ws.set_landscape()
        ws.set_paper(1)  # US Letter
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        ws.set_footer(f"&L{name}&CPage &P of &N&R{self.r.as_of:%m/%d/%Y}")
        return ws

    def _heading(self, ws: Any, title: str, lines: Sequence[str]) -> int:
        """Title and explanation lines; returns the next free row."""
        ws.write_string(0, 0, title, self.title)
        ws.set_row(0, 20)
        for i, line in enumerate(lines, start=1):
            ws.write_string(i, 0, line, self.subtitle)
        return len(lines) + 2

    def _value(self, ws: Any, row: int, col: int, value: Any, kind: str) -> None:
        if value is None:
            return
        if kind == "text":
            text = str(value)
            if text:
                quoted = self.fmt["quoted"] if is_risky(text) else None
                ws.write_string(row, col, clean_text(text), quoted)
        elif kind in ("date", "month"):
            ws.write_number(row, col, excel_serial(value), self.fmt[kind])
        elif kind == "money":
            ws.write_number(row, col, float(value), self.fmt["money"])
        else:
            ws.write_number(row, col, value, self.fmt[kind])

    def _table(
        self,
        ws: Any,
        top: int,
        columns: Sequence[_Col],
        rows: Sequence[Sequence[Any]],
        *,
        formulas: dict[int, Callable[[int, Sequence[Any]], tuple[str, Any]]] | None = None,
        totals: dict[int, str] | None = None,
        total_values: dict[int, Any] | None = None,
        total_label: str = "Total",
    ) -> int:
        """Header at ``top``, the rows, then (with ``totals``) a Total row.

        ``formulas`` maps a column to ``f(excel_row, row) -> (formula, cached value)``;
        ``totals`` maps a column to "sum" or "formula" (computed by ``formulas`` on the
        total row with ``total_values`` as its row). Returns the row after the table.
        """
        formulas = formulas or {}
        lines = max(_wrapped_lines(col.header, col.width) for col in columns)
        ws.set_row(top, 13 * lines + 3)
        for c, col in enumerate(columns):
            ws.write_string(top, c, col.header, self.header)
        first = top + 1
        plan: RowPlan = [
            (c, KIND_CODES[col.kind], self.fmt[col.kind])
            for c, col in enumerate(columns)
            if c not in formulas
        ]
        write_row = row_writer(ws, plan, self.fmt["quoted"])
        computed = [(c, f, self.fmt[columns[c].kind]) for c, f in formulas.items()]
        meter = self.meter
        for i, row in enumerate(rows):
            r = first + i
            write_row(r, row)
            for c, formula_of, fmt in computed:
                formula, cached = formula_of(r, row)
                ws.write_formula(r, c, formula, fmt, _cached(cached))
            self.done += 1
            if self.done >= meter.next_report:
                meter.check(self.done)
        last = first + len(rows) - 1
        ws.autofilter(top, 0, max(last, top), len(columns) - 1)
        ws.freeze_panes(top + 1, 1)
        ws.repeat_rows(top)
        end = first + len(rows)
        if totals is not None:
            tv = total_values or {}
            for c, col in enumerate(columns):
                fmt = self.total_fmt.get(col.kind, self.blank_total)
                how = totals.get(c)
                if c == 0:
                    ws.write_string(end, 0, total_label, self.total_fmt["text"])
                elif how == "sum":
                    cached = tv.get(c, 0)
                    if rows:
                        a = xl_rowcol_to_cell(first, c)
                        b = xl_rowcol_to_cell(last, c)
                        ws.write_formula(end, c, f"=SUM({a}:{b})", fmt, _cached(cached))
                    else:
                        ws.write_number(end, c, 0, fmt)
                elif how == "formula":
                    formula, cached = formulas[c](end, [tv.get(i) for i in range(len(columns))])
                    ws.write_formula(end, c, formula, fmt, _cached(cached))
                else:
                    ws.write_blank(end, c, None, fmt)
            end += 1
        return end

    # --- sheets ------------------------------------------------------------------

    def write(self) -> int:
        r = self.r
        self.wb.set_properties(
            {
                "title": f"Renewal rollup as of {r.as_of:%m/%d/%Y}",
                "author": "Renewal Desk",
                "created": r.exported_at.astimezone(UTC).replace(tzinfo=None),
            }
        )
        self._summary()
        for name, rows, what in (
            (BY_PRODUCER, r.by_producer, "Producer"),
            (BY_CSR, r.by_csr, "CSR"),
            (BY_CARRIER, r.by_carrier, "Carrier"),
            (BY_LOB, r.by_lob, "Line of business"),
        ):
            self._group_sheet(name, what, rows)
        self._stage_sheet()
        self._attention_sheet()
        self._outcomes_sheet()
        return self.done

    def _as_of_line(self) -> str:
        r = self.r
        when = r.exported_at.astimezone(UTC)
        return (
            f"As of {r.as_of:%m/%d/%Y} ({r.time_zone}); exported {when:%Y-%m-%d %H:%M} UTC "
            f"by {r.exported_by}."
        )

    def _summary(self) -> None:
        r = self.r
        cols = (
            _Col("Figure", "text", 44),
            _Col("Value", "int", 16),
            _Col("What it counts", "text", 80),
        )
        ws = self._sheet(SUMMARY, cols)
        ws.activate()
        top = self._heading(ws, "Renewal rollup", [self._as_of_line()])
        month = f"{r.as_of:%B %Y}"
        attention = len(r.attention)
        figures: list[tuple[str, Any, str, str]] = [
            (
                "Renewals in the book",
                r.renewals,
                "int",
                "every renewal card, open and decided; discarded and invalidated renewals "
                "(closed when another renewal of the term was issued) are in no figure",
            ),
            (
                "Open renewals",
                r.open_renewals,
                "int",
                "renewals in an open stage whose transaction is still open (draft, quoted "
                "or accepted)",
            ),
            (
                "Open premium",
                r.open_premium,
                "money",
                "premium of the open renewals: the new premium where known, else the "
                "expiring premium",
            ),
            (
                f"Expiring in {month} (open)",
                r.expiring_this_month,
                "int",
                f"open renewals whose term ends in {month}",
            ),
            (
                f"Open premium expiring in {month}",
                r.premium_at_risk_this_month,
                "money",
                "the premium of those renewals",
            ),
            (
                "Past the stage's SLA",
                r.past_sla,
                "int",
                "open renewals in their stage longer than its SLA days",
            ),
            (
                "Needs attention",
                attention,
                "int",
                f"open renewals listed on the '{ATTENTION}' sheet",
            ),
            (
                f"Renewed ({r.window})",
                r.renewed,
                "int",
                "renewals of terms ending in those 12 months that renewed",
            ),
            (f"Lost ({r.window})", r.lost, "int", "… lost to another agency or market"),
            (
                f"Non-renewed ({r.window})",
                r.non_renewed,
                "int",
                "… declined by the carrier or the agency",
            ),
        ]
        for c, col in enumerate(cols):
            ws.write_string(top, c, col.header, self.header)
        row = top + 1
        for label, value, kind, explain in figures:
            ws.write_string(row, 0, label)
            self._value(ws, row, 1, value, kind)
            ws.write_string(row, 2, explain, self.note)
            row += 1
        renewed_cell = xl_rowcol_to_cell(row - 3, 1)
        lost_cell = xl_rowcol_to_cell(row - 2, 1)
        non_cell = xl_rowcol_to_cell(row - 1, 1)
        decided = f"({renewed_cell}+{lost_cell}+{non_cell})"
        ws.write_string(row, 0, f"Retention ({r.window})", self.total_fmt["text"])
        ws.write_formula(
            row,
            1,
            f'=IF({decided}>0,{renewed_cell}/{decided},"")',
            self.total_fmt["pct"],
            _cached(retention(r.renewed, r.lost, r.non_renewed)),
        )
        ws.write_string(row, 2, "renewed ÷ decided (renewed + lost + non-renewed)", self.note)
        row += 2
        ws.write_string(row, 0, "Needs attention, by reason", self.header)
        ws.write_string(row, 1, "Renewals", self.header)
        ws.write_string(row, 2, "(a renewal can have several reasons)", self.header)
        row += 1
        for code, count in r.reason_counts().items():
            label = REASONS[code]
            if code == "documents_missing":
                label = f"Required documents missing, expiring within {r.attention_days} days"
            ws.write_string(row, 0, label)
            ws.write_number(row, 1, count, self.fmt["int"])
            row += 1
        ws.freeze_panes(top + 1, 0)
        ws.fit_to_pages(1, 1)
        ws.set_portrait()

    def _group_sheet(self, name: str, what: str, rows: Sequence[GroupRow]) -> None:
        r = self.r
        cols = (
            _Col(what, "text", 30),
            _Col("Open renewals", "int", 10),
            _Col("Open premium", "money", 15),
            _Col("Lapsed", "int", 9),
            _Col("Expiring in 30 days", "int", 10),
            _Col("Past SLA", "int", 9),
            _Col("Needs attention", "int", 10),
            _Col("Renewed", "int", 9),
            _Col("Lost", "int", 9),
            _Col("Non-renewed", "int", 9),
            _Col("Retention", "pct", 10),
            _Col("Premium renewed", "money", 15),
        )
        ws = self._sheet(name, cols)
        top = self._heading(
            ws,
            f"{name} — as of {r.as_of:%m/%d/%Y}",
            [
                self._as_of_line(),
                "Open columns count renewals open on the as-of date (Lapsed: open past their "
                "expiration; Expiring in 30 days: from the as-of date through 30 days later).",
                f"Renewed, Lost, Non-renewed and Retention count terms ending {r.window}. "
                "Retention = renewed ÷ decided (renewed + lost + non-renewed).",
            ],
        )
        data = [
            (
                g.label,
                g.open,
                g.open_premium,
                g.lapsed,
                g.expiring_soon,
                g.past_sla,
                g.attention,
                g.renewed,
                g.lost,
                g.non_renewed,
                None,
                g.renewed_premium,
            )
            for g in rows
        ]
        sums: dict[int, Any] = {}
        for c in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11):
            zero: Any = Decimal("0.00") if cols[c].kind == "money" else 0
            sums[c] = sum((d[c] for d in data), zero)
        totals = dict.fromkeys(sums, "sum") | {10: "formula"}
        self._table(
            ws,
            top,
            cols,
            data,
            formulas={10: _retention_formula(7, 8, 9)},
            totals=totals,
            total_values=sums,
        )

    def _stage_sheet(self) -> None:
        r = self.r
        buckets = [bucket_label(lo, hi) for lo, hi in AGING_BUCKETS]
        cols = (
            _Col("Stage", "text", 22),
            _Col("Kind", "text", 8),
            _Col("SLA days", "int", 8),
            _Col("Renewals", "int", 10),
            _Col("Premium", "money", 16),
            *(_Col(b, "int", 10) for b in buckets),
            _Col("Past SLA", "int", 9),
            _Col("Oldest (days in stage)", "int", 11),
        )
        ws = self._sheet(BY_STAGE, cols)
        top = self._heading(
            ws,
            f"By stage — as of {r.as_of:%m/%d/%Y}",
            [
                self._as_of_line(),
                "Aging: the day columns count open renewals by days in their current stage; "
                "Past SLA: longer than the stage's SLA days.",
                "Premium is the new premium where known, else the expiring premium.",
            ],
        )
        nb = len(AGING_BUCKETS)
        data = [
            (
                s.name,
                s.kind,
                s.sla_days,
                s.renewals,
                s.premium,
                *(s.aging or (None,) * nb),
                s.past_sla,
                s.oldest_days,
            )
            for s in r.by_stage
        ]
        sum_cols = [3, 4, *range(5, 5 + nb), 5 + nb]
        sums: dict[int, Any] = {}
        for c in sum_cols:
            zero: Any = Decimal("0.00") if c == 4 else 0
            sums[c] = sum((d[c] or zero for d in data), zero)
        end = self._table(
            ws, top, cols, data, totals=dict.fromkeys(sum_cols, "sum"), total_values=sums
        )
        open_rows = [i for i, s in enumerate(r.by_stage) if s.aging is not None]
        if open_rows:
            chart = self.wb.add_chart({"type": "column", "subtype": "stacked"})
            first_data = top + 1
            lo, hi = first_data + open_rows[0], first_data + open_rows[-1]
            palette = ("#70AD47", "#A9D18E", "#FFC000", "#ED7D31", "#C00000")
            for i in range(nb):
                col = 5 + i
                chart.add_series(
                    {
                        "name": [BY_STAGE, top, col],
                        "categories": [BY_STAGE, lo, 0, hi, 0],
                        "values": [BY_STAGE, lo, col, hi, col],
                        "fill": {"color": palette[i % len(palette)]},
                        "gap": 60,
                    }
                )
            chart.set_title({"name": "Open renewals by stage and days in stage"})
            chart.set_y_axis({"name": "Renewals", "major_gridlines": {"visible": True}})
            chart.set_legend({"position": "bottom"})
            chart.set_size({"width": 820, "height": 360})
            ws.insert_chart(end + 1, 0, chart)

    def _attention_sheet(self) -> None:
        r = self.r
        cols = (
            _Col("Insured", "text", 30),
            _Col("Policy #", "text", 16),
            _Col("Carrier", "text", 18),
            _Col("LOB", "text", 7),
            _Col("Expiration", "date", 11),
            _Col("Days Left", "int", 7),
            _Col("Stage", "text", 16),
            _Col("Days in Stage", "int", 8),
            _Col("Reasons", "text", 70),
            _Col("Next Action", "text", 30),
            _Col("Owner", "text", 11),
            _Col("Next Action Due", "date", 11),
            _Col("Producer", "text", 11),
            _Col("CSR", "text", 11),
            _Col("Premium", "money", 13),
            _Col("Renewal ID", "int", 9),
        )
        ws = self._sheet(ATTENTION, cols)
        top = self._heading(
            ws,
            f"Needs attention — {len(r.attention):,} open renewals as of {r.as_of:%m/%d/%Y}",
            [
                self._as_of_line(),
                "Each row says why it is here: no next action, next action or task overdue, "
                f"blocked, required documents missing within {r.attention_days} days of "
                "expiry, past the stage's SLA, do not renew, or auto-renewal in error.",
            ],
        )
        data = [
            (
                a.insured,
                a.policy_number,
                a.carrier,
                a.line_of_business,
                a.expiration,
                a.days_left,
                a.stage,
                a.days_in_stage,
                "; ".join(a.reasons),
                a.next_action,
                a.owner,
                a.next_action_due,
                a.producer,
                a.csr,
                a.premium,
                a.renewal_id,
            )
            for a in r.attention
        ]
        self._table(ws, top, cols, data)
        ws.freeze_panes(top + 1, 2)

    def _outcomes_sheet(self) -> None:
        r = self.r
        cols = (
            _Col("Month", "month", 11),
            _Col("Renewals expiring", "int", 10),
            _Col("Renewed", "int", 9),
            _Col("Lost", "int", 9),
            _Col("Non-renewed", "int", 9),
            _Col("Decided", "int", 9),
            _Col("Still open", "int", 9),
            _Col("Retention", "pct", 10),
            _Col("Premium renewed", "money", 15),
            _Col("Premium lost", "money", 15),
        )
        ws = self._sheet(OUTCOMES, cols)
        top = self._heading(
            ws,
            f"Outcomes and retention by month — {r.window}",
            [
                self._as_of_line(),
                "Renewals by the month their term expires. Retention = renewed ÷ decided "
                "(renewed + lost + non-renewed). Premium lost is the expiring premium of lost "
                "and non-renewed renewals.",
            ],
        )
        data = [
            (
                m.month,
                m.expiring,
                m.renewed,
                m.lost,
                m.non_renewed,
                m.renewed + m.lost + m.non_renewed,
                m.open,
                None,
                m.renewed_premium,
                m.lost_premium,
            )
            for m in r.months
        ]

        def decided(row: int, values: Sequence[Any]) -> tuple[str, Any]:
            c, d, e = (xl_rowcol_to_cell(row, i) for i in (2, 3, 4))
            return f"={c}+{d}+{e}", sum((values[i] or 0) for i in (2, 3, 4))

        sum_cols = [1, 2, 3, 4, 6, 8, 9]
        sums: dict[int, Any] = {}
        for c in sum_cols:
            zero: Any = Decimal("0.00") if c in (8, 9) else 0
            sums[c] = sum((d[c] for d in data), zero)
        sums[5] = sums[2] + sums[3] + sums[4]
        end = self._table(
            ws,
            top,
            cols,
            data,
            formulas={5: decided, 7: _retention_formula(2, 3, 4)},
            totals=dict.fromkeys(sum_cols, "sum") | {5: "formula", 7: "formula"},
            total_values=sums,
            total_label="12 months",
        )
        if not data:
            return
        first, last = top + 1, top + len(data)
        columns = self.wb.add_chart({"type": "column", "subtype": "stacked"})
        for col, color in ((2, "#70AD47"), (3, "#ED7D31"), (4, "#C00000")):
            columns.add_series(
                {
                    "name": [OUTCOMES, top, col],
                    "categories": [OUTCOMES, first, 0, last, 0],
                    "values": [OUTCOMES, first, col, last, col],
                    "fill": {"color": color},
                    "gap": 60,
                }
            )
        line = self.wb.add_chart({"type": "line"})
        line.add_series(
            {
                "name": [OUTCOMES, top, 7],
                "categories": [OUTCOMES, first, 0, last, 0],
                "values": [OUTCOMES, first, 7, last, 7],
                "y2_axis": True,
                "line": {"color": "#1F4E79", "width": 2.25},
                "marker": {"type": "circle", "size": 5},
            }
        )
        columns.combine(line)
        columns.set_title({"name": "Outcomes and retention by expiration month"})
        columns.set_x_axis({"num_format": "mmm yy", "date_axis": False})
        columns.set_y_axis({"name": "Renewals decided", "major_gridlines": {"visible": True}})
        line.set_y2_axis({"name": "Retention", "min": 0, "max": 1, "num_format": "0%"})
        columns.set_legend({"position": "bottom"})
        columns.set_size({"width": 820, "height": 360})
        ws.insert_chart(end + 1, 0, columns)


def _wrapped_lines(text: str, width: float) -> int:
    """How many lines ``text`` wraps to in a column ``width`` characters wide (bold, so a
    little wider than the width's nominal characters)."""
    room = max(1.0, width * 0.85)
    lines, used = 1, 0
    for word in text.split():
        need = len(word) if used == 0 else used + 1 + len(word)
        if need <= room or used == 0:
            used = need
        else:
            lines, used = lines + 1, len(word)
    return lines


def _retention_formula(
    renewed: int, lost: int, non_renewed: int
) -> Callable[[int, Sequence[Any]], tuple[str, Any]]:
    def formula(row: int, values: Sequence[Any]) -> tuple[str, Any]:
        a, b, c = (xl_rowcol_to_cell(row, i) for i in (renewed, lost, non_renewed))
        cached = retention(values[renewed] or 0, values[lost] or 0, values[non_renewed] or 0)
        return f'=IF(({a}+{b}+{c})>0,{a}/({a}+{b}+{c}),"")', cached

    return formula


def _cached(value: Any) -> Any:
    """A formula's cached result as XlsxWriter stores it ("" for an empty result)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return float(value)
    return value
