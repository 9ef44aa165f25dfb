"""Risk-score inputs and trend readings from a person's FHIR resources (pure functions).

Readings that come through the exchange are used as data, not as follow-ups: a
follow-up (随访) is a service with several items (§1.1/§1.2), so only the
chronic domain's own follow-up records count towards 规范管理率; Observations
feed the trend chart and the risk scores.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from yilian.records.indexing import LOCAL_TZ, parse_span

LOINC = "http://loinc.org"
BP_PANEL = "85354-9"
SBP = "8480-6"
DBP = "8462-4"
# Glucose codes → factor to mmol/L (mass codes are mg/dL unless the unit says mmol/L).
GLUCOSE = {
    "14771-0": 1.0,  # Glucose [Moles/volume] in Serum or Plasma --fasting
    "15074-8": 1.0,  # Glucose [Moles/volume] in Blood
    "1558-6": 1 / 18.0,  # Fasting glucose [Mass/volume] in Serum or Plasma
    "2339-0": 1 / 18.0,  # Glucose [Mass/volume] in Blood
    "2345-7": 1 / 18.0,  # Glucose [Mass/volume] in Serum or Plasma
}
FASTING_GLUCOSE = frozenset({"14771-0", "1558-6"})
TC = {"14647-2": 1.0, "2093-3": 1 / 38.67}
HDL = {"14646-4": 1.0, "2085-9": 1 / 38.67}
LDL = {"22748-8": 1.0, "13457-7": 1 / 38.67, "18262-6": 1 / 38.67}
BMI = "39156-5"
WEIGHT = "29463-7"
HEIGHT = "8302-2"
WAIST = frozenset({"8280-0", "56086-2"})
SMOKING = "72166-2"
# SNOMED CT smoking-status answers that mean a current smoker.
CURRENT_SMOKER = frozenset({"449868002", "428041000124106", "77176002", "65568007"})
NON_SMOKER = frozenset({"8517006", "266919005", "266927001"})
# ATC classes of antihypertensive drugs.
ANTIHYPERTENSIVE_ATC = ("C02", "C03", "C07", "C08", "C09")
# ICD-10 groups used as risk-score inputs.
DIABETES_ICD = ("E10", "E11", "E12", "E13", "E14")
HYPERTENSION_ICD = ("I10", "I11", "I12", "I13", "I15")
ASCVD_ICD = ("I20", "I21", "I22", "I23", "I24", "I25", "I63", "I64", "I65", "I66", "I70")
CKD_3_4_ICD = ("N18.3", "N18.4")


@dataclass(frozen=True)
class Point:
    when: date
    value: float
    source: str  # "exchange" | "followup"


@dataclass
class Facts:
    """What the record says about the risk-score inputs, each with the date it was seen."""

    sex: str | None = None
    birth_date: date | None = None
    latest: dict[str, tuple[float, date]] = field(default_factory=dict)
    smoker: tuple[bool, date] | None = None
    diagnoses: set[str] = field(default_factory=set)  # ICD-10 codes
    antihypertensive: bool = False
    sbp: list[Point] = field(default_factory=list)
    dbp: list[Point] = field(default_factory=list)
    glucose: list[Point] = field(default_factory=list)


def _codes(concept: Any, system: str | None = None) -> list[str]:
    if not isinstance(concept, Mapping):
        return []
    return [
        str(c["code"])
        for c in concept.get("coding") or []
        if isinstance(c, Mapping)
        and c.get("code")
        and (system is None or c.get("system") in (system, None))
    ]


def _when(resource: Mapping[str, Any]) -> date | None:
    for key in ("effectiveDateTime", "issued", "authoredOn", "recordedDate", "onsetDateTime"):
        value = resource.get(key)
        if isinstance(value, str):
            try:
                return parse_span(value).start.astimezone(LOCAL_TZ).date()
            except ValueError:
                return None
    period = resource.get("effectivePeriod")
    if isinstance(period, Mapping) and isinstance(period.get("start"), str):
        try:
            return parse_span(period["start"]).start.astimezone(LOCAL_TZ).date()
        except ValueError:
            return None
    return None


def _quantity(node: Any) -> tuple[float, str] | None:
    q = node.get("valueQuantity") if isinstance(node, Mapping) else None
    if not isinstance(q, Mapping) or not isinstance(q.get("value"), int | float):
        return None
    return float(q["value"]), str(q.get("code") or q.get("unit") or "")


def _convert(value: float, unit: str, factor: float, mg_per_mmol: float) -> float:
    """To mmol/L: trust the unit when it says, else the code's own unit (``factor``)."""
    u = unit.lower().replace(" ", "")
    if "mmol" in u:
        return value
    if "mg/dl" in u:
        return value / mg_per_mmol
    return value * factor


