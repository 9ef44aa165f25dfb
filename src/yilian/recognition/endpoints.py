"""API of 检验检查结果互认: catalogues, the check before ordering, decisions, statistics.

Clinicians (doctor, specialist) check and decide; the health commission and
administrators edit catalogues and read statistics; any signed-in user reads catalogues.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status

from yilian.deps import DbSession
from yilian.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from yilian.recognition import service
from yilian.recognition.schemas import (
    CatalogueIn,
    CatalogueOut,
    CatalogueSummary,
    CatalogueUpdate,
    CheckIn,
    CheckItemOut,
    CheckOut,
    DecisionOut,
    DecisionsIn,
    ItemIn,
    ItemOut,
    ItemUpdate,
    ParticipantBody,
    ParticipantIn,
    ParticipantOut,
    StatsOut,
)
from yilian.security.dependencies import CurrentPrincipal, require_roles
from yilian.security.principal import Principal, Role

router = APIRouter(prefix="/api/v1/recognition", tags=["recognition"])

CLINICIANS = (Role.doctor, Role.specialist)
EDITORS = (Role.admin, Role.commission)
Clinician = Annotated[Principal, Depends(require_roles(*CLINICIANS))]
Editor = Annotated[Principal, Depends(require_roles(*EDITORS))]

CatalogueRef = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$", description="id or code")
]
ItemCodePath = Annotated[
    str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z][0-9A-Za-z_.\-]*$")
]
OrgId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]
CheckId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]

_READ = error_responses(Unauthorized, NotFound)
_WRITE = error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)


@router.get("/catalogues", response_model=list[CatalogueSummary], responses=_READ)
def list_catalogues(session: DbSession, _: CurrentPrincipal) -> list[CatalogueSummary]:
    """List recognition catalogues (互认目录) with their item and institution counts."""
    return service.list_catalogues(session)


@router.post(
    "/catalogues",
    response_model=CatalogueOut,
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE,
)
def create_catalogue(session: DbSession, principal: Editor, data: CatalogueIn) -> CatalogueOut:
    """Create a catalogue with its items and institutions."""
    catalogue = service.create_catalogue(session, principal, data)
    return service.catalogue_detail(session, catalogue)


@router.post("/catalogues/import", response_model=CatalogueOut, responses=_WRITE)
def import_catalogue(
    session: DbSession,
    principal: Editor,
    response: Response,
    raw: Annotated[dict[str, Any], Body(description="a catalogue as exported")],
) -> CatalogueOut:
    """Create or update a catalogue from its exported JSON."""
    catalogue, created = service.import_catalogue(session, principal, raw)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return service.catalogue_detail(session, catalogue)


@router.get("/catalogues/{ref}", response_model=CatalogueOut, responses=_READ)
def get_catalogue(ref: CatalogueRef, session: DbSession, _: CurrentPrincipal) -> CatalogueOut:
    """Return a catalogue with its items and institutions."""
    return service.catalogue_detail(session, service.get_catalogue(session, ref))


@router.get("/catalogues/{ref}/export", responses=_READ)
def export_catalogue(ref: CatalogueRef, session: DbSession, _: CurrentPrincipal) -> dict[str, Any]:
    """Export a catalogue as JSON (items with their codes, institutions with their QC status)."""
    return service.export_catalogue(session, service.get_catalogue(session, ref))


@router.patch("/catalogues/{ref}", response_model=CatalogueOut, responses=_WRITE)
def update_catalogue(
    ref: CatalogueRef, session: DbSession, principal: Editor, data: CatalogueUpdate
) -> CatalogueOut:
    """Rename, describe or (de)activate a catalogue."""
    catalogue = service.get_catalogue(session, ref)
    service.update_catalogue(session, principal, catalogue, data)
    return service.catalogue_detail(session, catalogue)


@router.put("/catalogues/{ref}/items/{item_code}", response_model=ItemOut, responses=_WRITE)
def put_item(
    ref: CatalogueRef, item_code: ItemCodePath, session: DbSession, principal: Editor, data: ItemIn
) -> ItemOut:
    """Add or replace an item (window, minimum level, QC requirement, price, codes)."""
    if data.item_code != item_code:
        raise Unprocessable("item_code in the body differs from the path", field="item_code")
    catalogue = service.get_catalogue(session, ref)
    return ItemOut.model_validate(
        service.put_item(session, principal, catalogue, data), from_attributes=True
    )


@router.patch("/catalogues/{ref}/items/{item_code}", response_model=ItemOut, responses=_WRITE)
def update_item(
    ref: CatalogueRef,
    item_code: ItemCodePath,
    session: DbSession,
    principal: Editor,
    data: ItemUpdate,
) -> ItemOut:
    """Change an item's window, minimum level, QC requirement, price or activity."""
    catalogue = service.get_catalogue(session, ref)
    row = service.update_item(session, principal, catalogue, item_code, data)
    return ItemOut.model_validate(row, from_attributes=True)


