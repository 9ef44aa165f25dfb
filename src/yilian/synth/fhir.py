"""FHIR R4 resource builders: plain dicts, fast enough for millions of resources.

No fhir.resources models here (they cost ~100× more per resource); the tests
validate generated bundles with the R4B models instead. Every resource carries a
business identifier in a system of its institution so that a transaction's
``ifNoneExist`` makes a re-sent bundle change nothing; institutions and
practitioners are referenced by identifier, as the registry knows them.
"""

from __future__ import annotations

from typing import Any

from yilian.kit.fhir import NAMESPACE
from yilian.registry.fhir import SID_LICENSE, SID_ORG_CODE
from yilian.synth import catalogue as cat

NS = NAMESPACE

# Identifier systems. Person identifiers are national; record numbers are per institution.
SID_ID_CARD = f"{NS}/sid/resident-id-card"  # 居民身份证号 (GB 11643)
SID_INSURANCE_CARD = f"{NS}/sid/social-security-card"  # 社会保障卡号 / 医保卡号
SID_HEALTH_CARD = f"{NS}/sid/health-card"  # 电子健康卡 ID
SID_ORG = SID_ORG_CODE  # the registry's own system, so references resolve there
SID_PRACTITIONER = SID_LICENSE  # 执业证书编码, as the registry publishes it


def sid(kind: str, org: str) -> str:
    """The identifier system of ``kind`` (mrn, encounter, observation, …) at one institution."""
    return f"{NS}/sid/{kind}/{org}"


CS_VISIT_KIND = f"{NS}/CodeSystem/visit-kind"
CS_CONDITION_CATEGORY = f"{NS}/CodeSystem/condition-category"
CS_EPISODE_TYPE = f"{NS}/CodeSystem/episode-type"
CS_INSURANCE_KIND = f"{NS}/CodeSystem/insurance-kind"
CS_FEE = f"{NS}/CodeSystem/fee-item"
CS_SETTLEMENT = f"{NS}/CodeSystem/settlement"
CS_RECOGNITION = f"{NS}/CodeSystem/mutual-recognition"
SD_CONTRACT_COMBINATION = f"{NS}/StructureDefinition/contract-combination"
MEASURE_SYNDROMIC = f"{NS}/Measure/syndromic-surveillance"

V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
SNOMED = "http://snomed.info/sct"

CLASS_DISPLAY = {"AMB": "ambulatory", "EMER": "emergency", "VR": "virtual", "HH": "home health"}
VISIT_KIND_ZH = {
    "acute": "门诊",
    "chronic": "慢病随访",
    "check": "健康体检",
    "specialist": "专科门诊",
    "referral": "转诊就诊",
    "internet": "互联网复诊",
    "notifiable": "门诊",
    "tb_suspect": "门诊",
    "tb": "结核病门诊",
    "tb_follow_up": "结核病复诊",
    "tb_home": "结核病患者居家随访",
}
INSURANCE_KIND_ZH = {"employee": "职工基本医疗保险", "resident": "城乡居民基本医疗保险"}
_CATEGORY_CACHE: dict[str, list[dict[str, Any]]] = {}


def org_ref(code: str, name: str) -> dict[str, Any]:
    return {"identifier": {"system": SID_ORG, "value": code}, "display": name}


_PRACTITIONER_REFS: dict[str, dict[str, Any]] = {}


def practitioner_ref(code: str) -> dict[str, Any]:
    ref = _PRACTITIONER_REFS.get(code)
    if ref is None:
        ref = _PRACTITIONER_REFS[code] = {"identifier": {"system": SID_PRACTITIONER, "value": code}}
    return ref


def ident(system: str, value: str) -> list[dict[str, str]]:
    return [{"system": system, "value": value}]


def entry(full_url: str, resource: dict[str, Any], system: str, value: str) -> dict[str, Any]:
    """A transaction entry that creates the resource unless its identifier is already known."""
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": f"identifier={system}|{value}",
        },
    }


