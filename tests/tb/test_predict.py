"""Resistance prediction against the WHO catalogue 2023 (WHO-UCN-GTB-PCI-2023.5).

Each case cites the row of the catalogue it relies on: the grades file
tbdb_mutations_6aed5d9_2024-01-30.csv (Gene,Mutation,…,confidence) and the
genomic-coordinates file WHO2023_Genomic_coordinates_7May2024.vcf.gz (POS REF ALT).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.tb.conftest import vcf
from yilian.tb import predict, rules
from yilian.tb.catalogue import Catalogue
from yilian.tb.vcf import VcfError, parse


def _report(cat: Catalogue, text: str) -> dict[str, Any]:
    return predict.predict(cat, calls=parse(text, reference=cat.reference))


def _results(report: dict[str, Any]) -> dict[str, str]:
    return {d["drug"]: d["result"] for d in report["drugs"]}


def test_rpob_s450l_is_rif_resistant(catalogue: Catalogue) -> None:
    """rpoB,p.Ser450Leu,drug_resistance,rifampicin,…,Assoc w R; VCF 761155 C T."""
    r = _report(catalogue, vcf("761155 C T"))
    assert _results(r)["rifampicin"] == "R"
    (ev,) = next(d for d in r["drugs"] if d["drug"] == "rifampicin")["evidence"]
    assert (ev["gene_name"], ev["change"], ev["who_group"]) == ("rpoB", "p.Ser450Leu", 1)
    assert ev["freq"] == 1.0 and ev["depth"] == 40
    assert r["drtype"] == "RR-TB"
    assert r["catalogue"]["version"] == "WHO-UCN-GTB-PCI-2023.5"


def test_katg_s315t_is_inh_resistant(catalogue: Catalogue) -> None:
    """katG,p.Ser315Thr,drug_resistance,isoniazid,…,Assoc w R; VCF 2155168 C G."""
    r = _report(catalogue, vcf("2155168 C G"))
    assert _results(r)["isoniazid"] == "R"
    assert r["drtype"] == "HR-TB"


def test_fabg1_c15_is_inh_and_eto_resistant(catalogue: Catalogue) -> None:
    """inhA,c.-777C>T (comment "Alias fabG1_c.-15C>T"), Assoc w R for isoniazid and
    ethionamide; VCF 1673425 C T. Also given by its fabG1 name."""
    r = _report(catalogue, vcf("1673425 C T"))
    res = _results(r)
    assert res["isoniazid"] == "R" and res["ethionamide"] == "R"
    by_name = predict.predict(
        catalogue, variants=predict.variants_from_names(catalogue, ["fabG1_c.-15C>T"])
    )
    assert _results(by_name)["isoniazid"] == "R" and _results(by_name)["ethionamide"] == "R"


def test_katg_frameshift_is_inh_resistant_by_lof_rule(catalogue: Catalogue) -> None:
    """katG,frameshift_variant,drug_resistance,isoniazid,LoF,Assoc w R (the LoF expert rule):
    a 1-bp deletion in katG (not itself listed) is left-aligned, annotated and graded."""
    ref = catalogue.reference[2155500] + catalogue.reference[2155501]
    r = _report(catalogue, vcf(f"2155500 {ref} {ref[0]}"))
    assert _results(r)["isoniazid"] == "R"
    (v,) = r["dr_variants"]
    assert v["gene_name"] == "katG" and v["type"] == "frameshift_variant"
    assert v["drugs"][0]["rule"] == "loss_of_function"


def test_katg_premature_stop_is_lof(catalogue: Catalogue) -> None:
    """katG,stop_gained,…,isoniazid,LoF,Assoc w R: a stop found by translating the codon."""
    from yilian.tb.annotate import CODONS, revcomp

    gene = catalogue.gene_by_name["katG"]  # minus strand: codon n sits at end-3(n-1) downwards
    for n in range(2, 300):
        positions = [gene.end - 3 * (n - 1) - k for k in range(3)]
        codon = "".join(revcomp(catalogue.reference[p]) for p in positions)
        for i, p in enumerate(positions):
            for b in "ACGT":
                mutated = codon[:i] + b + codon[i + 1 :]
                if CODONS[mutated] != "*" or CODONS[codon] == "*":
                    continue
                r = _report(catalogue, vcf(f"{p} {catalogue.reference[p]} {revcomp(b)}"))
                v = next(
                    x for x in r["dr_variants"] + r["other_variants"] if x["gene_name"] == "katG"
                )
                if v["drugs"] and v["drugs"][0]["rule"] is None:
                    continue  # graded in the catalogue itself: not a test of the rule
                assert v["type"] == "stop_gained"
                assert v["drugs"][0]["rule"] == "loss_of_function"
                assert _results(r)["isoniazid"] == "R"
                return
    pytest.fail("no unlisted premature stop found in katG")


def test_group3_variant_is_uncertain(catalogue: Catalogue) -> None:
    """rpoB,p.Ala1002Pro,who_confidence,rifampicin,…,Uncertain significance; VCF 762810 G C."""
    r = _report(catalogue, vcf("762810 G C"))
    assert _results(r)["rifampicin"] == "uncertain"
    assert r["drtype"] == "not determined"


def test_synonymous_variant_is_sensitive(catalogue: Catalogue) -> None:
    """katG,c.609C>T,who_confidence,isoniazid,c.609C>T,Not assoc w R (Group 5), a
    synonymous change (p.Ala203=); VCF 2155503 G A (katG is on the minus strand)."""
    r = _report(catalogue, vcf("2155503 G A"))
    assert _results(r)["isoniazid"] == "S"
    (v,) = r["other_variants"]
    assert v["type"] == "synonymous_variant" and v["drugs"][0]["who_group"] == 5
    assert v["protein_change"].endswith("=")
    assert r["drtype"] == "sensitive"


def test_por5a_agrees_with_tb_profiler(catalogue: Catalogue) -> None:
    """TB-Profiler's example sample por5A is MDR-TB with rpoB p.Ser450Leu, inhA c.-777C>T,
    pncA p.Val125Gly and embB p.Met306Val (TB-Profiler documentation, "Example output";
    Phelan et al., Genome Med 2019). Its files cannot be downloaded here, so the sample is
    built from those four published variants at the catalogue's coordinates."""
    text = vcf("761155 C T", "1673425 C T", "2288868 A C", "4247429 A G")
    r = _report(catalogue, text)
    res = _results(r)
    assert r["drtype"] == "MDR-TB"
    expected_r = {"rifampicin", "isoniazid", "ethionamide", "pyrazinamide", "ethambutol"}
    assert {d for d, x in res.items() if x == "R"} == expected_r
    assert {(v["gene_name"], v["change"]) for v in r["dr_variants"]} == {
        ("rpoB", "p.Ser450Leu"),
        ("inhA", "c.-777C>T"),
        ("pncA", "p.Val125Gly"),
        ("embB", "p.Met306Val"),
    }


