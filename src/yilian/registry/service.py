"""Registry logic: regions, organisations, consortia, practitioners, and the bulk loader.

Functions take the session first and keyword arguments after it; they ``flush()``
and never commit. Writes run inside a savepoint so that a constraint the checks
did not foresee (a concurrent insert, another domain's foreign key) becomes a
409 and leaves the caller's transaction usable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.kit.errors import Conflict, NotFound, Unprocessable
from yilian.registry import repository as repo
from yilian.registry.models import (
    Consortium,
    ConsortiumMember,
    Organization,
    Practitioner,
    PractitionerRole,
    Region,
)
from yilian.registry.rules import (
    REGION_LEVEL_LABELS,
    ConsortiumKind,
    ConsortiumRole,
    RegionLevel,
    find_cycle,
    region_parent_allowed,
)
from yilian.registry.schemas import (
    ConsortiumCreate,
    ConsortiumSeed,
    ConsortiumUpdate,
    MemberCreate,
    OrganizationCreate,
    OrganizationFilter,
    OrganizationSeed,
    OrganizationUpdate,
    PractitionerCreate,
    PractitionerFilter,
    PractitionerRoleCreate,
    PractitionerRoleFilter,
    PractitionerRoleUpdate,
    PractitionerSeed,
    PractitionerUpdate,
    RegionCreate,
    RegionNode,
    RegionSeed,
    RegionUpdate,
)

T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)


@dataclass
class Listing(Generic[T]):
    items: list[T]
    total: int


@contextmanager
def _guarded(session: Session, message: str, *, field: str | None = None) -> Iterator[None]:
    """Flush the writes made in the block inside a savepoint; an IntegrityError becomes 409."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        raise Conflict(message, field=field) from exc


def _describe(references: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in references.items())


# --- regions ---------------------------------------------------------------


def within_region(region_id: str) -> Select[str]:
    """Subquery of the ids of a region and all regions below it, for ``column.in_(...)``."""
    return repo.within_region(region_id)


def get_region(session: Session, region_id: str) -> Region:
    """Return the region or raise NotFound."""
    region = session.get(Region, region_id)
    if region is None:
        raise NotFound(f"region {region_id} does not exist")
    return region


def get_region_by_code(session: Session, code: str) -> Region | None:
    """Return the region with this 行政区划代码, if any."""
    return repo.by_code(session, Region, code)


def region_ancestry(session: Session, region_id: str) -> list[Region]:
    """Return the region and its ancestors, the top-level region first."""
    regions = repo.region_ancestry(session, [region_id])
    chain: list[Region] = []
    node = regions.get(region_id)
    while node is not None:
        chain.append(node)
        node = regions.get(node.parent_id) if node.parent_id else None
    return list(reversed(chain))


def regions_with_ancestors(session: Session, region_ids: Iterable[str]) -> dict[str, Region]:
    """Return the given regions and all their ancestors, by id, in one query."""
    return repo.region_ancestry(session, region_ids)


