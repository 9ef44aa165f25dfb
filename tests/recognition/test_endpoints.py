"""The recognition API: roles, the check, decisions, catalogue editing and statistics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.recognition.conftest import Zone, bundle, ingest, lab, new_idcard, person_of, treat
from yilian.recognition.models import Catalogue, CheckItem
from yilian.security.principal import Role

Headers = Callable[..., dict[str, str]]


def _setup(session: Session, zone: Zone, org: Any = None) -> str:
    out = ingest(
        session,
        org or zone.hospital,
        bundle(
            new_idcard(),
            lab("urn:uuid:p", "718-7", 132, "g/L", (date.today() - timedelta(days=2)).isoformat()),
        ),
    )
    person = person_of(session, out)
    treat(session, person, zone.centre)
    return person


def test_a_doctor_checks_and_records_decisions(
    client: TestClient, session: Session, zone: Zone, auth_headers: Headers
) -> None:
    person = _setup(session, zone)
    doctor = auth_headers(Role.doctor, organization_id=zone.centre.id)
    resp = client.post(
        "/api/v1/recognition/checks", json={"person_id": person, "items": ["HGB", "PT"]},
        headers=doctor,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    body = resp.json()
    hgb, pt = body["items"]
    assert hgb["verdict"] == "reuse" and hgb["result"]["institution"]["name"] == "青浦区中心医院"
    assert (pt["verdict"], pt["reason"]) == ("order", "not-in-catalogue")
    resp = client.post(
        f"/api/v1/recognition/checks/{body['id']}/decisions",
        json={"decisions": [{"requested": "HGB", "decision": "reused"},
                            {"requested": "PT", "decision": "reordered"}]},
        headers=doctor,
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert [d["saved"] for d in resp.json()] == [5.0, 0.0]
    again = client.get(f"/api/v1/recognition/checks/{body['id']}", headers=doctor).json()
    assert [i["decision"] for i in again["items"]] == ["reused", "reordered"]


def test_bad_input_is_refused_with_the_field_named(
    client: TestClient, session: Session, zone: Zone, auth_headers: Headers
) -> None:
    person = _setup(session, zone, org=zone.outsider)
    doctor = auth_headers(Role.doctor, organization_id=zone.centre.id)
    for payload in ({"person_id": person, "items": []}, {"person_id": person},
                    {"person_id": "x" * 40, "items": ["HGB"]},
                    {"person_id": person, "items": ["HGB"], "extra": 1}):  # fmt: skip
        resp = client.post("/api/v1/recognition/checks", json=payload, headers=doctor)
        assert resp.status_code == 422, payload
    check = client.post(
        "/api/v1/recognition/checks", json={"person_id": person, "items": ["HGB"]}, headers=doctor
    ).json()
    assert check["items"][0]["reason"] == "institution-not-eligible"
    resp = client.post(
        f"/api/v1/recognition/checks/{check['id']}/decisions",
        json={"decisions": [{"requested": "HGB", "decision": "reused",
                             "result_id": check["items"][0]["candidates"][0]["id"]}]},
        headers=doctor,
    )  # fmt: skip
    assert resp.status_code == 422
    assert "non-eligible institution" in resp.json()["error"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CheckItem).where(
        CheckItem.decision.is_not(None))) == 0  # fmt: skip
    resp = client.post(
        f"/api/v1/recognition/checks/{check['id']}/decisions",
        json={"decisions": [{"requested": "HGB", "decision": "maybe"}]},
        headers=doctor,
    )
    assert resp.status_code == 422


def test_roles(client: TestClient, session: Session, zone: Zone, auth_headers: Headers) -> None:
    person = _setup(session, zone)
    body = {"person_id": person, "items": ["HGB"]}
    for role in (Role.commission, Role.cdc, Role.insurer):
        resp = client.post("/api/v1/recognition/checks", json=body, headers=auth_headers(role))
        assert resp.status_code == 403
    assert client.get("/api/v1/recognition/statistics").status_code == 401
    doctor = auth_headers(Role.doctor, organization_id=zone.centre.id)
    assert client.get("/api/v1/recognition/statistics", headers=doctor).status_code == 403
    resp = client.get("/api/v1/recognition/statistics?by=institution",
                      headers=auth_headers(Role.commission))  # fmt: skip
    assert resp.status_code == 200 and resp.json()["reference_person_visit_rate"] == 79.07
    assert client.get("/api/v1/recognition/statistics?by=weekday",
                      headers=auth_headers(Role.admin)).status_code == 422  # fmt: skip
    resp = client.patch(f"/api/v1/recognition/catalogues/{zone.catalogue.code}/items/HGB",
                        json={"validity_days": 3}, headers=doctor)  # fmt: skip
    assert resp.status_code == 403


def test_the_default_catalogue_has_35_lab_items_and_9_imaging_categories(
    client: TestClient, zone: Zone, auth_headers: Headers
) -> None:
    """Seed 001: 示范区 … 涵盖35个检验项目和9大类检查项目."""
    listing = client.get("/api/v1/recognition/catalogues", headers=auth_headers(Role.doctor,
                         organization_id=zone.centre.id)).json()  # fmt: skip
    (c,) = listing
    assert (c["lab_items"], c["imaging_categories"], c["participants"]) == (35, 9, 2)


def test_catalogue_edit_export_and_import(
    client: TestClient, session: Session, zone: Zone, auth_headers: Headers
) -> None:
    admin = auth_headers(Role.commission)
    code = zone.catalogue.code
    resp = client.patch(
        f"/api/v1/recognition/catalogues/{code}/items/HGB",
        json={"validity_days": 3, "reference_price": 6.5},
        headers=admin,
    )
    assert resp.status_code == 200 and resp.json()["validity_days"] == 3
    assert client.patch(f"/api/v1/recognition/catalogues/{code}/items/HGB",
                        json={"validity_days": -1}, headers=admin).status_code == 422  # fmt: skip
    assert client.patch(f"/api/v1/recognition/catalogues/{code}/items/NOPE",
                        json={"validity_days": 1}, headers=admin).status_code == 404  # fmt: skip
    resp = client.put(f"/api/v1/recognition/catalogues/{code}/institutions/{zone.outsider.id}",
                      json={"qc_status": "pending"}, headers=admin)  # fmt: skip
    assert resp.status_code == 200 and resp.json()["qc_status"] == "pending"
    assert client.put(f"/api/v1/recognition/catalogues/{code}/institutions/nosuchorg",
                      json={}, headers=admin).status_code == 422  # fmt: skip
    exported = client.get(f"/api/v1/recognition/catalogues/{code}/export", headers=admin).json()
    hgb = next(i for i in exported["items"] if i["item_code"] == "HGB")
    assert hgb["validity_days"] == 3 and "http://loinc.org|718-7" in hgb["codes"]
    exported["code"] = "COPY-1"
    exported["name"] = "复制目录"
    resp = client.post("/api/v1/recognition/catalogues/import", json=exported, headers=admin)
    assert resp.status_code == 201, resp.text
    assert resp.json()["participants"] == 3 and resp.json()["lab_items"] == 35
    # A local code that already stands for another item is refused, and nothing is created.
    bad = dict(exported, code="COPY-2")
    bad["items"] = [dict(hgb, codes=["http://loinc.org|4548-4"])]
    resp = client.post("/api/v1/recognition/catalogues/import", json=bad, headers=admin)
    assert resp.status_code == 422 and "already stands for item HBA1C" in resp.json()["error"]
    session.expire_all()
    assert session.scalar(select(Catalogue).where(Catalogue.code == "COPY-2")) is None
    resp = client.post("/api/v1/recognition/catalogues/import", json={"code": "X"}, headers=admin)
    assert resp.status_code == 422
