"""Every SELECT (and the guarded UPDATE) of the consult domain."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from yilian.consult.models import (
    ConsultCase,
    ConsultEvent,
    ConsultInvitation,
    ConsultItem,
    ConsultOpinion,
)
from yilian.consult.rules import CaseStatus


def get_case(session: Session, case_id: str) -> ConsultCase | None:
    return session.get(ConsultCase, case_id)


def items_of(session: Session, case_id: str) -> list[ConsultItem]:
    stmt = select(ConsultItem).where(ConsultItem.case_id == case_id).order_by(ConsultItem.position)
    return list(session.scalars(stmt))


def invitations_of(session: Session, case_id: str) -> list[ConsultInvitation]:
    stmt = (
        select(ConsultInvitation)
        .where(ConsultInvitation.case_id == case_id)
        .order_by(ConsultInvitation.position, ConsultInvitation.id)
    )
    return list(session.scalars(stmt))


def get_invitation(session: Session, case_id: str, invitation_id: str) -> ConsultInvitation | None:
    inv = session.get(ConsultInvitation, invitation_id)
    return inv if inv is not None and inv.case_id == case_id else None


def invitation_of_user(
    session: Session, case_id: str, user_id: str, organization_id: str | None
) -> ConsultInvitation | None:
    if organization_id is None:
        return None
    stmt = select(ConsultInvitation).where(
        ConsultInvitation.case_id == case_id,
        ConsultInvitation.user_id == user_id,
        ConsultInvitation.organization_id == organization_id,
    )
    return session.scalars(stmt).first()


def invitation_by_key(session: Session, case_id: str, expert_key: str) -> ConsultInvitation | None:
    stmt = select(ConsultInvitation).where(
        ConsultInvitation.case_id == case_id, ConsultInvitation.expert_key == expert_key
    )
    return session.scalars(stmt).first()


def count_invitations(session: Session, case_id: str) -> int:
    stmt = select(func.count()).where(ConsultInvitation.case_id == case_id)
    return session.scalar(stmt) or 0


def opinions_of(session: Session, case_id: str) -> list[ConsultOpinion]:
    stmt = (
        select(ConsultOpinion)
        .where(ConsultOpinion.case_id == case_id)
        .order_by(ConsultOpinion.created_at, ConsultOpinion.id)
    )
    return list(session.scalars(stmt))


def opinion_of_invitation(session: Session, invitation_id: str) -> ConsultOpinion | None:
    stmt = select(ConsultOpinion).where(ConsultOpinion.invitation_id == invitation_id)
    return session.scalars(stmt).first()


def count_opinions(session: Session, case_id: str) -> int:
    stmt = select(func.count()).where(ConsultOpinion.case_id == case_id)
    return session.scalar(stmt) or 0


def events_of(session: Session, case_id: str) -> list[ConsultEvent]:
    stmt = (
        select(ConsultEvent)
        .where(ConsultEvent.case_id == case_id)
        .order_by(ConsultEvent.at, ConsultEvent.seq)
    )
    return list(session.scalars(stmt))


def move(
    session: Session,
    case_id: str,
    allowed_from: Iterable[CaseStatus],
    values: dict[str, Any],
) -> bool:
    """Change a case only if it is still in one of ``allowed_from``: one writer wins a race."""
    stmt = (
        update(ConsultCase)
        .where(ConsultCase.id == case_id, ConsultCase.status.in_(list(allowed_from)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    done = session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
    case = session.get(ConsultCase, case_id)
    if case is not None:
        session.refresh(case)
    return done


def list_cases(
    session: Session,
    *,
    requester_id: str | None = None,
    invited_user: tuple[str, str] | None = None,
    status: CaseStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ConsultCase], int]:
    """Cases a principal requested, or to which (user id, organisation) is invited."""
    conds = []
    if requester_id is not None:
        conds.append(ConsultCase.requester_id == requester_id)
    if invited_user is not None:
        user_id, org_id = invited_user
        invited = select(ConsultInvitation.case_id).where(
            ConsultInvitation.user_id == user_id,
            ConsultInvitation.organization_id == org_id,
            ConsultInvitation.status != "pending",
        )
        conds.append(ConsultCase.id.in_(invited))
    stmt = select(ConsultCase).where(or_(*conds)) if conds else select(ConsultCase)
    if status is not None:
        stmt = stmt.where(ConsultCase.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ConsultCase.created_at.desc(), ConsultCase.id).limit(limit).offset(offset)
    )
    return list(rows), total


def count_by_type_status(session: Session) -> list[tuple[str, str, int]]:
    stmt = select(ConsultCase.case_type, ConsultCase.status, func.count()).group_by(
        ConsultCase.case_type, ConsultCase.status
    )
    return [(str(t), str(s), int(n)) for t, s, n in session.execute(stmt)]


def case_with_title(session: Session, title: str, requester_id: str) -> ConsultCase | None:
    """The demo's idempotency key: a case of this title by this requester."""
    stmt = select(ConsultCase).where(
        ConsultCase.title == title, ConsultCase.requester_id == requester_id
    )
    return session.scalars(stmt).first()
