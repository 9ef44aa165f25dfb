"""Projector: a Condition with ICD-10 A15–A19 arriving through the exchange notifies a case.

Registered at import time; the lead lists this module with the other projector modules.
Idempotent: one case per Condition id (unique), and none while the person has an open case.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from yilian.records import projectors
from yilian.records.projectors import StoredResource
from yilian.tb import care_repository as repo
from yilian.tb import care_rules as rules


def _tb_code(resource: dict[str, Any]) -> str | None:
    for coding in (resource.get("code") or {}).get("coding") or []:
        code = str(coding.get("code") or "")
        system = str(coding.get("system") or "").lower()
        if rules.is_tb_code(code) and ("icd" in system or not system):
            return code
    return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def project_condition(session: Session, stored: StoredResource) -> None:
    code = _tb_code(stored.resource)
    if code is None or not stored.person_id or not stored.source_org_id:
        return
    if repo.case_by_condition(session, stored.id) is not None:
        return
    if repo.open_case_of(session, stored.person_id) is not None:
        return
    from yilian.kit.errors import YilianError
    from yilian.tb import care_service
    from yilian.tb.care_schemas import CaseCreate

    res = stored.resource
    noted = _day(res.get("recordedDate")) or _day(res.get("onsetDateTime")) or care_service.today()
    noted = min(noted, care_service.today())
    try:
        care_service.create_case(
            session,
            None,
            CaseCreate(
                person_id=stored.person_id,
                organization_id=stored.source_org_id,
                notification_date=noted,
                diagnosis_code=code,
            ),
            condition_id=stored.id,
        )
    except YilianError:
        return


projectors.register("Condition", project_condition)
