"""Referral API: 双向转诊, reserved expert slots and the exam-booking centre (医技预约中心)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status

from yilian.db import utcnow
from yilian.deps import DbSession
from yilian.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from yilian.referral import exams, service, slots
from yilian.referral.models import Referral, Schedule, Slot
from yilian.referral.rules import SlotKind, Status
from yilian.referral.schemas import (
    ID,
    CalendarCellRead,
    Cancel,
    Decline,
    EventRead,
    ExamBook,
    ExamCreate,
    ExamRead,
    ExamReport,
    MetricsRow,
    Note,
    PublicBooking,
    ReferralCreate,
    ReferralDetail,
    ReferralRead,
    ScheduleCreate,
    ScheduleIn,
    ScheduleRead,
    SlotRead,
)
from yilian.security.dependencies import CurrentPrincipal, require_roles
from yilian.security.principal import Principal, Role

router = APIRouter(prefix="/api/v1", tags=["referral"])

READ = error_responses(Unauthorized, Forbidden, Unprocessable)
READ_ONE = error_responses(Unauthorized, Forbidden, NotFound, Unprocessable)
WRITE = error_responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)

Id = Annotated[str, Path(min_length=1, max_length=32, pattern=ID)]
OrgFilter = Annotated[str | None, Query(min_length=1, max_length=32, pattern=ID)]
Days = Annotated[int, Query(ge=1, le=62)]
MetricsPrincipal = Annotated[
    Principal, Depends(require_roles(Role.commission, Role.admin, Role.specialist, Role.doctor))
]


def _read(session: DbSession, refs: list[Referral]) -> list[dict[str, Any]]:
    return [v.as_dict() for v in service.views(session, refs)]


def _one(session: DbSession, ref: Referral) -> dict[str, Any]:
    return service.views(session, [ref])[0].as_dict()


def _statuses(status_filter: list[Status] | None) -> set[Status] | None:
    return set(status_filter) if status_filter else None


# --- referrals -----------------------------------------------------------------


@router.post(
    "/referrals",
    response_model=ReferralRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_referral(
    body: ReferralCreate, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """Send a referral (上转 to a specialist, 下转 to a community centre with a care plan)."""
    ref = service.request_referral(
        session,
        principal,
        person_id=body.person_id,
        direction=body.direction,
        to_organization_id=body.to_organization_id,
        reason=body.reason,
        department=body.department,
        summary=body.summary,
        care_plan=body.care_plan,
        urgent=body.urgent,
        contracted=body.contracted,
    )
    return _one(session, ref)


@router.get("/referrals/inbox", response_model=list[ReferralRead], responses=READ)
def referral_inbox(
    principal: CurrentPrincipal,
    session: DbSession,
    status_filter: Annotated[list[Status] | None, Query(alias="status")] = None,
    organization_id: OrgFilter = None,
) -> list[dict[str, Any]]:
    """List referrals received by the caller's organisation, urgent and 签约居民 first."""
    rows = service.inbox(
        session, principal, statuses=_statuses(status_filter), organization_id=organization_id
    )
    return [v.as_dict() for v in rows]


@router.get("/referrals/outbox", response_model=list[ReferralRead], responses=READ)
def referral_outbox(
    principal: CurrentPrincipal,
    session: DbSession,
    status_filter: Annotated[list[Status] | None, Query(alias="status")] = None,
    organization_id: OrgFilter = None,
) -> list[dict[str, Any]]:
    """List referrals sent by the caller's organisation."""
    rows = service.outbox(
        session, principal, statuses=_statuses(status_filter), organization_id=organization_id
    )
    return [v.as_dict() for v in rows]


@router.get("/referrals/metrics", response_model=list[MetricsRow], responses=READ)
def referral_metrics(
    principal: MetricsPrincipal,
    session: DbSession,
    since: datetime | None = None,
    until: datetime | None = None,
    organization_id: OrgFilter = None,
) -> list[dict[str, Any]]:
    """Up/down counts and ratio, acceptance, time to appointment, completion by org and month."""
    if principal.role in (Role.doctor, Role.specialist):
        if organization_id and organization_id != principal.organization_id:
            raise Forbidden("clinicians see their own organization's referral metrics")
        organization_id = principal.organization_id
    end = until or utcnow()
    start = since or end - timedelta(days=365)
    if start >= end:
        raise Unprocessable("since must be before until", field="since")
    return service.metrics(session, since=start, until=end, organization_id=organization_id)


