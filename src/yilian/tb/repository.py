"""Every query of the tb domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from yilian.tb.models import (
    TbCatalogue,
    TbCatalogueChunk,
    TbClusterAlert,
    TbSample,
    TbSnpLink,
)

_BATCH = 20


def catalogue_by_version(session: Session, version: str, label: str) -> TbCatalogue | None:
    return session.scalars(
        select(TbCatalogue).where(TbCatalogue.version == version, TbCatalogue.label == label)
    ).first()


def active_catalogue(session: Session) -> TbCatalogue | None:
    return session.scalars(
        select(TbCatalogue)
        .where(TbCatalogue.active.is_(True))
        .order_by(TbCatalogue.imported_at.desc())
    ).first()


def deactivate_catalogues(session: Session) -> None:
    session.execute(update(TbCatalogue).values(active=False))


def bulk_insert(session: Session, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _BATCH):
        session.execute(insert(table), list(rows[i : i + _BATCH]))


def chunk_rows(session: Session, catalogue_id: str, kind: str) -> Iterable[list[Any]]:
    q = (
        select(TbCatalogueChunk.rows)
        .where(TbCatalogueChunk.catalogue_id == catalogue_id, TbCatalogueChunk.kind == kind)
        .order_by(TbCatalogueChunk.seq)
    )
    for rows in session.scalars(q):
        yield from rows


def sample_by_label(session: Session, organization_id: str, label: str) -> TbSample | None:
    return session.scalars(
        select(TbSample).where(TbSample.organization_id == organization_id, TbSample.label == label)
    ).first()


def list_samples(
    session: Session,
    *,
    organization_id: str | None,
    province_region_id: str | None = None,
    limit: int,
    offset: int,
) -> list[TbSample]:
    q = select(TbSample).order_by(TbSample.created_at.desc(), TbSample.id)
    if organization_id is not None:
        q = q.where(TbSample.organization_id == organization_id)
    if province_region_id is not None:
        q = q.where(TbSample.province_region_id == province_region_id)
    return list(session.scalars(q.limit(limit).offset(offset)))


def excluded_samples(
    session: Session, *, province_region_id: str | None, limit: int = 500
) -> list[TbSample]:
    """Samples that take no part in SNP distances (and why), newest first."""
    q = select(TbSample).where(TbSample.cluster_exclusion.is_not(None))
    if province_region_id is not None:
        q = q.where(TbSample.province_region_id == province_region_id)
    q = q.order_by(TbSample.created_at.desc(), TbSample.id).limit(limit)
    return list(session.scalars(q))


def strain_rows(session: Session) -> list[Any]:
    """(id, snps, missing) of every sample that takes part in SNP distances."""
    q = select(TbSample.id, TbSample.snps, TbSample.missing).where(
        TbSample.cluster_exclusion.is_(None)
    )
    return list(session.execute(q))


def samples_by_ids(session: Session, ids: Iterable[str]) -> list[TbSample]:
    ids = list(ids)
    if not ids:
        return []
    return list(session.scalars(select(TbSample).where(TbSample.id.in_(ids))))


def all_samples(session: Session) -> list[TbSample]:
    return list(session.scalars(select(TbSample).order_by(TbSample.created_at, TbSample.id)))


def links(session: Session, threshold: int) -> list[tuple[str, str, int]]:
    rows = session.execute(
        select(TbSnpLink.sample_a, TbSnpLink.sample_b, TbSnpLink.distance).where(
            TbSnpLink.distance <= threshold
        )
    )
    return [(a, b, d) for a, b, d in rows]


def links_of(session: Session, sample_id: str) -> list[tuple[str, str, int]]:
    rows = session.execute(
        select(TbSnpLink.sample_a, TbSnpLink.sample_b, TbSnpLink.distance).where(
            or_(TbSnpLink.sample_a == sample_id, TbSnpLink.sample_b == sample_id)
        )
    )
    return [(a, b, d) for a, b, d in rows]


def alert_exists(
    session: Session, cluster_key: str, province_region_id: str, organization_id: str | None
) -> bool:
    q = select(TbClusterAlert.id).where(
        TbClusterAlert.cluster_key == cluster_key,
        TbClusterAlert.province_region_id == province_region_id,
    )
    q = q.where(
        TbClusterAlert.organization_id.is_(None)
        if organization_id is None
        else TbClusterAlert.organization_id == organization_id
    )
    return session.scalars(q).first() is not None


def alerts(
    session: Session, *, organization_id: str | None, status: str | None, limit: int, offset: int
) -> list[TbClusterAlert]:
    q = select(TbClusterAlert).order_by(TbClusterAlert.created_at.desc(), TbClusterAlert.id)
    if organization_id is not None:
        q = q.where(TbClusterAlert.organization_id == organization_id)
    if status is not None:
        q = q.where(TbClusterAlert.status == status)
    return list(session.scalars(q.limit(limit).offset(offset)))
