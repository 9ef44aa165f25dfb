"""预警监测: facts in, daily series, detector runs, signals, and the alert lifecycle.

Every function takes a Session and flushes; the request or the CLI commits.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.audit.service import record
from yilian.db import new_id, utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security.principal import Principal, Role
from yilian.surveillance import repository as repo
from yilian.surveillance import rules
from yilian.surveillance.config import SurveillanceSettings, get_surveillance_settings
from yilian.surveillance.models import (
    ClusterReport,
    DetectorResult,
    Event,
    EventTask,
    Notification,
    PublicReport,
    Run,
    SentinelReport,
    Series,
    Signal,
    TimelineEntry,
)

log = logging.getLogger("yilian.surveillance")

DetectFn = Callable[..., list[Any]]
RUN_RULES = ("persistent", "multi_site", "cluster", "immediate")
SIGNAL = "SurveillanceSignal"
EVENT = "SurveillanceEvent"


def today(cfg: SurveillanceSettings | None = None) -> date:
    """The current day where the region is (reports and runs are dated in local time)."""
    cfg = cfg or get_surveillance_settings()
    return datetime.now(ZoneInfo(cfg.timezone)).date()


# Nothing the platform monitors predates this; earlier dates are typing errors, and
# date arithmetic on them would overflow.
EARLIEST_DAY = date(1900, 1, 1)


def not_in_future(day: date, field: str = "day") -> None:
    if day < EARLIEST_DAY:
        raise Unprocessable(
            f"{field} {day.isoformat()} is before {EARLIEST_DAY.isoformat()}", field=field
        )
    if day > today():
        raise Unprocessable(f"{field} {day.isoformat()} is in the future", field=field)


# --- areas and series --------------------------------------------------------


@dataclass(frozen=True)
class Area:
    code: str
    level: str
    street: str | None
    district: str | None


def org_area(session: Session, org: Organization) -> Area:
    """The 行政区划 of an organisation, with its street and district codes."""
    return org_areas(session, [org])[org.id]


def org_areas(session: Session, orgs: Iterable[Organization]) -> dict[str, Area]:
    """Organisation id → its area; the regions of those not seen before in one query."""
    cache: dict[str, Area] = session.info.setdefault("surveillance.areas", {})
    wanted = {o.id: o for o in orgs}
    unseen = [o for o in wanted.values() if o.id not in cache]
    if unseen:
        regions = registry.regions_with_ancestors(session, {o.region_id for o in unseen})
        for org in unseen:
            chain = []
            node = regions.get(org.region_id)
            while node is not None:
                chain.append(node)
                node = regions.get(node.parent_id) if node.parent_id else None
            own = chain[0]
            by_level = {str(r.level): r.code for r in reversed(chain)}
            street, district = by_level.get("street"), by_level.get("district")
            cache[org.id] = Area(own.code, str(own.level), street, district)
    return {org_id: cache[org_id] for org_id in wanted}


def ensure_series(
    session: Session, wanted: Mapping[str, tuple[rules.SeriesInfo, date]]
) -> dict[str, str]:
    """Key → id of the series ``wanted`` (key → its info and earliest day of data): those
    missing are created, a first day is moved back where the data start earlier."""
    if not wanted:
        return {}
    found = repo.series_first_days(session, wanted.keys())
    ids = {key: sid for key, (sid, _) in found.items()}
    now = utcnow()
    missing = [key for key in wanted if key not in found]
    ids.update(repo.insert_series(session, [series_row(*wanted[key], now) for key in missing]))
    raced = [key for key in missing if key not in ids]  # another writer created it meanwhile
    earlier = {
        key: day
        for key, (_, day) in wanted.items()
        if key in raced or (key in found and _later(found[key][1], day))
    }
    repo.move_first_days(session, earlier)
    if raced:
        ids.update({key: sid for key, (sid, _) in repo.series_first_days(session, raced).items()})
    return ids


def _later(first_day: date | None, day: date) -> bool:
    return first_day is None or first_day > day


def series_row(info: rules.SeriesInfo, first_day: date, now: datetime) -> dict[str, Any]:
    """The row of a new series; ``methods`` and ``params`` are left out: SQL NULL (the
    source's default), where a None would store JSON ``null``."""
    return {
        "id": new_id(), "key": info.key, "source": info.source, "topic": info.topic,
        "area_code": info.area_code, "area_level": _level_of(info),
        "street_code": info.street_code, "district_code": info.district_code,
        "site_code": info.site_code, "age_group": info.age_group, "leaf": info.leaf,
        "first_day": first_day, "created_at": now, "updated_at": now,
    }  # fmt: skip


def _level_of(info: rules.SeriesInfo) -> str:
    if info.area_code == info.street_code:
        return "street"
    if info.area_code == info.district_code:
        return "district"
    return "other"


def sentinel_series(
    site_code: str, area: Area, syndrome: str, age_group: str
) -> list[rules.SeriesInfo]:
    """The series a sentinel count adds to: its age group, the site's total, the area roll-ups."""
    out = [
        rules.SeriesInfo(
            rules.series_key("sentinel", syndrome, area.code, site_code, age),
            "sentinel", syndrome, area.code, area.street, area.district, site_code, age, True,
        )
        for age in (age_group, rules.ALL)
    ]  # fmt: skip
    out.extend(_rollups("sentinel", syndrome, area))
    return out


def _rollups(source: str, topic: str, area: Area) -> list[rules.SeriesInfo]:
    out = []
    for code in (area.street, area.district):
        if code is None:
            continue
        street = code if code == area.street else None
        out.append(
            rules.SeriesInfo(
                rules.series_key(source, topic, code), source, topic, code, street,
                area.district, rules.ALL, rules.ALL, False,
            )
        )  # fmt: skip
    return out


def _area_series(source: str, topic: str, area: Area) -> list[rules.SeriesInfo]:
    """A leaf at the reporting organisation's own area, plus roll-ups above it."""
    leaf = rules.SeriesInfo(
        rules.series_key(source, topic, area.code), source, topic, area.code, area.street,
        area.district, rules.ALL, rules.ALL, True,
    )  # fmt: skip
    return [leaf, *(r for r in _rollups(source, topic, area) if r.key != leaf.key)]


def _add_to(
    session: Session,
    infos: Iterable[rules.SeriesInfo],
    day: date,
    count: float,
    total: float | None = None,
) -> None:
    _add_many(session, [(info, day, count, total) for info in infos])


def _add_many(
    session: Session, additions: Iterable[tuple[rules.SeriesInfo, date, float, float | None]]
) -> None:
    """Add (count, total) to series days in order, as one by one would, set-wise."""
    wanted: dict[str, tuple[rules.SeriesInfo, date]] = {}
    sums: dict[tuple[str, date], tuple[float, float | None]] = {}
    for info, day, count, total in additions:
        first = wanted.get(info.key)
        wanted[info.key] = (first[0], min(first[1], day)) if first else (info, day)
        was_count, was_total = sums.get((info.key, day), (0.0, None))
        sums[(info.key, day)] = (
            was_count + count,
            was_total if total is None else (was_total or 0.0) + total,
        )
    ids = ensure_series(session, wanted)
    repo.add_daily(session, {(ids[key], day): v for (key, day), v in sums.items()})


# --- sources -----------------------------------------------------------------


def resolve_org(session: Session, ref: str, field: str) -> Organization:
    """An organisation by id or by code; 422 naming ``field`` when there is none."""
    org = registry.get_organization_by_code(session, ref)
    if org is None:
        try:
            org = registry.get_organization(session, ref)
        except NotFound:
            raise Unprocessable(f"{field}: no organisation {ref!r}", field=field) from None
    return org


def _require_site(principal: Principal, org: Organization) -> None:
    if principal.role in (Role.admin, Role.cdc):
        return
    if principal.organization_id != org.id:
        raise Forbidden("an institution reports only for its own sentinel site")


@dataclass(frozen=True)
class ReportOutcome:
    report: SentinelReport
    created: bool
    previous: int | None


def submit_sentinel_report(
    session: Session,
    principal: Principal,
    *,
    site: str,
    syndrome: str,
    age_group: str,
    day: date,
    count: int,
) -> ReportOutcome:
    """Record a 发热哨点 daily count; a later report of the same day replaces the earlier one."""
    cfg = get_surveillance_settings()
    if syndrome not in cfg.syndromes:
        raise Unprocessable(f"syndrome: unknown syndrome {syndrome!r}", field="syndrome")
    if age_group not in cfg.age_groups:
        raise Unprocessable(f"age_group: unknown age group {age_group!r}", field="age_group")
    if count < 0:
        raise Unprocessable("count: must not be negative", field="count")
    not_in_future(day)
    org = resolve_org(session, site, "site")
    _require_site(principal, org)
    area = org_area(session, org)
    existing = repo.sentinel_report(session, org.id, syndrome, age_group, day)
    created = False
    previous: int | None = None
    if existing is None:
        report = SentinelReport(
            site_org_id=org.id, site_code=org.code, syndrome=syndrome, age_group=age_group,
            day=day, count=count, reported_by=principal.name,
        )  # fmt: skip
        try:
            with session.begin_nested():
                session.add(report)
                session.flush()
            created = True
            delta = count
        except IntegrityError:
            # Another request stored the same report meanwhile: replace it as a later one.
            existing = repo.sentinel_report(session, org.id, syndrome, age_group, day)
            if existing is None:
                raise Conflict("the report changed meanwhile; send it again") from None
    if not created:
        assert existing is not None
        report = existing
        previous = report.count
        delta = count - report.count
        report.count = count
        report.revision += 1
        report.reported_by = principal.name
        session.flush()
    if delta:
        _add_to(session, sentinel_series(org.code, area, syndrome, age_group), day, delta)
    record(
        session, principal,
        action="surveillance.report.create" if created else "surveillance.report.replace",
        resource_type="SurveillanceSentinelReport", resource_id=report.id, outcome="success",
        detail={"site": org.code, "syndrome": syndrome, "age_group": age_group,
                "day": day.isoformat(), "count": count, "previous": previous},
    )  # fmt: skip
    return ReportOutcome(report, created, previous)


def submit_cluster_report(
    session: Session,
    principal: Principal,
    *,
    setting_kind: str,
    setting_name: str,
    area_code: str,
    syndrome: str,
    day: date,
    cases: int,
    absent: int | None,
) -> tuple[ClusterReport, bool]:
    """Record a school / care-home cluster report; a later one of the same day replaces it."""
    cfg = get_surveillance_settings()
    if syndrome not in cfg.syndromes:
        raise Unprocessable(f"syndrome: unknown syndrome {syndrome!r}", field="syndrome")
    if cases < 0 or (absent is not None and absent < 0):
        raise Unprocessable("cases: must not be negative", field="cases")
    not_in_future(day)
    region = registry.get_region_by_code(session, area_code)
    if region is None:
        raise Unprocessable(f"area_code: no region {area_code!r}", field="area_code")
    chain = registry.region_ancestry(session, region.id)
    levels = {str(r.level): r.code for r in chain}
    area = Area(region.code, str(region.level), levels.get("street"), levels.get("district"))
    key = f"{setting_kind}:{area_code}:{setting_name.strip()}"
    existing = repo.cluster_report(session, key, syndrome, day)
    created = existing is None
    previous = 0 if existing is None else existing.cases
    if existing is None:
        existing = ClusterReport(
            setting_kind=setting_kind, setting_name=setting_name.strip(), setting_key=key,
            area_code=area_code, syndrome=syndrome, day=day, cases=cases, absent=absent,
            reported_by=principal.name,
        )  # fmt: skip
        try:
            with session.begin_nested():
                session.add(existing)
                session.flush()
        except IntegrityError:
            raise Conflict("the same cluster report arrived twice at once; send it again") from None
    else:
        existing.cases, existing.absent, existing.reported_by = cases, absent, principal.name
        session.flush()
    if cases - previous:
        infos = [
            rules.SeriesInfo(
                rules.series_key("cluster", syndrome, area.code), "cluster", syndrome, area.code,
                area.street, area.district, rules.ALL, rules.ALL, False,
            )
        ]  # fmt: skip
        _add_to(session, infos, day, cases - previous)
    record(
        session, principal,
        action="surveillance.cluster.create" if created else "surveillance.cluster.replace",
        resource_type="SurveillanceClusterReport", resource_id=existing.id, outcome="success",
        detail={"setting": key, "syndrome": syndrome, "day": day.isoformat(), "cases": cases,
                "previous": None if created else previous},
    )  # fmt: skip
    return existing, created


def submit_public_report(
    session: Session,
    principal: Principal,
    *,
    channel: str,
    title: str,
    text: str,
    area_code: str,
    topic: str | None,
    day: date,
) -> PublicReport:
    """Enter a 媒体舆情 or 社会举报 item; it waits for a reviewer."""
    not_in_future(day)
    if registry.get_region_by_code(session, area_code) is None:
        raise Unprocessable(f"area_code: no region {area_code!r}", field="area_code")
    report = PublicReport(
        channel=channel, title=title, text=text, area_code=area_code, topic=topic, day=day,
        entered_by=principal.name,
    )  # fmt: skip
    session.add(report)
    session.flush()
    record(
        session, principal, action="surveillance.public.create",
        resource_type="SurveillancePublicReport", resource_id=report.id, outcome="success",
        detail={"channel": channel, "area": area_code},
    )  # fmt: skip
    return report


def review_public_report(
    session: Session, principal: Principal, report_id: str, *, accept: bool, note: str | None
) -> PublicReport:
    """Accept (it becomes a signal) or reject a pending media/public report."""
    report = session.get(PublicReport, report_id, with_for_update=True)
    if report is None:
        raise NotFound(f"public report {report_id} does not exist")
    if report.status != "pending":
        raise Conflict(f"public report {report_id} was already {report.status}")
    if not accept and not (note and note.strip()):
        raise Unprocessable("note: a rejection needs a reason", field="note")
    report.status = "accepted" if accept else "rejected"
    report.reviewed_by, report.review_note = principal.name, note
    if accept:
        region = registry.get_region_by_code(session, report.area_code)
        street = report.area_code if region is not None and str(region.level) == "street" else None
        cand = rules.Candidate(
            rule="public", subject=f"public:{report.id}", day=report.day, level="yellow",
            source="public", topic=report.topic, area_code=report.area_code, street_code=street,
            title=f"{'媒体舆情' if report.channel == 'media' else '社会举报'}：{report.title}",
            evidence={"public_report": report.id},
        )  # fmt: skip
        report.signal_id = _raise(session, cand, principal.name).id
    session.flush()
    record(
        session, principal, action="surveillance.public.review",
        resource_type="SurveillancePublicReport", resource_id=report.id, outcome="success",
        detail={"decision": report.status, "note": note},
    )  # fmt: skip
    return report


# --- projections (FHIR through the exchange) ---------------------------------


def notifiable_topic(resource: Mapping[str, Any], cfg: SurveillanceSettings) -> str | None:
    """The disease key of a notifiable Condition (by ICD-10 code or prefix), else None."""
    for coding in (resource.get("code") or {}).get("coding") or []:
        code = str(coding.get("code") or "")
        if not code or "icd-10" not in str(coding.get("system") or "").lower():
            continue
        best = max((p for p in cfg.notifiable if code.startswith(p)), key=len, default=None)
        if best is not None:
            return cfg.notifiable[best]
    return None


def _local_day(value: Any, cfg: SurveillanceSettings) -> date | None:
    """The local day of a FHIR date/dateTime; None when absent, unreadable or impossible
    (in the future or before EARLIEST_DAY: a report is not counted on a day that cannot be
    its own)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                moment = moment.astimezone(ZoneInfo(cfg.timezone))
            day = moment.date()
    except ValueError:
        return None
    return day if EARLIEST_DAY <= day <= today(cfg) else None


Reported = tuple[str, Mapping[str, Any], str | None]  # (resource id, FHIR resource, sender id)


@dataclass(frozen=True)
class _Fact:
    resource_id: str
    topic: str
    day: date
    org_id: str
    positive: bool | None


def project_condition(
    session: Session, resource_id: str, resource: Mapping[str, Any], source_org_id: str | None
) -> bool:
    """Count a notifiable-disease report (法定传染病报告卡) once; True when it was counted."""
    return resource_id in project_conditions(session, [(resource_id, resource, source_org_id)])


def project_conditions(session: Session, reported: Sequence[Reported]) -> set[str]:
    """Count notifiable-disease reports, each resource once, in order; the ids counted."""
    cfg = get_surveillance_settings()
    facts = []
    for resource_id, resource, source_org_id in reported:
        topic = notifiable_topic(resource, cfg)
        if topic is None or source_org_id is None:
            continue
        day = _local_day(resource.get("onsetDateTime"), cfg) or _local_day(
            resource.get("recordedDate"), cfg
        )
        if day is not None:
            facts.append(_Fact(resource_id, topic, day, source_org_id, None))
    return _count_facts(session, "Condition", "case", facts)


def pathogen_result(
    resource: Mapping[str, Any], cfg: SurveillanceSettings
) -> tuple[str, bool] | None:
    """(LOINC, positive?) of a pathogen test with a positive/negative value, else None."""
    loinc = next(
        (
            str(c.get("code"))
            for c in (resource.get("code") or {}).get("coding") or []
            if "loinc" in str(c.get("system") or "") and str(c.get("code")) in cfg.pathogen_tests
        ),
        None,
    )
    if loinc is None:
        return None
    for c in (resource.get("valueCodeableConcept") or {}).get("coding") or []:
        code = str(c.get("code") or "")
        if code in ("10828004", "POS"):
            return loinc, True
        if code in ("260385009", "NEG"):
            return loinc, False
    return None


def project_observation(
    session: Session, resource_id: str, resource: Mapping[str, Any], source_org_id: str | None
) -> bool:
    """Count a pathogen test (positive or negative) once for the positivity series."""
    return resource_id in project_observations(session, [(resource_id, resource, source_org_id)])


def project_observations(session: Session, reported: Sequence[Reported]) -> set[str]:
    """Count pathogen tests for the positivity series, each resource once; the ids counted."""
    cfg = get_surveillance_settings()
    facts = []
    for resource_id, resource, source_org_id in reported:
        found = pathogen_result(resource, cfg)
        if found is None or source_org_id is None:
            continue
        day = _local_day(resource.get("effectiveDateTime"), cfg) or _local_day(
            resource.get("issued"), cfg
        )
        if day is not None:
            facts.append(_Fact(resource_id, found[0], day, source_org_id, found[1]))
    return _count_facts(session, "Observation", "lab", facts)


def _fact_row(
    resource_type: str, source: str, f: _Fact, org_code: str, area_code: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(), "resource_type": resource_type, "resource_id": f.resource_id,
        "source": source, "topic": f.topic, "day": f.day, "org_code": org_code,
        "area_code": area_code, "positive": f.positive, "created_at": now,
    }  # fmt: skip


def _count_facts(
    session: Session, resource_type: str, source: str, facts: Sequence[_Fact]
) -> set[str]:
    """Store the facts of resources not seen before (an update does not count twice) and add
    them to their series: one statement per table, however many facts."""
    if not facts:
        return set()
    orgs = registry.organizations_by_ids(session, {f.org_id for f in facts})
    first: dict[str, _Fact] = {}
    for f in facts:
        if f.org_id in orgs:
            first.setdefault(f.resource_id, f)
    areas = org_areas(session, [orgs[f.org_id] for f in first.values()])
    now = utcnow()
    rows = [
        _fact_row(resource_type, source, f, orgs[f.org_id].code, areas[f.org_id].code, now)
        for f in first.values()
    ]
    counted = repo.insert_case_facts(session, rows)
    _add_many(
        session,
        [
            (info, f.day, 1.0 if f.positive else 0.0, 1.0)
            if source == "lab"
            else (info, f.day, 1.0, None)
            for f in first.values()
            if f.resource_id in counted
            for info in _area_series(source, f.topic, areas[f.org_id])
        ],
    )
    return counted


# --- detector runs ------------------------------------------------------------


@dataclass
class RunSummary:
    day: date
    series: int = 0
    results: int = 0
    alarms: int = 0
    signals: list[str] = field(default_factory=list)
    new_signals: int = 0
    seconds: float = 0.0


def _info(s: Series) -> rules.SeriesInfo:
    return rules.SeriesInfo(
        s.key, s.source, s.topic, s.area_code, s.street_code, s.district_code, s.site_code,
        s.age_group, s.leaf,
    )  # fmt: skip


def methods_of(s: Series, cfg: SurveillanceSettings) -> list[str]:
    return list(s.methods) if s.methods else list(cfg.methods_by_source.get(s.source, []))


def _names(session: Session, series: Sequence[Series], cfg: SurveillanceSettings) -> dict[str, str]:
    names: dict[str, str] = {**cfg.syndromes, **cfg.disease_names, **cfg.pathogen_tests}
    for code in {s.site_code for s in series if s.site_code != rules.ALL}:
        org = registry.get_organization_by_code(session, code)
        if org is not None:
            names[code] = org.short_name or org.name
    for code in {c for s in series for c in (s.area_code, s.street_code, s.district_code) if c}:
        region = registry.get_region_by_code(session, code)
        if region is not None:
            names[code] = region.name
    return names


def _default_detect() -> DetectFn:
    from yilian.surveillance.detectors import detect

    return detect


def run(
    session: Session,
    day: date,
    *,
    principal: Principal | None = None,
    detect: DetectFn | None = None,
    cfg: SurveillanceSettings | None = None,
) -> RunSummary:
    """Run every series' detectors for ``day`` and raise or extend signals; re-running is a no-op.

    The last ``persist_window`` days are evaluated again each time, so a day's
    signals depend only on the data, not on which days were run before.
    """
    return run_days(session, [day], principal=principal, detect=detect, cfg=cfg)[0]


def run_days(
    session: Session,
    days: Sequence[date],
    *,
    principal: Principal | None = None,
    detect: DetectFn | None = None,
    cfg: SurveillanceSettings | None = None,
) -> list[RunSummary]:
    """Run several days at once (one detector call per series and method); same as one by one."""
    from yilian.surveillance.detectors import Point

    started = time.perf_counter()
    cfg = cfg or get_surveillance_settings()
    detect = detect or _default_detect()
    days = sorted(set(days))
    if not days:
        return []
    for d in days:
        not_in_future(d, "date")
    last = days[-1]
    window = max(cfg.persist_window, cfg.multi_site_window)
    first_eval = days[0] - timedelta(days=window - 1)
    eval_days = [first_eval + timedelta(days=n) for n in range((last - first_eval).days + 1)]
    series = [
        s for s in repo.all_series(session) if s.first_day is not None and s.first_day <= last
    ]
    need = max((cfg.history_days.get(m, 60) for s in series for m in methods_of(s, cfg)), default=0)
    start = first_eval - timedelta(days=need)
    data: dict[str, dict[date, tuple[float, float | None]]] = defaultdict(dict)
    for sid, d, count, total in repo.daily_between(session, start, last):
        data[sid][d] = (count, total)
    alarm_days: dict[str, set[date]] = {}
    rows: list[dict[str, Any]] = []
    for s in series:
        methods = methods_of(s, cfg)
        if not methods:
            continue
        own = data.get(s.id, {})
        span = max(cfg.history_days.get(m, 60) for m in methods)
        first = max(s.first_day or start, first_eval - timedelta(days=span))
        points = []
        for n in range((last - first).days + 1):
            d = first + timedelta(days=n)
            count, total = own.get(d, (0.0, None))
            points.append(Point(d, float(count), None if total is None else float(total)))
        wanted = [d for d in eval_days if d >= first]
        by_day: dict[date, dict[str, bool]] = defaultdict(dict)
        for method in methods:
            params = (s.params or {}).get(method)
            try:
                results = detect(method, points, params, evaluate=wanted)
            except (ValueError, KeyError, ZeroDivisionError) as exc:
                log.warning("detector %s failed on %s: %s", method, s.key, exc)
                continue
            for r in results:
                alarm = bool(r.alarm) and r.status == "ok"
                by_day[r.day][method] = alarm
                rows.append(
                    {
                        "series_id": s.id, "method": method, "day": r.day,
                        "observed": float(r.observed), "expected": _num(r.expected),
                        "upper": _num(r.upper), "alarm": alarm, "status": str(r.status),
                        "score": _num(r.score),
                    }
                )  # fmt: skip
        alarm_days[s.key] = {
            d for d, m in by_day.items() if rules.series_alarm(m, cfg.alarm_min_methods)
        }
    _upsert_results(session, rows)
    alarming = [s for s in series if alarm_days.get(s.key)]
    names = _names(session, alarming, cfg)
    infos = [_info(s) for s in series]
    clusters = _cluster_counts(session, days[0] - timedelta(days=cfg.cluster_window_days), last)
    per_day = Counter(r["day"] for r in rows)
    out = []
    for day in days:
        summary = RunSummary(
            day, series=sum(1 for s in series if s.first_day and s.first_day <= day)
        )
        summary.results = per_day[day]
        summary.alarms = sum(1 for v in alarm_days.values() if day in v)
        today_counts = {
            _info(s): data.get(s.id, {}).get(day, (0.0, None))[0]
            for s in series
            if s.source == "case"
        }
        candidates = rules.persistent(
            infos, alarm_days, day, persist_days=cfg.persist_days, window=cfg.persist_window,
            names=names,
        ) + rules.multi_site(
            infos, alarm_days, day, min_sites=cfg.multi_site_min, window=cfg.multi_site_window,
            names=names,
        ) + rules.clusters(
            clusters, day, day_cases=cfg.cluster_day_cases, window_cases=cfg.cluster_window_cases,
            window_days=cfg.cluster_window_days, names=names,
        ) + rules.immediate(
            today_counts, day, diseases=cfg.immediate_diseases, names=names,
        )  # fmt: skip
        for cand in candidates:
            sig, created = _apply(session, cand, cfg)
            summary.signals.append(sig.key)
            summary.new_signals += int(created)
        _retract(session, day, {(c.rule, c.subject) for c in candidates})
        summary.seconds = (time.perf_counter() - started) / len(days)
        session.add(
            Run(
                day=day, series=summary.series, results=summary.results, alarms=summary.alarms,
                signals=len(summary.signals), seconds=summary.seconds,
            )
        )  # fmt: skip
        out.append(summary)
    session.flush()
    if principal is not None:
        record(
            session, principal, action="surveillance.run", resource_type="SurveillanceRun",
            resource_id=f"{days[0].isoformat()}..{last.isoformat()}", outcome="success",
            detail={"days": len(days), "series": len(series),
                    "signals": sum(len(o.signals) for o in out),
                    "new": sum(o.new_signals for o in out)},
        )  # fmt: skip
    return out


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _upsert_results(session: Session, rows: list[dict[str, Any]]) -> None:
    table = DetectorResult.__table__
    for n in range(0, len(rows), 2000):
        chunk = rows[n : n + 2000]
        ins = repo.insert_for(session, table)
        stmt = ins.on_conflict_do_update(
            index_elements=["series_id", "method", "day"],
            set_={c: getattr(ins.excluded, c) for c in
                  ("observed", "expected", "upper", "alarm", "status", "score")},
        )  # fmt: skip
        session.execute(stmt, chunk)


def _cluster_counts(session: Session, start: date, day: date) -> list[rules.ClusterCount]:
    return [
        rules.ClusterCount(r.setting_key, r.setting_name, r.area_code, r.syndrome, r.day, r.cases)
        for r in repo.cluster_reports_between(session, start, day)
    ]


def _apply(
    session: Session, cand: rules.Candidate, cfg: SurveillanceSettings
) -> tuple[Signal, bool]:
    """Extend the signal this candidate continues, or raise a new one."""
    earliest = cand.day - timedelta(days=cfg.merge_gap_days)
    sig = repo.signal_continuing(session, cand.rule, cand.subject, cand.day, earliest)
    iso = cand.day.isoformat()
    if sig is None:
        return _raise(session, cand, None), True
    evidence = dict(sig.evidence or {})
    if evidence.get(iso) != cand.evidence or sig.last_day < cand.day:
        evidence[iso] = cand.evidence
        sig.evidence = evidence
        sig.last_day = max(sig.last_day, cand.day)
        if rules.LEVEL_RANK[cand.level] > rules.LEVEL_RANK[sig.level]:
            sig.level = cand.level
    return sig, False


def _raise(session: Session, cand: rules.Candidate, actor: str | None) -> Signal:
    sig = Signal(
        key=rules.signal_key(cand.rule, cand.subject, cand.day), rule=cand.rule,
        subject=cand.subject, source=cand.source, topic=cand.topic, area_code=cand.area_code,
        street_code=cand.street_code, level=cand.level, title=cand.title[:300],
        first_day=cand.day, last_day=cand.day, evidence={cand.day.isoformat(): cand.evidence},
        status="new",
    )  # fmt: skip
    session.add(sig)
    session.flush()
    _timeline(session, sig, None, actor or "system", "raised", cand.title)
    _notify(session, "signal.new", sig, None, None, Role.cdc.value, f"新预警信号：{cand.title}")
    return sig


def _retract(session: Session, day: date, current: set[tuple[str, str]]) -> None:
    """Drop ``day``'s evidence from signals a re-run no longer supports (corrected data)."""
    iso = day.isoformat()
    for sig in repo.signals_spanning(session, day, RUN_RULES):
        if (sig.rule, sig.subject) in current or iso not in (sig.evidence or {}):
            continue
        evidence = {k: v for k, v in sig.evidence.items() if k != iso}
        if not evidence and sig.status == "new":
            session.execute(delete(TimelineEntry).where(TimelineEntry.signal_id == sig.id))
            session.execute(
                delete(Notification).where(
                    Notification.signal_id == sig.id, Notification.status == "pending"
                )
            )
            session.delete(sig)
            continue
        sig.evidence = evidence
        if evidence:
            sig.last_day = max(date.fromisoformat(k) for k in evidence)
    session.flush()


def backfill(
    session_scope: Callable[[], Any],
    start: date,
    end: date,
    *,
    principal: Principal | None = None,
    progress: Callable[[date], None] | None = None,
) -> list[RunSummary]:
    """Run every day from ``start`` to ``end`` in order, one transaction per day."""
    if end < start:
        raise Unprocessable("to: must not be before from", field="to")
    not_in_future(end, "to")
    out = []
    d = start
    while d <= end:
        with session_scope() as session:
            out.append(run(session, d, principal=principal))
        if progress:
            progress(d)
        d += timedelta(days=1)
    return out


# --- lifecycle ---------------------------------------------------------------


def get_signal(session: Session, signal_id: str, *, lock: bool = False) -> Signal:
    sig = session.get(Signal, signal_id, with_for_update=lock)
    if sig is None:
        raise NotFound(f"signal {signal_id} does not exist")
    return sig


def get_event(session: Session, event_id: str, *, lock: bool = False) -> Event:
    ev = session.get(Event, event_id, with_for_update=lock)
    if ev is None:
        raise NotFound(f"event {event_id} does not exist")
    return ev


def _move(session: Session, principal: Principal, sig: Signal, target: str) -> str:
    if not rules.can_transition(sig.status, target):
        raise Conflict(f"a signal in state {sig.status} cannot become {target}")
    before = sig.status
    sig.status = target
    return before


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    resource_type: str,
    resource_id: str,
    detail: dict[str, Any],
) -> None:
    record(
        session, principal, action=f"surveillance.{action}", resource_type=resource_type,
        resource_id=resource_id, outcome="success", detail=detail,
    )  # fmt: skip


