"""Tables of TB patient management (DOT, visits, outcomes, transfers).

Seed 000 (长三角区域结核病协同防控中心): an internet-based patient-management platform with
medication monitoring and reminders, community-doctor visit reminders and real-time visit
records, and indicator statistics, deployed per province then interconnected.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime, utcnow


class TbCase(IdMixin, TimestampMixin, Base):
    """One treatment episode of one person (MPI id): registry row and worklist line."""

    __tablename__ = "tb_care_cases"
    # A person's episodes are numbered; a second open case for the same person is refused.
    __table_args__ = (
        UniqueConstraint("person_id", "episode"),
        UniqueConstraint("condition_id"),
        Index("ix_tb_care_cases_org_status", "organization_id", "status"),
    )

    person_id: Mapped[str] = mapped_column(String(32), index=True)
    episode: Mapped[int] = mapped_column(Integer, default=1)
    condition_id: Mapped[str | None] = mapped_column(String(64))  # the FHIR Condition it came from
    diagnosis_code: Mapped[str | None] = mapped_column(String(16))
    notification_date: Mapped[date] = mapped_column(Date, index=True)
    organization_id: Mapped[str] = mapped_column(String(32))  # managing community centre
    province_region_id: Mapped[str | None] = mapped_column(String(32), index=True)
    province: Mapped[str] = mapped_column(String(64), default="")
    city: Mapped[str] = mapped_column(String(64), default="")
    rr_tb: Mapped[bool] = mapped_column(Boolean, default=False)
    regimen: Mapped[str] = mapped_column(String(64), default="2HRZE/4HR")
    supervision: Mapped[str] = mapped_column(String(16), default="medical")  # medical | family
    phase: Mapped[str] = mapped_column(String(16), default="intensive")
    start_date: Mapped[date] = mapped_column(Date)
    intensive_end: Mapped[date] = mapped_column(Date)
    planned_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_date: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(String(64))


class TbDose(IdMixin, Base):
    """One day's dose of one case: taken, missed or late, observed by whom and how."""

    __tablename__ = "tb_care_doses"
    __table_args__ = (UniqueConstraint("case_id", "day"),)

    case_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tb_care_cases.id", ondelete="CASCADE"), index=True
    )
    day: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16), default="dot")
    observed_by: Mapped[str | None] = mapped_column(String(100))
    organization_id: Mapped[str | None] = mapped_column(String(32))
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TbVisit(IdMixin, Base):
    """A community doctor's visit (入户随访 / 随访评估), recorded in real time."""

    __tablename__ = "tb_care_visits"

    case_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tb_care_cases.id", ondelete="CASCADE"), index=True
    )
    visit_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(
        String(16), default="follow_up"
    )  # first | follow_up | closing
    found: Mapped[bool] = mapped_column(Boolean, default=True)
    organization_id: Mapped[str] = mapped_column(String(32))
    practitioner: Mapped[str | None] = mapped_column(String(100))
    findings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TbReminder(IdMixin, Base):
    """A reminder for the patient or the community doctor, delivered and acked by a gateway."""

    __tablename__ = "tb_care_reminders"
    __table_args__ = (
        UniqueConstraint("case_id", "due_date", "kind", "recipient"),
        Index("ix_tb_care_reminders_status_org", "status", "organization_id"),
    )

    case_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tb_care_cases.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(24))  # missed_dose | visit_overdue | missed_week
    recipient: Mapped[str] = mapped_column(String(16))  # patient | doctor | cdc
    due_date: Mapped[date] = mapped_column(Date)
    message: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acked_by: Mapped[str | None] = mapped_column(String(64))


class TbTransfer(IdMixin, Base):
    """转出 / 转入: the managing organisation hands the case to another, which acknowledges."""

    __tablename__ = "tb_care_transfers"
    __table_args__ = (Index("ix_tb_care_transfers_to_status", "to_organization_id", "status"),)

    case_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tb_care_cases.id", ondelete="CASCADE"), index=True
    )
    from_organization_id: Mapped[str] = mapped_column(String(32))
    to_organization_id: Mapped[str] = mapped_column(String(32))
    from_province: Mapped[str] = mapped_column(String(64), default="")
    to_province: Mapped[str] = mapped_column(String(64), default="")
    # pending | accepted | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(String(300), default="")
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class TbCaseEvent(Base):
    """The case's one timeline, whichever province's organisation wrote each entry."""

    __tablename__ = "tb_care_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tb_care_cases.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    organization_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
