"""Registry API: regions, organisations, consortia, practitioners and their roles.

Reads need any signed-in principal, writes need an administrator.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

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
from yilian.registry import service
from yilian.registry.models import (
    Consortium,
    ConsortiumMember,
    Organization,
    Practitioner,
    PractitionerRole,
    Region,
)
from yilian.registry.rules import (
    ConsortiumKind,
    OrganizationType,
    PractitionerRoleCode,
    RegionLevel,
)
from yilian.registry.schemas import (
    ID,
    ConsortiumCreate,
    ConsortiumRead,
    ConsortiumUpdate,
    MemberCreate,
    MemberRead,
    OrganizationCreate,
    OrganizationFilter,
    OrganizationRead,
    OrganizationUpdate,
    PageOut,
    PractitionerCreate,
    PractitionerFilter,
    PractitionerRead,
    PractitionerRoleCreate,
    PractitionerRoleFilter,
    PractitionerRoleRead,
    PractitionerRoleUpdate,
    PractitionerUpdate,
    RegionCreate,
    RegionNode,
    RegionRead,
    RegionUpdate,
)
from yilian.security.dependencies import AdminPrincipal, CurrentPrincipal

router = APIRouter(prefix="/api/v1", tags=["registry"])

READ = error_responses(Unauthorized, Unprocessable)
READ_ONE = error_responses(Unauthorized, NotFound, Unprocessable)
WRITE = error_responses(BadRequest, Unauthorized, Forbidden, Conflict, Unprocessable)
WRITE_ONE = error_responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)
DELETE = error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=ID)]
FilterId = Annotated[str | None, Query(min_length=1, max_length=64, pattern=ID)]
Search = Annotated[
    str | None,
    Query(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$", description="part of the name or code"),
]
Flag = Annotated[bool | None, Query()]


def _page(listing: service.Listing[Any], paging: Paging) -> dict[str, Any]:
    return {
        "items": listing.items,
        "total": listing.total,
        "limit": paging.limit,
        "offset": paging.offset,
    }


def valid_region(region_id: Id, session: DbSession) -> Region:
    return service.get_region(session, region_id)


def valid_organization(organization_id: Id, session: DbSession) -> Organization:
    return service.get_organization(session, organization_id)


def valid_consortium(consortium_id: Id, session: DbSession) -> Consortium:
    return service.get_consortium(session, consortium_id)


def valid_practitioner(practitioner_id: Id, session: DbSession) -> Practitioner:
    return service.get_practitioner(session, practitioner_id)


def valid_practitioner_role(role_id: Id, session: DbSession) -> PractitionerRole:
    return service.get_practitioner_role(session, role_id)


ValidRegion = Annotated[Region, Depends(valid_region)]
ValidOrganization = Annotated[Organization, Depends(valid_organization)]
ValidConsortium = Annotated[Consortium, Depends(valid_consortium)]
ValidPractitioner = Annotated[Practitioner, Depends(valid_practitioner)]
ValidPractitionerRole = Annotated[PractitionerRole, Depends(valid_practitioner_role)]


# --- regions ---------------------------------------------------------------


@router.get("/regions", response_model=PageOut[RegionRead], responses=READ)
def list_regions(
    _: CurrentPrincipal,
    session: DbSession,
    paging: Paging,
    level: RegionLevel | None = None,
    parent_id: FilterId = None,
    q: Search = None,
) -> dict[str, Any]:
    """List regions (行政区划), filtered by level, parent or name/code."""
    listing = service.list_regions(
        session, level=level, parent_id=parent_id, q=q, limit=paging.limit, offset=paging.offset
    )
    return _page(listing, paging)


@router.get("/regions/tree", response_model=list[RegionNode], responses=READ_ONE)
def region_tree(
    _: CurrentPrincipal, session: DbSession, root_id: FilterId = None
) -> list[RegionNode]:
    """Return the region tree with the number of organisations in and below each region."""
    return service.region_tree(session, root_id=root_id)


@router.post(
    "/regions",
    response_model=RegionRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_region(_: AdminPrincipal, session: DbSession, body: RegionCreate) -> Region:
    """Create a region."""
    return service.create_region(session, body)


@router.get("/regions/{region_id}", response_model=RegionRead, responses=READ_ONE)
def get_region(_: CurrentPrincipal, region: ValidRegion) -> Region:
    """Return one region."""
    return region


@router.patch("/regions/{region_id}", response_model=RegionRead, responses=WRITE_ONE)
def update_region(
    _: AdminPrincipal, session: DbSession, region: ValidRegion, body: RegionUpdate
) -> Region:
    """Change a region's fields."""
    return service.update_region(session, region, body)


