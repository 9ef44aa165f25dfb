"""The longitudinal record (全生命周期健康档案) as pure functions over FHIR resources.

``assemble`` groups what ``$everything`` returns into the sections the record
page shows — problems, encounters, results by code, medications, imaging and
reports, documents — and puts the source institution on every item. No
database: the caller passes who sent each resource and the institutions' names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from yilian.kit.crypto import mask, mask_name

# Resource types shown in each section; anything else is counted but not listed.
IMAGING_TYPES = ("DiagnosticReport", "ImagingStudy")
DOCUMENT_TYPES = ("DocumentReference", "Composition")
_IDENTIFIER_KINDS = {
    "resident-id-card": "id_card",
    "social-security-card": "insurance",
    "health-card": "health_card",
}

Item = dict[str, Any]


def key_of(resource: Mapping[str, Any]) -> str:
    """``Type/id`` of a resource: how the caller keys the source of each one."""
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def concept_label(concept: Any) -> str:
    """The words for a CodeableConcept: its text, else the first display, else a code."""
    if not isinstance(concept, Mapping):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"]:
        return str(concept["text"])
    codings = [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]
    for c in codings:
        if c.get("display"):
            return str(c["display"])
    return str(codings[0].get("code") or "") if codings else ""


def concept_key(concept: Any) -> str:
    """``system|code`` of the first coding (what groups results of one test), or the text."""
    if not isinstance(concept, Mapping):
        return ""
    for c in concept.get("coding") or []:
        if isinstance(c, Mapping) and c.get("code"):
            return f"{c.get('system') or ''}|{c['code']}"
    return str(concept.get("text") or "")


def _first(concepts: Any) -> Any:
    return concepts[0] if isinstance(concepts, list) and concepts else None


def _start(period: Any) -> str | None:
    return str(period["start"]) if isinstance(period, Mapping) and period.get("start") else None


def when(resource: Mapping[str, Any]) -> str | None:
    """The clinically relevant time of a resource, as the FHIR date/dateTime string."""
    for name in (
        "effectiveDateTime",
        "onsetDateTime",
        "authoredOn",
        "started",
        "recordedDate",
        "issued",
        "date",
    ):
        value = resource.get(name)
        if isinstance(value, str) and value:
            return value
    return _start(resource.get("period")) or _start(resource.get("effectivePeriod"))


def _sort_key(item: Item) -> str:
    # ISO dates and dateTimes with one offset sort as text; undated items go last.
    return item.get("when") or ""


def _quantity(resource: Mapping[str, Any]) -> tuple[float | None, str, str]:
    """(numeric value, unit, display text) of an Observation's value."""
    q = resource.get("valueQuantity")
    if isinstance(q, Mapping) and isinstance(q.get("value"), int | float):
        unit = str(q.get("unit") or q.get("code") or "")
        value = float(q["value"])
        return value, unit, f"{q['value']} {unit}".strip()
    for name in ("valueString", "valueInteger", "valueBoolean"):
        if name in resource:
            return None, "", str(resource[name])
    label = concept_label(resource.get("valueCodeableConcept"))
    return None, "", label


def patient_header(patients: Iterable[Mapping[str, Any]]) -> Item:
    """Masked name, sex, birth date and identifiers of a person's Patient records."""
    name = ""
    gender = birth = None
    identifiers: list[Item] = []
    seen: set[str] = set()
    for p in patients:
        for n in p.get("name") or []:
            if not name and isinstance(n, Mapping):
                given = "".join(str(g) for g in n.get("given") or [])
                name = str(n.get("text") or f"{n.get('family') or ''}{given}")
        gender = gender or p.get("gender")
        birth = birth or p.get("birthDate")
        for ident in p.get("identifier") or []:
            if not isinstance(ident, Mapping) or not ident.get("value"):
                continue
            system = str(ident.get("system") or "")
            kind = next((k for s, k in _IDENTIFIER_KINDS.items() if system.endswith(s)), None)
            masked = mask(str(ident["value"]))
            if kind and masked not in seen:
                seen.add(masked)
                identifiers.append({"kind": kind, "value": masked})
    return {
        "name": mask_name(name),
        "gender": gender,
        "birth_date": birth,
        "identifiers": identifiers,
    }


