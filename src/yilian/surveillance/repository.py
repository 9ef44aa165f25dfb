"""Queries of the surveillance domain."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from yilian.surveillance.models import (
    ClusterReport,
    Daily,
    DetectorResult,
    Event,
    EventTask,
    Notification,
    PublicReport,
    SentinelReport,
    Series,
    Signal,
    TimelineEntry,
)


def insert_for(session: Session, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both engines (same API on SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def series_id(session: Session, key: str) -> str | None:
    return session.scalar(select(Series.id).where(Series.key == key))


def series_by_key(session: Session, key: str) -> Series | None:
    return session.scalar(select(Series).where(Series.key == key))


def all_series(session: Session) -> list[Series]:
    return list(session.scalars(select(Series).order_by(Series.key)))


def list_series(
    session: Session, *, source: str | None, topic: str | None, area: str | None, limit: int
) -> list[Series]:
    stmt = select(Series).order_by(Series.key).limit(limit)
    if source:
        stmt = stmt.where(Series.source == source)
    if topic:
        stmt = stmt.where(Series.topic == topic)
    if area:
        stmt = stmt.where(Series.area_code == area)
    return list(session.scalars(stmt))


def daily_between(
    session: Session, start: date, end: date, series_ids: Iterable[str] | None = None
) -> list[tuple[str, date, float, float | None]]:
    stmt = select(Daily.series_id, Daily.day, Daily.count, Daily.total).where(
        Daily.day >= start, Daily.day <= end
    )
    if series_ids is not None:
        stmt = stmt.where(Daily.series_id.in_(list(series_ids)))
    return [(r[0], r[1], r[2], r[3]) for r in session.execute(stmt)]


def results_of(session: Session, sid: str, start: date, end: date) -> list[DetectorResult]:
    return list(
        session.scalars(
            select(DetectorResult)
            .where(
                DetectorResult.series_id == sid,
                DetectorResult.day >= start,
                DetectorResult.day <= end,
            )
            .order_by(DetectorResult.method, DetectorResult.day)
        )
    )


def sentinel_report(
    session: Session, site_org_id: str, syndrome: str, age_group: str, day: date
) -> SentinelReport | None:
    return session.scalar(
        select(SentinelReport)
        .where(
            SentinelReport.site_org_id == site_org_id,
            SentinelReport.syndrome == syndrome,
            SentinelReport.age_group == age_group,
            SentinelReport.day == day,
        )
        .with_for_update()
    )


def cluster_report(
    session: Session, setting_key: str, syndrome: str, day: date
) -> ClusterReport | None:
    return session.scalar(
        select(ClusterReport)
        .where(
            ClusterReport.setting_key == setting_key,
            ClusterReport.syndrome == syndrome,
            ClusterReport.day == day,
        )
        .with_for_update()
    )


def cluster_reports_between(session: Session, start: date, end: date) -> list[ClusterReport]:
    return list(
        session.scalars(
            select(ClusterReport).where(ClusterReport.day >= start, ClusterReport.day <= end)
        )
    )


def signal_continuing(
    session: Session, rule: str, subject: str, day: date, earliest_last: date
) -> Signal | None:
    return session.scalar(
        select(Signal)
        .where(
            Signal.rule == rule,
            Signal.subject == subject,
            Signal.first_day <= day,
            Signal.last_day >= earliest_last,
        )
        .order_by(Signal.first_day.desc())
        .limit(1)
    )


def signals_spanning(session: Session, day: date, rules: Iterable[str]) -> list[Signal]:
    return list(
        session.scalars(
            select(Signal).where(
                Signal.rule.in_(list(rules)), Signal.first_day <= day, Signal.last_day >= day
            )
        )
    )


def signals_query(status: str | None = None) -> Select[Any]:
    stmt = select(Signal).order_by(Signal.last_day.desc(), Signal.level.desc(), Signal.key)
    if status:
        stmt = stmt.where(Signal.status == status)
    return stmt


def list_signals(
    session: Session, *, status: str | None, limit: int, offset: int
) -> tuple[list[Signal], int]:
    stmt = signals_query(status)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def open_signal_levels(session: Session, states: Iterable[str]) -> list[tuple[str | None, str]]:
    rows = session.execute(
        select(Signal.street_code, Signal.level).where(Signal.status.in_(list(states)))
    )
    return [(r[0], r[1]) for r in rows]


def event_of_signal(session: Session, signal_id: str) -> Event | None:
    return session.scalar(select(Event).where(Event.signal_id == signal_id))


def tasks_of(session: Session, event_id: str) -> list[EventTask]:
    return list(
        session.scalars(
            select(EventTask).where(EventTask.event_id == event_id).order_by(EventTask.created_at)
        )
    )


def timeline_of(session: Session, signal_id: str) -> list[TimelineEntry]:
    return list(
        session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.signal_id == signal_id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    )


def notifications(session: Session, *, status: str | None, limit: int) -> list[Notification]:
    stmt = select(Notification).order_by(Notification.created_at, Notification.id).limit(limit)
    if status:
        stmt = stmt.where(Notification.status == status)
    return list(session.scalars(stmt))


def public_reports(session: Session, *, status: str | None, limit: int) -> list[PublicReport]:
    stmt = select(PublicReport).order_by(PublicReport.created_at.desc()).limit(limit)
    if status:
        stmt = stmt.where(PublicReport.status == status)
    return list(session.scalars(stmt))
