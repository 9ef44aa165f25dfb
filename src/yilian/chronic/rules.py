"""Chronic-disease policy as pure functions over plain data.

Follow-up rules cite 《国家基本公共卫生服务规范（第三版）》 高血压 / 2型糖尿病患者健康管理服务规范
(shared/domain/primary-care-rules.md §1.1, §1.2). Risk scores: the Chinese Diabetes Risk
Score (§3) and the 10-year ASCVD risk, by the China-PAR equations (Yang et al.,
Circulation 2016) or the guidelines' risk-factor-count chart (§2; which one is
configuration, see docs/chronic.md for the sources and the checks).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from yilian.chronic.config import ChronicSettings, Programme

ROUTINE = "routine"
RECHECK = "recheck"
URGENT = "urgent"
DUE_KINDS = (ROUTINE, RECHECK, URGENT)

CONTROLLED = "controlled"
UNCONTROLLED = "uncontrolled"
UNKNOWN = "unknown"

# 分类干预 classes.
CLASS_CONTROLLED = "controlled"  # 控制满意
CLASS_FIRST_UNCONTROLLED = "first_uncontrolled"  # 控制不满意（首次）/ 药物不良反应
CLASS_CONSECUTIVE = "consecutive_uncontrolled"  # 连续两次控制不满意 / 新发或加重并发症
CLASS_URGENT = "urgent"  # 紧急转诊
CLASS_UNASSESSED = "unassessed"  # no control measure in this programme or no reading

REFERRAL_URGENT = "urgent"  # 紧急转诊
REFERRAL_UPWARD = "upward"  # 建议转诊到上级医院

# Urgent symptoms (危急情况) a follow-up form can tick — §1.1 and §1.2 lists.
SYMPTOMS_HTN = (
    "consciousness",  # 意识改变
    "severe_headache",  # 剧烈头痛或头晕
    "nausea_vomiting",  # 恶心呕吐
    "blurred_vision",  # 视力模糊、眼痛
    "palpitations",  # 心悸
    "chest_pain",  # 胸闷、心前区疼痛
    "orthopnoea",  # 喘憋不能平卧
)
SYMPTOMS_DM = (
    "consciousness",  # 意识或行为改变
    "ketotic_breath",  # 呼气有烂苹果样丙酮味
    "palpitations",  # 心悸、出汗
    "nausea_vomiting",  # 食欲减退、恶心、呕吐
    "polydipsia_polyuria",  # 多饮、多尿
    "abdominal_pain",  # 腹痛
    "deep_breathing",  # 深大呼吸
    "flushed_skin",  # 皮肤潮红
    "vision_loss",  # 视力突然骤降
)
URGENT_SYMPTOMS = tuple(dict.fromkeys(SYMPTOMS_HTN + SYMPTOMS_DM))


@dataclass(frozen=True)
class Reading:
    """What one follow-up measured and asked."""

    on: date
    sbp: int | None = None
    dbp: int | None = None
    heart_rate: int | None = None
    glucose: float | None = None  # fasting plasma glucose, mmol/L
    temperature: float | None = None
    symptoms: tuple[str, ...] = ()
    pregnant_or_lactating: bool = False
    adverse_reaction: bool = False
    complication: bool = False  # new or worsening complication
    cannot_manage: bool = False  # another condition primary care cannot handle


@dataclass(frozen=True)
class Assessment:
    control: str
    classification: str
    next_due: date
    next_kind: str
    referral: str | None
    reasons: tuple[str, ...] = ()


def icd10_matches(code: str, programme: Programme) -> bool:
    """Whether an ICD-10 code belongs to the programme (prefix match, exclusions first)."""
    c = code.strip().upper()
    if any(c.startswith(x.upper()) for x in programme.exclude):
        return False
    return any(c.startswith(p.upper()) for p in programme.icd10)


def programmes_for_code(code: str, programmes: Iterable[Programme]) -> list[Programme]:
    return [p for p in programmes if icd10_matches(code, p)]


def bp_controlled(sbp: int, dbp: int, age: int | None, cfg: ChronicSettings) -> bool:
    """高血压规范 分类干预: <140/90 mmHg; ≥65 years <150/90 (primary-care-rules §1.1)."""
    if age is not None and age >= cfg.elderly_age:
        return sbp < cfg.elderly_target_sbp and dbp < cfg.elderly_target_dbp
    return sbp < cfg.bp_target_sbp and dbp < cfg.bp_target_dbp


def control_status(
    programme: Programme, reading: Reading, age: int | None, cfg: ChronicSettings
) -> str:
    """Controlled / uncontrolled / unknown for the programme's control measure."""
    if programme.control == "bp":
        if reading.sbp is None or reading.dbp is None:
            return UNKNOWN
        return CONTROLLED if bp_controlled(reading.sbp, reading.dbp, age, cfg) else UNCONTROLLED
    if programme.control == "fpg":
        # 2型糖尿病规范 分类干预: FPG <7.0 mmol/L (§1.2).
        if reading.glucose is None:
            return UNKNOWN
        return CONTROLLED if reading.glucose < cfg.fpg_target else UNCONTROLLED
    return UNKNOWN


