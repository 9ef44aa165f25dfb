"""The one access decision for personal data: who may read or write a record, and why.

Every decision, allowed or denied, is written to the audit chain when the
caller's transaction commits. Denials and break-glass entries are written even
when it rolls back, so a refused request (403) still leaves its trace.

A record a province's tenant owns (省级租户, e.g. a TB case) is decided with its tenant
first: the caller passes the owner's tenant, the caller's own is looked up here from
their organisation's province in the registry (:func:`tenant_of`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.config import get_settings
from yilian.db import utcnow
from yilian.kit.errors import Forbidden, Unprocessable
from yilian.security import repository, rules
from yilian.security.principal import Principal
from yilian.security.rules import AccessDecision, Tenant

__all__ = [
    "AccessDecision",
    "decide",
    "region_organizations",
    "require_person_access",
    "require_tenant",
    "tenant_of",
]

log = logging.getLogger("yilian.security")


class _DeprecatedRegionSettings(BaseSettings):
    """``YILIAN_TB_REGION_ORGANIZATIONS``, the old name of ``YILIAN_REGION_ORGANIZATIONS``."""

    model_config = SettingsConfigDict(env_prefix="YILIAN_TB_", extra="ignore")

    region_organizations: list[str] = Field(default_factory=list)


@cache
def _warn_deprecated_name() -> None:
    log.warning(
        "YILIAN_TB_REGION_ORGANIZATIONS is deprecated; set YILIAN_REGION_ORGANIZATIONS instead"
    )


def region_organizations() -> frozenset[str]:
    """Codes of the organisations that act for the whole region (区域协同防控中心).

    ``Settings.region_organizations``; while it is unset, the deprecated
    ``YILIAN_TB_REGION_ORGANIZATIONS`` is still honoured (read afresh, like before).
    """
    codes = get_settings().region_organizations
    if codes:
        return frozenset(codes)
    legacy = _DeprecatedRegionSettings().region_organizations
    if legacy:
        _warn_deprecated_name()
    return frozenset(legacy)


def tenant_of(session: Session, principal: Principal) -> Tenant | None:
    """The principal's tenant, looked up once per session and organisation."""
    cache_: dict[tuple[str, str | None], Tenant | None] = session.info.setdefault(
        "security_tenants", {}
    )
    key = (principal.role.value, principal.organization_id)
    if key not in cache_:
        org = None
        if principal.organization_id:
            org = repository.organizations_by_ids(session, [principal.organization_id]).get(
                principal.organization_id
            )
        cache_[key] = rules.tenant_rule(
            principal.role,
            principal.organization_id,
            org.code if org else None,
            repository.places_of(session, [org])[org.id] if org else None,
            region_organizations(),
        )
    return cache_[key]


def require_tenant(session: Session, principal: Principal) -> Tenant:
    """The caller's tenant; an account whose organisation has no province is refused."""
    tenant = tenant_of(session, principal)
    if tenant is None:
        raise Forbidden(rules.BASIS_TENANT_NO_PROVINCE)
    return tenant


def require_within_tenant(
    session: Session,
    principal: Principal,
    *,
    resource_tenant: Tenant,
    action: str,
    purpose: str,
    resource_type: str,
) -> None:
    """Before a province's record exists (a case registered, a sample filed): decide, audited.

    The record will belong to ``resource_tenant``; a caller whose tenant does not
    cover it is refused and the refusal kept in the audit chain, as any other.
    """
    decision = decide(
        session,
        principal,
        person_id=None,
        action=action,
        purpose=purpose,
        resource_type=resource_type,
        resource_tenant=resource_tenant,
    )
    if not decision.allowed:
        raise Forbidden(f"no access to this record: {decision.basis}")


