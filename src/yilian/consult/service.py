"""Remote and joint consultation (远程会诊 / 多学科会诊 / 联合会诊): the case workflow.

A requesting clinician opens a case on a person with selected record items and
questions, invites experts of any institution or province, schedules a session;
each invited expert records an opinion; a conclusion is signed and filed in the
person's record as a DocumentReference. Invited experts read exactly the case's
items during the case's lifetime, through :func:`read_items`, which checks the
invitation and audits every read — no care relationship is granted for this.

Services take a Session and never commit: a failed call leaves nothing behind
once the caller rolls back.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.consult import repository as repo
from yilian.consult.config import get_consult_settings
from yilian.consult.models import (
    ConsultCase,
    ConsultEvent,
    ConsultInvitation,
    ConsultItem,
    ConsultOpinion,
)
from yilian.consult.rules import (
    ACTIVE_INVITATION,
    ALLOWED_FROM,
    CASE_TYPE_LABELS_ZH,
    Action,
    CaseStatus,
    InvitationStatus,
    allowed,
    expert_may_view,
    may_sign,
    refusal,
)
from yilian.consult.schemas import CaseCreate, InvitationIn, ScheduleIn, split_key
from yilian.db import utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.registry import service as registry
from yilian.security import access
from yilian.security import service as security
from yilian.security.principal import Principal, Role

CLINICIAN_ROLES = frozenset({Role.doctor, Role.specialist})
PURPOSE = "consultation"
DOCUMENT_SYSTEM = "https://yilian.example/fhir/sid/consultation"
LOINC = "http://loinc.org"
CONSULT_NOTE = "11488-4"  # LOINC "Consult note"


@dataclass
class Participation:
    """How the caller takes part in a case: as its requester, or through an invitation."""

    requester: bool
    invitation: ConsultInvitation | None = None


@dataclass
class CaseView:
    """A case with everything the consultation room shows (item contents excepted)."""

    case: ConsultCase
    items: list[ConsultItem]
    invitations: list[ConsultInvitation]
    opinions: list[ConsultOpinion]
    events: list[ConsultEvent]
    org_names: dict[str, str] = field(default_factory=dict)
    participation: Participation | None = None


# --- helpers -------------------------------------------------------------------


def _event(
    session: Session,
    case: ConsultCase,
    principal: Principal,
    action: str,
    *,
    actor_name: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        ConsultEvent(
            case_id=case.id,
            at=utcnow(),
            action=action,
            actor_id=principal.subject,
            actor_name=actor_name or display_name(session, principal),
            organization_id=principal.organization_id,
            status_after=case.status.value,
            detail=detail,
        )
    )


def _audit(
    session: Session,
    principal: Principal,
    case: ConsultCase,
    action: str,
    *,
    resource_type: str = "ConsultCase",
    resource_id: str | None = None,
    outcome: str = "success",
    keep: bool = False,
    **detail: Any,
) -> None:
    audit.record(
        session,
        principal,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id or case.id,
        person_id=case.person_id,
        purpose=PURPOSE,
        outcome=outcome,
        detail={"case_id": case.id, **detail},
        keep_on_rollback=keep,
    )


def display_name(session: Session, principal: Principal) -> str:
    """The caller's display name (the account's, else the token's name)."""
    try:
        user = security.get_user(session, principal.subject)
    except NotFound:
        return principal.name
    return user.display_name or user.username


def get_case(session: Session, case_id: str) -> ConsultCase:
    """Return the case or raise NotFound."""
    case = repo.get_case(session, case_id)
    if case is None:
        raise NotFound(f"consultation case {case_id} does not exist")
    return case


def is_requester(case: ConsultCase, principal: Principal) -> bool:
    return (
        principal.subject == case.requester_id
        and principal.organization_id == case.requesting_org_id
    )


def _require_requester(case: ConsultCase, principal: Principal, what: str) -> None:
    if not is_requester(case, principal):
        raise Forbidden(f"only the clinician who requested the consultation may {what}")


def _require_state(case: ConsultCase, action: Action) -> None:
    if not allowed(action, case.status):
        raise Conflict(refusal(action, case.status))


def _claim(session: Session, case: ConsultCase, action: Action, **values: Any) -> None:
    """Move the case if it is still where ``action`` may start (race-safe); else 409."""
    if not repo.move(session, case.id, ALLOWED_FROM[action], {"updated_at": utcnow(), **values}):
        raise Conflict(refusal(action, case.status))


