"""Regions over the API: CRUD, the level rule, the tree with organisation counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.registry.models import Organization, Region

from ..fixtures.auth import HeaderFactory

URL = "/api/v1/regions"


def test_create_read_update_delete(client: TestClient, auth_headers: HeaderFactory) -> None:
    admin = auth_headers()
    r = client.post(
        URL,
        json={
            "code": "310000",
            "name": "上海市",
            "level": "province",
            "area_km2": 6340.5,
            "population": 24_870_895,
            "gdp": 47218.66,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    sh = r.json()
    assert (sh["name"], sh["level"], sh["population"], sh["parent_id"]) == (
        "上海市",
        "province",
        24_870_895,
        None,
    )
    r = client.post(
        URL,
        json={"code": "310118", "name": "青浦区", "level": "district", "parent_id": sh["id"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    qp = r.json()
    assert qp["parent_id"] == sh["id"]

    r = client.patch(f"{URL}/{qp['id']}", json={"population": 1_270_000}, headers=admin)
    assert r.json()["population"] == 1_270_000
    assert r.json()["name"] == "青浦区"
    got = client.get(f"{URL}/{qp['id']}", headers=auth_headers("cdc")).json()
    assert got["population"] == 1_270_000

    listed = client.get(URL, params={"parent_id": sh["id"]}, headers=admin).json()
    assert [x["code"] for x in listed["items"]] == ["310118"]
    assert client.get(URL, params={"level": "province"}, headers=admin).json()["total"] == 1
    assert client.get(URL, params={"q": "青浦"}, headers=admin).json()["items"][0]["id"] == qp["id"]

    r = client.delete(f"{URL}/{sh['id']}", headers=admin)
    assert r.status_code == 409
    assert "1 child regions" in r.json()["error"]
    assert client.delete(f"{URL}/{qp['id']}", headers=admin).status_code == 204
    assert client.delete(f"{URL}/{sh['id']}", headers=admin).status_code == 204
    assert client.get(URL, headers=admin).json()["total"] == 0


def test_level_rule_names_the_field(
    client: TestClient, auth_headers: HeaderFactory, make_region: Callable[..., Region]
) -> None:
    district = make_region(level="district")
    street = make_region(level="street", parent=district)
    r = client.post(
        URL,
        json={"code": "320000", "name": "江苏省", "level": "province", "parent_id": district.id},
        headers=auth_headers(),
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "parent_id"
    # A district cannot become a street while a street sits inside it.
    r = client.patch(f"{URL}/{district.id}", json={"level": "street"}, headers=auth_headers())
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "level"
    # Nor can a region move under its own descendant: the level rule forbids it.
    r = client.patch(f"{URL}/{district.id}", json={"parent_id": street.id}, headers=auth_headers())
    assert r.status_code == 422
    r = client.patch(f"{URL}/{district.id}", json={"parent_id": "nosuch"}, headers=auth_headers())
    assert r.status_code == 422
    assert "does not exist" in r.json()["error"]


def test_duplicate_code_is_409_and_nothing_is_written(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_region: Callable[..., Region],
    session: Session,
) -> None:
    make_region(code="330421", name="嘉善县", level="district")
    r = client.post(
        URL, json={"code": "330421", "name": "别的县", "level": "district"}, headers=auth_headers()
    )
    assert r.status_code == 409
    assert r.json()["detail"][0]["field"] == "code"
    assert session.scalars(select(Region.name)).all() == ["嘉善县"]


def test_fuzz_like_values_are_422_not_500(client: TestClient, auth_headers: HeaderFactory) -> None:
    bad: list[dict[str, Any]] = [
        {"code": "1", "name": "x", "level": "province", "population": 2**63},
        {"code": "1", "name": "x", "level": "province", "area_km2": -1},
        {"code": "1", "name": "x", "level": "country"},
        {"code": "1\u0000", "name": "x", "level": "province"},
        {"code": "1", "name": "\t", "level": "province"},
        {"code": "1", "name": "x", "level": "province", "parent_id": "a/b"},
    ]
    for body in bad:
        r = client.post(URL, json=body, headers=auth_headers())
        assert r.status_code == 422, (body, r.text)
    r = client.post(
        URL,
        content=b'{"code": "1", "name": "x", "level": "province", "gdp": NaN}',
        headers={**auth_headers(), "content-type": "application/json"},
    )
    assert r.status_code == 422
    r = client.get(URL, params={"q": "a\x00"}, headers=auth_headers())
    assert r.status_code == 422


def test_tree_counts_organisations_in_and_below(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
) -> None:
    zj = make_region(name="浙江省", level="province", code="330000")
    jx = make_region(name="嘉兴市", level="city", code="330400", parent=zj)
    js = make_region(name="嘉善县", level="district", code="330421", parent=jx)
    xt = make_region(name="西塘镇", level="street", code="330421101", parent=js)
    make_region(name="江苏省", level="province", code="320000")
    make_org(region=jx, name="嘉兴市第一医院", type="tertiary_hospital")
    make_org(region=js, name="嘉善县第一人民医院", type="secondary_hospital")
    make_org(region=xt, name="西塘镇社区卫生服务中心")
    make_org(region=xt, name="西塘镇卫生服务站", type="community_health_station")

    r = client.get(f"{URL}/tree", headers=auth_headers("commission"))
    assert r.status_code == 200
    tree = r.json()
    assert [n["name"] for n in tree] == ["江苏省", "浙江省"]  # by code
    zhejiang = tree[1]
    assert (zhejiang["organization_count"], zhejiang["direct_organization_count"]) == (4, 0)
    jiaxing = zhejiang["children"][0]
    assert (jiaxing["organization_count"], jiaxing["direct_organization_count"]) == (4, 1)
    jiashan = jiaxing["children"][0]
    assert jiashan["organization_count"] == 3
    assert jiashan["children"][0]["organization_count"] == 2
    assert jiashan["children"][0]["children"] == []
    assert tree[0]["organization_count"] == 0

    sub = client.get(f"{URL}/tree", params={"root_id": js.id}, headers=auth_headers()).json()
    assert [n["name"] for n in sub] == ["嘉善县"]
    assert (
        client.get(f"{URL}/tree", params={"root_id": "nosuch"}, headers=auth_headers()).status_code
        == 404
    )


def test_region_with_organisations_cannot_be_deleted(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    session: Session,
) -> None:
    org = make_org()
    r = client.delete(f"{URL}/{org.region_id}", headers=auth_headers())
    assert r.status_code == 409
    assert "1 organisations" in r.json()["error"]
    assert session.scalar(select(func.count()).select_from(Region)) == 1


def test_writes_need_admin(client: TestClient, auth_headers: HeaderFactory) -> None:
    body = {"code": "310000", "name": "上海市", "level": "province"}
    assert client.post(URL, json=body).status_code == 401
    assert client.post(URL, json=body, headers=auth_headers("commission")).status_code == 403
    assert client.get(f"{URL}/tree").status_code == 401
