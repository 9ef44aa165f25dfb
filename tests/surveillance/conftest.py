"""Fixtures of the surveillance tests: a district with one street and two sentinel sites."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from yilian.registry.models import Organization, Region
from yilian.security.principal import Principal, Role
from yilian.surveillance import service


@dataclass
class Area:
    district: Region
    street: Region
    site_a: Organization
    site_b: Organization
    cdc_org: Organization


@pytest.fixture
def area(make_region: Callable[..., Region], make_org: Callable[..., Organization]) -> Area:
    province = make_region(level="province", name="上海市", code="310000")
    city = make_region(parent=province, level="city", name="上海市市辖区", code="310100")
    district = make_region(parent=city, level="district", name="长宁区", code="310105")
    street = make_region(parent=district, level="street", name="新华路街道", code="310105004")
    a = make_org(region=street, code="SITEA", name="新华街道社区卫生服务中心")
    b = make_org(region=street, code="SITEB", name="新华街道第二哨点")
    cdc = make_org(region=district, code="CDC01", name="长宁区疾控中心", type="cdc")
    return Area(district, street, a, b, cdc)


CDC = Principal(subject="cdc-1", name="cdc", role=Role.cdc, organization_id=None)
DAY0 = date(2024, 3, 1)


def fill(
    session: Session,
    site: str,
    counts: list[int],
    *,
    syndrome: str = "ili",
    age: str = "0-4",
    start: date = DAY0,
) -> date:
    """Report ``counts`` on consecutive days from ``start``; return the last day."""
    for n, c in enumerate(counts):
        service.submit_sentinel_report(
            session, CDC, site=site, syndrome=syndrome, age_group=age,
            day=start + timedelta(days=n), count=c,
        )  # fmt: skip
    session.flush()
    return start + timedelta(days=len(counts) - 1)
