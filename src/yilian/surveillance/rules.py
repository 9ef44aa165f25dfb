"""Pure decisions of 预警监测: series keys, the multi-point trigger rules, the alert lifecycle.

Seed 004 附件3 (二)1: "建立完善多渠道数据汇集、多节点智能触发的预警指标体系"; 附件5 二(二)2:
"融合多源数据，包括异常健康事件、严重症候群、病原学检测、媒体舆情、社会举报等报告渠道".
The detectors (yilian.surveillance.detectors) say whether one series is unusual on one
day; the rules here turn those alarms, and the cluster reports, into signals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

ALL = "all"
SOURCES = ("sentinel", "case", "lab", "cluster", "public")
LEVELS = ("yellow", "orange", "red")
LEVEL_RANK = {"none": 0, "yellow": 1, "orange": 2, "red": 3}

# Alert lifecycle (issue #7 §3): signal → verification → dismissed | confirmed (event)
# → responding (team assigned) → closed (summary).
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"verifying", "dismissed", "confirmed"}),
    "verifying": frozenset({"dismissed", "confirmed"}),
    "confirmed": frozenset({"responding", "closed"}),
    "responding": frozenset({"closed"}),
    "dismissed": frozenset(),
    "closed": frozenset(),
}
OPEN_STATES = frozenset({"new", "verifying", "confirmed", "responding"})


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def series_key(source: str, topic: str, area: str, site: str = ALL, age: str = ALL) -> str:
    """The stable key of a series: ``sentinel:ili:310105004:310105C001:0-4``."""
    return f"{source}:{topic}:{area}:{site}:{age}"


@dataclass(frozen=True)
class SeriesInfo:
    key: str
    source: str
    topic: str
    area_code: str
    street_code: str | None
    district_code: str | None
    site_code: str
    age_group: str
    leaf: bool


@dataclass
class Candidate:
    """A signal a rule raises for ``day``; ``subject`` + ``rule`` identify what it is about."""

    rule: str
    subject: str
    day: date
    level: str
    source: str
    topic: str | None
    area_code: str | None
    street_code: str | None
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)


def series_alarm(alarms: Mapping[str, bool], min_methods: int) -> bool:
    """A series alarms on a day when at least ``min_methods`` of its methods do (all, if fewer)."""
    if not alarms:
        return False
    return sum(1 for a in alarms.values() if a) >= min(min_methods, len(alarms))


def _days(day: date, window: int) -> list[date]:
    return [day - timedelta(days=n) for n in range(window - 1, -1, -1)]


def persistent(
    series: Sequence[SeriesInfo],
    alarm_days: Mapping[str, set[date]],
    day: date,
    *,
    persist_days: int,
    window: int,
    names: Mapping[str, str],
) -> list[Candidate]:
    """持续预警: a leaf series alarming on ≥ persist_days of the last ``window`` days, on ``day``.

    Age groups of one site fold into one candidate (subject = source, topic, area, site).
    """
    grouped: dict[str, list[SeriesInfo]] = defaultdict(list)
    for s in series:
        if not s.leaf or day not in alarm_days.get(s.key, set()):
            continue
        recent = alarm_days.get(s.key, set()) & set(_days(day, window))
        if len(recent) >= persist_days:
            grouped[f"{s.source}:{s.topic}:{s.area_code}:{s.site_code}"].append(s)
    out = []
    for subject, members in sorted(grouped.items()):
        first = members[0]
        place = names.get(first.site_code) if first.site_code != ALL else None
        place = place or names.get(first.area_code, first.area_code)
        ages = sorted({m.age_group for m in members})
        out.append(
            Candidate(
                rule="persistent",
                subject=subject,
                day=day,
                level="yellow",
                source=first.source,
                topic=first.topic,
                area_code=first.area_code,
                street_code=first.street_code,
                title=f"{place} {names.get(first.topic, first.topic)} 持续异常",
                evidence={"series": sorted(m.key for m in members), "age_groups": ages},
            )
        )
    return out


def multi_site(
    series: Sequence[SeriesInfo],
    alarm_days: Mapping[str, set[date]],
    day: date,
    *,
    min_sites: Mapping[str, int],
    window: int,
    names: Mapping[str, str],
) -> list[Candidate]:
    """多点触发: ≥ min_sites[level] sentinels of one area alarm for a syndrome within ``window``.

    Raised on ``day`` only when one of the sites alarms on ``day`` itself, so the
    signal starts when the second site joins.
    """
    recent = set(_days(day, window))
    # (level, area, topic) → site → alarmed today?
    sites: dict[tuple[str, str, str], dict[str, bool]] = defaultdict(dict)
    for s in series:
        if s.source != "sentinel" or not s.leaf or s.site_code == ALL:
            continue
        hits = alarm_days.get(s.key, set()) & recent
        if not hits:
            continue
        for level in min_sites:
            area = s.street_code if level == "street" else s.district_code
            if area is None:
                continue
            seen = sites[(level, area, s.topic)]
            seen[s.site_code] = seen.get(s.site_code, False) or day in hits
    out = []
    for (level, area, topic), by_site in sorted(sites.items()):
        if len(by_site) < max(2, min_sites[level]) or not any(by_site.values()):
            continue
        out.append(
            Candidate(
                rule="multi_site",
                subject=f"sentinel:{topic}:{level}:{area}",
                day=day,
                level="orange",
                source="sentinel",
                topic=topic,
                area_code=area,
                street_code=area if level == "street" else None,
                title=(
                    f"{names.get(area, area)} {len(by_site)} 个哨点 "
                    f"{names.get(topic, topic)} {window} 天内同时预警"
                ),
                evidence={"sites": sorted(by_site), "area_level": level},
            )
        )
    return out


@dataclass(frozen=True)
class ClusterCount:
    setting_key: str
    setting_name: str
    area_code: str
    syndrome: str
    day: date
    cases: int


def clusters(
    reports: Sequence[ClusterCount],
    day: date,
    *,
    day_cases: int,
    window_cases: int,
    window_days: int,
    names: Mapping[str, str],
) -> list[Candidate]:
    """学校/托幼机构聚集性疫情: ≥ day_cases on ``day``, or ≥ window_cases in ``window_days`` days.

    《学校和托幼机构传染病疫情报告工作规范（试行）》(卫生部 2006) 三: 同一班级 1 天内 3 例
    或连续 3 天内 5 例以上 with similar symptoms is reported within 24 hours.
    """
    recent = set(_days(day, window_days))
    totals: dict[tuple[str, str], int] = defaultdict(int)
    today: dict[tuple[str, str], int] = defaultdict(int)
    info: dict[tuple[str, str], ClusterCount] = {}
    for r in reports:
        if r.day not in recent:
            continue
        k = (r.setting_key, r.syndrome)
        totals[k] += r.cases
        if r.day == day:
            today[k] += r.cases
            info[k] = r
    out = []
    for k, r in sorted(info.items()):
        if today[k] <= 0 or (today[k] < day_cases and totals[k] < window_cases):
            continue
        out.append(
            Candidate(
                rule="cluster",
                subject=f"cluster:{r.syndrome}:{r.setting_key}",
                day=day,
                level="orange",
                source="cluster",
                topic=r.syndrome,
                area_code=r.area_code,
                street_code=r.area_code,
                title=(
                    f"{r.setting_name} {names.get(r.syndrome, r.syndrome)} 聚集（{totals[k]} 例）"
                ),
                evidence={"cases_today": today[k], "cases_window": totals[k]},
            )
        )
    return out


def immediate(
    counts: Mapping[SeriesInfo, float],
    day: date,
    *,
    diseases: Iterable[str],
    names: Mapping[str, str],
) -> list[Candidate]:
    """甲类传染病 (and those managed as 甲类): one reported case is a signal."""
    wanted = set(diseases)
    out = []
    for s, n in sorted(counts.items(), key=lambda kv: kv[0].key):
        if s.source != "case" or not s.leaf or s.topic not in wanted or n <= 0:
            continue
        out.append(
            Candidate(
                rule="immediate",
                subject=f"case:{s.topic}:{s.area_code}",
                day=day,
                level="red",
                source="case",
                topic=s.topic,
                area_code=s.area_code,
                street_code=s.street_code,
                title=(
                    f"{names.get(s.area_code, s.area_code)} "
                    f"报告{names.get(s.topic, s.topic)} {n:g} 例"
                ),
                evidence={"cases": n, "series": [s.key]},
            )
        )
    return out


def signal_key(rule: str, subject: str, first_day: date) -> str:
    return f"{rule}:{subject}:{first_day.isoformat()}"


def continues(last_day: date, first_day: date, day: date, gap: int) -> bool:
    """A candidate on ``day`` continues a signal that spans first_day..last_day (+ gap)."""
    return first_day <= day <= last_day + timedelta(days=gap)


def street_levels(
    streets: Iterable[str], signals: Iterable[tuple[str | None, str]]
) -> dict[str, str]:
    """Current alert level per street: the highest level of its open signals, else "none"."""
    out = {s: "none" for s in streets}
    for street, level in signals:
        if street in out and LEVEL_RANK[level] > LEVEL_RANK[out[street]]:
            out[street] = level
    return out
