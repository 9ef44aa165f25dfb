"""Consultation API (远程会诊 / 多学科会诊 / 联合会诊): thin routes over the service."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy.orm import Session

from yilian.consult import fhir, service
from yilian.consult.rules import CaseStatus
from yilian.consult.schemas import (
    CancelIn,
    CaseCreate,
    CaseList,
    CaseOut,
    CaseSummary,
    ConclusionIn,
    EventOut,
    InvitationIn,
    InvitationOut,
    ItemsOut,
    OpinionIn,
    OpinionOut,
    RespondIn,
    ScheduleIn,
)
from yilian.deps import DbSession, Paging
from yilian.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from yilian.security.dependencies import require_roles
from yilian.security.principal import Principal, Role

router = APIRouter(prefix="/api/v1/consult", tags=["consult"])

Clinician = Annotated[Principal, Depends(require_roles(Role.doctor, Role.specialist))]
CaseId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]
WRITE = error_responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)
READ = error_responses(Unauthorized, Forbidden, NotFound, Unprocessable)


def case_out(session: Session, principal: Principal, case_id: str) -> CaseOut:
    view = service.view_case(session, principal, case_id)
    c = view.case
    return CaseOut(
        id=c.id,
        case_type=c.case_type,
        status=c.status,
        title=c.title,
        person_id=c.person_id,
        requesting_org_id=c.requesting_org_id,
        requesting_org_name=view.org_names.get(c.requesting_org_id, ""),
        requester_name=c.requester_name,
        scheduled_start=c.scheduled_start,
        created_at=c.created_at,
        opened_at=c.opened_at,
        summary=c.summary,
        questions=list(c.questions or []),
        items=[f"{i.resource_type}/{i.resource_id}" for i in view.items],
        requester_id=c.requester_id,
        session_mode=c.session_mode,
        scheduled_end=c.scheduled_end,
        location=c.location,
        access_until=c.access_until,
        conclusion=c.conclusion,
        signed_by=c.signed_by,
        signed_by_name=c.signed_by_name,
        signed_at=c.signed_at,
        conclusion_document_id=c.conclusion_document_id,
        closed_at=c.closed_at,
        cancel_reason=c.cancel_reason,
        invitations=[
            InvitationOut.model_validate(i).model_copy(
                update={"organization_name": view.org_names.get(i.organization_id, "")}
            )
            for i in view.invitations
        ],
        opinions=[OpinionOut.model_validate(o) for o in view.opinions],
        events=[EventOut.model_validate(e) for e in view.events],
    )


@router.post("/cases", status_code=status.HTTP_201_CREATED, response_model=CaseOut, responses=WRITE)
def open_case(data: CaseCreate, session: DbSession, principal: Clinician) -> CaseOut:
    """Open a consultation request on a person with record items and questions."""
    case = service.open_case(session, principal, data)
    return case_out(session, principal, case.id)


@router.get("/cases", response_model=CaseList, responses=READ)
def list_cases(
    session: DbSession,
    principal: Clinician,
    page: Paging,
    box: Annotated[Literal["mine", "invited", "all"], Query()] = "all",
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
) -> CaseList:
    """List the caller's cases: requested (mine), invited to, or both."""
    rows, total = service.list_cases(
        session, principal, box=box, status=status_, limit=page.limit, offset=page.offset
    )
    names = service.organization_names(session, {r.requesting_org_id for r in rows})
    return CaseList(
        items=[
            CaseSummary.model_validate(r).model_copy(
                update={"requesting_org_name": names.get(r.requesting_org_id, "")}
            )
            for r in rows
        ],
        total=total,
    )


@router.get("/cases/{case_id}", response_model=CaseOut, responses=READ)
def get_case(case_id: CaseId, session: DbSession, principal: Clinician) -> CaseOut:
    """Return the case, its invitations, opinions, conclusion and steps (participants only)."""
    return case_out(session, principal, case_id)


@router.get("/cases/{case_id}/fhir", response_model=None, responses=READ)
def case_fhir(case_id: CaseId, session: DbSession, principal: Clinician) -> dict[str, object]:
    """Return the case as FHIR: ServiceRequest, a Task per expert, Appointment, conclusion."""
    view = service.view_case(session, principal, case_id)
    return fhir.bundle(view.case, view.items, view.invitations, view.opinions, view.org_names)


