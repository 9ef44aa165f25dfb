"""The set-wise lookups of ingestion: several types in one bundle never mix up their rows."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.records.conftest import observation, patient, transaction
from yilian.records.models import FhirResource, FhirToken


def _put(resource: dict[str, Any], rid: str) -> dict[str, Any]:
    return {
        "resource": dict(resource, id=rid),
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{rid}"},
    }


def _post_if_none_exist(resource: dict[str, Any], query: str) -> dict[str, Any]:
    return {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": query},
    }


def _tokens(session: Session) -> dict[tuple[str, str], int]:
    session.rollback()  # see the app's commits
    stmt = select(FhirToken.resource_type, FhirToken.resource_id, func.count()).group_by(
        FhirToken.resource_type, FhirToken.resource_id
    )
    return {(t, i): n for t, i, n in session.execute(stmt)}


def test_updating_two_types_keeps_the_tokens_of_same_id_resources_of_other_types(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    a, b = f"a{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    first = transaction(
        _put(patient(), a),
        _put(patient(given="芳"), b),
        _put(observation(f"Patient/{a}"), a),
        _put(observation(f"Patient/{b}"), b),
    )
    assert client.post("/fhir", json=first, headers=system_headers).status_code == 200
    before = _tokens(session)
    assert all(before.get(k) for k in [("Patient", a), ("Patient", b)])
    assert all(before.get(k) for k in [("Observation", a), ("Observation", b)])
    # Patient/a and Observation/b change; Patient/b and Observation/a keep their tokens.
    second = transaction(
        _put(dict(patient(), gender="female"), a),
        _put(observation(f"Patient/{b}", code="2345-7"), b),
    )
    resp = client.post("/fhir", json=second, headers=system_headers)
    assert resp.status_code == 200, resp.text
    assert [e["response"]["status"] for e in resp.json()["entry"]] == ["200 OK", "200 OK"]
    after = _tokens(session)
    for key in [("Patient", b), ("Observation", a)]:
        assert after[key] == before[key]
    assert after[("Patient", a)] >= 1 and after[("Observation", b)] >= 1


def test_if_none_exist_of_several_types_matches_each_type_only(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    value = f"SHARED-{uuid.uuid4().hex[:8]}"
    pat = patient(mrn=value, mrn_system="https://his.example/shared")
    created = client.post("/fhir", json=transaction(_put(pat, f"p{value}")), headers=system_headers)
    assert created.status_code == 200, created.text
    obs = observation(f"Patient/p{value}")
    obs["identifier"] = [{"system": "https://his.example/shared", "value": value}]
    stored = client.post("/fhir", json=transaction(_put(obs, f"o{value}")), headers=system_headers)
    assert stored.status_code == 200, stored.text
    query = f"identifier=https://his.example/shared|{value}"
    other = observation(f"Patient/p{value}")
    bundle = transaction(
        _post_if_none_exist(dict(pat, gender="female"), query),
        _post_if_none_exist(dict(obs, status="amended"), query),
        # No Observation holds this one: created.
        _post_if_none_exist(other, f"identifier=https://his.example/shared|{value}-new"),
    )
    resp = client.post("/fhir", json=bundle, headers=system_headers)
    assert resp.status_code == 200, resp.text
    out = [e["response"] for e in resp.json()["entry"]]
    assert [o["status"] for o in out] == ["200 OK", "200 OK", "201 Created"]
    assert out[0]["location"] == f"Patient/p{value}/_history/1"  # matched: not written
    assert out[1]["location"] == f"Observation/o{value}/_history/1"


def test_tokens_follow_their_resource_without_a_foreign_key(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    """fhir_tokens has no foreign key (migration 0008): the repository keeps them in step.

    A re-sent resource's old tokens go, its new ones come, and no token is left
    pointing at a resource that is not stored.
    """
    rid = f"o{uuid.uuid4().hex[:8]}"
    pat = f"p{uuid.uuid4().hex[:8]}"
    first = transaction(_put(patient(), pat), _put(observation(f"Patient/{pat}"), rid))
    assert client.post("/fhir", json=first, headers=system_headers).status_code == 200
    again = transaction(_put(observation(f"Patient/{pat}", code="2345-7"), rid))
    assert client.post("/fhir", json=again, headers=system_headers).status_code == 200
    session.rollback()
    codes = set(
        session.scalars(
            select(FhirToken.code).where(
                FhirToken.resource_type == "Observation",
                FhirToken.resource_id == rid,
                FhirToken.param == "code",
            )
        )
    )
    assert codes == {"2345-7"}  # 718-7 went with the first version
    orphans = session.execute(
        select(func.count())
        .select_from(FhirToken)
        .outerjoin(
            FhirResource,
            (FhirResource.resource_type == FhirToken.resource_type)
            & (FhirResource.id == FhirToken.resource_id),
        )
        .where(FhirResource.id.is_(None))
    ).scalar_one()
    assert orphans == 0
