"""The recognition pages: the check (htmx partials), decisions, the dashboard, the catalogues."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path
from tests.recognition.conftest import Zone, bundle, ingest, lab, new_idcard, person_of, treat
from yilian.registry.models import Organization
from yilian.security import service as security
from yilian.security.principal import Role

PASSWORD = "correct-horse-42"


def _account(session: Session, username: str, role: Role, org: Organization | None) -> None:
    security.create_user(
        session, None, username=username, password=PASSWORD, role=role,
        organization_id=org.id if org else None,
    )  # fmt: skip
    session.commit()


def _sign_in(client: TestClient, session: Session, username: str, role: Role,
             org: Organization | None) -> None:  # fmt: skip
    _account(session, username, role, org)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/ui"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text


def _person(session: Session, zone: Zone, org: Organization | None = None) -> str:
    recent = (date.today() - timedelta(days=2)).isoformat()
    out = ingest(session, org or zone.hospital,
                 bundle(new_idcard(), lab("urn:uuid:p", "718-7", 132, "g/L", recent)))  # fmt: skip
    person = person_of(session, out)
    treat(session, person, zone.centre)
    return person


def test_a_doctor_checks_and_decides_on_the_page(
    client: TestClient, session: Session, zone: Zone
) -> None:
    person = _person(session, zone)
    assert client.get("/ui/recognition", follow_redirects=False).status_code == 303
    _sign_in(client, session, "dr_rc", Role.doctor, zone.centre)
    page = client.get("/ui/recognition")
    assert page.status_code == 200
    assert "开单前互认查询" in page.text and 'data-testid="item-HGB"' in page.text
    assert "/ui/recognition" in page.text  # the menu entry
    part = client.post("/ui/recognition/check", data={"person_id": person, "item": ["HGB"],
                                                     "other": "PT，CEA"})  # fmt: skip
    assert part.status_code == 200
    assert "可互认" in part.text and "青浦区中心医院" in part.text and "132" in part.text
    assert "不在互认目录内" in part.text and "无既往结果" in part.text
    check_id = part.text.split("/ui/recognition/checks/")[1].split("/")[0]
    saved = client.post(f"/ui/recognition/checks/{check_id}/decisions",
                        data={"decision:HGB": "reordered", "reason:HGB": ""})  # fmt: skip
    assert 'data-testid="decision-error"' in saved.text and "needs a reason" in saved.text
    saved = client.post(f"/ui/recognition/checks/{check_id}/decisions",
                        data={"decision:HGB": "reordered", "reason:HGB": "emergency",
                              "decision:PT": "reordered", "decision:CEA": "reordered"})  # fmt: skip
    assert 'data-testid="decision-ok"' in saved.text and "急诊、急救" in saved.text
    missing = client.post("/ui/recognition/check", data={"person_id": "", "item": ["HGB"]})
    assert 'data-testid="check-error"' in missing.text


def test_the_dashboard_and_catalogue_pages_for_the_commission(
    client: TestClient, session: Session, zone: Zone
) -> None:
    _sign_in(client, session, "wjw", Role.commission, None)
    assert client.get("/ui/recognition", follow_redirects=False).status_code == 303
    page = client.get("/ui/recognition/stats")
    assert page.status_code == 200
    assert "检验检查结果互认统计" in page.text and "79.07%" in page.text
    assert "/static/js/recognition_stats.js" in page.text and 'id="rc-chart"' in page.text
    assert client.get("/ui/recognition/stats?by=institution").status_code == 200
    cat = client.get("/ui/recognition/catalogues")
    assert cat.status_code == 200 and "血红蛋白" in cat.text and "青浦区中心医院" in cat.text
    r = client.post(f"/ui/recognition/catalogues/{zone.catalogue.code}/items/HGB",
                    data={"validity_days": "3", "reference_price": "6", "min_level": "",
                          "active": "on"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    r = client.post(f"/ui/recognition/catalogues/{zone.catalogue.code}/items/HGB",
                    data={"validity_days": "-4", "active": "on"})  # fmt: skip
    assert r.status_code == 200 and 'data-testid="cat-error"' in r.text
    assert 'value="3"' in client.get("/ui/recognition/catalogues").text


def test_a_doctor_may_not_see_the_dashboard(
    client: TestClient, session: Session, zone: Zone
) -> None:
    _sign_in(client, session, "dr_no", Role.doctor, zone.centre)
    assert client.get("/ui/recognition/stats").status_code == 403
    r = client.post(f"/ui/recognition/catalogues/{zone.catalogue.code}/items/HGB",
                    data={"validity_days": "1"})  # fmt: skip
    assert r.status_code == 403


@pytest.mark.browser
def test_check_and_dashboard_in_a_browser(
    live_server: str, session: Session, zone: Zone, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    person = _person(session, zone)
    _account(session, "dr_browser_rc", Role.doctor, zone.centre)
    _account(session, "wjw_browser", Role.commission, None)
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/recognition")
            page.fill("input[name=username]", "dr_browser_rc")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live_server}/ui/recognition")
            page.get_by_test_id("person-id").fill(person)
            page.get_by_test_id("item-HGB").check()
            page.get_by_test_id("item-CEA").check()
            page.get_by_test_id("check-submit").click()
            row = page.locator("[data-testid=verdict-row][data-item=HGB]")
            expect(row).to_have_attribute("data-verdict", "reuse")
            expect(row).to_contain_text("青浦区中心医院")
            page.get_by_test_id("save-decisions").click()
            expect(page.get_by_test_id("decision-ok")).to_contain_text("已记录 2 项决定")
            page.screenshot(path=str(tmp_path / "recognition-check.png"), full_page=True)
            page.context.clear_cookies()
            page.goto(f"{live_server}/ui/recognition/stats")
            page.fill("input[name=username]", "wjw_browser")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.get_by_test_id("total-checks")).to_have_text("1")
            expect(page.get_by_test_id("pv-rate")).to_have_text("100.00%")
            expect(page.locator("[data-testid=rc-chart] canvas")).to_have_count(1)
            page.screenshot(path=str(tmp_path / "recognition-stats.png"), full_page=True)
        finally:
            browser.close()
