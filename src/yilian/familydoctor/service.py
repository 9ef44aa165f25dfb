"""家庭医生签约, screening programmes, coverage, worklists and reminders.

Services take a Session and never commit. Other domains are called lazily
(imported inside the function): while they are being written, or switched off,
their source contributes nothing instead of breaking this one.
"""

from __future__ import annotations

import importlib
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import new_id, utcnow
from yilian.familydoctor import repository as repo
from yilian.familydoctor import rules
from yilian.familydoctor.config import FamilyDoctorSettings, get_familydoctor_settings
from yilian.familydoctor.models import (
    AbnormalResult,
    Contract,
    CrcScreening,
    HealthCheck,
    KeyPopulation,
    Resident,
    Team,
    TeamMember,
    Vaccination,
)
from yilian.familydoctor.rules import ContractStatus
from yilian.familydoctor.schemas import (
    ContractIn,
    CrcIn,
    EndIn,
    HealthCheckIn,
    RenewIn,
    TeamIn,
    VaccinationIn,
)
from yilian.kit.crypto import get_cipher, mask, mask_name
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.patients.models import Person
from yilian.records.projectors import StoredResource
from yilian.registry import service as registry
from yilian.registry.models import Organization, Region
from yilian.registry.rules import OrganizationType, RegionLevel
from yilian.registry.schemas import OrganizationFilter
from yilian.security import service as security
from yilian.security.principal import Principal, Role

log = logging.getLogger(__name__)

WRITE_ROLES = frozenset({Role.admin, Role.doctor})
OVERSIGHT_ROLES = frozenset({Role.admin, Role.commission})
CENTRE_TYPES = frozenset({"community_health_center", "community_health_subcenter"})
STATION_TYPES = frozenset({"community_health_station"})
PPV23 = "PPV23"


def today() -> date:
    return datetime.now(UTC).date()


def _settings() -> FamilyDoctorSettings:
    return get_familydoctor_settings()


def _type(org: Organization) -> str:
    return str(getattr(org.type, "value", org.type))


def streets(session: Session) -> list[Region]:
    """The registry's streets (街道/镇)."""
    return list(registry.list_regions(session, level=RegionLevel.street, limit=100_000).items)


def community_centres(session: Session) -> list[Organization]:
    out: list[Organization] = []
    for kind in (
        OrganizationType.community_health_center,
        OrganizationType.community_health_subcenter,
    ):
        out += registry.list_organizations(
            session, filters=OrganizationFilter(type=kind), limit=100_000
        ).items
    return out


# --- teams ---------------------------------------------------------------------------


def _require_org_writer(principal: Principal, organization_id: str) -> None:
    if principal.role not in WRITE_ROLES:
        raise Forbidden("only a family doctor or an administrator may do this")
    if principal.role != Role.admin and principal.organization_id != organization_id:
        raise Forbidden("you may only act for your own organisation")


def create_team(session: Session, principal: Principal, data: TeamIn) -> Team:
    """Create a family-doctor team at a community centre or station."""
    org = registry.get_organization(session, data.organization_id)
    if _type(org) not in CENTRE_TYPES | STATION_TYPES:
        raise Unprocessable(
            "a team belongs to a community health centre or station", field="organization_id"
        )
    _require_org_writer(principal, org.id)
    if session.scalars(
        select(Team.id).where(Team.organization_id == org.id, Team.name == data.name)
    ).first():
        raise Conflict(f"a team named {data.name} already exists at {org.name}", field="name")
    team = Team(id=new_id(), organization_id=org.id, name=data.name)
    session.add(team)
    session.flush([team])
    for m in data.members:
        add_member(session, team, m.role.value, m.name, m.practitioner_id, m.user_id)
    audit.record(
        session,
        principal,
        action="create",
        resource_type="FamilyDoctorTeam",
        resource_id=team.id,
        outcome="success",
        detail={"organization_id": org.id, "members": len(data.members)},
    )
    return team


def add_member(
    session: Session,
    team: Team,
    role: str,
    name: str,
    practitioner_id: str | None = None,
    user_id: str | None = None,
) -> TeamMember:
    if practitioner_id is not None:
        registry.get_practitioner(session, practitioner_id)
    if user_id is not None:
        security.get_user(session, user_id)
    member = TeamMember(
        team_id=team.id, role=role, name=name, practitioner_id=practitioner_id, user_id=user_id
    )
    session.add(member)
    session.flush([member])
    return member


