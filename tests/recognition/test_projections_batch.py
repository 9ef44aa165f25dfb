"""A write's results indexed together give the index that one by one gives, in a few statements."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, delete, select
from sqlalchemy.orm import Session

from tests.fixtures.statements import counting as _counting
from tests.recognition.conftest import LOINC, TAG
from yilian.recognition import projections
from yilian.recognition.models import IndexedResult
from yilian.records import projectors
from yilian.records.projectors import StoredResource

LAB = ["718-7", "14771-0", "2345-7", "2160-0", "6690-2", "777-3", "4548-4", "99999-9"]  # + unknown
IMAGING = ["24627-2", "36643-5", "24558-9", "24590-2"]
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Results:
    """Builds the stored results of writes: new ones, re-sent ones, reports that list them."""

    def __init__(self, seed: int, patients: int = 40) -> None:
        self.rng = random.Random(seed)
        self.patients = patients
        self.n = 0
        self.versions: dict[tuple[str, str], int] = {}
        self.observations: list[str] = []
        self.reports: list[str] = []
        self.studies: list[str] = []

    def _stored(self, kind: str, rid: str, body: dict[str, Any], patient: int) -> StoredResource:
        version = self.versions.get((kind, rid), 0) + 1
        self.versions[(kind, rid)] = version
        if self.rng.random() < 0.3:
            body["meta"] = {"tag": [{"system": TAG, "code": "HR-test"}]}
        return StoredResource(
            resource_type=kind,
            id=rid,
            version_id=version,
            last_updated=T0 + timedelta(minutes=self.n),
            person_id=f"person{patient:04d}",
            source_org_id=f"org{patient % 3}",
            resource={"resourceType": kind, "id": rid, **body},
            created=version == 1,
            patient_id=f"pat{patient:04d}",
        )

    def _when(self) -> dict[str, str]:
        if self.rng.random() < 0.05:
            return {}  # no date: not indexed
        day = T0 - timedelta(days=self.rng.randrange(60), hours=self.rng.randrange(24))
        return {"effectiveDateTime": day.isoformat()}

    def observation(self, rid: str | None = None) -> StoredResource:
        rid = rid or f"o{self.n}"
        patient = int(self.rng.randrange(self.patients))
        status = self.rng.choice(["final"] * 6 + ["amended", "corrected", "preliminary"])
        if rid in self.observations and self.rng.random() < 0.2:
            status = "entered-in-error"
        code = self.rng.choice(LAB)
        body = {
            "status": status,
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": f"Patient/pat{patient:04d}"},
            "valueQuantity": {"value": round(self.rng.uniform(1, 200), 1), "unit": "g/L"},
            **self._when(),
        }
        if rid not in self.observations:
            self.observations.append(rid)
        return self._stored("Observation", rid, body, patient)

    def report(self, rid: str | None = None) -> StoredResource:
        rid = rid or f"r{self.n}"
        patient = int(self.rng.randrange(self.patients))
        listed = self.rng.sample(self.observations, min(3, len(self.observations)))
        listed.append(f"o{self.n + 1}")  # often the next result, not stored yet
        imaging = self.rng.random() < 0.4
        body: dict[str, Any] = {
            "status": self.rng.choice(["final", "final", "final", "registered"]),
            "code": {
                "coding": [
                    {"system": LOINC, "code": self.rng.choice(IMAGING) if imaging else "58410-2"}
                ]
            },
            "subject": {"reference": f"Patient/pat{patient:04d}"},
            "result": [{"reference": f"Observation/{o}"} for o in listed],
            **self._when(),
        }
        if imaging:
            body["conclusion"] = "两肺未见明显实质性病变。"
        if rid not in self.reports:
            self.reports.append(rid)
        return self._stored("DiagnosticReport", rid, body, patient)

    def study(self, rid: str | None = None) -> StoredResource:
        rid = rid or f"s{self.n}"
        patient = int(self.rng.randrange(self.patients))
        body = {
            "status": self.rng.choice(["available", "available", "registered"]),
            "procedureCode": [{"coding": [{"system": LOINC, "code": self.rng.choice(IMAGING)}]}],
            "subject": {"reference": f"Patient/pat{patient:04d}"},
            "started": (T0 - timedelta(days=self.rng.randrange(30))).isoformat(),
            "description": "胸部CT平扫",
        }
        if rid not in self.studies:
            self.studies.append(rid)
        return self._stored("ImagingStudy", rid, body, patient)

    def write(self, size: int) -> list[StoredResource]:
        """One write: mostly new results, some re-sent (here or in an earlier write)."""
        out = []
        for _ in range(size):
            self.n += 1
            roll = self.rng.random()
            if roll < 0.55 or not self.observations:
                out.append(self.observation())
            elif roll < 0.7:
                out.append(self.observation(self.rng.choice(self.observations)))
            elif roll < 0.82 or not self.reports:
                out.append(self.report())
            elif roll < 0.9:
                out.append(self.report(self.rng.choice(self.reports)))
            else:
                resend = self.studies and self.rng.random() < 0.3
                out.append(self.study(self.rng.choice(self.studies) if resend else None))
        return out


def _index(session: Session) -> list[Row[Any]]:
    """The index without its generated ids, sorted."""
    session.flush()
    cols = [c for c in IndexedResult.__table__.columns if c.name != "id"]
    return sorted(session.execute(select(*cols)).all(), key=tuple)


def _clear(session: Session) -> None:
    session.execute(delete(IndexedResult))
    session.flush()


def test_a_batch_indexes_what_one_by_one_indexes(session: Session) -> None:
    results = Results(seed=7)
    earlier, write = results.write(150), results.write(400)
    twice = {(s.resource_type, s.id) for s in write if not s.created}
    assert len(twice) > 40 and sum(s.resource_type == "DiagnosticReport" for s in write) > 40

    projections.index_results(session, earlier)
    projections.index_results(session, write)
    together = _index(session)

    _clear(session)
    for stored in [*earlier, *write]:
        projections.index_result(session, stored)
    one_by_one = _index(session)

    assert together == one_by_one
    linked = [r for r in together if r.resource_type == "Observation" and r.report_id]
    assert len(linked) > 20 and any(r.hr_marked for r in linked)  # reports linked, some marked HR


def _lab(rid: str, value: float, *, version: int = 1, status: str = "final") -> StoredResource:
    return StoredResource(
        resource_type="Observation",
        id=rid,
        version_id=version,
        last_updated=T0 + timedelta(minutes=version),
        person_id="person0001",
        source_org_id="org1",
        resource={
            "resourceType": "Observation",
            "id": rid,
            "status": status,
            "code": {"coding": [{"system": LOINC, "code": "718-7"}]},
            "subject": {"reference": "Patient/pat0001"},
            "effectiveDateTime": "2026-02-27T08:30:00+08:00",
            "valueQuantity": {"value": value, "unit": "g/L"},
        },
        created=version == 1,
        patient_id="pat0001",
    )


def _panel(rid: str, observations: list[str], *, hr: bool, version: int = 1) -> StoredResource:
    body: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "58410-2"}]},  # not a catalogue item
        "subject": {"reference": "Patient/pat0001"},
        "effectiveDateTime": "2026-02-27T08:30:00+08:00",
        "result": [{"reference": f"Observation/{o}"} for o in observations],
    }
    if hr:
        body["meta"] = {"tag": [{"system": TAG, "code": "HR-test"}]}
    return StoredResource(
        "DiagnosticReport", rid, version, T0, "person0001", "org1", body, version == 1, "pat0001"
    )


def test_within_a_batch_later_versions_and_reports_apply_in_order(session: Session) -> None:
    batch = [
        _lab("a", 130),
        _panel("r1", ["a", "b"], hr=True),  # b is not indexed yet: it stays unlinked
        _lab("b", 140),
        _lab("a", 128, version=2, status="corrected"),  # keeps r1's link and mark
        _lab("c", 150),
        _panel("r2", ["c"], hr=True),
        _panel("r3", ["c"], hr=False),  # the later report wins, mark and all
        _lab("d", 160),
        _panel("r4", ["d"], hr=True),
        _lab("d", 0, version=2, status="entered-in-error"),  # withdrawn: the link goes with it
        _lab("d", 161, version=3, status="corrected"),
    ]
    projections.index_results(session, batch)
    together = _index(session)
    got = {(r.resource_id, r.value): (r.report_id, r.hr_marked) for r in together}
    assert got == {
        ("a", "128"): ("r1", True),
        ("b", "140"): (None, False),
        ("c", "150"): ("r3", False),
        ("d", "161"): (None, False),
    }
    _clear(session)
    for stored in batch:
        projections.index_result(session, stored)
    assert _index(session) == together


def test_a_batch_takes_a_bounded_number_of_statements(session: Session, engine: Engine) -> None:
    results = Results(seed=3)
    projections.index_results(session, results.write(100))  # an earlier write; the code map
    session.commit()
    small, large = results.write(100), results.write(300)
    counts = []
    for batch in (small, large):
        with _counting(engine) as statements:
            projections.index_results(session, batch)
        session.rollback()
        counts.append(len(statements))
    with _counting(engine) as one_by_one:
        for stored in small:
            projections.index_result(session, stored)
    # A lookup and a delete per type, an update and an insert at most, whatever the size.
    assert counts[0] <= 8 and counts[1] <= 8, "\n".join(s[:60] for s in statements)
    assert len(one_by_one) > len(small)


def test_the_projector_takes_a_write_at_once() -> None:
    for kind in projections.INDEXED_TYPES:
        assert projections.index_results in projectors.registered()[kind]
        assert projections.index_result not in projectors.registered()[kind]
