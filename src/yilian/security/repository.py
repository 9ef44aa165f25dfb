"""Every SELECT of the security domain, plus the registry facts the access decision needs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, Table, column, func, or_, select, table
from sqlalchemy.orm import Session

from yilian.db import Base
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security import rules
from yilian.security.models import ApiClient, CareRelationship, Consent, LoginGuard, User

# The registry owns consortium membership; read by name so the decision joins it in one query.
_members = table("consortium_members", column("consortium_id"), column("organization_id"))


def user_by_username(session: Session, username: str, *, lock: bool = False) -> User | None:
    stmt = select(User).where(User.username == username)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def user_state(session: Session, user_id: str) -> Row[bool, str, str | None] | None:
    """The columns a token's freshness depends on: active, role, organisation."""
    stmt = select(User.is_active, User.role, User.organization_id).where(User.id == user_id)
    return session.execute(stmt).first()


def client_state(session: Session, client_id: str) -> Row[bool, str | None] | None:
    stmt = select(ApiClient.active, ApiClient.organization_id).where(
        ApiClient.client_id == client_id
    )
    return session.execute(stmt).first()


def client_by_client_id(
    session: Session, client_id: str, *, lock: bool = False
) -> ApiClient | None:
    stmt = select(ApiClient).where(ApiClient.client_id == client_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def guard_by_key(session: Session, key: str) -> LoginGuard | None:
    stmt = select(LoginGuard).where(LoginGuard.key == key).with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def page(session: Session, stmt: Select[Any], *, limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    return list(session.execute(stmt.limit(limit).offset(offset)).scalars()), total


def users_query(
    *, role: str | None = None, organization_id: str | None = None, active: bool | None = None
) -> Select[Any]:
    stmt = select(User).order_by(User.username)
    if role:
        stmt = stmt.where(User.role == role)
    if organization_id:
        stmt = stmt.where(User.organization_id == organization_id)
    if active is not None:
        stmt = stmt.where(User.is_active == active)
    return stmt


def clients_query(*, organization_id: str | None = None) -> Select[Any]:
    stmt = select(ApiClient).order_by(ApiClient.name, ApiClient.client_id)
    if organization_id:
        stmt = stmt.where(ApiClient.organization_id == organization_id)
    return stmt


def _organizations() -> Table:
    return Base.metadata.tables["organizations"]


def resolve_organization(session: Session, ref: str) -> str | None:
    """The id of the organisation whose id (or code, where the registry has one) is ``ref``."""
    orgs = _organizations()
    match = orgs.c.id == ref
    if "code" in orgs.c:
        match = or_(match, orgs.c.code == ref)
    return session.execute(select(orgs.c.id).where(match).limit(1)).scalar_one_or_none()


def organization_exists(session: Session, organization_id: str) -> bool:
    orgs = _organizations()
    found = session.execute(select(orgs.c.id).where(orgs.c.id == organization_id)).first()
    return found is not None


def relationships(
    session: Session,
    *,
    person_id: str,
    organization_id: str | None = None,
    kind: str | None = None,
    source: str | None = None,
    current_at: datetime | None = None,
) -> list[CareRelationship]:
    """A person's care relationships; with ``current_at``, only those not yet ended then."""
    stmt = select(CareRelationship).where(CareRelationship.person_id == person_id)
    if organization_id is not None:
        stmt = stmt.where(CareRelationship.organization_id == organization_id)
    if kind is not None:
        stmt = stmt.where(CareRelationship.kind == kind)
    if source is not None:
        stmt = stmt.where(CareRelationship.source == source)
    if current_at is not None:
        stmt = stmt.where(
            or_(CareRelationship.valid_to.is_(None), CareRelationship.valid_to > current_at)
        )
    return list(session.execute(stmt.order_by(CareRelationship.valid_from)).scalars())


def open_relationships(
    session: Session,
    *,
    person_ids: list[str],
    organization_ids: list[str],
    kind: str,
    source: str,
    current_at: datetime,
) -> set[tuple[str, str]]:
    """(organisation, person) pairs among these with an open relationship of kind and source."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(person_ids), 500):
        stmt = select(CareRelationship.organization_id, CareRelationship.person_id).where(
            CareRelationship.person_id.in_(person_ids[start : start + 500]),
            CareRelationship.organization_id.in_(organization_ids),
            CareRelationship.kind == kind,
            CareRelationship.source == source,
            or_(CareRelationship.valid_to.is_(None), CareRelationship.valid_to > current_at),
        )
        found.update(session.execute(stmt).tuples())
    return found


def consents(
    session: Session,
    *,
    person_id: str,
    scope: str | None = None,
    organization_id: str | None = None,
    status: str | None = None,
) -> list[Consent]:
    stmt = select(Consent).where(Consent.person_id == person_id)
    if scope is not None:
        stmt = stmt.where(Consent.scope == scope)
    if organization_id is not None:
        stmt = stmt.where(Consent.organization_id == organization_id)
    if status is not None:
        stmt = stmt.where(Consent.status == status)
    return list(session.execute(stmt.order_by(Consent.granted_at)).scalars())


def person_facts(session: Session, person_id: str, now: datetime) -> rules.PersonFacts:
    """The relationships and active consents that bear on access to one person."""
    rels = relationships(session, person_id=person_id, current_at=now)
    active = consents(session, person_id=person_id, status=rules.CONSENT_ACTIVE)
    return rules.PersonFacts(
        relationships=tuple(
            rules.Relationship(r.organization_id, r.kind, r.valid_from, r.valid_to) for r in rels
        ),
        consents=tuple(rules.ConsentGrant(c.scope, c.organization_id, c.status) for c in active),
    )


def consortium_partners(
    session: Session, organization_id: str, among: Iterable[str]
) -> frozenset[str]:
    """Which of ``among`` share at least one consortium (医联体) with ``organization_id``."""
    candidates = list(among)
    if not candidates:
        return frozenset()
    mine = _members.alias("mine")
    theirs = _members.alias("theirs")
    stmt = (
        select(theirs.c.organization_id)
        .select_from(mine.join(theirs, mine.c.consortium_id == theirs.c.consortium_id))
        .where(mine.c.organization_id == organization_id)
        .where(theirs.c.organization_id.in_(candidates))
        .distinct()
    )
    return frozenset(session.execute(stmt).scalars())


def places_of(session: Session, organizations: Iterable[Organization]) -> dict[str, rules.Place]:
    """Province and city of each organisation, from its region ancestry (one query)."""
    orgs = list(organizations)
    regions = registry.regions_with_ancestors(session, {o.region_id for o in orgs})
    out: dict[str, rules.Place] = {}
    for o in orgs:
        chain = []
        node = regions.get(o.region_id)
        while node is not None:
            chain.append(node)
            node = regions.get(node.parent_id) if node.parent_id else None
        prov = next((r for r in chain if r.level == "province"), None)
        city = next((r for r in chain if r.level == "city"), None)
        out[o.id] = rules.Place(
            prov.id if prov else None,
            prov.name if prov else "",
            city.name if city else (prov.name if prov else ""),
        )
    return out


def organizations_by_ids(session: Session, ids: Iterable[str]) -> dict[str, Organization]:
    """The existing organisations among ``ids``, by id (regions loaded)."""
    return registry.organizations_by_ids(session, ids)
