"""Sources, daily series, runs and signals of 预警监测, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.surveillance.conftest import CDC, DAY0, Area, fill
from yilian.audit.models import AuditEntry
from yilian.kit.errors import Conflict, Forbidden, Unprocessable
from yilian.security.principal import Principal, Role
from yilian.surveillance import service
from yilian.surveillance.models import (
    CaseFact,
    ClusterReport,
    Daily,
    DetectorResult,
    PublicReport,
    SentinelReport,
    Series,
    Signal,
)

BASE = [3, 4, 3, 5, 4, 3, 4, 3, 4, 5, 3, 4, 4, 3, 4, 3, 5, 4]  # 18 quiet days


def _daily(session: Session, key: str, day: date) -> float | None:
    return session.scalar(
        select(Daily.count)
        .join(Series, Series.id == Daily.series_id)
        .where(Series.key == key, Daily.day == day)
    )


def test_later_report_replaces_earlier_with_audit(session: Session, area: Area) -> None:
    fill(session, "SITEA", [7])
    out = service.submit_sentinel_report(
        session, CDC, site="SITEA", syndrome="ili", age_group="0-4", day=DAY0, count=4
    )
    session.commit()
    assert not out.created and out.previous == 7 and out.report.revision == 2
    assert session.scalar(select(func.count()).select_from(SentinelReport)) == 1
    # The site's age group, its total, the street and the district all hold 4, not 11.
    for key in (
        "sentinel:ili:310105004:SITEA:0-4",
        "sentinel:ili:310105004:SITEA:all",
        "sentinel:ili:310105004:all:all",
        "sentinel:ili:310105:all:all",
    ):
        assert _daily(session, key, DAY0) == 4, key
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.resource_id == out.report.id)
    ).all()
    assert sorted(actions) == ["surveillance.report.create", "surveillance.report.replace"]


def test_street_rollup_sums_sites(session: Session, area: Area) -> None:
    fill(session, "SITEA", [2, 3])
    fill(session, "SITEB", [5, 1])
    fill(session, "SITEB", [6], age="60+")
    assert _daily(session, "sentinel:ili:310105004:all:all", DAY0) == 13
    assert _daily(session, "sentinel:ili:310105004:all:all", DAY0 + timedelta(days=1)) == 4


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"count": -1}, "count"),
        ({"day": date.today() + timedelta(days=3)}, "day"),
        ({"syndrome": "zombie"}, "syndrome"),
        ({"age_group": "99+"}, "age_group"),
        ({"site": "NOPE"}, "site"),
    ],
)
def test_bad_reports_are_refused_and_nothing_is_written(
    session: Session, area: Area, change: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {
        "site": "SITEA", "syndrome": "ili", "age_group": "0-4", "day": DAY0, "count": 3,
    }  # fmt: skip
    with pytest.raises(Unprocessable) as err:
        service.submit_sentinel_report(session, CDC, **(args | change))
    assert err.value.detail[0]["field"] == field
    assert session.scalar(select(func.count()).select_from(SentinelReport)) == 0
    assert session.scalar(select(func.count()).select_from(Daily)) == 0


def test_a_site_reports_only_for_itself(session: Session, area: Area) -> None:
    his = Principal("his-b", "HIS B", Role.system, area.site_b.id, "client")
    with pytest.raises(Forbidden):
        service.submit_sentinel_report(
            session, his, site="SITEA", syndrome="ili", age_group="0-4", day=DAY0, count=1
        )


def _signals(session: Session) -> list[tuple[str, str]]:
    return sorted(session.execute(select(Signal.key, Signal.status)).tuples().all())


def _results(session: Session) -> list[tuple[Any, ...]]:
    return sorted(
        session.execute(
            select(
                DetectorResult.series_id, DetectorResult.method, DetectorResult.day,
                DetectorResult.expected, DetectorResult.upper, DetectorResult.alarm,
                DetectorResult.status,
            )
        ).tuples().all()
    )  # fmt: skip


def test_run_raises_a_signal_for_a_persistent_rise_and_rerun_changes_nothing(
    session: Session, area: Area
) -> None:
    """Real EARS detectors: 18 quiet days then 20, 25 cases → alarms on two days in a row."""
    last = fill(session, "SITEA", [*BASE, 20, 25])
    fill(session, "SITEB", BASE)
    service.run(session, last - timedelta(days=1))
    service.run(session, last)
    session.commit()
    signals = _signals(session)
    keys = [k for k, _ in signals]
    assert any(k.startswith("persistent:sentinel:ili:310105004:SITEA:") for k in keys)
    assert not any("SITEB" in k for k in keys)
    results = _results(session)
    service.run(session, last)
    service.run(session, last)
    session.commit()
    assert _signals(session) == signals
    assert _results(session) == results
    sig = session.scalars(select(Signal).where(Signal.rule == "persistent")).one()
    assert sig.level == "yellow" and sig.last_day == last
    assert "sentinel:ili:310105004:SITEA:0-4" in sig.evidence[last.isoformat()]["series"]


def test_two_sites_in_one_street_trigger_the_multi_site_rule(session: Session, area: Area) -> None:
    last = fill(session, "SITEA", [*BASE, 20])
    fill(session, "SITEB", [*BASE, 22])
    service.run(session, last)
    session.commit()
    multi = session.scalars(select(Signal).where(Signal.rule == "multi_site")).all()
    assert {s.subject for s in multi} >= {"sentinel:ili:street:310105004"}
    street = next(s for s in multi if s.subject.endswith("310105004"))
    assert street.level == "orange" and street.evidence[last.isoformat()]["sites"] == [
        "SITEA", "SITEB",
    ]  # fmt: skip


def test_too_little_history_is_insufficient_baseline_not_an_alarm(
    session: Session, area: Area
) -> None:
    last = fill(session, "SITEA", [1, 2, 40])
    out = service.run(session, last)
    session.commit()
    statuses = session.scalars(
        select(DetectorResult.status).where(DetectorResult.day == last)
    ).all()
    assert statuses and set(statuses) == {"insufficient_baseline"}
    assert out.alarms == 0 and _signals(session) == []


def test_corrected_data_retracts_a_new_signal_on_rerun(session: Session, area: Area) -> None:
    last = fill(session, "SITEA", [*BASE, 20, 25])
    service.run(session, last)
    assert _signals(session)
    fill(session, "SITEA", [4, 3], start=last - timedelta(days=1))
    service.run(session, last)
    session.commit()
    assert [k for k, _ in _signals(session) if k.startswith("persistent")] == []


def test_run_refuses_a_future_day(session: Session) -> None:
    with pytest.raises(Unprocessable):
        service.run(session, service.today() + timedelta(days=1))


def test_pipeline_with_an_injected_detector(session: Session, area: Area) -> None:
    """The pipeline without the real detectors: a fake that alarms on counts ≥ 10."""
    from yilian.surveillance.detectors import Result

    def fake(method: str, points: Any, params: Any = None, *, evaluate: Any = None) -> list[Any]:
        wanted = set(evaluate or [p.day for p in points])
        return [
            Result(p.day, p.count, 1.0, 9.0, p.count >= 10, "ok", p.count - 9)
            for p in points
            if p.day in wanted
        ]

    last = fill(session, "SITEA", [1, 12, 11])
    out = service.run(session, last, detect=fake)
    assert out.alarms > 0
    assert any(k.startswith("persistent:sentinel:ili:310105004:SITEA") for k in out.signals)


def _condition(code: str, recorded: str = "2024-03-05T10:00:00+08:00") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]},
        "recordedDate": recorded,
    }


def test_notifiable_condition_counts_once(session: Session, area: Area) -> None:
    assert service.project_condition(session, "c1", _condition("A38"), area.site_a.id)
    assert not service.project_condition(session, "c1", _condition("A38"), area.site_a.id)
    assert not service.project_condition(session, "c2", _condition("I10"), area.site_a.id)
    assert _daily(session, "case:scarlet_fever:310105004:all:all", date(2024, 3, 5)) == 1
    assert _daily(session, "case:scarlet_fever:310105:all:all", date(2024, 3, 5)) == 1
    assert session.scalar(select(func.count()).select_from(CaseFact)) == 1


def test_cholera_case_is_an_immediate_red_signal(session: Session, area: Area) -> None:
    service.project_condition(session, "c9", _condition("A00.1"), area.site_a.id)
    service.run(session, date(2024, 3, 5))
    sig = session.scalars(select(Signal).where(Signal.rule == "immediate")).one()
    assert sig.level == "red" and sig.topic == "cholera"


def test_pathogen_tests_make_a_positivity_series(session: Session, area: Area) -> None:
    def obs(positive: bool) -> dict[str, Any]:
        code = "10828004" if positive else "260385009"
        return {
            "resourceType": "Observation",
            "code": {"coding": [{"system": "http://loinc.org", "code": "92142-9"}]},
            "effectiveDateTime": "2024-03-05T09:00:00+08:00",
            "valueCodeableConcept": {
                "coding": [{"system": "http://snomed.info/sct", "code": code}]
            },
        }

    for n, pos in enumerate([True, False, False, True]):
        service.project_observation(session, f"o{n}", obs(pos), area.site_a.id)
    row = session.execute(
        select(Daily.count, Daily.total).join(Series).where(
            Series.key == "lab:92142-9:310105004:all:all"
        )
    ).one()  # fmt: skip
    assert tuple(row) == (2.0, 4.0)


def test_school_cluster_rule(session: Session, area: Area) -> None:
    for n, cases in enumerate([1, 2, 2]):
        service.submit_cluster_report(
            session, CDC, setting_kind="school", setting_name="新华小学", area_code="310105004",
            syndrome="ili", day=DAY0 + timedelta(days=n), cases=cases, absent=None,
        )  # fmt: skip
    service.run(session, DAY0 + timedelta(days=1))
    assert session.scalar(select(func.count()).select_from(Signal)) == 0  # 3 in 2 days
    service.run(session, DAY0 + timedelta(days=2))
    sig = session.scalars(select(Signal).where(Signal.rule == "cluster")).one()
    assert sig.evidence[(DAY0 + timedelta(days=2)).isoformat()]["cases_window"] == 5


def test_lifecycle_confirm_team_tasks_close(session: Session, area: Area) -> None:
    last = fill(session, "SITEA", [*BASE, 20, 25])
    service.run(session, last)
    sig = session.scalars(select(Signal).where(Signal.rule == "persistent")).one()
    with pytest.raises(Unprocessable):
        service.dismiss_signal(session, CDC, sig.id, "  ")
    service.verify_signal(session, CDC, sig.id)
    ev = service.confirm_signal(session, CDC, sig.id, "新华社区流感样病例聚集")
    with pytest.raises(Conflict):
        service.dismiss_signal(session, CDC, sig.id, "too late")
    service.assign_team(session, CDC, ev.id, organization_id=area.cdc_org.code)
    task = service.add_task(session, CDC, ev.id, title="流行病学调查", assignee="张医生")
    service.complete_task(session, CDC, ev.id, task.id)
    with pytest.raises(Unprocessable):
        service.close_event(session, CDC, ev.id, "")
    service.close_event(session, CDC, ev.id, "经核实为流感聚集，已处置")
    session.commit()
    assert sig.status == "closed" and ev.status == "closed" and ev.team_org_id == area.cdc_org.id
    detail = service.event_detail(session, ev.id)
    kinds = [e.kind for e in detail["timeline"]]
    assert kinds == ["raised", "verifying", "confirmed", "team", "task", "task_done", "closed"]
    audited = session.scalars(
        select(AuditEntry.action).where(AuditEntry.action.like("surveillance.%"))
    ).all()
    for action in ("signal.verify", "signal.confirm", "event.assign", "event.close"):
        assert f"surveillance.{action}" in audited


def test_a_report_dated_in_the_future_is_not_counted_on_that_day(
    session: Session, area: Area
) -> None:
    """A notifiable-disease card whose onset lies in the future (a typing error) is counted
    on its recorded day instead; with no possible date at all it is not counted."""
    ahead = (service.today() + timedelta(days=30)).isoformat()
    typo = {**_condition("A38"), "onsetDateTime": ahead}
    assert service.project_condition(session, "c1", typo, area.site_a.id)
    assert _daily(session, "case:scarlet_fever:310105004:all:all", date(2024, 3, 5)) == 1
    both = {**_condition("A38", recorded=ahead), "onsetDateTime": ahead}
    assert not service.project_condition(session, "c2", both, area.site_a.id)
    old = _condition("A38", recorded="1066-10-14")
    assert not service.project_condition(session, "c3", old, area.site_a.id)
    assert session.scalar(select(func.count()).select_from(CaseFact)) == 1
    assert (
        session.scalar(select(func.count()).select_from(Daily).where(Daily.day > service.today()))
        == 0
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cases": -2}, "cases"),
        ({"absent": -1}, "cases"),
        ({"day": date.today() + timedelta(days=3)}, "day"),
        ({"syndrome": "zombie"}, "syndrome"),
        ({"area_code": "999999"}, "area_code"),
    ],
)
def test_bad_cluster_reports_are_refused_and_nothing_is_written(
    session: Session, area: Area, change: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {
        "setting_kind": "school", "setting_name": "新华小学", "area_code": "310105004",
        "syndrome": "ili", "day": DAY0, "cases": 3, "absent": 10,
    }  # fmt: skip
    with pytest.raises(Unprocessable) as err:
        service.submit_cluster_report(session, CDC, **(args | change))
    assert err.value.detail[0]["field"] == field
    assert session.scalar(select(func.count()).select_from(ClusterReport)) == 0
    assert session.scalar(select(func.count()).select_from(Daily)) == 0


def test_later_cluster_report_replaces_earlier_with_audit(session: Session, area: Area) -> None:
    args: dict[str, Any] = {
        "setting_kind": "school", "setting_name": "新华小学", "area_code": "310105004",
        "syndrome": "ili", "day": DAY0, "absent": None,
    }  # fmt: skip
    first, created = service.submit_cluster_report(session, CDC, cases=4, **args)
    again, created_again = service.submit_cluster_report(session, CDC, cases=2, **args)
    session.commit()  # audit entries are written at the commit
    assert created and not created_again and again.id == first.id
    assert _daily(session, "cluster:ili:310105004:all:all", DAY0) == 2  # replaced, not 6
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.resource_id == first.id)
    ).all()
    assert sorted(actions) == ["surveillance.cluster.create", "surveillance.cluster.replace"]


def test_public_report_dated_in_the_future_is_refused(session: Session, area: Area) -> None:
    with pytest.raises(Unprocessable) as err:
        service.submit_public_report(
            session, CDC, channel="media", title="发热", text="网络报道", area_code="310105004",
            topic=None, day=service.today() + timedelta(days=3),
        )  # fmt: skip
    assert err.value.detail[0]["field"] == "day"
    assert session.scalar(select(func.count()).select_from(PublicReport)) == 0