def get_team(session: Session, team_id: str) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"no team {team_id}")
    return team


def teams_with_members(
    session: Session, organization_id: str | None = None
) -> list[tuple[Team, list[TeamMember]]]:
    found = repo.teams(session, organization_id)
    by_team: dict[str, list[TeamMember]] = defaultdict(list)
    for m in repo.members(session, [t.id for t in found]):
        by_team[m.team_id].append(m)
    return [(t, by_team[t.id]) for t in found]


def teams_of_user(session: Session, user_id: str) -> set[str]:
    """The teams a platform account is a member of."""
    return set(repo.teams_of_user(session, user_id))


# --- contracts -----------------------------------------------------------------------


def active_contract(session: Session, person_id: str, on: date | None = None) -> Contract | None:
    """The person's family-doctor contract covering ``on`` (today), or None.

    The referral domain calls this for 签约居民优先; the result has organization_id,
    team_id, doctor_user_id, doctor_practitioner_id, start, end and categories.
    """
    return repo.contract_for_person(session, person_id, on or today())


def teams_of_persons(
    session: Session, person_ids: Collection[str], on: date | None = None
) -> dict[str, tuple[str, str]]:
    """Person → (team id, team name) of the contract covering ``on`` (today), in one query.

    The set-based form of ``active_contract(...).team_id`` for grouping indicators by team:
    the same contract is chosen (the latest start among those covering the day).
    """
    wanted = set(person_ids)
    if not wanted:
        return {}
    subset = wanted if len(wanted) <= repo.CHUNK else None  # many: one scan beats IN lists
    rows = repo.covering_teams(session, on or today(), subset)
    out: dict[str, tuple[str, str]] = {}
    for pid, team_id, name in rows:
        if pid in wanted and pid not in out:
            out[pid] = (team_id, name)
    return out


def get_contract(session: Session, principal: Principal, contract_id: str) -> Contract:
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(f"no contract {contract_id}")
    if principal.role not in OVERSIGHT_ROLES and principal.organization_id not in (
        contract.organization_id,
        contract.station_id,
    ):
        raise Forbidden("this contract belongs to another organisation")
    return contract


def _combination(session: Session, org_id: str | None, field_name: str) -> None:
    if org_id is None:
        return
    try:
        org = registry.get_organization(session, org_id)
    except NotFound as exc:
        raise Unprocessable(f"{field_name}: no organisation {org_id}", field=field_name) from exc
    if not _type(org).endswith("hospital"):
        raise Unprocessable(
            f"{field_name} must be a hospital ({org.name} is not)", field=field_name
        )


def _birth_dates(session: Session, person_ids: Collection[str]) -> dict[str, date | None]:
    out: dict[str, date | None] = {}
    for part in repo.chunks(sorted(set(person_ids)), repo.CHUNK):
        rows = session.execute(
            select(Resident.person_id, Resident.birth_date).where(Resident.person_id.in_(part))
        )
        out.update((p, b) for p, b in rows)
    return out


def _care_until(end: date) -> datetime:
    return datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)


