"""FHIR R4 read and search for the registry: Organization, Practitioner, PractitionerRole,
Location (regions). Errors on these paths render as OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from yilian.deps import DbSession
from yilian.kit.errors import NotFound, Unauthorized, Unprocessable, error_responses
from yilian.kit.fhir import FhirResponse, searchset
from yilian.registry import fhir, service
from yilian.registry.rules import OrganizationType, PractitionerRoleCode, RegionLevel
from yilian.registry.schemas import OrganizationFilter, PractitionerFilter, PractitionerRoleFilter
from yilian.security.dependencies import CurrentPrincipal

router = APIRouter(tags=["fhir", "registry"])


_FHIR_JSON = {"content": {"application/fhir+json": {"schema": {"type": "object"}}}}
READ = {200: _FHIR_JSON, **error_responses(Unauthorized, NotFound, Unprocessable)}
SEARCH = {200: _FHIR_JSON, **error_responses(Unauthorized, Unprocessable)}

FhirId = Annotated[str, Path(pattern=r"^[A-Za-z0-9\-.]{1,64}$", description="logical id")]
_TEXT = r"^[^\x00-\x1f\x7f]*$"
Text = Annotated[str | None, Query(min_length=1, max_length=200, pattern=_TEXT)]
Count = Annotated[int, Query(alias="_count", ge=0, le=500, description="page size")]
Offset = Annotated[int, Query(alias="_offset", ge=0, le=10_000_000, description="rows to skip")]
Active = Annotated[Literal["true", "false"] | None, Query()]


def _bool(value: str | None) -> bool | None:
    return None if value is None else value == "true"


def _empty(request: Request, count: int, offset: int) -> FhirResponse:
    return searchset(request, [], total=0, count=count, offset=offset)


def _parsed(parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except fhir.NoMatch:
        return fhir.NoMatch


# --- Organization ----------------------------------------------------------


@router.get(
    "/fhir/Organization/{id}",
    response_class=FhirResponse,
    responses=READ,
    summary="Read Organization",
)
def read_organization(_: CurrentPrincipal, session: DbSession, id: FhirId) -> FhirResponse:
    """Return one Organization."""
    org = service.get_organization(session, id)
    regions = service.regions_with_ancestors(session, [org.region_id])
    return FhirResponse(fhir.organization(org, regions))


@router.get(
    "/fhir/Organization",
    response_class=FhirResponse,
    responses=SEARCH,
    summary="Search Organization",
)
def search_organization(
    request: Request,
    _: CurrentPrincipal,
    session: DbSession,
    name: Text = None,
    type: Text = None,
    partof: Text = None,
    identifier: Text = None,
    active: Active = None,
    count: Count = 50,
    offset: Offset = 0,
) -> FhirResponse:
    """Search organisations by name (contains), type, partof, identifier and active."""
    org_type = _parsed(lambda: type and fhir.enum_token(type, OrganizationType, fhir.CS_ORG_TYPE))
    parent = _parsed(lambda: partof and fhir.reference_id(partof, "Organization"))
    code = _parsed(
        lambda: identifier and fhir.token(identifier, [fhir.SID_ORG_CODE, fhir.SID_USCC])
    )
    if fhir.NoMatch in (org_type, parent, code):
        return _empty(request, count, offset)
    filters = OrganizationFilter(
        name=name,
        type=org_type or None,
        parent_id=parent or None,
        code=code or None,
        active=_bool(active),
    )
    listing = service.list_organizations(
        session, filters=filters, limit=count, offset=offset, with_parent=True
    )
    regions = service.regions_with_ancestors(session, {o.region_id for o in listing.items})
    resources = [fhir.organization(o, regions) for o in listing.items]
    return searchset(request, resources, total=listing.total, count=count, offset=offset)


# --- Practitioner ----------------------------------------------------------


@router.get(
    "/fhir/Practitioner/{id}",
    response_class=FhirResponse,
    responses=READ,
    summary="Read Practitioner",
)
def read_practitioner(_: CurrentPrincipal, session: DbSession, id: FhirId) -> FhirResponse:
    """Return one Practitioner."""
    return FhirResponse(fhir.practitioner(service.get_practitioner(session, id)))


@router.get(
    "/fhir/Practitioner",
    response_class=FhirResponse,
    responses=SEARCH,
    summary="Search Practitioner",
)
def search_practitioner(
    request: Request,
    _: CurrentPrincipal,
    session: DbSession,
    name: Text = None,
    identifier: Text = None,
    active: Active = None,
    count: Count = 50,
    offset: Offset = 0,
) -> FhirResponse:
    """Search practitioners by name (contains), identifier (licence number) and active."""
    license_no = _parsed(lambda: identifier and fhir.token(identifier, [fhir.SID_LICENSE]))
    if license_no is fhir.NoMatch:
        return _empty(request, count, offset)
    filters = PractitionerFilter(name=name, license_no=license_no or None, active=_bool(active))
    listing = service.list_practitioners(session, filters=filters, limit=count, offset=offset)
    resources = [fhir.practitioner(p) for p in listing.items]
    return searchset(request, resources, total=listing.total, count=count, offset=offset)


# --- PractitionerRole ------------------------------------------------------


@router.get(
    "/fhir/PractitionerRole/{id}",
    response_class=FhirResponse,
    responses=READ,
    summary="Read PractitionerRole",
)
def read_practitioner_role(_: CurrentPrincipal, session: DbSession, id: FhirId) -> FhirResponse:
    """Return one PractitionerRole."""
    return FhirResponse(fhir.practitioner_role(service.get_practitioner_role(session, id)))


@router.get(
    "/fhir/PractitionerRole",
    response_class=FhirResponse,
    responses=SEARCH,
    summary="Search PractitionerRole",
)
def search_practitioner_role(
    request: Request,
    _: CurrentPrincipal,
    session: DbSession,
    practitioner: Text = None,
    organization: Text = None,
    role: Text = None,
    specialty: Text = None,
    active: Active = None,
    count: Count = 50,
    offset: Offset = 0,
) -> FhirResponse:
    """Search roles by practitioner, organization, role code, specialty and active."""
    practitioner_id = _parsed(
        lambda: practitioner and fhir.reference_id(practitioner, "Practitioner")
    )
    organization_id = _parsed(
        lambda: organization and fhir.reference_id(organization, "Organization")
    )
    role_code = _parsed(
        lambda: role and fhir.enum_token(role, PractitionerRoleCode, fhir.CS_PRACTITIONER_ROLE)
    )
    if fhir.NoMatch in (practitioner_id, organization_id, role_code):
        return _empty(request, count, offset)
    filters = PractitionerRoleFilter(
        practitioner_id=practitioner_id or None,
        organization_id=organization_id or None,
        role=role_code or None,
        specialty=specialty,
        active=_bool(active),
    )
    listing = service.list_practitioner_roles(session, filters=filters, limit=count, offset=offset)
    resources = [fhir.practitioner_role(r) for r in listing.items]
    return searchset(request, resources, total=listing.total, count=count, offset=offset)


# --- Location (regions) ----------------------------------------------------


@router.get(
    "/fhir/Location/{id}", response_class=FhirResponse, responses=READ, summary="Read Location"
)
def read_location(_: CurrentPrincipal, session: DbSession, id: FhirId) -> FhirResponse:
    """Return one region as a Location."""
    region = service.get_region(session, id)
    parent = service.get_region(session, region.parent_id) if region.parent_id else None
    return FhirResponse(fhir.region_location(region, parent))


@router.get(
    "/fhir/Location", response_class=FhirResponse, responses=SEARCH, summary="Search Location"
)
def search_location(
    request: Request,
    _: CurrentPrincipal,
    session: DbSession,
    name: Text = None,
    type: Text = None,
    partof: Text = None,
    identifier: Text = None,
    count: Count = 50,
    offset: Offset = 0,
) -> FhirResponse:
    """Search regions by name (contains), type (level), partof and identifier (区划代码)."""
    level = _parsed(lambda: type and fhir.enum_token(type, RegionLevel, fhir.CS_REGION_LEVEL))
    parent = _parsed(lambda: partof and fhir.reference_id(partof, "Location"))
    code = _parsed(lambda: identifier and fhir.token(identifier, [fhir.SID_REGION_CODE]))
    if fhir.NoMatch in (level, parent, code):
        return _empty(request, count, offset)
    listing = service.list_regions(
        session,
        level=level or None,
        parent_id=parent or None,
        name=name,
        code=code or None,
        limit=count,
        offset=offset,
    )
    parents = service.regions_with_ancestors(
        session, {r.parent_id for r in listing.items if r.parent_id}
    )
    resources = [
        fhir.region_location(r, parents.get(r.parent_id) if r.parent_id else None)
        for r in listing.items
    ]
    return searchset(request, resources, total=listing.total, count=count, offset=offset)
