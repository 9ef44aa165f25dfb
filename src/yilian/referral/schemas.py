"""Referral API shapes. Every string and number is bounded so that what passes fits the columns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from yilian.referral.rules import (
    Direction,
    ExamStatus,
    Modality,
    SlotKind,
    SlotStatus,
    Status,
)

ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
ID = r"^[A-Za-z0-9._\-]+$"

RefId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=ID)
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE)
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=ONE_LINE)
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000, pattern=MULTI_LINE)
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReferralCreate(_In):
    person_id: RefId
    direction: Direction
    to_organization_id: RefId
    reason: LongText
    department: ShortText | None = None
    summary: LongText | None = None
    care_plan: LongText | None = None
    urgent: bool = False
    contracted: bool | None = Field(
        default=None, description="签约居民; looked up from the family-doctor contract when omitted"
    )


class Decline(_In):
    reason: LongText


class Note(_In):
    note: LongText | None = None


class Cancel(_In):
    reason: LongText | None = None


class ScheduleIn(_In):
    slot_id: RefId | None = None
    appointment_at: AwareDatetime | None = None


class ReferralRead(BaseModel):
    id: str
    person_id: str
    direction: Direction
    status: Status
    status_label: str
    from_organization_id: str
    from_organization_name: str
    to_organization_id: str
    to_organization_name: str
    department: str | None
    reason: str
    summary: str | None
    care_plan: str | None
    urgent: bool
    contracted: bool
    priority: int
    requested_at: datetime
    requested_by: str
    expires_at: datetime
    accepted_at: datetime | None
    appointment_at: datetime | None
    slot_id: str | None
    note: str | None
    record_url: str


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: Status
    at: datetime
    actor_name: str | None
    organization_id: str | None
    note: str | None


class ReferralDetail(ReferralRead):
    history: list[EventRead]


class ScheduleCreate(_In):
    kind: SlotKind = SlotKind.expert
    service: ShortText = Field(description="科室 for an expert session, modality for exam capacity")
    practitioner_name: Name | None = None
    title: ShortText | None = None
    start: AwareDatetime
    end: AwareDatetime
    capacity: int = Field(ge=1, le=200)
    reserved_share: float | None = Field(default=None, ge=0, le=1)
    release_hours: int | None = Field(default=None, ge=0, le=24 * 60)
    organization_id: RefId | None = Field(
        default=None, description="administrators publish for an organization"
    )


class ScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organization_id: str
    kind: SlotKind
    service: str
    practitioner_name: str
    title: str | None
    day: date
    start: datetime
    end: datetime
    capacity: int
    reserved_share: float
    release_hours: int


class SlotRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    schedule_id: str
    organization_id: str
    kind: SlotKind
    service: str
    start: datetime
    end: datetime
    reserved: bool
    pool: str
    release_at: datetime | None
    status: SlotStatus
    booking_ref: str | None


class PublicBooking(_In):
    reference: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ID)
    ] = Field(description="the hospital's own booking number")
    person_id: RefId | None = None


class CalendarCellRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    service: str
    total: int
    reserved_held: int
    reserved_open: int
    public_open: int
    booked: int


class ExamCreate(_In):
    person_id: RefId
    centre_organization_id: RefId
    modality: Modality
    body_site: Name | None = None
    clinical_info: LongText | None = None
    contracted: bool | None = None
    referral_id: RefId | None = None


class ExamBook(_In):
    slot_id: RefId


class ExamReport(_In):
    conclusion: LongText
    findings: LongText | None = None


class ExamRead(BaseModel):
    id: str
    person_id: str
    ordering_organization_id: str
    ordering_organization_name: str
    centre_organization_id: str
    centre_organization_name: str
    modality: str
    modality_label: str
    body_site: str | None
    clinical_info: str | None
    contracted: bool
    status: ExamStatus
    status_label: str
    ordered_at: datetime
    ordered_by: str
    appointment_at: datetime | None
    slot_id: str | None
    conclusion: str | None
    report_resource_id: str | None
    record_url: str


class MetricsRow(BaseModel):
    organization_id: str | None
    organization_name: str
    month: str
    up: int
    down: int
    up_down_ratio: float | None
    decided: int
    accepted: int
    acceptance_rate: float | None
    completed: int
    completion_rate: float | None
    expired: int
    median_days_to_appointment: float | None
    mean_days_to_appointment: float | None
    statuses: dict[str, int]
