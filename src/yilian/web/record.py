"""The longitudinal record of one person (API and page) and its consent panel.

Reads go through ``records.service.everything``, so the access decision allows
or refuses (and audits) every one; a refusal is a 403 whose audit entry outlives
the rolled-back request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yilian.deps import DbSession
from yilian.kit.errors import (
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    YilianError,
    error_responses,
)
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry import service as registry
from yilian.security import rules
from yilian.security import service as security
from yilian.security import service as security_service
from yilian.security.dependencies import CurrentPrincipal
from yilian.security.principal import Principal, Role
from yilian.security.schemas import Text
from yilian.web import timeline
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import forbidden_page, render

router = APIRouter()

PersonId = Annotated[Text, Path(min_length=1, max_length=32, description="master patient index id")]
CONSENT_ROLES = frozenset({Role.doctor, Role.specialist, Role.admin})


def person_record(
    session: Session,
    principal: Principal,
    person_id: str,
    *,
    purpose: str = rules.PURPOSE_TREATMENT,
    break_glass_reason: str | None = None,
) -> dict[str, Any]:
    """Assemble a person's longitudinal record across institutions; 403 when access is refused."""
    record_ids = patients.record_ids_of(session, person_id)
    if not record_ids:
        raise NotFound(f"no person {person_id} with a Patient record")
    ctx = records.ReadContext(principal, purpose=purpose, break_glass_reason=break_glass_reason)
    resources = records.everything(session, ctx, record_ids[0])
    sources = records.sources_of(session, resources)
    orgs = registry.organizations_by_ids(session, {o for o in sources.values() if o})
    out = timeline.assemble(resources, sources, {k: o.name for k, o in orgs.items()})
    out["person_id"] = person_id
    return out


@router.get(
    "/api/v1/persons/{person_id}/record",
    tags=["records"],
    summary="A person's longitudinal record",
    response_model=None,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def record_api(
    person_id: PersonId,
    session: DbSession,
    principal: CurrentPrincipal,
    purpose: Annotated[str, Header(alias="X-Purpose-Of-Use", max_length=64)] = "treatment",
    break_glass: Annotated[str | None, Header(alias="X-Break-Glass-Reason", max_length=500)] = None,
) -> dict[str, Any]:
    """Return problems, encounters, results by test, medications, imaging and documents."""
    return person_record(
        session, principal, person_id, purpose=purpose, break_glass_reason=break_glass
    )


def _error_page(request: Request, principal: Principal, exc: YilianError) -> HTMLResponse:
    return render(
        request, "error.html", principal, status_code=exc.status_code, message=exc.message
    )


def _consent_panel(
    request: Request,
    session: Session,
    principal: Principal,
    person_id: str,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "record_consents.html",
        principal,
        status_code=status_code,
        person_id=person_id,
        consents=security_service.list_consents(session, person_id=person_id),
        can_manage=principal.role in CONSENT_ROLES,
        error=error,
    )


@router.get("/ui/persons/{person_id}", response_class=HTMLResponse, response_model=None)
def record_page(request: Request, person_id: PersonId, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        record = person_record(session, principal, person_id)
    except (Forbidden, NotFound) as exc:
        # Returning (not raising) commits; the denial's audit entry is kept either way.
        return _error_page(request, principal, exc)
    charts = [
        {
            "id": f"trend-{n}",
            "label": g["label"],
            "unit": g["unit"],
            "points": [[p["when"], p["value"]] for p in g["points"] if p["value"] is not None],
        }
        for n, g in enumerate(record["results"])
        if g["trend"]
    ]
    return render(
        request,
        "record.html",
        principal,
        record=record,
        charts=charts,
        person_id=person_id,
        consents=security_service.list_consents(session, person_id=person_id),
        can_manage=principal.role in CONSENT_ROLES,
        error=None,
    )


def _change_consent(
    request: Request,
    session: Session,
    person_id: str,
    scope: str,
    organization_id: str | None,
    *,
    withdraw: bool,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CONSENT_ROLES:
        return forbidden_page(request, principal)
    try:
        security_service.require_consent_manager(session, principal, person_id=person_id)
        change = security.withdraw_consent if withdraw else security.record_consent
        change(
            session,
            principal,
            person_id=person_id,
            scope=scope,
            organization_id=organization_id or None,
        )
    except Unprocessable as exc:
        return _consent_panel(request, session, principal, person_id, exc.message, 422)
    except (Forbidden, NotFound) as exc:
        return _error_page(request, principal, exc)
    return _consent_panel(request, session, principal, person_id)


@router.post("/ui/persons/{person_id}/consents", response_class=HTMLResponse, response_model=None)
def record_consent_form(
    request: Request,
    person_id: PersonId,
    session: DbSession,
    scope: Annotated[str, Form(max_length=16)],
    organization_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    return _change_consent(request, session, person_id, scope, organization_id, withdraw=False)


@router.post(
    "/ui/persons/{person_id}/consents/withdraw",
    response_class=HTMLResponse,
    response_model=None,
)
def withdraw_consent_form(
    request: Request,
    person_id: PersonId,
    session: DbSession,
    scope: Annotated[str, Form(max_length=16)],
    organization_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    return _change_consent(request, session, person_id, scope, organization_id, withdraw=True)


@router.get("/ui/persons", response_class=HTMLResponse, response_model=None)
def person_search(
    request: Request,
    session: DbSession,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    rows: list[dict[str, Any]] = []
    error = None
    if q and q.strip():
        try:
            found = records.search(
                session,
                records.ReadContext(principal),
                "Patient",
                [("name", q.strip()), ("_count", "20")],
            )
        except YilianError as exc:
            # The store refuses the whole page when any match is not the caller's to see.
            error = exc.message
        else:
            for p in found.matches:
                person = patients.person_of_record(session, str(p.get("id")))
                rows.append(timeline.patient_header([p]) | {"person_id": person})
    return render(request, "record_search.html", principal, q=q or "", rows=rows, error=error)