def sign(session: Session, principal: Principal, data: ContractIn) -> list[Contract]:
    """Sign a contract for one person or a whole family; all or nothing (409 if any is taken)."""
    cfg = _settings()
    team = get_team(session, data.team_id)
    _require_org_writer(principal, team.organization_id)
    org = registry.get_organization(session, team.organization_id)
    centre_id = org.parent_id if _type(org) in STATION_TYPES and org.parent_id else org.id
    station_id = data.station_id or (org.id if centre_id != org.id else None)
    if data.station_id is not None:
        station = registry.get_organization(session, data.station_id)
        if station.parent_id != centre_id:
            raise Unprocessable(
                "station_id is not a station of the team's centre", field="station_id"
            )
    _combination(session, data.district_hospital_id, "district_hospital_id")
    _combination(session, data.city_hospital_id, "city_hospital_id")
    doctor = _doctor(session, team, data.doctor_member_id)
    births = _birth_dates(session, data.person_ids)
    end = data.end or rules.default_end(data.start, cfg.contract_term_days)
    for pid in data.person_ids:
        if session.get(Person, pid) is None:
            raise NotFound(f"no person {pid}", field="person_ids")
        problem = rules.contract_period_problem(
            data.start, end, today=today(), term_days=cfg.contract_term_days, birth=births.get(pid)
        )
        if problem:
            raise Unprocessable(problem[1], field=problem[0])
    for pid in data.person_ids:
        _take_over_expired(session, pid, data.start)
        _no_active_elsewhere(session, pid, data.start, end)
    group = new_id() if data.kind == rules.ContractKind.family else None
    contracts = []
    for pid in data.person_ids:
        contract = Contract(
            id=new_id(),
            person_id=pid,
            organization_id=centre_id,
            station_id=station_id,
            team_id=team.id,
            doctor_member_id=doctor.id if doctor else None,
            doctor_practitioner_id=doctor.practitioner_id if doctor else None,
            doctor_user_id=doctor.user_id if doctor else None,
            kind=data.kind.value,
            family_group=group,
            functional_kind=data.functional_kind.value if data.functional_kind else None,
            functional_name=data.functional_name,
            district_hospital_id=data.district_hospital_id,
            city_hospital_id=data.city_hospital_id,
            start=data.start,
            end=end,
            status=ContractStatus.active.value,
            categories=sorted(c.value for c in data.categories),
            source="api",
            created_by=principal.subject,
        )
        contracts.append(contract)
    _insert_contracts(session, contracts)
    for contract in contracts:
        _after_sign(session, principal, contract)
    return contracts


def _doctor(session: Session, team: Team, member_id: str | None) -> TeamMember | None:
    if member_id is not None:
        member = session.get(TeamMember, member_id)
        if member is None or member.team_id != team.id:
            raise Unprocessable(
                "doctor_member_id is not a member of the team", field="doctor_member_id"
            )
        return member
    stmt = select(TeamMember).where(
        TeamMember.team_id == team.id, TeamMember.role == rules.TeamRole.family_doctor.value
    )
    return session.scalars(stmt.order_by(TeamMember.created_at)).first()


def _take_over_expired(session: Session, person_id: str, start: date) -> None:
    """An 'active' row whose period ended before the new start is history: mark it ended."""
    current = repo.open_contract(session, person_id)
    if current is not None and current.end < start:
        expire(current)
        session.flush([current])


def expire(contract: Contract) -> None:
    """Mark an 'active' row whose period is over as ended (expired), keeping a reason it had."""
    contract.status = ContractStatus.ended.value
    contract.ended_reason = contract.ended_reason or "expired"


def _no_active_elsewhere(session: Session, person_id: str, start: date, end: date) -> None:
    current = repo.open_contract(session, person_id)
    if current is not None:
        org = registry.get_organization(session, current.organization_id)
        raise Conflict(
            f"person {person_id} already has an active contract with {org.name} "
            f"({current.start.isoformat()} – {current.end.isoformat()}); end it first",
            field="person_ids",
        )


def _insert_contracts(session: Session, contracts: Sequence[Contract]) -> None:
    # The partial unique index settles a race between two centres: the loser gets 409.
    try:
        with session.begin_nested():
            session.add_all(contracts)
            session.flush(list(contracts))
    except IntegrityError as exc:
        raise Conflict(
            "one of these persons was just signed by another team; nothing was saved",
            field="person_ids",
        ) from exc


def _after_sign(session: Session, principal: Principal | None, contract: Contract) -> None:
    security.grant_relationship(
        session,
        person_id=contract.person_id,
        organization_id=contract.organization_id,
        kind="contract",
        source=f"familydoctor:{contract.id}",
        valid_from=datetime.combine(contract.start, time.min, tzinfo=UTC),
        valid_to=_care_until(contract.end),
        principal=principal,
    )
    declare_categories(session, contract.person_id, contract.categories, source="contract")
    audit.record(
        session,
        principal,
        action="create",
        resource_type="FamilyDoctorContract",
        resource_id=contract.id,
        person_id=contract.person_id,
        outcome="success",
        detail={
            "organization_id": contract.organization_id,
            "team_id": contract.team_id,
            "kind": contract.kind,
            "start": contract.start.isoformat(),
            "end": contract.end.isoformat(),
        },
    )


def declare_categories(
    session: Session, person_id: str, categories: Iterable[str], *, source: str
) -> None:
    wanted = set(categories)
    if not wanted:
        return  # an EpisodeOfCare contract declares none: no query per contract
    have = set(
        session.scalars(select(KeyPopulation.category).where(KeyPopulation.person_id == person_id))
    )
    for cat in sorted(wanted - have):
        session.add(KeyPopulation(person_id=person_id, category=cat, source=source))
    session.flush()


