"""Tables of two-way referral (双向转诊), the shared slot pool and the exam-booking centre.

Slots carry both expert sessions (专家号源) and exam-centre capacity (医技预约), so the
reservation share, the release time and race-safe booking live in one place.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime
from yilian.referral.rules import (
    Channel,
    Direction,
    ExamStatus,
    SlotKind,
    SlotStatus,
    Status,
)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    # VARCHAR of the value on both engines: a new member needs no DDL.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


class Schedule(IdMixin, TimestampMixin, Base):
    """A published session (出诊/检查时段) of an expert or a modality, cut into slots."""

    __tablename__ = "referral_schedules"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[SlotKind] = mapped_column(_enum(SlotKind, "referral_slot_kind"))
    # 科室 for an expert session, modality code (CT/MR/US/ES) for exam capacity.
    service: Mapped[str] = mapped_column(String(64))
    practitioner_name: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str | None] = mapped_column(String(64))  # 主任医师, 副主任医师 …
    day: Mapped[date] = mapped_column(Date)
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    reserved_share: Mapped[float] = mapped_column(Float)
    release_hours: Mapped[int] = mapped_column(Integer)
    published_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint(
            "organization_id",
            "kind",
            "service",
            "practitioner_name",
            "start",
            name="uq_referral_schedules_session",
        ),
        Index("ix_referral_schedules_org_day", "organization_id", "kind", "day"),
    )


class Slot(IdMixin, Base):
    """One bookable slot. Booking is a conditional UPDATE … WHERE status = 'open'."""

    __tablename__ = "referral_slots"

    schedule_id: Mapped[str] = mapped_column(
        ForeignKey("referral_schedules.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[SlotKind] = mapped_column(_enum(SlotKind, "referral_slot_kind"))
    service: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)
    reserved: Mapped[bool] = mapped_column(Boolean, default=False)
    release_hours: Mapped[int] = mapped_column(Integer)
    status: Mapped[SlotStatus] = mapped_column(
        _enum(SlotStatus, "referral_slot_status"), default=SlotStatus.open
    )
    channel: Mapped[Channel | None] = mapped_column(_enum(Channel, "referral_channel"))
    booked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    booked_by: Mapped[str | None] = mapped_column(String(64))
    booked_org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    person_id: Mapped[str | None] = mapped_column(String(32))
    # What the slot was booked for: "referral:<id>", "exam:<id>" or a public booking reference.
    booking_ref: Mapped[str | None] = mapped_column(String(80), unique=True)

    __table_args__ = (
        UniqueConstraint("schedule_id", "position", name="uq_referral_slots_position"),
        Index("ix_referral_slots_org_kind_start", "organization_id", "kind", "start"),
    )


class Referral(IdMixin, TimestampMixin, Base):
    """双向转诊: a ServiceRequest from one institution to another, with its care summary."""

    __tablename__ = "referral_requests"

    person_id: Mapped[str] = mapped_column(String(32), index=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "referral_direction"))
    status: Mapped[Status] = mapped_column(_enum(Status, "referral_status"))
    from_organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    to_organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    department: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)  # shared clinical summary
    care_plan: Mapped[str | None] = mapped_column(Text)  # down-referral: what the GP continues
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    contracted: Mapped[bool] = mapped_column(Boolean, default=False)  # 签约居民
    contract_team_id: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    requested_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    appointment_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    slot_id: Mapped[str | None] = mapped_column(ForeignKey("referral_slots.id"), unique=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)  # decline or cancel reason
    source: Mapped[str | None] = mapped_column(String(64))  # e.g. chronic:<alert id>
    # Optimistic lock: of two concurrent steps on one referral only the first is applied.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        Index("ix_referral_requests_to_status", "to_organization_id", "status", "priority"),
        Index("ix_referral_requests_from_status", "from_organization_id", "status"),
        Index("ix_referral_requests_requested_at", "requested_at"),
    )


class ReferralEvent(IdMixin, Base):
    """Who moved a referral to which state, and when."""

    __tablename__ = "referral_events"

    referral_id: Mapped[str] = mapped_column(
        ForeignKey("referral_requests.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[Status] = mapped_column(_enum(Status, "referral_status"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(100))
    organization_id: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class ExamOrder(IdMixin, TimestampMixin, Base):
    """医技预约: 基层开单 → 中心检查 → 中心诊断, the report back in the person's record."""

    __tablename__ = "referral_exam_orders"

    person_id: Mapped[str] = mapped_column(String(32), index=True)
    ordering_organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    centre_organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    modality: Mapped[str] = mapped_column(String(8))
    body_site: Mapped[str | None] = mapped_column(String(100))
    clinical_info: Mapped[str | None] = mapped_column(Text)
    contracted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ExamStatus] = mapped_column(_enum(ExamStatus, "referral_exam_status"))
    ordered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ordered_by: Mapped[str] = mapped_column(String(100))
    slot_id: Mapped[str | None] = mapped_column(ForeignKey("referral_slots.id"), unique=True)
    appointment_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    examined_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    findings: Mapped[str | None] = mapped_column(Text)
    conclusion: Mapped[str | None] = mapped_column(Text)
    report_resource_id: Mapped[str | None] = mapped_column(String(64))
    referral_id: Mapped[str | None] = mapped_column(ForeignKey("referral_requests.id"))

    __table_args__ = (
        Index("ix_referral_exam_orders_centre_status", "centre_organization_id", "status"),
        Index("ix_referral_exam_orders_ordering_status", "ordering_organization_id", "status"),
    )
