"""The slot machinery on both databases: publication, the reserved share, release, races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.referral.conftest import World, expert_session
from yilian.db import make_sessionmaker, utcnow
from yilian.kit.errors import Conflict, Forbidden, Unprocessable
from yilian.referral import service, slots
from yilian.referral.models import Slot
from yilian.referral.rules import Channel, SlotKind, SlotStatus


def test_publication_holds_the_reserved_share(session: Session, world: World) -> None:
    """004 附件4 二(二)2: 20% of expert slots reserved for community centres (10 → 2)."""
    schedule = expert_session(session, world, capacity=10)
    rows = slots.list_slots(
        session,
        organization_id=world.hospital.id,
        kind=SlotKind.expert,
        start_from=schedule.start - timedelta(hours=1),
        days=1,
    )
    assert len(rows) == 10
    assert sum(r.reserved for r in rows) == 2
    assert {r.pool for r in rows if r.reserved} == {"referral"}
    assert all(r.release_at == r.start - timedelta(hours=48) for r in rows if r.reserved)
    # Publishing the same session again is a no-op, not a second set of slots.
    again = expert_session(session, world, start=schedule.start, capacity=10)
    assert again.id == schedule.id
    assert session.scalar(select(func.count()).select_from(Slot)) == 10


def test_the_share_and_release_time_are_configurable(
    session: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yilian.referral import config

    monkeypatch.setenv("YILIAN_REFERRAL_RESERVED_SHARE", "0.5")
    monkeypatch.setenv("YILIAN_REFERRAL_RELEASE_HOURS", "12")
    config.get_referral_settings.cache_clear()
    try:
        schedule = expert_session(session, world, capacity=10)
    finally:
        config.get_referral_settings.cache_clear()
    assert (schedule.reserved_share, schedule.release_hours) == (0.5, 12)
    held = [s for s in session.scalars(select(Slot)) if s.reserved]
    assert len(held) == 5 and {s.release_hours for s in held} == {12}


def test_bad_schedules_are_refused(session: Session, world: World) -> None:
    start = utcnow() + timedelta(days=2)
    with pytest.raises(Unprocessable, match="end must be after start"):
        service.publish_schedule(
            session,
            world.specialist,
            kind=SlotKind.expert,
            service="心内科",
            start=start,
            end=start,
            capacity=4,
        )
    with pytest.raises(Unprocessable, match="modality"):
        service.publish_schedule(
            session,
            world.specialist,
            kind=SlotKind.exam,
            service="X光",
            start=start,
            end=start + timedelta(hours=1),
            capacity=4,
        )
    with pytest.raises(Forbidden):
        service.publish_schedule(
            session,
            world.doctor,
            kind=SlotKind.expert,
            service="心内科",
            start=start,
            end=start + timedelta(hours=1),
            capacity=4,
        )
    assert session.scalar(select(func.count()).select_from(Slot)) == 0


def _reserved(session: Session, world: World, capacity: int = 10, **kw: object) -> list[Slot]:
    schedule = expert_session(session, world, capacity=capacity, **kw)  # type: ignore[arg-type]
    return [
        s
        for s in session.scalars(select(Slot).where(Slot.schedule_id == schedule.id))
        if s.reserved
    ]


def test_taken_released_and_reserved_slots_are_refused(session: Session, world: World) -> None:
    held = _reserved(session, world)[0]
    slots.book(
        session,
        slot_id=held.id,
        channel=Channel.referral,
        booking_ref="t:1",
        booked_by="x",
        booked_org_id=world.centre.id,
        person_id=None,
    )
    session.commit()
    with pytest.raises(Conflict, match="already taken"):
        slots.book(
            session,
            slot_id=held.id,
            channel=Channel.referral,
            booking_ref="t:2",
            booked_by="y",
            booked_org_id=world.centre.id,
            person_id=None,
        )
    other = _reserved(session, world, capacity=5, department="骨科")[0]
    with pytest.raises(Conflict, match="reserved for community referrals"):
        service.book_public(session, world.specialist, other.id, reference="H-1")
    # Two hours before the slot the reserve has long been released to the public pool.
    late = other.start - timedelta(hours=2)
    with pytest.raises(Conflict, match="released to the public pool"):
        slots.book(
            session,
            slot_id=other.id,
            channel=Channel.referral,
            booking_ref="t:3",
            booked_by="z",
            booked_org_id=world.centre.id,
            person_id=None,
            now=late,
        )
    booked = service.book_public(session, world.specialist, other.id, reference="H-2", now=late)
    assert booked.status is SlotStatus.booked and booked.channel is Channel.public
    session.commit()
    assert slots.release(session, slot_id=held.id, booking_ref="t:1")
    assert not slots.release(session, slot_id=held.id, booking_ref="t:1")


@pytest.mark.parametrize("contenders", [8])
def test_concurrent_bookings_never_share_a_slot(
    engine: Engine, session: Session, world: World, contenders: int
) -> None:
    """Several threads book each of four reserved slots at once: one winner per slot."""
    targets = [s.id for s in _reserved(session, world, capacity=20)]
    assert len(targets) == 4
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(contenders * len(targets))
    wins: list[str] = []
    refusals: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        slot_id = targets[n % len(targets)]
        s = factory()
        try:
            barrier.wait(timeout=30)
            slots.book(
                s,
                slot_id=slot_id,
                channel=Channel.referral,
                booking_ref=f"race:{n}",
                booked_by=f"t{n}",
                booked_org_id=world.centre.id,
                person_id=None,
            )
            s.commit()
            with lock:
                wins.append(slot_id)
        except Conflict as exc:
            s.rollback()
            with lock:
                refusals.append(exc.message)
        except BaseException as exc:  # a database error would be a failure of the design
            s.rollback()
            with lock:
                errors.append(exc)
        finally:
            s.close()

    threads = [
        threading.Thread(target=attempt, args=(n,)) for n in range(len(targets) * contenders)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(wins) == sorted(targets)
    assert len(refusals) == len(targets) * (contenders - 1)
    assert all("already taken" in r for r in refusals)
    session.expire_all()
    booked = session.scalars(select(Slot).where(Slot.status == SlotStatus.booked)).all()
    assert len(booked) == len(targets) and len({b.booking_ref for b in booked}) == len(targets)
