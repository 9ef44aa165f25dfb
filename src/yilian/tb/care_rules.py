"""Pure decisions of TB patient management: outcomes, visit schedule, adherence.

Sources: 国家基本公共卫生服务规范（第三版）肺结核患者健康管理服务规范 (first home visit
within 72 h of the notice; medical-staff-supervised patients assessed at least monthly;
family-supervised patients every 10 days in the intensive phase, monthly in the
continuation phase; missed doses totalling ≥1 week reported upward; 规则服药 = ≥90 % of
doses due taken) — /work/shared/domain/primary-care-rules.md §1.3; WHO consolidated
definitions of treatment outcomes (WHO/CDS/TB 2021, "Meeting report of the WHO expert
consultation on drug-resistant TB treatment outcome definitions").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Outcome(StrEnum):
    """WHO 2021 treatment-outcome definitions (治疗转归)."""

    cured = "cured"  # 治愈
    treatment_completed = "treatment_completed"  # 完成治疗
    treatment_failed = "treatment_failed"  # 治疗失败
    died = "died"  # 死亡
    lost_to_follow_up = "lost_to_follow_up"  # 失访
    not_evaluated = "not_evaluated"  # 未评价


OUTCOME_LABELS = {
    Outcome.cured: "治愈",
    Outcome.treatment_completed: "完成治疗",
    Outcome.treatment_failed: "治疗失败",
    Outcome.died: "死亡",
    Outcome.lost_to_follow_up: "失访",
    Outcome.not_evaluated: "未评价",
}
# WHO: treatment success = cured + treatment completed.
SUCCESS = frozenset({Outcome.cured, Outcome.treatment_completed})

PHASES = ("intensive", "continuation")
DOSE_STATUSES = ("taken", "missed", "late")
TAKEN = frozenset({"taken", "late"})  # a late dose is still a dose taken
METHODS = ("dot", "video", "pillbox", "family")  # 面视督导, 视频督导, 智能药盒, 家属督导
SUPERVISION = ("medical", "family")
VISIT_KINDS = ("first", "follow_up", "closing")
# ICD-10 A15–A19: tuberculosis (respiratory, nervous system, other organs, miliary).
ICD10_TB = ("A15", "A16", "A17", "A18", "A19")


@dataclass(frozen=True)
class VisitPolicy:
    first_visit_hours: int = 72  # 规范: 接到通知后 72 小时内首次入户随访
    monthly_days: int = 30  # 医务人员督导: 每月至少 1 次随访评估
    family_intensive_days: int = 10  # 家属督导: 强化期每 10 天随访 1 次
    regular_share: float = 0.9  # 规则服药: 实际服药 ≥ 应服药 90 %
    missed_week: int = 7  # 累计漏服 ≥ 1 周 报告上级专业机构


def is_tb_code(code: str | None) -> bool:
    """ICD-10 A15–A19 (with or without a sub-code)."""
    return bool(code) and str(code).strip().upper()[:3] in ICD10_TB


def visit_schedule(
    notification: date,
    intensive_end: date,
    planned_end: date,
    supervision: str = "medical",
    policy: VisitPolicy = VisitPolicy(),
) -> list[date]:
    """Due dates of the community doctor's visits: the first within 72 h, then periodic.

    Medical-staff supervision: monthly until the end of treatment. Family supervision:
    every 10 days in the intensive phase, then monthly.
    """
    first = notification + timedelta(days=policy.first_visit_hours // 24)
    dues = [first]
    d = first
    while True:
        step = (
            policy.family_intensive_days
            if supervision == "family" and d < intensive_end
            else policy.monthly_days
        )
        d = d + timedelta(days=step)
        if d > planned_end:
            break
        dues.append(d)
    return dues


@dataclass(frozen=True)
class VisitSlot:
    due: date
    done: bool
    visit_date: date | None


def match_visits(dues: list[date], visits: Iterable[date], since: date) -> list[VisitSlot]:
    """Each due date is met by a visit (where the patient was found) in its window.

    The window of the first due date opens at the notification (``since``); each later
    one opens the day after the previous due date. A visit after the due date counts for
    the next window.
    """
    days = sorted(visits)
    slots: list[VisitSlot] = []
    opens = since
    for due in dues:
        hit = next((v for v in days if opens <= v <= due), None)
        slots.append(VisitSlot(due, hit is not None, hit))
        opens = due + timedelta(days=1)
    return slots


def overdue(slots: list[VisitSlot], today: date) -> list[date]:
    """Due dates that have passed without a visit."""
    return [s.due for s in slots if not s.done and s.due < today]


def next_due(slots: list[VisitSlot], today: date) -> date | None:
    """The earliest due date not met yet that is today or later (or overdue)."""
    open_ = [s.due for s in slots if not s.done]
    return open_[0] if open_ else None


def doses_due(start: date, until: date) -> int:
    """Daily regimen: every day from the start up to and including ``until``."""
    return max(0, (until - start).days + 1)


def adherence(taken: int, due: int) -> float | None:
    """Doses taken / doses due (None when nothing is due yet)."""
    return round(taken / due, 4) if due > 0 else None


def is_regular(taken: int, due: int, policy: VisitPolicy = VisitPolicy()) -> bool:
    """规则服药: at least 90 % of the doses due were taken."""
    return due > 0 and taken / due >= policy.regular_share


def missed_total_reaches_week(missed: int, policy: VisitPolicy = VisitPolicy()) -> bool:
    """Missed doses totalling ≥ 1 week must be reported to the upper-level institution."""
    return missed >= policy.missed_week


def phase_on(day: date, intensive_end: date) -> str:
    return "intensive" if day <= intensive_end else "continuation"


# Custody across transfers (转出/转入). The registering unit keeps the case in its cohort:
# China's web-based TB information system reports the outcome of a transferred-out patient
# to the unit that registered them (Li T et al., PLoS ONE 2018;13(11):e0206580, "treatment
# outcomes ... were available with transfer-out BMU"), as WHO cohort reporting counts a
# patient once, where registered. The work of each day — doses due and taken, visits due
# and done — counts for the organisation managing the case that day.


@dataclass(frozen=True)
class Custody:
    """From ``since`` on (inclusive), ``organization_id`` manages the case."""

    since: date
    organization_id: str


def custody(first_organization_id: str, handovers: Iterable[tuple[date, str]]) -> list[Custody]:
    """The custody periods of a case: the registering organisation, then each transfer-in.

    A transfer acknowledged on day *d* hands the case over from *d* on; until then the
    sending organisation keeps it (the case is still theirs while the transfer is pending).
    """
    periods = [Custody(date.min, first_organization_id)]
    for day, org in sorted(handovers):
        if day <= periods[-1].since:
            periods[-1] = Custody(periods[-1].since, org)
        else:
            periods.append(Custody(day, org))
    return periods


def custodian_on(periods: list[Custody], day: date) -> str:
    """The organisation managing the case on ``day``."""
    found = periods[0].organization_id
    for p in periods:
        if p.since <= day:
            found = p.organization_id
        else:
            break
    return found


def split_by_custody(
    periods: list[Custody], start: date, end: date
) -> list[tuple[str, date, date]]:
    """The stretches of [start, end] and who managed the case in each."""
    out: list[tuple[str, date, date]] = []
    for i, p in enumerate(periods):
        nxt = periods[i + 1].since if i + 1 < len(periods) else date.max
        lo = max(start, p.since)
        hi = min(end, nxt - timedelta(days=1)) if nxt != date.max else end
        if lo <= hi:
            out.append((p.organization_id, lo, hi))
    return out
