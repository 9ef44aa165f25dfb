"""The referral API on both databases: status codes, error bodies, and nothing half-written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.referral.conftest import World
from yilian.db import utcnow
from yilian.records import validation
from yilian.referral.models import Referral, ReferralEvent
from yilian.security.principal import Role

Headers = Callable[..., dict[str, str]]


def _h(auth_headers: Headers, role: Role, org_id: str | None, who: str) -> dict[str, str]:
    return auth_headers(role, organization_id=org_id, subject=who)


def _session_body(start_in_days: float = 4, capacity: int = 10) -> dict[str, object]:
    start = (utcnow() + timedelta(days=start_in_days)).replace(microsecond=0)
    return {
        "kind": "expert",
        "service": "心内科",
        "practitioner_name": "张主任",
        "title": "主任医师",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=4)).isoformat(),
        "capacity": capacity,
    }


def test_referral_path_over_the_api(
    client: TestClient, session: Session, world: World, auth_headers: Headers
) -> None:
    doctor = _h(auth_headers, Role.doctor, world.centre.id, "doc")
    specialist = _h(auth_headers, Role.specialist, world.hospital.id, "spec")
    r = client.post("/api/v1/referral-schedules", json=_session_body(), headers=specialist)
    assert r.status_code == 201, r.text
    schedule = r.json()
    assert schedule["reserved_share"] == 0.2 and schedule["release_hours"] == 48
    r = client.get(
        "/api/v1/referral-slots",
        params={"organization_id": world.hospital.id, "pool": "referral", "open": "true"},
        headers=doctor,
    )
    assert r.status_code == 200, r.text
    held = r.json()
    assert len(held) == 2 and all(s["reserved"] for s in held)

    r = client.post(
        "/api/v1/referrals",
        json={
            "person_id": world.person_id,
            "direction": "up",
            "to_organization_id": world.hospital.id,
            "department": "心内科",
            "reason": "血压控制不佳",
            "summary": "高血压 3 年",
            "contracted": True,
        },
        headers=doctor,
    )
    assert r.status_code == 201, r.text
    ref = r.json()
    assert ref["status"] == "requested" and ref["status_label"] == "待接收"
    assert ref["record_url"] == f"/ui/persons/{world.person_id}"
    rid = ref["id"]
    inbox = client.get("/api/v1/referrals/inbox", headers=specialist).json()
    assert [x["id"] for x in inbox] == [rid]
    r = client.post(f"/api/v1/referrals/{rid}/accept", headers=specialist)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    r = client.post(
        f"/api/v1/referrals/{rid}/schedule", json={"slot_id": held[0]["id"]}, headers=specialist
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "scheduled" and r.json()["slot_id"] == held[0]["id"]
    fhir = client.get(f"/api/v1/referrals/{rid}/fhir", headers=specialist).json()
    assert validation.check_resource(fhir, "ServiceRequest", "ServiceRequest") == "ServiceRequest"
    assert fhir["status"] == "active" and fhir["occurrenceDateTime"]
    assert fhir["performer"] == [{"reference": f"Organization/{world.hospital.id}"}]
    detail = client.get(f"/api/v1/referrals/{rid}", headers=doctor).json()
    assert [h["status"] for h in detail["history"]] == ["requested", "accepted", "scheduled"]
    cal = client.get(
        "/api/v1/referral-slots/calendar",
        params={"organization_id": world.hospital.id},
        headers=doctor,
    ).json()
    assert cal == [
        {
            "day": cal[0]["day"],
            "service": "心内科",
            "total": 10,
            "reserved_held": 2,
            "reserved_open": 1,
            "public_open": 8,
            "booked": 1,
        }
    ]
    commission = _h(auth_headers, Role.commission, None, "wjw")
    rows = client.get("/api/v1/referrals/metrics", headers=commission).json()
    total = next(x for x in rows if x["organization_id"] is None)
    assert total["up"] == 1 and total["accepted"] == 1 and total["acceptance_rate"] == 1.0


def test_refusals_are_clear_and_leave_nothing(
    client: TestClient, session: Session, world: World, auth_headers: Headers
) -> None:
    doctor = _h(auth_headers, Role.doctor, world.centre.id, "doc")
    specialist = _h(auth_headers, Role.specialist, world.hospital.id, "spec")
    body = {
        "person_id": world.person_id,
        "direction": "up",
        "to_organization_id": world.other_centre.id,
        "reason": "x",
    }
    r = client.post("/api/v1/referrals", json=body, headers=doctor)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "to_organization_id"
    r = client.post("/api/v1/referrals", json=body | {"direction": "left"}, headers=doctor)
    assert r.status_code == 422 and "direction" in r.json()["detail"][0]["field"]
    r = client.post("/api/v1/referrals", json=body | {"reason": "a\x00b"}, headers=doctor)
    assert r.status_code == 422
    r = client.post(
        "/api/v1/referrals",
        content=b"{not json",
        headers=doctor | {"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert client.get("/api/v1/referrals/inbox").status_code == 401
    assert session.scalar(select(func.count()).select_from(Referral)) == 0

    ok = client.post(
        "/api/v1/referrals", json=body | {"to_organization_id": world.hospital.id}, headers=doctor
    ).json()
    rid = ok["id"]
    assert client.get("/api/v1/referrals/nope", headers=doctor).status_code == 404
    stranger = _h(auth_headers, Role.doctor, world.other_centre.id, "x")
    assert client.get(f"/api/v1/referrals/{rid}", headers=stranger).status_code == 404
    assert client.post(f"/api/v1/referrals/{rid}/accept", headers=doctor).status_code == 403
    r = client.post(f"/api/v1/referrals/{rid}/schedule", json={}, headers=specialist)
    assert r.status_code == 409 and "cannot schedule" in r.json()["error"]
    r = client.post(f"/api/v1/referrals/{rid}/decline", json={"reason": "   "}, headers=specialist)
    assert r.status_code == 422
    client.post(f"/api/v1/referrals/{rid}/accept", headers=specialist)
    r = client.post(
        f"/api/v1/referrals/{rid}/schedule", json={"slot_id": "missing"}, headers=specialist
    )
    assert r.status_code == 404
    # A public slot is not in the referral reserve.
    client.post("/api/v1/referral-schedules", json=_session_body(), headers=specialist)
    public = client.get(
        "/api/v1/referral-slots",
        params={"organization_id": world.hospital.id, "pool": "public"},
        headers=doctor,
    ).json()
    r = client.post(
        f"/api/v1/referrals/{rid}/schedule", json={"slot_id": public[0]["id"]}, headers=specialist
    )
    assert r.status_code == 409 and "public pool" in r.json()["error"]
    r = client.post(
        f"/api/v1/referral-slots/{public[0]['id']}/public-booking",
        json={"reference": "HIS-0001"},
        headers=specialist,
    )
    assert r.status_code == 200 and r.json()["status"] == "booked"
    r = client.post(
        f"/api/v1/referral-slots/{public[0]['id']}/public-booking",
        json={"reference": "HIS-0002"},
        headers=specialist,
    )
    assert r.status_code == 409 and "already taken" in r.json()["error"]
    r = client.post(
        f"/api/v1/referral-slots/{public[1]['id']}/public-booking",
        json={"reference": "HIS-0001"},
        headers=specialist,
    )
    assert r.status_code == 409 and "already holds a slot" in r.json()["error"]
    session.expire_all()
    assert session.get(Referral, rid).status.value == "accepted"  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(ReferralEvent)) == 2
    doctor_metrics = client.get(
        "/api/v1/referrals/metrics",
        params={"organization_id": world.hospital.id},
        headers=doctor,
    )
    assert doctor_metrics.status_code == 403


def test_exam_orders_over_the_api(client: TestClient, world: World, auth_headers: Headers) -> None:
    doctor = _h(auth_headers, Role.doctor, world.centre.id, "doc")
    specialist = _h(auth_headers, Role.specialist, world.hospital.id, "spec")
    sched = _session_body(5, capacity=10) | {"kind": "exam", "service": "US"}
    sched.pop("practitioner_name")
    assert (
        client.post("/api/v1/referral-schedules", json=sched, headers=specialist).status_code == 201
    )
    slot = client.get(
        "/api/v1/referral-slots",
        params={"organization_id": world.hospital.id, "kind": "exam", "pool": "referral"},
        headers=doctor,
    ).json()[0]
    r = client.post(
        "/api/v1/exam-orders",
        json={
            "person_id": world.person_id,
            "centre_organization_id": world.hospital.id,
            "modality": "US",
            "body_site": "腹部",
        },
        headers=doctor,
    )
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    assert (
        client.post(
            f"/api/v1/exam-orders/{oid}/book", json={"slot_id": slot["id"]}, headers=doctor
        ).json()["status"]
        == "scheduled"
    )
    assert client.post(f"/api/v1/exam-orders/{oid}/examine", headers=specialist).status_code == 200
    r = client.post(
        f"/api/v1/exam-orders/{oid}/report",
        json={"conclusion": "肝胆胰脾未见异常"},
        headers=specialist,
    )
    assert r.status_code == 200 and r.json()["status"] == "reported"
    assert r.json()["report_resource_id"]
    centre = client.get("/api/v1/exam-orders", params={"side": "centre"}, headers=specialist).json()
    assert [o["id"] for o in centre] == [oid]
    r = client.post(f"/api/v1/exam-orders/{oid}/cancel", headers=doctor)
    assert r.status_code == 409
