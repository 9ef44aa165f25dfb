"""Ingestion through POST /fhir, POST /fhir/{type} and PUT: all or nothing, idempotent, errors."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.records.conftest import (
    entry,
    new_idcard,
    observation,
    patient,
    transaction,
    visit_bundle,
)
from yilian.audit.models import AuditEntry
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.records.models import FhirResource
from yilian.registry.models import Organization
from yilian.security.models import CareRelationship
from yilian.security.principal import Role

FHIR = "application/fhir+json"


def _count(session: Session, resource_type: str | None = None) -> int:
    stmt = select(func.count()).select_from(FhirResource)
    if resource_type:
        stmt = stmt.where(FhirResource.resource_type == resource_type)
    session.rollback()  # see other connections' commits
    return session.execute(stmt).scalar_one()


def _issue(resp: Any) -> dict[str, Any]:
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert resp.headers["content-type"].startswith(FHIR)
    issue: dict[str, Any] = body["issue"][0]
    return issue


def _post(client: TestClient, headers: dict[str, str], body: Any) -> Any:
    return client.post("/fhir", json=body, headers=headers)


def test_transaction_stores_every_entry_and_resolves_urn_references(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    bundle = visit_bundle()
    resp = _post(client, system_headers, bundle)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(FHIR)
    body = resp.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 4
    patient_loc = body["entry"][0]["response"]["location"]
    assert patient_loc.startswith("Patient/") and patient_loc.endswith("/_history/1")
    patient_ref = "/".join(patient_loc.split("/")[:2])

    obs_loc = body["entry"][2]["response"]["location"]
    got = client.get("/fhir/" + obs_loc.split("/_history")[0], headers=system_headers)
    assert got.status_code == 200, got.text
    obs = got.json()
    assert obs["subject"] == {"reference": patient_ref}
    assert obs["meta"]["versionId"] == "1"
    assert obs["code"] == bundle["entry"][2]["resource"]["code"]
    assert _count(session) == 4
    assert session.execute(select(func.count()).select_from(Person)).scalar_one() == 1


def test_a_bad_entry_rolls_back_the_whole_transaction(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    bundle = visit_bundle()
    bundle["entry"][2]["resource"]["code"]["coding"][0]["code"] = 718
    resp = _post(client, system_headers, bundle)
    assert resp.status_code == 422
    assert _issue(resp)["expression"] == ["Bundle.entry[2].resource.code.coding[0].code"]
    assert _count(session) == 0


def test_dangling_urn_reference_names_the_entry(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    urn = f"urn:uuid:{uuid.uuid4()}"
    bundle = transaction(entry(patient(), urn), entry(observation(f"urn:uuid:{uuid.uuid4()}")))
    resp = _post(client, system_headers, bundle)
    assert resp.status_code == 422
    issue = _issue(resp)
    assert issue["expression"] == ["Bundle.entry[1].resource.subject.reference"]
    assert "dangling" in issue["diagnostics"]
    assert _count(session) == 0


def test_reference_to_a_patient_that_is_not_stored_is_refused(
    client: TestClient, system_headers: dict[str, str]
) -> None:
    resp = client.post(
        "/fhir/Observation", json=observation("Patient/nobody"), headers=system_headers
    )
    assert resp.status_code == 422
    assert _issue(resp)["expression"] == ["Observation.subject.reference"]


def test_unknown_and_registry_types(client: TestClient, system_headers: dict[str, str]) -> None:
    resp = client.post("/fhir/Foo", json={"resourceType": "Foo"}, headers=system_headers)
    assert resp.status_code == 404
    _issue(resp)
    resp = client.get("/fhir/Foo/1", headers=system_headers)
    assert resp.status_code == 404
    resp = client.post(
        "/fhir/Organization",
        json={"resourceType": "Organization", "name": "x"},
        headers=system_headers,
    )
    assert resp.status_code == 404
    assert "registry" in _issue(resp)["diagnostics"]
    bundle = transaction(entry({"resourceType": "Foo"}))
    resp = _post(client, system_headers, bundle)
    assert resp.status_code == 400
    assert _issue(resp)["expression"] == ["Bundle.entry[0].resource.resourceType"]


def test_malformed_bodies(client: TestClient, system_headers: dict[str, str]) -> None:
    resp = client.post(
        "/fhir", content=b"{not json", headers={**system_headers, "content-type": FHIR}
    )
    assert resp.status_code == 400
    assert "malformed JSON" in _issue(resp)["diagnostics"]
    resp = _post(client, system_headers, {"resourceType": "Bundle", "type": "collection"})
    assert resp.status_code == 400
    assert _issue(resp)["expression"] == ["Bundle.type"]
    bundle = transaction({"resource": patient(), "request": {"method": "DELETE", "url": "x"}})
    resp = _post(client, system_headers, bundle)
    assert resp.status_code == 400
    assert _issue(resp)["expression"] == ["Bundle.entry[0].request.method"]
    bad = patient()
    bad["unknownElement"] = 1
    resp = client.post("/fhir/Patient", json=bad, headers=system_headers)
    assert resp.status_code == 422
    assert _issue(resp)["expression"] == ["Patient.unknownElement"]
    resp = client.post("/fhir/Observation", json=patient(), headers=system_headers)
    assert resp.status_code == 400
    assert _issue(resp)["expression"] == ["Observation.resourceType"]


def test_only_systems_and_admins_write(
    client: TestClient, auth_headers: Callable[..., dict[str, str]], org: Organization
) -> None:
    assert client.post("/fhir", json=visit_bundle()).status_code == 401
    doctor = auth_headers(Role.doctor, organization_id=org.id)
    resp = _post(client, doctor, visit_bundle())
    assert resp.status_code == 403
    _issue(resp)
    orphan = auth_headers(Role.system, organization_id=None)
    assert _post(client, orphan, visit_bundle()).status_code == 403
    assert _post(client, auth_headers(Role.admin), visit_bundle()).status_code == 200


def test_resending_a_bundle_changes_nothing(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    bundle = visit_bundle()
    first = _post(client, system_headers, copy.deepcopy(bundle)).json()
    again = _post(client, system_headers, copy.deepcopy(bundle))
    assert again.status_code == 200
    second = again.json()
    assert [e["response"]["status"] for e in second["entry"]] == ["200 OK"] * 4
    assert [e["response"]["location"] for e in second["entry"]] == [
        e["response"]["location"] for e in first["entry"]
    ]
    assert _count(session) == 4
    # A changed re-send (same business identifiers) is an update: version 2, not a new row.
    bundle["entry"][2]["resource"]["valueQuantity"]["value"] = 150
    third = _post(client, system_headers, bundle).json()
    statuses = [e["response"]["status"] for e in third["entry"]]
    assert statuses == ["200 OK"] * 4
    assert third["entry"][2]["response"]["location"].endswith("/_history/2")
    assert _count(session) == 4


def test_same_identifier_from_another_source_is_another_record(
    client: TestClient,
    system_headers: dict[str, str],
    auth_headers: Callable[..., dict[str, str]],
    other_org: Organization,
    session: Session,
) -> None:
    bundle = visit_bundle()
    other = auth_headers(Role.system, organization_id=other_org.id, subject="his-wujiang")
    assert _post(client, system_headers, copy.deepcopy(bundle)).status_code == 200
    assert _post(client, other, copy.deepcopy(bundle)).status_code == 200
    assert _count(session) == 8
    # Both Patients carry the same 身份证号: one person.
    assert session.execute(select(func.count()).select_from(Person)).scalar_one() == 1


def test_if_none_exist_returns_the_existing_resource(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    pat = patient(mrn="MRN-INE-1")
    first = client.post("/fhir/Patient", json=pat, headers=system_headers)
    assert first.status_code == 201
    again = dict(pat, gender="female")
    headers = {**system_headers, "If-None-Exist": "identifier=https://his.example/mrn|MRN-INE-1"}
    second = client.post("/fhir/Patient", json=again, headers=headers)
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["gender"] == "male"  # not written
    assert _count(session, "Patient") == 1


def test_batch_reports_each_entry(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    good = entry(patient())
    bad_ref = entry(observation("Patient/none"))
    bundle = transaction(good, bad_ref, kind="batch")
    resp = _post(client, system_headers, bundle)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "422"]
    outcome = body["entry"][1]["response"]["outcome"]
    assert outcome["issue"][0]["diagnostics"]
    assert _count(session) == 1


def test_mistyped_id_number_does_not_fail_the_transaction(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    # A typo at registration must not cost the institution its whole day of data.
    bad_pat = patient(id_number="310118198005171230")  # wrong check digit
    resp = _post(client, system_headers, transaction(entry(bad_pat), entry(patient())))
    assert resp.status_code == 200, resp.text
    entries = resp.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["201 Created", "201 Created"]
    assert _count(session, "Patient") == 2
    # ... but the sender is told, with a warning naming the element, and the value masked.
    (warning,) = entries[0]["response"]["outcome"]["issue"]
    assert warning["severity"] == "warning"
    assert warning["expression"] == ["Bundle.entry[0].resource.identifier[1].value"]
    assert "GB 11643" in warning["diagnostics"]
    assert "310118198005171230" not in warning["diagnostics"]
    assert "outcome" not in entries[1]["response"]


def test_personal_identifiers_are_encrypted_in_the_stored_json(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    id_number = new_idcard()
    pat = patient(id_number=id_number, insurance="SH12345678")
    pat["telecom"] = [{"system": "phone", "value": "13812345678"}]
    resp = _post(client, system_headers, transaction(entry(pat)))
    assert resp.status_code == 200, resp.text
    location = resp.json()["entry"][0]["response"]["location"].split("/_history")[0]
    raw = session.execute(select(FhirResource.resource)).scalar_one()
    stored = json.dumps(raw, ensure_ascii=False)
    for secret in (id_number, "SH12345678", "13812345678"):
        assert secret not in stored
    assert stored.count("yl-enc:v1:") == 3
    # An authorised reader gets the resource as it was sent ...
    read = client.get(f"/fhir/{location}", headers=system_headers).json()
    values = {i["value"] for i in read["identifier"]}
    assert {id_number, "SH12345678"} <= values
    assert read["telecom"][0]["value"] == "13812345678"
    # ... and sending it again is recognised as unchanged despite the random nonce.
    again = _post(client, system_headers, transaction(entry(pat))).json()
    assert again["entry"][0]["response"]["etag"] == 'W/"1"'


def test_put_creates_then_updates_and_guards_other_institutions(
    client: TestClient,
    system_headers: dict[str, str],
    auth_headers: Callable[..., dict[str, str]],
    other_org: Organization,
) -> None:
    pat = dict(patient(), id="pat-put-1")
    created = client.put("/fhir/Patient/pat-put-1", json=pat, headers=system_headers)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "Patient/pat-put-1/_history/1"
    updated = client.put(
        "/fhir/Patient/pat-put-1", json=dict(pat, gender="female"), headers=system_headers
    )
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    got = client.get("/fhir/Patient/pat-put-1", headers=system_headers).json()
    assert got["gender"] == "female"
    other = auth_headers(Role.system, organization_id=other_org.id)
    resp = client.put("/fhir/Patient/pat-put-1", json=pat, headers=other)
    assert resp.status_code == 403
    mismatch = client.put("/fhir/Patient/other-id", json=pat, headers=system_headers)
    assert mismatch.status_code == 400


def test_storing_care_grants_treating_and_other_institutions_are_refused(
    client: TestClient,
    system_headers: dict[str, str],
    auth_headers: Callable[..., dict[str, str]],
    org: Organization,
    other_org: Organization,
    session: Session,
) -> None:
    body = _post(client, system_headers, visit_bundle()).json()
    loc = body["entry"][2]["response"]["location"].split("/_history")[0]
    rels = session.execute(select(CareRelationship)).scalars().all()
    assert [(r.organization_id, r.kind) for r in rels] == [(org.id, "treating")]
    doctor_here = auth_headers(Role.doctor, organization_id=org.id)
    assert client.get(f"/fhir/{loc}", headers=doctor_here).status_code == 200
    doctor_there = auth_headers(Role.doctor, organization_id=other_org.id)
    resp = client.get(f"/fhir/{loc}", headers=doctor_there)
    assert resp.status_code == 403
    _issue(resp)
    # 紧急访问 with a reason is allowed (and audited by the access decision).
    reason = quote("患者昏迷送急诊，需要既往检验结果")
    glass = {**doctor_there, "X-Break-Glass-Reason": reason}
    assert client.get(f"/fhir/{loc}", headers=glass).status_code == 200


def test_everything_spans_institutions_for_one_person(
    client: TestClient,
    system_headers: dict[str, str],
    auth_headers: Callable[..., dict[str, str]],
    other_org: Organization,
) -> None:
    id_number = new_idcard()
    here = _post(client, system_headers, visit_bundle(patient(id_number=id_number))).json()
    other = auth_headers(Role.system, organization_id=other_org.id, subject="his-wujiang")
    there = visit_bundle(patient(id_number=id_number, mrn_system="https://wujiang.example/mrn"))
    assert _post(client, other, there).status_code == 200
    patient_id = here["entry"][0]["response"]["location"].split("/")[1]
    resp = client.get(f"/fhir/Patient/{patient_id}/$everything", headers=system_headers)
    assert resp.status_code == 200, resp.text
    bundle = resp.json()
    types = sorted(e["resource"]["resourceType"] for e in bundle["entry"])
    assert types == sorted(["Patient", "Encounter", "Observation", "Condition"] * 2)
    assert bundle["total"] == 8


def test_everything_follows_a_merge_and_an_unmerge_of_the_index(
    client: TestClient,
    system_headers: dict[str, str],
    auth_headers: Callable[..., dict[str, str]],
    other_org: Organization,
    session: Session,
) -> None:
    """Two records without a shared identifier are two persons until a reviewer merges them."""
    here = _post(client, system_headers, visit_bundle(patient(id_number=new_idcard()))).json()
    other = auth_headers(Role.system, organization_id=other_org.id, subject="his-wujiang")
    there_bundle = visit_bundle(
        patient(id_number=new_idcard(), given="卫", mrn_system="https://wujiang.example/mrn")
    )
    there = _post(client, other, there_bundle).json()
    here_id = here["entry"][0]["response"]["location"].split("/")[1]
    there_id = there["entry"][0]["response"]["location"].split("/")[1]
    persons = patients.persons_of_records(session, [here_id, there_id])
    assert persons[here_id] != persons[there_id]

    def types_seen() -> list[str]:
        resp = client.get(f"/fhir/Patient/{here_id}/$everything", headers=system_headers)
        assert resp.status_code == 200, resp.text
        return sorted(e["resource"]["resourceType"] for e in resp.json()["entry"])

    assert types_seen() == sorted(["Patient", "Encounter", "Observation", "Condition"])
    admin = auth_headers(Role.admin)
    merged = client.post(
        f"/api/v1/mpi/persons/{persons[there_id]}/merge",
        json={"into": persons[here_id], "reason": "同一人：核对身份证复印件"},
        headers=admin,
    )
    assert merged.status_code == 200, merged.text
    # The merged person's resources now read as the survivor's, and under its access decision.
    assert types_seen() == sorted(["Patient", "Encounter", "Observation", "Condition"] * 2)
    there_obs = next(e for e in there["entry"] if "Observation" in e["response"]["location"])
    obs_loc = there_obs["response"]["location"].split("/_history")[0]
    session.expire_all()
    before = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    assert client.get(f"/fhir/{obs_loc}", headers=system_headers).status_code == 200
    session.expire_all()
    read = (
        session.execute(
            select(AuditEntry).where(AuditEntry.action == "read").order_by(AuditEntry.seq.desc())
        )
        .scalars()
        .first()
    )
    assert read is not None and read.person_id == persons[here_id]
    assert (session.scalar(select(func.count()).select_from(AuditEntry)) or 0) > before

    undone = client.post(
        f"/api/v1/mpi/persons/{persons[there_id]}/unmerge",
        json={"reason": "复核后确认不是同一人"},
        headers=admin,
    )
    assert undone.status_code == 200, undone.text
    assert types_seen() == sorted(["Patient", "Encounter", "Observation", "Condition"])


def test_a_failure_after_the_resources_are_written_undoes_them(
    engine: Any, org: Organization, monkeypatch: Any, session: Session
) -> None:
    """The store's savepoint is not the transaction: a later failure takes it all back.

    On SQLite the driver's legacy transaction handling used to let ``SAVEPOINT`` open
    the real transaction, so releasing it committed the resources before the care
    relationships and the audit entries were written.
    """
    from yilian.db import make_sessionmaker, session_scope
    from yilian.records import service as records
    from yilian.security.principal import Principal

    def broken_audit(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(records.audit, "record", broken_audit)
    principal = Principal(
        subject="his", name="HIS", role=Role.system, organization_id=org.id, kind="client"
    )
    factory = make_sessionmaker(engine)
    try:
        with session_scope(factory) as s:
            records.ingest_bundle(s, principal, visit_bundle())
    except RuntimeError:
        pass
    else:
        raise AssertionError("the broken audit should have failed the bundle")
    assert _count(session) == 0
    assert session.execute(select(func.count()).select_from(Person)).scalar_one() == 0