def assemble(
    resources: Iterable[Mapping[str, Any]],
    sources: Mapping[str, str | None],
    org_names: Mapping[str, str],
) -> Item:
    """Group a person's resources into the record's sections, newest first in each.

    ``sources`` maps ``Type/id`` to the id of the institution that sent it;
    ``org_names`` maps institution ids to names. Results are grouped by test code
    with their points oldest first, ready for a trend chart.
    """
    patients: list[Mapping[str, Any]] = []
    sections: dict[str, list[Item]] = {
        "problems": [],
        "encounters": [],
        "medications": [],
        "imaging": [],
        "documents": [],
    }
    series: dict[str, Item] = {}
    institutions: dict[str, str] = {}
    for r in resources:
        rtype = r.get("resourceType")
        org_id = sources.get(key_of(r))
        name = org_names.get(org_id, "") if org_id else ""
        source = {"id": org_id, "name": name}
        if org_id:
            institutions[org_id] = name
        base: Item = {"ref": key_of(r), "when": when(r), "source": source}
        if rtype == "Patient":
            patients.append(r)
        elif rtype == "Condition":
            status = concept_label(r.get("clinicalStatus"))
            sections["problems"].append(
                base
                | {"label": concept_label(r.get("code")), "code": concept_key(r.get("code"))}
                | {"status": status}
            )
        elif rtype == "Encounter":
            cls = r.get("class")
            cls_code = cls.get("code") if isinstance(cls, Mapping) else None
            sections["encounters"].append(
                base
                | {
                    "class": cls_code or "",
                    "label": concept_label(_first(r.get("type"))),
                    "end": (r.get("period") or {}).get("end"),
                    "status": r.get("status") or "",
                }
            )
        elif rtype == "Observation":
            code = r.get("code")
            key = concept_key(code) or key_of(r)
            value, unit, text = _quantity(r)
            group = series.setdefault(
                key, {"code": key, "label": concept_label(code) or key, "unit": unit, "points": []}
            )
            group["unit"] = group["unit"] or unit
            group["points"].append(base | {"value": value, "unit": unit, "text": text})
        elif rtype == "MedicationRequest":
            dosage = _first(r.get("dosageInstruction"))
            sections["medications"].append(
                base
                | {
                    "label": concept_label(r.get("medicationCodeableConcept"))
                    or str((r.get("medicationReference") or {}).get("display") or ""),
                    "dosage": str(dosage.get("text") or "") if isinstance(dosage, Mapping) else "",
                    "status": r.get("status") or "",
                }
            )
        elif rtype in IMAGING_TYPES:
            label = concept_label(r.get("code")) or str(r.get("description") or "")
            if not label and rtype == "ImagingStudy":
                label = "/".join(
                    str(m.get("code")) for m in r.get("modality") or [] if isinstance(m, Mapping)
                )
            sections["imaging"].append(
                base
                | {
                    "kind": rtype,
                    "label": label,
                    "conclusion": str(r.get("conclusion") or ""),
                }
            )
        elif rtype in DOCUMENT_TYPES:
            sections["documents"].append(
                base
                | {
                    "label": concept_label(r.get("type")) or str(r.get("title") or ""),
                    "description": str(r.get("description") or r.get("title") or ""),
                }
            )
    for items in sections.values():
        items.sort(key=_sort_key, reverse=True)
    results = sorted(series.values(), key=lambda g: g["label"])
    for g in results:
        g["points"].sort(key=_sort_key)
        g["trend"] = sum(1 for p in g["points"] if p["value"] is not None) >= 2
    return {
        "person": patient_header(patients),
        **sections,
        "results": results,
        "institutions": [{"id": k, "name": v} for k, v in sorted(institutions.items())],
    }
