"""Annotate a call on H37Rv to its gene and HGVS change (nucleotide and protein).

Without a full reference FASTA offline, the reference bases come from the REF alleles
of the WHO genomic-coordinates file (they cover the catalogue genes almost entirely,
katG, pncA, ethA, gid and Rv0678 completely), which is enough to translate codons
and so to find the premature stops and lost starts of the loss-of-function rule.
Where a base is unknown the protein change is left out rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from yilian.tb.catalogue import Catalogue, Gene

_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
_AA3 = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu",
    "G": "Gly", "H": "His", "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe",
    "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val", "*": "*",
}  # fmt: skip
_BASES = "TCAG"
_AMINO = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
CODONS = {
    a + b + c: _AMINO[16 * i + 4 * j + k]
    for i, a in enumerate(_BASES)
    for j, b in enumerate(_BASES)
    for k, c in enumerate(_BASES)
}
RNA_GENES = frozenset({"rrs", "rrl"})


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


@dataclass(frozen=True)
class Effect:
    """What one call does to one gene."""

    gene: str
    type: str  # missense_variant, synonymous_variant, stop_gained, start_lost,
    # frameshift_variant, inframe_deletion, inframe_insertion, upstream_gene_variant,
    # non_coding_transcript_exon_variant, feature_ablation, coding_variant
    nucleotide_change: str
    protein_change: str | None = None
    lof: str | None = None  # the LoF effect the expert rule knows, if any

    @property
    def names(self) -> list[str]:
        out = []
        if self.protein_change:
            out.append(f"{self.gene}_{self.protein_change}")
        out.append(f"{self.gene}_{self.nucleotide_change}")
        return out


def _cpos(gene: Gene, pos: int) -> int:
    return pos - gene.start + 1 if gene.strand == 1 else gene.end - pos + 1


def _upstream(gene: Gene, pos: int) -> int | None:
    d = gene.start - pos if gene.strand == 1 else pos - gene.end
    return d if d > 0 else None


def _in_promoter(cat: Catalogue, gene: Gene, distance: int) -> bool:
    return any(lo <= distance <= hi for lo, hi in cat.promoters.get(gene.name, ()))


def _codon(gene: Gene, index: int, ref: Mapping[int, str]) -> tuple[list[int], str | None]:
    """Genomic positions (in codon order) and reference codon of codon ``index`` (0-based)."""
    if gene.strand == 1:
        positions = [gene.start + 3 * index + k for k in range(3)]
    else:
        positions = [gene.end - 3 * index - k for k in range(3)]
    bases = [ref.get(p) for p in positions]
    if any(b is None for b in bases):
        return positions, None
    seq = "".join(b for b in bases if b)
    return positions, seq if gene.strand == 1 else seq.translate(_COMPLEMENT)


def _snp_effect(cat: Catalogue, gene: Gene, pos: int, ref: str, alt: str) -> Effect:
    cpos = _cpos(gene, pos)
    r, a = (
        (ref, alt) if gene.strand == 1 else (ref.translate(_COMPLEMENT), alt.translate(_COMPLEMENT))
    )
    if gene.name in RNA_GENES:
        return Effect(gene.name, "non_coding_transcript_exon_variant", f"n.{cpos}{r}>{a}")
    nuc = f"c.{cpos}{r}>{a}"
    index = (cpos - 1) // 3
    positions, codon = _codon(gene, index, cat.reference)
    if codon is None:
        return Effect(gene.name, "coding_variant", nuc)
    offset = positions.index(pos)
    alt_codon = codon[:offset] + a + codon[offset + 1 :]
    ref_aa, alt_aa = CODONS.get(codon, "X"), CODONS.get(alt_codon, "X")
    n = index + 1
    if index == 0 and alt_aa != "M":
        return Effect(gene.name, "start_lost", nuc, f"p.{_AA3.get(ref_aa, 'Xaa')}1?", "start_lost")
    if ref_aa == alt_aa:
        return Effect(gene.name, "synonymous_variant", nuc, f"p.{_AA3.get(ref_aa, 'Xaa')}{n}=")
    three = f"{_AA3.get(ref_aa, 'Xaa')}{n}{_AA3.get(alt_aa, 'Xaa')}"
    if alt_aa == "*":
        return Effect(gene.name, "stop_gained", nuc, f"p.{three}", "stop_gained")
    return Effect(gene.name, "missense_variant", nuc, f"p.{three}")


def _indel_effect(cat: Catalogue, gene: Gene, pos: int, ref: str, alt: str) -> Effect:
    """A trimmed indel (one anchor base) overlapping the gene's coding sequence."""
    if len(ref) > len(alt):
        first, last = pos + 1, pos + len(ref) - 1
        seq = ref[1:]
        if gene.strand == 1:
            a, b = _cpos(gene, first), _cpos(gene, last)
        else:
            a, b, seq = _cpos(gene, last), _cpos(gene, first), revcomp(seq)
        nuc = f"c.{a}del{seq}" if a == b else f"c.{a}_{b}del{seq}"
        length = len(ref) - len(alt)
        kind = "deletion"
    else:
        seq = alt[1:]
        if gene.strand == 1:
            a = _cpos(gene, pos)
        else:
            a, seq = _cpos(gene, pos + 1), revcomp(seq)
        nuc = f"c.{a}_{a + 1}ins{seq}"
        length = len(alt) - len(ref)
        kind = "insertion"
    prefix = "n" if gene.name in RNA_GENES else "c"
    nuc = prefix + nuc[1:]
    if gene.name in RNA_GENES:
        return Effect(gene.name, "non_coding_transcript_exon_variant", nuc)
    first_c = max(1, min(a, a if kind == "insertion" else b))
    index = (first_c - 1) // 3
    _, codon = _codon(gene, index, cat.reference)
    aa = f"{_AA3.get(CODONS.get(codon, 'X'), 'Xaa')}{index + 1}" if codon else None
    if length % 3:
        return Effect(
            gene.name, "frameshift_variant", nuc, f"p.{aa}fs" if aa else None, "frameshift_variant"
        )
    if index == 0 and kind == "deletion":
        return Effect(gene.name, "start_lost", nuc, None, "start_lost")
    return Effect(gene.name, f"inframe_{kind}", nuc)