@router.put(
    "/catalogues/{ref}/institutions/{organization_id}",
    response_model=ParticipantOut,
    responses=_WRITE,
)
def put_institution(
    ref: CatalogueRef,
    organization_id: OrgId,
    session: DbSession,
    principal: Editor,
    data: ParticipantBody,
) -> ParticipantOut:
    """Recognise an institution's results in the catalogue, with its quality-control status."""
    participant = ParticipantIn(organization_id=organization_id, **data.model_dump())
    catalogue = service.get_catalogue(session, ref)
    service.put_participant(session, principal, catalogue, participant)
    detail = service.catalogue_detail(session, catalogue)
    return next(p for p in detail.institutions if p.organization_id == organization_id)


@router.delete(
    "/catalogues/{ref}/institutions/{organization_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_WRITE,
)
def remove_institution(
    ref: CatalogueRef, organization_id: OrgId, session: DbSession, principal: Editor
) -> Response:
    """Stop recognising an institution's results in the catalogue."""
    service.remove_participant(
        session, principal, service.get_catalogue(session, ref), organization_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/checks",
    response_model=CheckOut,
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE,
)
def create_check(session: DbSession, principal: Clinician, data: CheckIn) -> CheckOut:
    """Check before ordering: each item's recognisable result, or why to order it anew."""
    return service.check(session, principal, data.person_id, data.items)


@router.get("/checks/{check_id}", response_model=CheckOut, responses=_READ)
def get_check(check_id: CheckId, session: DbSession, principal: Clinician) -> CheckOut:
    """Return a recorded check with its verdicts and decisions (candidates are not kept)."""
    record, items = service.get_check(session, principal, check_id)
    return CheckOut(
        id=record.id,
        person_id=record.person_id,
        organization_id=record.organization_id,
        checked_at=record.checked_at,
        items=[
            CheckItemOut(
                id=i.id,
                requested=i.requested,
                item_code=i.item_code,
                name=i.name,
                kind=None,
                catalogue=i.catalogue_id,
                validity_days=None,
                reference_price=i.reference_price,
                verdict=i.verdict,
                reason=i.reason,
                result=None,
                candidates=[],
                decision=i.decision,
                retest_reason=i.retest_reason,
                note=i.note,
            )
            for i in items
        ],
    )


@router.post("/checks/{check_id}/decisions", response_model=list[DecisionOut], responses=_WRITE)
def decide(
    check_id: CheckId, session: DbSession, principal: Clinician, data: DecisionsIn
) -> list[DecisionOut]:
    """Record the decisions: reuse a recognised result, or repeat it with a permitted reason."""
    return service.decide(session, principal, check_id, data.decisions)


@router.get("/statistics", response_model=StatsOut, responses=_WRITE)
def statistics(
    session: DbSession,
    _: Editor,
    by: Annotated[str, Query(pattern=r"^(institution|region|month)$")] = "month",
    since: Month = None,
    until: Month = None,
    region_id: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")] = None,
    organization_id: Annotated[
        str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")
    ] = None,
) -> StatsOut:
    """Recognition rate by person-visits and items, avoided tests and money saved."""
    return service.statistics(
        session,
        by=by,
        since=since,
        until=until,
        region_id=region_id,
        organization_id=organization_id,
    )
