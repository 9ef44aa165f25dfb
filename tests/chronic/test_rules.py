"""Pure follow-up rules and risk scores, against the spec's and guidelines' own numbers."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from yilian.chronic import rules
from yilian.chronic.config import COPD_EXAMPLE, DIABETES, HYPERTENSION, ChronicSettings

CFG = ChronicSettings()
DAY = date(2026, 3, 2)


def _assess(
    programme: object, age: int = 60, previous: bool = False, **reading: object
) -> rules.Assessment:
    return rules.assess(
        programme,  # type: ignore[arg-type]
        rules.Reading(on=DAY, **reading),  # type: ignore[arg-type]
        previous_uncontrolled=previous,
        age=age,
        cfg=CFG,
    )


def test_hypertension_control_targets() -> None:
    """<140/90 controlled; ≥65 years <150/90 (高血压患者健康管理服务规范 分类干预; rules §1.1)."""
    assert rules.bp_controlled(139, 89, 50, CFG)
    assert not rules.bp_controlled(140, 80, 50, CFG)
    assert not rules.bp_controlled(130, 90, 50, CFG)
    assert rules.bp_controlled(148, 88, 70, CFG)
    assert not rules.bp_controlled(150, 88, 70, CFG)


def test_controlled_reading_books_the_next_quarterly_follow_up() -> None:
    """Controlled → next routine visit; at least 4 a year → every 90 days (§1.1)."""
    a = _assess(HYPERTENSION, sbp=128, dbp=78)
    assert (a.classification, a.next_kind, a.referral) == ("controlled", "routine", None)
    assert a.next_due == DAY + timedelta(days=90)


def test_first_uncontrolled_rechecks_in_two_weeks_and_second_suggests_referral() -> None:
    """First uncontrolled → 2 weeks; two in a row → refer upward, 2 weeks (§1.1/§1.2)."""
    first = _assess(DIABETES, glucose=7.0)  # FPG ≥7.0 is uncontrolled
    assert first.classification == "first_uncontrolled" and first.next_kind == "recheck"
    assert first.next_due == DAY + timedelta(days=14) and first.referral is None
    second = _assess(DIABETES, previous=True, glucose=8.1)
    assert second.classification == "consecutive_uncontrolled" and second.referral == "upward"
    assert _assess(DIABETES, glucose=6.9).classification == "controlled"
    adr = _assess(HYPERTENSION, sbp=120, dbp=70, adverse_reaction=True)
    assert adr.classification == "first_uncontrolled" and adr.next_kind == "recheck"
    comp = _assess(HYPERTENSION, sbp=120, dbp=70, complication=True)
    assert comp.referral == "upward" and comp.reasons == ("complication",)


@pytest.mark.parametrize(
    ("programme", "reading", "reason"),
    [
        (HYPERTENSION, {"sbp": 180, "dbp": 100}, "sbp_high"),
        (HYPERTENSION, {"sbp": 150, "dbp": 110}, "dbp_high"),
        (DIABETES, {"glucose": 16.7}, "glucose_high"),
        (DIABETES, {"glucose": 3.9}, "glucose_low"),
        (DIABETES, {"glucose": 6.0, "heart_rate": 101}, "tachycardia"),
        (DIABETES, {"glucose": 6.0, "temperature": 39.1}, "fever"),
        (HYPERTENSION, {"sbp": 150, "dbp": 95, "pregnant_or_lactating": True}, "pregnancy"),
        (HYPERTENSION, {"symptoms": ("orthopnoea",)}, "symptom:orthopnoea"),
        (DIABETES, {"symptoms": ("ketotic_breath",)}, "symptom:ketotic_breath"),
        (HYPERTENSION, {"cannot_manage": True}, "cannot_manage"),
    ],
)
def test_urgent_referral_criteria(
    programme: object, reading: dict[str, object], reason: str
) -> None:
    """紧急转诊 lists of the hypertension (§1.1) and diabetes (§1.2) specifications."""
    a = _assess(programme, **reading)
    assert a.classification == "urgent" and a.referral == "urgent" and reason in a.reasons
    assert a.next_kind == "urgent" and a.next_due == DAY + timedelta(days=14)


def test_just_below_the_urgent_thresholds_is_not_urgent() -> None:
    assert _assess(HYPERTENSION, sbp=179, dbp=109).classification != "urgent"
    assert _assess(DIABETES, glucose=16.6, heart_rate=100, temperature=39.0).referral != "urgent"
    # HR >100 is in the diabetes list, not the hypertension one.
    assert _assess(HYPERTENSION, sbp=130, dbp=80, heart_rate=120).classification == "controlled"
    # A symptom of the other programme's list does not trigger.
    assert _assess(HYPERTENSION, sbp=130, dbp=80, symptoms=("ketotic_breath",)).referral is None


def test_programme_codes_match_the_synthetic_catalogue() -> None:
    """The generator emits I10 (hypertension), E11.9 (T2DM), J44.9 (COPD), I25.1 (CHD)."""
    progs = [HYPERTENSION, DIABETES, COPD_EXAMPLE]
    assert [p.key for p in rules.programmes_for_code("I10", progs)] == ["hypertension"]
    assert [p.key for p in rules.programmes_for_code("e11.9", progs)] == ["diabetes"]
    assert [p.key for p in rules.programmes_for_code("J44.9", progs)] == ["copd"]
    assert rules.programmes_for_code("I25.1", progs) == []
    assert rules.programmes_for_code("I16.0", progs) == []  # hypertensive crisis is not I10–I15
    assert rules.programmes_for_code("E10.9", progs) == []  # type 1 diabetes


def test_cdrs_point_table() -> None:
    """中国糖尿病风险评分表 (中国2型糖尿病防治指南 2020; primary-care-rules §3).

    Published facts the table must meet — Zhou X, Qiao Q, Ji L, et al. Diabetes Care
    2013;36(12):3944–3952, abstract: six items (age, sex, waist, BMI, SBP, family history
    of diabetes), "the score ranges from 0 to 51", optimal cut-off 25. No published worked
    patient was found (docs/chronic.md lists the search), so the cases below are read off
    the table: a man of 52 (13), BMI 25.1 (3), waist 88 cm (7), SBP 135 (6), no family
    history (0), male (2) → 31 ≥25: high risk, OGTT; the maximum is 18+5+10+10+6+2 = 51.
    """
    s = rules.cdrs(age=52, sex="male", bmi_value=25.1, waist_cm=88, sbp=135, family_history=False)
    assert s.total == 31 and s.tier == "high"
    assert s.points == {"age": 13, "bmi": 3, "waist_cm": 7, "sbp": 6, "family_history": 0, "sex": 2}
    top = rules.cdrs(age=70, sex="male", bmi_value=31, waist_cm=99, sbp=170, family_history=True)
    assert top.total == 51
    low = rules.cdrs(
        age=24, sex="female", bmi_value=21.9, waist_cm=69.9, sbp=109, family_history=False
    )
    assert low.total == 0 and low.tier == "low"
    # Band edges: age 25 → 4, BMI 22.0 → 1, BMI 24.0 → 3, BMI 30.0 → 5, women's waist 90 → 10.
    edge = rules.cdrs(
        age=25, sex="female", bmi_value=22.0, waist_cm=90, sbp=110, family_history=True
    )
    assert edge.points == {
        "age": 4,
        "bmi": 1,
        "waist_cm": 10,
        "sbp": 1,
        "family_history": 6,
        "sex": 0,
    }
    assert edge.total == 22 and edge.tier == "low"
    assert rules.cdrs(age=40, sex="female", bmi_value=24.0, waist_cm=84.9, sbp=160,
                      family_history=False).total == 11 + 3 + 7 + 10  # fmt: skip
    # Women's waist ≥90 scores what men's ≥95 does.
    assert rules.cdrs(age=30, sex="male", bmi_value=30.0, waist_cm=94.9, sbp=100,
                      family_history=False).points["waist_cm"] == 8  # fmt: skip


def test_cdrs_with_missing_inputs_and_outside_its_ages() -> None:
    partial = rules.cdrs(
        age=66, sex="male", bmi_value=None, waist_cm=None, sbp=150, family_history=None
    )
    # 18 + 8 + 2 = 28: already ≥25 whatever is missing.
    assert partial.tier == "high" and partial.note == "lower bound"
    assert set(partial.missing) == {"bmi", "waist_cm", "family_history"}
    undecided = rules.cdrs(
        age=30, sex="female", bmi_value=None, waist_cm=None, sbp=120, family_history=None
    )
    assert undecided.tier is None and undecided.total is None
    old = rules.cdrs(age=75, sex="male", bmi_value=25, waist_cm=90, sbp=130, family_history=False)
    assert not old.applicable


@pytest.mark.parametrize(
    ("hypertension", "factors", "tc", "tier"),
    [
        # No hypertension: 0–1 factors low everywhere; 2 factors medium only at TC 5.2–7.2;
        # 3 factors low at 3.1–4.1, medium above.
        (False, 1, 6.0, "low"),
        (False, 2, 5.0, "low"),
        (False, 2, 5.2, "medium"),
        (False, 3, 4.0, "low"),
        (False, 3, 4.1, "medium"),
        # Hypertension: 0 low; 1 low/medium/medium; 2 medium/high/high; 3 high.
        (True, 0, 7.1, "low"),
        (True, 1, 4.0, "low"),
        (True, 1, 4.5, "medium"),
        (True, 2, 3.5, "medium"),
        (True, 2, 4.1, "high"),
        (True, 3, 3.2, "high"),
    ],
)
def test_ascvd_risk_factor_count_chart(
    hypertension: bool, factors: int, tc: float, tier: str
) -> None:
    """Cells of the ASCVD 10-year risk chart (危险因素个数 × TC × 高血压; see docs/chronic.md).

    Risk factors: smoking, HDL-C <1.0 mmol/L, age ≥45 (men) / ≥55 (women).
    """
    smoker, low_hdl, old = (factors >= 1, factors >= 2, factors >= 3)
    s = rules.ascvd_chart(
        age=50 if old else 40, sex="male", smoker=smoker, tc=tc, ldl=None,
        hdl=0.9 if low_hdl else 1.3, hypertension=hypertension, diabetes=False,
    )  # fmt: skip
    assert s.points == {"smoker": float(smoker), "low_hdl": float(low_hdl), "age": float(old)}
    assert s.tier == tier


def test_ascvd_direct_high_risk_and_exclusions() -> None:
    """LDL-C ≥4.9 / TC ≥7.2, diabetes at ≥40, CKD 3–4 → high without the chart."""
    base = {"age": 41, "sex": "female", "smoker": False, "hdl": 1.5, "hypertension": False}
    assert rules.ascvd_chart(**base, tc=7.2, ldl=None, diabetes=False).tier == "high"  # type: ignore[arg-type]
    assert rules.ascvd_chart(**base, tc=4.0, ldl=4.9, diabetes=False).tier == "high"  # type: ignore[arg-type]
    assert rules.ascvd_chart(**base, tc=4.0, ldl=None, diabetes=True).tier == "high"  # type: ignore[arg-type]
    assert rules.ascvd_chart(**base, tc=4.0, ldl=None, diabetes=False, ckd_3_4=True).tier == "high"  # type: ignore[arg-type]
    assert rules.ascvd_chart(**base, tc=4.0, ldl=None, diabetes=False).tier == "low"  # type: ignore[arg-type]
    assert not rules.ascvd_chart(**base, tc=4.0, ldl=None, diabetes=False, ascvd=True).applicable  # type: ignore[arg-type]
    missing = rules.ascvd_chart(age=50, sex="male", smoker=None, tc=None, ldl=None, hdl=None,
                                hypertension=None, diabetes=False)  # fmt: skip
    assert missing.tier is None and set(missing.missing) == {"smoker", "hdl", "hypertension", "tc"}


def test_ascvd_lifetime_risk_flag_for_medium_risk_under_55() -> None:
    """Medium 10-year risk, age <55, ≥2 of SBP ≥160, non-HDL ≥5.2, HDL <1.0, BMI ≥28, smoking."""
    s = rules.ascvd_chart(age=46, sex="male", smoker=True, tc=4.5, ldl=None, hdl=1.2,
                          hypertension=True, diabetes=False, sbp=165, dbp=95)  # fmt: skip
    assert s.tier == "high"  # 2 factors (smoking, age) with hypertension at TC 4.1–5.2
    s = rules.ascvd_chart(age=40, sex="male", smoker=True, tc=4.5, ldl=None, hdl=1.2,
                          hypertension=True, diabetes=False, sbp=165, dbp=95)  # fmt: skip
    assert s.tier == "medium" and s.note == "lifetime_high"


def test_screening_suggestions_follow_the_tiers() -> None:
    high_cdrs = rules.Score("cdrs", True, 30, "high")
    none = rules.Score("ascvd", True, None, None)
    out = rules.screening_suggestions(
        age=50, enrolled=set(), cdrs_score=high_cdrs, ascvd_score=none, sbp=145, dbp=85,
        bmi_value=22, bp_measured_within_year=True, glucose_measured_within_year=False,
    )  # fmt: skip
    assert out == ["ogtt", "bp_recheck"]
    high_ascvd = rules.Score("ascvd", True, 2, "high")
    out = rules.screening_suggestions(
        age=56, enrolled={"diabetes"}, cdrs_score=high_cdrs, ascvd_score=high_ascvd, sbp=125,
        dbp=80, bmi_value=22, bp_measured_within_year=True, glucose_measured_within_year=True,
    )  # fmt: skip
    assert out == ["bp_6_monthly", "ascvd_high"]


def test_standard_management_and_rates() -> None:
    assert rules.is_standard_management(4, HYPERTENSION)
    assert not rules.is_standard_management(3, HYPERTENSION)
    assert rules.rate(1, 3) == 33.3 and rules.rate(0, 0) is None
    assert rules.age_on(date(1960, 5, 17), date(2026, 5, 16)) == 65
    assert rules.bmi(70, 170) == 24.2


# China-PAR (Yang X, Li J, Hu D, et al. Circulation 2016;134:1430–1440). The paper's worked
# example (Data Supplement, Supplemental Table 1) is a person aged 60 with untreated SBP
# 130 mmHg, TC 210 mg/dL, HDL-C 55 mg/dL, waist 80 cm, non-smoker, with diabetes, living in
# urban northern China, no family history of ASCVD; its Table 2 gives the same profile's
# risk at 40, 50, 60 and 70 years. Figures as transcribed from the paper (see docs/chronic.md).
# Supplemental Table 1, men: Coefficient × Value of ln age, ln untreated SBP, ln TC, ln HDL-C,
# ln waist, diabetes, north, urban, ln age × ln untreated SBP; individual sum 142.04.
PAPER_MEN_TERMS = {"age": 130.88, "sbp": 127.28, "tc": 3.32, "hdl": -2.78, "waist_cm": -3.12,
                   "diabetes": 0.36, "north": 0.48, "urban": -0.16, "age×sbp": -114.21}  # fmt: skip
PAPER_TABLE_2 = {
    "male": {40: 2.2, 50: 5.4, 60: 11.0, 70: 19.6},
    "female": {40: 2.4, 50: 5.4, 60: 10.1, 70: 17.1},
}


def _paper_terms(sex: str, age: int) -> dict[str, float]:
    return rules.china_par_terms(
        sex=sex, age=age, sbp=130, treated=False, tc_mmol=210 * 0.0259,
        hdl_mmol=55 * 0.0259, waist_cm=80, smoker=False, diabetes=True, north=True,
        urban=True, family_history=False,
    )  # fmt: skip


def _par(
    smoker: bool | None = False, family_history: bool | None = False, **change: object
) -> rules.Score:
    kw: dict[str, object] = {
        "age": 55, "sex": "male", "sbp": 150, "treated": True, "tc": 5.0, "ldl": None,
        "hdl": 1.1, "waist_cm": 92, "diabetes": False, "north": False, "urban": True,
    }  # fmt: skip
    kw |= change
    return rules.ascvd_china_par(smoker=smoker, family_history=family_history, **kw)  # type: ignore[arg-type]


def test_china_par_reproduces_the_papers_worked_example_term_by_term() -> None:
    """Each Coefficient × Value of Supplemental Table 1 (men) to its printed two decimals."""
    terms = _paper_terms("male", 60)
    for key, printed in PAPER_MEN_TERMS.items():
        assert terms[key] == pytest.approx(printed, abs=0.006), key
    for key in ("smoker", "family_history_ascvd", "age×smoker", "age×family_history_ascvd"):
        assert terms[key] == 0
    assert sum(terms.values()) == pytest.approx(142.04, abs=0.02)
    women = _paper_terms("female", 60)
    assert sum(women.values()) == pytest.approx(119.22, abs=0.02)  # the women's individual sum
    assert women["urban"] == 0 and women["family_history_ascvd"] == 0  # no such terms for women


@pytest.mark.parametrize("sex", ["male", "female"])
@pytest.mark.parametrize("age", [40, 50, 60, 70])
def test_china_par_reproduces_table_2(sex: str, age: int) -> None:
    """Table 2 of the paper: the worked profile's 10-year risk by age (within 2% of it)."""
    risk = rules.china_par_risk(sex, _paper_terms(sex, age))
    assert risk == pytest.approx(PAPER_TABLE_2[sex][age], rel=0.02)


