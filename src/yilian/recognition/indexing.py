"""What of a stored FHIR resource goes into the recognition index: pure functions on dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from yilian.db import as_utc

INDEXED_STATUSES = frozenset({"final", "amended", "corrected", "appended"})
RECOGNITION_TAG = "mutual-recognition"  # the CodeSystem of the “HR” mark


def codings(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(system, code) of what the resource reports: Observation/DiagnosticReport ``code``,
    ImagingStudy ``procedureCode``."""
    if resource.get("resourceType") == "ImagingStudy":
        concepts = resource.get("procedureCode") or []
    else:
        concepts = [resource.get("code") or {}]
    out = []
    for concept in concepts:
        if not isinstance(concept, dict):
            continue
        for c in concept.get("coding") or []:
            if isinstance(c, dict) and c.get("code"):
                out.append((str(c.get("system") or ""), str(c["code"])))
    return out


def patient_id(resource: dict[str, Any]) -> str | None:
    ref = (resource.get("subject") or {}).get("reference")
    if isinstance(ref, str) and ref.startswith("Patient/"):
        return ref.split("/", 1)[1] or None
    return None


def parse_instant(value: Any) -> datetime | None:
    """A FHIR dateTime (full date at least) as aware UTC; None when absent or partial."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(parsed)


def effective(resource: dict[str, Any]) -> datetime | None:
    period = resource.get("effectivePeriod") or {}
    for value in (
        resource.get("effectiveDateTime"),
        period.get("start") if isinstance(period, dict) else None,
        resource.get("started"),
        resource.get("issued"),
    ):
        when = parse_instant(value)
        if when is not None:
            return when
    return None


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def value_of(resource: dict[str, Any]) -> tuple[str | None, str | None]:
    """The reported value as text, and its unit."""
    kind = resource.get("resourceType")
    if kind == "Observation":
        q = resource.get("valueQuantity")
        if isinstance(q, dict):
            return _number(q.get("value")), (q.get("unit") or q.get("code") or None)
        concept = resource.get("valueCodeableConcept")
        if isinstance(concept, dict):
            text = concept.get("text")
            if not text:
                first: Any = next(iter(concept.get("coding") or []), {})
                text = (
                    first.get("display") or first.get("code") if isinstance(first, dict) else None
                )
            return (str(text)[:500] if text else None), None
        if isinstance(resource.get("valueString"), str):
            return resource["valueString"][:500], None
        return None, None
    if kind == "DiagnosticReport":
        conclusion = resource.get("conclusion")
        return (conclusion[:500] if isinstance(conclusion, str) else None), None
    if kind == "ImagingStudy":
        description = resource.get("description")
        return (description[:500] if isinstance(description, str) else None), None
    return None, None


def hr_marked(resource: dict[str, Any]) -> bool:
    """Whether the resource carries the 互认 mark (“HR”, primary-care-rules §5) as a meta tag."""
    for tag in (resource.get("meta") or {}).get("tag") or []:
        if (
            isinstance(tag, dict)
            and str(tag.get("system") or "").endswith(RECOGNITION_TAG)
            and str(tag.get("code") or "").upper().startswith("HR")
        ):
            return True
    return False


def indexable(resource: dict[str, Any]) -> bool:
    status = resource.get("status")
    if resource.get("resourceType") == "ImagingStudy":
        return status in ("available", None)
    return status in INDEXED_STATUSES


def result_ids(report: dict[str, Any]) -> list[str]:
    """Observation ids a DiagnosticReport lists in ``result``."""
    out = []
    for ref in report.get("result") or []:
        target = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(target, str) and target.startswith("Observation/"):
            out.append(target.split("/", 1)[1])
    return out
