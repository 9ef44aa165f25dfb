"""双向转诊: request, accept or decline, schedule into a reserved expert slot, arrive, complete.

Services take a Session and never commit. Each step records who and when (a
``ReferralEvent``) and an audit entry; the receiving organisation gets a care
relationship (kind ``referral``) so that it can read the shared record under the
access rules while the referral is open.
"""

from __future__ import annotations

import importlib
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from yilian.audit import service as audit
from yilian.db import as_utc, utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.patients import service as patients
from yilian.referral import repository as repo
from yilian.referral import rules, slots
from yilian.referral.config import get_referral_settings
from yilian.referral.models import Referral, ReferralEvent, Schedule, Slot
from yilian.referral.rules import Action, Channel, Direction, SlotKind, Status
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security import access
from yilian.security import service as security
from yilian.security.principal import Principal, Role

log = logging.getLogger(__name__)

CLINICAL_ROLES = frozenset({Role.doctor, Role.specialist})
REQUEST_ROLES = CLINICAL_ROLES | {Role.admin, Role.system}
MAX_TEXT = 4000


@dataclass(frozen=True)
class Contract:
    """The person's active family-doctor contract as this domain needs it."""

    organization_id: str | None
    team_id: str | None


def active_contract(session: Session, person_id: str) -> Contract | None:
    """The person's 签约 from the familydoctor domain; no contract when it is not available yet."""
    try:
        # Imported late: the familydoctor domain is written alongside and may not be there yet.
        familydoctor = importlib.import_module("yilian.familydoctor.service")
        found = familydoctor.active_contract(session, person_id)
    except (ImportError, AttributeError):
        return None
    if found is None:
        return None
    return Contract(
        organization_id=getattr(found, "organization_id", None),
        team_id=getattr(found, "team_id", None),
    )


def _source(referral_id: str) -> str:
    return f"referral:{referral_id}"


def _text(value: str | None, field: str, *, required: bool = False) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise Unprocessable(f"{field} must not be empty", field=field)
        return None
    if len(value) > MAX_TEXT:
        raise Unprocessable(f"{field} is longer than {MAX_TEXT} characters", field=field)
    if any(ord(c) < 32 and c not in "\n\r\t" for c in value):
        raise Unprocessable(f"{field} contains control characters", field=field)
    return value


def _org(session: Session, organization_id: str, field: str) -> Organization:
    try:
        return registry.get_organization(session, organization_id)
    except NotFound:
        raise Unprocessable(f"organization {organization_id} does not exist", field=field) from None


def _event(
    session: Session, ref: Referral, principal: Principal | None, at: datetime, note: str | None
) -> None:
    session.add(
        ReferralEvent(
            referral_id=ref.id,
            status=ref.status,
            at=at,
            actor_id=principal.subject if principal else None,
            actor_name=principal.name if principal else None,
            organization_id=principal.organization_id if principal else None,
            note=note,
        )
    )


def _audit(
    session: Session, principal: Principal, ref: Referral, action: str, detail: dict[str, Any]
) -> None:
    audit.record(
        session,
        principal,
        action=action,
        resource_type="ServiceRequest",
        resource_id=ref.id,
        person_id=ref.person_id,
        outcome="success",
        detail={"referral_status": ref.status.value, **detail},
    )


