"""Chronic-disease policy as pure functions over plain data.

Follow-up rules cite 《国家基本公共卫生服务规范（第三版）》 高血压 / 2型糖尿病患者健康管理服务规范
(shared/domain/primary-care-rules.md §1.1, §1.2). Risk scores: the Chinese Diabetes Risk
Score (§3) and the ASCVD risk-factor-count chart (§2; China-PAR coefficients could not be
verified, see docs/chronic.md).
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
    if ascvd:
        return Score("ascvd", False, None, None, {}, inputs, (), "ASCVD present: not scored")
    if (ldl is not None and ldl >= 4.9) or (tc is not None and tc >= 7.2):
        return Score("ascvd", True, None, "high", {}, inputs, (), "direct: LDL-C ≥4.9 or TC ≥7.2")
    if ckd_3_4:
        return Score("ascvd", True, None, "high", {}, inputs, (), "direct: CKD stage 3–4")
    if diabetes and age is not None and age >= 40:
        return Score("ascvd", True, None, "high", {}, inputs, (), "direct: diabetes, age ≥40")
    missing = [k for k in ("age", "sex", "smoker", "hdl", "hypertension") if inputs[k] is None]
    if tc is None and ldl is None:
        missing.append("tc")
    if age is not None and age < 20:
        return Score("ascvd", False, None, None, {}, inputs, tuple(missing), "applies from age 20")
    if missing == ["smoker"]:
        # Smoking unknown: when both answers give the same tier, the tier is known.
        kw = {"age": age, "sex": sex, "tc": tc, "ldl": ldl, "hdl": hdl}
        kw |= {"hypertension": hypertension, "diabetes": diabetes, "sbp": sbp, "dbp": dbp}
        yes = ascvd_chart(smoker=True, bmi_value=bmi_value, **kw)  # type: ignore[arg-type]
        no = ascvd_chart(smoker=False, bmi_value=bmi_value, **kw)  # type: ignore[arg-type]
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
