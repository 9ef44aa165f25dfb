"""Every SELECT of the familydoctor domain."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from yilian.db import chunks
from yilian.familydoctor.models import (
    AbnormalResult,
    Contract,
    CrcScreening,
    EpisodeIssue,
    HealthCheck,
    KeyPopulation,
    Reminder,
    ReminderRun,
    Resident,
    Team,
    TeamMember,
    Vaccination,
)

CHUNK = 5000
CURRENT = ("active", "renewed")


def current_on(on: date) -> Any:
    """Contracts that cover the day ``on`` (an active one, or one superseded by its renewal)."""
    return and_(Contract.status.in_(CURRENT), Contract.start <= on, Contract.end >= on)


def contract_for_person(session: Session, person_id: str, on: date) -> Contract | None:
    stmt = (
        select(Contract)
        .where(Contract.person_id == person_id, current_on(on))
        .order_by(Contract.start.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def covering_teams(
    session: Session, on: date, person_ids: Collection[str] | None = None
) -> list[Any]:
    """(person, team id, team name) of the contracts covering ``on``, latest start first.

    One query: with ``person_ids`` (at most a chunk) an IN list, else every contract.
    """
    stmt = (
        select(Contract.person_id, Contract.team_id, Team.name)
        .join(Team, Team.id == Contract.team_id)
        .where(current_on(on))
        .order_by(Contract.person_id, Contract.start.desc())
    )
    if person_ids is not None:
        stmt = stmt.where(Contract.person_id.in_(list(person_ids)))
    return list(session.execute(stmt).tuples())


def open_contract(session: Session, person_id: str) -> Contract | None:
    """The person's row with status active (the one the unique index guards), whatever its dates."""
    stmt = select(Contract).where(Contract.person_id == person_id, Contract.status == "active")
    return session.scalars(stmt).first()


def open_contracts(session: Session, person_ids: Collection[str]) -> list[Contract]:
    """:func:`open_contract` of many persons (at most one each: the partial unique index)."""
    out: list[Contract] = []
    for part in chunks(sorted(set(person_ids)), CHUNK):
        stmt = select(Contract).where(Contract.person_id.in_(part), Contract.status == "active")
        out.extend(session.scalars(stmt))
    return out


def contracts_by_sources(session: Session, source_refs: Collection[str]) -> list[Contract]:
    out: list[Contract] = []
    for part in chunks(sorted(set(source_refs)), CHUNK):
        out.extend(session.scalars(select(Contract).where(Contract.source_ref.in_(part))))
    return out


def episode_issues_by_sources(session: Session, source_refs: Collection[str]) -> list[EpisodeIssue]:
    out: list[EpisodeIssue] = []
    for part in chunks(sorted(set(source_refs)), CHUNK):
        out.extend(session.scalars(select(EpisodeIssue).where(EpisodeIssue.source_ref.in_(part))))
    return out


def episode_issues(
    session: Session,
    *,
    status: str | None,
    organization_id: str | None,
    limit: int = 10_000,
    offset: int = 0,
) -> list[EpisodeIssue]:
    stmt = select(EpisodeIssue).order_by(EpisodeIssue.created_at, EpisodeIssue.id)
    if status is not None:
        stmt = stmt.where(EpisodeIssue.status == status)
    if organization_id is not None:
        stmt = stmt.where(EpisodeIssue.organization_id == organization_id)
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def team_of_practitioner(
    session: Session, practitioner_id: str, org_ids: Collection[str]
) -> Team | None:
    """The team at one of ``org_ids`` with the practitioner as a member (family doctor first)."""
    stmt = (
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(
            TeamMember.practitioner_id == practitioner_id, Team.organization_id.in_(list(org_ids))
        )
        .order_by((TeamMember.role != "family_doctor"), Team.name)
    )
    return session.scalars(stmt).first()


