"""Web pages of 检验检查结果互认: the check before ordering, the dashboard, the catalogues.

Clinicians check and record decisions (htmx partials); the health commission and
administrators see the statistics (ECharts) and edit catalogues with plain form posts.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from yilian.deps import DbSession
from yilian.kit.errors import YilianError
from yilian.recognition import repository as repo
from yilian.recognition import rules, service
from yilian.recognition.schemas import DecisionIn, ItemUpdate, ParticipantIn
from yilian.security.principal import Principal, Role
from yilian.web.i18n import add_messages, translate
from yilian.web.nav import NavItem, register
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import forbidden_page, language, render

router = APIRouter(include_in_schema=False)
CLINICIANS = frozenset({Role.doctor, Role.specialist})
EDITORS = frozenset({Role.admin, Role.commission})
READERS = CLINICIANS | EDITORS
Ref = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")]
CheckId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$")]
ItemCode = Annotated[
    str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z][0-9A-Za-z_.\-]*$")
]

register(NavItem("nav.recognition_check", "/ui/recognition", CLINICIANS, order=25))
register(NavItem("nav.recognition_stats", "/ui/recognition/stats", EDITORS, order=45))
register(NavItem("nav.recognition_catalogues", "/ui/recognition/catalogues", READERS, order=46))

add_messages(
    {
        "nav.recognition_check": {"zh-CN": "检验检查互认", "en": "Result recognition"},
        "nav.recognition_stats": {"zh-CN": "互认统计", "en": "Recognition statistics"},
        "nav.recognition_catalogues": {"zh-CN": "互认目录", "en": "Recognition catalogues"},
        "recognition.check.title": {
            "zh-CN": "开单前互认查询",
            "en": "Check before ordering",
        },
        "recognition.check.intro": {
            "zh-CN": "输入居民编号并勾选拟开具的检验检查项目，系统查询其在互认机构的有效结果。"
            "医生仍可因临床需要重新开单，须记录理由（国卫医发〔2022〕6号）。",
            "en": "Enter the person id and the items you are about to order; recognisable "
            "results from eligible institutions are shown. You may still order anew for a "
            "clinical reason, which is recorded.",
        },
        "recognition.person": {"zh-CN": "居民编号（主索引）", "en": "Person id (MPI)"},
        "recognition.find_person": {"zh-CN": "查找居民", "en": "Find a person"},
        "recognition.items": {"zh-CN": "拟开具项目", "en": "Items to order"},
        "recognition.lab": {"zh-CN": "检验项目", "en": "Lab items"},
        "recognition.imaging": {"zh-CN": "检查项目", "en": "Imaging"},
        "recognition.other_codes": {
            "zh-CN": "其他项目（编码或名称，逗号分隔）",
            "en": "Other items (codes or names, comma separated)",
        },
        "recognition.submit": {"zh-CN": "查询互认结果", "en": "Check"},
        "recognition.requested": {"zh-CN": "项目", "en": "Item"},
        "recognition.verdict": {"zh-CN": "结论", "en": "Verdict"},
        "recognition.result": {"zh-CN": "既往结果", "en": "Earlier result"},
        "recognition.date": {"zh-CN": "日期", "en": "Date"},
        "recognition.institution": {"zh-CN": "出具机构", "en": "Institution"},
        "recognition.report": {"zh-CN": "报告", "en": "Report"},
        "recognition.window": {"zh-CN": "有效期", "en": "Window"},
        "recognition.days": {"zh-CN": "{n} 天", "en": "{n} days"},
        "recognition.days_ago": {"zh-CN": "{n} 天前", "en": "{n} days ago"},
        "recognition.price": {"zh-CN": "参考价格", "en": "Reference price"},
        "recognition.decision": {"zh-CN": "医生决定", "en": "Decision"},
        "recognition.reuse_it": {"zh-CN": "沿用结果（互认）", "en": "Reuse the result"},
        "recognition.reorder_it": {"zh-CN": "重新开单", "en": "Order anew"},
        "recognition.retest_reason": {"zh-CN": "复查理由", "en": "Reason to repeat"},
        "recognition.note": {"zh-CN": "说明", "en": "Note"},
        "recognition.save": {"zh-CN": "保存决定", "en": "Save decisions"},
        "recognition.saved": {"zh-CN": "已记录 {n} 项决定", "en": "{n} decisions recorded"},
        "recognition.candidates": {"zh-CN": "其他结果", "en": "Other results"},
        "recognition.none": {"zh-CN": "无", "en": "None"},
        "recognition.hr": {"zh-CN": "HR 互认标识", "en": "HR mark"},
        "recognition.verdict.reuse": {"zh-CN": "可互认", "en": "Recognisable"},
        "recognition.verdict.order": {"zh-CN": "需开单", "en": "Order"},
        "recognition.reason.not-in-catalogue": {
            "zh-CN": "不在互认目录内",
            "en": "Not in the catalogue",
        },
        "recognition.reason.no-result": {"zh-CN": "无既往结果", "en": "No earlier result"},
        "recognition.reason.expired": {"zh-CN": "已超出有效期", "en": "Expired"},
        "recognition.reason.institution-not-eligible": {
            "zh-CN": "出具机构不符合互认条件",
            "en": "Institution not eligible",
        },
        "recognition.problem.not-participant": {
            "zh-CN": "机构未参加互认",
            "en": "not a participating institution",
        },
        "recognition.problem.level-below-minimum": {
            "zh-CN": "机构等级不足",
            "en": "institution level below the minimum",
        },
        "recognition.problem.qc-not-passed": {
            "zh-CN": "机构未通过质控",
            "en": "quality control not passed",
        },
        "recognition.problem.inactive": {"zh-CN": "机构已停用", "en": "institution inactive"},
        "recognition.problem.expired": {"zh-CN": "超出有效期", "en": "expired"},
        "recognition.retest.condition-changed": {
            "zh-CN": "病情变化，结果与临床表现不符",
            "en": "Condition changed; result no longer fits",
        },
        "recognition.retest.fast-changing": {
            "zh-CN": "项目随病程变化较快",
            "en": "Item changes quickly with the disease",
        },
        "recognition.retest.pre-surgery-or-transfusion": {
            "zh-CN": "手术、输血等重大诊疗前",
            "en": "Before surgery or transfusion",
        },
        "recognition.retest.emergency": {"zh-CN": "急诊、急救", "en": "Emergency"},
        "recognition.retest.legal-assessment": {
            "zh-CN": "司法、伤残及病退鉴定",
            "en": "Legal, disability or retirement assessment",
        },
        "recognition.retest.other": {
            "zh-CN": "其他确需复查的情形（须说明）",
            "en": "Other genuine need (explain)",
        },
        "recognition.stats.title": {
            "zh-CN": "检验检查结果互认统计",
            "en": "Recognition statistics",
        },
        "recognition.stats.by": {"zh-CN": "统计维度", "en": "Group by"},
        "recognition.stats.by.month": {"zh-CN": "按月份", "en": "By month"},
        "recognition.stats.by.institution": {"zh-CN": "按机构", "en": "By institution"},
        "recognition.stats.by.region": {"zh-CN": "按地区", "en": "By region"},
        "recognition.stats.checks": {"zh-CN": "查询人次", "en": "Person-visits"},
        "recognition.stats.pv_rate": {"zh-CN": "人次互认率", "en": "Person-visit rate"},
        "recognition.stats.item_rate": {"zh-CN": "项目互认率", "en": "Item rate"},
        "recognition.stats.avoided": {"zh-CN": "减少重复检查（项）", "en": "Repeat tests avoided"},
        "recognition.stats.saved": {"zh-CN": "节约费用（元）", "en": "Money saved (yuan)"},
        "recognition.stats.recognisable": {"zh-CN": "可互认项目", "en": "Recognisable items"},
        "recognition.stats.reused": {"zh-CN": "互认项目", "en": "Items reused"},
        "recognition.stats.group": {"zh-CN": "分组", "en": "Group"},
        "recognition.stats.reference": {
            "zh-CN": "示范区参考值 {rate}%（seed 001）",
            "en": "Demo-zone reference {rate}% (seed 001)",
        },
        "recognition.stats.chart": {"zh-CN": "互认率趋势", "en": "Recognition rates"},
        "recognition.stats.empty": {"zh-CN": "暂无互认查询记录", "en": "No checks yet"},
        "recognition.cat.title": {"zh-CN": "检验检查结果互认目录", "en": "Recognition catalogues"},
        "recognition.cat.code": {"zh-CN": "目录编码", "en": "Code"},
        "recognition.cat.name": {"zh-CN": "名称", "en": "Name"},
        "recognition.cat.lab": {"zh-CN": "检验项目", "en": "Lab items"},
        "recognition.cat.imaging": {"zh-CN": "检查类别", "en": "Imaging"},
        "recognition.cat.members": {"zh-CN": "互认机构", "en": "Institutions"},
        "recognition.cat.source": {"zh-CN": "依据", "en": "Source"},
        "recognition.cat.item": {"zh-CN": "项目", "en": "Item"},
        "recognition.cat.kind": {"zh-CN": "类别", "en": "Kind"},
        "recognition.cat.min_level": {"zh-CN": "最低机构等级", "en": "Minimum level"},
        "recognition.cat.qc": {"zh-CN": "质控要求", "en": "QC required"},
        "recognition.cat.qc_status": {"zh-CN": "质控状态", "en": "QC status"},
        "recognition.cat.active": {"zh-CN": "启用", "en": "Active"},
        "recognition.cat.level": {"zh-CN": "等级", "en": "Level"},
        "recognition.cat.save": {"zh-CN": "保存", "en": "Save"},
        "recognition.cat.none": {"zh-CN": "尚无互认目录", "en": "No catalogue yet"},
        "recognition.qc.passed": {"zh-CN": "通过", "en": "passed"},
        "recognition.qc.failed": {"zh-CN": "未通过", "en": "failed"},
        "recognition.qc.suspended": {"zh-CN": "暂停", "en": "suspended"},
        "recognition.qc.pending": {"zh-CN": "待评", "en": "pending"},
        "recognition.kind.lab": {"zh-CN": "检验", "en": "lab"},
        "recognition.kind.imaging": {"zh-CN": "检查", "en": "imaging"},
        "recognition.yes": {"zh-CN": "是", "en": "yes"},
        "recognition.no": {"zh-CN": "否", "en": "no"},
    }
)


def _forbidden(request: Request, principal: Principal) -> HTMLResponse:
    return forbidden_page(request, principal)


def _catalogue_items(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The items the caller's institution can check, one per item code."""
    if principal.organization_id:
        ids = repo.catalogues_of_org(session, principal.organization_id)
    else:
        ids = [c.id for c in repo.catalogues(session) if c.active]
    seen: dict[str, dict[str, Any]] = {}
    for catalogue_id in ids:
        for item in repo.items_of(session, catalogue_id):
            if item.active and item.item_code not in seen:
                seen[item.item_code] = {
                    "code": item.item_code,
                    "name": item.name,
                    "kind": item.kind,
                }
    return sorted(seen.values(), key=lambda i: (i["kind"] != "lab", i["code"]))


