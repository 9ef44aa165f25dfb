"""Server-rendered pages without a browser: redirects, roles, language, the audit page."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from yilian.registry.models import Organization
from yilian.security import service as security
from yilian.security.principal import Role

PASSWORD = "correct-horse-42"


def _sign_in(
    client: TestClient, session: Session, username: str, role: Role, org: str | None = None
) -> None:
    security.create_user(
        session, None, username=username, password=PASSWORD, role=role, organization_id=org
    )
    session.commit()
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/ui"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_pages_redirect_to_sign_in(client: TestClient) -> None:
    r = client.get("/ui/audit", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fui%2Faudit"


def test_open_redirect_after_sign_in_is_refused(client: TestClient, session: Session) -> None:
    security.create_user(session, None, username="nurse1", password=PASSWORD, role=Role.admin)
    session.commit()
    r = client.post(
        "/login",
        data={"username": "nurse1", "password": PASSWORD, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ui"


def test_audit_page_shows_the_chain_and_breaks_visibly(
    client: TestClient, session: Session
) -> None:
    _sign_in(client, session, "auditor", Role.admin)
    page = client.get("/ui/audit")
    assert page.status_code == 200
    assert "审计链完整" in page.text
    assert "login" in page.text  # the sign-in itself is an audited action

    session.execute(text("UPDATE audit_entries SET outcome = 'tampered' WHERE seq = 1"))
    session.commit()
    page = client.get("/ui/audit")
    assert "审计链在第 1 条记录处被破坏" in page.text


def test_audit_page_is_for_admins_only(
    client: TestClient, session: Session, make_org: Callable[..., Organization]
) -> None:
    org = make_org()
    _sign_in(client, session, "doctor1", Role.doctor, org.id)
    r = client.get("/ui/audit")
    assert r.status_code == 403
    assert "无权" in r.text
    assert "/ui/audit" not in client.get("/ui").text  # not offered in the navigation either


def test_language_toggle_switches_to_english(client: TestClient, session: Session) -> None:
    _sign_in(client, session, "admin2", Role.admin)
    client.get("/lang/en?next=/ui")
    assert "Platform at a glance" in client.get("/ui").text
