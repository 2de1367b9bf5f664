"""The dashboard page over a real database (both backends), driven as a manager would:
it loads through the executor, its charts render, a click or the keyboard on a bar lists
exactly the renewals behind it, a row opens its renewal, and the Export rollup button
follows the role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QSettings, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from desktop_app.db.engine import Database
from desktop_app.domain.enums import AuditSource, Role
from desktop_app.domain.permissions import Action, refusal
from desktop_app.services import dashboard as service
from desktop_app.services import users
from desktop_app.services.dashboard import By, Criteria, Dashboard
from desktop_app.services.demo import load_demo
from desktop_app.services.unit import Actor
from desktop_app.ui import dashboard as page_module
from desktop_app.ui.charts import BarChart
from desktop_app.ui.dashboard import DashboardPage
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.page import Page
from desktop_app.ui.session import DeskSession

POLICIES = 160


@pytest.fixture
def demo_db(db: Database, admin: Actor) -> Database:
    load_demo(db, admin, policies=POLICIES, seed=5)
    return db


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)


OpenPage = Callable[..., DashboardPage]


@pytest.fixture
def open_page(
    qtbot: QtBot, demo_db: Database, executor: DatabaseExecutor, settings: QSettings
) -> Iterator[OpenPage]:
    """open_page(role) → a shown dashboard page, loaded, for a new user with that role."""

    def make(role: Role | str = Role.MANAGER, *, wait: bool = True) -> DashboardPage:
        role = Role(role)
        username = f"{role.value}-dash"
        admin = Actor("admin", AuditSource.CLI)
        if role is Role.PRODUCER:
            # A producer of the demo book, so there is a book to see.
            username = next(u.username for u in users.list_staff(demo_db) if u.role is role)
        else:
            users.add_user(demo_db, admin, username, role, full_name=f"Dana {role.value}")
        session = DeskSession(
            demo_db, Actor(username, AuditSource.UI), users.get_user(demo_db, username)
        )
        page = DashboardPage(executor, settings)
        qtbot.addWidget(page)
        page.resize(1120, 760)
        page.show()
        qtbot.waitExposed(page)
        if wait:
            with qtbot.waitSignal(page.loaded, timeout=30_000):
                page.set_session(session)
                page.activate()
        else:
            page.set_session(session)
            page.activate()
        return page

    yield make


def _click(chart: BarChart, index: int) -> None:
    QTest.mouseClick(
        chart,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        chart.item_rect(index).center().toPoint(),
    )


def _cell_count(data: Dashboard, criteria: Criteria) -> int:
    from tests.test_dashboard_service import cells

    return next(c.count for c in cells(data) if c.criteria == criteria)


def test_the_page_loads_through_the_executor_and_draws_every_chart(
    qtbot: QtBot, open_page: OpenPage, demo_db: Database
) -> None:
    page = open_page(Role.MANAGER, wait=False)
    assert isinstance(page, Page) and page.title == "Dashboard"
    assert page.status.text() == "Loading…" and page.status.isVisible()
    assert all(chart.placeholder == "Loading…" and chart.empty for chart in page.charts)
    assert {"renewals", "terms", "policies", "auto_renewals", "pipeline_stages"} <= page.shows()
    qtbot.waitUntil(lambda: page.data is not None, timeout=30_000)
    data = page.data
    assert data is not None and not page.status.isVisible()
    # The same figures as the service's, straight from the database.
    assert data == service.dashboard(demo_db, page.session.actor, by=By.PRODUCER)  # type: ignore[union-attr]
    assert [by for by, _ in data.groups] == [By.PRODUCER]  # the one grouping shown
    assert page.scope_label.text().startswith("The whole agency. As of ")
    assert page.open_figure.value.text() == f"{data.open_renewals.count:,}"
    assert page.premium_figure.value.text() == f"${data.open_renewals.premium:,.0f}"
    assert page.risk_figure.value.text() == f"${data.at_risk_total.premium:,.0f}"
    assert page.retention_figure.value.text() == f"{data.retention:.1%}"
    assert page.open_figure.value.accessibleName().startswith("Open renewals: ")

    assert page.stage_chart.item_count() == len([f for f in data.stages if f.cell.count])
    assert [b.label for b in page.stage_chart.bars] == [f.stage.name for f in data.stages]
    assert len(page.months_chart.bars) == 12
    assert page.aging_chart.bars[-1].label == "Past SLA"
    assert page.aging_chart.bars[-1].total == data.past_sla.count
    for chart in page.charts:
        assert chart.accessibleName() and chart.accessibleDescription()
        if chart is not page.risk_chart:  # nothing may be at risk on the day the test runs
            assert not chart.empty, chart.title
        image = chart.grab()
        assert not image.isNull() and image.width() > 200
    assert "Renewals by stage. Upcoming: " in page.stage_chart.accessibleDescription()
    assert "not yet bound" in page.cards[page.risk_chart].caption.text()

    # Nothing written on the page overlaps at the default window size.
    qtbot.waitUntil(lambda: all(c.height() >= c.minimumSizeHint().height() for c in page.charts))
    for chart in page.charts:
        boxes = chart.text_boxes()
        for i, (a, ra) in enumerate(boxes):
            for b, rb in boxes[i + 1 :]:
                overlap = ra.intersected(rb)
                assert overlap.width() < 1 or overlap.height() < 1, (chart.title, a, b)


def test_a_click_on_a_bar_lists_exactly_the_renewals_behind_it(
    qtbot: QtBot, open_page: OpenPage, qtmodeltester
) -> None:
    page = open_page(Role.MANAGER)
    data = page.data
    assert data is not None and not page.list_panel.isVisible()
    chart = page.stage_chart
    index = max(range(chart.item_count()), key=lambda i: chart.bars[i].total)
    criteria = chart.item_key(index)
    with qtbot.waitSignal(page.list_loaded, timeout=30_000) as blocker:
        _click(chart, index)
    shown = blocker.args[0]
    expected = _cell_count(data, criteria)
    assert page.list_panel.isVisible()
    assert shown.total == page.list_model.total == expected == chart.bars[index].total
    assert page.list_heading.text() == f"{criteria.title}: {expected:,} renewals"
    assert page.list_model.rowCount() == min(expected, page_module.LIST_PAGE)
    qtmodeltester.check(page.list_model)
    stage = data.stages[index].stage.name
    assert {page.list_model.rows[r].stage for r in range(page.list_model.rowCount())} == {stage}

    # Enter on a row (and a double-click) opens that renewal.
    page.table.setFocus()
    first = page.list_model.index(0, 0)
    page.table.setCurrentIndex(first)
    with qtbot.waitSignal(page.open_renewal) as opened:
        QTest.keyClick(page.table, Qt.Key.Key_Return)
    assert opened.args == [page.list_model.renewal_id(0)]
    row = min(2, page.list_model.rowCount() - 1)
    rect = page.table.visualRect(page.list_model.index(row, 1))
    emitted: list[int] = []
    page.open_renewal.connect(emitted.append)
    QTest.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert emitted == []  # one click only selects
    QTest.mouseDClick(
        page.table.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        rect.center(),
    )
    assert emitted == [page.list_model.renewal_id(row)]

    # Esc closes the list.
    QTest.keyClick(page, Qt.Key.Key_Escape)
    assert not page.list_panel.isVisible() and page.list_model.rowCount() == 0


def test_the_keyboard_reaches_every_bar(qtbot: QtBot, open_page: OpenPage) -> None:
    page = open_page(Role.ADMIN)
    data = page.data
    assert data is not None
    chart = page.aging_chart
    page.activateWindow()
    chart.setFocus()
    qtbot.waitUntil(chart.hasFocus)
    for _ in range(3):
        QTest.keyClick(chart, Qt.Key.Key_Right)
    assert chart.current() == 2
    criteria = chart.current_key()
    with qtbot.waitSignal(page.list_loaded, timeout=30_000) as blocker:
        QTest.keyClick(chart, Qt.Key.Key_Return)
    assert blocker.args[0].criteria == criteria
    assert page.list_model.total == _cell_count(data, criteria)
    # The last bar, Past SLA, lists every open renewal past its stage's SLA.
    QTest.keyClick(chart, Qt.Key.Key_End)
    with qtbot.waitSignal(page.list_loaded, timeout=30_000):
        QTest.keyClick(chart, Qt.Key.Key_Enter)
    assert page.list_model.total == data.past_sla.count > 0
    # Tab leaves the chart for the next one.
    QTest.keyClick(chart, Qt.Key.Key_Tab)
    assert not chart.hasFocus()


def test_every_bar_on_the_page_matches_its_list(qtbot: QtBot, open_page: OpenPage) -> None:
    page = open_page(Role.MANAGER)
    data = page.data
    assert data is not None and page.measure == "renewals"
    session = page.session
    assert session is not None
    for chart in page.charts:
        for i in range(chart.item_count()):
            criteria = chart.item_key(i)
            expected = _cell_count(data, criteria)
            listed = service.renewals_behind(session.db, session.actor, criteria, limit=1)
            assert listed.total == expected, criteria.title
            if chart is not page.risk_chart:  # the others are sized by count
                assert chart.item_value(i) == expected, criteria.title


def test_the_list_fetches_more_as_it_scrolls(
    qtbot: QtBot, open_page: OpenPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(page_module, "LIST_PAGE", 7)
    page = open_page(Role.MANAGER)
    assert page.data is not None
    cell = page.data.open_renewals
    assert cell.count > 14
    with qtbot.waitSignal(page.list_loaded, timeout=30_000):
        page.show_behind(cell.criteria)
    model = page.list_model
    assert model.rowCount() == 7 and model.canFetchMore(QModelIndex())
    with qtbot.waitSignal(page.list_loaded, timeout=30_000):
        model.fetchMore(QModelIndex())
    assert model.rowCount() == 14 and model.total == cell.count
    ids = [model.renewal_id(r) for r in range(14)]
    assert len(set(ids)) == 14
    whole = service.renewals_behind(
        page.session.db,  # type: ignore[union-attr]
        page.session.actor,  # type: ignore[union-attr]
        cell.criteria,
        limit=14,
    )
    assert ids == [r.renewal_id for r in whole.rows]


def test_export_rollup_button_follows_the_role(qtbot: QtBot, open_page: OpenPage) -> None:
    csr_page = open_page(Role.CSR)
    button = csr_page.export_button
    assert not button.isEnabled()
    assert button.toolTip() == refusal(Role.CSR, Action.EXPORT_ROLLUP)
    assert button.toolTip() == "A CSR may not export the manager rollup."
    assert csr_page.scope_label.text().startswith("The whole agency.")

    manager_page = open_page(Role.MANAGER)
    assert manager_page.export_button.isEnabled()
    assert "rollup" in manager_page.export_button.toolTip()
    with qtbot.waitSignal(manager_page.export_rollup_requested):
        QTest.mouseClick(manager_page.export_button, Qt.MouseButton.LeftButton)


def test_a_producer_sees_their_own_book(
    qtbot: QtBot, open_page: OpenPage, demo_db: Database
) -> None:
    page = open_page(Role.PRODUCER)
    data = page.data
    assert data is not None and not data.whole_agency
    assert page.scope_label.text().startswith("Your book (")
    whole = service.dashboard(demo_db, Actor("admin", AuditSource.CLI))
    assert 0 < data.open_renewals.count < whole.open_renewals.count
    assert not page.export_button.isEnabled()
    assert page.export_button.toolTip() == "A producer may not export the manager rollup."


def test_the_by_switch_and_measure_are_remembered(
    qtbot: QtBot, open_page: OpenPage, settings: QSettings
) -> None:
    page = open_page(Role.MANAGER)
    assert page.data is not None
    assert page.data.by(By.CARRIER) is None
    with qtbot.waitSignal(page.groups_loaded, timeout=30_000) as blocker:
        page.set_by(By.CARRIER)
        assert page.group_chart.placeholder == "Loading…"
    assert blocker.args == [By.CARRIER]
    assert page.cards[page.group_chart].heading.text() == "By carrier"
    # The biggest carriers by open renewals (the page shows renewals until told otherwise).
    assert page.data.by(By.CARRIER) == service.dashboard(
        page.session.db,  # type: ignore[union-attr]
        page.session.actor,  # type: ignore[union-attr]
        page.data.as_of,
    ).by(By.CARRIER)
    carriers = sorted(
        page.data.by(By.CARRIER) or (), key=lambda g: (-g.open.count, g.label.casefold())
    )
    shown = [b.label for b in page.group_chart.bars]
    assert len(shown) == min(len(carriers), page_module.TOP_GROUPS)
    assert shown == [g.short for g in carriers[: len(shown)]]
    counts = [b.total for b in page.group_chart.bars]
    assert counts == sorted(counts, reverse=True)
    page.set_measure("premium")
    assert page.group_chart.money and page.stage_chart.money
    assert page.group_chart.bar_text(0).startswith("$")
    values = [b.total for b in page.group_chart.bars]
    assert values == sorted(values, reverse=True)
    assert settings.value("dashboard/by") == "carrier"
    assert settings.value("dashboard/measure") == "premium"
    by_premium = [b.label for b in page.group_chart.bars]

    again = open_page(Role.ADMIN)
    assert again.by is By.CARRIER and again.by_box.currentText() == "Carrier"
    assert again.measure == "premium" and again.measure_box.currentText() == "Premium"
    assert [b.label for b in again.group_chart.bars] == by_premium


def test_a_change_elsewhere_refreshes_the_page(
    qtbot: QtBot, open_page: OpenPage, executor: DatabaseExecutor, demo_db: Database
) -> None:
    page = open_page(Role.MANAGER)
    assert page.data is not None
    before = page.data.open_renewals.premium
    from sqlalchemy import select, update

    from desktop_app.db.models import PipelineStage, Renewal

    with demo_db.write_session() as session:  # another desktop quoted a new premium
        renewal_id = session.scalar(
            select(Renewal.id)
            .join(PipelineStage, PipelineStage.id == Renewal.stage_id)
            .where(PipelineStage.key == "upcoming")
            .order_by(Renewal.id)
            .limit(1)
        )
        session.execute(
            update(Renewal).where(Renewal.id == renewal_id).values(new_premium=Decimal("0.00"))
        )
        session.commit()
    with qtbot.waitSignal(page.loaded, timeout=30_000):
        executor.broadcast({"renewals"})
    assert page.data.open_renewals.premium < before
    # A kind the dashboard does not show changes nothing.
    with qtbot.assertNotEmitted(page.loaded, wait=300):
        executor.broadcast({"notices"})
