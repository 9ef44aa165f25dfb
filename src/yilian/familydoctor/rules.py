"""Pure decisions of family-doctor contracting, screening and worklists (no database).

Seeds: 004 附件3 三(三) and 附件4 (三) 签约高质量发展 (key populations, functional
communities, 48%/80% coverage); primary-care-rules §1.4 (elderly ≥65), §4 (CRC
screening), §6 ("1+1+1"); 001 示范区公共服务 (CRC free screening, PPV23 ≥60).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class TeamRole(StrEnum):
    """家庭医生团队 members (004 附件4: 行政助手、健康管理师 join the team)."""

    family_doctor = "family_doctor"
    nurse = "nurse"
    public_health = "public_health"
    health_manager = "health_manager"
    admin_assistant = "admin_assistant"


TEAM_ROLE_LABELS = {
    TeamRole.family_doctor: "家庭医生",
    TeamRole.nurse: "护士",
    TeamRole.public_health: "公卫医生",
    TeamRole.health_manager: "健康管理师",
    TeamRole.admin_assistant: "行政助手",
}


class ContractKind(StrEnum):
    """个人签约, 家庭签约 (004 附件3: "从个人签约拓展为家庭签约"), 功能社区签约."""

    individual = "individual"
    family = "family"
    functional = "functional"


class FunctionalCommunity(StrEnum):
    """功能社区: 企事业单位/园区/楼宇 (workplace), 校园 (school), 养老机构 (care home)."""

    workplace = "workplace"
    school = "school"
    care_home = "care_home"


class Category(StrEnum):
    """重点人群 (004 附件3/附件4 and 国家基本公共卫生服务规范 populations)."""

    elderly = "elderly"  # 65岁及以上老年人
    hypertension = "hypertension"
    diabetes = "diabetes"
    severe_mental = "severe_mental"  # 严重精神障碍
    tuberculosis = "tuberculosis"
    pregnant = "pregnant"
    children = "children"  # 0–6岁儿童
    disabled = "disabled"  # 残疾人
    special_family = "special_family"  # 计划生育特殊家庭成员
    disabled_elderly = "disabled_elderly"  # 失能老年人


CATEGORY_LABELS = {
    Category.elderly: "65岁及以上老年人",
    Category.hypertension: "高血压患者",
    Category.diabetes: "2型糖尿病患者",
    Category.severe_mental: "严重精神障碍患者",
    Category.tuberculosis: "肺结核患者",
    Category.pregnant: "孕产妇",
    Category.children: "0–6岁儿童",
    Category.disabled: "残疾人",
    Category.special_family: "计划生育特殊家庭",
    Category.disabled_elderly: "失能老年人",
}

# Chronic programmes (yilian.chronic) that make a person a key population.
PROGRAMME_CATEGORIES = {
    "hypertension": Category.hypertension,
    "diabetes": Category.diabetes,
    "tuberculosis": Category.tuberculosis,
    "severe_mental": Category.severe_mental,
}


class ContractStatus(StrEnum):
    active = "active"
    renewed = "renewed"  # superseded by its renewal; still covers its own period
    ended = "ended"  # 解约 before its end date


def age_on(birth: date, on: date) -> int:
    """Completed years of age on a day."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def derived_categories(
    birth: date | None,
    on: date,
    programmes: Iterable[str] = (),
    *,
    elderly_age: int = 65,
    child_max_age: int = 6,
) -> set[Category]:
    """Key populations that follow from the record: age and chronic-programme enrolment."""
    out = {PROGRAMME_CATEGORIES[p] for p in programmes if p in PROGRAMME_CATEGORIES}
    if birth is not None:
        age = age_on(birth, on)
        if age >= elderly_age:
            out.add(Category.elderly)
        if 0 <= age <= child_max_age:
            out.add(Category.children)
    return out


def contract_period_problem(
    start: date, end: date | None, *, today: date, term_days: int, birth: date | None = None
) -> tuple[str, str] | None:
    """Why a contract's dates make no sense, as (field, message); None when they do."""
    if birth is not None and start < birth:
        return "start", "contract cannot start before the person's birth date"
    if start > today + timedelta(days=366):
        return "start", "contract cannot start more than a year from today"
    if end is None:
        return None
    if end < start:
        return "end", "contract end must not be before its start"
    if (end - start).days > 3 * 366:
        return "end", f"contract cannot run longer than three years (term is {term_days} days)"
    if end < today and start < today - timedelta(days=366 * 3):
        return "end", "contract ended more than three years ago"
    return None


def default_end(start: date, term_days: int) -> date:
    """A one-term contract: the day before the same date next term (365 days → 364 days later)."""
    return start + timedelta(days=term_days - 1)


def rate(numerator: int, denominator: int) -> float | None:
    """A share, None when there is nobody to count."""
    return numerator / denominator if denominator else None


def meets(actual: float | None, target: float) -> bool | None:
    return None if actual is None else actual >= target


# --- colorectal cancer screening (大肠癌筛查, primary-care-rules §4, 001 示范区) ---------

POSITIVE = "positive"
NEGATIVE = "negative"
FIT_RESULTS = (POSITIVE, NEGATIVE)


