"""Backfill the recognition index from results stored before the projector (or a code) existed."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from yilian.recognition import repository as repo
from yilian.recognition.models import IndexedResult
from yilian.recognition.projections import index_results
from yilian.records import service as records
from yilian.records.projectors import StoredResource

INDEXED_TYPES = ("Observation", "ImagingStudy", "DiagnosticReport")  # reports last: they link


def reindex(session: Session, *, batch: int = 2000) -> int:
    """Rebuild the index from every stored result; returns the rows indexed."""
    session.execute(delete(IndexedResult))
    for resource_type in INDEXED_TYPES:
        page: list[StoredResource] = []
        for stored in records.iter_stored(session, resource_type, batch=batch):
            page.append(stored)
            if len(page) == batch:
                index_results(session, page)
                page = []
                session.flush()
                session.expunge_all()
        index_results(session, page)
    session.flush()
    return repo.indexed_count(session)


def stored_results_exist(session: Session) -> bool:
    return records.any_stored(session, INDEXED_TYPES)
