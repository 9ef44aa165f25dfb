"""Request and response bodies of the surveillance API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:+\-]+$")


class SentinelReportIn(BaseModel):
    """A 发热哨点 daily count: one site × syndrome × age group × day."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(min_length=1, max_length=64, description="organisation code or id")
    syndrome: str = Field(min_length=1, max_length=40)
    age_group: str = Field(min_length=1, max_length=16)
    day: date
    count: int = Field(ge=0, le=1_000_000)


class SentinelReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    site_code: str
    syndrome: str
    age_group: str
    day: date
    count: int
    revision: int
    created: bool = False
    previous: int | None = None


class ClusterReportIn(BaseModel):
    """A school / kindergarten / care-home report of cases (and absences) on one day."""

    model_config = ConfigDict(extra="forbid")

    setting_kind: Literal["school", "kindergarten", "care_home"]
    setting_name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    area_code: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")
    syndrome: str = Field(min_length=1, max_length=40)
    day: date
    cases: int = Field(ge=0, le=100_000)
    absent: int | None = Field(default=None, ge=0, le=100_000)


class ClusterReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    setting_key: str
    syndrome: str
    day: date
    cases: int
    absent: int | None


class PublicReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["media", "public"]
    title: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    text: str = Field(min_length=1, max_length=5000)
    area_code: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")
    topic: str | None = Field(default=None, max_length=40)
    day: date


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "reject"]
    note: str | None = Field(default=None, max_length=2000)


class PublicReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    channel: str
    title: str
    area_code: str
    topic: str | None
    day: date
    status: str
    reviewed_by: str | None
    review_note: str | None
    signal_id: str | None


class SignalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    key: str
    rule: str
    source: str
    topic: str | None
    area_code: str | None
    street_code: str | None
    level: str
    title: str
    first_day: date
    last_day: date
    status: str
    dismiss_reason: str | None
    event_id: str | None
    evidence: dict[str, Any]


class SignalPage(BaseModel):
    items: list[SignalOut]
    total: int
    limit: int
    offset: int


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=300)


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: str = Field(min_length=1, max_length=64, description="organisation id or code")
    practitioner_ids: list[str] = Field(default_factory=list, max_length=50)


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    assignee: str | None = Field(default=None, max_length=200)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=5000)


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    assignee: str | None
    status: str


class TimelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str | None
    kind: str
    text: str


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    signal_id: str
    title: str
    status: str
    team_org_id: str | None
    team_practitioner_ids: list[str] | None
    summary: str | None
    closed_at: datetime | None


class EventDetailOut(BaseModel):
    event: EventOut
    signal: SignalOut
    tasks: list[TaskOut]
    timeline: list[TimelineOut]


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    signal_id: str | None
    event_id: str | None
    recipient_org_id: str | None
    recipient_role: str | None
    message: str
    status: str
    created_at: datetime
    acked_at: datetime | None


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date


class RunOut(BaseModel):
    day: date
    series: int
    results: int
    alarms: int
    signals: list[str]
    new_signals: int


class SeriesConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    methods: list[str] | None = Field(default=None, max_length=7)
    params: dict[str, dict[str, Any]] | None = None


class SeriesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    source: str
    topic: str
    area_code: str
    site_code: str
    age_group: str
    leaf: bool
    first_day: date | None
    methods: list[str] | None
    params: dict[str, Any] | None