def _stored(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """(type, id) → the stored resource, read without the store's access decision.

    The consultation makes its own decision (invitation + case lifetime) and audits
    each read.
    """
    return records.stored_by_keys(session, keys)


# --- opening a case --------------------------------------------------------------


def _check_items(session: Session, person_id: str, keys: list[tuple[str, str]]) -> None:
    """Every item exists and is in this person's record (through the index as it links now)."""
    rows = _stored(session, keys)
    for i, key in enumerate(keys):
        row = rows.get(key)
        where = f"items[{i}]"
        if row is None:
            raise Unprocessable(f"record item {key[0]}/{key[1]} does not exist", field=where)
        if row.person_id is None or row.person_id != person_id:
            raise Unprocessable(
                f"record item {key[0]}/{key[1]} is not in this person's record", field=where
            )


def open_case(
    session: Session, principal: Principal, data: CaseCreate, *, now: datetime | None = None
) -> ConsultCase:
    """Open a consultation request (会诊申请) on a person with record items and questions."""
    if principal.role not in CLINICIAN_ROLES or not principal.organization_id:
        raise Forbidden(
            "only doctors and specialists of an organisation may request a consultation"
        )
    settings = get_consult_settings()
    if len(data.items) > settings.max_items:
        raise Unprocessable(f"at most {settings.max_items} record items", field="items")
    if len(data.questions) > settings.max_questions:
        raise Unprocessable(f"at most {settings.max_questions} questions", field="questions")
    if len(data.invitations) > settings.max_invitations:
        raise Unprocessable(
            f"at most {settings.max_invitations} invited experts", field="invitations"
        )
    try:
        person_id = patients.current_person_id(session, data.person_id)
    except NotFound:
        raise Unprocessable(f"person {data.person_id} does not exist", field="person_id") from None
    keys: list[tuple[str, str]] = []
    for i, raw in enumerate(data.items):
        key = split_key(raw)
        if key in keys:
            raise Unprocessable(f"record item {raw} is selected twice", field=f"items[{i}]")
        keys.append(key)
    # The requester must be able to read the record the items come from.
    access.require_person_access(
        session, principal, person_id=person_id, action="read", purpose="treatment"
    )
    _check_items(session, person_id, keys)
    case = ConsultCase(
        case_type=data.case_type,
        status=CaseStatus.draft,
        title=data.title.strip(),
        summary=data.summary.strip(),
        questions=list(data.questions),
        person_id=person_id,
        requesting_org_id=principal.organization_id,
        requester_id=principal.subject,
        requester_name=display_name(session, principal),
        location="",
    )
    if now is not None:
        case.created_at = now
    session.add(case)
    session.flush([case])
    session.add_all(
        ConsultItem(case_id=case.id, position=n, resource_type=t, resource_id=rid)
        for n, (t, rid) in enumerate(keys)
    )
    _event(session, case, principal, "created", case_type=case.case_type.value, items=len(keys))
    _audit(session, principal, case, "create", case_type=case.case_type.value, items=len(keys))
    for i, inv in enumerate(data.invitations):
        invite(session, principal, case.id, inv, field_prefix=f"invitations[{i}].")
    if data.submit:
        submit(session, principal, case.id, now=now)
    session.flush()
    return case


# --- invitations -----------------------------------------------------------------


@dataclass(frozen=True)
class _Expert:
    key: str
    name: str
    title: str
    specialty: str


def _expert(session: Session, data: InvitationIn, prefix: str) -> _Expert:
    """Resolve the invited expert against the registry and the accounts; 422 naming the field."""
    try:
        org = registry.get_organization(session, data.organization_id)
    except NotFound:
        raise Unprocessable(
            f"organization {data.organization_id} does not exist",
            field=f"{prefix}organization_id",
        ) from None
    if not org.active:
        raise Unprocessable(
            f"organization {org.name} is not active", field=f"{prefix}organization_id"
        )
    if data.user_id is None and data.practitioner_id is None:
        raise Unprocessable(
            "name the expert: a user_id (account) or a practitioner_id (registry)",
            field=f"{prefix}user_id",
        )
    name = title = specialty = ""
    if data.practitioner_id is not None:
        try:
            practitioner = registry.get_practitioner(session, data.practitioner_id)
        except NotFound:
            raise Unprocessable(
                f"practitioner {data.practitioner_id} does not exist",
                field=f"{prefix}practitioner_id",
            ) from None
        roles = [r for r in practitioner.roles if r.organization_id == org.id and r.active]
        if not practitioner.active or not roles:
            raise Unprocessable(
                f"practitioner {practitioner.name} does not work at {org.name}",
                field=f"{prefix}practitioner_id",
            )
        name, title = practitioner.name, practitioner.title or ""
        specialty = roles[0].specialty or next(iter(practitioner.specialties or []), "")
    if data.user_id is not None:
        try:
            user = security.get_user(session, data.user_id)
        except NotFound:
            raise Unprocessable(
                f"user {data.user_id} does not exist", field=f"{prefix}user_id"
            ) from None
        if not user.is_active or user.role not in {r.value for r in CLINICIAN_ROLES}:
            raise Unprocessable(
                "only active doctor or specialist accounts can be invited",
                field=f"{prefix}user_id",
            )
        if user.organization_id != org.id:
            raise Unprocessable(
                f"user {user.username} does not belong to {org.name}", field=f"{prefix}user_id"
            )
        name = name or user.display_name or user.username
        return _Expert(f"user:{org.id}:{user.id}", name, title, specialty)
    return _Expert(f"practitioner:{org.id}:{data.practitioner_id}", name, title, specialty)


def invite(
    session: Session,
    principal: Principal,
    case_id: str,
    data: InvitationIn,
    *,
    field_prefix: str = "",
) -> ConsultInvitation:
    """Invite an expert of any institution or province (邀请会诊专家)."""
    case = get_case(session, case_id)
    _require_requester(case, principal, "invite experts")
    _require_state(case, Action.invite)
    settings = get_consult_settings()
    position = repo.count_invitations(session, case.id)
    if position >= settings.max_invitations:
        raise Unprocessable(
            f"a case may invite at most {settings.max_invitations} experts", field="invitations"
        )
    expert = _expert(session, data, field_prefix)
    if data.user_id == case.requester_id and data.organization_id == case.requesting_org_id:
        raise Unprocessable(
            "the requester cannot invite themselves", field=f"{field_prefix}user_id"
        )
    if repo.invitation_by_key(session, case.id, expert.key) is not None:
        raise Conflict(f"{expert.name} is already invited to this case")
    draft = case.status is CaseStatus.draft
    invitation = ConsultInvitation(
        case_id=case.id,
        expert_key=expert.key,
        position=position,
        organization_id=data.organization_id,
        user_id=data.user_id,
        practitioner_id=data.practitioner_id,
        expert_name=expert.name,
        title=expert.title,
        specialty=expert.specialty,
        is_lead=data.is_lead,
        status=InvitationStatus.pending if draft else InvitationStatus.sent,
        invited_by=principal.subject,
        invited_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(invitation)
            session.flush([invitation])
    except IntegrityError:
        raise Conflict(f"{expert.name} is already invited to this case") from None
    _event(
        session,
        case,
        principal,
        "invited",
        invitation_id=invitation.id,
        expert=expert.name,
        organization_id=data.organization_id,
    )
    _audit(
        session,
        principal,
        case,
        "invite",
        resource_type="ConsultInvitation",
        resource_id=invitation.id,
        organization_id=data.organization_id,
    )
    return invitation


def submit(
    session: Session, principal: Principal, case_id: str, *, now: datetime | None = None
) -> ConsultCase:
    """Send the invitations: draft → open; invited experts may now read the items."""
    case = get_case(session, case_id)
    _require_requester(case, principal, "send the consultation")
    _require_state(case, Action.submit)
    invitations = repo.invitations_of(session, case.id)
    if not invitations:
        raise Unprocessable("invite at least one expert before sending", field="invitations")
    at = now or utcnow()
    days = get_consult_settings().access_days
    _claim(
        session,
        case,
        Action.submit,
        status=CaseStatus.open,
        opened_at=at,
        access_until=at + timedelta(days=days),
    )
    for inv in invitations:
        if inv.status is InvitationStatus.pending:
            inv.status = InvitationStatus.sent
    _event(session, case, principal, "opened", invitations=len(invitations))
    _audit(session, principal, case, "open", invitations=len(invitations))
    session.flush()
    return case


def respond(
    session: Session, principal: Principal, case_id: str, accept: bool
) -> ConsultInvitation:
    """Accept or decline an invitation (the invited expert)."""
    case = get_case(session, case_id)
    inv = repo.invitation_of_user(session, case.id, principal.subject, principal.organization_id)
    if inv is None or inv.status is InvitationStatus.pending:
        raise Forbidden("you are not invited to this consultation")
    _require_state(case, Action.respond)
    if inv.status is not InvitationStatus.sent:
        raise Conflict(f"the invitation is already {inv.status.value}")
    inv.status = InvitationStatus.accepted if accept else InvitationStatus.declined
    inv.responded_at = utcnow()
    _event(session, case, principal, "accepted" if accept else "declined", invitation_id=inv.id)
    session.flush()
    return inv


# --- the session -----------------------------------------------------------------


def schedule(session: Session, principal: Principal, case_id: str, data: ScheduleIn) -> ConsultCase:
    """Set (or move) the session time and place: open/scheduled → scheduled."""
    case = get_case(session, case_id)
    _require_requester(case, principal, "schedule the session")
    _require_state(case, Action.schedule)
    if data.end <= data.start:
        raise Unprocessable("the session must end after it starts", field="end")
    _claim(
        session,
        case,
        Action.schedule,
        status=CaseStatus.scheduled,
        scheduled_start=data.start,
        scheduled_end=data.end,
        session_mode=data.mode,
        location=data.location.strip(),
    )
    _event(
        session,
        case,
        principal,
        "scheduled",
        start=data.start.isoformat(),
        end=data.end.isoformat(),
        mode=data.mode.value,
    )
    return case


def start_session(session: Session, principal: Principal, case_id: str) -> ConsultCase:
    """Start the session: open/scheduled → in_session."""
    case = get_case(session, case_id)
    _require_requester(case, principal, "start the session")
    _require_state(case, Action.start)
    _claim(session, case, Action.start, status=CaseStatus.in_session)
    _event(session, case, principal, "started")
    return case


def record_opinion(
    session: Session,
    principal: Principal,
    case_id: str,
    text: str,
    *,
    invitation_id: str | None = None,
) -> ConsultOpinion:
    """Record (or amend) the caller's expert opinion (专家意见) on an open case.

    The requester may instead transcribe the opinion of an invited registry
    practitioner who has no account (``invitation_id``), as in an offline session.
    """
    case = get_case(session, case_id)
    text = text.strip()
    if not text:
        raise Unprocessable("the opinion must not be empty", field="text")
    transcribed = invitation_id is not None
    if transcribed:
        if not is_requester(case, principal):
            raise Forbidden(
                "only the case's requester may transcribe an opinion for an invited expert"
            )
        inv = repo.get_invitation(session, case.id, invitation_id or "")
        if inv is None:
            raise Unprocessable(
                f"invitation {invitation_id} is not an invitation of this case",
                field="invitation_id",
            )
        if inv.user_id is not None:
            raise Forbidden("this expert has an account and records their own opinion")
    else:
        found = repo.invitation_of_user(
            session, case.id, principal.subject, principal.organization_id
        )
        if found is None or found.status is InvitationStatus.pending:
            _audit(session, principal, case, "opinion_refused", outcome="denied", keep=True)
            raise Forbidden(
                "you are not invited to this consultation; your opinion was not recorded"
            )
        inv = found
    if inv.status not in ACTIVE_INVITATION:
        raise Forbidden(f"the invitation is {inv.status.value}; no opinion can be recorded")
    _require_state(case, Action.opinion)
    # A guarded touch of the case row: it re-checks the state atomically and, on
    # PostgreSQL, holds the row so that a concurrent signature waits for this opinion.
    _claim(session, case, Action.opinion)
    name = display_name(session, principal)
    opinion = repo.opinion_of_invitation(session, inv.id)
    if opinion is not None:
        opinion.text = text
        opinion.revision += 1
        opinion.recorded_by = principal.subject
        opinion.recorded_by_name = name
        opinion.transcribed = transcribed
        action = "opinion_amended"
    else:
        opinion = ConsultOpinion(
            case_id=case.id,
            invitation_id=inv.id,
            text=text,
            recorded_by=principal.subject,
            recorded_by_name=name,
            transcribed=transcribed,
        )
        try:
            with session.begin_nested():
                session.add(opinion)
                session.flush([opinion])
        except IntegrityError:
            raise Conflict("an opinion for this invitation was recorded at the same time") from None
        action = "opinion"
    session.flush([opinion])
    _event(
        session,
        case,
        principal,
        action,
        actor_name=name,
        invitation_id=inv.id,
        expert=inv.expert_name,
        transcribed=transcribed,
    )
    _audit(
        session,
        principal,
        case,
        "write",
        resource_type="ConsultOpinion",
        resource_id=opinion.id,
        invitation_id=inv.id,
        transcribed=transcribed,
    )
    return opinion


# --- the conclusion ----------------------------------------------------------------


def conclusion_document(
    case: ConsultCase,
    *,
    patient_id: str,
    organization_name: str,
    signer: str,
    signed_at: datetime,
) -> dict[str, Any]:
    """The signed conclusion as a FHIR DocumentReference (consult note) for the record."""
    label = CASE_TYPE_LABELS_ZH[case.case_type]
    text = case.conclusion or ""
    return {
        "resourceType": "DocumentReference",
        "identifier": [{"system": DOCUMENT_SYSTEM, "value": case.id}],
        "status": "current",
        "docStatus": "final",
        "type": {
            "coding": [{"system": LOINC, "code": CONSULT_NOTE, "display": "Consult note"}],
            "text": f"{label}结论",
        },
        "category": [{"text": "会诊"}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "date": signed_at.isoformat(),
        "author": [{"display": signer}],
        "authenticator": {"display": signer},
        "custodian": {
            "reference": f"Organization/{case.requesting_org_id}",
            "display": organization_name,
        },
        "description": f"{case.title}：{text}",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "zh-CN",
                    "title": f"{label}结论",
                    "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                    "creation": signed_at.isoformat(),
                }
            }
        ],
    }


