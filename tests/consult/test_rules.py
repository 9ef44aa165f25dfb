"""Pure workflow rules: which action each state allows, and when an expert may read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yilian.consult.rules import (
    Action,
    CaseStatus,
    InvitationStatus,
    allowed,
    expert_may_view,
    may_sign,
    refusal,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("action", "status", "ok"),
    [
        (Action.submit, CaseStatus.draft, True),
        (Action.submit, CaseStatus.open, False),
        (Action.opinion, CaseStatus.in_session, True),
        (Action.opinion, CaseStatus.concluded, False),
        (Action.opinion, CaseStatus.closed, False),
        (Action.sign, CaseStatus.scheduled, True),
        (Action.sign, CaseStatus.concluded, False),
        (Action.close, CaseStatus.concluded, True),
        (Action.close, CaseStatus.open, False),
        (Action.cancel, CaseStatus.in_session, True),
        (Action.cancel, CaseStatus.concluded, False),
    ],
)
def test_allowed(action: Action, status: CaseStatus, ok: bool) -> None:
    assert allowed(action, status) is ok


def test_refusal_messages_name_the_reason() -> None:
    assert "already signed" in refusal(Action.sign, CaseStatus.concluded)
    assert "no longer accepted" in refusal(Action.opinion, CaseStatus.closed)
    assert refusal(Action.close, CaseStatus.open) == "cannot close a case that is open"


def test_expert_view_is_bounded_by_invitation_state_and_time() -> None:
    until = NOW + timedelta(days=1)
    assert expert_may_view(CaseStatus.open, InvitationStatus.sent, until, NOW).allowed
    assert expert_may_view(CaseStatus.concluded, InvitationStatus.accepted, until, NOW).allowed
    assert not expert_may_view(CaseStatus.closed, InvitationStatus.sent, until, NOW).allowed
    assert not expert_may_view(CaseStatus.cancelled, InvitationStatus.sent, until, NOW).allowed
    assert not expert_may_view(CaseStatus.draft, InvitationStatus.pending, until, NOW).allowed
    assert not expert_may_view(CaseStatus.open, InvitationStatus.declined, until, NOW).allowed
    late = expert_may_view(CaseStatus.open, InvitationStatus.sent, until, until)
    assert not late.allowed and "period" in late.reason


def test_signing_needs_an_opinion() -> None:
    assert may_sign(0) is not None and may_sign(1) is None
