"""The reminder job (idempotent, restart-safe) and the gateway API (fetch, ack, phone)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.familydoctor.conftest import PersonFactory, SignFactory
from yilian.db import make_sessionmaker
from yilian.familydoctor import tasks
from yilian.familydoctor.models import Reminder, ReminderRun
from yilian.registry.models import Organization
from yilian.security.principal import Role

Headers = Callable[..., dict[str, str]]
TODAY = date.today()


def _elderly(make_person: PersonFactory, sign: SignFactory, n: int) -> list[str]:
    out = []
    for _ in range(n):
        pid = make_person(birth=date(TODAY.year - 70, 1, 1))
        sign(pid)
        out.append(pid)
    return out


def _keys(session: Session) -> list[tuple[str, str, date]]:
    session.expire_all()
    return sorted(
        session.execute(select(Reminder.person_id, Reminder.kind, Reminder.due_date)).tuples()
    )


def test_run_is_idempotent_and_resumes_after_a_crash(
    session: Session, engine: Engine, make_person: PersonFactory, sign: SignFactory
) -> None:
    people = _elderly(make_person, sign, 5)
    factory = make_sessionmaker(engine)
    # "Crash" after two committed batches of two persons.
    partial = tasks.run_reminders(factory, TODAY, batch_size=2, max_batches=2)
    assert partial.batches == 2
    run = session.scalars(select(ReminderRun)).one()
    assert run.status == "running" and run.cursor == sorted(people)[3]
    assert len({k[0] for k in _keys(session)}) == 4
    rest = tasks.run_reminders(factory, TODAY, batch_size=2)
    assert rest.batches == 1 and not rest.already_done
    keys = _keys(session)
    # 70-year-olds: CRC invitation, PPV23 and the annual health check each.
    assert len(keys) == 15 == len(set(keys))
    assert {k[1] for k in keys} == {"crc_invite", "ppv23_invite", "health_check"}
    again = tasks.run_reminders(factory, TODAY, batch_size=2)
    assert again.already_done and again.total_created == 15
    assert _keys(session) == keys
    # A new day repeats nothing already due: the key is (person, kind, due date).
    tomorrow = tasks.run_reminders(factory, date.fromordinal(TODAY.toordinal() + 1), batch_size=10)
    assert tomorrow.created == 0 or (TODAY.month == 12 and TODAY.day == 31)


def test_gateway_fetches_clear_phone_and_acks(
    client: TestClient,
    session: Session,
    engine: Engine,
    auth_headers: Headers,
    make_person: PersonFactory,
    sign: SignFactory,
    centre: Organization,
) -> None:
    pid = make_person(birth=date(TODAY.year - 70, 1, 1), phone="13800001111")
    sign(pid)
    tasks.run_reminders(make_sessionmaker(engine), TODAY)
    gateway = auth_headers(Role.system, organization_id=centre.id, subject="sms-gateway")
    r = client.get("/api/v1/reminders?status=pending", headers=gateway)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == 3
    assert {x["phone"] for x in rows} == {"13800001111"}
    assert {x["phone_masked"] for x in rows} == {"138****1111"}
    doctor = auth_headers(Role.doctor, organization_id=centre.id)
    seen = client.get("/api/v1/reminders?status=pending", headers=doctor).json()
    assert {x["phone"] for x in seen} == {None}
    first = rows[0]["id"]
    r = client.post(f"/api/v1/reminders/{first}/ack", json={"status": "sent"}, headers=gateway)
    assert r.status_code == 200 and r.json()["status"] == "sent"
    r = client.post(f"/api/v1/reminders/{first}/ack", json={"status": "sent"}, headers=gateway)
    assert r.status_code == 409
    r = client.post(
        f"/api/v1/reminders/{rows[1]['id']}/ack",
        json={"status": "failed", "error": "号码停机"},
        headers=gateway,
    )
    assert r.json()["status"] == "failed" and r.json()["attempts"] == 1
    r = client.post(
        f"/api/v1/reminders/{rows[2]['id']}/ack", json={"status": "lost"}, headers=gateway
    )
    assert r.status_code == 422
    r = client.post("/api/v1/reminders/nope/ack", json={"status": "sent"}, headers=gateway)
    assert r.status_code == 404
    pending = client.get("/api/v1/reminders?status=pending", headers=gateway).json()
    assert [x["id"] for x in pending] == [rows[2]["id"]]
    assert (
        client.get(
            "/api/v1/reminders", headers=auth_headers(Role.insurer, organization_id=centre.id)
        ).status_code
        == 403
    )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Reminder)) == 3