def list_regions(
    session: Session,
    *,
    level: RegionLevel | None = None,
    parent_id: str | None = None,
    q: str | None = None,
    name: str | None = None,
    code: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Listing[Region]:
    """List regions by level, parent, name/code fragment, name fragment or code; by code."""
    items, total = repo.list_regions(
        session,
        level=level,
        parent_id=parent_id,
        q=q,
        name=name,
        code=code,
        limit=limit,
        offset=offset,
    )
    return Listing(items, total)


def _region_parent(session: Session, parent_id: str | None, level: RegionLevel) -> Region | None:
    if parent_id is None:
        return None
    parent = session.get(Region, parent_id)
    if parent is None:
        raise Unprocessable(f"parent region {parent_id} does not exist", field="parent_id")
    if not region_parent_allowed(level, parent.level):
        raise Unprocessable(
            f"a {level.value} region cannot sit inside a {parent.level.value} region "
            f"({REGION_LEVEL_LABELS[level]} ⊄ {REGION_LEVEL_LABELS[parent.level]})",
            field="parent_id",
        )
    return parent


def _unique_code(
    session: Session, model: type[Any], code: str, noun: str, own_id: str | None
) -> None:
    existing = repo.by_code(session, model, code)
    if existing is not None and existing.id != own_id:
        raise Conflict(f"a {noun} with code {code} already exists", field="code")


def create_region(session: Session, data: RegionCreate) -> Region:
    """Create a region under an existing parent of a higher level."""
    _unique_code(session, Region, data.code, "region", None)
    _region_parent(session, data.parent_id, data.level)
    region = Region(**data.model_dump())
    with _guarded(session, f"a region with code {data.code} already exists", field="code"):
        session.add(region)
    return region


def update_region(session: Session, region: Region, data: RegionUpdate) -> Region:
    """Change a region's fields; the level rule holds for its parent and its children."""
    changes = data.model_dump(exclude_unset=True)
    if "code" in changes:
        _unique_code(session, Region, changes["code"], "region", region.id)
    level: RegionLevel = changes.get("level", region.level)
    if "parent_id" in changes or "level" in changes:
        _region_parent(session, changes.get("parent_id", region.parent_id), level)
    if "level" in changes:
        children = repo.child_region_levels(session, region.id)
        if any(not region_parent_allowed(child, level) for child in children):
            raise Unprocessable(
                f"region {region.code} has sub-regions that would not sit below a "
                f"{level.value} region",
                field="level",
            )
    with _guarded(session, f"region {region.code} could not be updated: the code is taken"):
        for key, value in changes.items():
            setattr(region, key, value)
    return region


def delete_region(session: Session, region: Region) -> None:
    """Delete a region that nothing refers to."""
    refs = repo.region_references(session, region.id)
    if refs:
        raise Conflict(
            f"region {region.code} is still referenced by {_describe(refs)}; "
            "move or delete those first"
        )
    with _guarded(session, f"region {region.code} is still referenced by records of other domains"):
        session.delete(region)


def region_tree(session: Session, *, root_id: str | None = None) -> list[RegionNode]:
    """Return the region forest (or one subtree) with organisation counts on every node."""
    regions = repo.all_regions(session)
    direct = repo.organization_counts_by_region(session)
    children: dict[str | None, list[Region]] = {}
    for r in regions:
        children.setdefault(r.parent_id, []).append(r)

    def build(r: Region) -> RegionNode:
        kids = [build(c) for c in children.get(r.id, [])]
        own = direct.get(r.id, 0)
        return RegionNode(
            id=r.id,
            code=r.code,
            name=r.name,
            level=r.level,
            direct_organization_count=own,
            organization_count=own + sum(k.organization_count for k in kids),
            children=kids,
        )

    if root_id is not None:
        return [build(get_region(session, root_id))]
    return [build(r) for r in children.get(None, [])]


# --- organisations ---------------------------------------------------------


def get_organization(session: Session, organization_id: str) -> Organization:
    """Return the organisation (with its region and parent loaded) or raise NotFound."""
    org = repo.get_organization(session, organization_id)
    if org is None:
        raise NotFound(f"organization {organization_id} does not exist")
    return org


def get_organization_by_code(session: Session, code: str) -> Organization | None:
    """Return the organisation with this code, if any."""
    return repo.by_code(session, Organization, code)


def organizations_by_ids(session: Session, ids: Iterable[str]) -> dict[str, Organization]:
    """Return the existing organisations among ``ids`` (regions loaded), by id."""
    return {o.id: o for o in repo.organizations_by_ids(session, ids)}


def practitioner_ids_by_licence(session: Session, licences: Iterable[str]) -> dict[str, str]:
    """``执业证号 → practitioner id`` for the licence numbers that exist (one query)."""
    return {
        str(p.license_no): p.id for p in repo.by_key(session, Practitioner, "license_no", licences)
    }


def list_organizations(
    session: Session,
    *,
    filters: OrganizationFilter | None = None,
    limit: int = 50,
    offset: int = 0,
    with_parent: bool = False,
) -> Listing[Organization]:
    """List organisations matching ``filters`` (a region includes its sub-regions), by code."""
    items, total = repo.list_organizations(
        session,
        filters or OrganizationFilter(),
        limit=limit,
        offset=offset,
        with_parent=with_parent,
    )
    return Listing(items, total)


def within_region_organization_ids(session: Session, region_id: str) -> set[str]:
    """Return the ids of all organisations in a region or any region below it."""
    return set(session.scalars(repo.organization_ids_within(region_id)))


def _org_region(session: Session, region_id: str) -> Region:
    region = session.get(Region, region_id)
    if region is None:
        raise Unprocessable(f"region {region_id} does not exist", field="region_id")
    return region


def _org_parent(session: Session, parent_id: str | None, own_id: str | None) -> Organization | None:
    if parent_id is None:
        return None
    parent = session.get(Organization, parent_id)
    if parent is None:
        raise Unprocessable(f"parent organization {parent_id} does not exist", field="parent_id")
    if own_id is not None and parent_id in repo.organization_subtree_ids(session, own_id):
        raise Unprocessable(
            "an organization cannot be placed under itself or one of its subordinates",
            field="parent_id",
        )
    return parent


def create_organization(session: Session, data: OrganizationCreate) -> Organization:
    """Create an organisation in an existing region, optionally under a parent organisation."""
    _unique_code(session, Organization, data.code, "organization", None)
    region = _org_region(session, data.region_id)
    parent = _org_parent(session, data.parent_id, None)
    org = Organization(**data.model_dump(exclude={"region_id", "parent_id"}))
    org.region = region
    org.parent = parent
    with _guarded(session, f"an organization with code {data.code} already exists", field="code"):
        session.add(org)
    return org


def update_organization(
    session: Session, org: Organization, data: OrganizationUpdate
) -> Organization:
    """Change an organisation's fields; its parent chain stays free of cycles."""
    changes = data.model_dump(exclude_unset=True)
    if "code" in changes:
        _unique_code(session, Organization, changes["code"], "organization", org.id)
    region = _org_region(session, changes.pop("region_id")) if "region_id" in changes else None
    parent_given = "parent_id" in changes
    parent = _org_parent(session, changes.pop("parent_id", None), org.id)
    with _guarded(session, f"organization {org.code} could not be updated: the code is taken"):
        for key, value in changes.items():
            setattr(org, key, value)
        if region is not None:
            org.region = region
        if parent_given:
            org.parent = parent
    return org


def delete_organization(session: Session, org: Organization) -> None:
    """Delete an organisation that nothing refers to (deactivate it otherwise)."""
    refs = repo.organization_references(session, org.id)
    if refs:
        raise Conflict(
            f"organization {org.code} is still referenced by {_describe(refs)}; "
            "remove those first, or set active=false to retire it"
        )
    with _guarded(
        session,
        f"organization {org.code} is still referenced by records of other domains; "
        "set active=false to retire it",
    ):
        session.delete(org)


# --- consortia -------------------------------------------------------------


def get_consortium(session: Session, consortium_id: str) -> Consortium:
    """Return the consortium (with its lead loaded) or raise NotFound."""
    consortium = repo.get_consortium(session, consortium_id)
    if consortium is None:
        raise NotFound(f"consortium {consortium_id} does not exist")
    return consortium


def list_consortia(
    session: Session,
    *,
    kind: ConsortiumKind | None = None,
    q: str | None = None,
    organization_id: str | None = None,
    region_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Listing[Consortium]:
    """List consortia by kind, name/code fragment, member organisation or region."""
    items, total = repo.list_consortia(
        session,
        kind=kind,
        q=q,
        organization_id=organization_id,
        region_id=region_id,
        limit=limit,
        offset=offset,
    )
    return Listing(items, total)


def _existing_org(session: Session, organization_id: str, field: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise Unprocessable(f"organization {organization_id} does not exist", field=field)
    return org


def _optional_region(session: Session, region_id: str | None) -> None:
    if region_id is not None and session.get(Region, region_id) is None:
        raise Unprocessable(f"region {region_id} does not exist", field="region_id")


def create_consortium(session: Session, data: ConsortiumCreate) -> Consortium:
    """Create a consortium; its lead and the listed organisations become members."""
    _unique_code(session, Consortium, data.code, "consortium", None)
    lead = _existing_org(session, data.lead_organization_id, "lead_organization_id")
    _optional_region(session, data.region_id)
    others = [i for i in dict.fromkeys(data.member_ids) if i != lead.id]
    missing = set(others) - repo.existing_ids(session, Organization, others)
    if missing:
        index = next(n for n, i in enumerate(data.member_ids) if i in missing)
        raise Unprocessable(
            f"organization {data.member_ids[index]} does not exist", field=f"member_ids.{index}"
        )
    consortium = Consortium(**data.model_dump(exclude={"member_ids"}))
    consortium.lead_organization = lead
    with _guarded(session, f"a consortium with code {data.code} already exists", field="code"):
        session.add(consortium)
        session.flush()
        session.add(
            ConsortiumMember(
                consortium_id=consortium.id, organization_id=lead.id, role=ConsortiumRole.lead
            )
        )
        session.add_all(
            ConsortiumMember(
                consortium_id=consortium.id, organization_id=i, role=ConsortiumRole.member
            )
            for i in others
        )
    session.refresh(consortium, ["member_count"])
    return consortium


def _make_lead(session: Session, consortium: Consortium, lead: Organization) -> None:
    session.execute(
        update(ConsortiumMember)
        .where(
            ConsortiumMember.consortium_id == consortium.id,
            ConsortiumMember.role == ConsortiumRole.lead,
        )
        .values(role=ConsortiumRole.member)
    )
    existing = repo.membership(session, consortium.id, lead.id)
    if existing is None:
        session.add(
            ConsortiumMember(
                consortium_id=consortium.id, organization_id=lead.id, role=ConsortiumRole.lead
            )
        )
    else:
        existing.role = ConsortiumRole.lead
    consortium.lead_organization = lead


def update_consortium(
    session: Session, consortium: Consortium, data: ConsortiumUpdate
) -> Consortium:
    """Change a consortium; a new lead becomes (or stays) a member and the old lead a member."""
    changes = data.model_dump(exclude_unset=True)
    if "code" in changes:
        _unique_code(session, Consortium, changes["code"], "consortium", consortium.id)
    if "region_id" in changes:
        _optional_region(session, changes["region_id"])
    lead_id = changes.pop("lead_organization_id", None)
    lead = _existing_org(session, lead_id, "lead_organization_id") if lead_id else None
    with _guarded(session, f"consortium {consortium.code} could not be updated: the code is taken"):
        for key, value in changes.items():
            setattr(consortium, key, value)
        if lead is not None and lead.id != consortium.lead_organization_id:
            _make_lead(session, consortium, lead)
    session.refresh(consortium, ["member_count"])
    return consortium


def delete_consortium(session: Session, consortium: Consortium) -> None:
    """Delete a consortium and its memberships."""
    with _guarded(
        session, f"consortium {consortium.code} is still referenced by records of other domains"
    ):
        session.delete(consortium)


def list_members(
    session: Session, consortium: Consortium, *, limit: int = 50, offset: int = 0
) -> Listing[ConsortiumMember]:
    """List a consortium's members, the lead first."""
    items, total = repo.list_members(session, consortium.id, limit=limit, offset=offset)
    return Listing(items, total)


def add_member(session: Session, consortium: Consortium, data: MemberCreate) -> ConsortiumMember:
    """Add an organisation to a consortium as a member."""
    org = _existing_org(session, data.organization_id, "organization_id")
    if repo.membership(session, consortium.id, org.id) is not None:
        raise Conflict(
            f"organization {org.code} is already a member of consortium {consortium.code}",
            field="organization_id",
        )
    member = ConsortiumMember(
        consortium_id=consortium.id, role=ConsortiumRole.member, joined_on=data.joined_on
    )
    member.organization = org
    with _guarded(
        session, f"organization {org.code} is already a member of consortium {consortium.code}"
    ):
        session.add(member)
    session.expire(consortium, ["member_count"])
    return member


def remove_member(session: Session, consortium: Consortium, organization_id: str) -> None:
    """Remove an organisation from a consortium; the lead cannot leave."""
    member = repo.membership(session, consortium.id, organization_id)
    if member is None:
        raise NotFound(
            f"organization {organization_id} is not a member of consortium {consortium.code}"
        )
    if member.role == ConsortiumRole.lead:
        raise Conflict(
            "the lead organization cannot leave its consortium; appoint another lead first"
        )
    with _guarded(session, "the membership is still referenced by records of other domains"):
        session.delete(member)
    session.expire(consortium, ["member_count"])


def consortium_peer_ids(session: Session, organization_id: str) -> set[str]:
    """Return the organisations sharing a consortium with this one (itself included if any)."""
    return repo.consortium_peer_ids(session, organization_id)


# --- practitioners ---------------------------------------------------------


def get_practitioner(session: Session, practitioner_id: str) -> Practitioner:
    """Return the practitioner with their roles loaded, or raise NotFound."""
    practitioner = repo.get_practitioner(session, practitioner_id)
    if practitioner is None:
        raise NotFound(f"practitioner {practitioner_id} does not exist")
    return practitioner


def list_practitioners(
    session: Session,
    *,
    filters: PractitionerFilter | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Listing[Practitioner]:
    """List practitioners by organisation, name/licence fragment or specialty, with their roles."""
    items, total = repo.list_practitioners(
        session, filters or PractitionerFilter(), limit=limit, offset=offset
    )
    return Listing(items, total)


def _unique_license(session: Session, license_no: str | None, own_id: str | None) -> None:
    if license_no is None:
        return
    found = repo.by_key(session, Practitioner, "license_no", [license_no])
    if found and found[0].id != own_id:
        raise Conflict(
            f"a practitioner with licence number {license_no} already exists", field="license_no"
        )


def create_practitioner(session: Session, data: PractitionerCreate) -> Practitioner:
    """Create a practitioner (no roles yet)."""
    _unique_license(session, data.license_no, None)
    practitioner = Practitioner(**data.model_dump(), roles=[])
    with _guarded(
        session, "a practitioner with this licence number already exists", field="license_no"
    ):
        session.add(practitioner)
    return practitioner


def update_practitioner(
    session: Session, practitioner: Practitioner, data: PractitionerUpdate
) -> Practitioner:
    """Change a practitioner's fields."""
    changes = data.model_dump(exclude_unset=True)
    if changes.get("license_no") is not None:
        _unique_license(session, changes["license_no"], practitioner.id)
    with _guarded(
        session, "a practitioner with this licence number already exists", field="license_no"
    ):
        for key, value in changes.items():
            setattr(practitioner, key, value)
    return practitioner


def delete_practitioner(session: Session, practitioner: Practitioner) -> None:
    """Delete a practitioner and their roles."""
    with _guarded(
        session,
        "the practitioner is still referenced by records of other domains; set active=false",
    ):
        session.delete(practitioner)


def get_practitioner_role(session: Session, role_id: str) -> PractitionerRole:
    """Return the role with its practitioner and organisation loaded, or raise NotFound."""
    role = repo.get_practitioner_role(session, role_id)
    if role is None:
        raise NotFound(f"practitioner role {role_id} does not exist")
    return role


def list_practitioner_roles(
    session: Session,
    *,
    filters: PractitionerRoleFilter | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Listing[PractitionerRole]:
    """List practitioner roles by practitioner, organisation, role or specialty."""
    items, total = repo.list_practitioner_roles(
        session, filters or PractitionerRoleFilter(), limit=limit, offset=offset
    )
    return Listing(items, total)


def _single_primary(session: Session, role: PractitionerRole) -> None:
    # 第一执业地点: one primary role per practitioner; the newest claim wins.
    session.execute(
        update(PractitionerRole)
        .where(
            PractitionerRole.practitioner_id == role.practitioner_id,
            PractitionerRole.id != role.id,
            PractitionerRole.is_primary.is_(True),
        )
        .values(is_primary=False),
    )


def create_practitioner_role(session: Session, data: PractitionerRoleCreate) -> PractitionerRole:
    """Give a practitioner a role at an organisation (多点执业 is several roles)."""
    practitioner = session.get(Practitioner, data.practitioner_id)
    if practitioner is None:
        raise Unprocessable(
            f"practitioner {data.practitioner_id} does not exist", field="practitioner_id"
        )
    org = _existing_org(session, data.organization_id, "organization_id")
    duplicate = repo.same_role(
        session,
        practitioner_id=practitioner.id,
        organization_id=org.id,
        role=data.role,
        specialty=data.specialty,
    )
    if duplicate is not None:
        raise Conflict(f"{practitioner.name} already holds this role at {org.name}", field="role")
    role = PractitionerRole(
        role=data.role, specialty=data.specialty, is_primary=data.is_primary, active=data.active
    )
    with _guarded(session, "the role could not be stored"):
        role.practitioner = practitioner
        role.organization = org
        session.add(role)
        session.flush()
        if role.is_primary:
            _single_primary(session, role)
    return role


def update_practitioner_role(
    session: Session, role: PractitionerRole, data: PractitionerRoleUpdate
) -> PractitionerRole:
    """Change a role; making it primary demotes the practitioner's other roles."""
    changes = data.model_dump(exclude_unset=True)
    org = (
        _existing_org(session, changes.pop("organization_id"), "organization_id")
        if "organization_id" in changes
        else role.organization
    )
    duplicate = repo.same_role(
        session,
        practitioner_id=role.practitioner_id,
        organization_id=org.id,
        role=changes.get("role", role.role),
        specialty=changes.get("specialty", role.specialty),
        exclude_id=role.id,
    )
    if duplicate is not None:
        raise Conflict(
            f"{role.practitioner.name} already holds this role at {org.name}", field="role"
        )
    with _guarded(session, "the role could not be updated"):
        for key, value in changes.items():
            setattr(role, key, value)
        role.organization = org
        session.flush()
        if changes.get("is_primary"):
            _single_primary(session, role)
    return role


def delete_practitioner_role(session: Session, role: PractitionerRole) -> None:
    """Delete a practitioner role."""
    with _guarded(
        session, "the role is still referenced by records of other domains; set active=false"
    ):
        session.delete(role)


# --- bulk load ---------------------------------------------------------------


@dataclass
class LoadResult:
    """What :func:`load_registry` did, and the ids of everything it was given, by code."""

    created: dict[str, int] = dataclasses.field(default_factory=dict)
    updated: dict[str, int] = dataclasses.field(default_factory=dict)
    region_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    organization_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    consortium_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    practitioner_ids: dict[str, str] = dataclasses.field(default_factory=dict)  # by licence number

    def count(self, kind: str, *, created: bool) -> None:
        target = self.created if created else self.updated
        target[kind] = target.get(kind, 0) + 1


def _parse(items: Iterable[Any], model: type[S], kind: str) -> list[S]:
    parsed: list[S] = []
    for n, item in enumerate(items):
        if isinstance(item, model):
            parsed.append(item)
            continue
        try:
            parsed.append(model.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in (kind, n, *err["loc"]))
            raise Unprocessable(f"{where}: {err['msg']}", field=where) from exc
    return parsed


def _upsert(
    session: Session,
    model: type[Any],
    key: str,
    rows: list[dict[str, Any]],
    kind: str,
    result: LoadResult,
) -> dict[str, Any]:
    """Insert or update ``rows`` matched on column ``key``; return the objects by key."""
    existing = {
        getattr(o, key): o for o in repo.by_key(session, model, key, [r[key] for r in rows])
    }
    for row in rows:
        obj = existing.get(row[key])
        if obj is None:
            obj = model(**row)
            session.add(obj)
            existing[row[key]] = obj
            result.count(kind, created=True)
            continue
        changed = [k for k, v in row.items() if getattr(obj, k) != v]
        for k in changed:
            setattr(obj, k, row[k])
        if changed:
            result.count(kind, created=False)
    return existing


def _resolve(
    session: Session, model: type[Any], known: Mapping[str, str], codes: Iterable[str | None]
) -> dict[str, str]:
    """``code → id`` for ``codes``, from ``known`` first and the database for the rest."""
    ids = dict(known)
    ids.update(repo.ids_by_code(session, model, {c for c in codes if c and c not in ids}))
    return ids


def _ref(ids: Mapping[str, str], code: str | None, what: str, where: str) -> str | None:
    if code is None:
        return None
    if code not in ids:
        raise Unprocessable(f"{where}: no {what} has code {code}", field=where)
    return ids[code]


def _load_regions(session: Session, seeds: list[RegionSeed], result: LoadResult) -> None:
    if not seeds:
        return
    rows = [s.model_dump(exclude={"parent_code"}) for s in seeds]
    by_code = _upsert(session, Region, "code", rows, "regions", result)
    session.flush()
    result.region_ids.update({code: r.id for code, r in by_code.items()})
    ids = _resolve(session, Region, result.region_ids, (s.parent_code for s in seeds))
    for n, s in enumerate(seeds):
        parent_id = _ref(ids, s.parent_code, "region", f"regions.{n}.parent_code")
        region = by_code[s.code]
        if region.parent_id != parent_id:
            region.parent_id = parent_id
    session.flush()
    # Checked once over the whole table: a seed may change the level of an existing parent.
    for code, child, parent in repo.region_level_violations(session):
        if not region_parent_allowed(child, parent):
            at = next((i for i, s in enumerate(seeds) if s.code == code), None)
            where = "regions" if at is None else f"regions.{at}.parent_code"
            raise Unprocessable(
                f"{where}: a {child.value} region ({code}) cannot sit in a {parent.value} region",
                field=where,
            )


def _load_organizations(
    session: Session, seeds: list[OrganizationSeed], result: LoadResult
) -> None:
    if not seeds:
        return
    region_ids = _resolve(session, Region, result.region_ids, (s.region_code for s in seeds))
    rows = []
    for n, s in enumerate(seeds):
        row = s.model_dump(exclude={"region_code", "parent_code"})
        row["region_id"] = _ref(
            region_ids, s.region_code, "region", f"organizations.{n}.region_code"
        )
        rows.append(row)
    by_code = _upsert(session, Organization, "code", rows, "organizations", result)
    session.flush()
    result.organization_ids.update({code: o.id for code, o in by_code.items()})
    ids = _resolve(session, Organization, result.organization_ids, (s.parent_code for s in seeds))
    for n, s in enumerate(seeds):
        parent_id = _ref(ids, s.parent_code, "organization", f"organizations.{n}.parent_code")
        org = by_code[s.code]
        if org.parent_id != parent_id:
            org.parent_id = parent_id
    session.flush()
    cycle = find_cycle(repo.organization_parent_links(session))
    if cycle:
        codes = {v: k for k, v in ids.items()}
        names = " → ".join(codes.get(i, i) for i in cycle)
        raise Unprocessable(
            f"organizations: parent_code makes a cycle: {names}", field="organizations"
        )


def _load_consortia(session: Session, seeds: list[ConsortiumSeed], result: LoadResult) -> None:
    if not seeds:
        return
    org_ids = _resolve(
        session,
        Organization,
        result.organization_ids,
        [c for s in seeds for c in (s.lead_code, *s.member_codes)],
    )
    region_ids = _resolve(session, Region, result.region_ids, (s.region_code for s in seeds))
    rows = []
    for n, s in enumerate(seeds):
        row = s.model_dump(exclude={"lead_code", "region_code", "member_codes"})
        row["lead_organization_id"] = _ref(
            org_ids, s.lead_code, "organization", f"consortia.{n}.lead_code"
        )
        row["region_id"] = _ref(region_ids, s.region_code, "region", f"consortia.{n}.region_code")
        for m, code in enumerate(s.member_codes):
            _ref(org_ids, code, "organization", f"consortia.{n}.member_codes.{m}")
        rows.append(row)
    by_code = _upsert(session, Consortium, "code", rows, "consortia", result)
    session.flush()
    result.consortium_ids.update({code: c.id for code, c in by_code.items()})
    members: dict[tuple[str, str], ConsortiumMember] = {
        (m.consortium_id, m.organization_id): m
        for m in repo.by_key(
            session, ConsortiumMember, "consortium_id", (c.id for c in by_code.values())
        )
    }
    for s in seeds:
        consortium = by_code[s.code]
        lead_id = consortium.lead_organization_id
        for org_id in dict.fromkeys([lead_id, *(org_ids[c] for c in s.member_codes)]):
            role = ConsortiumRole.lead if org_id == lead_id else ConsortiumRole.member
            member = members.get((consortium.id, org_id))
            if member is None:
                member = ConsortiumMember(
                    consortium_id=consortium.id, organization_id=org_id, role=role
                )
                session.add(member)
                members[(consortium.id, org_id)] = member
            elif member.role != role:
                member.role = role
        for (cid, org_id), member in members.items():
            if cid == consortium.id and org_id != lead_id and member.role == ConsortiumRole.lead:
                member.role = ConsortiumRole.member
    session.flush()


def _load_practitioners(
    session: Session, seeds: list[PractitionerSeed], result: LoadResult
) -> None:
    if not seeds:
        return
    org_ids = _resolve(
        session,
        Organization,
        result.organization_ids,
        [r.organization_code for s in seeds for r in s.roles],
    )
    for n, s in enumerate(seeds):
        for m, r in enumerate(s.roles):
            _ref(org_ids, r.organization_code, "organization", f"practitioners.{n}.roles.{m}")
    rows = [s.model_dump(exclude={"roles"}) for s in seeds]
    by_licence = _upsert(session, Practitioner, "license_no", rows, "practitioners", result)
    session.flush()
    result.practitioner_ids.update({lic: p.id for lic, p in by_licence.items()})
    held: dict[tuple[str, str, str, str | None], PractitionerRole] = {
        (r.practitioner_id, r.organization_id, r.role.value, r.specialty): r
        for r in repo.by_key(
            session, PractitionerRole, "practitioner_id", result.practitioner_ids.values()
        )
    }
    for s in seeds:
        practitioner_id = by_licence[s.license_no].id
        primary: PractitionerRole | None = None
        for r in s.roles:
            key = (practitioner_id, org_ids[r.organization_code], r.role.value, r.specialty)
            role = held.get(key)
            if role is None:
                role = PractitionerRole(
                    practitioner_id=key[0],
                    organization_id=key[1],
                    role=r.role,
                    specialty=r.specialty,
                    is_primary=False,
                )
                session.add(role)
                held[key] = role
                result.count("practitioner_roles", created=True)
            if r.is_primary:
                primary = role
        if primary is not None:
            for key, role in held.items():
                wanted = role is primary
                if key[0] == practitioner_id and role.is_primary != wanted:
                    role.is_primary = wanted
    session.flush()


def load_registry(
    session: Session,
    *,
    regions: Iterable[RegionSeed | Mapping[str, Any]] = (),
    organizations: Iterable[OrganizationSeed | Mapping[str, Any]] = (),
    consortia: Iterable[ConsortiumSeed | Mapping[str, Any]] = (),
    practitioners: Iterable[PractitionerSeed | Mapping[str, Any]] = (),
) -> LoadResult:
    """Insert or update geography, institutions, consortia and staff in bulk, matched by code.

    Running it twice with the same input changes nothing the second time. Items
    are dicts (or the ``*Seed`` schemas) and refer to each other by code, so a
    parent may come after its children in the same list; a code that is not in
    the call must already be in the database. Shapes (optional keys may be left out):

    - regions: ``{"code": "310118", "name": "青浦区", "level": "district",
      "parent_code": "310100", "area_km2": 670.1, "population": 1270000, "gdp": 1300.0}``
    - organizations: ``{"code": "...", "name": "...", "type": "community_health_center",
      "region_code": "310118", "parent_code": None, "short_name": None, "level": "三级甲等",
      "insurance_designated": True, "address": "...", "phone": "...", "active": True,
      "latitude": 31.15, "longitude": 121.12}``
    - consortia: ``{"code": "...", "name": "...", "kind": "regional", "lead_code": "<org code>",
      "region_code": None, "description": None, "member_codes": ["<org code>", ...]}``;
      listed members are added (the lead always is), none is removed.
    - practitioners, matched on ``license_no``: ``{"license_no": "...", "name": "...",
      "gender": "female", "title": "主治医师", "specialties": ["全科"], "active": True,
      "roles": [{"organization_code": "...", "role": "family_doctor", "specialty": "全科",
      "is_primary": True}]}``; a role is added unless an equal one exists, none is removed.

    Bad input raises Unprocessable naming the item, e.g. ``organizations.3.region_code``;
    the caller's transaction then rolls back and nothing of the call is kept.
    """
    result = LoadResult()
    region_seeds = _parse(regions, RegionSeed, "regions")
    org_seeds = _parse(organizations, OrganizationSeed, "organizations")
    consortium_seeds = _parse(consortia, ConsortiumSeed, "consortia")
    practitioner_seeds = _parse(practitioners, PractitionerSeed, "practitioners")
    for kind, seeds in (
        ("regions", region_seeds),
        ("organizations", org_seeds),
        ("consortia", consortium_seeds),
    ):
        _no_repeats(kind, [s.code for s in seeds])
    _no_repeats("practitioners", [s.license_no for s in practitioner_seeds], key="license_no")
    with _guarded(session, "the registry load clashed with existing rows"):
        _load_regions(session, region_seeds, result)
        _load_organizations(session, org_seeds, result)
        _load_consortia(session, consortium_seeds, result)
        _load_practitioners(session, practitioner_seeds, result)
    return result


def _no_repeats(kind: str, codes: list[str], key: str = "code") -> None:
    seen: set[str] = set()
    for n, code in enumerate(codes):
        if code in seen:
            where = f"{kind}.{n}.{key}"
            raise Unprocessable(f"{where}: {code} appears twice in the same load", field=where)
        seen.add(code)
