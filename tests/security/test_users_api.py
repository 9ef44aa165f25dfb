"""Account administration over HTTP: admin only, validation, deactivation takes effect at once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.fixtures.auth import TEST_PASSWORD, HeaderFactory, UserFactory, insert_organization
from yilian.security.principal import Role

USERS = "/api/v1/users"
TOKEN = "/api/v1/auth/token"


def sign_in(client: TestClient, username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    response = client.post(
        TOKEN, data={"grant_type": "password", "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def org(session: Session) -> str:
    org_id = insert_organization(session)
    session.commit()
    return org_id


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.admin])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", USERS),
        ("get", USERS),
        ("patch", f"{USERS}/x"),
        ("post", f"{USERS}/x/deactivate"),
        ("post", "/api/v1/clients"),
        ("get", "/api/v1/clients"),
        ("get", "/api/v1/audit"),
        ("get", "/api/v1/audit/verify"),
    ],
)
def test_admin_routes_refuse_other_roles(
    client: TestClient, auth_headers: HeaderFactory, role: Role, method: str, path: str
) -> None:
    response = client.request(
        method, path, headers=auth_headers(role, organization_id="o"), json={}
    )
    assert response.status_code == 403
    assert "admin" in response.json()["error"]


def test_admin_routes_need_a_token(client: TestClient) -> None:
    assert client.get(USERS).status_code == 401
    assert client.post(USERS, json={}).status_code == 401


def test_create_list_get_update_user(
    client: TestClient, auth_headers: HeaderFactory, org: str
) -> None:
    admin = auth_headers()
    body = {
        "username": "Zhang.San",
        "password": "a long enough secret",
        "role": "doctor",
        "organization_id": org,
        "display_name": "张三",
    }
    created = client.post(USERS, json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["username"] == "zhang.san" and user["display_name"] == "张三"
    assert "password" not in user and "password_hash" not in user
    assert client.post(USERS, json=body, headers=admin).status_code == 409

    listed = client.get(USERS, params={"role": "doctor"}, headers=admin).json()
    assert [u["username"] for u in listed["items"]] == ["zhang.san"] and listed["total"] == 1
    assert client.get(USERS, params={"role": "cdc"}, headers=admin).json()["total"] == 0
    assert client.get(f"{USERS}/{user['id']}", headers=admin).json()["id"] == user["id"]
    assert client.get(f"{USERS}/nope", headers=admin).status_code == 404

    patched = client.patch(
        f"{USERS}/{user['id']}",
        json={"role": "specialist", "display_name": "张三 主任"},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["role"], patched.json()["display_name"]) == ("specialist", "张三 主任")
    assert (
        client.patch(f"{USERS}/{user['id']}", json={"role": None}, headers=admin).status_code == 422
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "short"}, "password"),
        ({"organization_id": None}, "organization_id"),
        ({"organization_id": "no-such-org"}, "organization_id"),
        ({"role": "system"}, "role"),
        ({"username": "a b"}, "username"),
    ],
)
def test_create_user_validation(
    client: TestClient, auth_headers: HeaderFactory, org: str, change: dict[str, object], field: str
) -> None:
    body = {"username": "valid.name", "password": "a long enough secret", "role": "doctor"}
    body["organization_id"] = org
    response = client.post(USERS, json={**body, **change}, headers=auth_headers())
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == field


def test_admin_and_commission_need_no_organisation(
    client: TestClient, auth_headers: HeaderFactory
) -> None:
    for role in ("admin", "commission"):
        body = {"username": f"{role}-1", "password": "a long enough secret", "role": role}
        assert client.post(USERS, json=body, headers=auth_headers()).status_code == 201


def test_deactivation_stops_sign_in_and_existing_tokens(
    client: TestClient, auth_headers: HeaderFactory, make_user: UserFactory
) -> None:
    user = make_user("liu.yang")
    headers = sign_in(client, "liu.yang")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    response = client.post(f"{USERS}/{user.id}/deactivate", headers=auth_headers())
    assert response.status_code == 200 and response.json()["is_active"] is False
    refused = client.get("/api/v1/auth/me", headers=headers)
    assert refused.status_code == 401 and "deactivated" in refused.json()["error"]
    again = client.post(
        TOKEN, data={"grant_type": "password", "username": "liu.yang", "password": TEST_PASSWORD}
    )
    assert again.status_code == 401 and "deactivated" in again.json()["error"]
    wrong = client.post(
        TOKEN, data={"grant_type": "password", "username": "liu.yang", "password": "wrong one!"}
    )
    assert wrong.json()["error"] == "invalid username or password"


def test_role_change_invalidates_old_tokens(
    client: TestClient, auth_headers: HeaderFactory, make_user: UserFactory
) -> None:
    user = make_user("he.ping", role=Role.admin)
    headers = sign_in(client, "he.ping")
    assert client.get(USERS, headers=headers).status_code == 200
    client.patch(f"{USERS}/{user.id}", json={"role": "commission"}, headers=auth_headers())
    assert client.get(USERS, headers=headers).status_code == 401


def test_unlock_and_password_reset(
    client: TestClient, auth_headers: HeaderFactory, make_user: UserFactory, settings: object
) -> None:
    user = make_user("ma.li")
    for _ in range(5):
        client.post(TOKEN, data={"grant_type": "password", "username": "ma.li", "password": "x"})
    locked = client.get(f"{USERS}/{user.id}", headers=auth_headers()).json()
    assert locked["locked_until"] is not None
    response = client.patch(
        f"{USERS}/{user.id}",
        json={"unlock": True, "password": "a brand new password"},
        headers=auth_headers(),
    )
    assert response.json()["locked_until"] is None
    sign_in(client, "ma.li", "a brand new password")


def test_client_registration_and_deactivation(
    client: TestClient, auth_headers: HeaderFactory, org: str
) -> None:
    admin = auth_headers()
    bad = client.post(
        "/api/v1/clients", json={"name": "HIS", "organization_id": "nope"}, headers=admin
    )
    assert bad.status_code == 422
    created = client.post(
        "/api/v1/clients", json={"name": "HIS", "organization_id": org}, headers=admin
    ).json()
    cid, secret = created["client_id"], created["client_secret"]
    token = client.post(
        TOKEN, data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    response = client.post(f"/api/v1/clients/{cid}/deactivate", headers=admin)
    assert response.status_code == 200 and response.json()["active"] is False
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert client.post("/api/v1/clients/nope/deactivate", headers=admin).status_code == 404