def urgent_reasons(programme: Programme, reading: Reading, cfg: ChronicSettings) -> list[str]:
    """紧急转诊 criteria met by a reading (§1.1 hypertension, §1.2 diabetes lists).

    BP ≥180 and/or ≥110 and the pregnancy/unmanageable clauses are in both lists;
    glucose ≥16.7 or ≤3.9, HR >100 and temperature >39 °C are in the diabetes list;
    glucose thresholds also apply to any reading taken, whatever the programme,
    because a dangerous value is dangerous in every programme.
    """
    out: list[str] = []
    if reading.sbp is not None and reading.sbp >= cfg.urgent_sbp:
        out.append("sbp_high")
    if reading.dbp is not None and reading.dbp >= cfg.urgent_dbp:
        out.append("dbp_high")
    if reading.glucose is not None:
        if reading.glucose >= cfg.urgent_glucose_high:
            out.append("glucose_high")
        elif reading.glucose <= cfg.urgent_glucose_low:
            out.append("glucose_low")
    if programme.control == "fpg":
        if reading.heart_rate is not None and reading.heart_rate > cfg.urgent_heart_rate:
            out.append("tachycardia")
        if reading.temperature is not None and reading.temperature > cfg.urgent_temperature:
            out.append("fever")
    listed = (
        SYMPTOMS_DM
        if programme.control == "fpg"
        else SYMPTOMS_HTN
        if programme.control == "bp"
        else URGENT_SYMPTOMS
    )
    out.extend(f"symptom:{s}" for s in reading.symptoms if s in listed)
    if reading.pregnant_or_lactating and (
        (reading.sbp is not None and reading.sbp >= cfg.bp_target_sbp)
        or (reading.dbp is not None and reading.dbp >= cfg.bp_target_dbp)
        or (reading.glucose is not None and reading.glucose >= cfg.fpg_target)
    ):
        out.append("pregnancy")
    if reading.cannot_manage:
        out.append("cannot_manage")
    return out


def assess(
    programme: Programme,
    reading: Reading,
    *,
    previous_uncontrolled: bool,
    age: int | None,
    cfg: ChronicSettings,
) -> Assessment:
    """Classify a follow-up and say when the next one is due (分类干预, §1.1/§1.2).

    - urgent criteria → refer urgently; follow the referral up within 2 weeks;
    - two consecutive uncontrolled readings or a new/worse complication → recommend
      upward referral; follow up within 2 weeks;
    - a first uncontrolled reading or an adverse drug reaction → re-check within 2 weeks;
    - controlled → the next routine follow-up (quarterly, to reach ≥4 a year).
    """
    control = control_status(programme, reading, age, cfg)
    reasons = urgent_reasons(programme, reading, cfg)
    two_weeks = reading.on + timedelta(days=cfg.recheck_days)
    if reasons:
        return Assessment(
            control,
            CLASS_URGENT,
            reading.on + timedelta(days=cfg.referral_followup_days),
            URGENT,
            REFERRAL_URGENT,
            tuple(reasons),
        )
    uncontrolled = control == UNCONTROLLED
    if (uncontrolled and previous_uncontrolled) or reading.complication:
        why = ["consecutive_uncontrolled"] if uncontrolled and previous_uncontrolled else []
        if reading.complication:
            why.append("complication")
        return Assessment(
            control, CLASS_CONSECUTIVE, two_weeks, RECHECK, REFERRAL_UPWARD, tuple(why)
        )
    if uncontrolled or reading.adverse_reaction:
        return Assessment(control, CLASS_FIRST_UNCONTROLLED, two_weeks, RECHECK, None)
    routine = reading.on + timedelta(days=programme.interval_days)
    cls = CLASS_CONTROLLED if control == CONTROLLED else CLASS_UNASSESSED
    return Assessment(control, cls, routine, ROUTINE, None)


