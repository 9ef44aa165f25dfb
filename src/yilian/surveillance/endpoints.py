"""API of the surveillance domain (预警监测): sources in, signals, events, notifications.

Reports come from sentinel sites (their HIS as ``system``, or their doctors) and
from the CDC; verification and response are for ``cdc`` and ``admin``;
notifications are read and acknowledged by gateways (``system``) and the CDC.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status

from yilian.deps import DbSession, Paging
from yilian.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from yilian.security.dependencies import require_roles
from yilian.security.principal import Principal, Role
from yilian.surveillance import repository as repo
from yilian.surveillance import schemas as s
from yilian.surveillance import service

router = APIRouter(prefix="/api/v1/surveillance", tags=["surveillance"])

Reporter = Annotated[
    Principal, Depends(require_roles(Role.system, Role.doctor, Role.cdc, Role.admin))
]
Cdc = Annotated[Principal, Depends(require_roles(Role.cdc, Role.admin))]
Gateway = Annotated[Principal, Depends(require_roles(Role.system, Role.cdc, Role.admin))]
Id = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]{32}$")]
Key = Annotated[str, Path(min_length=1, max_length=160, pattern=r"^[A-Za-z0-9_.:+\-]+$")]

WRITE = error_responses(Unauthorized, Forbidden, Unprocessable)
ONE = error_responses(Unauthorized, Forbidden, NotFound, Unprocessable)
MOVE = error_responses(Unauthorized, Forbidden, NotFound, Conflict, Unprocessable)


@router.post("/reports", response_model=s.SentinelReportOut, responses=WRITE)
def post_report(
    principal: Reporter, session: DbSession, body: s.SentinelReportIn, response: Response
) -> dict[str, Any]:
    """Record a sentinel daily count; the same site × syndrome × age × day replaces the earlier."""
    out = service.submit_sentinel_report(session, principal, **body.model_dump())
    response.status_code = status.HTTP_201_CREATED if out.created else status.HTTP_200_OK
    data = s.SentinelReportOut.model_validate(out.report).model_dump()
    return data | {"created": out.created, "previous": out.previous}


@router.post("/clusters", response_model=s.ClusterReportOut, responses=WRITE)
def post_cluster(
    principal: Reporter, session: DbSession, body: s.ClusterReportIn, response: Response
) -> Any:
    """Record a school / kindergarten / care-home cluster report (later replaces earlier)."""
    report, created = service.submit_cluster_report(session, principal, **body.model_dump())
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return report


@router.post("/public-reports", response_model=s.PublicReportOut, status_code=201, responses=WRITE)
def post_public_report(principal: Cdc, session: DbSession, body: s.PublicReportIn) -> Any:
    """Enter a media (媒体舆情) or public (社会举报) report; it waits for review."""
    return service.submit_public_report(session, principal, **body.model_dump())


@router.get("/public-reports", response_model=list[s.PublicReportOut], responses=ONE)
def list_public_reports(
    _: Cdc, session: DbSession, status_: Annotated[str | None, Query(alias="status")] = None
) -> Any:
    """List media and public reports, pending first when filtered by ``status=pending``."""
    return repo.public_reports(session, status=status_, limit=200)


@router.post("/public-reports/{report_id}/review", response_model=s.PublicReportOut, responses=MOVE)
def review_public_report(
    principal: Cdc, session: DbSession, report_id: Id, body: s.ReviewIn
) -> Any:
    """Accept (→ signal) or reject (with a note) a pending media/public report."""
    return service.review_public_report(
        session, principal, report_id, accept=body.decision == "accept", note=body.note
    )


@router.post("/run", response_model=s.RunOut, responses=WRITE)
def post_run(principal: Cdc, session: DbSession, body: s.RunIn) -> Any:
    """Run every detector for one day (idempotent: the same day gives the same signals)."""
    return service.run(session, body.day, principal=principal)


@router.get("/series", response_model=list[s.SeriesOut], responses=ONE)
def list_series(
    _: Cdc,
    session: DbSession,
    source: Annotated[str | None, Query(max_length=16)] = None,
    topic: Annotated[str | None, Query(max_length=40)] = None,
    area: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> Any:
    """List series, by source, topic or area code."""
    return repo.list_series(session, source=source, topic=topic, area=area, limit=limit)


@router.get("/series/{key}", responses=ONE)
def get_series(
    _: Cdc, session: DbSession, key: Key, days: Annotated[int, Query(ge=7, le=1100)] = 120
) -> dict[str, Any]:
    """A series' daily counts and each method's expected value, upper bound and alarms."""
    return service.series_chart(session, key, days=days)


@router.patch("/series/{key}", response_model=s.SeriesOut, responses=ONE)
def configure_series(principal: Cdc, session: DbSession, key: Key, body: s.SeriesConfigIn) -> Any:
    """Choose a series' detectors and their parameters (null: the source's default)."""
    return service.configure_series(
        session, principal, key, methods=body.methods, params=body.params
    )


@router.get("/signals", response_model=s.SignalPage, responses=ONE)
def list_signals(
    _: Cdc,
    session: DbSession,
    paging: Paging,
    status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
) -> dict[str, Any]:
    """List signals, newest first."""
    items, total = repo.list_signals(
        session, status=status_, limit=paging.limit, offset=paging.offset
    )
    return {"items": items, "total": total, "limit": paging.limit, "offset": paging.offset}


@router.get("/signals/{signal_id}", response_model=s.SignalOut, responses=ONE)
def get_signal(_: Cdc, session: DbSession, signal_id: Id) -> Any:
    """Return one signal with its evidence."""
    return service.get_signal(session, signal_id)


@router.post("/signals/{signal_id}/verify", response_model=s.SignalOut, responses=MOVE)
def verify_signal(principal: Cdc, session: DbSession, signal_id: Id) -> Any:
    """Start verifying a signal."""
    return service.verify_signal(session, principal, signal_id)


@router.post("/signals/{signal_id}/dismiss", response_model=s.SignalOut, responses=MOVE)
def dismiss_signal(principal: Cdc, session: DbSession, signal_id: Id, body: s.DismissIn) -> Any:
    """Dismiss a signal, giving the reason."""
    return service.dismiss_signal(session, principal, signal_id, body.reason)


@router.post(
    "/signals/{signal_id}/confirm", response_model=s.EventOut, status_code=201, responses=MOVE
)
def confirm_signal(principal: Cdc, session: DbSession, signal_id: Id, body: s.ConfirmIn) -> Any:
    """Confirm a signal as an event."""
    return service.confirm_signal(session, principal, signal_id, body.title)


def _detail(session: DbSession, event_id: str) -> dict[str, Any]:
    d = service.event_detail(session, event_id)
    return {k: d[k] for k in ("event", "signal", "tasks", "timeline")}


@router.get("/events/{event_id}", response_model=s.EventDetailOut, responses=ONE)
def get_event(_: Cdc, session: DbSession, event_id: Id) -> dict[str, Any]:
    """Return an event with its signal, tasks and timeline."""
    return _detail(session, event_id)


@router.post("/events/{event_id}/team", response_model=s.EventOut, responses=MOVE)
def assign_team(principal: Cdc, session: DbSession, event_id: Id, body: s.TeamIn) -> Any:
    """Assign the response team (an organisation, optionally practitioners): responding."""
    return service.assign_team(
        session, principal, event_id,
        organization_id=body.organization_id, practitioner_ids=body.practitioner_ids,
    )  # fmt: skip


@router.post("/events/{event_id}/tasks", response_model=s.TaskOut, status_code=201, responses=MOVE)
def add_task(principal: Cdc, session: DbSession, event_id: Id, body: s.TaskIn) -> Any:
    """Add a response task."""
    return service.add_task(session, principal, event_id, title=body.title, assignee=body.assignee)


@router.post("/events/{event_id}/tasks/{task_id}/done", response_model=s.TaskOut, responses=MOVE)
def complete_task(principal: Cdc, session: DbSession, event_id: Id, task_id: Id) -> Any:
    """Mark a task done."""
    return service.complete_task(session, principal, event_id, task_id)


@router.post(
    "/events/{event_id}/notes", response_model=s.TimelineOut, status_code=201, responses=MOVE
)
def add_note(principal: Cdc, session: DbSession, event_id: Id, body: s.NoteIn) -> Any:
    """Add a note to the event's timeline."""
    return service.add_note(session, principal, event_id, body.text)


@router.post("/events/{event_id}/close", response_model=s.EventOut, responses=MOVE)
def close_event(principal: Cdc, session: DbSession, event_id: Id, body: s.CloseIn) -> Any:
    """Close an event with a summary."""
    return service.close_event(session, principal, event_id, body.summary)


@router.get("/notifications", response_model=list[s.NotificationOut], responses=ONE)
def list_notifications(
    _: Gateway,
    session: DbSession,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^(pending|acked)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """Notifications for gateways to deliver, oldest first (``status=pending``)."""
    return repo.notifications(session, status=status_, limit=limit)


@router.post(
    "/notifications/{notification_id}/ack", response_model=s.NotificationOut, responses=ONE
)
def ack_notification(principal: Gateway, session: DbSession, notification_id: Id) -> Any:
    """Acknowledge a delivered notification (idempotent)."""
    return service.ack_notification(session, principal, notification_id)


@router.get("/grid", responses=ONE)
def street_grid(_: Cdc, session: DbSession) -> list[dict[str, Any]]:
    """Every street with its current alert level."""
    return service.street_grid(session)
