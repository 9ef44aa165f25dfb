"""seed_demo on the synthetic registry: the three demo cases, idempotently."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.consult.conftest import ingest_person
from yilian.consult import service
from yilian.consult.demo import TITLE_MDT, TITLE_REMOTE, TITLE_RR_TB, seed_demo
from yilian.consult.models import ConsultCase, ConsultInvitation, ConsultOpinion
from yilian.consult.rules import CaseStatus, CaseType
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security import service as security
from yilian.security.principal import Role
from yilian.synth.geography import registry_payload


def _province_of(session: Session, org_id: str) -> str:
    org = session.get(Organization, org_id)
    assert org is not None
    chain = registry.region_ancestry(session, org.region_id)
    return next(r.name for r in chain if r.level == "province")


def test_seed_demo_builds_the_cases_once(session: Session) -> None:
    assert seed_demo(session).startswith("consult: skipped")
    registry.load_registry(session, **registry_payload())
    hospital = registry.get_organization_by_code(session, "310105H001")
    centre = registry.get_organization_by_code(session, "310105C001")
    assert hospital and centre
    for username, role, org in (
        ("specialist", Role.specialist, hospital),
        ("doctor", Role.doctor, centre),
    ):
        security.create_user(
            session,
            None,
            username=username,
            password="yilian-demo-pw",
            role=role,
            organization_id=org.id,
        )
    session.commit()
    for _ in range(2):
        ingest_person(session, hospital)
    ingest_person(session, centre)

    summary = seed_demo(session)
    session.commit()
    assert "3 demo cases created" in summary, summary
    cases = {c.title: c for c in session.scalars(select(ConsultCase))}
    assert set(cases) == {TITLE_RR_TB, TITLE_MDT, TITLE_REMOTE}

    tb = cases[TITLE_RR_TB]
    assert tb.case_type is CaseType.rr_tb_joint and tb.status is CaseStatus.concluded
    assert tb.conclusion_document_id
    invited = session.scalars(
        select(ConsultInvitation).where(ConsultInvitation.case_id == tb.id)
    ).all()
    provinces = {_province_of(session, i.organization_id) for i in invited}
    assert provinces == {"上海市", "江苏省", "浙江省"}, provinces
    assert (
        len(session.scalars(select(ConsultOpinion).where(ConsultOpinion.case_id == tb.id)).all())
        == 3
    )

    mdt = cases[TITLE_MDT]
    assert mdt.case_type is CaseType.mdt and mdt.requesting_org_id == hospital.id
    assert session.scalars(select(ConsultOpinion).where(ConsultOpinion.case_id == mdt.id)).all()

    specialist = next(
        u
        for u in security.list_users(session, role=Role.specialist, limit=10, offset=0)[0]
        if u.username == "specialist"
    )
    rows, _ = service.list_cases(session, security.user_principal(specialist), box="invited")
    assert [c.title for c in rows] == [TITLE_REMOTE]
    assert rows[0].status is CaseStatus.open

    again = seed_demo(session)
    assert "0 demo cases created, 3 in all" in again, again
