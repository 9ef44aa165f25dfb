"""Referral fixtures: a regional medical centre, two community centres, a person, principals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.records.conftest import new_idcard, patient, visit_bundle
from yilian.db import utcnow
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.referral import service
from yilian.referral.models import Schedule
from yilian.referral.rules import SlotKind
from yilian.registry.models import Organization, Region
from yilian.security.principal import Principal, Role


@dataclass
class World:
    region: Region
    hospital: Organization  # 同仁医院, the regional medical centre
    centre: Organization  # 社区卫生服务中心 where the person is treated
    other_centre: Organization
    rehab: Organization
    person_id: str
    doctor: Principal
    specialist: Principal
    stranger: Principal  # a doctor at the other centre


def principal(role: Role, org: Organization | None, name: str) -> Principal:
    return Principal(
        subject=f"sub-{name}", name=name, role=role, organization_id=org.id if org else None
    )


def make_person(session: Session, org: Organization, *, family: str = "王") -> str:
    his = Principal(subject=f"his-{org.code}", name="HIS", role=Role.system, organization_id=org.id)
    out = records.ingest_bundle(
        session, his, visit_bundle(patient(family=family, id_number=new_idcard()))
    )
    patient_id = out["entry"][0]["response"]["location"].split("/")[1]
    person_id = patients.person_of_record(session, patient_id)
    assert person_id
    session.commit()
    return person_id


@pytest.fixture
def world(
    session: Session,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
) -> World:
    region = make_region(name="长宁区", level="district")
    hospital = make_org(name="同仁医院", type="tertiary_hospital", region=region, code="310105H001")
    centre = make_org(
        name="新华街道社区卫生服务中心",
        type="community_health_center",
        region=region,
        code="310105C001",
    )
    other = make_org(
        name="江苏路街道社区卫生服务中心",
        type="community_health_center",
        region=region,
        code="310105C002",
    )
    rehab = make_org(name="长宁区康复医院", type="rehabilitation_hospital", region=region)
    person_id = make_person(session, centre)
    return World(
        region=region,
        hospital=hospital,
        centre=centre,
        other_centre=other,
        rehab=rehab,
        person_id=person_id,
        doctor=principal(Role.doctor, centre, "家庭医生李"),
        specialist=principal(Role.specialist, hospital, "专家张"),
        stranger=principal(Role.doctor, other, "医生赵"),
    )


def expert_session(
    session: Session,
    world: World,
    *,
    start: datetime | None = None,
    capacity: int = 10,
    department: str = "心内科",
    share: float | None = None,
    release_hours: int | None = None,
) -> Schedule:
    """An expert session at the hospital, by default four days ahead (reserve still held)."""
    begin = start or (utcnow() + timedelta(days=4)).replace(microsecond=0)
    schedule = service.publish_schedule(
        session,
        world.specialist,
        kind=SlotKind.expert,
        service=department,
        practitioner_name="张主任",
        title="主任医师",
        start=begin,
        end=begin + timedelta(hours=capacity // 2 or 1),
        capacity=capacity,
        reserved_share=share,
        release_hours=release_hours,
    )
    session.commit()
    return schedule
