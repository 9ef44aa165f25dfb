"""API of TB patient management: cases, doses, visits, outcomes, transfers, reminders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

from yilian.deps import DbSession
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
from yilian.tb import care_service as service
from yilian.tb.care_schemas import (
    CaseCreate,
    CaseRead,
    DoseCreate,
    DoseRead,
    OutcomeCreate,
    PhaseUpdate,
    ReminderRead,
    TransferCreate,
    TransferRead,
    VisitCreate,
    VisitRead,
)

router = APIRouter(prefix="/api/v1/tb", tags=["tb-care"])

Id = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]
Writer = Annotated[
    Principal,
    Depends(require_roles(Role.cdc, Role.doctor, Role.specialist, Role.admin, Role.system)),
]
_W = error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)


def _line(line: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in line.items() if k not in ("case", "doses", "visits", "reminders")}
    out["case"] = CaseRead.model_validate(line["case"]).model_dump(mode="json")
    if out.get("next_visit"):
        out["next_visit"] = out["next_visit"].isoformat()
    for key in ("transfers", "timeline", "organizations"):
        out.pop(key, None)
    return out


@router.post("/cases", status_code=status.HTTP_201_CREATED, response_model=CaseRead, responses=_W)
def create_case(data: CaseCreate, session: DbSession, principal: Writer) -> Any:
    """Register (notify) a TB case; the managing organisation gets a treating relationship."""
    return service.create_case(session, principal, data)


@router.get("/cases", response_model=None, responses=error_responses(Unauthorized, Forbidden))
def list_cases(
    session: DbSession,
    principal: CurrentPrincipal,
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(active|transferring|closed)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[dict[str, Any]]:
    """The worklist: the caller's organisation's cases (a CDC: its province's)."""
    rows = service.list_cases(session, principal, status=status_, limit=limit, offset=offset)
    return [_line(r) for r in rows]


@router.get(
    "/cases/{case_id}",
    response_model=None,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def get_case(case_id: Id, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """A case with its adherence, doses, visits, reminders, transfers and one timeline."""
    d = service.case_detail(session, principal, case_id)
    out = _line(d)
    out["doses"] = [DoseRead.model_validate(x).model_dump(mode="json") for x in d["doses"]]
    out["visits"] = [VisitRead.model_validate(x).model_dump(mode="json") for x in d["visits"]]
    out["reminders"] = [
        ReminderRead.model_validate(x).model_dump(mode="json") for x in d["reminders"]
    ]
    out["transfers"] = [
        TransferRead.model_validate(x).model_dump(mode="json") for x in d["transfers"]
    ]
    orgs = d["organizations"]
    out["timeline"] = [
        {
            "at": e.at.isoformat(),
            "kind": e.kind,
            "organization_id": e.organization_id,
            "province": orgs.get(e.organization_id, {}).get("province"),
            **e.detail,
        }
        for e in d["timeline"]
    ]
    return out


@router.post("/cases/{case_id}/doses", response_model=DoseRead, status_code=201, responses=_W)
def record_dose(
    case_id: Id, data: DoseCreate, session: DbSession, principal: Writer, response: Response
) -> Any:
    """Record a day's dose (taken / missed / late); a missed dose raises reminders."""
    dose, created = service.record_dose(session, principal, case_id, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return dose


@router.get(
    "/cases/{case_id}/doses",
    response_model=list[DoseRead],
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def list_doses(case_id: Id, session: DbSession, principal: CurrentPrincipal) -> Any:
    return service.list_doses(session, principal, case_id)


@router.post("/cases/{case_id}/visits", response_model=VisitRead, status_code=201, responses=_W)
def record_visit(case_id: Id, data: VisitCreate, session: DbSession, principal: Writer) -> Any:
    """Record a community doctor's visit in real time."""
    return service.record_visit(session, principal, case_id, data)


@router.post("/cases/{case_id}/phase", response_model=CaseRead, responses=_W)
def set_phase(case_id: Id, data: PhaseUpdate, session: DbSession, principal: Writer) -> Any:
    return service.set_phase(session, principal, case_id, data.phase)


@router.post("/cases/{case_id}/outcome", response_model=CaseRead, responses=_W)
def record_outcome(case_id: Id, data: OutcomeCreate, session: DbSession, principal: Writer) -> Any:
    """Record the WHO 2021 treatment outcome; this closes the case."""
    return service.record_outcome(session, principal, case_id, data)


@router.post(
    "/cases/{case_id}/transfers", response_model=TransferRead, status_code=201, responses=_W
)
def request_transfer(
    case_id: Id, data: TransferCreate, session: DbSession, principal: Writer
) -> Any:
    """Transfer-out to another organisation (possibly in another province)."""
    return service.request_transfer(session, principal, case_id, data)


@router.get(
    "/transfers",
    response_model=list[TransferRead],
    responses=error_responses(Unauthorized, Forbidden),
)
def list_transfers(
    session: DbSession,
    principal: CurrentPrincipal,
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(pending|accepted|cancelled)$")
    ] = None,
) -> Any:
    """Transfers in and out of the caller's organisation (a CDC: its province's tenant)."""
    return service.list_transfers(session, principal, status=status_)


@router.post("/transfers/{transfer_id}/acknowledge", response_model=TransferRead, responses=_W)
def acknowledge_transfer(transfer_id: Id, session: DbSession, principal: Writer) -> Any:
    """Transfer-in: the receiving organisation takes the case over, same id and timeline."""
    return service.acknowledge_transfer(session, principal, transfer_id)


@router.post("/transfers/{transfer_id}/cancel", response_model=TransferRead, responses=_W)
def cancel_transfer(transfer_id: Id, session: DbSession, principal: Writer) -> Any:
    """Withdraw (sending side) or decline (receiving side) a pending transfer."""
    return service.cancel_transfer(session, principal, transfer_id)


@router.get(
    "/reminders",
    response_model=list[ReminderRead],
    responses=error_responses(Unauthorized, Forbidden),
)
def list_reminders(
    session: DbSession,
    principal: CurrentPrincipal,
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(pending|acked|done|cancelled)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """Reminders for patients and community doctors, for gateways to deliver."""
    return service.list_reminders(session, principal, status=status_, limit=limit, offset=offset)


@router.post(
    "/reminders/{reminder_id}/ack",
    response_model=ReminderRead,
    responses=error_responses(Unauthorized, Forbidden, NotFound),
)
def ack_reminder(reminder_id: Id, session: DbSession, principal: CurrentPrincipal) -> Any:
    """A gateway acknowledges delivery."""
    return service.ack_reminder(session, principal, reminder_id)


@router.post(
    "/reminders/sweep", response_model=None, responses=error_responses(Unauthorized, Forbidden)
)
def sweep(
    session: DbSession,
    principal: Annotated[Principal, Depends(require_roles(Role.admin, Role.system, Role.cdc))],
) -> dict[str, int]:
    """Raise reminders for overdue visits of the caller's tenant (run daily by a scheduler)."""
    return {"created": service.sweep_for(session, principal)}


@router.get(
    "/indicators",
    response_model=None,
    responses=error_responses(Unauthorized, Forbidden, Unprocessable),
)
def get_indicators(
    session: DbSession,
    principal: CurrentPrincipal,
    by: Annotated[str, Query(pattern="^(province|city|month)$")] = "province",
) -> dict[str, Any]:
    """Adherence, visit completion, outcome rates and RR-TB share by province, city or month."""
    return service.indicators(session, principal, by=by)
