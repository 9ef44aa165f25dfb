"""Predict drug resistance from a sample's calls and the catalogue: a pure function.

``predict(calls, catalogue)`` → a report dict whose keys follow TB-Profiler's JSON
(``drtype``, ``dr_variants``, ``other_variants``, ``db_version``) plus a ``drugs``
list with each drug's result and evidence. No database, no HTTP: the CLI, the API,
the benchmark and the tests call it alike.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from yilian.tb import rules
from yilian.tb.annotate import Effect, annotate
from yilian.tb.catalogue import REFERENCE_LENGTH, Catalogue, Grade
from yilian.tb.vcf import Call, SampleCalls

REPORT_SCHEMA = "yilian.tb.report/1"
_NAME = re.compile(r"^([A-Za-z0-9]+)_((?:[cnp]\.\S+)|deletion|LoF)$")
# A substitution named on the gene's coding (c.) or non-coding (n.) sequence, promoter
# positions upstream of the start as c.-N: enough to place it on H37Rv.
_SUBSTITUTION = re.compile(r"^([cn])\.(-?)(\d+)([ACGT])>([ACGT])$")
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


class VariantNameError(ValueError):
    """A variant name that is not in the WHO ``gene_change`` form."""


@dataclass
class Options:
    min_depth: int = 10
    min_af: float = 0.1
    fixed_af: float = 0.75


@dataclass
class _Drugs:
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    grades: dict[str, list[rules.Evidence]] = field(default_factory=lambda: defaultdict(list))

    def add(self, drug: str, item: dict[str, Any], ev: rules.Evidence) -> None:
        self.evidence[drug].append(item)
        self.grades[drug].append(ev)


def _grade_entry(g: Grade, rule: str | None) -> dict[str, Any]:
    return {
        "drug": g.drug,
        "who_group": g.group,
        "confidence": g.confidence,
        "catalogue_variant": g.name if rule is None else f"{g.gene}_{g.original}",
        "rule": rule,
        "comment": g.comment or None,
    }


def _lof_grades(cat: Catalogue, effect: Effect) -> tuple[list[Grade], str | None]:
    """The expert rule's grades for a loss-of-function effect (WHO 2023 §3.3, LoF rule)."""
    if effect.lof is None:
        return [], None
    if effect.lof == "deletion":
        grades = cat.lof_drugs(effect.gene, "feature_ablation")
        whole = [g for g in grades if g.original == "deletion"]
        # A drug graded both ways takes the whole-gene-deletion row.
        drugs = {g.drug for g in whole}
        return whole + [g for g in grades if g.drug not in drugs], "gene_deletion"
    grades = [g for g in cat.lof_drugs(effect.gene, effect.lof) if g.original != "deletion"]
    return grades, "loss_of_function"


def _split_mnp(call: Call) -> list[Call]:
    return [
        Call(call.pos + i, r, a, call.freq, call.depth, call.failed)
        for i, (r, a) in enumerate(zip(call.ref, call.alt, strict=True))
        if r != a
    ]


def _variant(cat: Catalogue, call: Call) -> list[dict[str, Any]]:
    """Annotate one call and attach its catalogue grades (one dict per variant reported)."""
    key = (call.pos, call.ref, call.alt)
    names = cat.by_allele.get(key) if call.end is None else None
    effects = annotate(cat, call.pos, call.ref, call.alt, call.end)
    if not names and call.end is None and len(call.ref) == len(call.alt) > 1:
        out: list[dict[str, Any]] = []
        for part in _split_mnp(call):
            out.extend(_variant(cat, part))
        return out
    base = {
        "chrom": "NC_000962.3",
        "pos": call.pos,
        "ref": call.ref,
        "alt": call.alt if call.end is None else f"<DEL>:{call.end}",
        "freq": None if call.freq is None else round(call.freq, 4),
        "depth": call.depth,
        "failed": call.failed,
    }
    if names and not any(cat.grades_of(n) for n in names):
        # Listed in the coordinates file but graded for no drug here (e.g. a premature stop
        # the WHO expanded from its LoF rule): annotate it and let the expert rule decide.
        names = None
    if names:
        by_gene: dict[str, list[str]] = defaultdict(list)
        for n in names:
            by_gene[n.split("_", 1)[0]].append(n)
        effect_of = {e.gene: e for e in effects}
        out = []
        for gene, gene_names in by_gene.items():
            grades = [g for n in gene_names for g in cat.grades_of(n)]
            protein = next((n.split("_", 1)[1] for n in gene_names if "_p." in n), None)
            nuc = next((n.split("_", 1)[1] for n in gene_names if "_p." not in n), None)
            eff = effect_of.get(gene)
            out.append(
                base
                | {
                    "gene_name": gene,
                    "type": eff.type if eff else "catalogue_variant",
                    "change": protein or nuc or (eff.nucleotide_change if eff else ""),
                    "nucleotide_change": nuc or (eff.nucleotide_change if eff else None),
                    "protein_change": protein or (eff.protein_change if eff else None),
                    "catalogue_names": gene_names,
                    "drugs": [_grade_entry(g, None) for g in grades],
                }
            )
        return out
    out = []
    for eff in effects:
        grades = [g for n in eff.names for g in cat.grades_of(n)]
        rule = None
        if not grades:
            grades, rule = _lof_grades(cat, eff)
        out.append(
            base
            | {
                "gene_name": eff.gene,
                "type": eff.type,
                "change": eff.protein_change or eff.nucleotide_change,
                "nucleotide_change": eff.nucleotide_change,
                "protein_change": eff.protein_change,
                "catalogue_names": [],
                "drugs": [_grade_entry(g, rule) for g in grades],
            }
        )
    if not out:
        out.append(
            base
            | {
                "gene_name": None,
                "type": "intergenic_variant",
                "change": None,
                "nucleotide_change": None,
                "protein_change": None,
                "catalogue_names": [],
                "drugs": [],
            }
        )
    return out


