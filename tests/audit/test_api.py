"""The audit endpoints: who accessed a person's data, search, verification."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.fixtures.auth import HeaderFactory, insert_organization
from yilian.security import rules, service
from yilian.security.access import decide
from yilian.security.principal import Principal, Role

PERSON = "a" * 32


def access_url(person_id: str = PERSON) -> str:
    return f"/api/v1/audit/persons/{person_id}/access"


@pytest.fixture
def treating_org(session: Session) -> str:
    org = insert_organization(session)
    service.grant_relationship(session, person_id=PERSON, organization_id=org, kind=rules.TREATING)
    reader = Principal(subject="u-reader", name="reader", role=Role.doctor, organization_id=org)
    decide(session, reader, person_id=PERSON, action="read", purpose="treatment")
    session.commit()
    return org


def test_admin_sees_who_accessed_a_person(
    client: TestClient, auth_headers: HeaderFactory, treating_org: str
) -> None:
    response = client.get(access_url(), headers=auth_headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["person_id"] == PERSON
    reads = [i for i in body["items"] if i["actor_id"] == "u-reader"]
    assert reads and reads[0] == {
        **reads[0],
        "actor_role": "doctor",
        "organization_id": treating_org,
        "action": "read",
        "purpose": "treatment",
        "outcome": "allowed",
    }
    assert "detail" not in reads[0]
    assert body["total"] == len(body["items"])
    # the administrator's look is itself on the record, seen by the next request, newest first
    again = client.get(access_url(), headers=auth_headers()).json()
    assert again["total"] == body["total"] + 1
    assert (again["items"][0]["actor_id"], again["items"][0]["actor_role"]) == (
        "test-user",
        "admin",
    )


def test_caller_with_access_may_see_the_trail(
    client: TestClient, auth_headers: HeaderFactory, treating_org: str
) -> None:
    headers = auth_headers(Role.doctor, organization_id=treating_org, subject="u-colleague")
    response = client.get(access_url(), headers=headers, params={"limit": 1})
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1 and response.json()["total"] >= 2


def test_caller_without_access_is_refused_and_the_refusal_is_recorded(
    client: TestClient, auth_headers: HeaderFactory, session: Session, treating_org: str
) -> None:
    outsider = insert_organization(session)
    session.commit()
    headers = auth_headers(Role.doctor, organization_id=outsider, subject="u-outsider")
    response = client.get(access_url(), headers=headers)
    assert response.status_code == 403
    trail = client.get(access_url(), headers=auth_headers()).json()["items"]
    denied = [i for i in trail if i["actor_id"] == "u-outsider"]
    assert [(d["action"], d["outcome"]) for d in denied] == [("access_denied", "denied")]
    assert client.get("/api/v1/audit/verify", headers=auth_headers()).json()["ok"] is True


def test_search_filters(client: TestClient, auth_headers: HeaderFactory, treating_org: str) -> None:
    admin = auth_headers()
    everything = client.get("/api/v1/audit", headers=admin).json()
    assert everything["total"] >= 2
    seqs = [i["seq"] for i in everything["items"]]
    assert seqs == sorted(seqs, reverse=True)
    by_actor = client.get("/api/v1/audit", params={"actor": "u-reader"}, headers=admin).json()
    assert [i["action"] for i in by_actor["items"]] == ["read"]
    assert by_actor["items"][0]["detail"]["basis"] == "care relationship: treating"
    by_action = client.get("/api/v1/audit", params={"action": "create"}, headers=admin).json()
    assert {i["resource_type"] for i in by_action["items"]} == {"CareRelationship"}
    by_person = client.get("/api/v1/audit", params={"person": PERSON}, headers=admin).json()
    assert by_person["total"] == 2
    future = client.get(
        "/api/v1/audit", params={"from": "2999-01-01T00:00:00Z"}, headers=admin
    ).json()
    assert future["total"] == 0
    past = client.get("/api/v1/audit", params={"to": "2000-01-01T00:00:00"}, headers=admin).json()
    assert past["total"] == 0
    assert (
        client.get("/api/v1/audit", params={"from": "yesterday"}, headers=admin).status_code == 422
    )


def test_verify_endpoint_reports_a_break(
    client: TestClient, auth_headers: HeaderFactory, session: Session, treating_org: str
) -> None:
    ok = client.get("/api/v1/audit/verify", headers=auth_headers()).json()
    assert ok == {"ok": True, "checked": 2, "first_broken_seq": None, "reason": None}
    session.execute(text("UPDATE audit_entries SET actor_name = 'someone else' WHERE seq = 2"))
    session.commit()
    broken = client.get("/api/v1/audit/verify", headers=auth_headers()).json()
    assert (broken["ok"], broken["first_broken_seq"]) == (False, 2)
