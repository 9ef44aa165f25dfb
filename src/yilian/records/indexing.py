"""Search parameters of the FHIR store, and what they index: pure functions over resource dicts.

Each supported type names the element holding its patient reference, its token
parameters (element → ``system|code``) and the elements its ``date`` parameter
reads, in order of preference. Parameter names follow FHIR R4; ``code`` also
works where FHIR calls the concept something else (Immunization.vaccineCode,
MedicationRequest.medication, DocumentReference.type), so one query form serves
every clinical type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from yilian.patients import normalise as norm

# Dates and times sent without a zone are local to the region (Asia/Shanghai, no DST).
LOCAL_TZ = timezone(timedelta(hours=8), "CST")
# Resource types the registry serves; the FHIR store must not take writes of them.
REGISTRY_TYPES = frozenset({"Organization", "Practitioner", "PractitionerRole", "Location"})
# Types whose storing from an organisation means that organisation treats the person (诊疗).
TREATING_TYPES = frozenset(
    {
        "Patient",
        "Encounter",
        "EpisodeOfCare",
        "Condition",
        "Observation",
        "DiagnosticReport",
        "ImagingStudy",
        "MedicationRequest",
        "Procedure",
        "Immunization",
        "AllergyIntolerance",
        "DocumentReference",
        "ServiceRequest",
        "CarePlan",
    }
)
TOKEN_MAX = 255


@dataclass(frozen=True)
class TypeSpec:
    patient: str | None  # element holding the patient reference ("" for Patient itself)
    tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)
    date: tuple[str, ...] = ()


_STATUS = ("status",)
SPECS: dict[str, TypeSpec] = {
    "Patient": TypeSpec(
        patient="",
        tokens={"gender": ("gender",), "active": ("active",)},
        date=("birthDate",),
    ),
    "Encounter": TypeSpec(
        patient="subject",
        tokens={"status": _STATUS, "class": ("class",), "type": ("type",), "code": ("type",)},
        date=("period",),
    ),
    "Condition": TypeSpec(
        patient="subject",
        tokens={
            "code": ("code",),
            "category": ("category",),
            "clinical-status": ("clinicalStatus",),
            "verification-status": ("verificationStatus",),
        },
        date=("onsetDateTime", "onsetPeriod", "recordedDate"),
    ),
    "Observation": TypeSpec(
        patient="subject",
        tokens={"code": ("code",), "category": ("category",), "status": _STATUS},
        date=("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"),
    ),
    "DiagnosticReport": TypeSpec(
        patient="subject",
        tokens={"code": ("code",), "category": ("category",), "status": _STATUS},
        date=("effectiveDateTime", "effectivePeriod", "issued"),
    ),
    "ImagingStudy": TypeSpec(
        patient="subject",
        tokens={"modality": ("modality",), "status": _STATUS, "code": ("procedureCode",)},
        date=("started",),
    ),
    "MedicationRequest": TypeSpec(
        patient="subject",
        tokens={
            "code": ("medicationCodeableConcept",),
            "category": ("category",),
            "status": _STATUS,
            "intent": ("intent",),
        },
        date=("authoredOn",),
    ),
    "Procedure": TypeSpec(
        patient="subject",
        tokens={"code": ("code",), "category": ("category",), "status": _STATUS},
        date=("performedDateTime", "performedPeriod"),
    ),
    "Immunization": TypeSpec(
        patient="patient",
        tokens={"vaccine-code": ("vaccineCode",), "code": ("vaccineCode",), "status": _STATUS},
        date=("occurrenceDateTime", "recorded"),
    ),
    "AllergyIntolerance": TypeSpec(
        patient="patient",
        tokens={
            "code": ("code",),
            "category": ("category",),
            "clinical-status": ("clinicalStatus",),
        },
        date=("recordedDate", "onsetDateTime", "onsetPeriod"),
    ),
    "DocumentReference": TypeSpec(
        patient="subject",
        tokens={"type": ("type",), "code": ("type",), "category": ("category",), "status": _STATUS},
        date=("date",),
    ),
    "ServiceRequest": TypeSpec(
        patient="subject",
        tokens={
            "code": ("code",),
            "category": ("category",),
            "status": _STATUS,
            "intent": ("intent",),
        },
        date=("authoredOn", "occurrenceDateTime", "occurrencePeriod"),
    ),
    "CarePlan": TypeSpec(
        patient="subject",
        tokens={"category": ("category",), "status": _STATUS, "intent": ("intent",)},
        date=("period", "created"),
    ),
    # Administrative resources the synthetic region and HIS feeds send alongside.
    "EpisodeOfCare": TypeSpec(
        patient="patient",
        tokens={"type": ("type",), "code": ("type",), "status": _STATUS},
        date=("period",),
    ),
    "Coverage": TypeSpec(
        patient="beneficiary", tokens={"type": ("type",), "status": _STATUS}, date=("period",)
    ),
    "ExplanationOfBenefit": TypeSpec(
        patient="patient", tokens={"status": _STATUS}, date=("created", "billablePeriod")
    ),
    "MeasureReport": TypeSpec(
        patient="subject", tokens={"status": _STATUS, "measure": ("measure",)}, date=("date",)
    ),
}
SUPPORTED_TYPES = frozenset(SPECS)
# Parameters every type has, besides its own tokens.
COMMON_PARAMS = frozenset({"_id", "identifier", "date", "organization", "patient", "subject"})


def params_of(resource_type: str) -> frozenset[str]:
    spec = SPECS[resource_type]
    extra = {"name", "birthdate"} if resource_type == "Patient" else set()
    return COMMON_PARAMS | spec.tokens.keys() | extra


# --- tokens -------------------------------------------------------------------


def _codings(value: Any) -> Iterator[tuple[str, str]]:
    """(system, code) pairs of a code, Coding, CodeableConcept, or a list of them."""
    if isinstance(value, list):
        for item in value:
            yield from _codings(item)
    elif isinstance(value, dict):
        if "coding" in value:
            yield from _codings(value["coding"])
        elif "code" in value and isinstance(value["code"], str):
            yield str(value.get("system") or ""), value["code"]
    elif isinstance(value, bool):
        yield "", "true" if value else "false"
    elif isinstance(value, str):
        yield "", value


def name_tokens(names: Any) -> set[str]:
    """Search strings of HumanNames: parts, the whole name (张伟, no space) and their pinyin."""
    found: set[str] = set()
    for name in names if isinstance(names, list) else []:
        family = norm.normalise_name(name.get("family"))
        given = [g for g in (norm.normalise_name(x) for x in name.get("given") or []) if g]
        text = norm.normalise_name(name.get("text"))
        parts = [p for p in (family, *given) if p]
        cjk = any(norm.has_cjk(p) for p in parts)
        whole = ("".join(parts) if cjk else " ".join([*given, family or ""]).strip()) or None
        for value in (*parts, text, whole):
            if not value:
                continue
            found.add(value)
            if norm.has_cjk(value):
                found.add(norm.pinyin(value))
            elif " " in value:
                found.add(value.replace(" ", ""))
        if family and norm.has_cjk(family):
            found.add(norm.family_pinyin(family))
            if given:
                found.add(norm.family_pinyin(family) + "".join(norm.pinyin(g) for g in given))
    return {t[:TOKEN_MAX] for t in found if t}


def normalise_name_query(value: str) -> str:
    """The form a ``name`` search value is compared in (lower case; 张 伟 → 张伟)."""
    text = norm.normalise_name(value) or ""
    return text if norm.has_cjk(text) else text.replace(" ", "")


def tokens(resource: dict[str, Any], hash_identifier: Any) -> set[tuple[str, str, str]]:
    """(param, system, code) rows of a resource; identifier values pass ``hash_identifier``."""
    rtype = resource["resourceType"]
    spec = SPECS[rtype]
    rows: set[tuple[str, str, str]] = set()
    for param, elements in spec.tokens.items():
        for element in elements:
            for system, code in _codings(resource.get(element)):
                if code:
                    rows.add((param, system[:TOKEN_MAX], code[:TOKEN_MAX]))
    for ident in resource.get("identifier") or []:
        value = ident.get("value") if isinstance(ident, dict) else None
        if isinstance(value, str) and value:
            system = str(ident.get("system") or "")[:TOKEN_MAX]
            rows.add(("identifier", system, hash_identifier(value)))
    if rtype == "Patient":
        rows.update(("name", "", t) for t in name_tokens(resource.get("name")))
    return rows


# --- references ---------------------------------------------------------------


def patient_reference(resource: dict[str, Any]) -> str | None:
    """The reference string of the resource's patient element (None when it has none)."""
    spec = SPECS[resource["resourceType"]]
    if not spec.patient:
        return None
    value = resource.get(spec.patient)
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None


