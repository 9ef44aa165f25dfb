"""Pure decisions of 双向转诊 and the shared slot pool: states, directions, reservation, metrics.

Plain data in, plain data out; the service feeds them rows and the clock.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Direction(StrEnum):
    up = "up"  # 上转: family doctor → specialist at a higher-level or cross-region institution
    down = "down"  # 下转: hospital → community centre, rehabilitation or nursing institution


class Status(StrEnum):
    requested = "requested"
    accepted = "accepted"
    declined = "declined"
    scheduled = "scheduled"
    arrived = "arrived"
    completed = "completed"
    cancelled = "cancelled"
    expired = "expired"


class Action(StrEnum):
    accept = "accept"
    decline = "decline"
    schedule = "schedule"
    arrive = "arrive"
    complete = "complete"
    cancel = "cancel"


class SlotKind(StrEnum):
    expert = "expert"  # 专家号源
    exam = "exam"  # 医技检查 (CT/MRI/超声/内镜) capacity


class SlotStatus(StrEnum):
    open = "open"
    booked = "booked"
    withdrawn = "withdrawn"  # the centre took the session off (停诊)


class Channel(StrEnum):
    referral = "referral"  # a community centre booking out of the reserved pool
    public = "public"  # the hospital's own public channel


class Modality(StrEnum):
    CT = "CT"
    MR = "MR"
    US = "US"  # 超声
    ES = "ES"  # 内镜 (DICOM modality code for endoscopy)


MODALITY_LABELS = {
    Modality.CT: "CT",
    Modality.MR: "磁共振",
    Modality.US: "超声",
    Modality.ES: "内镜",
}


class ExamStatus(StrEnum):
    ordered = "ordered"  # 基层开单
    scheduled = "scheduled"
    examined = "examined"  # 中心检查
    reported = "reported"  # 中心诊断, report back in the record
    cancelled = "cancelled"


STATUS_LABELS = {
    Status.requested: "待接收",
    Status.accepted: "已接收",
    Status.declined: "已拒绝",
    Status.scheduled: "已预约",
    Status.arrived: "已到诊",
    Status.completed: "已完成",
    Status.cancelled: "已取消",
    Status.expired: "已过期",
}

EXAM_STATUS_LABELS = {
    ExamStatus.ordered: "已开单",
    ExamStatus.scheduled: "已预约",
    ExamStatus.examined: "已检查",
    ExamStatus.reported: "已出报告",
    ExamStatus.cancelled: "已取消",
}

# The referral's life: requested → accepted / declined → scheduled → arrived → completed,
# plus cancelled (by the sender while it is open) and expired (nobody acted in time).
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.accept: (frozenset({Status.requested}), Status.accepted),
    Action.decline: (frozenset({Status.requested}), Status.declined),
    Action.schedule: (frozenset({Status.accepted}), Status.scheduled),
    Action.arrive: (frozenset({Status.scheduled}), Status.arrived),
    Action.complete: (frozenset({Status.arrived}), Status.completed),
    Action.cancel: (
        frozenset({Status.requested, Status.accepted, Status.scheduled}),
        Status.cancelled,
    ),
}
OPEN_STATUSES = frozenset({Status.requested, Status.accepted, Status.scheduled, Status.arrived})
FINAL_STATUSES = frozenset(set(Status) - OPEN_STATUSES)

EXAM_TRANSITIONS: dict[str, tuple[frozenset[ExamStatus], ExamStatus]] = {
    "schedule": (frozenset({ExamStatus.ordered}), ExamStatus.scheduled),
    "examine": (frozenset({ExamStatus.scheduled}), ExamStatus.examined),
    "report": (frozenset({ExamStatus.examined}), ExamStatus.reported),
    "cancel": (frozenset({ExamStatus.ordered, ExamStatus.scheduled}), ExamStatus.cancelled),
}

# 基层 institutions a family doctor works in, and where a down-referral may go
# (术后恢复期、重症稳定期 → 社区、康复、护理; 004 附件1 二(一)2).
PRIMARY_TYPES = frozenset(
    {
        "community_health_center",
        "community_health_subcenter",
        "community_health_station",
        "primary_hospital",
    }
)
DOWN_TARGET_TYPES = PRIMARY_TYPES | {"rehabilitation_hospital", "nursing_home"}
HOSPITAL_RANK = {
    "secondary_hospital": 2,
    "tcm_hospital": 2,
    "integrated_medicine_hospital": 2,
    "mental_health_center": 2,
    "maternal_child_health": 2,
    "internet_hospital": 2,
    "tertiary_hospital": 3,
}


def rank(org_type: str) -> int:
    """Level of care an institution type stands for: 1 基层, 2 二级, 3 三级, 0 not clinical."""
    if org_type in DOWN_TARGET_TYPES:
        return 1
    return HOSPITAL_RANK.get(org_type, 0)


def direction_error(
    direction: Direction, from_type: str, to_type: str, *, cross_region: bool
) -> str | None:
    """Why a referral between these institution types is not an up/down referral, or None.

    Up: to a hospital of a higher level, or to any hospital in another region (跨区域).
    Down: from a hospital to a community centre, rehabilitation or nursing institution.
    """
    from_rank, to_rank = rank(from_type), rank(to_type)
    if direction is Direction.up:
        if to_rank < 2:
            return "an up-referral goes to a hospital (二级或三级医疗机构)"
        if from_rank == 0:
            return "an up-referral comes from a clinical institution"
        if to_rank <= from_rank and not cross_region:
            return "an up-referral goes to a higher-level or a cross-region institution"
        return None
    if to_type not in DOWN_TARGET_TYPES:
        return "a down-referral goes to a community centre, rehabilitation or nursing institution"
    if from_rank < 2:
        return "a down-referral comes from a hospital"
    return None


def expires_at(requested_at: datetime, expiry_hours: int) -> datetime:
    return requested_at + timedelta(hours=expiry_hours)


def effective_status(status: Status, expires: datetime | None, now: datetime) -> Status:
    """A request nobody acted on before ``expires`` is expired, whatever the row still says."""
    if status is Status.requested and expires is not None and now >= expires:
        return Status.expired
    return status


def transition_error(current: Status, action: Action) -> str | None:
    """Why ``action`` is not allowed from ``current``, or None."""
    allowed, _ = TRANSITIONS[action]
    if current in allowed:
        return None
    if current is Status.expired:
        return "the referral expired: nobody acted on it in time; send a new one"
    names = ", ".join(sorted(s.value for s in allowed))
    return f"cannot {action.value} a referral that is {current.value} (only when {names})"


def next_status(action: Action) -> Status:
    return TRANSITIONS[action][1]


def priority(*, urgent: bool, contracted: bool) -> int:
    """Worklist rank, lower first: urgent, then 签约居民, then the others.

    004 附件4 二(二)2: 对经家庭医生转诊至上级医院的签约居民，优先就诊、优先检查、优先住院.
    """
    return (0 if urgent else 2) + (0 if contracted else 1)


# --- slots ------------------------------------------------------------------


def reserved_count(capacity: int, share: float) -> int:
    """How many of ``capacity`` slots are held for community referrals.

    Rounded up, so that the reserved part is never below the share: 区域医疗中心预留 20%
    的专家号源 (004 附件4 二(二)2); 10 slots → 2, 7 slots → 2, 4 slots → 1.
    """
    if capacity <= 0 or share <= 0:
        return 0
    return min(capacity, math.ceil(capacity * share - 1e-9))


def reserved_positions(capacity: int, share: float) -> set[int]:
    """Which of the session's slot positions are reserved, spread evenly over the session."""
    n = reserved_count(capacity, share)
    if n == 0:
        return set()
    step = capacity / n
    return {int(i * step) for i in range(n)}


