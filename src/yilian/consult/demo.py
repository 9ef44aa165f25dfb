"""Demo consultations on the seeded district: a 长三角 RR-TB joint case, an MDT, a remote case.

Runs after the demo database is seeded (registry, accounts, synthetic residents).
Idempotent: a case is keyed by its title and requester. Everything goes through
the service, as a clinician would do it through the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yilian.consult import repository as repo
from yilian.consult import service
from yilian.consult.rules import CaseType, SessionMode
from yilian.consult.schemas import CaseCreate, InvitationIn, ScheduleIn
from yilian.db import utcnow
from yilian.kit.errors import YilianError
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.registry.schemas import PractitionerFilter
from yilian.security import service as security
from yilian.security.principal import Principal, Role
from yilian.web.timeline import when

HOSPITAL = "310105H001"  # 上海市同仁医院 (区域医疗中心)
CENTRE = "310105C001"  # 新华街道社区卫生服务中心
# The 长三角 joint consultation: institutions in 上海, 江苏 and 浙江 (seed 000).
RR_TB_EXPERTS = ("310000H004", "320509H001", "330421H001")
TITLE_RR_TB = "利福平耐药肺结核疑难病例 长三角联合会诊（演示）"
TITLE_MDT = "多学科会诊：慢病合并肺部病变（演示）"
TITLE_REMOTE = "远程会诊：社区转诊患者诊疗方案咨询（演示）"
_TB_CODES = ("A15.0", "A16.2")
_TITLE_RANK = {"主任医师": 0, "副主任医师": 1, "主治医师": 2, "医师": 3}


@dataclass(frozen=True)
class _Expert:
    practitioner_id: str
    organization_id: str
    name: str


def _system(org: Organization) -> Principal:
    return Principal(f"demo-consult-{org.code}", f"{org.code} HIS", Role.system, org.id, "client")


def _account(session: Session, username: str, role: Role, org: Organization) -> Principal | None:
    users, _ = security.list_users(
        session, role=role, organization_id=org.id, active=True, limit=500, offset=0
    )
    user = next((u for u in users if u.username == username), None)
    if user is None:
        return None
    return security.user_principal(user)


def _persons(session: Session, org: Organization, want: int) -> list[tuple[str, str]]:
    """(person id, Patient id) of persons with a problem recorded by ``org``; TB cases first."""
    ctx = records.ReadContext(_system(org))
    found: list[tuple[str, str]] = []
    for params in (
        [("organization", org.id), ("code", ",".join(_TB_CODES)), ("_count", "10")],
        [("organization", org.id), ("_count", "40")],
    ):
        for cond in records.search(session, ctx, "Condition", params).matches:
            ref = str((cond.get("subject") or {}).get("reference") or "")
            patient_id = ref.split("/", 1)[1] if ref.startswith("Patient/") else ""
            person = patients.person_of_record(session, patient_id) if patient_id else None
            if person and all(person != p for p, _ in found):
                found.append((person, patient_id))
            if len(found) >= want:
                return found
    return found


def _items(session: Session, org: Organization, patient_id: str) -> list[str]:
    """A handful of the person's record items: problems, recent results, reports, drugs."""
    everything = records.everything(session, records.ReadContext(_system(org)), patient_id)
    quota = {
        "Condition": 2,
        "Observation": 3,
        "DiagnosticReport": 1,
        "ImagingStudy": 1,
        "MedicationRequest": 1,
    }
    newest_first = sorted(everything, key=lambda r: when(r) or "")
    picked: list[str] = []
    for r in reversed(newest_first):
        rtype = str(r.get("resourceType"))
        if quota.get(rtype, 0) > 0:
            quota[rtype] -= 1
            picked.append(f"{rtype}/{r['id']}")
    return picked


