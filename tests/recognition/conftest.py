"""Recognition fixtures: a small region with institutions in a catalogue, and result bundles."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from yilian.kit import idcard
from yilian.recognition import service
from yilian.recognition.models import Catalogue
from yilian.records import service as records
from yilian.registry.models import Organization, Region
from yilian.security import service as security
from yilian.security.principal import Principal, Role

LOINC = "http://loinc.org"
SID_ID_CARD = "https://yilian.example/fhir/sid/resident-id-card"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
TAG = "https://yilian.example/fhir/CodeSystem/mutual-recognition"
_seq = itertools.count(1)


@dataclass
class Zone:
    """青浦-like test zone: a hospital and a centre in the catalogue, a clinic outside it."""

    region: Region
    hospital: Organization  # 二级, in the catalogue (where results come from)
    centre: Organization  # 一级, in the catalogue (where the doctor orders)
    outsider: Organization  # 二级, not in the catalogue
    catalogue: Catalogue


@pytest.fixture
def zone(
    session: Session, make_region: Callable[..., Region], make_org: Callable[..., Any]
) -> Zone:
    region = make_region(name="青浦区", level="district")
    hospital = make_org(
        name="青浦区中心医院", type="secondary_hospital", level="二级甲等", region=region
    )
    centre = make_org(name="夏阳街道社区卫生服务中心", level="一级", region=region)
    outsider = make_org(name="某民营医院", type="secondary_hospital", level="二级", region=region)
    catalogue = service.install_default(session, None, organization_ids=[hospital.id, centre.id])
    session.commit()
    return Zone(region, hospital, centre, outsider, catalogue)


def system(org: Organization) -> Principal:
    return Principal(
        subject=f"his-{org.code}",
        name="HIS",
        role=Role.system,
        organization_id=org.id,
        kind="client",
    )


def doctor(org: Organization, subject: str = "dr-wang") -> Principal:
    return Principal(subject=subject, name=subject, role=Role.doctor, organization_id=org.id)


def patient_resource(id_number: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": "https://his.example/mrn", "value": f"MRN{uuid.uuid4().hex[:8]}"},
            {"system": SID_ID_CARD, "value": id_number},
        ],
        "name": [{"text": "李明", "family": "李", "given": ["明"]}],
        "gender": "male",
        "birthDate": "1970-03-02",
    }


def new_idcard() -> str:
    return idcard.make("310118", date(1970, 3, 2), next(_seq) % 900, "male")


def lab(
    subject: str,
    loinc: str,
    value: float,
    unit: str,
    when: str,
    *,
    status: str = "final",
    ident: str | None = None,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "https://lis.example/obs", "value": ident or uuid.uuid4().hex}],
        "status": status,
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
        "code": {
            "coding": [
                {"system": LOINC, "code": loinc},
                {"system": "https://lis.example/local", "code": "L-" + loinc},
            ]
        },
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit},
    }


def report(
    subject: str,
    loinc: str,
    when: str,
    *,
    results: list[str] = (),  # type: ignore[assignment]
    conclusion: str | None = None,
    category: str = "LAB",
    hr: bool = True,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": "https://lis.example/report", "value": uuid.uuid4().hex}],
        "status": "final",
        "category": [{"coding": [{"system": V2_0074, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "result": [{"reference": r} for r in results],
    }
    if conclusion:
        res["conclusion"] = conclusion
    if hr:
        res["meta"] = {"tag": [{"system": TAG, "code": "HR-demo_zone"}]}
    return res


def bundle(id_number: str, *resources: dict[str, Any]) -> dict[str, Any]:
    """A transaction with a Patient (urn:uuid:p) and resources that refer to it."""
    entries = [
        {
            "fullUrl": "urn:uuid:p",
            "resource": patient_resource(id_number),
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    for n, r in enumerate(resources):
        entries.append(
            {
                "fullUrl": f"urn:uuid:r{n}",
                "resource": r,
                "request": {"method": "POST", "url": r["resourceType"]},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def ingest(session: Session, org: Organization, data: dict[str, Any]) -> dict[str, Any]:
    out = records.ingest_bundle(session, system(org), data)
    session.commit()
    return out


def person_of(session: Session, response: dict[str, Any]) -> str:
    """The person id of the Patient the bundle's first entry created."""
    from yilian.patients import service as patients

    location = response["entry"][0]["response"]["location"]
    patient_id = location.split("/")[1]
    person = patients.person_of_record(session, patient_id)
    assert person is not None
    return person


def treat(session: Session, person_id: str, org: Organization) -> None:
    security.grant_relationship(
        session, person_id=person_id, organization_id=org.id, kind="treating", source="test"
    )
    session.commit()
