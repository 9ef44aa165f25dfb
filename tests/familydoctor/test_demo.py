"""seed_demo on the synthetic district's registry: teams, contracts near the targets, idempotent."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.familydoctor import service, worklists
from yilian.familydoctor.demo import seed_demo
from yilian.familydoctor.models import Contract, Resident, Team, TeamMember
from yilian.patients.models import Person
from yilian.registry import service as registry
from yilian.security import service as security
from yilian.security.principal import Role
from yilian.synth import geography


def test_seed_demo(session: Session) -> None:
    registry.load_registry(session, **geography.registry_payload())
    c001 = registry.get_organization_by_code(session, "310105C001")
    assert c001 is not None
    doctor = security.create_user(
        session, None, username="doctor", password="yilian-demo-42", role=Role.doctor,
        organization_id=c001.id,
    )  # fmt: skip
    today = service.today()
    births = itertools.cycle([70, 66, 40, 30, 55, 3, 80, 45])
    for n in range(160):
        pid = f"demo{n:05d}"
        session.add(Person(id=pid))
        session.flush()
        age = next(births)
        session.add(
            Resident(
                person_id=pid,
                birth_date=date(today.year - age, 1, 1),
                street_region_id=c001.region_id,
            )
        )
    session.commit()
    summary = seed_demo(session)
    session.commit()
    assert summary.startswith("familydoctor: ") and "teams" in summary, summary
    teams = session.scalars(select(Team).where(Team.organization_id == c001.id)).all()
    assert len(teams) >= 6  # one per family doctor of the centre
    mine = session.scalars(select(TeamMember).where(TeamMember.user_id == doctor.id)).all()
    assert len(mine) == 1 and mine[0].role == "family_doctor"
    signed = session.scalar(select(func.count()).select_from(Contract)) or 0
    # Key residents (≥65, 0–6) at ~82%, the others adjusted towards 50% overall.
    assert 60 <= signed <= 120, signed
    district = next(c for c in service.coverage(session) if c.level == "district")
    assert district.name == "长宁区"
    assert 0.6 <= (district.rate_key or 0) <= 0.95
    wl = worklists.build_worklist(session, organization_id=c001.id)
    assert {"health_check", "ppv23_invite"} <= {i.kind for i in wl.items}
    again = seed_demo(session)
    assert again == "familydoctor: already seeded"
    assert session.scalar(select(func.count()).select_from(Contract)) == signed
