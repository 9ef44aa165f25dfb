"""Benchmark: ``yilian surveil run`` for one day over a realistic number of series.

Builds a fresh database with the synthetic district's registry and the generator's
sentinel series at full granularity (each site × syndrome × age group, each site's
total, the street and district roll-ups; with ``--copies N`` every site N times, as a
city with N× the sentinels), ``--history`` days of daily counts, then times
``run`` for the last day (first run, and a re-run that must change nothing).

    .venv/bin/python bench/surveillance_run.py --quick
    .venv/bin/python bench/surveillance_run.py                       # SQLite, 1 075 series
    .venv/bin/python bench/surveillance_run.py --copies 10 --database postgresql://localhost:5432/test
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, func, insert, select

from yilian.db import make_engine, make_sessionmaker, new_id, session_scope, utcnow
from yilian.models import load_all
from yilian.registry import service as registry
from yilian.surveillance import rules, service
from yilian.surveillance.models import Daily, DetectorResult, Series, Signal
from yilian.synth import geography as geo
from yilian.synth import sentinel as sen
from yilian.synth.demo import DEMO_DAYS, DEMO_SEED
from yilian.synth.generate import DEFAULT_START
from yilian.synth.profile import load_profile


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {platform.python_version()}"


def seed(url: str, *, sites: int | None, copies: int, history: int) -> Any:
    """Create the schema, the registry and the series; return the last day."""
    engine = make_engine(url)
    base = load_all()
    base.metadata.drop_all(engine)
    base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    profile = load_profile()
    outbreaks = sen.plan_outbreaks(profile, DEMO_DAYS, DEMO_SEED)
    counts, _ = sen.series(profile, DEFAULT_START, DEMO_DAYS, DEMO_SEED, outbreaks)
    groups: list[str] = list(profile["sentinel"]["age_groups"])
    offset = DEMO_DAYS - history
    days = [DEFAULT_START + timedelta(days=offset + d) for d in range(history)]
    now = utcnow()
    with session_scope(factory) as session:
        registry.load_registry(session, **geo.registry_payload())
    with session_scope(factory) as session:
        rows: dict[str, dict[str, Any]] = {}
        sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(history))
        codes = list(counts)[: sites or None]
        for copy in range(copies):
            for code in codes:
                org = registry.get_organization_by_code(session, code)
                assert org is not None
                area = service.org_area(session, org)
                site = code if copy == 0 else f"{code}-{copy}"
                for syndrome, arr in counts[code].items():
                    for g, age in enumerate(groups):
                        for info in service.sentinel_series(site, area, syndrome, age):
                            rows.setdefault(info.key, _row(info, days[0], now))
                            sums[info.key] += arr[offset:, g]
        session.execute(insert(cast(Table, Series.__table__)), list(rows.values()))
        ids = {r["key"]: r["id"] for r in rows.values()}
        daily = [
            {"series_id": ids[k], "day": days[d], "count": float(a[d]), "total": None}
            for k, a in sums.items()
            for d in range(history)
        ]
        for n in range(0, len(daily), 50_000):
            session.execute(insert(cast(Table, Daily.__table__)), daily[n : n + 50_000])
    engine.dispose()
    return days[-1], len(rows), len(daily)


def _row(info: rules.SeriesInfo, first: Any, now: Any) -> dict[str, Any]:
    return {
        "id": new_id(), "key": info.key, "source": info.source, "topic": info.topic,
        "area_code": info.area_code, "area_level": "street", "street_code": info.street_code,
        "district_code": info.district_code, "site_code": info.site_code,
        "age_group": info.age_group, "leaf": info.leaf, "first_day": first, "methods": None,
        "params": None, "created_at": now, "updated_at": now,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--copies", type=int, default=1, help="each sentinel site N times")
    parser.add_argument("--history", type=int, default=60, help="days of counts before the day")
    parser.add_argument("--quick", action="store_true", help="3 sites, 20 days: seconds")
    args = parser.parse_args()
    sites = 3 if args.quick else None
    history = 20 if args.quick else args.history
    copies = 1 if args.quick else args.copies
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        day, n_series, n_daily = seed(url, sites=sites, copies=copies, history=history)
        seeded = time.perf_counter() - t0
        import yilian.surveillance.detectors  # noqa: F401  (import time is not run time)

        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        timings = []
        for _ in range(2):
            t1 = time.perf_counter()
            with session_scope(factory) as session:
                out = service.run(session, day)
            timings.append(time.perf_counter() - t1)
        with factory() as session:
            results = session.scalar(select(func.count()).select_from(DetectorResult))
            signals = session.scalar(select(func.count()).select_from(Signal))
        engine.dispose()
    print(f"machine: {machine()}; database: {url.split(':')[0]}")
    print(f"series: {n_series}  daily rows: {n_daily}  (seeded in {seeded:.1f}s)")
    print(f"run {day.isoformat()}: {timings[0]:.2f}s first, {timings[1]:.2f}s re-run")
    print(f"  {out.results} results written ({results} rows in table), {out.alarms} alarms, "
          f"{signals} signals (re-run added {out.new_signals})")  # fmt: skip
    print(f"  {n_series / timings[0]:.0f} series/s")


if __name__ == "__main__":
    main()
