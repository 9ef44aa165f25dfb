"""FHIR ``Patient/$match``: candidates with score and match-grade, and nothing created."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.patients.test_workflows import INSURANCE, PHONE, _patient, _post
from tests.patients.test_workflows import app as app  # the fixture
from yilian.audit.models import AuditEntry
from yilian.patients.endpoints import MATCH_GRADE_URL
from yilian.patients.models import MatchReview, Person, PersonRecord
from yilian.records.models import FhirResource
from yilian.registry.models import Organization
from yilian.security.principal import Role

HeaderFactory = Callable[..., dict[str, str]]
URL = "/fhir/Patient/$match"


def _params(patient: dict[str, Any], **extra: Any) -> dict[str, Any]:
    params: list[dict[str, Any]] = [{"name": "resource", "resource": patient}]
    if "only_certain" in extra:
        params.append({"name": "onlyCertainMatches", "valueBoolean": extra["only_certain"]})
    if "count" in extra:
        params.append({"name": "count", "valueInteger": extra["count"]})
    return {"resourceType": "Parameters", "parameter": params}


def _counts(session: Session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(
        session.execute(select(func.count()).select_from(m)).scalar_one()
        for m in (Person, PersonRecord, FhirResource, MatchReview)
    )


@pytest.fixture
def stored(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> str:
    org = make_org()
    headers = auth_headers(Role.system, organization_id=org.id, subject="his-a")
    return _post(
        client, headers, _patient("王秀英", "1961-04-12", phone=PHONE, insurance=INSURANCE)
    )


def test_certain_match_on_a_known_identifier_creates_nothing(
    client: TestClient, session: Session, auth_headers: HeaderFactory, stored: str
) -> None:
    before = _counts(session)
    asked = _patient("王秀英", "1961-04-12", insurance=INSURANCE.lower())
    resp = client.post(URL, json=_params(asked), headers=auth_headers(Role.doctor))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/fhir+json")
    bundle = resp.json()
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    (entry,) = bundle["entry"]
    assert entry["resource"]["id"] == stored
    assert entry["search"]["score"] == 1.0
    assert entry["search"]["extension"] == [{"url": MATCH_GRADE_URL, "valueCode": "certain"}]
    assert INSURANCE not in resp.text and PHONE not in resp.text
    assert _counts(session) == before
    assert "match" in session.execute(select(AuditEntry.action)).scalars().all()


def test_probable_match_and_only_certain(
    client: TestClient, session: Session, auth_headers: HeaderFactory, stored: str
) -> None:
    before = _counts(session)
    asked = _patient("王秀英", "1961-04-21")
    resp = client.post(URL, json=_params(asked), headers=auth_headers(Role.admin))
    assert resp.status_code == 200, resp.text
    (entry,) = resp.json()["entry"]
    assert 0.5 <= entry["search"]["score"] < 0.99
    assert entry["search"]["extension"][0]["valueCode"] == "probable"
    certain = client.post(URL, json=_params(asked, only_certain=True), headers=auth_headers())
    assert certain.json()["total"] == 0 and certain.json()["entry"] == []
    limited = client.post(URL, json=_params(asked, count=1), headers=auth_headers())
    assert limited.json()["total"] == 1
    assert _counts(session) == before


def test_stranger_matches_no_one(
    client: TestClient, auth_headers: HeaderFactory, stored: str
) -> None:
    resp = client.post(URL, json=_params(_patient("赵敏", "1990-01-01")), headers=auth_headers())
    assert resp.status_code == 200 and resp.json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"resourceType": "Patient"}, 422),
        ({"resourceType": "Parameters", "parameter": []}, 422),
        ({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {}}]}, 422),
        (_params(_patient("赵敏", "1990-01-01"), count=0), 422),
        (_params(_patient("赵敏", "1990-01-01"), only_certain="yes"), 422),
    ],
)
def test_invalid_parameters_are_operation_outcomes(
    client: TestClient, auth_headers: HeaderFactory, body: dict[str, Any], status: int
) -> None:
    resp = client.post(URL, json=body, headers=auth_headers())
    assert resp.status_code == status, resp.text
    assert resp.json()["resourceType"] == "OperationOutcome"


def test_malformed_json_and_roles(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> None:
    bad = client.post(URL, content=b"{", headers=auth_headers())
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    org = make_org()
    body = _params(_patient("赵敏", "1990-01-01"))
    system = auth_headers(Role.system, organization_id=org.id)
    assert client.post(URL, json=body, headers=system).status_code == 200
    denied = client.post(URL, json=body, headers=auth_headers(Role.cdc, organization_id=org.id))
    assert denied.status_code == 403 and denied.json()["resourceType"] == "OperationOutcome"
