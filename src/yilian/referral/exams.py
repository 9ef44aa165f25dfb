"""医技预约中心: 基层开单 → 中心检查 → 中心诊断, the report back in the person's record.

Community centres order CT/MRI/ultrasound/endoscopy at a consortium centre and book its
capacity through the same slot machinery as expert sessions (:mod:`.slots`); the centre
examines, reports, and the report is stored as a FHIR ``DiagnosticReport`` from the
centre, so it appears in the longitudinal record and the ordering centre's worklist.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import utcnow
from yilian.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from yilian.patients import service as patients
from yilian.records import service as records
from yilian.referral import repository as repo
from yilian.referral import rules, slots
from yilian.referral.config import get_referral_settings
from yilian.referral.models import ExamOrder
from yilian.referral.rules import Channel, ExamStatus, Modality, SlotKind
from yilian.referral.service import CLINICAL_ROLES, _org, _text, active_contract
from yilian.registry import service as registry
from yilian.security import access
from yilian.security import service as security
from yilian.security.principal import Principal, Role

REPORT_SYSTEM = "https://yilian.example/fhir/sid/referral-exam-report"
MODALITY_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"


def _source(order_id: str) -> str:
    return f"exam:{order_id}"


def _audit(session: Session, principal: Principal, order: ExamOrder, action: str) -> None:
    audit.record(
        session,
        principal,
        action=action,
        resource_type="ServiceRequest",
        resource_id=order.id,
        person_id=order.person_id,
        outcome="success",
        detail={"exam_status": order.status.value, "modality": order.modality},
    )


def order_exam(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    centre_organization_id: str,
    modality: Modality | str,
    body_site: str | None = None,
    clinical_info: str | None = None,
    contracted: bool | None = None,
    referral_id: str | None = None,
    now: datetime | None = None,
) -> ExamOrder:
    """基层开单: order an examination at a consortium centre for a person."""
    now = now or utcnow()
    if principal.role not in CLINICAL_ROLES:
        raise Forbidden("only doctors and specialists order examinations")
    if not principal.organization_id:
        raise Forbidden("the ordering doctor must belong to an organization")
    try:
        modality = Modality(modality)
    except ValueError:
        names = ", ".join(m.value for m in Modality)
        raise Unprocessable(f"modality must be one of {names}", field="modality") from None
    if centre_organization_id == principal.organization_id:
        raise Unprocessable(
            "the exam centre is another institution", field="centre_organization_id"
        )
    _org(session, centre_organization_id, "centre_organization_id")
    site = _text(body_site, "body_site")
    if site and len(site) > 100:
        raise Unprocessable("body_site is longer than 100 characters", field="body_site")
    info = _text(clinical_info, "clinical_info")
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
    is_contracted = bool(active_contract(session, person_id)) if contracted is None else contracted
    order = ExamOrder(
        person_id=person_id,
        ordering_organization_id=principal.organization_id,
        centre_organization_id=centre_organization_id,
        modality=modality.value,
        body_site=site,
        clinical_info=info,
        contracted=is_contracted,
        status=ExamStatus.ordered,
        ordered_at=now,
        ordered_by=principal.name,
        referral_id=referral_id,
    )
    session.add(order)
    session.flush([order])
    security.grant_relationship(
        session,
        person_id=person_id,
        organization_id=centre_organization_id,
        kind="referral",
        source=_source(order.id),
        valid_from=now,
        valid_to=now + timedelta(days=get_referral_settings().relationship_days),
        principal=principal,
    )
    _audit(session, principal, order, "create")
    return order


def get_order(session: Session, principal: Principal, order_id: str) -> ExamOrder:
    order = repo.exam_order(session, order_id)
    visible = order is not None and (
        principal.role is Role.admin
        or principal.organization_id
        in (order.ordering_organization_id, order.centre_organization_id)
    )
    if order is None or not visible:
        raise NotFound(f"exam order {order_id} does not exist")
    return order


def _step(order: ExamOrder, action: str) -> None:
    allowed, target = rules.EXAM_TRANSITIONS[action]
    if order.status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise Conflict(f"cannot {action} an exam order that is {order.status.value} (only {names})")
    order.status = target


def _at_centre(principal: Principal, order: ExamOrder, action: str) -> None:
    if principal.role is Role.admin:
        return
    if principal.role not in CLINICAL_ROLES or principal.organization_id != (
        order.centre_organization_id
    ):
        raise Forbidden(f"only the exam centre may {action} this order")


def book_exam(
    session: Session,
    principal: Principal,
    order_id: str,
    *,
    slot_id: str,
    now: datetime | None = None,
) -> ExamOrder:
    """Book the order into a reserved slot of the centre's modality capacity."""
    now = now or utcnow()
    order = get_order(session, principal, order_id)
    if principal.role not in CLINICAL_ROLES and principal.role is not Role.admin:
        raise Forbidden("only doctors and specialists book examinations")
    allowed, _ = rules.EXAM_TRANSITIONS["schedule"]
    if order.status not in allowed:
        raise Conflict(f"cannot book an exam order that is {order.status.value}")
    slot = slots.get(session, slot_id)
    if slot.service != order.modality:
        raise Unprocessable(
            f"slot {slot_id} is a {slot.service} slot, the order is for {order.modality}",
            field="slot_id",
        )
    slot = slots.book(
        session,
        slot_id=slot_id,
        channel=Channel.referral,
        booking_ref=_source(order.id),
        booked_by=principal.name,
        booked_org_id=principal.organization_id,
        person_id=order.person_id,
        kind=SlotKind.exam,
        organization_id=order.centre_organization_id,
        now=now,
    )
    _step(order, "schedule")
    order.slot_id = slot.id
    order.appointment_at = slot.start
    _audit(session, principal, order, "schedule")
    session.flush()
    return order


