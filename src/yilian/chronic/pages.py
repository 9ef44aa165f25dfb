"""Web pages of the chronic domain: a person's chronic care and the control indicators."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.chronic import repository, rules, service
from yilian.chronic.endpoints import indicator_scope
from yilian.chronic.i18n import MESSAGES
from yilian.chronic.schemas import FollowupIn
from yilian.deps import DbSession
from yilian.kit.errors import Forbidden, NotFound, YilianError
from yilian.registry import service as registry
from yilian.security.principal import Principal, Role
from yilian.web import nav
from yilian.web.i18n import add_messages
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import render

router = APIRouter()

add_messages(MESSAGES)
nav.register(
    nav.NavItem(
        "nav.chronic",
        "/ui/chronic",
        frozenset({Role.admin, Role.commission, Role.cdc, Role.doctor, Role.specialist}),
        order=40,
    )
)

PersonId = Annotated[str, Path(min_length=1, max_length=32)]
_NUMBERS = ("sbp", "dbp", "heart_rate", "glucose", "temperature", "weight_kg", "height_cm",
            "waist_cm")  # fmt: skip
_FLAGS = ("pregnant_or_lactating", "adverse_reaction", "complication", "cannot_manage",
          "annual_check")  # fmt: skip


def _error_page(request: Request, principal: Principal, exc: YilianError) -> HTMLResponse:
    return render(
        request, "error.html", principal, status_code=exc.status_code, message=exc.message
    )


def _chart_series(o: service.Overview) -> dict[str, Any]:
    def pts(series: list[Any]) -> list[list[Any]]:
        return [[p.when.isoformat(), p.value, p.source] for p in series]

    return {"sbp": pts(o.facts.sbp), "dbp": pts(o.facts.dbp), "glucose": pts(o.facts.glucose)}


def _person_page(
    request: Request,
    session: Session,
    principal: Principal,
    person_id: str,
    *,
    error: str | None = None,
    error_field: str | None = None,
    status_code: int = 200,
    message: str | None = None,
) -> HTMLResponse:
    o = service.overview(session, principal, person_id)
    orgs = registry.organizations_by_ids(
        session, {e.managing_org_id for e in o.enrolments if e.managing_org_id}
    )
    hospitals = [
        org
        for org in registry.list_organizations(session, limit=500).items
        if str(getattr(org.type, "value", org.type)).endswith("hospital")
    ]
    return render(
        request,
        "chronic/person.html",
        principal,
        status_code=status_code,
        o=o,
        person_id=person_id,
        orgs=orgs,
        hospitals=hospitals,
        charts=_chart_series(o),
        scores=o.risk.scores,
        today=service.today().isoformat(),
        symptoms=rules.URGENT_SYMPTOMS,
        can_write=principal.role in service.WRITER_ROLES,
        error=error,
        error_field=error_field,
        message=message,
    )


@router.get("/ui/chronic/persons/{person_id}", response_class=HTMLResponse, response_model=None)
def person_page(
    request: Request,
    person_id: PersonId,
    session: DbSession,
    msg: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        return _person_page(request, session, principal, person_id, message=msg)
    except (Forbidden, NotFound) as exc:
        return _error_page(request, principal, exc)


def _form_to_followup(form: dict[str, Any]) -> FollowupIn:
    data: dict[str, Any] = {
        "followed_on": form.get("followed_on") or None,
        "mode": form.get("mode") or "clinic",
        "note": (form.get("note") or "").strip() or None,
    }
    for name in _NUMBERS:
        value = (form.get(name) or "").strip()
        if value:
            data[name] = value
    smoker = form.get("smoker")
    if smoker in ("yes", "no"):
        data["smoker"] = smoker == "yes"
    for name in _FLAGS:
        data[name] = form.get(name) == "on"
    data["symptoms"] = form.get("symptoms") or []
    if form.get("programmes"):
        data["programmes"] = form["programmes"]
    return FollowupIn.model_validate(data)


Field = Annotated[str, Form(max_length=32)]


@router.post(
    "/ui/chronic/persons/{person_id}/followups", response_class=HTMLResponse, response_model=None
)
def followup_form(
    request: Request,
    person_id: PersonId,
    session: DbSession,
    followed_on: Field = "",
    mode: Field = "clinic",
    sbp: Field = "",
    dbp: Field = "",
    heart_rate: Field = "",
    glucose: Field = "",
    temperature: Field = "",
    weight_kg: Field = "",
    height_cm: Field = "",
    waist_cm: Field = "",
    smoker: Field = "",
    pregnant_or_lactating: Field = "",
    adverse_reaction: Field = "",
    complication: Field = "",
    cannot_manage: Field = "",
    annual_check: Field = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    symptoms: Annotated[list[str] | None, Form()] = None,
    programmes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    form: dict[str, Any] = {
        "followed_on": followed_on,
        "mode": mode,
        "sbp": sbp,
        "dbp": dbp,
        "heart_rate": heart_rate,
        "glucose": glucose,
        "temperature": temperature,
        "weight_kg": weight_kg,
        "height_cm": height_cm,
        "waist_cm": waist_cm,
        "smoker": smoker,
        "pregnant_or_lactating": pregnant_or_lactating,
        "adverse_reaction": adverse_reaction,
        "complication": complication,
        "cannot_manage": cannot_manage,
        "annual_check": annual_check,
        "note": note,
        "symptoms": symptoms or [],
        "programmes": programmes or [],
    }

    def retry(message: str, field: str | None) -> Response:
        return _person_page(
            request,
            session,
            principal,
            person_id,
            error=message,
            error_field=field,
            status_code=422,
        )

    try:
        data = _form_to_followup(form)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ()))
        return retry(f"{field}: {err.get('msg')}", field)
    try:
        _made, suggested = service.record_followup(
            session, principal, person_id=person_id, data=data
        )
    except (Forbidden, NotFound) as exc:
        session.rollback()  # the refusal's audit entry is kept on rollback
        return _error_page(request, principal, exc)
    except YilianError as exc:
        session.rollback()
        where = exc.detail[0].get("field") if exc.detail else None
        return retry(exc.message, where)
    anchor = "#suggestions" if suggested else "#followups"
    return RedirectResponse(f"/ui/chronic/persons/{person_id}{anchor}", status_code=303)


@router.post(
    "/ui/chronic/suggestions/{suggestion_id}/refer",
    response_class=HTMLResponse,
    response_model=None,
)
def refer_form(
    request: Request,
    suggestion_id: Annotated[str, Path(min_length=1, max_length=32)],
    session: DbSession,
    to_organization_id: Annotated[str, Form(max_length=32)],
    person_id: Annotated[str, Form(max_length=32)],
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        _s, requested, _message = service.request_suggested_referral(
            session,
            principal,
            suggestion_id=suggestion_id,
            to_organization_id=to_organization_id,
        )
    except YilianError as exc:
        session.rollback()  # nothing half-written; a refusal's audit entry is kept
        return _error_page(request, principal, exc)
    msg = "chronic.referral.requested" if requested else "chronic.referral.unavailable"
    return RedirectResponse(
        f"/ui/chronic/persons/{person_id}?{urlencode({'msg': msg})}#suggestions", status_code=303
    )


@router.get("/ui/chronic", response_class=HTMLResponse, response_model=None)
def indicators_page(
    request: Request,
    session: DbSession,
    programme: Annotated[str, Query(max_length=32)] = "hypertension",
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    group_by: Annotated[str, Query(max_length=16)] = "centre",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in (Role.admin, Role.commission, Role.cdc, Role.doctor, Role.specialist):
        return _error_page(request, principal, Forbidden("no access to chronic indicators"))
    y = year or service.today().year
    error = None
    rows: list[service.IndicatorRow] = []
    total = service.IndicatorRow(None, "total", 0, 0, 0)
    try:
        rows, total = service.indicators(
            session,
            programme=programme,
            year=y,
            group_by=group_by,
            organization_ids=indicator_scope(principal),
        )
    except YilianError as exc:
        error = exc.message
    due: list[Any] = []
    if principal.organization_id and principal.role in service.WRITER_ROLES:
        due = repository.due_at_organization(
            session, principal.organization_id, service.today(), limit=50
        )
    return render(
        request,
        "chronic/indicators.html",
        principal,
        status_code=422 if error else 200,
        rows=rows,
        total=total,
        programmes=service.programmes(),
        programme=programme,
        year=y,
        group_by=group_by,
        groups=service.GROUPS,
        error=error,
        due=due,
        today=service.today(),
        chart={
            "names": [r.group_name for r in rows],
            "standard": [r.standard_rate for r in rows],
            "control": [r.control_rate for r in rows],
        },
    )


def days_between(a: date, b: date) -> int:
    return (a - b).days
