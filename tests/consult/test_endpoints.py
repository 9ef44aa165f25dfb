"""The consultation API: the workflow, and bad input refused with a clear 4xx, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.consult.conftest import World
from yilian.audit.models import AuditEntry
from yilian.consult.models import (
    ConsultCase,
    ConsultEvent,
    ConsultInvitation,
    ConsultItem,
    ConsultOpinion,
)
from yilian.records.models import FhirResource
from yilian.security.models import User

Hdr = Callable[[User], dict[str, str]]
API = "/api/v1/consult/cases"


def _body(w: World, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_type": "rr_tb_joint",
        "title": "耐药肺结核疑难病例讨论",
        "summary": "MDR-TB，治疗失败",
        "person_id": w.person,
        "items": w.items[1:3],
        "questions": ["下一步治疗方案？", "是否手术？"],
        "invitations": [
            {"organization_id": w.suzhou.id, "user_id": w.expert.id},
            {"organization_id": w.jiashan.id, "user_id": w.lead.id, "is_lead": True},
        ],
        "submit": True,
    }
    body.update(over)
    return body


def _rows(session: Session) -> dict[str, int]:
    session.expire_all()
    models = (ConsultCase, ConsultItem, ConsultInvitation, ConsultOpinion, ConsultEvent)
    return {
        m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0 for m in models
    }


def _open(client: TestClient, hdr: Hdr, w: World, **over: Any) -> dict[str, Any]:
    r = client.post(API, json=_body(w, **over), headers=hdr(w.requester))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_workflow_over_the_api(client: TestClient, hdr: Hdr, world: World) -> None:
    w = world
    case = _open(client, hdr, w)
    assert case["status"] == "open" and case["items"] == w.items[1:3]
    assert [i["organization_name"] for i in case["invitations"]] == [
        "苏州市第九人民医院",
        "嘉善县第一人民医院",
    ]
    cid = case["id"]
    r = client.get(f"{API}/{cid}/items", headers=hdr(w.expert))
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["resources"]] == [k.split("/")[1] for k in w.items[1:3]]
    t, i = w.items[1].split("/")
    assert client.get(f"{API}/{cid}/items/{t}/{i}", headers=hdr(w.expert)).json()["id"] == i
    t, i = w.items[3].split("/")
    r = client.get(f"{API}/{cid}/items/{t}/{i}", headers=hdr(w.expert))
    assert r.status_code == 404 and "not an item" in r.json()["error"]
    r = client.post(
        f"{API}/{cid}/schedule",
        json={
            "start": "2026-12-01T14:00:00+08:00",
            "end": "2026-12-01T15:30:00+08:00",
            "mode": "online",
            "location": "长三角联合会诊平台",
        },
        headers=hdr(w.requester),
    )
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    r = client.post(f"{API}/{cid}/opinions", json={"text": "建议长程方案"}, headers=hdr(w.expert))
    assert r.status_code == 201, r.text
    r = client.post(f"{API}/{cid}/conclusion", json={"text": "长程方案"}, headers=hdr(w.lead))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "concluded" and body["signed_by_name"] == "嘉善专家"
    assert body["conclusion_document_id"]
    box = client.get(f"{API}?box=invited", headers=hdr(w.expert)).json()
    assert [c["id"] for c in box["items"]] == [cid] and box["total"] == 1
    assert client.get(f"{API}?box=mine", headers=hdr(w.expert)).json()["total"] == 0


def test_uninvited_expert_opinion_is_refused_and_audited(
    client: TestClient, session: Session, hdr: Hdr, world: World
) -> None:
    w = world
    cid = _open(client, hdr, w)["id"]
    before = _rows(session)
    r = client.post(f"{API}/{cid}/opinions", json={"text": "我的意见"}, headers=hdr(w.outsider))
    assert r.status_code == 403
    assert "not invited" in r.json()["error"]
    assert _rows(session) == before
    refused = session.scalars(
        select(AuditEntry).where(
            AuditEntry.actor_id == w.outsider.id, AuditEntry.action == "opinion_refused"
        )
    ).all()
    assert len(refused) == 1 and refused[0].person_id == w.person
    r = client.get(f"{API}/{cid}/items", headers=hdr(w.outsider))
    assert r.status_code == 403


def test_items_of_another_person_leave_nothing(
    client: TestClient, session: Session, hdr: Hdr, world: World
) -> None:
    w = world
    r = client.post(
        API, json=_body(w, items=[w.items[1], w.stranger_item]), headers=hdr(w.requester)
    )
    assert r.status_code == 422
    err = r.json()
    assert "not in this person's record" in err["error"]
    assert err["detail"][0]["field"] == "items[1]"
    assert all(n == 0 for n in _rows(session).values())


def test_bad_references_name_the_field(
    client: TestClient, session: Session, hdr: Hdr, world: World
) -> None:
    w = world
    cases = [
        (
            _body(w, invitations=[{"organization_id": "missing", "user_id": w.expert.id}]),
            "invitations[0].organization_id",
            "does not exist",
        ),
        (
            _body(w, invitations=[{"organization_id": w.suzhou.id, "practitioner_id": "missing"}]),
            "invitations[0].practitioner_id",
            "does not exist",
        ),
        (_body(w, person_id="nobody"), "person_id", "does not exist"),
        (_body(w, items=["Observation/missing"]), "items[0]", "does not exist"),
        (_body(w, items=[w.items[1], w.items[1]]), "items[1]", "twice"),
    ]
    for body, field, words in cases:
        r = client.post(API, json=body, headers=hdr(w.requester))
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["field"] == field
        assert words in r.json()["error"]
    r = client.post(API, json=_body(w, items=["not a reference"]), headers=hdr(w.requester))
    assert r.status_code == 422 and "Type/id" in r.json()["error"]
    r = client.post(API, json=_body(w, case_type="chat"), headers=hdr(w.requester))
    assert r.status_code == 422
    r = client.post(API, json=_body(w, questions=[]), headers=hdr(w.requester))
    assert r.status_code == 422
    assert all(n == 0 for n in _rows(session).values())


def test_invite_after_open_checks_the_registry(
    client: TestClient, session: Session, hdr: Hdr, world: World
) -> None:
    w = world
    cid = _open(client, hdr, w)["id"]
    before = _rows(session)
    r = client.post(
        f"{API}/{cid}/invitations",
        json={"organization_id": w.suzhou.id, "practitioner_id": w.practitioner.id},
        headers=hdr(w.requester),
    )
    assert r.status_code == 422 and "does not work at" in r.json()["error"]
    r = client.post(
        f"{API}/{cid}/invitations",
        json={"organization_id": w.jiashan.id, "practitioner_id": w.practitioner.id},
        headers=hdr(w.expert),
    )
    assert r.status_code == 403
    assert _rows(session) == before
    r = client.post(
        f"{API}/{cid}/invitations",
        json={"organization_id": w.jiashan.id, "practitioner_id": w.practitioner.id},
        headers=hdr(w.requester),
    )
    assert r.status_code == 201 and r.json()["status"] == "sent"
    r = client.post(
        f"{API}/{cid}/invitations",
        json={"organization_id": w.jiashan.id, "practitioner_id": w.practitioner.id},
        headers=hdr(w.requester),
    )
    assert r.status_code == 409


def test_signing_twice_and_late_opinions_are_refused(
    client: TestClient, session: Session, hdr: Hdr, world: World
) -> None:
    w = world
    cid = _open(client, hdr, w)["id"]
    assert (
        client.post(f"{API}/{cid}/opinions", json={"text": "一"}, headers=hdr(w.expert)).status_code
        == 201
    )
    r = client.post(f"{API}/{cid}/conclusion", json={"text": "结论"}, headers=hdr(w.requester))
    assert r.status_code == 200
    docs = session.scalar(
        select(func.count())
        .select_from(FhirResource)
        .where(FhirResource.resource_type == "DocumentReference")
    )
    before = _rows(session)
    r = client.post(
        f"{API}/{cid}/conclusion", json={"text": "另一个结论"}, headers=hdr(w.requester)
    )
    assert r.status_code == 409 and "already signed" in r.json()["error"]
    r = client.post(f"{API}/{cid}/opinions", json={"text": "迟到"}, headers=hdr(w.lead))
    assert r.status_code == 409 and "no longer accepted" in r.json()["error"]
    assert client.post(f"{API}/{cid}/close", headers=hdr(w.requester)).status_code == 200
    r = client.post(f"{API}/{cid}/opinions", json={"text": "结案后"}, headers=hdr(w.expert))
    assert r.status_code in (403, 409)
    after = _rows(session)
    assert after["consult_opinions"] == before["consult_opinions"] == 1
    session.expire_all()
    assert (
        docs
        == session.scalar(
            select(func.count())
            .select_from(FhirResource)
            .where(FhirResource.resource_type == "DocumentReference")
        )
        == 1
    )
    # After closing, the expert's access to the items has ended.
    assert client.get(f"{API}/{cid}/items", headers=hdr(w.expert)).status_code == 403


def test_only_clinicians_use_the_api(
    client: TestClient, auth_headers: Callable[..., dict[str, str]], world: World
) -> None:
    r = client.get(API, headers=auth_headers("cdc", organization_id=world.hospital.id))
    assert r.status_code == 403
    assert client.get(API).status_code == 401
    r = client.get(
        f"{API}/doesnotexist", headers=auth_headers("doctor", organization_id=world.hospital.id)
    )
    assert r.status_code == 404
