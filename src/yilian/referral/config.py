"""Policy numbers of two-way referral and the exam-booking centre, seed values as defaults."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReferralSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YILIAN_REFERRAL_", extra="ignore")

    # 区域医疗中心预留 20% 的专家号源，优先分配给社区卫生服务中心 (004 附件4 二(二)2).
    reserved_share: float = Field(default=0.20, ge=0.0, le=1.0)
    # Unused reserved slots go back to the public pool (primary-care-rules §6); the seeds
    # give no lead time, 48 h is the default.
    release_hours: int = Field(default=48, ge=0, le=24 * 60)
    # The same share for the consortium's exam centres (医技预约中心, 002; 004 附件4 二(二)2:
    # 家庭医生可协助签约居民预约上级医院适宜检查检验项目).
    exam_reserved_share: float = Field(default=0.20, ge=0.0, le=1.0)
    exam_release_hours: int = Field(default=48, ge=0, le=24 * 60)
    # A request nobody acts on expires; no seed value, a week keeps worklists honest.
    expiry_hours: int = Field(default=7 * 24, ge=1, le=24 * 365)
    # How long the receiving organisation may read the record once it accepted.
    relationship_days: int = Field(default=90, ge=1, le=3650)


@lru_cache
def get_referral_settings() -> ReferralSettings:
    return ReferralSettings()
