"""The page shown while the database opens, and when it cannot be opened."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app import APP_NAME
from desktop_app.ui import theme

OPENING = "Opening database…"


def centered_card(page: QWidget, *, max_width: int = 620) -> QVBoxLayout:
    """Put one card in the middle of ``page`` (a little above centre); returns the card's
    layout for the page to fill."""
    outer = QVBoxLayout(page)
    outer.setContentsMargins(32, 32, 32, 32)
    outer.addStretch(2)
    card = QFrame()
    card.setObjectName("card")
    card.setMinimumWidth(420)
    card.setMaximumWidth(max_width)
    layout = QVBoxLayout(card)
    layout.setContentsMargins(28, 24, 28, 24)
    layout.setSpacing(12)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(card, 3)
    row.addStretch(1)
    outer.addLayout(row)
    outer.addStretch(3)
    return layout


class StartupPage(QWidget):
    """Shows "Opening database…" with a busy bar, or one plain sentence with Retry and Quit."""

    retry_requested = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startupPage")
        layout = centered_card(self)

        self.title = QLabel(APP_NAME)
        self.title.setFont(theme.scaled_font(self.title, 1.6, bold=True))
        self.status = QLabel(OPENING)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(8)
        self.busy.setAccessibleName("Opening the database")

        buttons = QHBoxLayout()
        buttons.setSpacing(10)
        buttons.addStretch(1)
        self.quit_button = QPushButton("Quit")
        self.quit_button.setAccessibleName("Quit")
        self.retry_button = QPushButton("Retry")
        self.retry_button.setAccessibleName("Retry opening the database")
        self.retry_button.setProperty("role", "primary")
        self.retry_button.setDefault(True)
        buttons.addWidget(self.quit_button)
        buttons.addWidget(self.retry_button)
        self.buttons = QWidget()
        self.buttons.setLayout(buttons)
        buttons.setContentsMargins(0, 6, 0, 0)

        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)

        self.retry_button.clicked.connect(self.retry_requested)
        self.quit_button.clicked.connect(self.quit_requested)
        self.show_busy(OPENING)

    @property
    def failed(self) -> bool:
        return self.buttons.isVisibleTo(self)

    def show_busy(self, text: str = OPENING) -> None:
        self.status.setText(text)
        theme.set_role(self.status, "")
        self.busy.setVisible(True)
        self.buttons.setVisible(False)

    def show_error(self, message: str) -> None:
        self.status.setText(message)
        theme.set_role(self.status, "error")
        self.busy.setVisible(False)
        self.buttons.setVisible(True)
        self.retry_button.setFocus()
