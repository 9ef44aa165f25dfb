"""Pure rules of TB patient management (肺结核患者健康管理服务规范, WHO 2021 outcomes)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from yilian.tb import care_rules as rules


def test_first_visit_within_72_hours_then_monthly_until_the_end() -> None:
    """Spec §1.3: first home visit within 72 h of the notice; medical supervision monthly."""
    n = date(2026, 1, 1)
    dues = rules.visit_schedule(n, n + timedelta(days=59), n + timedelta(days=179))
    assert dues[0] == date(2026, 1, 4)
    assert dues[1] == date(2026, 2, 3)
    assert all((b - a).days == 30 for a, b in itertools.pairwise(dues))
    assert dues[-1] <= n + timedelta(days=179) and len(dues) == 6


def test_family_supervision_visits_every_ten_days_in_the_intensive_phase() -> None:
    n = date(2026, 1, 1)
    dues = rules.visit_schedule(n, n + timedelta(days=59), n + timedelta(days=179), "family")
    intensive = [d for d in dues if d <= n + timedelta(days=59)]
    assert [(b - a).days for a, b in itertools.pairwise(intensive)] == [10] * 5


def test_visits_meet_due_dates_in_their_window_and_late_ones_count_next() -> None:
    n = date(2026, 1, 1)
    dues = [date(2026, 1, 4), date(2026, 2, 3)]
    slots = rules.match_visits(dues, [date(2026, 1, 6)], n)
    assert [s.done for s in slots] == [False, True]
    assert rules.overdue(slots, date(2026, 1, 10)) == [date(2026, 1, 4)]
    assert rules.next_due(rules.match_visits(dues, [], n), n) == date(2026, 1, 4)


def test_adherence_and_regular_medication_threshold() -> None:
    """规则服药: ≥ 90 % of doses due taken (spec §1.3 KPIs)."""
    assert rules.adherence(27, 30) == 0.9
    assert rules.is_regular(27, 30) and not rules.is_regular(26, 30)
    assert rules.adherence(0, 0) is None
    assert rules.doses_due(date(2026, 1, 1), date(2026, 1, 30)) == 30
    assert rules.missed_total_reaches_week(7) and not rules.missed_total_reaches_week(6)


def test_who_outcomes_and_icd10_codes() -> None:
    assert {o.value for o in rules.Outcome} == {
        "cured",
        "treatment_completed",
        "treatment_failed",
        "died",
        "lost_to_follow_up",
        "not_evaluated",
    }
    assert rules.is_tb_code("A15.0") and rules.is_tb_code("a19") and not rules.is_tb_code("A20")
    assert not rules.is_tb_code(None)