def renew(session: Session, principal: Principal, contract_id: str, data: RenewIn) -> Contract:
    """Renew a contract for the next term (续约): the old row becomes 'renewed'."""
    cfg = _settings()
    old = get_contract(session, principal, contract_id)
    _require_org_writer(principal, old.organization_id)
    if old.status != ContractStatus.active.value:
        raise Conflict(f"contract {contract_id} is {old.status}, only an active one can be renewed")
    start = old.end + timedelta(days=1)
    end = data.end or rules.default_end(start, cfg.contract_term_days)
    problem = rules.contract_period_problem(
        start, end, today=today(), term_days=cfg.contract_term_days
    )
    if problem:
        raise Unprocessable(problem[1], field="end")
    old.status = ContractStatus.renewed.value
    session.flush([old])
    new = Contract(
        id=new_id(),
        **{
            k: getattr(old, k)
            for k in (
                "person_id",
                "organization_id",
                "station_id",
                "team_id",
                "doctor_member_id",
                "doctor_practitioner_id",
                "doctor_user_id",
                "kind",
                "family_group",
                "functional_kind",
                "functional_name",
                "district_hospital_id",
                "city_hospital_id",
                "categories",
            )
        },
        start=start,
        end=end,
        status=ContractStatus.active.value,
        renewed_from_id=old.id,
        source="api",
        created_by=principal.subject,
    )
    _insert_contracts(session, [new])
    _after_sign(session, principal, new)
    return new


def end_contract(session: Session, principal: Principal, contract_id: str, data: EndIn) -> Contract:
    """End (解约) a contract on a day; the care relationship ends with it."""
    contract = get_contract(session, principal, contract_id)
    _require_org_writer(principal, contract.organization_id)
    if contract.status == ContractStatus.ended.value:
        raise Conflict(f"contract {contract_id} has already ended")
    if data.on < contract.start or data.on > contract.end:
        raise Unprocessable(
            f"end date must lie within the contract ({contract.start} – {contract.end})", field="on"
        )
    contract.status = ContractStatus.ended.value
    contract.end = data.on
    contract.ended_reason = data.reason
    session.flush([contract])
    security.end_relationship(
        session,
        person_id=contract.person_id,
        organization_id=contract.organization_id,
        kind="contract",
        source=f"familydoctor:{contract.id}",
        at=max(_care_until(data.on), utcnow()) if data.on >= today() else utcnow(),
        principal=principal,
    )
    audit.record(
        session,
        principal,
        action="update",
        resource_type="FamilyDoctorContract",
        resource_id=contract.id,
        person_id=contract.person_id,
        outcome="success",
        detail={"ended": data.on.isoformat(), "reason": data.reason},
    )
    return contract


# --- resident roster (projected from Patient) ----------------------------------------

_STREETS_KEY = "familydoctor.streets"


def _street_names(session: Session) -> list[tuple[str, str]]:
    cached: list[tuple[str, str]] | None = session.info.get(_STREETS_KEY)
    if cached is None:
        # Longest first: "仙霞新村街道" must win over a shorter name it contains.
        cached = sorted(((r.name, r.id) for r in streets(session)), key=lambda x: -len(x[0]))
        session.info[_STREETS_KEY] = cached
    return cached


def street_of(session: Session, address: dict[str, Any]) -> str | None:
    """The registry street (街道) an address names, matched on the street's name."""
    text = " ".join(str(x) for x in (address.get("text"), *(address.get("line") or [])) if x)
    for name, region_id in _street_names(session):
        if name in text:
            return region_id
    return None


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def project_patient(session: Session, stored: StoredResource) -> None:
    """Keep the roster row of the person a Patient resource describes (newest wins)."""
    project_patients(session, [stored])


def project_patients(session: Session, stored: Sequence[StoredResource]) -> None:
    """Keep the roster rows of the persons Patient resources describe, in order (newest wins).

    One query finds the rows already there and one flush writes the rest; a person
    sent twice in the batch gets the second resource on top of the first, as one by one.
    """
    items = [s for s in stored if s.person_id]
    if not items:
        return
    rows = {r.person_id: r for r in repo.residents(session, {str(s.person_id) for s in items})}
    for s in items:
        pid = str(s.person_id)
        row = rows.get(pid)
        if row is None:
            row = rows[pid] = Resident(person_id=pid)
            session.add(row)
        _fill_resident(session, row, s.resource)