class CrcStatus(StrEnum):
    invited = "invited"
    in_progress = "in_progress"  # questionnaire negative, FITs not both back
    negative = "negative"  # screening complete, nothing found
    referred = "referred"  # initial-screen positive: colonoscopy referral slip issued
    colonoscopy_done = "colonoscopy_done"


@dataclass(frozen=True)
class CrcDecision:
    status: CrcStatus
    positive: bool | None  # initial screen result, None while incomplete
    next_step: str | None  # "fit1" | "fit2" | "colonoscopy" | None
    fit2_due: date | None = None


def crc_decision(
    *,
    questionnaire_positive: bool | None,
    fit1: str | None,
    fit1_on: date | None,
    fit2: str | None,
    colonoscopy_done: bool = False,
    fit_interval_days: int = 7,
) -> CrcDecision:
    """Initial-screen outcome: questionnaire positive or any FIT positive → colonoscopy referral.

    001: "为评估阳性或者任一次检查阳性的人群提供转诊服务"; §4 (Jiangyin protocol): questionnaire
    positive → referral without stool sample; FIT #1 positive → referral; otherwise FIT #2
    one week after the first; negative → complete.
    """
    if colonoscopy_done:
        return CrcDecision(CrcStatus.colonoscopy_done, True, None)
    if questionnaire_positive or fit1 == POSITIVE or fit2 == POSITIVE:
        return CrcDecision(CrcStatus.referred, True, "colonoscopy")
    if fit1 is None:
        status = CrcStatus.invited if questionnaire_positive is None else CrcStatus.in_progress
        return CrcDecision(status, None, "fit1")
    if fit2 is None:
        due = fit1_on + timedelta(days=fit_interval_days) if fit1_on else None
        return CrcDecision(CrcStatus.in_progress, None, "fit2", due)
    if questionnaire_positive is None:
        return CrcDecision(CrcStatus.in_progress, None, "questionnaire")
    return CrcDecision(CrcStatus.negative, False, None)


def crc_eligible(age: int, *, min_age: int = 50, max_age: int = 74) -> bool:
    return min_age <= age <= max_age


def ppv23_eligible(age: int, *, min_age: int = 60) -> bool:
    """001: one free PPV23 dose for registered residents aged ≥60."""
    return age >= min_age


# --- abnormal results (for the worklist) ---------------------------------------------

ABNORMAL_CODES = frozenset({"H", "HH", "L", "LL", "A", "AA", "HU", "LU"})
CRITICAL_CODES = frozenset({"HH", "LL", "AA"})


def abnormal_flag(
    interpretation_codes: Iterable[str],
    value: float | None,
    low: float | None,
    high: float | None,
) -> str | None:
    """The interpretation that makes a result abnormal ("HH", "H", …), None when it is normal.

    The institution's interpretation wins; without one, a value outside the reference
    range is H or L.
    """
    codes = [c.upper() for c in interpretation_codes]
    for c in ("HH", "LL", "AA", "H", "L", "A", "HU", "LU"):
        if c in codes:
            return c
    if value is not None:
        if high is not None and value > high:
            return "H"
        if low is not None and value < low:
            return "L"
    return None


# --- worklists and reminders --------------------------------------------------------


class ItemKind(StrEnum):
    followup = "followup"  # chronic programme follow-up due (today or overdue)
    crc_invite = "crc_invite"
    crc_fit2 = "crc_fit2"
    crc_colonoscopy = "crc_colonoscopy"
    ppv23_invite = "ppv23_invite"
    health_check = "health_check"  # 65+ annual health check
    abnormal = "abnormal"
    down_referral = "down_referral"


ITEM_LABELS = {
    ItemKind.followup: "慢病随访",
    ItemKind.crc_invite: "大肠癌筛查邀请",
    ItemKind.crc_fit2: "第二次便隐血检测",
    ItemKind.crc_colonoscopy: "肠镜转诊（免挂号费）",
    ItemKind.ppv23_invite: "23价肺炎疫苗接种邀请",
    ItemKind.health_check: "老年人年度健康体检",
    ItemKind.abnormal: "异常结果处理",
    ItemKind.down_referral: "下转接诊",
}

# Kinds a resident is reminded of (the others are the doctor's own work).
REMINDED_KINDS = frozenset(
    {
        ItemKind.followup,
        ItemKind.crc_invite,
        ItemKind.crc_fit2,
        ItemKind.crc_colonoscopy,
        ItemKind.ppv23_invite,
        ItemKind.health_check,
    }
)


# What the resident reads: no diagnosis in it (an SMS is not a private channel).
REMINDER_LABELS = {
    ItemKind.followup: "健康随访",
    ItemKind.crc_invite: "免费大肠癌筛查",
    ItemKind.crc_fit2: "第二次便隐血检测",
    ItemKind.crc_colonoscopy: "肠镜检查（凭转诊单免挂号费）",
    ItemKind.ppv23_invite: "免费23价肺炎疫苗接种",
    ItemKind.health_check: "老年人免费健康体检",
}


def reminder_text(kind: str, due: date, centre: str) -> str:
    """The message a gateway sends for a worklist item."""
    label = REMINDER_LABELS.get(ItemKind(kind), "健康服务")
    return f"【{centre}】您好，您的{label}已到期（{due.isoformat()}），请联系您的家庭医生预约。"