def release_at(start: datetime, release_hours: int) -> datetime:
    return start - timedelta(hours=release_hours)


def is_held(reserved: bool, start: datetime, release_hours: int, now: datetime) -> bool:
    """A reserved slot is held for referrals while now < start − release time."""
    return reserved and now < release_at(start, release_hours)


def pool(reserved: bool, start: datetime, release_hours: int, now: datetime) -> str:
    """``referral`` while the slot is held for community referrals, ``public`` otherwise."""
    return "referral" if is_held(reserved, start, release_hours, now) else "public"


def booking_error(
    *,
    status: SlotStatus,
    reserved: bool,
    start: datetime,
    release_hours: int,
    channel: Channel,
    now: datetime,
) -> str | None:
    """Why this slot cannot be booked through ``channel`` now, or None."""
    if status is SlotStatus.booked:
        return "the slot is already taken"
    if status is SlotStatus.withdrawn:
        return "the slot was withdrawn by the centre"
    if start <= now:
        return "the slot has already begun"
    held = is_held(reserved, start, release_hours, now)
    if channel is Channel.referral and not held:
        if reserved:
            return (
                "the reserved slot was released to the public pool at "
                f"{release_at(start, release_hours).isoformat()}; "
                "book it through the public channel"
            )
        return "the slot belongs to the public pool, not to the referral reserve"
    if channel is Channel.public and held:
        return (
            "the slot is reserved for community referrals until "
            f"{release_at(start, release_hours).isoformat()}"
        )
    return None


