"""TB patient management API: registry, DOT doses, reminders, visits, transfers, outcomes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.audit.models import AuditEntry
from yilian.patients.models import Person
from yilian.registry.models import Organization, Region
from yilian.security.principal import Role
from yilian.tb.care_models import TbCase, TbDose, TbReminder, TbVisit

Headers = Callable[..., dict[str, str]]
TODAY = date.today()


@pytest.fixture
def places(make_region: Callable[..., Region], make_org: Callable[..., Organization]) -> dict:
    sh = make_region(name="上海市", level="province")
    sh_city = make_region(name="上海市辖区", level="city", parent=sh)
    cn = make_region(name="长宁区", level="district", parent=sh_city)
    ah = make_region(name="安徽省", level="province")
    hf = make_region(name="合肥市", level="city", parent=ah)
    return {
        "sh": make_org(name="新华街道社区卫生服务中心", region=cn),
        "sh2": make_org(name="江苏路街道社区卫生服务中心", region=cn),
        "ah": make_org(name="合肥市庐阳区社区卫生服务中心", region=hf),
        "sh_cdc": make_org(name="长宁区疾控中心", type="cdc", region=cn),
    }


@pytest.fixture
def person(session: Session) -> str:
    p = Person()
    session.add(p)
    session.commit()
    return p.id


def _doc(h: Headers, org: Organization) -> dict[str, str]:
    return h(Role.doctor, organization_id=org.id, subject=f"doc-{org.id[:6]}")


def _case(client: TestClient, h: Headers, org: Organization, person: str, **kw: Any) -> dict:
    body = {
        "person_id": person,
        "organization_id": org.id,
        "notification_date": (TODAY - timedelta(days=40)).isoformat(),
        "diagnosis_code": "A15.0",
        **kw,
    }
    r = client.post("/api/v1/tb/cases", json=body, headers=_doc(h, org))
    assert r.status_code == 201, r.text
    return r.json()


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_case_registry_province_city_and_one_open_case(
    client: TestClient, auth_headers: Headers, places: dict, person: str
) -> None:
    case = _case(client, auth_headers, places["ah"], person)
    assert case["province"] == "安徽省" and case["city"] == "合肥市"
    assert case["status"] == "active" and case["rr_tb"] is False
    assert case["start_date"] == case["notification_date"]
    r = client.post(
        "/api/v1/tb/cases",
        json={"person_id": person, "organization_id": places["ah"].id,
              "notification_date": TODAY.isoformat()},
        headers=_doc(auth_headers, places["ah"]),
    )  # fmt: skip
    assert r.status_code == 409 and "open TB case" in r.json()["error"]
    work = client.get("/api/v1/tb/cases", headers=_doc(auth_headers, places["ah"])).json()
    assert [w["case"]["id"] for w in work] == [case["id"]]
    assert client.get("/api/v1/tb/cases", headers=_doc(auth_headers, places["sh"])).json() == []
    cdc = auth_headers(Role.cdc, organization_id=places["sh_cdc"].id)
    assert client.get("/api/v1/tb/cases", headers=cdc).json() == []  # another province's case
    r = client.post(
        f"/api/v1/tb/cases/{case['id']}/phase",
        json={"phase": "continuation"},
        headers=_doc(auth_headers, places["ah"]),
    )
    assert r.status_code == 200 and r.json()["phase"] == "continuation"
    assert r.json()["intensive_end"] == TODAY.isoformat()
    line = client.get("/api/v1/tb/cases", headers=_doc(auth_headers, places["ah"])).json()[0]
    assert line["phase"] == "continuation" and line["doses_due"] == 41


def test_missed_dose_raises_reminders_for_patient_and_doctor_once(
    client: TestClient, session: Session, auth_headers: Headers, places: dict, person: str
) -> None:
    org = places["sh"]
    case = _case(client, auth_headers, org, person)
    url = f"/api/v1/tb/cases/{case['id']}/doses"
    day = (TODAY - timedelta(days=1)).isoformat()
    r = client.post(url, json={"day": day, "status": "missed"}, headers=_doc(auth_headers, org))
    assert r.status_code == 201, r.text
    again = client.post(url, json={"day": day, "status": "missed"}, headers=_doc(auth_headers, org))
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    ok = client.post(
        url,
        json={
            "day": TODAY.isoformat(),
            "status": "taken",
            "method": "video",
            "observed_by": "王医生",
        },
        headers=_doc(auth_headers, org),
    )
    assert ok.status_code == 201
    gw = auth_headers(Role.system, organization_id=org.id, subject="sms-gateway")
    pending = client.get("/api/v1/tb/reminders?status=pending", headers=gw).json()
    missed = [p for p in pending if p["kind"] == "missed_dose"]
    assert sorted(p["recipient"] for p in missed) == ["doctor", "patient"]
    assert all(p["due_date"] == day for p in missed)
    ack = client.post(f"/api/v1/tb/reminders/{missed[0]['id']}/ack", headers=gw)
    assert ack.status_code == 200 and ack.json()["status"] == "acked"
    left = client.get("/api/v1/tb/reminders?status=pending", headers=gw).json()
    assert missed[0]["id"] not in [p["id"] for p in left]
    detail = client.get(f"/api/v1/tb/cases/{case['id']}", headers=_doc(auth_headers, org)).json()
    assert detail["doses_taken"] == 1 and detail["doses_missed"] == 1
    assert [d["status"] for d in detail["doses"]] == ["missed", "taken"]
    session.expire_all()
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.person_id == person)))
    assert {"tb_case_create", "tb_dose_record"} <= actions
    assert len(actions - {"tb_case_create", "tb_dose_record"}) >= 1  # the audited read
    # Another province's doctor sees none of it.
    other = client.get(
        "/api/v1/tb/reminders?status=pending",
        headers=auth_headers(Role.system, organization_id=places["ah"].id),
    )
    assert other.json() == []


def test_bad_input_is_refused_and_nothing_is_written(
    client: TestClient, session: Session, auth_headers: Headers, places: dict, person: str
) -> None:
    org = places["sh"]
    case = _case(client, auth_headers, org, person)
    doc = _doc(auth_headers, org)
    base = f"/api/v1/tb/cases/{case['id']}"
    future = (TODAY + timedelta(days=2)).isoformat()
    r = client.post(f"{base}/doses", json={"day": future, "status": "taken"}, headers=doc)
    assert r.status_code == 422 and "future" in r.json()["error"]
    r = client.post(f"{base}/doses", json={"day": TODAY.isoformat(), "status": "lost"}, headers=doc)
    assert r.status_code == 422
    # A visit by another province's organisation without a transfer.
    r = client.post(
        f"{base}/visits",
        json={"visit_date": TODAY.isoformat()},
        headers=_doc(auth_headers, places["ah"]),
    )
    assert r.status_code == 403 and "transfer" in r.json()["error"]
    r = client.post(
        f"{base}/outcome",
        json={"outcome": "improved", "outcome_date": TODAY.isoformat()},
        headers=doc,
    )
    assert r.status_code == 422 and "WHO" in r.json()["error"] and "cured" in r.json()["error"]
    assert _count(session, TbDose) == 0 and _count(session, TbVisit) == 0
    assert _count(session, TbReminder) == 0
    session.expire_all()
    assert session.get(TbCase, case["id"]).status == "active"  # type: ignore[union-attr]
    # Close it properly; a dose for a closed case is refused.
    r = client.post(
        f"{base}/outcome",
        json={"outcome": "cured", "outcome_date": TODAY.isoformat()},
        headers=doc,
    )
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = client.post(
        f"{base}/doses",
        json={"day": (TODAY - timedelta(days=1)).isoformat(), "status": "missed"},
        headers=doc,
    )
    assert r.status_code == 409 and "closed" in r.json()["error"]
    assert _count(session, TbDose) == 0 and _count(session, TbReminder) == 0


def test_transfer_from_anhui_to_shanghai_keeps_one_timeline(
    client: TestClient, session: Session, auth_headers: Headers, places: dict, person: str
) -> None:
    ah, sh = places["ah"], places["sh"]
    case = _case(client, auth_headers, ah, person)
    base = f"/api/v1/tb/cases/{case['id']}"
    client.post(
        f"{base}/doses",
        json={"day": (TODAY - timedelta(days=3)).isoformat(), "status": "taken"},
        headers=_doc(auth_headers, ah),
    )
    # Before the transfer the Shanghai centre can neither read nor write.
    assert client.get(base, headers=_doc(auth_headers, sh)).status_code == 403
    t = client.post(
        f"{base}/transfers", json={"to_organization_id": sh.id}, headers=_doc(auth_headers, ah)
    )
    assert t.status_code == 201, t.text
    assert t.json()["from_province"] == "安徽省" and t.json()["to_province"] == "上海市"
    # Only the receiving organisation acknowledges.
    tid = t.json()["id"]
    bad = client.post(
        f"/api/v1/tb/transfers/{tid}/acknowledge", headers=_doc(auth_headers, places["sh2"])
    )
    assert bad.status_code == 403
    incoming = client.get("/api/v1/tb/transfers?status=pending", headers=_doc(auth_headers, sh))
    assert [x["id"] for x in incoming.json()] == [tid]
    ok = client.post(f"/api/v1/tb/transfers/{tid}/acknowledge", headers=_doc(auth_headers, sh))
    assert ok.status_code == 200 and ok.json()["status"] == "accepted"
    v = client.post(
        f"{base}/visits", json={"visit_date": TODAY.isoformat()}, headers=_doc(auth_headers, sh)
    )
    assert v.status_code == 201, v.text
    detail = client.get(base, headers=_doc(auth_headers, sh)).json()
    assert detail["case"]["id"] == case["id"] and detail["case"]["province"] == "上海市"
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds == ["notified", "dose", "transfer_out", "transfer_in", "visit"]
    # The sending organisation no longer writes for it.
    r = client.post(
        f"{base}/doses", json={"day": TODAY.isoformat(), "status": "taken"},
        headers=_doc(auth_headers, ah),
    )  # fmt: skip
    assert r.status_code == 403


def test_overdue_first_visit_becomes_a_reminder_and_indicators_count(
    client: TestClient, session: Session, auth_headers: Headers, places: dict, person: str
) -> None:
    org = places["sh"]
    case = _case(client, auth_headers, org, person, rr_tb=True)
    admin = auth_headers(Role.admin)
    r = client.post("/api/v1/tb/reminders/sweep", headers=admin)
    assert r.status_code == 200 and r.json()["created"] == 2  # the 72 h visit and day 33
    assert client.post("/api/v1/tb/reminders/sweep", headers=admin).json()["created"] == 0
    doc = _doc(auth_headers, org)
    for back, st in ((2, "taken"), (1, "missed"), (0, "late")):
        client.post(
            f"/api/v1/tb/cases/{case['id']}/doses",
            json={"day": (TODAY - timedelta(days=back)).isoformat(), "status": st},
            headers=doc,
        )
    ind = client.get("/api/v1/tb/indicators?by=province", headers=admin).json()
    (row,) = ind["rows"]
    assert row["key"] == "上海市" and row["cases"] == 1 and row["rr_share"] == 1.0
    assert row["doses_due"] == 41 and row["doses_taken"] == 2
    assert row["visits_due"] == 2 and row["visits_done"] == 0
    months = client.get("/api/v1/tb/indicators?by=month", headers=admin).json()["rows"]
    assert sum(m["doses_due"] for m in months) == 41
    assert client.get("/api/v1/tb/indicators?by=street", headers=admin).status_code == 422
    assert (
        client.get("/api/v1/tb/indicators", headers=auth_headers(Role.insurer)).status_code == 403
    )


def test_condition_projector_notifies_a_case_idempotently(
    session: Session, places: dict, person: str
) -> None:
    from yilian.records.projectors import StoredResource
    from yilian.tb.care_projections import project_condition

    stored = StoredResource(
        resource_type="Condition",
        id="c1",
        version_id=1,
        last_updated=__import__("datetime").datetime.now(),
        person_id=person,
        source_org_id=places["sh"].id,
        resource={
            "resourceType": "Condition",
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "A16.2"}]},
            "recordedDate": (TODAY - timedelta(days=5)).isoformat(),
        },
        created=True,
    )
    project_condition(session, stored)
    project_condition(session, stored)
    other = StoredResource(**{**stored.__dict__, "id": "c2",
                              "resource": {"code": {"coding": [{"code": "I10"}]}}})  # fmt: skip
    project_condition(session, other)
    session.flush()
    cases = list(session.scalars(select(TbCase)))
    assert len(cases) == 1 and cases[0].diagnosis_code == "A16.2"
    assert cases[0].notification_date == TODAY - timedelta(days=5)
