"""Policy numbers of 检验检查结果互认: the seeds' values (or stated assumptions) as defaults."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecognitionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YILIAN_RECOGNITION_", extra="ignore")

    # Validity windows per item group, in days. Chemistry 30, electrolytes 7 and HbA1c 60
    # are the example provincial list of domain primary-care-rules §5 (Hubei); haematology,
    # coagulation, serology, tumour markers and imaging are assumptions (the synthetic
    # profile's recognition.windows_days uses the same numbers).
    window_chemistry: int = Field(default=30, ge=0, le=3650)
    window_electrolytes: int = Field(default=7, ge=0, le=3650)
    window_hba1c: int = Field(default=60, ge=0, le=3650)
    window_haematology: int = Field(default=7, ge=0, le=3650)
    window_coagulation: int = Field(default=7, ge=0, le=3650)
    window_serology: int = Field(default=30, ge=0, le=3650)
    window_tumour: int = Field(default=30, ge=0, le=3650)
    window_imaging: int = Field(default=30, ge=0, le=3650)

    # Quality-control status an institution has when it joins a catalogue without one.
    default_qc_status: str = "passed"
    # Person-visit recognition rate the demo zone reported (seed 001: 5,339 person-visits,
    # 133,200 items, 79.07%); the dashboard draws it as the reference line.
    reference_person_visit_rate: float = 79.07
    # Month boundaries of the statistics follow the region's clock.
    timezone: str = "Asia/Shanghai"
    # At most this many items in one check (an order sheet, not a bulk export).
    max_items_per_check: int = Field(default=60, ge=1, le=500)
    # Catalogue snapshot kept in memory at most this long (registry edits are seen after it).
    snapshot_seconds: float = Field(default=60.0, ge=0, le=3600)
    # Candidate results shown per item in a check.
    candidates_per_item: int = Field(default=5, ge=1, le=50)

    def window(self, group: str) -> int:
        """The default validity window of an item group (an unknown group gets chemistry's)."""
        value = getattr(self, f"window_{group}", None)
        return int(value) if value is not None else self.window_chemistry


@lru_cache
def get_recognition_settings() -> RecognitionSettings:
    return RecognitionSettings()
