"""The store as projectors see it: ``iter_stored`` and ``stored_by_keys`` for domain jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.records.conftest import condition, entry, new_idcard, patient, transaction
from yilian.kit.errors import BadRequest
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry.models import Organization
from yilian.security.principal import Role


def _send(client: TestClient, headers: dict[str, str], *resources: Any) -> list[str]:
    """Store a Patient and resources about it; the stored ids, in order."""
    urn = "urn:uuid:5b1f3a52-7d1e-4c43-9d55-2a3f7c0e9b11"
    body = transaction(entry(resources[0], urn), *(entry(r(urn)) for r in resources[1:]))
    resp = client.post("/fhir", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return [e["response"]["location"].split("/")[1] for e in resp.json()["entry"]]


def test_iter_stored_reveals_bodies_filters_codes_and_pages(
    client: TestClient, system_headers: dict[str, str], session: Session
) -> None:
    id_number = new_idcard()
    pid, hyp, dia = _send(
        client,
        system_headers,
        patient(id_number=id_number),
        lambda s: condition(s, code="I10"),
        lambda s: condition(s, code="E11.9"),
    )
    session.rollback()
    (stored,) = list(records.iter_stored(session, "Patient"))
    # The row holds ciphertext; a job sees the 身份证号 as it was sent.
    assert id_number in [i["value"] for i in stored.resource["identifier"]]
    assert stored.patient_id == pid and stored.person_id is not None
    every = [s.id for s in records.iter_stored(session, "Condition", batch=1)]
    assert every == sorted([hyp, dia])
    diabetes = list(records.iter_stored(session, "Condition", code_prefixes=["E11"]))
    assert [s.id for s in diabetes] == [dia]
    assert records.any_stored(session, ["Condition"])
    assert not records.any_stored(session, ["ImagingStudy"])


def test_iter_stored_refuses_a_type_the_store_does_not_hold(session: Session) -> None:
    with pytest.raises(BadRequest, match="Spaceship"):
        list(records.iter_stored(session, "Spaceship"))


def test_stored_by_keys_follows_the_index_after_a_merge(
    client: TestClient,
    system_headers: dict[str, str],
    auth_headers: Callable[..., dict[str, str]],
    other_org: Organization,
    session: Session,
) -> None:
    here_pid, here_cond = _send(
        client, system_headers, patient(id_number=new_idcard()), lambda s: condition(s)
    )
    other = auth_headers(Role.system, organization_id=other_org.id, subject="his-wujiang")
    there_pid, there_cond = _send(
        client,
        other,
        patient(id_number=new_idcard(), given="卫", mrn_system="https://wujiang.example/mrn"),
        lambda s: condition(s),
    )
    persons = patients.persons_of_records(session, [here_pid, there_pid])
    keys = [("Condition", there_cond), ("Condition", "missing")]
    found = records.stored_by_keys(session, keys)
    assert list(found) == [("Condition", there_cond)]
    assert found[("Condition", there_cond)].person_id == persons[there_pid]
    merged = client.post(
        f"/api/v1/mpi/persons/{persons[there_pid]}/merge",
        json={"into": persons[here_pid], "reason": "同一人"},
        headers=auth_headers(Role.admin),
    )
    assert merged.status_code == 200, merged.text
    session.rollback()
    after = records.stored_by_keys(session, keys)[("Condition", there_cond)]
    assert after.person_id == persons[here_pid]  # the current link, not the filed person
    assert here_cond != there_cond