def teams_of_practitioners(
    session: Session, practitioner_ids: Collection[str]
) -> list[tuple[str, Team]]:
    """(practitioner, team) of every team the practitioners are members of.

    Each practitioner's teams come in :func:`team_of_practitioner`'s order (family doctor
    first, then by team name), so the first one at a place is the team it would choose.
    """
    out: list[tuple[str, Team]] = []
    for part in chunks(sorted(set(practitioner_ids)), CHUNK):
        stmt = (
            select(TeamMember.practitioner_id, Team)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.practitioner_id.in_(part))
            .order_by(TeamMember.practitioner_id, (TeamMember.role != "family_doctor"), Team.name)
        )
        out.extend((str(pid), team) for pid, team in session.execute(stmt).tuples())
    return out


def contracts_of(session: Session, person_id: str) -> list[Contract]:
    stmt = select(Contract).where(Contract.person_id == person_id).order_by(Contract.start)
    return list(session.scalars(stmt))


def scoped_contracts(
    on: date,
    *,
    organization_id: str | None = None,
    station_id: str | None = None,
    team_id: str | None = None,
    after_person_id: str | None = None,
) -> Select[Any]:
    """(person, centre, team, doctor user, categories, birth date) of contracts covering ``on``."""
    stmt: Any = (
        select(
            Contract.person_id,
            Contract.organization_id,
            Contract.team_id,
            Contract.doctor_user_id,
            Contract.id,
            Resident.birth_date,
            Resident.phone_encrypted,
            Resident.phone_masked,
            Resident.name_masked,
        )
        .outerjoin(Resident, Resident.person_id == Contract.person_id)
        .where(current_on(on))
    )
    if organization_id is not None:
        stmt = stmt.where(Contract.organization_id == organization_id)
    if station_id is not None:
        stmt = stmt.where(Contract.station_id == station_id)
    if team_id is not None:
        stmt = stmt.where(Contract.team_id == team_id)
    if after_person_id is not None:
        stmt = stmt.where(Contract.person_id > after_person_id)
    return stmt


def contracted_person_ids(on: date, **scope: Any) -> Select[Any]:
    """Sub-select of the person ids in scope (for IN (...) without sending the ids)."""
    return scoped_contracts(on, **scope).with_only_columns(Contract.person_id)


def crc_rows(session: Session, persons: Select[Any], since_year: int) -> list[Any]:
    """(person, status, fit2 due, referred on, colonoscopy on, referral no, id), oldest first."""
    stmt = (
        select(
            CrcScreening.person_id,
            CrcScreening.status,
            CrcScreening.fit2_due,
            CrcScreening.referred_on,
            CrcScreening.colonoscopy_on,
            CrcScreening.referral_no,
            CrcScreening.id,
        )
        .where(CrcScreening.person_id.in_(persons), CrcScreening.round_year >= since_year)
        .order_by(CrcScreening.round_year)
    )
    return list(session.execute(stmt).tuples())


def vaccinated(session: Session, persons: Select[Any], vaccine: str) -> set[str]:
    stmt = select(Vaccination.person_id).where(
        Vaccination.vaccine == vaccine, Vaccination.person_id.in_(persons)
    )
    return set(session.scalars(stmt))


def checked(session: Session, persons: Select[Any], year: int) -> set[str]:
    stmt = select(HealthCheck.person_id).where(
        HealthCheck.year == year, HealthCheck.person_id.in_(persons)
    )
    return set(session.scalars(stmt))


def open_abnormal(session: Session, persons: Select[Any], since: date) -> list[Any]:
    """(id, person, display, code, value, unit, flag, effective) of open recent results."""
    stmt = select(
        AbnormalResult.id,
        AbnormalResult.person_id,
        AbnormalResult.display,
        AbnormalResult.code,
        AbnormalResult.value,
        AbnormalResult.unit,
        AbnormalResult.flag,
        AbnormalResult.effective_on,
    ).where(
        AbnormalResult.status == "open",
        AbnormalResult.effective_on >= since,
        AbnormalResult.person_id.in_(persons),
    )
    return list(session.execute(stmt).tuples())


