"""Projectors: Patient → roster (street, masked phone); Observation → abnormal result to act on."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.familydoctor.conftest import SignFactory
from tests.records.conftest import entry, new_idcard, patient, transaction
from yilian.familydoctor import service, worklists
from yilian.familydoctor.models import AbnormalResult, Resident
from yilian.kit.crypto import get_cipher
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry.models import Organization, Region
from yilian.security.principal import Principal, Role


def _obs(subject: str, ident: str, value: float, interp: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": "https://his.example/obs", "value": ident}],
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]
        },
        "subject": {"reference": subject},
        "effectiveDateTime": f"{date.today().isoformat()}T08:00:00+08:00",
        "valueQuantity": {"value": value, "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.9}, "high": {"value": 6.1}}],
    }
    if interp:
        res["interpretation"] = [{"coding": [{"code": interp}]}]
    return res


def _ingest(session: Session, org: Organization, *resources: dict[str, Any], urn: str) -> str:
    his = Principal(subject="his", name="HIS", role=Role.system, organization_id=org.id)
    out = records.ingest_bundle(
        session,
        his,
        transaction(
            *[entry(r, urn if r["resourceType"] == "Patient" else None) for r in resources]
        ),
    )
    session.commit()
    pid = patients.person_of_record(session, out["entry"][0]["response"]["location"].split("/")[1])
    assert pid
    return pid


def test_patient_and_abnormal_observation(
    session: Session, centre: Organization, street: Region, sign: SignFactory
) -> None:
    urn = f"urn:uuid:{uuid.uuid4()}"
    pat = patient(id_number=new_idcard("female"))
    pat["birthDate"] = "1950-02-03"
    pat["address"] = [
        {"use": "home", "text": "上海市长宁区新华路街道番禺路100弄3号", "district": "长宁区"}
    ]
    pat["telecom"] = [{"system": "phone", "value": "13912345678", "use": "mobile"}]
    ident = uuid.uuid4().hex[:12]
    pid = _ingest(
        session, centre, pat, _obs(urn, ident, 12.4), _obs(urn, uuid.uuid4().hex[:12], 5.0), urn=urn
    )
    row = session.get(Resident, pid)
    assert row is not None
    assert (row.birth_date, row.street_region_id, row.phone_masked) == (
        date(1950, 2, 3),
        street.id,
        "139****5678",
    )
    assert row.phone_encrypted and "13912345678" not in row.phone_encrypted
    assert get_cipher().decrypt(row.phone_encrypted) == "13912345678"
    found = session.scalars(select(AbnormalResult).where(AbnormalResult.person_id == pid)).all()
    assert [(a.flag, a.value) for a in found] == [("H", 12.4)]  # the normal one wrote nothing
    # The contract comes later: the result still reaches the worklist.
    sign(pid)
    wl = worklists.build_worklist(session, organization_id=centre.id)
    assert any(i.kind == "abnormal" and i.person_id == pid for i in wl.items)
    # A corrected result (now normal) closes the item instead of adding one.
    _ingest(session, centre, pat, _obs(urn, ident, 5.5), urn=urn)
    session.expire_all()
    assert [
        a.status
        for a in session.scalars(select(AbnormalResult).where(AbnormalResult.person_id == pid))
    ] == ["superseded"]


def test_interpretation_wins_over_range(session: Session, centre: Organization) -> None:
    urn = f"urn:uuid:{uuid.uuid4()}"
    pat = patient(id_number=new_idcard())
    pid = _ingest(session, centre, pat, _obs(urn, uuid.uuid4().hex[:12], 5.0, "LL"), urn=urn)
    flags = session.scalars(
        select(AbnormalResult.flag).where(AbnormalResult.person_id == pid)
    ).all()
    assert flags == ["LL"]


def test_chronic_followups_reach_the_worklist(
    session: Session, centre: Organization, sign: SignFactory
) -> None:
    """A hypertension Condition enrols the person in chronic; an overdue follow-up shows up."""
    urn = f"urn:uuid:{uuid.uuid4()}"
    pat = patient(id_number=new_idcard())
    cond = {
        "resourceType": "Condition",
        "identifier": [{"system": "https://his.example/cond", "value": uuid.uuid4().hex[:12]}],
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]},
        "subject": {"reference": urn},
        "recordedDate": "2024-01-01",
    }
    pid = _ingest(session, centre, pat, cond, urn=urn)
    if service.other_domain("yilian.chronic.service", "followups_due") is None:
        pytest.skip("the chronic domain is not there: its source gives nothing")
    assert service.enrolled_programmes(session, [pid]) == {pid: {"hypertension"}}
    sign(pid)
    wl = worklists.build_worklist(session, organization_id=centre.id)
    follow = [i for i in wl.items if i.kind == "followup" and i.person_id == pid]
    assert follow and follow[0].detail.startswith("hypertension")


def test_down_referral_received_reaches_the_worklist(
    session: Session,
    sign: SignFactory,
    centre: Organization,
    hospital: Organization,
) -> None:
    """A 下转 from the hospital to the centre shows up with the contracted person's team."""
    request = service.other_domain("yilian.referral.service", "request_referral")
    if request is None:
        pytest.skip("the referral domain is not there: its source gives nothing")
    urn = f"urn:uuid:{uuid.uuid4()}"
    pid = _ingest(session, hospital, patient(id_number=new_idcard()), urn=urn)
    (contract,) = sign(pid)
    specialist = Principal(
        subject="spec", name="spec", role=Role.specialist, organization_id=hospital.id
    )
    request(
        session,
        specialist,
        person_id=pid,
        direction="down",
        to_organization_id=centre.id,
        reason="病情稳定，下转社区随访",
        care_plan="氨氯地平 5mg qd，每月随访血压",
        from_organization_id=hospital.id,
    )
    session.commit()
    wl = worklists.build_worklist(session, organization_id=centre.id)
    (item,) = wl.of_kind("down_referral")
    assert (item.person_id, item.team_id) == (pid, contract.team_id)
    assert "下转社区随访" in item.detail
