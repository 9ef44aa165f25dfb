"""End to end in a browser: a family doctor refers up, the specialist accepts and books a slot."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path
from tests.referral.conftest import World, expert_session
from yilian.security import service as security
from yilian.security.principal import Role

pytestmark = pytest.mark.browser
PASSWORD = "correct-horse-42"


def test_referral_from_request_to_acceptance_and_booking(
    live_server: str, session: Session, world: World, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    expert_session(session, world)
    for username, role, org in (
        ("dr_family", Role.doctor, world.centre),
        ("dr_expert", Role.specialist, world.hospital),
    ):
        security.create_user(
            session,
            None,
            username=username,
            password=PASSWORD,
            role=role,
            organization_id=org.id,
        )
    session.commit()
    expect.set_options(timeout=15_000)

    def sign_in(page: Page, username: str, target: str) -> None:
        page.context.clear_cookies()
        page.goto(f"{live_server}{target}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{live_server}{target}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        try:
            # The family doctor sends the up-referral from the form.
            sign_in(page, "dr_family", "/ui/referrals")
            page.get_by_test_id("new-referral").click()
            page.get_by_test_id("person-id").fill(world.person_id)
            page.get_by_test_id("direction").select_option("up")
            page.get_by_test_id("to-organization").select_option(world.hospital.id)
            page.get_by_test_id("department").fill("心内科")
            page.get_by_test_id("reason").fill("血压控制不佳，两次随访未达标")
            page.get_by_test_id("summary").fill("高血压 3 年，氨氯地平 5mg qd")
            page.get_by_test_id("submit-referral").click()
            expect(page.get_by_test_id("referral-status")).to_have_text("待接收")
            referral_url = page.url
            page.goto(f"{live_server}/ui/referrals")
            expect(page.get_by_test_id("referral-outbox")).to_contain_text("同仁医院")

            # The specialist finds it at the referral desk, accepts it and books a reserved slot.
            sign_in(page, "dr_expert", "/ui/referrals")
            inbox = page.get_by_test_id("referral-inbox")
            expect(inbox).to_contain_text("血压控制不佳")
            inbox.get_by_role("link", name="待接收").first.click()
            expect(page).to_have_url(referral_url)
            expect(page.get_by_test_id("record-link")).to_have_attribute(
                "href", f"/ui/persons/{world.person_id}"
            )
            page.get_by_test_id("accept").click()
            expect(page.get_by_test_id("referral-status")).to_have_text("已接收")
            page.get_by_test_id("schedule").click()
            page.wait_for_load_state()
            expect(page.get_by_test_id("referral-status")).to_have_text("已预约")
            expect(page.get_by_test_id("appointment")).to_be_visible()
            expect(page.get_by_test_id("referral-history")).to_contain_text("dr_expert")
            page.screenshot(path=str(tmp_path / "referral-zh.png"), full_page=True)

            # The slot calendar counts the booking.
            page.goto(f"{live_server}/ui/referrals/slots")
            expect(page.get_by_test_id("slot-calendar")).to_contain_text("心内科")
        finally:
            browser.close()
