"""Pure decisions of 检验检查结果互认 (国卫医发〔2022〕6号, domain primary-care-rules §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yilian.recognition import rules
from yilian.recognition.rules import Entry, Institution, Result

NOW = datetime(2026, 11, 10, tzinfo=UTC)


def _entry(days: int = 7, catalogue: str = "C1", **kw: object) -> Entry:
    fields: dict[str, object] = dict(
        catalogue_id=catalogue, catalogue_name="目录", item_code="HGB", name="血红蛋白",
        kind="lab", validity_days=days, min_level=None, requires_qc=True, reference_price=5.0,
    )  # fmt: skip
    fields.update(kw)
    return Entry(**fields)  # type: ignore[arg-type]


def _result(rid: str, days_ago: int, org: str = "H1") -> Result:
    return Result(rid, "HGB", NOW - timedelta(days=days_ago), org, "132", "g/L")


INST = {
    "H1": Institution("H1", "青浦区中心医院", "二级甲等"),
    "C1": Institution("C1", "社区中心", "一级"),
    "X1": Institution("X1", "停业医院", "二级", active=False),
}
QC = {("C1", "H1"): "passed", ("C1", "C1"): "failed", ("C1", "X1"): "passed"}


@pytest.mark.parametrize(
    ("level", "rank"),
    [("三级甲等", 3), ("二级", 2), ("一级", 1), ("3", 3), (None, 0), ("", 0), ("未定级", 0)],
)
def test_level_rank(level: str | None, rank: int) -> None:
    assert rules.level_rank(level) == rank


def test_the_newest_recognisable_result_is_reused() -> None:
    v = rules.judge("HGB", [_entry()], [_result("old", 5), _result("new", 1)], INST, QC, NOW)
    assert (v.verdict, v.reason, v.chosen and v.chosen.result.id) == ("reuse", None, "new")


def test_the_window_is_inclusive_and_then_expires() -> None:
    assert rules.judge("HGB", [_entry(7)], [_result("r", 7)], INST, QC, NOW).verdict == "reuse"
    v = rules.judge("HGB", [_entry(7)], [_result("r", 8)], INST, QC, NOW)
    assert (v.verdict, v.reason) == ("order", "expired")


def test_an_older_eligible_result_beats_a_newer_ineligible_one() -> None:
    results = [_result("mine", 1, org="C1"), _result("hospital", 3, org="H1")]
    v = rules.judge("HGB", [_entry()], results, INST, QC, NOW)
    assert v.verdict == "reuse" and v.chosen and v.chosen.result.id == "hospital"
    assert v.candidates[0].problem == "institution-not-eligible"
    assert v.candidates[0].detail == "qc-not-passed"


@pytest.mark.parametrize(
    ("org", "entry", "detail"),
    [
        ("Z9", _entry(), "not-participant"),
        ("C1", _entry(), "qc-not-passed"),
        ("X1", _entry(), "inactive"),
        ("H1", _entry(min_level="三级"), "level-below-minimum"),
    ],
)
def test_why_an_institution_is_not_eligible(org: str, entry: Entry, detail: str) -> None:
    v = rules.judge("HGB", [entry], [_result("r", 1, org=org)], INST, QC, NOW)
    assert (v.verdict, v.reason, v.candidates[0].detail) == (
        "order", "institution-not-eligible", detail,
    )  # fmt: skip
    assert "non-eligible institution" in (rules.explain(v.candidates[0]) or "")


def test_qc_is_not_needed_when_the_item_does_not_require_it() -> None:
    v = rules.judge("HGB", [_entry(requires_qc=False)], [_result("r", 1, "C1")], INST, QC, NOW)
    assert v.verdict == "reuse"


def test_no_catalogue_entry_and_no_result() -> None:
    assert rules.judge(None, [], [], INST, QC, NOW).reason == "not-in-catalogue"
    assert rules.judge("PT", [], [_result("r", 1)], INST, QC, NOW).reason == "not-in-catalogue"
    assert rules.judge("HGB", [_entry()], [], INST, QC, NOW).reason == "no-result"


def test_a_second_catalogue_with_a_longer_window_recognises_the_result() -> None:
    qc = QC | {("C2", "H1"): "passed"}
    entries = [_entry(7, "C1"), _entry(30, "C2")]
    v = rules.judge("HGB", entries, [_result("r", 20)], INST, qc, NOW)
    assert v.verdict == "reuse" and v.entry and v.entry.catalogue_id == "C2"


def test_decisions_follow_the_six_permitted_retest_cases() -> None:
    ok = rules.assess(_result("r", 1), [_entry()], INST, QC, NOW)
    bad = rules.assess(_result("r", 1, "Z9"), [_entry()], INST, QC, NOW)
    assert rules.decision_problem("reuse", "reused", None, None, ok) is None
    assert "non-eligible" in (rules.decision_problem("order", "reused", None, None, bad) or "")
    assert "needs a reason" in (rules.decision_problem("reuse", "reordered", None, None, ok) or "")
    for reason in rules.RETEST_REASONS[:-1]:
        assert rules.decision_problem("reuse", "reordered", reason, None, ok) is None
    assert "note" in (rules.decision_problem("reuse", "reordered", "other", " ", ok) or "")
    assert rules.decision_problem("reuse", "reordered", "other", "家属要求", ok) is None
    # Ordering what could not be recognised anyway needs no reason.
    assert rules.decision_problem("order", "reordered", None, None, None) is None
    assert len(rules.RETEST_REASONS) == 6


def test_rates_are_percentages_with_two_decimals() -> None:
    """Seed 001 reports a person-visit rate of 79.07%; 4,221.5 of 5,339 visits would give it,
    so the published figure rounds a rate we can only bracket."""
    assert rules.rate(4221, 5339) == 79.06 and rules.rate(4222, 5339) == 79.08
    assert rules.rate(2, 3) == 66.67 and rules.rate(0, 0) is None