def test_the_printed_womens_baseline_survival_would_not_reproduce_the_paper() -> None:
    """Table 1 prints S10 = 0.99 for women: 6.9% for the worked example, not the paper's 10.1%."""
    terms = _paper_terms("female", 60)
    printed = 100 * (1 - 0.99 ** math.exp(sum(terms.values()) - rules.CHINA_PAR["female"].mean))
    assert printed == pytest.approx(6.9, abs=0.1)
    assert rules.china_par_risk("female", terms) == pytest.approx(10.1, abs=0.1)


def test_china_par_reproduces_the_2019_guidelines_worked_example() -> None:
    """中国心血管病风险评估和管理指南 (2019), 附录 example: the official calculator's 4.7%.

    A man of 40, northern city, waist 80 cm, TC 5.2 and HDL-C 1.3 mmol/L, BP 145/80 mmHg
    untreated, no diabetes, non-smoker, a family history of ASCVD → 4.7%, low risk.
    """
    s = _par(
        age=40, sbp=145, treated=False, tc=5.2, hdl=1.3, waist_cm=80, north=True,
        family_history=True,
    )  # fmt: skip
    assert s.model == "china_par" and s.applicable and not s.missing
    assert s.total == pytest.approx(4.7, abs=0.05) and s.tier == "low"
    assert s.points["family_history_ascvd"] == pytest.approx(6.22, abs=0.01)


