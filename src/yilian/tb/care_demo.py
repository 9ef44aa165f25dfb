"""Demo data of TB patient management: ~20 cases across the district's community centres."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.kit.errors import YilianError
from yilian.patients.models import Person
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security.principal import Principal, Role
from yilian.tb import care_service as service
from yilian.tb.care_models import TbCase, TbDose, TbVisit
from yilian.tb.care_schemas import CaseCreate, OutcomeCreate, TransferCreate

CENTRES = [f"310105C{n:03d}" for n in range(1, 11)]


def _system(org: Organization) -> Principal:
    """The community centre's own system: demo data is recorded as the centre would."""
    return Principal(
        subject=f"demo-tb-{org.code}",
        name=f"{org.name} 结核管理",
        role=Role.system,
        organization_id=org.id,
        kind="client",
    )


def seed_demo(session: Session) -> str:
    """Idempotent: does nothing when demo cases exist."""
    if session.scalar(select(func.count()).select_from(TbCase)):
        return "tb care: demo cases already present"
    orgs = [o for o in (registry.get_organization_by_code(session, c) for c in CENTRES) if o]
    if not orgs:
        return "tb care: no community centres in the registry, nothing seeded"
    persons = list(session.scalars(select(Person.id).where(Person.merged_into.is_(None)).limit(20)))
    rng = random.Random(8)
    today = service.today()
    made = doses = 0
    cases: list[TbCase] = []
    outside = session.scalars(
        select(Organization)
        .where(~Organization.code.startswith("310"), Organization.type == "community_health_center")
        .order_by(Organization.code)
        .limit(1)
    ).first()
    for i, pid in enumerate(persons):
        org = outside if (i == 0 and outside is not None) else orgs[i % len(orgs)]
        try:
            case = service.create_case(
                session,
                _system(org),
                CaseCreate(
                    person_id=pid,
                    organization_id=org.id,
                    notification_date=today - timedelta(days=rng.randint(20, 150)),
                    diagnosis_code="A15.0",
                    rr_tb=i % 7 == 0,
                ),
            )
        except YilianError:
            continue
        made += 1
        cases.append(case)
        # Every day of treatment so far, so that adherence reads as it would in practice.
        d = case.start_date
        while d <= today:
            status = rng.choices(["taken", "missed", "late"], [0.88, 0.08, 0.04])[0]
            session.add(
                TbDose(case_id=case.id, day=d, status=status, method="dot", organization_id=org.id)
            )
            doses += 1
            d += timedelta(days=1)
        v = case.notification_date + timedelta(days=rng.randint(1, 4))
        while v <= today:
            session.add(TbVisit(case_id=case.id, visit_date=v, organization_id=org.id))
            v += timedelta(days=30 + rng.randint(-3, 6))
    session.flush()
    by_id = {o.id: o for o in [*orgs, *([outside] if outside else [])]}
    if cases:  # one finished course
        last = cases[-1]
        service.record_outcome(
            session,
            _system(by_id[last.organization_id]),
            last.id,
            OutcomeCreate(outcome="cured", outcome_date=today),
        )
    moved = 0
    if outside is not None and cases and cases[0].organization_id == outside.id:
        # A patient moving from another province into the district: 转出 then 转入.
        t = service.request_transfer(
            session,
            _system(outside),
            cases[0].id,
            TransferCreate(to_organization_id=orgs[0].id, reason="患者迁居上海长宁"),
        )
        service.acknowledge_transfer(session, _system(orgs[0]), t.id)
        moved = 1
    reminders = service.sweep_visit_reminders(session)
    session.flush()
    return f"tb care: {made} cases, {doses} doses, {moved} transferred, {reminders} visit reminders"
