"""Province tenants of TB data: TB's own rules; the decision itself is ``yilian.security``'s.

Seed 000 (长三角区域结核病协同防控): the patient-management platform is deployed in each
province and then interconnected. Here a TB case or a sequenced sample belongs to the
province of the institution that owns it (the province in that institution's region
ancestry in the registry). A user acts in the tenant of their organisation's province;
the region's coordination centres (``YILIAN_REGION_ORGANIZATIONS``), platform
administrators and platform-wide gateways act for the whole region. A case changes
tenant only by an acknowledged transfer (转出/转入); while one is pending, the receiving
province may read the case it is asked to take over.

Every read or write of a case or sample passes :func:`authorize`, which hands the
owner's tenant, TB's own refusal (who records for a case) and the person to the
project's one access decision (``yilian.security.access``): tenant first, then the
person-level rules, every decision audited there (a refusal as ``access_denied``,
kept when the request rolls back). The caller's tenant is ``access.tenant_of``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yilian.security import access
from yilian.security.principal import Principal, Role
from yilian.security.rules import (
    PURPOSE_PUBLIC_HEALTH,
    PURPOSE_TREATMENT,
    AccessDecision,
    Tenant,
)

# Who records for a case (doses, visits, phase, outcome, transfer-out): the managing
# organisation's clinicians and its own systems, and the CDC of the case's province.
CASE_WRITERS_AT_ORG = frozenset({Role.doctor, Role.specialist, Role.system})


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
    """Decide a TB record's access in ``yilian.security`` (audited there); 403 when refused.

    ``role_problem`` is TB's own refusal (e.g. :func:`case_writer_problem`), weighed
    once the tenant allows and before the person-level rules.
    """
    return access.require_person_access(
        session,
        principal,
        person_id=person_id,
        action=action,
        purpose=purpose_of(principal),
        resource_type=resource_type,
        resource_id=resource_id,
        resource_tenant=Tenant(owner_province_id, owner_province),
        pending_tenant=Tenant(pending_province_id, "") if pending_province_id else None,
        domain_refusal=role_problem,
    )
