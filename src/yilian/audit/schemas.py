"""Response bodies of the audit endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ValueError("date out of range") from exc


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor_id: str | None
    actor_name: str | None
    actor_role: str | None
    organization_id: str | None
    action: str
    resource_type: str
    resource_id: str | None
    person_id: str | None
    purpose: str | None
    outcome: str
    detail: dict[str, Any] | None = None

    @field_validator("detail", mode="before")
    @classmethod
    def _parse_detail(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


class PersonAccessOut(BaseModel):
    """One access to a person's data, as the person or a reviewer sees it."""

    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor_id: str | None
    actor_name: str | None
    actor_role: str | None
    organization_id: str | None
    action: str
    resource_type: str
    purpose: str | None
    outcome: str


class PersonAccessPage(BaseModel):
    person_id: str
    items: list[PersonAccessOut]
    total: int
    limit: int
    offset: int


class VerifyOut(BaseModel):
    ok: bool
    checked: int = Field(description="entries checked")
    first_broken_seq: int | None
    reason: str | None
