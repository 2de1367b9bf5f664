"""Look and feel: Fusion, a light and a dark palette that follow the system, a small
stylesheet. Sizes are in logical pixels or relative to the user's font, so the screens
stay readable at 100 % and 200 % scaling.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget


@dataclass(frozen=True)
class Colors:
    dark: bool
    window: str
    surface: str  # cards, tables, inputs
    surface_alt: str
    text: str
    muted: str
    border: str
    accent: str
    accent_hover: str
    accent_text: str
    danger: str
    disabled_text: str
    button: str
    input_border: str  # text fields' outline: at least 3:1 against what is around them


LIGHT = Colors(
    dark=False,
    window="#f4f5f7",
    surface="#ffffff",
    surface_alt="#f7f8fa",
    text="#1d2330",
    muted="#5b6474",
    border="#d5d9e0",
    accent="#2457c5",
    accent_hover="#1d4aab",
    accent_text="#ffffff",
    danger="#b42318",
    disabled_text="#9aa1ad",
    button="#ffffff",
    input_border="#808998",
)

DARK = Colors(
    dark=True,
    window="#1c1f24",
    surface="#24282e",
    surface_alt="#2a2f36",
    text="#e7e9ed",
    muted="#a3abb8",
    border="#3a404a",
    accent="#5b8def",
    accent_hover="#7aa3f2",
    accent_text="#0f1420",
    danger="#f97066",
    disabled_text="#6b7280",
    button="#2c3139",
    input_border="#737c8b",
)


def current_colors(
    app: QGuiApplication | None = None, scheme: Qt.ColorScheme | None = None
) -> Colors:
    """The colours for ``scheme``, by default the system's current light/dark scheme."""
    if scheme is None:
        app = app or QGuiApplication.instance()  # type: ignore[assignment]
        scheme = app.styleHints().colorScheme() if app is not None else Qt.ColorScheme.Unknown
    return DARK if scheme == Qt.ColorScheme.Dark else LIGHT


def palette(colors: Colors) -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    group = QPalette.ColorGroup

    def put(r: QPalette.ColorRole, value: str, disabled: str | None = None) -> None:
        p.setColor(r, QColor(value))
        if disabled is not None:
            p.setColor(group.Disabled, r, QColor(disabled))

    put(role.Window, colors.window)
    put(role.WindowText, colors.text, colors.disabled_text)
    put(role.Base, colors.surface)
    put(role.AlternateBase, colors.surface_alt)
    put(role.Text, colors.text, colors.disabled_text)
    put(role.PlaceholderText, colors.muted)
    put(role.Button, colors.button)
    put(role.ButtonText, colors.text, colors.disabled_text)
    put(role.BrightText, colors.danger)
    put(role.ToolTipBase, colors.surface)
    put(role.ToolTipText, colors.text)
    put(role.Highlight, colors.accent)
    put(role.HighlightedText, colors.accent_text)
    put(role.Link, colors.accent)
    put(role.LinkVisited, colors.accent)
    put(role.Accent, colors.accent)
    put(role.Mid, colors.border)
    put(role.Dark, colors.border)
    put(role.Light, colors.surface)
    put(role.Midlight, colors.surface_alt)
    put(role.Shadow, "#000000")
    p.setColor(group.Disabled, role.Highlight, QColor(colors.border))
    return p


