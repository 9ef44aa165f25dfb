"""Every SELECT (and bulk write) of the recognition domain."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from yilian.db import chunks, insert_rows, update_rows
from yilian.recognition.models import (
    Catalogue,
    CatalogueItem,
    Check,
    CheckItem,
    CodeMapping,
    IndexedResult,
    Participant,
)
from yilian.recognition.rules import REUSE, REUSED

_RESULTS: Table = IndexedResult.__table__  # type: ignore[assignment]

# Bound parameters per statement stay well under SQLite's and PostgreSQL's limits.
CHUNK = 5_000


def code_mappings(session: Session) -> list[CodeMapping]:
    return list(session.scalars(select(CodeMapping)))


def code_mapping(session: Session, system: str, code: str) -> CodeMapping | None:
    return session.scalar(
        select(CodeMapping).where(CodeMapping.system == system, CodeMapping.code == code)
    )


# ------------------------------------------------------------------------ catalogues


def catalogue_by_code(session: Session, code: str) -> Catalogue | None:
    return session.scalar(select(Catalogue).where(Catalogue.code == code))


def catalogues(session: Session) -> list[Catalogue]:
    return list(session.scalars(select(Catalogue).order_by(Catalogue.code)))


def items_of(session: Session, catalogue_id: str) -> list[CatalogueItem]:
    return list(
        session.scalars(
            select(CatalogueItem)
            .where(CatalogueItem.catalogue_id == catalogue_id)
            .order_by(CatalogueItem.kind.desc(), CatalogueItem.item_code)
        )
    )


def item(session: Session, catalogue_id: str, item_code: str) -> CatalogueItem | None:
    return session.scalar(
        select(CatalogueItem).where(
            CatalogueItem.catalogue_id == catalogue_id, CatalogueItem.item_code == item_code
        )
    )


def participants_of(session: Session, catalogue_id: str) -> list[Participant]:
    return list(
        session.scalars(select(Participant).where(Participant.catalogue_id == catalogue_id))
    )


def participant(session: Session, catalogue_id: str, organization_id: str) -> Participant | None:
    return session.scalar(
        select(Participant).where(
            Participant.catalogue_id == catalogue_id,
            Participant.organization_id == organization_id,
        )
    )


def item_counts(session: Session) -> dict[str, tuple[int, int]]:
    """catalogue id → (lab items, imaging categories), active items only."""
    rows = session.execute(
        select(
            CatalogueItem.catalogue_id,
            func.sum(case((CatalogueItem.kind == "lab", 1), else_=0)),
            func.sum(case((CatalogueItem.kind == "imaging", 1), else_=0)),
        )
        .where(CatalogueItem.active.is_(True))
        .group_by(CatalogueItem.catalogue_id)
    )
    return {c: (int(lab or 0), int(img or 0)) for c, lab, img in rows}


def participant_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Participant.catalogue_id, func.count()).group_by(Participant.catalogue_id)
    )
    return {c: int(n) for c, n in rows}


def known_item_codes(session: Session, codes: Iterable[str]) -> set[str]:
    wanted = list(set(codes))
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(CatalogueItem.item_code).where(CatalogueItem.item_code.in_(wanted)).distinct()
        )
    )


def item_code_by_name(session: Session, name: str) -> str | None:
    return session.scalar(
        select(CatalogueItem.item_code).where(CatalogueItem.name == name).limit(1)
    )


# ------------------------------------------------------------------------ the check


def applicable_entries(
    session: Session, item_codes: Sequence[str], organization_id: str | None
) -> list[tuple[CatalogueItem, Catalogue]]:
    """Active entries of the items in active catalogues the ordering institution takes part in."""
    if not item_codes:
        return []
    stmt = (
        select(CatalogueItem, Catalogue)
        .join(Catalogue, Catalogue.id == CatalogueItem.catalogue_id)
        .where(
            CatalogueItem.item_code.in_(list(item_codes)),
            CatalogueItem.active.is_(True),
            Catalogue.active.is_(True),
        )
    )
    if organization_id is not None:
        stmt = stmt.join(
            Participant,
            and_(
                Participant.catalogue_id == Catalogue.id,
                Participant.organization_id == organization_id,
            ),
        )
    return [(i, c) for i, c in session.execute(stmt).tuples()]


def catalogue_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever a catalogue (or anything in it, which touches it) changes."""
    row = session.execute(
        select(func.count(), func.max(Catalogue.updated_at), func.max(Catalogue.id))
    ).one()
    return tuple(row)


def active_items(session: Session, catalogue_ids: Sequence[str]) -> list[CatalogueItem]:
    if not catalogue_ids:
        return []
    return list(
        session.scalars(
            select(CatalogueItem).where(
                CatalogueItem.catalogue_id.in_(list(catalogue_ids)),
                CatalogueItem.active.is_(True),
            )
        )
    )


def participants_in(session: Session, catalogue_ids: Sequence[str]) -> list[Participant]:
    if not catalogue_ids:
        return []
    return list(
        session.scalars(
            select(Participant).where(Participant.catalogue_id.in_(list(catalogue_ids)))
        )
    )


def catalogues_of_org(session: Session, organization_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Participant.catalogue_id)
            .join(Catalogue, Catalogue.id == Participant.catalogue_id)
            .where(Participant.organization_id == organization_id, Catalogue.active.is_(True))
        )
    )


