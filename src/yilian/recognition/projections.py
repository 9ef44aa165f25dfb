"""Projectors of the recognition domain: index recognisable results as they arrive.

A lab Observation, an imaging DiagnosticReport or an ImagingStudy whose code maps to
a catalogue item becomes one row per item of ``recognition_results``, so that the
check before ordering is a lookup. Each projector is one small indexed write.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yilian.db import new_id
from yilian.recognition import indexing
from yilian.recognition import repository as repo
from yilian.recognition.service import code_map
from yilian.records import projectors
from yilian.records.projectors import StoredResource


def index_result(session: Session, stored: StoredResource) -> None:
    """(Re)index one stored result under every catalogue item its codes map to."""
    resource = stored.resource
    if stored.resource_type == "DiagnosticReport":
        ids = indexing.result_ids(resource)
        if ids:
            repo.link_report(session, ids, stored.id, indexing.hr_marked(resource))
    kept: tuple[str | None, bool] = (None, False)
    if not stored.created:
        # A re-sent Observation keeps the report that listed it (the report is not re-sent).
        kept = repo.report_link_of(session, stored.resource_type, stored.id)
        repo.delete_results_of(session, stored.resource_type, stored.id)
    if not indexing.indexable(resource):
        return
    mapping = code_map(session)
    items = sorted({mapping[c] for c in indexing.codings(resource) if c in mapping})
    if not items:
        return
    patient = indexing.patient_id(resource)
    when = indexing.effective(resource)
    if patient is None or when is None:
        return
    value, unit = indexing.value_of(resource)
    is_report = stored.resource_type == "DiagnosticReport"
    repo.insert_results(
        session,
        [
            {
                "id": new_id(),
                "patient_id": patient,
                "person_id": stored.person_id,
                "item_code": item,
                "resource_type": stored.resource_type,
                "resource_id": stored.id,
                "report_id": stored.id if is_report else kept[0],
                "source_org_id": stored.source_org_id,
                "effective": when,
                "value": value,
                "unit": (unit or None) and str(unit)[:40],
                "hr_marked": indexing.hr_marked(resource) or kept[1],
                "indexed_at": stored.last_updated,
            }
            for item in items
        ],
    )


for _type in ("Observation", "DiagnosticReport", "ImagingStudy"):
    projectors.register(_type, index_result)
