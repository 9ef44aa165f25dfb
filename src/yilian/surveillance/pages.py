"""Web pages of 预警监测: the signal board with a street grid, series charts, event timelines.

For ``cdc`` and ``admin``. Actions are plain form posts that redirect back (303),
so every page works without JavaScript; ECharts draws the series chart.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from yilian.deps import DbSession
from yilian.kit.errors import YilianError
from yilian.registry import service as registry
from yilian.registry.rules import OrganizationType
from yilian.registry.schemas import OrganizationFilter
from yilian.security.principal import Principal, Role
from yilian.surveillance import repository as repo
from yilian.surveillance import rules, service
from yilian.surveillance.config import get_surveillance_settings
from yilian.web.i18n import add_messages
from yilian.web.nav import NavItem, register
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import forbidden_page, render

router = APIRouter(include_in_schema=False)
ROLES = frozenset({Role.cdc, Role.admin})
Id = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
Key = Annotated[str, Path(min_length=1, max_length=160, pattern=r"^[A-Za-z0-9_.:+\-]+$")]
Text = Annotated[str, Form(max_length=5000)]

register(NavItem("nav.surveillance", "/ui/surveillance", ROLES, order=40))
add_messages(
    {
        "nav.surveillance": {"zh-CN": "预警监测", "en": "Surveillance"},
        "surveillance.board": {"zh-CN": "预警信号", "en": "Signals"},
        "surveillance.grid": {"zh-CN": "街道预警等级", "en": "Alert level by street"},
        "surveillance.none": {"zh-CN": "暂无", "en": "None"},
        "surveillance.days": {"zh-CN": "日期", "en": "Days"},
        "surveillance.title": {"zh-CN": "信号", "en": "Signal"},
        "surveillance.rule": {"zh-CN": "规则", "en": "Rule"},
        "surveillance.level": {"zh-CN": "等级", "en": "Level"},
        "surveillance.status": {"zh-CN": "状态", "en": "Status"},
        "surveillance.actions": {"zh-CN": "处理", "en": "Actions"},
        "surveillance.chart": {"zh-CN": "曲线", "en": "Chart"},
        "surveillance.verify": {"zh-CN": "核实", "en": "Verify"},
        "surveillance.confirm": {"zh-CN": "确认为事件", "en": "Confirm as event"},
        "surveillance.dismiss": {"zh-CN": "排除", "en": "Dismiss"},
        "surveillance.reason": {"zh-CN": "排除理由", "en": "Reason"},
        "surveillance.event": {"zh-CN": "事件", "en": "Event"},
        "surveillance.timeline": {"zh-CN": "时间线", "en": "Timeline"},
        "surveillance.team": {"zh-CN": "应急处置队伍", "en": "Response team"},
        "surveillance.assign": {"zh-CN": "指派", "en": "Assign"},
        "surveillance.tasks": {"zh-CN": "任务", "en": "Tasks"},
        "surveillance.add_task": {"zh-CN": "添加任务", "en": "Add task"},
        "surveillance.done": {"zh-CN": "完成", "en": "Done"},
        "surveillance.note": {"zh-CN": "记录", "en": "Note"},
        "surveillance.close": {"zh-CN": "结案", "en": "Close"},
        "surveillance.summary": {"zh-CN": "结案小结", "en": "Summary"},
        "surveillance.series": {"zh-CN": "监测序列", "en": "Series"},
        "surveillance.observed": {"zh-CN": "观察值", "en": "Observed"},
        "surveillance.expected": {"zh-CN": "期望值", "en": "Expected"},
        "surveillance.upper": {"zh-CN": "预警阈值", "en": "Upper bound"},
        "surveillance.alarm": {"zh-CN": "预警", "en": "Alarm"},
        "surveillance.method": {"zh-CN": "方法", "en": "Method"},
        "surveillance.insufficient": {
            "zh-CN": "基线不足（历史数据太少），不判定预警",
            "en": "Insufficient baseline: too little history to judge",
        },
        "surveillance.public_pending": {"zh-CN": "待审核舆情/举报", "en": "Reports to review"},
        "surveillance.accept": {"zh-CN": "采纳", "en": "Accept"},
        "surveillance.reject": {"zh-CN": "不采纳", "en": "Reject"},
        "surveillance.level.none": {"zh-CN": "无", "en": "none"},
        "surveillance.level.yellow": {"zh-CN": "黄色", "en": "yellow"},
        "surveillance.level.orange": {"zh-CN": "橙色", "en": "orange"},
        "surveillance.level.red": {"zh-CN": "红色", "en": "red"},
        "surveillance.status.new": {"zh-CN": "新信号", "en": "new"},
        "surveillance.status.verifying": {"zh-CN": "核实中", "en": "verifying"},
        "surveillance.status.dismissed": {"zh-CN": "已排除", "en": "dismissed"},
        "surveillance.status.confirmed": {"zh-CN": "已确认", "en": "confirmed"},
        "surveillance.status.responding": {"zh-CN": "处置中", "en": "responding"},
        "surveillance.status.closed": {"zh-CN": "已结案", "en": "closed"},
        "surveillance.rule.persistent": {"zh-CN": "持续异常", "en": "persistent"},
        "surveillance.rule.multi_site": {"zh-CN": "多点触发", "en": "multi-site"},
        "surveillance.rule.cluster": {"zh-CN": "聚集性", "en": "cluster"},
        "surveillance.rule.immediate": {"zh-CN": "甲类即报", "en": "immediate"},
        "surveillance.rule.public": {"zh-CN": "舆情/举报", "en": "media/public"},
    }
)


def _guard(request: Request, session: Session) -> Principal | Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in ROLES:
        return forbidden_page(request, principal)
    return principal


def _error(request: Request, principal: Principal, exc: YilianError) -> HTMLResponse:
    return render(
        request, "error.html", principal, status_code=exc.status_code, message=exc.message
    )


def _first_series(evidence: dict[str, Any]) -> str | None:
    for day in sorted(evidence, reverse=True):
        keys = evidence[day].get("series") if isinstance(evidence[day], dict) else None
        if keys:
            return str(keys[-1])
    return None


@router.get("/ui/surveillance", response_class=HTMLResponse, response_model=None)
def board(
    request: Request,
    session: DbSession,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    principal = _guard(request, session)
    if not isinstance(principal, Principal):
        return principal
    signals, total = repo.list_signals(session, status=status or None, limit=200, offset=0)
    rows = [{"s": s, "series": _first_series(s.evidence or {})} for s in signals]
    return render(
        request, "surveillance/board.html", principal,
        rows=rows, total=total, status=status or "", grid=service.street_grid(session),
        states=list(rules.TRANSITIONS), public=repo.public_reports(session, status="pending",
                                                                   limit=50),
    )  # fmt: skip


def _back(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


@router.post("/ui/surveillance/signals/{signal_id}/verify", response_model=None)
def verify_form(request: Request, session: DbSession, signal_id: Id) -> Response:
    principal = _guard(request, session)
    if not isinstance(principal, Principal):
        return principal
    try:
        service.verify_signal(session, principal, signal_id)
    except YilianError as exc:
        return _error(request, principal, exc)
    return _back("/ui/surveillance")


@router.post("/ui/surveillance/signals/{signal_id}/dismiss", response_model=None)
def dismiss_form(
    request: Request, session: DbSession, signal_id: Id, reason: Text = ""
) -> Response:
    principal = _guard(request, session)
    if not isinstance(principal, Principal):
        return principal
    try:
        service.dismiss_signal(session, principal, signal_id, reason)
    except YilianError as exc:
        return _error(request, principal, exc)
    return _back("/ui/surveillance")


@router.post("/ui/surveillance/signals/{signal_id}/confirm", response_model=None)
def confirm_form(request: Request, session: DbSession, signal_id: Id, title: Text = "") -> Response:
    principal = _guard(request, session)
    if not isinstance(principal, Principal):
        return principal
    try:
        ev = service.confirm_signal(session, principal, signal_id, title or None)
    except YilianError as exc:
        return _error(request, principal, exc)
    return _back(f"/ui/surveillance/events/{ev.id}")


@router.get("/ui/surveillance/series/{key}", response_class=HTMLResponse, response_model=None)
def series_page(
    request: Request,
    session: DbSession,
    key: Key,
    days: Annotated[int, Query(ge=7, le=1100)] = 120,
) -> Response:
    principal = _guard(request, session)
    if not isinstance(principal, Principal):
        return principal
    try:
        chart = service.series_chart(session, key, days=days)
    except YilianError as exc:
        return _error(request, principal, exc)
    cfg = get_surveillance_settings()
    names = {**cfg.syndromes, **cfg.disease_names, **cfg.pathogen_tests}
    insufficient = any(
        r["status"] == "insufficient_baseline" for rs in chart["results"].values() for r in rs[-1:]
    )
    return render(
        request, "surveillance/series.html", principal,
        chart=chart, topic_name=names.get(chart["topic"], chart["topic"]),
        insufficient=insufficient,
    )  # fmt: skip


@router.get("/ui/surveillance/events/{event_id}", response_class=HTMLResponse, response_model=None)
def event_page(request: Request, session: DbSession, event_id: Id) -> Response:
    principal = _guard(request, session)
    if not isinstance(principal, Principal):
        return principal
    try:
        detail = service.event_detail(session, event_id)
    except YilianError as exc:
        return _error(request, principal, exc)
    teams = [
        o
        for kind in (OrganizationType.cdc, OrganizationType.community_health_center)
        for o in registry.list_organizations(
            session, filters=OrganizationFilter(type=kind), limit=100
        ).items
    ]
    return render(request, "surveillance/event.html", principal, teams=teams, **detail)


def _event_action(request: Request, session: Session, event_id: str, action: Any) -> Response:
    principal = _guard(request, session)
    if not isinstance(principal, Principal):
        return principal
    try:
        action(principal)
    except YilianError as exc:
        return _error(request, principal, exc)
    return _back(f"/ui/surveillance/events/{event_id}")


@router.post("/ui/surveillance/events/{event_id}/team", response_model=None)
def team_form(
    request: Request, session: DbSession, event_id: Id, organization_id: Text = ""
) -> Response:
    return _event_action(
        request, session, event_id,
        lambda p: service.assign_team(session, p, event_id, organization_id=organization_id),
    )  # fmt: skip


@router.post("/ui/surveillance/events/{event_id}/tasks", response_model=None)
def task_form(
    request: Request, session: DbSession, event_id: Id, title: Text = "", assignee: Text = ""
) -> Response:
    def act(p: Principal) -> None:
        if not title.strip():
            from yilian.kit.errors import Unprocessable

            raise Unprocessable("title: a task needs a title", field="title")
        service.add_task(session, p, event_id, title=title, assignee=assignee or None)

    return _event_action(request, session, event_id, act)


@router.post("/ui/surveillance/events/{event_id}/tasks/{task_id}/done", response_model=None)
def task_done_form(request: Request, session: DbSession, event_id: Id, task_id: Id) -> Response:
    return _event_action(
        request, session, event_id,
        lambda p: service.complete_task(session, p, event_id, task_id),
    )  # fmt: skip


@router.post("/ui/surveillance/events/{event_id}/notes", response_model=None)
def note_form(request: Request, session: DbSession, event_id: Id, text: Text = "") -> Response:
    def act(p: Principal) -> None:
        if not text.strip():
            from yilian.kit.errors import Unprocessable

            raise Unprocessable("text: the note is empty", field="text")
        service.add_note(session, p, event_id, text)

    return _event_action(request, session, event_id, act)


@router.post("/ui/surveillance/events/{event_id}/close", response_model=None)
def close_form(request: Request, session: DbSession, event_id: Id, summary: Text = "") -> Response:
    return _event_action(
        request, session, event_id, lambda p: service.close_event(session, p, event_id, summary)
    )


@router.post("/ui/surveillance/public/{report_id}/review", response_model=None)
def review_form(
    request: Request, session: DbSession, report_id: Id, decision: Text = "", note: Text = ""
) -> Response:
    principal = _guard(request, session)
    if not isinstance(principal, Principal):
        return principal
    try:
        service.review_public_report(
            session, principal, report_id, accept=decision == "accept", note=note or None
        )
    except YilianError as exc:
        return _error(request, principal, exc)
    return _back("/ui/surveillance")
