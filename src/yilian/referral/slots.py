"""The shared slot machinery: schedules, the reserved share, release and race-safe booking.

Used for expert sessions (专家号源, 004 附件4 二(二)2) and for the exam centres' capacity
(医技预约中心, 002). Booking is a conditional ``UPDATE … WHERE status = 'open'``: of
two concurrent bookings of one slot the database lets exactly one through, on SQLite
(one writer at a time) as on PostgreSQL (row lock, WHERE re-checked after the wait).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.db import as_utc, utcnow
from yilian.kit.errors import Conflict, NotFound, Unprocessable
from yilian.referral import repository as repo
from yilian.referral import rules
from yilian.referral.config import get_referral_settings
from yilian.referral.models import Schedule, Slot
from yilian.referral.rules import Channel, SlotKind, SlotStatus

MAX_CAPACITY = 200
MAX_SESSION_HOURS = 24


@dataclass(frozen=True)
class SlotView:
    """A slot as a worklist shows it, with the pool it is in right now."""

    id: str
    schedule_id: str
    organization_id: str
    kind: SlotKind
    service: str
    start: datetime
    end: datetime
    reserved: bool
    pool: str  # "referral" while held, else "public"
    release_at: datetime | None
    status: SlotStatus
    booking_ref: str | None


def view(slot: Slot, now: datetime) -> SlotView:
    return SlotView(
        id=slot.id,
        schedule_id=slot.schedule_id,
        organization_id=slot.organization_id,
        kind=slot.kind,
        service=slot.service,
        start=slot.start,
        end=slot.end,
        reserved=slot.reserved,
        pool=rules.pool(slot.reserved, slot.start, slot.release_hours, now),
        release_at=rules.release_at(slot.start, slot.release_hours) if slot.reserved else None,
        status=slot.status,
        booking_ref=slot.booking_ref,
    )


def _defaults(kind: SlotKind) -> tuple[float, int]:
    cfg = get_referral_settings()
    if kind is SlotKind.exam:
        return cfg.exam_reserved_share, cfg.exam_release_hours
    return cfg.reserved_share, cfg.release_hours


def publish(
    session: Session,
    *,
    organization_id: str,
    kind: SlotKind,
    service: str,
    start: datetime,
    end: datetime,
    capacity: int,
    practitioner_name: str = "",
    title: str | None = None,
    reserved_share: float | None = None,
    release_hours: int | None = None,
    published_by: str | None = None,
) -> Schedule:
    """Publish a session cut into ``capacity`` equal slots; the same session again is a no-op."""
    start, end = as_utc(start), as_utc(end)
    service = service.strip()
    if not service:
        raise Unprocessable("service (department or modality) must not be empty", field="service")
    if end <= start:
        raise Unprocessable("end must be after start", field="end")
    if end - start > timedelta(hours=MAX_SESSION_HOURS):
        raise Unprocessable(f"a session lasts at most {MAX_SESSION_HOURS} hours", field="end")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise Unprocessable(f"capacity must be 1–{MAX_CAPACITY}", field="capacity")
    default_share, default_release = _defaults(kind)
    share = default_share if reserved_share is None else reserved_share
    release = default_release if release_hours is None else release_hours
    if not 0.0 <= share <= 1.0:
        raise Unprocessable("reserved_share must be between 0 and 1", field="reserved_share")
    if release < 0:
        raise Unprocessable("release_hours must not be negative", field="release_hours")
    existing = repo.schedule_by_key(
        session,
        organization_id=organization_id,
        kind=kind,
        service=service,
        practitioner_name=practitioner_name,
        start=start,
    )
    if existing is not None:
        return existing
    schedule = Schedule(
        organization_id=organization_id,
        kind=kind,
        service=service,
        practitioner_name=practitioner_name,
        title=title,
        day=(start + timedelta(hours=8)).date(),  # the calendar day in China Standard Time
        start=start,
        end=end,
        capacity=capacity,
        reserved_share=share,
        release_hours=release,
        published_by=published_by,
    )
    session.add(schedule)
    session.flush([schedule])
    held = rules.reserved_positions(capacity, share)
    step = (end - start) / capacity
    session.add_all(
        Slot(
            schedule_id=schedule.id,
            organization_id=organization_id,
            kind=kind,
            service=service,
            position=i,
            start=start + step * i,
            end=start + step * (i + 1),
            reserved=i in held,
            release_hours=release,
            status=SlotStatus.open,
        )
        for i in range(capacity)
    )
    session.flush()
    return schedule


def get(session: Session, slot_id: str) -> Slot:
    # Fresh from the database: bookings and releases are bulk UPDATEs the identity map misses.
    slot = session.get(Slot, slot_id, populate_existing=True)
    if slot is None:
        raise NotFound(f"slot {slot_id} does not exist")
    return slot


def book(
    session: Session,
    *,
    slot_id: str,
    channel: Channel,
    booking_ref: str,
    booked_by: str,
    booked_org_id: str | None,
    person_id: str | None,
    kind: SlotKind | None = None,
    organization_id: str | None = None,
    now: datetime | None = None,
) -> Slot:
    """Take one slot for ``booking_ref``; a taken, released, reserved or past slot is refused.

    The rule gives the clear reason; the conditional UPDATE makes it race-safe.
    """
    now = now or utcnow()
    slot = get(session, slot_id)
    if kind is not None and slot.kind is not kind:
        raise Unprocessable(f"slot {slot_id} is not an {kind.value} slot", field="slot_id")
    if organization_id is not None and slot.organization_id != organization_id:
        raise Unprocessable(
            f"slot {slot_id} belongs to another institution than the referral's", field="slot_id"
        )
    reason = rules.booking_error(
        status=slot.status,
        reserved=slot.reserved,
        start=slot.start,
        release_hours=slot.release_hours,
        channel=channel,
        now=now,
    )
    if reason:
        raise Conflict(f"cannot book slot {slot_id}: {reason}")
    if repo.slot_by_booking(session, booking_ref) is not None:
        raise Conflict(f"booking {booking_ref} already holds a slot", field="booking_ref")
    try:
        result = _take(
            session, slot_id, channel, now, booked_by, booked_org_id, person_id, booking_ref
        )
    except IntegrityError:
        # The same booking reference taken by a concurrent request (unique booking_ref).
        raise Conflict(f"booking {booking_ref} already holds a slot", field="booking_ref") from None
    if result != 1:
        raise Conflict(f"cannot book slot {slot_id}: the slot is already taken")
    session.refresh(slot)
    return slot


def _take(
    session: Session,
    slot_id: str,
    channel: Channel,
    now: datetime,
    booked_by: str,
    booked_org_id: str | None,
    person_id: str | None,
    booking_ref: str,
) -> int:
    """The race-safe step: flip an open slot to booked; the number of rows changed (0 or 1)."""
    result = session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.status == SlotStatus.open)
        .values(
            status=SlotStatus.booked,
            channel=channel,
            booked_at=now,
            booked_by=booked_by,
            booked_org_id=booked_org_id,
            person_id=person_id,
            booking_ref=booking_ref,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def release(session: Session, *, slot_id: str, booking_ref: str) -> bool:
    """Give a booked slot back (the booking was cancelled); True when it was ours to free."""
    result = session.execute(
        update(Slot)
        .where(Slot.id == slot_id, Slot.booking_ref == booking_ref)
        .values(
            status=SlotStatus.open,
            channel=None,
            booked_at=None,
            booked_by=None,
            booked_org_id=None,
            person_id=None,
            booking_ref=None,
        )
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def list_slots(
    session: Session,
    *,
    organization_id: str,
    kind: SlotKind | None,
    start_from: datetime,
    days: int,
    service: str | None = None,
    pool: str | None = None,
    only_open: bool = False,
    now: datetime | None = None,
) -> list[SlotView]:
    """Slots of an institution over ``days`` from ``start_from``, each with its current pool."""
    now = now or utcnow()
    rows = repo.slots(
        session,
        organization_id=organization_id,
        kind=kind,
        start_from=as_utc(start_from),
        start_to=as_utc(start_from) + timedelta(days=days),
        service=service,
    )
    out = [view(s, now) for s in rows]
    if only_open:
        out = [v for v in out if v.status is SlotStatus.open and v.start > now]
    if pool:
        out = [v for v in out if v.pool == pool]
    return out


@dataclass
class CalendarCell:
    day: date
    service: str
    total: int = 0
    reserved_held: int = 0
    reserved_open: int = 0
    public_open: int = 0
    booked: int = 0


def calendar(
    session: Session,
    *,
    organization_id: str,
    kind: SlotKind,
    start_from: datetime,
    days: int,
    now: datetime | None = None,
) -> list[CalendarCell]:
    """Per day and department/modality: slots, held reserve, open reserve, open public, booked."""
    now = now or utcnow()
    cells: dict[tuple[date, str], CalendarCell] = {}
    by_key: dict[tuple[date, str], list[SlotView]] = defaultdict(list)
    for v in list_slots(
        session,
        organization_id=organization_id,
        kind=kind,
        start_from=start_from,
        days=days,
        now=now,
    ):
        by_key[((v.start + timedelta(hours=8)).date(), v.service)].append(v)
    for key, views in sorted(by_key.items()):
        cell = cells.setdefault(key, CalendarCell(day=key[0], service=key[1]))
        for v in views:
            cell.total += 1
            if v.pool == "referral":
                cell.reserved_held += 1
            if v.status is SlotStatus.booked:
                cell.booked += 1
            elif v.status is SlotStatus.open and v.start > now:
                if v.pool == "referral":
                    cell.reserved_open += 1
                else:
                    cell.public_open += 1
    return list(cells.values())