def _file_conclusion(session: Session, case: ConsultCase, signer: str, at: datetime) -> str:
    """Store the conclusion in the person's record, sent by the requesting organisation."""
    record_ids = patients.record_ids_of(session, case.person_id)
    if not record_ids:
        raise Conflict("the person has no Patient record to file the conclusion in")
    sources = records.sources_of(
        session, [{"resourceType": "Patient", "id": p} for p in record_ids]
    )
    own = [p for p in record_ids if sources.get(f"Patient/{p}") == case.requesting_org_id]
    patient_id = (own or record_ids)[0]
    org = registry.get_organization(session, case.requesting_org_id)
    writer = Principal(
        subject=f"consult:{case.requesting_org_id}",
        name=f"{org.name} 会诊中心",
        role=Role.system,
        organization_id=case.requesting_org_id,
        kind="client",
    )
    doc = conclusion_document(
        case, patient_id=patient_id, organization_name=org.name, signer=signer, signed_at=at
    )
    return records.create(session, writer, "DocumentReference", doc).id


def _signing_right(session: Session, case: ConsultCase, principal: Principal) -> None:
    if is_requester(case, principal):
        return
    inv = repo.invitation_of_user(session, case.id, principal.subject, principal.organization_id)
    if inv is not None and inv.is_lead and inv.status in ACTIVE_INVITATION:
        return
    raise Forbidden("only the requester or the lead expert may sign the conclusion")


