"""The official HL7 FHIR R4 examples of every supported type validate, ingest and round-trip.

The examples come from the npm package hl7.fhir.r4.examples@4.0.1, at
``$YILIAN_FHIR_EXAMPLES`` (the test command installs it) or under ``.cache/fhir``
(``cd .cache/fhir && npm install --no-save hl7.fhir.r4.examples@4.0.1``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from yilian.records import indexing, validation
from yilian.registry.models import Organization
from yilian.security.principal import Role

TYPES = [
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "DiagnosticReport",
    "ImagingStudy",
    "MedicationRequest",
    "Procedure",
    "Immunization",
    "AllergyIntolerance",
    "DocumentReference",
    "ServiceRequest",
    "CarePlan",
]
_ROOT = Path(__file__).resolve().parents[2]
# Examples whose patient is on another server: the store refuses them, by design.
EXTERNAL_PATIENT = {"ServiceRequest/myringotomy"}


def _folder() -> Path | None:
    candidates = [
        os.environ.get("YILIAN_FHIR_EXAMPLES"),
        _ROOT / ".cache/fhir/node_modules/hl7.fhir.r4.examples/package",
        _ROOT / ".cache/fhir/node_modules/hl7.fhir.r4.examples",
    ]
    for c in candidates:
        if c and Path(c).is_dir() and any(Path(c).glob("Patient-*.json")):
            return Path(c)
    return None


FOLDER = _folder()
if FOLDER is None and os.environ.get("CI"):
    # In CI the test command fetches the examples; a silent skip would hide a broken set-up.
    raise RuntimeError("HL7 FHIR R4 examples missing: bash run.sh test should have fetched them")
pytestmark = pytest.mark.skipif(
    FOLDER is None,
    reason="HL7 FHIR R4 examples not found: set YILIAN_FHIR_EXAMPLES or run "
    "`cd .cache/fhir && npm install --no-save hl7.fhir.r4.examples@4.0.1`",
)


def _examples() -> list[dict[str, Any]]:
    if FOLDER is None:
        return []
    found = []
    for path in sorted(FOLDER.glob("*.json")):
        if path.name.split("-", 1)[0] not in TYPES:
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("resourceType") in TYPES:
            found.append(doc)
    return found


EXAMPLES = _examples()


def _key(doc: dict[str, Any]) -> str:
    return f"{doc['resourceType']}/{doc['id']}"


def _numbers_as_floats(value: Any) -> Any:
    """JSON numbers compared by value: PostgreSQL JSONB gives back 1E+245 as an exact integer.

    (Decimal precision — 1.00 vs 1.0 — is not kept on either database; see docs/standards.md.)
    """
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _content(doc: dict[str, Any]) -> dict[str, Any]:
    return _numbers_as_floats({k: v for k, v in doc.items() if k not in ("meta", "id")})


def test_the_examples_cover_every_supported_type() -> None:
    assert {d["resourceType"] for d in EXAMPLES} == set(TYPES)
    assert len(EXAMPLES) > 200


@pytest.mark.parametrize("doc", EXAMPLES, ids=_key)
def test_every_example_validates(doc: dict[str, Any]) -> None:
    assert validation.check_resource(doc, doc["resourceType"]) == doc["resourceType"]


def _patient_stubs() -> list[dict[str, Any]]:
    """Minimal Patients for the ids examples refer to but the package does not contain."""
    have = {d["id"] for d in EXAMPLES if d["resourceType"] == "Patient"}
    wanted = set()
    for doc in EXAMPLES:
        ref = indexing.patient_reference(doc) if doc["resourceType"] != "Patient" else None
        if ref and ref.startswith("Patient/") and ref[8:] not in have:
            wanted.add(ref[8:])
    return [{"resourceType": "Patient", "id": pid, "active": True} for pid in sorted(wanted)]


def test_every_example_ingests_and_round_trips(
    client: TestClient,
    auth_headers: Callable[..., dict[str, str]],
    make_org: Callable[..., Organization],
) -> None:
    # Some examples reuse another's business identifier; each such one comes from its own
    # institution (from one institution, a second resource with it would be an update).
    orgs: list[dict[str, str]] = []
    seen: dict[tuple[str, str, str], int] = {}

    def sender(doc: dict[str, Any]) -> dict[str, str]:
        ident = next(
            (i for i in doc.get("identifier", []) if i.get("system") and i.get("value")), None
        )
        n = 0
        if ident:
            key = (doc["resourceType"], ident["system"], ident["value"])
            n = seen[key] = seen.get(key, -1) + 1
        while len(orgs) <= n:
            org = make_org()
            orgs.append(auth_headers(Role.system, organization_id=org.id, subject=f"his-{org.id}"))
        return orgs[n]

    patients = [d for d in EXAMPLES if d["resourceType"] == "Patient"] + _patient_stubs()
    others = [d for d in EXAMPLES if d["resourceType"] != "Patient"]
    stored: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    failures = []
    for doc in [*patients, *others]:
        headers = sender(doc)
        resp = client.put(f"/fhir/{_key(doc)}", json=doc, headers=headers)
        if _key(doc) in EXTERNAL_PATIENT:
            assert resp.status_code == 422, resp.text
            continue
        if resp.status_code != 201:
            failures.append(f"{_key(doc)}: {resp.status_code} {resp.text[:300]}")
            continue
        stored[_key(doc)] = (doc, headers)
    assert not failures, "\n".join(failures)
    for key, (doc, headers) in stored.items():
        got = client.get(f"/fhir/{key}", headers=headers)
        assert got.status_code == 200, f"{key}: {got.text[:300]}"
        assert _content(got.json()) == _content(doc), key
        assert got.json()["id"] == doc["id"]
