"""The SNP-distance mask: computed from gene tables, overridable by configuration.

PE_PGRS33 is Rv1818c, NC_000962.3:2061179–2062674 (1-based; the H37Rv RefSeq
annotation, as listed in the PE/PPE BED of Fishbein et al., Mol Microbiol 2015, that
tb_variant_filter ships as bedfiles/pe_ppe.bed: "NC_000962.3 2061178 2062674 Rv1818c").
The WHO gene table (../shared/data/tb/gene_locations.csv) names PPE35, 2167649–2170612.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tb.conftest import DATA
from yilian.kit.errors import YilianError
from yilian.tb import mask, service
from yilian.tb.catalogue import Catalogue, read_genes
from yilian.tb.clusters import Strain, distance
from yilian.tb.config import TbSettings

PE_PGRS33 = (2061179, 2062674)
INSIDE = 2061500  # a base of PE_PGRS33
OUTSIDE = 2100000  # ndh and beyond: not repetitive
GFF = (
    "##gff-version 3\n"
    "##sequence-region NC_000962.3 1 4411532\n"
    "NC_000962.3\tRefSeq\tgene\t2061179\t2062674\t.\t-\t.\t"
    "ID=gene-Rv1818c;Name=PE_PGRS33;gene_biotype=protein_coding;locus_tag=Rv1818c\n"
    "NC_000962.3\tRefSeq\tCDS\t2061179\t2062674\t.\t-\t0\t"
    "ID=cds-Rv1818c;Parent=gene-Rv1818c;product=PE-PGRS family protein PE_PGRS33\n"
    "NC_000962.3\tRefSeq\tgene\t759807\t763325\t.\t+\t.\tID=gene-Rv0667;Name=rpoB\n"
)


def _strains() -> tuple[Strain, Strain]:
    a = Strain("a", {3000000: "A"})
    b = Strain("b", {3000000: "A", INSIDE: "G", OUTSIDE: "T"})
    return a, b


@pytest.fixture
def cat(catalogue: Catalogue) -> Catalogue:
    return catalogue


def test_default_mask_is_computed_from_the_who_gene_table(cat: Catalogue) -> None:
    m = service.mask_of(cat, TbSettings())
    ppe35 = cat.gene_by_name["PPE35"]
    assert (ppe35.start, ppe35.end) in m.ranges
    assert 2168000 in m and 761155 not in m  # PPE35 masked, rpoB not
    # Of the table's 65 genes only PPE35 is of a repetitive family (pepQ, Rv…c are not).
    names = [g.name for g in read_genes(DATA / "gene_locations.csv")]
    patterns = mask.compile_patterns(TbSettings().mask_gene_patterns)
    assert [n for n in names if any(p.search(n) for p in patterns)] == ["PPE35"]
    # Configuration overrides the computed default.
    assert service.mask_of(cat, TbSettings(mask_gene_patterns=[])).ranges == []


def test_a_snp_inside_a_pe_pgrs_gene_does_not_count(cat: Catalogue, tmp_path: Path) -> None:
    gff = tmp_path / "h37rv.gff3"
    gff.write_text(GFF)
    a, b = _strains()
    without = service.mask_of(cat, TbSettings())
    assert distance(a, b, without) == 2  # the WHO table alone does not name PE_PGRS33
    with_file = service.mask_of(cat, TbSettings(mask_file=gff))
    assert PE_PGRS33 in with_file.ranges and (759807, 763325) not in with_file.ranges
    assert distance(a, b, with_file) == 1  # only the SNP outside counts


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("genes.csv", "gene name,start,end,strand\nPE_PGRS33,2061179,2062674,-1\n"),
        ("pe_ppe.bed", "NC_000962.3\t2061178\t2062674\tRv1818c\n"),
    ],
)
def test_gene_tables_and_beds_are_read_too(
    cat: Catalogue, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    a, b = _strains()
    assert distance(a, b, service.mask_of(cat, TbSettings(mask_file=path))) == 1


def test_family_patterns_pick_names_and_products() -> None:
    features = [
        mask.Feature(10, 20, ("PE5",)),
        mask.Feature(30, 40, ("katG",)),
        mask.Feature(50, 60, ("Rv2814c", "IS6110 transposase")),
        mask.Feature(70, 80, ("Rv0001",), whole=True),  # a BED range: masked as it is
    ]
    patterns = mask.compile_patterns(TbSettings().mask_gene_patterns)
    assert mask.family_ranges(features, patterns) == [(10, 20), (50, 60), (70, 80)]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("gene,start\nx,1\n", "not a GFF3"),
        ("NC_000962.3\tabc\t20\n", "line 1: start/end are not numbers"),
        ("chr1\t1\t20\n", "not a GFF3"),
        ("NC_000962.3\t10\t5000000\n", "not a range on H37Rv"),
        ("##gff-version 3\nNC_000962.3\tx\tgene\t1\n", "line 2: 4 columns"),
    ],
)
def test_a_bad_mask_file_is_a_clear_error(
    cat: Catalogue, tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "mask.txt"
    path.write_text(text)
    with pytest.raises(mask.MaskFileError, match=needle):
        mask.read_mask_file(path)
    with pytest.raises(YilianError, match="misconfigured") as err:
        service.mask_of(cat, TbSettings(mask_file=path))
    assert err.value.status_code == 500
    with pytest.raises(YilianError, match="not start-end"):
        service.mask_of(cat, TbSettings(mask_ranges=["10-x"]))
    with pytest.raises(YilianError, match=r"(?i)no such file"):
        service.mask_of(cat, TbSettings(mask_file=tmp_path / "missing.gff3"))
