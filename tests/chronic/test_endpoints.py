"""The chronic API: enrolment from the exchange, follow-ups, suggestions, bad input, indicators."""

from __future__ import annotations

import sys
import types
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.chronic.conftest import Headers, bp_obs, ingest_person, quantity_obs, smoking_obs
from yilian.chronic import config, service
from yilian.chronic.models import Enrolment, Followup, ReferralSuggestion
from yilian.registry.models import Organization
from yilian.security.principal import Role


def _doctor(auth_headers: Headers, org: Organization) -> dict[str, str]:
    return auth_headers(Role.doctor, organization_id=org.id, subject="dr-wang")


def _count(session: Session, model: type[Any]) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_person_page_data_shows_enrolment_and_risk_inputs(
    client: TestClient, session: Session, auth_headers: Headers, centre: Organization
) -> None:
    person = ingest_person(
        session,
        centre,
        ("I10",),
        lambda urn: [
            bp_obs(urn, 150, 95, "2026-01-10T09:00:00+08:00"),
            quantity_obs(urn, "14647-2", 5.6, "mmol/L"),
            quantity_obs(urn, "14646-4", 0.9, "mmol/L"),
        ],
    )
    r = client.get(f"/api/v1/chronic/persons/{person}", headers=_doctor(auth_headers, centre))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["programme"] for e in body["enrolments"]] == ["hypertension"]
    assert body["enrolments"][0]["managing_org_id"] == centre.id
    ascvd = next(s for s in body["risk"] if s["name"] == "ascvd")
    # Man of 65+: age factor, HDL <1.0: 2 factors; hypertension; TC 5.2–7.2 → high (chart).
    assert ascvd["inputs"]["hdl"] == 0.9 and ascvd["tier"] == "high"
    # Smoking is unknown, but with or without it the tier is high: the chart says so.
    # China-PAR (the configured model) lacks the waist: the chart decided, and says so.
    assert ascvd["model"] == "chart" and "China-PAR" in ascvd["method"]
    assert set(ascvd["missing"]) == {"smoker", "waist_cm", "family_history_ascvd"}
    cdrs = next(s for s in body["risk"] if s["name"] == "cdrs")
    assert "waist_cm" in cdrs["missing"] and "family_history" in cdrs["missing"]