def request_referral(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    direction: Direction | str,
    to_organization_id: str,
    reason: str,
    department: str | None = None,
    summary: str | None = None,
    care_plan: str | None = None,
    urgent: bool = False,
    contracted: bool | None = None,
    from_organization_id: str | None = None,
    source: str | None = None,
    now: datetime | None = None,
) -> Referral:
    """Open a referral (上转 or 下转); the receiving organisation may then read the record."""
    now = now or utcnow()
    cfg = get_referral_settings()
    if principal.role not in REQUEST_ROLES:
        raise Forbidden("only doctors, specialists and institution systems may send referrals")
    try:
        direction = Direction(direction)
    except ValueError:
        raise Unprocessable("direction must be 'up' or 'down'", field="direction") from None
    sender_id = from_organization_id or principal.organization_id
    if not sender_id:
        raise Unprocessable("the sending organization is required", field="from_organization_id")
    if principal.role is not Role.admin and sender_id != principal.organization_id:
        raise Forbidden("a referral is sent from the caller's own organization")
    if sender_id == to_organization_id:
        raise Unprocessable("a referral goes to another organization", field="to_organization_id")
    reason_text = _text(reason, "reason", required=True)
    assert reason_text is not None
    department = _text(department, "department")
    if department and len(department) > 64:
        raise Unprocessable("department is longer than 64 characters", field="department")
    summary = _text(summary, "summary")
    care_plan = _text(care_plan, "care_plan")
    if direction is Direction.down and not care_plan:
        raise Unprocessable(
            "a down-referral carries the care plan the family doctor continues", field="care_plan"
        )
    sender = _org(session, sender_id, "from_organization_id")
    receiver = _org(session, to_organization_id, "to_organization_id")
    why = rules.direction_error(
        direction,
        sender.type.value,
        receiver.type.value,
        cross_region=sender.region_id != receiver.region_id,
    )
    if why:
        raise Unprocessable(why, field="to_organization_id")
    person_id = patients.current_person_id(session, person_id)
    if not patients.record_ids_of(session, person_id):
        raise NotFound(f"no person {person_id} with a Patient record")
    access.require_person_access(
        session,
        principal,
        person_id=person_id,
        action="create",
        purpose="treatment",
        resource_type="ServiceRequest",
    )
    contract = active_contract(session, person_id)
    is_contracted = bool(contract) if contracted is None else contracted
    ref = Referral(
        person_id=person_id,
        direction=direction,
        status=Status.requested,
        from_organization_id=sender.id,
        to_organization_id=receiver.id,
        department=department,
        reason=reason_text,
        summary=summary,
        care_plan=care_plan,
        urgent=urgent,
        contracted=is_contracted,
        contract_team_id=contract.team_id if contract else None,
        priority=rules.priority(urgent=urgent, contracted=is_contracted),
        requested_at=now,
        requested_by=principal.name,
        expires_at=rules.expires_at(now, cfg.expiry_hours),
        source=source,
    )
    session.add(ref)
    session.flush([ref])
    _event(session, ref, principal, now, None)
    security.grant_relationship(
        session,
        person_id=person_id,
        organization_id=receiver.id,
        kind="referral",
        source=_source(ref.id),
        valid_from=now,
        valid_to=ref.expires_at,
        principal=principal,
    )
    _audit(
        session,
        principal,
        ref,
        "create",
        {"direction": direction.value, "to_organization_id": receiver.id},
    )
    session.flush()
    return ref


def status_of(ref: Referral, now: datetime | None = None) -> Status:
    return rules.effective_status(ref.status, ref.expires_at, now or utcnow())


def can_see(principal: Principal, ref: Referral) -> bool:
    if principal.role is Role.admin:
        return True
    return principal.organization_id in (ref.from_organization_id, ref.to_organization_id)


def get_referral(session: Session, principal: Principal, referral_id: str) -> Referral:
    """One referral the caller's organisation sent or received (any for an administrator)."""
    ref = repo.referral(session, referral_id)
    if ref is None or not can_see(principal, ref):
        raise NotFound(f"referral {referral_id} does not exist")
    return ref


def _check_actor(principal: Principal, ref: Referral, action: Action) -> None:
    if principal.role is Role.admin:
        return
    if principal.role not in CLINICAL_ROLES:
        raise Forbidden("only doctors and specialists act on referrals")
    org = principal.organization_id
    if action is Action.cancel:
        if org != ref.from_organization_id:
            raise Forbidden("only the sending organization may cancel a referral")
    elif action is Action.schedule:
        if org not in (ref.from_organization_id, ref.to_organization_id):
            raise Forbidden("only the sending or receiving organization may schedule")
    elif org != ref.to_organization_id:
        raise Forbidden(f"only the receiving organization may {action.value} a referral")