def sign_conclusion(
    session: Session,
    principal: Principal,
    case_id: str,
    text: str,
    *,
    now: datetime | None = None,
) -> ConsultCase:
    """Sign the conclusion (会诊结论) once and file it in the person's record."""
    case = get_case(session, case_id)
    _signing_right(session, case, principal)
    text = text.strip()
    if not text:
        raise Unprocessable("the conclusion must not be empty", field="text")
    _require_state(case, Action.sign)
    why = may_sign(repo.count_opinions(session, case.id))
    if why:
        raise Unprocessable(why, field="opinions")
    at = now or utcnow()
    name = display_name(session, principal)
    _claim(
        session,
        case,
        Action.sign,
        status=CaseStatus.concluded,
        conclusion=text,
        signed_by=principal.subject,
        signed_by_name=name,
        signed_at=at,
    )
    case.conclusion_document_id = _file_conclusion(session, case, name, at)
    session.flush([case])
    _event(
        session, case, principal, "signed", actor_name=name, document=case.conclusion_document_id
    )
    _audit(
        session,
        principal,
        case,
        "sign",
        document_id=case.conclusion_document_id,
    )
    return case


def close(session: Session, principal: Principal, case_id: str) -> ConsultCase:
    """Close a concluded case (结案): the experts' access to its items ends."""
    case = get_case(session, case_id)
    _require_requester(case, principal, "close the case")
    _require_state(case, Action.close)
    _claim(session, case, Action.close, status=CaseStatus.closed, closed_at=utcnow())
    _event(session, case, principal, "closed")
    _audit(session, principal, case, "close")
    return case


