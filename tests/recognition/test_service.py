"""The check before ordering, the clinician's decisions and the statistics, on stored results.

Rules: 国卫医发〔2022〕6号 (domain primary-care-rules §5): a recognisable result must not be
repeated unless one of six reasons applies, the physician deciding and recording why.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.recognition.conftest import (
    Zone,
    bundle,
    doctor,
    ingest,
    lab,
    new_idcard,
    person_of,
    report,
    treat,
)
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.patients import service as patients
from yilian.recognition import service
from yilian.recognition.models import Check, CheckItem
from yilian.recognition.schemas import DecisionIn, ItemUpdate, ParticipantIn

NOW = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _person(session: Session, zone: Zone, *resources: dict, org=None) -> str:  # type: ignore[no-untyped-def]
    out = ingest(session, org or zone.hospital, bundle(new_idcard(), *resources))
    person = person_of(session, out)
    treat(session, person, zone.centre)
    return person


def _by_code(result) -> dict:  # type: ignore[no-untyped-def]
    return {i.requested: i for i in result.items}


def test_a_recent_result_from_a_catalogue_institution_is_reused(
    session: Session, zone: Zone
) -> None:
    person = _person(
        session,
        zone,
        lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-07T08:00:00+08:00"),  # 3 days: ≤ 7
        lab("urn:uuid:p", "14771-0", 5.4, "mmol/L", "2026-10-01T08:00:00+08:00"),  # 40 days: > 30
        report("urn:uuid:p", "24627-2", "2026-11-01T08:00:00+08:00", category="RAD",
               conclusion="未见异常"),
    )  # fmt: skip
    out = service.check(
        session, doctor(zone.centre), person, ["HGB", "14771-0", "胸部CT", "PT", "CEA"], now=NOW
    )
    items = _by_code(out)
    hgb = items["HGB"]
    assert hgb.verdict == "reuse" and hgb.reason is None
    assert hgb.result is not None and hgb.result.value == "132" and hgb.result.unit == "g/L"
    assert hgb.result.institution.name == "青浦区中心医院" and hgb.result.age_days == 3
    assert hgb.validity_days == 7 and hgb.reference_price == 5.0
    glu = items["14771-0"]
    assert (glu.verdict, glu.reason, glu.item_code) == ("order", "expired", "GLU")
    assert glu.candidates[0].explanation and "30-day" in glu.candidates[0].explanation
    ct = items["胸部CT"]
    assert (ct.verdict, ct.item_code, ct.result.value) == ("reuse", "CT_CHEST", "未见异常")  # type: ignore[union-attr]
    assert (items["PT"].verdict, items["PT"].reason) == ("order", "not-in-catalogue")
    assert (items["CEA"].verdict, items["CEA"].reason) == ("order", "no-result")
    session.commit()
    stored = session.get(Check, out.id)
    assert stored is not None and stored.month == "2026-11"
    assert (stored.items_total, stored.items_recognisable) == (5, 2)


def test_a_result_from_an_institution_outside_the_catalogue_is_not_recognised(
    session: Session, zone: Zone
) -> None:
    person = _person(
        session, zone, lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-08"), org=zone.outsider
    )
    out = service.check(session, doctor(zone.centre), person, ["HGB"], now=NOW)
    (item,) = out.items
    assert (item.verdict, item.reason) == ("order", "institution-not-eligible")
    assert item.candidates[0].problem == "not-participant"
    assert "non-eligible institution" in (item.candidates[0].explanation or "")


def test_quality_control_and_minimum_level_decide_eligibility(session: Session, zone: Zone) -> None:
    person = _person(session, zone, lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-08"))
    service.put_participant(
        session, None, zone.catalogue, ParticipantIn(organization_id=zone.hospital.id,
                                                     qc_status="failed")
    )  # fmt: skip
    (item,) = service.check(session, doctor(zone.centre), person, ["HGB"], now=NOW).items
    assert (item.reason, item.candidates[0].problem) == (
        "institution-not-eligible",
        "qc-not-passed",
    )
    service.put_participant(
        session, None, zone.catalogue, ParticipantIn(organization_id=zone.hospital.id,
                                                     qc_status="passed")
    )  # fmt: skip
    service.update_item(session, None, zone.catalogue, "HGB", ItemUpdate(min_level="三级"))
    (item,) = service.check(session, doctor(zone.centre), person, ["HGB"], now=NOW).items
    assert item.candidates[0].problem == "level-below-minimum"
    service.update_item(session, None, zone.catalogue, "HGB", ItemUpdate(min_level="二级"))
    (item,) = service.check(session, doctor(zone.centre), person, ["HGB"], now=NOW).items
    assert item.verdict == "reuse"


def test_the_check_follows_a_merge_of_persons(session: Session, zone: Zone) -> None:
    first = _person(session, zone, lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-08"))
    second = _person(session, zone, lab("urn:uuid:p", "4548-4", 6.1, "%", "2026-10-01"))
    patients.merge(session, None, second, into=first, reason="同一人")
    session.commit()
    # Checking the merged-away id reaches the survivor's records, both of them.
    out = service.check(session, doctor(zone.centre), second, ["HGB", "HBA1C"], now=NOW)
    assert out.person_id == first
    assert [i.verdict for i in out.items] == ["reuse", "reuse"]


def test_the_check_needs_access_to_the_person(session: Session, zone: Zone) -> None:
    out = ingest(session, zone.hospital, bundle(new_idcard(), lab("urn:uuid:p", "718-7", 1, "g/L",
                                                                  "2026-11-08")))  # fmt: skip
    person = person_of(session, out)
    with pytest.raises(Forbidden):
        service.check(session, doctor(zone.centre), person, ["HGB"], now=NOW)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Check)) == 0
    with pytest.raises(NotFound):
        service.check(session, doctor(zone.centre), "no-such-person", ["HGB"], now=NOW)


def test_an_institution_outside_every_catalogue_cannot_check(session: Session, zone: Zone) -> None:
    person = _person(session, zone, lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-08"))
    treat(session, person, zone.outsider)
    with pytest.raises(Unprocessable, match="no recognition catalogue"):
        service.check(session, doctor(zone.outsider), person, ["HGB"], now=NOW)


def _decide(session: Session, zone: Zone, check_id: str, *decisions: DecisionIn) -> list:  # type: ignore[type-arg]
    return service.decide(session, doctor(zone.centre), check_id, decisions, now=NOW)


def test_decisions_are_recorded_with_the_retest_reason(session: Session, zone: Zone) -> None:
    person = _person(
        session,
        zone,
        lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-08"),
        lab("urn:uuid:p", "6690-2", 6.1, "10*9/L", "2026-11-08"),
        lab("urn:uuid:p", "777-3", 210, "10*9/L", "2026-11-08"),
    )
    out = service.check(session, doctor(zone.centre), person, ["HGB", "WBC", "PLT", "CEA"], now=NOW)
    with pytest.raises(Unprocessable, match="needs a reason"):
        _decide(session, zone, out.id, DecisionIn(requested="WBC", decision="reordered"))
    with pytest.raises(Unprocessable, match="needs a note"):
        _decide(session, zone, out.id, DecisionIn(requested="WBC", decision="reordered",
                                                  retest_reason="other"))  # fmt: skip
    done = _decide(
        session,
        zone,
        out.id,
        DecisionIn(requested="HGB", decision="reused"),
        DecisionIn(requested="WBC", decision="reordered", retest_reason="condition-changed",
                   note="发热加重"),
        DecisionIn(requested="PLT", decision="reordered",
                   retest_reason="pre-surgery-or-transfusion"),
        DecisionIn(requested="CEA", decision="reordered"),
    )  # fmt: skip
    assert [(d.decision, d.saved) for d in done] == [
        ("reused", 5.0), ("reordered", 0.0), ("reordered", 0.0), ("reordered", 0.0)
    ]  # fmt: skip
    session.commit()
    rows = {i.requested: i for i in session.scalars(select(CheckItem))}
    assert rows["WBC"].retest_reason == "condition-changed" and rows["WBC"].note == "发热加重"
    assert rows["HGB"].decision == "reused" and rows["HGB"].decided_by == "dr-wang"
    with pytest.raises(Conflict):
        _decide(session, zone, out.id, DecisionIn(requested="HGB", decision="reordered",
                                                  retest_reason="emergency"))  # fmt: skip


def test_recognising_a_non_eligible_result_is_refused_and_nothing_is_written(
    session: Session, zone: Zone
) -> None:
    person = _person(session, zone, lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-08"),
                     org=zone.outsider)  # fmt: skip
    ingest(session, zone.hospital, bundle(new_idcard(), lab("urn:uuid:p", "14771-0", 5, "mmol/L",
                                                            "2026-11-08")))  # fmt: skip
    out = service.check(session, doctor(zone.centre), person, ["HGB", "GLU"], now=NOW)
    session.commit()
    outsider_result = out.items[0].candidates[0].id
    with pytest.raises(Unprocessable, match="non-eligible institution") as exc:
        _decide(
            session,
            zone,
            out.id,
            DecisionIn(requested="GLU", decision="reordered"),  # valid on its own
            DecisionIn(requested="HGB", decision="reused", result_id=outsider_result),
        )
    assert exc.value.detail[0]["field"] == "decisions[1]"
    session.rollback()
    assert all(i.decision is None for i in session.scalars(select(CheckItem)))
    # Someone else's result cannot be slipped in either.
    with pytest.raises(Unprocessable, match="not a HGB result of this person"):
        _decide(session, zone, out.id, DecisionIn(requested="HGB", decision="reused",
                                                  result_id="0" * 32))  # fmt: skip


def test_another_institution_cannot_decide_on_a_check(session: Session, zone: Zone) -> None:
    person = _person(session, zone, lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-08"))
    out = service.check(session, doctor(zone.centre), person, ["HGB"], now=NOW)
    with pytest.raises(Forbidden):
        service.decide(session, doctor(zone.hospital), out.id,
                       [DecisionIn(requested="HGB", decision="reused")], now=NOW)  # fmt: skip


def test_statistics_count_person_visits_items_and_money(session: Session, zone: Zone) -> None:
    """Two visits with recognisable items, one reuses (50% by person-visits); 3 recognisable
    items, 2 reused (66.67% by items); saved 5 + 5 元."""
    a = _person(session, zone, lab("urn:uuid:p", "718-7", 132, "g/L", "2026-11-08"),
                lab("urn:uuid:p", "6690-2", 6, "10*9/L", "2026-11-08"))  # fmt: skip
    b = _person(session, zone, lab("urn:uuid:p", "777-3", 200, "10*9/L", "2026-11-08"))
    c = _person(session, zone)
    one = service.check(session, doctor(zone.centre), a, ["HGB", "WBC", "CEA"], now=NOW)
    two = service.check(session, doctor(zone.centre), b, ["PLT"], now=NOW)
    service.check(session, doctor(zone.centre), c, ["HGB"], now=NOW)
    _decide(session, zone, one.id, DecisionIn(requested="HGB", decision="reused"),
            DecisionIn(requested="WBC", decision="reused"))  # fmt: skip
    _decide(session, zone, two.id, DecisionIn(requested="PLT", decision="reordered",
                                              retest_reason="emergency"))  # fmt: skip
    session.commit()
    stats = service.statistics(session, by="institution")
    (row,) = stats.rows
    assert row.label == "夏阳街道社区卫生服务中心"
    assert (row.checks, row.checks_recognisable, row.checks_reused) == (3, 2, 1)
    assert (row.person_visit_rate, row.item_rate) == (50.0, 66.67)
    assert (row.items_checked, row.items_recognisable, row.items_reused) == (5, 3, 2)
    assert (row.avoided_tests, row.money_saved) == (2, 10.0)
    assert stats.total.checks == 3 and stats.reference_person_visit_rate == 79.07
    by_month = service.statistics(session, by="month")
    assert [r.key for r in by_month.rows] == ["2026-11"]
    by_region = service.statistics(session, by="region", region_id=zone.region.id)
    assert [r.label for r in by_region.rows] == ["青浦区"]
    assert service.statistics(session, by="month", since="2026-12").rows == []
    with pytest.raises(Unprocessable):
        service.statistics(session, by="weekday")
