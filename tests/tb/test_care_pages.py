"""TB patient-management pages: worklist, case page, indicators, and a missed dose in a browser."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.fixtures.auth import TEST_PASSWORD
from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path
from yilian.patients.models import Person
from yilian.registry.models import Organization, Region
from yilian.security.principal import Principal, Role
from yilian.tb import care_service
from yilian.tb.care_models import TbCase
from yilian.tb.care_schemas import CaseCreate, TransferCreate


@pytest.fixture
def org(make_region: Callable[..., Region], make_org: Callable[..., Organization]) -> Organization:
    sh = make_region(name="上海市", level="province")
    city = make_region(name="上海市辖区", level="city", parent=sh)
    return make_org(name="新华街道社区卫生服务中心", region=city)


@pytest.fixture
def case(session: Session, org: Organization) -> TbCase:
    p = Person()
    session.add(p)
    session.flush()
    cdc = Principal(subject="cdc", name="cdc", role=Role.admin, organization_id=None)
    row = care_service.create_case(
        session,
        cdc,
        CaseCreate(
            person_id=p.id,
            organization_id=org.id,
            notification_date=date.today() - timedelta(days=10),
        ),
    )
    session.commit()
    return row


def _login(client: TestClient, make_user: Callable[..., object], org: Organization) -> None:
    make_user("tbdoc", role=Role.doctor, organization_id=org.id)
    r = client.post(
        "/login", data={"username": "tbdoc", "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert r.status_code in (302, 303), r.text


def test_worklist_case_and_indicator_pages_render(
    client: TestClient, make_user: Callable[..., object], org: Organization, case: TbCase
) -> None:
    _login(client, make_user, org)
    page = client.get("/ui/tb/care")
    assert page.status_code == 200, page.text
    assert f"/ui/tb/care/{case.id}" in page.text and "新华街道社区卫生服务中心" in page.text
    one = client.get(f"/ui/tb/care/{case.id}")
    assert one.status_code == 200 and 'data-testid="dose-form"' in one.text
    ind = client.get("/ui/tb/care/indicators")
    assert ind.status_code == 200 and "echarts.min.js" in ind.text and "上海市" in ind.text


@pytest.mark.browser
def test_recording_a_missed_dose_raises_a_reminder_in_the_browser(
    live_server: str,
    make_user: Callable[..., object],
    org: Organization,
    case: TbCase,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_user("tbdoc", role=Role.doctor, organization_id=org.id)
    expect.set_options(timeout=15_000)
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1300, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/tb/care/{case.id}")
            page.fill("input[name=username]", "tbdoc")
            page.fill("input[name=password]", TEST_PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live_server}/ui/tb/care/{case.id}")
            expect(page.get_by_test_id("tb-care-reminders")).not_to_contain_text("missed_dose")
            form = page.get_by_test_id("dose-form")
            form.locator("input[name=day]").fill(yesterday)
            form.locator("select[name=status]").select_option("missed")
            form.get_by_role("button").click()
            expect(page.get_by_test_id("tb-care-reminders")).to_contain_text("missed_dose")
            expect(page.get_by_test_id("tb-care-reminders")).to_contain_text("漏服")
            expect(page.get_by_test_id("tb-care-doses")).to_contain_text(yesterday)
            # A future day is refused with a clear message, nothing recorded.
            form = page.get_by_test_id("dose-form")
            form.locator("input[name=day]").evaluate("e => e.removeAttribute('max')")
            future = (date.today() + timedelta(days=3)).isoformat()
            form.locator("input[name=day]").fill(future)
            form.get_by_role("button").click()
            expect(page.get_by_test_id("dose-message")).to_contain_text("future")
            page.screenshot(path=str(tmp_path / "tb-care.png"), full_page=True)
        finally:
            browser.close()


@pytest.mark.browser
def test_the_receiving_centre_acknowledges_a_transfer_from_anhui_in_the_browser(
    live_server: str,
    session: Session,
    make_user: Callable[..., object],
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    org: Organization,
    tmp_path: Path,
) -> None:
    """安徽 transfers out; the 上海 centre's worklist shows it pending, 确认转入 takes it in."""
    from playwright.sync_api import expect, sync_playwright

    ah = make_region(name="安徽省", level="province")
    hf = make_region(name="合肥市", level="city", parent=ah)
    anhui = make_org(name="合肥市庐阳区社区卫生服务中心", region=hf)
    p = Person()
    session.add(p)
    session.flush()
    his = Principal(subject="his", name="his", role=Role.system, organization_id=anhui.id)
    case = care_service.create_case(
        session,
        his,
        CaseCreate(
            person_id=p.id,
            organization_id=anhui.id,
            notification_date=date.today() - timedelta(days=20),
        ),
    )
    care_service.request_transfer(
        session, his, case.id, TransferCreate(to_organization_id=org.id, reason="迁居上海")
    )
    session.commit()
    make_user("shdoc", role=Role.doctor, organization_id=org.id)
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1300, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/tb/care")
            page.fill("input[name=username]", "shdoc")
            page.fill("input[name=password]", TEST_PASSWORD)
            page.click("button[type=submit]")
            expect(page.get_by_test_id("tb-care-tenant")).to_have_text("上海市")
            expect(page.get_by_test_id("tb-care-worklist")).not_to_contain_text(case.id[:8])
            incoming = page.get_by_test_id("tb-care-incoming")
            expect(incoming).to_contain_text("安徽省 · 合肥市庐阳区社区卫生服务中心")
            incoming.get_by_role("button").click()
            expect(page.get_by_test_id("tb-care-worklist")).to_contain_text(case.id[:8])
            expect(page.get_by_test_id("tb-care-incoming")).to_have_count(0)
            page.screenshot(path=str(tmp_path / "tb-transfer.png"), full_page=True)
        finally:
            browser.close()