def _category(system: str, code: str, display: str) -> list[dict[str, Any]]:
    key = f"{system}|{code}"
    cached = _CATEGORY_CACHE.get(key)
    if cached is None:
        cached = [{"coding": [{"system": system, "code": code, "display": display}]}]
        _CATEGORY_CACHE[key] = cached
    return cached


def patient(
    *,
    org: str,
    org_name: str,
    mrn: str,
    id_number: str | None,
    card_no: str | None,
    health_card: str | None,
    family: str,
    given: str,
    sex: str,
    birth_date: str,
    phone: str | None,
    landline: str | None,
    address_text: str,
    address_line: str,
    district: str,
    city: str,
    state: str,
    postal_code: str,
) -> dict[str, Any]:
    identifiers = [{"system": sid("mrn", org), "value": mrn}]
    if id_number:
        identifiers.append({"system": SID_ID_CARD, "value": id_number})
    if card_no:
        identifiers.append({"system": SID_INSURANCE_CARD, "value": card_no})
    if health_card:
        identifiers.append({"system": SID_HEALTH_CARD, "value": health_card})
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": identifiers,
        "name": [{"use": "official", "text": family + given, "family": family, "given": [given]}],
        "gender": sex,
        "birthDate": birth_date,
        "address": [
            {
                "use": "home",
                "text": address_text,
                "line": [address_line],
                "district": district,
                "city": city,
                "state": state,
                "postalCode": postal_code,
                "country": "CN",
            }
        ],
        "managingOrganization": org_ref(org, org_name),
    }
    telecom = []
    if phone:
        telecom.append({"system": "phone", "value": phone, "use": "mobile"})
    if landline:
        telecom.append({"system": "phone", "value": landline, "use": "home"})
    if telecom:
        res["telecom"] = telecom
    return res


def encounter(
    *,
    org: str,
    org_name: str,
    number: str,
    cls: str,
    kind: str,
    dept: str,
    subject: dict[str, Any],
    doctor: str | None,
    start: str,
    end: str,
    diagnoses: list[dict[str, Any]],
    location: tuple[str, str] | None,
    based_on: tuple[str, str] | None,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": ident(sid("encounter", org), number),
        "status": "finished",
        "class": {"system": V3_ACT, "code": cls, "display": CLASS_DISPLAY[cls]},
        "type": [
            {"coding": [{"system": CS_VISIT_KIND, "code": kind, "display": VISIT_KIND_ZH[kind]}]}
        ],
        "serviceType": {"text": dept},
        "subject": subject,
        "period": {"start": start, "end": end},
        "serviceProvider": org_ref(org, org_name),
    }
    if doctor:
        res["participant"] = [{"individual": practitioner_ref(doctor)}]
    if diagnoses:
        res["diagnosis"] = [
            {"condition": ref, "rank": n} for n, ref in enumerate(diagnoses, start=1)
        ]
    if location:
        res["location"] = [{"location": org_ref(*location)}]
    if based_on:
        res["basedOn"] = [{"identifier": {"system": sid("service-request", based_on[0]),
                                          "value": based_on[1]}}]  # fmt: skip
    return res


