"""Web pages of the familydoctor domain: the coverage dashboard and the doctor's worklist."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yilian.deps import DbSession
from yilian.familydoctor import rules, service, worklists
from yilian.familydoctor.i18n import MESSAGES
from yilian.registry import service as registry
from yilian.security.principal import Principal, Role
from yilian.web import nav
from yilian.web.i18n import add_messages
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import render

router = APIRouter()

add_messages(MESSAGES)
DASHBOARD_ROLES = frozenset({Role.admin, Role.commission, Role.doctor})
nav.register(nav.NavItem("nav.familydoctor", "/ui/familydoctor", DASHBOARD_ROLES, order=35))
nav.register(
    nav.NavItem(
        "nav.familydoctor_worklist", "/ui/familydoctor/worklist", frozenset({Role.doctor}), order=36
    )
)

# A page shows this many rows per section; the API pages through the rest.
SECTION_ROWS = 200
INVITATIONS = (
    rules.ItemKind.crc_invite,
    rules.ItemKind.crc_fit2,
    rules.ItemKind.crc_colonoscopy,
    rules.ItemKind.ppv23_invite,
    rules.ItemKind.health_check,
)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _chart(cells: list[service.CoverageCell]) -> dict[str, Any]:
    return {
        "names": [c.name for c in cells],
        "all": [_pct(c.rate_all) for c in cells],
        "key": [_pct(c.rate_key) for c in cells],
    }


def _headline(
    session: Session,
    principal: Principal,
    everything: service.CoverageCell,
    districts: list[service.CoverageCell],
) -> service.CoverageCell:
    """The KPI tiles show the signed-in user's district, else the largest, else everything."""
    if principal.organization_id:
        org = registry.get_organization(session, principal.organization_id)
        ancestry = {r.id for r in registry.region_ancestry(session, org.region_id)}
        for c in districts:
            if c.id in ancestry:
                return c
    return districts[0] if districts else everything


@router.get("/ui/familydoctor", response_class=HTMLResponse, response_model=None)
def dashboard(
    request: Request,
    session: DbSession,
    on: Annotated[date | None, Query()] = None,
) -> Response:
    """Team dashboard: coverage against the 48%/80% targets by street, centre and team."""
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in DASHBOARD_ROLES:
        return render(
            request,
            "error.html",
            principal,
            status_code=403,
            message="家庭医生签约看板仅对医生、卫健委和管理员开放",
        )
    day = on or service.today()
    cells = service.coverage(session, on=day)
    districts = [c for c in cells if c.level == "district"]
    district = _headline(session, principal, cells[0], districts)
    streets = [c for c in cells if c.level == "street"]
    centres = [c for c in cells if c.level == "centre"]
    if principal.role == Role.doctor and principal.organization_id:
        teams = service.teams_with_members(session, principal.organization_id)
        own = {t.id for t, _m in teams}
        team_cells = [c for c in cells if c.level == "team" and c.id in own]
    else:
        team_cells = [c for c in cells if c.level == "team"]
    cfg = service.get_familydoctor_settings()
    ppv = service.ppv23_coverage(session, on=day)
    chart = {
        "target_all": _pct(cfg.target_all),
        "target_key": _pct(cfg.target_key),
        "streets": _chart(streets),
        "centres": _chart(centres),
        "teams": _chart(team_cells[:40]),
        "ppv23": {"names": [r["name"] for r in ppv], "rate": [_pct(r["rate"]) for r in ppv]},
    }
    return render(
        request,
        "familydoctor/dashboard.html",
        principal,
        on=day,
        district=district,
        districts=[cells[0], *districts],
        streets=streets,
        centres=centres,
        team_cells=team_cells,
        ppv=ppv,
        crc=service.crc_summary(session, day.year),
        cfg=cfg,
        chart=chart,
        pct=_pct,
    )


@router.get("/ui/familydoctor/worklist", response_class=HTMLResponse, response_model=None)
def worklist_page(
    request: Request,
    session: DbSession,
    on: Annotated[date | None, Query()] = None,
    team_id: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The signed-in family doctor's worklist for a day."""
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role != Role.doctor or not principal.organization_id:
        return render(
            request,
            "error.html",
            principal,
            status_code=403,
            message="工作清单仅对社区家庭医生开放",
        )
    day = on or service.today()
    teams = [t for t, _m in service.teams_with_members(session, principal.organization_id)]
    if team_id is None:
        # The doctor's own team first; "all" shows the whole centre.
        own = service.teams_of_user(session, principal.subject)
        team_id = next((t.id for t in teams if t.id in own), None)
    if team_id not in {t.id for t in teams}:
        team_id = None
    wl = worklists.build_worklist(
        session, on=day, organization_id=principal.organization_id, team_id=team_id
    )
    sections = [
        ("followups", "familydoctor.followups", wl.of_kind(rules.ItemKind.followup)),
        ("invitations", "familydoctor.invitations", wl.of_kind(*INVITATIONS)),
        ("abnormal", "familydoctor.abnormal", wl.of_kind(rules.ItemKind.abnormal)),
        ("down-referrals", "familydoctor.down_referrals", wl.of_kind(rules.ItemKind.down_referral)),
    ]
    # Most overdue first within a section.
    sections = [
        (k, label, sorted(items, key=lambda i: (-i.overdue_days, i.person_id)))
        for k, label, items in sections
    ]
    return render(
        request,
        "familydoctor/worklist.html",
        principal,
        on=day,
        teams=teams,
        team_id=team_id,
        sections=sections,
        people=wl.people,
        counts=wl.counts(),
        limit=SECTION_ROWS,
    )
