"""Request and response bodies of the familydoctor API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yilian.familydoctor.rules import Category, ContractKind, FunctionalCommunity, TeamRole

Id = Field(min_length=1, max_length=32)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: TeamRole
    name: str = Field(min_length=1, max_length=100)
    practitioner_id: str | None = Field(default=None, max_length=32)
    user_id: str | None = Field(default=None, max_length=32)


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: str = Id
    name: str = Field(min_length=1, max_length=100)
    members: list[MemberIn] = Field(default_factory=list, max_length=50)


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    role: str
    name: str
    practitioner_id: str | None
    user_id: str | None


class TeamOut(BaseModel):
    id: str
    organization_id: str
    name: str
    members: list[MemberOut]


class ContractIn(BaseModel):
    """Sign one person (个人签约), a family together (家庭签约) or a functional community member."""

    model_config = ConfigDict(extra="forbid")

    person_ids: list[str] = Field(min_length=1, max_length=20)
    team_id: str = Id
    doctor_member_id: str | None = Field(default=None, max_length=32)
    station_id: str | None = Field(default=None, max_length=32)
    kind: ContractKind = ContractKind.individual
    functional_kind: FunctionalCommunity | None = None
    functional_name: str | None = Field(default=None, max_length=200)
    district_hospital_id: str | None = Field(default=None, max_length=32)
    city_hospital_id: str | None = Field(default=None, max_length=32)
    start: date
    end: date | None = None
    categories: list[Category] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> ContractIn:
        if len(set(self.person_ids)) != len(self.person_ids):
            raise ValueError("person_ids must not repeat a person")
        if self.kind != ContractKind.family and len(self.person_ids) > 1:
            raise ValueError("several person_ids need kind 'family'")
        if self.kind == ContractKind.functional and not (
            self.functional_kind and self.functional_name
        ):
            raise ValueError("a functional-community contract needs functional_kind and name")
        return self


class RenewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end: date | None = None


class EndIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: date
    reason: str = Field(min_length=1, max_length=500)


class ContractOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    organization_id: str
    station_id: str | None
    team_id: str
    doctor_practitioner_id: str | None
    doctor_user_id: str | None
    kind: str
    family_group: str | None
    functional_kind: str | None
    functional_name: str | None
    district_hospital_id: str | None
    city_hospital_id: str | None
    start: date
    end: date
    status: str
    renewed_from_id: str | None
    categories: list[str]


class CoverageRow(BaseModel):
    level: Literal["all", "district", "street", "centre", "team"]
    id: str | None
    name: str
    residents: int
    contracted: int
    key_residents: int
    key_contracted: int
    rate_all: float | None
    rate_key: float | None
    target_all: float
    target_key: float


class WorkItemOut(BaseModel):
    person_id: str
    kind: str
    label: str
    due_date: date
    overdue_days: int
    organization_id: str | None
    team_id: str | None
    detail: str
    ref: str | None


class CrcIn(BaseModel):
    """One step of a CRC screening round: questionnaire, a FIT result, or the colonoscopy."""

    model_config = ConfigDict(extra="forbid")

    person_id: str = Id
    round_year: int = Field(ge=2012, le=2100)
    questionnaire_positive: bool | None = None
    questionnaire_on: date | None = None
    fit1: Literal["positive", "negative"] | None = None
    fit1_on: date | None = None
    fit2: Literal["positive", "negative"] | None = None
    fit2_on: date | None = None
    colonoscopy_on: date | None = None
    colonoscopy_result: str | None = Field(default=None, max_length=200)


class CrcOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    round_year: int
    questionnaire_positive: bool | None
    fit1: str | None
    fit1_on: date | None
    fit2: str | None
    fit2_on: date | None
    fit2_due: date | None
    status: str
    positive: bool | None
    referral_no: str | None
    fee_waiver: bool
    colonoscopy_on: date | None


class VaccinationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Id
    vaccine: Literal["PPV23"] = "PPV23"
    given_on: date


class HealthCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: str = Id
    done_on: date


class ReminderOut(BaseModel):
    id: str
    person_id: str
    kind: str
    due_date: date
    channel: str
    message: str
    phone_masked: str | None
    phone: str | None = None  # clear only for a gateway (system role)
    status: str
    attempts: int
    sent_at: datetime | None
    organization_id: str | None


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["sent", "failed"]
    error: str | None = Field(default=None, max_length=500)


class RunOut(BaseModel):
    run_date: date
    status: str
    created: int


class EpisodeIssueOut(BaseModel):
    """A contract sent as EpisodeOfCare that was not taken in, and why."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    source_ref: str
    person_id: str | None
    organization_id: str | None
    reason_code: str
    reason: str
    status: str
    created_at: datetime
    updated_at: datetime


class ReplayOut(BaseModel):
    taken: int
    still_open: int
