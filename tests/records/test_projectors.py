"""Projectors see each stored resource in the same transaction; a failing one aborts the bundle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.records.conftest import visit_bundle
from yilian.kit.errors import Unprocessable
from yilian.records import projectors
from yilian.records.models import FhirResource
from yilian.records.projectors import StoredResource


@pytest.fixture
def seen() -> Iterator[list[StoredResource]]:
    got: list[StoredResource] = []

    def remember(session: Session, stored: StoredResource) -> None:
        # Same transaction: the row is already visible to the projector's session.
        row = session.get(FhirResource, (stored.resource_type, stored.id))
        assert row is not None
        got.append(stored)

    projectors.register("Observation", remember)
    yield got
    projectors.unregister("Observation", remember)


def test_a_projector_sees_each_stored_resource(
    client: TestClient, system_headers: dict[str, str], seen: list[StoredResource]
) -> None:
    resp = client.post("/fhir", json=visit_bundle(), headers=system_headers)
    assert resp.status_code == 200
    assert len(seen) == 1
    stored = seen[0]
    assert stored.resource_type == "Observation" and stored.created
    assert stored.person_id is not None and stored.source_org_id is not None
    assert stored.resource["code"]["coding"][0]["code"] == "718-7"
    assert stored.resource["subject"]["reference"].startswith("Patient/")


@pytest.mark.parametrize(
    ("error", "status"), [(ValueError("bug"), 500), (Unprocessable("no", field="x"), 422)]
)
def test_a_failing_projector_aborts_the_whole_bundle(
    client: TestClient,
    system_headers: dict[str, str],
    session: Session,
    error: Exception,
    status: int,
) -> None:
    def explode(_session: Session, _stored: StoredResource) -> None:
        raise error

    projectors.register("Condition", explode)
    try:
        resp = client.post("/fhir", json=visit_bundle(), headers=system_headers)
    finally:
        projectors.unregister("Condition", explode)
    assert resp.status_code == status
    assert resp.json()["resourceType"] == "OperationOutcome"
    session.rollback()
    assert session.execute(select(func.count()).select_from(FhirResource)).scalar_one() == 0