def _move(
    session: Session,
    principal: Principal,
    ref: Referral,
    action: Action,
    now: datetime,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    current = status_of(ref, now)
    why = rules.transition_error(current, action)
    if why:
        raise Conflict(why)
    ref.status = rules.next_status(action)
    if note:
        ref.note = note
    if ref.status in rules.FINAL_STATUSES:
        ref.closed_at = now
    try:
        session.flush([ref])
    except StaleDataError:
        raise Conflict(
            f"the referral was changed by someone else meanwhile; reload it ({action.value})"
        ) from None
    _event(session, ref, principal, now, note)
    _audit(session, principal, ref, action.value, detail or {})


def _checked(
    session: Session, principal: Principal, referral_id: str, action: Action, now: datetime
) -> Referral:
    ref = get_referral(session, principal, referral_id)
    _check_actor(principal, ref, action)
    why = rules.transition_error(status_of(ref, now), action)
    if why:
        raise Conflict(why)
    return ref


def accept(
    session: Session,
    principal: Principal,
    referral_id: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> Referral:
    """Accept a requested referral; an expired one is refused."""
    now = now or utcnow()
    ref = _checked(session, principal, referral_id, Action.accept, now)
    note = _text(note, "note")
    ref.accepted_at = now
    _move(session, principal, ref, Action.accept, now, note)
    security.grant_relationship(
        session,
        person_id=ref.person_id,
        organization_id=ref.to_organization_id,
        kind="referral",
        source=_source(ref.id),
        valid_to=now + timedelta(days=get_referral_settings().relationship_days),
        principal=principal,
    )
    session.flush()
    return ref


def _end_access(session: Session, principal: Principal, ref: Referral, now: datetime) -> None:
    security.end_relationship(
        session,
        person_id=ref.person_id,
        organization_id=ref.to_organization_id,
        kind="referral",
        source=_source(ref.id),
        at=now,
        principal=principal,
    )


def decline(
    session: Session,
    principal: Principal,
    referral_id: str,
    *,
    reason: str,
    now: datetime | None = None,
) -> Referral:
    """Decline a requested referral, with the reason the sender sees."""
    now = now or utcnow()
    ref = _checked(session, principal, referral_id, Action.decline, now)
    why = _text(reason, "reason", required=True)
    _move(session, principal, ref, Action.decline, now, why)
    _end_access(session, principal, ref, now)
    session.flush()
    return ref


def schedule(
    session: Session,
    principal: Principal,
    referral_id: str,
    *,
    slot_id: str | None = None,
    appointment_at: datetime | None = None,
    now: datetime | None = None,
) -> Referral:
    """Book the accepted referral into a reserved expert slot (or, down, an agreed visit time)."""
    now = now or utcnow()
    ref = _checked(session, principal, referral_id, Action.schedule, now)
    if (slot_id is None) == (appointment_at is None):
        raise Unprocessable("give either slot_id or appointment_at", field="slot_id")
    detail: dict[str, Any] = {}
    if slot_id is not None:
        slot = slots.book(
            session,
            slot_id=slot_id,
            channel=Channel.referral,
            booking_ref=_source(ref.id),
            booked_by=principal.name,
            booked_org_id=principal.organization_id,
            person_id=ref.person_id,
            kind=SlotKind.expert,
            organization_id=ref.to_organization_id,
            now=now,
        )
        ref.slot_id = slot.id
        ref.appointment_at = slot.start
        detail["slot_id"] = slot.id
    else:
        assert appointment_at is not None
        when = as_utc(appointment_at)
        if when <= now:
            raise Unprocessable("appointment_at must be in the future", field="appointment_at")
        if ref.direction is Direction.up:
            raise Unprocessable(
                "an up-referral is booked into an expert slot: give slot_id", field="slot_id"
            )
        ref.appointment_at = when
    _move(session, principal, ref, Action.schedule, now, None, detail)
    session.flush()
    return ref


def arrive(
    session: Session, principal: Principal, referral_id: str, *, now: datetime | None = None
) -> Referral:
    """Record that the person arrived at the receiving institution (到诊)."""
    now = now or utcnow()
    ref = _checked(session, principal, referral_id, Action.arrive, now)
    _move(session, principal, ref, Action.arrive, now)
    session.flush()
    return ref


def complete(
    session: Session,
    principal: Principal,
    referral_id: str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> Referral:
    """Close the referral once the receiving institution has seen the person."""
    now = now or utcnow()
    ref = _checked(session, principal, referral_id, Action.complete, now)
    _move(session, principal, ref, Action.complete, now, _text(note, "note"))
    session.flush()
    return ref


def cancel(
    session: Session,
    principal: Principal,
    referral_id: str,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> Referral:
    """Withdraw an open referral; a booked slot goes back to the reserve."""
    now = now or utcnow()
    ref = _checked(session, principal, referral_id, Action.cancel, now)
    note = _text(reason, "reason")
    if ref.slot_id:
        slots.release(session, slot_id=ref.slot_id, booking_ref=_source(ref.id))
        ref.slot_id = None
    _move(session, principal, ref, Action.cancel, now, note)
    _end_access(session, principal, ref, now)
    session.flush()
    return ref


def history(session: Session, principal: Principal, referral_id: str) -> list[ReferralEvent]:
    get_referral(session, principal, referral_id)
    return list(repo.events(session, referral_id))


# --- worklists ----------------------------------------------------------------


@dataclass(frozen=True)
class ReferralView:
    """A referral as a worklist row (no clinical detail beyond reason and summary)."""

    id: str
    person_id: str
    direction: Direction
    status: Status
    status_label: str
    from_organization_id: str
    from_organization_name: str
    to_organization_id: str
    to_organization_name: str
    department: str | None
    reason: str
    summary: str | None
    care_plan: str | None
    urgent: bool
    contracted: bool
    priority: int
    requested_at: datetime
    requested_by: str
    expires_at: datetime
    accepted_at: datetime | None
    appointment_at: datetime | None
    slot_id: str | None
    note: str | None
    record_url: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def views(
    session: Session, rows: list[Referral] | tuple[Referral, ...], now: datetime | None = None
) -> list[ReferralView]:
    now = now or utcnow()
    names = {
        o.id: o.name
        for o in registry.organizations_by_ids(
            session, {r.from_organization_id for r in rows} | {r.to_organization_id for r in rows}
        ).values()
    }
    out = []
    for r in rows:
        status = status_of(r, now)
        out.append(
            ReferralView(
                id=r.id,
                person_id=r.person_id,
                direction=r.direction,
                status=status,
                status_label=rules.STATUS_LABELS[status],
                from_organization_id=r.from_organization_id,
                from_organization_name=names.get(r.from_organization_id, r.from_organization_id),
                to_organization_id=r.to_organization_id,
                to_organization_name=names.get(r.to_organization_id, r.to_organization_id),
                department=r.department,
                reason=r.reason,
                summary=r.summary,
                care_plan=r.care_plan,
                urgent=r.urgent,
                contracted=r.contracted,
                priority=r.priority,
                requested_at=r.requested_at,
                requested_by=r.requested_by,
                expires_at=r.expires_at,
                accepted_at=r.accepted_at,
                appointment_at=r.appointment_at,
                slot_id=r.slot_id,
                note=r.note,
                record_url=f"/ui/persons/{r.person_id}",
            )
        )
    return out


def _worklist(
    session: Session,
    to_org: str | None,
    from_org: str | None,
    statuses: set[Status] | None,
    limit: int,
    now: datetime | None,
) -> list[ReferralView]:
    """Open referrals first (by priority), then closed ones; ``statuses`` as the user sees them."""
    wanted = statuses or set(Status)
    # An expired referral is still "requested" in its row: the expiry is evaluated on read.
    stored = {Status.requested if s is Status.expired else s for s in wanted}
    rows: list[Referral] = []
    for group in (rules.OPEN_STATUSES, rules.FINAL_STATUSES):
        chosen = sorted(stored & group)
        if chosen and len(rows) < limit:
            rows.extend(
                repo.referrals(
                    session,
                    to_organization_id=to_org,
                    from_organization_id=from_org,
                    statuses=chosen,
                    limit=limit - len(rows),
                )
            )
    return [v for v in views(session, rows, now) if v.status in wanted]


def inbox(
    session: Session,
    principal: Principal,
    *,
    statuses: set[Status] | None = None,
    organization_id: str | None = None,
    limit: int = 200,
    now: datetime | None = None,
) -> list[ReferralView]:
    """Referrals to the caller's organisation — the 一站式 referral desk, priority first.

    Urgent, then 签约居民 (优先就诊、优先检查、优先住院), then by request time.
    """
    org = _worklist_org(principal, organization_id)
    return _worklist(session, org, None, statuses, limit, now)


def outbox(
    session: Session,
    principal: Principal,
    *,
    statuses: set[Status] | None = None,
    organization_id: str | None = None,
    limit: int = 200,
    now: datetime | None = None,
) -> list[ReferralView]:
    """Referrals the caller's organisation sent."""
    org = _worklist_org(principal, organization_id)
    return _worklist(session, None, org, statuses, limit, now)


def _worklist_org(principal: Principal, organization_id: str | None) -> str:
    if principal.role is Role.admin and organization_id:
        return organization_id
    if principal.role not in CLINICAL_ROLES and principal.role is not Role.admin:
        raise Forbidden("referral worklists are for doctors and specialists")
    if not principal.organization_id:
        raise Unprocessable(
            "give organization_id to see an organization's worklist", field="organization_id"
        )
    if organization_id and organization_id != principal.organization_id:
        raise Forbidden("a worklist shows the caller's own organization")
    return principal.organization_id


def down_referrals_received(
    session: Session, organization_id: str, *, since: datetime | None = None
) -> list[ReferralView]:
    """Down-referrals a community centre received (with their care plans), for the GP worklist."""
    rows = repo.referrals(
        session, to_organization_id=organization_id, direction=Direction.down, since=since
    )
    return views(session, list(rows))


# --- metrics ------------------------------------------------------------------


def metrics(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    organization_id: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Up/down counts and ratio, acceptance, time to appointment, completion by org and month.

    Each referral counts for both its sender and its receiver; the row with no
    organisation counts each referral once (the region's total per month).
    """
    now = now or utcnow()
    rows = repo.referrals(
        session, since=as_utc(since), until=as_utc(until), either_organization_id=organization_id
    )
    groups: dict[tuple[str | None, str], list[rules.ReferralFact]] = defaultdict(list)
    for r in rows:
        fact = rules.ReferralFact(
            direction=r.direction,
            status=status_of(r, now),
            requested_at=r.requested_at,
            accepted_at=r.accepted_at,
            appointment_at=r.appointment_at,
        )
        month = rules.month_of(r.requested_at + timedelta(hours=8))
        involved = {r.from_organization_id, r.to_organization_id}
        if organization_id:
            involved &= {organization_id}
        for org_id in involved:
            groups[(org_id, month)].append(fact)
        if not organization_id:
            groups[(None, month)].append(fact)
    names = {
        o.id: o.name
        for o in registry.organizations_by_ids(
            session, {k[0] for k in groups if k[0] is not None}
        ).values()
    }
    out = []
    for (org, month), facts in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0] or "")):
        m = rules.metrics(facts)
        out.append(
            {
                "organization_id": org,
                "organization_name": names.get(org, "全区合计") if org else "全区合计",
                "month": month,
                **asdict(m),
            }
        )
    return out


# --- schedules and the public channel ------------------------------------------

PUBLISH_ROLES = frozenset({Role.specialist, Role.admin, Role.system})


def publish_schedule(
    session: Session,
    principal: Principal,
    *,
    kind: SlotKind,
    service: str,
    start: datetime,
    end: datetime,
    capacity: int,
    practitioner_name: str | None = None,
    title: str | None = None,
    reserved_share: float | None = None,
    release_hours: int | None = None,
    organization_id: str | None = None,
) -> Schedule:
    """Publish an expert session or a modality's capacity; the reserved share is held back."""
    if principal.role not in PUBLISH_ROLES:
        raise Forbidden("only the institution's specialists or systems publish schedules")
    org = organization_id if principal.role is Role.admin else principal.organization_id
    if organization_id and organization_id != org:
        raise Forbidden("schedules are published for the caller's own organization")
    if not org:
        raise Unprocessable("organization_id is required", field="organization_id")
    _org(session, org, "organization_id")
    if kind is SlotKind.exam and service not in {m.value for m in rules.Modality}:
        names = ", ".join(m.value for m in rules.Modality)
        raise Unprocessable(f"an exam schedule's service is a modality: {names}", field="service")
    return slots.publish(
        session,
        organization_id=org,
        kind=kind,
        service=service,
        start=start,
        end=end,
        capacity=capacity,
        practitioner_name=(practitioner_name or "").strip(),
        title=title,
        reserved_share=reserved_share,
        release_hours=release_hours,
        published_by=principal.name,
    )


def book_public(
    session: Session,
    principal: Principal,
    slot_id: str,
    *,
    reference: str,
    person_id: str | None = None,
    now: datetime | None = None,
) -> Slot:
    """Book a public-pool slot through the hospital's own channel (released reserve included)."""
    slot = slots.get(session, slot_id)
    if principal.role not in PUBLISH_ROLES:
        raise Forbidden("the public channel belongs to the hospital's staff and systems")
    if principal.role is not Role.admin and principal.organization_id != slot.organization_id:
        raise Forbidden("only the hospital that owns the slot books it publicly")
    return slots.book(
        session,
        slot_id=slot_id,
        channel=Channel.public,
        booking_ref=f"public:{slot.organization_id}:{reference}",
        booked_by=principal.name,
        booked_org_id=slot.organization_id,
        person_id=person_id,
        now=now,
    )


# --- FHIR face ----------------------------------------------------------------

_FHIR_STATUS = {
    Status.requested: "active",
    Status.accepted: "active",
    Status.scheduled: "active",
    Status.arrived: "active",
    Status.completed: "completed",
    Status.declined: "revoked",
    Status.cancelled: "revoked",
    Status.expired: "revoked",
}
REFERRAL_SYSTEM = "https://yilian.example/fhir/sid/referral"
SNOMED = "http://snomed.info/sct"


def service_request(session: Session, view: ReferralView) -> dict[str, Any]:
    """The referral as a FHIR R4 ``ServiceRequest`` (patient-referral), for partners."""
    records_of = patients.record_ids_of(session, view.person_id)
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": view.id,
        "identifier": [{"system": REFERRAL_SYSTEM, "value": view.id}],
        "status": _FHIR_STATUS[view.status],
        "intent": "order",
        "priority": "urgent" if view.urgent else "routine",
        "category": [
            {"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}]}
        ],
        "code": {"text": "上转" if view.direction is Direction.up else "下转"},
        "authoredOn": view.requested_at.isoformat(),
        "requester": {"reference": f"Organization/{view.from_organization_id}"},
        "performer": [{"reference": f"Organization/{view.to_organization_id}"}],
        "reasonCode": [{"text": view.reason}],
        "extension": [
            {"url": f"{REFERRAL_SYSTEM}/status", "valueCode": view.status.value},
            {"url": f"{REFERRAL_SYSTEM}/contracted", "valueBoolean": view.contracted},
        ],
    }
    if records_of:
        resource["subject"] = {"reference": f"Patient/{records_of[0]}"}
    notes = [n for n in (view.summary, view.care_plan) if n]
    if notes:
        resource["note"] = [{"text": n} for n in notes]
    if view.department:
        resource["performerType"] = {"text": view.department}
    if view.appointment_at:
        resource["occurrenceDateTime"] = view.appointment_at.isoformat()
    return resource