def verify_signal(session: Session, principal: Principal, signal_id: str) -> Signal:
    """Start verifying a signal (核实)."""
    sig = get_signal(session, signal_id, lock=True)
    before = _move(session, principal, sig, "verifying")
    _timeline(session, sig, None, principal.name, "verifying", "开始核实")
    _audit(session, principal, "signal.verify", SIGNAL, sig.id, {"from": before})
    session.flush()
    return sig


def dismiss_signal(session: Session, principal: Principal, signal_id: str, reason: str) -> Signal:
    """Dismiss a signal with a reason (排除)."""
    if not reason or not reason.strip():
        raise Unprocessable("reason: a dismissal needs a reason", field="reason")
    sig = get_signal(session, signal_id, lock=True)
    before = _move(session, principal, sig, "dismissed")
    sig.dismiss_reason = reason.strip()
    _timeline(session, sig, None, principal.name, "dismissed", f"排除：{reason.strip()}")
    _audit(session, principal, "signal.dismiss", SIGNAL, sig.id, {"from": before, "reason": reason})
    session.flush()
    return sig


def confirm_signal(
    session: Session, principal: Principal, signal_id: str, title: str | None = None
) -> Event:
    """Confirm a signal as an event (确认为事件)."""
    sig = get_signal(session, signal_id, lock=True)
    before = _move(session, principal, sig, "confirmed")
    ev = Event(signal_id=sig.id, title=(title or sig.title).strip()[:300], status="confirmed")
    session.add(ev)
    session.flush()
    sig.event_id = ev.id
    session.execute(
        update(TimelineEntry)
        .where(TimelineEntry.signal_id == sig.id, TimelineEntry.event_id.is_(None))
        .values(event_id=ev.id)
        .execution_options(synchronize_session=False)
    )
    _timeline(session, sig, ev.id, principal.name, "confirmed", f"确认为事件：{ev.title}")
    _notify(session, "event.confirmed", sig, ev.id, None, Role.cdc.value, f"事件确认：{ev.title}")
    _audit(session, principal, "signal.confirm", SIGNAL, sig.id, {"from": before, "event": ev.id})
    session.flush()
    return ev