def decide(
    session: Session,
    principal: Principal,
    *,
    person_id: str | None,
    action: str,
    purpose: str,
    break_glass_reason: str | None = None,
    resource_type: str = "Patient",
    resource_id: str | None = None,
    resource_tenant: Tenant | None = None,
    pending_tenant: Tenant | None = None,
    domain_refusal: str | None = None,
) -> AccessDecision:
    """Decide whether ``principal`` may ``action`` the record for ``purpose``; audit it.

    ``resource_tenant`` is the owner's tenant of a record a province owns, and
    ``pending_tenant`` the receiving province of a pending transfer (it may read);
    ``domain_refusal`` is the owning domain's own refusal. ``person_id`` None is a
    record about no one: only those are weighed.
    """
    purpose = purpose.strip().lower()
    if not purpose:
        raise Unprocessable("purpose must not be empty", field="purpose")
    now = utcnow()
    request = rules.AccessRequest(
        role=principal.role,
        organization_id=principal.organization_id,
        purpose=purpose,
        break_glass_reason=break_glass_reason,
        default_scope=get_settings().sharing_default,
        action=action,
        resource_tenant=resource_tenant,
        caller_tenant=tenant_of(session, principal) if resource_tenant else None,
        pending_tenant=pending_tenant,
        domain_refusal=domain_refusal,
    )
    facts = None
    # A refusal before the person-level rules needs no facts about the person.
    if person_id is not None and not (rules.tenant_refusal(request) or domain_refusal):
        facts = repository.person_facts(session, person_id, now)
        if principal.organization_id and rules.needs_consortium_lookup(request, facts, now):
            partners = repository.consortium_partners(
                session, principal.organization_id, rules.consortium_anchors(facts, now)
            )
            facts = replace(facts, consortium_partners=partners)
    decision = rules.decide(request, facts, now)
    _audit(
        session,
        principal,
        decision,
        person_id,
        action,
        purpose,
        request,
        resource_type,
        resource_id,
    )
    return decision


def _audit(
    session: Session,
    principal: Principal,
    decision: AccessDecision,
    person_id: str | None,
    action: str,
    purpose: str,
    request: rules.AccessRequest,
    resource_type: str,
    resource_id: str | None,
) -> None:
    detail: dict[str, object] = {"basis": decision.basis}
    reason = (request.break_glass_reason or "").strip()
    if reason:
        detail["break_glass_reason"] = reason
    if request.resource_tenant is not None and request.caller_tenant is not None:
        detail["tenant"] = request.caller_tenant.province
    if decision.break_glass:
        detail.update(break_glass=True, requested_action=action)
        logged_action, outcome = "break_glass", "allowed"
    elif decision.allowed:
        logged_action, outcome = action, "allowed"
    else:
        detail["requested_action"] = action
        logged_action, outcome = "access_denied", "denied"
    audit.record(
        session,
        principal,
        action=logged_action,
        resource_type=resource_type,
        resource_id=resource_id,
        person_id=person_id,
        purpose=purpose,
        outcome=outcome,
        detail=detail,
        keep_on_rollback=decision.break_glass or not decision.allowed,
    )


def require_person_access(
    session: Session,
    principal: Principal,
    *,
    person_id: str | None,
    action: str,
    purpose: str,
    break_glass_reason: str | None = None,
    resource_type: str = "Patient",
    resource_id: str | None = None,
    resource_tenant: Tenant | None = None,
    pending_tenant: Tenant | None = None,
    domain_refusal: str | None = None,
) -> AccessDecision:
    """Like :func:`decide`, but raise ``Forbidden`` when access is denied."""
    decision = decide(
        session,
        principal,
        person_id=person_id,
        action=action,
        purpose=purpose,
        break_glass_reason=break_glass_reason,
        resource_type=resource_type,
        resource_id=resource_id,
        resource_tenant=resource_tenant,
        pending_tenant=pending_tenant,
        domain_refusal=domain_refusal,
    )
    if not decision.allowed:
        what = "this person's record" if person_id is not None else "this record"
        raise Forbidden(f"no access to {what}: {decision.basis}")
    return decision
