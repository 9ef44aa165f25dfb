"""Policy numbers of 家庭医生签约 and screening, with the seed values as defaults."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FamilyDoctorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YILIAN_FAMILYDOCTOR_", extra="ignore")

    # 004 附件3 三(三)1 / 附件4: "全人群、重点人群签约覆盖率分别达到 48%和 80%以上".
    target_all: float = Field(default=0.48, ge=0, le=1)
    target_key: float = Field(default=0.80, ge=0, le=1)
    # A contract runs one year and is renewed yearly (上海 practice; synth renews it too).
    contract_term_days: int = Field(default=365, ge=1, le=3 * 366)
    # 基本公卫规范 §1.4: the elderly health service is for residents aged ≥65.
    elderly_age: int = Field(default=65, ge=0, le=120)
    # Children 0–6 (0～6岁儿童健康管理) are a key population.
    child_max_age: int = Field(default=6, ge=0, le=18)
    # primary-care-rules §4: Shanghai community CRC screening, target age 50–74.
    crc_min_age: int = Field(default=50, ge=0, le=120)
    crc_max_age: int = Field(default=74, ge=0, le=120)
    # §4 (Jiangyin protocol; Shanghai "2 FITs about 1 week apart"): FIT #2 one week after FIT #1.
    crc_fit_interval_days: int = Field(default=7, ge=1, le=90)
    # A screened resident is invited again after this many years (not in the seed: a setting).
    crc_rescreen_years: int = Field(default=1, ge=1, le=10)
    # 001 示范区公共服务: one free PPV23 dose for registered residents aged ≥60.
    ppv23_min_age: int = Field(default=60, ge=0, le=120)
    # Abnormal results older than this no longer show on a worklist (they stay in the table).
    abnormal_window_days: int = Field(default=90, ge=1, le=3650)
    # Reminders: residents are reminded this many days before a due date (0 = on the day).
    reminder_lead_days: int = Field(default=0, ge=0, le=30)
    reminder_batch_size: int = Field(default=2000, ge=10, le=100_000)
    # EpisodeOfCare.type codes that mean a family-doctor contract (家庭医生签约); the
    # synthetic region sends "family-doctor-contract". Other episodes are left alone.
    contract_episode_types: tuple[str, ...] = ("family-doctor-contract",)


@lru_cache
def get_familydoctor_settings() -> FamilyDoctorSettings:
    return FamilyDoctorSettings()
