"""seed_demo on the synthetic district's registry: cases, doses, idempotent."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.patients.models import Person
from yilian.registry import service as registry
from yilian.synth.geography import registry_payload
from yilian.tb.care_demo import seed_demo
from yilian.tb.care_models import TbCase, TbDose


def test_seed_demo_is_idempotent(session: Session) -> None:
    registry.load_registry(session, **registry_payload())
    session.add_all([Person() for _ in range(20)])
    session.flush()
    first = seed_demo(session)
    assert first.startswith("tb care: 20 cases"), first
    n = session.scalar(select(func.count()).select_from(TbDose))
    assert n and n > 20 * 20
    assert "already" in seed_demo(session)
    assert session.scalar(select(func.count()).select_from(TbCase)) == 20
    assert session.scalar(select(func.count()).where(TbCase.status == "closed")) == 1
