"""Enrolment from diagnoses arriving through the exchange; the interfaces familydoctor calls."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.chronic.conftest import condition, ingest_person
from tests.records.conftest import entry, transaction
from yilian.chronic import config, service
from yilian.chronic.models import Enrolment
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry.models import Organization
from yilian.security.principal import Principal, Role


def _enrolments(session: Session, person_id: str) -> list[tuple[str, str | None, date]]:
    session.expire_all()
    rows = session.scalars(select(Enrolment).where(Enrolment.person_id == person_id))
    return sorted((e.programme, e.condition_code, e.enrolled_on) for e in rows)


def test_synthetic_codes_enrol_once_and_chd_does_not(
    session: Session, centre: Organization
) -> None:
    person = ingest_person(session, centre, ("I10", "E11.9", "I25.1"))
    assert [(p, c) for p, c, _ in _enrolments(session, person)] == [
        ("diabetes", "E11.9"),
        ("hypertension", "I10"),
    ]
    assert _enrolments(session, person)[0][2] == date(2025, 3, 1)  # the Condition's recordedDate
    # The same diagnosis again (another visit, another institution): no second enrolment.
    his = Principal(subject="his", name="HIS", role=Role.system, organization_id=centre.id)
    patient_id = patients.record_ids_of(session, person)[0]
    records.ingest_bundle(
        session, his, transaction(entry(condition(f"Patient/{patient_id}", "I11.9")))
    )
    session.commit()
    assert len(_enrolments(session, person)) == 2
    assert service.backfill_enrolments(session) == 0  # the projector already ran


def test_refuted_or_resolved_diagnoses_do_not_enrol(session: Session, centre: Organization) -> None:
    def extra(urn: str) -> list[dict[str, Any]]:
        refuted = {"coding": [{"code": "refuted"}]}
        resolved = {"coding": [{"code": "resolved"}]}
        return [
            condition(urn, "I10", verificationStatus=refuted),
            condition(urn, "E11.9", clinicalStatus=resolved),
        ]

    person = ingest_person(session, centre, (), extra)
    assert _enrolments(session, person) == []


def test_copd_is_added_by_configuration(
    session: Session, centre: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A region adds COPD through YILIAN_CHRONIC_PROGRAMMES, without code."""
    payload = config.ChronicSettings().model_dump_json(include={"programmes"})
    programmes = config.ChronicSettings.model_validate_json(payload).programmes
    programmes.append(config.COPD_EXAMPLE)
    monkeypatch.setenv(
        "YILIAN_CHRONIC_PROGRAMMES", "[" + ",".join(p.model_dump_json() for p in programmes) + "]"
    )
    config.get_chronic_settings.cache_clear()
    try:
        assert [p.key for p in service.programmes()] == ["hypertension", "diabetes", "copd"]
        person = ingest_person(session, centre, ("J44.9",))
        assert [p for p, _, _ in _enrolments(session, person)] == ["copd"]
    finally:
        monkeypatch.delenv("YILIAN_CHRONIC_PROGRAMMES")
        config.get_chronic_settings.cache_clear()


def test_followups_due_and_enrolled_programmes(session: Session, centre: Organization) -> None:
    """One set-based query each; persons in no programme are left out."""
    a = ingest_person(session, centre, ("I10", "E11.9"))
    b = ingest_person(session, centre, ("I10",))
    c = ingest_person(session, centre, ("I25.1",))
    assert service.enrolled_programmes(session, [a, b, c]) == {
        a: {"hypertension", "diabetes"},
        b: {"hypertension"},
    }
    on = date(2025, 3, 11)
    due = service.followups_due(session, person_ids=[a, b, c], on=on)
    assert sorted((d.person_id, d.programme, d.kind, d.overdue_days) for d in due) == sorted(
        [(a, "hypertension", "routine", 10), (a, "diabetes", "routine", 10),
         (b, "hypertension", "routine", 10)]
    )  # fmt: skip
    assert service.followups_due(session, person_ids=[b], on=date(2025, 2, 28)) == []
    ahead = service.followups_due(session, person_ids=[b], on=date(2025, 2, 28), within_days=1)
    assert [d.due_date for d in ahead] == [date(2025, 3, 1)] and ahead[0].overdue_days == 0
    everyone = service.followups_due(session, person_ids=None, on=on + timedelta(days=1))
    assert {d.person_id for d in everyone} == {a, b}