def genomic_substitution(cat: Catalogue, gene: str, change: str) -> tuple[int, str, str] | None:
    """(pos, ref, alt) on H37Rv of a ``c.``/``n.`` substitution, through the gene table.

    ``rpoB_c.1349C>T`` → (761155, "C", "T"); ``inhA_c.-777C>T`` → (1673425, "C", "T");
    on a minus-strand gene the bases are complemented. None for anything else (a protein
    change may come from several codons, so it has no single position).
    """
    m = _SUBSTITUTION.match(change)
    g = cat.gene_by_name.get(gene)
    if m is None or g is None or int(m.group(3)) == 0:
        return None
    _kind, upstream, number, ref, alt = m.groups()
    n = int(number)
    if g.strand == 1:
        return (g.start - n if upstream else g.start + n - 1), ref, alt
    return (
        (g.end + n if upstream else g.end - n + 1),
        ref.translate(_COMPLEMENT),
        alt.translate(_COMPLEMENT),
    )


def variants_from_names(cat: Catalogue, names: Sequence[str]) -> list[dict[str, Any]]:
    """Variants given by name (``rpoB_p.Ser450Leu``) instead of a VCF; no frequency or depth.

    A nucleotide substitution (``c.``/``n.``, promoters ``c.-N``) is placed on H37Rv, its
    REF checked, and graded like a VCF call (so ``rpoB_c.1349C>T`` is rpoB p.Ser450Leu);
    other names are graded by name or by the expert rules, without a position.
    """
    out: list[dict[str, Any]] = []
    for raw in names:
        name = cat.canonical(raw.strip())
        m = _NAME.match(name)
        if not m:
            raise VariantNameError(
                f"variant {raw!r} is not in the WHO form gene_change (e.g. rpoB_p.Ser450Leu)"
            )
        gene, change = m.groups()
        if gene not in cat.gene_by_name and gene not in cat.lof:
            raise VariantNameError(f"variant {raw!r}: gene {gene!r} is not in the catalogue")
        located = genomic_substitution(cat, gene, change)
        if located is not None:
            pos, ref, alt = located
            if not 1 <= pos <= REFERENCE_LENGTH:
                raise VariantNameError(f"variant {raw!r}: position {pos} is not on H37Rv")
            known = cat.reference.get(pos)
            if known is not None and known != ref:
                raise VariantNameError(
                    f"variant {raw!r}: H37Rv has {known} at {pos}, not {ref}; "
                    "another reference or a typing error?"
                )
            out.extend(_variant(cat, Call(pos, ref, alt)))
            continue
        grades = cat.grades_of(name)
        rule: str | None = None
        vtype = "catalogue_variant"
        if not grades:
            lof: str | None = None
            if change == "deletion":
                lof = "deletion"
            elif change == "LoF":
                lof = "feature_ablation"
            elif re.search(r"^p\.[A-Z][a-z]{2}\d+fs", change):
                lof = "frameshift_variant"
            elif re.search(r"^p\.[A-Z][a-z]{2}\d+(\*|Ter)$", change):
                lof = "stop_gained"
            elif re.search(r"^p\.[A-Z][a-z]{2}1\?$", change):
                lof = "start_lost"
            elif change.endswith("="):
                vtype = "synonymous_variant"
            grades, rule = _lof_grades(cat, Effect(gene, lof or "", change, None, lof))
            vtype = lof or vtype
        out.append(
            {
                "chrom": "NC_000962.3",
                "pos": None,
                "ref": None,
                "alt": None,
                "freq": None,
                "depth": None,
                "failed": None,
                "gene_name": gene,
                "type": vtype,
                "change": change,
                "nucleotide_change": change if not change.startswith("p.") else None,
                "protein_change": change if change.startswith("p.") else None,
                "catalogue_names": [name] if cat.grades_of(name) else [],
                "drugs": [_grade_entry(g, rule) for g in grades],
            }
        )
    return out


