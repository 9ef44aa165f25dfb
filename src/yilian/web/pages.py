"""Web pages: sign-in, home, organisation and consortium browser.

Pages read through the same services as the API; a page whose caller is not signed
in redirects to the sign-in page instead of answering 401.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from yilian.audit import service as audit
from yilian.deps import AppSettings, DbSession
from yilian.kit.errors import TooManyRequests, Unauthorized, YilianError
from yilian.registry import service as registry
from yilian.registry.models import Consortium, Practitioner, Region
from yilian.registry.models import Organization as OrgModel
from yilian.registry.rules import (
    ORGANIZATION_TYPE_LABELS,
    OrganizationType,
)
from yilian.registry.schemas import OrganizationFilter, RegionNode
from yilian.security import service as security
from yilian.security import tokens
from yilian.security.dependencies import COOKIE_NAME
from yilian.security.principal import Principal, Role
from yilian.web.i18n import LANG_COOKIE, LANGUAGES, translate
from yilian.web.templating import forbidden_page, language, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20


def _signed_in(request: Request, session: DbSession) -> Principal | None:
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    try:
        principal = tokens.verify(token, request.app.state.settings)
    except Unauthorized:
        return None
    if security.stale_token_reason(session, principal):
        return None
    return principal


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after sign-in is a phishing aid.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/ui"


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=303)


@router.get("/lang/{code}")
def set_language(code: str, next: str | None = None) -> RedirectResponse:
    resp = RedirectResponse(_safe_next(next), status_code=303)
    if code in LANGUAGES:
        resp.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax")
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", None, next=_safe_next(next), error=None, username="")


@router.post("/login", response_model=None)
def login(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "/ui",
) -> Response:
    lang = language(request)
    address = request.client.host if request.client else "unknown"
    try:
        principal = security.sign_in_user(
            session, settings, username=username, password=password, address=address
        )
    except YilianError as exc:
        # The failure count was written in this session; returning (not raising) commits it.
        key = "login.failed"
        if isinstance(exc, TooManyRequests):
            key = "login.throttled"
        elif isinstance(exc, security.AccountLocked):
            key = "login.locked"
        return render(
            request,
            "login.html",
            None,
            status_code=exc.status_code,
            next=_safe_next(next),
            error=translate(lang, key),
            username=username,
        )
    token = tokens.issue(principal, settings)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.access_token_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=settings.env == "production",
    )
    return resp


@router.post("/logout")
def logout() -> RedirectResponse:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE_NAME)
    return resp


@router.get("/ui", response_class=HTMLResponse, response_model=None)
def home(request: Request, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    org = (
        registry.get_organization(session, principal.organization_id)
        if principal.organization_id
        else None
    )
    counts = [
        ("regions", session.scalar(select(func.count()).select_from(Region)) or 0),
        ("organizations", session.scalar(select(func.count()).select_from(OrgModel)) or 0),
        ("consortia", session.scalar(select(func.count()).select_from(Consortium)) or 0),
        ("practitioners", session.scalar(select(func.count()).select_from(Practitioner)) or 0),
    ]
    return render(request, "home.html", principal, org=org, stats=counts)


def _chart_nodes(nodes: list[RegionNode]) -> list[dict[str, object]]:
    """Region tree → ECharts treemap data, leaving out regions with no organisations."""
    out: list[dict[str, object]] = []
    for n in nodes:
        if n.organization_count == 0:
            continue
        item: dict[str, object] = {"name": n.name, "value": n.organization_count}
        kids = _chart_nodes(n.children)
        if kids:
            item["children"] = kids
        out.append(item)
    return out


def _org_page(
    session: DbSession,
    *,
    region_id: str | None,
    type_: OrganizationType | None,
    q: str | None,
    offset: int,
) -> dict[str, Any]:
    filters = OrganizationFilter(region_id=region_id or None, type=type_, q=q or None)
    listing = registry.list_organizations(session, filters=filters, limit=PAGE_SIZE, offset=offset)
    items = [
        {
            "name": o.name,
            "code": o.code,
            "type_label": o.type_label,
            "level": o.level,
            "region_name": o.region_name,
            "insurance_designated": o.insurance_designated,
        }
        for o in listing.items
    ]
    query = urlencode(
        {"region_id": region_id or "", "type": type_.value if type_ else "", "q": q or ""}
    )
    return {
        "page": {"rows": items, "total": listing.total, "offset": offset, "limit": PAGE_SIZE},
        "query": query,
    }


@router.get("/ui/organizations", response_class=HTMLResponse, response_model=None)
def organizations(request: Request, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    tree = registry.region_tree(session)
    consortia = registry.list_consortia(session, limit=200).items
    rows = [
        {
            "name": c.name,
            "kind_label": c.kind_label,
            "lead_name": c.lead_name,
            "members": c.member_count,
        }
        for c in consortia
    ]
    return render(
        request,
        "organizations.html",
        principal,
        tree=tree,
        chart_data=_chart_nodes(tree),
        consortia=rows,
        org_types=list(ORGANIZATION_TYPE_LABELS.items()),
        **_org_page(session, region_id=None, type_=None, q=None, offset=0),
    )


@router.get("/ui/organizations/table", response_class=HTMLResponse, response_model=None)
def organizations_table(
    request: Request,
    session: DbSession,
    region_id: Annotated[str | None, Query(max_length=32)] = None,
    type: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        type_ = OrganizationType(type) if type else None
    except ValueError:
        type_ = None  # an unknown type from a hand-edited URL shows everything
    return render(
        request,
        "_org_table.html",
        principal,
        **_org_page(session, region_id=region_id, type_=type_, q=q, offset=offset),
    )


@router.get("/ui/audit", response_class=HTMLResponse, response_model=None)
def audit_log(
    request: Request,
    session: DbSession,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role != Role.admin:
        return forbidden_page(request, principal)
    entries, total = audit.search(session, limit=PAGE_SIZE, offset=offset)
    check = audit.verify(session)
    return render(
        request,
        "audit.html",
        principal,
        entries=entries,
        total=total,
        offset=offset,
        limit=PAGE_SIZE,
        check=check,
    )
