"""Security tables: accounts, API clients, care relationships, consents, sign-in guards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime, utcnow


class User(IdMixin, TimestampMixin, Base):
    """A person who signs in: clinician, CDC officer, insurer, commission staff, administrator."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32), index=True)
    # Empty for platform-wide roles (admin, commission).
    organization_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("organizations.id"), index=True, default=None
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class ApiClient(IdMixin, TimestampMixin, Base):
    """An institution's system (HIS/LIS/PACS) signing in with client credentials."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    # A system acts for exactly one institution.
    organization_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("organizations.id"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class CareRelationship(IdMixin, Base):
    """Organisation X treats / holds a contract with / has a referral or consultation for person P.

    The basis of direct access to a person's record (诊疗关系、签约关系、转诊、会诊).
    """

    __tablename__ = "care_relationships"
    __table_args__ = (Index("ix_care_relationships_person_org", "person_id", "organization_id"),)

    # The master-patient-index person id; the foreign key arrives with the patients domain.
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    organization_id: Mapped[str] = mapped_column(String(32), ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    valid_to: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # What created it, e.g. "referral:4f1c…" or "encounter:HIS-123", so its owner can end it.
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Consent(IdMixin, Base):
    """A person's consent (知情同意) to share their record: one organisation, consortium, region."""

    __tablename__ = "consents"

    person_id: Mapped[str] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("organizations.id"), default=None
    )
    status: Mapped[str] = mapped_column(String(16), default="active")
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    recorded_by: Mapped[str] = mapped_column(String(64), default="")


class LoginAttempt(IdMixin, Base):
    """One sign-in attempt, kept for the per-minute rate limit and then pruned."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_key_at", "key", "at"),)

    # sha256 of (kind, client address, name): the window is per address and account name.
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class LoginGuard(IdMixin, Base):
    """Failure count and lock for a name that has no account.

    Unknown names lock exactly like real accounts, so the answers never tell
    whether a username or client id exists.
    """

    __tablename__ = "login_guards"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
