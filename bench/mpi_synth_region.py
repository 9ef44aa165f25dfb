"""MPI accuracy on the duplicate truth of a ``yilian synth`` region, at the default thresholds.

    .venv/bin/python bench/mpi_synth_region.py [--residents 20000] [--days 365] [--seed 1]
    .venv/bin/python bench/mpi_synth_region.py --from var/synth   # an existing run

Every institution's Patient record (one per MRN) is a record to link; the
truth is ``truth/records.ndjson``. Linked with the default model.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.patients.datasets import cluster_pairs, score, synth_region, true_pairs

from yilian.patients.matching import link_batch
from yilian.patients.rules import DEFAULT_THRESHOLDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--from", dest="source", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mpi-synth-") as tmp:
        out = args.source
        if out is None:
            from yilian.synth.generate import generate

            out = Path(tmp) / "region"
            started = time.perf_counter()
            generate(out, residents=args.residents, days=args.days, seed=args.seed)
            print(f"generated {args.residents:,} residents, {args.days} days "
                  f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
        records, truth = synth_region(out)
    people = Counter(truth.values())
    print(
        f"{len(records):,} Patient records of {len(people):,} people "
        f"({sum(1 for c in people.values() if c > 1):,} with more than one record); "
        f"thresholds: link >= {DEFAULT_THRESHOLDS.link}, review >= {DEFAULT_THRESHOLDS.review}"
    )
    started = time.perf_counter()
    result = link_batch(records)
    print(f"linked in {time.perf_counter() - started:.1f} s")
    print(f"  cluster pairs: {score(cluster_pairs(result.cluster_of), true_pairs(truth))}")
    print(f"  review queue:  {len(result.review):,} pairs")


if __name__ == "__main__":
    main()
