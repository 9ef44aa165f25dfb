"""Grouping by team: one set-based query gives what ``active_contract`` gives person by person."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.familydoctor.conftest import ADMIN, PersonFactory, SignFactory, _team
from yilian.chronic import service as chronic
from yilian.familydoctor import repository, service
from yilian.familydoctor.models import Team
from yilian.familydoctor.schemas import EndIn, RenewIn
from yilian.registry.models import Organization


def _district(
    session: Session,
    centre: Organization,
    team: Team,
    make_person: PersonFactory,
    sign: SignFactory,
) -> list[str]:
    """Twelve residents in the hypertension programme, under every kind of contract history."""
    second = _team(session, centre, "李医生团队")
    today = service.today()
    people = [make_person(birth=date(1950 + n, 3, 1)) for n in range(12)]
    sign(people[0])
    sign(people[1], on_team=second)
    sign(people[2], people[3], on_team=second)  # a family contract
    # Renewed: the old term is 'renewed' and still covers its own period; the new one follows.
    (old,) = sign(people[4], start=today - timedelta(days=200), end=today + timedelta(days=10))
    service.renew(session, ADMIN, old.id, RenewIn())
    # Ended (解约) today and an expired term: no team for either.
    (ended,) = sign(people[5])
    service.end_contract(session, ADMIN, ended.id, EndIn(on=today, reason="moved"))
    sign(people[6], start=today - timedelta(days=400), end=today - timedelta(days=40))
    # Signed to start next month: not covering today.
    sign(people[7], start=today + timedelta(days=30))
    sign(people[8], on_team=second)
    session.commit()
    for pid in people:
        chronic.enrol(
            session,
            person_id=pid,
            programme="hypertension",
            on=date(today.year, 1, 1),
            managing_org_id=centre.id,
            source="test",
        )
    session.commit()
    return people


@pytest.mark.parametrize("chunk", [repository.CHUNK, 2])
def test_team_grouping_matches_active_contract_person_by_person(
    session: Session,
    centre: Organization,
    team: Team,
    make_person: PersonFactory,
    sign: SignFactory,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    """Both paths of ``teams_of_persons`` (an IN list, or one scan when there are many)."""
    monkeypatch.setattr(repository, "CHUNK", chunk)
    people = _district(session, centre, team, make_person, sign)
    per_person = {}
    for pid in people:
        contract = service.active_contract(session, pid)
        if contract is not None:
            per_person[pid] = (contract.team_id, service.get_team(session, contract.team_id).name)
    assert service.teams_of_persons(session, people) == per_person
    assert len(per_person) == 6 and people[5] not in per_person and people[7] not in per_person
    # The indicator grouped by team counts the same persons per team as the per-person walk.
    rows, total = chronic.indicators(
        session, programme="hypertension", year=service.today().year, group_by="team"
    )
    expected = Counter(per_person.get(pid, (None, "—"))[1] or "—" for pid in people)
    assert {r.group_name: r.managed for r in rows} == dict(expected)
    assert total.managed == len(people)
