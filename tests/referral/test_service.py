"""The referral workflow on both databases: states, who may act, access, expiry, metrics."""

from __future__ import annotations

import sys
import threading
import types
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.referral.conftest import World, expert_session, make_person, principal
from yilian.db import make_sessionmaker, utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.referral import service
from yilian.referral.models import Referral, ReferralEvent, Slot
from yilian.referral.rules import Direction, SlotStatus, Status
from yilian.security import access
from yilian.security.models import CareRelationship
from yilian.security.principal import Principal, Role


def _up(session: Session, world: World, **kw: object) -> Referral:
    args: dict[str, object] = {
        "person_id": world.person_id,
        "direction": "up",
        "to_organization_id": world.hospital.id,
        "reason": "血压控制不佳，两次随访未达标",
        "department": "心内科",
        "summary": "高血压 3 年，氨氯地平 5mg qd",
    }
    args.update(kw)
    ref = service.request_referral(session, world.doctor, **args)  # type: ignore[arg-type]
    session.commit()
    return ref


def _held_slot(session: Session, world: World) -> Slot:
    schedule = expert_session(session, world)
    return next(
        s
        for s in session.scalars(select(Slot).where(Slot.schedule_id == schedule.id))
        if s.reserved
    )


def _can_read(session: Session, world: World, who: Principal) -> bool:
    decision = access.decide(
        session, who, person_id=world.person_id, action="read", purpose="treatment"
    )
    return decision.allowed


def test_up_referral_from_request_to_completion(session: Session, world: World) -> None:
    assert not _can_read(session, world, world.specialist)
    ref = _up(session, world)
    assert ref.status is Status.requested and ref.direction is Direction.up
    # The receiving hospital may read the shared record while the referral is open.
    assert _can_read(session, world, world.specialist)
    service.accept(session, world.specialist, ref.id)
    slot = _held_slot(session, world)
    service.schedule(session, world.specialist, ref.id, slot_id=slot.id)
    session.commit()
    assert ref.status is Status.scheduled and ref.appointment_at == slot.start
    session.refresh(slot)
    assert slot.status is SlotStatus.booked and slot.booking_ref == f"referral:{ref.id}"
    service.arrive(session, world.specialist, ref.id)
    service.complete(session, world.specialist, ref.id, note="已调整用药，回社区随访")
    session.commit()
    assert ref.status is Status.completed and ref.closed_at is not None
    history = service.history(session, world.doctor, ref.id)
    assert [e.status for e in history] == [
        Status.requested,
        Status.accepted,
        Status.scheduled,
        Status.arrived,
        Status.completed,
    ]
    assert history[0].actor_name == "家庭医生李" and history[1].actor_name == "专家张"
    assert history[0].organization_id == world.centre.id


def test_the_inbox_puts_urgent_and_contracted_residents_first(
    session: Session, world: World
) -> None:
    plain = _up(session, world, contracted=False)
    contracted = _up(session, world, contracted=True)
    urgent = _up(session, world, urgent=True, contracted=False)
    rows = service.inbox(session, world.specialist)
    assert [r.id for r in rows] == [urgent.id, contracted.id, plain.id]
    assert rows[0].record_url == f"/ui/persons/{world.person_id}"
    assert [r.id for r in service.outbox(session, world.doctor)] == [
        urgent.id,
        contracted.id,
        plain.id,
    ]
    assert service.inbox(session, world.doctor) == []