def references(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Reference object (a dict with a ``reference`` string) with its FHIRPath."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield path, node
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict | list):
                yield from references(value, f"{path}[{i}]")


# --- dates --------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class Span:
    """A half-open time range [start, end) in UTC; a FHIR date stands for all of it."""

    start: datetime
    end: datetime


def parse_span(value: str) -> Span:
    """The range a FHIR date/dateTime/instant covers; ValueError when it is not one."""
    m = _DATE.match(value)
    if m:
        year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
        first = datetime.combine(date(year, month, day), time(), LOCAL_TZ)
        if m[3]:
            last = first + timedelta(days=1)
        elif m[2]:
            last = first.replace(year=year + (month == 12), month=month % 12 + 1)
        else:
            last = first.replace(year=year + 1)
        return Span(first.astimezone(UTC), last.astimezone(UTC))
    if "T" not in value:
        raise ValueError(f"not a FHIR date or dateTime: {value!r}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    moment = moment.astimezone(UTC)
    return Span(moment, moment + timedelta(seconds=1))


def effective(resource: dict[str, Any]) -> datetime | None:
    """The resource's clinically relevant time, from the first date element present."""
    for element in SPECS[resource["resourceType"]].date:
        value = resource.get(element)
        if isinstance(value, dict):  # a Period
            value = value.get("start") or value.get("end")
        if isinstance(value, str):
            try:
                return parse_span(value).start
            except ValueError:
                return None
    return None
