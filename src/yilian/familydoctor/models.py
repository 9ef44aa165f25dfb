"""Tables of the familydoctor domain: teams, contracts (签约), the resident roster, screening,
abnormal results to act on, and reminders for the SMS/WeChat gateways.

Person ids are MPI ids (``persons.id``); organisations, regions and practitioners are
the registry's. Every lookup has an index; every idempotent write a unique key.
"""

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime, utcnow

_ACTIVE_SQL = "status = 'active'"


class Team(IdMixin, TimestampMixin, Base):
    """家庭医生团队 at a community centre or station."""

    __tablename__ = "familydoctor_teams"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class TeamMember(IdMixin, TimestampMixin, Base):
    """A member of a team: a registry practitioner and/or a platform account, in one role."""

    __tablename__ = "familydoctor_team_members"
    __table_args__ = (
        Index("ix_familydoctor_team_members_team", "team_id", "role"),
        Index("ix_familydoctor_team_members_user", "user_id"),
        Index("ix_familydoctor_team_members_practitioner", "practitioner_id"),
    )

    team_id: Mapped[str] = mapped_column(ForeignKey("familydoctor_teams.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))  # rules.TeamRole
    name: Mapped[str] = mapped_column(String(100))
    practitioner_id: Mapped[str | None] = mapped_column(ForeignKey("practitioners.id"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))


class Resident(Base):
    """辖区居民 roster: what coverage and worklists need of a person, projected from Patient.

    Kept by the Patient projector (the newest Patient resource wins), so that
    coverage over 700,000 residents is one indexed aggregate, not a scan of FHIR JSON.
    """

    __tablename__ = "familydoctor_residents"
    __table_args__ = (Index("ix_familydoctor_residents_street", "street_region_id"),)

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(16))
    # 街道 of residence: matched from the address; see docs/familydoctor.md.
    street_region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"))
    name_masked: Mapped[str | None] = mapped_column(String(64))
    phone_encrypted: Mapped[str | None] = mapped_column(String(255))
    phone_masked: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class KeyPopulation(IdMixin, Base):
    """A key-population category declared for a person (on a contract or by a team).

    Categories that follow from the record (age, chronic programmes) are derived
    when needed and not stored here.
    """

    __tablename__ = "familydoctor_key_populations"
    __table_args__ = (UniqueConstraint("person_id", "category"),)

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    category: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(32), default="contract")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Contract(IdMixin, TimestampMixin, Base):
    """家庭医生签约: one person with one team at a centre, for a period.

    One active contract per person (partial unique index): a second centre's
    attempt collides (409) however the requests interleave.
    """

    __tablename__ = "familydoctor_contracts"
    __table_args__ = (
        Index(
            "uq_familydoctor_contracts_active_person",
            "person_id",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_familydoctor_contracts_person", "person_id", "start"),
        Index("ix_familydoctor_contracts_team", "team_id", "status"),
        Index("ix_familydoctor_contracts_org", "organization_id", "status"),
        Index("ix_familydoctor_contracts_station", "station_id"),
        Index("ix_familydoctor_contracts_family", "family_group"),
        Index("ix_familydoctor_contracts_source_ref", "source_ref"),
    )

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    station_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    team_id: Mapped[str] = mapped_column(ForeignKey("familydoctor_teams.id"))
    doctor_member_id: Mapped[str | None] = mapped_column(ForeignKey("familydoctor_team_members.id"))
    doctor_practitioner_id: Mapped[str | None] = mapped_column(ForeignKey("practitioners.id"))
    doctor_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16), default="individual")  # rules.ContractKind
    family_group: Mapped[str | None] = mapped_column(String(32))  # 家庭签约: shared by members
    functional_kind: Mapped[str | None] = mapped_column(String(16))  # rules.FunctionalCommunity
    functional_name: Mapped[str | None] = mapped_column(String(200))
    # "1+1+1": the district-level and the municipal-level institution chosen with it.
    district_hospital_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    city_hospital_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")  # rules.ContractStatus
    renewed_from_id: Mapped[str | None] = mapped_column(String(32))
    ended_reason: Mapped[str | None] = mapped_column(String(500))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # declared key populations
    source: Mapped[str] = mapped_column(String(16), default="api")  # api | fhir | demo
    source_ref: Mapped[str | None] = mapped_column(String(100))  # EpisodeOfCare/<id>
    created_by: Mapped[str | None] = mapped_column(String(64))