def is_standard_management(face_to_face: int, programme: Programme) -> bool:
    """规范管理: at least the programme's face-to-face follow-ups in the year (≥4, §1.1/§1.2)."""
    return face_to_face >= programme.min_followups_per_year


def rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(100.0 * numerator / denominator, 1)


def age_on(birth: date | None, on: date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def bmi(weight_kg: float | None, height_cm: float | None) -> float | None:
    if not weight_kg or not height_cm:
        return None
    return round(weight_kg / (height_cm / 100) ** 2, 1)


# --- Chinese Diabetes Risk Score (中国糖尿病风险评分, CDRS) -------------------------

# 《中国2型糖尿病防治指南（2020年版）》 表: 中国糖尿病风险评分表 (primary-care-rules §3).
# (upper bound exclusive, points); the last band has no upper bound.
CDRS_AGE = ((25, 0), (35, 4), (40, 8), (45, 11), (50, 12), (55, 13), (60, 15), (65, 16), (75, 18))
CDRS_BMI = ((22.0, 0), (24.0, 1), (30.0, 3), (math.inf, 5))
CDRS_WAIST_MALE = ((75.0, 0), (80.0, 3), (85.0, 5), (90.0, 7), (95.0, 8), (math.inf, 10))
CDRS_WAIST_FEMALE = ((70.0, 0), (75.0, 3), (80.0, 5), (85.0, 7), (90.0, 8), (math.inf, 10))
CDRS_SBP = ((110, 0), (120, 1), (130, 3), (140, 6), (150, 7), (160, 8), (math.inf, 10))
CDRS_FAMILY = 6
CDRS_MALE = 2
CDRS_AGES = (20, 74)


def _band(value: float, bands: Sequence[tuple[float, int]]) -> int:
    for upper, points in bands:
        if value < upper:
            return points
    return bands[-1][1]


@dataclass(frozen=True)
class Score:
    """A risk score with its inputs, the points each earned and what was missing."""

    name: str
    applicable: bool
    total: float | None  # None when incomplete and the tier cannot be decided
    tier: str | None  # low | medium | high | None
    points: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, object] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    note: str = ""
    model: str = ""  # which model produced it, where a score has more than one


