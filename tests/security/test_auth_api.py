"""Sign-in over HTTP: both grants, failures, lock-out, rate limit, token expiry."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.fixtures.auth import TEST_PASSWORD, HeaderFactory, UserFactory, insert_organization
from yilian.app import create_app
from yilian.audit.models import AuditEntry
from yilian.config import Settings
from yilian.db import make_sessionmaker, utcnow
from yilian.kit.errors import YilianError
from yilian.security import service, tokens
from yilian.security.models import LoginAttempt, LoginGuard
from yilian.security.principal import Principal, Role

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/auth/me"


def password_grant(client: TestClient, username: str, password: str) -> httpx.Response:
    data = {"grant_type": "password", "username": username, "password": password}
    return client.post(TOKEN, data=data)


def client_grant(client: TestClient, client_id: str, secret: str) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return client.post(TOKEN, data=data)


def bearer(response: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[timedelta]]:
    """Shift the sign-in clock: ``clock[0] = timedelta(minutes=16)``."""
    offset = [timedelta(0)]
    monkeypatch.setattr(service, "utcnow", lambda: utcnow() + offset[0])
    yield offset


def test_password_grant_issues_a_working_token(
    client: TestClient, make_user: UserFactory, settings: Settings
) -> None:
    user = make_user("Wang.Wei", role=Role.doctor, display_name="王伟")
    response = password_grant(client, "wang.wei", TEST_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_minutes * 60
    assert body["role"] == "doctor"
    assert body["organization_id"] == user.organization_id
    assert response.headers["cache-control"] == "no-store"
    me = client.get(ME, headers=bearer(response)).json()
    assert me == {
        "subject": user.id,
        "name": "wang.wei",
        "kind": "user",
        "role": "doctor",
        "role_label": "医生",
        "organization_id": user.organization_id,
    }


def test_client_credentials_grant_gives_a_system_principal(
    client: TestClient, session: Session, auth_headers: HeaderFactory
) -> None:
    org = insert_organization(session)
    session.commit()
    created = client.post(
        "/api/v1/clients",
        json={"name": "某医院 HIS", "organization_id": org},
        headers=auth_headers(),
    )
    assert created.status_code == 201, created.text
    cid, secret = created.json()["client_id"], created.json()["client_secret"]
    response = client_grant(client, cid, secret)
    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["organization_id"]) == ("system", org)
    me = client.get(ME, headers=bearer(response)).json()
    assert (me["kind"], me["role"], me["subject"], me["organization_id"]) == (
        "client",
        "system",
        cid,
        org,
    )
    # HTTP Basic client authentication works too (RFC 6749 §2.3.1)
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    response = client.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text
    listed = client.get("/api/v1/clients", headers=auth_headers()).json()
    assert listed["total"] == 1 and "client_secret" not in listed["items"][0]


def test_wrong_password_and_unknown_user_look_the_same(
    client: TestClient, make_user: UserFactory
) -> None:
    make_user("li.na")
    wrong = password_grant(client, "li.na", "not the password")
    unknown = password_grant(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "invalid username or password", "detail": []}


def test_missing_fields_and_unknown_grant_are_400(client: TestClient) -> None:
    response = client.post(TOKEN, data={"grant_type": "password", "username": "x"})
    assert response.status_code == 400
    assert response.json()["detail"][0]["field"] == "password"
    response = client.post(TOKEN, data={"grant_type": "implicit"})
    assert response.status_code == 400
    assert client.post(TOKEN, data={}).status_code == 422


def test_lockout_after_max_failures_then_expiry(
    client: TestClient, make_user: UserFactory, settings: Settings, clock: list[timedelta]
) -> None:
    make_user("zhao")
    for _ in range(settings.login_max_failures - 1):
        assert password_grant(client, "zhao", "wrong password").status_code == 401
    locked = password_grant(client, "zhao", "wrong password")
    assert locked.status_code == 423
    assert "locked" in locked.json()["error"]
    # the right password does not get through a lock, and the message does not change
    during = password_grant(client, "zhao", TEST_PASSWORD)
    assert during.status_code == 423
    clock[0] = timedelta(minutes=settings.login_lockout_minutes, seconds=1)
    assert password_grant(client, "zhao", TEST_PASSWORD).status_code == 200


def test_unknown_username_locks_exactly_like_a_real_one(
    client: TestClient, settings: Settings
) -> None:
    answers = [
        password_grant(client, "ghost", "wrong password")
        for _ in range(settings.login_max_failures)
    ]
    assert [r.status_code for r in answers] == [401] * (settings.login_max_failures - 1) + [423]
    assert password_grant(client, "ghost", "anything").status_code == 423


def test_success_resets_the_failure_count(
    client: TestClient, make_user: UserFactory, settings: Settings
) -> None:
    make_user("qian")
    for _round in range(2):
        for _ in range(settings.login_max_failures - 1):
            assert password_grant(client, "qian", "wrong password").status_code == 401
        assert password_grant(client, "qian", TEST_PASSWORD).status_code == 200


def test_client_credentials_lock_out_too(
    client: TestClient, session: Session, auth_headers: HeaderFactory, settings: Settings
) -> None:
    org = insert_organization(session)
    session.commit()
    created = client.post(
        "/api/v1/clients", json={"name": "LIS", "organization_id": org}, headers=auth_headers()
    ).json()
    codes = [
        client_grant(client, created["client_id"], "bad").status_code
        for _ in range(settings.login_max_failures)
    ]
    assert codes[-1] == 423 and set(codes[:-1]) == {401}
    assert client_grant(client, created["client_id"], created["client_secret"]).status_code == 423
    assert client_grant(client, "yl_unknown", "bad").json()["error"] == "invalid client credentials"


def test_rate_limit_per_address_and_username(
    session: Session, make_user: UserFactory, settings: Settings
) -> None:
    make_user("sun")
    limited = settings.model_copy(update={"login_rate_per_minute": 3, "login_max_failures": 50})
    app = create_app(limited)
    with TestClient(app, raise_server_exceptions=False) as client:
        codes = [password_grant(client, "sun", "wrong password").status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        throttled = password_grant(client, "sun", TEST_PASSWORD)
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert "too many" in throttled.json()["error"]
        # another username from the same address has its own window
        assert password_grant(client, "other", "wrong password").status_code == 401
    app.state.engine.dispose()


def test_rate_limit_window_slides(
    session: Session, make_user: UserFactory, settings: Settings, clock: list[timedelta]
) -> None:
    make_user("zhou")
    app = create_app(settings.model_copy(update={"login_rate_per_minute": 2}))
    with TestClient(app, raise_server_exceptions=False) as client:
        password_grant(client, "zhou", "wrong password")
        password_grant(client, "zhou", "wrong password")
        assert password_grant(client, "zhou", TEST_PASSWORD).status_code == 429
        clock[0] = timedelta(seconds=61)
        assert password_grant(client, "zhou", TEST_PASSWORD).status_code == 200
    app.state.engine.dispose()


def test_login_attempts_are_audited_without_the_password(
    client: TestClient, make_user: UserFactory, session: Session
) -> None:
    user = make_user("wu.fang")
    password_grant(client, "wu.fang", "wrong password")
    password_grant(client, "nobody-here", "wrong password")
    password_grant(client, "wu.fang", TEST_PASSWORD)
    rows = session.execute(select(AuditEntry).where(AuditEntry.action == "login")).scalars().all()
    assert [(r.outcome, r.actor_id) for r in rows] == [
        ("failure", None),
        ("failure", None),
        ("success", user.id),
    ]
    assert all("password" not in (r.detail or "") for r in rows)
    assert "nobody-here" not in (rows[1].detail or "")


def test_expired_token_is_refused(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    past = utcnow() - timedelta(minutes=settings.access_token_minutes + 1)
    monkeypatch.setattr(tokens, "utcnow", lambda: past)
    principal = Principal(subject="s", name="s", role=Role.admin, organization_id=None)
    token = tokens.issue(principal, settings)
    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["error"]


def test_no_or_bad_token_is_401(client: TestClient) -> None:
    assert client.get(ME).status_code == 401
    assert client.get(ME, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    tampered = client.get(ME, headers={"Authorization": "Bearer a.b.c"})
    assert tampered.status_code == 401 and tampered.headers["www-authenticate"] == "Bearer"


def test_expired_attempts_and_guards_are_pruned(
    client: TestClient, session: Session, clock: list[timedelta]
) -> None:
    for _ in range(3):
        password_grant(client, "ghost.a", "wrong password")
    clock[0] = timedelta(days=2)
    password_grant(client, "ghost.b", "wrong password")
    session.expire_all()
    assert session.execute(select(func.count()).select_from(LoginAttempt)).scalar() == 1
    assert session.execute(select(func.count()).select_from(LoginGuard)).scalar() == 1


def test_concurrent_failures_are_all_counted(
    session: Session, engine: Engine, make_user: UserFactory, settings: Settings
) -> None:
    """Parallel wrong passwords cannot slip past the lock-out by racing the counter."""
    make_user("race.target")
    relaxed = settings.model_copy(update={"login_rate_per_minute": 1000})
    factory = make_sessionmaker(engine)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def attempt(n: int) -> None:
        start.wait()
        for _ in range(2):
            with factory() as s:
                try:
                    service.sign_in_user(
                        s, relaxed, username="race.target", password="wrong", address=f"10.0.0.{n}"
                    )
                    outcomes.append("ok")
                except YilianError as exc:
                    s.commit()
                    outcomes.append(type(exc).__name__)

    pool = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert len(outcomes) == 16
    assert outcomes.count("Unauthorized") == settings.login_max_failures - 1
    assert outcomes.count("AccountLocked") == 16 - (settings.login_max_failures - 1)
