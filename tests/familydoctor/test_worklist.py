"""Worklists: invitations, screening steps, abnormal results, chronic follow-ups and coverage."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.familydoctor.conftest import ADMIN, PersonFactory, SignFactory
from yilian.familydoctor import service, worklists
from yilian.familydoctor.models import AbnormalResult, Team
from yilian.familydoctor.schemas import CrcIn, HealthCheckIn, VaccinationIn
from yilian.kit.errors import Conflict, Unprocessable
from yilian.registry.models import Organization, Region

TODAY = date.today()


def _years_ago(n: int) -> date:
    return (
        TODAY.replace(year=TODAY.year - n)
        if not (TODAY.month == 2 and TODAY.day == 29)
        else date(TODAY.year - n, 3, 1)
    )


def _kinds(session: Session, pid: str, **scope: object) -> set[str]:
    wl = worklists.build_worklist(session, on=TODAY, **scope)  # type: ignore[arg-type]
    return {i.kind for i in wl.items if i.person_id == pid}


def test_elderly_contracted_resident_gets_the_invitations(
    session: Session, make_person: PersonFactory, sign: SignFactory, centre: Organization
) -> None:
    old = make_person(birth=_years_ago(70))
    young = make_person(birth=_years_ago(30))
    uncontracted = make_person(birth=_years_ago(70))
    sign(old)
    sign(young)
    assert _kinds(session, old) == {"crc_invite", "ppv23_invite", "health_check"}
    assert _kinds(session, young) == set()
    assert _kinds(session, uncontracted) == set()
    assert _kinds(session, old, organization_id=centre.id) == _kinds(session, old)
    # Done once, gone from the list; a second free dose is refused.
    service.record_vaccination(session, ADMIN, VaccinationIn(person_id=old, given_on=TODAY))
    service.record_health_check(session, ADMIN, HealthCheckIn(person_id=old, done_on=TODAY))
    session.commit()
    assert _kinds(session, old) == {"crc_invite"}
    with pytest.raises(Conflict):
        service.record_vaccination(session, ADMIN, VaccinationIn(person_id=old, given_on=TODAY))
    session.rollback()


def test_ppv23_refused_under_60(session: Session, make_person: PersonFactory) -> None:
    pid = make_person(birth=_years_ago(50))
    with pytest.raises(Unprocessable, match="aged 60"):
        service.record_vaccination(session, ADMIN, VaccinationIn(person_id=pid, given_on=TODAY))


def test_crc_steps_move_through_the_worklist(
    session: Session, make_person: PersonFactory, sign: SignFactory
) -> None:
    pid = make_person(birth=_years_ago(55))
    sign(pid)
    assert "crc_invite" in _kinds(session, pid)
    fit1_on = TODAY - timedelta(days=10)
    row = service.record_crc(
        session,
        ADMIN,
        CrcIn(
            person_id=pid,
            round_year=TODAY.year if fit1_on.year == TODAY.year else fit1_on.year,
            questionnaire_positive=False,
            questionnaire_on=fit1_on,
            fit1="negative",
            fit1_on=fit1_on,
        ),
    )
    session.commit()
    assert row.status == "in_progress" and row.fit2_due == fit1_on + timedelta(days=7)
    if row.round_year == TODAY.year:
        assert _kinds(session, pid) == {"crc_fit2"}
    row = service.record_crc(
        session,
        ADMIN,
        CrcIn(person_id=pid, round_year=row.round_year, fit2="positive", fit2_on=TODAY),
    )
    session.commit()
    assert row.status == "referred" and row.fee_waiver and row.referral_no
    if row.round_year == TODAY.year:
        assert _kinds(session, pid) == {"crc_colonoscopy"}


def test_crc_refuses_fit2_before_fit1(session: Session, make_person: PersonFactory) -> None:
    pid = make_person(birth=_years_ago(55))
    with pytest.raises(Unprocessable, match="FIT #1 first"):
        service.record_crc(
            session,
            ADMIN,
            CrcIn(person_id=pid, round_year=TODAY.year, fit2="negative", fit2_on=TODAY),
        )
    session.rollback()


def test_abnormal_result_shows_only_for_contracted_and_recent(
    session: Session, make_person: PersonFactory, sign: SignFactory
) -> None:
    pid = make_person()
    for ref, when in (
        ("Observation/a", TODAY - timedelta(days=2)),
        ("Observation/b", TODAY - timedelta(days=400)),
    ):
        session.add(
            AbnormalResult(
                person_id=pid,
                resource_id=ref,
                code="2345-7",
                display="葡萄糖",
                value=12.1,
                unit="mmol/L",
                flag="H",
                effective_on=when,
            )
        )
    session.commit()
    assert _kinds(session, pid) == set()  # no contract yet: nobody's worklist
    sign(pid)
    wl = worklists.build_worklist(session, on=TODAY)
    items = [i for i in wl.items if i.kind == "abnormal"]
    assert len(items) == 1 and "12.1mmol/L" in items[0].detail and items[0].overdue_days == 2


def test_team_scope(
    session: Session, make_person: PersonFactory, sign: SignFactory, team: Team, other_team: Team
) -> None:
    a, b = make_person(birth=_years_ago(70)), make_person(birth=_years_ago(70))
    sign(a)
    sign(b, on_team=other_team)
    wl = worklists.build_worklist(session, on=TODAY, team_id=team.id)
    assert {i.person_id for i in wl.items} == {a}


def test_coverage_against_targets(
    session: Session,
    make_person: PersonFactory,
    sign: SignFactory,
    street: Region,
    centre: Organization,
    team: Team,
) -> None:
    """10 residents, 4 elderly; 5 contracted of whom 3 elderly → 50% all, 75% key."""
    elderly = [make_person(birth=_years_ago(70)) for _ in range(4)]
    others = [make_person(birth=_years_ago(40)) for _ in range(6)]
    for pid in elderly[:3] + others[:2]:
        sign(pid)
    cells = {(c.level, c.id): c for c in service.coverage(session, on=TODAY)}
    assert cells[("all", None)].contracted == 5
    district = cells[("district", street.parent_id)]
    assert (district.residents, district.contracted) == (10, 5)
    assert (district.key_residents, district.key_contracted) == (4, 3)
    assert district.rate_all == 0.5 and district.rate_key == 0.75
    assert district.target_all == 0.48 and district.target_key == 0.80
    s = cells[("street", street.id)]
    assert (s.contracted, s.residents) == (5, 10)
    c = cells[("centre", centre.id)]
    assert (c.contracted, c.residents) == (5, 10)
    t = cells[("team", team.id)]
    assert (t.contracted, t.key_contracted, t.residents) == (5, 3, 10)


def test_declared_category_makes_a_key_resident(
    session: Session, make_person: PersonFactory, sign: SignFactory
) -> None:
    pid = make_person(birth=_years_ago(40))
    sign(pid, categories=["special_family"])
    district = service.coverage(session, on=TODAY)[0]
    assert district.level == "all"
    assert (district.key_residents, district.key_contracted) == (1, 1)
