"""Every SELECT of the registry. Lists are one query for the page and one COUNT, never N+1."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased, joinedload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from yilian.db import Base
from yilian.registry.models import (
    Consortium,
    ConsortiumMember,
    Organization,
    Practitioner,
    PractitionerRole,
    Region,
)
from yilian.registry.rules import ConsortiumKind, RegionLevel
from yilian.registry.schemas import OrganizationFilter, PractitionerFilter, PractitionerRoleFilter

M = TypeVar("M", bound=Base)

# IN lists are chunked: SQLite caps bound parameters per statement.
_CHUNK = 500


def paged(
    session: Session,
    model: type[M],
    conditions: Sequence[ColumnElement[bool]],
    *,
    order_by: Sequence[Any],
    limit: int,
    offset: int,
    options: Sequence[LoaderOption] = (),
) -> tuple[list[M], int]:
    """One COUNT and, when the page is not past the end, one SELECT of the page."""
    total = session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
    if limit == 0 or offset >= total:
        return [], total
    stmt = (
        select(model)
        .where(*conditions)
        .options(*options)
        .order_by(*order_by)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt).unique().all()), total


def _contains(column: InstrumentedAttribute[Any], text: str) -> ColumnElement[bool]:
    return column.icontains(text, autoescape=True)


def by_code(session: Session, model: type[M], code: str) -> M | None:
    column: InstrumentedAttribute[str] = model.code  # type: ignore[attr-defined]
    return session.scalar(select(model).where(column == code))


def by_key(session: Session, model: type[M], key: str, values: Iterable[str]) -> list[M]:
    """Rows whose column ``key`` is one of ``values``."""
    column: InstrumentedAttribute[str] = getattr(model, key)
    wanted = sorted(set(values))
    found: list[M] = []
    for i in range(0, len(wanted), _CHUNK):
        found.extend(session.scalars(select(model).where(column.in_(wanted[i : i + _CHUNK]))))
    return found


def ids_by_code(session: Session, model: type[M], codes: Iterable[str]) -> dict[str, str]:
    """``code → id`` for the codes that exist."""
    code_col: InstrumentedAttribute[str] = model.code  # type: ignore[attr-defined]
    id_col: InstrumentedAttribute[str] = model.id  # type: ignore[attr-defined]
    wanted = sorted(set(codes))
    found: dict[str, str] = {}
    for i in range(0, len(wanted), _CHUNK):
        rows = session.execute(select(code_col, id_col).where(code_col.in_(wanted[i : i + _CHUNK])))
        found.update({code: id_ for code, id_ in rows})
    return found


def existing_ids(session: Session, model: type[M], ids: Iterable[str]) -> set[str]:
    id_col: InstrumentedAttribute[str] = model.id  # type: ignore[attr-defined]
    wanted = sorted(set(ids))
    found: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        found.update(session.scalars(select(id_col).where(id_col.in_(wanted[i : i + _CHUNK]))))
    return found


# --- regions ---------------------------------------------------------------


def within_region(region_id: str) -> Select[str]:
    """The ids of a region and every region below it, as a subquery for ``IN``."""
    tree = select(Region.id).where(Region.id == region_id).cte(recursive=True)
    tree = tree.union_all(select(Region.id).where(Region.parent_id == tree.c.id))
    return select(tree.c.id)


def region_ancestry(session: Session, region_ids: Iterable[str]) -> dict[str, Region]:
    """The given regions and all their ancestors, by id, in one recursive query."""
    ids = sorted(set(region_ids))
    if not ids:
        return {}
    up = select(Region.id, Region.parent_id).where(Region.id.in_(ids)).cte(recursive=True)
    up = up.union_all(select(Region.id, Region.parent_id).where(Region.id == up.c.parent_id))
    return {r.id: r for r in session.scalars(select(Region).where(Region.id.in_(select(up.c.id))))}


def list_regions(
    session: Session,
    *,
    level: RegionLevel | None,
    parent_id: str | None,
    q: str | None,
    name: str | None = None,
    code: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Region], int]:
    conds: list[ColumnElement[bool]] = []
    if level is not None:
        conds.append(Region.level == level)
    if parent_id is not None:
        conds.append(Region.parent_id == parent_id)
    if q:
        conds.append(or_(_contains(Region.name, q), _contains(Region.code, q)))
    if name:
        conds.append(_contains(Region.name, name))
    if code is not None:
        conds.append(Region.code == code)
    return paged(session, Region, conds, order_by=[Region.code], limit=limit, offset=offset)


def all_regions(session: Session) -> list[Region]:
    return list(session.scalars(select(Region).order_by(Region.code)))


def organization_counts_by_region(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Organization.region_id, func.count()).group_by(Organization.region_id)
    )
    return {region_id: n for region_id, n in rows}


def child_region_levels(session: Session, region_id: str) -> set[RegionLevel]:
    return set(
        session.scalars(select(Region.level).where(Region.parent_id == region_id).distinct())
    )


def region_level_violations(session: Session) -> list[tuple[str, RegionLevel, RegionLevel]]:
    """Every (child code, child level, parent level) pair, for checking the level rule in bulk."""
    parent = aliased(Region)
    rows = session.execute(
        select(Region.code, Region.level, parent.level).join(parent, Region.parent_id == parent.id)
    )
    return [(code, child, up) for code, child, up in rows]


def region_references(session: Session, region_id: str) -> dict[str, int]:
    """How many registry rows point at a region, by what they are."""
    return _nonzero(
        {
            "child regions": select(func.count()).where(Region.parent_id == region_id),
            "organisations": select(func.count()).where(Organization.region_id == region_id),
            "consortia": select(func.count()).where(Consortium.region_id == region_id),
        },
        session,
    )


def _nonzero(counts: dict[str, Select[int]], session: Session) -> dict[str, int]:
    found = {label: session.scalar(stmt) or 0 for label, stmt in counts.items()}
    return {label: n for label, n in found.items() if n}


# --- organisations ---------------------------------------------------------


def get_organization(session: Session, organization_id: str) -> Organization | None:
    return session.get(
        Organization,
        organization_id,
        options=[joinedload(Organization.region, innerjoin=True), joinedload(Organization.parent)],
        populate_existing=True,
    )


def organization_conditions(f: OrganizationFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.region_id is not None:
        conds.append(Organization.region_id.in_(within_region(f.region_id)))
    if f.type is not None:
        conds.append(Organization.type == f.type)
    if f.q:
        conds.append(
            or_(
                _contains(Organization.name, f.q),
                _contains(Organization.short_name, f.q),
                _contains(Organization.code, f.q),
            )
        )
    if f.name:
        conds.append(
            or_(_contains(Organization.name, f.name), _contains(Organization.short_name, f.name))
        )
    if f.code is not None:
        conds.append(Organization.code == f.code)
    if f.consortium_id is not None:
        conds.append(
            Organization.id.in_(
                select(ConsortiumMember.organization_id).where(
                    ConsortiumMember.consortium_id == f.consortium_id
                )
            )
        )
    if f.insurance_designated is not None:
        conds.append(Organization.insurance_designated == f.insurance_designated)
    if f.active is not None:
        conds.append(Organization.active == f.active)
    if f.parent_id is not None:
        conds.append(Organization.parent_id == f.parent_id)
    return conds


def list_organizations(
    session: Session, f: OrganizationFilter, *, limit: int, offset: int, with_parent: bool = False
) -> tuple[list[Organization], int]:
    options: list[LoaderOption] = [joinedload(Organization.region, innerjoin=True)]
    if with_parent:
        options.append(joinedload(Organization.parent))
    return paged(
        session,
        Organization,
        organization_conditions(f),
        order_by=[Organization.code],
        limit=limit,
        offset=offset,
        options=options,
    )


def organizations_by_ids(session: Session, ids: Iterable[str]) -> list[Organization]:
    wanted = sorted(set(ids))
    found: list[Organization] = []
    for i in range(0, len(wanted), _CHUNK):
        stmt = (
            select(Organization)
            .where(Organization.id.in_(wanted[i : i + _CHUNK]))
            .options(joinedload(Organization.region, innerjoin=True))
        )
        found.extend(session.scalars(stmt))
    return found


def organization_ids_within(region_id: str) -> Select[str]:
    return select(Organization.id).where(Organization.region_id.in_(within_region(region_id)))


def organization_subtree_ids(session: Session, organization_id: str) -> set[str]:
    """An organisation and every organisation below it through ``parent_id``."""
    tree = select(Organization.id).where(Organization.id == organization_id).cte(recursive=True)
    tree = tree.union_all(select(Organization.id).where(Organization.parent_id == tree.c.id))
    return set(session.scalars(select(tree.c.id)))


def organization_parent_links(session: Session) -> dict[str, str | None]:
    return {i: p for i, p in session.execute(select(Organization.id, Organization.parent_id))}


def organization_references(session: Session, organization_id: str) -> dict[str, int]:
    """How many registry rows point at an organisation, by what they are."""
    oid = organization_id
    return _nonzero(
        {
            "subordinate organisations": select(func.count()).where(Organization.parent_id == oid),
            "consortium memberships": select(func.count()).where(
                ConsortiumMember.organization_id == oid
            ),
            "consortia it leads": select(func.count()).where(
                Consortium.lead_organization_id == oid
            ),
            "practitioner roles": select(func.count()).where(
                PractitionerRole.organization_id == oid
            ),
        },
        session,
    )


# --- consortia -------------------------------------------------------------


def get_consortium(session: Session, consortium_id: str) -> Consortium | None:
    return session.get(
        Consortium,
        consortium_id,
        options=[joinedload(Consortium.lead_organization, innerjoin=True)],
        populate_existing=True,
    )


def list_consortia(
    session: Session,
    *,
    kind: ConsortiumKind | None,
    q: str | None,
    organization_id: str | None,
    region_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Consortium], int]:
    conds: list[ColumnElement[bool]] = []
    if kind is not None:
        conds.append(Consortium.kind == kind)
    if q:
        conds.append(or_(_contains(Consortium.name, q), _contains(Consortium.code, q)))
    if organization_id is not None:
        conds.append(
            Consortium.id.in_(
                select(ConsortiumMember.consortium_id).where(
                    ConsortiumMember.organization_id == organization_id
                )
            )
        )
    if region_id is not None:
        conds.append(Consortium.region_id.in_(within_region(region_id)))
    return paged(
        session,
        Consortium,
        conds,
        order_by=[Consortium.code],
        limit=limit,
        offset=offset,
        options=[joinedload(Consortium.lead_organization, innerjoin=True)],
    )


def membership(
    session: Session, consortium_id: str, organization_id: str
) -> ConsortiumMember | None:
    return session.scalar(
        select(ConsortiumMember).where(
            ConsortiumMember.consortium_id == consortium_id,
            ConsortiumMember.organization_id == organization_id,
        )
    )


def list_members(
    session: Session, consortium_id: str, *, limit: int, offset: int
) -> tuple[list[ConsortiumMember], int]:
    # The lead first, then members in the order they joined.
    return paged(
        session,
        ConsortiumMember,
        [ConsortiumMember.consortium_id == consortium_id],
        order_by=[ConsortiumMember.role, ConsortiumMember.created_at, ConsortiumMember.id],
        limit=limit,
        offset=offset,
        options=[joinedload(ConsortiumMember.organization, innerjoin=True)],
    )


def consortium_peer_ids(session: Session, organization_id: str) -> set[str]:
    """Organisations that share at least one consortium with the given one (itself included)."""
    mine = select(ConsortiumMember.consortium_id).where(
        ConsortiumMember.organization_id == organization_id
    )
    return set(
        session.scalars(
            select(ConsortiumMember.organization_id)
            .where(ConsortiumMember.consortium_id.in_(mine))
            .distinct()
        )
    )


# --- practitioners ---------------------------------------------------------


def _practitioner_options() -> list[LoaderOption]:
    return [
        selectinload(Practitioner.roles).joinedload(PractitionerRole.organization, innerjoin=True)
    ]


def get_practitioner(session: Session, practitioner_id: str) -> Practitioner | None:
    return session.get(
        Practitioner, practitioner_id, options=_practitioner_options(), populate_existing=True
    )


def _json_list_has(session: Session, column: Any, value: str) -> ColumnElement[bool]:
    """``value`` is an element of the JSON array in ``column``, on SQLite and PostgreSQL alike."""
    if session.get_bind().dialect.name == "postgresql":
        elements = func.json_array_elements_text(column).table_valued("value")
    else:
        elements = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value == value))


def practitioner_conditions(session: Session, f: PractitionerFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    roles = PractitionerRole
    if f.organization_id is not None:
        conds.append(
            exists().where(
                roles.practitioner_id == Practitioner.id,
                roles.organization_id == f.organization_id,
            )
        )
    if f.q:
        conds.append(
            or_(_contains(Practitioner.name, f.q), _contains(Practitioner.license_no, f.q))
        )
    if f.name:
        conds.append(_contains(Practitioner.name, f.name))
    if f.license_no is not None:
        conds.append(Practitioner.license_no == f.license_no)
    if f.specialty:
        conds.append(
            or_(
                _json_list_has(session, Practitioner.specialties, f.specialty),
                exists().where(
                    and_(roles.practitioner_id == Practitioner.id, roles.specialty == f.specialty)
                ),
            )
        )
    if f.active is not None:
        conds.append(Practitioner.active == f.active)
    return conds


def list_practitioners(
    session: Session, f: PractitionerFilter, *, limit: int, offset: int
) -> tuple[list[Practitioner], int]:
    return paged(
        session,
        Practitioner,
        practitioner_conditions(session, f),
        order_by=[Practitioner.name, Practitioner.id],
        limit=limit,
        offset=offset,
        options=_practitioner_options(),
    )


def _role_options() -> list[LoaderOption]:
    return [
        joinedload(PractitionerRole.practitioner, innerjoin=True),
        joinedload(PractitionerRole.organization, innerjoin=True),
    ]


def get_practitioner_role(session: Session, role_id: str) -> PractitionerRole | None:
    return session.get(PractitionerRole, role_id, options=_role_options(), populate_existing=True)


def list_practitioner_roles(
    session: Session, f: PractitionerRoleFilter, *, limit: int, offset: int
) -> tuple[list[PractitionerRole], int]:
    conds: list[ColumnElement[bool]] = []
    if f.practitioner_id is not None:
        conds.append(PractitionerRole.practitioner_id == f.practitioner_id)
    if f.organization_id is not None:
        conds.append(PractitionerRole.organization_id == f.organization_id)
    if f.role is not None:
        conds.append(PractitionerRole.role == f.role)
    if f.specialty is not None:
        conds.append(PractitionerRole.specialty == f.specialty)
    if f.active is not None:
        conds.append(PractitionerRole.active == f.active)
    return paged(
        session,
        PractitionerRole,
        conds,
        order_by=[PractitionerRole.created_at, PractitionerRole.id],
        limit=limit,
        offset=offset,
        options=_role_options(),
    )


def same_role(
    session: Session,
    *,
    practitioner_id: str,
    organization_id: str,
    role: str,
    specialty: str | None,
    exclude_id: str | None = None,
) -> PractitionerRole | None:
    stmt = select(PractitionerRole).where(
        PractitionerRole.practitioner_id == practitioner_id,
        PractitionerRole.organization_id == organization_id,
        PractitionerRole.role == role,
        PractitionerRole.specialty.is_(None)
        if specialty is None
        else PractitionerRole.specialty == specialty,
    )
    if exclude_id is not None:
        stmt = stmt.where(PractitionerRole.id != exclude_id)
    return session.scalar(stmt.limit(1))
