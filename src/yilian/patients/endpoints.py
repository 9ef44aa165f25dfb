"""The master patient index (主索引) API: the review queue, merge and unmerge, FHIR ``$match``.

Mounted before the records router, so that ``POST /fhir/Patient/$match`` is
matched before its generic ``/fhir/{type}`` routes.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from yilian.deps import DbSession, Paging
from yilian.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)
from yilian.kit.errors import error_responses as errors
from yilian.kit.fhir import FhirResponse, searchset
from yilian.patients import service
from yilian.patients.models import MatchReview, PersonMerge
from yilian.patients.schemas import (
    MaskedIdentifier,
    MergeIn,
    MergeOut,
    PatientSummaryOut,
    PersonOut,
    ReviewCandidateOut,
    ReviewDecision,
    ReviewItemOut,
    ReviewOut,
    ReviewPage,
    ReviewRecordOut,
    UnmergeIn,
)
from yilian.records.service import patient_records
from yilian.security.dependencies import require_roles
from yilian.security.principal import Principal, Role

router = APIRouter(tags=["mpi"])

Reviewer = Annotated[Principal, Depends(require_roles(Role.admin, Role.doctor))]
PersonId = Annotated[str, Path(max_length=32)]
ReviewId = Annotated[str, Path(max_length=32)]

_AUTH = (Unauthorized, Forbidden)


def _summary(s: service.PatientSummary) -> PatientSummaryOut:
    return PatientSummaryOut(
        resource_id=s.resource_id,
        name=s.name,
        gender=s.gender,
        birth_date=s.birth_date,
        identifiers=[MaskedIdentifier(kind=k, value=v) for k, v in s.identifiers],
        phone=s.phone,
    )


def _review(r: MatchReview) -> ReviewOut:
    return ReviewOut(
        id=r.id,
        status=r.status,
        probability=r.probability,
        created_at=r.created_at,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        reason=r.reason,
    )


def _merge(m: PersonMerge) -> MergeOut:
    return MergeOut(
        merge_id=m.id,
        person_id=m.person_id,
        into_person_id=m.into_person_id,
        merged_at=m.merged_at,
        unmerged_at=m.unmerged_at,
    )


@router.get(
    "/api/v1/mpi/reviews",
    response_model=ReviewPage,
    summary="List open match reviews (人工审核队列)",
    responses=errors(*_AUTH),
)
def list_reviews(session: DbSession, principal: Reviewer, page: Paging) -> ReviewPage:
    """List the undecided match reviews with both records' masked demographics."""
    views, total = service.open_reviews(
        session, patient_records, limit=page.limit, offset=page.offset
    )
    items = [
        ReviewItemOut(
            **_review(v.review).model_dump(),
            record=ReviewRecordOut(
                record_id=v.record.id,
                resource_id=v.record.resource_id,
                person_id=v.record.person_id,
                source_org_id=v.record.source_org_id,
                patient=_summary(v.record_patient) if v.record_patient else None,
            ),
            candidate=ReviewCandidateOut(
                person_id=v.candidate_person_id,
                patients=[_summary(p) for p in v.candidate_patients],
            ),
        )
        for v in views
    ]
    return ReviewPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/api/v1/mpi/reviews/{review_id}/confirm",
    response_model=ReviewOut,
    summary="Confirm a match review: link the record to the candidate person",
    responses=errors(*_AUTH, NotFound, Conflict),
)
def confirm_review(
    session: DbSession, principal: Reviewer, review_id: ReviewId, body: ReviewDecision
) -> ReviewOut:
    """Link the reviewed record to the candidate person."""
    review = service.decide_review(session, principal, review_id, confirm=True, reason=body.reason)
    return _review(review)


@router.post(
    "/api/v1/mpi/reviews/{review_id}/reject",
    response_model=ReviewOut,
    summary="Reject a match review: the record stays a person of its own",
    responses=errors(*_AUTH, NotFound, Conflict),
)
def reject_review(
    session: DbSession, principal: Reviewer, review_id: ReviewId, body: ReviewDecision
) -> ReviewOut:
    """Keep the reviewed record apart from the candidate person."""
    review = service.decide_review(session, principal, review_id, confirm=False, reason=body.reason)
    return _review(review)