def _fill_resident(session: Session, row: Resident, res: dict[str, Any]) -> None:
    """Take what a Patient resource says into a roster row; what it leaves out stays."""
    addresses = res.get("address") or []
    home = next((a for a in addresses if a.get("use") == "home"), addresses[0] if addresses else {})
    mobile = next(
        (
            t.get("value")
            for t in res.get("telecom") or []
            if t.get("system") == "phone" and t.get("value") and t.get("use") in ("mobile", None)
        ),
        None,
    )
    names = res.get("name") or [{}]
    name = names[0].get("text") or (names[0].get("family", "") + "".join(names[0].get("given", [])))
    row.birth_date = _parse_date(res.get("birthDate")) or row.birth_date
    row.gender = res.get("gender") or row.gender
    row.street_region_id = street_of(session, home) or row.street_region_id
    row.name_masked = mask_name(name) if name else row.name_masked
    if mobile:
        row.phone_encrypted = get_cipher().encrypt(str(mobile))
        row.phone_masked = mask(str(mobile))


# --- abnormal results (projected from Observation) -----------------------------------


def _observation_facts(
    res: dict[str, Any],
) -> tuple[str | None, float | None, float | None, float | None]:
    codes = [
        c.get("code", "") for i in res.get("interpretation") or [] for c in i.get("coding") or []
    ]
    q = res.get("valueQuantity") or {}
    value = q.get("value") if isinstance(q.get("value"), int | float) else None
    low = high = None
    for rr in res.get("referenceRange") or []:
        lo, hi = (rr.get("low") or {}).get("value"), (rr.get("high") or {}).get("value")
        low = lo if isinstance(lo, int | float) else low
        high = hi if isinstance(hi, int | float) else high
        break
    return rules.abnormal_flag(codes, value, low, high), value, low, high


def project_observation(session: Session, stored: StoredResource) -> None:
    """Write an abnormal result to act on; a corrected (now normal) result closes its item."""
    project_observations(session, [stored])


def project_observations(session: Session, stored: Sequence[StoredResource]) -> None:
    """Write abnormal results to act on; a corrected (now normal) result closes its item.

    Written for every person, contracted or not: the contract may come later, and the
    worklist shows only open items of contracted persons within the configured window.
    One query finds the items of updated Observations; an Observation sent twice in the
    batch is taken in order, as one by one.
    """
    items = [s for s in stored if s.person_id]
    updated = {f"Observation/{s.id}" for s in items if not s.created}
    rows = {r.resource_id: r for r in repo.abnormal_by_resources(session, updated)}
    for s in items:
        _abnormal(session, s, rows)


def _abnormal(session: Session, stored: StoredResource, rows: dict[str, AbnormalResult]) -> None:
    """One Observation's abnormal item; ``rows`` holds the items of the batch so far."""
    res = stored.resource
    if res.get("status") in ("entered-in-error", "cancelled"):
        flag = None
    else:
        flag, _v, _l, _h = _observation_facts(res)
    ref = f"Observation/{stored.id}"
    if flag is None:
        if not stored.created:
            existing = rows.get(ref)
            if existing is not None and existing.status == "open":
                existing.status = "superseded"
        return
    q = res.get("valueQuantity") or {}
    codings = (res.get("code") or {}).get("coding") or [{}]
    when = (
        _parse_date(
            res.get("effectiveDateTime")
            or (res.get("effectivePeriod") or {}).get("start")
            or res.get("issued")
        )
        or stored.last_updated.date()
    )
    existing = None if stored.created else rows.get(ref)
    # The status is set here, not left to the column default: a later Observation of the
    # batch reads it before the row is flushed.
    row = existing or AbnormalResult(resource_id=ref, person_id=stored.person_id, status="open")
    row.person_id = str(stored.person_id)
    row.source_org_id = stored.source_org_id
    row.code = str(codings[0].get("code") or "")[:64] or None
    row.display = (
        str((res.get("code") or {}).get("text") or codings[0].get("display") or "")[:200] or None
    )
    row.value = q.get("value") if isinstance(q.get("value"), int | float) else None
    row.unit = str(q.get("unit") or "")[:32] or None
    row.flag = flag
    row.effective_on = when
    if existing is None:
        session.add(row)
        rows[ref] = row


