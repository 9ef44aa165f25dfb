"""Web pages of the consult domain: the case list (mine / invited) and the consultation room.

Every read of the case and its items goes through the service, which checks the
invitation and the case's lifetime and audits each read. A refused form post rolls
back (nothing half-written) and shows the room again with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.consult import service
from yilian.consult.rules import (
    ACTIVE_INVITATION,
    CASE_TYPE_LABELS_ZH,
    Action,
    CaseType,
    allowed,
)
from yilian.consult.schemas import CaseCreate, InvitationIn
from yilian.deps import DbSession
from yilian.kit.errors import Forbidden, NotFound, YilianError
from yilian.registry import service as registry
from yilian.registry.rules import OrganizationType
from yilian.registry.schemas import OrganizationFilter, PractitionerFilter
from yilian.security import service as security
from yilian.security.principal import Principal, Role
from yilian.web import nav
from yilian.web.i18n import add_messages
from yilian.web.pages import _signed_in, _to_login
from yilian.web.record import person_record
from yilian.web.templating import render
from yilian.web.timeline import concept_label, when

router = APIRouter(include_in_schema=False)
# Staff read times in the region's zone (China has no DST).
REGION_TZ = timezone(timedelta(hours=8), "CST")

CLINICIANS = frozenset({Role.doctor, Role.specialist})
CaseId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]

nav.register(nav.NavItem("nav.consult", "/ui/consult", CLINICIANS, order=40))

_EN_TYPES = {
    CaseType.mdt: "Multidisciplinary (MDT)",
    CaseType.remote: "Remote consultation",
    CaseType.joint: "Joint consultation",
    CaseType.rr_tb_joint: "YRD rifampicin-resistant TB joint consultation",
}
_STATUS = {
    "draft": ("草稿", "Draft"),
    "open": ("已发起", "Open"),
    "scheduled": ("已排期", "Scheduled"),
    "in_session": ("会诊中", "In session"),
    "concluded": ("已出具结论", "Concluded"),
    "closed": ("已结案", "Closed"),
    "cancelled": ("已取消", "Cancelled"),
}
_INVITATION = {
    "pending": ("待发送", "Not sent"),
    "sent": ("已邀请", "Invited"),
    "accepted": ("已接受", "Accepted"),
    "declined": ("已谢绝", "Declined"),
}
_EVENTS = {
    "created": ("创建会诊申请", "Case created"),
    "invited": ("邀请专家", "Expert invited"),
    "opened": ("发出邀请", "Invitations sent"),
    "accepted": ("接受邀请", "Invitation accepted"),
    "declined": ("谢绝邀请", "Invitation declined"),
    "scheduled": ("安排会诊时间", "Session scheduled"),
    "started": ("开始会诊", "Session started"),
    "opinion": ("提交专家意见", "Opinion recorded"),
    "opinion_amended": ("修改专家意见", "Opinion amended"),
    "signed": ("签署会诊结论", "Conclusion signed"),
    "closed": ("结案", "Case closed"),
    "cancelled": ("取消会诊", "Case cancelled"),
}

add_messages(
    {
        "nav.consult": {"zh-CN": "远程会诊", "en": "Consultations"},
        **{
            f"consult.type.{k.value}": {"zh-CN": CASE_TYPE_LABELS_ZH[k], "en": _EN_TYPES[k]}
            for k in CaseType
        },
        **{f"consult.status.{k}": {"zh-CN": z, "en": e} for k, (z, e) in _STATUS.items()},
        **{f"consult.inv.{k}": {"zh-CN": z, "en": e} for k, (z, e) in _INVITATION.items()},
        **{f"consult.event.{k}": {"zh-CN": z, "en": e} for k, (z, e) in _EVENTS.items()},
        "consult.list.title": {"zh-CN": "会诊病例", "en": "Consultation cases"},
        "consult.box.all": {"zh-CN": "全部", "en": "All"},
        "consult.box.mine": {"zh-CN": "我发起的", "en": "Requested by me"},
        "consult.box.invited": {"zh-CN": "邀请我的", "en": "Invited to"},
        "consult.col.title": {"zh-CN": "会诊主题", "en": "Case"},
        "consult.col.type": {"zh-CN": "类型", "en": "Type"},
        "consult.col.status": {"zh-CN": "状态", "en": "Status"},
        "consult.col.requester": {"zh-CN": "申请医生 / 机构", "en": "Requested by"},
        "consult.col.when": {"zh-CN": "会诊时间", "en": "Session"},
        "consult.col.created": {"zh-CN": "申请时间", "en": "Requested"},
        "consult.none": {"zh-CN": "暂无会诊病例", "en": "No consultation cases"},
        "consult.count": {"zh-CN": "共 {n} 例", "en": "{n} cases"},
        "consult.room.case": {"zh-CN": "病例信息", "en": "Case"},
        "consult.room.summary": {"zh-CN": "病情摘要", "en": "Summary"},
        "consult.room.person": {"zh-CN": "患者（主索引号）", "en": "Person (MPI id)"},
        "consult.room.requester": {"zh-CN": "申请方", "en": "Requested by"},
        "consult.room.session": {"zh-CN": "会诊安排", "en": "Session"},
        "consult.room.unscheduled": {"zh-CN": "尚未排期", "en": "Not scheduled"},
        "consult.room.access_until": {"zh-CN": "专家调阅截止", "en": "Expert access until"},
        "consult.room.mode.online": {"zh-CN": "线上会诊", "en": "Online"},
        "consult.room.mode.offline": {"zh-CN": "线下会诊", "en": "Offline"},
        "consult.room.items": {
            "zh-CN": "会诊资料（选定的健康档案条目）",
            "en": "Selected record items",
        },
        "consult.room.items_note": {
            "zh-CN": "受邀专家仅可调阅以下条目，每次调阅均记入审计日志",
            "en": "Invited experts see only these items; every read is audited",
        },
        "consult.room.no_items": {"zh-CN": "未选择档案条目", "en": "No record items selected"},
        "consult.room.questions": {"zh-CN": "会诊问题", "en": "Questions"},
        "consult.room.experts": {"zh-CN": "受邀专家", "en": "Invited experts"},
        "consult.room.lead": {"zh-CN": "主持专家", "en": "Lead"},
        "consult.room.no_account": {
            "zh-CN": "无平台账号（意见由申请方录入）",
            "en": "No account (opinion transcribed)",
        },
        "consult.room.opinions": {"zh-CN": "专家意见", "en": "Expert opinions"},
        "consult.room.no_opinions": {"zh-CN": "尚无专家意见", "en": "No opinion yet"},
        "consult.room.transcribed": {"zh-CN": "申请方录入", "en": "transcribed"},
        "consult.room.revision": {"zh-CN": "第 {n} 版", "en": "revision {n}"},
        "consult.room.conclusion": {"zh-CN": "会诊结论", "en": "Conclusion"},
        "consult.room.no_conclusion": {"zh-CN": "尚未出具结论", "en": "Not concluded yet"},
        "consult.room.signed": {"zh-CN": "签署：{name} · {at}", "en": "Signed by {name} · {at}"},
        "consult.room.filed": {
            "zh-CN": "已归档至患者健康档案",
            "en": "Filed in the person's record",
        },
        "consult.room.steps": {"zh-CN": "办理记录", "en": "Steps"},
        "consult.room.your_opinion": {"zh-CN": "我的会诊意见", "en": "Your opinion"},
        "consult.room.submit_opinion": {"zh-CN": "提交意见", "en": "Submit opinion"},
        "consult.room.transcribe": {"zh-CN": "录入专家意见", "en": "Transcribe an opinion"},
        "consult.room.sign": {"zh-CN": "签署会诊结论", "en": "Sign the conclusion"},
        "consult.room.sign_button": {"zh-CN": "签署并归档", "en": "Sign and file"},
        "consult.room.accept": {"zh-CN": "接受邀请", "en": "Accept"},
        "consult.room.decline": {"zh-CN": "谢绝邀请", "en": "Decline"},
        "consult.room.start": {"zh-CN": "开始会诊", "en": "Start session"},
        "consult.room.close": {"zh-CN": "结案", "en": "Close case"},
        "consult.room.item_type": {"zh-CN": "类型", "en": "Type"},
        "consult.room.item": {"zh-CN": "内容", "en": "Item"},
        "consult.room.when": {"zh-CN": "时间", "en": "When"},
        "consult.room.expert": {"zh-CN": "专家", "en": "Expert"},
        "consult.room.org": {"zh-CN": "机构", "en": "Organisation"},
        "consult.room.state": {"zh-CN": "状态", "en": "Status"},
        "consult.room.back": {"zh-CN": "返回会诊列表", "en": "Back to the list"},
        "consult.rtype.Observation": {"zh-CN": "检验/观察", "en": "Observation"},
        "consult.rtype.Condition": {"zh-CN": "诊断", "en": "Condition"},
        "consult.rtype.Encounter": {"zh-CN": "就诊", "en": "Encounter"},
        "consult.rtype.DiagnosticReport": {"zh-CN": "检查报告", "en": "Report"},
        "consult.rtype.ImagingStudy": {"zh-CN": "影像", "en": "Imaging"},
        "consult.rtype.MedicationRequest": {"zh-CN": "用药", "en": "Medication"},
        "consult.rtype.DocumentReference": {"zh-CN": "文书", "en": "Document"},
        "consult.rtype.Procedure": {"zh-CN": "手术/操作", "en": "Procedure"},
        "consult.rtype.Patient": {"zh-CN": "基本信息", "en": "Patient"},
        "consult.new": {"zh-CN": "发起会诊", "en": "Request a consultation"},
        "consult.new.person": {"zh-CN": "患者主索引号", "en": "Person (MPI id)"},
        "consult.new.load": {"zh-CN": "调取健康档案", "en": "Load the record"},
        "consult.new.find_person": {
            "zh-CN": "可在“居民健康档案”中检索患者后复制主索引号",
            "en": "Find the person under Records and copy the MPI id",
        },
        "consult.new.type": {"zh-CN": "会诊类型", "en": "Type"},
        "consult.new.title": {"zh-CN": "会诊主题", "en": "Title"},
        "consult.new.summary": {"zh-CN": "病情摘要", "en": "Summary"},
        "consult.new.questions": {
            "zh-CN": "会诊问题（每行一个）",
            "en": "Questions (one per line)",
        },
        "consult.new.items": {"zh-CN": "选择提交会诊的档案条目", "en": "Record items to share"},
        "consult.new.accounts": {
            "zh-CN": "邀请专家（平台账号）",
            "en": "Invite experts (accounts)",
        },
        "consult.new.registry": {
            "zh-CN": "邀请专家（机构人员库，无账号者由申请方录入意见）",
            "en": "Invite registry practitioners (opinions transcribed)",
        },
        "consult.new.org": {"zh-CN": "选择机构", "en": "Organisation"},
        "consult.new.lead": {"zh-CN": "主持专家", "en": "Lead expert"},
        "consult.new.no_lead": {"zh-CN": "无（由申请方签署）", "en": "None (requester signs)"},
        "consult.new.send": {"zh-CN": "立即发出邀请", "en": "Send the invitations now"},
        "consult.new.create": {"zh-CN": "提交会诊申请", "en": "Create"},
    }
)


def item_row(resource: dict[str, Any]) -> dict[str, Any]:
    """One record item as the room lists it: type, time and the words that describe it."""
    rtype = str(resource.get("resourceType") or "")
    label = ""
    for element in ("code", "medicationCodeableConcept", "vaccineCode", "type"):
        value = resource.get(element)
        if isinstance(value, list):
            value = value[0] if value else None
        label = concept_label(value)
        if label:
            break
    if rtype == "Encounter" and not label:
        cls = resource.get("class")
        label = str(cls.get("code") or "") if isinstance(cls, dict) else ""
    detail = ""
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and quantity.get("value") is not None:
        detail = f"{quantity['value']} {quantity.get('unit') or ''}".strip()
    elif isinstance(resource.get("valueString"), str):
        detail = resource["valueString"]
    elif isinstance(resource.get("conclusion"), str):
        detail = resource["conclusion"]
    elif isinstance(resource.get("description"), str):
        detail = resource["description"]
    return {
        "key": f"{rtype}/{resource.get('id')}",
        "type": rtype,
        "when": when(resource) or "",
        "label": label or rtype,
        "detail": detail,
    }


def local_time(value: datetime | None) -> str:
    """A stored UTC time as the region's wall-clock time (Asia/Shanghai, UTC+8)."""
    return value.astimezone(REGION_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


def _commit_before_redirect(session: Session) -> None:
    # The request's session commits only after the response is sent (a request-scoped
    # dependency): a browser following the 303 at once would not see the change yet.
    session.commit()


def _guard(request: Request, session: Session) -> Principal | Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICIANS:
        return render(
            request,
            "error.html",
            principal,
            status_code=403,
            message="远程会诊仅对医生和专家开放 / consultations are for doctors and specialists",
        )
    return principal


@router.get("/ui/consult", response_class=HTMLResponse, response_model=None)
def case_list(
    request: Request,
    session: DbSession,
    box: Annotated[str, Query(pattern="^(all|mine|invited)$")] = "all",
) -> Response:
    who = _guard(request, session)
    if not isinstance(who, Principal):
        return who
    rows, total = service.list_cases(session, who, box=box, limit=100)
    names = service.organization_names(session, {r.requesting_org_id for r in rows})
    return render(
        request,
        "consult/list.html",
        who,
        lt=local_time,
        rows=rows,
        total=total,
        box=box,
        org_names=names,
    )


def _room(
    request: Request,
    session: Session,
    principal: Principal,
    case_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        view = service.view_case(session, principal, case_id)
        resources = service.read_items(session, principal, case_id)
    except (Forbidden, NotFound) as exc:
        # Returning (not raising) commits; a denial's audit entry is kept either way.
        return render(
            request, "error.html", principal, status_code=exc.status_code, message=exc.message
        )
    case = view.case
    part = view.participation
    assert part is not None
    mine = part.invitation
    opinions = {o.invitation_id: o for o in view.opinions}
    can = {
        "opinion": mine is not None
        and mine.status in ACTIVE_INVITATION
        and allowed(Action.opinion, case.status),
        "respond": mine is not None
        and mine.status.value == "sent"
        and allowed(Action.respond, case.status),
        "sign": (part.requester or (mine is not None and mine.is_lead))
        and allowed(Action.sign, case.status),
        "transcribe": part.requester and allowed(Action.opinion, case.status),
        "start": part.requester and allowed(Action.start, case.status),
        "close": part.requester and allowed(Action.close, case.status),
    }
    return render(
        request,
        "consult/room.html",
        principal,
        lt=local_time,
        status_code=status_code,
        case=case,
        items=[item_row(r) for r in resources],
        invitations=view.invitations,
        opinions=opinions,
        events=view.events,
        org_names=view.org_names,
        mine=mine,
        my_opinion=opinions.get(mine.id) if mine else None,
        no_account=[i for i in view.invitations if i.user_id is None],
        can=can,
        error=error,
    )


# --- a new case ---------------------------------------------------------------------

_EXPERT_ORG_TYPES = (
    OrganizationType.tertiary_hospital,
    OrganizationType.secondary_hospital,
    OrganizationType.tcm_hospital,
    OrganizationType.integrated_medicine_hospital,
    OrganizationType.maternal_child_health,
    OrganizationType.mental_health_center,
    OrganizationType.internet_hospital,
)
_SECTIONS = ("problems", "encounters", "medications", "imaging", "documents")


def _selectable(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's items as checkboxes: ref, kind, time, words, source."""
    rows: list[dict[str, Any]] = []
    for section in _SECTIONS:
        for item in record.get(section) or []:
            label = item.get("label") or ""
            extra = item.get("conclusion") or item.get("description") or item.get("dosage") or ""
            rows.append(item | {"kind": section, "label": label, "extra": extra})
    for group in record.get("results") or []:
        for point in group["points"]:
            rows.append(
                point | {"kind": "results", "label": group["label"], "extra": point.get("text")}
            )
    rows.sort(key=lambda r: str(r.get("when") or ""), reverse=True)
    return rows


def _new_form(
    request: Request,
    session: Session,
    principal: Principal,
    person_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    values: dict[str, Any] | None = None,
) -> Response:
    record: dict[str, Any] | None = None
    if person_id:
        try:
            record = person_record(session, principal, person_id)
        except (Forbidden, NotFound) as exc:
            error, status_code = exc.message, exc.status_code
    accounts = [
        u
        for role in (Role.specialist, Role.doctor)
        for u in security.list_users(session, role=role, active=True, limit=200, offset=0)[0]
        if u.id != principal.subject
    ]
    orgs = [
        o
        for kind in _EXPERT_ORG_TYPES
        for o in registry.list_organizations(
            session, filters=OrganizationFilter(type=kind, active=True), limit=200
        ).items
    ]
    names = {o.id: o.name for o in orgs} | service.organization_names(
        session, {u.organization_id for u in accounts if u.organization_id}
    )
    return render(
        request,
        "consult/new.html",
        principal,
        status_code=status_code,
        person_id=person_id,
        record=record,
        items=_selectable(record) if record else [],
        accounts=accounts,
        orgs=orgs,
        org_names=names,
        case_types=list(CaseType),
        error=error,
        values=values or {},
    )


@router.get("/ui/consult/new", response_class=HTMLResponse, response_model=None)
def new_case(
    request: Request,
    session: DbSession,
    person_id: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    who = _guard(request, session)
    if not isinstance(who, Principal):
        return who
    return _new_form(request, session, who, person_id.strip())


@router.get("/ui/consult/experts", response_class=HTMLResponse, response_model=None)
def expert_options(
    request: Request,
    session: DbSession,
    organization_id: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The practitioners of one organisation as <option>s (htmx fragment)."""
    who = _guard(request, session)
    if not isinstance(who, Principal):
        return who
    found = (
        registry.list_practitioners(
            session,
            filters=PractitionerFilter(organization_id=organization_id, active=True),
            limit=300,
        ).items
        if organization_id
        else []
    )
    return render(
        request,
        "consult/_experts.html",
        who,
        organization_id=organization_id,
        org_name=service.organization_names(session, {organization_id}).get(organization_id, "")
        if organization_id
        else "",
        practitioners=sorted(found, key=lambda p: (p.specialties or [""])[0] + p.name),
    )


def _invitations(
    user_ids: list[str], practitioners: list[str], lead: str, accounts: dict[str, str | None]
) -> list[InvitationIn]:
    out = []
    for uid in user_ids:
        out.append(
            InvitationIn(
                organization_id=accounts.get(uid) or "?",
                user_id=uid,
                is_lead=lead == f"user:{uid}",
            )
        )
    for value in practitioners:
        org_id, _, pid = value.partition(":")
        out.append(
            InvitationIn(organization_id=org_id, practitioner_id=pid, is_lead=lead == f"pr:{value}")
        )
    return out


@router.post("/ui/consult/new", response_class=HTMLResponse, response_model=None)
def create_case(
    request: Request,
    session: DbSession,
    person_id: Annotated[str, Form(max_length=32)] = "",
    case_type: Annotated[str, Form(max_length=16)] = "remote",
    title: Annotated[str, Form(max_length=200)] = "",
    summary: Annotated[str, Form(max_length=10_000)] = "",
    questions: Annotated[str, Form(max_length=10_000)] = "",
    items: Annotated[list[str] | None, Form()] = None,
    user_ids: Annotated[list[str] | None, Form()] = None,
    practitioners: Annotated[list[str] | None, Form()] = None,
    lead: Annotated[str, Form(max_length=80)] = "",
    send: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    who = _guard(request, session)
    if not isinstance(who, Principal):
        return who
    values = {"case_type": case_type, "title": title, "summary": summary, "questions": questions}
    try:
        accounts = {uid: security.get_user(session, uid).organization_id for uid in user_ids or []}
        data = CaseCreate(
            case_type=CaseType(case_type),
            title=title.strip() or "会诊申请",
            summary=summary.replace("\x00", ""),
            person_id=person_id.strip(),
            items=list(items or []),
            questions=[q for q in questions.replace("\x00", "").splitlines() if q.strip()],
            invitations=_invitations(user_ids or [], practitioners or [], lead, accounts),
            submit=send == "yes",
        )
        case = service.open_case(session, who, data)
    except (YilianError, ValidationError, ValueError) as exc:
        session.rollback()
        if isinstance(exc, YilianError):
            message, status = exc.message, exc.status_code
        elif isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            message, status = f"{where}: {first.get('msg')}", 422
        else:
            message, status = str(exc), 422
        return _new_form(
            request,
            session,
            who,
            person_id.strip(),
            error=message,
            status_code=status,
            values=values,
        )
    _commit_before_redirect(session)
    return RedirectResponse(f"/ui/consult/{case.id}", status_code=303)


@router.get("/ui/consult/{case_id}", response_class=HTMLResponse, response_model=None)
def room(request: Request, case_id: CaseId, session: DbSession) -> Response:
    who = _guard(request, session)
    if not isinstance(who, Principal):
        return who
    return _room(request, session, who, case_id)


def _act(
    request: Request,
    session: Session,
    case_id: str,
    action: Callable[[Principal], object],
) -> Response:
    who = _guard(request, session)
    if not isinstance(who, Principal):
        return who
    try:
        action(who)
    except YilianError as exc:
        # Nothing of the refused action may be committed with the page that reports it.
        session.rollback()
        return _room(request, session, who, case_id, error=exc.message, status_code=exc.status_code)
    _commit_before_redirect(session)
    return RedirectResponse(f"/ui/consult/{case_id}", status_code=303)


@router.post("/ui/consult/{case_id}/opinion", response_class=HTMLResponse, response_model=None)
def opinion_form(
    request: Request,
    case_id: CaseId,
    session: DbSession,
    text: Annotated[str, Form(max_length=20_000)] = "",
    invitation_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    return _act(
        request,
        session,
        case_id,
        lambda p: service.record_opinion(
            session, p, case_id, text.replace("\x00", ""), invitation_id=invitation_id or None
        ),
    )


@router.post("/ui/consult/{case_id}/conclusion", response_class=HTMLResponse, response_model=None)
def conclusion_form(
    request: Request,
    case_id: CaseId,
    session: DbSession,
    text: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    return _act(
        request,
        session,
        case_id,
        lambda p: service.sign_conclusion(session, p, case_id, text.replace("\x00", "")),
    )


@router.post("/ui/consult/{case_id}/respond", response_class=HTMLResponse, response_model=None)
def respond_form(
    request: Request,
    case_id: CaseId,
    session: DbSession,
    accept: Annotated[str, Form(pattern="^(yes|no)$")] = "yes",
) -> Response:
    return _act(
        request, session, case_id, lambda p: service.respond(session, p, case_id, accept == "yes")
    )


@router.post("/ui/consult/{case_id}/start", response_class=HTMLResponse, response_model=None)
def start_form(request: Request, case_id: CaseId, session: DbSession) -> Response:
    return _act(request, session, case_id, lambda p: service.start_session(session, p, case_id))


@router.post("/ui/consult/{case_id}/close", response_class=HTMLResponse, response_model=None)
def close_form(request: Request, case_id: CaseId, session: DbSession) -> Response:
    return _act(request, session, case_id, lambda p: service.close(session, p, case_id))
