"""Web pages of two-way referral: worklists, a referral, slot calendar, exams, metrics (zh-CN)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from yilian.db import utcnow
from yilian.deps import DbSession
from yilian.kit.errors import Unprocessable, YilianError
from yilian.referral import exams, service, slots
from yilian.referral.config import get_referral_settings
from yilian.referral.rules import (
    DOWN_TARGET_TYPES,
    HOSPITAL_RANK,
    STATUS_LABELS,
    Action,
    Direction,
    Modality,
    SlotKind,
    Status,
)
from yilian.registry import service as registry
from yilian.registry.rules import OrganizationType
from yilian.registry.schemas import OrganizationFilter
from yilian.security.principal import Principal, Role
from yilian.web import nav
from yilian.web.i18n import add_messages
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import render

router = APIRouter()
CST = timedelta(hours=8)

CLINICAL = frozenset({Role.doctor, Role.specialist, Role.admin})
METRICS = frozenset({Role.commission, Role.admin})
RefId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")]
OrgQuery = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9._\-]*$")]

nav.register(nav.NavItem("nav.referral", "/ui/referrals", CLINICAL, order=30))
nav.register(nav.NavItem("nav.referral_slots", "/ui/referrals/slots", CLINICAL, order=31))
nav.register(nav.NavItem("nav.referral_exams", "/ui/referrals/exams", CLINICAL, order=32))
nav.register(nav.NavItem("nav.referral_metrics", "/ui/referrals/metrics", METRICS, order=33))

add_messages(
    {
        "nav.referral": {"zh-CN": "双向转诊", "en": "Referrals"},
        "nav.referral_slots": {"zh-CN": "专家号源", "en": "Expert slots"},
        "nav.referral_exams": {"zh-CN": "医技预约", "en": "Exam booking"},
        "nav.referral_metrics": {"zh-CN": "转诊统计", "en": "Referral metrics"},
        "referral.title": {"zh-CN": "双向转诊工作台", "en": "Referral worklist"},
        "referral.inbox": {
            "zh-CN": "收到的转诊（一站式转诊服务）",
            "en": "Received (referral desk)",
        },
        "referral.outbox": {"zh-CN": "发出的转诊", "en": "Sent"},
        "referral.new": {"zh-CN": "发起转诊", "en": "New referral"},
        "referral.person": {"zh-CN": "居民（主索引号）", "en": "Person (MPI id)"},
        "referral.direction": {"zh-CN": "转诊方向", "en": "Direction"},
        "referral.up": {"zh-CN": "上转", "en": "Up"},
        "referral.down": {"zh-CN": "下转", "en": "Down"},
        "referral.to": {"zh-CN": "接收机构", "en": "To"},
        "referral.from": {"zh-CN": "转出机构", "en": "From"},
        "referral.department": {"zh-CN": "科室", "en": "Department"},
        "referral.reason": {"zh-CN": "转诊原因", "en": "Reason"},
        "referral.summary": {"zh-CN": "病情摘要", "en": "Clinical summary"},
        "referral.care_plan": {"zh-CN": "后续照护计划", "en": "Care plan"},
        "referral.urgent": {"zh-CN": "紧急", "en": "Urgent"},
        "referral.contracted": {"zh-CN": "签约居民", "en": "Contracted"},
        "referral.status": {"zh-CN": "状态", "en": "Status"},
        "referral.requested_at": {"zh-CN": "申请时间", "en": "Requested"},
        "referral.appointment": {"zh-CN": "预约时间", "en": "Appointment"},
        "referral.expires": {"zh-CN": "过期时间", "en": "Expires"},
        "referral.record": {"zh-CN": "查看健康档案", "en": "Open the record"},
        "referral.history": {"zh-CN": "流转记录", "en": "History"},
        "referral.submit": {"zh-CN": "提交转诊", "en": "Send referral"},
        "referral.accept": {"zh-CN": "接收", "en": "Accept"},
        "referral.decline": {"zh-CN": "拒绝", "en": "Decline"},
        "referral.schedule": {"zh-CN": "预约号源", "en": "Book slot"},
        "referral.arrive": {"zh-CN": "登记到诊", "en": "Arrived"},
        "referral.complete": {"zh-CN": "完成", "en": "Complete"},
        "referral.cancel": {"zh-CN": "撤销", "en": "Cancel"},
        "referral.note": {"zh-CN": "说明", "en": "Note"},
        "referral.visit_at": {"zh-CN": "约定就诊时间", "en": "Visit time"},
        "referral.no_slots": {
            "zh-CN": "接收机构暂无可预约的预留号源",
            "en": "No reserved slot is open at the receiving institution",
        },
        "referral.none": {"zh-CN": "暂无转诊", "en": "No referrals"},
        "referral.all": {"zh-CN": "全部状态", "en": "All states"},
        "referral.filter": {"zh-CN": "筛选", "en": "Filter"},
        "referral.org": {"zh-CN": "机构", "en": "Organisation"},
        "referral.slots_title": {"zh-CN": "专家号源与检查号源日历", "en": "Slot calendar"},
        "referral.kind_expert": {"zh-CN": "专家号源", "en": "Expert sessions"},
        "referral.kind_exam": {"zh-CN": "医技检查", "en": "Exam capacity"},
        "referral.day": {"zh-CN": "日期", "en": "Day"},
        "referral.service": {"zh-CN": "科室/检查", "en": "Department / modality"},
        "referral.total": {"zh-CN": "号源总数", "en": "Slots"},
        "referral.held": {"zh-CN": "社区预留", "en": "Reserved"},
        "referral.held_open": {"zh-CN": "预留可约", "en": "Reserved open"},
        "referral.public_open": {"zh-CN": "公众可约", "en": "Public open"},
        "referral.booked": {"zh-CN": "已预约", "en": "Booked"},
        "referral.slots_hint": {
            "zh-CN": "区域医疗中心预留 {share}% 的专家号源优先分配给社区，"
            "就诊前 {hours} 小时未约出的预留号源释放给公众。",
            "en": "{share}% of expert slots are held for community referrals and "
            "released to the public {hours} h before the slot.",
        },
        "referral.exams_title": {"zh-CN": "医技预约中心", "en": "Exam booking centre"},
        "referral.exams_ordering": {"zh-CN": "本机构开单", "en": "Ordered here"},
        "referral.exams_centre": {"zh-CN": "本中心待检查", "en": "To perform here"},
        "referral.modality": {"zh-CN": "检查类型", "en": "Modality"},
        "referral.body_site": {"zh-CN": "检查部位", "en": "Body site"},
        "referral.clinical_info": {"zh-CN": "临床信息", "en": "Clinical information"},
        "referral.centre": {"zh-CN": "检查中心", "en": "Exam centre"},
        "referral.order": {"zh-CN": "开单", "en": "Order"},
        "referral.examine": {"zh-CN": "登记检查", "en": "Examined"},
        "referral.report": {"zh-CN": "出具报告", "en": "Report"},
        "referral.conclusion": {"zh-CN": "诊断结论", "en": "Conclusion"},
        "referral.findings": {"zh-CN": "检查所见", "en": "Findings"},
        "referral.book": {"zh-CN": "预约", "en": "Book"},
        "referral.metrics_title": {"zh-CN": "双向转诊统计", "en": "Referral metrics"},
        "referral.month": {"zh-CN": "月份", "en": "Month"},
        "referral.ratio": {"zh-CN": "上转/下转比", "en": "Up : down"},
        "referral.acceptance": {"zh-CN": "接收率", "en": "Acceptance"},
        "referral.completion": {"zh-CN": "完成率", "en": "Completion"},
        "referral.wait": {"zh-CN": "预约等待（中位天数）", "en": "Days to appointment (median)"},
        "referral.expired_n": {"zh-CN": "过期", "en": "Expired"},
    }
)


def _render(request: Request, template: str, principal: Principal, **ctx: Any) -> HTMLResponse:
    # Times are stored in UTC and shown in China Standard Time.
    return render(request, template, principal, delta8=CST, labels=STATUS_LABELS, **ctx)


def _redirect(session: Session, url: str, status_code: int = 303) -> RedirectResponse:
    # The request's session commits only after the response is sent (a request-scoped
    # dependency); a browser following the 303 at once must already see the change.
    session.commit()
    return RedirectResponse(url, status_code=status_code)


def _denied(request: Request, principal: Principal) -> HTMLResponse:
    return render(request, "error.html", principal, status_code=403, message="无权访问此页面")


def _error(request: Request, principal: Principal, exc: YilianError) -> HTMLResponse:
    return render(
        request, "error.html", principal, status_code=exc.status_code, message=exc.message
    )


def _orgs(session: Session, types: frozenset[str] | set[str]) -> list[Any]:
    out: list[Any] = []
    for t in sorted(types):
        out.extend(
            registry.list_organizations(
                session,
                filters=OrganizationFilter(type=OrganizationType(t), active=True),
                limit=200,
            ).items
        )
    return sorted(out, key=lambda o: o.code)


@router.get("/ui/referrals", response_class=HTMLResponse, response_model=None)
def worklist_page(
    request: Request,
    session: DbSession,
    status: Annotated[str | None, Query(max_length=20)] = None,
    organization_id: OrgQuery = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICAL:
        return _denied(request, principal)
    wanted = {Status(status)} if status in {s.value for s in Status} else None
    org_id = organization_id or principal.organization_id
    try:
        if org_id is None:
            inbox: list[service.ReferralView] = []
            outbox: list[service.ReferralView] = []
        else:
            inbox = service.inbox(session, principal, statuses=wanted, organization_id=org_id)
            outbox = service.outbox(session, principal, statuses=wanted, organization_id=org_id)
    except YilianError as exc:
        return _error(request, principal, exc)
    return _render(
        request,
        "referral/worklist.html",
        principal,
        inbox=inbox,
        outbox=outbox,
        statuses=list(Status),
        status=status or "",
        organization_id=org_id or "",
    )


def _new_form(
    request: Request,
    session: Session,
    principal: Principal,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    up_targets = _orgs(session, set(HOSPITAL_RANK))
    down_targets = _orgs(session, DOWN_TARGET_TYPES)
    return _render(
        request,
        "referral/new.html",
        principal,
        status_code=status_code,
        values=values,
        error=error,
        up_targets=up_targets,
        down_targets=down_targets,
    )


@router.get("/ui/referrals/new", response_class=HTMLResponse, response_model=None)
def new_page(
    request: Request,
    session: DbSession,
    person_id: Annotated[str | None, Query(max_length=32)] = None,
    direction: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICAL:
        return _denied(request, principal)
    default = direction or ("down" if principal.role is Role.specialist else "up")
    return _new_form(
        request, session, principal, {"person_id": person_id or "", "direction": default}
    )


@router.post("/ui/referrals/new", response_class=HTMLResponse, response_model=None)
def new_submit(
    request: Request,
    session: DbSession,
    person_id: Annotated[str, Form(max_length=32)] = "",
    direction: Annotated[str, Form(max_length=8)] = "up",
    to_organization_id: Annotated[str, Form(max_length=32)] = "",
    department: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
    summary: Annotated[str, Form(max_length=4000)] = "",
    care_plan: Annotated[str, Form(max_length=4000)] = "",
    urgent: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICAL:
        return _denied(request, principal)
    values = {
        "person_id": person_id,
        "direction": direction,
        "to_organization_id": to_organization_id,
        "department": department,
        "reason": reason,
        "summary": summary,
        "care_plan": care_plan,
        "urgent": bool(urgent),
    }
    try:
        ref = service.request_referral(
            session,
            principal,
            person_id=person_id.strip(),
            direction=direction,
            to_organization_id=to_organization_id,
            reason=reason,
            department=department or None,
            summary=summary or None,
            care_plan=care_plan or None,
            urgent=bool(urgent),
        )
    except YilianError as exc:
        # Nothing of a refused step is kept (the audit keeps its refusals on its own).
        session.rollback()
        return _new_form(request, session, principal, values, exc.message, exc.status_code)
    return _redirect(session, f"/ui/referrals/{ref.id}", status_code=303)


def _detail(
    request: Request,
    session: Session,
    principal: Principal,
    referral_id: str,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ref = service.get_referral(session, principal, referral_id)
    view = service.views(session, [ref])[0]
    now = utcnow()
    open_slots: list[slots.SlotView] = []
    if view.status is Status.accepted and ref.direction is Direction.up:
        open_slots = slots.list_slots(
            session,
            organization_id=ref.to_organization_id,
            kind=SlotKind.expert,
            start_from=now,
            days=14,
            pool="referral",
            only_open=True,
            now=now,
        )
        if ref.department:
            same = [s for s in open_slots if s.service == ref.department]
            open_slots = same or open_slots
    org = principal.organization_id
    admin = principal.role is Role.admin
    receiver = admin or org == ref.to_organization_id
    sender = admin or org == ref.from_organization_id
    can = {
        Action.accept: receiver and view.status is Status.requested,
        Action.decline: receiver and view.status is Status.requested,
        Action.schedule: (receiver or sender) and view.status is Status.accepted,
        Action.arrive: receiver and view.status is Status.scheduled,
        Action.complete: receiver and view.status is Status.arrived,
        Action.cancel: sender
        and view.status in (Status.requested, Status.accepted, Status.scheduled),
    }
    return _render(
        request,
        "referral/detail.html",
        principal,
        status_code=status_code,
        ref=view,
        history=service.history(session, principal, referral_id),
        open_slots=open_slots[:60],
        can={a.value: v for a, v in can.items()},
        error=error,
    )


@router.get("/ui/referrals/slots", response_class=HTMLResponse, response_model=None)
def slots_page(
    request: Request,
    session: DbSession,
    organization_id: OrgQuery = None,
    kind: Annotated[str, Query(pattern="^(expert|exam)$")] = "expert",
    days: Annotated[int, Query(ge=1, le=31)] = 14,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICAL:
        return _denied(request, principal)
    hospitals = _orgs(session, {"tertiary_hospital", "secondary_hospital"})
    org_id = organization_id
    if not org_id:
        mine = principal.organization_id
        own = next((h for h in hospitals if h.id == mine), None)
        org_id = own.id if own else (hospitals[0].id if hospitals else None)
    cells = (
        slots.calendar(
            session,
            organization_id=org_id,
            kind=SlotKind(kind),
            start_from=utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
            - timedelta(hours=8),
            days=days,
        )
        if org_id
        else []
    )
    cfg = get_referral_settings()
    share, hours = (
        (cfg.exam_reserved_share, cfg.exam_release_hours)
        if kind == "exam"
        else (cfg.reserved_share, cfg.release_hours)
    )
    return _render(
        request,
        "referral/slots.html",
        principal,
        cells=cells,
        hospitals=hospitals,
        organization_id=org_id or "",
        kind=kind,
        share=round(share * 100),
        hours=hours,
    )


@router.get("/ui/referrals/exams", response_class=HTMLResponse, response_model=None)
def exams_page(request: Request, session: DbSession, organization_id: OrgQuery = None) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICAL:
        return _denied(request, principal)
    org_id = organization_id or principal.organization_id
    if not org_id:
        ordering: list[exams.ExamView] = []
        centre: list[exams.ExamView] = []
    else:
        try:
            ordering = exams.exam_worklist(
                session, principal, side="ordering", organization_id=org_id
            )
            centre = exams.exam_worklist(session, principal, side="centre", organization_id=org_id)
        except YilianError as exc:
            return _error(request, principal, exc)
    now = utcnow()
    open_exam_slots: dict[str, list[slots.SlotView]] = {}
    for order in ordering:
        if order.status.value == "ordered":
            open_exam_slots[order.id] = slots.list_slots(
                session,
                organization_id=order.centre_organization_id,
                kind=SlotKind.exam,
                service=order.modality,
                start_from=now,
                days=14,
                pool="referral",
                only_open=True,
                now=now,
            )[:30]
    return _render(
        request,
        "referral/exams.html",
        principal,
        ordering=ordering,
        centre=centre,
        open_exam_slots=open_exam_slots,
        centres=_orgs(session, {"tertiary_hospital", "secondary_hospital"}),
        modalities=list(Modality),
        organization_id=org_id or "",
    )


@router.post("/ui/referrals/exams", response_class=HTMLResponse, response_model=None)
def exam_order_submit(
    request: Request,
    session: DbSession,
    person_id: Annotated[str, Form(max_length=32)] = "",
    centre_organization_id: Annotated[str, Form(max_length=32)] = "",
    modality: Annotated[str, Form(max_length=8)] = "",
    body_site: Annotated[str, Form(max_length=100)] = "",
    clinical_info: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        exams.order_exam(
            session,
            principal,
            person_id=person_id.strip(),
            centre_organization_id=centre_organization_id,
            modality=modality,
            body_site=body_site or None,
            clinical_info=clinical_info or None,
        )
    except YilianError as exc:
        # Nothing of a refused step is kept (the audit keeps its refusals on its own).
        session.rollback()
        return _error(request, principal, exc)
    return _redirect(session, "/ui/referrals/exams", status_code=303)


@router.post(
    "/ui/referrals/exams/{order_id}/{action}", response_class=HTMLResponse, response_model=None
)
def exam_action(
    request: Request,
    session: DbSession,
    order_id: RefId,
    action: Annotated[str, Path(pattern="^(book|examine|report|cancel)$")],
    slot_id: Annotated[str, Form(max_length=32)] = "",
    conclusion: Annotated[str, Form(max_length=4000)] = "",
    findings: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        if action == "book":
            exams.book_exam(session, principal, order_id, slot_id=slot_id)
        elif action == "examine":
            exams.examine(session, principal, order_id)
        elif action == "report":
            exams.report(
                session, principal, order_id, conclusion=conclusion, findings=findings or None
            )
        else:
            exams.cancel_exam(session, principal, order_id)
    except YilianError as exc:
        # Nothing of a refused step is kept (the audit keeps its refusals on its own).
        session.rollback()
        return _error(request, principal, exc)
    return _redirect(session, "/ui/referrals/exams", status_code=303)


@router.get("/ui/referrals/metrics", response_class=HTMLResponse, response_model=None)
def metrics_page(
    request: Request,
    session: DbSession,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in METRICS:
        return _denied(request, principal)
    until = utcnow() + timedelta(days=1)
    rows = service.metrics(session, since=until - timedelta(days=31 * months), until=until)
    totals = [r for r in rows if r["organization_id"] is None]
    by_org = [r for r in rows if r["organization_id"] is not None]
    chart = {
        "months": [r["month"] for r in totals],
        "up": [r["up"] for r in totals],
        "down": [r["down"] for r in totals],
        "acceptance": [r["acceptance_rate"] for r in totals],
    }
    return _render(
        request, "referral/metrics.html", principal, totals=totals, by_org=by_org, chart=chart
    )


@router.get("/ui/referrals/{referral_id}", response_class=HTMLResponse, response_model=None)
def detail_page(request: Request, session: DbSession, referral_id: RefId) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICAL:
        return _denied(request, principal)
    try:
        return _detail(request, session, principal, referral_id)
    except YilianError as exc:
        # Nothing of a refused step is kept (the audit keeps its refusals on its own).
        session.rollback()
        return _error(request, principal, exc)


@router.post(
    "/ui/referrals/{referral_id}/{action}", response_class=HTMLResponse, response_model=None
)
def action_submit(
    request: Request,
    session: DbSession,
    referral_id: RefId,
    action: Annotated[str, Path(pattern="^(accept|decline|schedule|arrive|complete|cancel)$")],
    note: Annotated[str, Form(max_length=4000)] = "",
    slot_id: Annotated[str, Form(max_length=32)] = "",
    appointment_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICAL:
        return _denied(request, principal)
    try:
        _act(session, principal, referral_id, Action(action), note, slot_id, appointment_at)
    except YilianError as exc:
        # Nothing of a refused step is kept (the audit keeps its refusals on its own).
        session.rollback()
        try:
            return _detail(request, session, principal, referral_id, exc.message, exc.status_code)
        except YilianError as again:
            return _error(request, principal, again)
    return _redirect(session, f"/ui/referrals/{referral_id}", status_code=303)


def _act(
    session: Session,
    principal: Principal,
    referral_id: str,
    action: Action,
    note: str,
    slot_id: str,
    appointment_at: str,
) -> None:
    if action is Action.accept:
        service.accept(session, principal, referral_id, note=note or None)
    elif action is Action.decline:
        service.decline(session, principal, referral_id, reason=note)
    elif action is Action.schedule:
        when = None
        if appointment_at and not slot_id:
            try:
                # A datetime-local field is China Standard Time without an offset.
                when = datetime.fromisoformat(appointment_at)
            except ValueError:
                raise Unprocessable(
                    "appointment_at is not a date and time", field="appointment_at"
                ) from None
            if when.tzinfo is None:
                when = when - timedelta(hours=8)
        service.schedule(
            session, principal, referral_id, slot_id=slot_id or None, appointment_at=when
        )
    elif action is Action.arrive:
        service.arrive(session, principal, referral_id)
    elif action is Action.complete:
        service.complete(session, principal, referral_id, note=note or None)
    else:
        service.cancel(session, principal, referral_id, reason=note or None)
