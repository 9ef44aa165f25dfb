"""TB patient management: case registry, observed doses, visits, reminders, transfers, outcomes.

Services take a Session and never commit. Every read and write of a case passes
:func:`authorize_case`: the one access decision (``yilian.security.access``, through
``yilian.tb.tenancy``) weighs the province tenant, who records for the case, then the
person-level rules, and audits it.
Writes are allowed to the case's managing organisation and its province's CDC; another
organisation — another province's in particular — gets the case only through an
acknowledged transfer, after which the case belongs to the receiving province's tenant
and keeps its one timeline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.patients import service as patients
from yilian.registry import service as registry
from yilian.registry.models import Organization
from yilian.security import access
from yilian.security import service as security
from yilian.security.principal import Principal, Role
from yilian.security.rules import Place, Tenant
from yilian.tb import care_repository as repo
from yilian.tb import care_rules as rules
from yilian.tb import tenancy
from yilian.tb.care_models import TbCase, TbCaseEvent, TbDose, TbReminder, TbTransfer, TbVisit
from yilian.tb.care_schemas import (
    CaseCreate,
    DoseCreate,
    OutcomeCreate,
    TransferCreate,
    VisitCreate,
)


class TbCareSettings(BaseSettings):
    """Policy numbers (肺结核患者健康管理服务规范, primary-care-rules.md §1.3)."""

    model_config = SettingsConfigDict(env_prefix="YILIAN_TB_CARE_", extra="ignore")

    first_visit_hours: int = Field(default=72, ge=1)  # 72 h after the notice
    monthly_days: int = Field(default=30, ge=1)  # at least once a month
    family_intensive_days: int = Field(default=10, ge=1)  # every 10 days (family, intensive)
    regular_share: float = Field(default=0.9, ge=0, le=1)  # 规则服药 ≥ 90 %
    missed_week: int = Field(default=7, ge=1)  # ≥ 1 week missed: report upward

    def policy(self) -> rules.VisitPolicy:
        return rules.VisitPolicy(
            self.first_visit_hours,
            self.monthly_days,
            self.family_intensive_days,
            self.regular_share,
            self.missed_week,
        )


@lru_cache
def get_care_settings() -> TbCareSettings:
    return TbCareSettings()


def _policy() -> rules.VisitPolicy:
    return get_care_settings().policy()


def today() -> date:
    return utcnow().date()


# ------------------------------------------------------------------ places and permissions


def _org(session: Session, organization_id: str, field: str) -> Organization:
    try:
        return registry.get_organization(session, organization_id)
    except NotFound as exc:
        raise Unprocessable(f"organization {organization_id} does not exist", field=field) from exc


def _pending_province(session: Session, case: TbCase) -> str | None:
    pending = repo.pending_transfer(session, case.id)
    if pending is None:
        return None
    place = security.places_by_ids(session, [pending.to_organization_id]).get(
        pending.to_organization_id
    )
    return place.province_region_id if place else None


def authorize_case(session: Session, principal: Principal, case: TbCase, action: str) -> None:
    """The one gate of a case: its province's tenant, who records for it, the person's access.

    Reads: the case's province (and, while a transfer into it is pending, the receiving
    province). Writes: the managing organisation and its province's CDC. Then the
    person-level decision of ``yilian.security.access``. Audited either way.
    """
    write = action != "read"
    tenancy.authorize(
        session,
        principal,
        owner_province_id=case.province_region_id,
        owner_province=case.province,
        action=action,
        resource_type="TbCase",
        resource_id=case.id,
        person_id=case.person_id,
        pending_province_id=None if write else _pending_province(session, case),
        role_problem=tenancy.case_writer_problem(
            principal.role, principal.organization_id, case.organization_id
        )
        if write
        else None,
    )


def _event(
    session: Session, case: TbCase, kind: str, principal: Principal | None, **detail: Any
) -> None:
    session.add(
        TbCaseEvent(
            case_id=case.id,
            kind=kind,
            organization_id=principal.organization_id if principal else case.organization_id,
            detail={k: (v.isoformat() if isinstance(v, date) else v) for k, v in detail.items()},
        )
    )


def _audit(
    session: Session, principal: Principal | None, action: str, case: TbCase, **detail: Any
) -> None:
    audit.record(
        session,
        principal,
        action=action,
        resource_type="TbCase",
        resource_id=case.id,
        person_id=case.person_id,
        purpose="treatment",
        outcome="success",
        detail=detail,
    )


@contextmanager
def _savepoint(session: Session) -> Iterator[None]:
    with session.begin_nested():
        yield


# ------------------------------------------------------------------ cases


def create_case(
    session: Session,
    principal: Principal | None,
    data: CaseCreate,
    *,
    condition_id: str | None = None,
) -> TbCase:
    """Register a case (one open case per person); grant the managing org a treating link."""
    if principal is not None and principal.role not in (
        Role.cdc,
        Role.doctor,
        Role.specialist,
        Role.admin,
        Role.system,
    ):
        raise Forbidden("only CDC, doctors and the exchange register TB cases")
    try:
        person_id = patients.current_person_id(session, data.person_id)
    except NotFound as exc:
        raise Unprocessable(f"no person {data.person_id}", field="person_id") from exc
    if data.notification_date > today():
        raise Unprocessable("notification_date is in the future", field="notification_date")
    start = data.start_date or data.notification_date
    if start > today() + timedelta(days=30):
        raise Unprocessable("start_date is too far in the future", field="start_date")
    if data.intensive_days > data.total_days:
        raise Unprocessable("intensive_days exceeds total_days", field="intensive_days")
    org = _org(session, data.organization_id, "organization_id")
    place = security.place_of(session, org)
    if principal is not None:  # cases are registered in the caller's own province
        access.require_within_tenant(
            session,
            principal,
            resource_tenant=Tenant(place.province_region_id, place.province),
            action="create",
            purpose=tenancy.purpose_of(principal),
            resource_type="TbCase",
        )
    existing = repo.open_case_of(session, person_id)
    if existing is not None:
        raise Conflict(f"person {person_id} already has an open TB case {existing.id}")
    rr = data.rr_tb if data.rr_tb is not None else bool(repo.person_is_rr(session, person_id))
    case = TbCase(
        person_id=person_id,
        episode=repo.last_episode(session, person_id) + 1,
        condition_id=condition_id,
        diagnosis_code=data.diagnosis_code,
        notification_date=data.notification_date,
        organization_id=org.id,
        province_region_id=place.province_region_id,
        province=place.province,
        city=place.city,
        rr_tb=rr,
        regimen=data.regimen,
        supervision=data.supervision,
        phase=rules.phase_on(today(), start + timedelta(days=data.intensive_days - 1)),
        start_date=start,
        intensive_end=start + timedelta(days=data.intensive_days - 1),
        planned_end=start + timedelta(days=data.total_days - 1),
        created_by=principal.subject if principal else "exchange",
    )
    try:
        with _savepoint(session):
            session.add(case)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"person {person_id} already has a TB case being registered") from exc
    security.grant_relationship(
        session,
        person_id=person_id,
        organization_id=org.id,
        kind="treating",
        source=f"tb-case:{case.id}",
        principal=principal,
    )
    _event(session, case, "notified", principal, organization=org.name, rr_tb=rr)
    _audit(session, principal, "tb_case_create", case, organization_id=org.id)
    return case


def _case(session: Session, case_id: str) -> TbCase:
    case = session.get(TbCase, case_id)
    if case is None:
        raise NotFound(f"no TB case {case_id}")
    return case


def get_case(session: Session, principal: Principal, case_id: str) -> TbCase:
    """Read a case through the tenant and access decisions (audited, 403 when refused)."""
    case = _case(session, case_id)
    authorize_case(session, principal, case, "read")
    return case


def _writable(session: Session, principal: Principal, case_id: str) -> TbCase:
    case = _case(session, case_id)
    authorize_case(session, principal, case, "write")
    if case.status == "closed":
        raise Conflict(f"TB case {case.id} is closed ({case.outcome}); nothing more is recorded")
    return case


def worklist_scope(session: Session, principal: Principal) -> dict[str, Any]:
    """Which cases a principal's worklist shows: its organisation's, or its tenant's (CDC)."""
    if principal.role not in (Role.admin, Role.system, Role.cdc, Role.doctor, Role.specialist):
        raise Forbidden("the TB worklist is for CDC and care teams")
    tenant = access.require_tenant(session, principal)
    if principal.role in (Role.doctor, Role.specialist, Role.system) and principal.organization_id:
        return {"organization_ids": [principal.organization_id]}
    return {} if tenant.region_wide else {"province_region_id": tenant.province_region_id}