def cdrs(
    *,
    age: int | None,
    sex: str | None,
    bmi_value: float | None,
    waist_cm: float | None,
    sbp: int | None,
    family_history: bool | None,
    high_at: int = 25,
) -> Score:
    """The Chinese Diabetes Risk Score (0–51); ≥25 → high risk → OGTT (2020 guideline, §3).

    With inputs missing the known points are a lower bound: a partial sum of 25 or more
    is already high risk; otherwise the tier is left open and the missing inputs listed.
    """
    inputs: dict[str, object] = {
        "age": age,
        "sex": sex,
        "bmi": bmi_value,
        "waist_cm": waist_cm,
        "sbp": sbp,
        "family_history": family_history,
    }
    missing = tuple(k for k, v in inputs.items() if v is None)
    if age is not None and not CDRS_AGES[0] <= age <= CDRS_AGES[1]:
        return Score("cdrs", False, None, None, {}, inputs, missing, "applies to ages 20–74")
    pts: dict[str, float] = {}
    if age is not None:
        pts["age"] = _band(age, CDRS_AGE)
    if bmi_value is not None:
        pts["bmi"] = _band(bmi_value, CDRS_BMI)
    if waist_cm is not None and sex in ("male", "female"):
        pts["waist_cm"] = _band(waist_cm, CDRS_WAIST_MALE if sex == "male" else CDRS_WAIST_FEMALE)
    elif "waist_cm" not in missing:
        missing = (*missing, "waist_cm")
    if sbp is not None:
        pts["sbp"] = _band(sbp, CDRS_SBP)
    if family_history is not None:
        pts["family_history"] = CDRS_FAMILY if family_history else 0
    if sex is not None:
        pts["sex"] = CDRS_MALE if sex == "male" else 0
    partial = sum(pts.values())
    if not missing:
        return Score("cdrs", True, partial, "high" if partial >= high_at else "low", pts, inputs)
    if partial >= high_at:
        return Score("cdrs", True, partial, "high", pts, inputs, missing, "lower bound")
    return Score("cdrs", True, None, None, pts, inputs, missing, f"partial {partial:g}")


# --- 10-year ASCVD risk: the risk-factor-count chart ---------------------------------

ASCVD_CHART = "chart"
ASCVD_CHINA_PAR = "china_par"
ASCVD_MODELS = (ASCVD_CHINA_PAR, ASCVD_CHART)

# Rows: number of risk factors (smoking, HDL-C <1.0 mmol/L, age ≥45 men / ≥55 women);
# columns: TC 3.1–<4.1 | 4.1–<5.2 | 5.2–<7.2 mmol/L (or LDL-C 1.8–<2.6 | 2.6–<3.4 |
# 3.4–<4.9). Source: the ASCVD 10-year risk chart (危险因素个数 × 血脂 × 高血压) of the
# Chinese guidelines (中国成人血脂异常防治指南 2016; used for the simple assessment in
# 中国心血管病风险评估和管理指南 2019, see docs/chronic.md). L <5%, M 5–9.9%, H ≥10%.
ASCVD_CHART_NO_HTN = (("low", "low", "low"), ("low", "low", "low"), ("low", "low", "medium"),
                      ("low", "medium", "medium"))  # fmt: skip
ASCVD_CHART_HTN = (("low", "low", "low"), ("low", "medium", "medium"),
                   ("medium", "high", "high"), ("high", "high", "high"))  # fmt: skip
TC_COLUMNS = (4.1, 5.2)  # column boundaries of TC; below 3.1 counts as the first column
LDL_COLUMNS = (2.6, 3.4)


def _column(tc: float | None, ldl: float | None) -> int:
    cols = [
        sum(1 for b in bounds if v >= b)
        for v, bounds in ((tc, TC_COLUMNS), (ldl, LDL_COLUMNS))
        if v is not None
    ]
    return max(cols)


def _ascvd_direct(
    inputs: dict[str, object],
    *,
    age: int | None,
    tc: float | None,
    ldl: float | None,
    diabetes: bool | None,
    ascvd: bool,
    ckd_3_4: bool,
) -> Score | None:
    """The guidelines' steps before any 10-year model: secondary prevention, direct high risk.

    People with ASCVD are already in secondary prevention and are not scored. Directly
    high risk (直接列为高危): LDL-C ≥4.9 or TC ≥7.2 mmol/L; diabetes at age ≥40; CKD 3–4.
    """
    if ascvd:
        return Score("ascvd", False, None, None, {}, inputs, (), "ASCVD present: not scored")
    if (ldl is not None and ldl >= 4.9) or (tc is not None and tc >= 7.2):
        return Score("ascvd", True, None, "high", {}, inputs, (), "direct: LDL-C ≥4.9 or TC ≥7.2")
    if ckd_3_4:
        return Score("ascvd", True, None, "high", {}, inputs, (), "direct: CKD stage 3–4")
    if diabetes and age is not None and age >= 40:
        return Score("ascvd", True, None, "high", {}, inputs, (), "direct: diabetes, age ≥40")
    return None