def _event_signal(session: Session, ev: Event) -> Signal:
    return get_signal(session, ev.signal_id, lock=True)


def assign_team(
    session: Session,
    principal: Principal,
    event_id: str,
    *,
    organization_id: str,
    practitioner_ids: Sequence[str] = (),
) -> Event:
    """Assign the 应急处置队伍 (an organisation, optionally named practitioners): responding."""
    ev = get_event(session, event_id, lock=True)
    sig = _event_signal(session, ev)
    org = resolve_org(session, organization_id, "organization_id")
    for pid in practitioner_ids:
        try:
            registry.get_practitioner(session, pid)
        except NotFound:
            raise Unprocessable(
                f"practitioner_ids: no practitioner {pid!r}", field="practitioner_ids"
            ) from None
    if ev.status == "closed":
        raise Conflict("the event is closed")
    if sig.status == "confirmed":
        _move(session, principal, sig, "responding")
    ev.status = "responding"
    ev.team_org_id = org.id
    ev.team_practitioner_ids = list(practitioner_ids) or None
    _timeline(session, sig, ev.id, principal.name, "team", f"指派应急处置队伍：{org.name}")
    _notify(session, "event.team", sig, ev.id, org.id, None, f"请参与处置：{ev.title}")
    _audit(
        session, principal, "event.assign", EVENT, ev.id,
        {"organization": org.code, "practitioners": list(practitioner_ids)},
    )  # fmt: skip
    session.flush()
    return ev


