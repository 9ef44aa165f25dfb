"""Nothing a client sends to the auth, user, client or audit routes yields a 5xx.

NUL characters (which PostgreSQL text cannot hold) and dates that overflow when
converted to UTC are the classic ways to turn a bad request into a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.auth import HeaderFactory

SECRET = "a long enough secret"
NUL = "\x00"
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("get", "/api/v1/audit", {"params": {"from": "9999-12-31T23:59:59-14:00"}}),
    ("get", "/api/v1/audit", {"params": {"from": "0001-01-01T00:00:00+14:00"}}),
    ("get", "/api/v1/audit", {"params": {"to": "0001-01-01T00:00:00"}}),
    ("get", "/api/v1/audit", {"params": {"limit": 0, "offset": -1}}),
    ("get", "/api/v1/audit", {"params": {"actor": NUL, "action": NUL}}),
    ("get", "/api/v1/audit", {"params": {"person": "x" * 33}}),
    ("get", "/api/v1/audit/persons/%00/access", {}),
    ("get", "/api/v1/audit/persons/" + "x" * 40 + "/access", {}),
    ("get", "/api/v1/users", {"params": {"role": "nope"}}),
    ("get", "/api/v1/users", {"params": {"organization_id": NUL}}),
    ("get", "/api/v1/users/%00", {}),
    ("patch", "/api/v1/users/x", {"json": []}),
    ("patch", "/api/v1/users/x", {"json": {"role": "admin"}}),
    (
        "post",
        "/api/v1/users",
        {"json": {"username": "ab" + NUL, "password": SECRET, "role": "admin"}},
    ),
    ("post", "/api/v1/users", {"json": {"username": "abc", "password": NUL * 12, "role": "admin"}}),
    (
        "post",
        "/api/v1/users",
        {"json": {"username": "abc", "password": SECRET, "role": "doctor", "organization_id": NUL}},
    ),
    (
        "post",
        "/api/v1/users",
        {"json": {"username": "abc", "password": SECRET, "role": "admin", "display_name": NUL}},
    ),
    ("post", "/api/v1/clients", {"json": {"name": NUL, "organization_id": "x"}}),
    ("get", "/api/v1/clients", {"params": {"organization_id": NUL}}),
    ("post", "/api/v1/clients/%00/deactivate", {}),
    (
        "post",
        "/api/v1/auth/token",
        {"data": {"grant_type": "password", "username": NUL, "password": "x"}},
    ),
    ("post", "/api/v1/auth/token", {"data": {"grant_type": NUL}}),
    (
        "post",
        "/api/v1/auth/token",
        {"data": {"grant_type": "client_credentials", "client_id": NUL, "client_secret": "x"}},
    ),
    ("post", "/api/v1/auth/token", {"json": {"grant_type": "password"}}),
    ("post", "/api/v1/auth/token", {"data": {"grant_type": "password", "username": "é" * 300}}),
]
BASIC_CASES = ["Basic !!!", "Basic w7/Dvw==", "Basic " + "QQ==" * 5000, "Basic Og=="]


@pytest.mark.parametrize(("method", "path", "kwargs"), CASES)
def test_bad_input_is_not_a_server_error(
    client: TestClient,
    auth_headers: HeaderFactory,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    response = client.request(method, path, headers=auth_headers(), **kwargs)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert response.json()["error"]


@pytest.mark.parametrize("header", BASIC_CASES)
def test_bad_basic_credentials_are_a_4xx(client: TestClient, header: str) -> None:
    response = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": header},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
