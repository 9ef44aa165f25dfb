"""Record matching of the master patient index (主索引): who is who across institutions.

Two stages, the same in batch (``yilian link``) and for a single arriving record:

1. Deterministic: records sharing a reliable identifier — a 身份证号 whose check
   digit verifies, a 医保卡号 or an 电子健康卡号 — are one person.
2. Probabilistic: a Fellegi–Sunter model trained with Splink (DuckDB backend) on
   name (汉字 and pinyin, so 同音字 variants agree), sex, birth date, phone,
   address and the identifiers themselves (a mistyped number is still evidence).

Batch linking runs the model in DuckDB through Splink. Incremental matching
scores a handful of candidates in pure Python from the same trained parameters
(:class:`Scorer`): starting DuckDB per request would cost far more than the
scoring itself. Both read the comparison definitions in :data:`COMPARISONS`,
so the SQL that Splink runs and the Python that the exchange runs cannot drift
apart; a test checks that they give the same match weights.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from yilian.patients import normalise as n
from yilian.patients.rules import (
    DEFAULT_THRESHOLDS,
    MAX_RECORDS_PER_KEY,
    Thresholds,
    identifiers_conflict,
)

if TYPE_CHECKING:
    from splink import Linker

DEFAULT_MODEL_PATH = Path(__file__).parent / "model" / "default_model.json"


@dataclass(frozen=True)
class MatchRecord:
    """One institution's demographic record of a patient, as received (not normalised)."""

    record_id: str
    family_name: str | None = None
    given_name: str | None = None
    full_name: str | None = None
    sex: str | None = None
    birth_date: object = None  # date, or a string in any format normalise accepts
    phone: str | None = None
    address: str | None = None
    id_number: str | None = None  # 身份证号
    insurance_no: str | None = None  # 医保卡号 (社会保障卡号)
    health_card_no: str | None = None  # 电子健康卡号
    source_org: str | None = None


@dataclass(frozen=True, slots=True)
class Features:
    """The normalised fields the model compares; ``None`` wherever nothing usable was sent."""

    record_id: str
    name: str | None
    family: str | None
    given: str | None
    name_py: str | None
    name_key: str | None  # pinyin of family and given name in sorted order: swaps agree
    family_py: str | None
    given_py: str | None
    sex: str | None
    birth_date: str | None  # YYYYMMDD: a mistyped digit is one differing character
    birth_year: str | None
    birth_mmdd: str | None
    phone: str | None
    address: str | None
    id_number: str | None  # any well-formed 身份证号, reliable or not
    reliable_id: str | None  # only a number that verifies: see normalise.is_reliable_id
    insurance_no: str | None
    health_card_no: str | None


FEATURE_COLUMNS = tuple(f.name for f in fields(Features))


def features(rec: MatchRecord) -> Features:
    """Normalise a record for comparison."""
    family = n.normalise_name(rec.family_name)
    given = n.normalise_name(rec.given_name)
    full = n.normalise_name(rec.full_name)
    if family is None and given is None and full is not None:
        family, given = n.split_name(full)
    if full is None and (family or given):
        cjk = n.has_cjk((family or "") + (given or ""))
        full = (family or "") + (given or "") if cjk else f"{given or ''} {family or ''}".strip()
    family = family or None
    given = given or None

    id_number = n.normalise_id_number(rec.id_number)
    parsed = n.parse_reliable_id(rec.id_number)
    reliable = parsed.number if parsed is not None else None
    born = n.normalise_birth_date(rec.birth_date)
    sex = n.normalise_sex(rec.sex)
    if parsed is not None:
        # The number encodes both; a record that left them out still has them.
        born = born or parsed.birth_date
        sex = sex or parsed.sex
    birth = born.strftime("%Y%m%d") if born else None

    family_py = n.family_pinyin(family) if family else None
    given_py = n.pinyin(given) if given else None
    name_py = ((family_py or "") + (given_py or "")) or None
    return Features(
        record_id=str(rec.record_id),
        name=full,
        family=family,
        given=given,
        name_py=name_py,
        name_key="|".join(sorted(x for x in (family_py, given_py) if x)) or None,
        family_py=family_py or None,
        given_py=given_py or None,
        sex=sex,
        birth_date=birth,
        birth_year=birth[:4] if birth else None,
        birth_mmdd=birth[4:] if birth else None,
        phone=n.normalise_phone(rec.phone),
        address=n.normalise_address(rec.address),
        id_number=id_number,
        reliable_id=reliable,
        insurance_no=n.normalise_card_no(rec.insurance_no),
        health_card_no=n.normalise_card_no(rec.health_card_no),
    )