@router.get("/cases/{case_id}/items", response_model=ItemsOut, responses=READ)
def read_items(case_id: CaseId, session: DbSession, principal: Clinician) -> ItemsOut:
    """Return exactly the case's record items; each read is audited."""
    return ItemsOut(case_id=case_id, resources=service.read_items(session, principal, case_id))


@router.get(
    "/cases/{case_id}/items/{resource_type}/{resource_id}",
    response_model=None,
    responses=READ,
)
def read_item(
    case_id: CaseId,
    resource_type: Annotated[str, Path(pattern=r"^[A-Z][A-Za-z]{1,63}$")],
    resource_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9\-.]{1,64}$")],
    session: DbSession,
    principal: Clinician,
) -> dict[str, object]:
    """Return one record item of the case (audited)."""
    (resource,) = service.read_items(session, principal, case_id, only=(resource_type, resource_id))
    return resource


@router.post(
    "/cases/{case_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationOut,
    responses=WRITE,
)
def invite(
    case_id: CaseId, data: InvitationIn, session: DbSession, principal: Clinician
) -> InvitationOut:
    """Invite an expert (an account, or a registry practitioner) at an organisation."""
    inv = service.invite(session, principal, case_id, data)
    names = service.organization_names(session, {inv.organization_id})
    return InvitationOut.model_validate(inv).model_copy(
        update={"organization_name": names.get(inv.organization_id, "")}
    )


@router.post("/cases/{case_id}/submit", response_model=CaseOut, responses=WRITE)
def submit(case_id: CaseId, session: DbSession, principal: Clinician) -> CaseOut:
    """Send the invitations (draft → open)."""
    service.submit(session, principal, case_id)
    return case_out(session, principal, case_id)


@router.post("/cases/{case_id}/invitation/respond", response_model=InvitationOut, responses=WRITE)
def respond(
    case_id: CaseId, data: RespondIn, session: DbSession, principal: Clinician
) -> InvitationOut:
    """Accept or decline the caller's invitation."""
    inv = service.respond(session, principal, case_id, data.accept)
    return InvitationOut.model_validate(inv)


@router.post("/cases/{case_id}/schedule", response_model=CaseOut, responses=WRITE)
def schedule(
    case_id: CaseId, data: ScheduleIn, session: DbSession, principal: Clinician
) -> CaseOut:
    """Set the session's time, mode (online/offline) and place."""
    service.schedule(session, principal, case_id, data)
    return case_out(session, principal, case_id)


@router.post("/cases/{case_id}/start", response_model=CaseOut, responses=WRITE)
def start(case_id: CaseId, session: DbSession, principal: Clinician) -> CaseOut:
    """Start the session."""
    service.start_session(session, principal, case_id)
    return case_out(session, principal, case_id)


@router.post(
    "/cases/{case_id}/opinions",
    status_code=status.HTTP_201_CREATED,
    response_model=OpinionOut,
    responses=WRITE,
)
def record_opinion(
    case_id: CaseId, data: OpinionIn, session: DbSession, principal: Clinician
) -> OpinionOut:
    """Record (or amend) the caller's expert opinion."""
    opinion = service.record_opinion(
        session, principal, case_id, data.text, invitation_id=data.invitation_id
    )
    return OpinionOut.model_validate(opinion)


@router.post("/cases/{case_id}/conclusion", response_model=CaseOut, responses=WRITE)
def sign_conclusion(
    case_id: CaseId, data: ConclusionIn, session: DbSession, principal: Clinician
) -> CaseOut:
    """Sign the conclusion once and file it in the person's record."""
    service.sign_conclusion(session, principal, case_id, data.text)
    return case_out(session, principal, case_id)


@router.post("/cases/{case_id}/close", response_model=CaseOut, responses=WRITE)
def close(case_id: CaseId, session: DbSession, principal: Clinician) -> CaseOut:
    """Close a concluded case; the experts' access ends."""
    service.close(session, principal, case_id)
    return case_out(session, principal, case_id)


@router.post("/cases/{case_id}/cancel", response_model=CaseOut, responses=WRITE)
def cancel(case_id: CaseId, data: CancelIn, session: DbSession, principal: Clinician) -> CaseOut:
    """Cancel a case that has no conclusion yet."""
    service.cancel(session, principal, case_id, data.reason)
    return case_out(session, principal, case_id)
