"""The consultation workflow through the service, on both databases."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.consult.conftest import World
from yilian.audit.models import AuditEntry
from yilian.consult import service
from yilian.consult.models import ConsultCase, ConsultEvent, ConsultInvitation, ConsultOpinion
from yilian.consult.rules import CaseStatus, CaseType, InvitationStatus
from yilian.consult.schemas import CaseCreate, InvitationIn, ScheduleIn
from yilian.db import utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.security.principal import Principal, Role


def _create(w: World, **over: object) -> CaseCreate:
    data: dict[str, object] = {
        "case_type": CaseType.rr_tb_joint,
        "title": "利福平耐药肺结核疑难病例",
        "summary": "治疗 6 个月痰培养仍阳性",
        "person_id": w.person,
        "items": w.items[1:3],
        "questions": ["是否调整为长程方案？"],
        "invitations": [
            InvitationIn(organization_id=w.suzhou.id, user_id=w.expert.id),
            InvitationIn(organization_id=w.jiashan.id, user_id=w.lead.id, is_lead=True),
        ],
        "submit": True,
    }
    data.update(over)
    return CaseCreate.model_validate(data)


def _open(session: Session, w: World, **over: object) -> ConsultCase:
    case = service.open_case(session, w.principal(w.requester), _create(w, **over))
    session.commit()
    return case


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


def test_full_workflow_files_the_signed_conclusion_in_the_record(
    session: Session, world: World
) -> None:
    w = world
    case = _open(session, w)
    assert case.status is CaseStatus.open and case.access_until is not None
    assert case.requester_name == "王主任"
    start = utcnow() + timedelta(days=1)
    service.schedule(
        session,
        w.principal(w.requester),
        case.id,
        ScheduleIn(start=start, end=start + timedelta(hours=1)),
    )
    assert case.status is CaseStatus.scheduled
    service.start_session(session, w.principal(w.requester), case.id)
    service.record_opinion(session, w.principal(w.expert), case.id, "建议加用贝达喹啉")
    service.record_opinion(session, w.principal(w.lead), case.id, "同意，疗程 18 个月")
    service.sign_conclusion(session, w.principal(w.lead), case.id, "采用含贝达喹啉的长程方案")
    session.commit()
    assert case.status is CaseStatus.concluded and case.signed_by == w.lead.id
    assert case.conclusion_document_id
    # The conclusion is now in the person's record, sent by the requesting organisation.
    hospital = Principal("doc", "doc", Role.doctor, w.hospital.id)
    doc = records.read(
        session, records.ReadContext(hospital), "DocumentReference", case.conclusion_document_id
    )
    assert doc["custodian"]["reference"] == f"Organization/{w.hospital.id}"
    assert doc["author"] == [{"display": "嘉善专家"}]
    text = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert text == "采用含贝达喹啉的长程方案"
    patient_id = doc["subject"]["reference"].split("/")[1]
    assert patients.person_of_record(session, patient_id) == w.person
    service.close(session, w.principal(w.requester), case.id)
    session.commit()
    steps = [
        e.action
        for e in session.scalars(select(ConsultEvent).order_by(ConsultEvent.at, ConsultEvent.seq))
    ]
    assert steps[:4] == ["created", "invited", "invited", "opened"]
    assert steps[-4:] == ["opinion", "opinion", "signed", "closed"]


def test_expert_reads_exactly_the_case_items_and_each_read_is_audited(
    session: Session, world: World
) -> None:
    w = world
    case = _open(session, w)
    got = service.read_items(session, w.principal(w.expert), case.id)
    session.commit()
    assert [f"{r['resourceType']}/{r['id']}" for r in got] == w.items[1:3]
    reads = session.scalars(
        select(AuditEntry).where(
            AuditEntry.actor_id == w.expert.id,
            AuditEntry.action == "read",
            AuditEntry.purpose == "consultation",
        )
    ).all()
    assert sorted(f"{a.resource_type}/{a.resource_id}" for a in reads) == sorted(w.items[1:3])
    assert {a.person_id for a in reads} == {w.person}
    # An item of the record that was not selected stays out of reach.
    other_type, other_id = w.items[3].split("/")
    with pytest.raises(NotFound):
        service.read_items(session, w.principal(w.expert), case.id, only=(other_type, other_id))
    # The expert did not gain access to the whole record.
    with pytest.raises(Forbidden):
        records.read(session, records.ReadContext(w.principal(w.expert)), other_type, other_id)


def test_access_ends_with_the_case_lifetime(session: Session, world: World) -> None:
    w = world
    case = _open(session, w)
    later = case.access_until + timedelta(seconds=1)  # type: ignore[operator]
    with pytest.raises(Forbidden, match="access period"):
        service.read_items(session, w.principal(w.expert), case.id, now=later)
    service.cancel(session, w.principal(w.requester), case.id, "患者转院")
    session.commit()
    with pytest.raises(Forbidden, match="cancelled"):
        service.read_items(session, w.principal(w.expert), case.id)
    with pytest.raises(Forbidden):
        service.read_items(session, w.principal(w.outsider), case.id)
    # The requester keeps the case (their own access to the person is unchanged).
    assert service.read_items(session, w.principal(w.requester), case.id)


def test_opinion_from_an_uninvited_expert_is_refused_and_writes_nothing(
    session: Session, world: World
) -> None:
    w = world
    case = _open(session, w)
    with pytest.raises(Forbidden, match="not invited"):
        service.record_opinion(session, w.principal(w.outsider), case.id, "我来说两句")
    session.rollback()
    assert _count(session, ConsultOpinion) == 0
    # Same user id at another organisation is not the invited expert either.
    elsewhere = Principal(w.expert.id, "exp", Role.specialist, w.other.id)
    with pytest.raises(Forbidden):
        service.record_opinion(session, elsewhere, case.id, "x")
    session.rollback()
    assert _count(session, ConsultOpinion) == 0


def test_opinions_after_the_conclusion_or_close_are_refused(session: Session, world: World) -> None:
    w = world
    case = _open(session, w)
    service.record_opinion(session, w.principal(w.expert), case.id, "意见一")
    service.sign_conclusion(session, w.principal(w.requester), case.id, "结论")
    session.commit()
    with pytest.raises(Conflict, match="no longer accepted"):
        service.record_opinion(session, w.principal(w.lead), case.id, "迟到的意见")
    session.rollback()
    service.close(session, w.principal(w.requester), case.id)
    session.commit()
    with pytest.raises(Conflict, match="closed"):
        service.record_opinion(session, w.principal(w.expert), case.id, "修改")
    session.rollback()
    assert [o.text for o in session.scalars(select(ConsultOpinion))] == ["意见一"]


def test_signing_twice_is_refused(session: Session, world: World) -> None:
    w = world
    case = _open(session, w)
    service.record_opinion(session, w.principal(w.expert), case.id, "意见")
    service.sign_conclusion(session, w.principal(w.requester), case.id, "结论一")
    session.commit()
    with pytest.raises(Conflict, match="already signed"):
        service.sign_conclusion(session, w.principal(w.lead), case.id, "结论二")
    session.rollback()
    session.refresh(case)
    assert case.conclusion == "结论一"
    docs = records.search(
        session,
        records.ReadContext(Principal("d", "d", Role.doctor, w.hospital.id)),
        "DocumentReference",
        [],
    )
    assert docs.total == 1


def test_sign_needs_an_opinion_and_a_signing_right(session: Session, world: World) -> None:
    w = world
    case = _open(session, w)
    with pytest.raises(Unprocessable, match="no expert opinion"):
        service.sign_conclusion(session, w.principal(w.requester), case.id, "结论")
    session.rollback()
    service.record_opinion(session, w.principal(w.expert), case.id, "意见")
    session.commit()
    with pytest.raises(Forbidden, match="lead expert"):
        service.sign_conclusion(session, w.principal(w.expert), case.id, "结论")
    session.rollback()
    session.refresh(case)
    assert case.status is CaseStatus.open and case.conclusion is None


def test_items_of_another_person_are_refused(session: Session, world: World) -> None:
    w = world
    with pytest.raises(Unprocessable, match="not in this person's record") as err:
        _open(session, w, items=[w.items[1], w.stranger_item])
    assert err.value.detail[0]["field"] == "items[1]"
    session.rollback()
    with pytest.raises(Unprocessable, match="does not exist"):
        _open(session, w, items=["Observation/nope"])
    session.rollback()
    assert _count(session, ConsultCase) == 0 and _count(session, ConsultInvitation) == 0


def test_inviting_unknown_practitioner_or_organisation_is_refused(
    session: Session, world: World
) -> None:
    w = world
    bad = [
        (InvitationIn(organization_id="nope", user_id=w.expert.id), "organization_id"),
        (InvitationIn(organization_id=w.suzhou.id, practitioner_id="nope"), "practitioner_id"),
        (InvitationIn(organization_id=w.suzhou.id, user_id="nope"), "user_id"),
        # The practitioner exists but does not work at 苏州.
        (
            InvitationIn(organization_id=w.suzhou.id, practitioner_id=w.practitioner.id),
            "practitioner_id",
        ),
        # The user exists but belongs to 嘉善.
        (InvitationIn(organization_id=w.suzhou.id, user_id=w.lead.id), "user_id"),
    ]
    for inv, where in bad:
        with pytest.raises(Unprocessable) as err:
            _open(session, w, invitations=[inv])
        assert err.value.detail[0]["field"] == f"invitations[0].{where}"
        session.rollback()
    assert _count(session, ConsultCase) == 0


def test_practitioner_without_account_gets_a_transcribed_opinion(
    session: Session, world: World
) -> None:
    w = world
    case = _open(
        session,
        w,
        invitations=[InvitationIn(organization_id=w.jiashan.id, practitioner_id=w.practitioner.id)],
    )
    (inv,) = session.scalars(select(ConsultInvitation)).all()
    assert inv.expert_name == "钱结核" and inv.status is InvitationStatus.sent
    with pytest.raises(Forbidden):
        service.record_opinion(session, w.principal(w.expert), case.id, "x", invitation_id=inv.id)
    session.rollback()
    op = service.record_opinion(
        session, w.principal(w.requester), case.id, "线下会诊意见", invitation_id=inv.id
    )
    assert op.transcribed and op.recorded_by == w.requester.id


def test_invitations_in_a_draft_are_sent_on_submit(session: Session, world: World) -> None:
    w = world
    case = _open(session, w, submit=False, invitations=[])
    assert case.status is CaseStatus.draft
    with pytest.raises(Unprocessable, match="invite at least one"):
        service.submit(session, w.principal(w.requester), case.id)
    session.rollback()
    service.invite(
        session,
        w.principal(w.requester),
        case.id,
        InvitationIn(organization_id=w.suzhou.id, user_id=w.expert.id),
    )
    session.commit()
    # Not sent yet: the expert sees nothing and cannot answer.
    with pytest.raises(Forbidden):
        service.read_items(session, w.principal(w.expert), case.id)
    with pytest.raises(Conflict):
        service.invite(
            session,
            w.principal(w.requester),
            case.id,
            InvitationIn(organization_id=w.suzhou.id, user_id=w.expert.id),
        )
    session.rollback()
    service.submit(session, w.principal(w.requester), case.id)
    session.commit()
    assert service.read_items(session, w.principal(w.expert), case.id)


def test_declined_invitation_ends_access(session: Session, world: World) -> None:
    w = world
    case = _open(session, w)
    service.respond(session, w.principal(w.expert), case.id, accept=False)
    session.commit()
    with pytest.raises(Forbidden, match="declined"):
        service.read_items(session, w.principal(w.expert), case.id)
    with pytest.raises(Forbidden, match="declined"):
        service.record_opinion(session, w.principal(w.expert), case.id, "x")


def test_case_lists_mine_and_invited(session: Session, world: World) -> None:
    w = world
    case = _open(session, w)
    mine, n = service.list_cases(session, w.principal(w.requester), box="mine")
    assert n == 1 and mine[0].id == case.id
    invited, n = service.list_cases(session, w.principal(w.expert), box="invited")
    assert n == 1 and invited[0].id == case.id
    assert service.list_cases(session, w.principal(w.expert), box="mine")[1] == 0
    assert service.list_cases(session, w.principal(w.outsider), box="all")[1] == 0
