"""检验检查结果互认 as pure decisions: eligibility, the reuse verdict, re-test reasons, rates.

Sources: 《医疗机构检查检验结果互认管理办法》(国卫医发〔2022〕6号) as summarised in domain
primary-care-rules §5, and seed 001 (示范区 35 lab items, 9 imaging categories, 79.07%).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

# Verdicts of a check.
REUSE = "reuse"  # a recognisable result exists: do not repeat it (互认)
ORDER = "order"  # order anew, for the reason given

# Why a result cannot be recognised, or why there is nothing to recognise.
NOT_IN_CATALOGUE = "not-in-catalogue"
NO_RESULT = "no-result"
EXPIRED = "expired"
INSTITUTION_NOT_ELIGIBLE = "institution-not-eligible"
VERDICT_REASONS = (NOT_IN_CATALOGUE, NO_RESULT, EXPIRED, INSTITUTION_NOT_ELIGIBLE)

# What makes an institution's result ineligible for one catalogue item.
NOT_PARTICIPANT = "not-participant"
LEVEL_BELOW_MINIMUM = "level-below-minimum"
QC_NOT_PASSED = "qc-not-passed"
INACTIVE = "inactive"

QC_PASSED = "passed"
QC_FAILED = "failed"
QC_SUSPENDED = "suspended"
QC_PENDING = "pending"
QC_STATUSES = (QC_PASSED, QC_FAILED, QC_SUSPENDED, QC_PENDING)

# The clinician's decision on an item.
REUSED = "reused"
REORDERED = "reordered"

# The six cases in which a recognisable result may be repeated (国卫医发〔2022〕6号);
# the physician decides and records why (primary-care-rules §5).
CONDITION_CHANGED = "condition-changed"
FAST_CHANGING = "fast-changing"
PRE_PROCEDURE = "pre-surgery-or-transfusion"
EMERGENCY = "emergency"
LEGAL_ASSESSMENT = "legal-assessment"
OTHER = "other"
RETEST_REASONS = (
    CONDITION_CHANGED,
    FAST_CHANGING,
    PRE_PROCEDURE,
    EMERGENCY,
    LEGAL_ASSESSMENT,
    OTHER,
)

_LEVEL_DIGITS = {"一": 1, "二": 2, "三": 3, "1": 1, "2": 2, "3": 3}


def level_rank(level: str | None) -> int:
    """医院等级 as a number: 三级(甲等) → 3, 二级 → 2, 一级 → 1, unknown → 0."""
    if not level:
        return 0
    return _LEVEL_DIGITS.get(level.strip()[:1], 0)


@dataclass(frozen=True)
class Entry:
    """One item of one catalogue, as the check needs it."""

    catalogue_id: str
    catalogue_name: str
    item_code: str
    name: str
    kind: str
    validity_days: int
    min_level: str | None
    requires_qc: bool
    reference_price: float


@dataclass(frozen=True)
class Institution:
    id: str
    name: str
    level: str | None
    active: bool = True


@dataclass(frozen=True)
class Result:
    """One indexed result (a lab Observation or an imaging report)."""

    id: str
    item_code: str
    effective: datetime
    source_org_id: str | None
    value: str | None = None
    unit: str | None = None
    resource_type: str = "Observation"
    resource_id: str = ""
    report_id: str | None = None


@dataclass(frozen=True)
class Assessment:
    """How one result fares against the catalogue entries of its item."""

    result: Result
    usable: bool
    entry: Entry | None  # the entry that makes it usable (or the one that came closest)
    problem: str | None  # EXPIRED or INSTITUTION_NOT_ELIGIBLE
    detail: str | None  # NOT_PARTICIPANT, LEVEL_BELOW_MINIMUM, QC_NOT_PASSED, INACTIVE
    age_days: int


@dataclass(frozen=True)
class Verdict:
    item_code: str | None
    verdict: str
    reason: str | None
    entry: Entry | None
    chosen: Assessment | None
    candidates: list[Assessment] = field(default_factory=list)


def eligibility_problem(
    entry: Entry, institution: Institution | None, qc_status: str | None
) -> str | None:
    """Why this institution's results do not qualify for this entry, or None when they do.

    ``qc_status`` is None when the institution does not take part in the catalogue.
    Lower-level institutions accept higher-level results; an entry may require a
    minimum level, and a passed external quality assessment (室间质评, primary-care-rules §5).
    """
    if institution is None or qc_status is None:
        return NOT_PARTICIPANT
    if not institution.active:
        return INACTIVE
    if entry.min_level and level_rank(institution.level) < level_rank(entry.min_level):
        return LEVEL_BELOW_MINIMUM
    if entry.requires_qc and qc_status != QC_PASSED:
        return QC_NOT_PASSED
    return None


def age_in_days(effective: datetime, now: datetime) -> int:
    return max(0, (now - effective).days)


def assess(
    result: Result,
    entries: Sequence[Entry],
    institutions: dict[str, Institution],
    qc: dict[tuple[str, str], str],
    now: datetime,
) -> Assessment:
    """Whether a result can be recognised under any of its item's entries, and if not why."""
    age = age_in_days(result.effective, now)
    institution = institutions.get(result.source_org_id or "")
    closest: tuple[Entry, str, str | None] | None = None
    for entry in entries:
        problem = eligibility_problem(
            entry, institution, qc.get((entry.catalogue_id, result.source_org_id or ""))
        )
        if problem is None and age <= entry.validity_days:
            return Assessment(result, True, entry, None, None, age)
        # An eligible but too old result explains more than an ineligible one.
        if problem is None:
            closest = (entry, EXPIRED, None)
        elif closest is None:
            closest = (entry, INSTITUTION_NOT_ELIGIBLE, problem)
    if closest is None:
        return Assessment(result, False, None, INSTITUTION_NOT_ELIGIBLE, NOT_PARTICIPANT, age)
    entry, problem_kind, detail = closest
    return Assessment(result, False, entry, problem_kind, detail, age)