def test_contract_is_looked_up_from_the_familydoctor_domain(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dataclass
    class FakeContract:
        organization_id: str
        team_id: str

    fake = types.ModuleType("yilian.familydoctor.service")
    fake.active_contract = lambda _s, pid: (  # type: ignore[attr-defined]
        FakeContract(world.centre.id, "team-1") if pid == world.person_id else None
    )
    monkeypatch.setitem(sys.modules, "yilian.familydoctor.service", fake)
    ref = _up(session, world)
    assert ref.contracted and ref.contract_team_id == "team-1"
    monkeypatch.setitem(sys.modules, "yilian.familydoctor.service", types.ModuleType("empty"))
    assert service.active_contract(session, world.person_id) is None


def test_accepting_an_expired_referral_is_refused_and_changes_nothing(
    session: Session, world: World
) -> None:
    ref = _up(session, world)
    later = ref.expires_at + timedelta(minutes=1)
    assert service.status_of(ref, later) is Status.expired
    with pytest.raises(Conflict, match="expired"):
        service.accept(session, world.specialist, ref.id, now=later)
    session.rollback()
    session.expire_all()
    ref = session.get(Referral, ref.id)  # type: ignore[assignment]
    assert ref.status is Status.requested and ref.accepted_at is None
    assert session.scalar(select(func.count()).select_from(ReferralEvent)) == 1
    # The hospital's access through this referral ends when the referral expires.
    rel = session.scalars(
        select(CareRelationship).where(CareRelationship.source == f"referral:{ref.id}")
    ).one()
    assert rel.organization_id == world.hospital.id and rel.valid_to == ref.expires_at


def test_booking_a_taken_slot_is_refused_and_leaves_the_referral_accepted(
    session: Session, world: World
) -> None:
    first, second = _up(session, world), _up(session, world)
    for ref in (first, second):
        service.accept(session, world.specialist, ref.id)
    slot = _held_slot(session, world)
    service.schedule(session, world.doctor, first.id, slot_id=slot.id)
    session.commit()
    with pytest.raises(Conflict, match="already taken"):
        service.schedule(session, world.specialist, second.id, slot_id=slot.id)
    session.rollback()
    session.refresh(second)
    assert second.status is Status.accepted and second.slot_id is None
    # Cancelling the first gives the slot back to the reserve; the second can then take it.
    service.cancel(session, world.doctor, first.id, reason="患者改期")
    service.schedule(session, world.specialist, second.id, slot_id=slot.id)
    session.commit()
    assert first.status is Status.cancelled and first.slot_id is None
    assert second.slot_id == slot.id


def test_booking_a_released_slot_through_the_referral_reserve_is_refused(
    session: Session, world: World
) -> None:
    ref = _up(session, world)
    service.accept(session, world.specialist, ref.id)
    slot = _held_slot(session, world)
    late = slot.start - timedelta(hours=1)
    with pytest.raises(Conflict, match="released to the public pool"):
        service.schedule(session, world.specialist, ref.id, slot_id=slot.id, now=late)
    session.rollback()
    session.refresh(ref)
    assert ref.status is Status.accepted
    session.refresh(slot)
    assert slot.status is SlotStatus.open


def test_who_may_act(session: Session, world: World) -> None:
    ref = _up(session, world)
    with pytest.raises(Forbidden):
        service.accept(session, world.doctor, ref.id)
    with pytest.raises(NotFound):
        service.accept(session, world.stranger, ref.id)
    with pytest.raises(Forbidden):
        service.cancel(session, world.specialist, ref.id)
    with pytest.raises(Forbidden):
        service.request_referral(
            session,
            principal(Role.cdc, world.centre, "cdc"),
            person_id=world.person_id,
            direction="up",
            to_organization_id=world.hospital.id,
            reason="x",
        )
    # A doctor with no care relationship to the person cannot refer them.
    with pytest.raises(Forbidden):
        service.request_referral(
            session,
            world.stranger,
            person_id=world.person_id,
            direction="up",
            to_organization_id=world.hospital.id,
            reason="x",
        )
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Referral)) == 1


def test_bad_requests_name_the_field(session: Session, world: World) -> None:
    cases = [
        ({"direction": "sideways"}, "direction"),
        ({"reason": "  "}, "reason"),
        ({"to_organization_id": world.other_centre.id}, "to_organization_id"),
        ({"to_organization_id": "nope"}, "to_organization_id"),
        ({"to_organization_id": world.centre.id}, "to_organization_id"),
    ]
    for change, field in cases:
        with pytest.raises(Unprocessable) as err:
            _up(session, world, **change)
        assert err.value.detail[0]["field"] == field
        session.rollback()
    with pytest.raises(NotFound):
        _up(session, world, person_id="0" * 32)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Referral)) == 0