def ascvd_chart(
    *,
    age: int | None,
    sex: str | None,
    smoker: bool | None,
    tc: float | None,
    ldl: float | None,
    hdl: float | None,
    hypertension: bool | None,
    diabetes: bool | None,
    ascvd: bool = False,
    ckd_3_4: bool = False,
    sbp: int | None = None,
    dbp: int | None = None,
    bmi_value: float | None = None,
) -> Score:
    """10-year ASCVD risk tier from the risk-factor-count chart (low <5%, medium 5–9.9%, high ≥10%).

    Directly high risk, without the chart: LDL-C ≥4.9 or TC ≥7.2 mmol/L; diabetes at
    age ≥40 (with LDL-C 1.8–4.9 or TC 3.1–7.2); CKD stage 3–4. People with ASCVD are
    already in secondary prevention and are not scored. A medium-risk person under 55
    with ≥2 of SBP ≥160 or DBP ≥100, non-HDL-C ≥5.2, HDL-C <1.0, BMI ≥28, smoking is
    flagged as high lifetime risk (余生危险).
    """
    score = _ascvd_chart(
        age=age, sex=sex, smoker=smoker, tc=tc, ldl=ldl, hdl=hdl, hypertension=hypertension,
        diabetes=diabetes, ascvd=ascvd, ckd_3_4=ckd_3_4, sbp=sbp, dbp=dbp, bmi_value=bmi_value,
    )  # fmt: skip
    return replace(score, model=ASCVD_CHART)


def _ascvd_chart(
    *,
    age: int | None,
    sex: str | None,
    smoker: bool | None,
    tc: float | None,
    ldl: float | None,
    hdl: float | None,
    hypertension: bool | None,
    diabetes: bool | None,
    ascvd: bool,
    ckd_3_4: bool,
    sbp: int | None,
    dbp: int | None,
    bmi_value: float | None,
) -> Score:
    inputs: dict[str, object] = {
        "age": age,
        "sex": sex,
        "smoker": smoker,
        "tc": tc,
        "ldl": ldl,
        "hdl": hdl,
        "hypertension": hypertension,
        "diabetes": diabetes,
    }
    direct = _ascvd_direct(
        inputs, age=age, tc=tc, ldl=ldl, diabetes=diabetes, ascvd=ascvd, ckd_3_4=ckd_3_4
    )
    if direct is not None:
        return direct
    missing = [k for k in ("age", "sex", "smoker", "hdl", "hypertension") if inputs[k] is None]
    if tc is None and ldl is None:
        missing.append("tc")
    if age is not None and age < 20:
        return Score("ascvd", False, None, None, {}, inputs, tuple(missing), "applies from age 20")
    if missing == ["smoker"]:
        # Smoking unknown: when both answers give the same tier, the tier is known.
        kw = {"age": age, "sex": sex, "tc": tc, "ldl": ldl, "hdl": hdl, "ascvd": False}
        kw |= {"hypertension": hypertension, "diabetes": diabetes, "sbp": sbp, "dbp": dbp}
        kw |= {"ckd_3_4": False}
        yes = _ascvd_chart(smoker=True, bmi_value=bmi_value, **kw)  # type: ignore[arg-type]
        no = _ascvd_chart(smoker=False, bmi_value=bmi_value, **kw)  # type: ignore[arg-type]
        if yes.tier == no.tier and yes.note == no.note:
            note = no.note or "smoking unknown"
            return replace(no, inputs=inputs, missing=("smoker",), note=note)
    if missing:
        return Score("ascvd", True, None, None, {}, inputs, tuple(missing))
    assert age is not None and hdl is not None
    factors = {
        "smoker": 1.0 if smoker else 0.0,
        "low_hdl": 1.0 if hdl < 1.0 else 0.0,
        "age": 1.0 if age >= (45 if sex == "male" else 55) else 0.0,
    }
    n = int(sum(factors.values()))
    chart = ASCVD_CHART_HTN if hypertension else ASCVD_CHART_NO_HTN
    tier = chart[n][_column(tc, ldl)]
    note = ""
    if tier == "medium" and age < 55:
        non_hdl = (tc - hdl) if tc is not None else None
        lifetime = sum(
            (
                (sbp is not None and sbp >= 160) or (dbp is not None and dbp >= 100),
                non_hdl is not None and non_hdl >= 5.2,
                hdl < 1.0,
                bmi_value is not None and bmi_value >= 28,
                bool(smoker),
            )
        )
        if lifetime >= 2:
            note = "lifetime_high"
    return Score("ascvd", True, float(n), tier, factors, inputs, (), note)


