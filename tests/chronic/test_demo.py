"""seed_demo: backfills enrolments, adds follow-ups once, and the indicators show them."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tests.chronic.conftest import ingest_person
from yilian.chronic import service
from yilian.chronic.demo import seed_demo
from yilian.chronic.models import Enrolment, Followup
from yilian.registry.models import Organization


def test_seed_demo_is_idempotent_and_feeds_the_indicators(
    session: Session, centre: Organization
) -> None:
    people = [ingest_person(session, centre, ("I10", "E11.9")) for _ in range(3)]
    # Pretend the projector was not installed at ingestion: the backfill enrols them.
    session.execute(delete(Enrolment))
    session.commit()
    summary = seed_demo(session)
    session.commit()
    assert "6 enrolments (6 backfilled)" in summary, summary
    n = session.scalar(select(func.count()).select_from(Followup))
    assert n and n >= 12
    again = seed_demo(session)
    session.commit()
    assert "already there" in again
    assert session.scalar(select(func.count()).select_from(Followup)) == n
    rows, total = service.indicators(
        session, programme="hypertension", year=service.today().year, group_by="centre"
    )
    assert total.managed == 3 and rows[0].group_name == centre.name
    assert service.enrolled_programmes(session, people) == {
        p: {"hypertension", "diabetes"} for p in people
    }
