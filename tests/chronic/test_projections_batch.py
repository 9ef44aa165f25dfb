"""A write's Conditions enrol together as they would one by one, in a few statements."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, delete, select
from sqlalchemy.orm import Session

from tests.chronic.conftest import ICD10
from tests.fixtures.statements import counting as _counting
from yilian.chronic import projections, service
from yilian.chronic.models import Enrolment
from yilian.records import projectors
from yilian.records.projectors import StoredResource
from yilian.registry.models import Organization

# Hypertension, type-2 diabetes, both in one Condition, and codes of no programme.
CODES: list[tuple[str, ...]] = [
    ("I10",), ("I11.9",), ("I10",), ("E11.9",), ("E11.2",), ("I10", "E11.9"), ("I25.1",),
    ("J44.9",),
]  # fmt: skip
T0 = datetime(2026, 3, 1, tzinfo=UTC)


class Conditions:
    """Builds the stored Conditions of writes: persons diagnosed again, at other institutions."""

    def __init__(self, seed: int, org_ids: Sequence[str], persons: int = 60) -> None:
        self.rng = random.Random(seed)
        self.org_ids = list(org_ids)
        self.persons = persons
        self.n = 0

    def condition(self, person: int | None, codes: Sequence[str], **extra: Any) -> StoredResource:
        self.n += 1
        recorded = date(2024, 1, 1) + timedelta(days=self.rng.randrange(800))
        resource = {
            "resourceType": "Condition",
            "id": f"c{self.n}",
            "code": {"coding": [{"system": ICD10, "code": c} for c in codes]},
            "subject": {"reference": f"Patient/pat{person}"},
            "recordedDate": recorded.isoformat(),
            **extra,
        }
        return StoredResource(
            resource_type="Condition",
            id=f"c{self.n}",
            version_id=1,
            last_updated=T0,
            person_id=None if person is None else f"person{person:04d}",
            source_org_id=self.rng.choice(self.org_ids),
            resource=resource,
            created=True,
        )

    def write(self, size: int) -> list[StoredResource]:
        out = []
        for _ in range(size):
            person = self.rng.randrange(self.persons)
            roll = self.rng.random()
            if roll < 0.05:
                out.append(self.condition(None, ("I10",)))  # an unlinked record
            elif roll < 0.1:
                refuted = {"coding": [{"code": "refuted"}]}
                out.append(self.condition(person, ("E11.9",), verificationStatus=refuted))
            elif roll < 0.15:
                resolved = {"coding": [{"code": "resolved"}]}
                out.append(self.condition(person, ("I10",), clinicalStatus=resolved))
            else:
                out.append(self.condition(person, self.rng.choice(CODES)))
        return out


def _enrolments(session: Session) -> list[Row[Any]]:
    """The enrolments without their generated ids and times, sorted."""
    session.flush()
    skip = {"id", "created_at", "updated_at"}
    cols = [c for c in Enrolment.__table__.columns if c.name not in skip]
    return sorted(session.execute(select(*cols)).all(), key=lambda r: tuple(map(str, r)))


def _orgs(make_org: Callable[..., Organization]) -> list[str]:
    return [make_org().id for _ in range(3)]


def test_a_batch_enrols_whom_one_by_one_enrols(
    session: Session, make_org: Callable[..., Organization]
) -> None:
    conditions = Conditions(seed=5, org_ids=_orgs(make_org))
    earlier, write = conditions.write(60), conditions.write(300)
    persons = [s.person_id for s in write if s.person_id]
    assert len(persons) - len(set(persons)) > 100  # many persons diagnosed more than once

    assert service.enrol_from_conditions(session, earlier) > 0
    added = service.enrol_from_conditions(session, write)
    together = _enrolments(session)

    session.execute(delete(Enrolment))
    for stored in earlier:
        service.enrol_from_condition(session, stored)
    added_one_by_one = sum(service.enrol_from_condition(session, s) for s in write)
    assert _enrolments(session) == together
    assert added == added_one_by_one > 0
    assert {r.programme for r in together} == {"hypertension", "diabetes"}


def test_the_first_condition_of_a_person_enrols_and_later_ones_do_not(
    session: Session, make_org: Callable[..., Organization]
) -> None:
    a, b = _orgs(make_org)[:2]
    conditions = Conditions(seed=1, org_ids=[a])
    first = conditions.condition(1, ("I11.9",))
    conditions.org_ids = [b]
    again = conditions.condition(1, ("I10", "E11.9"))
    assert service.enrol_from_conditions(session, [first, again, again]) == 2
    got = {(r.programme, r.condition_id, r.managing_org_id) for r in _enrolments(session)}
    assert got == {
        ("hypertension", f"Condition/{first.id}", a),
        ("diabetes", f"Condition/{again.id}", b),
    }
    assert service.enrol_from_conditions(session, [again]) == 0


def test_known_pairs_are_skipped_as_one_by_one_skips_them(
    session: Session, make_org: Callable[..., Organization]
) -> None:
    """The backfill's ``known`` pairs enrol no one and grow page by page."""
    write = Conditions(seed=2, org_ids=_orgs(make_org)).write(120)
    skipped = {(s.person_id, "diabetes") for s in write[:40] if s.person_id}
    known = set(skipped)
    added = sum(
        service.enrol_from_conditions(session, write[i : i + 7], known) for i in range(0, 120, 7)
    )
    paged, paged_known = _enrolments(session), known

    session.execute(delete(Enrolment))
    known = set(skipped)
    assert added == sum(service.enrol_from_condition(session, s, known) for s in write)
    assert _enrolments(session) == paged and known == paged_known
    assert not {(r.person_id, r.programme) for r in paged} & skipped


def test_a_batch_takes_one_statement(
    session: Session, engine: Engine, make_org: Callable[..., Organization]
) -> None:
    conditions = Conditions(seed=3, org_ids=_orgs(make_org), persons=200)
    service.enrol_from_conditions(session, conditions.write(50))
    session.commit()
    small, large = conditions.write(100), conditions.write(400)
    counts = []
    for batch in (small, large):
        with _counting(engine) as statements:
            service.enrol_from_conditions(session, batch)
        session.rollback()
        counts.append(len(statements))
    with _counting(engine) as one_by_one:
        for stored in small:
            service.enrol_from_condition(session, stored)
    assert counts == [1, 1]
    assert len(one_by_one) > 50


def test_the_projector_takes_a_write_at_once() -> None:
    assert projections.enrol_on_conditions in projectors.registered()["Condition"]