# --- 10-year ASCVD risk: the China-PAR equations -------------------------------------


@dataclass(frozen=True)
class ChinaParEquation:
    """One sex's China-PAR equation: coefficients of ln-transformed values and 0/1 flags.

    Continuous values are natural logs: age (years), SBP (mmHg), total and HDL
    cholesterol (mg/dL), waist (cm). Risk = 1 − S10 ^ exp(Σ coefficient × value − mean).
    """

    ln_age: float
    ln_sbp_treated: float
    ln_sbp_untreated: float
    ln_tc: float
    ln_hdl: float
    ln_waist: float
    smoker: float
    diabetes: float
    north: float
    urban: float
    family_history: float
    ln_age_ln_sbp_treated: float
    ln_age_ln_sbp_untreated: float
    ln_age_smoker: float
    ln_age_family_history: float
    mean: float  # mean of Σ coefficient × value in the derivation cohort
    s10: float  # 10-year baseline survival


# Yang X, Li J, Hu D, et al. Predicting the 10-year risks of atherosclerotic cardiovascular
# disease in Chinese population: the China-PAR project. Circulation 2016;134:1430-1440
# (doi:10.1161/CIRCULATIONAHA.116.022367), Supplemental Table 1, at the three decimals of
# 江苏省预防医学会团体标准 T/JPMA 024—2024 附录 C/D. The women's equation has no urban and
# family-history terms. Women's S10: the paper's Table 1 prints 0.99 (two decimals), which
# puts its own worked example at 6.9% instead of 10.1%; 0.9851 reproduces it and the
# paper's Table 2. docs/chronic.md lists the sources and the checks; tests/chronic/
# test_rules.py checks them against the paper's and the 2019 guideline's worked examples.
CHINA_PAR: dict[str, ChinaParEquation] = {
    "male": ChinaParEquation(
        ln_age=31.967, ln_sbp_treated=27.388, ln_sbp_untreated=26.148, ln_tc=0.621,
        ln_hdl=-0.695, ln_waist=-0.712, smoker=3.955, diabetes=0.357, north=0.475,
        urban=-0.164, family_history=6.221, ln_age_ln_sbp_treated=-6.018,
        ln_age_ln_sbp_untreated=-5.731, ln_age_smoker=-0.939, ln_age_family_history=-1.534,
        mean=140.68, s10=0.9707,
    ),
    "female": ChinaParEquation(
        ln_age=24.874, ln_sbp_treated=20.709, ln_sbp_untreated=19.982, ln_tc=0.058,
        ln_hdl=-0.217, ln_waist=1.475, smoker=0.495, diabetes=0.567, north=0.544,
        urban=0.0, family_history=0.0, ln_age_ln_sbp_treated=-4.528,
        ln_age_ln_sbp_untreated=-4.360, ln_age_smoker=0.0, ln_age_family_history=0.0,
        mean=117.26, s10=0.9851,
    ),
}  # fmt: skip
# The paper converts cholesterol with mg/dL × 0.0259 = mmol/L.
MG_DL_PER_MMOL = 1 / 0.0259
# The cohorts the equations were derived from were aged 35–74; the guideline applies the
# 10-year assessment from age 20.
CHINA_PAR_DERIVATION_AGES = (35, 74)


