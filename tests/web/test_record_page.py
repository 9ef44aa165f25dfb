"""The longitudinal record (API and page) and the consent API, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.conftest import _clear
from tests.fixtures.browser import CHROMIUM_ARGS, chromium_path
from tests.records.conftest import (
    entry,
    new_idcard,
    observation,
    patient,
    visit_bundle,
)
from yilian.app import create_app
from yilian.audit.models import AuditEntry
from yilian.config import Settings
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry.models import Organization
from yilian.security import service as security
from yilian.security.principal import Principal, Role
from yilian.web.record import router as record_router

PASSWORD = "correct-horse-42"
Headers = Callable[..., dict[str, str]]


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[FastAPI]:
    """The application with the record router, included as the lead will wire it."""
    application = create_app(settings)
    if not any(getattr(r, "path", None) == "/ui/persons/{person_id}" for r in application.routes):
        application.include_router(record_router)
    yield application
    application.state.engine.dispose()
    _clear(engine)


@pytest.fixture
def org(make_org: Callable[..., Organization]) -> Organization:
    return make_org(name="青浦区中心医院", type="secondary_hospital")


@pytest.fixture
def other_org(make_org: Callable[..., Organization]) -> Organization:
    return make_org(name="吴江区第一人民医院", type="secondary_hospital")


@pytest.fixture
def person(session: Session, org: Organization) -> str:
    """A person with two haemoglobin results, an encounter and a problem from ``org``."""
    his = Principal(subject="his-qingpu", name="HIS", role=Role.system, organization_id=org.id)
    bundle = visit_bundle(patient(id_number=new_idcard()), value=135)
    urn = bundle["entry"][0]["fullUrl"]
    bundle["entry"].append(entry(observation(urn, when="2024-06-01T09:30:00+08:00", value=120)))
    out = records.ingest_bundle(session, his, bundle)
    session.commit()
    patient_id = out["entry"][0]["response"]["location"].split("/")[1]
    person_id = patients.person_of_record(session, patient_id)
    assert person_id
    return person_id


def _doctor(headers: Headers, org: Organization, who: str = "doc") -> dict[str, str]:
    return headers(Role.doctor, organization_id=org.id, subject=who)


def _denials(session: Session, person_id: str) -> list[AuditEntry]:
    session.expire_all()
    stmt = select(AuditEntry).where(
        AuditEntry.person_id == person_id, AuditEntry.action == "access_denied"
    )
    return list(session.scalars(stmt))


def test_treating_doctor_reads_the_record_with_its_sources(
    client: TestClient, auth_headers: Headers, org: Organization, person: str
) -> None:
    r = client.get(f"/api/v1/persons/{person}/record", headers=_doctor(auth_headers, org))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["person_id"] == person
    assert body["person"]["name"] == "张*"
    assert [p["label"] for p in body["problems"]] == ["原发性高血压"]
    assert len(body["encounters"]) == 1
    (hb,) = body["results"]
    assert [p["value"] for p in hb["points"]] == [135.0, 120.0] and hb["trend"]
    items = body["problems"] + body["encounters"] + hb["points"]
    assert {i["source"]["name"] for i in items} == {"青浦区中心医院"}
    assert body["institutions"] == [{"id": org.id, "name": "青浦区中心医院"}]


def test_unrelated_doctor_is_refused_and_the_refusal_is_audited(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    other_org: Organization,
    person: str,
) -> None:
    r = client.get(f"/api/v1/persons/{person}/record", headers=_doctor(auth_headers, other_org))
    assert r.status_code == 403, r.text
    denied = _denials(session, person)
    assert len(denied) == 1 and denied[0].outcome == "denied"
    r = client.get(
        f"/api/v1/persons/{uuid.uuid4().hex}/record", headers=_doctor(auth_headers, other_org)
    )
    assert r.status_code == 404


def test_consent_grants_access_by_scope_and_withdrawal_takes_it_back(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    org: Organization,
    other_org: Organization,
    person: str,
) -> None:
    mine, stranger = _doctor(auth_headers, org), _doctor(auth_headers, other_org, "doc2")
    consents = f"/api/v1/persons/{person}/consents"
    record = f"/api/v1/persons/{person}/record"
    # A stranger cannot grant their own organisation access.
    r = client.post(
        consents, json={"scope": "organization", "organization_id": other_org.id}, headers=stranger
    )
    assert r.status_code == 403
    r = client.post(consents, json={"scope": "organization"}, headers=mine)
    assert r.status_code == 422

    r = client.post(
        consents, json={"scope": "organization", "organization_id": other_org.id}, headers=mine
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["organization_id"] == other_org.id
    assert client.get(record, headers=stranger).status_code == 200

    r = client.post(
        f"{consents}/withdraw",
        json={"scope": "organization", "organization_id": other_org.id},
        headers=mine,
    )
    assert r.json() == {"withdrawn": 1}
    assert client.get(record, headers=stranger).status_code == 403

    r = client.post(consents, json={"scope": "region"}, headers=auth_headers(Role.admin))
    assert r.status_code == 201
    assert client.get(record, headers=stranger).status_code == 200
    listed = client.get(consents, headers=stranger).json()["items"]
    assert [(c["scope"], c["status"]) for c in listed] == [
        ("organization", "withdrawn"),
        ("region", "active"),
    ]
    r = client.post(f"{consents}/withdraw", json={"scope": "region"}, headers=stranger)
    assert r.json() == {"withdrawn": 1}
    assert client.get(record, headers=stranger).status_code == 403
    # Insurers may not manage consents at all.
    r = client.get(consents, headers=auth_headers(Role.insurer, organization_id=org.id))
    assert r.status_code == 403
    session.expire_all()
    logged = session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.person_id == person, AuditEntry.resource_type == "Consent"
        )
    ).all()
    assert logged.count("create") == 2 and logged.count("update") == 2


def _sign_in(client: TestClient, session: Session, username: str, org: Organization) -> None:
    security.create_user(
        session,
        None,
        username=username,
        password=PASSWORD,
        role=Role.doctor,
        organization_id=org.id,
    )
    session.commit()
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/ui"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_record_page_shows_sections_sources_trend_and_consents(
    client: TestClient, session: Session, org: Organization, other_org: Organization, person: str
) -> None:
    assert client.get(f"/ui/persons/{person}", follow_redirects=False).status_code == 303
    _sign_in(client, session, "dr_qp", org)
    page = client.get(f"/ui/persons/{person}")
    assert page.status_code == 200, page.text
    for heading in ("问题列表", "就诊记录", "检验结果", "用药", "影像/报告", "文档", "知情同意"):
        assert heading in page.text
    assert "原发性高血压" in page.text and "青浦区中心医院" in page.text
    assert 'data-testid="trend-chart"' in page.text and "/static/js/record.js" in page.text
    assert f"/api/v1/audit/persons/{person}/access" in page.text
    assert "张*" in page.text

    panel = client.post(f"/ui/persons/{person}/consents", data={"scope": "consortium"})
    assert panel.status_code == 200 and "医联体内" in panel.text and "有效" in panel.text
    panel = client.post(f"/ui/persons/{person}/consents", data={"scope": "organization"})
    assert panel.status_code == 422 and 'role="alert"' in panel.text
    panel = client.post(f"/ui/persons/{person}/consents/withdraw", data={"scope": "consortium"})
    assert panel.status_code == 200 and "已撤回" in panel.text


def test_record_page_refuses_an_unrelated_doctor_and_audits_it(
    client: TestClient, session: Session, other_org: Organization, person: str
) -> None:
    _sign_in(client, session, "dr_wj", other_org)
    page = client.get(f"/ui/persons/{person}")
    assert page.status_code == 403
    assert "原发性高血压" not in page.text
    assert len(_denials(session, person)) == 1
    r = client.post(f"/ui/persons/{person}/consents", data={"scope": "region"})
    assert r.status_code == 403


def test_person_search_finds_by_name(
    client: TestClient, session: Session, org: Organization, person: str
) -> None:
    _sign_in(client, session, "dr_search", org)
    page = client.get("/ui/persons", params={"q": "张伟"})
    assert page.status_code == 200, page.text
    assert f"/ui/persons/{person}" in page.text and "张*" in page.text
    page = client.get("/ui/persons", params={"q": "zhang"})
    assert f"/ui/persons/{person}" in page.text  # pinyin
    page = client.get("/ui/persons", params={"q": "nobody-like-this"})
    assert "没有找到匹配的居民" in page.text


@pytest.mark.browser
def test_record_page_in_a_browser(
    live_server: str, session: Session, org: Organization, person: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    security.create_user(
        session,
        None,
        username="dr_browser",
        password=PASSWORD,
        role=Role.doctor,
        organization_id=org.id,
    )
    session.commit()
    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{live_server}/ui/persons/{person}")
            page.fill("input[name=username]", "dr_browser")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{live_server}/ui/persons/{person}")
            expect(page.get_by_test_id("problems")).to_contain_text("原发性高血压")
            expect(page.get_by_test_id("encounters")).to_contain_text("青浦区中心医院")
            # ECharts drew the haemoglobin trend.
            expect(page.locator("[data-testid=trend-chart] canvas")).to_have_count(1)
            # Recording a consent swaps the panel through htmx, without a page load.
            page.select_option("[data-testid=consent-form] select", "region")
            page.get_by_role("button", name="登记同意").click()
            expect(page.get_by_test_id("consent-table")).to_contain_text("全区域")
            page.screenshot(path=str(tmp_path / "record-zh.png"), full_page=True)
        finally:
            browser.close()
