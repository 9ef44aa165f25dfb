"""Organisations over the API: CRUD, filters (region subtree, type, text, consortium), paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from yilian.registry.models import Organization, Region

from ..fixtures.auth import HeaderFactory

URL = "/api/v1/organizations"


def _body(region_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "12310118425000001A",
        "name": "上海市青浦区朱家角镇社区卫生服务中心",
        "short_name": "朱家角社区",
        "type": "community_health_center",
        "region_id": region_id,
        "insurance_designated": True,
        "address": "上海市青浦区朱家角镇课植园路 1 号",
        "phone": "021-59231234",
        "latitude": 31.11,
        "longitude": 121.05,
    }
    body.update(over)
    return body


def test_create_read_update_delete(
    client: TestClient, auth_headers: HeaderFactory, make_region: Callable[..., Region]
) -> None:
    admin = auth_headers("admin")
    qingpu = make_region(name="青浦区", level="district")
    r = client.post(URL, json=_body(qingpu.id), headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "上海市青浦区朱家角镇社区卫生服务中心"
    assert created["type_label"] == "社区卫生服务中心"
    assert created["region_name"] == "青浦区"
    assert created["insurance_designated"] is True
    assert created["active"] is True
    org_id = created["id"]

    reader = auth_headers("doctor")
    got = client.get(f"{URL}/{org_id}", headers=reader)
    assert got.status_code == 200
    assert got.json()["code"] == "12310118425000001A"

    r = client.patch(f"{URL}/{org_id}", json={"level": "一级甲等", "phone": None}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["level"] == "一级甲等"
    assert r.json()["phone"] is None
    assert r.json()["name"] == created["name"]  # untouched fields stay

    assert client.delete(f"{URL}/{org_id}", headers=admin).status_code == 204
    assert client.get(f"{URL}/{org_id}", headers=reader).status_code == 404


def test_duplicate_code_is_409_naming_the_field(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> None:
    org = make_org(code="DUP001")
    r = client.post(URL, json=_body(org.region_id, code="DUP001"), headers=auth_headers())
    assert r.status_code == 409
    assert r.json()["detail"][0]["field"] == "code"
    assert "DUP001" in r.json()["error"]
    other = make_org()
    r = client.patch(f"{URL}/{other.id}", json={"code": "DUP001"}, headers=auth_headers())
    assert r.status_code == 409


def test_unknown_region_or_parent_is_422_naming_the_field(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_region: Callable[..., Region],
    session: Session,
) -> None:
    r = client.post(URL, json=_body("nosuchregion"), headers=auth_headers())
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "region_id"
    region = make_region()
    r = client.post(URL, json=_body(region.id, parent_id="nosuchorg"), headers=auth_headers())
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "parent_id"
    assert session.scalar(select(func.count()).select_from(Organization)) == 0


def test_bad_fields_are_422_with_the_field(
    client: TestClient, auth_headers: HeaderFactory, make_region: Callable[..., Region]
) -> None:
    region = make_region()
    cases = [
        ("type", "hospital"),
        ("name", "a\x00b"),
        ("name", ""),
        ("name", "x" * 201),
        ("latitude", 91),
        ("code", "has space"),
        ("phone", "call me"),
    ]
    for field, value in cases:
        r = client.post(URL, json=_body(region.id, **{field: value}), headers=auth_headers())
        assert r.status_code == 422, (field, value, r.text)
        assert r.json()["detail"][0]["field"] == f"body.{field}", (field, r.json())
    r = client.post(URL, json={**_body(region.id), "extra": 1}, headers=auth_headers())
    assert r.status_code == 422
    r = client.patch(URL + "/whatever", json={"name": None}, headers=auth_headers())
    assert r.status_code in (404, 422)


def test_null_for_a_required_field_is_refused_on_patch(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> None:
    org = make_org()
    r = client.patch(f"{URL}/{org.id}", json={"name": None}, headers=auth_headers())
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "body.name"


def test_malformed_json_is_400(client: TestClient, auth_headers: HeaderFactory) -> None:
    r = client.post(
        URL,
        content=b'{"code": "X1", "name": ',
        headers={**auth_headers(), "content-type": "application/json"},
    )
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["error"]


def test_parent_cannot_make_a_cycle(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> None:
    centre = make_org(type="community_health_center")
    station = make_org(type="community_health_station", parent=centre, region=centre.region_id)
    r = client.patch(f"{URL}/{centre.id}", json={"parent_id": station.id}, headers=auth_headers())
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "parent_id"
    r = client.patch(f"{URL}/{centre.id}", json={"parent_id": centre.id}, headers=auth_headers())
    assert r.status_code == 422
    r = client.patch(f"{URL}/{station.id}", json={"parent_id": None}, headers=auth_headers())
    assert r.status_code == 200
    assert r.json()["parent_id"] is None


def test_delete_referenced_organisation_is_409_and_keeps_it(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_practitioner: Callable[..., Any],
) -> None:
    centre = make_org()
    make_org(parent=centre, type="community_health_station")
    make_practitioner(roles=[(centre, "family_doctor")])
    r = client.delete(f"{URL}/{centre.id}", headers=auth_headers())
    assert r.status_code == 409
    assert "1 subordinate organisations" in r.json()["error"]
    assert "1 practitioner roles" in r.json()["error"]
    assert client.get(f"{URL}/{centre.id}", headers=auth_headers()).status_code == 200


def test_region_filter_includes_descendant_regions(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
) -> None:
    shanghai = make_region(name="上海市", level="province")
    qingpu = make_region(name="青浦区", level="district", parent=shanghai)
    zhujiajiao = make_region(name="朱家角镇", level="street", parent=qingpu)
    jiangsu = make_region(name="江苏省", level="province")
    a = make_org(region=qingpu, name="青浦区中医医院", type="tcm_hospital")
    b = make_org(region=zhujiajiao, name="朱家角社区卫生服务中心")
    make_org(region=jiangsu, name="吴江区第一人民医院", type="secondary_hospital")

    def names(**params: Any) -> list[str]:
        r = client.get(URL, params=params, headers=auth_headers("commission"))
        assert r.status_code == 200, r.text
        return sorted(o["name"] for o in r.json()["items"])

    assert names(region_id=shanghai.id) == sorted([a.name, b.name])
    assert names(region_id=qingpu.id) == sorted([a.name, b.name])
    assert names(region_id=zhujiajiao.id) == [b.name]
    assert names(region_id=jiangsu.id) == ["吴江区第一人民医院"]
    assert names(region_id="nosuchregion") == []
    assert names(region_id=shanghai.id, type="tcm_hospital") == ["青浦区中医医院"]


def test_filters_by_text_designation_activity_and_consortium(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_consortium: Callable[..., Any],
) -> None:
    region = make_org().region_id  # one org to get a region; it has no designation
    h = make_org(region=region, name="同仁医院", code="TR0001", insurance_designated=True)
    c = make_org(region=region, name="华阳街道社区卫生服务中心", short_name="华阳社区")
    make_org(region=region, name="停业诊所", type="other", active=False)
    make_consortium(lead=h, members=[c])

    def codes(**params: Any) -> set[str]:
        r = client.get(URL, params=params, headers=auth_headers("doctor"))
        assert r.status_code == 200, r.text
        return {o["code"] for o in r.json()["items"]}

    assert codes(q="同仁") == {"TR0001"}
    assert codes(q="tr00") == {"TR0001"}  # codes match case-insensitively
    assert codes(q="华阳社区") == {c.code}  # the short name counts too
    assert codes(q="100%") == set()  # % is literal, not a wildcard
    assert codes(insurance_designated="true") == {"TR0001"}
    assert len(codes(active="false")) == 1
    assert codes(consortium_id=make_consortium(lead=c).id) == {c.code}
    assert codes(consortium_id="none") == set()


def test_paging_is_stable_and_reports_the_total(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
) -> None:
    region = make_region()
    for i in range(7):
        make_org(region=region, code=f"P{i:03d}")
    seen: list[str] = []
    for offset in (0, 3, 6):
        r = client.get(URL, params={"limit": 3, "offset": offset}, headers=auth_headers())
        page = r.json()
        assert page["total"] == 7
        assert page["limit"] == 3 and page["offset"] == offset
        seen += [o["code"] for o in page["items"]]
    assert seen == [f"P{i:03d}" for i in range(7)]
    r = client.get(URL, params={"offset": 100}, headers=auth_headers())
    assert r.json() == {"items": [], "total": 7, "limit": 50, "offset": 100}
    assert client.get(URL, params={"limit": 0}, headers=auth_headers()).status_code == 422
    assert client.get(URL, params={"limit": 501}, headers=auth_headers()).status_code == 422


def test_list_is_one_select_and_one_count(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
) -> None:
    top = make_region(level="city")
    for i in range(5):
        make_org(region=make_region(parent=top, level="district"), code=f"Q{i}")
    statements: list[str] = []
    engine = client.app.state.engine  # type: ignore[attr-defined]

    def record(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        if "FROM organizations" in sql:  # the principal check may query its own tables
            statements.append(sql)

    headers = auth_headers()
    event.listen(engine, "before_cursor_execute", record)
    try:
        r = client.get(URL, params={"region_id": top.id, "q": "Q"}, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert r.status_code == 200
    assert r.json()["total"] == 5
    assert all(o["region_name"] for o in r.json()["items"])
    assert len(statements) == 2, statements


def test_reads_need_a_principal_and_writes_an_admin(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> None:
    org = make_org()
    assert client.get(URL).status_code == 401
    assert client.get(f"{URL}/{org.id}").status_code == 401
    assert client.get(URL, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    doctor = auth_headers("doctor")
    assert client.post(URL, json=_body(org.region_id), headers=doctor).status_code == 403
    assert client.patch(f"{URL}/{org.id}", json={"name": "x"}, headers=doctor).status_code == 403
    assert client.delete(f"{URL}/{org.id}", headers=doctor).status_code == 403
    assert client.get(f"{URL}/{org.id}", headers=doctor).json()["name"] == org.name


def test_unknown_id_is_404(client: TestClient, auth_headers: HeaderFactory) -> None:
    r = client.get(f"{URL}/0123456789abcdef", headers=auth_headers())
    assert r.status_code == 404
    assert "does not exist" in r.json()["error"]
    assert client.delete(f"{URL}/0123456789abcdef", headers=auth_headers()).status_code == 404
    assert client.get(f"{URL}/bad%00id", headers=auth_headers()).status_code == 422
