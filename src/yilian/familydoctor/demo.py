"""Demo data of the familydoctor domain: teams, contracts near the seed's coverage, screening.

Runs after the demo residents were ingested (their Patient resources filled the roster
through the projector). One team per family doctor of each community centre; the
``doctor`` account joins the first team of 310105C001 so that its worklist is full.
Contracts are drawn deterministically per person: key populations at 82%, everybody
else at the rate that brings the whole 长宁 roster to about 50%, which lands the
district near the 48% / 80% targets with streets on both sides of them.

The synthetic centres also send their contract renewals as EpisodeOfCare; they arrive
before the teams exist and wait as ``no_team`` issues. Once the teams are made the
issues are replayed: those whose doctor has a team become contracts, and the draw
leaves their persons alone.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from yilian.db import new_id, utcnow
from yilian.familydoctor import episodes, service, worklists
from yilian.familydoctor.config import get_familydoctor_settings
from yilian.familydoctor.models import (
    Contract,
    CrcScreening,
    HealthCheck,
    KeyPopulation,
    Resident,
    Team,
    TeamMember,
    Vaccination,
)
from yilian.familydoctor.rules import TeamRole, age_on, derived_categories
from yilian.records import service as records
from yilian.records.projectors import StoredResource
from yilian.registry import service as registry
from yilian.registry.schemas import PractitionerRoleFilter
from yilian.security import repository as security_repo
from yilian.security import service as security

CENTRES = [f"310105C{n:03d}" for n in range(1, 11)]
DOCTOR_CENTRE = "310105C001"
KEY_RATE = 0.82  # a little above the 80% target: some centres land below, most above
ALL_AIM = 0.50  # a little above the 48% target
DECLARED_RATE = 0.03  # 残疾人 / 计划生育特殊家庭 / 失能老人 declared on the record
PPV23_RATE = 0.35  # 001: 青浦 uptake below 40%
CHECK_RATE = 0.55
CRC_RATE = 0.25
DECLARED = ("disabled", "special_family", "disabled_elderly")
BACKFILL_BATCH = 2000  # Patients projected per call when the roster is filled afterwards


def _u(person_id: str, salt: str) -> float:
    """A stable uniform number per person and purpose: the demo is the same on every run."""
    h = hashlib.blake2b(f"{salt}:{person_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _backfill_roster(session: Session) -> int:
    """Project the stored Patients when the roster is empty (a demo seeded before this domain)."""
    if session.scalar(select(func.count()).select_from(Resident)):
        return 0
    n = 0
    batch: list[StoredResource] = []
    for stored in records.iter_stored(session, "Patient"):
        if stored.person_id is not None:
            batch.append(stored)
        if len(batch) >= BACKFILL_BATCH:
            service.project_patients(session, batch)
            n, batch = n + len(batch), []
    service.project_patients(session, batch)
    session.flush()
    return n + len(batch)


def _teams(session: Session) -> dict[str, list[Team]]:
    """One team per family doctor at each centre of 长宁; the doctor account joins C001's first."""
    doctor_user = security_repo.user_by_username(session, "doctor")
    out: dict[str, list[Team]] = {}
    for code in CENTRES:
        org = registry.get_organization_by_code(session, code)
        if org is None:
            continue
        roles = registry.list_practitioner_roles(
            session, filters=PractitionerRoleFilter(organization_id=org.id), limit=500
        ).items
        gps = [r for r in roles if str(getattr(r.role, "value", r.role)) == "family_doctor"]
        public = [r for r in roles if str(getattr(r.role, "value", r.role)) == "public_health"]
        names = {
            r.practitioner_id: registry.get_practitioner(session, r.practitioner_id).name
            for r in gps[:12] + public[:3]
        }
        teams = []
        for n, gp in enumerate(gps[:12], start=1):
            name = names.get(gp.practitioner_id) or f"家庭医生{n}"
            team = Team(id=new_id(), organization_id=org.id, name=f"{n:02d} {name}团队")
            session.add(team)
            session.flush([team])
            user_id = doctor_user.id if doctor_user and code == DOCTOR_CENTRE and n == 1 else None
            members = [
                TeamMember(
                    team_id=team.id,
                    role=TeamRole.family_doctor.value,
                    name=name,
                    practitioner_id=gp.practitioner_id,
                    user_id=user_id,
                ),
                TeamMember(team_id=team.id, role=TeamRole.nurse.value, name=f"护士{n:02d}"),
                TeamMember(
                    team_id=team.id, role=TeamRole.health_manager.value, name=f"健康管理师{n:02d}"
                ),
                TeamMember(
                    team_id=team.id, role=TeamRole.admin_assistant.value, name=f"行政助手{n:02d}"
                ),
            ]
            if public:
                p = public[n % min(3, len(public))]
                members.append(
                    TeamMember(
                        team_id=team.id,
                        role=TeamRole.public_health.value,
                        name=names.get(p.practitioner_id) or "公卫医生",
                        practitioner_id=p.practitioner_id,
                    )
                )
            session.add_all(members)
            session.flush(members)
            teams.append(team)
        out[org.id] = teams
    return out


