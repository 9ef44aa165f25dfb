"""Tables of 检验检查结果互认: catalogues, their items and institutions, the result index, checks.

The index (``recognition_results``) is filled by the projector on stored lab
Observations and imaging reports and keyed by the Patient record it is about, so a
merge or an unmerge of persons (which moves Patient records) needs no re-indexing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, IdMixin, TimestampMixin, UtcDateTime, utcnow


class Catalogue(IdMixin, TimestampMixin, Base):
    """A recognition list (互认目录) of a region or a consortium."""

    __tablename__ = "recognition_catalogues"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"), index=True)
    consortium_id: Mapped[str | None] = mapped_column(ForeignKey("consortia.id"), index=True)
    source: Mapped[str | None] = mapped_column(Text)  # policy text it implements
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CatalogueItem(IdMixin, TimestampMixin, Base):
    """A recognised lab item or imaging category with its window, eligibility and price."""

    __tablename__ = "recognition_catalogue_items"
    __table_args__ = (
        UniqueConstraint("catalogue_id", "item_code"),
        Index("ix_recognition_catalogue_items_item", "item_code", "catalogue_id"),
    )

    catalogue_id: Mapped[str] = mapped_column(
        ForeignKey("recognition_catalogues.id", ondelete="CASCADE")
    )
    item_code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # lab | imaging
    item_group: Mapped[str] = mapped_column(String(20))
    validity_days: Mapped[int] = mapped_column(Integer)
    min_level: Mapped[str | None] = mapped_column(String(20))
    requires_qc: Mapped[bool] = mapped_column(Boolean, default=True)
    reference_price: Mapped[float] = mapped_column(Float, default=0.0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CodeMapping(IdMixin, TimestampMixin, Base):
    """A code (LOINC or an institution's local code) that is a catalogue item.

    Added to the built-in LOINC map of the default items; a row wins over it.
    """

    __tablename__ = "recognition_code_map"
    __table_args__ = (UniqueConstraint("system", "code"),)

    system: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(100))
    item_code: Mapped[str] = mapped_column(String(40), index=True)


class Participant(IdMixin, TimestampMixin, Base):
    """An institution whose results the catalogue recognises, with its quality-control status."""

    __tablename__ = "recognition_participants"
    __table_args__ = (
        UniqueConstraint("catalogue_id", "organization_id"),
        Index("ix_recognition_participants_org", "organization_id", "catalogue_id"),
    )

    catalogue_id: Mapped[str] = mapped_column(
        ForeignKey("recognition_catalogues.id", ondelete="CASCADE")
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    qc_status: Mapped[str] = mapped_column(String(20))  # passed | failed | suspended | pending
    note: Mapped[str | None] = mapped_column(String(500))


class IndexedResult(IdMixin, Base):
    """One recognisable result as it arrived: the lookup row of a check."""

    __tablename__ = "recognition_results"
    __table_args__ = (
        UniqueConstraint("resource_type", "resource_id", "item_code"),
        Index("ix_recognition_results_lookup", "patient_id", "item_code", "effective"),
        Index("ix_recognition_results_report", "report_id"),
    )

    patient_id: Mapped[str] = mapped_column(String(64))  # the Patient record (MPI moves these)
    person_id: Mapped[str | None] = mapped_column(String(32), index=True)  # at indexing time
    item_code: Mapped[str] = mapped_column(String(40))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[str | None] = mapped_column(String(64))  # DiagnosticReport id
    source_org_id: Mapped[str | None] = mapped_column(String(32), index=True)
    effective: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[str | None] = mapped_column(String(500))
    unit: Mapped[str | None] = mapped_column(String(40))
    hr_marked: Mapped[bool] = mapped_column(Boolean, default=False)  # carries the “HR” mark
    indexed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Check(IdMixin, Base):
    """One “check before ordering” of a person at a visit (a person-visit, 人次)."""

    __tablename__ = "recognition_checks"
    __table_args__ = (
        Index("ix_recognition_checks_org_month", "organization_id", "month"),
        Index("ix_recognition_checks_month", "month"),
        Index("ix_recognition_checks_region_month", "region_id", "month"),
    )

    person_id: Mapped[str] = mapped_column(String(32), index=True)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id"))
    region_id: Mapped[str | None] = mapped_column(String(32))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM in the region's clock
    checked_by: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    items_recognisable: Mapped[int] = mapped_column(Integer, default=0)


class CheckItem(IdMixin, Base):
    """One item of a check: the verdict, the result it points at, and the clinician's decision."""

    __tablename__ = "recognition_check_items"
    __table_args__ = (UniqueConstraint("check_id", "requested"),)

    check_id: Mapped[str] = mapped_column(ForeignKey("recognition_checks.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    requested: Mapped[str] = mapped_column(String(128))
    item_code: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(100))
    catalogue_id: Mapped[str | None] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(40))
    result_id: Mapped[str | None] = mapped_column(String(32))
    result_org_id: Mapped[str | None] = mapped_column(String(32))
    result_effective: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reference_price: Mapped[float] = mapped_column(Float, default=0.0)
    decision: Mapped[str | None] = mapped_column(String(10))  # reused | reordered
    retest_reason: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(String(500))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
