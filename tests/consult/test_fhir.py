"""The FHIR face of a case validates as FHIR R4 and says what the case says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy.orm import Session

from tests.consult.conftest import World
from yilian.consult import fhir, service
from yilian.consult.rules import CaseType
from yilian.consult.schemas import CaseCreate, InvitationIn, ScheduleIn
from yilian.db import utcnow


def _valid(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_case_bundle_is_valid_fhir(session: Session, world: World) -> None:
    w = world
    req = w.principal(w.requester)
    case = service.open_case(
        session,
        req,
        CaseCreate(
            case_type=CaseType.mdt,
            title="MDT",
            summary="摘要",
            person_id=w.person,
            items=w.items[1:3],
            questions=["问题一", "问题二"],
            invitations=[
                InvitationIn(organization_id=w.suzhou.id, user_id=w.expert.id),
                InvitationIn(organization_id=w.jiashan.id, practitioner_id=w.practitioner.id),
            ],
            submit=True,
        ),
    )
    start = utcnow() + timedelta(days=1)
    service.schedule(session, req, case.id, ScheduleIn(start=start, end=start + timedelta(hours=1)))
    service.record_opinion(session, w.principal(w.expert), case.id, "意见甲")
    service.sign_conclusion(session, req, case.id, "结论")
    session.commit()
    view = service.view_case(session, req, case.id)
    out = fhir.bundle(view.case, view.items, view.invitations, view.opinions, view.org_names)
    _valid(out)
    kinds = [e["resource"]["resourceType"] for e in out["entry"]]
    assert kinds == ["ServiceRequest", "Task", "Task", "Appointment", "Task"]
    request = out["entry"][0]["resource"]
    assert request["status"] == "completed"
    assert [r["text"] for r in request["reasonCode"]] == ["问题一", "问题二"]
    assert [s["reference"] for s in request["supportingInfo"]] == w.items[1:3]
    expert_task, practitioner_task = (e["resource"] for e in out["entry"][1:3])
    assert expert_task["status"] == "completed"
    assert expert_task["output"][0]["valueString"] == "意见甲"
    assert practitioner_task["status"] == "requested" and "output" not in practitioner_task
    conclusion = out["entry"][4]["resource"]
    assert conclusion["output"][1]["valueReference"]["reference"] == (
        f"DocumentReference/{case.conclusion_document_id}"
    )