def china_par_terms(
    *,
    sex: str,
    age: float,
    sbp: float,
    treated: bool,
    tc_mmol: float,
    hdl_mmol: float,
    waist_cm: float,
    smoker: bool,
    diabetes: bool,
    north: bool,
    urban: bool,
    family_history: bool,
) -> dict[str, float]:
    """Each term's coefficient × value (the paper's "Coefficient × Value" column)."""
    eq = CHINA_PAR[sex]
    ln_age, ln_sbp = math.log(age), math.log(sbp)
    b_sbp, b_age_sbp = (
        (eq.ln_sbp_treated, eq.ln_age_ln_sbp_treated)
        if treated
        else (eq.ln_sbp_untreated, eq.ln_age_ln_sbp_untreated)
    )
    return {
        "age": eq.ln_age * ln_age,
        "sbp": b_sbp * ln_sbp,
        "tc": eq.ln_tc * math.log(tc_mmol * MG_DL_PER_MMOL),
        "hdl": eq.ln_hdl * math.log(hdl_mmol * MG_DL_PER_MMOL),
        "waist_cm": eq.ln_waist * math.log(waist_cm),
        "smoker": eq.smoker * smoker,
        "diabetes": eq.diabetes * diabetes,
        "north": eq.north * north,
        "urban": eq.urban * urban,
        "family_history_ascvd": eq.family_history * family_history,
        "age×sbp": b_age_sbp * ln_age * ln_sbp,
        "age×smoker": eq.ln_age_smoker * ln_age * smoker,
        "age×family_history_ascvd": eq.ln_age_family_history * ln_age * family_history,
    }


def china_par_risk(sex: str, terms: dict[str, float]) -> float:
    """10-year ASCVD risk in per cent from the terms: 1 − S10 ^ exp(Σ − mean)."""
    eq = CHINA_PAR[sex]
    return 100.0 * (1.0 - eq.s10 ** math.exp(sum(terms.values()) - eq.mean))


def ascvd_tier(risk_percent: float, *, medium_at: float = 5.0, high_at: float = 10.0) -> str:
    """2019 中国心血管病风险评估和管理指南: <5% low, 5–9.9% medium, ≥10% high."""
    if risk_percent >= high_at:
        return "high"
    return "medium" if risk_percent >= medium_at else "low"