def seed_demo(session: Session) -> str:
    """Seed teams, contracts, key-population flags, CRC/PPV23/health-check records (idempotent)."""
    if session.scalar(select(func.count()).select_from(Team)):
        return "familydoctor: already seeded"
    cfg = get_familydoctor_settings()
    today = service.today()
    backfilled = _backfill_roster(session)
    teams = _teams(session)
    if not teams:
        return "familydoctor: no 长宁 community centres in the registry"
    from_fhir, still_open = episodes.replay_open(session)
    signed = set(session.scalars(select(Contract.person_id).where(Contract.status == "active")))
    centre_of_street: dict[str, str] = {}
    for org_id in teams:
        org = registry.get_organization(session, org_id)
        centre_of_street[org.region_id] = org_id
    members = {
        m.team_id: m
        for m in session.scalars(
            select(TeamMember).where(TeamMember.role == TeamRole.family_doctor.value)
        )
    }
    roster = list(
        session.execute(select(Resident.person_id, Resident.birth_date, Resident.street_region_id))
    )
    programmes = service.enrolled_programmes(session, [r[0] for r in roster])
    contracts: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    ppv: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    crc: list[dict[str, Any]] = []
    now = utcnow()
    is_key = {
        pid: _u(pid, "declared") < DECLARED_RATE
        or bool(derived_categories(birth, today, programmes.get(pid, ())))
        for pid, birth, _street in roster
    }
    other_rate = _other_rate(
        [is_key[pid] for pid, _b, street in roster if street in centre_of_street]
    )
    for pid, birth, street in roster:
        declared = _u(pid, "declared") < DECLARED_RATE
        if declared:
            flags.append(
                {
                    "id": new_id(),
                    "person_id": pid,
                    "source": "demo",
                    "created_at": now,
                    "category": DECLARED[int(_u(pid, "cat") * len(DECLARED))],
                }
            )
        key = is_key[pid]
        home = centre_of_street.get(street) if street else None
        age = age_on(birth, today) if birth else None
        if age is not None and age >= cfg.ppv23_min_age and _u(pid, "ppv") < PPV23_RATE:
            given = today - timedelta(days=int(_u(pid, "ppvd") * 700))
            ppv.append(
                {
                    "id": new_id(),
                    "person_id": pid,
                    "vaccine": "PPV23",
                    "given_on": given,
                    "organization_id": home,
                    "created_at": now,
                }
            )
        if pid in signed or home is None or _u(pid, "sign") >= (KEY_RATE if key else other_rate):
            continue
        team = teams[home][int(_u(pid, "team") * len(teams[home]))]
        doctor = members.get(team.id)
        start = today - timedelta(days=int(_u(pid, "start") * 360))
        contracts.append(
            {
                "id": new_id(),
                "person_id": pid,
                "organization_id": home,
                "team_id": team.id,
                "doctor_member_id": doctor.id if doctor else None,
                "doctor_practitioner_id": doctor.practitioner_id if doctor else None,
                "doctor_user_id": doctor.user_id if doctor else None,
                "kind": "individual",
                "start": start,
                "end": start + timedelta(days=cfg.contract_term_days - 1),
                "status": "active",
                "categories": [],
                "source": "demo",
                "created_at": now,
                "updated_at": now,
            }
        )
        if age is not None and age >= cfg.elderly_age and _u(pid, "check") < CHECK_RATE:
            checks.append(
                {
                    "id": new_id(),
                    "person_id": pid,
                    "year": today.year,
                    "created_at": now,
                    "done_on": date(today.year, 1, 1)
                    + timedelta(days=int(_u(pid, "chk") * (today.timetuple().tm_yday - 1))),
                    "organization_id": home,
                }
            )
        if (
            age is not None
            and cfg.crc_min_age <= age <= cfg.crc_max_age
            and _u(pid, "crc") < CRC_RATE
        ):
            crc.append(_crc_row(pid, home, today))
    for model, rows in (
        (KeyPopulation, flags),
        (Contract, contracts),
        (Vaccination, ppv),
        (HealthCheck, checks),
        (CrcScreening, crc),
    ):
        if rows:
            session.execute(insert(model), rows)
    session.flush()
    granted = _grant_doctor_centre(session, contracts, teams)
    doctor_org = next(
        (
            o
            for o, t in teams.items()
            if t and registry.get_organization(session, o).code == DOCTOR_CENTRE
        ),
        None,
    )
    wl = (
        worklists.build_worklist(session, on=today, organization_id=doctor_org)
        if doctor_org
        else None
    )
    cells = service.coverage(session, on=today)
    d = next((c for c in cells if c.level == "district" and c.name == "长宁区"), cells[0])
    return (
        f"familydoctor: {sum(len(t) for t in teams.values())} teams, {len(contracts)} contracts "
        f"(coverage {100 * (d.rate_all or 0):.1f}% all / {100 * (d.rate_key or 0):.1f}% key, "
        f"targets {100 * cfg.target_all:.0f}%/{100 * cfg.target_key:.0f}%), "
        f"{len(flags)} key-population "
        f"flags, {len(crc)} CRC rounds, {len(ppv)} PPV23 doses, {len(checks)} health checks, "
        f"{len(wl.items) if wl else 0} worklist items at {DOCTOR_CENTRE}"
        + f", {granted} care relationships at {DOCTOR_CENTRE}"
        + (f", {from_fhir} contracts from EpisodeOfCare" if from_fhir else "")
        + (f", {still_open} contract issues open" if still_open else "")
        + (f", {backfilled} residents backfilled" if backfilled else "")
    )


