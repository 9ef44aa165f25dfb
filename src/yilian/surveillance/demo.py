"""Demo data of 预警监测: the synthetic sentinel series with their injected outbreaks.

The series are the generator's own (yilian.synth.sentinel with the demo's seed and
year), loaded in bulk, then the detectors run over the last ``demo_detect_days``
days so that the signal board shows the injected outbreaks as signals.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from yilian.db import utcnow
from yilian.registry import service as registry
from yilian.surveillance import rules, service
from yilian.surveillance.config import get_surveillance_settings
from yilian.surveillance.models import Daily, Series
from yilian.synth import sentinel as sen
from yilian.synth.demo import DEMO_DAYS, DEMO_SEED
from yilian.synth.generate import DEFAULT_START
from yilian.synth.profile import load_profile


def seed_demo(session: Session) -> str:
    """Load the demo year's sentinel counts and run the detectors; a second call changes nothing.

    Loaded as daily aggregates (each site's total per syndrome, and the street and
    district roll-ups) over the last ``demo_history_days`` days, so that seeding
    stays within seconds; the per-age-group reports come through the API.
    """
    t0 = time.perf_counter()
    cfg = get_surveillance_settings()
    sites = {o.code: registry.get_organization_by_code(session, o.code) for o in sen.sentinels()}
    if any(o is None for o in sites.values()):
        return "surveillance: registry not loaded, nothing seeded"
    first_site = next(iter(sites))
    if session.scalar(select(Series.id).where(Series.site_code == first_site).limit(1)):
        return "surveillance: sentinel series already seeded"
    profile = load_profile()
    outbreaks = sen.plan_outbreaks(profile, DEMO_DAYS, DEMO_SEED)
    counts, _ = sen.series(profile, DEFAULT_START, DEMO_DAYS, DEMO_SEED, outbreaks)
    keep = min(DEMO_DAYS, cfg.demo_history_days)
    offset = DEMO_DAYS - keep
    days = [DEFAULT_START + timedelta(days=offset + d) for d in range(keep)]
    now = utcnow()
    series_rows: dict[str, dict[str, Any]] = {}
    sums: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(keep))
    for code, per in counts.items():
        org = sites[code]
        assert org is not None
        area = service.org_area(session, org)
        for syndrome, arr in per.items():
            total = arr[offset:].sum(axis=1)
            # The site's all-ages series and the roll-ups; not the age groups (see docstring).
            for info in service.sentinel_series(code, area, syndrome, rules.ALL)[1:]:
                series_rows.setdefault(info.key, service.series_row(info, days[0], now))
                sums[info.key] += total
    session.execute(insert(cast(Table, Series.__table__)), list(series_rows.values()))
    ids = {r["key"]: r["id"] for r in series_rows.values()}
    daily = [
        {"series_id": ids[key], "day": days[d], "count": float(arr[d]), "total": None}
        for key, arr in sums.items()
        for d in range(keep)
    ]
    session.execute(insert(cast(Table, Daily.__table__)), daily)
    session.flush()
    run_from = max(0, keep - cfg.demo_detect_days)
    summaries = service.run_days(session, days[run_from:])
    new = sum(s.new_signals for s in summaries)
    seconds = time.perf_counter() - t0
    return (
        f"surveillance: {len(series_rows)} sentinel series × {keep} days, detectors run on "
        f"{len(summaries)} days → {new} signals ({len(outbreaks)} outbreaks injected in the "
        f"year) in {seconds:.1f}s"
    )
