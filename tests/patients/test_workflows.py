"""MPI workflows: the review queue (人工审核), merge and unmerge, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import _clear
from yilian.app import create_app
from yilian.audit import service as audit
from yilian.audit.models import AuditEntry
from yilian.config import Settings, get_settings
from yilian.kit.errors import Conflict, NotFound, Unprocessable
from yilian.patients import service
from yilian.patients.commands import link
from yilian.patients.endpoints import router as mpi_router
from yilian.patients.models import (
    LINK_MANUAL,
    LINK_REVIEW,
    REVIEW_OPEN,
    MatchReview,
    Person,
    PersonRecord,
)
from yilian.registry.models import Organization
from yilian.security.principal import Principal, Role

HeaderFactory = Callable[..., dict[str, str]]
INSURANCE = "SH20240001"
PHONE = "13812345678"
ADMIN = Principal(subject="admin-1", name="admin", role=Role.admin, organization_id=None)


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[FastAPI]:
    """The application with the MPI router mounted first, as the lead will wire it."""
    application = create_app(settings)
    if not any(getattr(r, "path", "").startswith("/api/v1/mpi") for r in application.routes):
        before = len(application.router.routes)
        application.include_router(mpi_router)
        added = application.router.routes[before:]
        del application.router.routes[before:]
        application.router.routes[:0] = added
    yield application
    application.state.engine.dispose()
    _clear(engine)


def _patient(
    name: str, birth: str, *, phone: str | None = None, insurance: str | None = None
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": "https://his.example/mrn", "value": uuid.uuid4().hex[:10]}],
        "name": [{"use": "official", "text": name, "family": name[0], "given": [name[1:]]}],
        "gender": "female",
        "birthDate": birth,
    }
    if phone:
        res["telecom"] = [{"system": "phone", "value": phone}]
    if insurance:
        res["identifier"].append({"system": service.SID_INSURANCE_CARD, "value": insurance})
    return res


def _post(client: TestClient, headers: dict[str, str], patient: dict[str, Any]) -> str:
    resp = client.post("/fhir/Patient", json=patient, headers=headers)
    assert resp.status_code in (200, 201), resp.text
    return str(resp.json()["id"])


@pytest.fixture
def review_pair(
    client: TestClient,
    session: Session,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
) -> tuple[str, str]:
    """Two Patients of two institutions the matcher is unsure about: (first, second) ids."""
    a, b = make_org(), make_org()
    first = _post(
        client,
        auth_headers(Role.system, organization_id=a.id, subject="his-a"),
        _patient("王秀英", "1961-04-12", phone=PHONE, insurance=INSURANCE),
    )
    # Day and month digits swapped at registration: probable, not certain.
    second = _post(
        client,
        auth_headers(Role.system, organization_id=b.id, subject="his-b"),
        _patient("王秀英", "1961-04-21"),
    )
    return first, second


def _person(session: Session, resource_id: str) -> str:
    session.expire_all()
    found = service.person_of_record(session, resource_id)
    assert found is not None
    return found


def test_probable_match_is_queued_with_masked_demographics(
    client: TestClient, session: Session, auth_headers: HeaderFactory, review_pair: tuple[str, str]
) -> None:
    first, second = review_pair
    assert _person(session, first) != _person(session, second)
    record = session.execute(
        select(PersonRecord).where(PersonRecord.resource_id == second)
    ).scalar_one()
    assert record.link_status == LINK_REVIEW
    resp = client.get("/api/v1/mpi/reviews", headers=auth_headers(Role.doctor))
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert page["total"] == 1
    item = page["items"][0]
    assert item["status"] == REVIEW_OPEN and 0.5 <= item["probability"] < 0.99
    assert item["record"]["resource_id"] == second
    assert item["record"]["patient"]["name"] == "王*英"
    assert item["candidate"]["person_id"] == _person(session, first)
    (cand,) = item["candidate"]["patients"]
    assert cand["phone"] == "138****5678"
    assert cand["identifiers"] == [{"kind": "insurance", "value": "SH2***0001"}]
    assert PHONE not in resp.text and INSURANCE not in resp.text and "王秀英" not in resp.text


def test_confirm_links_the_record_and_is_audited(
    client: TestClient, session: Session, auth_headers: HeaderFactory, review_pair: tuple[str, str]
) -> None:
    first, second = review_pair
    provisional = _person(session, second)
    review_id = client.get("/api/v1/mpi/reviews", headers=auth_headers()).json()["items"][0]["id"]
    url = f"/api/v1/mpi/reviews/{review_id}/confirm"
    resp = client.post(url, json={"reason": "同一人"}, headers=auth_headers(Role.doctor))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "confirmed" and resp.json()["decided_by"] == "test-user"
    assert _person(session, second) == _person(session, first)
    # The provisional person's id now redirects to the candidate.
    assert service.current_person_id(session, provisional) == _person(session, first)
    again = client.post(url, json={}, headers=auth_headers())
    assert again.status_code == 409
    reject = client.post(f"/api/v1/mpi/reviews/{review_id}/reject", json={}, headers=auth_headers())
    assert reject.status_code == 409
    actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert "mpi.review.confirm" in actions and "mpi.merge" in actions
    assert client.get("/api/v1/mpi/reviews", headers=auth_headers()).json()["total"] == 0


def test_reject_keeps_the_record_apart(
    client: TestClient, session: Session, auth_headers: HeaderFactory, review_pair: tuple[str, str]
) -> None:
    first, second = review_pair
    review_id = client.get("/api/v1/mpi/reviews", headers=auth_headers()).json()["items"][0]["id"]
    resp = client.post(f"/api/v1/mpi/reviews/{review_id}/reject", json={}, headers=auth_headers())
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "rejected"
    assert _person(session, first) != _person(session, second)
    record = session.execute(
        select(PersonRecord).where(PersonRecord.resource_id == second)
    ).scalar_one()
    assert record.link_status == LINK_MANUAL
    assert "mpi.review.reject" in session.execute(select(AuditEntry.action)).scalars().all()


def test_review_api_needs_a_reviewer_role(
    client: TestClient, auth_headers: HeaderFactory, make_org: Callable[..., Organization]
) -> None:
    org = make_org()
    headers = auth_headers(Role.system, organization_id=org.id)
    assert client.get("/api/v1/mpi/reviews", headers=headers).status_code == 403
    assert client.get("/api/v1/mpi/reviews").status_code == 401
    missing = client.post("/api/v1/mpi/reviews/nope/confirm", json={}, headers=auth_headers())
    assert missing.status_code == 404


# ------------------------------------------------------------------------ merge


def _resolve(session: Session, insurance: str) -> str:
    body = _patient("李娜", "1975-03-08", insurance=insurance) | {"id": uuid.uuid4().hex}
    return service.resolve_patient(session, body, None)


def _records(session: Session, person_id: str) -> set[str]:
    stmt = select(PersonRecord.id).where(PersonRecord.person_id == person_id)
    return set(session.execute(stmt).scalars())


def test_merge_moves_records_and_unmerge_restores_exactly(session: Session) -> None:
    keep = _resolve(session, "INS-KEEP-1")
    _resolve(session, "INS-KEEP-1")
    gone = _resolve(session, "INS-GONE-1")
    _resolve(session, "INS-GONE-1")
    before_keep, before_gone = _records(session, keep), _records(session, gone)
    assert len(before_gone) == 2

    service.merge(session, ADMIN, gone, into=keep, reason="duplicate")
    assert _records(session, keep) == before_keep | before_gone
    assert _records(session, gone) == set()
    assert service.current_person_id(session, gone) == keep
    # A later record with the merged person's identifier joins the survivor.
    assert _resolve(session, "INS-GONE-1") == keep

    service.unmerge(session, ADMIN, gone, reason="different people")
    assert _records(session, gone) == before_gone
    assert service.current_person_id(session, gone) == gone
    assert session.get(Person, gone).merged_into is None  # type: ignore[union-attr]
    actions = [e.action for e in audit.pending(session)]
    assert actions.count("mpi.merge") == 1 and actions.count("mpi.unmerge") == 1


def test_merge_refuses_self_merged_and_chained(session: Session) -> None:
    a, b, c = (_resolve(session, f"INS-{n}") for n in "ABC")
    with pytest.raises(Unprocessable):
        service.merge(session, ADMIN, a, into=a, reason="x")
    with pytest.raises(NotFound):
        service.merge(session, ADMIN, a, into="nobody", reason="x")
    service.merge(session, ADMIN, a, into=b, reason="x")
    with pytest.raises(Conflict):  # already merged
        service.merge(session, ADMIN, a, into=c, reason="x")
    with pytest.raises(Conflict):  # into a merged person (and so no cycle b → a → b)
        service.merge(session, ADMIN, b, into=a, reason="x")
    with pytest.raises(Conflict):
        service.unmerge(session, ADMIN, c, reason="not merged")
    service.merge(session, ADMIN, b, into=c, reason="x")
    assert service.current_person_id(session, a) == c
    with pytest.raises(Conflict):  # b moved on with a's records: undo b first
        service.unmerge(session, ADMIN, a, reason="x")
    service.unmerge(session, ADMIN, b, reason="x")
    service.unmerge(session, ADMIN, a, reason="x")
    assert {service.current_person_id(session, p) for p in (a, b, c)} == {a, b, c}
    with pytest.raises(NotFound):
        service.current_person_id(session, "nobody")


def test_merge_api(client: TestClient, session: Session, auth_headers: HeaderFactory) -> None:
    keep, gone = _resolve(session, "INS-API-1"), _resolve(session, "INS-API-2")
    session.commit()
    headers = auth_headers(Role.doctor)
    url = f"/api/v1/mpi/persons/{gone}"
    resp = client.post(f"{url}/merge", json={"into": keep, "reason": "重复建档"}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["into_person_id"] == keep
    read = client.get(url, headers=headers).json()
    assert read == {"id": keep, "requested_id": gone, "merged": True}
    again = client.post(f"{url}/merge", json={"into": keep, "reason": "x"}, headers=headers)
    assert again.status_code == 409
    self_merge = client.post(
        f"/api/v1/mpi/persons/{keep}/merge", json={"into": keep, "reason": "x"}, headers=headers
    )
    assert self_merge.status_code == 422
    resp = client.post(f"{url}/unmerge", json={"reason": "误合并"}, headers=headers)
    assert resp.status_code == 200 and resp.json()["unmerged_at"] is not None
    assert client.get(url, headers=headers).json()["merged"] is False
    assert client.get("/api/v1/mpi/persons/nobody", headers=headers).status_code == 404
    actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert actions.count("mpi.merge") == 1 and actions.count("mpi.unmerge") == 1
    assert session.execute(select(MatchReview)).first() is None


# ------------------------------------------------------------------- yilian link


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[None]:
    monkeypatch.setenv("YILIAN_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run_link(*args: str) -> str:
    cli = typer.Typer()
    cli.command()(link)
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_link_relinks_an_ingested_store_keeping_person_ids(
    client: TestClient,
    session: Session,
    auth_headers: HeaderFactory,
    make_org: Callable[..., Organization],
    cli_env: None,
) -> None:
    a, b = make_org(), make_org()
    his_a = auth_headers(Role.system, organization_id=a.id, subject="his-a")
    his_b = auth_headers(Role.system, organization_id=b.id, subject="his-b")
    first = _post(client, his_a, _patient("王秀英", "1961-04-12", phone=PHONE, insurance=INSURANCE))
    second = _post(client, his_b, _patient("王秀英", "1961-04-12", insurance=INSURANCE))
    third = _post(client, his_b, _patient("王秀英", "1961-04-12", phone=PHONE))
    stranger = _post(client, his_a, _patient("赵敏", "1990-01-01", phone="13900001111"))
    person, other = _person(session, first), _person(session, stranger)
    assert {_person(session, r) for r in (second, third)} == {person}
    # A store linked by an older model: one of the person's records stands alone.
    split = Person()
    session.add(split)
    session.flush()
    record = session.execute(
        select(PersonRecord).where(PersonRecord.resource_id == third)
    ).scalar_one()
    record.person_id = split.id
    session.commit()

    line = _run_link("--dry-run")
    assert line.startswith("dry run: would re-link 4 records into 2 persons: 1 moved")
    assert _person(session, third) == split.id

    line = _run_link()
    assert line.startswith("re-linked 4 records into 2 persons: 1 moved, 0 new persons, 1 persons")
    assert {_person(session, r) for r in (first, second, third)} == {person}
    assert _person(session, stranger) == other
    assert service.current_person_id(session, split.id) == person
    assert "mpi.relink" in session.execute(select(AuditEntry.action)).scalars().all()
    # Reversible like any merge, and a second run changes nothing.
    service.unmerge(session, ADMIN, split.id, reason="check")
    session.rollback()
    assert _run_link().startswith("re-linked 4 records into 2 persons: 0 moved")


def test_link_refuses_bad_thresholds(cli_env: None) -> None:
    cli = typer.Typer()
    cli.command()(link)
    result = CliRunner().invoke(cli, ["--link-threshold", "0.3", "--review-threshold", "0.6"])
    assert result.exit_code == 1 and "thresholds must satisfy" in result.output
