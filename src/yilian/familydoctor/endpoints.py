"""API of the familydoctor domain: teams, contracts, coverage, screening, worklists, reminders."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query

from yilian.deps import DbSession, Paging
from yilian.familydoctor import episodes, service, worklists
from yilian.familydoctor.models import Contract, Team
from yilian.familydoctor.schemas import (
    AckIn,
    ContractIn,
    ContractOut,
    CoverageRow,
    CrcIn,
    CrcOut,
    EndIn,
    EpisodeIssueOut,
    HealthCheckIn,
    MemberOut,
    ReminderOut,
    RenewIn,
    ReplayOut,
    TeamIn,
    TeamOut,
    VaccinationIn,
    WorkItemOut,
)
from yilian.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from yilian.security.dependencies import CurrentPrincipal, require_roles
from yilian.security.principal import Principal, Role

router = APIRouter(prefix="/api/v1", tags=["familydoctor"])

ObjectId = Annotated[str, Path(min_length=1, max_length=32)]
STAFF = (Role.admin, Role.doctor, Role.commission)


def _team_out(team: Team, members: list[Any]) -> TeamOut:
    return TeamOut(
        id=team.id,
        organization_id=team.organization_id,
        name=team.name,
        members=[MemberOut.model_validate(m) for m in members],
    )


def _contracts_out(rows: list[Contract]) -> list[ContractOut]:
    return [ContractOut.model_validate(c) for c in rows]


@router.post(
    "/familydoctor/teams",
    status_code=201,
    response_model=TeamOut,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
def create_team(data: TeamIn, session: DbSession, principal: CurrentPrincipal) -> TeamOut:
    """Create a family-doctor team with its members."""
    team = service.create_team(session, principal, data)
    members = dict(service.teams_with_members(session, team.organization_id))[team]
    return _team_out(team, members)


@router.get(
    "/familydoctor/teams",
    response_model=list[TeamOut],
    responses=error_responses(Unauthorized, Forbidden),
)
def list_teams(
    session: DbSession,
    principal: Annotated[Principal, Depends(require_roles(*STAFF))],
    organization_id: Annotated[str | None, Query(max_length=32)] = None,
) -> list[TeamOut]:
    """List teams (of one organisation when given)."""
    return [_team_out(t, m) for t, m in service.teams_with_members(session, organization_id)]


@router.post(
    "/familydoctor/contracts",
    status_code=201,
    response_model=list[ContractOut],
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
def sign(data: ContractIn, session: DbSession, principal: CurrentPrincipal) -> list[ContractOut]:
    """Sign a contract (个人/家庭/功能社区签约); 409 if a person is already under contract."""
    return _contracts_out(service.sign(session, principal, data))


@router.get(
    "/familydoctor/contracts/{contract_id}",
    response_model=ContractOut,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def get_contract(
    contract_id: ObjectId, session: DbSession, principal: CurrentPrincipal
) -> ContractOut:
    """Read one contract."""
    return ContractOut.model_validate(service.get_contract(session, principal, contract_id))


@router.post(
    "/familydoctor/contracts/{contract_id}/renew",
    status_code=201,
    response_model=ContractOut,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
def renew(
    contract_id: ObjectId,
    session: DbSession,
    principal: CurrentPrincipal,
    data: Annotated[RenewIn, Body()] = RenewIn(),
) -> ContractOut:
    """Renew a contract for the next term (续约)."""
    return ContractOut.model_validate(service.renew(session, principal, contract_id, data))


@router.post(
    "/familydoctor/contracts/{contract_id}/end",
    response_model=ContractOut,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
def end(
    contract_id: ObjectId, data: EndIn, session: DbSession, principal: CurrentPrincipal
) -> ContractOut:
    """End a contract (解约) on a day."""
    return ContractOut.model_validate(service.end_contract(session, principal, contract_id, data))


@router.get(
    "/familydoctor/coverage",
    response_model=list[CoverageRow],
    responses=error_responses(Unauthorized, Forbidden),
)
def coverage(
    session: DbSession,
    principal: CurrentPrincipal,
    on: Annotated[date | None, Query()] = None,
    level: Annotated[Literal["all", "district", "street", "centre", "team"] | None, Query()] = None,
) -> list[CoverageRow]:
    """Contract coverage of all residents and key populations against the targets (48%/80%)."""
    if principal.role not in STAFF:
        raise Forbidden("coverage is for doctors, the health commission and administrators")
    rows = service.coverage(session, on=on)
    return [CoverageRow(**c.as_dict()) for c in rows if level is None or c.level == level]


@router.get(
    "/familydoctor/ppv23-coverage",
    responses=error_responses(Unauthorized, Forbidden),
)
def ppv23_coverage(
    session: DbSession, principal: CurrentPrincipal, on: Annotated[date | None, Query()] = None
) -> list[dict[str, Any]]:
    """PPV23 uptake among residents aged 60+, by street."""
    if principal.role not in (*STAFF, Role.cdc):
        raise Forbidden("PPV23 coverage is for staff")
    return service.ppv23_coverage(session, on=on)


@router.post(
    "/familydoctor/crc-screenings",
    response_model=CrcOut,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Unprocessable),
)
def record_crc(data: CrcIn, session: DbSession, principal: CurrentPrincipal) -> CrcOut:
    """Record a CRC screening step; a positive initial screen issues a fee-waived referral slip."""
    return CrcOut.model_validate(service.record_crc(session, principal, data))


@router.post(
    "/familydoctor/vaccinations",
    status_code=201,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
def record_vaccination(
    data: VaccinationIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Record the free PPV23 dose of a resident aged 60+."""
    row = service.record_vaccination(session, principal, data)
    return {
        "id": row.id,
        "person_id": row.person_id,
        "vaccine": row.vaccine,
        "given_on": row.given_on,
    }