def condition(
    *,
    org: str,
    number: str,
    code: str,
    display: str,
    subject: dict[str, Any],
    context: dict[str, Any] | None,
    recorded: str,
    onset: str | None,
    chronic: bool,
    notifiable: str | None,
    doctor: str | None,
) -> dict[str, Any]:
    category = [
        _category(COND_CATEGORY, "problem-list-item", "Problem List Item")[0]
        if chronic
        else _category(COND_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")[0]
    ]
    if notifiable:
        # 传染病报告卡: the report is this Condition with its class (甲/乙/丙类).
        category.append(
            {"coding": [{"system": CS_CONDITION_CATEGORY, "code": "notifiable",
                         "display": f"法定传染病报告（{notifiable}）"}]}
        )  # fmt: skip
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "identifier": ident(sid("condition", org), number),
        "clinicalStatus": {"coding": [{"system": COND_CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": COND_VERIFICATION, "code": "confirmed"}]},
        "category": category,
        "code": {
            "coding": [{"system": cat.ICD10, "code": code, "display": display}],
            "text": display,
        },
        "subject": subject,
        "recordedDate": recorded,
    }
    if context:
        res["encounter"] = context
    if onset:
        res["onsetDateTime"] = onset
    if doctor:
        res["recorder"] = practitioner_ref(doctor)
    return res


def vital(
    *,
    org: str,
    number: str,
    loinc: str,
    display: str,
    value: float,
    unit: str,
    subject: dict[str, Any],
    context: dict[str, Any],
    when: str,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": ident(sid("observation", org), number),
        "status": "final",
        "category": _category(OBS_CATEGORY, "vital-signs", "Vital Signs"),
        "code": {"coding": [{"system": cat.LOINC, "code": loinc, "display": display}]},
        "subject": subject,
        "encounter": context,
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": cat.UCUM, "code": unit},
    }


def blood_pressure(
    *,
    org: str,
    number: str,
    systolic: int,
    diastolic: int,
    subject: dict[str, Any],
    context: dict[str, Any],
    when: str,
) -> dict[str, Any]:
    def component(code: str, display: str, value: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": cat.LOINC, "code": code, "display": display}]},
            "valueQuantity": {
                "value": value,
                "unit": "mm[Hg]",
                "system": cat.UCUM,
                "code": "mm[Hg]",
            },
        }

    return {
        "resourceType": "Observation",
        "identifier": ident(sid("observation", org), number),
        "status": "final",
        "category": _category(OBS_CATEGORY, "vital-signs", "Vital Signs"),
        "code": {"coding": [{"system": cat.LOINC, "code": "85354-9",
                             "display": "Blood pressure panel with all children optional"}],
                 "text": "血压"},
        "subject": subject,
        "encounter": context,
        "effectiveDateTime": when,
        "component": [
            component("8480-6", "Systolic blood pressure", systolic),
            component("8462-4", "Diastolic blood pressure", diastolic),
        ],
    }  # fmt: skip


def lab_observation(
    *,
    org: str,
    number: str,
    item: cat.LabItem,
    code: dict[str, Any],
    value: float,
    subject: dict[str, Any],
    context: dict[str, Any],
    when: str,
    issued: str,
    performer: list[dict[str, Any]],
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": ident(sid("observation", org), number),
        "status": "final",
        "category": _category(OBS_CATEGORY, "laboratory", "Laboratory"),
        "code": code,
        "subject": subject,
        "encounter": context,
        "effectiveDateTime": when,
        "issued": issued,
        "performer": performer,
        "valueQuantity": {"value": value, "unit": item.unit, "system": cat.UCUM, "code": item.unit},
        "interpretation": _INTERPRETATIONS[cat.interpretation(item, value)],
    }
    ref = _reference_range(item)
    if ref:
        res["referenceRange"] = ref
    return res


_INTERPRETATIONS = {
    c: [{"coding": [{"system": INTERPRETATION, "code": c}]}] for c in ("H", "L", "N")
}
_RANGES: dict[str, list[dict[str, Any]]] = {}


def _reference_range(item: cat.LabItem) -> list[dict[str, Any]]:
    cached = _RANGES.get(item.key)
    if cached is None:
        bounds: dict[str, Any] = {}
        for name, value in (("low", item.low), ("high", item.high)):
            if value is not None:
                bounds[name] = {
                    "value": value,
                    "unit": item.unit,
                    "system": cat.UCUM,
                    "code": item.unit,
                }
        cached = _RANGES[item.key] = [bounds] if bounds else []
    return cached


def lab_code(org: str, loinc: str, display: str, zh: str, local: tuple[str, str]) -> dict[str, Any]:
    """An item's code at one institution: LOINC plus the LIS's own code and name."""
    return {
        "coding": [
            {"system": cat.LOINC, "code": loinc, "display": display},
            {"system": sid("lab-code", org), "code": local[0], "display": local[1]},
        ],
        "text": zh,
    }


_POSITIVE = {"system": SNOMED, "code": "10828004", "display": "Positive"}
_NEGATIVE = {"system": SNOMED, "code": "260385009", "display": "Negative"}


def qualitative_observation(
    *,
    org: str,
    number: str,
    code: dict[str, Any],
    positive: bool,
    resistance: bool,
    subject: dict[str, Any],
    context: dict[str, Any],
    when: str,
    issued: str,
    performer: list[dict[str, Any]],
) -> dict[str, Any]:
    if resistance:
        value = {"coding": [{"system": INTERPRETATION, "code": "R" if positive else "S",
                             "display": "Resistant" if positive else "Susceptible"}],
                 "text": "耐药" if positive else "敏感"}  # fmt: skip
    else:
        value = {"coding": [_POSITIVE if positive else _NEGATIVE],
                 "text": "阳性" if positive else "阴性"}  # fmt: skip
    return {
        "resourceType": "Observation",
        "identifier": ident(sid("observation", org), number),
        "status": "final",
        "category": _category(OBS_CATEGORY, "laboratory", "Laboratory"),
        "code": code,
        "subject": subject,
        "encounter": context,
        "effectiveDateTime": when,
        "issued": issued,
        "performer": performer,
        "valueCodeableConcept": value,
    }


def report(
    *,
    org: str,
    number: str,
    category: str,
    loinc: str,
    display: str,
    zh: str,
    subject: dict[str, Any],
    context: dict[str, Any],
    when: str,
    issued: str,
    performer: list[dict[str, Any]],
    results: list[str],
    conclusion: str | None,
    schemes: tuple[str, ...],
) -> dict[str, Any]:
    """DiagnosticReport of a lab panel (LAB, MB) or an imaging/ECG study (RAD, EC)."""
    res: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": ident(sid("report", org), number),
        "status": "final",
        "category": _category(V2_0074, category, category),
        "code": {"coding": [{"system": cat.LOINC, "code": loinc, "display": display}], "text": zh},
        "subject": subject,
        "encounter": context,
        "effectiveDateTime": when,
        "issued": issued,
        "performer": performer,
    }
    if results:
        res["result"] = [{"reference": r} for r in results]
    if conclusion:
        res["conclusion"] = conclusion
    if schemes:
        # The 互认 mark (“HR”) the report carries, one tag per scheme.
        res["meta"] = {"tag": [{"system": CS_RECOGNITION, "code": f"HR-{s}"} for s in schemes]}
    return res


def medication_request(
    *,
    org: str,
    number: str,
    drug: cat.Drug,
    days: int,
    subject: dict[str, Any],
    context: dict[str, Any],
    when: str,
    doctor: str | None,
) -> dict[str, Any]:
    coding = [{"system": sid("drug-code", org), "code": drug.key, "display": drug.zh}]
    if drug.atc:
        coding.insert(0, {"system": cat.ATC, "code": drug.atc})
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "identifier": ident(sid("medication-request", org), number),
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {"coding": coding, "text": drug.zh},
        "subject": subject,
        "encounter": context,
        "authoredOn": when,
        "dosageInstruction": [{"text": drug.dose}],
        "dispenseRequest": {
            "expectedSupplyDuration": {"value": days, "unit": "d", "system": cat.UCUM, "code": "d"}
        },
    }
    if doctor:
        res["requester"] = practitioner_ref(doctor)
    return res


def service_request(
    *,
    org: str,
    number: str,
    target: tuple[str, str],
    reason: tuple[str, str] | None,
    subject: dict[str, Any],
    context: dict[str, Any],
    when: str,
    doctor: str | None,
) -> dict[str, Any]:
    """双向转诊: the referral of this patient to ``target``."""
    res: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": ident(sid("service-request", org), number),
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": SNOMED, "code": "3457005",
                                  "display": "Patient referral"}]}],
        "code": {"coding": [{"system": SNOMED, "code": "306206005",
                             "display": "Referral to service"}], "text": "上转"},
        "subject": subject,
        "encounter": context,
        "authoredOn": when,
        "performer": [org_ref(*target)],
    }  # fmt: skip
    if reason:
        res["reasonCode"] = [
            {"coding": [{"system": cat.ICD10, "code": reason[0], "display": reason[1]}]}
        ]
    if doctor:
        res["requester"] = practitioner_ref(doctor)
    return res


