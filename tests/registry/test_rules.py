"""Pure rules of the registry: region levels, cycles, 统一社会信用代码."""

from __future__ import annotations

import pytest

from yilian.registry.rules import (
    ORGANIZATION_TYPE_LABELS,
    OrganizationType,
    RegionLevel,
    find_cycle,
    is_uscc,
    region_parent_allowed,
)


def test_region_levels_go_strictly_down() -> None:
    assert region_parent_allowed(RegionLevel.district, RegionLevel.province)
    assert region_parent_allowed(RegionLevel.street, RegionLevel.district)
    assert not region_parent_allowed(RegionLevel.city, RegionLevel.city)
    assert not region_parent_allowed(RegionLevel.province, RegionLevel.street)


def test_find_cycle() -> None:
    assert find_cycle({"station": "centre", "centre": None, "other": "centre"}) is None
    assert find_cycle({"a": "b", "b": "c", "c": "a", "d": "a"}) == ["a", "b", "c"]
    assert find_cycle({"self": "self"}) == ["self"]
    assert find_cycle({}) is None


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("91350100M000100Y43", True),  # the example printed with GB 32100-2015
        ("91350100M000100Y44", False),  # wrong check character
        ("91350100M000100Y4", False),  # 17 characters
        ("91350100I000100Y43", False),  # I is not in the alphabet
        ("QP-ZJJ", False),
    ],
)
def test_uscc(code: str, ok: bool) -> None:
    assert is_uscc(code) is ok


def test_every_organisation_type_has_a_chinese_label() -> None:
    assert set(ORGANIZATION_TYPE_LABELS) == set(OrganizationType)
    assert (
        ORGANIZATION_TYPE_LABELS[OrganizationType.community_health_subcenter]
        == "社区卫生服务分中心"
    )
