"""Familydoctor fixtures: a street with two centres, a hospital, a team, residents on the roster."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy.orm import Session

from yilian.familydoctor import service
from yilian.familydoctor.models import Resident, Team
from yilian.familydoctor.schemas import ContractIn, MemberIn, TeamIn
from yilian.kit.crypto import get_cipher, mask
from yilian.patients.models import Person
from yilian.registry.models import Organization, Region
from yilian.security.principal import Principal, Role

_seq = itertools.count(1)
ADMIN = Principal(subject="admin", name="admin", role=Role.admin, organization_id=None)


@pytest.fixture
def street(make_region: Callable[..., Region]) -> Region:
    district = make_region(name="长宁区", level="district")
    return make_region(name="新华路街道", level="street", parent=district)


@pytest.fixture
def centre(make_org: Callable[..., Organization], street: Region) -> Organization:
    return make_org(name="新华街道社区卫生服务中心", type="community_health_center", region=street)


@pytest.fixture
def other_centre(
    make_org: Callable[..., Organization], make_region: Callable[..., Region]
) -> Organization:
    other = make_region(name="天山路街道", level="street")
    return make_org(name="天山街道社区卫生服务中心", type="community_health_center", region=other)


@pytest.fixture
def hospital(make_org: Callable[..., Organization]) -> Organization:
    return make_org(name="同仁医院", type="tertiary_hospital")


@pytest.fixture
def doctor(centre: Organization) -> Principal:
    return Principal(subject="doc-1", name="doc", role=Role.doctor, organization_id=centre.id)


def _team(session: Session, org: Organization, name: str) -> Team:
    team = service.create_team(
        session,
        ADMIN,
        TeamIn(
            organization_id=org.id,
            name=name,
            members=[
                MemberIn(role="family_doctor", name="王医生"),
                MemberIn(role="nurse", name="李护士"),
                MemberIn(role="public_health", name="赵公卫"),
                MemberIn(role="health_manager", name="钱管理师"),
                MemberIn(role="admin_assistant", name="孙助手"),
            ],
        ),
    )
    session.commit()
    return team


@pytest.fixture
def team(session: Session, centre: Organization) -> Team:
    return _team(session, centre, "王医生团队")


@pytest.fixture
def other_team(session: Session, other_centre: Organization) -> Team:
    return _team(session, other_centre, "天山一队")


PersonFactory = Callable[..., str]


@pytest.fixture
def make_person(session: Session, street: Region) -> PersonFactory:
    """A person on the roster (no FHIR): ``make_person(birth=date(1950, 1, 1))``."""

    def make(
        *,
        birth: date = date(1980, 5, 17),
        street_id: str | None = "default",
        phone: str | None = None,
    ) -> str:
        n = next(_seq)
        pid = f"p{n:07d}"
        session.add(Person(id=pid))
        session.flush()
        phone = phone or f"1390000{n:04d}"
        session.add(
            Resident(
                person_id=pid,
                birth_date=birth,
                gender="female",
                street_region_id=street.id if street_id == "default" else street_id,
                name_masked="张*",
                phone_encrypted=get_cipher().encrypt(phone),
                phone_masked=mask(phone),
            )
        )
        session.commit()
        return pid

    return make


SignFactory = Callable[..., list]


@pytest.fixture
def sign(session: Session, team: Team) -> SignFactory:
    def make(
        *person_ids: str, start: date | None = None, on_team: Team | None = None, **kw: object
    ) -> list:
        data = ContractIn(
            person_ids=list(person_ids),
            team_id=(on_team or team).id,
            start=start or date.today().replace(month=1, day=1),
            kind="family" if len(person_ids) > 1 else kw.pop("kind", "individual"),
            **kw,
        )
        out = service.sign(session, ADMIN, data)
        session.commit()
        return out

    return make
