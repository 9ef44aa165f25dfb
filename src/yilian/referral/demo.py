"""Demo data: 同仁医院's expert sessions and exam capacity, and referrals in every state.

Run after the demo region is seeded (registry, accounts, residents ingested). The
residents are found through the FHIR store as the demo accounts themselves would
(an Encounter search at their institution), so the access rules and the audit see
the demo as they see real use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.db import utcnow
from yilian.kit.errors import YilianError
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.referral import exams, service, slots
from yilian.referral.models import Schedule, Slot
from yilian.referral.rules import Direction, SlotKind, SlotStatus
from yilian.registry import service as registry
from yilian.security import repository as security_repo
from yilian.security import service as security
from yilian.security.principal import Principal, Role

HOSPITAL = "310105H001"  # 同仁医院, the regional medical centre
CENTRE = "310105C001"
CST = timedelta(hours=8)
DEMO_BY = "referral-demo"
# Department, expert, title: mornings 08:00–12:00, 20 slots (4 held for community referrals).
EXPERTS = [
    ("心内科", "陈建华", "主任医师"),
    ("内分泌科", "周丽萍", "主任医师"),
    ("神经内科", "吴志强", "副主任医师"),
    ("呼吸内科", "孙晓燕", "副主任医师"),
    ("骨科", "郑国平", "主任医师"),
]
# Modality, daily capacity (医技预约中心).
EXAMS = [("CT", 16), ("MR", 8), ("US", 24), ("ES", 8)]


def _principal(session: Session, username: str, role: Role, org_id: str) -> Principal:
    user = security_repo.user_by_username(session, username)
    if user is not None and user.organization_id == org_id:
        return security.user_principal(user)
    return Principal(subject=f"demo-{username}", name=username, role=role, organization_id=org_id)


def _morning(day: datetime, hour: int) -> datetime:
    """``hour`` o'clock China Standard Time on ``day``'s calendar date, in UTC."""
    local = (day + CST).replace(hour=hour, minute=0, second=0, microsecond=0)
    return local - CST


def _persons(session: Session, who: Principal, org_id: str, n: int) -> list[str]:
    found = records.search(
        session,
        records.ReadContext(who),
        "Encounter",
        [("organization", f"Organization/{org_id}"), ("_count", str(n * 4))],
    )
    out: list[str] = []
    for enc in found.matches:
        ref = str((enc.get("subject") or {}).get("reference", ""))
        person = patients.person_of_record(session, ref.split("/")[-1]) if ref else None
        if person and person not in out:
            out.append(person)
        if len(out) >= n:
            break
    return out


def _publish(session: Session, hospital_id: str, start_day: datetime, days: int) -> int:
    count = 0
    for d in range(days):
        day = start_day + timedelta(days=d)
        if (day + CST).weekday() == 6:
            continue  # no sessions on Sundays
        for dept, expert, title in EXPERTS:
            start = _morning(day, 8)
            slots.publish(
                session,
                organization_id=hospital_id,
                kind=SlotKind.expert,
                service=dept,
                practitioner_name=expert,
                title=title,
                start=start,
                end=start + timedelta(hours=4),
                capacity=20,
                published_by=DEMO_BY,
            )
            count += 1
        for modality, capacity in EXAMS:
            start = _morning(day, 8)
            slots.publish(
                session,
                organization_id=hospital_id,
                kind=SlotKind.exam,
                service=modality,
                start=start,
                end=start + timedelta(hours=8),
                capacity=capacity,
                published_by=DEMO_BY,
            )
            count += 1
    return count


def _held_slot(session: Session, hospital_id: str, dept: str, now: datetime) -> str:
    for v in slots.list_slots(
        session,
        organization_id=hospital_id,
        kind=SlotKind.expert,
        start_from=now,
        days=14,
        service=dept,
        pool="referral",
        only_open=True,
        now=now,
    ):
        return v.id
    raise LookupError(f"no held {dept} slot after {now}")


def seed_demo(session: Session) -> str:
    """Publish two weeks of sessions at 同仁医院 and open referrals in every state; idempotent."""
    hospital = registry.get_organization_by_code(session, HOSPITAL)
    centre = registry.get_organization_by_code(session, CENTRE)
    if hospital is None or centre is None:
        return "referral: skipped (the demo registry has no 310105H001 / 310105C001)"
    seeded = session.scalar(
        select(Schedule.id)
        .where(Schedule.organization_id == hospital.id, Schedule.published_by == DEMO_BY)
        .limit(1)
    )
    if seeded is not None:
        return "referral: already seeded"
    now = utcnow()
    doctor = _principal(session, "doctor", Role.doctor, centre.id)
    specialist = _principal(session, "specialist", Role.specialist, hospital.id)
    sessions = _publish(session, hospital.id, now, 14)
    community = _persons(session, doctor, centre.id, 14)
    hospital_patients = _persons(session, specialist, hospital.id, 3)
    made = 0
    plans = [
        # (months back, final state, department, urgent, contracted)
        (3, "completed", "心内科", False, True),
        (3, "declined", "骨科", False, False),
        (2, "completed", "内分泌科", False, True),
        (2, "cancelled", "神经内科", False, False),
        (1, "completed", "呼吸内科", True, True),
        (1, "expired", "心内科", False, False),
        (0, "scheduled", "心内科", False, True),
        (0, "arrived", "内分泌科", False, True),
        (0, "accepted", "神经内科", False, False),
        (0, "requested", "心内科", True, False),
        (0, "requested", "骨科", False, True),
        (0, "requested", "呼吸内科", False, False),
    ]
    reasons = {
        "心内科": (
            "血压控制不佳，两次随访未达标",
            "高血压 5 年，氨氯地平 5mg qd，近两周血压 165/100 mmHg",
        ),
        "内分泌科": ("糖化血红蛋白 9.1%，需调整降糖方案", "2 型糖尿病 8 年，二甲双胍 0.5g tid"),
        "神经内科": ("反复头晕伴左手麻木 1 周", "高血压、高脂血症病史"),
        "呼吸内科": ("咳嗽咳痰 1 月，胸片示右下肺斑片影", "吸烟 30 年，COPD 随访中"),
        "骨科": ("右膝关节疼痛加重，影响行走", "骨关节炎 3 年，保守治疗效果欠佳"),
    }
    for (months, final, dept, urgent, contracted), person in zip(plans, community, strict=False):
        seen = final in ("arrived", "completed")
        back = 9 if final == "expired" else 6 if seen and not months else 1
        at = now - timedelta(days=30 * months + back)
        reason, summary = reasons[dept]
        try:
            ref = service.request_referral(
                session,
                doctor,
                person_id=person,
                direction=Direction.up,
                to_organization_id=hospital.id,
                reason=reason,
                department=dept,
                summary=summary,
                urgent=urgent,
                contracted=contracted,
                now=at,
                source=DEMO_BY,
            )
            if final in ("requested", "expired"):
                made += 1
                continue
            if final == "declined":
                service.decline(
                    session,
                    specialist,
                    ref.id,
                    reason="建议先完善社区检查后再转诊",
                    now=at + timedelta(hours=5),
                )
                made += 1
                continue
            service.accept(session, specialist, ref.id, now=at + timedelta(hours=3))
            if final == "accepted":
                made += 1
                continue
            if months or seen:
                # A visit in the past needs a session of its time, so that its wait is realistic.
                start = _morning(at + timedelta(days=4), 8)
                slots.publish(
                    session,
                    organization_id=hospital.id,
                    kind=SlotKind.expert,
                    service=dept,
                    practitioner_name="历史出诊",
                    start=start,
                    end=start + timedelta(hours=4),
                    capacity=10,
                    published_by=DEMO_BY,
                )
            slot_id = _held_slot(session, hospital.id, dept, at + timedelta(hours=4))
            service.schedule(
                session, specialist, ref.id, slot_id=slot_id, now=at + timedelta(hours=4)
            )
            if final == "cancelled":
                service.cancel(
                    session, doctor, ref.id, reason="患者改期", now=at + timedelta(days=1)
                )
            elif final in ("arrived", "completed"):
                visit = ref.appointment_at or at
                service.arrive(session, specialist, ref.id, now=visit)
                if final == "completed":
                    service.complete(
                        session,
                        specialist,
                        ref.id,
                        note="已调整治疗方案，转回社区随访",
                        now=visit + timedelta(hours=2),
                    )
            made += 1
        except (YilianError, LookupError):
            continue  # a resident the rules refuse is left out of the demo, not forced in
    downs = 0
    for person in hospital_patients[:2]:
        try:
            service.request_referral(
                session,
                specialist,
                person_id=person,
                direction=Direction.down,
                to_organization_id=centre.id,
                reason="术后恢复期，病情稳定，转社区康复随访",
                summary="腹腔镜胆囊切除术后第 5 天，切口愈合良好",
                care_plan="每周社区随访一次，观察切口及消化道症状；2 周后复查肝功能",
                source=DEMO_BY,
            )
            downs += 1
        except YilianError:
            continue
    exams_made = 0
    for person, (modality, site) in zip(
        community[-2:], [("CT", "胸部"), ("US", "腹部")], strict=False
    ):
        try:
            order = exams.order_exam(
                session,
                doctor,
                person_id=person,
                centre_organization_id=hospital.id,
                modality=modality,
                body_site=site,
                clinical_info="社区首诊，需进一步检查",
            )
            held = next(
                v.id
                for v in slots.list_slots(
                    session,
                    organization_id=hospital.id,
                    kind=SlotKind.exam,
                    start_from=now,
                    days=14,
                    service=modality,
                    pool="referral",
                    only_open=True,
                    now=now,
                )
            )
            exams.book_exam(session, doctor, order.id, slot_id=held)
            if modality == "CT":
                exams.examine(session, specialist, order.id)
                exams.report(
                    session,
                    specialist,
                    order.id,
                    conclusion="双肺未见明显占位性病变",
                    findings="双肺纹理清晰，纵隔未见肿大淋巴结。",
                )
            exams_made += 1
        except (YilianError, StopIteration):
            continue
    session.flush()
    booked = session.scalar(select(Slot.id).where(Slot.status == SlotStatus.booked).limit(1))
    return (
        f"referral: {sessions} sessions published at 同仁医院 (14 days, 20% reserved), "
        f"{made} up-referrals in every state, {downs} down-referrals, {exams_made} exam orders"
        + ("" if booked else " (no slot booked)")
    )
