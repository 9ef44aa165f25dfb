"""seed_demo on both databases: sessions with the reserve, referrals in many states, once."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.referral.conftest import World, make_person
from yilian.referral.demo import seed_demo
from yilian.referral.models import ExamOrder, Referral, Schedule, Slot
from yilian.referral.rules import SlotKind


def test_seed_demo_publishes_sessions_and_referrals_once(session: Session, world: World) -> None:
    for family in ("李", "刘", "陈", "杨", "黄", "赵"):
        make_person(session, world.centre, family=family)
    make_person(session, world.hospital, family="吴")
    started = time.monotonic()
    summary = seed_demo(session)
    session.commit()
    assert time.monotonic() - started < 20
    assert summary.startswith("referral:") and "同仁医院" in summary
    kinds = dict(session.execute(select(Schedule.kind, func.count()).group_by(Schedule.kind)).all())
    assert kinds[SlotKind.expert] >= 5 * 12 and kinds[SlotKind.exam] >= 4 * 12
    held = session.scalar(select(func.count()).where(Slot.reserved, Slot.kind == SlotKind.expert))
    total = session.scalar(select(func.count()).where(Slot.kind == SlotKind.expert))
    assert held and total and 0.2 <= held / total <= 0.21
    states = {r.status.value for r in session.scalars(select(Referral))}
    assert {"completed", "declined", "cancelled"} <= states
    assert (session.scalar(select(func.count()).select_from(Referral)) or 0) >= 7
    assert (session.scalar(select(func.count()).select_from(ExamOrder)) or 0) >= 1
    before = session.scalar(select(func.count()).select_from(Slot))
    assert seed_demo(session) == "referral: already seeded"
    assert session.scalar(select(func.count()).select_from(Slot)) == before
