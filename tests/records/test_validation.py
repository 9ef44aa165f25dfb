"""Validation gives the same verdicts with repeated nested elements validated once.

``check_resource`` keeps the nested elements it has validated (``validation._Repeats``);
the verdicts and failing paths must be exactly those of the plain ``fhir.resources``
model, which is what ``model_validate`` called directly still runs.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from tests.records.test_hl7_examples import EXAMPLES, FOLDER
from yilian.kit.errors import Unprocessable
from yilian.records import validation


def _observation(**changes: Any) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]
        },
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org"},
    }
    obs.update(changes)
    return obs


def _plain_paths(doc: dict[str, Any]) -> list[str] | None:
    """The failing paths of the plain model (no repeats kept), None if valid."""
    try:
        validation._model(doc["resourceType"]).model_validate(doc)
    except ValidationError as exc:
        return [validation.fhir_path("R", e["loc"]) for e in exc.errors()]
    return None


def _checked_paths(doc: dict[str, Any]) -> list[str] | None:
    try:
        validation.check_resource(doc, "R")
    except Unprocessable as exc:
        return [d["field"] for d in exc.detail]
    return None


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    validation._REPEATS.seen.clear()
    yield
    validation._REPEATS.seen.clear()


def test_the_hook_is_installed() -> None:
    # An upgrade of fhir_core that moves its nested-element validator fails here,
    # instead of quietly making every import twice as slow.
    assert validation.REPEATS_INSTALLED


def test_a_repeated_element_is_validated_once() -> None:
    validation.check_resource(_observation(), "Observation")
    kept = len(validation._REPEATS.seen)
    assert kept >= 4  # code, its coding, subject, the quantity
    validation.check_resource(_observation(), "Observation")
    assert len(validation._REPEATS.seen) == kept
    validation.check_resource(_observation(subject={"reference": "Patient/p2"}), "Observation")
    assert len(validation._REPEATS.seen) == kept + 1


def test_an_invalid_element_fails_at_its_path_after_valid_ones() -> None:
    validation.check_resource(_observation(), "Observation")
    bad = _observation(
        code={"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": 12}]}
    )
    with pytest.raises(Unprocessable) as caught:
        validation.check_resource(bad, "Observation")
    assert caught.value.detail[0]["field"] == "Observation.code.coding[0].display"
    # Failures are not kept: the same invalid element fails again, the same way.
    with pytest.raises(Unprocessable) as again:
        validation.check_resource(bad, "Observation")
    assert again.value.detail == caught.value.detail
    # A null in a list of complex elements is refused inside a kept parent's sibling too.
    with pytest.raises(Unprocessable, match="None is not allowed"):
        validation.check_resource(_observation(code={"coding": [None]}), "Observation")


def test_json_alike_values_that_are_not_json_are_not_kept() -> None:
    from datetime import UTC, datetime

    # A datetime and its ISO string serialise alike; the datetime is not keyed.
    when = datetime(2024, 1, 2, tzinfo=UTC)
    period = {"start": when}
    assert _plain_paths(_observation(effectivePeriod=period)) is None
    before = len(validation._REPEATS.seen)
    validation.check_resource(_observation(effectivePeriod=period), "Observation")
    assert not any(b"2024-01-02" in key[2] for key in validation._REPEATS.seen)
    assert len(validation._REPEATS.seen) > before  # the other elements are kept


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation._Repeats, "SIZE", 5)
    for i in range(20):
        validation.check_resource(_observation(subject={"reference": f"Patient/p{i}"}), "R")
        assert len(validation._REPEATS.seen) <= 5


def test_load_models_imports_what_the_types_contain() -> None:
    n = validation.load_models()
    assert n > 100  # 13 resource types reach well over a hundred element types
    assert validation.load_models() == n


def _broken(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Variants of an example with one nested element made invalid in a different way."""
    out = []
    for key, value in doc.items():
        if isinstance(value, dict) and key not in ("text", "meta"):
            wrong = copy.deepcopy(doc)
            wrong[key]["no_such_element"] = "x"
            out.append(wrong)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            wrong = copy.deepcopy(doc)
            wrong[key] = [*value, None]
            out.append(wrong)
    return out


@pytest.mark.skipif(FOLDER is None, reason="HL7 FHIR R4 examples not found")
def test_the_hl7_examples_get_the_plain_models_verdicts() -> None:
    """Every example, then broken variants of each, in one stream (with repeats kept).

    Source: the official HL7 FHIR R4 examples (hl7.fhir.r4.examples 4.0.1, CC0).
    """
    compared = refused = 0
    for doc in EXAMPLES + EXAMPLES:  # the second pass meets every element kept
        assert _checked_paths(doc) is None, doc["id"]
        compared += 1
    for doc in EXAMPLES:
        for wrong in _broken(doc):
            plain = _plain_paths(wrong)
            assert plain is not None
            assert _checked_paths(wrong) == plain[: validation.MAX_ISSUES], doc["id"]
            compared += 1
            refused += 1
    assert refused > 1000
    assert compared > refused


def test_the_null_check_is_installed() -> None:
    # fhir_core's reject_null_complex_elements with its list fields found once per model;
    # a fhir_core release that changes the check leaves it unpatched and fails here.
    assert validation.NULL_CHECK_INSTALLED
    assert validation._NULL_CHECK_ORIGINAL


def _errors(doc: dict[str, Any]) -> list[tuple[Any, ...]] | None:
    try:
        validation._model(doc["resourceType"]).model_validate(doc)
    except ValidationError as exc:
        return [(e["type"], e["loc"], e["msg"], repr(e.get("input"))) for e in exc.errors()]
    return None


def _with_nulls(value: Any) -> list[Any]:
    """Copies of ``value`` with a None appended to one of its lists of objects, at any depth."""
    out: list[Any] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, list) and item and isinstance(item[0], dict):
                out.append({**value, key: [*item, None]})
            out += [{**value, key: variant} for variant in _with_nulls(item)[:3]]
    elif isinstance(value, list):
        for i, item in enumerate(value[:2]):
            out += [[*value[:i], variant, *value[i + 1 :]] for variant in _with_nulls(item)[:3]]
    return out


@pytest.mark.skipif(FOLDER is None, reason="HL7 FHIR R4 examples not found")
def test_the_null_check_gives_fhir_cores_own_errors() -> None:
    """The same errors as fhir_core's own code, on nulls planted at every depth.

    Source: the official HL7 FHIR R4 examples (hl7.fhir.r4.examples 4.0.1, CC0).
    """
    (function, own_code), *_ = validation._NULL_CHECK_ORIGINAL
    ours = function.__code__
    variants = [v for doc in EXAMPLES for v in [doc, *_with_nulls(doc)[:12]]]
    got = [_errors(v) for v in variants]
    function.__code__ = own_code
    try:
        expected = [_errors(v) for v in variants]
    finally:
        function.__code__ = ours
    assert got == expected
    refused = sum(e is not None for e in expected)
    assert refused > 1000  # nulls in nested lists are found, not only at the top
    assert any(e and "None is not allowed" in e[0][2] and len(e[0][1]) > 2 for e in expected)
