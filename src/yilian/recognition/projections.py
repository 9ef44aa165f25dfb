"""Projectors of the recognition domain: index recognisable results as they arrive.

A lab Observation, an imaging DiagnosticReport or an ImagingStudy whose code maps to
a catalogue item becomes one row per item of ``recognition_results``, so that the
check before ordering is a lookup. A write's results are indexed together: the
resources are replayed in order in memory (a later version supersedes an earlier
one, a report links the Observations indexed before it), then the index changes in
a few set-wise statements: one lookup, one delete, one update, one insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from yilian.db import new_id
from yilian.recognition import indexing
from yilian.recognition import repository as repo
from yilian.recognition.repository import Link
from yilian.recognition.service import code_map
from yilian.records import projectors
from yilian.records.projectors import StoredResource

INDEXED_TYPES = ("Observation", "DiagnosticReport", "ImagingStudy")
_UNLINKED: Link = (None, False)


@dataclass
class _Slot:
    """What the index holds for one resource while a batch is replayed."""

    link: Link | None  # the link of the rows it has now; None when it has none
    rows: list[dict[str, Any]] | None = None  # rows to insert; None while the stored ones stand
    drop: bool = False  # its stored rows are deleted


def index_result(session: Session, stored: StoredResource) -> None:
    """(Re)index one stored result under every catalogue item its codes map to."""
    index_results(session, [stored])


def index_results(session: Session, stored: Sequence[StoredResource]) -> None:
    """(Re)index stored results in order, as one by one would, in a few set-wise statements."""
    if not stored:
        return
    slots = _slots(session, stored)
    relinked: dict[str, Link] = {}  # Observation id → link, for rows that stay as stored
    mapping = code_map(session)
    for s in stored:
        if s.resource_type == "DiagnosticReport":
            link = (s.id, indexing.hr_marked(s.resource))
            for observation_id in indexing.result_ids(s.resource):
                _relink(slots, relinked, observation_id, link)
        slot = slots[(s.resource_type, s.id)]
        kept = _UNLINKED
        if not s.created:
            # A re-sent Observation keeps the report that listed it (the report is not re-sent).
            kept = slot.link or _UNLINKED
            slot.drop, slot.rows, slot.link = True, [], None
            if s.resource_type == "Observation":
                relinked.pop(s.id, None)
        rows = _rows(s, mapping, kept)
        if rows:
            slot.rows, slot.link = rows, (rows[0]["report_id"], rows[0]["hr_marked"])
    for resource_type in INDEXED_TYPES:
        dropped = [i for (t, i), slot in slots.items() if t == resource_type and slot.drop]
        repo.delete_results_of(session, resource_type, dropped)
    repo.link_reports(session, relinked)
    repo.insert_results(session, [row for slot in slots.values() for row in slot.rows or ()])


def _slots(session: Session, stored: Sequence[StoredResource]) -> dict[tuple[str, str], _Slot]:
    """A slot per resource of the batch; the stored link of those that are updates."""
    slots: dict[tuple[str, str], _Slot] = {(s.resource_type, s.id): _Slot(None) for s in stored}
    for resource_type in INDEXED_TYPES:
        updated = {s.id for s in stored if s.resource_type == resource_type and not s.created}
        if updated:
            for resource_id, link in repo.links_of(session, resource_type, updated).items():
                slots[(resource_type, resource_id)].link = link
    return slots


def _relink(
    slots: dict[tuple[str, str], _Slot], relinked: dict[str, Link], observation_id: str, link: Link
) -> None:
    """A report points the index rows of an Observation it lists at itself."""
    slot = slots.get(("Observation", observation_id))
    if slot is None:  # not in the batch: its stored rows, if any, are updated
        relinked[observation_id] = link
        return
    if slot.link is None:  # it has no rows (yet): one by one, the update would find none
        return
    slot.link = link
    if slot.rows is None:
        relinked[observation_id] = link
    else:
        for row in slot.rows:
            row["report_id"], row["hr_marked"] = link


def _rows(
    stored: StoredResource, mapping: dict[tuple[str, str], str], kept: Link
) -> list[dict[str, Any]]:
    """The index rows of one stored result (none when it is not recognisable)."""
    resource = stored.resource
    if not indexing.indexable(resource):
        return []
    items = sorted({mapping[c] for c in indexing.codings(resource) if c in mapping})
    if not items:
        return []
    patient = indexing.patient_id(resource)
    when = indexing.effective(resource)
    if patient is None or when is None:
        return []
    value, unit = indexing.value_of(resource)
    is_report = stored.resource_type == "DiagnosticReport"
    return [
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
    ]


for _type in INDEXED_TYPES:
    projectors.register_many(_type, index_results)
