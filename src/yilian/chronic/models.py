"""Tables of the chronic domain: enrolments, follow-ups and referral suggestions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime, utcnow


class Enrolment(IdMixin, TimestampMixin, Base):
    """A person in a chronic-disease programme (慢病管理档案), one row per person and programme.

    ``next_due``/``next_kind`` are kept current by every follow-up so that the
    worklist of due follow-ups is one indexed range query.
    """

    __tablename__ = "chronic_enrolments"
    __table_args__ = (
        UniqueConstraint("person_id", "programme", name="uq_chronic_enrolments_person_programme"),
        Index("ix_chronic_enrolments_due", "status", "next_due"),
        Index("ix_chronic_enrolments_org_programme", "managing_org_id", "programme"),
    )

    person_id: Mapped[str] = mapped_column(String(32), index=True)
    programme: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | ended
    managing_org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    enrolled_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16), default="condition")  # condition | manual
    condition_id: Mapped[str | None] = mapped_column(String(64))  # Condition/<id> that enrolled
    condition_code: Mapped[str | None] = mapped_column(String(16))
    next_due: Mapped[date] = mapped_column(Date)
    next_kind: Mapped[str] = mapped_column(String(16), default="routine")
    last_followup_on: Mapped[date | None] = mapped_column(Date)
    last_control: Mapped[str | None] = mapped_column(String(16))


class Followup(IdMixin, Base):
    """One follow-up (随访) of an enrolment: readings, the classification and the next date."""

    __tablename__ = "chronic_followups"
    __table_args__ = (
        Index("ix_chronic_followups_enrolment_on", "enrolment_id", "followed_on"),
        Index("ix_chronic_followups_programme_on", "programme", "followed_on"),
    )

    enrolment_id: Mapped[str] = mapped_column(ForeignKey("chronic_enrolments.id"))
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    programme: Mapped[str] = mapped_column(String(32))
    followed_on: Mapped[date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(16))  # clinic | home | phone | online
    face_to_face: Mapped[bool] = mapped_column(Boolean)
    annual_check: Mapped[bool] = mapped_column(Boolean, default=False)
    sbp: Mapped[int | None] = mapped_column(Integer)
    dbp: Mapped[int | None] = mapped_column(Integer)
    heart_rate: Mapped[int | None] = mapped_column(Integer)
    glucose: Mapped[float | None] = mapped_column(Float)
    temperature: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)
    waist_cm: Mapped[float | None] = mapped_column(Float)
    smoker: Mapped[bool | None] = mapped_column(Boolean)
    findings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    control: Mapped[str] = mapped_column(String(16))
    classification: Mapped[str] = mapped_column(String(32))
    next_due: Mapped[date] = mapped_column(Date)
    next_kind: Mapped[str] = mapped_column(String(16))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ReferralSuggestion(IdMixin, TimestampMixin, Base):
    """A referral the follow-up rules suggest (紧急转诊 / 建议转诊), until acted on."""

    __tablename__ = "chronic_referral_suggestions"
    __table_args__ = (
        UniqueConstraint("followup_id", name="uq_chronic_referral_suggestions_followup"),
        Index("ix_chronic_referral_suggestions_person_status", "person_id", "status"),
    )

    person_id: Mapped[str] = mapped_column(String(32))
    enrolment_id: Mapped[str] = mapped_column(ForeignKey("chronic_enrolments.id"))
    followup_id: Mapped[str] = mapped_column(ForeignKey("chronic_followups.id"))
    programme: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16))  # urgent | upward
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | requested | dismissed
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    referral_id: Mapped[str | None] = mapped_column(String(64))
    acted_by: Mapped[str | None] = mapped_column(String(64))