@router.get(
    "/api/v1/mpi/persons/{person_id}",
    response_model=PersonOut,
    summary="Resolve a person id to the surviving person",
    responses=errors(*_AUTH, NotFound),
)
def get_person(session: DbSession, principal: Reviewer, person_id: PersonId) -> PersonOut:
    """Resolve a (possibly merged) person id to the person it now stands for."""
    current = service.current_person_id(session, person_id)
    return PersonOut(id=current, requested_id=person_id, merged=current != person_id)


@router.post(
    "/api/v1/mpi/persons/{person_id}/merge",
    response_model=MergeOut,
    summary="Merge a person into another (合并)",
    responses=errors(*_AUTH, NotFound, Conflict, Unprocessable),
)
def merge_person(
    session: DbSession, principal: Reviewer, person_id: PersonId, body: MergeIn
) -> MergeOut:
    """Merge the person into ``into``: its records move and its id redirects there."""
    return _merge(service.merge(session, principal, person_id, into=body.into, reason=body.reason))


@router.post(
    "/api/v1/mpi/persons/{person_id}/unmerge",
    response_model=MergeOut,
    summary="Undo a merge (拆分)",
    responses=errors(*_AUTH, NotFound, Conflict),
)
def unmerge_person(
    session: DbSession, principal: Reviewer, person_id: PersonId, body: UnmergeIn
) -> MergeOut:
    """Give the merged person back exactly the records it brought to the merge."""
    return _merge(service.unmerge(session, principal, person_id, reason=body.reason))


MATCH_GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"
Matcher = Annotated[Principal, Depends(require_roles(Role.system, Role.admin, Role.doctor))]


def _match_parameters(body: Any) -> tuple[dict[str, Any], bool, int | None]:
    """The Patient, onlyCertainMatches and count of a ``$match`` Parameters resource."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise Unprocessable("the body must be a Parameters resource", field="resourceType")
    patient: dict[str, Any] | None = None
    only_certain, count = False, None
    for i, param in enumerate(body.get("parameter") or []):
        where = f"Parameters.parameter[{i}]"
        name = param.get("name") if isinstance(param, dict) else None
        if name == "resource":
            patient = param.get("resource")
            if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
                raise Unprocessable("resource must be a Patient", field=f"{where}.resource")
        elif name == "onlyCertainMatches":
            only_certain = param.get("valueBoolean")
            if not isinstance(only_certain, bool):
                raise Unprocessable("onlyCertainMatches needs valueBoolean", field=where)
        elif name == "count":
            count = param.get("valueInteger")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise Unprocessable("count needs a positive valueInteger", field=where)
    if patient is None:
        raise Unprocessable("a resource parameter with the Patient is required", field="parameter")
    return patient, only_certain, count


@router.post(
    "/fhir/Patient/$match",
    response_class=FhirResponse,
    summary="Find the persons a Patient may be (FHIR $match, 患者匹配)",
    responses=errors(*_AUTH, BadRequest, Unprocessable),
)
async def patient_match(request: Request, session: DbSession, principal: Matcher) -> FhirResponse:
    """Score a Patient against the index and return the candidates; nothing is created."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequest("the body is not valid JSON") from exc
    patient, only_certain, count = _match_parameters(body)
    found = await run_in_threadpool(
        service.find_matches,
        session,
        principal,
        patient,
        patient_records,
        only_certain=only_certain,
        count=count,
    )
    page = searchset(
        request, [c.patient for c in found], total=len(found), count=len(found), offset=0
    )
    bundle = orjson.loads(page.body)
    for entry, candidate in zip(bundle["entry"], found, strict=True):
        entry["search"]["score"] = round(candidate.probability, 6)
        entry["search"]["extension"] = [{"url": MATCH_GRADE_URL, "valueCode": candidate.grade}]
    return FhirResponse(bundle)