def act_on_abnormal(
    session: Session, principal: Principal, item_id: str, note: str | None
) -> AbnormalResult:
    """Mark an abnormal result as handled by the person's contracted team."""
    row = session.get(AbnormalResult, item_id)
    if row is None:
        raise NotFound(f"no abnormal result {item_id}")
    contract = active_contract(session, row.person_id)
    if principal.role != Role.admin and (
        contract is None
        or principal.organization_id not in (contract.organization_id, contract.station_id)
    ):
        raise Forbidden("only the person's contracted centre can act on this result")
    if row.status != "open":
        raise Conflict(f"result {item_id} is already {row.status}")
    row.status = "done"
    row.acted_by = principal.subject
    row.acted_at = utcnow()
    row.note = note
    audit.record(
        session,
        principal,
        action="update",
        resource_type="FamilyDoctorAbnormalResult",
        resource_id=row.id,
        person_id=row.person_id,
        outcome="success",
        detail={"status": "done"},
    )
    return row


# --- screening and prevention --------------------------------------------------------


def _person_writer(session: Session, principal: Principal, person_id: str) -> str | None:
    if principal.role not in WRITE_ROLES:
        raise Forbidden("only a family doctor or an administrator may record screening")
    if session.get(Person, person_id) is None:
        raise NotFound(f"no person {person_id}", field="person_id")
    return principal.organization_id


def record_crc(session: Session, principal: Principal, data: CrcIn) -> CrcScreening:
    """Record a step of a CRC screening round; the rules decide referral and fee waiver."""
    cfg = _settings()
    org_id = _person_writer(session, principal, data.person_id)
    for name in ("questionnaire_on", "fit1_on", "fit2_on", "colonoscopy_on"):
        when = getattr(data, name)
        if when is not None and when > today():
            raise Unprocessable(f"{name} is in the future", field=name)
        if when is not None and when.year not in (data.round_year, data.round_year + 1):
            raise Unprocessable(f"{name} lies outside the {data.round_year} round", field=name)
    if (data.fit1 is None) != (data.fit1_on is None):
        raise Unprocessable("fit1 and fit1_on go together", field="fit1_on")
    if (data.fit2 is None) != (data.fit2_on is None):
        raise Unprocessable("fit2 and fit2_on go together", field="fit2_on")
    row = session.scalars(
        select(CrcScreening).where(
            CrcScreening.person_id == data.person_id, CrcScreening.round_year == data.round_year
        )
    ).first()
    if row is None:
        row = CrcScreening(
            id=new_id(), person_id=data.person_id, round_year=data.round_year, status="invited"
        )
        session.add(row)
    for name in (
        "questionnaire_positive",
        "questionnaire_on",
        "fit1",
        "fit1_on",
        "fit2",
        "fit2_on",
        "colonoscopy_on",
        "colonoscopy_result",
    ):
        value = getattr(data, name)
        if value is not None:
            setattr(row, name, value)
    if row.fit2 is not None and row.fit1 is None:
        raise Unprocessable("FIT #2 needs FIT #1 first", field="fit2")
    if row.fit1_on and row.fit2_on and row.fit2_on < row.fit1_on:
        raise Unprocessable("fit2_on must not be before fit1_on", field="fit2_on")
    row.organization_id = row.organization_id or org_id
    _decide_crc(row, cfg)
    session.flush([row])
    audit.record(
        session,
        principal,
        action="update",
        resource_type="FamilyDoctorCrcScreening",
        resource_id=row.id,
        person_id=row.person_id,
        outcome="success",
        detail={"status": row.status},
    )
    return row


def _decide_crc(row: CrcScreening, cfg: FamilyDoctorSettings) -> None:
    d = rules.crc_decision(
        questionnaire_positive=row.questionnaire_positive,
        fit1=row.fit1,
        fit1_on=row.fit1_on,
        fit2=row.fit2,
        colonoscopy_done=row.colonoscopy_on is not None,
        fit_interval_days=cfg.crc_fit_interval_days,
    )
    row.status = d.status.value
    row.positive = d.positive
    row.fit2_due = d.fit2_due
    if d.positive and row.referral_no is None:
        # 001: 转诊人群凭借转诊单到定点医疗机构进行肠镜检查免挂号费.
        row.referral_no = f"CRC{row.round_year}-{new_id()[:10].upper()}"
        row.fee_waiver = True
        row.referred_on = max(
            (x for x in (row.questionnaire_on, row.fit1_on, row.fit2_on) if x), default=today()
        )