# --- metrics -----------------------------------------------------------------


@dataclass(frozen=True)
class ReferralFact:
    """One referral as the metrics see it."""

    direction: Direction
    status: Status  # effective status
    requested_at: datetime
    accepted_at: datetime | None = None
    appointment_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass
class Metrics:
    up: int = 0
    down: int = 0
    up_down_ratio: float | None = None
    decided: int = 0
    accepted: int = 0
    acceptance_rate: float | None = None
    completed: int = 0
    completion_rate: float | None = None
    expired: int = 0
    median_days_to_appointment: float | None = None
    mean_days_to_appointment: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)


ACCEPTED_EVER = frozenset({Status.accepted, Status.scheduled, Status.arrived, Status.completed})


def metrics(facts: Iterable[ReferralFact]) -> Metrics:
    """Up/down counts and ratio, acceptance rate, time to appointment and completion.

    Acceptance rate = accepted (ever) / decided (accepted ever + declined + expired);
    completion rate = completed / accepted (ever); time to appointment in days from the request.
    A referral cancelled after acceptance counts as accepted but not completed.
    """
    out = Metrics()
    waits: list[float] = []
    for f in facts:
        out.statuses[f.status.value] = out.statuses.get(f.status.value, 0) + 1
        if f.direction is Direction.up:
            out.up += 1
        else:
            out.down += 1
        ever = f.status in ACCEPTED_EVER or (
            f.status is Status.cancelled and f.accepted_at is not None
        )
        if ever:
            out.accepted += 1
        if ever or f.status in (Status.declined, Status.expired):
            out.decided += 1
        if f.status is Status.completed:
            out.completed += 1
        if f.status is Status.expired:
            out.expired += 1
        if f.appointment_at is not None:
            waits.append((f.appointment_at - f.requested_at).total_seconds() / 86400)
    out.up_down_ratio = round(out.up / out.down, 3) if out.down else None
    out.acceptance_rate = round(out.accepted / out.decided, 4) if out.decided else None
    out.completion_rate = round(out.completed / out.accepted, 4) if out.accepted else None
    if waits:
        out.median_days_to_appointment = round(statistics.median(waits), 2)
        out.mean_days_to_appointment = round(statistics.fmean(waits), 2)
    return out


def month_of(when: datetime) -> str:
    return f"{when.year:04d}-{when.month:02d}"