def results_for(
    session: Session, patient_ids: Sequence[str], item_codes: Sequence[str]
) -> list[IndexedResult]:
    """The indexed results of a person's records for some items: one indexed query."""
    if not patient_ids or not item_codes:
        return []
    return list(
        session.scalars(
            select(IndexedResult)
            .where(
                IndexedResult.patient_id.in_(list(patient_ids)),
                IndexedResult.item_code.in_(list(item_codes)),
            )
            .order_by(IndexedResult.effective.desc())
        )
    )


def results_for_patient(session: Session, patient_id: str) -> list[IndexedResult]:
    return list(
        session.scalars(
            select(IndexedResult)
            .where(IndexedResult.patient_id == patient_id)
            .order_by(IndexedResult.effective.desc())
        )
    )


def qc_statuses(
    session: Session, catalogue_ids: Iterable[str], organization_ids: Iterable[str]
) -> dict[tuple[str, str], str]:
    cats, orgs = list(set(catalogue_ids)), list(set(organization_ids))
    if not cats or not orgs:
        return {}
    rows = session.execute(
        select(Participant.catalogue_id, Participant.organization_id, Participant.qc_status).where(
            Participant.catalogue_id.in_(cats), Participant.organization_id.in_(orgs)
        )
    )
    return {(c, o): s for c, o, s in rows}


def result(session: Session, result_id: str) -> IndexedResult | None:
    return session.get(IndexedResult, result_id)


def check_items(session: Session, check_id: str) -> list[CheckItem]:
    return list(
        session.scalars(
            select(CheckItem).where(CheckItem.check_id == check_id).order_by(CheckItem.position)
        )
    )


def record_decision(session: Session, item_id: str, values: dict[str, Any]) -> bool:
    """Set the decision of a check item unless one was recorded meanwhile (race-safe)."""
    done = session.execute(
        update(CheckItem)
        .where(CheckItem.id == item_id, CheckItem.decision.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(done, "rowcount", 0) == 1)


# ------------------------------------------------------------------------ the index


Link = tuple[str | None, bool]  # (report id, carries the “HR” mark) of a result's index rows


def links_of(
    session: Session, resource_type: str, resource_ids: Collection[str]
) -> dict[str, Link]:
    """Resource id → the report link of its index rows, for those that have rows."""
    out: dict[str, Link] = {}
    for part in chunks(sorted(set(resource_ids)), CHUNK):
        rows = session.execute(
            select(
                IndexedResult.resource_id, IndexedResult.report_id, IndexedResult.hr_marked
            ).where(
                IndexedResult.resource_type == resource_type,
                IndexedResult.resource_id.in_(part),
            )
        )
        for resource_id, report_id, hr in rows:
            out.setdefault(resource_id, (report_id, bool(hr)))
    return out


def delete_results_of(session: Session, resource_type: str, resource_ids: Collection[str]) -> None:
    for part in chunks(sorted(set(resource_ids)), CHUNK):
        session.execute(
            delete(IndexedResult)
            .where(
                IndexedResult.resource_type == resource_type, IndexedResult.resource_id.in_(part)
            )
            .execution_options(synchronize_session=False)
        )


def insert_results(session: Session, rows: list[dict[str, Any]]) -> None:
    insert_rows(session, _RESULTS, rows)


def link_reports(session: Session, links: Mapping[str, Link]) -> None:
    """Point indexed lab Observations (by id) at the DiagnosticReport that reports them."""
    rows = [
        {"resource_type": "Observation", "resource_id": o, "report_id": r, "hr_marked": hr}
        for o, (r, hr) in links.items()
    ]
    update_rows(session, _RESULTS, ("resource_type", "resource_id"), rows)


def indexed_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(IndexedResult)) or 0)


# ------------------------------------------------------------------------ statistics


def statistics(
    session: Session,
    key: Any,
    *,
    since: str | None = None,
    until: str | None = None,
    region_ids: Sequence[str] | None = None,
    organization_id: str | None = None,
) -> list[tuple[Any, ...]]:
    """Per group: checks, checks with a recognisable item, checks with a reuse, items checked,
    items recognisable, items reused, money saved."""
    recognisable = func.sum(case((CheckItem.verdict == REUSE, 1), else_=0))
    reused = func.sum(case((CheckItem.decision == REUSED, 1), else_=0))
    saved = func.sum(case((CheckItem.decision == REUSED, CheckItem.reference_price), else_=0.0))
    per_check: Select[Any] = (
        select(
            key.label("k"),
            Check.id.label("check_id"),
            func.count(CheckItem.id).label("n_items"),
            recognisable.label("recognisable"),
            reused.label("reused"),
            saved.label("saved"),
        )
        .select_from(Check)
        .outerjoin(CheckItem, CheckItem.check_id == Check.id)
        .group_by(key, Check.id)
    )
    conditions = []
    if since:
        conditions.append(Check.month >= since)
    if until:
        conditions.append(Check.month <= until)
    if region_ids is not None:
        conditions.append(or_(Check.region_id.in_(list(region_ids))))
    if organization_id:
        conditions.append(Check.organization_id == organization_id)
    if conditions:
        per_check = per_check.where(*conditions)
    sub = per_check.subquery()
    stmt = (
        select(
            sub.c.k,
            func.count(),
            func.sum(case((sub.c.recognisable > 0, 1), else_=0)),
            func.sum(case((sub.c.reused > 0, 1), else_=0)),
            func.sum(sub.c.n_items),
            func.sum(sub.c.recognisable),
            func.sum(sub.c.reused),
            func.sum(sub.c.saved),
        )
        .group_by(sub.c.k)
        .order_by(sub.c.k)
    )
    return [tuple(r) for r in session.execute(stmt)]
