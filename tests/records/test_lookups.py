"""The store's set-wise lookups find exactly the (source, type, key) and (type, code) asked for.

On PostgreSQL they are per-pair lateral lookups over unnested arrays, elsewhere IN
lists; both must answer the same mixed questions the same way: several sources, the
same key under two types or two sources, keys nobody holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from yilian.db import insert_rows
from yilian.records import repository as repo
from yilian.records.models import FhirResource, FhirToken
from yilian.registry.models import Organization


def _resource(rid: str, rtype: str, source: str | None, key: str) -> dict[str, Any]:
    return {
        "resource_type": rtype,
        "id": rid,
        "version_id": 1,
        "person_id": None,
        "patient_id": None,
        "source_org_id": source,
        "identifier_key": key,
        "effective": None,
        "resource": {"resourceType": rtype, "id": rid},
    }


def test_business_identifiers_of_several_sources_and_types(
    session: Session, org: Organization, other_org: Organization
) -> None:
    a, b = org.id, other_org.id
    rows = [
        _resource("o-a-k1", "Observation", a, "k1"),
        _resource("o-b-k1", "Observation", b, "k1"),
        _resource("c-a-k1", "Condition", a, "k1"),
        _resource("o-none-k2", "Observation", None, "k2"),
        _resource("o-a-k3", "Observation", a, "k3"),
    ]
    insert_rows(session, FhirResource.__table__, rows)  # type: ignore[arg-type]
    asked = [
        (a, "Observation", "k1"),
        (b, "Observation", "k1"),
        (a, "Condition", "k1"),
        (b, "Condition", "k1"),  # b holds k1 only as an Observation
        (None, "Observation", "k2"),
        (a, "Observation", "k2"),  # k2 is held by no source, not by a
        (b, "Observation", "k3"),
        (a, "Encounter", "nobody"),
    ]
    found = repo.current_by_business_ids(session, asked)
    assert {k: v.id for k, v in found.items()} == {
        (a, "Observation", "k1"): "o-a-k1",
        (b, "Observation", "k1"): "o-b-k1",
        (a, "Condition", "k1"): "c-a-k1",
        (None, "Observation", "k2"): "o-none-k2",
    }
    assert repo.current_by_business_ids(session, []) == {}


def test_token_holders_of_several_types(session: Session, org: Organization) -> None:
    rows = [
        _resource("p1", "Patient", org.id, "kp1"),
        _resource("p2", "Patient", org.id, "kp2"),
        _resource("o1", "Observation", org.id, "ko1"),
    ]
    insert_rows(session, FhirResource.__table__, rows)  # type: ignore[arg-type]
    names = ("resource_type", "resource_id", "param", "system", "code")
    tokens = [
        dict(zip(names, t, strict=True))
        for t in [
            ("Patient", "p1", "identifier", "s", "c1"),
            ("Patient", "p2", "identifier", "t", "c1"),
            ("Observation", "o1", "identifier", "s", "c2"),
            ("Observation", "o1", "code", "s", "c1"),
        ]
    ]
    insert_rows(session, FhirToken.__table__, tokens)  # type: ignore[arg-type]
    asked = [("Patient", "c1"), ("Observation", "c1"), ("Observation", "c2"), ("Patient", "c9")]
    found = repo.token_holders(session, "identifier", asked)
    assert sorted((system, code, r.resource_type, r.id) for system, code, r in found) == [
        ("s", "c1", "Patient", "p1"),
        ("s", "c2", "Observation", "o1"),
        ("t", "c1", "Patient", "p2"),
    ]  # Observation o1's c1 is a code, not an identifier
    assert repo.token_holders(session, "identifier", []) == []