def contract_episode(
    *,
    org: str,
    org_name: str,
    number: str,
    subject: dict[str, Any],
    start: str,
    end: str,
    doctor: str,
    combination: list[tuple[str, str]],
) -> dict[str, Any]:
    """家庭医生签约 as an EpisodeOfCare managed by the centre, one per contract year."""
    res: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "identifier": ident(sid("contract", org), number),
        "status": "active",
        "type": [{"coding": [{"system": CS_EPISODE_TYPE, "code": "family-doctor-contract",
                              "display": "家庭医生签约"}]}],
        "patient": subject,
        "managingOrganization": org_ref(org, org_name),
        "period": {"start": start, "end": end},
        "careManager": practitioner_ref(doctor),
    }  # fmt: skip
    if combination:
        # 上海 “1+1+1”: the district and municipal hospitals chosen with the contract.
        res["extension"] = [
            {"url": SD_CONTRACT_COMBINATION, "valueReference": org_ref(*c)} for c in combination
        ]
    return res


def coverage(
    *, card_no: str, kind: str, subject: dict[str, Any], insurer: tuple[str, str]
) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "identifier": ident(SID_INSURANCE_CARD, card_no),
        "status": "active",
        "type": {"coding": [{"system": CS_INSURANCE_KIND, "code": kind,
                             "display": INSURANCE_KIND_ZH[kind]}]},
        "subscriberId": card_no,
        "beneficiary": subject,
        "payor": [org_ref(*insurer)],
    }  # fmt: skip