def _experts(
    session: Session, org: Organization, specialties: tuple[str, ...], n: int
) -> list[_Expert]:
    """The most senior practitioners of ``org`` in the given specialties (then any)."""
    out: list[_Expert] = []
    for specialty in (*specialties, None):
        listing = registry.list_practitioners(
            session,
            filters=PractitionerFilter(organization_id=org.id, specialty=specialty, active=True),
            limit=100,
        )
        ranked = sorted(listing.items, key=lambda p: (_TITLE_RANK.get(p.title or "", 9), p.name))
        for p in ranked:
            if p.title and "技师" in p.title:
                continue
            if all(e.practitioner_id != p.id for e in out):
                out.append(_Expert(p.id, org.id, p.name))
            if len(out) >= n:
                return out
    return out


def _invite(expert: _Expert, *, lead: bool = False) -> InvitationIn:
    return InvitationIn(
        organization_id=expert.organization_id, practitioner_id=expert.practitioner_id, is_lead=lead
    )


def _opinions(session: Session, requester: Principal, case_id: str, texts: list[str]) -> None:
    view = service.view_case(session, requester, case_id)
    targets = [i for i in view.invitations if i.user_id is None]
    for inv, text in zip(targets, texts, strict=False):
        service.record_opinion(session, requester, case_id, text, invitation_id=inv.id)


def _rr_tb(
    session: Session,
    specialist: Principal,
    person: tuple[str, str],
    now: datetime,
    orgs: dict[str, Organization],
) -> None:
    experts = [
        e for code in RR_TB_EXPERTS for e in _experts(session, orgs[code], ("呼吸科", "感染科"), 1)
    ]
    hospital = orgs[HOSPITAL]
    case = service.open_case(
        session,
        specialist,
        CaseCreate(
            case_type=CaseType.rr_tb_joint,
            title=TITLE_RR_TB,
            summary=(
                "肺结核患者，分子药敏提示利福平耐药（RR-TB），强化期治疗后痰培养仍阳性，"
                "申请长三角区域利福平耐药结核病联合会诊。"
            ),
            person_id=person[0],
            items=_items(session, hospital, person[1]),
            questions=[
                "是否需要调整为含贝达喹啉、利奈唑胺的长程治疗方案？",
                "是否需要补充全基因组测序（WGS）明确耐药位点？",
            ],
            invitations=[_invite(e, lead=(n == 0)) for n, e in enumerate(experts)],
            submit=True,
        ),
        now=now - timedelta(days=6),
    )
    start = (now - timedelta(days=2)).replace(hour=6, minute=0, second=0, microsecond=0)
    service.schedule(
        session,
        specialist,
        case.id,
        ScheduleIn(
            start=start,
            end=start + timedelta(hours=2),
            mode=SessionMode.online,
            location="长三角区域利福平耐药结核病协同防控中心 线上会诊平台",
        ),
    )
    service.start_session(session, specialist, case.id)
    _opinions(
        session,
        specialist,
        case.id,
        [
            "建议采用全口服长程方案：贝达喹啉 + 利奈唑胺 + 左氧氟沙星 + 氯法齐明"
            " + 环丝氨酸，疗程 18–20 个月。",
            "同意长程方案；建议送检全基因组测序，对照 WHO 2021 耐药突变目录核实氟喹诺酮耐药位点。",
            "注意利奈唑胺骨髓抑制和周围神经病变，每月复查血常规；社区督导服药并按时访视。",
        ],
    )
    service.sign_conclusion(
        session,
        specialist,
        case.id,
        "经长三角联合会诊：确诊利福平耐药肺结核，调整为含贝达喹啉、利奈唑胺的全口服长程方案"
        "（18–20 个月）；送检全基因组测序；由社区卫生服务中心落实督导服药与访视，每月复查。",
        now=now - timedelta(days=2),
    )