def test_low_depth_is_not_determined_never_sensitive(catalogue: Catalogue) -> None:
    """A failed call at rpoB 450 (depth 3) must not read as RIF-sensitive."""
    r = _report(catalogue, vcf("761155 C T 1:0,3:3"))
    assert _results(r)["rifampicin"] == "not_determined"
    assert r["drtype"] == "not determined"
    missing = predict.predict(catalogue, variants=[], missing=[(761100, 761200)])
    assert _results(missing)["rifampicin"] == "not_determined"


def test_heteroresistance_flagged(catalogue: Catalogue) -> None:
    r = _report(catalogue, vcf("761155 C T 0/1:30,20:50"))
    assert _results(r)["rifampicin"] == "R"
    assert r["dr_variants"][0]["heteroresistant"] is True


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (vcf("761155 C T").replace("NC_000962.3\t761155", "chr1\t761155"), "not H37Rv"),
        (vcf("761155 G T"), "does not match H37Rv"),
        (vcf("761155 C T").replace("\tC\tT\t", "\tC\n"), "columns"),
        (vcf("notanumber C T"), "not a number"),
        ("", "no #CHROM header"),
        ("##fileformat=VCFv4.2\n##contig=<ID=NC_000962.3,length=4000>\n", "length"),
    ],
)
def test_bad_vcf_is_a_clear_error(catalogue: Catalogue, text: str, needle: str) -> None:
    with pytest.raises(VcfError, match=needle):
        parse(text, reference=catalogue.reference)