def examine(
    session: Session, principal: Principal, order_id: str, *, now: datetime | None = None
) -> ExamOrder:
    """中心检查: the centre performed the examination."""
    order = get_order(session, principal, order_id)
    _at_centre(principal, order, "examine")
    _step(order, "examine")
    order.examined_at = now or utcnow()
    _audit(session, principal, order, "examine")
    session.flush()
    return order


def _centre_system(order: ExamOrder) -> Principal:
    """The centre's own system, which files the report like its PACS/RIS would."""
    return Principal(
        subject=f"referral-exam-centre-{order.centre_organization_id}",
        name="医技预约中心",
        role=Role.system,
        organization_id=order.centre_organization_id,
        kind="client",
    )


def report_resource(order: ExamOrder, patient_id: str, when: datetime) -> dict[str, Any]:
    label = rules.MODALITY_LABELS[Modality(order.modality)]
    text = f"{label}检查" + (f"（{order.body_site}）" if order.body_site else "")
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": REPORT_SYSTEM, "value": order.id}],
        "status": "final",
        "category": [{"coding": [{"system": V2_0074, "code": "RAD"}], "text": "影像"}],
        "code": {
            "coding": [{"system": MODALITY_SYSTEM, "code": order.modality, "display": label}],
            "text": text,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": (order.examined_at or when).isoformat(),
        "issued": when.isoformat(),
        "performer": [{"reference": f"Organization/{order.centre_organization_id}"}],
        "conclusion": order.conclusion,
    }
    if order.findings:
        resource["presentedForm"] = [
            {
                "contentType": "text/plain; charset=utf-8",
                "title": "检查所见",
                "data": base64.b64encode(order.findings.encode("utf-8")).decode("ascii"),
            }
        ]
    return resource


