"""Tables of the consult domain: cases, their record items, invitations, opinions and steps.

A case (会诊申请) belongs to the requesting clinician and organisation; its items
are FHIR resource keys of the person's longitudinal record, the only clinical data
invited experts may read. Persons and resources are referred to by id (the records
store is another domain's); organisations and practitioners by foreign key.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yilian.consult.rules import CaseStatus, CaseType, InvitationStatus, SessionMode
from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime, utcnow


def _enum(cls: type[StrEnum], name: str) -> Enum:
    # VARCHAR of the value on both engines (as the registry does): new members need no DDL.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


class ConsultCase(IdMixin, TimestampMixin, Base):
    """One consultation (会诊): a person's case, questions, schedule and signed conclusion."""

    __tablename__ = "consult_cases"
    __table_args__ = (
        Index("ix_consult_cases_requester", "requester_id", "created_at"),
        Index("ix_consult_cases_status_type", "status", "case_type"),
    )

    case_type: Mapped[CaseType] = mapped_column(_enum(CaseType, "consult_case_type"))
    status: Mapped[CaseStatus] = mapped_column(
        _enum(CaseStatus, "consult_case_status"), default=CaseStatus.draft
    )
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")  # 病情摘要
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)  # 会诊目的 / 拟解决问题
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    requesting_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    requester_id: Mapped[str] = mapped_column(String(64))  # principal subject
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    session_mode: Mapped[SessionMode | None] = mapped_column(
        _enum(SessionMode, "consult_session_mode")
    )
    scheduled_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    scheduled_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    location: Mapped[str] = mapped_column(String(300), default="")  # room or meeting link
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    access_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    conclusion: Mapped[str | None] = mapped_column(Text)
    signed_by: Mapped[str | None] = mapped_column(String(64))
    signed_by_name: Mapped[str | None] = mapped_column(String(200))
    signed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The DocumentReference filed in the person's record (records store id).
    conclusion_document_id: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))


class ConsultItem(IdMixin, Base):
    """A record item selected for the case: ``resource_type/resource_id`` in the FHIR store."""

    __tablename__ = "consult_items"
    __table_args__ = (UniqueConstraint("case_id", "resource_type", "resource_id"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("consult_cases.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))


class ConsultInvitation(IdMixin, Base):
    """An invited expert: a user account at an organisation, or a registry practitioner there.

    ``expert_key`` (``user:<org>:<user>`` or ``practitioner:<org>:<id>``) makes a second
    invitation of the same expert collide on the unique constraint, also under a race.
    """

    __tablename__ = "consult_invitations"
    __table_args__ = (
        UniqueConstraint("case_id", "expert_key"),
        Index("ix_consult_invitations_user", "user_id", "organization_id"),
    )

    case_id: Mapped[str] = mapped_column(ForeignKey("consult_cases.id", ondelete="CASCADE"))
    expert_key: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)  # order of invitation
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    practitioner_id: Mapped[str | None] = mapped_column(ForeignKey("practitioners.id"), index=True)
    expert_name: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(50), default="")  # 职称
    specialty: Mapped[str] = mapped_column(String(50), default="")
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)  # 主持专家: may sign
    status: Mapped[InvitationStatus] = mapped_column(
        _enum(InvitationStatus, "consult_invitation_status"), default=InvitationStatus.pending
    )
    invited_by: Mapped[str] = mapped_column(String(64))
    invited_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ConsultOpinion(IdMixin, TimestampMixin, Base):
    """An expert's opinion (专家意见); one per invitation, amendable until the conclusion."""

    __tablename__ = "consult_opinions"
    __table_args__ = (UniqueConstraint("invitation_id"),)

    case_id: Mapped[str] = mapped_column(
        ForeignKey("consult_cases.id", ondelete="CASCADE"), index=True
    )
    invitation_id: Mapped[str] = mapped_column(
        ForeignKey("consult_invitations.id", ondelete="CASCADE")
    )
    text: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_by_name: Mapped[str] = mapped_column(String(200), default="")
    # Entered by the case's requester for an expert without an account (线下会诊 minutes).
    transcribed: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int] = mapped_column(Integer, default=1)


# Breaks ties between events written in the same microsecond (one transaction, one process).
_event_seq = itertools.count(1)


def _next_event_seq() -> int:
    return next(_event_seq)


class ConsultEvent(IdMixin, Base):
    """Who did what, when, on a case (each state change, invitation, opinion, read)."""

    __tablename__ = "consult_events"
    __table_args__ = (Index("ix_consult_events_case_at", "case_id", "at"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("consult_cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    seq: Mapped[int] = mapped_column(BigInteger, default=_next_event_seq)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    organization_id: Mapped[str | None] = mapped_column(String(32))
    status_after: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
