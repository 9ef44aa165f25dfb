"""Pydantic shapes of the tb API."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Text = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
VariantName = Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[^\s\x00-\x1f\x7f]+$")]


class SampleCreate(BaseModel):
    """A sequenced strain: metadata plus its calls, as VCF text or as variant names."""

    model_config = ConfigDict(extra="forbid")

    label: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    organization_id: Annotated[str | None, Field(max_length=32)] = None
    province: Text | None = None  # 行政区划代码 or name; else the institution's province
    city: Text | None = None
    collection_date: date | None = None
    lineage: Annotated[str | None, Field(max_length=32)] = None
    person_id: Annotated[str | None, Field(max_length=32)] = None
    vcf: str | None = None
    variants: Annotated[list[VariantName] | None, Field(max_length=5000)] = None
    missing_ranges: Annotated[list[tuple[int, int]], Field(max_length=10000)] = []

    @model_validator(mode="after")
    def _one_input(self) -> SampleCreate:
        if (self.vcf is None) == (self.variants is None):
            raise ValueError("give exactly one of vcf (VCF text) or variants (a list of names)")
        if self.variants is not None and not self.variants:
            raise ValueError("variants must not be empty; send a VCF for a sample without variants")
        for start, end in self.missing_ranges:
            if not 1 <= start <= end:
                raise ValueError(f"missing range {start}-{end} is not a range on H37Rv")
        return self


class SampleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    label: str
    organization_id: str
    province: str
    city: str | None
    collection_date: date | None
    lineage: str | None
    person_id: str | None
    catalogue_version: str
    drtype: str
    diagnostic_report_id: str | None


class CatalogueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    version: str
    label: str
    active: bool
    counts: dict[str, int]


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    cluster_key: str
    province: str
    province_region_id: str
    organization_id: str | None
    threshold: int
    members: list[str]
    provinces: list[str]
    status: str
