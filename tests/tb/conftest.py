"""The WHO catalogue files are read from ../shared/data/tb (never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from yilian.tb.catalogue import Catalogue, CatalogueFiles, read_files
from yilian.tb.config import get_tb_settings

DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tb").resolve()


def vcf(*records: str, header: bool = True) -> str:
    """A one-sample VCF on H37Rv from tab-free records "pos ref alt [gt:ad:dp]"."""
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=NC_000962.3,length=4411532>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tsample",
    ] if header else []  # fmt: skip
    for rec in records:
        parts = rec.split()
        fmt = parts[3] if len(parts) > 3 else "1:0,40:40"
        filt = parts[4] if len(parts) > 4 else "PASS"
        lines.append(
            f"NC_000962.3\t{parts[0]}\t.\t{parts[1]}\t{parts[2]}\t.\t{filt}\t.\tGT:AD:DP\t{fmt}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def catalogue_files() -> CatalogueFiles:
    if not DATA.exists():
        pytest.skip(f"WHO catalogue files not found at {DATA}")
    return read_files([DATA], get_tb_settings().accepted_catalogues)


@pytest.fixture(scope="session")
def catalogue(catalogue_files: CatalogueFiles) -> Catalogue:
    return Catalogue.from_files(catalogue_files)
