"""The longitudinal record's assembly: pure functions over hand-built FHIR resources."""

from __future__ import annotations

from typing import Any

from yilian.web import timeline

LOINC = "http://loinc.org"
QP, WJ = "org-qingpu", "org-wujiang"
NAMES = {QP: "青浦区中心医院", WJ: "吴江区第一人民医院"}


def _obs(rid: str, when: str, value: float | None, code: str = "718-7") -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "code": {"coding": [{"system": LOINC, "code": code, "display": "血红蛋白"}]},
        "effectiveDateTime": when,
    }
    if value is not None:
        r["valueQuantity"] = {"value": value, "unit": "g/L"}
    else:
        r["valueString"] = "阴性"
    return r


def _resources() -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Patient",
            "id": "p1",
            "name": [{"family": "欧阳", "given": ["娜娜"]}],
            "gender": "female",
            "birthDate": "1980-05-17",
            "identifier": [
                {"system": "https://x/fhir/sid/resident-id-card", "value": "310118198005171234"},
                {"system": "https://his.example/mrn", "value": "MRN1"},
            ],
        },
        {
            "resourceType": "Condition",
            "id": "c1",
            "code": {"coding": [{"system": "icd-10", "code": "I10", "display": "原发性高血压"}]},
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "recordedDate": "2024-03-01",
        },
        {
            "resourceType": "Encounter",
            "id": "e1",
            "class": {"code": "AMB"},
            "period": {"start": "2024-03-01T09:00:00+08:00"},
        },
        {
            "resourceType": "Encounter",
            "id": "e2",
            "class": {"code": "IMP"},
            "period": {"start": "2024-06-01T09:00:00+08:00", "end": "2024-06-05"},
        },
        _obs("o2", "2024-06-02T08:00:00+08:00", 120),
        _obs("o1", "2024-03-01T09:30:00+08:00", 135),
        _obs("o3", "2024-03-01T09:30:00+08:00", None, code="5804-0"),
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "status": "active",
            "authoredOn": "2024-03-01",
            "medicationCodeableConcept": {"text": "氨氯地平片 5mg"},
            "dosageInstruction": [{"text": "每日一次，每次一片"}],
        },
        {
            "resourceType": "DiagnosticReport",
            "id": "d1",
            "code": {"text": "胸部CT"},
            "conclusion": "未见明显异常",
            "effectiveDateTime": "2024-06-03",
        },
        {
            "resourceType": "ImagingStudy",
            "id": "i1",
            "started": "2024-06-03",
            "modality": [{"code": "CT"}],
        },
        {
            "resourceType": "DocumentReference",
            "id": "doc1",
            "date": "2024-06-05",
            "type": {"text": "出院小结"},
            "description": "住院5天",
        },
        {"resourceType": "Basic", "id": "b1"},
    ]


def _sources() -> dict[str, str | None]:
    out: dict[str, str | None] = {
        timeline.key_of(r): QP for r in _resources() if r["resourceType"] != "Patient"
    }
    out["Encounter/e2"] = out["Observation/o2"] = WJ
    out["DocumentReference/doc1"] = None  # written by a platform administrator
    return out


def test_every_section_is_filled_and_every_item_names_its_institution() -> None:
    rec = timeline.assemble(_resources(), _sources(), NAMES)
    assert [p["label"] for p in rec["problems"]] == ["原发性高血压"]
    assert rec["problems"][0]["source"] == {"id": QP, "name": "青浦区中心医院"}
    # Newest first across institutions.
    assert [e["ref"] for e in rec["encounters"]] == ["Encounter/e2", "Encounter/e1"]
    assert rec["encounters"][0]["source"]["name"] == "吴江区第一人民医院"
    assert rec["encounters"][0]["class"] == "IMP"
    assert rec["medications"][0]["label"] == "氨氯地平片 5mg"
    assert rec["medications"][0]["dosage"] == "每日一次，每次一片"
    assert {i["kind"] for i in rec["imaging"]} == {"DiagnosticReport", "ImagingStudy"}
    assert {i["label"] for i in rec["imaging"]} == {"胸部CT", "CT"}
    assert rec["documents"][0]["label"] == "出院小结"
    assert rec["documents"][0]["source"] == {"id": None, "name": ""}
    assert rec["institutions"] == [
        {"id": QP, "name": "青浦区中心医院"},
        {"id": WJ, "name": "吴江区第一人民医院"},
    ]


def test_results_are_grouped_by_code_oldest_first_for_the_trend() -> None:
    rec = timeline.assemble(_resources(), _sources(), NAMES)
    by_code = {g["code"]: g for g in rec["results"]}
    hb = by_code[f"{LOINC}|718-7"]
    assert [p["value"] for p in hb["points"]] == [135.0, 120.0]
    assert [p["source"]["id"] for p in hb["points"]] == [QP, WJ]
    assert hb["unit"] == "g/L" and hb["trend"] is True
    text_only = by_code[f"{LOINC}|5804-0"]
    assert text_only["points"][0]["text"] == "阴性"
    assert text_only["trend"] is False  # no numbers, nothing to draw


def test_the_header_is_masked() -> None:
    rec = timeline.assemble(_resources(), _sources(), NAMES)
    person = rec["person"]
    assert person["name"] == "欧**娜"
    assert person["identifiers"] == [{"kind": "id_card", "value": "310***********1234"}]
    assert "310118198005171234" not in repr(rec)
    assert person["gender"] == "female" and person["birth_date"] == "1980-05-17"


def test_labels_and_times_fall_back_sensibly() -> None:
    assert timeline.concept_label({"coding": [{"code": "X1"}]}) == "X1"
    assert timeline.concept_label(None) == ""
    assert timeline.concept_key({"text": "自由文本"}) == "自由文本"
    assert timeline.when({"effectivePeriod": {"start": "2024-01-01"}}) == "2024-01-01"
    assert timeline.when({}) is None
    empty = timeline.assemble([], {}, {})
    assert empty["results"] == [] and empty["person"]["name"] == ""
