"""Consult fixtures: a requesting hospital in 上海, experts in 江苏 and 浙江, a person's record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from tests.records.conftest import entry, new_idcard, observation, patient, visit_bundle
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry.models import Organization, Practitioner
from yilian.security.models import User
from yilian.security.principal import Principal, Role

Headers = Callable[..., dict[str, str]]


@dataclass
class World:
    hospital: Organization  # 上海, the requesting organisation
    suzhou: Organization  # 江苏
    jiashan: Organization  # 浙江
    other: Organization  # an unrelated hospital
    requester: User
    expert: User  # specialist at 苏州
    lead: User  # specialist at 嘉善
    outsider: User  # specialist at ``other``, never invited
    practitioner: Practitioner  # registry practitioner at 嘉善 without an account
    person: str
    items: list[str]  # "Type/id" of the person's record items
    stranger_item: str  # an item of another person

    def principal(self, user: User) -> Principal:
        return Principal(
            subject=user.id,
            name=user.username,
            role=Role(user.role),
            organization_id=user.organization_id,
        )


def ingest_person(session: Session, org: Organization) -> tuple[str, list[str]]:
    """A person with an encounter, a problem and two results sent by ``org``; (person, items)."""
    his = Principal(subject=f"his-{org.code}", name="HIS", role=Role.system, organization_id=org.id)
    bundle = visit_bundle(patient(id_number=new_idcard()), value=135)
    urn = bundle["entry"][0]["fullUrl"]
    bundle["entry"].append(entry(observation(urn, when="2024-06-01T09:30:00+08:00", value=120)))
    out = records.ingest_bundle(session, his, bundle)
    session.commit()
    keys = [e["response"]["location"].rsplit("/_history", 1)[0] for e in out["entry"]]
    person = patients.person_of_record(session, keys[0].split("/")[1])
    assert person
    return person, keys


@pytest.fixture
def world(
    session: Session,
    make_region: Callable[..., object],
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_practitioner: Callable[..., Practitioner],
) -> World:
    sh, js, zj = (
        make_region(name="上海市", code="310000"),
        make_region(name="江苏省", code="320000"),
        make_region(name="浙江省", code="330000"),
    )
    hospital = make_org(name="上海市同仁医院", type="tertiary_hospital", region=sh)
    suzhou = make_org(name="苏州市第九人民医院", type="tertiary_hospital", region=js)
    jiashan = make_org(name="嘉善县第一人民医院", type="tertiary_hospital", region=zj)
    other = make_org(name="无关医院", type="secondary_hospital", region=sh)
    requester = make_user(
        "req", role=Role.specialist, organization_id=hospital.id, display_name="王主任"
    )
    expert = make_user(
        "exp", role=Role.specialist, organization_id=suzhou.id, display_name="苏州专家"
    )
    lead = make_user(
        "lead", role=Role.specialist, organization_id=jiashan.id, display_name="嘉善专家"
    )
    outsider = make_user("out", role=Role.specialist, organization_id=other.id)
    practitioner = make_practitioner(name="钱结核", roles=[(jiashan, "specialist")])
    person, items = ingest_person(session, hospital)
    _, stranger = ingest_person(session, hospital)
    return World(
        hospital=hospital,
        suzhou=suzhou,
        jiashan=jiashan,
        other=other,
        requester=requester,
        expert=expert,
        lead=lead,
        outsider=outsider,
        practitioner=practitioner,
        person=person,
        items=items,
        stranger_item=stranger[1],
    )


@pytest.fixture
def hdr(auth_headers: Headers) -> Callable[[User], dict[str, str]]:
    """Bearer headers for a real account (subject = user id, as a sign-in issues)."""

    def make(user: User) -> dict[str, str]:
        return auth_headers(Role(user.role), organization_id=user.organization_id, subject=user.id)

    return make
