"""The QPainter bar charts on their own: they render offscreen, a click or the keyboard
activates the bar under it, tooltips give the exact figure, empty data says "No data",
big numbers get thousands separators (and $), and no two texts overlap."""

from __future__ import annotations

from itertools import combinations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QHelpEvent, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton, QToolTip, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from desktop_app.ui import theme
from desktop_app.ui.charts import (
    NO_DATA,
    Bar,
    BarChart,
    Segment,
    Series,
    chart_colors,
    format_count,
    format_money,
)

H, V = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
RED, BLUE, GREEN = "#c0392b", "#2457c5", "#2e7d32"


def make(
    qtbot: QtBot, orientation: Qt.Orientation = H, *, money: bool = False, size=(420, 300)
) -> BarChart:
    chart = BarChart("Renewals by stage", orientation=orientation, money=money)
    qtbot.addWidget(chart)
    chart.resize(*size)
    chart.show()
    qtbot.waitExposed(chart)
    return chart


def three_bars() -> list[Bar]:
    return [
        Bar.single("up", "Upcoming", 176, color=BLUE),
        Bar.single("gather", "Gathering info", 226, color=GREEN),
        Bar.single("lost", "Lost", 37, color=RED, tooltip="Lost: 37 renewals, $69,397.51"),
    ]


def stacked() -> tuple[list[Bar], list[Series]]:
    series = [Series("Upcoming", BLUE), Series("Renewed", GREEN), Series("Lost", RED)]
    bars = [
        Bar(
            "November", (Segment("n-up", 13, 0), Segment("n-won", 117, 1), Segment("n-lost", 19, 2))
        ),
        Bar("December", (Segment("d-up", 26, 0), Segment("d-won", 0, 1), Segment("d-lost", 4, 2))),
    ]
    return bars, series


def click(chart: BarChart, index: int) -> None:
    QTest.mouseClick(
        chart,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        chart.item_rect(index).center().toPoint(),
    )


@pytest.mark.parametrize("orientation", [H, V])
def test_bars_render_and_a_click_activates_the_bar_under_it(
    qtbot: QtBot, orientation: Qt.Orientation
) -> None:
    chart = make(qtbot, orientation)
    chart.set_bars(three_bars())
    assert chart.item_count() == 3 and not chart.empty
    image = chart.grab().toImage()
    assert not image.isNull() and image.width() >= 420
    ratio = image.devicePixelRatio()
    for i, color in enumerate((BLUE, GREEN, RED)):
        rect = chart.item_rect(i)
        assert rect.width() > 4 and rect.height() > 4
        assert chart.plot_rect().contains(rect.center())
        centre = rect.center()
        pixel = image.pixelColor(int(centre.x() * ratio), int(centre.y() * ratio))
        assert pixel == QColor(color), (i, pixel.name())
        assert chart.item_at(centre) == i
    # Longer bars for bigger values.
    length = (lambda r: r.width()) if orientation == H else (lambda r: r.height())
    assert length(chart.item_rect(1)) > length(chart.item_rect(0)) > length(chart.item_rect(2))

    for i, key in enumerate(("up", "gather", "lost")):
        with qtbot.waitSignal(chart.bar_activated) as blocker:
            click(chart, i)
        assert blocker.args == [key]
        assert chart.current() == i
    # A click on empty space activates nothing.
    with qtbot.assertNotEmitted(chart.bar_activated):
        QTest.mouseClick(chart, Qt.MouseButton.LeftButton, pos=QPoint(2, 2))
    assert chart.item_at(QPointF(2, 2)) is None


def test_stacked_segments_are_each_clickable(qtbot: QtBot) -> None:
    chart = make(qtbot)
    bars, series = stacked()
    chart.set_bars(bars, series)
    # A zero segment is drawn as nothing and cannot be selected.
    assert chart.item_count() == 5
    keys = [chart.item_key(i) for i in range(chart.item_count())]
    assert keys == ["n-up", "n-won", "n-lost", "d-up", "d-lost"]
    first, second = chart.item_rect(0), chart.item_rect(1)
    assert first.right() == pytest.approx(second.left())  # stacked end to end
    assert second.width() == pytest.approx(first.width() * 117 / 13, rel=0.01)
    with qtbot.waitSignal(chart.bar_activated) as blocker:
        click(chart, 1)
    assert blocker.args == ["n-won"]
    assert chart.bar_text(0) == "149" and chart.bar_text(1) == "30"
    assert chart.tooltip_for(1) == "November · Renewed: 117"
    assert "November: 149 (Upcoming 13, Renewed 117, Lost 19)" in chart.accessibleDescription()
    assert chart.grab().toImage().pixelColor(
        *(int(v * chart.devicePixelRatioF()) for v in (second.center().x(), second.center().y()))
    ) != QColor(theme.LIGHT.surface)


