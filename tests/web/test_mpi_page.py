"""The MPI review queue page: masked side-by-side records, confirm and reject, roles."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.test_pages import _sign_in
from yilian.audit.models import AuditEntry
from yilian.patients import service as patients
from yilian.patients.models import MatchReview
from yilian.registry.models import Organization
from yilian.security.principal import Role

PHONE = "13812345678"


def _patient(birth: str, *, phone: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": "https://his.example/mrn", "value": uuid.uuid4().hex[:10]}],
        "name": [{"use": "official", "text": "王秀英", "family": "王", "given": ["秀英"]}],
        "gender": "female",
        "birthDate": birth,
    }
    if phone:
        res["telecom"] = [{"system": "phone", "value": phone}]
    return res


def _review_pair(
    client: TestClient,
    auth_headers: Callable[..., dict[str, str]],
    make_org: Callable[..., Organization],
) -> tuple[str, str]:
    ids = []
    # Day and month swapped at the second registration: probable, not certain.
    for birth, phone in (("1961-04-12", PHONE), ("1961-04-21", None)):
        org = make_org()
        headers = auth_headers(Role.system, organization_id=org.id, subject=f"his-{org.code}")
        resp = client.post("/fhir/Patient", json=_patient(birth, phone=phone), headers=headers)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    return ids[0], ids[1]


def test_reviewer_confirms_a_probable_match_on_the_page(
    client: TestClient,
    session: Session,
    auth_headers: Callable[..., dict[str, str]],
    make_org: Callable[..., Organization],
) -> None:
    first, second = _review_pair(client, auth_headers, make_org)
    _sign_in(client, session, "reviewer", Role.admin)
    page = client.get("/ui/mpi/reviews")
    assert page.status_code == 200
    assert "主索引人工审核队列" in page.text and "待审核 1 条" in page.text
    assert "王*英" in page.text and "138****5678" in page.text
    assert "王秀英" not in page.text and PHONE not in page.text
    review = session.execute(select(MatchReview)).scalar_one()
    resp = client.post(
        f"/ui/mpi/reviews/{review.id}/confirm",
        data={"reason": "电话与出生日期核对一致"},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"].endswith("done=confirmed")
    session.expire_all()
    assert patients.person_of_record(session, first) == patients.person_of_record(session, second)
    assert "没有待审核的记录" in client.get("/ui/mpi/reviews").text
    actions = session.execute(select(AuditEntry.action)).scalars().all()
    assert any(a.startswith("mpi.review") for a in actions), actions
    # Deciding it twice is refused with the reason on the page, not a stack trace.
    again = client.post(f"/ui/mpi/reviews/{review.id}/reject", data={"reason": "x"})
    assert again.status_code == 200 and 'data-testid="mpi-error"' in again.text


def test_reject_keeps_records_apart_and_other_roles_are_refused(
    client: TestClient,
    session: Session,
    auth_headers: Callable[..., dict[str, str]],
    make_org: Callable[..., Organization],
) -> None:
    first, second = _review_pair(client, auth_headers, make_org)
    _sign_in(client, session, "cdc-user", Role.cdc, make_org().id)
    assert client.get("/ui/mpi/reviews").status_code == 403
    review = session.execute(select(MatchReview)).scalar_one()
    assert client.post(f"/ui/mpi/reviews/{review.id}/reject").status_code == 403
    client.cookies.clear()
    _sign_in(client, session, "doctor-user", Role.doctor, make_org().id)
    resp = client.post(f"/ui/mpi/reviews/{review.id}/reject", data={"reason": "不是同一人"})
    assert resp.status_code == 200 and "已拒绝" in resp.text
    session.expire_all()
    assert patients.person_of_record(session, first) != patients.person_of_record(session, second)