def report(
    session: Session,
    principal: Principal,
    order_id: str,
    *,
    conclusion: str,
    findings: str | None = None,
    now: datetime | None = None,
) -> ExamOrder:
    """中心诊断: file the report; it flows back to the ordering centre and the person's record."""
    now = now or utcnow()
    order = get_order(session, principal, order_id)
    _at_centre(principal, order, "report")
    concl = _text(conclusion, "conclusion", required=True)
    found = _text(findings, "findings")
    _step(order, "report")
    order.conclusion = concl
    order.findings = found
    order.reported_at = now
    record_ids = patients.record_ids_of(session, order.person_id)
    if not record_ids:
        raise NotFound(f"no person {order.person_id} with a Patient record")
    out = records.create(
        session,
        _centre_system(order),
        "DiagnosticReport",
        report_resource(order, record_ids[0], now),
    )
    order.report_resource_id = out.id
    _audit(session, principal, order, "report")
    session.flush()
    return order


def cancel_exam(
    session: Session, principal: Principal, order_id: str, *, now: datetime | None = None
) -> ExamOrder:
    """Withdraw an exam order not yet performed; its slot goes back to the reserve."""
    order = get_order(session, principal, order_id)
    if principal.role is not Role.admin and principal.organization_id != (
        order.ordering_organization_id
    ):
        raise Forbidden("only the ordering organization may cancel the exam order")
    _step(order, "cancel")
    if order.slot_id:
        slots.release(session, slot_id=order.slot_id, booking_ref=_source(order.id))
        order.slot_id = None
    security.end_relationship(
        session,
        person_id=order.person_id,
        organization_id=order.centre_organization_id,
        kind="referral",
        source=_source(order.id),
        at=now or utcnow(),
        principal=principal,
    )
    _audit(session, principal, order, "cancel")
    session.flush()
    return order


@dataclass(frozen=True)
class ExamView:
    id: str
    person_id: str
    ordering_organization_id: str
    ordering_organization_name: str
    centre_organization_id: str
    centre_organization_name: str
    modality: str
    modality_label: str
    body_site: str | None
    clinical_info: str | None
    contracted: bool
    status: ExamStatus
    status_label: str
    ordered_at: datetime
    ordered_by: str
    appointment_at: datetime | None
    slot_id: str | None
    conclusion: str | None
    report_resource_id: str | None
    record_url: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def exam_worklist(
    session: Session,
    principal: Principal,
    *,
    side: str = "ordering",
    organization_id: str | None = None,
) -> list[ExamView]:
    """Orders the caller's organisation placed (``ordering``) or must perform (``centre``)."""
    if side not in ("ordering", "centre"):
        raise Unprocessable("side must be 'ordering' or 'centre'", field="side")
    org = organization_id if principal.role is Role.admin else principal.organization_id
    if principal.role not in CLINICAL_ROLES and principal.role is not Role.admin:
        raise Forbidden("exam worklists are for doctors and specialists")
    if not org:
        raise Unprocessable("give organization_id", field="organization_id")
    rows = repo.exam_orders(
        session,
        centre_organization_id=org if side == "centre" else None,
        ordering_organization_id=org if side == "ordering" else None,
    )
    return views(session, list(rows))


def views(session: Session, rows: list[ExamOrder]) -> list[ExamView]:
    ids = {r.ordering_organization_id for r in rows} | {r.centre_organization_id for r in rows}
    names = {o.id: o.name for o in registry.organizations_by_ids(session, ids).values()}
    return [
        ExamView(
            id=r.id,
            person_id=r.person_id,
            ordering_organization_id=r.ordering_organization_id,
            ordering_organization_name=names.get(r.ordering_organization_id, ""),
            centre_organization_id=r.centre_organization_id,
            centre_organization_name=names.get(r.centre_organization_id, ""),
            modality=r.modality,
            modality_label=rules.MODALITY_LABELS[Modality(r.modality)],
            body_site=r.body_site,
            clinical_info=r.clinical_info,
            contracted=r.contracted,
            status=r.status,
            status_label=rules.EXAM_STATUS_LABELS[r.status],
            ordered_at=r.ordered_at,
            ordered_by=r.ordered_by,
            appointment_at=r.appointment_at,
            slot_id=r.slot_id,
            conclusion=r.conclusion,
            report_resource_id=r.report_resource_id,
            record_url=f"/ui/persons/{r.person_id}",
        )
        for r in rows
    ]
