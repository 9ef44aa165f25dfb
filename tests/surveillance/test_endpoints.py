"""The surveillance API: reports, signals and their lifecycle, notifications, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.surveillance.conftest import DAY0, Area
from yilian.security.principal import Role
from yilian.surveillance.models import SentinelReport

Headers = Callable[..., dict[str, str]]
BASE = [3, 4, 3, 5, 4, 3, 4, 3, 4, 5, 3, 4, 4, 3, 4, 3, 5, 4]


def _report(day: date, count: int, site: str = "SITEA", **extra: Any) -> dict[str, Any]:
    return {"site": site, "syndrome": "ili", "age_group": "0-4", "day": day.isoformat(),
            "count": count} | extra  # fmt: skip


def test_report_then_replace(client: TestClient, auth_headers: Headers, area: Area) -> None:
    his = auth_headers(Role.system, organization_id=area.site_a.id)
    r1 = client.post("/api/v1/surveillance/reports", json=_report(DAY0, 5), headers=his)
    assert r1.status_code == 201, r1.text
    r2 = client.post("/api/v1/surveillance/reports", json=_report(DAY0, 6), headers=his)
    assert r2.status_code == 200 and r2.json()["previous"] == 5 and r2.json()["revision"] == 2


def test_bad_reports_get_a_clear_4xx(
    client: TestClient, auth_headers: Headers, area: Area, session: Session
) -> None:
    cdc = auth_headers(Role.cdc)
    future = date.today() + timedelta(days=5)
    cases = [
        (_report(DAY0, -3), 422, "count"),
        (_report(future, 3), 422, "day"),
        (_report(DAY0, 3, syndrome="xx"), 422, "syndrome"),
        (_report(DAY0, 3, site="NOSUCH"), 422, "site"),
        ({**_report(DAY0, 3), "day": "2024-02-30"}, 422, "day"),
        ({**_report(DAY0, 3), "extra": 1}, 422, "extra"),
    ]
    for body, code, field in cases:
        r = client.post("/api/v1/surveillance/reports", json=body, headers=cdc)
        assert r.status_code == code, (body, r.text)
        assert field in r.json()["error"], r.json()
    other = auth_headers(Role.system, organization_id=area.site_b.id)
    r = client.post("/api/v1/surveillance/reports", json=_report(DAY0, 3), headers=other)
    assert r.status_code == 403
    r = client.post(
        "/api/v1/surveillance/reports", json=_report(DAY0, 3), headers=auth_headers(Role.insurer)
    )
    assert r.status_code == 403
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SentinelReport)) == 0


def test_signal_to_event_and_notifications(
    client: TestClient, auth_headers: Headers, area: Area
) -> None:
    cdc = auth_headers(Role.cdc, organization_id=area.cdc_org.id)
    for n, c in enumerate([*BASE, 20, 25]):
        body = _report(DAY0 + timedelta(days=n), c)
        assert client.post("/api/v1/surveillance/reports", json=body, headers=cdc).status_code < 300
    last = DAY0 + timedelta(days=len(BASE) + 1)
    run = client.post("/api/v1/surveillance/run", json={"day": last.isoformat()}, headers=cdc)
    assert run.status_code == 200, run.text
    again = client.post("/api/v1/surveillance/run", json={"day": last.isoformat()}, headers=cdc)
    assert again.json()["signals"] == run.json()["signals"] and again.json()["new_signals"] == 0
    signals = client.get("/api/v1/surveillance/signals?status=new", headers=cdc).json()
    assert signals["total"] == 1
    sid = signals["items"][0]["id"]
    bad = client.post(f"/api/v1/surveillance/signals/{sid}/dismiss", json={}, headers=cdc)
    assert bad.status_code == 422
    doctor = auth_headers(Role.doctor, organization_id=area.site_a.id)
    assert client.post(
        f"/api/v1/surveillance/signals/{sid}/confirm", json={}, headers=doctor
    ).status_code == 403  # fmt: skip
    ev = client.post(f"/api/v1/surveillance/signals/{sid}/confirm", json={}, headers=cdc)
    assert ev.status_code == 201, ev.text
    eid = ev.json()["id"]
    twice = client.post(f"/api/v1/surveillance/signals/{sid}/confirm", json={}, headers=cdc)
    assert twice.status_code == 409
    team = client.post(
        f"/api/v1/surveillance/events/{eid}/team",
        json={"organization_id": area.cdc_org.code}, headers=cdc,
    )  # fmt: skip
    assert team.status_code == 200 and team.json()["status"] == "responding"
    nobody = client.post(
        f"/api/v1/surveillance/events/{eid}/team", json={"organization_id": "NOPE"}, headers=cdc
    )
    assert nobody.status_code == 422
    close = client.post(
        f"/api/v1/surveillance/events/{eid}/close", json={"summary": "已处置"}, headers=cdc
    )
    assert close.status_code == 200 and close.json()["status"] == "closed"
    detail = client.get(f"/api/v1/surveillance/events/{eid}", headers=cdc).json()
    assert [e["kind"] for e in detail["timeline"]] == ["raised", "confirmed", "team", "closed"]

    gateway = auth_headers(Role.system)
    pending = client.get("/api/v1/surveillance/notifications?status=pending", headers=gateway)
    kinds = [n["kind"] for n in pending.json()]
    assert kinds == ["signal.new", "event.confirmed", "event.team", "event.closed"]
    nid = pending.json()[0]["id"]
    for _ in range(2):  # acknowledging twice is harmless
        ack = client.post(f"/api/v1/surveillance/notifications/{nid}/ack", headers=gateway)
        assert ack.status_code == 200 and ack.json()["status"] == "acked"
    left = client.get("/api/v1/surveillance/notifications?status=pending", headers=gateway)
    assert len(left.json()) == 3

    chart = client.get(
        "/api/v1/surveillance/series/sentinel:ili:310105004:SITEA:0-4", headers=cdc
    ).json()
    assert chart["results"]["ears_c1"][-1]["alarm"] is True
    grid = client.get("/api/v1/surveillance/grid", headers=cdc).json()
    assert {"code": "310105004", "name": "新华路街道", "level": "none"} in grid  # closed now


def test_public_report_review(client: TestClient, auth_headers: Headers, area: Area) -> None:
    cdc = auth_headers(Role.cdc)
    body = {"channel": "media", "title": "某小学多名学生发热", "text": "网络报道",
            "area_code": "310105004", "day": DAY0.isoformat()}  # fmt: skip
    r = client.post("/api/v1/surveillance/public-reports", json=body, headers=cdc)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    rid = r.json()["id"]
    no_note = client.post(
        f"/api/v1/surveillance/public-reports/{rid}/review", json={"decision": "reject"},
        headers=cdc,
    )  # fmt: skip
    assert no_note.status_code == 422
    ok = client.post(
        f"/api/v1/surveillance/public-reports/{rid}/review", json={"decision": "accept"},
        headers=cdc,
    )  # fmt: skip
    assert ok.status_code == 200 and ok.json()["signal_id"]
    again = client.post(
        f"/api/v1/surveillance/public-reports/{rid}/review", json={"decision": "accept"},
        headers=cdc,
    )  # fmt: skip
    assert again.status_code == 409
    grid = client.get("/api/v1/surveillance/grid", headers=cdc).json()
    assert {"code": "310105004", "name": "新华路街道", "level": "yellow"} in grid


def test_series_configuration(client: TestClient, auth_headers: Headers, area: Area) -> None:
    cdc = auth_headers(Role.cdc)
    client.post("/api/v1/surveillance/reports", json=_report(DAY0, 2), headers=cdc)
    key = "sentinel:ili:310105004:SITEA:0-4"
    bad = client.patch(f"/api/v1/surveillance/series/{key}", json={"methods": ["magic"]},
                       headers=cdc)  # fmt: skip
    assert bad.status_code == 422
    ok = client.patch(f"/api/v1/surveillance/series/{key}", json={"methods": ["cusum"]},
                      headers=cdc)  # fmt: skip
    assert ok.status_code == 200 and ok.json()["methods"] == ["cusum"]
    missing = client.patch("/api/v1/surveillance/series/sentinel:x:1:2:3", json={}, headers=cdc)
    assert missing.status_code == 404
