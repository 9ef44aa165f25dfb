"""Pure rules: CRC decision, abnormal flags, key populations, contract dates."""

from __future__ import annotations

from datetime import date

import pytest

from yilian.familydoctor import rules
from yilian.familydoctor.rules import Category, CrcStatus


def test_questionnaire_positive_refers_without_stool_sample() -> None:
    """primary-care-rules §4 (Jiangyin protocol step 1): questionnaire positive → colonoscopy."""
    d = rules.crc_decision(questionnaire_positive=True, fit1=None, fit1_on=None, fit2=None)
    assert (d.status, d.positive, d.next_step) == (CrcStatus.referred, True, "colonoscopy")


def test_first_fit_positive_refers() -> None:
    d = rules.crc_decision(
        questionnaire_positive=False, fit1="positive", fit1_on=date(2026, 3, 1), fit2=None
    )
    assert d.status == CrcStatus.referred


def test_negative_fit1_asks_for_fit2_a_week_later() -> None:
    """§4: FIT #2 one week after the first sample."""
    d = rules.crc_decision(
        questionnaire_positive=False, fit1="negative", fit1_on=date(2026, 3, 1), fit2=None
    )
    assert d.next_step == "fit2"
    assert d.fit2_due == date(2026, 3, 8)
    assert d.positive is None


def test_second_fit_positive_refers_and_both_negative_completes() -> None:
    """001: 评估阳性或者任一次检查阳性 → 转诊; both negative → screening complete."""
    pos = rules.crc_decision(
        questionnaire_positive=False, fit1="negative", fit1_on=date(2026, 3, 1), fit2="positive"
    )
    neg = rules.crc_decision(
        questionnaire_positive=False, fit1="negative", fit1_on=date(2026, 3, 1), fit2="negative"
    )
    assert pos.status == CrcStatus.referred
    assert (neg.status, neg.positive) == (CrcStatus.negative, False)


def test_colonoscopy_done_closes_the_round() -> None:
    d = rules.crc_decision(
        questionnaire_positive=True, fit1=None, fit1_on=None, fit2=None, colonoscopy_done=True
    )
    assert d.status == CrcStatus.colonoscopy_done


@pytest.mark.parametrize(
    ("codes", "value", "low", "high", "expected"),
    [
        (["HH"], None, None, None, "HH"),
        (["N"], 5.0, 3.9, 6.1, None),
        ([], 7.2, 3.9, 6.1, "H"),
        ([], 3.1, 3.9, 6.1, "L"),
        ([], 5.0, 3.9, 6.1, None),
        (["l"], None, None, None, "L"),
        (["A"], None, None, None, "A"),
    ],
)
def test_abnormal_flag(
    codes: list[str],
    value: float | None,
    low: float | None,
    high: float | None,
    expected: str | None,
) -> None:
    assert rules.abnormal_flag(codes, value, low, high) == expected


def test_derived_categories_from_age_and_programmes() -> None:
    on = date(2026, 6, 1)
    assert rules.derived_categories(date(1961, 6, 1), on) == {Category.elderly}  # 65 today
    assert rules.derived_categories(date(1961, 6, 2), on) == set()  # 64 until tomorrow
    assert rules.derived_categories(date(2020, 6, 1), on) == {Category.children}
    assert rules.derived_categories(date(2019, 5, 31), on) == set()  # turned 7
    assert rules.derived_categories(date(1980, 1, 1), on, ["hypertension", "copd"]) == {
        Category.hypertension
    }


def test_contract_dates_that_make_no_sense() -> None:
    today = date(2026, 6, 1)
    ok = rules.contract_period_problem(
        date(2026, 1, 1), date(2026, 12, 31), today=today, term_days=365
    )
    assert ok is None
    assert rules.contract_period_problem(
        date(2026, 5, 1), date(2026, 4, 1), today=today, term_days=365
    ) == ("end", "contract end must not be before its start")
    field, _msg = rules.contract_period_problem(
        date(2026, 1, 1), date(2026, 12, 31), today=today, term_days=365, birth=date(2026, 3, 1)
    ) or ("", "")
    assert field == "start"
    assert (
        rules.contract_period_problem(date(2028, 1, 1), None, today=today, term_days=365)
        is not None
    )
    assert (
        rules.contract_period_problem(
            date(2026, 1, 1), date(2031, 1, 1), today=today, term_days=365
        )
        is not None
    )


def test_default_end_is_one_term() -> None:
    assert rules.default_end(date(2026, 3, 1), 365) == date(2027, 2, 28)


def test_reminder_text_names_no_diagnosis() -> None:
    text = rules.reminder_text("followup", date(2026, 3, 1), "新华社区卫生服务中心")
    assert "高血压" not in text and "糖尿病" not in text
    assert "2026-03-01" in text and "新华社区卫生服务中心" in text
