"""Chronic fixtures: a community centre, a person ingested through the exchange, bundles."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.records.conftest import entry, new_idcard, patient, transaction
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry.models import Organization
from yilian.security.principal import Principal, Role

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
Headers = Callable[..., dict[str, str]]


@pytest.fixture
def centre(make_org: Callable[..., Organization]) -> Organization:
    return make_org(name="仙霞街道社区卫生服务中心", type="community_health_center")


@pytest.fixture
def hospital(make_org: Callable[..., Organization]) -> Organization:
    return make_org(name="同仁医院", type="tertiary_hospital")


def condition(
    subject: str, code: str, display: str = "原发性高血压", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "identifier": [{"system": "https://his.example/cond", "value": uuid.uuid4().hex[:12]}],
        "code": {"coding": [{"system": ICD10, "code": code, "display": display}]},
        "subject": {"reference": subject},
        "recordedDate": "2025-03-01",
        **extra,
    }


def quantity_obs(
    subject: str, code: str, value: float, unit: str, when: str = "2026-01-10T09:00:00+08:00"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "https://his.example/obs", "value": uuid.uuid4().hex[:12]}],
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit},
    }


def smoking_obs(
    subject: str, snomed: str, when: str = "2026-01-10T09:00:00+08:00"
) -> dict[str, Any]:
    """Tobacco smoking status (LOINC 72166-2) answered with a SNOMED CT code."""
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "https://his.example/obs", "value": uuid.uuid4().hex[:12]}],
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": snomed}]},
    }


def bp_obs(subject: str, sbp: int, dbp: int, when: str) -> dict[str, Any]:
    def comp(code: str, v: int) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": v, "unit": "mm[Hg]"}}  # fmt: skip

    return {
        "resourceType": "Observation",
        "identifier": [{"system": "https://his.example/obs", "value": uuid.uuid4().hex[:12]}],
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "component": [comp("8480-6", sbp), comp("8462-4", dbp)],
    }


def ingest_person(
    session: Session,
    org: Organization,
    codes: tuple[str, ...] = ("I10",),
    extra: Callable[[str], list[dict[str, Any]]] | None = None,
    *,
    gender: str = "male",
    birth: str = "1960-05-17",
) -> str:
    """Ingest a Patient with Conditions (and extra resources) from ``org``; the person id."""
    his = Principal(subject="his", name="HIS", role=Role.system, organization_id=org.id)
    urn = f"urn:uuid:{uuid.uuid4()}"
    pat = patient(id_number=new_idcard(gender))
    pat["gender"], pat["birthDate"] = gender, birth
    entries = [entry(pat, urn)] + [entry(condition(urn, c)) for c in codes]
    entries += [entry(r) for r in (extra(urn) if extra else [])]
    out = records.ingest_bundle(session, his, transaction(*entries))
    session.commit()
    patient_id = out["entry"][0]["response"]["location"].split("/")[1]
    person_id = patients.person_of_record(session, patient_id)
    assert person_id
    return person_id
