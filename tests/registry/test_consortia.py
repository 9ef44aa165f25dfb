"""Consortia (医联体, 专科联盟): creation with members, lead changes, membership rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.registry import service
from yilian.registry.models import Consortium, ConsortiumMember, Organization

from ..fixtures.auth import HeaderFactory

URL = "/api/v1/consortia"


def _members(client: TestClient, headers: dict[str, str], cid: str) -> list[tuple[str, str]]:
    r = client.get(f"{URL}/{cid}/members", headers=headers)
    assert r.status_code == 200, r.text
    return [(m["organization_name"], m["role"]) for m in r.json()["items"]]


def test_create_with_members_and_read(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> None:
    lead = make_org(name="同仁医院", type="tertiary_hospital")
    a = make_org(name="华阳社区卫生服务中心", region=lead.region_id)
    b = make_org(name="江苏路社区卫生服务中心", region=lead.region_id)
    r = client.post(
        URL,
        json={
            "code": "CN-TR-01",
            "name": "同仁医院医联体",
            "kind": "regional",
            "lead_organization_id": lead.id,
            "region_id": lead.region_id,
            "member_ids": [a.id, b.id, a.id, lead.id],  # repeats and the lead are harmless
        },
        headers=auth_headers(),
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["kind_label"], c["lead_name"], c["member_count"]) == ("医联体", "同仁医院", 3)
    h = auth_headers("doctor")
    assert _members(client, h, c["id"]) == [
        ("同仁医院", "lead"),
        ("华阳社区卫生服务中心", "member"),
        ("江苏路社区卫生服务中心", "member"),
    ]
    listed = client.get(URL, params={"organization_id": b.id}, headers=h).json()
    assert [x["code"] for x in listed["items"]] == ["CN-TR-01"]
    assert client.get(URL, params={"kind": "specialty"}, headers=h).json()["total"] == 0
    assert client.get(URL, params={"region_id": lead.region_id}, headers=h).json()["total"] == 1


def test_failed_create_writes_nothing(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    session: Session,
) -> None:
    lead = make_org()
    member = make_org()
    r = client.post(
        URL,
        json={
            "code": "CN-X",
            "name": "半途而废",
            "kind": "specialty",
            "lead_organization_id": lead.id,
            "member_ids": [member.id, "nosuchorg"],
        },
        headers=auth_headers(),
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "member_ids.1"
    assert session.scalar(select(func.count()).select_from(Consortium)) == 0
    assert session.scalar(select(func.count()).select_from(ConsortiumMember)) == 0
    r = client.post(
        URL,
        json={"code": "CN-Y", "name": "无牵头", "kind": "tcm", "lead_organization_id": "nosuch"},
        headers=auth_headers(),
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "lead_organization_id"


def test_add_and_remove_members(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_consortium: Callable[..., Consortium],
) -> None:
    c = make_consortium(kind="specialty")
    org = make_org(name="新成员")
    admin = auth_headers()
    r = client.post(
        f"{URL}/{c.id}/members",
        json={"organization_id": org.id, "joined_on": "2024-03-01"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["role"], r.json()["joined_on"]) == ("member", "2024-03-01")
    again = client.post(f"{URL}/{c.id}/members", json={"organization_id": org.id}, headers=admin)
    assert again.status_code == 409
    missing = client.post(f"{URL}/{c.id}/members", json={"organization_id": "x"}, headers=admin)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "organization_id"
    assert client.get(f"{URL}/{c.id}", headers=admin).json()["member_count"] == 2

    lead_out = client.delete(f"{URL}/{c.id}/members/{c.lead_organization_id}", headers=admin)
    assert lead_out.status_code == 409
    assert "lead" in lead_out.json()["error"]
    assert client.delete(f"{URL}/{c.id}/members/{org.id}", headers=admin).status_code == 204
    assert client.delete(f"{URL}/{c.id}/members/{org.id}", headers=admin).status_code == 404
    assert client.get(f"{URL}/{c.id}", headers=admin).json()["member_count"] == 1
    doctor = auth_headers("doctor")
    assert (
        client.post(f"{URL}/{c.id}/members", json={"organization_id": org.id}, headers=doctor)
    ).status_code == 403


def test_changing_the_lead_swaps_roles(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_consortium: Callable[..., Consortium],
) -> None:
    old = make_org(name="甲医院", code="A-LEAD")
    new = make_org(name="乙医院", code="B-NEW")
    c = make_consortium(lead=old)
    r = client.patch(
        f"{URL}/{c.id}",
        json={"lead_organization_id": new.id, "name": "改名后的医联体"},
        headers=auth_headers(),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["lead_name"], body["name"], body["member_count"]) == (
        "乙医院",
        "改名后的医联体",
        2,
    )
    assert sorted(_members(client, auth_headers(), c.id)) == [
        ("乙医院", "lead"),
        ("甲医院", "member"),
    ]
    r = client.patch(f"{URL}/{c.id}", json={"lead_organization_id": None}, headers=auth_headers())
    assert r.status_code == 422


def test_delete_consortium_removes_memberships_only(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    make_consortium: Callable[..., Consortium],
    session: Session,
) -> None:
    member = make_org()
    c = make_consortium(members=[member])
    assert client.delete(f"{URL}/{c.id}", headers=auth_headers()).status_code == 204
    assert client.get(f"{URL}/{c.id}", headers=auth_headers()).status_code == 404
    assert session.scalar(select(func.count()).select_from(ConsortiumMember)) == 0
    assert session.scalar(select(func.count()).select_from(Organization)) == 2


def test_duplicate_code_and_referenced_lead(
    client: TestClient,
    auth_headers: HeaderFactory,
    make_consortium: Callable[..., Consortium],
) -> None:
    c = make_consortium(code="SAME")
    r = client.post(
        URL,
        json={
            "code": "SAME",
            "name": "重名",
            "kind": "regional",
            "lead_organization_id": c.lead_organization_id,
        },
        headers=auth_headers(),
    )
    assert r.status_code == 409
    r = client.delete(f"/api/v1/organizations/{c.lead_organization_id}", headers=auth_headers())
    assert r.status_code == 409
    assert "consortia it leads" in r.json()["error"]


def test_peers_share_a_consortium(
    session: Session,
    make_org: Callable[..., Organization],
    make_consortium: Callable[..., Consortium],
) -> None:
    hub, a, b, outsider = (make_org() for _ in range(4))
    make_consortium(lead=hub, members=[a])
    make_consortium(lead=b, members=[hub])
    assert service.consortium_peer_ids(session, a.id) == {hub.id, a.id}
    assert service.consortium_peer_ids(session, hub.id) == {hub.id, a.id, b.id}
    assert service.consortium_peer_ids(session, outsider.id) == set()


def test_consortium_list_is_paged(
    client: TestClient, auth_headers: HeaderFactory, make_consortium: Callable[..., Any]
) -> None:
    for i in range(3):
        make_consortium(code=f"K{i}")
    page = client.get(URL, params={"limit": 2, "offset": 1}, headers=auth_headers()).json()
    assert (page["total"], [x["code"] for x in page["items"]]) == (3, ["K1", "K2"])