def cancel(session: Session, principal: Principal, case_id: str, reason: str) -> ConsultCase:
    """Cancel a case that has no conclusion yet; the experts' access ends."""
    case = get_case(session, case_id)
    _require_requester(case, principal, "cancel the case")
    _require_state(case, Action.cancel)
    _claim(
        session,
        case,
        Action.cancel,
        status=CaseStatus.cancelled,
        cancel_reason=reason.strip(),
        closed_at=utcnow(),
    )
    _event(session, case, principal, "cancelled", reason=reason.strip())
    _audit(session, principal, case, "cancel")
    return case


# --- reading -----------------------------------------------------------------------


def participation(
    session: Session, case: ConsultCase, principal: Principal, *, now: datetime | None = None
) -> Participation:
    """The caller's part in the case; Forbidden (audited) for anyone else or after its lifetime."""
    if is_requester(case, principal):
        return Participation(requester=True)
    inv = repo.invitation_of_user(session, case.id, principal.subject, principal.organization_id)
    if inv is None or inv.status is InvitationStatus.pending:
        _audit(session, principal, case, "access_denied", outcome="denied", keep=True)
        raise Forbidden("you are neither the requester of this consultation nor invited to it")
    view = expert_may_view(case.status, inv.status, case.access_until, now or utcnow())
    if not view.allowed:
        _audit(
            session,
            principal,
            case,
            "access_denied",
            outcome="denied",
            keep=True,
            reason=view.reason,
        )
        raise Forbidden(f"no access to this consultation: {view.reason}")
    return Participation(requester=False, invitation=inv)


