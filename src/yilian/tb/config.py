"""Policy numbers of TB genomic drug-resistance prediction and transmission clusters.

Seed 000 (长三角区域结核病协同防控中心) asks for a regional 结核分枝杆菌全基因组测序数据库及分析平台
on the WHO catalogue of mutations; the thresholds below are the usual ones of that kind
of platform (TB-Profiler's defaults, the WHO catalogue's methods, the 12/5 SNP cluster
cut-offs of Walker et al. 2013), configurable through ``YILIAN_TB_*``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TbSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YILIAN_TB_", extra="ignore")

    # Below this read depth a call is "not determined", never absent (TB-Profiler --min_depth 10).
    min_depth: int = Field(default=10, ge=1)
    # Calls below this allele frequency are ignored (TB-Profiler --min_af 0.1).
    min_af: float = Field(default=0.1, ge=0.0, le=1.0)
    # A resistance call below this frequency is flagged heteroresistant (WHO catalogue
    # 2023 methods: variants at AF >= 0.75 count as present in the grading).
    fixed_af: float = Field(default=0.75, ge=0.0, le=1.0)
    # Transmission cluster threshold and the "recent transmission" one (Walker et al.,
    # Lancet Infect Dis 2013: <= 12 SNPs compatible, <= 5 recent transmission).
    cluster_snps: int = Field(default=12, ge=0)
    recent_snps: int = Field(default=5, ge=0)
    # The SNP-distance mask (``yilian.tb.mask``). Genes whose name (or, in a GFF3, product)
    # matches one of these patterns are masked: the repetitive PE, PPE and PE_PGRS families
    # and IS6110 transposases. They are looked up in the imported catalogue's gene table
    # (gene_locations.csv) and in ``mask_file``, a genome annotation (GFF3 or a gene table
    # in the WHO layout) or a BED of ranges masked whole. ``mask_ranges`` adds "start-end".
    mask_gene_patterns: list[str] = Field(
        default_factory=lambda: [
            r"^PE\d+[A-Za-z]?$",
            r"^PPE\d+[A-Za-z]?$",
            r"^PE_PGRS\d+[A-Za-z]?$",
            r"IS6110",
        ]
    )
    mask_file: Path | None = None
    mask_ranges: list[str] = Field(default_factory=list)
    # The region's coordination centres are a core setting now: YILIAN_REGION_ORGANIZATIONS
    # (yilian.config.Settings.region_organizations; the old YILIAN_TB_ name is still read).
    # Where the demo imports the WHO catalogue from when none is imported yet (a path the
    # user gives; the product ships no WHO data).
    catalogue_dir: Path | None = None
    # Catalogue versions ``yilian tb catalogue import`` accepts (expert-rules CATALOGUE_NAME).
    accepted_catalogues: list[str] = Field(default_factory=lambda: ["WHO-UCN-GTB-PCI-2023.5"])
    # Largest VCF upload accepted (bytes, after decompression).
    max_vcf_bytes: int = Field(default=50_000_000, ge=1)


@lru_cache
def get_tb_settings() -> TbSettings:
    return TbSettings()
