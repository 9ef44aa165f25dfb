"""Request and response bodies of the consultation API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from yilian.consult.rules import CaseStatus, CaseType, InvitationStatus, SessionMode
from yilian.security.schemas import Text

_KEY = re.compile(r"^([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})$")


def split_key(value: str) -> tuple[str, str]:
    """``"Observation/abc"`` → ("Observation", "abc"); ValueError when it is not a reference."""
    m = _KEY.match(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a record item reference 'Type/id'")
    return m.group(1), m.group(2)


class InvitationIn(BaseModel):
    """An expert to invite: a user account, or a registry practitioner, at an organisation."""

    model_config = ConfigDict(extra="forbid")

    organization_id: Text = Field(min_length=1, max_length=32)
    user_id: Text | None = Field(default=None, min_length=1, max_length=64)
    practitioner_id: Text | None = Field(default=None, min_length=1, max_length=32)
    is_lead: bool = False


class CaseCreate(BaseModel):
    """A consultation request: the person, the selected record items and the questions."""

    model_config = ConfigDict(extra="forbid")

    case_type: CaseType
    title: Text = Field(min_length=1, max_length=200)
    summary: Text = Field(default="", max_length=10_000)
    person_id: Text = Field(min_length=1, max_length=32)
    items: list[Text] = Field(default_factory=list, description="record items as 'Type/id'")
    questions: list[Text] = Field(min_length=1)
    invitations: list[InvitationIn] = Field(default_factory=list)
    submit: bool = Field(default=False, description="send the invitations at once (draft → open)")

    @field_validator("items")
    @classmethod
    def _items(cls, value: list[str]) -> list[str]:
        for v in value:
            split_key(v)
        return [v.strip() for v in value]

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[str]) -> list[str]:
        cleaned = [q.strip() for q in value]
        if any(not q for q in cleaned):
            raise ValueError("a question must not be empty")
        if any(len(q) > 1000 for q in cleaned):
            raise ValueError("a question may have at most 1000 characters")
        return cleaned


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime
    mode: SessionMode = SessionMode.online
    location: Text = Field(default="", max_length=300)


class OpinionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=20_000)
    invitation_id: Text | None = Field(
        default=None,
        max_length=32,
        description="only when the requester transcribes the opinion of an expert without account",
    )


class ConclusionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=20_000)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500)


class RespondIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accept: bool


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organization_id: str
    organization_name: str = ""
    user_id: str | None
    practitioner_id: str | None
    expert_name: str
    title: str
    specialty: str
    is_lead: bool
    status: InvitationStatus
    invited_at: datetime
    responded_at: datetime | None


class OpinionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    invitation_id: str
    text: str
    recorded_by: str
    recorded_by_name: str
    transcribed: bool
    revision: int
    created_at: datetime
    updated_at: datetime


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    action: str
    actor_id: str | None
    actor_name: str
    organization_id: str | None
    status_after: str | None
    detail: dict[str, Any]


class CaseSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    case_type: CaseType
    status: CaseStatus
    title: str
    person_id: str
    requesting_org_id: str
    requesting_org_name: str = ""
    requester_name: str
    scheduled_start: datetime | None
    created_at: datetime
    opened_at: datetime | None


class CaseOut(CaseSummary):
    summary: str
    questions: list[str]
    items: list[str]
    requester_id: str
    session_mode: SessionMode | None
    scheduled_end: datetime | None
    location: str
    access_until: datetime | None
    conclusion: str | None
    signed_by: str | None
    signed_by_name: str | None
    signed_at: datetime | None
    conclusion_document_id: str | None
    closed_at: datetime | None
    cancel_reason: str | None
    invitations: list[InvitationOut]
    opinions: list[OpinionOut]
    events: list[EventOut]


class CaseList(BaseModel):
    items: list[CaseSummary]
    total: int


class ItemsOut(BaseModel):
    case_id: str
    resources: list[dict[str, Any]]
