import copy
import random
import time
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.patients.synthetic import dataset
from yilian.kit import idcard
from yilian.patients import matching as m
from yilian.patients.matching import MatchRecord
from yilian.patients.rules import Thresholds

ID_A = idcard.make("310118", date(2015, 3, 4), 7, "male")
ID_B = idcard.make("310118", date(2015, 3, 4), 8, "male")


def _wrong_check(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


# ---------------------------------------------------------------------------- keys


def test_deterministic_key_takes_only_a_verified_id_number() -> None:
    assert m.deterministic_key(MatchRecord("r1", id_number=ID_A)) == [f"id:{ID_A}"]
    assert m.deterministic_key(MatchRecord("r2", id_number=_wrong_check(ID_A))) == []
    legacy = ID_A[:6] + ID_A[8:17]
    assert m.deterministic_key(MatchRecord("r3", id_number=legacy)) == []


def test_deterministic_key_includes_cards() -> None:
    rec = MatchRecord("r1", insurance_no="3101 2345 6789", health_card_no="ab12cd34ef")
    assert m.deterministic_key(rec) == ["ins:310123456789", "hc:AB12CD34EF"]


def test_features_take_birth_date_and_sex_from_a_verified_id_number() -> None:
    f = m.features(MatchRecord("r1", full_name="张伟", id_number=ID_A))
    assert (f.birth_date, f.sex, f.reliable_id) == ("20150304", "male", ID_A)
    f = m.features(MatchRecord("r2", full_name="张伟", id_number=_wrong_check(ID_A)))
    assert (f.birth_date, f.sex, f.reliable_id) == (None, None, None)


def test_features_split_and_join_names() -> None:
    whole = m.features(MatchRecord("r1", full_name="欧阳 娜娜"))
    split = m.features(MatchRecord("r2", family_name="欧阳", given_name="娜娜"))
    assert (whole.family, whole.given, whole.name) == ("欧阳", "娜娜", "欧阳娜娜")
    assert (split.name, split.name_py) == ("欧阳娜娜", "ouyangnana")
    latin = m.features(MatchRecord("r3", family_name="Smith", given_name="Mary"))
    assert (latin.name, latin.name_py, latin.name_key) == ("mary smith", "smithmary", "mary|smith")


def _blocked_pairs_sql(frame: pd.DataFrame) -> set[frozenset[str]]:
    rules = m.splink_settings()["blocking_rules_to_generate_predictions"]
    con = duckdb.connect()
    con.register("t", frame)
    pairs: set[frozenset[str]] = set()
    for rule in rules:
        on = f"({rule['blocking_rule']}) AND l.unique_id < r.unique_id"
        sql = f"SELECT l.unique_id, r.unique_id FROM t l JOIN t r ON {on}"
        pairs |= {frozenset(p) for p in con.execute(sql).fetchall()}
    return pairs


def test_index_keys_find_exactly_the_pairs_batch_linking_scores() -> None:
    records, _ = dataset(600, seed=5)
    # Knock out birth dates and sexes so that the conditional rules are exercised.
    rng = random.Random(5)
    records = [
        MatchRecord(**{**r.__dict__, "birth_date": None if rng.random() < 0.1 else r.birth_date,
                       "sex": None if rng.random() < 0.1 else r.sex})
        for r in records
    ]  # fmt: skip
    # Same name, nothing else shared: only the name-without-birth-date rule pairs them.
    records += [
        MatchRecord("w0", full_name="王伟"),
        MatchRecord("w1", full_name="王伟", birth_date="1980-01-01"),
        MatchRecord("w2", full_name="汪玮", birth_date="1990-02-02"),
    ]
    feats = [m.features(r) for r in records]
    stored = {f.record_id: set(m.blocking_keys(f)) for f in feats}
    looked_up = {f.record_id: set(m.lookup_keys(f)) for f in feats}
    by_key: dict[str, set[str]] = {}
    for rid, keys in stored.items():
        for k in keys:
            by_key.setdefault(k, set()).add(rid)
    # Whichever of two records arrives second must find the first.
    found = set()
    for rid, keys in looked_up.items():
        for k in keys:
            found |= {(rid, other) for other in by_key.get(k, ()) if other != rid}
    via_sql = _blocked_pairs_sql(m.features_frame(feats))
    assert len(via_sql) > 1000
    assert found == {(a, b) for a, b in via_sql} | {(b, a) for a, b in via_sql}
    assert {frozenset(("w0", "w1")), frozenset(("w0", "w2"))} <= via_sql
    assert frozenset(("w1", "w2")) not in via_sql


# ---------------------------------------------------------------------------- similarity


def test_similarity_functions_agree_with_duckdb() -> None:
    rng = random.Random(3)
    alphabet = "abcdez张章伟玮12"
    pairs = [
        tuple("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(2))
        for _ in range(3000)
    ]
    con = duckdb.connect()
    con.register("pairs", pd.DataFrame(pairs, columns=["a", "b"]))
    rows = con.execute(
        "SELECT jaro_winkler_similarity(a, b), damerau_levenshtein(a, b) FROM pairs"
    ).fetchall()
    for (a, b), (jw, dl) in zip(pairs, rows, strict=True):
        assert m.jaro_winkler(a, b) == pytest.approx(jw, abs=1e-12), (a, b)
        assert m.damerau_levenshtein(a, b) == dl, (a, b)


# ---------------------------------------------------------------------------- scoring


@pytest.fixture(scope="module")
def sample_frame() -> pd.DataFrame:
    records, _ = dataset(1500, seed=99)
    return m.features_frame(records)


def test_python_scorer_agrees_with_splink_predict(sample_frame: pd.DataFrame) -> None:
    model = m.default_model()
    linker = m._linker(sample_frame, model)
    predicted = linker.inference.predict(warning_mode="never").as_pandas_dataframe()
    assert len(predicted) > 1000
    feats = {f.unique_id: f for f in sample_frame.itertuples(index=False)}
    scorer = m.Scorer.from_model(model)

    def as_features(row: object) -> m.Features:
        values = row._asdict()  # type: ignore[attr-defined]
        values["record_id"] = values.pop("unique_id")
        return m.Features(**values)

    for row in predicted.itertuples(index=False):
        a, b = as_features(feats[row.unique_id_l]), as_features(feats[row.unique_id_r])
        assert scorer.match_weight(a, b) == pytest.approx(row.match_weight, abs=1e-6)
        assert scorer.probability(a, b) == pytest.approx(row.match_probability, abs=1e-9)


def test_scorer_refuses_a_model_with_other_comparisons() -> None:
    model = copy.deepcopy(m.default_model())
    model["comparisons"][0]["comparison_levels"].pop(2)
    with pytest.raises(ValueError, match="family_name"):
        m.Scorer.from_model(model)


def test_model_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    m.save_model(m.default_model(), path)
    assert m.load_model(path) == m.default_model()


ZHANG = MatchRecord(
    "new",
    full_name="张伟",
    sex="男",
    birth_date="1985-06-01",
    phone="13812345678",
    address="上海市青浦区朱家角镇新风路12弄3号",
)


def test_match_one_ranks_candidates() -> None:
    home = "青浦区朱家角镇新风路12弄3号"
    same = MatchRecord(
        "a", family_name="章", given_name="伟", sex="1", birth_date="19850601",
        phone="+86 138-1234-5678", address=home,
    )  # fmt: skip
    father = MatchRecord(
        "b", full_name="张建国", sex="男", birth_date="1958-02-11", phone="13812345678",
        address=home,
    )  # fmt: skip
    stranger = MatchRecord("c", full_name="李娜", sex="女", birth_date="1985-06-01")
    ranked = m.match_one(ZHANG, [stranger, father, same])
    assert [rid for rid, _ in ranked] == ["a", "b", "c"]
    assert ranked[0][1] > 0.99
    assert ranked[1][1] < 0.01


def test_match_one_applies_deterministic_rules_first() -> None:
    rec = MatchRecord(**{**ZHANG.__dict__, "id_number": ID_A})
    other_name_same_id = MatchRecord("a", full_name="王芳", id_number=ID_A)
    twin = MatchRecord(**{**ZHANG.__dict__, "record_id": "b", "id_number": ID_B})
    assert dict(m.match_one(rec, [other_name_same_id, twin])) == {"a": 1.0, "b": 0.0}


def test_match_one_is_fast() -> None:
    records, _ = dataset(200, seed=4)
    candidates = [m.features(r) for r in records[:20]]
    m.match_one(records[0], candidates)  # compile the scorer
    started = time.perf_counter()
    rounds = 50
    for rec in records[:rounds]:
        m.match_one(rec, candidates)
    per_pair = (time.perf_counter() - started) / (rounds * len(candidates))
    # Sub-millisecond per pair with room for a loaded test machine.
    assert per_pair < 1e-3


# ---------------------------------------------------------------------------- batch


def test_link_batch_links_duplicates_and_keeps_twins_apart() -> None:
    base = {"sex": "男", "birth_date": "2015-03-04", "phone": "13812345678",
            "address": "上海市青浦区朱家角镇新风路12弄3号"}  # fmt: skip
    records = [
        MatchRecord("a1", full_name="张浩宇", id_number=ID_A, **base),
        MatchRecord("a2", family_name="章", given_name="浩宇", **base),
        MatchRecord("b1", full_name="张浩然", id_number=ID_B, **base),
        MatchRecord("b2", full_name="张浩然", **base),
        MatchRecord("c1", full_name="李娜", sex="女", birth_date="1990-01-01"),
    ]
    result = m.link_batch(records)
    c = result.cluster_of
    assert c["a1"] == c["a2"] == "a1"
    assert c["b1"] == c["b2"] == "b1"
    assert c["c1"] == "c1"
    assert set(result.clusters()) == {"a1", "b1", "c1"}


def test_link_batch_never_merges_two_verified_id_numbers() -> None:
    # Chains through a record without an id: a1 ~ x ~ b1 must not merge a1 and b1.
    base = {"full_name": "张浩宇", "sex": "男", "birth_date": "2015-03-04",
            "phone": "13812345678", "address": "青浦区朱家角镇新风路12弄3号"}  # fmt: skip
    records = [
        MatchRecord("a1", id_number=ID_A, **base),
        MatchRecord("x", **base),
        MatchRecord("b1", id_number=ID_B, **base),
    ]
    result = m.link_batch(records)
    assert result.cluster_of["a1"] != result.cluster_of["b1"]
    assert result.stats["refused_merges"] >= 1


def test_link_batch_sends_uncertain_pairs_to_review() -> None:
    records = [
        MatchRecord("a", full_name="张伟", sex="男", birth_date="1985-06-01"),
        MatchRecord("b", full_name="张伟", sex="男", birth_date="1985-06-01"),
    ]
    everything_reviewed = Thresholds(link=1.0, review=0.0)
    result = m.link_batch(records, thresholds=everything_reviewed)
    assert result.cluster_of == {"a": "a", "b": "b"}
    assert [(r.record_a, r.record_b) for r in result.review] in ([("a", "b")], [("b", "a")])


def test_clusters_are_stable_under_input_order() -> None:
    records, _ = dataset(300, seed=12)
    forward = m.link_batch(records).cluster_of
    backward = m.link_batch(list(reversed(records))).cluster_of
    assert forward == backward
    assert all(cid <= rid for rid, cid in forward.items())
    assert len(set(forward.values())) < len(records)


def test_stable_person_ids() -> None:
    cluster_of = {"r1": "r1", "r2": "r1", "r3": "r1", "r4": "r4", "r5": "r5", "r6": "r6"}
    person_of = {"r1": "P1", "r2": "P1", "r3": "P2", "r4": "P2", "r5": "P1"}
    # r1–r3 keep P1 (two of its records); r4 keeps P2 (P2's other record went to P1's
    # cluster); r5's P1 is taken, so r5 is a new person, as is the unseen r6.
    expected = {"r1": "P1", "r4": "P2", "r5": None, "r6": None}
    assert m.stable_person_ids(cluster_of, person_of) == expected


def test_link_batch_ignores_placeholder_values() -> None:
    # 60 strangers given the clinic's phone and address: no links, no pair explosion.
    records = [
        MatchRecord(f"r{i:02d}", full_name=name, phone="021-59721234", address="青浦区中心医院")
        for i, name in enumerate(f"{f}{g}" for f in "赵钱孙李周吴" for g in "一二三四五六七八九十")
    ]
    result = m.link_batch(records)
    assert len(result.clusters()) == len(records) == 60
    assert result.stats["scored_pairs_above_review"] == 0


def test_placeholder_names_are_not_names() -> None:
    a = m.features(MatchRecord("a", full_name="无名氏3", sex="男"))
    assert a.name is None and a.name_key is None
