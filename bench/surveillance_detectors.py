"""Scale benchmark: every detector over 5 years of daily history for many series.

    .venv/bin/python bench/surveillance_detectors.py            # 60 sites x 10 syndromes x 4 ages
    .venv/bin/python bench/surveillance_detectors.py --quick    # 2 sites (80 series), seconds

Issue #7 target: 60 sentinel sites x 10 syndromes x 4 age groups = 2,400 series x 1,826
days, all seven methods, in under 30 s on 2 cores. Series are negative-binomial counts
around a seasonal baseline with a weekly rhythm (as ``yilian.synth.sentinel``); the
positivity detector reads the counts as positives among simulated tests.

Two runs are timed (wall clock, ``--workers`` processes over blocks of series):

- ``daily``: what the nightly job does: each series with its 5 years of history, the
  result for the latest day (EARS, CUSUM, EWMA and positivity compute every day anyway;
  Farrington fits its model for the latest day only);
- ``backfill``: a result for every day of the 5 years; Farrington on every
  ``--farrington-every``-th day (default 7, the method's weekly cadence; 1 = every day).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from yilian.surveillance.detectors import METHODS, detect_matrix


def simulate(series: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts (series, days) and tests for the positivity detector."""
    gen = np.random.default_rng(seed)
    base = np.exp(gen.uniform(np.log(0.2), np.log(20.0), series))[:, None]
    peak = gen.uniform(0, 365, series)[:, None]
    amp = gen.uniform(0.0, 1.5, series)[:, None]
    t = np.arange(days)[None, :]
    season = 1.0 + amp * np.exp(3.0 * (np.cos(2 * math.pi * (t - peak) / 365.0) - 1.0))
    dow = np.array([1.25, 1.05, 1.0, 1.0, 1.0, 0.8, 0.7])[t % 7]
    mean = base * season * dow
    k = 20.0
    counts = gen.negative_binomial(k, k / (k + mean)).astype(float)
    tests = counts + gen.poisson(4.0 * mean + 5.0).astype(float)
    return counts, tests


def _work(job: tuple[np.ndarray, np.ndarray, str, int]) -> dict[str, Any]:
    started = time.process_time()
    counts, tests, mode, every = job
    days = counts.shape[1]
    out: dict[str, Any] = {}
    for method in METHODS:
        mask = np.zeros(days, dtype=bool)
        if mode == "daily":
            mask[-1] = True
        else:
            mask[:] = True
            if method == "farrington" and every > 1:
                mask[:] = False
                mask[days - 1 :: -every] = True
        t0 = time.process_time()
        res = detect_matrix(
            method, counts, totals=tests if method == "positivity" else None, evaluate=mask
        )
        spent = time.process_time() - t0
        ok = res.ok & mask[None, :]
        out[method] = (spent, int(ok.sum()), int((res.alarm & ok).sum()))
    out["job"] = time.process_time() - started  # with the masks and tallies around the calls
    return out


def run(
    counts: np.ndarray, tests: np.ndarray, mode: str, every: int, workers: int, repeat: int
) -> None:
    blocks = max(workers, math.ceil(counts.shape[0] / 100))
    parts = np.array_split(np.arange(counts.shape[0]), blocks)
    jobs = [(counts[p], tests[p], mode, every) for p in parts]
    walls: list[float] = []
    cpus: dict[str, list[float]] = {m: [] for m in METHODS}
    jobs_cpu: list[float] = []
    loads: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_work, jobs))
        else:
            results = [_work(j) for j in jobs]
        walls.append(time.perf_counter() - t0)
        loads.append(os.getloadavg()[0])
        for method in METHODS:
            cpus[method].append(sum(r[method][0] for r in results))
        jobs_cpu.append(sum(r["job"] for r in results))
    cadence = f", Farrington every {every} day(s)" if mode == "backfill" else ""
    print(
        f"\n{mode}: {counts.shape[0]:,} series x {counts.shape[1]:,} days{cadence}, "
        f"{workers} worker(s), median of {repeat} run(s)"
    )
    print(f"{'method':<12}{'cpu s':>9}{'evaluated':>14}{'alarms':>10}")
    for method in METHODS:
        evaluated = sum(r[method][1] for r in results)
        alarms = sum(r[method][2] for r in results)
        print(f"{method:<12}{statistics.median(cpus[method]):>9.2f}{evaluated:>14,}{alarms:>10,}")
    total = statistics.median([sum(c[i] for c in cpus.values()) for i in range(repeat)])
    wall = statistics.median(walls)
    verdict = "PASS" if wall < 30 else "over"
    print(f"{'all methods':<12}{total:>9.2f}")
    print(f"{'whole jobs':<12}{statistics.median(jobs_cpu):>9.2f}  (worker CPU-s incl. tallies)")
    print(
        f"wall clock {wall:.1f} s (runs: {', '.join(f'{w:.1f}' for w in walls)}; "
        f"target < 30 s on 2 cores: {verdict}); 1-min load average after each run: "
        f"{', '.join(f'{v:.2f}' for v in loads)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 sites (80 series)")
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--syndromes", type=int, default=10)
    parser.add_argument("--ages", type=int, default=4)
    parser.add_argument("--days", type=int, default=1826)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--farrington-every", type=int, default=7)
    parser.add_argument("--mode", choices=("daily", "backfill", "both"), default="both")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode (medians)")
    args = parser.parse_args()
    sites = 2 if args.quick else args.sites
    series = sites * args.syndromes * args.ages
    counts, tests = simulate(series, args.days, args.seed)
    modes = ("daily", "backfill") if args.mode == "both" else (args.mode,)
    for mode in modes:
        run(counts, tests, mode, args.farrington_every, args.workers, args.repeat)


if __name__ == "__main__":
    main()