@router.delete("/regions/{region_id}", status_code=204, responses=DELETE)
def delete_region(_: AdminPrincipal, session: DbSession, region: ValidRegion) -> Response:
    """Delete a region nothing refers to."""
    service.delete_region(session, region)
    return Response(status_code=204)


# --- organisations ---------------------------------------------------------


@router.get("/organizations", response_model=PageOut[OrganizationRead], responses=READ)
def list_organizations(
    _: CurrentPrincipal,
    session: DbSession,
    paging: Paging,
    region_id: Annotated[
        str | None,
        Query(min_length=1, max_length=64, pattern=ID, description="this region and below"),
    ] = None,
    type: OrganizationType | None = None,
    q: Search = None,
    consortium_id: FilterId = None,
    insurance_designated: Flag = None,
    active: Flag = None,
    parent_id: FilterId = None,
) -> dict[str, Any]:
    """List organisations, filtered by region (with sub-regions), type, name/code, consortium."""
    filters = OrganizationFilter(
        region_id=region_id,
        type=type,
        q=q,
        consortium_id=consortium_id,
        insurance_designated=insurance_designated,
        active=active,
        parent_id=parent_id,
    )
    listing = service.list_organizations(
        session, filters=filters, limit=paging.limit, offset=paging.offset
    )
    return _page(listing, paging)


