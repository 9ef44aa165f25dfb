"""The one access decision for personal data: who may read or write a person's record, and why.

Every decision, allowed or denied, is written to the audit chain when the
caller's transaction commits. Denials and break-glass entries are written even
when it rolls back, so a refused request (403) still leaves its trace.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.config import get_settings
from yilian.db import utcnow
from yilian.kit.errors import Forbidden, Unprocessable
from yilian.security import repository, rules
from yilian.security.principal import Principal
from yilian.security.rules import AccessDecision

__all__ = ["AccessDecision", "decide", "require_person_access"]


def decide(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    action: str,
    purpose: str,
    break_glass_reason: str | None = None,
    resource_type: str = "Patient",
    resource_id: str | None = None,
) -> AccessDecision:
    """Decide whether ``principal`` may ``action`` the person's data for ``purpose``; audit it."""
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
    )
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
    person_id: str,
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
    person_id: str,
    action: str,
    purpose: str,
    break_glass_reason: str | None = None,
    resource_type: str = "Patient",
    resource_id: str | None = None,
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
    )
    if not decision.allowed:
        raise Forbidden(f"no access to this person's record: {decision.basis}")
    return decision