def test_keyboard_tab_in_arrows_select_enter_activates(qtbot: QtBot) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    layout = QVBoxLayout(host)
    before = QPushButton("Before")
    chart = BarChart("Aging in stage", orientation=V)
    layout.addWidget(before)
    layout.addWidget(chart)
    host.resize(480, 360)
    host.show()
    qtbot.waitExposed(host)
    host.activateWindow()
    bars, series = stacked()
    chart.set_bars(bars, series)
    before.setFocus()
    qtbot.waitUntil(before.hasFocus)
    QTest.keyClick(before, Qt.Key.Key_Tab)
    qtbot.waitUntil(chart.hasFocus)

    assert chart.current() is None
    QTest.keyClick(chart, Qt.Key.Key_Right)
    assert chart.current() == 0
    QTest.keyClick(chart, Qt.Key.Key_Right)
    QTest.keyClick(chart, Qt.Key.Key_Down)
    assert chart.current() == 2
    QTest.keyClick(chart, Qt.Key.Key_Left)
    assert chart.current() == 1
    with qtbot.waitSignal(chart.bar_activated) as blocker:
        QTest.keyClick(chart, Qt.Key.Key_Return)
    assert blocker.args == ["n-won"]
    assert chart.accessibleDescription().startswith("Selected: November · Renewed: 117.")
    QTest.keyClick(chart, Qt.Key.Key_End)
    with qtbot.waitSignal(chart.bar_activated) as blocker:
        QTest.keyClick(chart, Qt.Key.Key_Enter)
    assert blocker.args == ["d-lost"]
    QTest.keyClick(chart, Qt.Key.Key_Right)  # wraps around
    assert chart.current() == 0
    QTest.keyClick(chart, Qt.Key.Key_Home)
    with qtbot.waitSignal(chart.bar_activated) as blocker:
        QTest.keyClick(chart, Qt.Key.Key_Space)
    assert blocker.args == ["n-up"]
    # New data keeps the selection on the same key when it is still there.
    chart.set_bars(bars, series)
    assert chart.current_key() == "n-up"


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen tooltip
def test_hover_shows_the_exact_figure(qtbot: QtBot) -> None:
    chart = make(qtbot, money=True)
    chart.set_bars(
        [Bar.single("a", "Proposal sent", 33774.5), Bar.single("b", "Do not renew", 800)]
    )
    assert chart.tooltip_for(0) == "Proposal sent: $33,774.50"
    centre = chart.item_rect(0).center().toPoint()
    event = QHelpEvent(QHelpEvent.Type.ToolTip, centre, chart.mapToGlobal(centre))
    QApplication.sendEvent(chart, event)
    qtbot.waitUntil(lambda: QToolTip.text() == "Proposal sent: $33,774.50")
    QToolTip.hideText()


def test_no_data_says_so(qtbot: QtBot) -> None:
    chart = make(qtbot)
    chart.set_bars([])
    assert chart.empty and chart.item_count() == 0
    assert chart.accessibleDescription() == f"Renewals by stage: {NO_DATA}."
    assert not chart.grab().isNull()
    assert chart.text_boxes() == []
    with qtbot.assertNotEmitted(chart.bar_activated):
        chart.setFocus()
        QTest.keyClick(chart, Qt.Key.Key_Right)
        QTest.keyClick(chart, Qt.Key.Key_Return)
        QTest.mouseClick(chart, Qt.MouseButton.LeftButton, pos=QPoint(200, 150))
    # Bars that are all zero are no data either, and a placeholder can say more.
    chart.set_bars([Bar.single("a", "Upcoming", 0), Bar.single("b", "Bound", 0)])
    assert chart.empty
    chart.set_placeholder("Loading…")
    assert "Loading…" in chart.accessibleDescription()
    assert not chart.grab().isNull()


def test_large_numbers_are_formatted(qtbot: QtBot) -> None:
    assert format_count(1234567) == "1,234,567"
    assert format_money(12345678.9) == "$12,345,679"
    assert format_money(12345678.9, cents=True) == "$12,345,678.90"
    chart = make(qtbot, money=True)
    chart.set_bars(
        [Bar.single("a", "Travelers", 12_345_678.9), Bar.single("b", "Chubb", 4_200_000)]
    )
    assert chart.bar_text(0) == "$12,345,679"
    assert chart.tooltip_for(0) == "Travelers: $12,345,678.90"
    labels = chart.axis_labels()
    assert labels[0] == "$0" and len(labels) >= 2
    assert all(label.startswith("$") for label in labels)
    assert any("," in label for label in labels[1:])
    assert all(label.replace("$", "").replace(",", "").isdigit() for label in labels)
    counts = make(qtbot, V)
    counts.set_bars([Bar.single("a", "Open", 51_317), Bar.single("b", "Decided", 27_016)])
    assert counts.bar_text(0) == "51,317"
    assert all("," in label for label in counts.axis_labels() if len(label) > 3)


@pytest.mark.parametrize("orientation", [H, V])
@pytest.mark.parametrize("size", [(300, 220), (520, 320)])
def test_no_text_overlaps(qtbot: QtBot, orientation: Qt.Orientation, size) -> None:
    chart = make(qtbot, orientation, money=True, size=size)
    series = [Series(name, BLUE) for name in ("Upcoming", "Gathering info", "Marketing / quoting")]
    chart.set_bars(
        [
            Bar(
                label,
                tuple(Segment((label, j), v * (j + 1), j) for j in range(3)),
            )
            for label, v in (
                ("Sep", 1_250_000),
                ("Oct", 987_654.32),
                ("Nov", 12_000),
                ("Dec", 3_333_333),
            )
        ],
        series,
    )
    chart.resize(chart.size().expandedTo(chart.minimumSizeHint()))
    boxes = chart.text_boxes()
    assert {text for text, _ in boxes} >= {"Sep", "Dec", "$0"}
    for (a, ra), (b, rb) in combinations(boxes, 2):
        overlap = ra.intersected(rb)
        assert overlap.width() < 1 or overlap.height() < 1, (a, b, ra, rb)
    inside = chart.rect().toRectF().adjusted(-1, -1, 1, 1)
    for text, rect in boxes:
        assert inside.contains(rect), (text, rect)


def test_colours_follow_the_palette(qtbot: QtBot) -> None:
    chart = make(qtbot)
    assert chart_colors(chart) == theme.LIGHT
    chart.setPalette(theme.palette(theme.DARK))
    assert chart_colors(chart) == theme.DARK
    chart.set_bars(three_bars())
    assert not chart.grab().isNull()
    assert chart.palette().color(QPalette.ColorRole.Window) == QColor(theme.DARK.window)
