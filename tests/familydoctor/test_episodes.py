"""Contracts sent as FHIR EpisodeOfCare: signed, renewed, ended, idempotent, or an issue."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.familydoctor.conftest import ADMIN, SignFactory, _team
from tests.records.conftest import entry, new_idcard, patient, transaction
from yilian.familydoctor import episodes, service
from yilian.familydoctor.models import Contract, EpisodeIssue, Team
from yilian.familydoctor.schemas import EndIn
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.records.models import FhirResource
from yilian.registry import service as registry
from yilian.registry.fhir import SID_LICENSE, SID_ORG_CODE
from yilian.registry.models import Organization, Region
from yilian.registry.schemas import PractitionerCreate
from yilian.security.principal import Principal, Role

TYPE = "https://yilian.example/CodeSystem/episode-type"
COMBINATION = "https://yilian.example/StructureDefinition/contract-combination"
Headers = Callable[..., dict[str, str]]


def _episode(
    subject: str,
    number: str,
    centre: Organization,
    start: date,
    end: date,
    *,
    license_no: str | None = None,
    status: str = "active",
    combination: tuple[Organization, ...] = (),
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "identifier": [{"system": f"https://his.example/contract/{centre.code}", "value": number}],
        "status": status,
        "type": [{"coding": [{"system": TYPE, "code": "family-doctor-contract"}]}],
        "patient": {"reference": subject},
        "managingOrganization": {"identifier": {"system": SID_ORG_CODE, "value": centre.code}},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
    }
    if license_no:
        res["careManager"] = {"identifier": {"system": SID_LICENSE, "value": license_no}}
    if combination:
        res["extension"] = [
            {"url": COMBINATION,
             "valueReference": {"identifier": {"system": SID_ORG_CODE, "value": o.code}}}
            for o in combination
        ]  # fmt: skip
    return res


def _send(session: Session, org: Organization, *resources: dict[str, Any]) -> dict[str, Any]:
    his = Principal(subject="his", name="HIS", role=Role.system, organization_id=org.id)
    out = records.ingest_bundle(
        session,
        his,
        transaction(
            *[
                entry(r, r.pop("_urn", None) if r["resourceType"] == "Patient" else None)
                for r in resources
            ]
        ),
    )
    session.commit()
    return out


def _new_person(session: Session, org: Organization) -> tuple[str, str]:
    """A Patient sent by ``org``: (person id, its ``Patient/<id>`` reference)."""
    pat = patient(id_number=new_idcard("female"))
    pat["birthDate"] = "1948-06-01"
    pat["_urn"] = f"urn:uuid:{uuid.uuid4()}"
    out = _send(session, org, pat)
    patient_id = out["entry"][0]["response"]["location"].split("/")[1]
    person = patients.person_of_record(session, patient_id)
    assert person
    return person, f"Patient/{patient_id}"


@pytest.fixture
def doctor_license(session: Session, team: Team) -> str:
    """The team's family doctor as a registry practitioner with a licence number."""
    license_no = f"LIC{uuid.uuid4().hex[:10]}"
    gp = registry.create_practitioner(
        session, PractitionerCreate(name="王医生", license_no=license_no)
    )
    service.add_member(session, team, "family_doctor", "王医生", practitioner_id=gp.id)
    session.commit()
    return license_no


def _contracts(session: Session, person: str) -> list[Contract]:
    session.expire_all()
    return list(
        session.scalars(
            select(Contract).where(Contract.person_id == person).order_by(Contract.start)
        )
    )


