"""Tables of the surveillance domain (预警监测).

Facts arrive per source (sentinel reports, notifiable cases and lab results through
the exchange, school/care-home cluster reports, media and public reports); each
fact adds to the daily aggregates of its series; ``run`` writes detector results
per series × method × day and signals under a stable natural key; a confirmed
signal becomes an event with a response team, tasks and a timeline.
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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime, utcnow


class Series(IdMixin, TimestampMixin, Base):
    """One daily series: source × topic (syndrome, disease, pathogen) × area × site × age group."""

    __tablename__ = "surveillance_series"

    key: Mapped[str] = mapped_column(String(160), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # sentinel | case | lab | cluster
    topic: Mapped[str] = mapped_column(String(40))
    area_code: Mapped[str] = mapped_column(String(32))
    area_level: Mapped[str] = mapped_column(String(16))  # street | district | city | province
    street_code: Mapped[str | None] = mapped_column(String(32))
    district_code: Mapped[str | None] = mapped_column(String(32))
    site_code: Mapped[str] = mapped_column(String(64), default="all")  # reporting org, or "all"
    age_group: Mapped[str] = mapped_column(String(16), default="all")
    leaf: Mapped[bool] = mapped_column(Boolean, default=True)  # False for area roll-ups
    first_day: Mapped[date | None] = mapped_column(Date)
    methods: Mapped[list[str] | None] = mapped_column(JSON)  # None: the source's default
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # method → parameters

    __table_args__ = (
        Index("ix_surveillance_series_source_topic", "source", "topic"),
        Index("ix_surveillance_series_area", "area_code"),
    )


class Daily(Base):
    """One day of a series: the count (and, for positivity, the number tested)."""

    __tablename__ = "surveillance_daily"

    series_id: Mapped[str] = mapped_column(
        ForeignKey("surveillance_series.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[float] = mapped_column(Float, default=0)
    total: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_surveillance_daily_day", "day"),)


class SentinelReport(IdMixin, TimestampMixin, Base):
    """发热哨点 daily count of one site × syndrome × age group; a later report replaces it."""

    __tablename__ = "surveillance_sentinel_reports"

    site_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    site_code: Mapped[str] = mapped_column(String(64))
    syndrome: Mapped[str] = mapped_column(String(40))
    age_group: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    reported_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("site_org_id", "syndrome", "age_group", "day"),
        Index("ix_surveillance_sentinel_reports_day", "day"),
    )


class CaseFact(IdMixin, Base):
    """A notifiable-disease report (Condition) or a pathogen test (Observation) seen once."""

    __tablename__ = "surveillance_case_facts"

    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # case | lab
    topic: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    org_code: Mapped[str | None] = mapped_column(String(64))
    area_code: Mapped[str] = mapped_column(String(32))
    positive: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_surveillance_case_facts_topic_day", "topic", "day"),)


class ClusterReport(IdMixin, TimestampMixin, Base):
    """学校 / 托幼机构 / 养老机构 cases of one setting and day; a later report replaces it."""

    __tablename__ = "surveillance_cluster_reports"

    setting_kind: Mapped[str] = mapped_column(String(16))  # school | kindergarten | care_home
    setting_name: Mapped[str] = mapped_column(String(200))
    setting_key: Mapped[str] = mapped_column(String(240))
    area_code: Mapped[str] = mapped_column(String(32))
    syndrome: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    cases: Mapped[int] = mapped_column(Integer)
    absent: Mapped[int | None] = mapped_column(Integer)
    reported_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        UniqueConstraint("setting_key", "syndrome", "day"),
        Index("ix_surveillance_cluster_reports_day", "day"),
    )


class PublicReport(IdMixin, TimestampMixin, Base):
    """媒体舆情 or 社会举报 entered by hand; a reviewer accepts (→ signal) or rejects it."""

    __tablename__ = "surveillance_public_reports"

    channel: Mapped[str] = mapped_column(String(16))  # media | public
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    area_code: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str | None] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    entered_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    review_note: Mapped[str | None] = mapped_column(Text)
    signal_id: Mapped[str | None] = mapped_column(String(32))


class DetectorResult(Base):
    """One method's verdict on one series and day; re-running the day rewrites the same row."""

    __tablename__ = "surveillance_results"

    series_id: Mapped[str] = mapped_column(
        ForeignKey("surveillance_series.id", ondelete="CASCADE"), primary_key=True
    )
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    observed: Mapped[float] = mapped_column(Float)
    expected: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    alarm: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_surveillance_results_day_alarm", "day", "alarm"),)


class Signal(IdMixin, TimestampMixin, Base):
    """预警信号 a rule raised, keyed rule:subject:first day so that ``run`` is idempotent."""

    __tablename__ = "surveillance_signals"

    key: Mapped[str] = mapped_column(String(300), unique=True)
    rule: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(260))
    source: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str | None] = mapped_column(String(40))
    area_code: Mapped[str | None] = mapped_column(String(32), index=True)
    street_code: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))  # yellow | orange | red
    title: Mapped[str] = mapped_column(String(300))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_surveillance_signals_rule_subject", "rule", "subject", "last_day"),)


class Event(IdMixin, TimestampMixin, Base):
    """突发公共卫生事件 confirmed from a signal: response team, tasks, timeline, summary."""

    __tablename__ = "surveillance_events"

    signal_id: Mapped[str] = mapped_column(ForeignKey("surveillance_signals.id"), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="confirmed", index=True)
    team_org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    team_practitioner_ids: Mapped[list[str] | None] = mapped_column(JSON)
    summary: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class EventTask(IdMixin, TimestampMixin, Base):
    """A task of an event's response (流调, 采样, 消杀, 健康教育 …)."""

    __tablename__ = "surveillance_event_tasks"

    event_id: Mapped[str] = mapped_column(ForeignKey("surveillance_events.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    assignee: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done


class TimelineEntry(IdMixin, Base):
    """What happened to a signal or an event, in order (the page's 时间线)."""

    __tablename__ = "surveillance_timeline"

    signal_id: Mapped[str] = mapped_column(ForeignKey("surveillance_signals.id"), index=True)
    event_id: Mapped[str | None] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)


class Notification(IdMixin, Base):
    """A message for the gateways (SMS, 政务微信 …) to deliver and then acknowledge."""

    __tablename__ = "surveillance_notifications"

    kind: Mapped[str] = mapped_column(String(32))
    signal_id: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(32))
    recipient_org_id: Mapped[str | None] = mapped_column(String(32))
    recipient_role: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    acked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acked_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_surveillance_notifications_status", "status", "created_at"),)


class Run(IdMixin, Base):
    """One ``run`` of a day: what it evaluated and raised (re-runs add a row, not signals)."""

    __tablename__ = "surveillance_runs"

    day: Mapped[date] = mapped_column(Date, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    series: Mapped[int] = mapped_column(Integer)
    results: Mapped[int] = mapped_column(Integer)
    alarms: Mapped[int] = mapped_column(Integer)
    signals: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
