"""What goes into the index, on resources as the synthetic generator builds them."""

from __future__ import annotations

from yilian.recognition import indexing
from yilian.recognition.defaults import DEFAULT_ITEMS, LOINC, default_code_map
from yilian.synth import catalogue as cat
from yilian.synth import fhir


def test_every_recognisable_code_the_generator_emits_is_mapped() -> None:
    """The demo's labs and imaging (yilian.synth.catalogue) must reach the index."""
    mapping = default_code_map()
    for item in cat.LAB_ITEMS.values():
        assert (LOINC, item.loinc) in mapping, item.key
    for study in cat.IMAGING.values():
        assert (LOINC, study.loinc) in mapping, study.key
    assert mapping[(LOINC, cat.HBSAG[0])] == "HBSAG"
    # Microbiology changes fast: smear, culture and rifampicin tests are not recognised.
    for test in (cat.SMEAR, cat.CULTURE, cat.RIF):
        assert (LOINC, test[0]) not in mapping


def test_the_default_list_has_seed_001s_counts() -> None:
    """Seed 001: 35 个检验项目和 9 大类检查项目."""
    assert sum(i.kind == "lab" for i in DEFAULT_ITEMS) == 35
    assert sum(i.kind == "imaging" for i in DEFAULT_ITEMS) == 9
    codes = [loinc for i in DEFAULT_ITEMS for loinc in i.loinc]
    assert len(codes) == len(set(codes))


def test_a_generated_lab_observation_and_report() -> None:
    item = cat.LAB_ITEMS["hgb"]
    code = fhir.lab_code("310105C001", item.loinc, item.display, item.zh, item.local[0])
    obs = fhir.lab_observation(
        org="310105C001", number="1", item=item, code=code, value=131.0,
        subject={"reference": "Patient/p1"}, context={"reference": "Encounter/e1"},
        when="2024-01-05T09:10:00+08:00", issued="2024-01-05T11:00:00+08:00", performer=[],
    )  # fmt: skip
    mapping = default_code_map()
    assert {mapping[c] for c in indexing.codings(obs) if c in mapping} == {"HGB"}
    assert indexing.patient_id(obs) == "p1"
    assert indexing.effective(obs).isoformat() == "2024-01-05T01:10:00+00:00"  # type: ignore[union-attr]
    assert indexing.value_of(obs) == ("131", "g/L")
    assert indexing.indexable(obs)
    rep = fhir.report(
        org="310105C001", number="2", category="LAB", loinc="58410-2", display="CBC", zh="血常规",
        subject={"reference": "Patient/p1"}, context={}, when="2024-01-05", issued="2024-01-05",
        performer=[], results=["Observation/o1"], conclusion=None, schemes=("shanghai",),
    )  # fmt: skip
    assert indexing.result_ids(rep) == ["o1"] and indexing.hr_marked(rep)


def test_values_dates_and_statuses() -> None:
    assert indexing.parse_instant("2024-03") is None
    assert indexing.parse_instant("not a date") is None
    assert indexing.parse_instant("2024-03-01").isoformat() == "2024-03-01T00:00:00+00:00"  # type: ignore[union-attr]
    qualitative = {"resourceType": "Observation", "valueCodeableConcept": {"text": "阴性"}}
    assert indexing.value_of(qualitative) == ("阴性", None)
    assert not indexing.indexable({"resourceType": "Observation", "status": "entered-in-error"})
    study = {"resourceType": "ImagingStudy", "status": "available",
             "procedureCode": [{"coding": [{"system": LOINC, "code": "24627-2"}]}]}  # fmt: skip
    assert indexing.codings(study) == [(LOINC, "24627-2")] and indexing.indexable(study)
    assert indexing.patient_id({"subject": {"reference": "Group/1"}}) is None
