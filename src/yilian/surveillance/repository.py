"""Queries of the surveillance domain."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from yilian.db import chunks
from yilian.surveillance.models import (
    CaseFact,
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

_SERIES = cast(Table, Series.__table__)
_DAILY = cast(Table, Daily.__table__)
_FACTS = cast(Table, CaseFact.__table__)

# Keys per IN list, well under SQLite's and PostgreSQL's limits on bound parameters.
CHUNK = 5_000


def insert_for(session: Session, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both engines (same API on SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def series_first_days(
    session: Session, keys: Collection[str]
) -> dict[str, tuple[str, date | None]]:
    """Key → (id, first day) of the existing series among ``keys``."""
    out: dict[str, tuple[str, date | None]] = {}
    for part in chunks(sorted(set(keys)), CHUNK):
        rows = session.execute(
            select(Series.key, Series.id, Series.first_day).where(Series.key.in_(part))
        )
        out.update({k: (i, d) for k, i, d in rows})
    return out


def insert_series(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Insert series unless their key exists (a concurrent writer); key → id of those added."""
    if not rows:
        return {}
    stmt = (
        insert_for(session, _SERIES)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_SERIES.c.key, _SERIES.c.id)
    )
    return {k: i for k, i in session.execute(stmt, list(rows))}


def move_first_days(session: Session, days: Mapping[str, date]) -> None:
    """Move each series' first day back to ``days[key]`` where it is later (or unset)."""
    if not days:
        return
    stmt = (
        update(_SERIES)
        .where(
            _SERIES.c.key == bindparam("b_key"),
            or_(_SERIES.c.first_day.is_(None), _SERIES.c.first_day > bindparam("b_day")),
        )
        .values(first_day=bindparam("b_day"))
    )
    session.execute(stmt, [{"b_key": k, "b_day": d} for k, d in days.items()])


def add_daily(
    session: Session, counts: Mapping[tuple[str, date], tuple[float, float | None]]
) -> None:
    """Add (count, total) to days of series, (series id, day) once each; race-safe increments.

    A total of None leaves the day's total as it is (a count that has no denominator).
    """
    for with_total in (False, True):
        rows = [
            {"series_id": sid, "day": day, "count": count, "total": total}
            for (sid, day), (count, total) in counts.items()
            if (total is not None) == with_total
        ]
        if not rows:
            continue
        ins = insert_for(session, _DAILY)
        values: dict[str, Any] = {"count": _DAILY.c.count + ins.excluded.count}
        if with_total:
            values["total"] = func.coalesce(_DAILY.c.total, 0) + ins.excluded.total
        stmt = ins.on_conflict_do_update(index_elements=["series_id", "day"], set_=values)
        session.execute(stmt, rows)


def insert_case_facts(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert facts of resources not seen before; the resource ids of those inserted."""
    if not rows:
        return set()
    stmt = (
        insert_for(session, _FACTS)
        .on_conflict_do_nothing(index_elements=["resource_id"])
        .returning(_FACTS.c.resource_id)
    )
    return set(session.scalars(stmt, list(rows)))


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