class EpisodeIssue(IdMixin, TimestampMixin, Base):
    """A contract sent as a FHIR EpisodeOfCare that was not taken in, and why.

    The bundle that carried it is stored whatever happens to the contract (the episode is
    the institution's record); the issue is what a centre sees and resolves — e.g. a person
    already under contract at another centre — and ``resource`` lets it be replayed.
    """

    __tablename__ = "familydoctor_episode_issues"
    __table_args__ = (
        UniqueConstraint("source_ref"),
        Index("ix_familydoctor_episode_issues_org", "organization_id", "status"),
    )

    source_ref: Mapped[str] = mapped_column(String(100))  # EpisodeOfCare/<id>
    person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id"))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    reason_code: Mapped[str] = mapped_column(String(32))  # episodes.ISSUE_CODES
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)


class CrcScreening(IdMixin, TimestampMixin, Base):
    """大肠癌筛查, one round per person and year: questionnaire + two FITs → colonoscopy."""

    __tablename__ = "familydoctor_crc_screenings"
    __table_args__ = (
        UniqueConstraint("person_id", "round_year"),
        Index("ix_familydoctor_crc_screenings_status", "status"),
    )

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    round_year: Mapped[int] = mapped_column(Integer)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    questionnaire_positive: Mapped[bool | None] = mapped_column(Boolean)
    questionnaire_on: Mapped[date | None] = mapped_column(Date)
    fit1: Mapped[str | None] = mapped_column(String(16))
    fit1_on: Mapped[date | None] = mapped_column(Date)
    fit2: Mapped[str | None] = mapped_column(String(16))
    fit2_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(24))  # rules.CrcStatus
    positive: Mapped[bool | None] = mapped_column(Boolean)
    fit2_due: Mapped[date | None] = mapped_column(Date)
    referral_no: Mapped[str | None] = mapped_column(String(40))  # 转诊单号
    fee_waiver: Mapped[bool] = mapped_column(Boolean, default=False)  # 肠镜免挂号费
    referred_on: Mapped[date | None] = mapped_column(Date)
    colonoscopy_on: Mapped[date | None] = mapped_column(Date)
    colonoscopy_result: Mapped[str | None] = mapped_column(String(200))


class Vaccination(IdMixin, Base):
    """A programme vaccination (PPV23 for residents ≥60): one free dose per person."""

    __tablename__ = "familydoctor_vaccinations"
    __table_args__ = (UniqueConstraint("person_id", "vaccine"),)

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    vaccine: Mapped[str] = mapped_column(String(16))
    given_on: Mapped[date] = mapped_column(Date)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HealthCheck(IdMixin, Base):
    """老年人年度健康体检 (基本公卫规范 §1.4): one per person and year."""

    __tablename__ = "familydoctor_health_checks"
    __table_args__ = (UniqueConstraint("person_id", "year"),)

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    year: Mapped[int] = mapped_column(Integer)
    done_on: Mapped[date] = mapped_column(Date)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AbnormalResult(IdMixin, Base):
    """An abnormal Observation to act on; written whether or not a contract exists yet."""

    __tablename__ = "familydoctor_abnormal_results"
    __table_args__ = (
        UniqueConstraint("resource_id"),
        Index("ix_familydoctor_abnormal_results_person", "person_id", "status"),
    )

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    resource_id: Mapped[str] = mapped_column(String(64))  # Observation/<id>
    source_org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str | None] = mapped_column(String(64))
    display: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    flag: Mapped[str] = mapped_column(String(8))
    effective_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done
    acted_by: Mapped[str | None] = mapped_column(String(64))
    acted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(String(500))


class Reminder(IdMixin, TimestampMixin, Base):
    """A reminder for a resident, fetched and acknowledged by an SMS/WeChat gateway."""

    __tablename__ = "familydoctor_reminders"
    __table_args__ = (
        UniqueConstraint("person_id", "kind", "due_date"),
        Index("ix_familydoctor_reminders_status", "status", "id"),
        Index("ix_familydoctor_reminders_org", "organization_id", "status"),
    )

    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"))
    kind: Mapped[str] = mapped_column(String(24))
    due_date: Mapped[date] = mapped_column(Date)
    run_date: Mapped[date] = mapped_column(Date)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("familydoctor_teams.id"))
    channel: Mapped[str] = mapped_column(String(16), default="sms")  # sms | wechat
    message: Mapped[str] = mapped_column(String(500))
    phone_encrypted: Mapped[str | None] = mapped_column(String(255))
    phone_masked: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReminderRun(IdMixin, Base):
    """One day's reminder generation: the cursor lets a killed run continue where it stopped."""

    __tablename__ = "familydoctor_reminder_runs"
    __table_args__ = (UniqueConstraint("run_date"),)

    run_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done
    cursor: Mapped[str] = mapped_column(String(32), default="")  # last person id handled
    created: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