def abnormal_by_resources(session: Session, resource_ids: Collection[str]) -> list[AbnormalResult]:
    out: list[AbnormalResult] = []
    for part in chunks(sorted(set(resource_ids)), CHUNK):
        stmt = select(AbnormalResult).where(AbnormalResult.resource_id.in_(part))
        out.extend(session.scalars(stmt))
    return out


def residents(session: Session, person_ids: Collection[str]) -> list[Resident]:
    out: list[Resident] = []
    for part in chunks(sorted(set(person_ids)), CHUNK):
        out.extend(session.scalars(select(Resident).where(Resident.person_id.in_(part))))
    return out


def teams(session: Session, organization_id: str | None = None) -> list[Team]:
    stmt = select(Team).order_by(Team.organization_id, Team.name)
    if organization_id is not None:
        stmt = stmt.where(Team.organization_id == organization_id)
    return list(session.scalars(stmt))


def members(session: Session, team_ids: Collection[str]) -> list[TeamMember]:
    if not team_ids:
        return []
    stmt = select(TeamMember).where(TeamMember.team_id.in_(list(team_ids)))
    return list(session.scalars(stmt.order_by(TeamMember.role, TeamMember.name)))


def teams_of_user(session: Session, user_id: str) -> list[str]:
    return list(session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id)))


def roster(session: Session) -> list[Any]:
    """(person, birth date, street) of every resident on the roster."""
    stmt = select(Resident.person_id, Resident.birth_date, Resident.street_region_id)
    return list(session.execute(stmt))


def covering_contracts(session: Session, on: date) -> list[Any]:
    stmt = select(
        Contract.person_id, Contract.organization_id, Contract.team_id, Contract.categories
    ).where(current_on(on))
    return list(session.execute(stmt))


def declared_key_persons(session: Session) -> set[str]:
    return set(session.scalars(select(KeyPopulation.person_id).distinct()))


def key_categories(session: Session, person_ids: Collection[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for part in chunks(sorted(set(person_ids)), CHUNK):
        stmt = select(KeyPopulation.person_id, KeyPopulation.category).where(
            KeyPopulation.person_id.in_(part)
        )
        for pid, cat in session.execute(stmt):
            out.setdefault(pid, set()).add(cat)
    return out


def ppv23_by_street(session: Session, min_birth: date) -> list[Any]:
    """(street, residents ≥ age, vaccinated) — the PPV23 uptake by area."""
    vaccinated_col = func.count(Vaccination.id)
    stmt = (
        select(Resident.street_region_id, func.count(Resident.person_id), vaccinated_col)
        .outerjoin(
            Vaccination,
            and_(Vaccination.person_id == Resident.person_id, Vaccination.vaccine == "PPV23"),
        )
        .where(Resident.birth_date <= min_birth)
        .group_by(Resident.street_region_id)
    )
    return list(session.execute(stmt))


def crc_summary(session: Session, year: int) -> list[Any]:
    stmt = (
        select(CrcScreening.status, func.count())
        .where(CrcScreening.round_year == year)
        .group_by(CrcScreening.status)
    )
    return list(session.execute(stmt))


def existing_reminder_keys(
    session: Session, person_ids: Collection[str], since: date
) -> set[tuple[str, str, date]]:
    out: set[tuple[str, str, date]] = set()
    for part in chunks(sorted(set(person_ids)), CHUNK):
        stmt = select(Reminder.person_id, Reminder.kind, Reminder.due_date).where(
            Reminder.person_id.in_(part)
        )
        out.update((p, k, d) for p, k, d in session.execute(stmt))
    return out


def reminders(
    session: Session,
    *,
    status: str | None,
    organization_id: str | None,
    limit: int,
    offset: int,
) -> list[Reminder]:
    stmt = select(Reminder).order_by(Reminder.id)
    if status is not None:
        stmt = stmt.where(Reminder.status == status)
    if organization_id is not None:
        stmt = stmt.where(Reminder.organization_id == organization_id)
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def reminder_run(session: Session, run_date: date) -> ReminderRun | None:
    return session.scalars(select(ReminderRun).where(ReminderRun.run_date == run_date)).first()
