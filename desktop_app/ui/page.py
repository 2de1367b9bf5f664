"""What every main-window page has in common (board, queues, dashboard, admin).

A page is built once with the database executor and the window's QSettings; it learns who
is signed in through :meth:`Page.set_session`; it loads its data the first time it is
shown (:meth:`Page.activate`), always through the executor, never on the GUI thread; it
refreshes itself when the executor broadcasts a change of a kind it shows
(:meth:`Page.on_changed`). It asks the window to open a renewal's detail panel with
:attr:`Page.open_renewal` and to show a sentence in the status bar with :attr:`Page.message`.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QWidget

from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.session import DeskSession

NEW_RENEWAL = "Start a new renewal…"
"""The renewal panel's button that starts a new renewal of the policy shown."""

_RENEW_ADVICE = re.compile(r"(start a (?:new )?renewal of (?:it|the new term)(?: instead)?)\.$")


def point_to_new_renewal(sentence: str) -> str:
    """A refusal that advises starting a new renewal, saying where that is done; any
    other sentence as it is. (The services word their refusals for every door: the
    command line has ``renewal create``, the desktop the renewal panel's button.)"""
    return _RENEW_ADVICE.sub(rf"\1 ({NEW_RENEWAL} in the renewal panel).", sentence)


class Page(QWidget):
    title = "Page"
    """The page's name in the window's navigation."""
    shortcut = ""
    """The key sequence that shows the page (e.g. "Ctrl+1"), set by the window."""

    open_renewal = Signal(int)
    """Ask the window to show this renewal (its id) in the detail panel."""
    message = Signal(str)
    """A sentence for the status bar."""

    def __init__(
        self,
        executor: DatabaseExecutor,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.executor = executor
        self.settings = settings
        self.session: DeskSession | None = None
        self.active = False
        self._stale = True
        executor.changed.connect(self._changed)

    def set_session(self, session: DeskSession) -> None:
        """Someone signed in (or another user did): forget what was shown and reload when
        next shown."""
        self.session = session
        self._stale = True
        if self.active:
            self.reload()

    def activate(self) -> None:
        """The page became the visible one: load it if it never was or is out of date."""
        self.active = True
        if self._stale and self.session is not None:
            self.reload()

    def deactivate(self) -> None:
        self.active = False

    def _changed(self, kinds: object) -> None:
        changed = (
            frozenset(kinds) if isinstance(kinds, set | frozenset | list | tuple) else frozenset()
        )
        if self.session is None or not (changed & self.shows()):
            return
        self.on_changed(changed)

    def shows(self) -> frozenset[str]:
        """The object kinds (table names, as in ``changes=``) whose change matters here."""
        return frozenset({"renewals"})

    def on_changed(self, kinds: frozenset[str]) -> None:
        """Data this page shows changed: reload now if visible, else when next shown."""
        self._stale = True
        if self.active:
            self.reload()

    def reload(self) -> None:
        """Fetch what the page shows through the executor (subclasses)."""
        self._stale = False
