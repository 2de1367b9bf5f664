"""The pipeline board, driven as a CSR would (offscreen, both backends): filter it, type a
search, drag a card (allowed, refused, to a lost stage with its reason), move and open
from the keyboard, scroll a long column, and what a role that may not move sees. Every
column model goes through the model tester."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from desktop_app.db.engine import Database
from desktop_app.db.models import Renewal
from desktop_app.domain import permissions
from desktop_app.domain.enums import AuditSource, Role, StageKind, TransactionState
from desktop_app.domain.permissions import Action, Scope
from desktop_app.services import board as board_service
from desktop_app.services import renewals, transactions, users
from desktop_app.services.board import BoardCard, BoardFilter
from desktop_app.services.demo import load_demo
from desktop_app.services.unit import Actor
from desktop_app.ui import board as board_ui
from desktop_app.ui.board import BoardPage, ColumnModel
from desktop_app.ui.executor import DatabaseExecutor
from desktop_app.ui.session import DeskSession

WAIT = 20_000
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
POLICIES = 80

OpenBoard = Callable[..., BoardPage]


@pytest.fixture
def book(db: Database, admin: Actor) -> Database:
    load_demo(db, admin, policies=POLICIES, seed=5)
    return db


@pytest.fixture
def open_board(qtbot: QtBot, book: Database, executor: DatabaseExecutor) -> Iterator[OpenBoard]:
    pages: list[BoardPage] = []

    def make(
        username: str = "admin",
        settings: QSettings | None = None,
        page_size: int | None = None,
    ) -> BoardPage:
        page = BoardPage(executor, settings)
        if page_size is not None:
            page.first_page = page.page_size = page_size
        qtbot.addWidget(page)
        page.resize(1280, 800)
        page.show()
        qtbot.waitExposed(page)
        page.activateWindow()
        session = DeskSession(book, Actor(username, AuditSource.UI), users.get_user(book, username))
        with qtbot.waitSignal(page.loaded, timeout=WAIT):
            page.set_session(session)
            page.activate()
        qtbot.waitUntil(lambda: page.choices is not None, timeout=WAIT)
        pages.append(page)
        return page

    yield make
    for page in pages:
        if page.reason_dialog is not None:
            page.reason_dialog.reject()


def cards(page: BoardPage, key: str) -> list[BoardCard]:
    return list(page.models[key].cards)


def all_cards(page: BoardPage) -> list[BoardCard]:
    return [c for key in page.models for c in cards(page, key)]


def stage_of(db: Database, renewal_id: int) -> str:
    return renewals.get_renewal(db, Actor("admin"), renewal_id).stage_key


def drop(page: BoardPage, card: BoardCard, to_key: str) -> None:
    """Drag ``card`` from its column and drop it on ``to_key``'s column: the drag carries
    what the source model puts in it; the target view gets enter, move and drop events."""
    source = page.models[card.stage_key]
    mime = source.mimeData([source.index(source.row_of(card.id))])
    view = page.columns[to_key].view
    viewport = view.viewport()
    page.scroll.ensureWidgetVisible(page.columns[to_key])
    point = QPoint(viewport.width() // 2, 12)
    action = Qt.DropAction.MoveAction
    button, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(viewport, QDragEnterEvent(point, action, mime, button, none))
    QApplication.sendEvent(viewport, QDragMoveEvent(point, action, mime, button, none))
    QApplication.sendEvent(viewport, QDropEvent(QPointF(point), action, mime, button, none))


def settle(qtbot: QtBot, model: ColumnModel) -> None:
    """Wait until the column stops fetching (the view asks again while it is not full)."""
    seen = -1
    while seen != model.rowCount() or model.fetching:
        seen = model.rowCount()
        qtbot.wait(250)
        qtbot.waitUntil(lambda: not model.fetching, timeout=WAIT)


def movable(page: BoardPage, key: str = "upcoming") -> BoardCard:
    return next(c for c in cards(page, key) if board_service.NO_NEXT_ACTION not in c.flags)


def test_the_board_shows_every_stage_with_counts(
    qtbot: QtBot, open_board: OpenBoard, book: Database, qtmodeltester: object
) -> None:
    page = open_board()
    loaded = board_service.load_board(book, Actor("admin"), page_size=page.first_page)
    assert BoardPage.title == "Board"
    assert list(page.models) == [c.key for c in loaded.columns]
    for column in loaded.columns:
        model = page.models[column.key]
        widget = page.columns[column.key]
        assert (model.count, model.premium_total) == (column.count, column.premium_total)
        assert [c.id for c in model.cards] == [c.id for c in column.cards]
        assert widget.title.text() == column.name
        assert widget.stats.text().startswith(f"{column.count:,} renewal")
        assert widget.view.accessibleName() == f"{column.name} column"
        assert widget.isVisibleTo(page)
        qtmodeltester.check(model)  # type: ignore[attr-defined]
    assert sum(m.count for m in page.models.values()) > 0
    # Cards say what they are, for the tooltip and screen readers.
    model = page.models["upcoming"]
    first = model.cards[0]
    assert first.insured in model.data(model.index(0), Qt.ItemDataRole.AccessibleTextRole)
    assert first.policy_number in model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    for name in (
        "Search insured or policy number",
        "My book",
        "Producer filter",
        "CSR filter",
        "Line of business filter",
        "Carrier filter",
        "Office filter",
        "Expiring within days",
        "Decided within",
        "Clear filters",
    ):
        assert [
            w
            for w in page.findChildren(object)
            if getattr(w, "accessibleName", None) and w.accessibleName() == name
        ], name
    page.grab()  # paints every visible card without a warning


def test_typing_a_search_filters_as_you_type(qtbot: QtBot, open_board: OpenBoard) -> None:
    page = open_board()
    before = sum(m.count for m in page.models.values())
    target = movable(page, "gathering")
    word = max(target.insured.split(), key=len)
    loads: list[int] = []
    page.loaded.connect(lambda: loads.append(1))
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        qtbot.keyClicks(page.search, word.lower())
    qtbot.wait(300)
    assert len(loads) == 1, "a burst of keystrokes is one query"
    shown = all_cards(page)
    assert target.id in {c.id for c in shown}
    assert all(
        word.casefold() in c.insured.casefold() or word.casefold() in c.policy_number.casefold()
        for c in shown
    )
    assert sum(m.count for m in page.models.values()) < before
    assert page.clear_button.isEnabled()
    # A search that finds nothing says so in every column.
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.search.setText("no insured is called this")
    assert all_cards(page) == []
    assert page.columns["upcoming"].view.placeholder == "No renewals match the filters"
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        qtbot.mouseClick(page.clear_button, Qt.MouseButton.LeftButton)
    assert page.search.text() == ""
    assert sum(m.count for m in page.models.values()) == before


def test_what_is_typed_survives_a_refresh_of_the_filter_boxes(
    qtbot: QtBot, open_board: OpenBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(board_ui, "SEARCH_DELAY_MS", 4_000)  # a slow typist
    page = open_board()
    word = max(movable(page, "gathering").insured.split(), key=len)
    qtbot.keyClicks(page.search, word[:3])
    page.on_changed(frozenset({"policies"}))  # the boxes reload while the person types
    qtbot.keyClicks(page.search, word[3:])
    qtbot.waitUntil(lambda: page.choices is not None, timeout=WAIT)
    assert page.filter.text == "" and page.search.text() == word  # not applied, not lost
    qtbot.waitUntil(lambda: page.filter.text == word, timeout=WAIT)
    qtbot.waitUntil(lambda: not page.executor.busy, timeout=WAIT)
    assert page.search.text() == word
    assert page.filter.text == word
    assert all(
        word.casefold() in c.insured.casefold() or word.casefold() in c.policy_number.casefold()
        for c in all_cards(page)
    )


def test_a_newer_filter_supersedes_an_older_one(qtbot: QtBot, open_board: OpenBoard) -> None:
    page = open_board()
    target = movable(page, "marketing")
    loads: list[int] = []
    page.loaded.connect(lambda: loads.append(1))
    page.search.setText("zzzz nothing")
    page.apply_filters()  # at once, no debounce
    page.search.setText(target.policy_number)
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.apply_filters()
    qtbot.wait(300)
    assert len(loads) == 1, "the older answer was dropped"
    assert [c.id for c in all_cards(page)] == [target.id]


def test_filters_narrow_the_board_and_are_remembered(
    qtbot: QtBot, open_board: OpenBoard, tmp_path: Path
) -> None:
    settings = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    page = open_board(settings=settings)
    choices = page.choices
    assert choices is not None and choices.lines and choices.carriers and choices.producers
    line = page.models["gathering"].cards[0].line_of_business
    box = page.line_box
    assert box.itemText(0) == "All lines" and box.findData(line) > 0
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        box.setCurrentIndex(box.findData(line))
    assert all_cards(page) and {c.line_of_business for c in all_cards(page)} == {line}
    producer = choices.producers[0]
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.producer_box.setCurrentIndex(page.producer_box.findData(producer.username))
    expected = board_service.load_board(
        page.session.db, Actor("admin"), BoardFilter(line=line, producer=producer.username)
    )
    assert [c.id for c in all_cards(page)] == [c.id for col in expected.columns for c in col.cards]
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.expiring.setValue(45)
    assert all(c.days_left <= 45 for c in all_cards(page))
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.decided_box.setCurrentIndex(page.decided_box.count() - 1)  # any time
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.my_book.setChecked(True)
    assert page.filter == BoardFilter(
        my_book=True,
        producer=producer.username,
        line=line,
        expiring_within_days=45,
        decided_within_days=None,
    )
    settings.sync()
    # The next run starts with the same filters, in the controls and on the board.
    again = open_board(settings=QSettings(settings.fileName(), QSettings.Format.IniFormat))
    assert again.filter == page.filter
    assert again.line_box.currentData() == line
    assert again.producer_box.currentData() == producer.username
    assert again.my_book.isChecked() and again.expiring.value() == 45
    assert again.decided_box.currentText() == "Decided: any time"
    assert [c.id for c in all_cards(again)] == [c.id for c in all_cards(page)]


def test_dragging_a_card_moves_it(qtbot: QtBot, open_board: OpenBoard, book: Database) -> None:
    page = open_board()
    card = movable(page, "upcoming")
    count = page.models["gathering"].count
    with qtbot.waitSignal(page.card_moved, timeout=WAIT) as moved:
        drop(page, card, "gathering")
    assert moved.args == [card.id, "gathering"]
    assert card.id not in {c.id for c in cards(page, "upcoming")}
    assert card.id in {c.id for c in cards(page, "gathering")}
    assert page.models["gathering"].count == count + 1
    assert stage_of(book, card.id) == "gathering"
    assert page.banner_text == ""
    # The change is broadcast; the reload agrees with what the move showed.
    qtbot.waitSignal(page.loaded, timeout=WAIT).wait()
    assert card.id in {c.id for c in cards(page, "gathering")}
    assert page.models["gathering"].count == count + 1
    assert page.columns["gathering"].stats.text().startswith(f"{count + 1:,} renewals")


def test_a_refused_drop_snaps_back_with_the_reason(
    qtbot: QtBot, open_board: OpenBoard, book: Database
) -> None:
    page = open_board()
    card = next(c for c in cards(page, "upcoming") if c.premium is not None)
    with book.read_session() as s:
        assert s.scalar(select(Renewal.new_premium).where(Renewal.id == card.id)) is None
    with qtbot.waitSignal(
        page.message, timeout=WAIT, check_params_cb=lambda text: text.startswith("Cannot")
    ) as said:
        drop(page, card, "proposal")
    reason = said.args[0]
    assert reason.startswith("Cannot move to Proposal sent: it needs")
    assert "the new premium" in reason
    assert page.banner.isVisible() and page.banner_text == reason
    assert card.id in {c.id for c in cards(page, "upcoming")}
    assert card.id not in {c.id for c in cards(page, "proposal")}
    assert stage_of(book, card.id) == "upcoming"
    # Dropping on its own column does nothing at all.
    source = page.models["upcoming"]
    mime = source.mimeData([source.index(source.row_of(card.id))])
    assert not source.canDropMimeData(mime, Qt.DropAction.MoveAction, -1, -1, QModelIndex())
    assert not source.dropMimeData(mime, Qt.DropAction.MoveAction, -1, -1, QModelIndex())
    qtbot.keyClick(page.columns["upcoming"].view, Qt.Key.Key_Escape)
    assert page.banner_text == ""


def test_keyboard_moves_and_opens(qtbot: QtBot, open_board: OpenBoard, book: Database) -> None:
    page = open_board()
    card = movable(page, "upcoming")
    assert page.select_card(card.id)
    view = page.columns["upcoming"].view
    assert page.selected_card() == card
    with qtbot.waitSignal(page.card_moved, timeout=WAIT):
        qtbot.keyClick(view, Qt.Key.Key_Right, CTRL_SHIFT)
    assert stage_of(book, card.id) == "gathering"
    selected = page.selected_card()
    assert selected is not None and selected.id == card.id  # the selection followed it
    assert page.columns["gathering"].view.hasFocus()
    qtbot.waitSignal(page.loaded, timeout=WAIT).wait()
    with qtbot.waitSignal(page.card_moved, timeout=WAIT):
        qtbot.keyClick(page.columns["gathering"].view, Qt.Key.Key_Left, CTRL_SHIFT)
    assert stage_of(book, card.id) == "upcoming"
    # Enter and double-click open the renewal.
    view = page.columns["upcoming"].view
    row = page.models["upcoming"].row_of(card.id)
    with qtbot.waitSignal(page.open_renewal, timeout=WAIT) as opened:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert opened.args == [card.id]
    index = page.models["upcoming"].index(row)
    view.scrollTo(index)
    where = view.visualRect(index).center()
    with qtbot.waitSignal(page.open_renewal, timeout=WAIT) as opened:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
        qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert opened.args == [card.id]
    # Left and Right walk between columns.
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert page.columns["gathering"].view.hasFocus()
    assert "Ctrl+Shift+Right" in page.move_next_action.toolTip()


def test_moving_to_a_lost_stage_asks_why(
    qtbot: QtBot, open_board: OpenBoard, book: Database
) -> None:
    page = open_board()
    card = movable(page, "marketing")
    drop(page, card, "lost")
    qtbot.waitUntil(lambda: page.reason_dialog is not None and page.reason_dialog.isVisible())
    page.reason_dialog.reject()  # changed one's mind: nothing happens
    qtbot.wait(100)
    assert card.id in {c.id for c in cards(page, "marketing")}
    assert stage_of(book, card.id) == "marketing"
    drop(page, card, "lost")
    qtbot.waitUntil(lambda: page.reason_dialog is not None and page.reason_dialog.isVisible())
    dialog = page.reason_dialog
    assert "Why is" in dialog.labelText()
    dialog.setTextValue("Moved to a direct writer")
    with qtbot.waitSignal(page.card_moved, timeout=WAIT):
        dialog.accept()
    assert card.id in {c.id for c in cards(page, "lost")}
    with book.read_session() as s:
        renewal = s.get(Renewal, card.id)
        assert renewal.outcome_reason == "Moved to a direct writer"
        assert renewal.outcome is not None and renewal.outcome.value == "lost"
    # Without a reason the service refuses, and the card stays where it was.
    other = movable(page, "marketing")
    drop(page, other, "non_renewed")
    qtbot.waitUntil(lambda: page.reason_dialog is not None and page.reason_dialog.isVisible())
    with qtbot.waitSignal(page.message, timeout=WAIT) as said:
        page.reason_dialog.accept()
    assert said.args[0] == "Cannot move to Non-renewed: it needs a reason for the outcome."
    assert page.banner_text == said.args[0]
    assert other.id in {c.id for c in cards(page, "marketing")}


def test_a_long_column_loads_more_as_it_scrolls(
    qtbot: QtBot, open_board: OpenBoard, qtmodeltester: object
) -> None:
    page = open_board(page_size=3)
    key = max(page.models, key=lambda k: page.models[k].count)
    model = page.models[key]
    view = page.columns[key].view
    assert model.count >= 10
    # Three cards do not fill the column: the view asks for more until they do.
    qtbot.waitUntil(lambda: model.rowCount() > 3, timeout=WAIT)
    settle(qtbot, model)
    filled = model.rowCount()
    assert filled % 3 == 0 or filled == model.count
    assert view.verticalScrollBar().maximum() > 0 or filled == model.count
    # Scrolling to the bottom asks for the next page, until the column is complete.
    for _ in range(model.count):
        if not model.has_more:
            break
        before = model.rowCount()
        view.scrollToBottom()
        qtbot.waitUntil(lambda b=before: model.rowCount() > b, timeout=WAIT)
        settle(qtbot, model)
    assert model.rowCount() == model.count and not model.canFetchMore(QModelIndex())
    ids = [c.id for c in model.cards]
    assert len(ids) == len(set(ids))
    assert [c.key for c in model.cards] == sorted(c.key for c in model.cards)
    everything = board_service.load_board(
        page.session.db, Actor("admin"), page.filter, page_size=1000
    ).column(key)
    assert ids == [c.id for c in everything.cards]
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    # A reload keeps what was loaded (and so the scroll position).
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.reload()
    assert model.rowCount() == model.count
    # An answer for an older load of the column is dropped.
    stale = board_service.MoreCards(key, tuple(everything.cards[-2:]), False)
    assert model.append(stale, model.generation - 1) == 0


def test_a_csr_may_not_decide_outcomes(
    qtbot: QtBot, open_board: OpenBoard, book: Database, admin: Actor
) -> None:
    users.add_user(book, admin, "casey", Role.CSR, full_name="Casey Reyes")
    page = open_board("casey")
    refusal = "A CSR may not set a renewal's outcome."
    for key, model in page.models.items():
        view = page.columns[key].view
        if model.kind is StageKind.OPEN:
            assert model.drop_allowed and view.dragEnabled(), key
        else:
            assert not model.drop_allowed and not view.dragEnabled(), key
            assert view.toolTip() == refusal
            if model.rowCount():
                assert not model.flags(model.index(0)) & Qt.ItemFlag.ItemIsDragEnabled
    card = movable(page, "marketing")
    source = page.models["marketing"]
    mime = source.mimeData([source.index(source.row_of(card.id))])
    assert not page.models["lost"].canDropMimeData(
        mime, Qt.DropAction.MoveAction, -1, -1, QModelIndex()
    )
    # From the keyboard: Bound → Renewed is refused with the reason, no question asked.
    bound = page.models["bound"]
    if bound.rowCount():
        page.select_card(bound.cards[0].id)
        qtbot.keyClick(page.columns["bound"].view, Qt.Key.Key_Right, CTRL_SHIFT)
        assert page.banner_text == refusal
        assert page.reason_dialog is None
        qtbot.mouseClick(page.banner_close, Qt.MouseButton.LeftButton)
        assert page.banner_text == ""
    # Open stages still move.
    with qtbot.waitSignal(page.card_moved, timeout=WAIT):
        drop(page, card, "gathering")


def test_a_role_that_may_not_move_cannot_drag(
    qtbot: QtBot,
    open_board: OpenBoard,
    book: Database,
    admin: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(permissions.MATRIX[Action.RENEWAL_MOVE], Role.MANAGER, Scope.NONE)
    users.add_user(book, admin, "morgan", Role.MANAGER, full_name="Morgan Lee")
    page = open_board("morgan")
    refusal = "A manager may not move renewals between stages."
    for key, model in page.models.items():
        view = page.columns[key].view
        assert not view.dragEnabled() and view.toolTip() == refusal, key
        assert not model.drop_allowed
        if model.rowCount():
            assert not model.flags(model.index(0)) & Qt.ItemFlag.ItemIsDragEnabled
            assert refusal in model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    card = movable(page, "upcoming")
    page.select_card(card.id)
    qtbot.keyClick(page.columns["upcoming"].view, Qt.Key.Key_Right, CTRL_SHIFT)
    assert page.banner_text == refusal
    assert stage_of(book, card.id) == "upcoming"


def test_a_change_elsewhere_refreshes_and_keeps_the_selection(
    qtbot: QtBot, open_board: OpenBoard, book: Database, executor: DatabaseExecutor
) -> None:
    page = open_board()
    card = movable(page, "gathering")
    page.select_card(card.id)
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        executor.submit(
            renewals.update_renewal,
            book,
            Actor("admin"),
            card.id,
            blocker_reason="Waiting on the underwriter",
            changes={"renewals"},
        )
    fresh = page.models["gathering"].card(card.id)
    assert fresh is not None and board_service.BLOCKED in fresh.flags
    assert fresh.version == card.version + 1
    selected = page.selected_card()
    assert selected is not None and selected.id == card.id
    # Its new version is what the next move sends: no "changed by someone else".
    with qtbot.waitSignal(page.card_moved, timeout=WAIT):
        drop(page, fresh, "upcoming")


def test_a_stale_card_is_refused_and_reloaded(
    qtbot: QtBot, open_board: OpenBoard, book: Database
) -> None:
    page = open_board()
    card = movable(page, "gathering")
    renewals.update_renewal(book, Actor("admin"), card.id, notes="edited elsewhere")
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        drop(page, card, "upcoming")
    assert "after you opened it" in page.banner_text
    assert stage_of(book, card.id) == "gathering"
    assert page.models["gathering"].card(card.id).version == card.version + 1


def test_column_model_alone(qtmodeltester: object) -> None:
    """The model without a page: a reset, an append with duplicates, a move in and out."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    model = ColumnModel("gathering", "Gathering info", StageKind.OPEN)
    asked: list[tuple[str, object]] = []
    model.fetch_requested.connect(lambda key, after: asked.append((key, after)))

    def card(n: int) -> BoardCard:
        end = datetime(2027, 1, 1, tzinfo=UTC) + timedelta(days=n)
        return BoardCard(
            n, 1, "gathering", f"Insured {n}", f"P-{n}", "HOME", "Safeco", None,
            end, end.date(), n, None, None, "", Decimal("100.00"), None, None, (),
        )  # fmt: skip

    column = board_service.BoardColumn(
        "gathering", "Gathering info", StageKind.OPEN, 6, Decimal("600.00"),
        tuple(card(n) for n in (1, 2, 3)), True,
    )  # fmt: skip
    model.set_column(column, 1)
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert not model.canFetchMore(QModelIndex())  # one request at a time
    model.fetchMore(QModelIndex())
    assert asked == [("gathering", card(3).key)]
    added = model.append(board_service.MoreCards("gathering", (card(3), card(4)), True), 1)
    assert added == 1 and [c.id for c in model.cards] == [1, 2, 3, 4]
    assert model.put(card(0)) == 0 and model.count == 7
    assert model.put(card(9)) == -1  # beyond the loaded cards: it comes with a later page
    assert model.take(2) is not None and [c.id for c in model.cards] == [0, 1, 3, 4]
    assert model.premium_total == Decimal("700.00")
    qtmodeltester.check(model)  # type: ignore[attr-defined]


def test_a_lost_card_dropped_on_an_open_stage_says_where_to_start_anew(
    qtbot: QtBot, open_board: OpenBoard, book: Database, admin: Actor
) -> None:
    page = open_board()
    card = movable(page, "upcoming")
    transactions.end_renewal(book, admin, card.id, TransactionState.REFUSED, reason="Moved away")
    with qtbot.waitSignal(page.loaded, timeout=WAIT):
        page.reload()
    card = next(c for c in all_cards(page) if c.id == card.id)
    assert card.stage_key == "lost"
    with qtbot.waitSignal(
        page.message, timeout=WAIT, check_params_cb=lambda text: "final" in text
    ) as said:
        drop(page, card, "gathering")
    reason = said.args[0]
    assert reason.startswith(f"Renewal {card.policy_number} is in Lost")
    assert reason.endswith("start a new renewal of it (Start a new renewal… in the renewal panel).")
    assert page.banner_text == reason
    assert stage_of(book, card.id) == "lost"
