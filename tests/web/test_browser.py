"""End to end in a real headless Chromium: sign in, browse organisations, switch language.

Chromium is Debian's package (the test command installs it); Playwright drives it
through ``executablePath`` and never downloads a browser of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path
from yilian.registry import service as registry
from yilian.security import service as security
from yilian.security.principal import Role
from yilian.synth.geography import registry_payload

pytestmark = pytest.mark.browser


@pytest.fixture
def seeded(session: Session) -> None:
    result = registry.load_registry(session, **registry_payload())
    assert result.organization_ids, "the synthetic district must have organisations"
    security.create_user(
        session,
        None,
        username="zhangyi",
        password="correct-horse-42",
        role=Role.admin,
        display_name="张医",
    )
    session.commit()


def test_sign_in_and_browse_organisations(live_server: str, seeded: None, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    # The suite runs two workers on two cores; 5 s is too tight for a page under that load.
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/organizations")
            # Not signed in: sent to the sign-in page, which remembers where we were going.
            expect(page).to_have_url(f"{live_server}/login?next=%2Fui%2Forganizations")
            expect(page.locator("h1")).to_have_text("登录")

            page.fill("input[name=username]", "zhangyi")
            page.fill("input[name=password]", "wrong-password")
            page.click("button[type=submit]")
            expect(page.get_by_test_id("login-error")).to_have_text("用户名或密码错误")

            page.fill("input[name=password]", "correct-horse-42")
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live_server}/ui/organizations")
            expect(page.locator("h1")).to_have_text("机构与医联体浏览")
            expect(page.get_by_test_id("who")).to_contain_text("zhangyi")

            total = page.get_by_test_id("org-count").inner_text()
            assert "共" in total
            # htmx (a deferred script) must have wired the search box before we type in
            # it, or the input event goes unheard: seen once in a CI run under load.
            page.wait_for_load_state("load")

            # Searching narrows the table through htmx without a page load.
            page.get_by_test_id("org-search").fill("同仁")
            expect(page.get_by_test_id("org-table")).to_contain_text("同仁医院")
            expect(page.get_by_test_id("org-count")).not_to_have_text(total)

            # Picking a region in the tree filters to it (and the regions below it).
            page.get_by_test_id("org-search").fill("")
            page.locator(".region-tree a", has_text="嘉善").first.click()
            expect(page.get_by_test_id("org-table")).to_contain_text("嘉善")
            expect(page.get_by_test_id("org-table")).not_to_contain_text("同仁医院")

            # The consortia the seeds name, with their leads.
            expect(page.get_by_test_id("consortia")).to_contain_text("同仁")
            # ECharts drew the region chart.
            expect(page.locator("#region-chart canvas")).to_have_count(1)
            page.screenshot(path=str(tmp_path / "organisations-zh.png"), full_page=True)

            page.get_by_test_id("lang-toggle").click()
            expect(page.locator("h1")).to_have_text("Organisations and consortia")
        finally:
            browser.close()
