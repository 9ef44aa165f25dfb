"""Records fixtures: an app with the FHIR store's router, system-principal headers, bundles."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from tests.conftest import _clear
from yilian.app import create_app
from yilian.config import Settings
from yilian.kit import idcard
from yilian.records.endpoints import router as records_router
from yilian.registry.models import Organization
from yilian.security.principal import Role

SID_ID_CARD = "https://yilian.example/fhir/sid/resident-id-card"
SID_INSURANCE = "https://yilian.example/fhir/sid/social-security-card"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_seq = itertools.count(1)


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[FastAPI]:
    """The application with the records router, mounted last as the lead will wire it."""
    application = create_app(settings)
    if not any(getattr(r, "path", None) == "/fhir" for r in application.routes):
        application.include_router(records_router)
    yield application
    application.state.engine.dispose()
    _clear(engine)


@pytest.fixture
def org(make_org: Callable[..., Organization]) -> Organization:
    return make_org(name="青浦区中心医院", type="secondary_hospital")


@pytest.fixture
def other_org(make_org: Callable[..., Organization]) -> Organization:
    return make_org(name="吴江区第一人民医院", type="secondary_hospital")


@pytest.fixture
def system_headers(
    auth_headers: Callable[..., dict[str, str]], org: Organization
) -> dict[str, str]:
    return auth_headers(Role.system, organization_id=org.id, subject="his-qingpu")


def new_idcard(sex: str = "male") -> str:
    return idcard.make("310118", date(1980, 5, 17), next(_seq) % 500, sex)


def patient(
    *,
    family: str = "张",
    given: str = "伟",
    id_number: str | None = None,
    mrn: str | None = None,
    mrn_system: str = "https://his.example/mrn",
    insurance: str | None = None,
) -> dict[str, Any]:
    identifiers = [{"system": mrn_system, "value": mrn or f"MRN{uuid.uuid4().hex[:8]}"}]
    if id_number:
        identifiers.append({"system": SID_ID_CARD, "value": id_number})
    if insurance:
        identifiers.append({"system": SID_INSURANCE, "value": insurance})
    return {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [{"use": "official", "text": family + given, "family": family, "given": [given]}],
        "gender": "male",
        "birthDate": "1980-05-17",
    }


def observation(
    subject: str,
    *,
    code: str = "718-7",
    when: str = "2024-03-01T09:30:00+08:00",
    value: float = 135,
    ident: str | None = None,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [
            {"system": "https://his.example/obs", "value": ident or uuid.uuid4().hex[:12]}
        ],
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": "Hemoglobin"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "g/L", "system": "http://unitsofmeasure.org"},
    }


def encounter(subject: str, *, start: str = "2024-03-01T09:00:00+08:00") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "identifier": [{"system": "https://his.example/enc", "value": uuid.uuid4().hex[:12]}],
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
        },
        "subject": {"reference": subject},
        "period": {"start": start, "end": start},
    }


def condition(subject: str, *, code: str = "I10") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "identifier": [{"system": "https://his.example/cond", "value": uuid.uuid4().hex[:12]}],
        "code": {"coding": [{"system": ICD10, "code": code, "display": "原发性高血压"}]},
        "subject": {"reference": subject},
        "recordedDate": "2024-03-01",
    }


def entry(resource: dict[str, Any], full_url: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }
    if full_url:
        e["fullUrl"] = full_url
    return e


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def visit_bundle(pat: dict[str, Any] | None = None, **obs: Any) -> dict[str, Any]:
    """A Patient with an Encounter, an Observation and a Condition, linked by urn:uuid."""
    urn = f"urn:uuid:{uuid.uuid4()}"
    return transaction(
        entry(pat or patient(id_number=new_idcard()), urn),
        entry(encounter(urn)),
        entry(observation(urn, **obs)),
        entry(condition(urn)),
    )
