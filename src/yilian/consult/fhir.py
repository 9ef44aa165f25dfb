"""The FHIR face of a consultation (DESIGN: workflows emit FHIR on read).

A case is a ``ServiceRequest`` (category consultation), each invitation a ``Task``
based on it (its output the expert's opinion), the session an ``Appointment``, and
the case's own ``Task`` points at the signed conclusion (a ``DocumentReference``
stored in the person's record). Pure functions over the domain's rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yilian.consult.models import ConsultCase, ConsultInvitation, ConsultItem, ConsultOpinion
from yilian.consult.rules import CASE_TYPE_LABELS_ZH, CaseStatus, InvitationStatus

SNOMED = "http://snomed.info/sct"
CONSULTATION = {"system": SNOMED, "code": "11429006", "display": "Consultation"}
PERSON_SYSTEM = "https://yilian.example/fhir/sid/person"
CASE_SYSTEM = "https://yilian.example/fhir/sid/consultation-case"

_REQUEST_STATUS = {
    CaseStatus.draft: "draft",
    CaseStatus.open: "active",
    CaseStatus.scheduled: "active",
    CaseStatus.in_session: "active",
    CaseStatus.concluded: "completed",
    CaseStatus.closed: "completed",
    CaseStatus.cancelled: "revoked",
}
_TASK_STATUS = {
    InvitationStatus.pending: "draft",
    InvitationStatus.sent: "requested",
    InvitationStatus.accepted: "accepted",
    InvitationStatus.declined: "rejected",
}


def _instant(value: datetime) -> str:
    return value.isoformat()


def _org(org_id: str, names: dict[str, str]) -> dict[str, Any]:
    return {"reference": f"Organization/{org_id}", "display": names.get(org_id, "")}


def service_request(
    case: ConsultCase,
    items: list[ConsultItem],
    invitations: list[ConsultInvitation],
    names: dict[str, str],
) -> dict[str, Any]:
    """The case as a ServiceRequest for a consultation."""
    body: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": case.id,
        "identifier": [{"system": CASE_SYSTEM, "value": case.id}],
        "status": _REQUEST_STATUS[case.status],
        "intent": "order",
        "category": [{"coding": [CONSULTATION], "text": "会诊"}],
        "code": {"text": CASE_TYPE_LABELS_ZH[case.case_type]},
        "subject": {"identifier": {"system": PERSON_SYSTEM, "value": case.person_id}},
        "authoredOn": _instant(case.created_at),
        "requester": {"display": case.requester_name},
        "performer": [
            {"display": f"{i.expert_name}（{names.get(i.organization_id, '')}）"}
            for i in invitations
        ],
        "reasonCode": [{"text": q} for q in case.questions or []],
        "supportingInfo": [{"reference": f"{i.resource_type}/{i.resource_id}"} for i in items],
        "note": [{"text": case.title}] + ([{"text": case.summary}] if case.summary else []),
    }
    if case.scheduled_start and case.scheduled_end:
        body["occurrencePeriod"] = {
            "start": _instant(case.scheduled_start),
            "end": _instant(case.scheduled_end),
        }
    if not body["performer"]:
        del body["performer"]
    if not body["supportingInfo"]:
        del body["supportingInfo"]
    return body


def invitation_task(
    case: ConsultCase,
    invitation: ConsultInvitation,
    opinion: ConsultOpinion | None,
    names: dict[str, str],
) -> dict[str, Any]:
    """One invited expert's Task; completed with the opinion as its output."""
    status = "completed" if opinion is not None else _TASK_STATUS[invitation.status]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": invitation.id,
        "status": status,
        "intent": "order",
        "code": {"coding": [CONSULTATION], "text": "专家会诊意见"},
        "basedOn": [{"reference": f"ServiceRequest/{case.id}"}],
        "for": {"identifier": {"system": PERSON_SYSTEM, "value": case.person_id}},
        "authoredOn": _instant(invitation.invited_at),
        "owner": {"display": invitation.expert_name},
        "requester": {"display": case.requester_name},
        "note": [{"text": f"{names.get(invitation.organization_id, '')} {invitation.specialty}"}],
    }
    if opinion is not None:
        task["lastModified"] = _instant(opinion.updated_at)
        task["output"] = [{"type": {"text": "专家意见"}, "valueString": opinion.text}]
    return task


def case_task(case: ConsultCase) -> dict[str, Any] | None:
    """The case's conclusion Task, once signed: its output is the filed DocumentReference."""
    if case.conclusion is None or case.signed_at is None:
        return None
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"{case.id}-conclusion",
        "status": "completed",
        "intent": "order",
        "code": {"coding": [CONSULTATION], "text": "会诊结论"},
        "focus": {"reference": f"ServiceRequest/{case.id}"},
        "for": {"identifier": {"system": PERSON_SYSTEM, "value": case.person_id}},
        "lastModified": _instant(case.signed_at),
        "owner": {"display": case.signed_by_name or ""},
        "output": [{"type": {"text": "会诊结论"}, "valueString": case.conclusion}],
    }
    if case.conclusion_document_id:
        task["output"].append(
            {
                "type": {"text": "归档文书"},
                "valueReference": {"reference": f"DocumentReference/{case.conclusion_document_id}"},
            }
        )
    return task


def appointment(
    case: ConsultCase, invitations: list[ConsultInvitation], names: dict[str, str]
) -> dict[str, Any] | None:
    """The scheduled session as an Appointment."""
    if case.scheduled_start is None or case.scheduled_end is None:
        return None
    status = {
        CaseStatus.cancelled: "cancelled",
        CaseStatus.concluded: "fulfilled",
        CaseStatus.closed: "fulfilled",
        CaseStatus.in_session: "arrived",
    }.get(case.status, "booked")
    mode = "线上会诊" if case.session_mode and case.session_mode.value == "online" else "线下会诊"
    return {
        "resourceType": "Appointment",
        "id": f"{case.id}-session",
        "status": status,
        "serviceCategory": [{"coding": [CONSULTATION]}],
        "description": f"{case.title}（{mode}）{case.location}",
        "start": _instant(case.scheduled_start),
        "end": _instant(case.scheduled_end),
        "basedOn": [{"reference": f"ServiceRequest/{case.id}"}],
        "participant": [
            {"actor": _org(case.requesting_org_id, names), "status": "accepted"},
            *[
                {
                    "actor": {"display": i.expert_name},
                    "status": "declined"
                    if i.status is InvitationStatus.declined
                    else "accepted"
                    if i.status is InvitationStatus.accepted
                    else "needs-action",
                }
                for i in invitations
            ],
        ],
    }


def bundle(
    case: ConsultCase,
    items: list[ConsultItem],
    invitations: list[ConsultInvitation],
    opinions: list[ConsultOpinion],
    names: dict[str, str],
) -> dict[str, Any]:
    """The whole consultation as a FHIR collection Bundle."""
    by_invitation = {o.invitation_id: o for o in opinions}
    resources: list[dict[str, Any]] = [service_request(case, items, invitations, names)]
    resources += [invitation_task(case, i, by_invitation.get(i.id), names) for i in invitations]
    for extra in (appointment(case, invitations, names), case_task(case)):
        if extra is not None:
            resources.append(extra)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
