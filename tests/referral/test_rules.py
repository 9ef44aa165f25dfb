"""Pure rules: reservation share, release, booking refusals, transitions, direction, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yilian.referral import rules
from yilian.referral.rules import Action, Channel, Direction, SlotStatus, Status

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("capacity", "share", "expected"),
    [(10, 0.2, 2), (7, 0.2, 2), (4, 0.2, 1), (5, 0.2, 1), (20, 0.2, 4), (3, 0.0, 0), (2, 1.0, 2)],
)
def test_reserved_count_never_falls_below_the_share(
    capacity: int, share: float, expected: int
) -> None:
    """004 附件4 二(二)2: 区域医疗中心预留 20% 的专家号源 — at least the share, rounded up."""
    assert rules.reserved_count(capacity, share) == expected
    assert len(rules.reserved_positions(capacity, share)) == expected


def test_reserved_positions_spread_over_the_session() -> None:
    assert rules.reserved_positions(10, 0.2) == {0, 5}
    assert rules.reserved_positions(20, 0.2) == {0, 5, 10, 15}


def test_a_reserved_slot_is_held_until_release_time() -> None:
    start = T0 + timedelta(hours=72)
    assert rules.is_held(True, start, 48, T0)
    assert rules.is_held(True, start, 48, start - timedelta(hours=48, seconds=1))
    assert not rules.is_held(True, start, 48, start - timedelta(hours=48))
    assert not rules.is_held(False, start, 48, T0)
    assert rules.pool(True, start, 48, T0) == "referral"
    assert rules.pool(True, start, 48, start - timedelta(hours=1)) == "public"


def _err(**kw: object) -> str | None:
    args: dict[str, object] = {
        "status": SlotStatus.open,
        "reserved": True,
        "start": T0 + timedelta(hours=72),
        "release_hours": 48,
        "channel": Channel.referral,
        "now": T0,
    }
    args.update(kw)
    return rules.booking_error(**args)  # type: ignore[arg-type]


def test_booking_errors_name_the_problem() -> None:
    assert _err() is None
    assert "already taken" in (_err(status=SlotStatus.booked) or "")
    assert "withdrawn" in (_err(status=SlotStatus.withdrawn) or "")
    assert "released to the public pool" in (_err(now=T0 + timedelta(hours=30)) or "")
    assert "public pool" in (_err(reserved=False) or "")
    assert "reserved for community referrals" in (_err(channel=Channel.public) or "")
    assert _err(channel=Channel.public, reserved=False) is None
    assert _err(channel=Channel.public, now=T0 + timedelta(hours=30)) is None
    assert "begun" in (_err(now=T0 + timedelta(hours=73)) or "")


def test_transitions_follow_the_state_machine() -> None:
    assert rules.transition_error(Status.requested, Action.accept) is None
    assert rules.transition_error(Status.accepted, Action.schedule) is None
    assert rules.transition_error(Status.scheduled, Action.arrive) is None
    assert rules.transition_error(Status.arrived, Action.complete) is None
    assert rules.transition_error(Status.scheduled, Action.cancel) is None
    assert "cannot accept" in (rules.transition_error(Status.declined, Action.accept) or "")
    assert "cannot cancel" in (rules.transition_error(Status.arrived, Action.cancel) or "")
    assert "expired" in (rules.transition_error(Status.expired, Action.accept) or "")


def test_a_request_nobody_acts_on_expires() -> None:
    expires = rules.expires_at(T0, 168)
    assert rules.effective_status(Status.requested, expires, T0 + timedelta(hours=167)) is (
        Status.requested
    )
    assert rules.effective_status(Status.requested, expires, expires) is Status.expired
    assert rules.effective_status(Status.accepted, expires, expires) is Status.accepted


def test_directions() -> None:
    up, down = Direction.up, Direction.down
    c, h3, h2 = "community_health_center", "tertiary_hospital", "secondary_hospital"
    assert rules.direction_error(up, c, h3, cross_region=False) is None
    assert rules.direction_error(up, h2, h3, cross_region=False) is None
    assert rules.direction_error(up, h3, h3, cross_region=False)
    assert rules.direction_error(up, h3, h3, cross_region=True) is None  # 跨区域
    assert rules.direction_error(up, c, c, cross_region=False)
    assert rules.direction_error(down, h3, c, cross_region=False) is None
    assert rules.direction_error(down, h3, "nursing_home", cross_region=False) is None
    assert rules.direction_error(down, h3, "rehabilitation_hospital", cross_region=False) is None
    assert rules.direction_error(down, c, c, cross_region=False)
    assert rules.direction_error(down, h3, h2, cross_region=False)


def test_priority_puts_urgent_then_contracted_first() -> None:
    ranks = [
        rules.priority(urgent=True, contracted=True),
        rules.priority(urgent=True, contracted=False),
        rules.priority(urgent=False, contracted=True),
        rules.priority(urgent=False, contracted=False),
    ]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


def test_metrics_by_hand() -> None:
    day = timedelta(days=1)
    facts = [
        rules.ReferralFact(Direction.up, Status.completed, T0, T0, T0 + 2 * day),
        rules.ReferralFact(Direction.up, Status.scheduled, T0, T0, T0 + 4 * day),
        rules.ReferralFact(Direction.up, Status.declined, T0),
        rules.ReferralFact(Direction.up, Status.expired, T0),
        rules.ReferralFact(Direction.up, Status.requested, T0),
        rules.ReferralFact(Direction.down, Status.cancelled, T0, T0),
    ]
    m = rules.metrics(facts)
    assert (m.up, m.down, m.up_down_ratio) == (5, 1, 5.0)
    # accepted ever: completed, scheduled, cancelled after acceptance = 3;
    # decided = those 3 + declined + expired
    assert (m.accepted, m.decided, m.acceptance_rate) == (3, 5, 0.6)
    assert (m.completed, m.completion_rate) == (1, 0.3333)
    assert m.median_days_to_appointment == 3.0 and m.mean_days_to_appointment == 3.0
    assert m.expired == 1 and m.statuses["requested"] == 1
    assert rules.metrics([]).acceptance_rate is None