def list_cases(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[dict[str, Any]]:
    scope = worklist_scope(session, principal)
    rows = repo.cases(session, status=status, limit=limit, offset=offset, **scope)
    audit.record(
        session,
        principal,
        action="tb_worklist",
        resource_type="TbCase",
        outcome="success",
        detail={"count": len(rows)},
    )
    return summaries(session, rows)


def summaries(session: Session, cases: Sequence[TbCase], on: date | None = None) -> list[dict]:
    """Worklist lines: adherence to date, next visit due, overdue visits, pending reminders."""
    on = on or today()
    ids = [c.id for c in cases]
    doses: dict[str, list[TbDose]] = defaultdict(list)
    for d in repo.doses_of(session, ids):
        doses[d.case_id].append(d)
    visits: dict[str, list[TbVisit]] = defaultdict(list)
    for v in repo.visits_of(session, ids):
        visits[v.case_id].append(v)
    pending = repo.pending_counts(session, ids)
    orgs = registry.organizations_by_ids(session, {c.organization_id for c in cases})
    policy = _policy()
    out = []
    for c in cases:
        end = min(on - timedelta(days=0), c.outcome_date or c.planned_end, c.planned_end)
        due = rules.doses_due(c.start_date, end)
        taken = sum(1 for d in doses[c.id] if d.status in rules.TAKEN)
        missed = sum(1 for d in doses[c.id] if d.status == "missed")
        dues = rules.visit_schedule(
            c.notification_date, c.intensive_end, c.planned_end, c.supervision, policy
        )
        slots = rules.match_visits(
            dues, [v.visit_date for v in visits[c.id] if v.found], c.notification_date
        )
        org = orgs.get(c.organization_id)
        out.append(
            {
                "case": c,
                "organization_name": org.name if org else c.organization_id,
                "phase": "continuation"
                if c.phase == "continuation" or on > c.intensive_end
                else "intensive",
                "doses_due": due,
                "doses_taken": taken,
                "doses_missed": missed,
                "adherence": rules.adherence(taken, due),
                "regular": rules.is_regular(taken, due, policy),
                "next_visit": rules.next_due(slots, on) if c.status != "closed" else None,
                "overdue_visits": len(rules.overdue(slots, on)) if c.status != "closed" else 0,
                "visits_done": sum(1 for s in slots if s.done),
                "pending_reminders": pending.get(c.id, 0),
            }
        )
    return out


def case_detail(session: Session, principal: Principal, case_id: str) -> dict[str, Any]:
    """A case's worklist line and its one timeline, whichever provinces wrote it."""
    case = get_case(session, principal, case_id)
    (line,) = summaries(session, [case])
    doses = list(repo.doses_of(session, [case.id]))
    visits = list(repo.visits_of(session, [case.id]))
    transfers = list(repo.transfers_of(session, case.id))
    timeline = list(repo.events_of(session, case.id))
    org_ids = (
        {d.organization_id for d in doses if d.organization_id}
        | {v.organization_id for v in visits}
        | {e.organization_id for e in timeline if e.organization_id}
        | {t.from_organization_id for t in transfers}
        | {t.to_organization_id for t in transfers}
    )
    found = registry.organizations_by_ids(session, org_ids)
    places = security.places_of(session, found.values())
    return {
        **line,
        "doses": doses,
        "visits": visits,
        "reminders": list(
            repo.reminders(session, organization_ids=None, case_id=case.id, limit=500)
        ),
        "transfers": transfers,
        "timeline": timeline,
        # Who wrote each entry and in which province, for the one timeline across provinces.
        "organizations": {
            org_id: {"name": org.name, "province": places[org_id].province}
            for org_id, org in found.items()
        },
    }


# ------------------------------------------------------------------ doses and reminders


def _remind(
    session: Session,
    case: TbCase,
    *,
    kind: str,
    recipient: str,
    due: date,
    message: str,
) -> TbReminder:
    """Create the reminder once (unique per case × day × kind × recipient)."""
    found = repo.reminder(session, case.id, due, kind, recipient)
    if found is not None:
        if found.status == "cancelled":
            found.status = "pending"
        return found
    row = TbReminder(
        case_id=case.id,
        person_id=case.person_id,
        organization_id=case.organization_id,
        kind=kind,
        recipient=recipient,
        due_date=due,
        message=message,
    )
    try:
        with _savepoint(session):
            session.add(row)
            session.flush()
    except IntegrityError:
        again = repo.reminder(session, case.id, due, kind, recipient)
        assert again is not None
        return again
    return row


def record_dose(
    session: Session, principal: Principal, case_id: str, data: DoseCreate
) -> tuple[TbDose, bool]:
    """Record one day's dose; a missed dose raises reminders. Returns (dose, created)."""
    case = _writable(session, principal, case_id)
    if data.day > today():
        raise Unprocessable(f"dose day {data.day} is in the future", field="day")
    if data.day < case.start_date:
        raise Unprocessable(
            f"dose day {data.day} is before the treatment start {case.start_date}", field="day"
        )
    dose = repo.dose_on(session, case.id, data.day)
    created = dose is None
    if dose is None:
        dose = TbDose(case_id=case.id, day=data.day, status=data.status)
        try:
            with _savepoint(session):
                dose.method = data.method
                dose.observed_by = data.observed_by
                dose.organization_id = principal.organization_id
                dose.recorded_by = principal.subject
                session.add(dose)
                session.flush()
        except IntegrityError:
            raced = repo.dose_on(session, case.id, data.day)
            assert raced is not None
            dose, created = raced, False
    if not created:
        if dose.status == data.status:
            return dose, False
        for r in repo.reminders(session, organization_ids=None, case_id=case.id, limit=1000):
            if r.due_date == dose.day and r.kind == "missed_dose" and r.status == "pending":
                r.status = "cancelled"
        dose.status = data.status
        dose.method = data.method
        dose.observed_by = data.observed_by
        dose.recorded_by = principal.subject
        dose.recorded_at = utcnow()
    if data.status == "missed":
        for recipient, text in (
            ("patient", f"您 {data.day:%m月%d日} 的抗结核药未按时服用，请尽快联系社区医生。"),
            ("doctor", f"患者 {data.day:%m月%d日} 漏服抗结核药，请督导并随访。"),
        ):
            _remind(
                session, case, kind="missed_dose", recipient=recipient, due=data.day, message=text
            )
        missed = sum(1 for d in repo.doses_of(session, [case.id]) if d.status == "missed")
        if rules.missed_total_reaches_week(missed, _policy()):
            _remind(
                session,
                case,
                kind="missed_week",
                recipient="cdc",
                due=data.day,
                message=f"累计漏服 {missed} 次（≥1 周），请报告上级专业机构。",
            )
    _event(
        session,
        case,
        "dose" if created else "dose_corrected",
        principal,
        day=data.day,
        status=data.status,
        method=data.method,
    )
    _audit(session, principal, "tb_dose_record", case, day=data.day.isoformat(), status=data.status)
    return dose, created


def list_doses(session: Session, principal: Principal, case_id: str) -> list[TbDose]:
    case = get_case(session, principal, case_id)
    return list(repo.doses_of(session, [case.id]))


def _reminder_scope(session: Session, principal: Principal) -> list[str] | None:
    """The organisations whose reminders a caller handles (None: the whole region)."""
    if principal.role not in (Role.admin, Role.system, Role.cdc, Role.doctor, Role.specialist):
        raise Forbidden("reminders are for care teams, CDC and gateways")
    tenant = access.require_tenant(session, principal)
    if principal.role in (Role.doctor, Role.specialist, Role.system) and principal.organization_id:
        return [principal.organization_id]
    if tenant.region_wide:
        return None
    return sorted(registry.within_region_organization_ids(session, tenant.province_region_id or ""))


def sweep_for(session: Session, principal: Principal) -> int:
    """Sweep the caller's tenant (a province's CDC its province; the platform all)."""
    tenant = access.require_tenant(session, principal)
    return sweep_visit_reminders(
        session, province_region_id=None if tenant.region_wide else tenant.province_region_id
    )


def list_reminders(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    limit: int = 100,
    offset: int = 0,
) -> list[TbReminder]:
    orgs = _reminder_scope(session, principal)
    return list(
        repo.reminders(session, organization_ids=orgs, status=status, limit=limit, offset=offset)
    )


def ack_reminder(session: Session, principal: Principal, reminder_id: str) -> TbReminder:
    row = session.get(TbReminder, reminder_id)
    orgs = _reminder_scope(session, principal)
    if row is None or (orgs is not None and row.organization_id not in orgs):
        raise NotFound(f"no reminder {reminder_id}")
    if row.status == "pending":
        row.status = "acked"
        row.acked_at = utcnow()
        row.acked_by = principal.subject
    return row


def sweep_visit_reminders(
    session: Session, on: date | None = None, *, province_region_id: str | None = None
) -> int:
    """Raise a reminder to the community doctor for every overdue visit of an open case.

    ``province_region_id`` limits the sweep to one province's tenant (None: the region).
    """
    on = on or today()
    cases = repo.cases(session, status=None, limit=1_000_000, province_region_id=province_region_id)
    open_ = [c for c in cases if c.status != "closed"]
    lines = summaries(session, open_, on)
    made = 0
    visits: dict[str, list[date]] = defaultdict(list)
    for v in repo.visits_of(session, [c.id for c in open_]):
        if v.found:
            visits[v.case_id].append(v.visit_date)
    policy = _policy()
    for line in lines:
        c: TbCase = line["case"]
        dues = rules.visit_schedule(
            c.notification_date, c.intensive_end, c.planned_end, c.supervision, policy
        )
        slots = rules.match_visits(dues, visits[c.id], c.notification_date)
        for due in rules.overdue(slots, on):
            before = repo.reminder(session, c.id, due, "visit_overdue", "doctor")
            if before is None:
                made += 1
            _remind(
                session,
                c,
                kind="visit_overdue",
                recipient="doctor",
                due=due,
                message=f"应于 {due:%m月%d日} 前完成的结核患者随访尚未记录。",
            )
    return made


# ------------------------------------------------------------------ visits, phase, outcome


def record_visit(
    session: Session, principal: Principal, case_id: str, data: VisitCreate
) -> TbVisit:
    case = _writable(session, principal, case_id)
    if data.visit_date > today():
        raise Unprocessable(f"visit date {data.visit_date} is in the future", field="visit_date")
    if data.visit_date < case.notification_date:
        raise Unprocessable("visit date is before the notification", field="visit_date")
    visit = TbVisit(
        case_id=case.id,
        visit_date=data.visit_date,
        kind=data.kind,
        found=data.found,
        organization_id=principal.organization_id or case.organization_id,
        practitioner=data.practitioner or principal.name,
        findings=data.findings,
        recorded_by=principal.subject,
    )
    session.add(visit)
    session.flush()
    if data.found:
        # A visit answers the overdue reminders it covers.
        for r in repo.reminders(session, organization_ids=None, case_id=case.id, status="pending"):
            if r.kind == "visit_overdue" and r.due_date <= data.visit_date:
                r.status = "done"
    _event(session, case, "visit", principal, visit_date=data.visit_date, visit_kind=data.kind)
    _audit(session, principal, "tb_visit_record", case, visit_date=data.visit_date.isoformat())
    return visit


def set_phase(session: Session, principal: Principal, case_id: str, phase: str) -> TbCase:
    case = _writable(session, principal, case_id)
    if phase not in rules.PHASES:
        raise Unprocessable(f"phase must be one of {', '.join(rules.PHASES)}", field="phase")
    if case.phase != phase:
        case.phase = phase
        if phase == "continuation" and case.intensive_end > today():
            case.intensive_end = today()
        _event(session, case, "phase", principal, phase=phase)
        _audit(session, principal, "tb_phase", case, phase=phase)
    return case


def record_outcome(
    session: Session, principal: Principal, case_id: str, data: OutcomeCreate
) -> TbCase:
    """Record the WHO outcome; this closes the case and its pending reminders."""
    try:
        outcome = rules.Outcome(data.outcome)
    except ValueError as exc:
        allowed = ", ".join(o.value for o in rules.Outcome)
        raise Unprocessable(
            f"outcome {data.outcome!r} is not a WHO definition; one of: {allowed}", field="outcome"
        ) from exc
    case = _writable(session, principal, case_id)
    if data.outcome_date > today():
        raise Unprocessable("outcome_date is in the future", field="outcome_date")
    if data.outcome_date < case.start_date:
        raise Unprocessable("outcome_date is before the treatment start", field="outcome_date")
    if repo.pending_transfer(session, case.id) is not None:
        raise Conflict("the case has a pending transfer; acknowledge or cancel it first")
    case.outcome = outcome.value
    case.outcome_date = data.outcome_date
    case.status = "closed"
    for r in repo.reminders(session, organization_ids=None, case_id=case.id, status="pending"):
        r.status = "cancelled"
    _event(session, case, "outcome", principal, outcome=outcome.value, date=data.outcome_date)
    _audit(session, principal, "tb_outcome", case, outcome=outcome.value)
    return case


# ------------------------------------------------------------------ transfers


def request_transfer(
    session: Session, principal: Principal, case_id: str, data: TransferCreate
) -> TbTransfer:
    """转出: the managing organisation hands the case over; pending until acknowledged.

    The receiving organisation gets a referral relationship while the transfer is
    pending, so that it (and its province) can read the case it is asked to take over.
    """
    case = _writable(session, principal, case_id)
    to = _org(session, data.to_organization_id, "to_organization_id")
    if to.id == case.organization_id:
        raise Unprocessable("the case is already managed there", field="to_organization_id")
    if repo.pending_transfer(session, case.id) is not None:
        raise Conflict("the case already has a pending transfer")
    to_place = security.place_of(session, to)
    row = TbTransfer(
        case_id=case.id,
        from_organization_id=case.organization_id,
        to_organization_id=to.id,
        from_province=case.province,
        to_province=to_place.province,
        reason=data.reason,
        requested_by=principal.subject,
    )
    session.add(row)
    case.status = "transferring"
    session.flush()
    security.grant_relationship(
        session,
        person_id=case.person_id,
        organization_id=to.id,
        kind="referral",
        source=f"tb-transfer:{row.id}",
        principal=principal,
    )
    _event(session, case, "transfer_out", principal, to=to.name, to_province=to_place.province)
    _audit(session, principal, "tb_transfer_out", case, to_organization_id=to.id)
    return row


def _receiving_side(session: Session, principal: Principal, row: TbTransfer, case: TbCase) -> None:
    """The receiving organisation (or its province's CDC) answers a transfer; audited."""
    to_place = security.places_by_ids(session, [row.to_organization_id]).get(row.to_organization_id)
    problem = tenancy.case_writer_problem(
        principal.role, principal.organization_id, row.to_organization_id
    )
    tenancy.authorize(
        session,
        principal,
        owner_province_id=to_place.province_region_id if to_place else None,
        owner_province=row.to_province,
        action="write",
        resource_type="TbTransfer",
        resource_id=row.id,
        person_id=case.person_id,
        role_problem="only the receiving organisation or its province's CDC answers a transfer"
        if problem
        else None,
    )


def _transfer(session: Session, transfer_id: str) -> tuple[TbTransfer, TbCase]:
    row = session.get(TbTransfer, transfer_id)
    if row is None:
        raise NotFound(f"no transfer {transfer_id}")
    return row, _case(session, row.case_id)


def acknowledge_transfer(session: Session, principal: Principal, transfer_id: str) -> TbTransfer:
    """转入: the receiving side acknowledges; the case moves tenant, keeps its id and timeline."""
    row, case = _transfer(session, transfer_id)
    _receiving_side(session, principal, row, case)
    if row.status != "pending":
        raise Conflict(f"the transfer is already {row.status}")
    to = registry.get_organization(session, row.to_organization_id)
    place = security.place_of(session, to)
    row.status = "accepted"
    row.acknowledged_at = utcnow()
    row.acknowledged_by = principal.subject
    case.organization_id = to.id
    case.province_region_id = place.province_region_id
    case.province = place.province
    case.city = place.city
    case.status = "active"
    for r in repo.reminders(session, organization_ids=None, case_id=case.id, status="pending"):
        r.organization_id = to.id
    source = f"tb-case:{case.id}"
    security.end_relationship(
        session,
        person_id=case.person_id,
        organization_id=row.to_organization_id,
        kind="referral",
        source=f"tb-transfer:{row.id}",
        principal=principal,
    )
    security.grant_relationship(
        session,
        person_id=case.person_id,
        organization_id=to.id,
        kind="treating",
        source=source,
        principal=principal,
    )
    # The sending organisation no longer treats the person for this case.
    security.end_relationship(
        session,
        person_id=case.person_id,
        organization_id=row.from_organization_id,
        kind="treating",
        source=source,
        principal=principal,
    )
    _event(session, case, "transfer_in", principal, organization=to.name, province=place.province)
    _audit(
        session, principal, "tb_transfer_in", case, from_organization_id=row.from_organization_id
    )
    return row


def cancel_transfer(session: Session, principal: Principal, transfer_id: str) -> TbTransfer:
    """Withdraw (sending side) or decline (receiving side) a pending transfer."""
    row, case = _transfer(session, transfer_id)
    tenant = access.tenant_of(session, principal)
    sending = (
        tenant is not None
        and tenant.covers(case.province_region_id)
        and tenancy.case_writer_problem(
            principal.role, principal.organization_id, case.organization_id
        )
        is None
    )
    if sending:
        authorize_case(session, principal, case, "write")
    else:
        _receiving_side(session, principal, row, case)
    side = "sender" if sending else "receiver"
    if row.status != "pending":
        raise Conflict(f"the transfer is already {row.status}")
    row.status = "cancelled"
    case.status = "active"
    security.end_relationship(
        session,
        person_id=case.person_id,
        organization_id=row.to_organization_id,
        kind="referral",
        source=f"tb-transfer:{row.id}",
        principal=principal,
    )
    _event(session, case, "transfer_cancelled", principal, by=side)
    _audit(session, principal, "tb_transfer_cancel", case, by=side)
    return row


def list_transfers(
    session: Session, principal: Principal, *, status: str | None
) -> list[TbTransfer]:
    """Transfers in and out of the caller's organisation (a CDC: its province's)."""
    tenant = access.require_tenant(session, principal)
    if principal.role in (Role.doctor, Role.specialist, Role.system) and principal.organization_id:
        orgs: list[str] | None = [principal.organization_id]
    elif principal.role in (Role.cdc, Role.admin, Role.system):
        orgs = (
            None
            if tenant.region_wide
            else sorted(
                registry.within_region_organization_ids(session, tenant.province_region_id or "")
            )
        )
    else:
        raise Forbidden("transfers are for care teams, CDC and gateways")
    rows = list(repo.transfers(session, organization_ids=orgs, status=status))
    audit.record(
        session,
        principal,
        action="tb_transfer_list",
        resource_type="TbTransfer",
        outcome="success",
        detail={"count": len(rows), "status": status},
    )
    return rows


def transfer_lines(session: Session, rows: Sequence[TbTransfer]) -> list[dict[str, Any]]:
    """Transfers with the organisations' names, for pages."""
    orgs = registry.organizations_by_ids(
        session, {r.from_organization_id for r in rows} | {r.to_organization_id for r in rows}
    )

    def name(org_id: str) -> str:
        org = orgs.get(org_id)
        return org.name if org else org_id

    return [
        {
            "transfer": r,
            "from_name": name(r.from_organization_id),
            "to_name": name(r.to_organization_id),
        }
        for r in rows
    ]


# ------------------------------------------------------------------ indicators


def _months(start: date, end: date) -> Iterator[tuple[str, date, date]]:
    d = start.replace(day=1)
    while d <= end:
        nxt = (d + timedelta(days=32)).replace(day=1)
        yield f"{d:%Y-%m}", max(d, start), min(nxt - timedelta(days=1), end)
        d = nxt


def _new_row() -> dict[str, Any]:
    return {
        "cases": 0,
        "rr_tb": 0,
        "doses_due": 0,
        "doses_taken": 0,
        "visits_due": 0,
        "visits_done": 0,
        "transferred_in": 0,
        "transferred_out": 0,
        "outcomes": defaultdict(int),
    }


def indicators(
    session: Session, principal: Principal, *, by: str = "province", on: date | None = None
) -> dict[str, Any]:
    """Adherence, visit completion, outcome rates and RR-TB share by province, city or month.

    Aggregates only (no person appears), shared with the whole region: open to every
    signed-in role but the insurer. Across a transfer a case stays in the cohort of the
    province that registered it (cases, RR-TB, outcomes); each day's doses and visits
    count for the province managing the case that day (``care_rules.custody``).
    """
    if principal.role == Role.insurer:
        raise Forbidden("TB indicators are not available to insurers")
    if by not in ("province", "city", "month"):
        raise Unprocessable("by must be province, city or month", field="by")
    on = on or today()
    cases = list(repo.cases(session, limit=10_000_000))
    ids = [c.id for c in cases]
    handovers: dict[str, list[tuple[date, str]]] = defaultdict(list)
    first_org: dict[str, str] = {}
    moves: list[tuple[TbTransfer, date]] = []
    for t in repo.accepted_transfers(session, ids):
        if t.acknowledged_at is None:
            continue
        day = t.acknowledged_at.date()
        handovers[t.case_id].append((day, t.to_organization_id))
        first_org.setdefault(t.case_id, t.from_organization_id)
        moves.append((t, day))
    periods = {
        c.id: rules.custody(first_org.get(c.id, c.organization_id), handovers[c.id]) for c in cases
    }
    org_ids = {p.organization_id for ps in periods.values() for p in ps}
    places = security.places_by_ids(session, org_ids)
    case_of = {c.id: c for c in cases}

    def key(org_id: str, c: TbCase, month: str) -> str:
        if by == "month":
            return month
        place = places.get(org_id) or Place(c.province_region_id, c.province, c.city)
        return place.province if by == "province" else place.city

    acc: dict[str, dict[str, Any]] = defaultdict(_new_row)
    for d in repo.doses_of(session, ids):
        c = case_of[d.case_id]
        end = min(on, c.planned_end, c.outcome_date or c.planned_end)
        if d.status in rules.TAKEN and c.start_date <= d.day <= end:
            org = rules.custodian_on(periods[c.id], d.day)
            acc[key(org, c, f"{d.day:%Y-%m}")]["doses_taken"] += 1
    visits: dict[str, list[date]] = defaultdict(list)
    for v in repo.visits_of(session, ids):
        if v.found:
            visits[v.case_id].append(v.visit_date)
    policy = _policy()
    for c in cases:
        registered = periods[c.id][0].organization_id
        a = acc[key(registered, c, f"{c.notification_date:%Y-%m}")]
        a["cases"] += 1
        a["rr_tb"] += int(c.rr_tb)
        if c.outcome and c.outcome_date:
            acc[key(registered, c, f"{c.outcome_date:%Y-%m}")]["outcomes"][c.outcome] += 1
        end = min(on, c.planned_end, c.outcome_date or c.planned_end)
        for org, lo, hi in rules.split_by_custody(periods[c.id], c.start_date, end):
            for month, m_lo, m_hi in _months(lo, hi):
                acc[key(org, c, month)]["doses_due"] += rules.doses_due(m_lo, m_hi)
        dues = rules.visit_schedule(
            c.notification_date, c.intensive_end, c.planned_end, c.supervision, policy
        )
        for slot in rules.match_visits(dues, visits[c.id], c.notification_date):
            if slot.due >= on or (c.outcome_date and slot.due > c.outcome_date):
                continue
            org = rules.custodian_on(periods[c.id], slot.due)
            b = acc[key(org, c, f"{slot.due:%Y-%m}")]
            b["visits_due"] += 1
            b["visits_done"] += int(slot.done)
    for t, day in moves:
        c = case_of[t.case_id]
        acc[key(t.from_organization_id, c, f"{day:%Y-%m}")]["transferred_out"] += 1
        acc[key(t.to_organization_id, c, f"{day:%Y-%m}")]["transferred_in"] += 1
    rows = []
    for name in sorted(acc):
        a = acc[name]
        closed = sum(a["outcomes"].values())
        success = sum(a["outcomes"].get(o.value, 0) for o in rules.SUCCESS)
        rows.append(
            {
                "key": name,
                "cases": a["cases"],
                "rr_tb": a["rr_tb"],
                "rr_share": round(a["rr_tb"] / a["cases"], 4) if a["cases"] else None,
                "doses_due": a["doses_due"],
                "doses_taken": a["doses_taken"],
                "adherence": rules.adherence(a["doses_taken"], a["doses_due"]),
                "visits_due": a["visits_due"],
                "visits_done": a["visits_done"],
                "visit_completion": rules.adherence(a["visits_done"], a["visits_due"]),
                "transferred_in": a["transferred_in"],
                "transferred_out": a["transferred_out"],
                "outcomes": dict(a["outcomes"]),
                "closed": closed,
                "success_rate": round(success / closed, 4) if closed else None,
            }
        )
    return {"by": by, "as_of": on.isoformat(), "rows": rows}
