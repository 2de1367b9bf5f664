"""Signing in: pick who you are (a shared SQLite file), or log in to the office's
PostgreSQL database with your own database login (the password offered from, and saved
to, the system keyring)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app import APP_NAME
from desktop_app.services.users import UserInfo
from desktop_app.ui import theme
from desktop_app.ui.startup import centered_card

NO_KEYRING = (
    "This computer has no safe password store, so the password is used for this session "
    "only and asked again next time."
)


def role_label(user: UserInfo) -> str:
    return "CSR" if user.role.value == "csr" else user.role.value.capitalize()


class SignInPage(QWidget):
    """Two forms on one card: the list of people (SQLite) and a database login (PostgreSQL)."""

    user_chosen = Signal(str)
    """The username picked from the list."""
    login_submitted = Signal(str, str, bool)
    """Database login, password, and whether to remember the password in the keyring."""
    quit_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signInPage")
        layout = centered_card(self, max_width=560)

        self.title = QLabel(f"Sign in to {APP_NAME}")
        self.title.setFont(theme.scaled_font(self.title, 1.5, bold=True))
        self.where = QLabel("")
        self.where.setWordWrap(True)
        theme.set_role(self.where, "muted")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Sign-in message")
        theme.set_role(self.message, "error")
        self.message.setVisible(False)
        self.forms = QStackedWidget()
        self.forms.addWidget(self._people_form())
        self.forms.addWidget(self._login_form())

        layout.addWidget(self.title)
        layout.addWidget(self.where)
        layout.addWidget(self.message)
        layout.addWidget(self.forms)

    # --- the list of people --------------------------------------------------------

    def _people_form(self) -> QWidget:
        form = QWidget()
        layout = QVBoxLayout(form)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        prompt = QLabel("Who is working at this desk?")
        self.people = QListWidget()
        self.people.setObjectName("people")
        self.people.setAccessibleName("People")
        self.people.setMinimumHeight(200)
        self.people.itemActivated.connect(lambda _item: self._choose())
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setAccessibleName("Sign in")
        self.sign_in_button.setToolTip("Sign in as the selected person (Enter)")
        theme.set_role(self.sign_in_button, "primary")
        self.sign_in_button.setDefault(True)
        self.sign_in_button.clicked.connect(self._choose)
        quit_button = QPushButton("Quit")
        quit_button.clicked.connect(self.quit_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(quit_button)
        buttons.addWidget(self.sign_in_button)
        layout.addWidget(prompt)
        layout.addWidget(self.people, 1)
        layout.addLayout(buttons)
        for key in ("Return", "Enter"):
            shortcut = QShortcut(QKeySequence(key), self.people)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(self._choose)
        return form

    def show_people(
        self, people: Sequence[UserInfo], last_user: str | None, where: str, message: str = ""
    ) -> None:
        """List the active people; the one who signed in last here is selected."""
        self.title.setText(f"Sign in to {APP_NAME}")
        self.where.setText(where)
        self._say(message)
        self.people.clear()
        selected = 0
        for row, person in enumerate(people):
            name = person.full_name or person.username
            item = QListWidgetItem(f"{name}  ·  {role_label(person)}")
            item.setData(Qt.ItemDataRole.UserRole, person.username)
            item.setToolTip(f"Username: {person.username}")
            self.people.addItem(item)
            if person.username == last_user:
                selected = row
        if self.people.count():
            self.people.setCurrentRow(selected)
        self.sign_in_button.setEnabled(self.people.count() > 0)
        self.forms.setCurrentIndex(0)
        self.people.setFocus()

    def _choose(self) -> None:
        item = self.people.currentItem()
        if item is None or not self.sign_in_button.isEnabled():
            return
        self.sign_in_button.setEnabled(False)
        self.user_chosen.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    # --- a database login ----------------------------------------------------------

    def _login_form(self) -> QWidget:
        form = QWidget()
        layout = QVBoxLayout(form)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        fields = QFormLayout()
        fields.setSpacing(8)
        self.login = QLineEdit()
        self.login.setAccessibleName("Database login")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("Password")
        self.remember = QCheckBox("Remember the password on this computer")
        self.remember.setAccessibleName("Remember the password")
        self.remember.setChecked(True)
        fields.addRow("Login", self.login)
        fields.addRow("Password", self.password)
        fields.addRow("", self.remember)
        self.connect_button = QPushButton("Connect")
        self.connect_button.setAccessibleName("Connect")
        theme.set_role(self.connect_button, "primary")
        self.connect_button.setDefault(True)
        self.connect_button.clicked.connect(self._submit)
        self.password.returnPressed.connect(self._submit)
        self.login.returnPressed.connect(self.password.setFocus)
        quit_button = QPushButton("Quit")
        quit_button.clicked.connect(self.quit_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(quit_button)
        buttons.addWidget(self.connect_button)
        layout.addLayout(fields)
        layout.addLayout(buttons)
        return form

    def show_login(self, login: str, where: str, message: str = "", *, keyring_ok: bool) -> None:
        """Ask for the database password (and let the person use their own login)."""
        self.title.setText("Connect to the office database")
        self.where.setText(where)
        self._say(message)
        self.login.setText(login)
        self.password.clear()
        self.remember.setEnabled(keyring_ok)
        self.remember.setChecked(keyring_ok)
        self.remember.setToolTip(
            "The password goes to the system keyring, never to a file."
            if keyring_ok
            else NO_KEYRING
        )
        self.connect_button.setEnabled(True)
        self.forms.setCurrentIndex(1)
        (self.password if login else self.login).setFocus()

    def _submit(self) -> None:
        login = self.login.text().strip()
        if not login:
            self._say("Type your database login.")
            self.login.setFocus()
            return
        if not self.password.text():
            self._say("Type the password of your database login.")
            self.password.setFocus()
            return
        self.connect_button.setEnabled(False)
        self.login_submitted.emit(login, self.password.text(), self.remember.isChecked())

    def _say(self, message: str) -> None:
        self.message.setText(message)
        self.message.setVisible(bool(message))

    @property
    def showing(self) -> str:
        return "people" if self.forms.currentIndex() == 0 else "login"