def test_episode_signs_then_renews_idempotently(
    session: Session,
    centre: Organization,
    team: Team,
    doctor_license: str,
    make_org: Callable[..., Organization],
    make_region: Callable[..., Region],
) -> None:
    """A term → a contract with the doctor's team and the "1+1+1"; the next term renews it."""
    city = make_region(name="上海市", level="city")
    city_hospital = make_org(name="瑞金医院", type="tertiary_hospital", region=city)
    district = make_region(name="长宁区", level="district", parent=city)
    district_hospital = make_org(name="同仁医院", type="secondary_hospital", region=district)
    person, ref = _new_person(session, centre)
    today = service.today()
    start = today - timedelta(days=100)
    end = start + timedelta(days=364)
    first = _episode(ref, "C-1", centre, start, end, license_no=doctor_license,
                     combination=(district_hospital, city_hospital))  # fmt: skip
    _send(session, centre, first)
    (c,) = _contracts(session, person)
    assert (c.organization_id, c.team_id, c.status, c.start, c.end) == (
        centre.id, team.id, "active", start, end)  # fmt: skip
    assert (c.source, c.source_ref.startswith("EpisodeOfCare/")) == ("fhir", True)
    assert (c.district_hospital_id, c.city_hospital_id) == (district_hospital.id, city_hospital.id)
    assert service.active_contract(session, person).id == c.id  # type: ignore[union-attr]
    # The same episode sent again: the same contract, nothing added.
    _send(session, centre, _episode(ref, "C-1", centre, start, end, license_no=doctor_license))
    assert [x.id for x in _contracts(session, person)] == [c.id]
    # The next term (续约): the first is 'renewed' and still covers today; the new one follows.
    nxt = _episode(ref, "C-2", centre, end + timedelta(days=1), end + timedelta(days=365),
                   license_no=doctor_license)  # fmt: skip
    _send(session, centre, nxt)
    old, new = _contracts(session, person)
    assert (old.status, new.status, new.renewed_from_id) == ("renewed", "active", old.id)
    assert service.active_contract(session, person).id == old.id  # type: ignore[union-attr]
    assert service.active_contract(session, person, new.start).id == new.id  # type: ignore[union-attr]
    # The HIS ends the new term (finished): it ends on its period's end.
    _send(session, centre, _episode(ref, "C-2", centre, end + timedelta(days=1),
                                    end + timedelta(days=200), status="finished"))  # fmt: skip
    old, new = _contracts(session, person)
    assert (new.status, new.end) == ("ended", end + timedelta(days=200))
    assert session.scalar(select(func.count()).select_from(EpisodeIssue)) == 0


def test_entered_in_error_voids_the_contract(
    session: Session, centre: Organization, team: Team, doctor_license: str
) -> None:
    person, ref = _new_person(session, centre)
    start = service.today() - timedelta(days=10)
    _send(session, centre, _episode(ref, "E-1", centre, start, start + timedelta(days=364),
                                    license_no=doctor_license))  # fmt: skip
    assert service.active_contract(session, person) is not None
    _send(session, centre, _episode(ref, "E-1", centre, start, start + timedelta(days=364),
                                    status="entered-in-error"))  # fmt: skip
    (c,) = _contracts(session, person)
    assert c.status == "ended" and "entered-in-error" in (c.ended_reason or "")
    assert service.active_contract(session, person) is None