def _other_rate(keys: list[bool]) -> float:
    """The signing rate of non-key residents that makes the overall share about ``ALL_AIM``.

    Demo residents are those who visited in the last month, so key populations are
    over-represented; a fixed rate would overshoot the all-resident coverage.
    """
    if not keys:
        return 0.0
    share = sum(keys) / len(keys)
    if share >= 1:
        return 0.0
    return min(0.9, max(0.05, (ALL_AIM - share * KEY_RATE) / (1 - share)))


def _grant_doctor_centre(
    session: Session, contracts: list[dict[str, Any]], teams: dict[str, list[Team]]
) -> int:
    """Open the records of the doctor centre's contracted residents to it (kind "contract").

    Only 310105C001's: the other centres have no demo account, and a relationship per
    contract for the whole district would cost the demo seconds for nothing to see.
    """
    org = registry.get_organization_by_code(session, DOCTOR_CENTRE)
    if org is None:
        return 0
    n = 0
    for c in contracts:
        if c["organization_id"] != org.id:
            continue
        security.grant_relationship(
            session,
            person_id=c["person_id"],
            organization_id=org.id,
            kind="contract",
            source=f"familydoctor:{c['id']}",
            valid_from=datetime.combine(c["start"], time.min, tzinfo=UTC),
            valid_to=datetime.combine(c["end"] + timedelta(days=1), time.min, tzinfo=UTC),
        )
        n += 1
    return n


def _crc_row(pid: str, org_id: str, today: date) -> dict[str, Any]:
    """A CRC round at some step: questionnaire/FIT results drawn at the seed's ~20% positivity."""
    start = date(today.year, 1, 1)
    span = max(1, (today - start).days - 10)
    fit1_on = start + timedelta(days=int(_u(pid, "fit1d") * span))
    q_pos = _u(pid, "q") < 0.12
    fit1 = "positive" if _u(pid, "f1") < 0.06 else "negative"
    fit2 = None
    fit2_on = None
    if not q_pos and fit1 == "negative" and _u(pid, "f2done") < 0.7:
        fit2_on = min(today, fit1_on + timedelta(days=7))
        fit2 = "positive" if _u(pid, "f2") < 0.05 else "negative"
    row = CrcScreening(
        id=new_id(),
        person_id=pid,
        round_year=today.year,
        organization_id=org_id,
        questionnaire_positive=q_pos,
        questionnaire_on=fit1_on,
        fit1=fit1,
        fit1_on=fit1_on,
        fit2=fit2,
        fit2_on=fit2_on,
        status="invited",
        fee_waiver=False,
    )
    service._decide_crc(row, get_familydoctor_settings())
    return {
        c.key: getattr(row, c.key)
        for c in CrcScreening.__table__.columns
        if c.key not in ("created_at", "updated_at")
    } | {"created_at": utcnow(), "updated_at": utcnow()}
