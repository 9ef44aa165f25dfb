"""The pure rules of 预警监测: series alarms, multi-point triggers, clusters, lifecycle."""

from __future__ import annotations

from datetime import date, timedelta

from yilian.surveillance import rules

D = date(2024, 11, 10)


def _s(site: str, street: str | None, age: str = "all", leaf: bool = True) -> rules.SeriesInfo:
    area = street or "310105"
    key = rules.series_key("sentinel", "ili", area, site, age)
    return rules.SeriesInfo(key, "sentinel", "ili", area, street, "310105", site, age, leaf)


def test_series_alarm_needs_min_methods_or_all_of_fewer() -> None:
    assert not rules.series_alarm({"ears_c1": True, "ears_c2": False, "ears_c3": False}, 2)
    assert rules.series_alarm({"ears_c1": True, "ears_c2": False, "ears_c3": True}, 2)
    assert rules.series_alarm({"positivity": True}, 2)  # one method: its own verdict
    assert not rules.series_alarm({}, 1)


def test_persistent_folds_age_groups_and_needs_two_of_three_days() -> None:
    a0, aall = _s("A", "S1", "0-4"), _s("A", "S1")
    days = {a0.key: {D, D - timedelta(days=2)}, aall.key: {D}}
    out = rules.persistent([a0, aall], days, D, persist_days=2, window=3, names={"A": "甲中心"})
    assert [c.subject for c in out] == ["sentinel:ili:S1:A"]
    assert out[0].evidence["series"] == [a0.key] and out[0].title.startswith("甲中心")
    assert rules.persistent([aall], {aall.key: {D}}, D, persist_days=2, window=3, names={}) == []
    # Not raised on a day the series does not alarm, even after two alarming days.
    y = {a0.key: {D - timedelta(days=1), D - timedelta(days=2)}}
    assert rules.persistent([a0], y, D, persist_days=2, window=3, names={}) == []


def test_multi_site_in_a_street_and_a_district() -> None:
    a, b, c = _s("A", "S1"), _s("B", "S1"), _s("C", "S2")
    days = {a.key: {D - timedelta(days=2)}, b.key: {D}, c.key: {D}}
    out = rules.multi_site(
        [a, b, c], days, D, min_sites={"street": 2, "district": 3}, window=3, names={}
    )
    assert {o.subject: o.evidence["sites"] for o in out} == {
        "sentinel:ili:district:310105": ["A", "B", "C"],
        "sentinel:ili:street:S1": ["A", "B"],
    }
    # Outside the 3-day window, A no longer counts.
    late = rules.multi_site(
        [a, b], days, D + timedelta(days=1), min_sites={"street": 2}, window=3, names={}
    )
    assert late == []


def test_cluster_rule_follows_the_school_reporting_norm() -> None:
    """《学校和托幼机构传染病疫情报告工作规范（试行）》: 3 cases in a day, or 5 within 3 days."""

    def cc(day: date, n: int) -> rules.ClusterCount:
        return rules.ClusterCount("school:1:小学", "小学", "S1", "ili", day, n)

    kw = {"day_cases": 3, "window_cases": 5, "window_days": 3, "names": {}}
    assert len(rules.clusters([cc(D, 3)], D, **kw)) == 1  # type: ignore[arg-type]
    assert rules.clusters([cc(D, 2)], D, **kw) == []  # type: ignore[arg-type]
    three_days = [cc(D - timedelta(days=2), 2), cc(D - timedelta(days=1), 1), cc(D, 2)]
    assert len(rules.clusters(three_days, D, **kw)) == 1  # type: ignore[arg-type]
    four_days = [cc(D - timedelta(days=3), 2), cc(D - timedelta(days=1), 1), cc(D, 2)]
    assert rules.clusters(four_days, D, **kw) == []  # type: ignore[arg-type]


def test_lifecycle_transitions() -> None:
    assert rules.can_transition("new", "verifying")
    assert rules.can_transition("verifying", "confirmed")
    assert rules.can_transition("confirmed", "responding")
    assert rules.can_transition("responding", "closed")
    assert not rules.can_transition("dismissed", "confirmed")
    assert not rules.can_transition("closed", "responding")
    assert not rules.can_transition("new", "closed")


def test_street_levels_take_the_highest_open_level() -> None:
    levels = rules.street_levels(
        ["S1", "S2", "S3"], [("S1", "yellow"), ("S1", "red"), (None, "red")]
    )
    assert levels == {"S1": "red", "S2": "none", "S3": "none"}
