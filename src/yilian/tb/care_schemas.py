"""Request and response bodies of TB patient management."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Field(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Id
    organization_id: str = Id  # managing community centre
    notification_date: date
    diagnosis_code: str | None = Field(default=None, max_length=16)
    rr_tb: bool | None = None  # None: taken from the resistance side when known
    regimen: str = Field(default="2HRZE/4HR", min_length=1, max_length=64)
    supervision: Literal["medical", "family"] = "medical"
    start_date: date | None = None
    intensive_days: int = Field(default=60, ge=1, le=400)  # 2HRZE: 60 doses
    total_days: int = Field(default=180, ge=1, le=1000)  # 2HRZE/4HR: 180 doses


class DoseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    status: Literal["taken", "missed", "late"]
    method: Literal["dot", "video", "pillbox", "family"] = "dot"
    observed_by: str | None = Field(default=None, max_length=100)


class VisitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visit_date: date
    kind: Literal["first", "follow_up", "closing"] = "follow_up"
    found: bool = True
    practitioner: str | None = Field(default=None, max_length=100)
    findings: dict[str, Any] = Field(default_factory=dict)


class OutcomeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str = Field(min_length=1, max_length=32)
    outcome_date: date


class PhaseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phase: Literal["intensive", "continuation"]


class TransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_organization_id: str = Id
    reason: str = Field(default="", max_length=300)


class CaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    episode: int
    diagnosis_code: str | None
    notification_date: date
    organization_id: str
    province: str
    city: str
    rr_tb: bool
    regimen: str
    supervision: str
    phase: str
    start_date: date
    intensive_end: date
    planned_end: date
    status: str
    outcome: str | None
    outcome_date: date | None


class DoseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    day: date
    status: str
    method: str
    observed_by: str | None
    organization_id: str | None


class VisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    visit_date: date
    kind: str
    found: bool
    organization_id: str
    practitioner: str | None
    findings: dict[str, Any]


class ReminderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    person_id: str
    organization_id: str
    kind: str
    recipient: str
    due_date: date
    message: str
    status: str
    created_at: datetime
    acked_at: datetime | None


class TransferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    from_organization_id: str
    to_organization_id: str
    from_province: str
    to_province: str
    status: str
    reason: str
    requested_at: datetime
    acknowledged_at: datetime | None