def test_contract_elsewhere_is_an_issue_not_a_refused_bundle(
    session: Session,
    client: TestClient,
    auth_headers: Headers,
    centre: Organization,
    other_centre: Organization,
    team: Team,
    other_team: Team,
    doctor_license: str,
    sign: SignFactory,
) -> None:
    """The person is under contract at another centre: nothing signed, the reason recorded.

    The bundle is stored (the episode is the centre's record); the centre sees the issue
    and, once the other contract has ended, replays it.
    """
    person, ref = _new_person(session, centre)
    (elsewhere,) = sign(person, on_team=other_team)
    start = service.today()
    out = _send(session, centre, _episode(ref, "X-1", centre, start, start + timedelta(days=364),
                                          license_no=doctor_license))  # fmt: skip
    assert out["entry"][0]["response"]["status"].startswith("201")
    assert session.scalar(
        select(func.count()).select_from(FhirResource).where(
            FhirResource.resource_type == "EpisodeOfCare")
    ) == 1  # fmt: skip
    assert [c.id for c in _contracts(session, person)] == [elsewhere.id]
    (issue,) = session.scalars(select(EpisodeIssue)).all()
    assert (issue.reason_code, issue.status, issue.organization_id) == (
        "active_elsewhere", "open", centre.id)  # fmt: skip
    assert other_centre.name in issue.reason and issue.person_id == person
    # The centre's doctor sees it; another centre's does not; a specialist may not look.
    r = client.get("/api/v1/familydoctor/episode-issues",
                   headers=auth_headers(Role.doctor, organization_id=centre.id))  # fmt: skip
    assert r.status_code == 200 and [i["reason_code"] for i in r.json()] == ["active_elsewhere"]
    r = client.get("/api/v1/familydoctor/episode-issues",
                   headers=auth_headers(Role.doctor, organization_id=other_centre.id))  # fmt: skip
    assert r.status_code == 200 and r.json() == []
    r = client.get("/api/v1/familydoctor/episode-issues", headers=auth_headers(Role.specialist,
                   organization_id=centre.id))  # fmt: skip
    assert r.status_code == 403
    # Replaying while the other contract still runs changes nothing.
    assert episodes.replay(session, ADMIN) == (0, 1)
    # The other centre ends its contract (解约); the replay now signs at this centre.
    service.end_contract(session, ADMIN, elsewhere.id, EndIn(on=start, reason="moved"))
    session.commit()
    r = client.post("/api/v1/familydoctor/episode-issues/replay",
                    headers=auth_headers(Role.doctor, organization_id=centre.id))  # fmt: skip
    assert r.status_code == 200 and r.json() == {"taken": 1, "still_open": 0}
    session.expire_all()
    now = service.active_contract(session, person, start + timedelta(days=1))
    assert now is not None and (now.organization_id, now.source) == (centre.id, "fhir")
    assert session.get(EpisodeIssue, issue.id).status == "resolved"  # type: ignore[union-attr]


def test_no_team_for_the_care_manager_then_replay(
    session: Session, centre: Organization, team: Team
) -> None:
    """Two teams and an unknown care manager: no team can be chosen until the doctor joins."""
    second = _team(session, centre, "李医生团队")
    person, ref = _new_person(session, centre)
    license_no = f"LIC{uuid.uuid4().hex[:10]}"
    gp = registry.create_practitioner(
        session, PractitionerCreate(name="李医生", license_no=license_no)
    )
    session.commit()
    start = service.today() - timedelta(days=5)
    _send(session, centre, _episode(ref, "T-1", centre, start, start + timedelta(days=364),
                                    license_no=license_no))  # fmt: skip
    assert _contracts(session, person) == []
    (issue,) = session.scalars(select(EpisodeIssue)).all()
    assert issue.reason_code == "no_team" and centre.name in issue.reason
    service.add_member(session, second, "family_doctor", "李医生", practitioner_id=gp.id)
    session.commit()
    assert episodes.replay(session, ADMIN) == (1, 0)
    (c,) = _contracts(session, person)
    assert (c.team_id, c.doctor_practitioner_id) == (second.id, gp.id)
    assert team.id != second.id


def test_bad_periods_and_other_episodes(
    session: Session, centre: Organization, team: Team, doctor_license: str
) -> None:
    """An end before the start is an issue; an episode of another type is none of ours."""
    person, ref = _new_person(session, centre)
    start = service.today()
    _send(session, centre, _episode(ref, "B-1", centre, start, start - timedelta(days=3),
                                    license_no=doctor_license))  # fmt: skip
    other = _episode(ref, "B-2", centre, start, start + timedelta(days=30))
    other["type"] = [{"coding": [{"system": TYPE, "code": "home-hospital-bed"}]}]
    _send(session, centre, other)
    assert _contracts(session, person) == []
    (issue,) = session.scalars(select(EpisodeIssue)).all()
    assert issue.reason_code == "bad_period" and "end" in issue.reason
