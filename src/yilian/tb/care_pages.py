"""Web pages of TB patient management: the case worklist, a case, and the indicators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from yilian.deps import DbSession
from yilian.kit.errors import YilianError
from yilian.security import access
from yilian.security.principal import Role
from yilian.tb import care_rules as rules
from yilian.tb import care_service as service
from yilian.web.i18n import add_messages
from yilian.web.nav import NavItem, register
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import render

router = APIRouter(include_in_schema=False)

register(
    NavItem(
        "nav.tb_care",
        "/ui/tb/care",
        frozenset({Role.cdc, Role.doctor, Role.specialist, Role.admin}),
        order=62,
    )
)
register(
    NavItem(
        "nav.tb_care_indicators",
        "/ui/tb/care/indicators",
        frozenset({Role.cdc, Role.commission, Role.admin}),
        order=63,
    )
)

add_messages(
    {
        "nav.tb_care": {"zh-CN": "结核患者管理", "en": "TB patients"},
        "nav.tb_care_indicators": {"zh-CN": "结核管理指标", "en": "TB care indicators"},
        "tb_care.worklist": {"zh-CN": "肺结核患者管理工作清单", "en": "TB case worklist"},
        "tb_care.case": {"zh-CN": "结核患者管理", "en": "TB case"},
        "tb_care.notified": {"zh-CN": "报告日期", "en": "Notified"},
        "tb_care.org": {"zh-CN": "管理机构", "en": "Managing organisation"},
        "tb_care.place": {"zh-CN": "省 / 市", "en": "Province / city"},
        "tb_care.phase": {"zh-CN": "治疗阶段", "en": "Phase"},
        "tb_care.adherence": {"zh-CN": "服药率", "en": "Adherence"},
        "tb_care.next_visit": {"zh-CN": "下次随访", "en": "Next visit"},
        "tb_care.overdue": {"zh-CN": "逾期随访", "en": "Overdue visits"},
        "tb_care.reminders": {"zh-CN": "待处理提醒", "en": "Pending reminders"},
        "tb_care.status": {"zh-CN": "状态", "en": "Status"},
        "tb_care.doses": {"zh-CN": "服药记录", "en": "Doses"},
        "tb_care.record_dose": {"zh-CN": "登记服药", "en": "Record dose"},
        "tb_care.day": {"zh-CN": "日期", "en": "Day"},
        "tb_care.visits": {"zh-CN": "随访记录", "en": "Visits"},
        "tb_care.timeline": {"zh-CN": "时间轴", "en": "Timeline"},
        "tb_care.indicators": {"zh-CN": "结核患者管理指标", "en": "TB care indicators"},
        "tb_care.by": {"zh-CN": "分组", "en": "Group by"},
        "tb_care.none": {"zh-CN": "暂无", "en": "None"},
        "tb_care.intensive": {"zh-CN": "强化期", "en": "Intensive"},
        "tb_care.continuation": {"zh-CN": "继续期", "en": "Continuation"},
        "tb_care.tenant": {"zh-CN": "数据归属", "en": "Tenant"},
        "tb_care.incoming": {"zh-CN": "待确认的转入", "en": "Transfers awaiting acknowledgement"},
        "tb_care.outgoing": {"zh-CN": "已转出、待对方确认", "en": "Transfers out, pending"},
        "tb_care.from": {"zh-CN": "转出机构", "en": "From"},
        "tb_care.to": {"zh-CN": "转入机构", "en": "To"},
        "tb_care.reason": {"zh-CN": "原因", "en": "Reason"},
        "tb_care.acknowledge": {"zh-CN": "确认转入", "en": "Acknowledge"},
        "tb_care.transferred_in": {"zh-CN": "转入", "en": "Transferred in"},
        "tb_care.transferred_out": {"zh-CN": "转出", "en": "Transferred out"},
    }
)

Id = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


def _error(request: Request, principal: object, exc: YilianError) -> Response:
    return render(
        request,
        "error.html",
        principal,  # type: ignore[arg-type]
        status_code=exc.status_code,
        message=exc.message,
    )


@router.get("/ui/tb/care", response_class=HTMLResponse, response_model=None)
def worklist_page(request: Request, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        lines = service.list_cases(session, principal, limit=500)
        pending = service.list_transfers(session, principal, status="pending")
    except YilianError as exc:
        return _error(request, principal, exc)
    mine = {line["case"].id for line in lines}
    transfers = service.transfer_lines(session, pending)
    return render(
        request,
        "tb/care_worklist.html",
        principal,
        lines=lines,
        tenant=access.require_tenant(session, principal),
        # A pending transfer of a case the caller manages is going out; any other, coming in.
        incoming=[t for t in transfers if t["transfer"].case_id not in mine],
        outgoing=[t for t in transfers if t["transfer"].case_id in mine],
    )


@router.get("/ui/tb/care/indicators", response_class=HTMLResponse, response_model=None)
def indicators_page(request: Request, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        data = {by: service.indicators(session, principal, by=by) for by in ("province", "month")}
    except YilianError as exc:
        return _error(request, principal, exc)
    return render(request, "tb/care_indicators.html", principal, data=data)


@router.get("/ui/tb/care/{case_id}", response_class=HTMLResponse, response_model=None)
def case_page(request: Request, case_id: Id, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    try:
        detail = service.case_detail(session, principal, case_id)
    except YilianError as exc:
        return _error(request, principal, exc)
    return render(
        request,
        "tb/care_case.html",
        principal,
        d=detail,
        labels=rules.OUTCOME_LABELS,
        today=service.today(),
    )
