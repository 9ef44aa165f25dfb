"""Request and response bodies of the auth, user and client endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from yilian.security.principal import Role


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the token expires")
    role: Role
    organization_id: str | None


class MeOut(BaseModel):
    subject: str
    name: str
    kind: str
    role: Role
    role_label: str
    organization_id: str | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text = Field(min_length=3, max_length=64)
    password: Text = Field(min_length=1, max_length=256)
    role: Role
    organization_id: Text | None = Field(default=None, max_length=32)
    display_name: Text = Field(default="", max_length=200)


class UserUpdate(BaseModel):
    """Only the fields sent are changed; ``organization_id: null`` clears it."""

    model_config = ConfigDict(extra="forbid")

    display_name: Text | None = Field(default=None, max_length=200)
    role: Role | None = None
    organization_id: Text | None = Field(default=None, max_length=32)
    is_active: bool | None = None
    password: Text | None = Field(default=None, min_length=1, max_length=256)
    unlock: bool | None = Field(default=None, description="clear failed sign-ins and any lock")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    display_name: str
    role: Role
    organization_id: str | None
    is_active: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    organization_id: Text = Field(min_length=1, max_length=32)


class ClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    client_id: str
    name: str
    organization_id: str
    active: bool
    last_login_at: datetime | None
    created_at: datetime


class ClientCreated(ClientOut):
    client_secret: str = Field(description="shown once; store it in the institution's system")


class ClientPage(BaseModel):
    items: list[ClientOut]
    total: int
    limit: int
    offset: int


class ConsentCreate(BaseModel):
    """A person's consent (知情同意), recorded on their behalf by a clinician or administrator."""

    model_config = ConfigDict(extra="forbid")

    scope: Literal["organization", "consortium", "region"]
    organization_id: Text | None = Field(
        default=None, max_length=32, description="the organisation, for scope organization"
    )


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    scope: str
    organization_id: str | None
    status: str
    granted_at: datetime
    withdrawn_at: datetime | None
    recorded_by: str


class ConsentList(BaseModel):
    items: list[ConsentOut]


class ConsentWithdrawn(BaseModel):
    withdrawn: int = Field(description="how many active consents of the scope were withdrawn")
