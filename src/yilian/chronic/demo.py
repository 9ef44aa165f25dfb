"""Demo data of the chronic domain: enrolments from the ingested diagnoses, some follow-ups."""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.chronic import service
from yilian.chronic.models import Enrolment, Followup
from yilian.chronic.schemas import FollowupIn
from yilian.registry.models import Organization

DEMO_RECORDER = "demo-seed"
PER_CENTRE = 30  # enrolments per community centre that get this year's follow-ups
DOCTOR_CENTRE = "310105C001"  # the demo doctor's centre: one urgent suggestion to show


def _readings(rng: random.Random, programme: str) -> dict[str, float | int]:
    if programme == "hypertension":
        sbp = max(100, min(178, round(rng.gauss(131, 11))))
        dbp = max(60, min(sbp - 30, round(rng.gauss(84, 8))))
        return {"sbp": sbp, "dbp": dbp, "heart_rate": round(rng.gauss(76, 8))}
    if programme == "diabetes":
        glucose = round(max(4.2, min(15.0, rng.gauss(6.5, 0.9))), 1)
        return {
            "glucose": glucose,
            "sbp": round(rng.gauss(132, 10)),
            "dbp": round(rng.gauss(80, 7)),
        }
    return {}


def _dates(rng: random.Random, today: date, n: int) -> list[date]:
    start = date(today.year, 1, 10)
    span = max((today - start).days, 1)
    step = span // max(n, 1)
    return [min(today, start + timedelta(days=i * step + rng.randint(0, 10))) for i in range(n)]


def seed_demo(session: Session) -> str:
    """Backfill enrolments and add this year's follow-ups for some patients of each centre."""
    added = service.backfill_enrolments(session)
    done = session.scalar(
        select(func.count()).select_from(Followup).where(Followup.recorded_by == DEMO_RECORDER)
    )
    if done:
        total = session.scalar(select(func.count()).select_from(Enrolment))
        return f"chronic: {total} enrolments ({added} backfilled), demo follow-ups already there"
    today = service.today()
    centres = session.execute(
        select(Organization.id, Organization.code)
        .where(Organization.type == "community_health_center")
        .order_by(Organization.code)
    ).all()
    followups = suggestions = 0
    urgent_done = False
    for org_id, code in centres:
        enrolments = session.scalars(
            select(Enrolment)
            .where(Enrolment.managing_org_id == org_id, Enrolment.status == "active")
            .order_by(Enrolment.person_id, Enrolment.programme)
            .limit(PER_CENTRE)
        ).all()
        for e in enrolments:
            rng = random.Random(f"{e.person_id}:{e.programme}")
            n = rng.choice((2, 3, 4, 4, 4))
            previous: str | None = e.last_control
            for i, day in enumerate(_dates(rng, today, n)):
                values = _readings(rng, e.programme)
                last = i == n - 1
                if (
                    code == DOCTOR_CENTRE
                    and last
                    and not urgent_done
                    and e.programme == "hypertension"
                ):
                    values |= {"sbp": 186, "dbp": 104}
                    urgent_done = True
                data = FollowupIn(
                    followed_on=day,
                    mode=rng.choice(("clinic", "clinic", "clinic", "home", "phone")),
                    annual_check=i == 0,
                    **values,
                )
                fu, suggestion = service.apply_followup(
                    session,
                    e,
                    data,
                    service.reading_of(data),
                    age=None,
                    organization_id=org_id,
                    recorded_by=DEMO_RECORDER,
                    previous=previous,
                )
                if fu.control in ("controlled", "uncontrolled"):
                    previous = fu.control
                followups += 1
                suggestions += suggestion is not None
            session.flush()
    total = session.scalar(select(func.count()).select_from(Enrolment))
    return (
        f"chronic: {total} enrolments ({added} backfilled), {followups} follow-ups, "
        f"{suggestions} referral suggestions"
    )
