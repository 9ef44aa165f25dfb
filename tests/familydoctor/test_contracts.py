"""Contracts: sign, family all-or-nothing, 409 if contracted elsewhere, dates, renew, end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.familydoctor.conftest import ADMIN, PersonFactory, SignFactory
from yilian.familydoctor import service
from yilian.familydoctor.models import Contract, KeyPopulation, Team
from yilian.familydoctor.schemas import EndIn, RenewIn
from yilian.kit.errors import Conflict, Forbidden
from yilian.registry.models import Organization
from yilian.security.models import CareRelationship
from yilian.security.principal import Principal, Role

Headers = Callable[..., dict[str, str]]


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Contract)) or 0


def test_sign_gives_an_active_contract_and_a_care_relationship(
    session: Session,
    make_person: PersonFactory,
    sign: SignFactory,
    team: Team,
    centre: Organization,
) -> None:
    pid = make_person()
    (contract,) = sign(pid, categories=["disabled"])
    found = service.active_contract(session, pid)
    assert found is not None and found.id == contract.id
    assert (found.organization_id, found.team_id) == (centre.id, team.id)
    assert found.doctor_member_id is not None  # the team's family doctor
    rel = session.scalars(select(CareRelationship).where(CareRelationship.person_id == pid)).one()
    assert (rel.kind, rel.organization_id) == ("contract", centre.id)
    cats = session.scalars(select(KeyPopulation.category).where(KeyPopulation.person_id == pid))
    assert set(cats) == {"disabled"}


def test_person_contracted_elsewhere_is_409_and_nothing_is_written(
    session: Session,
    make_person: PersonFactory,
    sign: SignFactory,
    other_team: Team,
) -> None:
    taken, free = make_person(), make_person()
    sign(taken, on_team=other_team)
    before = _count(session)
    with pytest.raises(
        Conflict, match="already has an active contract with 天山街道社区卫生服务中心"
    ):
        sign(free, taken)  # a family contract: the free member must not be signed either
    session.rollback()
    assert _count(session) == before
    assert service.active_contract(session, free) is None


def test_one_active_contract_per_person_is_enforced_by_the_database(
    session: Session,
    make_person: PersonFactory,
    sign: SignFactory,
    team: Team,
    centre: Organization,
) -> None:
    """Two requests that both pass the check: the partial unique index stops the second."""
    pid = make_person()
    sign(pid)
    session.add(
        Contract(
            person_id=pid,
            organization_id=centre.id,
            team_id=team.id,
            start=date.today(),
            end=date.today() + timedelta(days=30),
            status="active",
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_renew_then_end(session: Session, make_person: PersonFactory, sign: SignFactory) -> None:
    pid = make_person()
    (old,) = sign(pid)
    new = service.renew(session, ADMIN, old.id, RenewIn())
    session.commit()
    assert new.start == old.end + timedelta(days=1)
    assert old.status == "renewed"
    assert service.active_contract(session, pid).id == old.id  # the old term still covers today
    assert service.active_contract(session, pid, new.start).id == new.id
    with pytest.raises(Conflict):
        service.renew(session, ADMIN, old.id, RenewIn())
    session.rollback()
    ended = service.end_contract(session, ADMIN, new.id, EndIn(on=new.start, reason="迁出"))
    session.commit()
    assert ended.status == "ended"
    assert service.active_contract(session, pid, new.start) is None


def test_doctor_cannot_sign_for_another_centre(
    session: Session, make_person: PersonFactory, other_team: Team, doctor: Principal
) -> None:
    from yilian.familydoctor.schemas import ContractIn

    with pytest.raises(Forbidden):
        service.sign(
            session,
            doctor,
            ContractIn(person_ids=[make_person()], team_id=other_team.id, start=date.today()),
        )


# --- API -----------------------------------------------------------------------------


def _body(team: Team, *pids: str, **kw: object) -> dict[str, object]:
    return {"person_ids": list(pids), "team_id": team.id, "start": date.today().isoformat(), **kw}


def test_api_sign_and_409(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    make_person: PersonFactory,
    team: Team,
    other_team: Team,
    centre: Organization,
    other_centre: Organization,
) -> None:
    pid = make_person()
    h = auth_headers(Role.doctor, organization_id=centre.id)
    r = client.post("/api/v1/familydoctor/contracts", json=_body(team, pid), headers=h)
    assert r.status_code == 201, r.text
    assert r.json()[0]["organization_id"] == centre.id
    h2 = auth_headers(Role.doctor, organization_id=other_centre.id)
    r = client.post("/api/v1/familydoctor/contracts", json=_body(other_team, pid), headers=h2)
    assert r.status_code == 409
    assert "already has an active contract" in r.json()["error"]
    session.expire_all()
    assert _count(session) == 1


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"end": "2000-01-01"}, "end"),
        ({"start": "1900-01-01"}, "start"),  # before the person's birth
        ({"start": (date.today() + timedelta(days=800)).isoformat()}, "start"),
    ],
)
def test_api_refuses_dates_that_make_no_sense(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    make_person: PersonFactory,
    team: Team,
    extra: dict[str, str],
    field: str,
) -> None:
    pid = make_person(birth=date(1950, 1, 1))
    r = client.post(
        "/api/v1/familydoctor/contracts", json=_body(team, pid, **extra), headers=auth_headers()
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == field
    session.expire_all()
    assert _count(session) == 0


def test_api_refuses_bad_shapes(
    client: TestClient, auth_headers: Headers, make_person: PersonFactory, team: Team
) -> None:
    a, b = make_person(), make_person()
    r = client.post(
        "/api/v1/familydoctor/contracts", json=_body(team, a, b), headers=auth_headers()
    )
    assert r.status_code == 422  # two persons need kind 'family'
    r = client.post(
        "/api/v1/familydoctor/contracts",
        json=_body(team, a, kind="functional"),
        headers=auth_headers(),
    )
    assert r.status_code == 422  # a functional community needs its kind and name
    r = client.post(
        "/api/v1/familydoctor/contracts", json=_body(team, "nobody"), headers=auth_headers()
    )
    assert r.status_code == 404


def test_api_functional_community_and_1_1_1(
    client: TestClient,
    auth_headers: Headers,
    make_person: PersonFactory,
    team: Team,
    hospital: Organization,
    other_centre: Organization,
) -> None:
    pid = make_person()
    body = _body(
        team,
        pid,
        kind="functional",
        functional_kind="care_home",
        functional_name="虹桥养老院",
        city_hospital_id=hospital.id,
    )
    r = client.post("/api/v1/familydoctor/contracts", json=body, headers=auth_headers())
    assert r.status_code == 201, r.text
    assert r.json()[0]["city_hospital_id"] == hospital.id
    bad = _body(team, make_person(), district_hospital_id=other_centre.id)
    r = client.post("/api/v1/familydoctor/contracts", json=bad, headers=auth_headers())
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "district_hospital_id"


def test_api_renew_and_end(
    client: TestClient, auth_headers: Headers, make_person: PersonFactory, team: Team
) -> None:
    pid = make_person()
    r = client.post("/api/v1/familydoctor/contracts", json=_body(team, pid), headers=auth_headers())
    cid = r.json()[0]["id"]
    r = client.post(f"/api/v1/familydoctor/contracts/{cid}/renew", headers=auth_headers())
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["renewed_from_id"] == cid and new["status"] == "active"
    bad = {"on": "2000-01-01", "reason": "迁出"}
    r = client.post(
        f"/api/v1/familydoctor/contracts/{new['id']}/end", json=bad, headers=auth_headers()
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "on"
    ok = {"on": new["start"], "reason": "迁出"}
    r = client.post(
        f"/api/v1/familydoctor/contracts/{new['id']}/end", json=ok, headers=auth_headers()
    )
    assert r.status_code == 200 and r.json()["status"] == "ended"
    r = client.post(
        f"/api/v1/familydoctor/contracts/{new['id']}/end", json=ok, headers=auth_headers()
    )
    assert r.status_code == 409
    r = client.get("/api/v1/familydoctor/contracts/nope", headers=auth_headers())
    assert r.status_code == 404
