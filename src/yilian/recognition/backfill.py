"""Backfill the recognition index from results stored before the projector (or a code) existed.

The records domain exposes no bulk reader yet, so this module reads its table
directly, in one place; it should move onto a ``records.service`` iterator when
one exists (see docs/recognition.md).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from yilian.recognition import repository as repo
from yilian.recognition.models import IndexedResult
from yilian.recognition.projections import index_result
from yilian.records.models import FhirResource
from yilian.records.projectors import StoredResource

INDEXED_TYPES = ("Observation", "ImagingStudy", "DiagnosticReport")  # reports last: they link


def reindex(session: Session, *, batch: int = 2000) -> int:
    """Rebuild the index from every stored result; returns the rows indexed."""
    session.execute(delete(IndexedResult))
    for resource_type in INDEXED_TYPES:
        last = ""
        while True:
            rows = list(
                session.scalars(
                    select(FhirResource)
                    .where(FhirResource.resource_type == resource_type, FhirResource.id > last)
                    .order_by(FhirResource.id)
                    .limit(batch)
                )
            )
            if not rows:
                break
            for row in rows:
                index_result(
                    session,
                    StoredResource(
                        resource_type=row.resource_type,
                        id=row.id,
                        version_id=row.version_id,
                        last_updated=row.last_updated,
                        person_id=row.person_id,
                        source_org_id=row.source_org_id,
                        resource=row.resource,
                        created=True,
                    ),
                )
            last = rows[-1].id
            session.expunge_all()
    session.flush()
    return repo.indexed_count(session)


def stored_results_exist(session: Session) -> bool:
    return (
        session.scalar(
            select(FhirResource.id).where(FhirResource.resource_type.in_(INDEXED_TYPES)).limit(1)
        )
        is not None
    )
