"""Every SELECT (and the idempotent insert) of the chronic domain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from yilian.chronic.models import Enrolment, Followup, ReferralSuggestion
from yilian.chronic.rules import CONTROLLED, UNCONTROLLED
from yilian.db import chunks, new_id, utcnow

_ENROLMENTS = cast(Table, Enrolment.__table__)

# Bound parameters per statement stay well under SQLite's and PostgreSQL's limits.
CHUNK = 5_000


def insert_enrolments(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert the enrolments whose person is not yet in the programme; the number added.

    ``ON CONFLICT DO NOTHING`` on the (person, programme) key keeps concurrent
    ingestions of the same diagnosis from colliding. One executemany, which
    SQLAlchemy sends as multi-row statements of up to 1,000 rows.
    """
    if not rows:
        return 0
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(_ENROLMENTS)
        .on_conflict_do_nothing(index_elements=["person_id", "programme"])
        .returning(_ENROLMENTS.c.id)  # the rows added (psycopg gives no row count here)
    )
    params = [{"id": new_id(), "created_at": now, "updated_at": now, **r} for r in rows]
    return len(session.execute(stmt, params).all())


def enrolled_pairs(session: Session) -> set[tuple[str, str]]:
    return {(a, b) for a, b in session.execute(select(Enrolment.person_id, Enrolment.programme))}


def enrolments_of(session: Session, person_id: str) -> list[Enrolment]:
    stmt = select(Enrolment).where(Enrolment.person_id == person_id).order_by(Enrolment.programme)
    return list(session.scalars(stmt))


def enrolment(session: Session, person_id: str, programme: str) -> Enrolment | None:
    stmt = select(Enrolment).where(
        Enrolment.person_id == person_id, Enrolment.programme == programme
    )
    return session.scalars(stmt).first()


def followups_of(session: Session, person_id: str) -> list[Followup]:
    stmt = (
        select(Followup)
        .where(Followup.person_id == person_id)
        .order_by(Followup.followed_on.desc(), Followup.created_at.desc())
    )
    return list(session.scalars(stmt))


def latest_control(session: Session, enrolment_id: str) -> str | None:
    """The control status of the enrolment's latest follow-up that measured it."""
    stmt = (
        select(Followup.control)
        .where(
            Followup.enrolment_id == enrolment_id,
            Followup.control.in_((CONTROLLED, UNCONTROLLED)),
        )
        .order_by(Followup.followed_on.desc(), Followup.created_at.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def suggestions_of(session: Session, person_id: str) -> list[ReferralSuggestion]:
    stmt = (
        select(ReferralSuggestion)
        .where(ReferralSuggestion.person_id == person_id)
        .order_by(ReferralSuggestion.created_at.desc())
    )
    return list(session.scalars(stmt))


def get_suggestion(session: Session, suggestion_id: str) -> ReferralSuggestion | None:
    return session.get(ReferralSuggestion, suggestion_id)


DueRow = tuple[str, str, date, str]  # person_id, programme, next_due, next_kind


def due(session: Session, person_ids: Collection[str] | None, until: date) -> list[DueRow]:
    """Active enrolments whose next follow-up is due on or before ``until`` (one range scan)."""
    cols = (Enrolment.person_id, Enrolment.programme, Enrolment.next_due, Enrolment.next_kind)
    base = select(*cols).where(Enrolment.status == "active", Enrolment.next_due <= until)
    if person_ids is None:
        return [(a, b, c, d) for a, b, c, d in session.execute(base.order_by(Enrolment.next_due))]
    ids = sorted(set(person_ids))
    out: list[DueRow] = []
    for part in chunks(ids, CHUNK):
        out.extend(
            (a, b, c, d)
            for a, b, c, d in session.execute(base.where(Enrolment.person_id.in_(part)))
        )
    out.sort(key=lambda r: r[2])
    return out


def programmes_of(session: Session, person_ids: Collection[str]) -> list[tuple[str, str]]:
    ids = sorted(set(person_ids))
    out: list[tuple[str, str]] = []
    for part in chunks(ids, CHUNK):
        stmt = select(Enrolment.person_id, Enrolment.programme).where(
            Enrolment.status == "active", Enrolment.person_id.in_(part)
        )
        out.extend((a, b) for a, b in session.execute(stmt))
    return out


IndicatorRow = tuple[str, str | None, int, int]  # person, centre, standard 0/1, controlled 0/1


def indicator_rows(
    session: Session,
    *,
    programme: str,
    start: date,
    end: date,
    min_followups: int,
) -> list[IndicatorRow]:
    """Per enrolment managed in [start, end]: person, centre, standard?, controlled at last?

    Managed = enrolled by the end of the period and not ended before its start. The
    last control is that of the most recent follow-up in the period that measured it.
    Two range scans (follow-ups of the period in date order, then the enrolments),
    combined in one pass: cheaper on both engines than a window function joined back.
    """
    face: dict[str, int] = defaultdict(int)
    last: dict[str, str] = {}
    fstmt = (
        select(Followup.enrolment_id, Followup.face_to_face, Followup.control)
        .where(
            Followup.programme == programme,
            Followup.followed_on >= start,
            Followup.followed_on <= end,
        )
        .order_by(Followup.followed_on, Followup.created_at)
    )
    for eid, f2f, control in session.execute(fstmt):
        if f2f:
            face[eid] += 1
        if control in (CONTROLLED, UNCONTROLLED):
            last[eid] = control
    estmt = select(Enrolment.id, Enrolment.person_id, Enrolment.managing_org_id).where(
        Enrolment.programme == programme,
        Enrolment.enrolled_on <= end,
        or_(Enrolment.ended_on.is_(None), Enrolment.ended_on >= start),
    )
    return [
        (person, org, int(face.get(eid, 0) >= min_followups), int(last.get(eid) == CONTROLLED))
        for eid, person, org in session.execute(estmt)
    ]


def due_at_organization(
    session: Session, organization_id: str, until: date, *, limit: int = 50
) -> list[DueRow]:
    """The centre's enrolments due by ``until``, most overdue first (its worklist)."""
    stmt = (
        select(Enrolment.person_id, Enrolment.programme, Enrolment.next_due, Enrolment.next_kind)
        .where(
            Enrolment.status == "active",
            Enrolment.managing_org_id == organization_id,
            Enrolment.next_due <= until,
        )
        .order_by(Enrolment.next_due, Enrolment.person_id)
        .limit(limit)
    )
    return [(a, b, c, d) for a, b, c, d in session.execute(stmt)]
