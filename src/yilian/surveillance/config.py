"""Policy numbers of 预警监测 (surveillance), with the seeds' values as defaults.

Seed 004 附件5 二(二)2 asks for a 传染病监测预警智慧平台 that fuses 异常健康事件, 严重症候群,
病原学检测, 媒体舆情 and 社会举报 ("多渠道、多哨点"), and 附件3 (二)1 for a 多节点智能触发的
预警指标体系: the syndromes, the notifiable diseases, the detectors per source and the
thresholds of the multi-point rules below are that 指标体系, configurable per region through
``YILIAN_SURVEILLANCE_*`` (JSON for the mappings).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Syndromes of the 发热哨点 (seed 004 附件3 二(二)3, 附件6 #15); the codes the
# synthetic sentinels report (yilian.synth profile ``sentinel.syndromes``).
SYNDROMES: dict[str, str] = {
    "ili": "流感样病例",
    "fever": "发热",
    "diarrhoea": "腹泻",
    "rash": "发热伴出疹",
    "respiratory": "严重急性呼吸道感染",
    "hfmd": "手足口病样病例",
}

# 法定传染病: ICD-10 code or prefix → disease key. The generator reports J11.1, B08.4, A09,
# B16.9, A38 and (TB) A15.0/A16.2; the 甲类 diseases are listed so a single case alerts.
NOTIFIABLE: dict[str, str] = {
    "A00": "cholera",
    "A20": "plague",
    "J09": "avian_influenza",
    "J10": "influenza",
    "J11": "influenza",
    "B08.4": "hfmd",
    "A09": "diarrhoea",
    "A08": "diarrhoea",
    "B16": "hepatitis_b",
    "B18.1": "hepatitis_b",
    "A38": "scarlet_fever",
    "A15": "tuberculosis",
    "A16": "tuberculosis",
    "B05": "measles",
    "A37": "pertussis",
    "U07.1": "covid19",
}

DISEASE_NAMES: dict[str, str] = {
    "cholera": "霍乱",
    "plague": "鼠疫",
    "avian_influenza": "人感染高致病性禽流感",
    "influenza": "流行性感冒",
    "hfmd": "手足口病",
    "diarrhoea": "其它感染性腹泻病",
    "hepatitis_b": "乙型病毒性肝炎",
    "scarlet_fever": "猩红热",
    "tuberculosis": "肺结核",
    "measles": "麻疹",
    "pertussis": "百日咳",
    "covid19": "新型冠状病毒感染",
}

# Pathogen tests (LOINC) whose positive/negative results make positivity series (病原学检测).
PATHOGEN_TESTS: dict[str, str] = {
    "11545-1": "痰涂片抗酸染色",
    "543-9": "结核分枝杆菌培养",
    "5196-1": "乙肝表面抗原",
    "92142-9": "甲型流感病毒核酸",
    "92141-1": "乙型流感病毒核酸",
    "94500-6": "新型冠状病毒核酸",
    "80382-5": "甲型流感病毒抗原",
    "80383-3": "乙型流感病毒抗原",
}


class SurveillanceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YILIAN_SURVEILLANCE_", extra="ignore")

    timezone: str = "Asia/Shanghai"
    syndromes: dict[str, str] = Field(default_factory=lambda: dict(SYNDROMES))
    # Age groups of the sentinel reports (the synthetic profile's groups); "all" is the sum.
    age_groups: tuple[str, ...] = ("0-4", "5-14", "15-24", "25-59", "60+")
    notifiable: dict[str, str] = Field(default_factory=lambda: dict(NOTIFIABLE))
    disease_names: dict[str, str] = Field(default_factory=lambda: dict(DISEASE_NAMES))
    pathogen_tests: dict[str, str] = Field(default_factory=lambda: dict(PATHOGEN_TESTS))
    # 甲类 and 按甲类管理: one case is a signal (传染病防治法 第三十条, 2-hour reporting).
    immediate_diseases: tuple[str, ...] = ("cholera", "plague", "avian_influenza")

    # Detectors run on each series by source; a series may override (PATCH /series/{key}).
    methods_by_source: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "sentinel": ["ears_c1", "ears_c2", "ears_c3"],
            "case": ["ears_c2", "ears_c3"],
            "lab": ["positivity"],
            "cluster": ["ears_c2"],
        }
    )
    # Days of history a method needs before the evaluated day (baseline + guard band).
    history_days: dict[str, int] = Field(
        default_factory=lambda: {
            "ears_c1": 14,
            "ears_c2": 14,
            "ears_c3": 14,
            "cusum": 60,
            "ewma": 60,
            "positivity": 60,
            "farrington": 3 * 365 + 60,
        }
    )
    # A series "alarms" on a day when at least this many of its methods alarm (all of them
    # when it has fewer). On the demo year's last 90 days, C1+C2+C3 with 1 of 3 gave 479
    # signal episodes for 5 injected outbreaks; 2 of 3 gave 73 and still found all 5
    # (docs/surveillance.md).
    alarm_min_methods: int = Field(default=2, ge=1)

    # 多节点智能触发 (seed 004 附件3 (二)1). A series that alarms on ≥ persist_days of
    # the last persist_window days is a signal (one day's alarm is often noise).
    persist_days: int = Field(default=2, ge=1)
    persist_window: int = Field(default=3, ge=1)
    # ≥ multi_site_min sentinels of one area alarming for a syndrome within multi_site_window days.
    # The example is 2 in a street; a district has 6-13 sentinels, so 2 of them
    # alarming together is common (36 signals in the demo's 60 days) and 3 is the default.
    multi_site_min: dict[str, int] = Field(default_factory=lambda: {"street": 2, "district": 3})
    multi_site_window: int = Field(default=3, ge=1)
    # School / care-home clusters: 《学校和托幼机构传染病疫情报告工作规范（试行）》(2006):
    # 同一班级 1 天内 3 例, 或连续 3 天内 5 例以上 with similar symptoms.
    cluster_day_cases: int = Field(default=3, ge=1)
    cluster_window_cases: int = Field(default=5, ge=1)
    cluster_window_days: int = Field(default=3, ge=1)
    # A new alarm within this many days of a signal's last day continues that signal.
    merge_gap_days: int = Field(default=7, ge=0)

    # seed_demo: days of the demo year's end that are loaded, and on which detectors run.
    demo_history_days: int = Field(default=120, ge=14, le=366)
    demo_detect_days: int = Field(default=60, ge=1, le=366)


@lru_cache
def get_surveillance_settings() -> SurveillanceSettings:
    return SurveillanceSettings()