def test_variant_name_errors(catalogue: Catalogue) -> None:
    with pytest.raises(predict.VariantNameError, match="gene_change"):
        predict.variants_from_names(catalogue, ["S450L"])
    with pytest.raises(predict.VariantNameError, match="not in the catalogue"):
        predict.variants_from_names(catalogue, ["xyzA_p.Ser450Leu"])


@pytest.mark.parametrize(
    ("resistant", "expected"),
    [
        (set(), rules.SENSITIVE),
        ({"isoniazid"}, rules.HR_TB),
        ({"rifampicin"}, rules.RR_TB),
        ({"rifampicin", "isoniazid"}, rules.MDR_TB),
        ({"rifampicin", "moxifloxacin"}, rules.PRE_XDR_TB),
        ({"rifampicin", "isoniazid", "levofloxacin", "bedaquiline"}, rules.XDR_TB),
        ({"rifampicin", "levofloxacin", "linezolid"}, rules.XDR_TB),
        ({"rifampicin", "bedaquiline"}, rules.RR_TB),
        ({"ethambutol"}, rules.OTHER),
    ],
)
def test_resistance_type_who_2021(resistant: set[str], expected: str) -> None:
    """WHO 2021 definitions: pre-XDR = MDR/RR + any FQ; XDR = pre-XDR + BDQ or LZD."""
    drugs = ["rifampicin", "isoniazid", "levofloxacin", "moxifloxacin", "bedaquiline",
             "linezolid", "ethambutol"]  # fmt: skip
    assert rules.resistance_type({d: "R" if d in resistant else "S" for d in drugs}) == expected


@pytest.mark.parametrize(
    ("name", "pos", "ref", "alt", "drug", "change"),
    [
        # rpoB,p.Ser450Leu,…,rifampicin,…,Assoc w R; coordinates VCF 761155 C T.
        ("rpoB_c.1349C>T", 761155, "C", "T", "rifampicin", "p.Ser450Leu"),
        # katG (minus strand) p.Ser315Thr, isoniazid Assoc w R; VCF 2155168 C G.
        ("katG_c.944G>C", 2155168, "C", "G", "isoniazid", "p.Ser315Thr"),
        # rrs,n.1401A>G,…,amikacin,…,Assoc w R; VCF 1473246 A G.
        ("rrs_n.1401A>G", 1473246, "A", "G", "amikacin", "n.1401A>G"),
        # inhA,c.-777C>T (Alias fabG1_c.-15C>T), isoniazid Assoc w R; VCF 1673425 C T.
        ("fabG1_c.-15C>T", 1673425, "C", "T", "isoniazid", "c.-777C>T"),
    ],
)
def test_nucleotide_names_are_placed_on_h37rv(
    catalogue: Catalogue, name: str, pos: int, ref: str, alt: str, drug: str, change: str
) -> None:
    """A c./n. substitution is placed through the gene table and graded like a VCF call;
    the report agrees with the one from the VCF record at the same coordinates."""
    (v,) = predict.variants_from_names(catalogue, [name])
    assert (v["pos"], v["ref"], v["alt"], v["change"]) == (pos, ref, alt, change)
    by_name = predict.predict(catalogue, variants=[v])
    by_vcf = _report(catalogue, vcf(f"{pos} {ref} {alt}"))
    assert _results(by_name)[drug] == "R" == _results(by_vcf)[drug]
    assert by_name["drtype"] == by_vcf["drtype"]


def test_protein_names_have_no_position_and_a_wrong_ref_is_refused(catalogue: Catalogue) -> None:
    (v,) = predict.variants_from_names(catalogue, ["rpoB_p.Ser450Leu"])
    assert v["pos"] is None and v["drugs"][0]["drug"] == "rifampicin"
    with pytest.raises(predict.VariantNameError, match="H37Rv has C at 761155, not G"):
        predict.variants_from_names(catalogue, ["rpoB_c.1349G>T"])
    with pytest.raises(predict.VariantNameError, match="not on H37Rv"):
        predict.variants_from_names(catalogue, ["dnaA_c.-5000A>G"])
