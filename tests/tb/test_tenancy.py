"""Province tenants of TB cases: 安徽 and 上海 each see their own, the region sees both.

A case moves between tenants only by transfer-out → pending → acknowledged transfer-in,
keeps one timeline, and the indicators count each day's work for the province that
managed the case that day while the case stays in the cohort of the province that
registered it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.audit.models import AuditEntry
from yilian.config import get_settings
from yilian.patients.models import Person
from yilian.registry.models import Organization, Region
from yilian.security.principal import Role
from yilian.tb import care_rules, tenancy
from yilian.tb.care_models import TbTransfer

Headers = Callable[..., dict[str, str]]
TODAY = date.today()
CENTRE_CODE = "YRD-TB-CENTRE"


@pytest.fixture
def region_centre(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("YILIAN_REGION_ORGANIZATIONS", f'["{CENTRE_CODE}"]')
    get_settings.cache_clear()
    yield CENTRE_CODE
    get_settings.cache_clear()


@pytest.fixture
def orgs(
    make_region: Callable[..., Region], make_org: Callable[..., Organization], region_centre: str
) -> dict[str, Organization]:
    sh = make_region(name="上海市", level="province")
    sh_city = make_region(name="上海市辖区", level="city", parent=sh)
    cn = make_region(name="长宁区", level="district", parent=sh_city)
    ah = make_region(name="安徽省", level="province")
    hf = make_region(name="合肥市", level="city", parent=ah)
    return {
        "ah": make_org(name="合肥市庐阳区社区卫生服务中心", region=hf),
        "ah_cdc": make_org(name="安徽省疾控中心", type="cdc", region=ah),
        "sh": make_org(name="新华街道社区卫生服务中心", region=cn),
        "sh2": make_org(name="江苏路街道社区卫生服务中心", region=cn),
        "sh_cdc": make_org(name="长宁区疾控中心", type="cdc", region=cn),
        # The region's coordination centre sits in 上海 but acts for the whole region.
        "centre": make_org(
            name="长三角区域结核病协同防控中心", type="cdc", region=sh, code=CENTRE_CODE
        ),
    }


def _person(session: Session) -> str:
    p = Person()
    session.add(p)
    session.commit()
    return p.id


def _as(h: Headers, org: Organization, role: Role = Role.doctor) -> dict[str, str]:
    return h(role, organization_id=org.id, subject=f"{role.value}-{org.name}")


def _case(client: TestClient, h: Headers, org: Organization, person: str, days: int = 40) -> str:
    body = {
        "person_id": person,
        "organization_id": org.id,
        "notification_date": (TODAY - timedelta(days=days)).isoformat(),
    }
    r = client.post("/api/v1/tb/cases", json=body, headers=_as(h, org))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _dose(client: TestClient, h: dict[str, str], case: str, back: int, status: str) -> None:
    day = (TODAY - timedelta(days=back)).isoformat()
    r = client.post(
        f"/api/v1/tb/cases/{case}/doses", json={"day": day, "status": status}, headers=h
    )
    assert r.status_code in (200, 201), r.text


def test_an_anhui_user_cannot_read_a_shanghai_case_and_the_refusal_is_audited(
    client: TestClient, session: Session, auth_headers: Headers, orgs: dict[str, Organization]
) -> None:
    person = _person(session)
    case = _case(client, auth_headers, orgs["sh"], person)
    # The 安徽 CDC has a statutory public-health basis for any person (传染病防治法):
    # only the tenant rule keeps it out of another province's case.
    ah_cdc = _as(auth_headers, orgs["ah_cdc"], Role.cdc)
    r = client.get(f"/api/v1/tb/cases/{case}", headers=ah_cdc)
    assert r.status_code == 403 and "tenant" in r.json()["error"]
    assert "上海市" in r.json()["error"] and "安徽省" in r.json()["error"]
    assert client.get("/api/v1/tb/cases", headers=ah_cdc).json() == []
    r = client.post(
        f"/api/v1/tb/cases/{case}/doses",
        json={"day": TODAY.isoformat(), "status": "taken"},
        headers=ah_cdc,
    )
    assert r.status_code == 403
    # Nor can it register a case for a 上海 institution.
    r = client.post(
        "/api/v1/tb/cases",
        json={"person_id": _person(session), "organization_id": orgs["sh"].id,
              "notification_date": TODAY.isoformat()},
        headers=ah_cdc,
    )  # fmt: skip
    assert r.status_code == 403 and "tenant" in r.json()["error"]
    # 上海's own CDC reads it; both decisions are in the audit chain.
    sh_cdc = _as(auth_headers, orgs["sh_cdc"], Role.cdc)
    assert client.get(f"/api/v1/tb/cases/{case}", headers=sh_cdc).status_code == 200
    session.expire_all()
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.person_id == person)))
    denied = [json.loads(e.detail or "{}") for e in entries if e.action == "access_denied"]
    assert len(denied) == 2
    assert {d["requested_action"] for d in denied} == {"read", "write"}
    assert all(d["basis"].startswith("tenant:") for d in denied)
    assert any(e.action == "read" and e.outcome == "allowed" for e in entries)
    # The refused registration is in the chain too, decided by security like the rest.
    (refused,) = session.scalars(
        select(AuditEntry).where(
            AuditEntry.resource_type == "TbCase",
            AuditEntry.action == "access_denied",
            AuditEntry.person_id.is_(None),  # decided before the case (and its person) exists
        )
    )
    detail = json.loads(refused.detail or "{}")
    assert detail["requested_action"] == "create" and detail["basis"].startswith("tenant:")
    assert refused.organization_id == orgs["ah_cdc"].id


def test_transfer_pending_then_acknowledged_moves_the_tenant_and_keeps_one_timeline(
    client: TestClient, session: Session, auth_headers: Headers, orgs: dict[str, Organization]
) -> None:
    ah, sh = orgs["ah"], orgs["sh"]
    person = _person(session)
    case = _case(client, auth_headers, ah, person)
    base = f"/api/v1/tb/cases/{case}"
    _dose(client, _as(auth_headers, ah), case, 3, "taken")
    r = client.post(
        f"{base}/transfers",
        json={"to_organization_id": sh.id, "reason": "务工迁居上海"},
        headers=_as(auth_headers, ah),
    )
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    # Pending: the receiving province sees it — its CDC in the province's transfer list,
    # the receiving centre can read the case it is asked to take over, not yet write.
    sh_cdc = _as(auth_headers, orgs["sh_cdc"], Role.cdc)
    listed = client.get("/api/v1/tb/transfers?status=pending", headers=sh_cdc).json()
    assert [t["id"] for t in listed] == [tid]
    assert client.get(f"{base}", headers=_as(auth_headers, sh)).status_code == 200
    r = client.post(
        f"{base}/visits", json={"visit_date": TODAY.isoformat()}, headers=_as(auth_headers, sh)
    )
    assert r.status_code == 403
    # Another 上海 centre is in the tenant but has no part in the transfer.
    assert client.get(base, headers=_as(auth_headers, orgs["sh2"])).status_code == 403
    other = client.get(
        "/api/v1/tb/transfers?status=pending", headers=_as(auth_headers, orgs["sh2"])
    )
    assert other.json() == []
    page = client.get("/ui/tb/care", cookies=_cookie(_as(auth_headers, sh)))
    assert page.status_code == 200 and 'data-testid="tb-care-incoming-row"' in page.text
    assert f'data-ack-transfer="{tid}"' in page.text
    # The 安徽 side still manages it while pending.
    _dose(client, _as(auth_headers, ah), case, 2, "taken")
    ok = client.post(f"/api/v1/tb/transfers/{tid}/acknowledge", headers=_as(auth_headers, sh))
    assert ok.status_code == 200 and ok.json()["status"] == "accepted"
    again = client.post(f"/api/v1/tb/transfers/{tid}/acknowledge", headers=_as(auth_headers, sh))
    assert again.status_code == 409
    # Acknowledged: the case is 上海's; 安徽 neither reads nor writes it any more.
    _dose(client, _as(auth_headers, sh), case, 0, "missed")
    r = client.post(
        f"{base}/visits", json={"visit_date": TODAY.isoformat()}, headers=_as(auth_headers, sh)
    )
    assert r.status_code == 201, r.text
    for h in (_as(auth_headers, ah), _as(auth_headers, orgs["ah_cdc"], Role.cdc)):
        assert client.get(base, headers=h).status_code == 403
    assert client.get("/api/v1/tb/cases", headers=_as(auth_headers, ah)).json() == []
    # One timeline: the same case id, 安徽's and 上海's doses, visits and events on one page.
    d = client.get(base, headers=_as(auth_headers, sh)).json()
    assert d["case"]["id"] == case and d["case"]["province"] == "上海市"
    assert [(x["day"], x["status"]) for x in d["doses"]] == [
        ((TODAY - timedelta(days=3)).isoformat(), "taken"),
        ((TODAY - timedelta(days=2)).isoformat(), "taken"),
        (TODAY.isoformat(), "missed"),
    ]
    assert [(e["kind"], e["province"]) for e in d["timeline"]] == [
        ("notified", "安徽省"),
        ("dose", "安徽省"),
        ("transfer_out", "安徽省"),
        ("dose", "安徽省"),
        ("transfer_in", "上海市"),
        ("dose", "上海市"),
        ("visit", "上海市"),
    ]
    page = client.get(f"/ui/tb/care/{case}", cookies=_cookie(_as(auth_headers, sh)))
    assert page.status_code == 200
    assert 'data-province="安徽省"' in page.text and 'data-province="上海市"' in page.text
    assert "合肥市庐阳区社区卫生服务中心" in page.text


def test_a_transfer_can_be_withdrawn_by_the_sender_or_declined_by_the_receiver(
    client: TestClient, session: Session, auth_headers: Headers, orgs: dict[str, Organization]
) -> None:
    ah, sh = orgs["ah"], orgs["sh"]
    case = _case(client, auth_headers, ah, _person(session))
    for who in (ah, sh):
        t = client.post(
            f"/api/v1/tb/cases/{case}/transfers",
            json={"to_organization_id": sh.id},
            headers=_as(auth_headers, ah),
        ).json()
        cancel = f"/api/v1/tb/transfers/{t['id']}/cancel"
        assert client.post(cancel, headers=_as(auth_headers, orgs["sh2"])).status_code == 403
        r = client.post(cancel, headers=_as(auth_headers, who))
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        d = client.get(f"/api/v1/tb/cases/{case}", headers=_as(auth_headers, ah)).json()
        assert d["case"]["status"] == "active" and d["case"]["province"] == "安徽省"
    # The receiving centre's read access ended with the transfer.
    assert client.get(f"/api/v1/tb/cases/{case}", headers=_as(auth_headers, sh)).status_code == 403


def test_the_region_sees_both_provinces(
    client: TestClient, session: Session, auth_headers: Headers, orgs: dict[str, Organization]
) -> None:
    ah_case = _case(client, auth_headers, orgs["ah"], _person(session))
    sh_case = _case(client, auth_headers, orgs["sh"], _person(session))
    centre = _as(auth_headers, orgs["centre"], Role.cdc)
    work = client.get("/api/v1/tb/cases", headers=centre).json()
    listed = {x["case"]["id"]: x["case"]["province"] for x in work}
    assert listed == {ah_case: "安徽省", sh_case: "上海市"}
    for case in (ah_case, sh_case):
        assert client.get(f"/api/v1/tb/cases/{case}", headers=centre).status_code == 200
    assert len(client.get("/api/v1/tb/cases", headers=auth_headers(Role.admin)).json()) == 2
    # Each province's CDC sees its own only.
    for cdc, mine in (("ah_cdc", ah_case), ("sh_cdc", sh_case)):
        got = client.get("/api/v1/tb/cases", headers=_as(auth_headers, orgs[cdc], Role.cdc))
        assert [x["case"]["id"] for x in got.json()] == [mine]
    page = client.get("/ui/tb/care", cookies=_cookie(centre))
    assert page.status_code == 200 and "长三角区域" in page.text
    assert page.text.count('data-testid="tb-care-row"') == 2


def test_indicators_count_each_day_for_the_province_that_managed_it(
    client: TestClient, session: Session, auth_headers: Headers, orgs: dict[str, Organization]
) -> None:
    ah, sh = orgs["ah"], orgs["sh"]
    case = _case(client, auth_headers, ah, _person(session), days=40)
    _dose(client, _as(auth_headers, ah), case, 20, "taken")
    _dose(client, _as(auth_headers, ah), case, 19, "late")
    t = client.post(
        f"/api/v1/tb/cases/{case}/transfers",
        json={"to_organization_id": sh.id},
        headers=_as(auth_headers, ah),
    ).json()
    client.post(f"/api/v1/tb/transfers/{t['id']}/acknowledge", headers=_as(auth_headers, sh))
    # As if 上海 had acknowledged ten days ago.
    row = session.get(TbTransfer, t["id"])
    assert row is not None
    row.acknowledged_at = datetime.now() - timedelta(days=10)
    session.commit()
    for back, status in ((3, "taken"), (2, "taken"), (1, "missed")):
        _dose(client, _as(auth_headers, sh), case, back, status)
    rows = {
        r["key"]: r
        for r in client.get(
            "/api/v1/tb/indicators?by=province", headers=auth_headers(Role.admin)
        ).json()["rows"]
    }
    anhui, shanghai = rows["安徽省"], rows["上海市"]
    # Days -40..-11 were 安徽's (30 doses due), -10..0 上海's (11): 41 in all.
    assert (anhui["doses_due"], anhui["doses_taken"]) == (30, 2)
    assert (shanghai["doses_due"], shanghai["doses_taken"]) == (11, 2)
    # The case stays in the cohort of the province that registered it.
    assert (anhui["cases"], shanghai["cases"]) == (1, 0)
    assert (anhui["transferred_out"], shanghai["transferred_in"]) == (1, 1)
    # The 72-hour visit (day -37) was 安徽's to make, the monthly one (day -7) 上海's.
    assert (anhui["visits_due"], shanghai["visits_due"]) == (1, 1)
    months = client.get("/api/v1/tb/indicators?by=month", headers=auth_headers(Role.admin)).json()
    assert sum(m["doses_due"] for m in months["rows"]) == 41
    assert sum(m["doses_taken"] for m in months["rows"]) == 4


def _cookie(headers: dict[str, str]) -> dict[str, str]:
    return {"yilian_token": headers["Authorization"].split()[1]}


# ---------------------------------------------------------------- pure rules


def test_who_records_for_a_case() -> None:
    assert tenancy.case_writer_problem(Role.doctor, "a", "a") is None
    assert tenancy.case_writer_problem(Role.system, "a", "a") is None
    assert tenancy.case_writer_problem(Role.cdc, "c", "a") is None
    assert tenancy.case_writer_problem(Role.doctor, "b", "a") is not None
    assert tenancy.case_writer_problem(Role.admin, None, "a") is not None


def test_custody_periods() -> None:
    d = date(2024, 3, 1)
    periods = care_rules.custody("ah", [(d + timedelta(days=10), "sh")])
    assert care_rules.custodian_on(periods, d) == "ah"
    assert care_rules.custodian_on(periods, d + timedelta(days=9)) == "ah"
    assert care_rules.custodian_on(periods, d + timedelta(days=10)) == "sh"
    split = care_rules.split_by_custody(periods, d, d + timedelta(days=14))
    ten, fourteen = d + timedelta(days=10), d + timedelta(days=14)
    assert split == [("ah", d, d + timedelta(days=9)), ("sh", ten, fourteen)]
    # Back and forth: 安徽 → 上海 → 安徽.
    periods = care_rules.custody(
        "ah", [(d + timedelta(days=5), "sh"), (d + timedelta(days=8), "ah")]
    )
    days = [care_rules.custodian_on(periods, d + timedelta(days=i)) for i in range(10)]
    assert days == ["ah"] * 5 + ["sh"] * 3 + ["ah"] * 2