def _keep(facts: Facts, key: str, value: float, when: date) -> None:
    old = facts.latest.get(key)
    if old is None or when >= old[1]:
        facts.latest[key] = (round(value, 2), when)


def collect(resources: Iterable[Mapping[str, Any]]) -> Facts:
    """Gather sex, birth date, latest measurements, diagnoses and BP/glucose series."""
    facts = Facts()
    for r in resources:
        kind = r.get("resourceType")
        if kind == "Patient":
            if facts.sex is None and r.get("gender") in ("male", "female"):
                facts.sex = str(r["gender"])
            if facts.birth_date is None and isinstance(r.get("birthDate"), str):
                with contextlib.suppress(ValueError):
                    facts.birth_date = date.fromisoformat(r["birthDate"][:10])
        elif kind == "Condition":
            status = _codes(r.get("verificationStatus"))
            if any(s in ("refuted", "entered-in-error") for s in status):
                continue
            facts.diagnoses.update(c.upper() for c in _codes(r.get("code")))
        elif kind == "MedicationRequest":
            atc = _codes(r.get("medicationCodeableConcept"))
            if any(c.upper().startswith(ANTIHYPERTENSIVE_ATC) for c in atc):
                facts.antihypertensive = True
        elif kind == "Observation":
            if r.get("status") in ("entered-in-error", "cancelled"):
                continue
            when = _when(r)
            if when is not None:
                _observation(facts, r, when)
    for series in (facts.sbp, facts.dbp, facts.glucose):
        series.sort(key=lambda p: p.when)
    return facts


def _observation(facts: Facts, r: Mapping[str, Any], when: date) -> None:
    codes = _codes(r.get("code"), LOINC)
    if BP_PANEL in codes or SBP in codes or DBP in codes:
        parts = [(codes, r)] + [
            (_codes(c.get("code"), LOINC), c)
            for c in r.get("component") or []
            if isinstance(c, Mapping)
        ]
        for part_codes, node in parts:
            q = _quantity(node)
            if q is None:
                continue
            if SBP in part_codes:
                facts.sbp.append(Point(when, q[0], "exchange"))
                _keep(facts, "sbp", q[0], when)
            elif DBP in part_codes:
                facts.dbp.append(Point(when, q[0], "exchange"))
                _keep(facts, "dbp", q[0], when)
        return
    q = _quantity(r)
    if SMOKING in codes:
        answer = _codes(r.get("valueCodeableConcept"))
        if any(a in CURRENT_SMOKER for a in answer):
            value = True
        elif any(a in NON_SMOKER for a in answer):
            value = False
        else:
            return
        if facts.smoker is None or when >= facts.smoker[1]:
            facts.smoker = (value, when)
        return
    if q is None:
        return
    for code in codes:
        if code in GLUCOSE:
            mmol = _convert(q[0], q[1], GLUCOSE[code], 18.0)
            if code in FASTING_GLUCOSE:
                facts.glucose.append(Point(when, round(mmol, 2), "exchange"))
                _keep(facts, "glucose", mmol, when)
        for table, key in ((TC, "tc"), (HDL, "hdl"), (LDL, "ldl")):
            if code in table:
                _keep(facts, key, _convert(q[0], q[1], table[code], 38.67), when)
        if code == BMI:
            _keep(facts, "bmi", q[0], when)
        elif code == WEIGHT:
            _keep(facts, "weight_kg", q[0], when)
        elif code == HEIGHT:
            _keep(facts, "height_cm", q[0], when)
        elif code in WAIST:
            _keep(facts, "waist_cm", q[0], when)


def has_code(diagnoses: Iterable[str], prefixes: Sequence[str]) -> bool:
    return any(d.startswith(tuple(p.upper() for p in prefixes)) for d in diagnoses)


def as_local_date(value: datetime) -> date:
    return value.astimezone(LOCAL_TZ).date()