def stylesheet(c: Colors) -> str:
    return f"""
QMainWindow, QStackedWidget#pages {{ background: {c.window}; }}
QToolTip {{
    background: {c.surface}; color: {c.text}; border: 1px solid {c.border}; padding: 4px 6px;
}}
QLabel[role="muted"] {{ color: {c.muted}; }}
QLabel[role="error"] {{ color: {c.danger}; }}
QFrame#card {{
    background: {c.surface}; border: 1px solid {c.border}; border-radius: 8px;
}}
QFrame#card QLabel {{ background: transparent; }}
QLineEdit, QPlainTextEdit, QTextEdit {{
    background: {c.surface}; color: {c.text}; border: 1px solid {c.input_border};
    border-radius: 4px; padding: 3px 5px;
}}
QLineEdit:focus, QPlainTextEdit:focus, QTextEdit:focus {{ border: 1px solid {c.accent}; }}
QLineEdit:disabled, QPlainTextEdit:disabled, QTextEdit:disabled {{
    color: {c.disabled_text}; background: {c.surface_alt}; border-color: {c.border};
}}
QLineEdit[readOnly="true"] {{ background: {c.surface_alt}; }}
QAbstractSpinBox QLineEdit, QComboBox QLineEdit {{
    border: none; padding: 0; background: transparent;
}}
QPushButton {{
    background: {c.button}; color: {c.text}; border: 1px solid {c.border};
    border-radius: 6px; padding: 6px 14px; min-height: 20px;
}}
QPushButton:hover {{ border-color: {c.accent}; }}
QPushButton:focus {{ border: 2px solid {c.accent}; padding: 5px 13px; }}
QPushButton:disabled {{ color: {c.disabled_text}; background: {c.surface_alt}; }}
QPushButton[role="primary"] {{
    background: {c.accent}; color: {c.accent_text}; border: 1px solid {c.accent};
}}
QPushButton[role="primary"]:hover {{ background: {c.accent_hover}; }}
QPushButton[role="primary"]:focus {{ border: 2px solid {c.text}; }}
QPushButton[role="primary"]:disabled {{
    background: {c.surface_alt}; color: {c.disabled_text}; border: 1px solid {c.border};
}}
QPushButton[size="big"] {{ padding: 12px 24px; min-height: 28px; }}
QPushButton[size="big"]:focus {{ padding: 11px 23px; }}
QProgressBar {{
    border: 1px solid {c.border}; border-radius: 4px; background: {c.surface_alt};
    text-align: center; min-height: 18px; color: {c.text};
}}
QProgressBar::chunk {{ background: {c.accent}; border-radius: 3px; }}
QTableWidget, QTableView {{
    background: {c.surface}; alternate-background-color: {c.surface_alt};
    border: 1px solid {c.border}; border-radius: 6px; gridline-color: transparent;
}}
QHeaderView::section {{
    background: {c.surface_alt}; color: {c.muted}; border: none;
    border-bottom: 1px solid {c.border}; padding: 6px 10px; font-weight: 600;
}}
QTableView::item {{ padding: 4px 7px; }}
QStatusBar {{ border-top: 1px solid {c.border}; }}
QListWidget#nav {{
    background: {c.surface}; border: none; border-right: 1px solid {c.border};
    padding: 12px 8px; outline: 0;
}}
QListWidget#nav::item {{
    padding: 8px 12px; margin: 1px 0; border-radius: 6px; color: {c.text};
}}
QListWidget#nav::item:hover {{ background: {c.surface_alt}; }}
QListWidget#nav::item:selected {{ background: {c.accent}; color: {c.accent_text}; }}
QListWidget#people {{ border: 1px solid {c.border}; border-radius: 6px; outline: 0; }}
QListWidget#people::item {{ padding: 7px 10px; }}
QListWidget#people::item:selected {{ background: {c.accent}; color: {c.accent_text}; }}
QStatusBar QLabel {{ color: {c.muted}; padding: 0 8px; }}
"""


def apply(app: QApplication, scheme: Qt.ColorScheme | None = None) -> Colors:
    """Fusion + the palette for the system's scheme (or ``scheme``) + the stylesheet."""
    app.setStyle("Fusion")
    colors = current_colors(app, scheme)
    app.setPalette(palette(colors))
    app.setStyleSheet(stylesheet(colors))
    return colors


def follow_system_scheme(app: QApplication) -> None:
    """Re-apply the theme whenever the system switches between light and dark."""
    if app.property("renewalDeskFollowsScheme"):
        return
    app.setProperty("renewalDeskFollowsScheme", True)
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: apply(app))


def scaled_font(widget: QWidget, factor: float, *, bold: bool = False) -> QFont:
    """The widget's font, ``factor`` times as large (so it follows the user's font size)."""
    font = QFont(widget.font())
    size = font.pointSizeF()
    if size > 0:
        font.setPointSizeF(size * factor)
    else:
        font.setPixelSize(max(1, round(font.pixelSize() * factor)))
    if bold:
        font.setWeight(QFont.Weight.DemiBold)
    return font


def set_role(widget: QWidget, role: str) -> None:
    """Tag a widget for the stylesheet (``role="muted"``, ``"primary"``…)."""
    widget.setProperty("role", role)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
