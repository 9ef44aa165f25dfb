"""Policy numbers of remote and joint consultation (远程会诊 / 多学科会诊 / 联合会诊).

The seeds give no numeric rule for consultations (000 reports volume only: 16 online
and 2 offline sessions, 35 difficult RR-TB cases by 2023-10). The limits below are
local defaults, each one a setting a region can change.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsultSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YILIAN_CONSULT_", extra="ignore")

    # How long invited experts may see a case's items after it opens, unless it is
    # closed or cancelled sooner. Local default (no seed value): one month covers the
    # fortnightly rhythm of the 长三角 RR-TB online sessions (000: 16 sessions in ~1 year).
    access_days: int = Field(default=30, ge=1, le=366)
    # Upper bounds that keep one case reviewable in one sitting (local defaults).
    max_items: int = Field(default=50, ge=1, le=500)
    max_questions: int = Field(default=10, ge=1, le=50)
    max_invitations: int = Field(default=20, ge=1, le=100)


@lru_cache
def get_consult_settings() -> ConsultSettings:
    return ConsultSettings()