def test_down_referral_reaches_the_family_doctors_worklist(session: Session, world: World) -> None:
    # The hospital treated the person (an encounter there) before sending them home.
    make_person(session, world.hospital)
    ref = _up(session, world)
    service.accept(session, world.specialist, ref.id)
    session.commit()
    with pytest.raises(Unprocessable, match="care plan"):
        service.request_referral(
            session,
            world.specialist,
            person_id=world.person_id,
            direction="down",
            to_organization_id=world.centre.id,
            reason="术后恢复期",
        )
    down = service.request_referral(
        session,
        world.specialist,
        person_id=world.person_id,
        direction=Direction.down,
        to_organization_id=world.centre.id,
        reason="PCI 术后恢复期，病情稳定",
        care_plan="阿司匹林+氯吡格雷 12 个月；2 周后社区随访血压、心率",
    )
    session.commit()
    rows = service.down_referrals_received(session, world.centre.id)
    assert [r.id for r in rows] == [down.id]
    assert rows[0].care_plan and rows[0].from_organization_name == "同仁医院"
    assert service.down_referrals_received(session, world.other_centre.id) == []
    assert (
        service.down_referrals_received(
            session, world.centre.id, since=utcnow() + timedelta(days=1)
        )
        == []
    )
    service.accept(session, world.doctor, down.id)
    service.schedule(session, world.doctor, down.id, appointment_at=utcnow() + timedelta(days=14))
    session.commit()
    assert down.status is Status.scheduled


def test_metrics_by_institution_and_month(session: Session, world: World) -> None:
    a, b, c = _up(session, world), _up(session, world), _up(session, world)
    service.accept(session, world.specialist, a.id)
    service.schedule(session, world.specialist, a.id, slot_id=_held_slot(session, world).id)
    service.decline(session, world.specialist, b.id, reason="建议先完善社区检查")
    session.commit()
    rows = service.metrics(
        session, since=utcnow() - timedelta(days=1), until=utcnow() + timedelta(days=1)
    )
    by_org = {r["organization_id"]: r for r in rows}
    total = by_org[None]
    assert total["up"] == 3 and total["down"] == 0
    assert total["accepted"] == 1 and total["decided"] == 2 and total["acceptance_rate"] == 0.5
    assert total["median_days_to_appointment"] is not None
    assert by_org[world.centre.id]["up"] == 3 and by_org[world.hospital.id]["up"] == 3
    assert world.other_centre.id not in by_org
    assert c.status is Status.requested
    only = service.metrics(
        session,
        since=utcnow() - timedelta(days=1),
        until=utcnow() + timedelta(days=1),
        organization_id=world.centre.id,
    )
    assert [r["organization_id"] for r in only] == [world.centre.id]


def test_two_concurrent_accepts_apply_once(engine: Engine, session: Session, world: World) -> None:
    """Two desks accept one referral at the same moment: one wins, the other gets a 409."""
    ref = _up(session, world)
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        s = factory()
        try:
            loaded = s.get(Referral, ref.id)  # both read "requested" before either writes
            assert loaded is not None and loaded.status is Status.requested
            barrier.wait(timeout=30)
            service.accept(s, world.specialist, ref.id, note=f"desk {n}")
            s.commit()
            result = "accepted"
        except Conflict:
            s.rollback()
            result = "conflict"
        except BaseException as exc:
            s.rollback()
            result = f"error: {type(exc).__name__}: {exc}"
        finally:
            s.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["accepted", "conflict", "conflict", "conflict"], outcomes
    session.expire_all()
    events = session.scalars(select(ReferralEvent).where(ReferralEvent.referral_id == ref.id)).all()
    assert [e.status for e in events].count(Status.accepted) == 1