@router.get("/ui/recognition", response_class=HTMLResponse, response_model=None)
def check_page(
    request: Request,
    session: DbSession,
    person_id: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICIANS:
        if principal.role in EDITORS:
            return RedirectResponse("/ui/recognition/stats", status_code=303)
        return _forbidden(request, principal)
    return render(
        request,
        "recognition/check.html",
        principal,
        items=_catalogue_items(session, principal),
        person_id=person_id or "",
        retest_reasons=rules.RETEST_REASONS,
    )


@router.post("/ui/recognition/check", response_class=HTMLResponse, response_model=None)
def run_check(
    request: Request,
    session: DbSession,
    person_id: Annotated[str, Form(max_length=32)] = "",
    item: Annotated[list[str] | None, Form(max_length=128)] = None,
    other: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICIANS:
        return _forbidden(request, principal)
    lang = language(request)
    requested = [i.strip() for i in item or [] if i.strip()]
    requested += [p.strip() for p in other.replace("，", ",").split(",") if p.strip()]
    requested = list(dict.fromkeys(r[:128] for r in requested))
    error = None
    result = None
    if not person_id.strip():
        error = (
            translate(lang, "recognition.person")
            + ": "
            + ("必填" if lang == "zh-CN" else "required")
        )
    elif not requested:
        error = (
            translate(lang, "recognition.items")
            + ": "
            + ("请至少选择一项" if lang == "zh-CN" else "choose at least one")
        )
    else:
        try:
            result = service.check(session, principal, person_id.strip(), requested)
        except YilianError as exc:
            session.rollback()  # nothing of a refused check is kept (the denial's audit is)
            error = exc.message
    return render(
        request,
        "recognition/_check_result.html",
        principal,
        status_code=200,
        result=result,
        error=error,
        retest_reasons=rules.RETEST_REASONS,
    )


@router.post(
    "/ui/recognition/checks/{check_id}/decisions",
    response_class=HTMLResponse,
    response_model=None,
)
async def save_decisions(request: Request, check_id: CheckId, session: DbSession) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in CLINICIANS:
        return _forbidden(request, principal)
    form = await request.form()
    decisions: list[DecisionIn] = []
    error = None
    try:
        for key in form:
            if not key.startswith("decision:"):
                continue
            requested = key.split(":", 1)[1]
            choice = str(form.get(key) or "")
            if not choice:
                continue
            reason = str(form.get(f"reason:{requested}") or "") or None
            note = str(form.get(f"note:{requested}") or "").strip() or None
            decisions.append(
                service.validated(
                    DecisionIn,
                    {
                        "requested": requested,
                        "decision": choice,
                        "retest_reason": reason if choice == rules.REORDERED else None,
                        "note": note,
                    },
                )
            )
        if not decisions:
            error = (
                "请至少为一个项目选择决定" if language(request) == "zh-CN" else "choose a decision"
            )
            done = []
        else:
            done = service.decide(session, principal, check_id, decisions)
    except YilianError as exc:
        session.rollback()
        error, done = exc.message, []
    return render(
        request,
        "recognition/_decisions.html",
        principal,
        status_code=200,
        decisions=done,
        error=error,
    )


@router.get("/ui/recognition/stats", response_class=HTMLResponse, response_model=None)
def stats_page(
    request: Request,
    session: DbSession,
    by: Annotated[str, Query(pattern=r"^(institution|region|month)$")] = "month",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in EDITORS:
        return _forbidden(request, principal)
    stats = service.statistics(session, by=by)
    monthly = stats if by == "month" else service.statistics(session, by="month")
    chart = {
        "months": [r.key for r in monthly.rows],
        "pv": [r.person_visit_rate for r in monthly.rows],
        "items": [r.item_rate for r in monthly.rows],
        "saved": [r.money_saved for r in monthly.rows],
        "reference": stats.reference_person_visit_rate,
        "labels": {
            "pv": translate(language(request), "recognition.stats.pv_rate"),
            "items": translate(language(request), "recognition.stats.item_rate"),
            "saved": translate(language(request), "recognition.stats.saved"),
            "reference": translate(
                language(request),
                "recognition.stats.reference",
                rate=stats.reference_person_visit_rate,
            ),
        },
    }
    return render(request, "recognition/stats.html", principal, stats=stats, by=by, chart=chart)


@router.get("/ui/recognition/catalogues", response_class=HTMLResponse, response_model=None)
def catalogues_page(
    request: Request,
    session: DbSession,
    code: Annotated[str | None, Query(max_length=64)] = None,
    error: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in READERS:
        return _forbidden(request, principal)
    catalogues = service.list_catalogues(session)
    detail = None
    chosen = code or (catalogues[0].code if catalogues else None)
    if chosen:
        try:
            detail = service.catalogue_detail(session, service.get_catalogue(session, chosen))
        except YilianError as exc:
            error = exc.message
    return render(
        request,
        "recognition/catalogues.html",
        principal,
        catalogues=catalogues,
        detail=detail,
        can_edit=principal.role in EDITORS,
        qc_statuses=rules.QC_STATUSES,
        error=error,
    )


def _back(code: str, error: str | None = None) -> RedirectResponse:
    from urllib.parse import urlencode

    query = {"code": code} | ({"error": error[:300]} if error else {})
    return RedirectResponse(f"/ui/recognition/catalogues?{urlencode(query)}", status_code=303)


@router.post(
    "/ui/recognition/catalogues/{ref}/items/{item_code}",
    response_class=HTMLResponse,
    response_model=None,
)
def edit_item(
    request: Request,
    ref: Ref,
    item_code: ItemCode,
    session: DbSession,
    validity_days: Annotated[str, Form(max_length=5)] = "",
    reference_price: Annotated[str, Form(max_length=12)] = "",
    min_level: Annotated[str, Form(max_length=20)] = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in EDITORS:
        return _forbidden(request, principal)
    try:
        catalogue = service.get_catalogue(session, ref)
        fields: dict[str, Any] = {"active": active == "on", "min_level": min_level.strip() or None}
        if validity_days.strip():
            fields["validity_days"] = validity_days.strip()
        if reference_price.strip():
            fields["reference_price"] = reference_price.strip()
        data = service.validated(ItemUpdate, fields)
        service.update_item(session, principal, catalogue, item_code, data)
    except YilianError as exc:
        session.rollback()
        return _back(ref, exc.message)
    return _back(catalogue.code)


@router.post(
    "/ui/recognition/catalogues/{ref}/institutions/{organization_id}",
    response_class=HTMLResponse,
    response_model=None,
)
def edit_institution(
    request: Request,
    ref: Ref,
    organization_id: Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9._\-]+$")],
    session: DbSession,
    qc_status: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in EDITORS:
        return _forbidden(request, principal)
    try:
        catalogue = service.get_catalogue(session, ref)
        participant = service.validated(
            ParticipantIn, {"organization_id": organization_id, "qc_status": qc_status or None}
        )
        service.put_participant(session, principal, catalogue, participant)
    except YilianError as exc:
        session.rollback()
        return _back(ref, exc.message)
    return _back(catalogue.code)