def features_frame(records: Iterable[MatchRecord | Features]) -> pd.DataFrame:
    """Normalise many records into the table Splink reads (``unique_id`` = record id)."""
    # attrgetter, not dataclasses.astuple: astuple deep-copies every field.
    row = attrgetter(*FEATURE_COLUMNS)
    rows = [row(r if isinstance(r, Features) else features(r)) for r in records]
    frame = pd.DataFrame(rows, columns=list(FEATURE_COLUMNS), dtype=object)
    return frame.rename(columns={"record_id": "unique_id"})


# ---------------------------------------------------------------------------- keys


def deterministic_key(rec: MatchRecord | Features) -> list[str]:
    """The identifiers that on their own make two records one person.

    Only a 身份证号 that verifies counts; a 15-digit or mistyped number is left to
    the probabilistic model, which still weighs it as evidence.
    """
    f = rec if isinstance(rec, Features) else features(rec)
    keys = []
    if f.reliable_id:
        keys.append(f"id:{f.reliable_id}")
    if f.insurance_no:
        keys.append(f"ins:{f.insurance_no}")
    if f.health_card_no:
        keys.append(f"hc:{f.health_card_no}")
    return keys


# The candidate pairs the model scores: pairs agreeing on at least one of these
# column sets. Each is cheap to index, and together they catch a duplicate whose
# name, birth date or phone (but not all three) was mistyped or changed.
BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("id_number",),
    ("insurance_no",),
    ("health_card_no",),
    ("phone",),
    ("address",),
    ("name_key", "birth_year"),
    ("name_key", "birth_mmdd"),
)
# Two rules more, each with a condition an equality cannot express:
# - the same birth date and a sex that does not contradict: catches a
#   duplicate whose name was mistyped beyond its pinyin;
# - the same name when either record has no birth date (name alone for
#   everyone would pair every 王伟 with every other).
_DOB_SEX_SQL = (
    'l."birth_date" = r."birth_date" AND (l."sex" = r."sex" OR l."sex" IS NULL OR r."sex" IS NULL)'
)
_NAME_NO_DOB_SQL = (
    'l."name_key" = r."name_key" AND (l."birth_date" IS NULL OR r."birth_date" IS NULL)'
)


def _keys(f: Features, *, lookup: bool) -> list[str]:
    keys = []
    for cols in BLOCKING_RULES:
        values = [getattr(f, c) for c in cols]
        if all(v is not None for v in values):
            keys.append("+".join(cols) + ":" + "|".join(values))
    if f.birth_date is not None:
        for sex in (f.sex,) if f.sex else ("male", "female"):
            keys.append(f"birth_date+sex:{f.birth_date}|{sex}")
    if f.name_key is not None:
        # Stored under whether the record has a birth date. An arriving record
        # looks among those without one, and among all if it has none itself.
        if not lookup:
            keys.append(("name-dob:" if f.birth_date else "name-nodob:") + f.name_key)
        else:
            keys.append("name-nodob:" + f.name_key)
            if f.birth_date is None:
                keys.append("name-dob:" + f.name_key)
    return keys


def blocking_keys(rec: MatchRecord | Features) -> list[str]:
    """Keys the index stores for a record, to be found by :func:`lookup_keys` of later ones.

    A stored key of one record is among the lookup keys of another exactly when
    batch linking would score the two as a pair. The keys hold personal data:
    the index stores them as keyed hashes
    (``kit.crypto.IdentifierCipher.keyed_hash(key, kind="mpi")``), never in clear.
    """
    return _keys(rec if isinstance(rec, Features) else features(rec), lookup=False)


def lookup_keys(rec: MatchRecord | Features) -> list[str]:
    """Keys to look up in the index for an arriving record's candidates."""
    return _keys(rec if isinstance(rec, Features) else features(rec), lookup=True)


# ---------------------------------------------------------------------------- similarity
#
# DuckDB's jaro_winkler_similarity and damerau_levenshtein work on UTF-8 bytes,
# not characters; these do the same so that Python and SQL agree on 汉字 too.


