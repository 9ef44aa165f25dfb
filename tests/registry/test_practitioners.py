"""Practitioners and their roles: 多点执业, one primary site, filters, cascade on delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.registry.models import Organization, Practitioner, PractitionerRole

from ..fixtures.auth import HeaderFactory

URL = "/api/v1/practitioners"
ROLES = "/api/v1/practitioner-roles"


def test_practitioner_crud_with_roles_at_two_sites(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> None:
    admin = auth_headers()
    centre = make_org(name="华阳社区卫生服务中心")
    hospital = make_org(name="同仁医院", type="tertiary_hospital")
    r = client.post(
        URL,
        json={
            "name": "李娜",
            "gender": "female",
            "title": "副主任医师",
            "license_no": "110310000099999",
            "specialties": ["全科", "内分泌"],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert (p["name"], p["specialties"], p["roles"]) == ("李娜", ["全科", "内分泌"], [])

    first = client.post(
        ROLES,
        json={
            "practitioner_id": p["id"],
            "organization_id": centre.id,
            "role": "family_doctor",
            "specialty": "全科",
            "is_primary": True,
        },
        headers=admin,
    )
    assert first.status_code == 201, first.text
    assert first.json()["organization_name"] == "华阳社区卫生服务中心"
    assert first.json()["practitioner_name"] == "李娜"
    second = client.post(
        ROLES,
        json={
            "practitioner_id": p["id"],
            "organization_id": hospital.id,
            "role": "specialist",
            "specialty": "内分泌",
            "is_primary": True,
        },
        headers=admin,
    )
    assert second.status_code == 201
    got = client.get(f"{URL}/{p['id']}", headers=auth_headers("doctor")).json()
    primaries = {r["organization_name"]: r["is_primary"] for r in got["roles"]}
    assert primaries == {"华阳社区卫生服务中心": False, "同仁医院": True}  # the newest claim wins

    dup = client.post(
        ROLES,
        json={
            "practitioner_id": p["id"],
            "organization_id": centre.id,
            "role": "family_doctor",
            "specialty": "全科",
        },
        headers=admin,
    )
    assert dup.status_code == 409

    r = client.patch(f"{URL}/{p['id']}", json={"title": "主任医师"}, headers=admin)
    assert (r.json()["title"], len(r.json()["roles"])) == ("主任医师", 2)
    r = client.patch(f"{ROLES}/{first.json()['id']}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.delete(f"{ROLES}/{first.json()['id']}", headers=admin).status_code == 204
    assert client.get(f"{ROLES}/{first.json()['id']}", headers=admin).status_code == 404


def test_deleting_a_practitioner_deletes_their_roles(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_practitioner: Callable[..., Practitioner],
    session: Session,
) -> None:
    org = make_org()
    p = make_practitioner(roles=[(org, "nurse")])
    assert client.delete(f"{URL}/{p.id}", headers=auth_headers()).status_code == 204
    assert session.scalar(select(func.count()).select_from(PractitionerRole)) == 0
    assert (
        client.delete(f"/api/v1/organizations/{org.id}", headers=auth_headers()).status_code == 204
    )


def test_filters(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_practitioner: Callable[..., Practitioner],
    make_role: Callable[..., PractitionerRole],
) -> None:
    centre = make_org()
    hospital = make_org(type="tertiary_hospital")
    zhang = make_practitioner(
        name="张伟", specialties=["心内科", "全科"], roles=[(centre, "family_doctor")]
    )
    wang = make_practitioner(name="王强", license_no="LIC-WANG", roles=[(hospital, "specialist")])
    make_role(wang, centre, "specialist", specialty="眼科")
    make_practitioner(name="赵敏", specialties=["儿科"], active=False)

    def names(**params: Any) -> list[str]:
        r = client.get(URL, params=params, headers=auth_headers("doctor"))
        assert r.status_code == 200, r.text
        return [p["name"] for p in r.json()["items"]]

    assert sorted(names(organization_id=centre.id)) == sorted(["张伟", "王强"])
    assert names(organization_id=hospital.id) == ["王强"]
    assert names(q="张") == ["张伟"]
    assert names(q="lic-wang") == ["王强"]
    assert names(specialty="心内科") == ["张伟"]  # from the practitioner's own list
    assert names(specialty="眼科") == ["王强"]  # from a role
    assert names(specialty="心") == []  # exact, not a fragment
    assert names(active="false") == ["赵敏"]

    roles = client.get(ROLES, params={"organization_id": centre.id}, headers=auth_headers()).json()
    assert roles["total"] == 2
    assert {r["practitioner_id"] for r in roles["items"]} == {zhang.id, wang.id}
    only = client.get(ROLES, params={"role": "family_doctor"}, headers=auth_headers()).json()
    assert [r["practitioner_name"] for r in only["items"]] == ["张伟"]


def test_errors_name_the_field(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_practitioner: Callable[..., Practitioner],
    session: Session,
) -> None:
    org = make_org()
    p = make_practitioner(license_no="TAKEN-1")
    r = client.post(URL, json={"name": "重号", "license_no": "TAKEN-1"}, headers=auth_headers())
    assert r.status_code == 409
    assert r.json()["detail"][0]["field"] == "license_no"
    r = client.post(
        ROLES,
        json={"practitioner_id": "nosuch", "organization_id": org.id, "role": "nurse"},
        headers=auth_headers(),
    )
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "practitioner_id")
    r = client.post(
        ROLES,
        json={"practitioner_id": p.id, "organization_id": "nosuch", "role": "nurse"},
        headers=auth_headers(),
    )
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "organization_id")
    r = client.post(
        ROLES,
        json={"practitioner_id": p.id, "organization_id": org.id, "role": "surgeon"},
        headers=auth_headers(),
    )
    assert (r.status_code, r.json()["detail"][0]["field"]) == (422, "body.role")
    r = client.post(URL, json={"name": "x", "specialties": ["a"] * 21}, headers=auth_headers())
    assert r.status_code == 422
    assert session.scalar(select(func.count()).select_from(PractitionerRole)) == 0
    assert client.get(f"{URL}/nosuch", headers=auth_headers()).status_code == 404
    assert (
        client.post(URL, json={"name": "x"}, headers=auth_headers("specialist")).status_code == 403
    )
    assert client.get(ROLES).status_code == 401
