"""Search: patient, code, date, category, identifier, organization, Chinese names, paging."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.records.conftest import (
    LOINC,
    OBS_CATEGORY,
    encounter,
    entry,
    new_idcard,
    observation,
    patient,
    transaction,
)
from yilian.registry.models import Organization


@pytest.fixture
def stored(client: TestClient, system_headers: dict[str, str]) -> dict[str, Any]:
    """Two patients: 张伟 with three observations over 2024, 欧阳娜娜 with one."""
    urn1, urn2 = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    bundle = transaction(
        entry(patient(family="张", given="伟", id_number=new_idcard(), mrn="MRN-S1"), urn1),
        entry(patient(family="欧阳", given="娜娜", id_number=new_idcard("female")), urn2),
        entry(encounter(urn1)),
        entry(observation(urn1, code="718-7", when="2024-01-15T08:00:00+08:00")),
        entry(observation(urn1, code="718-7", when="2024-06-15T08:00:00+08:00")),
        entry(observation(urn1, code="2345-7", when="2024-12-31T23:30:00+08:00")),
        entry(observation(urn2, code="718-7", when="2024-06-20", ident="OBS-NANA")),
    )
    resp = client.post("/fhir", json=bundle, headers=system_headers)
    assert resp.status_code == 200, resp.text
    locs = [e["response"]["location"].split("/")[1] for e in resp.json()["entry"]]
    return {"zhang": locs[0], "nana": locs[1]}


def _search(client: TestClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    resp = client.get(f"/fhir/{query}", headers=headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["type"] == "searchset"
    return body


def _ids(body: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in body["entry"] if e["search"]["mode"] == mode]


def test_by_patient_code_and_date(
    client: TestClient, system_headers: dict[str, str], stored: dict[str, str]
) -> None:
    zhang = stored["zhang"]
    body = _search(client, system_headers, f"Observation?patient={zhang}")
    assert body["total"] == 3
    # Newest first.
    dates = [e["resource"]["effectiveDateTime"] for e in body["entry"]]
    assert dates == sorted(dates, reverse=True)
    assert _search(client, system_headers, f"Observation?subject=Patient/{zhang}")["total"] == 3
    body = _search(client, system_headers, f"Observation?patient={zhang}&code={LOINC}|718-7")
    assert body["total"] == 2
    assert _search(client, system_headers, f"Observation?patient={zhang}&code=2345-7")["total"] == 1
    other_system = _search(client, system_headers, f"Observation?patient={zhang}&code=x|718-7")
    assert other_system["total"] == 0
    ranged = _search(
        client, system_headers, f"Observation?patient={zhang}&date=ge2024-02-01&date=le2024-12-31"
    )
    assert ranged["total"] == 2  # the 31 December (local time) one is in range
    assert (
        _search(client, system_headers, f"Observation?patient={zhang}&date=2024-06")["total"] == 1
    )
    assert _search(client, system_headers, f"Observation?patient={zhang}&date=lt2024")["total"] == 0
    category = f"Observation?patient={zhang}&category={OBS_CATEGORY}|laboratory"
    assert _search(client, system_headers, category)["total"] == 3


def test_identifier_organization_and_include(
    client: TestClient,
    system_headers: dict[str, str],
    stored: dict[str, str],
    org: Organization,
) -> None:
    body = _search(
        client, system_headers, "Observation?identifier=https://his.example/obs|OBS-NANA"
    )
    assert body["total"] == 1
    body = _search(client, system_headers, "Patient?identifier=MRN-S1")
    assert _ids(body) == [stored["zhang"]]
    body = _search(
        client,
        system_headers,
        f"Observation?patient={stored['nana']}&organization=Organization/{org.id}"
        "&_include=Observation:patient",
    )
    assert body["total"] == 1
    assert _ids(body, "include") == [stored["nana"]]
    assert _search(client, system_headers, "Encounter?organization=nowhere")["total"] == 0


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("张伟", "zhang"),
        ("张", "zhang"),
        ("zhangwei", "zhang"),
        ("Zhang Wei", "zhang"),
        ("欧阳娜娜", "nana"),
        ("ouyangnana", "nana"),
        ("欧阳", "nana"),
    ],
)
def test_patient_by_chinese_name_and_pinyin(
    client: TestClient,
    system_headers: dict[str, str],
    stored: dict[str, str],
    query: str,
    who: str,
) -> None:
    body = _search(client, system_headers, f"Patient?name={query}")
    assert _ids(body) == [stored[who]]


def test_paging(client: TestClient, system_headers: dict[str, str], stored: dict[str, str]) -> None:
    first = _search(client, system_headers, f"Observation?patient={stored['zhang']}&_count=2")
    assert first["total"] == 3 and len(first["entry"]) == 2
    relations = {link["relation"]: link["url"] for link in first["link"]}
    assert "_offset=2" in relations["next"]
    second = _search(
        client, system_headers, f"Observation?patient={stored['zhang']}&_count=2&_offset=2"
    )
    assert len(second["entry"]) == 1
    assert not {e["resource"]["id"] for e in first["entry"]} & {
        e["resource"]["id"] for e in second["entry"]
    }


@pytest.mark.parametrize(
    ("query", "expression"),
    [
        ("Observation?colour=red", "colour"),
        ("Observation?code:text=x", "code:text"),
        ("Observation?date=xx2024", "date"),
        ("Observation?date=sa2024-01-01", "date"),
        ("Observation?_count=abc", "_count"),
        ("Observation?_count=100000", "_count"),
        ("Observation?_include=Encounter:patient", "_include"),
        ("Patient?patient=1", "patient"),
    ],
)
def test_bad_search_parameters_are_400(
    client: TestClient, system_headers: dict[str, str], query: str, expression: str
) -> None:
    resp = client.get(f"/fhir/{query}", headers=system_headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["issue"][0]["expression"] == [expression]


def test_search_refuses_persons_without_access(
    client: TestClient,
    stored: dict[str, str],
    auth_headers: Any,
    other_org: Organization,
) -> None:
    from yilian.security.principal import Role

    stranger = auth_headers(Role.doctor, organization_id=other_org.id)
    resp = client.get(f"/fhir/Observation?patient={stored['zhang']}", headers=stranger)
    assert resp.status_code == 403
    # A search that finds nothing discloses nothing and needs no access.
    resp = client.get("/fhir/Observation?patient=nobody", headers=stranger)
    assert resp.status_code == 200 and resp.json()["total"] == 0


def test_a_search_spanning_persons_leaves_out_those_the_reader_may_not_see(
    client: TestClient,
    system_headers: dict[str, str],
    stored: dict[str, str],
    auth_headers: Any,
    other_org: Organization,
) -> None:
    """The other institution sees its own patient's result, not the two it does not treat."""
    from yilian.security.principal import Role

    their_system = auth_headers(Role.system, organization_id=other_org.id, subject="his-other")
    urn = f"urn:uuid:{uuid.uuid4()}"
    bundle = transaction(
        entry(patient(family="李", given="娜", id_number=new_idcard("female")), urn),
        entry(observation(urn, code="718-7", when="2024-07-01", ident="OBS-LI")),
    )
    assert client.post("/fhir", json=bundle, headers=their_system).status_code == 200
    their_doctor = auth_headers(Role.doctor, organization_id=other_org.id)
    body = _search(client, their_doctor, f"Observation?code={LOINC}|718-7")
    matches = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "match"]
    assert [m["identifier"][0]["value"] for m in matches] == ["OBS-LI"]
    (note,) = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert note["resourceType"] == "OperationOutcome"
    assert note["issue"][0]["code"] == "suppressed"
    assert note["issue"][0]["diagnostics"].startswith("3 result(s)")
    # The first institution sees its own two persons' three results, and not 李娜's.
    ours = _search(client, system_headers, f"Observation?code={LOINC}|718-7")
    assert len(_ids(ours)) == 3 and "OBS-LI" not in str(ours["entry"])
    (ours_note,) = [e["resource"] for e in ours["entry"] if e["search"]["mode"] == "outcome"]
    assert ours_note["issue"][0]["diagnostics"].startswith("1 result(s)")
