"""seed_demo on a small synthetic region: catalogues, index, simulated checks; idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from yilian import demo as demo_flow
from yilian.db import make_sessionmaker
from yilian.recognition import service
from yilian.recognition.demo import seed_demo
from yilian.recognition.models import Check, IndexedResult


@pytest.fixture
def small_region(engine: Engine, tmp_path: Path, session: Session) -> None:
    factory = make_sessionmaker(engine)
    result = demo_flow.seed(factory, tmp_path / "demo", residents=60, days=30, seed_value=7)
    assert result.ingested > 0


def test_seed_demo_installs_indexes_and_simulates(small_region: None, session: Session) -> None:
    indexed = session.scalar(select(func.count()).select_from(IndexedResult))
    assert indexed, "the generator's labs and imaging are indexed as they are ingested"
    summary = seed_demo(session)
    session.commit()
    assert "2 catalogues" in summary
    listing = {c.code: c for c in service.list_catalogues(session)}
    zone = listing["YRD-DEMO-ZONE"]
    # Seed 001: 青浦 4 hospitals + community centres, 苏州九院, 嘉善一院 — all in the demo zone.
    assert (zone.lab_items, zone.imaging_categories) == (35, 9) and zone.participants >= 6
    assert listing["SH-HR-2019"].participants > zone.participants
    checks = session.scalar(select(func.count()).select_from(Check))
    assert checks and checks > 0
    stats = service.statistics(session, by="institution")
    assert stats.total.items_recognisable > 0 and stats.total.items_reused > 0
    assert 0 < (stats.total.person_visit_rate or 0) <= 100
    # Idempotent: a second run adds nothing.
    assert seed_demo(session) == summary
    assert session.scalar(select(func.count()).select_from(Check)) == checks
    # An index emptied (or never filled) is rebuilt from the stored results.
    session.execute(delete(IndexedResult))
    session.commit()
    seed_demo(session)
    session.commit()
    assert session.scalar(select(func.count()).select_from(IndexedResult)) == indexed
