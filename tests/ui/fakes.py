"""A stand-in for ``desktop_app.services.demo.load_demo`` with the same signature, so the
home screen's flow can be tested whatever state the real demo loader is in."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from desktop_app.db.engine import Database
from desktop_app.db.models import Account, PipelineStage, Policy, Renewal, Term
from desktop_app.domain import permissions
from desktop_app.domain.permissions import Action
from desktop_app.errors import PermissionDenied
from desktop_app.services.unit import Actor, read_only


@dataclass(frozen=True)
class FakeSummary:
    policies: int
    accounts: int
    seconds: float
    cancelled: bool = False


class FakeDemo:
    """Writes ``policies`` policies (one account each, a term, a renewal spread over the
    stages) in one transaction, reporting progress; stops without writing when cancelled."""

    def __init__(self, *, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.calls: list[dict[str, object]] = []
        self.thread_idents: list[int] = []

    def __call__(
        self,
        db: Database,
        actor: Actor,
        *,
        policies: int = 5000,
        seed: int = 1,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> FakeSummary:
        self.calls.append({"policies": policies, "seed": seed, "actor": actor.username})
        self.thread_idents.append(threading.get_ident())
        started = time.monotonic()
        with read_only(db, actor) as uow:
            if not permissions.allowed(uow.role, Action.DEMO_LOAD):
                raise PermissionDenied(permissions.refusal(uow.role, Action.DEMO_LOAD))
        if self.gate is not None:
            self.gate.wait(10)
        now = datetime.now(UTC).replace(microsecond=0)
        with db.write_session() as session:
            stages = session.scalars(select(PipelineStage).order_by(PipelineStage.position)).all()
            for i in range(policies):
                if cancelled is not None and cancelled():
                    session.rollback()
                    return FakeSummary(0, 0, time.monotonic() - started, cancelled=True)
                account = Account(name=f"Demo Insured {i + 1}")
                policy = Policy(
                    account=account,
                    policy_number=f"P-{seed}-{i + 1:05d}",
                    carrier="Acme Mutual",
                    line_of_business="HOME",
                )
                term = Term(
                    policy=policy,
                    start_at=now - timedelta(days=300),
                    end_at=now + timedelta(days=65),
                    premium=Decimal("1000.00") + i,
                )
                session.add_all([account, policy, term])
                session.flush()
                stage = stages[i % len(stages)]
                session.add(Renewal(policy_id=policy.id, term_id=term.id, stage_id=stage.id))
                if progress is not None:
                    progress(i + 1, policies)
                if self.delay:
                    time.sleep(self.delay)
            session.commit()
            accounts = session.scalar(select(func.count()).select_from(Account)) or 0
        return FakeSummary(policies, int(accounts), time.monotonic() - started)