def _overlaps(sorted_positions: list[int], start: int, end: int) -> bool:
    i = bisect.bisect_left(sorted_positions, start)
    return i < len(sorted_positions) and sorted_positions[i] <= end


def predict(
    cat: Catalogue,
    *,
    calls: SampleCalls | None = None,
    variants: list[dict[str, Any]] | None = None,
    missing: Iterable[tuple[int, int]] = (),
    options: Options | None = None,
    sample_id: str | None = None,
) -> dict[str, Any]:
    """Grade every drug for one sample and name its resistance type."""
    opts = options or Options()
    drugs = _Drugs()
    found: list[dict[str, Any]] = list(variants or [])
    missing_ranges = list(missing)
    records = 0
    if calls is not None:
        records = calls.records
        missing_ranges.extend(calls.missing)
        for call in calls.calls:
            found.extend(_variant(cat, call))
    dr_variants: list[dict[str, Any]] = []
    other_variants: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for v in found:
        entries = v["drugs"]
        resistant = [d for d in entries if d["who_group"] <= 2]
        if v["failed"]:
            failed.append(v)
            for d in resistant:
                drugs.add(d["drug"], _evidence(v, d, "failed call"), rules.Evidence(None, True))
            continue
        freq = v["freq"]
        v["heteroresistant"] = bool(resistant) and freq is not None and freq < opts.fixed_af
        for d in entries:
            drugs.add(d["drug"], _evidence(v, d, None), rules.Evidence(d["who_group"]))
        (dr_variants if resistant else other_variants).append(v)
    # Failed calls with an allele the catalogue does not list, and missing ranges, still
    # hide whatever resistance variant could sit at a graded position or in a LoF gene.
    positions = {d: sorted(p) for d, p in cat.resistance_positions().items()}
    lof_genes = cat.resistance_lof_genes()
    gaps = missing_ranges + [
        (v["pos"], v["pos"] + max(len(v["ref"] or ""), 1) - 1)
        for v in failed
        if v["pos"] is not None and not any(d["who_group"] <= 2 for d in v["drugs"])
    ]
    not_determined: list[dict[str, Any]] = []
    for start, end in gaps:
        hit: list[str] = []
        for drug, pos_list in positions.items():
            in_gene = any(
                cat.gene_by_name[g].start <= end and start <= cat.gene_by_name[g].end
                for g in lof_genes.get(drug, ())
                if g in cat.gene_by_name
            )
            if in_gene or _overlaps(pos_list, start, end):
                hit.append(drug)
                item = {"range": [start, end], "reason": "no usable call", "who_group": None}
                drugs.add(drug, item, rules.Evidence(None, True))
        if hit:
            not_determined.append({"start": start, "end": end, "drugs": sorted(hit)})
    results: dict[str, str] = {}
    drug_rows: list[dict[str, Any]] = []
    for drug in _drug_order(cat.drugs):
        result = rules.drug_result(drugs.grades.get(drug, []))
        results[drug] = result
        abbr, zh = rules.DRUGS.get(drug, (drug[:3].upper(), drug))
        evidence = sorted(
            drugs.evidence.get(drug, []),
            key=lambda e: (e.get("who_group") is None, e.get("who_group") or 9),
        )
        drug_rows.append(
            {
                "drug": drug,
                "abbreviation": abbr,
                "name_zh": zh,
                "result": result,
                "evidence": evidence,
            }
        )
    return {
        "schema": REPORT_SCHEMA,
        "id": sample_id,
        "db_version": {"name": cat.version, "commit": cat.label or None},
        "catalogue": {"version": cat.version, "coordinates": cat.label or None, "id": cat.id},
        "drtype": rules.resistance_type(results),
        "dr_resistances": [d for d, r in results.items() if r == rules.R],
        "drugs": drug_rows,
        "dr_variants": dr_variants,
        "other_variants": [v for v in other_variants if v["drugs"] or v["gene_name"]],
        "not_determined": not_determined,
        "qc": {
            "records": records,
            "variants": len(found),
            "failed_calls": len(failed),
            "missing_ranges": len(missing_ranges),
            "min_depth": opts.min_depth,
            "min_af": opts.min_af,
        },
    }


def _evidence(v: dict[str, Any], d: dict[str, Any], failed: str | None) -> dict[str, Any]:
    return {
        "gene_name": v["gene_name"],
        "change": v["change"],
        "pos": v["pos"],
        "ref": v["ref"],
        "alt": v["alt"],
        "freq": v["freq"],
        "depth": v["depth"],
        "who_group": d["who_group"],
        "confidence": d["confidence"],
        "catalogue_variant": d["catalogue_variant"],
        "rule": d["rule"],
        "failed": failed or v.get("failed"),
    }


def _drug_order(drugs: Iterable[str]) -> list[str]:
    known = list(rules.DRUGS)
    return sorted(set(drugs), key=lambda d: (known.index(d) if d in known else 99, d))
