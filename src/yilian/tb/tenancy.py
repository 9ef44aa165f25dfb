"""Province tenants of TB data: each province runs its own tenant and shares with the region.

Seed 000 (长三角区域结核病协同防控): the patient-management platform is deployed in each
province and then interconnected. Here a TB case or a sequenced sample belongs to the
province of the institution that owns it (the province in that institution's region
ancestry in the registry). A user acts in the tenant of their organisation's province;
the region's coordination centres (``YILIAN_TB_REGION_ORGANIZATIONS``), platform
administrators and platform-wide gateways act for the whole region. A case changes
tenant only by an acknowledged transfer (转出/转入); while one is pending, the receiving
province may read the case it is asked to take over.

Every read or write of a case or sample passes :func:`authorize`: the tenant rule
(:func:`tenant_decision`, pure) first, then the person-level decision of
``yilian.security.access`` — the project's one access decision, which audits what it
allows and refuses. A tenant refusal is audited here in the same form
(``access_denied``, kept when the request rolls back).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.kit.errors import Forbidden
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security import access
from yilian.security.principal import Principal, Role
from yilian.security.rules import PURPOSE_PUBLIC_HEALTH, PURPOSE_TREATMENT, AccessDecision
from yilian.tb.config import get_tb_settings

REGION_NAME = "长三角区域"
# Without an organisation these roles act for the platform, so for the whole region.
PLATFORM_ROLES = frozenset({Role.admin, Role.system, Role.commission})
# Who records for a case (doses, visits, phase, outcome, transfer-out): the managing
# organisation's clinicians and its own systems, and the CDC of the case's province.
CASE_WRITERS_AT_ORG = frozenset({Role.doctor, Role.specialist, Role.system})


@dataclass(frozen=True)
class Place:
    """Where an organisation sits: its province (the tenant) and city."""

    province_region_id: str | None
    province: str
    city: str


@dataclass(frozen=True)
class Tenant:
    """Where a caller acts: one province, or the whole region."""

    province_region_id: str | None
    province: str
    region_wide: bool = False

    def covers(self, province_region_id: str | None) -> bool:
        return self.region_wide or (
            province_region_id is not None and province_region_id == self.province_region_id
        )


REGION = Tenant(None, REGION_NAME, region_wide=True)


# ------------------------------------------------------------------ pure rules


def tenant_rule(
    role: Role,
    organization_id: str | None,
    organization_code: str | None,
    place: Place | None,
    region_codes: Iterable[str],
) -> Tenant | None:
    """The tenant a caller acts in, or None when their organisation has no province."""
    if organization_id is None:
        return REGION if role in PLATFORM_ROLES else None
    if role is Role.admin or (organization_code and organization_code in set(region_codes)):
        return REGION
    if place is None or place.province_region_id is None:
        return None
    return Tenant(place.province_region_id, place.province)


def tenant_decision(
    tenant: Tenant | None,
    *,
    owner_province_id: str | None,
    owner_province: str,
    action: str,
    pending_province_id: str | None = None,
) -> AccessDecision:
    """May a caller in ``tenant`` ``action`` a record owned by a province's tenant?"""
    if tenant is None:
        return AccessDecision(
            False, "tenant: the caller's organisation has no province in the registry"
        )
    if tenant.covers(owner_province_id):
        return AccessDecision(True, f"tenant: {tenant.province}")
    if action == "read" and pending_province_id and tenant.covers(pending_province_id):
        return AccessDecision(True, f"tenant: transfer pending into {tenant.province}")
    return AccessDecision(
        False,
        f"tenant: this record belongs to {owner_province or 'another province'}, the caller "
        f"acts for {tenant.province}; a TB case moves between provinces only by an "
        "acknowledged transfer",
    )


def case_writer_problem(
    role: Role, organization_id: str | None, managing_organization_id: str
) -> str | None:
    """Why a caller (already in the case's tenant) may not record for the case, or None."""
    if role in CASE_WRITERS_AT_ORG and organization_id == managing_organization_id:
        return None
    if role is Role.cdc:
        return None
    return (
        "only the managing organisation and its province's CDC record for this case; "
        "another organisation may do so only after a transfer to it is acknowledged"
    )


