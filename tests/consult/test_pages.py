"""The consultation pages: case list (mine / invited) and the consultation room, zh-CN first."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.consult.conftest import World
from tests.fixtures.auth import TEST_PASSWORD
from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path
from yilian.consult import service
from yilian.consult.models import ConsultCase, ConsultOpinion
from yilian.consult.pages import item_row
from yilian.consult.rules import CaseType
from yilian.consult.schemas import CaseCreate, InvitationIn
from yilian.security.models import User


def _sign_in(client: TestClient, user: User) -> None:
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"username": user.username, "password": TEST_PASSWORD, "next": "/ui"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _case(session: Session, w: World) -> ConsultCase:
    case = service.open_case(
        session,
        w.principal(w.requester),
        CaseCreate(
            case_type=CaseType.rr_tb_joint,
            title="耐药结核联合会诊病例",
            summary="痰培养持续阳性",
            person_id=w.person,
            items=w.items[1:3],
            questions=["是否调整方案？"],
            invitations=[
                InvitationIn(organization_id=w.suzhou.id, user_id=w.expert.id),
                InvitationIn(organization_id=w.jiashan.id, practitioner_id=w.practitioner.id),
            ],
            submit=True,
        ),
    )
    session.commit()
    return case


def test_item_row_describes_an_observation() -> None:
    row = item_row(
        {
            "resourceType": "Observation",
            "id": "o1",
            "code": {"coding": [{"code": "718-7", "display": "Hemoglobin"}]},
            "effectiveDateTime": "2024-06-01T09:30:00+08:00",
            "valueQuantity": {"value": 120, "unit": "g/L"},
        }
    )
    assert row == {
        "key": "Observation/o1",
        "type": "Observation",
        "when": "2024-06-01T09:30:00+08:00",
        "label": "Hemoglobin",
        "detail": "120 g/L",
    }


def test_list_and_room_for_the_invited_expert(
    client: TestClient, session: Session, world: World
) -> None:
    w = world
    case = _case(session, w)
    assert client.get("/ui/consult", follow_redirects=False).status_code == 303
    _sign_in(client, w.expert)
    page = client.get("/ui/consult?box=invited")
    assert page.status_code == 200, page.text
    assert "耐药结核联合会诊病例" in page.text and "长三角利福平耐药结核病联合会诊" in page.text
    assert "邀请我的" in page.text and f"/ui/consult/{case.id}" in page.text
    assert "共 1 例" in page.text
    assert "共 0 例" in client.get("/ui/consult?box=mine").text
    room = client.get(f"/ui/consult/{case.id}")
    assert room.status_code == 200, room.text
    for words in ("病例信息", "会诊问题", "是否调整方案？", "受邀专家", "专家意见", "会诊结论"):
        assert words in room.text
    assert "Hemoglobin" in room.text  # the selected observation
    assert room.text.count('data-testid="case-item"') == 2
    assert "钱结核" in room.text and "嘉善县第一人民医院" in room.text
    assert 'data-testid="opinion-form"' in room.text
    assert 'data-testid="sign-form"' not in room.text  # not the lead
    r = client.post(
        f"/ui/consult/{case.id}/opinion", data={"text": "建议延长疗程"}, follow_redirects=False
    )
    assert r.status_code == 303
    room = client.get(f"/ui/consult/{case.id}")
    assert "建议延长疗程" in room.text and "提交专家意见" in room.text


def test_room_refuses_an_outsider_and_a_refused_form_writes_nothing(
    client: TestClient, session: Session, world: World
) -> None:
    w = world
    case = _case(session, w)
    _sign_in(client, w.outsider)
    page = client.get(f"/ui/consult/{case.id}")
    assert page.status_code == 403 and "Hemoglobin" not in page.text
    r = client.post(f"/ui/consult/{case.id}/opinion", data={"text": "x"})
    assert r.status_code == 403
    _sign_in(client, w.requester)
    r = client.post(f"/ui/consult/{case.id}/conclusion", data={"text": "太早的结论"})
    assert r.status_code == 422 and 'role="alert"' in r.text and "no expert opinion" in r.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ConsultOpinion)) == 0
    assert session.get(ConsultCase, case.id).conclusion is None  # type: ignore[union-attr]


def test_requester_transcribes_signs_and_closes(
    client: TestClient, session: Session, world: World
) -> None:
    w = world
    case = _case(session, w)
    _sign_in(client, w.requester)
    room = client.get(f"/ui/consult/{case.id}")
    assert 'data-testid="transcribe-form"' in room.text and 'data-testid="sign-form"' in room.text
    inv = next(
        i
        for i in service.view_case(session, w.principal(w.requester), case.id).invitations
        if i.user_id is None
    )
    session.commit()
    r = client.post(
        f"/ui/consult/{case.id}/opinion",
        data={"text": "线下意见", "invitation_id": inv.id},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/ui/consult/{case.id}/conclusion", data={"text": "最终结论"}, follow_redirects=False
    )
    assert r.status_code == 303
    room = client.get(f"/ui/consult/{case.id}")
    assert "最终结论" in room.text and "已归档至患者健康档案" in room.text
    assert "申请方录入" in room.text
    # The conclusion appears on the person's record page.
    record = client.get(f"/ui/persons/{w.person}")
    assert record.status_code == 200 and "最终结论" in record.text
    r = client.post(f"/ui/consult/{case.id}/close", follow_redirects=False)
    assert r.status_code == 303
    assert "已结案" in client.get(f"/ui/consult/{case.id}").text


def test_new_case_form_opens_a_case_and_refuses_foreign_items(
    client: TestClient, session: Session, world: World
) -> None:
    w = world
    _sign_in(client, w.requester)
    page = client.get(f"/ui/consult/new?person_id={w.person}")
    assert page.status_code == 200, page.text
    assert "选择提交会诊的档案条目" in page.text and "张*" in page.text
    for ref in w.items[1:]:
        assert f'value="{ref}"' in page.text
    assert "苏州专家" in page.text  # an account to invite
    options = client.get(f"/ui/consult/experts?organization_id={w.jiashan.id}")
    assert "钱结核" in options.text and f"{w.jiashan.id}:{w.practitioner.id}" in options.text
    form = {
        "person_id": w.person,
        "case_type": "joint",
        "title": "联合会诊申请",
        "questions": "问题一\n问题二\n",
        "items": [w.items[1], w.stranger_item],
        "user_ids": [w.expert.id],
        "practitioners": [f"{w.jiashan.id}:{w.practitioner.id}"],
        "lead": f"user:{w.expert.id}",
        "send": "yes",
    }
    r = client.post("/ui/consult/new", data=form, follow_redirects=False)
    assert r.status_code == 422 and "not in this person" in r.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ConsultCase)) == 0
    form["items"] = [w.items[1], w.items[2]]
    r = client.post("/ui/consult/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    room = client.get(r.headers["location"])
    assert "联合会诊申请" in room.text and "问题二" in room.text
    assert room.text.count('data-testid="case-item"') == 2
    assert room.text.count('data-testid="expert"') == 2 and "主持专家" in room.text
    # An unrelated clinician cannot load the person's record into the form.
    _sign_in(client, w.outsider)
    assert client.get(f"/ui/consult/new?person_id={w.person}").status_code == 403


@pytest.mark.browser
def test_consultation_in_a_browser(
    live_server: str, session: Session, world: World, tmp_path: Path
) -> None:
    """The requester opens a case through the form; the invited expert answers in the room."""
    from playwright.sync_api import expect, sync_playwright

    w = world
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/consult")
            page.fill("input[name=username]", w.requester.username)
            page.fill("input[name=password]", TEST_PASSWORD)
            page.click("button[type=submit]")
            page.get_by_test_id("new-case").click()
            page.get_by_test_id("new-person").fill(w.person)
            page.get_by_role("button", name="调取健康档案").click()
            expect(page.get_by_test_id("new-form")).to_be_visible()
            page.select_option("[data-testid=new-type]", "rr_tb_joint")
            page.get_by_test_id("new-title").fill("浏览器发起的联合会诊")
            page.get_by_test_id("new-questions").fill("是否调整方案？")
            page.get_by_test_id("new-item").nth(0).check()
            page.get_by_test_id("new-item").nth(1).check()
            page.locator(f"[data-testid=account-option][value='{w.expert.id}']").check()
            # Choosing an organisation loads its practitioners through htmx.
            page.select_option("[data-testid=expert-org]", w.jiashan.id)
            expect(page.get_by_test_id("practitioner-option")).to_have_count(1)
            page.get_by_test_id("practitioner-option").check()
            page.screenshot(path=str(tmp_path / "consult-new-zh.png"), full_page=True)
            page.get_by_test_id("new-submit").click()
            expect(page.get_by_test_id("case-title")).to_contain_text("浏览器发起的联合会诊")
            expect(page.get_by_test_id("case-item")).to_have_count(2)
            expect(page.get_by_test_id("expert")).to_have_count(2)
            expect(page.get_by_test_id("case-status")).to_contain_text("已发起")
            room_url = page.url

            page.context.clear_cookies()
            page.goto(f"{live_server}/ui/consult")
            page.fill("input[name=username]", w.expert.username)
            page.fill("input[name=password]", TEST_PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live_server}/ui/consult")
            page.get_by_test_id("box-invited").click()
            expect(page.get_by_test_id("consult-row")).to_have_count(1)
            page.get_by_test_id("consult-link").click()
            expect(page).to_have_url(room_url)
            expect(page.get_by_test_id("case-item")).to_have_count(2)
            page.get_by_test_id("opinion-text").fill("建议加用贝达喹啉")
            page.get_by_test_id("opinion-submit").click()
            expect(page.get_by_test_id("opinion")).to_contain_text("建议加用贝达喹啉")
            expect(page.get_by_test_id("case-steps")).to_contain_text("提交专家意见")
            page.screenshot(path=str(tmp_path / "consult-room-zh.png"), full_page=True)
        finally:
            browser.close()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ConsultOpinion)) == 1
