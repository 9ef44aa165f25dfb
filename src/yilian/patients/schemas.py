"""Request and response bodies of the master patient index endpoints (主索引)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from yilian.security.schemas import Text


class MaskedIdentifier(BaseModel):
    kind: str
    value: str = Field(description="masked: 310***********1234")


class PatientSummaryOut(BaseModel):
    """A Patient record as a reviewer sees it: name and identifiers masked."""

    resource_id: str
    name: str
    gender: str | None
    birth_date: str | None
    identifiers: list[MaskedIdentifier]
    phone: str


class ReviewRecordOut(BaseModel):
    record_id: str
    resource_id: str
    person_id: str
    source_org_id: str | None
    patient: PatientSummaryOut | None


class ReviewCandidateOut(BaseModel):
    person_id: str
    patients: list[PatientSummaryOut]


class ReviewOut(BaseModel):
    id: str
    status: str
    probability: float
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


class ReviewItemOut(ReviewOut):
    record: ReviewRecordOut
    candidate: ReviewCandidateOut


class ReviewPage(BaseModel):
    items: list[ReviewItemOut]
    total: int
    limit: int
    offset: int


class ReviewDecision(BaseModel):
    reason: Text | None = Field(default=None, max_length=500)


class MergeIn(BaseModel):
    into: Text = Field(min_length=1, max_length=32, description="the surviving person's id")
    reason: Text = Field(min_length=1, max_length=500)


class UnmergeIn(BaseModel):
    reason: Text = Field(min_length=1, max_length=500)


class MergeOut(BaseModel):
    merge_id: str
    person_id: str
    into_person_id: str
    merged_at: datetime
    unmerged_at: datetime | None


class PersonOut(BaseModel):
    id: str = Field(description="the surviving person id")
    requested_id: str
    merged: bool
