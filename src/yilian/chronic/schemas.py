"""Request and response bodies of the chronic API."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["clinic", "home", "phone", "online"]
FACE_TO_FACE_MODES = frozenset({"clinic", "home"})


class FollowupIn(BaseModel):
    """One follow-up (随访). Readings are checked against plausible ranges in the service."""

    model_config = ConfigDict(extra="forbid")

    followed_on: date
    programmes: list[str] | None = Field(
        default=None, max_length=10, description="programme keys; default all active ones"
    )
    mode: Mode = "clinic"
    sbp: int | None = None
    dbp: int | None = None
    heart_rate: int | None = None
    glucose: float | None = Field(default=None, description="fasting plasma glucose, mmol/L")
    temperature: float | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    waist_cm: float | None = None
    smoker: bool | None = None
    symptoms: list[str] = Field(default_factory=list, max_length=20)
    pregnant_or_lactating: bool = False
    adverse_reaction: bool = False
    complication: bool = False
    cannot_manage: bool = False
    annual_check: bool = False
    note: str | None = Field(default=None, max_length=1000)


class EnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    programme: str = Field(min_length=1, max_length=32)
    enrolled_on: date | None = None


class ProgrammeOut(BaseModel):
    key: str
    name_zh: str
    name_en: str
    icd10: list[str]
    control: str
    interval_days: int
    min_followups_per_year: int


class EnrolmentOut(BaseModel):
    id: str
    programme: str
    status: str
    managing_org_id: str | None
    enrolled_on: date
    next_due: date
    next_kind: str
    last_followup_on: date | None
    last_control: str | None


class FollowupOut(BaseModel):
    id: str
    programme: str
    followed_on: date
    mode: str
    sbp: int | None
    dbp: int | None
    heart_rate: int | None
    glucose: float | None
    bmi: float | None
    control: str
    classification: str
    next_due: date
    next_kind: str


class SuggestionOut(BaseModel):
    id: str
    programme: str
    urgency: str
    reasons: list[str]
    status: str
    referral_id: str | None


class ScoreOut(BaseModel):
    name: str
    applicable: bool
    total: float | None
    tier: str | None
    points: dict[str, float]
    inputs: dict[str, object]
    missing: list[str]
    note: str
    method: str
    model: str | None = Field(
        default=None, description="ASCVD: china_par or chart (the one that gave the tier)"
    )


class AnnualOut(BaseModel):
    programme: str
    year: int
    face_to_face: int
    required: int
    standard: bool
    last_control: str | None
    annual_check: bool


class RecordFollowupOut(BaseModel):
    followups: list[FollowupOut]
    suggestions: list[SuggestionOut]


class OverviewOut(BaseModel):
    person_id: str
    enrolments: list[EnrolmentOut]
    followups: list[FollowupOut]
    suggestions: list[SuggestionOut]
    risk: list[ScoreOut]
    screening: list[str]
    annual: list[AnnualOut]


class ReferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_organization_id: str = Field(min_length=1, max_length=32)
    department: str | None = Field(default=None, max_length=100)


class ReferOut(BaseModel):
    suggestion: SuggestionOut
    referral_requested: bool
    message: str


class IndicatorOut(BaseModel):
    group: str | None
    group_name: str
    managed: int
    standard: int
    controlled: int
    standard_rate: float | None
    control_rate: float | None


class IndicatorsOut(BaseModel):
    programme: str
    year: int
    group_by: str
    rows: list[IndicatorOut]
    total: IndicatorOut


class FollowupDueOut(BaseModel):
    person_id: str
    programme: str
    due_date: date
    kind: str
    overdue_days: int