def purpose_of(principal: Principal) -> str:
    return PURPOSE_PUBLIC_HEALTH if principal.role is Role.cdc else PURPOSE_TREATMENT


# ------------------------------------------------------------------ registry facts


def places_of(session: Session, organizations: Iterable[Organization]) -> dict[str, Place]:
    """Province and city of each organisation, from its region ancestry (one query)."""
    orgs = list(organizations)
    regions = registry.regions_with_ancestors(session, {o.region_id for o in orgs})
    out: dict[str, Place] = {}
    for o in orgs:
        chain = []
        node = regions.get(o.region_id)
        while node is not None:
            chain.append(node)
            node = regions.get(node.parent_id) if node.parent_id else None
        prov = next((r for r in chain if r.level == "province"), None)
        city = next((r for r in chain if r.level == "city"), None)
        out[o.id] = Place(
            prov.id if prov else None,
            prov.name if prov else "",
            city.name if city else (prov.name if prov else ""),
        )
    return out


def place_of(session: Session, org: Organization) -> Place:
    return places_of(session, [org])[org.id]


def places_by_ids(session: Session, organization_ids: Iterable[str]) -> dict[str, Place]:
    return places_of(session, registry.organizations_by_ids(session, organization_ids).values())


def tenant_of(session: Session, principal: Principal) -> Tenant | None:
    """The principal's tenant, looked up once per session and organisation."""
    cache: dict[tuple[str, str | None], Tenant | None] = session.info.setdefault("tb_tenants", {})
    key = (principal.role.value, principal.organization_id)
    if key not in cache:
        org = None
        if principal.organization_id:
            org = registry.organizations_by_ids(session, [principal.organization_id]).get(
                principal.organization_id
            )
        cache[key] = tenant_rule(
            principal.role,
            principal.organization_id,
            org.code if org else None,
            place_of(session, org) if org else None,
            get_tb_settings().region_organizations,
        )
    return cache[key]


def require_tenant(session: Session, principal: Principal) -> Tenant:
    """The caller's tenant; an account whose organisation has no province is refused."""
    tenant = tenant_of(session, principal)
    if tenant is None:
        raise Forbidden("tenant: the account's organisation has no province in the registry")
    return tenant


# ------------------------------------------------------------------ the gate


def authorize(
    session: Session,
    principal: Principal,
    *,
    owner_province_id: str | None,
    owner_province: str,
    action: str,
    resource_type: str,
    resource_id: str,
    person_id: str | None,
    pending_province_id: str | None = None,
    role_problem: str | None = None,
) -> AccessDecision:
    """Tenant rule, the domain's role rule, then the person-level access decision.

    Each refusal is audited and raised as 403; what is allowed is audited by
    ``yilian.security.access``. ``role_problem`` is the domain's own refusal (e.g.
    :func:`case_writer_problem`), checked once the tenant allows.
    """
    decision = tenant_decision(
        tenant_of(session, principal),
        owner_province_id=owner_province_id,
        owner_province=owner_province,
        action=action,
        pending_province_id=pending_province_id,
    )
    if decision.allowed and role_problem:
        decision = AccessDecision(False, role_problem)
    if not decision.allowed:
        audit.record(
            session,
            principal,
            action="access_denied",
            resource_type=resource_type,
            resource_id=resource_id,
            person_id=person_id,
            purpose=purpose_of(principal),
            outcome="denied",
            detail={"basis": decision.basis, "requested_action": action},
            keep_on_rollback=True,
        )
        raise Forbidden(decision.basis)
    if person_id is None:
        return decision
    return access.require_person_access(
        session,
        principal,
        person_id=person_id,
        action=action,
        purpose=purpose_of(principal),
        resource_type=resource_type,
        resource_id=resource_id,
    )
