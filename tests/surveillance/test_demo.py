"""The demo's sentinel series: the injected outbreaks of the generator show up as signals."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.registry import service as registry
from yilian.surveillance.config import get_surveillance_settings
from yilian.surveillance.demo import seed_demo
from yilian.surveillance.models import Series, Signal
from yilian.synth import geography as geo
from yilian.synth import sentinel as sen
from yilian.synth.demo import DEMO_DAYS, DEMO_SEED
from yilian.synth.generate import DEFAULT_START
from yilian.synth.profile import load_profile


def test_seed_demo_finds_the_injected_outbreaks(session: Session) -> None:
    registry.load_registry(session, **geo.registry_payload())
    session.commit()
    summary = seed_demo(session)
    session.commit()
    assert "signals" in summary, summary
    cfg = get_surveillance_settings()
    first_run = DEFAULT_START + timedelta(days=DEMO_DAYS - cfg.demo_detect_days)
    outbreaks = [
        o
        for o in sen.plan_outbreaks(load_profile(), DEMO_DAYS, DEMO_SEED)
        if DEFAULT_START + timedelta(days=o.start_day) >= first_run
    ]
    assert outbreaks  # the seed puts several in the detected window
    for o in outbreaks:
        start = DEFAULT_START + timedelta(days=o.start_day)
        end = start + timedelta(days=o.duration)
        found = session.scalars(
            select(Signal).where(
                Signal.rule == "persistent",
                Signal.subject.like(f"sentinel:{o.syndrome}:%:{o.sentinel}"),
                Signal.first_day >= start,
                Signal.first_day <= end,
            )
        ).all()
        assert found, f"outbreak {o} raised no signal"
    count = session.scalar(select(func.count()).select_from(Series))
    assert seed_demo(session) == "surveillance: sentinel series already seeded"
    assert session.scalar(select(func.count()).select_from(Series)) == count