def add_task(
    session: Session, principal: Principal, event_id: str, *, title: str, assignee: str | None
) -> EventTask:
    """Add a response task to an open event."""
    ev = get_event(session, event_id)
    if ev.status == "closed":
        raise Conflict("the event is closed")
    task = EventTask(event_id=ev.id, title=title.strip(), assignee=assignee)
    session.add(task)
    session.flush()
    _timeline(session, _event_signal(session, ev), ev.id, principal.name, "task", f"任务：{title}")
    _audit(session, principal, "event.task", EVENT, ev.id, {"task": task.id, "title": title})
    return task


def complete_task(session: Session, principal: Principal, event_id: str, task_id: str) -> EventTask:
    """Mark a task done."""
    task = session.get(EventTask, task_id, with_for_update=True)
    if task is None or task.event_id != event_id:
        raise NotFound(f"task {task_id} of event {event_id} does not exist")
    if task.status != "done":
        task.status = "done"
        ev = get_event(session, event_id)
        _timeline(
            session, _event_signal(session, ev), ev.id, principal.name, "task_done",
            f"完成任务：{task.title}",
        )  # fmt: skip
        _audit(session, principal, "event.task_done", EVENT, event_id, {"task": task.id})
    session.flush()
    return task


def add_note(session: Session, principal: Principal, event_id: str, text: str) -> TimelineEntry:
    """Add a note to the event's timeline."""
    ev = get_event(session, event_id)
    entry = _timeline(session, _event_signal(session, ev), ev.id, principal.name, "note", text)
    _audit(session, principal, "event.note", EVENT, ev.id, {"entry": entry.id})
    return entry


