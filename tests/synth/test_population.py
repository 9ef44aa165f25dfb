"""The residents behave like the profile says: ages, prevalence, identifiers, insurance."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

from pypinyin import Style, lazy_pinyin

from tests.synth.conftest import Run
from yilian.kit import idcard
from yilian.synth import geography as geo
from yilian.synth import names
from yilian.synth.people import ID_SLOTS, band_value, id_slot
from yilian.synth.profile import load_profile


def test_id_numbers_are_valid_unique_and_match_the_person(default_run: Run) -> None:
    numbers = [p["id_number"] for p in default_run.people]
    assert len(set(numbers)) == len(numbers)
    for p in default_run.people:
        card = idcard.parse(p["id_number"])
        assert card.birth_date.isoformat() == p["birth_date"]
        assert card.sex == p["sex"]
        assert card.region_code == p["hukou_region"]


def test_id_slots_do_not_repeat() -> None:
    slots = {id_slot(i, seed=7) for i in range(0, ID_SLOTS, 7)}
    assert len(slots) == len(range(0, ID_SLOTS, 7))
    assert all(0 <= day < 365 and 0 <= order < 500 for day, order in slots)


def test_ages_match_the_census_bands(default_run: Run) -> None:
    bands = load_profile()["population"]["age_bands"]
    n = len(default_run.people)
    ages = Counter(p["age"] for p in default_run.people)
    for lo, hi, share, _male in bands:
        expected = share / 100
        observed = sum(ages[a] for a in range(lo, hi + 1)) / n
        sd = math.sqrt(expected * (1 - expected) / n)
        assert abs(observed - expected) < 4 * sd, (lo, hi, observed, expected)
    men = sum(p["sex"] == "male" for p in default_run.people) / n
    assert 0.49 < men < 0.54  # 上海 2020: 51.8%


def test_ages_on_the_start_date_are_consistent(default_run: Run) -> None:
    start = date.fromisoformat(default_run.manifest["start_date"])
    for p in default_run.people[:500]:
        born = date.fromisoformat(p["birth_date"])
        age = start.year - born.year - ((start.month, start.day) < (born.month, born.day))
        assert age == p["age"]


def test_chronic_prevalence_follows_the_profile(default_run: Run) -> None:
    conditions = load_profile()["conditions"]
    for key, spec in conditions.items():
        ps = [band_value(spec["prevalence"], p["age"]) for p in default_run.people]
        expected = sum(ps)
        sd = math.sqrt(sum(x * (1 - x) for x in ps))
        observed = sum(any(c["key"] == key for c in p["conditions"]) for p in default_run.people)
        assert abs(observed - expected) < 4 * sd + 1, (key, observed, expected)
    adults = [p for p in default_run.people if p["age"] >= 18]
    htn = sum(any(c["key"] == "hypertension" for c in p["conditions"]) for p in adults)
    assert 0.24 < htn / len(adults) < 0.34  # about 27.5% of adults, older in 上海


def test_diagnosed_conditions_show_up_as_conditions(default_run: Run) -> None:
    diagnosed = {
        (p["person_id"], c["code"])
        for p in default_run.people
        for c in p["conditions"]
        if c["diagnosed"] and c["diagnosed"] < default_run.manifest["end_date"]
    }
    undiagnosed = {
        (p["person_id"], c["code"]) for p in default_run.people for c in p["conditions"]
        if not c["diagnosed"]
    }  # fmt: skip
    by_record = {(r["org"], r["mrn"]): r["person_id"] for r in default_run.records}
    coded = set()
    for _path, data in default_run.bundles():
        for e in data["entry"]:
            r = e["resource"]
            if r["resourceType"] != "Condition":
                continue
            org, mrn = r["identifier"][0]["system"].rsplit("/", 1)[1], None
            for e2 in data["entry"]:
                if e2["fullUrl"] == r["subject"]["reference"]:
                    mrn = e2["resource"]["identifier"][0]["value"]
            coded.add((by_record[(org, mrn)], r["code"]["coding"][0]["code"]))
    assert not (coded & undiagnosed)
    assert len(coded & diagnosed) > 0.5 * len(diagnosed)


def test_contracts_reach_the_policy_coverage(default_run: Run) -> None:
    n = len(default_run.people)
    share = sum(p["contract"] is not None for p in default_run.people) / n
    assert 0.42 < share < 0.56  # seed 004 附件4: ≥48% of residents


def test_insurance_places_and_residences(default_run: Run) -> None:
    n = len(default_run.people)
    areas = Counter(p["residence_region"] for p in default_run.people)
    assert abs(areas[geo.CHANGNING] / n - 0.85) < 0.03
    three_provinces = [
        p for p in default_run.people
        if p["insured_region"] and p["insured_region"][:2] in ("32", "33", "34")
        and p["residence_region"] == geo.CHANGNING
    ]  # fmt: skip
    assert len(three_provinces) > 0.03 * areas[geo.CHANGNING]
    streets = {s.code for s in geo.STREETS}
    assert all(p["street"] in streets for p in default_run.people)
    for p in default_run.people[:200]:
        assert any(road in p["address"] for road in geo.STREET_BY_CODE[p["street"]].roads)


def test_homophone_table_readings_are_right() -> None:
    for reading, chars in names.homophone_groups().items():
        for c in chars:
            assert lazy_pinyin(c, style=Style.NORMAL)[0] == reading or c == "靓", (reading, c)
