"""Pages of 预警监测: board with street grid, series chart, event timeline; and in a browser."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.surveillance.conftest import Area, fill
from yilian.security import service as security
from yilian.security.principal import Role
from yilian.surveillance import service
from yilian.surveillance.models import Event, Signal

PASSWORD = "correct-horse-42"
BASE = [3, 4, 3, 5, 4, 3, 4, 3, 4, 5, 3, 4, 4, 3, 4, 3, 5, 4]


def _user(session: Session, username: str, role: Role, org_id: str | None) -> None:
    security.create_user(
        session, None, username=username, password=PASSWORD, role=role, organization_id=org_id
    )
    session.commit()


def _sign_in(client: TestClient, username: str) -> None:
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/ui"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _signal(session: Session) -> Signal:
    last = fill(session, "SITEA", [*BASE, 20, 25])
    service.run(session, last)
    session.commit()
    return session.scalars(select(Signal).where(Signal.rule == "persistent")).one()


def test_board_series_and_event_pages(client: TestClient, session: Session, area: Area) -> None:
    assert client.get("/ui/surveillance", follow_redirects=False).status_code == 303
    sig = _signal(session)
    _user(session, "doc_sv", Role.doctor, area.site_a.id)
    _sign_in(client, "doc_sv")
    assert client.get("/ui/surveillance").status_code == 403
    _user(session, "cdc_sv", Role.cdc, area.cdc_org.id)
    _sign_in(client, "cdc_sv")
    board = client.get("/ui/surveillance")
    assert board.status_code == 200
    assert sig.title in board.text and 'data-testid="street-grid"' in board.text
    assert 'data-level="yellow"' in board.text  # the street with the new signal
    series = client.get("/ui/surveillance/series/sentinel:ili:310105004:SITEA:0-4")
    assert series.status_code == 200 and "surveillance_series.js" in series.text
    assert client.get("/ui/surveillance/series/nope:x:1:2:3").status_code == 404
    empty = client.post(f"/ui/surveillance/signals/{sig.id}/dismiss", data={"reason": ""})
    assert empty.status_code == 422
    done = client.post(f"/ui/surveillance/signals/{sig.id}/confirm", follow_redirects=False)
    assert done.status_code == 303
    session.expire_all()
    ev = session.scalars(select(Event)).one()
    assert done.headers["location"] == f"/ui/surveillance/events/{ev.id}"
    page = client.get(f"/ui/surveillance/events/{ev.id}")
    assert page.status_code == 200 and "确认为事件" in page.text
    assert area.cdc_org.id in page.text
    team = client.post(
        f"/ui/surveillance/events/{ev.id}/team", data={"organization_id": area.cdc_org.id}
    )
    assert team.status_code == 200 and "处置中" in team.text, team.text[-2000:]


def test_public_report_reviewed_from_the_board(
    client: TestClient, session: Session, area: Area
) -> None:
    from tests.surveillance.conftest import CDC, DAY0

    report = service.submit_public_report(
        session, CDC, channel="public", title="小区多人腹泻", text="居民来电",
        area_code="310105004", topic="diarrhoea", day=DAY0,
    )  # fmt: skip
    session.commit()
    _user(session, "cdc_pr", Role.cdc, area.cdc_org.id)
    _sign_in(client, "cdc_pr")
    assert "小区多人腹泻" in client.get("/ui/surveillance").text
    no_note = client.post(
        f"/ui/surveillance/public/{report.id}/review", data={"decision": "reject"}
    )
    assert no_note.status_code == 422
    ok = client.post(
        f"/ui/surveillance/public/{report.id}/review", data={"decision": "accept"},
        follow_redirects=False,
    )  # fmt: skip
    assert ok.status_code == 303
    board = client.get("/ui/surveillance").text
    assert "社会举报：小区多人腹泻" in board and 'data-level="yellow"' in board


def test_short_series_shows_insufficient_baseline(
    client: TestClient, session: Session, area: Area
) -> None:
    last = fill(session, "SITEA", [1, 2, 30])
    service.run(session, last)
    session.commit()
    _user(session, "cdc_sv2", Role.cdc, area.cdc_org.id)
    _sign_in(client, "cdc_sv2")
    page = client.get("/ui/surveillance/series/sentinel:ili:310105004:SITEA:0-4")
    assert 'data-testid="insufficient"' in page.text
    assert last - timedelta(days=2)  # the series began two days before


@pytest.mark.browser
def test_confirm_a_signal_in_a_browser(
    live_server: str, session: Session, area: Area, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path

    sig = _signal(session)
    _user(session, "cdc_browser", Role.cdc, area.cdc_org.id)
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/surveillance")
            page.fill("input[name=username]", "cdc_browser")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live_server}/ui/surveillance")
            row = page.locator(f"[data-signal='{sig.id}']")
            expect(row).to_contain_text(sig.title)
            expect(page.locator("[data-testid=street-cell][data-level=yellow]")).to_have_count(1)
            row.get_by_test_id("series-link").click()
            expect(page.locator("[data-testid=series-chart] canvas")).to_have_count(1)
            page.goto(f"{live_server}/ui/surveillance")
            with page.expect_navigation():
                page.locator(f"[data-signal='{sig.id}']").get_by_test_id("confirm").click()
            expect(page.get_by_test_id("event-status")).to_have_text("已确认")
            with page.expect_navigation():
                page.get_by_test_id("assign-team").click()
            expect(page.get_by_test_id("event-status")).to_have_text("处置中")
            expect(page.get_by_test_id("timeline")).to_contain_text("指派应急处置队伍")
            page.screenshot(path=str(tmp_path / "surveillance-event.png"), full_page=True)
        finally:
            browser.close()
