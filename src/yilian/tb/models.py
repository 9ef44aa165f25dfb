"""Tables of the tb domain: the WHO catalogue, sequenced samples, SNP links and cluster alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime, utcnow


class TbCatalogue(IdMixin, Base):
    """One imported version of the WHO catalogue of mutations."""

    __tablename__ = "tb_catalogues"
    __table_args__ = (UniqueConstraint("version", "label"),)

    version: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    genes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    promoters: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TbCatalogueChunk(Base):
    """A block of catalogue rows (coordinates or grades) as JSON.

    Prediction reads the whole catalogue into memory, never single rows by SQL, so the
    rows travel in blocks of a few thousand: an import is ~100 inserts on either
    database instead of 170,000.
    """

    __tablename__ = "tb_catalogue_chunks"
    __table_args__ = (UniqueConstraint("catalogue_id", "kind", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    catalogue_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tb_catalogues.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "coordinates" | "grades"
    seq: Mapped[int] = mapped_column(Integer)
    rows: Mapped[list[Any]] = mapped_column(JSON)


class TbSample(IdMixin, TimestampMixin, Base):
    """A sequenced strain (测序菌株): where and when it was collected, its calls and report."""

    __tablename__ = "tb_samples"
    __table_args__ = (UniqueConstraint("organization_id", "label"),)

    label: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[str] = mapped_column(String(32), index=True)
    province_region_id: Mapped[str | None] = mapped_column(String(32), index=True)
    province: Mapped[str] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(64))
    collection_date: Mapped[date | None] = mapped_column(Date)
    lineage: Mapped[str | None] = mapped_column(String(32))
    person_id: Mapped[str | None] = mapped_column(String(32), index=True)
    catalogue_id: Mapped[str] = mapped_column(String(32), ForeignKey("tb_catalogues.id"))
    catalogue_version: Mapped[str] = mapped_column(String(64))
    drtype: Mapped[str] = mapped_column(String(32), index=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Fixed SNPs as [[pos, alt], …] sorted, and the ranges with no usable call.
    snps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    missing: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Why the sample takes no part in SNP distances ("variant_names": no genome-wide
    # calls; "no_fixed_snps"), or None when it does.
    cluster_exclusion: Mapped[str | None] = mapped_column(String(32))
    diagnostic_report_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(64))


class TbSnpLink(Base):
    """A pair of samples within the widest cluster threshold, with their SNP distance."""

    __tablename__ = "tb_snp_links"
    __table_args__ = (UniqueConstraint("sample_a", "sample_b"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sample_a: Mapped[str] = mapped_column(
        String(32), ForeignKey("tb_samples.id", ondelete="CASCADE"), index=True
    )
    sample_b: Mapped[str] = mapped_column(
        String(32), ForeignKey("tb_samples.id", ondelete="CASCADE"), index=True
    )
    distance: Mapped[int] = mapped_column(Integer)


class TbClusterAlert(IdMixin, Base):
    """An alert to one province's CDC about a transmission cluster crossing provincial borders."""

    __tablename__ = "tb_cluster_alerts"
    __table_args__ = (UniqueConstraint("cluster_key", "province_region_id", "organization_id"),)

    cluster_key: Mapped[str] = mapped_column(String(32), index=True)
    province_region_id: Mapped[str] = mapped_column(String(32))
    province: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[str | None] = mapped_column(String(32), index=True)
    threshold: Mapped[int] = mapped_column(Integer)
    members: Mapped[list[Any]] = mapped_column(JSON, default=list)
    provinces: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