def _mdt(
    session: Session,
    specialist: Principal,
    person: tuple[str, str],
    now: datetime,
    orgs: dict[str, Organization],
) -> None:
    hospital = orgs[HOSPITAL]
    experts = _experts(session, hospital, ("呼吸科", "心内科", "放射科", "消化科"), 3)
    case = service.open_case(
        session,
        specialist,
        CaseCreate(
            case_type=CaseType.mdt,
            title=TITLE_MDT,
            summary="高血压、糖尿病病史多年，近期胸部影像异常，需多学科共同制定诊疗方案。",
            person_id=person[0],
            items=_items(session, hospital, person[1]),
            questions=["肺部病变性质？", "慢病用药是否需要调整？"],
            invitations=[_invite(e) for e in experts],
            submit=True,
        ),
        now=now - timedelta(days=1),
    )
    start = (now + timedelta(days=1)).replace(hour=6, minute=30, second=0, microsecond=0)
    service.schedule(
        session,
        specialist,
        case.id,
        ScheduleIn(
            start=start,
            end=start + timedelta(hours=1),
            mode=SessionMode.offline,
            location="同仁医院 门诊楼 MDT 会诊室",
        ),
    )
    _opinions(
        session,
        specialist,
        case.id,
        [
            "建议完善胸部增强 CT 及肿瘤标志物，必要时支气管镜检查。",
            "血压控制尚可，建议继续目前降压方案，监测心率。",
        ],
    )


def _remote(
    session: Session,
    doctor: Principal,
    specialist: Principal,
    person: tuple[str, str],
    now: datetime,
    orgs: dict[str, Organization],
) -> None:
    centre, hospital = orgs[CENTRE], orgs[HOSPITAL]
    extra = _experts(session, hospital, ("内分泌科",), 1)
    invitations = [
        InvitationIn(organization_id=hospital.id, user_id=specialist.subject, is_lead=True),
        *[_invite(e) for e in extra],
    ]
    service.open_case(
        session,
        doctor,
        CaseCreate(
            case_type=CaseType.remote,
            title=TITLE_REMOTE,
            summary="社区签约居民，慢病控制欠佳，申请区域医疗中心专家远程会诊。",
            person_id=person[0],
            items=_items(session, centre, person[1]),
            questions=["目前治疗方案是否需要调整？", "是否需要上转至同仁医院专科门诊？"],
            invitations=invitations,
            submit=True,
        ),
        now=now - timedelta(hours=3),
    )


def seed_demo(session: Session) -> str:
    """Seed three demo consultations (idempotent); a one-line summary."""
    codes = (HOSPITAL, CENTRE, *RR_TB_EXPERTS)
    orgs = {c: registry.get_organization_by_code(session, c) for c in codes}
    missing = [c for c, o in orgs.items() if o is None]
    if missing:
        return f"consult: skipped, organisations not in the registry: {', '.join(missing)}"
    loaded: dict[str, Organization] = {c: o for c, o in orgs.items() if o is not None}
    specialist = _account(session, "specialist", Role.specialist, loaded[HOSPITAL])
    doctor = _account(session, "doctor", Role.doctor, loaded[CENTRE])
    if specialist is None or doctor is None:
        return "consult: skipped, demo accounts specialist/doctor are missing"
    now = utcnow()
    made: list[str] = []
    plan: list[tuple[str, Principal, Callable[..., None], Organization]] = [
        (TITLE_RR_TB, specialist, _rr_tb, loaded[HOSPITAL]),
        (TITLE_MDT, specialist, _mdt, loaded[HOSPITAL]),
        (TITLE_REMOTE, doctor, _remote, loaded[CENTRE]),
    ]
    hospital_persons = _persons(session, loaded[HOSPITAL], 2)
    centre_persons = _persons(session, loaded[CENTRE], 1)
    people = {
        TITLE_RR_TB: hospital_persons[:1],
        TITLE_MDT: hospital_persons[1:2],
        TITLE_REMOTE: centre_persons[:1],
    }
    for title, requester, make, _org in plan:
        if repo.case_with_title(session, title, requester.subject) is not None:
            continue
        if not people[title]:
            continue
        args: list[Any] = [session, requester]
        if make is _remote:
            args.append(specialist)
        try:
            with session.begin_nested():
                make(*args, people[title][0], now, loaded)
        except YilianError as exc:
            return f"consult: stopped at {title!r}: {exc.message}"
        made.append(title)
    counts = repo.count_by_type_status(session)
    total = sum(n for _t, _s, n in counts)
    return (
        f"consult: {len(made)} demo cases created, {total} in all "
        f"({', '.join(f'{t}/{s}={n}' for t, s, n in sorted(counts))}); "
        "specialist@310105H001 invited to the open remote case"
    )
