"""The generated files: deterministic, valid FHIR R4, and consistent with the truth files."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from tests.synth.conftest import Run
from yilian.synth import fhir
from yilian.synth.generate import SynthError, generate


def _digest(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_the_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    generate(tmp_path / "a", residents=1500, days=20, seed=3, workers=1)
    generate(tmp_path / "b", residents=1500, days=20, seed=3, workers=2)
    generate(tmp_path / "c", residents=1500, days=20, seed=4, workers=2)
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b
    assert a["truth/people.ndjson"] != c["truth/people.ndjson"]
    assert sum(a[k] != c.get(k) for k in a if k.startswith("bundles/")) > len(a) // 2


def test_gzip_output_decompresses_to_the_plain_output(tmp_path: Path) -> None:
    generate(tmp_path / "plain", residents=200, days=7, seed=9, workers=1)
    generate(tmp_path / "gz", residents=200, days=7, seed=9, workers=1, compress=True)
    plain = sorted((tmp_path / "plain" / "bundles").rglob("*.json"))
    assert plain
    for path in plain:
        rel = path.relative_to(tmp_path / "plain")
        packed = tmp_path / "gz" / rel.with_suffix(".json.gz")
        assert gzip.decompress(packed.read_bytes()) == path.read_bytes()


def test_refuses_a_used_directory_unless_told(tmp_path: Path) -> None:
    generate(tmp_path, residents=10, days=2, seed=1, workers=1)
    with pytest.raises(SynthError, match="not empty"):
        generate(tmp_path, residents=10, days=2, seed=1, workers=1)
    generate(tmp_path, residents=10, days=2, seed=1, workers=1, overwrite=True)


def test_every_bundle_validates_as_fhir_r4(rich_run: Run) -> None:
    seen: Counter[str] = Counter()
    for path, data in rich_run.bundles():
        bundle = Bundle.model_validate(data)
        assert bundle.type == "transaction", path
        urls = [e["fullUrl"] for e in data["entry"]]
        assert len(urls) == len(set(urls)), f"{path}: a fullUrl appears twice"
        for e in data["entry"]:
            seen[e["resource"]["resourceType"]] += 1
            assert e["request"]["ifNoneExist"].startswith("identifier=")
    expected = {
        "Patient", "Encounter", "Condition", "Observation", "DiagnosticReport",
        "MedicationRequest", "ServiceRequest", "EpisodeOfCare", "Coverage",
        "ExplanationOfBenefit", "MeasureReport",
    }  # fmt: skip
    assert expected <= set(seen)
    assert dict(seen) == rich_run.manifest["resources_by_type"]


def test_internal_references_resolve_within_the_bundle(rich_run: Run) -> None:
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["reference"]] if isinstance(node.get("reference"), str) else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for path, data in rich_run.bundles():
        urls = {e["fullUrl"] for e in data["entry"]}
        for e in data["entry"]:
            for ref in refs(e["resource"]):
                assert ref in urls, f"{path}: {ref} is not in the bundle"


def _patients(run: Run) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for _path, data in run.bundles():
        for e in data["entry"]:
            r = e["resource"]
            if r["resourceType"] == "Patient":
                org = r["managingOrganization"]["identifier"]["value"]
                mrn = next(
                    i["value"] for i in r["identifier"] if i["system"] == fhir.sid("mrn", org)
                )
                out[(org, mrn)] = r
    return out


def _ident(resource: dict[str, Any], system: str) -> str | None:
    return next((i["value"] for i in resource["identifier"] if i["system"] == system), None)


def test_record_truth_matches_the_patient_records(default_run: Run) -> None:
    people = {p["person_id"]: p for p in default_run.people}
    patients = _patients(default_run)
    assert {(r["org"], r["mrn"]) for r in default_run.records} == set(patients)
    kinds: Counter[str] = Counter()
    for rec in default_run.records:
        person = people[rec["person_id"]]
        res = patients[(rec["org"], rec["mrn"])]
        errors = set(rec["errors"])
        kinds.update(errors)
        id_number = _ident(res, fhir.SID_ID_CARD)
        name = res["name"][0]["text"]
        phone = next((t["value"] for t in res.get("telecom", []) if t["use"] == "mobile"), None)
        if "missing_id" in errors:
            assert id_number is None
        elif errors & {"transposed_id_digits", "wrong_id_digit"}:
            assert id_number is not None
            diff = [i for i in range(18) if id_number[i] != person["id_number"][i]]
            assert len(diff) == (2 if "transposed_id_digits" in errors else 1)
        else:
            assert id_number == person["id_number"]
        if "homophone" in errors:
            assert name != person["name"] and len(name) == len(person["name"])
        else:
            assert name == person["name"]
        if "old_phone" in errors:
            assert phone == person["old_phone"]
        elif "missing_phone" in errors:
            assert phone is None
        else:
            assert phone == person["phone"]
        if "birth_date_swap" in errors:
            y, m, d = res["birthDate"].split("-")
            assert f"{y}-{d}-{m}" == person["birth_date"]
        else:
            assert res["birthDate"] == person["birth_date"]
        expected_address = person["old_address"] if "old_address" in errors else person["address"]
        assert res["address"][0]["text"] == expected_address
    # Every kind of error occurs, at roughly the profile's rate.
    assert set(kinds) == {
        "homophone", "transposed_id_digits", "wrong_id_digit", "missing_id", "old_phone",
        "missing_phone", "birth_date_swap", "old_address",
    }  # fmt: skip
    clean = [r for r in default_run.records if not r["duplicate_registration"]]
    with_errors = sum(bool(r["errors"]) for r in clean) / len(clean)
    assert 0.05 < with_errors < 0.11
    assert any(r["duplicate_registration"] for r in default_run.records)


def test_people_are_in_many_institutions(default_run: Run) -> None:
    per_person = Counter(r["person_id"] for r in default_run.records)
    assert max(per_person.values()) >= 3
    assert sum(1 for n in per_person.values() if n > 1) > 100


def _reports(run: Run) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for _path, data in run.bundles():
        for e in data["entry"]:
            r = e["resource"]
            if r["resourceType"] == "DiagnosticReport":
                org = r["performer"][0]["identifier"]["value"]
                out[(org, r["identifier"][0]["value"])] = r
    return out


def test_repeat_test_truth_points_at_real_reports(default_run: Run) -> None:
    assert default_run.repeats
    reports = _reports(default_run)
    for rep in default_run.repeats:
        first = reports[(rep["first"]["org"], rep["first"]["report"])]
        again = reports[(rep["repeat"]["org"], rep["repeat"]["report"])]
        assert first["effectiveDateTime"].startswith(rep["first"]["date"])
        assert again["effectiveDateTime"].startswith(rep["repeat"]["date"])
        assert rep["first"]["org"] != rep["repeat"]["org"]
        assert 0 <= rep["days_between"] <= rep["window_days"]
        gap = date.fromisoformat(rep["repeat"]["date"]) - date.fromisoformat(rep["first"]["date"])
        assert gap.days == rep["days_between"]
        assert rep["recognisable"] == (rep["reason"] == "recognisable")
        assert (rep["shared_scheme"] is None) == (rep["reason"] == "no-shared-scheme")
    reasons = Counter(r["reason"] for r in default_run.repeats)
    assert reasons["recognisable"] > 0 and reasons["no-shared-scheme"] > 0


def _sentinel_series(run: Run) -> dict[tuple[str, str, str], dict[str, int]]:
    """(sentinel, syndrome, age group) → date → count, from the MeasureReports."""
    series: dict[tuple[str, str, str], dict[str, int]] = {}
    for _path, data in run.bundles():
        for e in data["entry"]:
            r = e["resource"]
            if r["resourceType"] != "MeasureReport":
                continue
            org = r["reporter"]["identifier"]["value"]
            for g in r["group"]:
                syndrome = g["code"]["coding"][0]["code"]
                for stratum in g["stratifier"][0]["stratum"]:
                    key = (org, syndrome, stratum["value"]["text"])
                    series.setdefault(key, {})[r["period"]["start"]] = stratum["population"][0][
                        "count"
                    ]
    return series


def test_outbreak_truth_matches_the_sentinel_series(default_run: Run) -> None:
    series = _sentinel_series(default_run)
    assert default_run.outbreaks
    for ob in default_run.outbreaks:
        counts = series[(ob["sentinel"], ob["syndrome"], ob["age_group"])]
        days = sorted(counts)
        start = days.index(ob["start"])
        during = [counts[d] for d in days[start : start + len(ob["extra_cases"])]]
        before = [counts[d] for d in days[max(0, start - 7) : start]]
        assert ob["extra_cases"] and sum(ob["extra_cases"]) > 0
        # The injected cases are in the reported counts, and lift them above the week before.
        assert all(c >= x for c, x in zip(during, ob["extra_cases"], strict=True))
        assert sum(during) / len(during) > sum(before) / len(before)


def test_manifest_counts_and_describes_the_run(default_run: Run) -> None:
    m = default_run.manifest
    assert m["residents"] == 4000 and m["days"] == 45 and m["seed"] == 11
    assert m["resources"] == sum(m["resources_by_type"].values())
    files = list((default_run.out / "bundles").rglob("*.json"))
    assert m["bundles"] == len(files)
    assert len(default_run.people) == 4000
    sample = json.loads(files[0].read_bytes())
    assert sample["resourceType"] == "Bundle"
    assert sample["meta"]["tag"][0]["code"] == "HTEST"