def test_china_par_from_record_data_the_2019_guidelines_example(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    centre: Organization,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guideline's example patient sent through the exchange: China-PAR gives 4.7%.

    中国心血管病风险评估和管理指南 (2019), 附录: man of 40, northern city, waist 80 cm, TC 5.2,
    HDL-C 1.3 mmol/L, BP 145/80 untreated, no diabetes, non-smoker, family history → 4.7%.
    The family history is not in the record: the API takes it (like the CDRS's).
    """
    today = service.today()
    birth = today.replace(year=today.year - 41) + timedelta(days=1)  # 40 years old today
    person = ingest_person(
        session,
        centre,
        (),
        lambda urn: [
            bp_obs(urn, 145, 80, "2026-01-10T09:00:00+08:00"),
            quantity_obs(urn, "14647-2", 5.2, "mmol/L"),
            quantity_obs(urn, "14646-4", 1.3, "mmol/L"),
            quantity_obs(urn, "8280-0", 80, "cm"),
            smoking_obs(urn, "266919005"),  # never smoked
        ],
        birth=birth.isoformat(),
    )
    monkeypatch.setenv("YILIAN_CHRONIC_CHINA_PAR_NORTH", "true")
    config.get_chronic_settings.cache_clear()
    try:
        url = f"/api/v1/chronic/persons/{person}"
        h = _doctor(auth_headers, centre)
        r = client.get(url, params={"family_history_ascvd": "true"}, headers=h)
        assert r.status_code == 200, r.text
        ascvd = next(s for s in r.json()["risk"] if s["name"] == "ascvd")
        assert (ascvd["model"], ascvd["total"], ascvd["tier"]) == ("china_par", 4.7, "low")
        assert ascvd["missing"] == [] and ascvd["inputs"]["waist_cm"] == 80
        # Without the family history (unknown), the risk is a range and the input missing.
        r = client.get(url, headers=h)
        ascvd = next(s for s in r.json()["risk"] if s["name"] == "ascvd")
        assert ascvd["missing"] == ["family_history_ascvd"] and ascvd["total"] is None
        # Configured to the chart, the same person is scored by the chart.
        monkeypatch.setenv("YILIAN_CHRONIC_ASCVD_MODEL", "chart")
        config.get_chronic_settings.cache_clear()
        ascvd = next(s for s in client.get(url, headers=h).json()["risk"] if s["name"] == "ascvd")
        assert ascvd["model"] == "chart" and ascvd["tier"] == "low"
    finally:
        config.get_chronic_settings.cache_clear()


def test_urgent_reading_opens_a_referral_suggestion_and_schedules_two_weeks(
    client: TestClient, session: Session, auth_headers: Headers, centre: Organization
) -> None:
    """SBP ≥180 is an urgent-referral criterion (高血压患者健康管理服务规范, 第三版)."""
    person = ingest_person(session, centre, ("I10",))
    day = service.today() - timedelta(days=1)
    r = client.post(
        f"/api/v1/chronic/persons/{person}/followups",
        json={"followed_on": day.isoformat(), "sbp": 186, "dbp": 100, "heart_rate": 88},
        headers=_doctor(auth_headers, centre),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    (fu,) = body["followups"]
    assert fu["classification"] == "urgent" and fu["next_kind"] == "urgent"
    assert fu["next_due"] == (day + timedelta(days=14)).isoformat()
    (s,) = body["suggestions"]
    assert s["urgency"] == "urgent" and s["reasons"] == ["sbp_high"] and s["status"] == "open"
    due = service.followups_due(session, person_ids=[person], on=day + timedelta(days=20))
    assert [(d.programme, d.kind, d.overdue_days) for d in due] == [("hypertension", "urgent", 6)]


def test_first_then_second_uncontrolled_reading(
    client: TestClient, session: Session, auth_headers: Headers, centre: Organization
) -> None:
    """First FPG ≥7.0 → re-check in 2 weeks; the second in a row → suggest upward referral."""
    person = ingest_person(session, centre, ("E11.9",))
    h = _doctor(auth_headers, centre)
    d1 = service.today() - timedelta(days=30)
    r1 = client.post(
        f"/api/v1/chronic/persons/{person}/followups",
        json={"followed_on": d1.isoformat(), "glucose": 8.2},
        headers=h,
    )
    assert r1.status_code == 201, r1.text
    assert r1.json()["followups"][0]["classification"] == "first_uncontrolled"
    assert r1.json()["followups"][0]["next_due"] == (d1 + timedelta(days=14)).isoformat()
    assert r1.json()["suggestions"] == []
    r2 = client.post(
        f"/api/v1/chronic/persons/{person}/followups",
        json={"followed_on": (d1 + timedelta(days=14)).isoformat(), "glucose": 7.6},
        headers=h,
    )
    assert r2.json()["followups"][0]["classification"] == "consecutive_uncontrolled"
    assert r2.json()["suggestions"][0]["urgency"] == "upward"


def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    client: TestClient, session: Session, auth_headers: Headers, centre: Organization
) -> None:
    person = ingest_person(session, centre, ("I10", "E11.9"))
    h = _doctor(auth_headers, centre)
    url = f"/api/v1/chronic/persons/{person}/followups"
    today = service.today()
    cases = [
        ({"followed_on": today.isoformat(), "sbp": 400, "dbp": 90}, "sbp"),
        ({"followed_on": today.isoformat(), "glucose": -3}, "glucose"),
        ({"followed_on": (today + timedelta(days=2)).isoformat(), "sbp": 130, "dbp": 80},
         "followed_on"),
        ({"followed_on": today.isoformat(), "sbp": 130}, "dbp"),
        ({"followed_on": today.isoformat(), "sbp": 80, "dbp": 90}, "dbp"),
        ({"followed_on": today.isoformat(), "symptoms": ["hiccups"]}, "symptoms"),
        ({"followed_on": today.isoformat(), "programmes": ["copd"]}, "programmes"),
        ({"followed_on": "not-a-date"}, "body.followed_on"),
    ]  # fmt: skip
    for payload, field in cases:
        r = client.post(url, json=payload, headers=h)
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["detail"][0]["field"] == field, r.text
    assert _count(session, Followup) == 0 and _count(session, ReferralSuggestion) == 0
    # A glucose fit for the diabetes programme but impossible SBP: neither programme is written.
    r = client.post(url, json={"followed_on": today.isoformat(), "glucose": 6, "sbp": 20,
                               "dbp": 10}, headers=h)  # fmt: skip
    assert r.status_code == 422 and _count(session, Followup) == 0


def test_unrelated_doctor_and_wrong_roles_are_refused(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    centre: Organization,
    hospital: Organization,
) -> None:
    person = ingest_person(session, centre, ("I10",))
    today = service.today().isoformat()
    r = client.post(
        f"/api/v1/chronic/persons/{person}/followups",
        json={"followed_on": today, "sbp": 130, "dbp": 80},
        headers=_doctor(auth_headers, hospital),
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/chronic/persons/{person}/followups",
        json={"followed_on": today, "sbp": 130, "dbp": 80},
        headers=auth_headers(Role.insurer, organization_id=centre.id),
    )
    assert r.status_code == 403
    assert _count(session, Followup) == 0
    r = client.get("/api/v1/chronic/persons/nobody", headers=_doctor(auth_headers, centre))
    assert r.status_code == 404


def test_referral_button_keeps_the_suggestion_without_the_referral_domain(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    centre: Organization,
    hospital: Organization,
) -> None:
    person = ingest_person(session, centre, ("I10",))
    h = _doctor(auth_headers, centre)
    r = client.post(
        f"/api/v1/chronic/persons/{person}/followups",
        json={"followed_on": service.today().isoformat(), "sbp": 120, "dbp": 115},
        headers=h,
    )
    (s,) = r.json()["suggestions"]
    r = client.post(
        f"/api/v1/chronic/suggestions/{s['id']}/referral",
        json={"to_organization_id": hospital.id},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    if body["referral_requested"]:
        assert body["suggestion"]["status"] == "requested"
    else:
        assert body["suggestion"]["status"] == "open"
    r = client.post(
        f"/api/v1/chronic/suggestions/{s['id']}/referral",
        json={"to_organization_id": "nope"},
        headers=h,
    )
    assert r.status_code in (404, 422)


def test_dismissing_a_suggestion(
    client: TestClient, session: Session, auth_headers: Headers, centre: Organization
) -> None:
    person = ingest_person(session, centre, ("I10",))
    h = _doctor(auth_headers, centre)
    r = client.post(
        f"/api/v1/chronic/persons/{person}/followups",
        json={"followed_on": service.today().isoformat(), "sbp": 182, "dbp": 90},
        headers=h,
    )
    sid = r.json()["suggestions"][0]["id"]
    r = client.post(f"/api/v1/chronic/suggestions/{sid}/dismiss", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    r = client.post(f"/api/v1/chronic/suggestions/{sid}/dismiss", headers=h)
    assert r.status_code == 422


def test_indicators_by_centre(
    client: TestClient, session: Session, auth_headers: Headers, centre: Organization
) -> None:
    """规范管理率 = ≥4 face-to-face follow-ups in the year; 控制率 = controlled at the last one."""
    h = _doctor(auth_headers, centre)
    year = service.today().year
    a = ingest_person(session, centre, ("I10",))
    b = ingest_person(session, centre, ("I10",))
    ingest_person(session, centre, ("I10",))  # managed, never followed up
    days = [f"{year}-01-0{d}" for d in (2, 3, 4, 5)]
    for d in days:  # a: 4 clinic visits, last controlled
        client.post(f"/api/v1/chronic/persons/{a}/followups",
                    json={"followed_on": d, "sbp": 132, "dbp": 82}, headers=h)  # fmt: skip
    for d, mode in zip(days, ("clinic", "phone", "clinic", "clinic"), strict=True):
        client.post(f"/api/v1/chronic/persons/{b}/followups",
                    json={"followed_on": d, "sbp": 150, "dbp": 82, "mode": mode},
                    headers=h)  # fmt: skip
    r = client.get(
        "/api/v1/chronic/indicators",
        params={"programme": "hypertension", "year": year},
        headers=auth_headers(Role.commission),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    (row,) = body["rows"]
    assert row["group_name"] == centre.name
    assert (row["managed"], row["standard"], row["controlled"]) == (3, 1, 1)
    assert row["standard_rate"] == 33.3 and row["control_rate"] == 33.3
    assert body["total"]["managed"] == 3
    r = client.get(
        "/api/v1/chronic/indicators",
        params={"programme": "nothing"},
        headers=auth_headers(Role.commission),
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "programme"
    r = client.get(
        "/api/v1/chronic/indicators",
        params={"group_by": "street", "year": year},
        headers=auth_headers(Role.commission),
    )
    assert r.status_code == 200 and r.json()["total"]["managed"] == 3
    _ = Enrolment


def test_indicators_by_team_through_the_familydoctor_interface(
    session: Session, centre: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Teams come from familydoctor.service.teams_of_persons (faked here: only its interface).

    tests/familydoctor/test_team_grouping.py checks the real one against active_contract.
    """
    a = ingest_person(session, centre, ("I10",))
    b = ingest_person(session, centre, ("I10",))
    fake = types.ModuleType("yilian.familydoctor.service")
    contracts = {a: ("t1", "仙霞1队")}
    calls: list[set[str]] = []

    def teams_of_persons(_s: Session, person_ids: set[str]) -> dict[str, tuple[str, str]]:
        calls.append(set(person_ids))
        return {p: contracts[p] for p in person_ids if p in contracts}

    fake.teams_of_persons = teams_of_persons  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "yilian.familydoctor.service", fake)
    rows, total = service.indicators(
        session, programme="hypertension", year=service.today().year, group_by="team"
    )
    assert sorted((r.group_name, r.managed) for r in rows) == sorted([("仙霞1队", 1), ("—", 1)])
    assert total.managed == 2 and b not in contracts
    assert calls == [{a, b}]  # one call for all the persons, not one per person
