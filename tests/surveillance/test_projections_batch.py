"""A write's case reports and pathogen tests count together as they would one by one."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Row, delete, select
from sqlalchemy.orm import Session

from tests.fixtures.statements import counting as _counting
from tests.surveillance.conftest import Area
from yilian.records import projectors
from yilian.registry.models import Organization, Region
from yilian.surveillance import projections, service
from yilian.surveillance.models import CaseFact, Daily, Series
from yilian.surveillance.service import Reported

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
DISEASES = ["A38", "J10.1", "J11", "B16.9", "A09", "A00.1", "I10", "J44.9"]  # the last two: not
TESTS = ["92142-9", "94500-6", "5196-1", "718-7"]  # the last: not a pathogen test
DAY = date(2024, 3, 20)


class Reports:
    """Builds the Conditions and Observations of writes, some re-sent, from several sites."""

    def __init__(self, seed: int, org_ids: Sequence[str]) -> None:
        self.rng = random.Random(seed)
        self.org_ids = [*org_ids, "no-such-org"]
        self.sent: dict[str, list[str]] = {"c": [], "o": []}
        self.n = 0

    def _when(self) -> str:
        day = DAY - timedelta(days=self.rng.randrange(40))
        return f"{day.isoformat()}T{self.rng.randrange(24):02d}:30:00+08:00"

    def _id(self, prefix: str) -> str:
        self.n += 1
        sent = self.sent[prefix]
        if sent and self.rng.random() < 0.15:
            return self.rng.choice(sent)  # sent again: counts once
        sent.append(f"{prefix}{self.n}")
        return sent[-1]

    def condition(self) -> Reported:
        rid = self._id("c")
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "code": {"coding": [{"system": ICD10, "code": self.rng.choice(DISEASES)}]},
        }
        roll = self.rng.random()
        if roll < 0.8:
            resource["onsetDateTime"] = self._when()
        if roll > 0.1:
            resource["recordedDate"] = self._when()
        if roll > 0.95:
            resource["onsetDateTime"] = (date.today() + timedelta(days=9)).isoformat()
        org = None if self.rng.random() < 0.03 else self.rng.choice(self.org_ids)
        return (rid, resource, org)

    def observation(self) -> Reported:
        rid = self._id("o")
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "code": {"coding": [{"system": LOINC, "code": self.rng.choice(TESTS)}]},
            self.rng.choice(["effectiveDateTime", "issued"]): self._when(),
        }
        answer = self.rng.choice(["10828004", "260385009", "POS", "NEG", None])
        if answer:
            resource["valueCodeableConcept"] = {
                "coding": [{"system": "http://snomed.info/sct", "code": answer}]
            }
        return (rid, resource, self.rng.choice(self.org_ids))


def _orgs(
    area: Area, make_region: Callable[..., Region], make_org: Callable[..., Any]
) -> list[str]:
    """The two sites of the street, the district CDC, and a site in another street."""
    other = make_region(parent=area.district, level="street", name="天山路街道", code="310105005")
    return [area.site_a.id, area.site_b.id, area.cdc_org.id, make_org(region=other).id]


def _tables(session: Session) -> tuple[list[Row[Any]], ...]:
    """Facts, series and days without generated ids and times (a day by its series' key)."""
    session.flush()

    def cols(table: Any, *skip: str) -> list[Any]:
        return [c for c in table.columns if c.name not in {"id", "created_at", "updated_at", *skip}]

    facts = session.execute(select(*cols(CaseFact.__table__))).all()
    series = session.execute(select(*cols(Series.__table__))).all()
    days = session.execute(
        select(Series.key, *cols(Daily.__table__, "series_id")).join(
            Series, Series.id == Daily.series_id
        )
    ).all()
    return tuple(sorted(rows, key=lambda r: tuple(map(str, r))) for rows in (facts, series, days))


def _clear(session: Session) -> None:
    for model in (Daily, Series, CaseFact):
        session.execute(delete(model))
    session.flush()


@pytest.mark.parametrize("kind", ["condition", "observation"])
def test_a_batch_counts_what_one_by_one_counts(
    session: Session,
    area: Area,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    kind: str,
) -> None:
    reports = Reports(seed=11, org_ids=_orgs(area, make_region, make_org))
    make = reports.condition if kind == "condition" else reports.observation
    many = service.project_conditions if kind == "condition" else service.project_observations
    one = service.project_condition if kind == "condition" else service.project_observation
    earlier = [make() for _ in range(80)]
    write = [make() for _ in range(400)]
    ids = [r[0] for r in write]
    assert len(ids) - len(set(ids)) > 20  # sent twice within the write

    many(session, earlier)
    first_days = {s.key: s.first_day for s in _tables(session)[1]}
    counted = many(session, write)
    together = _tables(session)
    moved_back = [s for s in together[1] if s.first_day < first_days.get(s.key, s.first_day)]

    _clear(session)
    for r in earlier:
        one(session, *r)
    counted_one_by_one = set()
    for r in write:
        if one(session, *r):
            counted_one_by_one.add(r[0])
    assert counted == counted_one_by_one
    assert _tables(session) == together
    _facts, series, days = together
    assert len(counted) > 100 and len(series) >= 9 and moved_back
    assert sum(d.count for d in days) > 0


def test_a_report_sent_twice_counts_its_first_countable_version(
    session: Session, area: Area
) -> None:
    site = area.site_a.id
    flu = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": ICD10, "code": "J10.1"}]},
        "recordedDate": "2024-03-05",
    }
    scarlet = {**flu, "code": {"coding": [{"system": ICD10, "code": "A38"}]}}
    undated = {**scarlet, "recordedDate": None}
    batch: list[Reported] = [
        ("c1", undated, site), ("c1", flu, site), ("c1", scarlet, site),
        ("c2", {**flu, "recordedDate": "2024-03-01"}, site), ("c3", flu, "no-such-org"),
    ]  # fmt: skip
    assert service.project_conditions(session, batch) == {"c1", "c2"}
    assert service.project_conditions(session, [("c2", scarlet, site)]) == set()
    facts = {f.resource_id: f.topic for f in session.scalars(select(CaseFact))}
    assert facts == {"c1": "influenza", "c2": "influenza"}
    street = session.scalars(
        select(Series).where(Series.key == "case:influenza:310105004:all:all")
    ).one()
    assert street.first_day == date(2024, 3, 1)
    days = session.execute(select(Daily.day, Daily.count).where(Daily.series_id == street.id))
    assert sorted(tuple(d) for d in days) == [(date(2024, 3, 1), 1.0), (date(2024, 3, 5), 1.0)]


def test_a_batch_takes_a_bounded_number_of_statements(
    session: Session,
    engine: Engine,
    area: Area,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
) -> None:
    reports = Reports(seed=3, org_ids=_orgs(area, make_region, make_org))
    service.project_conditions(session, [reports.condition() for _ in range(50)])
    session.commit()
    counts = []
    for size in (100, 400):
        batch = [reports.condition() for _ in range(size)]
        with _counting(engine) as statements:
            service.project_conditions(session, batch)
        session.rollback()
        counts.append(len(statements))
    small = [reports.observation() for _ in range(100)]
    with _counting(engine) as statements:
        service.project_observations(session, small)
    session.rollback()
    counts.append(len(statements))
    with _counting(engine) as one_by_one:
        for r in small:
            service.project_observation(session, *r)
    # Organisations, their areas, facts, series (look up, add, move back), days.
    assert max(counts) <= 8, counts
    assert len(one_by_one) > len(small)


def test_the_projectors_take_a_write_at_once() -> None:
    assert projections.on_conditions in projectors.registered()["Condition"]
    assert projections.on_observations in projectors.registered()["Observation"]
