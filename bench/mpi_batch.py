"""Time batch linking (``yilian link``) of N synthetic person records.

    .venv/bin/python bench/mpi_batch.py --records 100000 [--records 1000000 ...]

Prints, per size: seconds to normalise, to score with Splink/DuckDB, to cluster,
wall-clock total and process CPU seconds (the machine may be shared, so wall
time alone can mislead), the peak memory, and the clusters found.
Generating the records is not timed: in production they come from the store.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.patients.synthetic import dataset

from yilian.patients.matching import link_batch

# Records per person: the synthetic generator averages about 1.75.
_RECORDS_PER_PERSON = 1.75


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(n_records: int, seed: int) -> None:
    started = time.perf_counter()
    records, _ = dataset(int(n_records / _RECORDS_PER_PERSON) + 1, seed=seed)
    records = records[:n_records]
    generated = time.perf_counter() - started
    print(f"generated {len(records):,} records in {generated:.0f} s (not timed)")

    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    result = link_batch(records)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = result.stats
    print(
        f"N={len(records):,}: normalise {s['seconds_normalise']:.1f} s, "
        f"score {s['seconds_predict']:.1f} s, cluster {s['seconds_cluster']:.1f} s; "
        f"total {wall:.1f} s wall, {cpu:.1f} s CPU; peak RSS {peak_mb:,.0f} MB; "
        f"{len(result.clusters()):,} persons, {int(s['scored_pairs_above_review']):,} pairs "
        f">= review threshold, {len(result.review):,} for review"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, action="append", default=None)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), load {os.getloadavg()[0]:.1f}")
    for n in args.records or [100_000]:
        run(n, args.seed)


if __name__ == "__main__":
    main()
