"""The bulk loader behind the synthetic region and the demo: upsert by code, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.kit.errors import Unprocessable
from yilian.registry import service
from yilian.registry.models import (
    Consortium,
    ConsortiumMember,
    Organization,
    Practitioner,
    PractitionerRole,
    Region,
)
from yilian.registry.rules import ConsortiumRole

REGIONS: list[dict[str, Any]] = [
    # Children before parents on purpose: the loader links by code after inserting.
    {"code": "310118", "name": "青浦区", "level": "district", "parent_code": "310100"},
    {"code": "310100", "name": "上海市市辖区", "level": "city", "parent_code": "310000"},
    {"code": "310000", "name": "上海市", "level": "province", "population": 24_870_895},
    {"code": "320509", "name": "吴江区", "level": "district", "area_km2": 1176.68},
]
ORGS: list[dict[str, Any]] = [
    {
        "code": "QP-ZJJ-01",
        "name": "朱家角镇社区卫生服务站",
        "type": "community_health_station",
        "region_code": "310118",
        "parent_code": "QP-ZJJ",
    },
    {
        "code": "QP-ZJJ",
        "name": "朱家角镇社区卫生服务中心",
        "type": "community_health_center",
        "region_code": "310118",
    },
    {
        "code": "QP-ZX",
        "name": "青浦区中心医院",
        "type": "secondary_hospital",
        "region_code": "310118",
        "insurance_designated": True,
    },
    {
        "code": "WJ-01",
        "name": "吴江区第一人民医院",
        "type": "tertiary_hospital",
        "region_code": "320509",
    },
]
CONSORTIA: list[dict[str, Any]] = [
    {
        "code": "YRD-DEMO",
        "name": "长三角示范区跨区域医联体",
        "kind": "cross_region",
        "lead_code": "QP-ZX",
        "member_codes": ["QP-ZJJ", "WJ-01"],
    }
]
PRACTITIONERS: list[dict[str, Any]] = [
    {
        "license_no": "110310118000001",
        "name": "陈静",
        "gender": "female",
        "title": "主治医师",
        "specialties": ["全科"],
        "roles": [
            {
                "organization_code": "QP-ZJJ",
                "role": "family_doctor",
                "specialty": "全科",
                "is_primary": True,
            },
            {"organization_code": "QP-ZX", "role": "doctor"},
        ],
    }
]


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _load(session: Session, **over: Any) -> service.LoadResult:
    kwargs: dict[str, Any] = {
        "regions": REGIONS,
        "organizations": ORGS,
        "consortia": CONSORTIA,
        "practitioners": PRACTITIONERS,
    }
    kwargs.update(over)
    return service.load_registry(session, **kwargs)


def test_load_links_everything_by_code(session: Session) -> None:
    result = _load(session)
    session.commit()
    assert result.created == {
        "regions": 4,
        "organizations": 4,
        "consortia": 1,
        "practitioners": 1,
        "practitioner_roles": 2,
    }
    qingpu = session.get(Region, result.region_ids["310118"])
    assert qingpu is not None
    assert [r.name for r in service.region_ancestry(session, qingpu.id)] == [
        "上海市",
        "上海市市辖区",
        "青浦区",
    ]
    station = session.get(Organization, result.organization_ids["QP-ZJJ-01"])
    assert station is not None and station.parent_id == result.organization_ids["QP-ZJJ"]
    roles = {m.organization_id: m.role for m in session.scalars(select(ConsortiumMember))}
    ids = result.organization_ids
    assert roles == {
        ids["QP-ZX"]: ConsortiumRole.lead,
        ids["QP-ZJJ"]: ConsortiumRole.member,
        ids["WJ-01"]: ConsortiumRole.member,
    }
    primary = session.scalars(select(PractitionerRole).where(PractitionerRole.is_primary)).all()
    assert [r.organization_id for r in primary] == [ids["QP-ZJJ"]]
    in_shanghai = service.within_region_organization_ids(session, result.region_ids["310000"])
    assert in_shanghai == {ids["QP-ZJJ-01"], ids["QP-ZJJ"], ids["QP-ZX"]}


def test_second_load_changes_nothing_and_updates_by_code(session: Session) -> None:
    first = _load(session)
    session.commit()
    again = _load(session)
    session.commit()
    assert again.created == {} and again.updated == {}
    assert again.organization_ids == first.organization_ids
    assert (_count(session, Region), _count(session, Organization)) == (4, 4)
    assert (_count(session, ConsortiumMember), _count(session, PractitionerRole)) == (3, 2)

    renamed = [dict(ORGS[2], name="青浦区中心医院（新院区）")]
    moved_lead = [dict(CONSORTIA[0], lead_code="WJ-01", member_codes=[])]
    third = service.load_registry(session, organizations=renamed, consortia=moved_lead)
    session.commit()
    assert third.updated == {"organizations": 1, "consortia": 1}
    org = session.get(Organization, first.organization_ids["QP-ZX"])
    assert org is not None and org.name == "青浦区中心医院（新院区）"
    lead = session.scalars(
        select(ConsortiumMember.organization_id).where(ConsortiumMember.role == ConsortiumRole.lead)
    ).all()
    assert lead == [first.organization_ids["WJ-01"]]
    assert _count(session, ConsortiumMember) == 3  # nobody is dropped


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"organizations": [dict(ORGS[1], region_code="999999")]}, "organizations.0.region_code"),
        ({"organizations": [dict(ORGS[0])]}, "organizations.0.parent_code"),
        (  # 上海市 made a street: the city under it breaks the level rule
            {"regions": [*REGIONS[:2], dict(REGIONS[2], level="street"), REGIONS[3]]},
            "regions.1.parent_code",
        ),
        ({"organizations": [dict(ORGS[1], type="clinic")]}, "organizations.0.type"),
        ({"consortia": [dict(CONSORTIA[0], member_codes=["NOPE"])]}, "consortia.0.member_codes.0"),
        ({"regions": [REGIONS[2], REGIONS[2]]}, "regions.1.code"),
    ],
)
def test_bad_input_names_the_item_and_writes_nothing(
    session: Session, over: dict[str, Any], field: str
) -> None:
    kwargs = {"regions": REGIONS, "organizations": ORGS[1:], "consortia": CONSORTIA}
    kwargs.update(over)
    with pytest.raises(Unprocessable) as info:
        service.load_registry(session, **kwargs)
    assert info.value.detail[0]["field"] == field, info.value.message
    session.rollback()
    for model in (Region, Organization, Consortium, Practitioner):
        assert _count(session, model) == 0


def test_parent_cycle_is_refused(session: Session) -> None:
    a = {"code": "A", "name": "甲", "type": "other", "region_code": "310000", "parent_code": "B"}
    b = {"code": "B", "name": "乙", "type": "other", "region_code": "310000", "parent_code": "A"}
    with pytest.raises(Unprocessable, match="cycle"):
        service.load_registry(session, regions=REGIONS[2:3], organizations=[a, b])