def record_vaccination(session: Session, principal: Principal, data: VaccinationIn) -> Vaccination:
    """Record the free PPV23 dose (one per person: a second one is a 409)."""
    cfg = _settings()
    org_id = _person_writer(session, principal, data.person_id)
    if data.given_on > today():
        raise Unprocessable("given_on is in the future", field="given_on")
    birth = _birth_dates(session, [data.person_id]).get(data.person_id)
    if birth is not None and not rules.ppv23_eligible(
        rules.age_on(birth, data.given_on), min_age=cfg.ppv23_min_age
    ):
        raise Unprocessable(
            f"the free PPV23 dose is for residents aged {cfg.ppv23_min_age} or over",
            field="person_id",
        )
    row = Vaccination(
        person_id=data.person_id,
        vaccine=data.vaccine,
        given_on=data.given_on,
        organization_id=org_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush([row])
    except IntegrityError as exc:
        raise Conflict(f"person {data.person_id} already had the free {data.vaccine} dose") from exc
    audit.record(
        session,
        principal,
        action="create",
        resource_type="FamilyDoctorVaccination",
        resource_id=row.id,
        person_id=row.person_id,
        outcome="success",
        detail={"vaccine": data.vaccine},
    )
    return row


def record_health_check(session: Session, principal: Principal, data: HealthCheckIn) -> HealthCheck:
    """Record the 65+ annual health check (one per person and year: a second is a 409)."""
    org_id = _person_writer(session, principal, data.person_id)
    if data.done_on > today():
        raise Unprocessable("done_on is in the future", field="done_on")
    row = HealthCheck(
        person_id=data.person_id,
        year=data.done_on.year,
        done_on=data.done_on,
        organization_id=org_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush([row])
    except IntegrityError as exc:
        raise Conflict(
            f"person {data.person_id} already had a {data.done_on.year} health check"
        ) from exc
    audit.record(
        session,
        principal,
        action="create",
        resource_type="FamilyDoctorHealthCheck",
        resource_id=row.id,
        person_id=row.person_id,
        outcome="success",
        detail={"year": row.year},
    )
    return row


# --- other domains (lazy) ------------------------------------------------------------


def other_domain(module: str, name: str) -> Any:
    """A function of another domain's service, or None while it is not there."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def enrolled_programmes(session: Session, person_ids: Collection[str]) -> dict[str, set[str]]:
    fn = other_domain("yilian.chronic.service", "enrolled_programmes")
    if fn is None or not person_ids:
        return {}
    out: dict[str, set[str]] = {}
    ids = sorted(set(person_ids))
    for part in repo.chunks(ids, 20_000):
        out.update(fn(session, part))
    return out


# --- coverage ------------------------------------------------------------------------


@dataclass
class CoverageCell:
    level: str
    id: str | None
    name: str
    residents: int = 0
    contracted: int = 0
    key_residents: int = 0
    key_contracted: int = 0
    target_all: float = 0.48
    target_key: float = 0.80

    @property
    def rate_all(self) -> float | None:
        return rules.rate(self.contracted, self.residents)

    @property
    def rate_key(self) -> float | None:
        return rules.rate(self.key_contracted, self.key_residents)

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "id": self.id,
            "name": self.name,
            "residents": self.residents,
            "contracted": self.contracted,
            "key_residents": self.key_residents,
            "key_contracted": self.key_contracted,
            "rate_all": self.rate_all,
            "rate_key": self.rate_key,
            "target_all": self.target_all,
            "target_key": self.target_key,
        }


def coverage(session: Session, *, on: date | None = None) -> list[CoverageCell]:
    """Contracted share of all residents and of key populations by district, street, centre, team.

    The first cell is the whole roster (level "all"). Residents are the roster (the
    Patient projection); a resident's street is their address's street, and a centre's
    catchment is the residents of the streets it sits in. Key populations: derived
    (age ≥65, 0–6, chronic programmes) or declared.
    """
    cfg = _settings()
    on = on or today()
    contracts = {
        pid: (org, team, cats) for pid, org, team, cats in repo.covering_contracts(session, on)
    }
    roster = repo.roster(session)
    declared = repo.declared_key_persons(session)
    programmes = enrolled_programmes(session, [r[0] for r in roster])
    street_rows = streets(session)
    street_regions = {r.id: r.name for r in street_rows}
    district_of = {r.id: r.parent_id for r in street_rows if r.parent_id}
    wanted = set(district_of.values())
    district_names = {
        rid: r.name
        for rid, r in registry.regions_with_ancestors(session, wanted).items()
        if rid in wanted
    }
    centres = community_centres(session)
    centre_of_street: dict[str, str] = {}
    for org in sorted(centres, key=lambda o: o.code):
        if _type(org) == "community_health_center":
            centre_of_street.setdefault(org.region_id, org.id)
    team_rows = repo.teams(session)

    def cell(level: str, id_: str | None, name: str) -> CoverageCell:
        return CoverageCell(level, id_, name, target_all=cfg.target_all, target_key=cfg.target_key)

    district = cell("all", None, "全部辖区")
    by_district = {d: cell("district", d, name) for d, name in district_names.items()}
    by_street = {sid: cell("street", sid, name) for sid, name in street_regions.items()}
    by_centre = {c.id: cell("centre", c.id, c.name) for c in centres}
    by_team = {t.id: cell("team", t.id, t.name) for t in team_rows}
    team_centre = {t.id: t.organization_id for t in team_rows}
    for pid, birth, street in roster:
        key = (
            pid in declared
            or bool(contracts.get(pid, (None, None, []))[2])
            or bool(
                rules.derived_categories(
                    birth,
                    on,
                    programmes.get(pid, ()),
                    elderly_age=cfg.elderly_age,
                    child_max_age=cfg.child_max_age,
                )
            )
        )
        signed = contracts.get(pid)
        targets = [district]
        area_district = by_district.get(district_of.get(street or "", ""))
        if area_district is not None:
            targets.append(area_district)
        if street in by_street:
            targets.append(by_street[street])
        home_centre = centre_of_street.get(street or "")
        if home_centre in by_centre:
            targets.append(by_centre[home_centre])
        for c in targets:
            c.residents += 1
            c.key_residents += key
        if signed is None:
            continue
        org_id, team_id, _cats = signed
        for area in (district, area_district, by_street.get(street or "")):
            if area is not None:
                area.contracted += 1
                area.key_contracted += key
        # Centre and team numerators count the centre's own contracts, wherever the person lives.
        if org_id in by_centre:
            by_centre[org_id].contracted += 1
            by_centre[org_id].key_contracted += key
        if team_id in by_team:
            by_team[team_id].contracted += 1
            by_team[team_id].key_contracted += key
    # A team's denominator is its centre's catchment: the teams' rates add up to the centre's.
    for tid, c in by_team.items():
        parent = by_centre.get(team_centre[tid])
        if parent is not None:
            c.residents, c.key_residents = parent.residents, parent.key_residents
    out = [district]
    out += sorted((c for c in by_district.values() if c.residents), key=lambda c: -c.residents)
    out += sorted((c for c in by_street.values() if c.residents), key=lambda c: c.name)
    out += sorted(
        (c for c in by_centre.values() if c.residents or c.contracted), key=lambda c: c.name
    )
    out += sorted((c for c in by_team.values() if c.contracted), key=lambda c: c.name)
    return out


def ppv23_coverage(session: Session, *, on: date | None = None) -> list[dict[str, Any]]:
    """PPV23 uptake of residents aged ≥60 by street (001: 青浦 uptake below 40%)."""
    cfg = _settings()
    on = on or today()
    try:
        min_birth = on.replace(year=on.year - cfg.ppv23_min_age)
    except ValueError:
        min_birth = on.replace(year=on.year - cfg.ppv23_min_age, day=28)
    names = {r.id: r.name for r in streets(session)}
    rows = []
    for street, eligible, vaccinated in repo.ppv23_by_street(session, min_birth):
        rows.append(
            {
                "street_id": street,
                "name": names.get(street or "", "未知街道"),
                "eligible": eligible,
                "vaccinated": vaccinated,
                "rate": rules.rate(vaccinated, eligible),
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def crc_summary(session: Session, year: int) -> dict[str, int]:
    return {status: n for status, n in repo.crc_summary(session, year)}
