"""Queries of TB patient management."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.tb.care_models import TbCase, TbCaseEvent, TbDose, TbReminder, TbTransfer, TbVisit
from yilian.tb.models import TbSample
from yilian.tb.rules import MDR_TB, PRE_XDR_TB, RR_TB, XDR_TB

RR_TYPES = (RR_TB, MDR_TB, PRE_XDR_TB, XDR_TB)


def open_case_of(session: Session, person_id: str) -> TbCase | None:
    stmt = select(TbCase).where(TbCase.person_id == person_id, TbCase.status != "closed")
    return session.scalars(stmt.limit(1)).first()


def last_episode(session: Session, person_id: str) -> int:
    stmt = select(func.max(TbCase.episode)).where(TbCase.person_id == person_id)
    return int(session.scalar(stmt) or 0)


def case_by_condition(session: Session, condition_id: str) -> TbCase | None:
    return session.scalars(select(TbCase).where(TbCase.condition_id == condition_id)).first()


def person_is_rr(session: Session, person_id: str) -> bool | None:
    """RR status from the sequenced strains of the resistance side (None when none)."""
    types = list(session.scalars(select(TbSample.drtype).where(TbSample.person_id == person_id)))
    if not types:
        return None
    return any(t in RR_TYPES for t in types)


def cases(
    session: Session,
    *,
    organization_ids: Iterable[str] | None = None,
    province_region_id: str | None = None,
    status: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> Sequence[TbCase]:
    stmt = select(TbCase)
    if organization_ids is not None:
        stmt = stmt.where(TbCase.organization_id.in_(list(organization_ids)))
    if province_region_id is not None:
        stmt = stmt.where(TbCase.province_region_id == province_region_id)
    if status is not None:
        stmt = stmt.where(TbCase.status == status)
    stmt = stmt.order_by(TbCase.notification_date.desc(), TbCase.id).limit(limit).offset(offset)
    return session.scalars(stmt).all()


def doses_of(session: Session, case_ids: Sequence[str]) -> Sequence[TbDose]:
    if not case_ids:
        return []
    stmt = select(TbDose).where(TbDose.case_id.in_(case_ids)).order_by(TbDose.day)
    return session.scalars(stmt).all()


def dose_on(session: Session, case_id: str, day: date) -> TbDose | None:
    return session.scalars(
        select(TbDose).where(TbDose.case_id == case_id, TbDose.day == day)
    ).first()


def visits_of(session: Session, case_ids: Sequence[str]) -> Sequence[TbVisit]:
    if not case_ids:
        return []
    stmt = select(TbVisit).where(TbVisit.case_id.in_(case_ids)).order_by(TbVisit.visit_date)
    return session.scalars(stmt).all()


def reminder(
    session: Session, case_id: str, due: date, kind: str, recipient: str
) -> TbReminder | None:
    stmt = select(TbReminder).where(
        TbReminder.case_id == case_id,
        TbReminder.due_date == due,
        TbReminder.kind == kind,
        TbReminder.recipient == recipient,
    )
    return session.scalars(stmt).first()


def reminders(
    session: Session,
    *,
    organization_ids: Iterable[str] | None,
    case_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[TbReminder]:
    stmt = select(TbReminder)
    if organization_ids is not None:
        stmt = stmt.where(TbReminder.organization_id.in_(list(organization_ids)))
    if case_id is not None:
        stmt = stmt.where(TbReminder.case_id == case_id)
    if status is not None:
        stmt = stmt.where(TbReminder.status == status)
    stmt = stmt.order_by(TbReminder.due_date.desc(), TbReminder.id).limit(limit).offset(offset)
    return session.scalars(stmt).all()


def pending_transfer(session: Session, case_id: str) -> TbTransfer | None:
    stmt = select(TbTransfer).where(TbTransfer.case_id == case_id, TbTransfer.status == "pending")
    return session.scalars(stmt).first()


def transfers(
    session: Session, *, organization_ids: Sequence[str] | None, status: str | None
) -> Sequence[TbTransfer]:
    """Transfers into or out of the organisations (all when None), newest first."""
    stmt = select(TbTransfer)
    if organization_ids is not None:
        stmt = stmt.where(
            TbTransfer.to_organization_id.in_(organization_ids)
            | TbTransfer.from_organization_id.in_(organization_ids)
        )
    if status is not None:
        stmt = stmt.where(TbTransfer.status == status)
    return session.scalars(stmt.order_by(TbTransfer.requested_at.desc()).limit(500)).all()


def accepted_transfers(session: Session, case_ids: Sequence[str]) -> list[TbTransfer]:
    """The acknowledged transfers of these cases, in the order they were acknowledged."""
    out: list[TbTransfer] = []
    for i in range(0, len(case_ids), 500):
        stmt = select(TbTransfer).where(
            TbTransfer.case_id.in_(case_ids[i : i + 500]), TbTransfer.status == "accepted"
        )
        out.extend(session.scalars(stmt))
    return sorted(out, key=lambda t: (t.acknowledged_at or t.requested_at, t.id))


def transfers_of(session: Session, case_id: str) -> Sequence[TbTransfer]:
    stmt = select(TbTransfer).where(TbTransfer.case_id == case_id)
    return session.scalars(stmt.order_by(TbTransfer.requested_at)).all()


def events_of(session: Session, case_id: str) -> Sequence[TbCaseEvent]:
    stmt = select(TbCaseEvent).where(TbCaseEvent.case_id == case_id)
    return session.scalars(stmt.order_by(TbCaseEvent.at, TbCaseEvent.id)).all()


def pending_counts(session: Session, case_ids: Sequence[str]) -> dict[str, int]:
    if not case_ids:
        return {}
    stmt = (
        select(TbReminder.case_id, func.count())
        .where(TbReminder.case_id.in_(case_ids), TbReminder.status == "pending")
        .group_by(TbReminder.case_id)
    )
    return {cid: int(n) for cid, n in session.execute(stmt)}