def ascvd_china_par(
    *,
    age: int | None,
    sex: str | None,
    sbp: int | None,
    treated: bool,
    tc: float | None,
    ldl: float | None,
    hdl: float | None,
    waist_cm: float | None,
    smoker: bool | None,
    diabetes: bool | None,
    north: bool,
    urban: bool,
    family_history: bool | None,
    ascvd: bool = False,
    ckd_3_4: bool = False,
    medium_at: float = 5.0,
    high_at: float = 10.0,
) -> Score:
    """10-year ASCVD risk (%) by the China-PAR equations, with its tier and each term.

    The same first steps as the chart (secondary prevention, directly high risk). An
    unknown smoking status or (men) family history of ASCVD is tried both ways: when
    every answer gives the same tier, the tier is shown with the range of risks and the
    input listed as missing. Lipids are mmol/L. Region and urban/rural are the
    deployment's (configuration).
    """
    inputs: dict[str, object] = {
        "age": age,
        "sex": sex,
        "sbp": sbp,
        "treated_hypertension": treated,
        "tc": tc,
        "hdl": hdl,
        "waist_cm": waist_cm,
        "smoker": smoker,
        "diabetes": diabetes,
        "north": north,
        "urban": urban,
        "family_history_ascvd": family_history,
    }
    direct = _ascvd_direct(
        inputs, age=age, tc=tc, ldl=ldl, diabetes=diabetes, ascvd=ascvd, ckd_3_4=ckd_3_4
    )
    if direct is not None:
        return replace(direct, model=ASCVD_CHINA_PAR)
    if sex == "female":
        # The women's equation has no urban and family-history terms.
        del inputs["urban"], inputs["family_history_ascvd"]
        family_history = False
    if age is not None and age < 20:
        return Score("ascvd", False, None, None, {}, inputs, (), "applies from age 20",
                     ASCVD_CHINA_PAR)  # fmt: skip
    numeric = {"age": age, "sex": sex, "sbp": sbp, "tc": tc, "hdl": hdl, "waist_cm": waist_cm}
    unknown_flags = [k for k, v in (("smoker", smoker), ("family_history_ascvd", family_history))
                     if v is None]  # fmt: skip
    missing = tuple(k for k, v in numeric.items() if v is None) + tuple(unknown_flags)
    if any(v is None for v in numeric.values()) or sex not in CHINA_PAR:
        return Score("ascvd", True, None, None, {}, inputs, missing, "", ASCVD_CHINA_PAR)
    assert age is not None and sbp is not None and tc is not None and hdl is not None
    assert waist_cm is not None

    def terms(smokes: bool, history: bool) -> dict[str, float]:
        return china_par_terms(
            sex=sex, age=age, sbp=sbp, treated=treated, tc_mmol=tc, hdl_mmol=hdl,
            waist_cm=waist_cm, smoker=smokes, diabetes=bool(diabetes), north=north,
            urban=urban, family_history=history,
        )  # fmt: skip

    smokes = [smoker] if smoker is not None else [False, True]
    histories = [family_history] if family_history is not None else [False, True]
    outcomes = [(terms(a, b), a, b) for a in smokes for b in histories]
    risks = [china_par_risk(sex, t) for t, _a, _b in outcomes]
    tiers = {ascvd_tier(r, medium_at=medium_at, high_at=high_at) for r in risks}
    out_of_range = not CHINA_PAR_DERIVATION_AGES[0] <= age <= CHINA_PAR_DERIVATION_AGES[1]
    suffix = " (outside the derivation ages 35–74)" if out_of_range else ""
    if len(outcomes) == 1:
        points = {k: round(v, 2) for k, v in outcomes[0][0].items()}
        risk = round(risks[0], 1)
        tier = ascvd_tier(risk, medium_at=medium_at, high_at=high_at)
        return Score("ascvd", True, risk, tier, points, inputs, (), f"{risk:.1f}%{suffix}",
                     ASCVD_CHINA_PAR)  # fmt: skip
    span = f"{min(risks):.1f}–{max(risks):.1f}%{suffix}"
    tier_or_none = tiers.pop() if len(tiers) == 1 else None
    return Score("ascvd", True, None, tier_or_none, {}, inputs, tuple(unknown_flags), span,
                 ASCVD_CHINA_PAR)  # fmt: skip


# --- screening suggestions from tiers -------------------------------------------------


def screening_suggestions(
    *,
    age: int | None,
    enrolled: set[str],
    cdrs_score: Score,
    ascvd_score: Score,
    sbp: int | None,
    dbp: int | None,
    bmi_value: float | None,
    bp_measured_within_year: bool,
    glucose_measured_within_year: bool,
) -> list[str]:
    """What to screen for next, from the tiers and the spec's screening rules (keys for i18n)."""
    out: list[str] = []
    if "diabetes" not in enrolled and cdrs_score.tier == "high":
        out.append("ogtt")  # CDRS ≥25 → OGTT (2020 guideline, §3)
    elif (
        "diabetes" not in enrolled
        and age is not None
        and age >= 35
        and not glucose_measured_within_year
        and cdrs_score.tier != "low"
    ):
        out.append("annual_fpg")  # §1.2 screening: ≥1 fasting glucose a year for high-risk
    if "hypertension" not in enrolled and age is not None and age >= 35:
        high_normal = (sbp is not None and 130 <= sbp < 140) or (dbp is not None and 85 <= dbp < 90)
        risk = high_normal or (bmi_value is not None and bmi_value >= 24) or age >= 55
        if sbp is not None and dbp is not None and (sbp >= 140 or dbp >= 90):
            out.append("bp_recheck")  # §1.1: first reading ≥140/90 → re-check on other days
        elif risk:
            out.append("bp_6_monthly")  # §1.1: high-risk residents, BP at least every 6 months
        elif not bp_measured_within_year:
            out.append("bp_annual")  # §1.1: opportunistic BP once a year for residents ≥35
    if ascvd_score.tier == "high":
        out.append("ascvd_high")
    elif ascvd_score.tier == "medium":
        out.append("ascvd_lifetime_high" if ascvd_score.note == "lifetime_high" else "ascvd_medium")
    return out
