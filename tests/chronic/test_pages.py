"""The chronic pages: a person's chronic care, recording a follow-up, the indicator view."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.chronic.conftest import bp_obs, ingest_person, quantity_obs
from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path
from yilian.chronic import service
from yilian.chronic.models import Followup
from yilian.registry.models import Organization
from yilian.security import service as security
from yilian.security.dependencies import COOKIE_NAME
from yilian.security.principal import Role

PASSWORD = "correct-horse-42"


def _sign_in(client: TestClient, session: Session, org: Organization, username: str) -> None:
    security.create_user(
        session, None, username=username, password=PASSWORD, role=Role.doctor,
        organization_id=org.id,
    )  # fmt: skip
    session.commit()
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303 and COOKIE_NAME in r.cookies, r.text


def _person(session: Session, centre: Organization) -> str:
    return ingest_person(
        session,
        centre,
        ("I10", "E11.9"),
        lambda urn: [
            bp_obs(urn, 148, 92, "2025-11-10T09:00:00+08:00"),
            bp_obs(urn, 138, 86, "2026-01-10T09:00:00+08:00"),
            quantity_obs(urn, "14771-0", 7.8, "mmol/L"),
        ],
    )


def test_person_page_shows_programmes_trend_risk_and_the_form(
    client: TestClient, session: Session, centre: Organization
) -> None:
    person = _person(session, centre)
    _sign_in(client, session, centre, "dr_page")
    page = client.get(f"/ui/chronic/persons/{person}")
    assert page.status_code == 200, page.text
    for testid in ("programmes", "bp-chart", "glucose-chart", "risk-cdrs", "risk-ascvd",
                   "followup-form", "annual", "suggestions"):  # fmt: skip
        assert f'data-testid="{testid}"' in page.text, testid
    assert "高血压" in page.text and "2型糖尿病" in page.text
    assert "/static/js/chronic.js" in page.text
    # Diabetes at 40+ is directly high ASCVD risk; CDRS does not apply once diabetes is known.
    assert "direct: diabetes" in page.text and "diabetes diagnosed" in page.text


def test_form_with_impossible_vitals_is_refused_and_names_the_field(
    client: TestClient, session: Session, centre: Organization
) -> None:
    person = _person(session, centre)
    _sign_in(client, session, centre, "dr_form")
    form = {"followed_on": service.today().isoformat(), "sbp": "400", "dbp": "90",
            "programmes": ["hypertension"]}  # fmt: skip
    r = client.post(f"/ui/chronic/persons/{person}/followups", data=form)
    assert r.status_code == 422
    assert 'data-field="sbp"' in r.text and "400" in r.text
    form = {"followed_on": service.today().isoformat(), "glucose": "-2"}
    r = client.post(f"/ui/chronic/persons/{person}/followups", data=form)
    assert r.status_code == 422 and 'data-field="glucose"' in r.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Followup)) == 0


def test_indicator_page_for_the_commission(
    client: TestClient, session: Session, centre: Organization
) -> None:
    _person(session, centre)
    security.create_user(session, None, username="wjw", password=PASSWORD, role=Role.commission)
    session.commit()
    client.post("/login", data={"username": "wjw", "password": PASSWORD})
    page = client.get("/ui/chronic?programme=diabetes")
    assert page.status_code == 200, page.text
    assert centre.name in page.text and 'data-testid="indicator-chart"' in page.text
    assert client.get("/ui/chronic?group_by=nothing").status_code == 422


@pytest.mark.browser
def test_recording_an_urgent_follow_up_in_a_browser(
    live_server: str, session: Session, centre: Organization, tmp_path: Path
) -> None:
    """SBP ≥180 at a follow-up opens an urgent-referral suggestion (高血压规范 第三版 紧急转诊)."""
    from playwright.sync_api import expect, sync_playwright

    person = _person(session, centre)
    security.create_user(
        session, None, username="dr_browser", password=PASSWORD, role=Role.doctor,
        organization_id=centre.id,
    )  # fmt: skip
    session.commit()
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/chronic/persons/{person}")
            page.fill("input[name=username]", "dr_browser")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live_server}/ui/chronic/persons/{person}")
            expect(page.locator("[data-testid=bp-chart] canvas")).to_have_count(1)
            expect(page.get_by_test_id("suggestions")).not_to_contain_text("紧急转诊")
            page.get_by_test_id("input-sbp").fill("186")
            page.get_by_test_id("input-dbp").fill("112")
            page.get_by_test_id("input-glucose").fill("6.4")
            page.get_by_test_id("followup-submit").click()
            suggestion = page.get_by_test_id("suggestion").first
            expect(suggestion).to_contain_text("紧急转诊")
            expect(suggestion).to_contain_text("收缩压≥180mmHg")
            expect(page.get_by_test_id("followups")).to_contain_text("186/112")
            expect(page.get_by_test_id("enrolment-hypertension")).to_contain_text("转诊后2周内追踪")
            page.screenshot(path=str(tmp_path / "chronic-zh.png"), full_page=True)
            # An impossible reading is refused with the field named; nothing is saved.
            page.get_by_test_id("input-sbp").fill("400")
            page.get_by_test_id("input-dbp").fill("90")
            page.get_by_test_id("followup-submit").click()
            expect(page.get_by_test_id("followup-error")).to_contain_text("sbp")
        finally:
            browser.close()