def _promoter_name(gene: Gene, pos: int, ref: str, alt: str) -> str:
    """Upstream change in WHO/HGVS form, e.g. ``c.-15C>T``."""
    if len(ref) == len(alt) == 1:
        d = _upstream(gene, pos) or 0
        rb, ab = (
            (ref, alt)
            if gene.strand == 1
            else (ref.translate(_COMPLEMENT), alt.translate(_COMPLEMENT))
        )
        return f"c.-{d}{rb}>{ab}"
    if len(ref) > len(alt):
        first, last, seq = pos + 1, pos + len(ref) - 1, ref[1:]
        if gene.strand == 1:
            a, b = gene.start - first, gene.start - last
        else:
            a, b, seq = last - gene.end, first - gene.end, revcomp(seq)
        return f"c.-{a}del{seq}" if a == b else f"c.-{a}_-{b}del{seq}"
    seq = alt[1:]
    if gene.strand == 1:
        a = gene.start - pos
        return f"c.-{a}_-{a - 1}ins{seq}"
    a = pos + 1 - gene.end
    return f"c.-{a}_-{a - 1}ins{revcomp(seq)}"


def _genes_near(cat: Catalogue, start: int, end: int) -> Sequence[Gene]:
    # ~65 genes: a scan is cheaper than an interval tree at this size.
    margin = 2000
    return [g for g in cat.genes if g.start - margin <= end and start <= g.end + margin]


def annotate(cat: Catalogue, pos: int, ref: str, alt: str, end: int | None = None) -> list[Effect]:
    """The effects of one normalised call on every catalogue gene it touches."""
    span_end = end if end is not None else pos + max(len(ref), 1) - 1
    out: list[Effect] = []
    for gene in _genes_near(cat, pos, span_end):
        if end is not None or (len(ref) > len(alt) and len(ref) > 50):
            # A large (or symbolic) deletion: whole-gene or partial loss of the feature.
            first = pos if end is not None else pos + 1
            if first <= gene.start and span_end >= gene.end:
                out.append(
                    Effect(gene.name, "feature_ablation", f"{gene.name}_deletion", None, "deletion")
                )
                continue
            if first <= gene.end and span_end >= gene.start:
                length = span_end - first + 1
                lof = "frameshift_variant" if length % 3 else "feature_ablation"
                lo, hi = _cpos(gene, max(first, gene.start)), _cpos(gene, min(span_end, gene.end))
                nuc = f"c.{min(lo, hi)}_{max(lo, hi)}del"
                out.append(Effect(gene.name, "partial_deletion", nuc, None, lof))
                continue
        changed_start = pos if len(ref) == len(alt) else pos + 1
        if (changed_start <= gene.end and span_end >= gene.start) or (
            len(alt) > len(ref) and gene.start <= pos < gene.end
        ):
            if len(ref) == len(alt) == 1:
                out.append(_snp_effect(cat, gene, pos, ref, alt))
            elif len(ref) != len(alt):
                out.append(_indel_effect(cat, gene, pos, ref, alt))
            continue
        d = _upstream(gene, pos if gene.strand == 1 else span_end)
        if d is not None and _in_promoter(cat, gene, d) and len(ref) >= 1:
            if len(ref) == len(alt) and len(ref) > 1:
                continue  # an MNP is decomposed by the caller
            out.append(
                Effect(gene.name, "upstream_gene_variant", _promoter_name(gene, pos, ref, alt))
            )
    return out
