"""Policy numbers of the chronic-disease programmes (慢病管理), with the seed values as defaults.

Programmes are configuration: a region adds COPD (or any other programme) by setting
``YILIAN_CHRONIC_PROGRAMMES`` to a JSON list of :class:`Programme` objects, no code.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ControlKind = Literal["bp", "fpg", "none"]


class Programme(BaseModel):
    """One chronic-disease programme: who enters it and how it is followed up."""

    key: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    name_zh: str
    name_en: str
    # ICD-10 codes or prefixes (``I1`` matches I10–I19; ``E11`` matches E11.9).
    icd10: tuple[str, ...]
    # Codes excluded although a prefix matches (``I16`` hypertensive crisis is not I10–I15).
    exclude: tuple[str, ...] = ()
    control: ControlKind = "none"
    # 基本公卫规范（第三版）: at least 4 face-to-face follow-ups a year → one every quarter.
    interval_days: int = Field(default=90, ge=1, le=366)
    min_followups_per_year: int = Field(default=4, ge=0, le=52)
    # Service population: permanent residents aged ≥35 (§1.1/§1.2 "服务对象").
    min_age: int = Field(default=35, ge=0, le=120)


HYPERTENSION = Programme(
    key="hypertension",
    name_zh="高血压患者健康管理",
    name_en="Hypertension",
    icd10=("I10", "I11", "I12", "I13", "I15"),
    control="bp",
)
DIABETES = Programme(
    key="diabetes",
    name_zh="2型糖尿病患者健康管理",
    name_en="Type 2 diabetes",
    icd10=("E11",),
    control="fpg",
)
# Example for a region that adds COPD by configuration (not in the default list: the
# 第三版 spec has no COPD module, so its follow-up cadence is the region's choice).
COPD_EXAMPLE = Programme(
    key="copd",
    name_zh="慢阻肺患者健康管理",
    name_en="COPD",
    icd10=("J44",),
    control="none",
    interval_days=180,
    min_followups_per_year=2,
)


class ChronicSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YILIAN_CHRONIC_", extra="ignore")

    programmes: list[Programme] = Field(default_factory=lambda: [HYPERTENSION, DIABETES])

    # Control targets — 高血压规范 分类干预: <140/90; ≥65 years <150/90 (primary-care-rules §1.1).
    bp_target_sbp: int = 140
    bp_target_dbp: int = 90
    elderly_age: int = 65
    elderly_target_sbp: int = 150
    elderly_target_dbp: int = 90
    # 2型糖尿病规范 分类干预: FPG <7.0 mmol/L controlled (§1.2).
    fpg_target: float = 7.0

    # Urgent referral (紧急转诊) thresholds — §1.1 and §1.2.
    urgent_sbp: int = 180
    urgent_dbp: int = 110
    urgent_glucose_high: float = 16.7
    urgent_glucose_low: float = 3.9
    urgent_heart_rate: int = 100  # diabetes: persistent HR >100/min
    urgent_temperature: float = 39.0  # diabetes: temperature >39 °C

    # 分类干预: re-check within 2 weeks after a first uncontrolled reading; the referral
    # is followed up within 2 weeks (§1.1/§1.2).
    recheck_days: int = 14
    referral_followup_days: int = 14

    # Plausibility limits: a reading outside them is a typing error, refused with a 422.
    sbp_range: tuple[int, int] = (50, 300)
    dbp_range: tuple[int, int] = (20, 200)
    heart_rate_range: tuple[int, int] = (20, 250)
    glucose_range: tuple[float, float] = (0.5, 50.0)  # mmol/L
    temperature_range: tuple[float, float] = (30.0, 45.0)
    weight_range: tuple[float, float] = (20.0, 350.0)
    height_range: tuple[float, float] = (80.0, 250.0)
    waist_range: tuple[float, float] = (30.0, 250.0)

    # CDRS (中国糖尿病风险评分) ≥25 → high risk → OGTT (2型糖尿病防治指南; §3).
    cdrs_high: int = 25
    # 10-year ASCVD risk (§2): "china_par" (Yang et al., Circulation 2016; the equations
    # checked against the paper's and the 2019 guideline's worked examples) or "chart"
    # (the guidelines' risk-factor-count chart). With China-PAR inputs missing (waist,
    # lipids …) the chart is used when it can decide, and the result says so.
    ascvd_model: Literal["china_par", "chart"] = "china_par"
    ascvd_fallback_to_chart: bool = True
    # China-PAR's region (north of the Yangtze) and urban residence are the deployment's:
    # the demonstration zone (青浦·吴江·嘉善) and 长宁 lie south of the river, in towns.
    china_par_north: bool = False
    china_par_urban: bool = True
    # Tiers of the 2019 中国心血管病风险评估和管理指南: <5% low, 5–9.9% medium, ≥10% high.
    ascvd_medium_at: float = 5.0
    ascvd_high_at: float = 10.0

    def programme(self, key: str) -> Programme | None:
        return next((p for p in self.programmes if p.key == key), None)


@lru_cache
def get_chronic_settings() -> ChronicSettings:
    return ChronicSettings()
