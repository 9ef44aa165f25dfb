"""Referral pages on both databases: worklists, the form, actions and their refusals, calendar."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.referral.conftest import World, expert_session
from yilian.referral import service
from yilian.referral.models import Referral, Slot
from yilian.referral.rules import Status
from yilian.security import service as security
from yilian.security.principal import Role

PASSWORD = "correct-horse-42"


def _sign_in(client: TestClient, session: Session, username: str, role: Role, org_id: str) -> None:
    security.create_user(
        session, None, username=username, password=PASSWORD, role=role, organization_id=org_id
    )
    session.commit()
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/ui"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_pages_need_a_sign_in_and_a_clinical_role(
    client: TestClient, session: Session, world: World
) -> None:
    r = client.get("/ui/referrals", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    security.create_user(
        session,
        None,
        username="wjw",
        password=PASSWORD,
        role=Role.commission,
        organization_id=None,
    )
    session.commit()
    client.post("/login", data={"username": "wjw", "password": PASSWORD, "next": "/ui"})
    assert client.get("/ui/referrals").status_code == 403
    assert client.get("/ui/referrals/metrics").status_code == 200


def test_request_accept_book_through_the_pages(
    client: TestClient, session: Session, world: World
) -> None:
    schedule = expert_session(session, world)
    _sign_in(client, session, "dr_gp", Role.doctor, world.centre.id)
    form = client.get(f"/ui/referrals/new?person_id={world.person_id}")
    assert form.status_code == 200 and "同仁医院" in form.text
    bad = client.post(
        "/ui/referrals/new",
        data={
            "person_id": world.person_id,
            "direction": "up",
            "to_organization_id": world.hospital.id,
            "reason": "   ",
        },
    )
    assert bad.status_code == 422 and "reason must not be empty" in bad.text
    assert session.scalar(select(func.count()).select_from(Referral)) == 0
    r = client.post(
        "/ui/referrals/new",
        data={
            "person_id": world.person_id,
            "direction": "up",
            "to_organization_id": world.hospital.id,
            "department": "心内科",
            "reason": "血压控制不佳",
            "summary": "高血压 3 年",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    rid = r.headers["location"].rsplit("/", 1)[1]
    outbox = client.get("/ui/referrals")
    assert outbox.status_code == 200 and rid in outbox.text and "待接收" in outbox.text

    _sign_in(client, session, "expert", Role.specialist, world.hospital.id)
    page = client.get(f"/ui/referrals/{rid}")
    assert page.status_code == 200 and 'data-testid="accept"' in page.text
    assert f"/ui/persons/{world.person_id}" in page.text
    r = client.post(f"/ui/referrals/{rid}/accept", follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/ui/referrals/{rid}")
    held = [
        s
        for s in session.scalars(select(Slot).where(Slot.schedule_id == schedule.id))
        if s.reserved
    ]
    assert 'data-testid="slot-select"' in page.text and held[0].id in page.text
    r = client.post(f"/ui/referrals/{rid}/schedule", data={"slot_id": held[0].id})
    assert r.status_code == 200 and "已预约" in r.text
    # Accepting again is refused with the reason, and the page says so.
    again = client.post(f"/ui/referrals/{rid}/accept")
    assert again.status_code == 409 and "cannot accept" in again.text
    cal = client.get("/ui/referrals/slots")
    assert cal.status_code == 200 and "心内科" in cal.text and "20%" in cal.text
    session.expire_all()
    assert session.get(Referral, rid).status is Status.scheduled  # type: ignore[union-attr]


def test_an_expired_referral_cannot_be_accepted_on_the_page(
    client: TestClient, session: Session, world: World
) -> None:
    ref = service.request_referral(
        session,
        world.doctor,
        person_id=world.person_id,
        direction="up",
        to_organization_id=world.hospital.id,
        reason="胸闷",
    )
    ref.requested_at = ref.requested_at - timedelta(days=8)
    ref.expires_at = ref.requested_at + timedelta(days=7)
    session.commit()
    _sign_in(client, session, "expert2", Role.specialist, world.hospital.id)
    page = client.get(f"/ui/referrals/{ref.id}")
    assert "已过期" in page.text and 'data-testid="accept"' not in page.text
    r = client.post(f"/ui/referrals/{ref.id}/accept")
    assert r.status_code == 409 and "expired" in r.text
    session.expire_all()
    assert session.get(Referral, ref.id).status is Status.requested  # type: ignore[union-attr]
