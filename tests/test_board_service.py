"""The pipeline board's read queries (both backends): counts and premium per column, every
filter, text search, keyset pagination without gaps or duplicates, and the card flags —
each checked against the same facts counted by hand, row by row, from the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from desktop_app.db.engine import Database
from desktop_app.db.models import (
    Account,
    AutoRenewal,
    DocumentRequirement,
    PipelineStage,
    Policy,
    Renewal,
    Term,
    User,
)
from desktop_app.domain.enums import AutoRenewalState, DocumentStatus, Role, StageKind
from desktop_app.errors import NotFound, RuleViolation
from desktop_app.services import board
from desktop_app.services.board import BoardFilter
from desktop_app.services.demo import load_demo
from desktop_app.services.unit import Actor

TODAY = date(2026, 3, 15)
POLICIES = 120


@dataclass(frozen=True)
class Fact:
    """One renewal as the board should see it, read row by row."""

    id: int
    stage_key: str
    stage_kind: StageKind
    entered: datetime
    end_at: datetime
    premium: Decimal
    insured: str
    number: str
    line: str
    carrier: str
    office: str | None
    producer: str | None
    csr: str | None
    owner: str | None
    flags: tuple[str, ...]


def facts(db: Database) -> list[Fact]:
    out = []
    with db.read_session() as s:
        names = {u.id: u.username for u in s.scalars(select(User))}
        dnr_policies = set(
            s.scalars(
                select(AutoRenewal.policy_id).where(
                    AutoRenewal.state == AutoRenewalState.DO_NOT_RENEW
                )
            )
        )
        managed = set(s.scalars(select(AutoRenewal.renewal_id)))
        for r in s.scalars(select(Renewal)):
            stage = s.get(PipelineStage, r.stage_id)
            term = s.get(Term, r.term_id)
            policy = s.get(Policy, r.policy_id)
            account = s.get(Account, policy.account_id)
            docs = s.scalars(
                select(DocumentRequirement).where(DocumentRequirement.renewal_id == r.id)
            ).all()
            is_open = stage.kind is StageKind.OPEN
            flags = []
            if r.blocker_reason and r.blocker_reason.strip():
                flags.append(board.BLOCKED)
            outstanding = [
                d
                for d in docs
                if d.required and d.status not in (DocumentStatus.RECEIVED, DocumentStatus.WAIVED)
            ]
            if is_open and outstanding:
                flags.append(board.MISSING_DOCUMENTS)
            if is_open and (not (r.next_action or "").strip() or r.next_action_owner_id is None):
                flags.append(board.NO_NEXT_ACTION)
            if policy.id in dnr_policies:
                flags.append(board.DO_NOT_RENEW)
            if r.id in managed:
                flags.append(board.AUTO_RENEWAL)
            out.append(
                Fact(
                    id=r.id,
                    stage_key=stage.key,
                    stage_kind=stage.kind,
                    entered=r.stage_entered_at,
                    end_at=term.end_at,
                    premium=term.premium if r.new_premium is None else r.new_premium,
                    insured=account.name,
                    number=policy.policy_number,
                    line=policy.line_of_business,
                    carrier=policy.carrier,
                    office=policy.office,
                    producer=names.get(account.producer_id),
                    csr=names.get(account.csr_id),
                    owner=names.get(r.next_action_owner_id),
                    flags=tuple(flags),
                )
            )
    return out


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)  # the demo agency is on UTC


def on_board(fact: Fact, decided_within: int | None = 30) -> bool:
    if fact.stage_kind is StageKind.OPEN or decided_within is None:
        return True
    return fact.entered >= day_start(TODAY - timedelta(days=decided_within))


def everything(db: Database, actor: Actor, flt: BoardFilter) -> dict[str, list[board.BoardCard]]:
    """Every card of every column for ``flt``: the first page, then more_cards to the end."""
    loaded = board.load_board(db, actor, flt, page_size=7, today=TODAY)
    out: dict[str, list[board.BoardCard]] = {}
    for column in loaded.columns:
        cards = list(column.cards)
        assert len(cards) == min(7, column.count)
        more = column.has_more
        while more:
            page = board.more_cards(db, actor, flt, column.key, cards[-1].key, 7, today=TODAY)
            assert page.stage_key == column.key
            assert page.cards, "has_more promised more cards"
            cards.extend(page.cards)
            more = page.has_more
        assert len(cards) == column.count
        out[column.key] = cards
    return out


def check(
    db: Database, actor: Actor, flt: BoardFilter, keep: Callable[[Fact], bool]
) -> dict[str, list[board.BoardCard]]:
    """The board for ``flt`` has exactly the renewals ``keep`` picks, column by column, in
    expiration order, with the right counts and premium totals."""
    all_facts = facts(db)
    expected = [f for f in all_facts if keep(f) and on_board(f, flt.decided_within_days)]
    loaded = board.load_board(db, actor, flt, today=TODAY)
    cards = everything(db, actor, flt)
    for column in loaded.columns:
        mine = sorted(
            (f for f in expected if f.stage_key == column.key), key=lambda f: (f.end_at, f.id)
        )
        assert column.count == len(mine), column.key
        assert column.premium_total == sum((f.premium for f in mine), Decimal("0.00")), column.key
        assert [c.id for c in cards[column.key]] == [f.id for f in mine], column.key
        assert [c.id for c in column.cards] == [f.id for f in mine][: len(column.cards)]
    return cards


@pytest.fixture
def book(db: Database, admin: Actor) -> Actor:
    load_demo(db, admin, policies=POLICIES, seed=3, today=TODAY)
    return admin


def test_columns_follow_the_pipeline_with_counts_and_premium(db: Database, book: Actor) -> None:
    loaded = board.load_board(db, book, today=TODAY)
    with db.read_session() as s:
        keys = list(
            s.scalars(
                select(PipelineStage.key)
                .where(PipelineStage.active.is_(True))
                .order_by(PipelineStage.position)
            )
        )
    assert [c.key for c in loaded.columns] == keys
    assert loaded.columns[0].name == "Upcoming"
    assert {c.kind for c in loaded.columns} == {StageKind.OPEN, StageKind.WON, StageKind.LOST}
    assert loaded.today == TODAY
    assert all(c.count > 0 for c in loaded.columns if c.kind is StageKind.OPEN)
    check(db, book, BoardFilter(), lambda f: True)
    # All decided renewals, not only last month's.
    everything_ever = check(db, book, BoardFilter(decided_within_days=None), lambda f: True)
    assert len(everything_ever["renewed"]) > len(
        board.load_board(db, book, today=TODAY).column("renewed").cards
    )


def test_cards_carry_what_the_board_shows(db: Database, book: Actor) -> None:
    by_id = {f.id: f for f in facts(db)}
    cards = [c for column in everything(db, book, BoardFilter()).values() for c in column]
    assert cards
    with db.read_session() as s:
        full_names = {u.username: u.full_name for u in s.scalars(select(User))}
    for card in cards:
        fact = by_id[card.id]
        assert (card.insured, card.policy_number, card.line_of_business, card.carrier) == (
            fact.insured,
            fact.number,
            fact.line,
            fact.carrier,
        )
        assert card.expiration == fact.end_at and card.expiration.tzinfo is not None
        assert card.expiration_date == fact.end_at.date()
        assert card.days_left == (fact.end_at.date() - TODAY).days
        assert card.premium == fact.premium
        assert card.owner == fact.owner
        if fact.owner:
            assert card.owner_name == full_names[fact.owner]
            first, *_rest, last = full_names[fact.owner].split()
            assert card.owner_initials == (first[0] + last[0]).upper()
        assert card.flags == fact.flags, card.id
    seen = {flag for card in cards for flag in card.flags}
    assert {board.BLOCKED, board.MISSING_DOCUMENTS, board.AUTO_RENEWAL} <= seen


def test_flags_follow_the_data(db: Database, book: Actor) -> None:
    """Blocked, missing documents, no next action, do not renew and auto-renewal, each
    set on a card and then seen on the board."""
    open_cards = everything(db, book, BoardFilter())["gathering"]
    target = next(c for c in open_cards if not c.flags)
    with db.write_session() as s:
        renewal = s.get(Renewal, target.id)
        renewal.blocker_reason = "Waiting on the insured's loss runs"
        renewal.next_action = "  "
        s.add(
            DocumentRequirement(
                renewal_id=renewal.id, document_type="Board test document", required=True
            )
        )
        s.add(
            AutoRenewal(
                policy_id=renewal.policy_id,
                term_id=renewal.term_id,
                state=AutoRenewalState.DO_NOT_RENEW,
                renewal_id=renewal.id,
            )
        )
        s.commit()
    card = next(c for c in everything(db, book, BoardFilter())["gathering"] if c.id == target.id)
    assert card.flags == (
        board.BLOCKED,
        board.MISSING_DOCUMENTS,
        board.NO_NEXT_ACTION,
        board.DO_NOT_RENEW,
        board.AUTO_RENEWAL,
    )
    assert [board.FLAGS[f] for f in card.flags][:2] == ["Blocked", "Missing documents"]
    # Waiving the document and clearing the blocker take those flags off again.
    with db.write_session() as s:
        s.execute(
            update(DocumentRequirement)
            .where(DocumentRequirement.renewal_id == target.id)
            .values(status=DocumentStatus.WAIVED, waive_reason="not needed this year")
        )
        s.execute(update(Renewal).where(Renewal.id == target.id).values(blocker_reason=None))
        s.commit()
    card = next(c for c in everything(db, book, BoardFilter())["gathering"] if c.id == target.id)
    assert card.flags == (board.NO_NEXT_ACTION, board.DO_NOT_RENEW, board.AUTO_RENEWAL)


def test_every_filter(db: Database, book: Actor) -> None:
    all_facts = facts(db)
    sample = next(f for f in all_facts if f.office and f.producer and f.csr and f.owner)
    cases: list[tuple[BoardFilter, Callable[[Fact], bool]]] = [
        (BoardFilter(producer=sample.producer), lambda f: f.producer == sample.producer),
        (BoardFilter(csr=sample.csr), lambda f: f.csr == sample.csr),
        (BoardFilter(line=sample.line), lambda f: f.line == sample.line),
        (BoardFilter(line=sample.line.lower()), lambda f: f.line == sample.line),
        (BoardFilter(carrier=sample.carrier), lambda f: f.carrier == sample.carrier),
        (BoardFilter(office=sample.office), lambda f: f.office == sample.office),
        (
            BoardFilter(expiring_within_days=30),
            lambda f: f.end_at < day_start(TODAY + timedelta(days=31)),
        ),
        (
            BoardFilter(expiring_within_days=0),
            lambda f: f.end_at < day_start(TODAY + timedelta(days=1)),
        ),
        (
            BoardFilter(line=sample.line, office=sample.office, producer=sample.producer),
            lambda f: (
                (f.line, f.office, f.producer) == (sample.line, sample.office, sample.producer)
            ),
        ),
        (
            BoardFilter(carrier=sample.carrier, decided_within_days=None),
            lambda f: f.carrier == sample.carrier,
        ),
    ]
    for flt, keep in cases:
        assert any(keep(f) for f in all_facts), flt
        check(db, book, flt, keep)
    # Nothing matches: empty columns, zero totals.
    empty = board.load_board(db, book, BoardFilter(carrier="No Such Carrier"), today=TODAY)
    assert [c.count for c in empty.columns] == [0] * len(empty.columns)
    assert all(c.premium_total == Decimal("0.00") and not c.cards for c in empty.columns)


def test_my_book(db: Database, book: Actor) -> None:
    """My book: renewals whose next action I own, and those of accounts I produce or serve."""
    all_facts = facts(db)
    me = next(f.csr for f in all_facts if f.csr)
    elsewhere = next(
        f for f in all_facts if me not in (f.csr, f.producer) and f.stage_kind is StageKind.OPEN
    )
    with db.write_session() as s:
        my_id = s.scalar(select(User.id).where(User.username == me))
        s.execute(
            update(Renewal).where(Renewal.id == elsewhere.id).values(next_action_owner_id=my_id)
        )
        s.commit()
    cards = check(
        db,
        Actor(me),
        BoardFilter(my_book=True),
        lambda f: me in (f.owner, f.producer, f.csr),
    )
    assert elsewhere.id in {c.id for c in cards[elsewhere.stage_key]}
    mine = sum(len(c) for c in cards.values())
    assert 0 < mine < len([f for f in facts(db) if on_board(f)])


def test_a_producer_sees_only_their_own_book(db: Database, book: Actor) -> None:
    all_facts = facts(db)
    producer = next(f.producer for f in all_facts if f.producer)
    with db.read_session() as s:
        assert s.scalar(select(User.role).where(User.username == producer)) is Role.PRODUCER
    check(
        db,
        Actor(producer),
        BoardFilter(),
        lambda f: producer in (f.owner, f.producer, f.csr),
    )
    assert board.load_board(db, Actor(producer), today=TODAY).own_book_only
    assert not board.load_board(db, book, today=TODAY).own_book_only


def test_text_search_finds_insured_or_policy_number(db: Database, book: Actor) -> None:
    all_facts = facts(db)
    sample = next(f for f in all_facts if f.stage_kind is StageKind.OPEN)
    word = max(sample.insured.split(), key=len)
    for text in (word, word.lower(), word.upper(), f"  {word}  "):
        check(
            db,
            book,
            BoardFilter(text=text),
            lambda f: (
                word.casefold() in f.insured.casefold() or word.casefold() in f.number.casefold()
            ),
        )
    part = sample.number[2:7]
    cards = check(
        db,
        book,
        BoardFilter(text=part),
        lambda f: part.casefold() in f.insured.casefold() or part.casefold() in f.number.casefold(),
    )
    assert sample.id in {c.id for c in cards[sample.stage_key]}
    # LIKE's wildcards are plain characters in a search.
    for text in ("%", "_", "\\"):
        check(
            db,
            book,
            BoardFilter(text=text),
            lambda f, t=text: t in f.insured or t in f.number,
        )
    # Text and another filter together.
    check(
        db,
        book,
        BoardFilter(text=word, line=sample.line),
        lambda f: (
            (word.casefold() in f.insured.casefold() or word.casefold() in f.number.casefold())
            and f.line == sample.line
        ),
    )


def test_pagination_has_no_gaps_or_duplicates(db: Database, book: Actor) -> None:
    flt = BoardFilter(decided_within_days=None)
    for key, cards in everything(db, book, flt).items():
        ids = [c.id for c in cards]
        assert len(ids) == len(set(ids)), key
        assert [c.key for c in cards] == sorted(c.key for c in cards), key
    # Pages of one card, from the start (after=None) to the end.
    column = board.load_board(db, book, flt, today=TODAY).column("gathering")
    walked: list[int] = []
    after = None
    while True:
        page = board.more_cards(db, book, flt, "gathering", after, 1, today=TODAY)
        walked.extend(c.id for c in page.cards)
        if not page.has_more:
            break
        after = page.cards[-1].key
    assert len(walked) == column.count == len(set(walked))
    # Same expiration moment: ties are broken by id, so no card is skipped.
    with db.write_session() as s:
        ids = walked[:4]
        end = s.get(Term, s.get(Renewal, ids[0]).term_id).end_at
        for rid in ids:
            s.get(Term, s.get(Renewal, rid).term_id).end_at = end
        s.commit()
    tied = []
    after = None
    for _ in range(len(walked) + 1):
        page = board.more_cards(db, book, flt, "gathering", after, 3, today=TODAY)
        tied.extend(c.id for c in page.cards)
        if not page.has_more:
            break
        after = page.cards[-1].key
    assert sorted(tied) == sorted(walked) and len(tied) == len(set(tied))


def test_a_reload_can_keep_a_longer_column(db: Database, book: Actor) -> None:
    loaded = board.load_board(
        db, book, page_size=2, limits={"gathering": 9, "upcoming": 1}, today=TODAY
    )
    assert len(loaded.column("gathering").cards) == min(9, loaded.column("gathering").count)
    assert len(loaded.column("upcoming").cards) == 2  # never fewer than a page
    assert len(loaded.column("marketing").cards) == 2


def test_bad_filters_are_one_sentence(db: Database, book: Actor) -> None:
    with pytest.raises(RuleViolation, match="'Expiring within' must be zero or more days"):
        board.load_board(db, book, BoardFilter(expiring_within_days=-1))
    with pytest.raises(RuleViolation, match="'Decided within'"):
        board.load_board(db, book, BoardFilter(decided_within_days=-5))
    with pytest.raises(NotFound, match="'nobody', who is not a user here"):
        board.load_board(db, book, BoardFilter(producer="nobody"))
    with pytest.raises(NotFound, match="There is no pipeline stage 'nowhere'"):
        board.more_cards(db, book, BoardFilter(), "nowhere")
    with pytest.raises(RuleViolation, match="at least one card"):
        board.load_board(db, book, page_size=0)


def test_filter_choices(db: Database, book: Actor) -> None:
    choices = board.filter_choices(db)
    all_facts = facts(db)
    assert {p.username for p in choices.producers} >= {f.producer for f in all_facts if f.producer}
    assert {p.username for p in choices.csrs} >= {f.csr for f in all_facts if f.csr}
    assert all(p.name for p in choices.producers)
    with db.read_session() as s:
        assert set(choices.carriers) == set(s.scalars(select(Policy.carrier)))
        assert [c for c, _name in choices.lines] == sorted(
            set(s.scalars(select(Policy.line_of_business)))
        )
        assert set(choices.offices) == {o for o in s.scalars(select(Policy.office)) if o}
    assert all(name and name != code for code, name in choices.lines)
    assert choices.stages[0] == "upcoming"


def test_an_empty_book(db: Database, admin: Actor) -> None:
    loaded = board.load_board(db, admin)
    assert loaded.count == 0 and all(not c.cards and not c.has_more for c in loaded.columns)
    assert board.filter_choices(db).carriers == ()


def test_initials() -> None:
    assert board.initials("Casey Reyes") == "CR"
    assert board.initials("Mary Ann de la Cruz") == "MC"
    assert board.initials("Cher") == "CH"
    assert board.initials("", "jdoe") == "JD"
    assert board.initials("Jean-Luc Picard") == "JP"