@router.get("/referrals/{referral_id}", response_model=ReferralDetail, responses=READ_ONE)
def get_referral(
    referral_id: Id, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """Return one referral with who moved it to which state and when."""
    ref = service.get_referral(session, principal, referral_id)
    history = [
        EventRead.model_validate(e).model_dump()
        for e in service.history(session, principal, referral_id)
    ]
    return _one(session, ref) | {"history": history}


@router.get("/referrals/{referral_id}/fhir", responses=READ_ONE)
def get_referral_fhir(
    referral_id: Id, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """Return the referral as a FHIR ServiceRequest."""
    ref = service.get_referral(session, principal, referral_id)
    return service.service_request(session, service.views(session, [ref])[0])


@router.post("/referrals/{referral_id}/accept", response_model=ReferralRead, responses=WRITE)
def accept_referral(
    referral_id: Id, principal: CurrentPrincipal, session: DbSession, body: Note | None = None
) -> dict[str, Any]:
    """Accept a requested referral (an expired one is refused)."""
    ref = service.accept(session, principal, referral_id, note=body.note if body else None)
    return _one(session, ref)


@router.post("/referrals/{referral_id}/decline", response_model=ReferralRead, responses=WRITE)
def decline_referral(
    referral_id: Id, body: Decline, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """Decline a requested referral with a reason."""
    return _one(session, service.decline(session, principal, referral_id, reason=body.reason))


@router.post("/referrals/{referral_id}/schedule", response_model=ReferralRead, responses=WRITE)
def schedule_referral(
    referral_id: Id, body: ScheduleIn, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """Book an accepted referral into a reserved expert slot (or agree a down-referral visit)."""
    ref = service.schedule(
        session, principal, referral_id, slot_id=body.slot_id, appointment_at=body.appointment_at
    )
    return _one(session, ref)


@router.post("/referrals/{referral_id}/arrive", response_model=ReferralRead, responses=WRITE)
def arrive_referral(
    referral_id: Id, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """Record the person's arrival (到诊)."""
    return _one(session, service.arrive(session, principal, referral_id))


@router.post("/referrals/{referral_id}/complete", response_model=ReferralRead, responses=WRITE)
def complete_referral(
    referral_id: Id, principal: CurrentPrincipal, session: DbSession, body: Note | None = None
) -> dict[str, Any]:
    """Close the referral after the visit."""
    ref = service.complete(session, principal, referral_id, note=body.note if body else None)
    return _one(session, ref)


@router.post("/referrals/{referral_id}/cancel", response_model=ReferralRead, responses=WRITE)
def cancel_referral(
    referral_id: Id, principal: CurrentPrincipal, session: DbSession, body: Cancel | None = None
) -> dict[str, Any]:
    """Withdraw an open referral; its slot goes back to the reserve."""
    ref = service.cancel(session, principal, referral_id, reason=body.reason if body else None)
    return _one(session, ref)


# --- schedules and slots -------------------------------------------------------


@router.post(
    "/referral-schedules",
    response_model=ScheduleRead,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def publish_schedule(
    body: ScheduleCreate, principal: CurrentPrincipal, session: DbSession
) -> Schedule:
    """Publish an expert session or modality capacity; the reserved share is held for referrals."""
    return service.publish_schedule(
        session,
        principal,
        kind=body.kind,
        service=body.service,
        start=body.start,
        end=body.end,
        capacity=body.capacity,
        practitioner_name=body.practitioner_name,
        title=body.title,
        reserved_share=body.reserved_share,
        release_hours=body.release_hours,
        organization_id=body.organization_id,
    )


@router.get("/referral-slots", response_model=list[SlotRead], responses=READ)
def list_slots(
    _: CurrentPrincipal,
    session: DbSession,
    organization_id: Annotated[str, Query(min_length=1, max_length=32, pattern=ID)],
    kind: SlotKind | None = None,
    service_name: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    start_from: Annotated[datetime | None, Query(alias="from")] = None,
    days: Days = 14,
    pool: Annotated[str | None, Query(pattern="^(referral|public)$")] = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
) -> list[slots.SlotView]:
    """List an institution's slots with the pool each is in now (reserved or public)."""
    return slots.list_slots(
        session,
        organization_id=organization_id,
        kind=kind,
        start_from=start_from or utcnow(),
        days=days,
        service=service_name,
        pool=pool,
        only_open=open_only,
    )


@router.get("/referral-slots/calendar", response_model=list[CalendarCellRead], responses=READ)
def slot_calendar(
    _: CurrentPrincipal,
    session: DbSession,
    organization_id: Annotated[str, Query(min_length=1, max_length=32, pattern=ID)],
    kind: SlotKind = SlotKind.expert,
    start_from: Annotated[datetime | None, Query(alias="from")] = None,
    days: Days = 14,
) -> list[slots.CalendarCell]:
    """Per day and department: slots, held reserve, open reserve, open public, booked."""
    return slots.calendar(
        session,
        organization_id=organization_id,
        kind=kind,
        start_from=start_from or utcnow(),
        days=days,
    )


@router.post("/referral-slots/{slot_id}/public-booking", response_model=SlotRead, responses=WRITE)
def book_public_slot(
    slot_id: Id, body: PublicBooking, principal: CurrentPrincipal, session: DbSession
) -> slots.SlotView:
    """Book a public-pool slot through the hospital's own channel."""
    slot: Slot = service.book_public(
        session, principal, slot_id, reference=body.reference, person_id=body.person_id
    )
    return slots.view(slot, utcnow())


# --- exam orders ---------------------------------------------------------------


def _exam(session: DbSession, principal: Principal, order_id: str) -> dict[str, Any]:
    order = exams.get_order(session, principal, order_id)
    return exams.views(session, [order])[0].as_dict()


@router.post(
    "/exam-orders", response_model=ExamRead, status_code=status.HTTP_201_CREATED, responses=WRITE
)
def create_exam_order(
    body: ExamCreate, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """基层开单: order CT/MRI/ultrasound/endoscopy at a consortium centre."""
    order = exams.order_exam(
        session,
        principal,
        person_id=body.person_id,
        centre_organization_id=body.centre_organization_id,
        modality=body.modality,
        body_site=body.body_site,
        clinical_info=body.clinical_info,
        contracted=body.contracted,
        referral_id=body.referral_id,
    )
    return _exam(session, principal, order.id)


@router.get("/exam-orders", response_model=list[ExamRead], responses=READ)
def list_exam_orders(
    principal: CurrentPrincipal,
    session: DbSession,
    side: Annotated[str, Query(pattern="^(ordering|centre)$")] = "ordering",
    organization_id: OrgFilter = None,
) -> list[dict[str, Any]]:
    """Orders the caller's organisation placed (ordering) or must perform (centre)."""
    rows = exams.exam_worklist(session, principal, side=side, organization_id=organization_id)
    return [v.as_dict() for v in rows]


@router.get("/exam-orders/{order_id}", response_model=ExamRead, responses=READ_ONE)
def get_exam_order(order_id: Id, principal: CurrentPrincipal, session: DbSession) -> dict[str, Any]:
    """Return one exam order."""
    return _exam(session, principal, order_id)


@router.post("/exam-orders/{order_id}/book", response_model=ExamRead, responses=WRITE)
def book_exam_order(
    order_id: Id, body: ExamBook, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """Book the order into a reserved slot of the centre's modality."""
    exams.book_exam(session, principal, order_id, slot_id=body.slot_id)
    return _exam(session, principal, order_id)


@router.post("/exam-orders/{order_id}/examine", response_model=ExamRead, responses=WRITE)
def examine_exam_order(
    order_id: Id, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """中心检查: record that the centre performed the examination."""
    exams.examine(session, principal, order_id)
    return _exam(session, principal, order_id)


@router.post("/exam-orders/{order_id}/report", response_model=ExamRead, responses=WRITE)
def report_exam_order(
    order_id: Id, body: ExamReport, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """中心诊断: file the report; it returns to the ordering centre and the person's record."""
    exams.report(session, principal, order_id, conclusion=body.conclusion, findings=body.findings)
    return _exam(session, principal, order_id)


@router.post("/exam-orders/{order_id}/cancel", response_model=ExamRead, responses=WRITE)
def cancel_exam_order(
    order_id: Id, principal: CurrentPrincipal, session: DbSession
) -> dict[str, Any]:
    """Withdraw an exam order not yet performed."""
    exams.cancel_exam(session, principal, order_id)
    return _exam(session, principal, order_id)
