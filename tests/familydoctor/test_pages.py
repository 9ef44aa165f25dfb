"""The familydoctor pages: coverage dashboard (target vs actual) and the doctor's worklist."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.familydoctor.conftest import PersonFactory, SignFactory
from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path
from yilian.familydoctor import service
from yilian.familydoctor.models import Team
from yilian.registry.models import Organization
from yilian.security import service as security
from yilian.security.dependencies import COOKIE_NAME
from yilian.security.principal import Role

PASSWORD = "correct-horse-42"
TODAY = date.today()


def _doctor(session: Session, org: Organization, team: Team, username: str) -> None:
    user = security.create_user(
        session,
        None,
        username=username,
        password=PASSWORD,
        role=Role.doctor,
        organization_id=org.id,
    )
    service.add_member(session, team, "family_doctor", "王医生", user_id=user.id)
    session.commit()


def _sign_in(client: TestClient, username: str) -> None:
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303 and COOKIE_NAME in r.cookies, r.text


def _setup(make_person: PersonFactory, sign: SignFactory) -> list[str]:
    elderly = [make_person(birth=date(TODAY.year - 70, 1, 1)) for _ in range(3)]
    young = [make_person(birth=date(TODAY.year - 30, 1, 1)) for _ in range(3)]
    for pid in elderly[:2] + young[:1]:
        sign(pid)
    return elderly


def test_dashboard_shows_target_and_actual(
    client: TestClient,
    session: Session,
    centre: Organization,
    team: Team,
    make_person: PersonFactory,
    sign: SignFactory,
) -> None:
    _setup(make_person, sign)
    _doctor(session, centre, team, "dr_dash")
    _sign_in(client, "dr_dash")
    r = client.get("/ui/familydoctor")
    assert r.status_code == 200, r.text
    # 3 of 6 residents (50%) and 2 of 3 key residents (66.7%), against 48% / 80%.
    assert 'data-testid="fd-headline">长宁区<' in r.text
    assert re.search(r'data-testid="fd-rate-all">50.0%', r.text)
    assert re.search(r'data-testid="fd-rate-key">66.7%', r.text)
    chart = json.loads(
        re.search(r"data-chart='([^']*)'", r.text).group(1).replace("&#34;", '"')  # type: ignore[union-attr]
    )
    assert (chart["target_all"], chart["target_key"]) == (48.0, 80.0)
    assert chart["streets"]["all"] == [50.0]
    assert chart["teams"]["names"] == ["王医生团队"]


def test_worklist_page_lists_the_sections(
    client: TestClient,
    session: Session,
    centre: Organization,
    team: Team,
    make_person: PersonFactory,
    sign: SignFactory,
) -> None:
    _setup(make_person, sign)
    _doctor(session, centre, team, "dr_list")
    _sign_in(client, "dr_list")
    r = client.get("/ui/familydoctor/worklist")
    assert r.status_code == 200, r.text
    # Two contracted 70-year-olds: CRC, PPV23 and the health check each.
    assert 'data-testid="fd-count-invitations">6<' in r.text
    assert 'data-testid="fd-count-followups">0<' in r.text
    assert r.text.count('data-kind="ppv23_invite"') == 2


def test_worklist_page_is_for_doctors_and_needs_sign_in(
    client: TestClient, session: Session
) -> None:
    r = client.get("/ui/familydoctor/worklist", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_worklist_api(
    client: TestClient,
    auth_headers: object,
    centre: Organization,
    other_centre: Organization,
    make_person: PersonFactory,
    sign: SignFactory,
) -> None:
    _setup(make_person, sign)
    h = auth_headers(Role.doctor, organization_id=centre.id)  # type: ignore[operator]
    r = client.get("/api/v1/familydoctor/worklist?kind=health_check", headers=h)
    assert r.status_code == 200
    assert len(r.json()) == 2 and {x["label"] for x in r.json()} == {"老年人年度健康体检"}
    other = auth_headers(Role.doctor, organization_id=other_centre.id)  # type: ignore[operator]
    assert client.get("/api/v1/familydoctor/worklist", headers=other).json() == []
    cdc = auth_headers(Role.cdc, organization_id=centre.id)  # type: ignore[operator]
    assert client.get("/api/v1/familydoctor/worklist", headers=cdc).status_code == 403
    cov = client.get("/api/v1/familydoctor/coverage?level=district", headers=h).json()
    assert [(c["name"], c["contracted"], c["residents"]) for c in cov] == [("长宁区", 3, 6)]


@pytest.mark.browser
def test_dashboard_draws_the_coverage_charts(
    live_server: str,
    session: Session,
    centre: Organization,
    team: Team,
    make_person: PersonFactory,
    sign: SignFactory,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)
    _setup(make_person, sign)
    _doctor(session, centre, team, "dr_browser")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/familydoctor")
            page.fill("input[name=username]", "dr_browser")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live_server}/ui/familydoctor")
            expect(page.get_by_test_id("fd-rate-all")).to_have_text("50.0%")
            expect(page.locator("[data-testid=fd-chart-streets] canvas")).to_have_count(1)
            expect(page.locator("[data-testid=fd-chart-teams] canvas")).to_have_count(1)
            page.goto(f"{live_server}/ui/familydoctor/worklist")
            expect(page.get_by_test_id("fd-count-invitations")).to_have_text("6")
        finally:
            browser.close()