def test_china_par_tiers_unknown_answers_and_the_steps_before_it() -> None:
    """<5% low, 5–9.9% medium, ≥10% high; unknown smoking is tried both ways."""
    assert [rules.ascvd_tier(r) for r in (4.99, 5.0, 9.99, 10.0)] == [
        "low", "medium", "medium", "high"]  # fmt: skip
    no, yes = _par(smoker=False), _par(smoker=True)
    assert no.total is not None and yes.total is not None and yes.total > no.total
    either = _par(smoker=None)
    assert either.missing == ("smoker",) and either.total is None
    assert either.note.startswith(f"{no.total:.1f}–{yes.total:.1f}%")
    assert either.tier == (no.tier if no.tier == yes.tier else None)
    # Women have no family-history or urban term: unknown family history is not missing.
    woman = _par(sex="female", family_history=None)
    assert woman.total is not None and "family_history_ascvd" not in woman.inputs
    # No waist: China-PAR cannot say; the steps before the model still apply.
    assert _par(waist_cm=None).missing == ("waist_cm",)
    direct = _par(tc=7.3)
    assert (
        direct.tier == "high" and direct.note.startswith("direct") and direct.model == "china_par"
    )
    assert not _par(ascvd=True).applicable
    assert not _par(age=19).applicable
