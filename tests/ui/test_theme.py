"""Text fields stand out from what is around them in both colour schemes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from desktop_app.ui import theme


def _luminance(color: QColor) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(color.red())
        + 0.7152 * channel(color.green())
        + 0.0722 * channel(color.blue())
    )


def _contrast(a: QColor, b: QColor) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture
def restore_theme(qapp: QApplication) -> Iterator[None]:
    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    yield
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)


@pytest.mark.parametrize(
    "scheme", [Qt.ColorScheme.Light, Qt.ColorScheme.Dark], ids=["light", "dark"]
)
def test_a_text_field_has_an_outline_one_can_see(
    qtbot: QtBot, qapp: QApplication, restore_theme: None, scheme: Qt.ColorScheme
) -> None:
    colors = theme.apply(qapp, scheme)
    page = QWidget()
    page.setObjectName("pages")
    layout = QVBoxLayout(page)
    layout.setContentsMargins(20, 20, 20, 20)
    field = QLineEdit()
    field.setPlaceholderText("Next action")
    layout.addWidget(field)
    qtbot.addWidget(page)
    page.resize(300, 80)
    page.show()
    qtbot.waitExposed(page)
    image = page.grab().toImage()
    scale = image.devicePixelRatio()
    middle = field.y() + field.height() // 2
    edge = image.pixelColor(round(field.x() * scale), round(middle * scale))
    around = image.pixelColor(round((field.x() - 8) * scale), round(middle * scale))
    inside = image.pixelColor(
        round((field.x() + field.width() - 10) * scale), round(middle * scale)
    )
    assert around == QColor(page.palette().color(page.backgroundRole()))
    assert inside == QColor(colors.surface)
    # WCAG 2.1 (1.4.11): a control's outline at least 3:1 against its neighbours
    assert _contrast(edge, around) >= 3, (edge.name(), around.name())
    assert _contrast(edge, inside) >= 3, (edge.name(), inside.name())
