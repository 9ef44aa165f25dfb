"""Every SELECT of the referral domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from yilian.referral.models import ExamOrder, Referral, ReferralEvent, Schedule, Slot
from yilian.referral.rules import Direction, SlotKind, Status


def schedule_by_key(
    session: Session,
    *,
    organization_id: str,
    kind: SlotKind,
    service: str,
    practitioner_name: str,
    start: datetime,
) -> Schedule | None:
    stmt = select(Schedule).where(
        Schedule.organization_id == organization_id,
        Schedule.kind == kind,
        Schedule.service == service,
        Schedule.practitioner_name == practitioner_name,
        Schedule.start == start,
    )
    return session.scalars(stmt).first()


def schedules(
    session: Session,
    *,
    organization_id: str,
    kind: SlotKind | None,
    start_from: datetime,
    start_to: datetime,
    service: str | None = None,
) -> Sequence[Schedule]:
    stmt = select(Schedule).where(
        Schedule.organization_id == organization_id,
        Schedule.start >= start_from,
        Schedule.start < start_to,
    )
    if kind is not None:
        stmt = stmt.where(Schedule.kind == kind)
    if service:
        stmt = stmt.where(Schedule.service == service)
    return session.scalars(stmt.order_by(Schedule.start, Schedule.service)).all()


def slots(
    session: Session,
    *,
    organization_id: str,
    kind: SlotKind | None,
    start_from: datetime,
    start_to: datetime,
    service: str | None = None,
    schedule_id: str | None = None,
) -> Sequence[Slot]:
    stmt = select(Slot).where(
        Slot.organization_id == organization_id,
        Slot.start >= start_from,
        Slot.start < start_to,
    )
    if kind is not None:
        stmt = stmt.where(Slot.kind == kind)
    if service:
        stmt = stmt.where(Slot.service == service)
    if schedule_id:
        stmt = stmt.where(Slot.schedule_id == schedule_id)
    return session.scalars(stmt.order_by(Slot.start, Slot.service, Slot.position)).all()


def slot_by_booking(session: Session, booking_ref: str) -> Slot | None:
    return session.scalars(select(Slot).where(Slot.booking_ref == booking_ref)).first()


def slots_of_schedule(session: Session, schedule_id: str) -> Sequence[Slot]:
    stmt = select(Slot).where(Slot.schedule_id == schedule_id).order_by(Slot.position)
    return session.scalars(stmt).all()


def referral(session: Session, referral_id: str) -> Referral | None:
    return session.get(Referral, referral_id)


def events(session: Session, referral_id: str) -> Sequence[ReferralEvent]:
    stmt = (
        select(ReferralEvent)
        .where(ReferralEvent.referral_id == referral_id)
        .order_by(ReferralEvent.at, ReferralEvent.id)
    )
    return session.scalars(stmt).all()


def referrals(
    session: Session,
    *,
    to_organization_id: str | None = None,
    from_organization_id: str | None = None,
    either_organization_id: str | None = None,
    direction: Direction | None = None,
    statuses: Sequence[Status] | None = None,
    person_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[Referral]:
    stmt = select(Referral)
    if to_organization_id:
        stmt = stmt.where(Referral.to_organization_id == to_organization_id)
    if from_organization_id:
        stmt = stmt.where(Referral.from_organization_id == from_organization_id)
    if either_organization_id:
        stmt = stmt.where(
            or_(
                Referral.to_organization_id == either_organization_id,
                Referral.from_organization_id == either_organization_id,
            )
        )
    if direction is not None:
        stmt = stmt.where(Referral.direction == direction)
    if statuses:
        stmt = stmt.where(Referral.status.in_(list(statuses)))
    if person_id:
        stmt = stmt.where(Referral.person_id == person_id)
    if since is not None:
        stmt = stmt.where(Referral.requested_at >= since)
    if until is not None:
        stmt = stmt.where(Referral.requested_at < until)
    stmt = stmt.order_by(Referral.priority, Referral.requested_at, Referral.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()


def exam_order(session: Session, order_id: str) -> ExamOrder | None:
    return session.get(ExamOrder, order_id)


def exam_orders(
    session: Session,
    *,
    centre_organization_id: str | None = None,
    ordering_organization_id: str | None = None,
    person_id: str | None = None,
    limit: int = 200,
) -> Sequence[ExamOrder]:
    stmt = select(ExamOrder)
    if centre_organization_id:
        stmt = stmt.where(ExamOrder.centre_organization_id == centre_organization_id)
    if ordering_organization_id:
        stmt = stmt.where(ExamOrder.ordering_organization_id == ordering_organization_id)
    if person_id:
        stmt = stmt.where(ExamOrder.person_id == person_id)
    stmt = stmt.order_by(ExamOrder.contracted.desc(), ExamOrder.ordered_at, ExamOrder.id)
    return session.scalars(stmt.limit(limit)).all()