@router.post(
    "/familydoctor/health-checks",
    status_code=201,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable),
)
def record_health_check(
    data: HealthCheckIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Record the annual health check of a resident aged 65+."""
    row = service.record_health_check(session, principal, data)
    return {"id": row.id, "person_id": row.person_id, "year": row.year, "done_on": row.done_on}


@router.post(
    "/familydoctor/abnormal-results/{item_id}/done",
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict),
)
def abnormal_done(
    item_id: ObjectId,
    session: DbSession,
    principal: CurrentPrincipal,
    note: Annotated[str | None, Body(embed=True, max_length=500)] = None,
) -> dict[str, Any]:
    """Mark an abnormal result as acted on."""
    row = service.act_on_abnormal(session, principal, item_id, note)
    return {"id": row.id, "status": row.status}


@router.get(
    "/familydoctor/worklist",
    response_model=list[WorkItemOut],
    responses=error_responses(Unauthorized, Forbidden),
)
def worklist(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    on: Annotated[date | None, Query()] = None,
    team_id: Annotated[str | None, Query(max_length=32)] = None,
    kind: Annotated[str | None, Query(max_length=24)] = None,
) -> list[WorkItemOut]:
    """The signed-in doctor's worklist: follow-ups, invitations, results, down-referrals."""
    if principal.role not in (Role.doctor, Role.admin) or (
        principal.role == Role.doctor and not principal.organization_id
    ):
        raise Forbidden("worklists are for family doctors")
    org = principal.organization_id if principal.role == Role.doctor else None
    wl = worklists.build_worklist(session, on=on, organization_id=org, team_id=team_id)
    items = [i for i in wl.items if kind is None or i.kind == kind]
    page = items[paging.offset : paging.offset + paging.limit]
    return [
        WorkItemOut(
            person_id=i.person_id,
            kind=i.kind,
            label=i.label,
            due_date=i.due_date,
            overdue_days=i.overdue_days,
            organization_id=i.organization_id,
            team_id=i.team_id,
            detail=i.detail,
            ref=i.ref,
        )
        for i in page
    ]


@router.get(
    "/reminders",
    response_model=list[ReminderOut],
    responses=error_responses(Unauthorized, Forbidden),
    tags=["reminders"],
)
def list_reminders(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    status: Annotated[Literal["pending", "sent", "failed"] | None, Query()] = None,
) -> list[ReminderOut]:
    """Reminders for an SMS/WeChat gateway to send (phone in clear only for a gateway client)."""
    rows = worklists.list_reminders(
        session, principal, status=status, limit=paging.limit, offset=paging.offset
    )
    return [ReminderOut(**r) for r in rows]


@router.post(
    "/reminders/{reminder_id}/ack",
    response_model=ReminderOut,
    responses=error_responses(Unauthorized, Forbidden, NotFound, Conflict),
    tags=["reminders"],
)
def ack_reminder(
    reminder_id: ObjectId, data: AckIn, session: DbSession, principal: CurrentPrincipal
) -> ReminderOut:
    """Acknowledge a reminder as sent or failed."""
    r = worklists.ack_reminder(session, principal, reminder_id, data)
    return ReminderOut(
        id=r.id,
        person_id=r.person_id,
        kind=r.kind,
        due_date=r.due_date,
        channel=r.channel,
        message=r.message,
        phone_masked=r.phone_masked,
        status=r.status,
        attempts=r.attempts,
        sent_at=r.sent_at,
        organization_id=r.organization_id,
    )


@router.get(
    "/familydoctor/episode-issues",
    response_model=list[EpisodeIssueOut],
    responses=error_responses(Unauthorized, Forbidden),
)
def list_episode_issues(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = "open",
) -> list[EpisodeIssueOut]:
    """List contracts sent as EpisodeOfCare that were not taken in, with the reason."""
    rows = episodes.list_issues(
        session, principal, status=status, limit=paging.limit, offset=paging.offset
    )
    return [EpisodeIssueOut.model_validate(r) for r in rows]


@router.post(
    "/familydoctor/episode-issues/replay",
    response_model=ReplayOut,
    responses=error_responses(Unauthorized, Forbidden),
)
def replay_episode_issues(session: DbSession, principal: CurrentPrincipal) -> ReplayOut:
    """Try the open contract issues again (e.g. after the doctor joined a team)."""
    taken, still_open = episodes.replay(session, principal)
    return ReplayOut(taken=taken, still_open=still_open)