def close_event(session: Session, principal: Principal, event_id: str, summary: str) -> Event:
    """Close an event with a summary (结案)."""
    if not summary or not summary.strip():
        raise Unprocessable("summary: closing an event needs a summary", field="summary")
    ev = get_event(session, event_id, lock=True)
    sig = _event_signal(session, ev)
    _move(session, principal, sig, "closed")
    ev.status, ev.summary, ev.closed_at = "closed", summary.strip(), utcnow()
    _timeline(session, sig, ev.id, principal.name, "closed", f"结案：{summary.strip()}")
    _notify(
        session, "event.closed", sig, ev.id, ev.team_org_id, Role.cdc.value, f"事件结案：{ev.title}"
    )
    _audit(session, principal, "event.close", EVENT, ev.id, {"summary": summary.strip()})
    session.flush()
    return ev


def _timeline(
    session: Session, sig: Signal, event_id: str | None, actor: str | None, kind: str, text: str
) -> TimelineEntry:
    entry = TimelineEntry(
        signal_id=sig.id, event_id=event_id or sig.event_id, actor=actor, kind=kind, text=text
    )
    session.add(entry)
    session.flush()
    return entry


def _notify(
    session: Session,
    kind: str,
    sig: Signal,
    event_id: str | None,
    org_id: str | None,
    role: str | None,
    message: str,
) -> None:
    session.add(
        Notification(
            kind=kind, signal_id=sig.id, event_id=event_id, recipient_org_id=org_id,
            recipient_role=role, message=message[:1000],
        )
    )  # fmt: skip