def judge(
    item_code: str | None,
    entries: Sequence[Entry],
    results: Iterable[Result],
    institutions: dict[str, Institution],
    qc: dict[tuple[str, str], str],
    now: datetime,
    *,
    keep: int = 5,
) -> Verdict:
    """Reuse the newest recognisable result, or order anew saying why (no catalogue entry,
    no earlier result, too old, or from an institution whose results do not qualify)."""
    if item_code is None or not entries:
        return Verdict(item_code, ORDER, NOT_IN_CATALOGUE, None, None)
    ordered = sorted(results, key=lambda r: (r.effective, r.id), reverse=True)
    if not ordered:
        return Verdict(item_code, ORDER, NO_RESULT, min_entry(entries), None)
    assessed = [assess(r, entries, institutions, qc, now) for r in ordered]
    chosen = next((a for a in assessed if a.usable), None)
    candidates = assessed[:keep]
    if chosen is not None:
        if chosen not in candidates:
            candidates = [*candidates[: keep - 1], chosen]
        return Verdict(item_code, REUSE, None, chosen.entry, chosen, candidates)
    newest = assessed[0]
    return Verdict(item_code, ORDER, newest.problem, newest.entry, None, candidates)


def min_entry(entries: Sequence[Entry]) -> Entry:
    """The entry to quote when several catalogues list the item: the longest window."""
    return max(entries, key=lambda e: (e.validity_days, e.catalogue_id))


def decision_problem(
    verdict: str, action: str, reason: str | None, note: str | None, assessment: Assessment | None
) -> str | None:
    """Why a clinician's decision on a checked item cannot be recorded, or None.

    Reusing needs a recognisable result; repeating a recognisable result needs one of
    the six permitted reasons (and a note for “other”): the physician decides and records why.
    """
    if action == REUSED:
        if assessment is None:
            return "no recognisable result to reuse for this item"
        if not assessment.usable:
            return _unusable_message(assessment)
        return None
    if action == REORDERED:
        if verdict == REUSE:
            if reason not in RETEST_REASONS:
                allowed = ", ".join(RETEST_REASONS)
                return f"repeating a recognisable result needs a reason, one of: {allowed}"
            if reason == OTHER and not (note or "").strip():
                return "reason “other” needs a note saying why the test is repeated"
        return None
    return f"unknown decision {action!r}: use {REUSED} or {REORDERED}"


_DETAIL_TEXT = {
    NOT_PARTICIPANT: "the institution does not take part in the recognition catalogue",
    LEVEL_BELOW_MINIMUM: "the institution's level is below the item's minimum",
    QC_NOT_PASSED: "the institution has not passed quality control for the catalogue",
    INACTIVE: "the institution is inactive",
}


def _unusable_message(assessment: Assessment) -> str:
    if assessment.problem == EXPIRED:
        window = assessment.entry.validity_days if assessment.entry else 0
        return f"result is {assessment.age_days} days old, beyond the {window}-day validity window"
    detail = _DETAIL_TEXT.get(assessment.detail or "", "the institution is not eligible")
    return f"result from a non-eligible institution: {detail}"


def explain(assessment: Assessment) -> str | None:
    """One line saying why a result cannot be recognised (None when it can)."""
    return None if assessment.usable else _unusable_message(assessment)


def rate(numerator: int, denominator: int) -> float | None:
    """A percentage with two decimals (79.07 as seed 001 writes it); None without a base."""
    if denominator <= 0:
        return None
    return round(100.0 * numerator / denominator, 2)