def view_case(
    session: Session, principal: Principal, case_id: str, *, now: datetime | None = None
) -> CaseView:
    """The consultation room's content for a participant (read audited)."""
    case = get_case(session, case_id)
    part = participation(session, case, principal, now=now)
    invitations = repo.invitations_of(session, case.id)
    orgs = registry.organizations_by_ids(
        session, {case.requesting_org_id, *(i.organization_id for i in invitations)}
    )
    _audit(session, principal, case, "read", basis="requester" if part.requester else "invited")
    return CaseView(
        case=case,
        items=repo.items_of(session, case.id),
        invitations=invitations,
        opinions=repo.opinions_of(session, case.id),
        events=repo.events_of(session, case.id),
        org_names={k: o.name for k, o in orgs.items()},
        participation=part,
    )


def read_items(
    session: Session,
    principal: Principal,
    case_id: str,
    *,
    only: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The case's record items, exactly those, each read audited (for requester and experts)."""
    case = get_case(session, case_id)
    part = participation(session, case, principal, now=now)
    keys = [(i.resource_type, i.resource_id) for i in repo.items_of(session, case.id)]
    if only is not None:
        if only not in keys:
            _audit(
                session,
                principal,
                case,
                "access_denied",
                outcome="denied",
                keep=True,
                resource_type=only[0],
                resource_id=only[1],
                reason="not an item of this case",
            )
            raise NotFound(f"{only[0]}/{only[1]} is not an item of this consultation")
        keys = [only]
    rows = _stored(session, keys)
    out = []
    basis = "requester" if part.requester else "consultation invitation"
    for rtype, rid in keys:
        row = rows.get((rtype, rid))
        if row is None:
            continue  # removed from the store since it was selected
        _audit(session, principal, case, "read", resource_type=rtype, resource_id=rid, basis=basis)
        out.append(records.to_fhir(row))
    if only is not None and not out:
        raise NotFound(f"{only[0]}/{only[1]} is no longer in the record")
    return out


def list_cases(
    session: Session,
    principal: Principal,
    *,
    box: str = "all",
    status: CaseStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ConsultCase], int]:
    """The caller's cases: ``mine`` (requested), ``invited`` (invited to) or ``all`` (both)."""
    if box not in ("mine", "invited", "all"):
        raise Unprocessable("box must be mine, invited or all", field="box")
    mine = principal.subject if box in ("mine", "all") else None
    invited = (
        (principal.subject, principal.organization_id)
        if box in ("invited", "all") and principal.organization_id
        else None
    )
    if mine is None and invited is None:
        return [], 0
    return repo.list_cases(
        session,
        requester_id=mine,
        invited_user=invited,
        status=status,
        limit=limit,
        offset=offset,
    )


def organization_names(session: Session, ids: set[str]) -> dict[str, str]:
    return {k: o.name for k, o in registry.organizations_by_ids(session, ids).items()}