@router.post(
    "/organizations",
    response_model=OrganizationRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_organization(
    _: AdminPrincipal, session: DbSession, body: OrganizationCreate
) -> Organization:
    """Create an organisation."""
    return service.create_organization(session, body)


@router.get("/organizations/{organization_id}", response_model=OrganizationRead, responses=READ_ONE)
def get_organization(_: CurrentPrincipal, org: ValidOrganization) -> Organization:
    """Return one organisation."""
    return org


@router.patch(
    "/organizations/{organization_id}", response_model=OrganizationRead, responses=WRITE_ONE
)
def update_organization(
    _: AdminPrincipal, session: DbSession, org: ValidOrganization, body: OrganizationUpdate
) -> Organization:
    """Change an organisation's fields."""
    return service.update_organization(session, org, body)


@router.delete("/organizations/{organization_id}", status_code=204, responses=DELETE)
def delete_organization(_: AdminPrincipal, session: DbSession, org: ValidOrganization) -> Response:
    """Delete an organisation nothing refers to."""
    service.delete_organization(session, org)
    return Response(status_code=204)


# --- consortia -------------------------------------------------------------


@router.get("/consortia", response_model=PageOut[ConsortiumRead], responses=READ)
def list_consortia(
    _: CurrentPrincipal,
    session: DbSession,
    paging: Paging,
    kind: ConsortiumKind | None = None,
    q: Search = None,
    organization_id: FilterId = None,
    region_id: FilterId = None,
) -> dict[str, Any]:
    """List consortia (医联体, 专科联盟, ...), filtered by kind, name/code, member or region."""
    listing = service.list_consortia(
        session,
        kind=kind,
        q=q,
        organization_id=organization_id,
        region_id=region_id,
        limit=paging.limit,
        offset=paging.offset,
    )
    return _page(listing, paging)


@router.post(
    "/consortia",
    response_model=ConsortiumRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_consortium(_: AdminPrincipal, session: DbSession, body: ConsortiumCreate) -> Consortium:
    """Create a consortium with its lead and initial members."""
    return service.create_consortium(session, body)


@router.get("/consortia/{consortium_id}", response_model=ConsortiumRead, responses=READ_ONE)
def get_consortium(_: CurrentPrincipal, consortium: ValidConsortium) -> Consortium:
    """Return one consortium."""
    return consortium


@router.patch("/consortia/{consortium_id}", response_model=ConsortiumRead, responses=WRITE_ONE)
def update_consortium(
    _: AdminPrincipal, session: DbSession, consortium: ValidConsortium, body: ConsortiumUpdate
) -> Consortium:
    """Change a consortium's fields or lead."""
    return service.update_consortium(session, consortium, body)


@router.delete("/consortia/{consortium_id}", status_code=204, responses=DELETE)
def delete_consortium(
    _: AdminPrincipal, session: DbSession, consortium: ValidConsortium
) -> Response:
    """Delete a consortium and its memberships."""
    service.delete_consortium(session, consortium)
    return Response(status_code=204)


@router.get(
    "/consortia/{consortium_id}/members", response_model=PageOut[MemberRead], responses=READ_ONE
)
def list_members(
    _: CurrentPrincipal, session: DbSession, consortium: ValidConsortium, paging: Paging
) -> dict[str, Any]:
    """List a consortium's members, the lead first."""
    listing = service.list_members(session, consortium, limit=paging.limit, offset=paging.offset)
    return _page(listing, paging)


@router.post(
    "/consortia/{consortium_id}/members",
    response_model=MemberRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ONE,
)
def add_member(
    _: AdminPrincipal, session: DbSession, consortium: ValidConsortium, body: MemberCreate
) -> ConsortiumMember:
    """Add an organisation to a consortium."""
    return service.add_member(session, consortium, body)


@router.delete(
    "/consortia/{consortium_id}/members/{organization_id}", status_code=204, responses=DELETE
)
def remove_member(
    _: AdminPrincipal, session: DbSession, consortium: ValidConsortium, organization_id: Id
) -> Response:
    """Remove an organisation from a consortium."""
    service.remove_member(session, consortium, organization_id)
    return Response(status_code=204)


# --- practitioners ---------------------------------------------------------


@router.get("/practitioners", response_model=PageOut[PractitionerRead], responses=READ)
def list_practitioners(
    _: CurrentPrincipal,
    session: DbSession,
    paging: Paging,
    organization_id: FilterId = None,
    q: Search = None,
    specialty: Annotated[
        str | None, Query(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f]*$")
    ] = None,
    active: Flag = None,
) -> dict[str, Any]:
    """List practitioners with their roles, filtered by organisation, name/licence, specialty."""
    filters = PractitionerFilter(
        organization_id=organization_id, q=q, specialty=specialty, active=active
    )
    listing = service.list_practitioners(
        session, filters=filters, limit=paging.limit, offset=paging.offset
    )
    return _page(listing, paging)


@router.post(
    "/practitioners",
    response_model=PractitionerRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_practitioner(
    _: AdminPrincipal, session: DbSession, body: PractitionerCreate
) -> Practitioner:
    """Create a practitioner."""
    return service.create_practitioner(session, body)


@router.get("/practitioners/{practitioner_id}", response_model=PractitionerRead, responses=READ_ONE)
def get_practitioner(_: CurrentPrincipal, practitioner: ValidPractitioner) -> Practitioner:
    """Return one practitioner with their roles."""
    return practitioner


@router.patch(
    "/practitioners/{practitioner_id}", response_model=PractitionerRead, responses=WRITE_ONE
)
def update_practitioner(
    _: AdminPrincipal, session: DbSession, practitioner: ValidPractitioner, body: PractitionerUpdate
) -> Practitioner:
    """Change a practitioner's fields."""
    return service.update_practitioner(session, practitioner, body)


@router.delete("/practitioners/{practitioner_id}", status_code=204, responses=DELETE)
def delete_practitioner(
    _: AdminPrincipal, session: DbSession, practitioner: ValidPractitioner
) -> Response:
    """Delete a practitioner and their roles."""
    service.delete_practitioner(session, practitioner)
    return Response(status_code=204)


@router.get("/practitioner-roles", response_model=PageOut[PractitionerRoleRead], responses=READ)
def list_practitioner_roles(
    _: CurrentPrincipal,
    session: DbSession,
    paging: Paging,
    practitioner_id: FilterId = None,
    organization_id: FilterId = None,
    role: PractitionerRoleCode | None = None,
    active: Flag = None,
) -> dict[str, Any]:
    """List practitioner roles, filtered by practitioner, organisation or role."""
    filters = PractitionerRoleFilter(
        practitioner_id=practitioner_id, organization_id=organization_id, role=role, active=active
    )
    listing = service.list_practitioner_roles(
        session, filters=filters, limit=paging.limit, offset=paging.offset
    )
    return _page(listing, paging)


@router.post(
    "/practitioner-roles",
    response_model=PractitionerRoleRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_practitioner_role(
    _: AdminPrincipal, session: DbSession, body: PractitionerRoleCreate
) -> PractitionerRole:
    """Give a practitioner a role at an organisation."""
    return service.create_practitioner_role(session, body)


@router.get(
    "/practitioner-roles/{role_id}", response_model=PractitionerRoleRead, responses=READ_ONE
)
def get_practitioner_role(_: CurrentPrincipal, role: ValidPractitionerRole) -> PractitionerRole:
    """Return one practitioner role."""
    return role


@router.patch(
    "/practitioner-roles/{role_id}", response_model=PractitionerRoleRead, responses=WRITE_ONE
)
def update_practitioner_role(
    _: AdminPrincipal, session: DbSession, role: ValidPractitionerRole, body: PractitionerRoleUpdate
) -> PractitionerRole:
    """Change a practitioner role."""
    return service.update_practitioner_role(session, role, body)


@router.delete("/practitioner-roles/{role_id}", status_code=204, responses=DELETE)
def delete_practitioner_role(
    _: AdminPrincipal, session: DbSession, role: ValidPractitionerRole
) -> Response:
    """Delete a practitioner role."""
    service.delete_practitioner_role(session, role)
    return Response(status_code=204)