def ack_notification(session: Session, principal: Principal, notification_id: str) -> Notification:
    """Acknowledge delivery; acknowledging twice changes nothing (gateways retry)."""
    note = session.get(Notification, notification_id, with_for_update=True)
    if note is None:
        raise NotFound(f"notification {notification_id} does not exist")
    if note.status != "acked":
        note.status, note.acked_at, note.acked_by = "acked", utcnow(), principal.name
        session.flush()
    return note


# --- reading ----------------------------------------------------------------


def configure_series(
    session: Session,
    principal: Principal,
    key: str,
    *,
    methods: list[str] | None,
    params: dict[str, Any] | None,
) -> Series:
    """Choose the detectors (and their parameters) of one series; None restores the default."""
    from yilian.surveillance.detectors import METHODS

    s = repo.series_by_key(session, key)
    if s is None:
        raise NotFound(f"series {key} does not exist")
    for m in [*(methods or []), *(params or {})]:
        if m not in METHODS:
            raise Unprocessable(f"methods: unknown method {m!r}", field="methods")
    s.methods, s.params = methods, params
    session.flush()
    _audit(session, principal, "series.configure", "SurveillanceSeries", s.id,
           {"methods": methods, "params": params})  # fmt: skip
    return s


def series_chart(session: Session, key: str, *, days: int = 120) -> dict[str, Any]:
    """A series' counts with each method's expected, upper bound, alarms and status, for charts."""
    s = repo.series_by_key(session, key)
    if s is None:
        raise NotFound(f"series {key} does not exist")
    cfg = get_surveillance_settings()
    rows = repo.daily_between(session, date.min, date.max, [s.id])
    last = max((r[1] for r in rows), default=today())
    start = last - timedelta(days=days - 1)
    counts = {r[1]: (r[2], r[3]) for r in rows if r[1] >= start}
    points = []
    for n in range(days):
        d = start + timedelta(days=n)
        if s.first_day is not None and d < s.first_day:
            continue
        c, t = counts.get(d, (0.0, None))
        points.append({"day": d.isoformat(), "count": c, "total": t})
    methods: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in repo.results_of(session, s.id, start, last):
        methods[r.method].append(
            {"day": r.day.isoformat(), "observed": r.observed, "expected": r.expected,
             "upper": r.upper, "alarm": r.alarm, "status": r.status, "score": r.score}
        )  # fmt: skip
    return {
        "key": s.key, "source": s.source, "topic": s.topic, "area_code": s.area_code,
        "site_code": s.site_code, "age_group": s.age_group,
        "methods": methods_of(s, cfg), "configured": s.methods is not None,
        "points": points, "results": dict(methods),
    }  # fmt: skip


def street_grid(session: Session) -> list[dict[str, Any]]:
    """Every street with the highest level of its open signals (green when none)."""
    from yilian.registry.rules import RegionLevel

    streets = registry.list_regions(session, level=RegionLevel.street, limit=500).items
    levels = rules.street_levels(
        [r.code for r in streets], repo.open_signal_levels(session, rules.OPEN_STATES)
    )
    return [
        {"code": r.code, "name": r.name, "level": levels[r.code]}
        for r in sorted(streets, key=lambda r: r.code)
    ]


def event_detail(session: Session, event_id: str) -> dict[str, Any]:
    ev = get_event(session, event_id)
    sig = get_signal(session, ev.signal_id)
    team = None
    if ev.team_org_id:
        team = registry.organizations_by_ids(session, [ev.team_org_id]).get(ev.team_org_id)
    return {
        "event": ev,
        "signal": sig,
        "team": team,
        "tasks": repo.tasks_of(session, ev.id),
        "timeline": repo.timeline_of(session, sig.id),
    }