def _money(value: float) -> dict[str, Any]:
    return {"value": round(value, 2), "currency": "CNY"}


_ADJ = "http://terminology.hl7.org/CodeSystem/adjudication"


def claim_outcome(
    *,
    org: str,
    org_name: str,
    number: str,
    subject: dict[str, Any],
    coverage_url: str,
    insurer: tuple[str, str],
    created: str,
    items: list[tuple[str, str, float, float]],
) -> dict[str, Any]:
    """异地就医直接结算 as an ExplanationOfBenefit: items are (code, name, cost, paid by fund)."""
    total = sum(i[2] for i in items)
    paid = sum(i[3] for i in items)
    return {
        "resourceType": "ExplanationOfBenefit",
        "identifier": ident(sid("settlement", org), number),
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "professional"}]},
        "subType": {"coding": [{"system": CS_SETTLEMENT, "code": "cross-region-direct",
                                "display": "异地就医直接结算"}]},
        "use": "claim",
        "patient": subject,
        "created": created,
        "insurer": org_ref(*insurer),
        "provider": org_ref(org, org_name),
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"reference": coverage_url}}],
        "item": [
            {
                "sequence": n,
                "productOrService": {"coding": [{"system": CS_FEE, "code": code, "display": name}]},
                "net": _money(cost),
                "adjudication": [
                    {"category": {"coding": [{"system": _ADJ, "code": "benefit"}]},
                     "amount": _money(fund)},
                ],
            }
            for n, (code, name, cost, fund) in enumerate(items, start=1)
        ],
        "total": [
            {"category": {"coding": [{"system": _ADJ, "code": "submitted"}]},
             "amount": _money(total)},
            {"category": {"coding": [{"system": _ADJ, "code": "benefit"}]},
             "amount": _money(paid)},
        ],
        "payment": {"amount": _money(paid)},
    }  # fmt: skip
