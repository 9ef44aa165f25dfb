"""Read the audit trail: who accessed a person's data, search, and chain verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from yilian.audit import service
from yilian.audit.schemas import (
    AuditEntryOut,
    AuditPage,
    PersonAccessOut,
    PersonAccessPage,
    UtcDatetime,
    VerifyOut,
)
from yilian.deps import DbSession, Paging
from yilian.kit.errors import Forbidden, Unauthorized, Unprocessable, error_responses
from yilian.security.access import require_person_access
from yilian.security.dependencies import AdminPrincipal, CurrentPrincipal
from yilian.security.principal import Role
from yilian.security.schemas import Text

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

PersonId = Annotated[Text, Path(min_length=1, max_length=32, description="master patient index id")]


@router.get(
    "/persons/{person_id}/access",
    response_model=PersonAccessPage,
    responses=error_responses(Unauthorized, Forbidden),
)
def person_access(
    person_id: PersonId,
    session: DbSession,
    principal: CurrentPrincipal,
    page: Paging,
    purpose: Annotated[Text, Query(min_length=1, max_length=64)] = "treatment",
) -> PersonAccessPage:
    """List who accessed a person's data: administrators, or callers with access to the person."""
    if principal.role is not Role.admin:
        require_person_access(
            session,
            principal,
            person_id=person_id,
            action="read",
            purpose=purpose,
            resource_type="AuditTrail",
        )
    else:
        service.record(
            session,
            principal,
            action="read",
            resource_type="AuditTrail",
            person_id=person_id,
            purpose=purpose,
            outcome="allowed",
            detail={"basis": "administrator"},
        )
    entries, total = service.person_access(session, person_id, limit=page.limit, offset=page.offset)
    return PersonAccessPage(
        person_id=person_id,
        items=[PersonAccessOut.model_validate(e) for e in entries],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "",
    response_model=AuditPage,
    responses=error_responses(Unauthorized, Forbidden, Unprocessable),
)
def search(
    session: DbSession,
    admin: AdminPrincipal,
    page: Paging,
    actor: Annotated[Text | None, Query(max_length=64, description="actor id")] = None,
    person: Annotated[Text | None, Query(max_length=32, description="person id")] = None,
    action: Annotated[Text | None, Query(max_length=32)] = None,
    from_: Annotated[UtcDatetime | None, Query(alias="from", description="at or after")] = None,
    to: Annotated[UtcDatetime | None, Query(description="before")] = None,
) -> AuditPage:
    """Search the audit trail by actor, person, action and time (administrators only)."""
    entries, total = service.search(
        session,
        actor_id=actor,
        person_id=person,
        action=action,
        since=from_,
        until=to,
        limit=page.limit,
        offset=page.offset,
    )
    return AuditPage(
        items=[AuditEntryOut.model_validate(e) for e in entries],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/verify",
    response_model=VerifyOut,
    responses=error_responses(Unauthorized, Forbidden),
)
def verify(session: DbSession, admin: AdminPrincipal) -> VerifyOut:
    """Check the whole hash chain and report the first broken entry (administrators only)."""
    result = service.verify(session)
    return VerifyOut(
        ok=result.ok,
        checked=result.checked,
        first_broken_seq=result.first_broken_seq,
        reason=result.reason,
    )