@lru_cache(maxsize=65_536)  # a pair is often tested against two thresholds in a row
def jaro_winkler(a: str, b: str) -> float:
    """Jaro–Winkler similarity over UTF-8 bytes, as DuckDB computes it."""
    s1, s2 = a.encode(), b.encode()
    if s1 == s2:
        return 1.0
    len1, len2 = len(s1), len(s2)
    if not len1 or not len2:
        return 0.0
    window = max(max(len1, len2) // 2 - 1, 0)
    used = bytearray(len2)
    m1 = []
    for i, ch in enumerate(s1):
        hi = min(len2, i + window + 1)
        j = s2.find(ch, max(0, i - window), hi)
        while j != -1 and used[j]:
            j = s2.find(ch, j + 1, hi)
        if j != -1:
            used[j] = 1
            m1.append(ch)
    matches = len(m1)
    if not matches:
        return 0.0
    m2 = [s2[j] for j in range(len2) if used[j]]
    transpositions = sum(x != y for x, y in zip(m1, m2, strict=True)) // 2
    jaro = (matches / len1 + matches / len2 + (matches - transpositions) / matches) / 3
    if jaro <= 0.7:
        return jaro
    prefix = 0
    for x, y in zip(s1[:4], s2[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


def damerau_levenshtein(a: str, b: str) -> int:
    """Unrestricted Damerau–Levenshtein distance over UTF-8 bytes, as DuckDB computes it."""
    s, t = a.encode(), b.encode()
    n1, n2 = len(s), len(t)
    if not n1 or not n2:
        return n1 or n2
    big = n1 + n2
    d = [[0] * (n2 + 2) for _ in range(n1 + 2)]
    d[0][0] = big
    for i in range(n1 + 1):
        d[i + 1][0] = big
        d[i + 1][1] = i
    for j in range(n2 + 1):
        d[0][j + 1] = big
        d[1][j + 1] = j
    last_row: dict[int, int] = {}
    for i in range(1, n1 + 1):
        last_col = 0
        for j in range(1, n2 + 1):
            i1 = last_row.get(t[j - 1], 0)
            j1 = last_col
            if s[i - 1] == t[j - 1]:
                cost = 0
                last_col = j
            else:
                cost = 1
            d[i + 1][j + 1] = min(
                d[i][j] + cost,
                d[i + 1][j] + 1,
                d[i][j + 1] + 1,
                d[i1][j1] + (i - i1 - 1) + 1 + (j - j1 - 1),
            )
        last_row[s[i - 1]] = i
    return d[n1 + 1][n2 + 1]


# ---------------------------------------------------------------------------- the model

Pair = Callable[[Features, Features], bool]


@dataclass(frozen=True)
class Level:
    """One comparison level, written once and rendered both as Splink SQL and as Python.

    ``kind``: null (no column present on both sides), exact (any column equal), jw
    (Jaro–Winkler ≥ arg), dl (Damerau–Levenshtein ≤ arg), hamming (≤ arg
    differing characters; only for fixed-length columns), swap (two columns
    crossed), jwswap (crossed with Jaro–Winkler ≥ arg), words (Jaccard of the
    space-separated words ≥ arg), dmswap (YYYYMMDD with month and day crossed), suffix (last ``arg``
    characters equal), and (all of ``parts``), else.
    """

    label: str
    kind: str
    cols: tuple[str, ...] = ()
    arg: float = 0
    parts: tuple[Level, ...] = ()

    def sql(self) -> str:
        c = [(f'"{x}_l"', f'"{x}_r"') for x in self.cols]
        if self.kind == "and":
            return " AND ".join(f"({p.sql()})" for p in self.parts)
        if self.kind == "null":
            return " AND ".join(f"({a} IS NULL OR {b} IS NULL)" for a, b in c)
        if self.kind == "exact":
            return " OR ".join(f"{a} = {b}" for a, b in c)
        if self.kind == "jw":
            return f"jaro_winkler_similarity({c[0][0]}, {c[0][1]}) >= {self.arg}"
        if self.kind == "dl":
            return f"damerau_levenshtein({c[0][0]}, {c[0][1]}) <= {int(self.arg)}"
        if self.kind == "hamming":
            return f"hamming({c[0][0]}, {c[0][1]}) <= {int(self.arg)}"
        if self.kind == "swap":
            (al, ar), (bl, br) = c
            return f"{al} = {br} AND {bl} = {ar}"
        if self.kind == "jwswap":
            (al, ar), (bl, br) = c
            return (
                f"jaro_winkler_similarity({al}, {br}) >= {self.arg}"
                f" AND jaro_winkler_similarity({bl}, {ar}) >= {self.arg}"
            )
        if self.kind == "dmswap":
            a, b = c[0]
            return (
                f"substr({a}, 1, 4) = substr({b}, 1, 4) AND substr({a}, 5, 2) = substr({b}, 7, 2)"
                f" AND substr({a}, 7, 2) = substr({b}, 5, 2)"
            )
        if self.kind == "suffix":
            a, b = c[0]
            return f"right({a}, {int(self.arg)}) = right({b}, {int(self.arg)})"
        if self.kind == "words":
            a, b = (f"string_split({x}, ' ')" for x in c[0])
            return (
                f"len(list_intersect({a}, {b})) / len(list_distinct(list_concat({a}, {b})))"
                f" >= {self.arg}"
            )
        if self.kind == "else":
            return "ELSE"
        raise ValueError(f"unknown level kind {self.kind}")

    def predicate(self) -> Pair:
        get = [attrgetter(x) for x in self.cols]
        arg = self.arg
        if self.kind == "and":
            preds = [p.predicate() for p in self.parts]
            return lambda a, b: all(p(a, b) for p in preds)
        if self.kind == "null":
            return lambda a, b: all(g(a) is None or g(b) is None for g in get)
        if self.kind == "exact":
            return lambda a, b: any(g(a) is not None and g(a) == g(b) for g in get)
        g0 = get[0] if get else None

        def both(x: Features, y: Features) -> tuple[str, str] | None:
            assert g0 is not None
            u, v = g0(x), g0(y)
            return None if u is None or v is None else (u, v)

        if self.kind == "jw":

            def jw(x: Features, y: Features) -> bool:
                ab = both(x, y)
                return ab is not None and jaro_winkler(*ab) >= arg

            return jw
        if self.kind == "dl":

            def dl(x: Features, y: Features) -> bool:
                ab = both(x, y)
                # Lengths further apart than the limit cannot be within it.
                return (
                    ab is not None
                    and abs(len(ab[0].encode()) - len(ab[1].encode())) <= arg
                    and damerau_levenshtein(*ab) <= arg
                )

            return dl
        if self.kind == "hamming":

            def hamming(x: Features, y: Features) -> bool:
                ab = both(x, y)
                return ab is not None and sum(x != y for x, y in zip(*ab, strict=True)) <= arg

            return hamming
        if self.kind == "swap":
            ga, gb = get

            def swap(x: Features, y: Features) -> bool:
                u, v = ga(x), gb(x)
                return u is not None and v is not None and u == gb(y) and v == ga(y)

            return swap
        if self.kind == "jwswap":
            ga, gb = get

            def jwswap(x: Features, y: Features) -> bool:
                ux, vx, uy, vy = ga(x), gb(x), ga(y), gb(y)
                if ux is None or vx is None or uy is None or vy is None:
                    return False
                return jaro_winkler(ux, vy) >= arg and jaro_winkler(vx, uy) >= arg

            return jwswap
        if self.kind == "dmswap":

            def dmswap(x: Features, y: Features) -> bool:
                ab = both(x, y)
                if ab is None:
                    return False
                u, v = ab
                return u[:4] == v[:4] and u[4:6] == v[6:8] and u[6:8] == v[4:6]

            return dmswap
        if self.kind == "suffix":
            k = int(arg)

            def suffix(x: Features, y: Features) -> bool:
                ab = both(x, y)
                return ab is not None and ab[0][-k:] == ab[1][-k:]

            return suffix
        if self.kind == "words":

            def words(x: Features, y: Features) -> bool:
                ab = both(x, y)
                if ab is None:
                    return False
                wa, wb = set(ab[0].split(" ")), set(ab[1].split(" "))
                return len(wa & wb) / len(wa | wb) >= arg

            return words
        if self.kind == "else":
            return lambda a, b: True
        raise ValueError(f"unknown level kind {self.kind}")

    def splink(self) -> dict[str, Any]:
        level: dict[str, Any] = {"sql_condition": self.sql(), "label_for_charts": self.label}
        if self.kind == "null":
            level["is_null_level"] = True
        return level


@dataclass(frozen=True)
class Comparison:
    name: str
    levels: tuple[Level, ...]

    def splink(self) -> dict[str, Any]:
        return {
            "output_column_name": self.name,
            "comparison_description": self.name,
            "comparison_levels": [lv.splink() for lv in self.levels],
        }


def _name(part: str) -> Comparison:
    zh, py = part, f"{part}_py"
    levels = [
        Level("null", "null", (py,)),
        Level("exact", "exact", (zh,)),
        # 张伟/章伟: the same sound written with another character (同音字).
        Level("same pinyin", "exact", (py,)),
    ]
    if part == "given":
        # Western-order names entered the Chinese way round, or the other way.
        levels.append(Level("family and given swapped", "swap", ("family_py", "given_py")))
        levels.append(Level("swapped, jw>=0.9", "jwswap", ("family_py", "given_py"), 0.9))
    levels += [
        Level("pinyin jw>=0.92", "jw", (py,), 0.92),
        Level("pinyin jw>=0.80", "jw", (py,), 0.8),
        Level("else", "else"),
    ]
    return Comparison(f"{part}_name", tuple(levels))


COMPARISONS: tuple[Comparison, ...] = (
    _name("family"),
    _name("given"),
    Comparison(
        "birth_date",
        (
            Level("null", "null", ("birth_date",)),
            Level("exact", "exact", ("birth_date",)),
            # Hamming, not an edit distance: YYYYMMDD always has 8 characters,
            # and the edit distances cost DuckDB far more on millions of pairs.
            Level("one digit off", "hamming", ("birth_date",), 1),
            Level("month and day swapped", "dmswap", ("birth_date",)),
            Level("two digits off or swapped", "hamming", ("birth_date",), 2),
            Level("else", "else"),
        ),
    ),
    Comparison(
        "sex",
        (
            Level("null", "null", ("sex",)),
            Level("exact", "exact", ("sex",)),
            Level("else", "else"),
        ),
    ),
    # Phone and address together: household members share both, so counting
    # them as independent evidence would make a parent look like their child.
    Comparison(
        "contact",
        (
            Level("null", "null", ("phone", "address")),
            Level(
                "phone and address exact",
                "and",
                parts=(Level("", "exact", ("phone",)), Level("", "exact", ("address",))),
            ),
            Level(
                "phone exact, address similar",
                "and",
                parts=(Level("", "exact", ("phone",)), Level("", "jw", ("address",), 0.9)),
            ),
            Level("phone exact", "exact", ("phone",)),
            Level("address exact", "exact", ("address",)),
            Level("phone one edit", "dl", ("phone",), 1),
            # A landline with and without its area code.
            Level("phone last 8 digits", "suffix", ("phone",), 8),
            Level("address jw>=0.95", "jw", ("address",), 0.95),
            # Latin addresses written in another order ("flat 3, 12 x street").
            Level("address words jaccard>=0.6", "words", ("address",), 0.6),
            Level("address jw>=0.85", "jw", ("address",), 0.85),
            Level("else", "else"),
        ),
    ),
    Comparison(
        "id_number",
        (
            Level("null", "null", ("id_number",)),
            Level("exact", "exact", ("id_number",)),
            Level("one digit off", "hamming", ("id_number",), 1),
            Level("two digits off or swapped", "hamming", ("id_number",), 2),
            Level("else", "else"),
        ),
    ),
    Comparison(
        "cards",
        (
            Level("null", "null", ("insurance_no", "health_card_no")),
            Level("exact", "exact", ("insurance_no", "health_card_no")),
            Level("insurance no. one edit", "dl", ("insurance_no",), 1),
            Level("else", "else"),
        ),
    ),
)


def _block_sql(cols: Sequence[str]) -> str:
    return " AND ".join(f'l."{c}" = r."{c}"' for c in cols)


def splink_settings(probability_two_random_records_match: float = 1e-4) -> dict[str, Any]:
    """The untrained Splink model (settings dict) for de-duplicating one store."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": [c.splink() for c in COMPARISONS],
        "blocking_rules_to_generate_predictions": [
            *({"blocking_rule": _block_sql(cols)} for cols in BLOCKING_RULES),
            {"blocking_rule": _DOB_SEX_SQL},
            {"blocking_rule": _NAME_NO_DOB_SQL},
        ],
        "probability_two_random_records_match": probability_two_random_records_match,
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "em_convergence": 1e-4,
        "max_iterations": 50,
    }


# ---------------------------------------------------------------------------- training

# Expectation maximisation runs once per step, on the first blocking rule of the
# step that yields enough pairs. A rule leaves out the comparisons on its own
# columns, so birth date is trained in the second step. Name alone would also
# pair strangers who share a common name (王伟), and the EM then mistakes some
# of them for duplicates; name with address or phone pairs almost only
# duplicates, when the store has those fields.
_EM_PLAN: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("birth_date",), ("name_py",)),
    (("name_py", "address"), ("name_py", "phone"), ("name_py",), ("birth_date",)),
)
_MIN_EM_PAIRS = 500


def _pairs_sharing(frame: pd.DataFrame, cols: Sequence[str]) -> int:
    sizes = frame.dropna(subset=list(cols)).groupby(list(cols), sort=False).size()
    return int((sizes * (sizes - 1) // 2).sum())


def _linker(frame: pd.DataFrame, settings: dict[str, Any]) -> Linker:
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI()
    table = db_api.register(frame)
    return Linker(table, settings, log_level=logging.WARNING)


def train_model(
    records: Iterable[MatchRecord | Features] | pd.DataFrame,
    *,
    seed: int = 20240601,
    max_pairs: float = 5e6,
) -> dict[str, Any]:
    """Estimate the model's parameters on a store's records, unsupervised; return the model JSON.

    u-probabilities come from random pairs (seeded, so the same records give the
    same model), m-probabilities from expectation maximisation on pairs blocked by
    birth date and by name with address (see ``_EM_PLAN``). The result is a Splink
    settings dict that :func:`save_model` writes and both :func:`link_batch` and
    :class:`Scorer` read.
    """
    from splink import block_on

    frame = records if isinstance(records, pd.DataFrame) else features_frame(records)
    linker = _linker(frame, splink_settings())
    # Pairs sharing a reliable identifier, or name and birth date, are taken as
    # matches that find 85% of all duplicates (83% of the synthetic truth's, 90%
    # of FEBRL3's: docs/mpi.md).
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("reliable_id"),
            block_on("insurance_no"),
            block_on("health_card_no"),
            block_on("name", "birth_date"),
        ],
        recall=0.85,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    used: list[tuple[str, ...]] = []
    for step in _EM_PLAN:
        cols = next(
            (c for c in step if c not in used and _pairs_sharing(frame, c) >= _MIN_EM_PAIRS), None
        )
        if cols is None:
            raise ValueError(
                f"too few records share {' or '.join('+'.join(c) for c in step)} to train on"
            )
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*cols), estimate_without_term_frequencies=True
        )
        used.append(cols)
    model: dict[str, Any] = linker.misc.save_model_to_json()
    return _complete(model)


# EM drives the m-probability of a disagreement that the training records never
# show to nothing (a family-name typo in the synthetic truth: 1e-27), and that
# one disagreement would then veto any link. Real duplicates show every pattern
# now and then, so m is floored at 1 in 1,000 — but never above u, so that the
# floor alone cannot turn a level into evidence for a match. (The m of a
# comparison then sum to a little over 1; a fraction of a percent of a bit.)
_M_FLOOR = 1e-3


def _complete(model: dict[str, Any]) -> dict[str, Any]:
    """Write out the parameters Splink leaves implicit and floor the m-probabilities.

    A level never seen in training has no m or u in the saved JSON; while
    training, Splink scores it with 1e-6 for the missing value, and so do we.
    """
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            level.setdefault("m_probability", 1e-6)
            level.setdefault("u_probability", 1e-6)
            level["m_probability"] = max(
                level["m_probability"], min(_M_FLOOR, level["u_probability"])
            )
    return model


def save_model(model: dict[str, Any], path: Path | str) -> None:
    Path(path).write_text(json.dumps(model, indent=2, ensure_ascii=False) + "\n")


def load_model(path: Path | str | None = None) -> dict[str, Any]:
    """Read a trained model JSON; without a path, the default model shipped with yilian."""
    model: dict[str, Any] = json.loads(Path(path or DEFAULT_MODEL_PATH).read_text())
    return model


@lru_cache(maxsize=1)
def default_model() -> dict[str, Any]:
    return load_model()


# ---------------------------------------------------------------------------- scoring


def _log2(x: float) -> float:
    return math.log2(max(x, 1e-300))  # Splink's clamp (comparison_level.M_U_CLAMP_MIN)


@dataclass(frozen=True)
class Scorer:
    """The trained model as plain Python: match weights of single pairs in microseconds."""

    prior_weight: float
    # Per comparison, (predicate, match weight) per level in evaluation order.
    levels: tuple[tuple[tuple[Pair, float], ...], ...] = field(repr=False)

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> Scorer:
        """Compile a trained model JSON; refuse one whose comparisons differ from ours."""
        trained = {c["output_column_name"]: c for c in model["comparisons"]}
        compiled = []
        for comparison in COMPARISONS:
            spec = trained.get(comparison.name)
            if spec is None:
                raise ValueError(f"model has no comparison {comparison.name!r}")
            got = [lv.get("label_for_charts") for lv in spec["comparison_levels"]]
            want = [lv.label for lv in comparison.levels]
            if got != want:
                raise ValueError(
                    f"model comparison {comparison.name!r} has levels {got}, expected {want}"
                )
            row = []
            for level, params in zip(comparison.levels, spec["comparison_levels"], strict=True):
                if params.get("is_null_level"):
                    weight = 0.0
                else:
                    weight = _log2(params["m_probability"]) - _log2(params["u_probability"])
                row.append((level.predicate(), weight))
            compiled.append(tuple(row))
        prior = model["probability_two_random_records_match"]
        return cls(prior_weight=math.log2(prior / (1 - prior)), levels=tuple(compiled))

    def match_weight(self, a: Features, b: Features) -> float:
        total = self.prior_weight
        for comparison in self.levels:
            for holds, weight in comparison:
                if holds(a, b):
                    total += weight
                    break
        return total

    def probability(self, a: Features, b: Features) -> float:
        return weight_to_probability(self.match_weight(a, b))


def weight_to_probability(weight: float) -> float:
    if weight >= 0:
        return 1.0 / (1.0 + 2.0**-weight)
    return 2.0**weight / (1.0 + 2.0**weight)


@lru_cache(maxsize=4)
def _scorer_for(model_json: str) -> Scorer:
    return Scorer.from_model(json.loads(model_json))


@lru_cache(maxsize=1)
def _default_scorer() -> Scorer:
    return Scorer.from_model(default_model())


def scorer(model: dict[str, Any] | None = None) -> Scorer:
    """The compiled scorer of a model (the default one when not given), cached."""
    if model is None:
        return _default_scorer()
    return _scorer_for(json.dumps(model, sort_keys=True))


def pair_probability(a: Features, b: Features, score: Scorer) -> float:
    """Match probability of two records, with the deterministic rules applied first."""
    if identifiers_conflict(a.reliable_id, b.reliable_id):
        return 0.0
    if set(deterministic_key(a)) & set(deterministic_key(b)):
        return 1.0
    return score.probability(a, b)


def match_one(
    record: MatchRecord | Features,
    candidates: Iterable[MatchRecord | Features],
    *,
    model: dict[str, Any] | None = None,
) -> list[tuple[str, float]]:
    """Score an arriving record against the candidates the index found by blocking key.

    Returns ``(candidate record_id, match probability)``, most probable first.
    """
    score = scorer(model)
    rec = record if isinstance(record, Features) else features(record)
    scored = []
    for cand in candidates:
        f = cand if isinstance(cand, Features) else features(cand)
        scored.append((f.record_id, pair_probability(rec, f, score)))
    scored.sort(key=lambda item: -item[1])
    return scored


# ---------------------------------------------------------------------------- batch


@dataclass(frozen=True)
class ReviewPair:
    """Two records the model is unsure about (人工审核): to be decided by a person."""

    record_a: str
    record_b: str
    probability: float


@dataclass
class BatchResult:
    """Clusters of a batch link.

    ``cluster_of[record_id]`` is the smallest record id of the record's cluster.
    """

    cluster_of: dict[str, str]
    review: list[ReviewPair]
    stats: dict[str, float]

    def clusters(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for rid, cid in self.cluster_of.items():
            out.setdefault(cid, []).append(rid)
        return out


class _Clusters:
    """Union–find that refuses to merge two people with different reliable 身份证号."""

    def __init__(self, ids: Sequence[str], reliable: Sequence[str | None]) -> None:
        self.parent = {i: i for i in ids}
        self.reliable = {i: r for i, r in zip(ids, reliable, strict=True) if r is not None}
        self.refused = 0

    def find(self, x: str) -> str:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if identifiers_conflict(self.reliable.get(ra), self.reliable.get(rb)):
            self.refused += 1
            return False
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        if ra not in self.reliable and rb in self.reliable:
            self.reliable[ra] = self.reliable[rb]
        return True


def _deterministic_edges(frame: pd.DataFrame) -> Iterable[tuple[str, str]]:
    """Star edges joining the records that share each reliable identifier."""
    for col in ("reliable_id", "insurance_no", "health_card_no"):
        groups = frame.loc[frame[col].notna(), ["unique_id", col]].groupby(col, sort=False)
        for _, ids in groups["unique_id"]:
            if 1 < len(ids) <= MAX_RECORDS_PER_KEY:
                first = ids.iloc[0]
                for other in ids.iloc[1:]:
                    yield first, other


# Columns a system may fill with one value for everyone it does not know.
_PLACEHOLDER_COLUMNS = ("phone", "address", "id_number", "insurance_no", "health_card_no")


def _without_placeholders(frame: pd.DataFrame) -> pd.DataFrame:
    """Blank the values that more than MAX_RECORDS_PER_KEY records share.

    A clinic's own phone number typed for every walk-in is not evidence, and as
    a blocking key it would pair all of them with each other.
    """
    out = frame
    for col in _PLACEHOLDER_COLUMNS:
        counts = frame[col].value_counts()
        common = counts.index[counts > MAX_RECORDS_PER_KEY]
        if len(common):
            out = out.copy() if out is frame else out
            out.loc[out[col].isin(common), col] = None
    return out


def predict_pairs(
    frame: pd.DataFrame, model: dict[str, Any], threshold_probability: float
) -> pd.DataFrame:
    """Score the blocked pairs of a features frame with Splink; keep those >= the threshold."""
    linker = _linker(frame, model)
    df = linker.inference.predict(
        threshold_match_probability=threshold_probability, warning_mode="never"
    )
    pairs: pd.DataFrame = df.as_pandas_dataframe()
    return pairs[["unique_id_l", "unique_id_r", "match_weight", "match_probability"]]


def link_batch(
    records: Iterable[MatchRecord | Features] | pd.DataFrame,
    *,
    model: dict[str, Any] | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> BatchResult:
    """De-duplicate a whole store: deterministic keys, then the model, then clusters.

    Pairs at or above ``thresholds.link`` join clusters, strongest first, unless
    that would put two different reliable 身份证号 in one person; pairs between
    ``review`` and ``link`` whose records end up apart are returned for review.
    """
    import time

    t0 = time.perf_counter()
    frame = records if isinstance(records, pd.DataFrame) else features_frame(records)
    t_norm = time.perf_counter()
    model = model if model is not None else default_model()
    pairs = predict_pairs(_without_placeholders(frame), model, thresholds.review)
    t_pred = time.perf_counter()

    ids = frame["unique_id"].tolist()
    reliable = frame["reliable_id"].tolist()
    clusters = _Clusters(ids, reliable)
    deterministic = 0
    for a, b in _deterministic_edges(frame):
        deterministic += clusters.union(a, b)

    pairs = pairs.sort_values("match_probability", ascending=False, kind="stable")
    strong = pairs[pairs["match_probability"] >= thresholds.link]
    for a, b in zip(strong["unique_id_l"].tolist(), strong["unique_id_r"].tolist(), strict=True):
        clusters.union(a, b)
    weak = pairs[pairs["match_probability"] < thresholds.link]
    review = [
        ReviewPair(a, b, p)
        for a, b, p in zip(
            weak["unique_id_l"], weak["unique_id_r"], weak["match_probability"], strict=True
        )
        if clusters.find(a) != clusters.find(b)
        and not identifiers_conflict(
            clusters.reliable.get(clusters.find(a)), clusters.reliable.get(clusters.find(b))
        )
    ]
    cluster_of = {i: clusters.find(i) for i in ids}
    t_end = time.perf_counter()
    stats = {
        "records": float(len(ids)),
        "scored_pairs_above_review": float(len(pairs)),
        "deterministic_edges": float(deterministic),
        "refused_merges": float(clusters.refused),
        "seconds_normalise": t_norm - t0,
        "seconds_predict": t_pred - t_norm,
        "seconds_cluster": t_end - t_pred,
    }
    return BatchResult(cluster_of=cluster_of, review=review, stats=stats)


def stable_person_ids(
    cluster_of: Mapping[str, str], person_of: Mapping[str, str]
) -> dict[str, str | None]:
    """Map each cluster of a re-link to the person id it continues (``None``: a new person).

    A person id stays with the cluster holding most of that person's records
    (ties: the smaller cluster id), so that re-linking a store moves as few
    records as possible between persons and never reuses an id for two clusters.
    ``person_of`` is record id → current person id, for records already indexed.
    """
    overlap: dict[tuple[str, str], int] = {}
    for rid, cid in cluster_of.items():
        pid = person_of.get(rid)
        if pid is not None:
            overlap[(cid, pid)] = overlap.get((cid, pid), 0) + 1
    result: dict[str, str | None] = dict.fromkeys(set(cluster_of.values()))
    taken: set[str] = set()
    for (cid, pid), _ in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0])):
        if result[cid] is None and pid not in taken:
            result[cid] = pid
            taken.add(pid)
    return result
