"""FHIR R4 REST face of the store: transaction/batch, create, update, read, search, $everything.

Mounted after the registry's FHIR router, so that its read/search routes for
Organization, Practitioner, PractitionerRole and Location match first; the
routes here refuse writes of those types. Errors render as OperationOutcome.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

import orjson
from fastapi import APIRouter, Depends, Header, Path, Request

from yilian.deps import DbSession
from yilian.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from yilian.kit.fhir import FHIR_JSON, FhirResponse, searchset
from yilian.records import service
from yilian.security.dependencies import CurrentPrincipal, require_roles
from yilian.security.principal import Principal, Role

router = APIRouter(tags=["fhir", "records"])


_BODY = {"content": {FHIR_JSON: {"schema": {"type": "object"}}}}
WRITE = {
    200: _BODY,
    201: _BODY,
    **error_responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
}
READ = {200: _BODY, **error_responses(BadRequest, Unauthorized, Forbidden, NotFound)}

ResourceType = Annotated[
    str, Path(pattern=r"^[A-Z][A-Za-z]{1,63}$", description="FHIR resource type")
]
ResourceId = Annotated[str, Path(pattern=r"^[A-Za-z0-9\-.]{1,64}$", description="logical id")]
Writer = Annotated[Principal, Depends(require_roles(Role.system, Role.admin))]
Purpose = Annotated[
    str,
    Header(
        alias="X-Purpose-Of-Use",
        max_length=64,
        description="why the record is read (treatment, public_health, …)",
    ),
]
BreakGlass = Annotated[
    str | None,
    Header(
        alias="X-Break-Glass-Reason",
        max_length=500,
        description=(
            "紧急访问: the reason, for clinicians without a care relationship "
            "(percent-encoded UTF-8, as HTTP headers are ASCII)"
        ),
    ),
]


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise BadRequest("the request body is empty; send a FHIR JSON resource")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None


def _context(principal: Principal, purpose: str, reason: str | None) -> service.ReadContext:
    return service.ReadContext(
        principal=principal,
        purpose=unquote(purpose),
        break_glass_reason=unquote(reason) if reason else None,
    )


def _written(out: service.Outcome) -> FhirResponse:
    return FhirResponse(
        out.resource,
        status_code=out.status,
        headers={
            "Location": out.location,
            "ETag": f'W/"{out.version_id}"',
            "Last-Modified": out.resource["meta"]["lastUpdated"],
        },
    )


@router.post(
    "/fhir",
    response_class=FhirResponse,
    responses=WRITE,
    summary="Transaction or batch Bundle (健康档案存储)",
)
async def post_bundle(request: Request, principal: Writer, session: DbSession) -> FhirResponse:
    """Store a transaction (all or nothing) or a batch (entry by entry) Bundle."""
    bundle = await _json_body(request)
    return FhirResponse(service.ingest_bundle(session, principal, bundle))


@router.get(
    "/fhir/Patient/{id}/$everything",
    response_class=FhirResponse,
    responses=READ,
    summary="Everything about a patient (健康档案调阅)",
)
def patient_everything(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    id: ResourceId,
    purpose: Purpose = "treatment",
    break_glass: BreakGlass = None,
) -> FhirResponse:
    """Return every resource about the person this Patient belongs to, from every institution."""
    resources = service.everything(session, _context(principal, purpose, break_glass), id)
    return searchset(request, resources, total=len(resources), count=len(resources), offset=0)


@router.post(
    "/fhir/{type}",
    response_class=FhirResponse,
    responses=WRITE,
    summary="Create a resource",
)
async def create_resource(
    request: Request,
    principal: Writer,
    session: DbSession,
    type: ResourceType,
    if_none_exist: Annotated[str | None, Header(alias="If-None-Exist", max_length=1000)] = None,
) -> FhirResponse:
    """Create a resource; a re-send with the same business identifier updates it."""
    resource = await _json_body(request)
    out = service.create(session, principal, type, resource, if_none_exist=if_none_exist)
    return _written(out)


@router.put(
    "/fhir/{type}/{id}",
    response_class=FhirResponse,
    responses=WRITE,
    summary="Update (or create) a resource by id",
)
async def update_resource(
    request: Request, principal: Writer, session: DbSession, type: ResourceType, id: ResourceId
) -> FhirResponse:
    """Create or update the resource with this id."""
    resource = await _json_body(request)
    return _written(service.update(session, principal, type, id, resource))


@router.get(
    "/fhir/{type}/{id}", response_class=FhirResponse, responses=READ, summary="Read a resource"
)
def read_resource(
    principal: CurrentPrincipal,
    session: DbSession,
    type: ResourceType,
    id: ResourceId,
    purpose: Purpose = "treatment",
    break_glass: BreakGlass = None,
) -> FhirResponse:
    """Return the current version of one resource."""
    resource = service.read(session, _context(principal, purpose, break_glass), type, id)
    return FhirResponse(resource, headers={"ETag": f'W/"{resource["meta"]["versionId"]}"'})


@router.get(
    "/fhir/{type}", response_class=FhirResponse, responses=READ, summary="Search a resource type"
)
def search_resources(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    type: ResourceType,
    purpose: Purpose = "treatment",
    break_glass: BreakGlass = None,
) -> FhirResponse:
    """Search by patient, code, category, date, identifier, organization (Patient: name)."""
    params = list(request.query_params.multi_items())
    ctx = _context(principal, purpose, break_glass)
    result = service.search(session, ctx, type, params)
    return searchset(
        request,
        result.matches,
        total=result.total,
        count=_int_param(request, "_count", service.DEFAULT_COUNT),
        offset=_int_param(request, "_offset", 0),
        included=result.included,
        outcome=service.withheld_outcome(result.withheld) if result.withheld else None,
    )


def _int_param(request: Request, name: str, default: int) -> int:
    # The service has validated the search parameters already; this only reads them back.
    value = request.query_params.get(name)
    return int(value) if value and value.isdigit() else default
