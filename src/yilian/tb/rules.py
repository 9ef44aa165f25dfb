"""Pure decisions of TB drug-resistance prediction: a drug's result and the resistance type.

Seed 000 (长三角区域结核病协同防控中心建设进展): the regional WGS platform grades strains on
the WHO catalogue of mutations; the definitions below are the WHO's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

R, S, UNCERTAIN, NOT_DETERMINED = "R", "S", "uncertain", "not_determined"

# Drugs of the 2023 catalogue: abbreviation and Chinese name, in the order a report lists them.
DRUGS: dict[str, tuple[str, str]] = {
    "rifampicin": ("RIF", "利福平"),
    "isoniazid": ("INH", "异烟肼"),
    "ethambutol": ("EMB", "乙胺丁醇"),
    "pyrazinamide": ("PZA", "吡嗪酰胺"),
    "levofloxacin": ("LFX", "左氧氟沙星"),
    "moxifloxacin": ("MFX", "莫西沙星"),
    "bedaquiline": ("BDQ", "贝达喹啉"),
    "linezolid": ("LZD", "利奈唑胺"),
    "clofazimine": ("CFZ", "氯法齐明"),
    "delamanid": ("DLM", "德拉马尼"),
    "pretomanid": ("PMD", "普托马尼"),
    "amikacin": ("AMK", "阿米卡星"),
    "kanamycin": ("KAN", "卡那霉素"),
    "capreomycin": ("CAP", "卷曲霉素"),
    "streptomycin": ("STM", "链霉素"),
    "ethionamide": ("ETO", "乙硫异烟胺"),
}
FLUOROQUINOLONES = frozenset({"levofloxacin", "moxifloxacin"})
GROUP_A_ADDITIONAL = frozenset({"bedaquiline", "linezolid"})

RR_TB, HR_TB, MDR_TB, PRE_XDR_TB, XDR_TB = "RR-TB", "HR-TB", "MDR-TB", "pre-XDR-TB", "XDR-TB"
SENSITIVE, OTHER, TYPE_NOT_DETERMINED = "sensitive", "other", "not determined"
RESISTANCE_TYPES = (XDR_TB, PRE_XDR_TB, MDR_TB, RR_TB, HR_TB, OTHER, TYPE_NOT_DETERMINED, SENSITIVE)


@dataclass(frozen=True)
class Evidence:
    """One reason bearing on a drug: a graded variant, a rule, or a failed position."""

    group: int | None  # WHO confidence group 1–5; None for a failed/missing position
    not_determined: bool = False


def drug_result(evidence: Iterable[Evidence]) -> str:
    """R on any Group 1–2 variant; else not determined where a failed position could hide one;
    else uncertain on a Group 3 variant; else S.

    WHO catalogue 2023 (section 2.5, "interpretation"): Groups 1–2 predict resistance,
    Group 3 is of uncertain significance, Groups 4–5 are not associated with resistance.
    A position that could not be called is never read as sensitive (issue #8).
    """
    items = list(evidence)
    if any(e.group is not None and e.group <= 2 and not e.not_determined for e in items):
        return R
    if any(e.not_determined for e in items):
        return NOT_DETERMINED
    if any(e.group == 3 for e in items):
        return UNCERTAIN
    return S


def resistance_type(results: Mapping[str, str]) -> str:
    """The WHO 2021 resistance type from the per-drug results.

    WHO, Meeting report of the WHO expert consultation on the definition of extensively
    drug-resistant tuberculosis (2021): pre-XDR-TB = MDR/RR-TB also resistant to any
    fluoroquinolone; XDR-TB = that plus bedaquiline or linezolid. HR-TB = isoniazid
    resistance with rifampicin susceptibility (WHO consolidated guidelines, module 4).
    """
    resistant = {d for d, r in results.items() if r == R}
    if "rifampicin" in resistant:
        if resistant & FLUOROQUINOLONES:
            return XDR_TB if resistant & GROUP_A_ADDITIONAL else PRE_XDR_TB
        return MDR_TB if "isoniazid" in resistant else RR_TB
    if results.get("rifampicin", S) != S:
        return TYPE_NOT_DETERMINED
    if "isoniazid" in resistant:
        return HR_TB
    if results.get("isoniazid", S) != S:
        return TYPE_NOT_DETERMINED
    if resistant:
        return OTHER
    # Group 3 variants in other drugs do not make a strain "not determined"; a failed call does.
    if any(r == NOT_DETERMINED for r in results.values()):
        return TYPE_NOT_DETERMINED
    return SENSITIVE
