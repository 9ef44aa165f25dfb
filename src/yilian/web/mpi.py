"""The master patient index's review queue as a page (主索引人工审核).

Reviewers see both records' masked demographics and the match probability, and
confirm (same person) or reject (keep apart) with a reason; the decision goes
through ``patients.service.decide_review``, which audits it.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yilian.deps import DbSession
from yilian.kit.errors import YilianError
from yilian.patients import service as patients
from yilian.records.service import patient_records
from yilian.security.principal import Role
from yilian.web import nav
from yilian.web.i18n import add_messages
from yilian.web.pages import _signed_in, _to_login
from yilian.web.templating import forbidden_page, render

router = APIRouter()

REVIEWER_ROLES = frozenset({Role.admin, Role.doctor})
PAGE_SIZE = 20

nav.register(nav.NavItem("nav.mpi_reviews", "/ui/mpi/reviews", REVIEWER_ROLES, order=25))
add_messages(
    {
        "nav.mpi_reviews": {"zh-CN": "主索引审核", "en": "Match reviews"},
        "mpi.title": {"zh-CN": "主索引人工审核队列", "en": "Master patient index: match reviews"},
        "mpi.intro": {
            "zh-CN": "以下记录与已有居民相似但不足以自动合并，请核对后确认或拒绝。",
            "en": "These records resemble a known person but not enough to link "
            "automatically: check and confirm or reject.",
        },
        "mpi.count": {"zh-CN": "待审核 {n} 条", "en": "{n} open reviews"},
        "mpi.none": {"zh-CN": "没有待审核的记录", "en": "No open reviews"},
        "mpi.arriving": {"zh-CN": "新到记录", "en": "Arriving record"},
        "mpi.candidate": {"zh-CN": "疑似同一人", "en": "Candidate person"},
        "mpi.probability": {"zh-CN": "匹配概率", "en": "Match probability"},
        "mpi.reason": {"zh-CN": "审核意见", "en": "Reason"},
        "mpi.confirm": {"zh-CN": "确认为同一人", "en": "Same person"},
        "mpi.reject": {"zh-CN": "不是同一人", "en": "Not the same"},
        "mpi.confirmed": {"zh-CN": "已确认并合并到该居民", "en": "Confirmed and linked"},
        "mpi.rejected": {"zh-CN": "已拒绝，记录保持独立", "en": "Rejected: kept apart"},
        "mpi.phone": {"zh-CN": "电话", "en": "Phone"},
        "mpi.no_record": {"zh-CN": "（记录不可用）", "en": "(record unavailable)"},
    }
)

ReviewId = Annotated[str, Path(min_length=1, max_length=32)]


@router.get("/ui/mpi/reviews", response_class=HTMLResponse, response_model=None)
def review_queue(
    request: Request,
    session: DbSession,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    done: Annotated[str | None, Query(pattern="^(confirmed|rejected)$")] = None,
    error: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in REVIEWER_ROLES:
        return forbidden_page(request, principal)
    views, total = patients.open_reviews(
        session, patient_records, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return render(
        request,
        "mpi_reviews.html",
        principal,
        views=views,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        done=done,
        error=error,
    )


def _decide(
    request: Request, session: DbSession, review_id: str, reason: str, *, confirm: bool
) -> Response:
    principal = _signed_in(request, session)
    if principal is None:
        return _to_login(request)
    if principal.role not in REVIEWER_ROLES:
        return forbidden_page(request, principal)
    try:
        patients.decide_review(
            session, principal, review_id, confirm=confirm, reason=reason.strip() or None
        )
    except YilianError as exc:
        return RedirectResponse(f"/ui/mpi/reviews?error={quote(exc.message[:300])}", 303)
    return RedirectResponse(f"/ui/mpi/reviews?done={'confirmed' if confirm else 'rejected'}", 303)


@router.post("/ui/mpi/reviews/{review_id}/confirm", response_model=None)
def confirm(
    request: Request,
    review_id: ReviewId,
    session: DbSession,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _decide(request, session, review_id, reason, confirm=True)


@router.post("/ui/mpi/reviews/{review_id}/reject", response_model=None)
def reject(
    request: Request,
    review_id: ReviewId,
    session: DbSession,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _decide(request, session, review_id, reason, confirm=False)
