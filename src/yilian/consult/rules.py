"""The consultation workflow as pure functions: case types, states, who may do what and when.

Seeds: 000 (长三角区域利福平耐药结核病联合会诊制度: "截至2023年10月，已完成线上会诊16次，
线下会诊2次，累计会诊35例利福平耐药肺结核疑难病例"), 001 (长三角（上海）智慧互联网医院:
远程门诊和多学科会诊中心 "为患者提供由多家医院、多个学科参与的远程会诊"), 002/004 附件1
(区域远程会诊中心 among the auxiliary centres; 互联网医院多学科会诊).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class CaseType(StrEnum):
    mdt = "mdt"  # 多学科会诊 (MDT), 001/004 附件1
    remote = "remote"  # 远程会诊, 002 远程会诊中心
    joint = "joint"  # 联合会诊 across institutions or provinces
    rr_tb_joint = "rr_tb_joint"  # 长三角区域利福平耐药结核病联合会诊, 000


CASE_TYPE_LABELS_ZH = {
    CaseType.mdt: "多学科会诊（MDT）",
    CaseType.remote: "远程会诊",
    CaseType.joint: "联合会诊",
    CaseType.rr_tb_joint: "长三角利福平耐药结核病联合会诊",
}


class CaseStatus(StrEnum):
    draft = "draft"  # 草稿: items and questions being prepared, nothing sent
    open = "open"  # 已发起: invitations sent, experts may read the items
    scheduled = "scheduled"  # 已排期: a session time is set
    in_session = "in_session"  # 会诊中
    concluded = "concluded"  # 已出具结论: conclusion signed and filed in the record
    closed = "closed"  # 已结案: experts' access ended
    cancelled = "cancelled"  # 已取消


class InvitationStatus(StrEnum):
    pending = "pending"  # added to a draft, not yet sent
    sent = "sent"
    accepted = "accepted"
    declined = "declined"


class SessionMode(StrEnum):
    online = "online"  # 线上会诊
    offline = "offline"  # 线下会诊


class Action(StrEnum):
    submit = "submit"
    invite = "invite"
    schedule = "schedule"
    start = "start"
    opinion = "opinion"
    sign = "sign"
    close = "close"
    cancel = "cancel"
    respond = "respond"


# From which states each action is allowed (the target state is in TARGET).
ALLOWED_FROM: dict[Action, frozenset[CaseStatus]] = {
    Action.submit: frozenset({CaseStatus.draft}),
    Action.invite: frozenset(
        {CaseStatus.draft, CaseStatus.open, CaseStatus.scheduled, CaseStatus.in_session}
    ),
    Action.schedule: frozenset({CaseStatus.open, CaseStatus.scheduled}),
    Action.start: frozenset({CaseStatus.open, CaseStatus.scheduled}),
    Action.opinion: frozenset({CaseStatus.open, CaseStatus.scheduled, CaseStatus.in_session}),
    Action.sign: frozenset({CaseStatus.open, CaseStatus.scheduled, CaseStatus.in_session}),
    Action.close: frozenset({CaseStatus.concluded}),
    Action.cancel: frozenset(
        {CaseStatus.draft, CaseStatus.open, CaseStatus.scheduled, CaseStatus.in_session}
    ),
    Action.respond: frozenset({CaseStatus.open, CaseStatus.scheduled, CaseStatus.in_session}),
}
TARGET: dict[Action, CaseStatus] = {
    Action.submit: CaseStatus.open,
    Action.schedule: CaseStatus.scheduled,
    Action.start: CaseStatus.in_session,
    Action.sign: CaseStatus.concluded,
    Action.close: CaseStatus.closed,
    Action.cancel: CaseStatus.cancelled,
}

# While the case is in one of these states, invited experts may read its items.
EXPERT_VISIBLE = frozenset(
    {CaseStatus.open, CaseStatus.scheduled, CaseStatus.in_session, CaseStatus.concluded}
)
ACTIVE_INVITATION = frozenset({InvitationStatus.sent, InvitationStatus.accepted})

_REFUSAL_ZH = {
    CaseStatus.draft: "会诊尚未发起",
    CaseStatus.concluded: "会诊已出具结论",
    CaseStatus.closed: "会诊已结案",
    CaseStatus.cancelled: "会诊已取消",
}


def allowed(action: Action, status: CaseStatus) -> bool:
    """Whether ``action`` may happen to a case in ``status``."""
    return status in ALLOWED_FROM[action]


def refusal(action: Action, status: CaseStatus) -> str:
    """The message for an action the case's state does not allow."""
    if action is Action.sign and status in (CaseStatus.concluded, CaseStatus.closed):
        return "the conclusion is already signed; a case has one signed conclusion"
    if action is Action.opinion and status in (
        CaseStatus.concluded,
        CaseStatus.closed,
        CaseStatus.cancelled,
    ):
        return f"the case is {status.value}; opinions are no longer accepted"
    return f"cannot {action.value} a case that is {status.value}"


@dataclass(frozen=True)
class ExpertView:
    """Whether an invited expert may read the case's items now, and why not."""

    allowed: bool
    reason: str


def expert_may_view(
    status: CaseStatus,
    invitation: InvitationStatus,
    access_until: datetime | None,
    now: datetime,
) -> ExpertView:
    """An invited expert reads exactly the case's items, only during the case's lifetime."""
    if invitation not in ACTIVE_INVITATION:
        return ExpertView(False, f"the invitation is {invitation.value}")
    if status not in EXPERT_VISIBLE:
        return ExpertView(False, f"the case is {status.value}; access to its items has ended")
    if access_until is not None and now >= access_until:
        return ExpertView(False, "the case's access period has ended")
    return ExpertView(True, "consultation invitation")


def may_sign(opinions: int) -> str | None:
    """Why a conclusion cannot be signed yet (None when it can): at least one expert opinion."""
    if opinions < 1:
        return "no expert opinion has been recorded yet; a conclusion needs at least one"
    return None
