"""Daily syndromic counts of the fever clinics and sentinel rooms, with injected outbreaks.

Every 发热门诊 (hospitals) and 发热哨点诊室 (社区卫生服务中心, 100% by seed 004
附件6 #15) reports, each day, how many patients it saw per syndrome and age
group: a FHIR ``MeasureReport``. Counts are negative-binomial around a seasonal
baseline with a day-of-week rhythm; outbreaks add an epidemic curve of extra
cases from a start date, and ``truth/outbreaks.json`` lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from yilian.synth import fhir
from yilian.synth import geography as geo
from yilian.synth.profile import Profile

CS_SYNDROME = f"{fhir.NS}/CodeSystem/syndrome"
_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"


@dataclass(frozen=True)
class Outbreak:
    sentinel: str
    syndrome: str
    age_group: str
    start_day: int
    duration: int
    multiplier: float


def sentinels() -> list[geo.Org]:
    return [o for o in geo.ORGS if o.tags & {"fever_clinic", "fever_sentinel"}]


def _season(doy: np.ndarray, peaks: list[list[float]]) -> np.ndarray:
    """Seasonal factor with mean 1 over a year: von Mises bumps at the given days."""
    year = np.arange(1, 366)

    def shape(days: np.ndarray) -> np.ndarray:
        out = np.ones(days.shape, dtype=float)
        for peak, amplitude, concentration in peaks:
            angle = 2 * math.pi * (days - peak) / 365.0
            out += amplitude * np.exp(concentration * (np.cos(angle) - 1))
        return out

    return shape(doy) / shape(year).mean()


def _curve(duration: int) -> np.ndarray:
    """An epidemic curve over ``duration`` days, 1 at its peak about a third of the way in."""
    t = np.arange(duration, dtype=float) + 0.5
    tp = max(duration / 3.0, 1.0)
    return (t / tp) * np.exp(1 - t / tp)


def plan_outbreaks(profile: Profile, days: int, seed: int) -> list[Outbreak]:
    spec = profile["sentinel"]
    ob = spec["outbreaks"]
    gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 8])))
    orgs = sentinels()
    syndromes = sorted(spec["syndromes"])
    groups = spec["age_groups"]
    expected = float(ob["per_sentinel_year"]) * len(orgs) * days / 365.0
    count = max(int(ob["min_count"]), int(gen.poisson(expected)))
    lo, hi = (int(x) for x in ob["duration_days"])
    mlo, mhi = (float(x) for x in ob["peak_multiplier"])
    # Leave two weeks of baseline before the earliest start so the rise can be seen.
    first = min(14, days // 4)
    out = []
    for _ in range(count):
        syndrome = syndromes[int(gen.integers(len(syndromes)))]
        weights = np.asarray(spec["syndromes"][syndrome]["ages"], dtype=float)
        out.append(
            Outbreak(
                sentinel=orgs[int(gen.integers(len(orgs)))].code,
                syndrome=syndrome,
                age_group=groups[int(gen.choice(len(groups), p=weights / weights.sum()))],
                start_day=int(gen.integers(first, max(first + 1, days - 7))),
                duration=int(gen.integers(lo, hi + 1)),
                multiplier=round(float(gen.uniform(mlo, mhi)), 2),
            )
        )
    out.sort(key=lambda o: (o.start_day, o.sentinel, o.syndrome))
    return out


def series(
    profile: Profile, start: date, days: int, seed: int, outbreaks: list[Outbreak]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[int, np.ndarray]]:
    """Counts ``sentinel → syndrome → array[days, age groups]`` and each outbreak's extra cases."""
    spec = profile["sentinel"]
    groups = spec["age_groups"]
    k = float(spec["dispersion"])
    dow = np.asarray(spec["day_of_week"], dtype=float)
    dates = [start + timedelta(days=d) for d in range(days)]
    doy = np.asarray([d.timetuple().tm_yday for d in dates], dtype=float)
    weekday = dow[np.asarray([d.weekday() for d in dates])]
    out: dict[str, dict[str, np.ndarray]] = {}
    extras: dict[int, np.ndarray] = {}
    for s_index, org in enumerate(sentinels()):
        kind = "fever_clinic" if "fever_clinic" in org.tags else "fever_sentinel"
        gen = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 7, s_index])))
        per: dict[str, np.ndarray] = {}
        for syndrome in sorted(spec["syndromes"]):
            syn = spec["syndromes"][syndrome]
            ages = np.asarray(syn["ages"], dtype=float)
            ages = ages / ages.sum()
            base = float(syn["baseline"][kind]) * _season(doy, syn["peaks"])
            mean = np.outer(base * weekday, ages)
            counts = gen.negative_binomial(k, k / (k + mean)).astype(np.int64)
            for n, ob in enumerate(outbreaks):
                if ob.sentinel != org.code or ob.syndrome != syndrome:
                    continue
                end = min(days, ob.start_day + ob.duration)
                if end <= ob.start_day:
                    continue
                curve = _curve(ob.duration)[: end - ob.start_day]
                # At least three extra cases at the peak, even on a quiet syndrome.
                peak = np.maximum(base[ob.start_day : end] * (ob.multiplier - 1), 3.0)
                lam = peak * curve
                extra = gen.poisson(lam)
                counts[ob.start_day : end, groups.index(ob.age_group)] += extra
                extras[n] = extra
            per[syndrome] = counts
        out[org.code] = per
    return out, extras


def measure_report(
    org: geo.Org, day: date, counts: dict[str, np.ndarray], d: int, profile: Profile
) -> dict[str, Any]:
    spec = profile["sentinel"]
    groups = spec["age_groups"]
    population = {"coding": [{"system": _POPULATION, "code": "initial-population"}]}
    report_groups = []
    for syndrome in sorted(counts):
        row = counts[syndrome][d]
        report_groups.append(
            {
                "code": {"coding": [{"system": CS_SYNDROME, "code": syndrome,
                                     "display": spec["syndromes"][syndrome]["display"]}]},
                "population": [{"code": population, "count": int(row.sum())}],
                "stratifier": [
                    {
                        "code": [{"text": "age-group"}],
                        "stratum": [
                            {"value": {"text": g}, "population": [{"code": population,
                                                                    "count": int(row[i])}]}
                            for i, g in enumerate(groups)
                        ],
                    }
                ],
            }
        )  # fmt: skip
    iso = day.isoformat()
    return {
        "resourceType": "MeasureReport",
        "identifier": fhir.ident(fhir.sid("measure-report", org.code), iso),
        "status": "complete",
        "type": "summary",
        "measure": fhir.MEASURE_SYNDROMIC,
        "date": f"{iso}T23:00:00+08:00",
        "reporter": fhir.org_ref(org.code, org.name),
        "period": {"start": iso, "end": iso},
        "group": report_groups,
    }


def outbreak_truth(
    outbreaks: list[Outbreak], extras: dict[int, np.ndarray], start: date
) -> list[dict[str, Any]]:
    out = []
    for n, ob in enumerate(outbreaks):
        extra = extras.get(n)
        out.append(
            {
                "sentinel": ob.sentinel,
                "syndrome": ob.syndrome,
                "age_group": ob.age_group,
                "start": (start + timedelta(days=ob.start_day)).isoformat(),
                "end": (start + timedelta(days=ob.start_day + ob.duration - 1)).isoformat(),
                "duration_days": ob.duration,
                "peak_multiplier": ob.multiplier,
                "extra_cases": [int(x) for x in extra] if extra is not None else [],
            }
        )
    return out
