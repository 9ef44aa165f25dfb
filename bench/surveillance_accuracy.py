"""Accuracy of the detectors on the synthetic generator's injected outbreaks.

    .venv/bin/python bench/surveillance_accuracy.py            # 5 years, all 800 series
    .venv/bin/python bench/surveillance_accuracy.py --quick    # 3 years, outbreak series + 40

Syndromic methods run on ``yilian.synth.sentinel``: every fever clinic / sentinel room ×
syndrome × age group is one daily series (32 × 5 × 5 = 800), negative-binomial around a
seasonal baseline with a weekly rhythm; ``plan_outbreaks`` injects epidemic curves of
extra cases into one age group of one syndrome at one sentinel (about 0.3 a sentinel-year,
7-21 days, peak 2.5-5 × baseline, at least 3 extra cases at the peak), the same truth that
``truth/outbreaks.json`` holds.

The generator has no laboratory positivity series, so the positivity detector is scored
on lab series simulated here the same way: tests per day negative-binomial around a
seasonal mean, positives binomial with a seasonal baseline proportion, and outbreaks that
multiply the proportion by 1.5-3 along the same epidemic curve.

Per method:

- sensitivity: outbreaks with at least one alarm on their series between their first and
  last day, among the outbreaks whose first day the method could evaluate;
- false alarms per series-year: alarm days outside every outbreak (and the 7 days after
  one), per year of evaluated days; "signals" counts a run of consecutive alarm days once
  (Farrington's 7-day totals overlap, so one unusual week alarms on several days);
- median days to detection: first alarm day minus the outbreak's first day (0 = same day).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from yilian.surveillance.detectors import METHODS, detect_matrix
from yilian.synth import sentinel as sen
from yilian.synth.profile import load_profile

START = date(2021, 1, 1)
TAIL = 7  # days after an outbreak that are neither detection nor false alarm


def syndromic(
    days: int, seed: int, strength: float = 1.0
) -> tuple[np.ndarray, list[tuple[int, int, int]], int]:
    """Series (n, days) and outbreaks as (series index, first day, last day).

    ``strength`` < 1 keeps only that share of each outbreak's extra cases (a harder test).
    """
    profile = load_profile()
    outbreaks = sen.plan_outbreaks(profile, days, seed)
    counts, extras = sen.series(profile, START, days, seed, outbreaks)
    groups = profile["sentinel"]["age_groups"]
    if strength != 1.0:
        for n, ob in enumerate(outbreaks):
            extra = extras.get(n)
            if extra is None:
                continue
            removed = extra - np.floor(extra * strength + 0.5)
            block = counts[ob.sentinel][ob.syndrome]
            span = slice(ob.start_day, ob.start_day + extra.size)
            block[span, groups.index(ob.age_group)] -= removed.astype(block.dtype)
    index: dict[tuple[str, str, str], int] = {}
    rows: list[np.ndarray] = []
    for code in sorted(counts):
        for syndrome in sorted(counts[code]):
            for g, group in enumerate(groups):
                index[(code, syndrome, group)] = len(rows)
                rows.append(counts[code][syndrome][:, g])
    truth = []
    for ob in outbreaks:
        last = min(days - 1, ob.start_day + ob.duration - 1)
        truth.append((index[(ob.sentinel, ob.syndrome, ob.age_group)], ob.start_day, last))
    return np.asarray(rows, dtype=float), truth, len(outbreaks)


def laboratory(
    series: int, days: int, seed: int
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    gen = np.random.default_rng([seed, 77])
    t = np.arange(days)[None, :]
    mean_tests = np.exp(gen.uniform(np.log(10), np.log(80), series))[:, None]
    peak = gen.uniform(0, 365, (series, 1))
    season = np.exp(1.2 * (np.cos(2 * math.pi * (t - peak) / 365.0) - 1.0))
    p0 = gen.uniform(0.03, 0.15, (series, 1)) * (0.6 + 0.8 * season)
    tests = gen.negative_binomial(20, 20 / (20 + mean_tests * (0.8 + 0.4 * season)))
    prob = np.broadcast_to(p0, (series, days)).copy()
    truth = []
    n_ob = gen.poisson(0.3 * series * days / 365.0)
    for _ in range(max(1, n_ob)):
        s = int(gen.integers(series))
        start = int(gen.integers(28, days - 7))
        duration = int(gen.integers(7, 22))
        curve = sen._curve(duration)[: days - start]
        factor = gen.uniform(1.5, 3.0)
        prob[s, start : start + curve.size] *= 1 + (factor - 1) * curve
        truth.append((s, start, min(days - 1, start + duration - 1)))
    positives = gen.binomial(tests, np.minimum(prob, 0.95))
    return positives.astype(float), tests.astype(float), truth


def score(res: Any, truth: list[tuple[int, int, int]]) -> dict[str, Any]:
    alarm, ok = res.alarm & res.ok, res.ok
    outside = np.ones(alarm.shape, dtype=bool)
    for s, first, last in truth:
        outside[s, first : last + 1 + TAIL] = False
    detected, delays, evaluable = 0, [], 0
    for s, first, last in truth:
        if not ok[s, first]:
            continue
        evaluable += 1
        hits = np.nonzero(alarm[s, first : last + 1])[0]
        if hits.size:
            detected += 1
            delays.append(int(hits[0]))
    years = (ok & outside).sum() / 365.25
    false = (alarm & outside).sum()
    starts = alarm.copy()
    starts[:, 1:] &= ~alarm[:, :-1]
    false_signals = (starts & outside).sum()
    return {
        "outbreaks": evaluable,
        "sensitivity": detected / evaluable if evaluable else float("nan"),
        "false_per_series_year": false / years if years else float("nan"),
        "false_signals_per_series_year": false_signals / years if years else float("nan"),
        "median_delay": float(np.median(delays)) if delays else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 years; outbreak series + 40")
    parser.add_argument("--days", type=int, default=1826)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--lab-series", type=int, default=200)
    parser.add_argument(
        "--strength", type=float, default=1.0, help="share of the injected extra cases kept"
    )
    args = parser.parse_args()
    days = 1096 if args.quick else args.days
    t0 = time.perf_counter()
    counts, truth, total = syndromic(days, args.seed, args.strength)
    lab_series = 40 if args.quick else args.lab_series
    positives, tests, lab_truth = laboratory(lab_series, days, args.seed)
    if args.quick:
        keep = sorted({s for s, _, _ in truth})
        others = [i for i in range(counts.shape[0]) if i not in set(keep)]
        gen = np.random.default_rng(args.seed)
        keep += sorted(gen.choice(others, size=min(40, len(others)), replace=False).tolist())
        remap = {old: new for new, old in enumerate(keep)}
        counts = counts[keep]
        truth = [(remap[s], a, b) for s, a, b in truth]
    print(
        f"syndromic: {counts.shape[0]} series x {days} days, {len(truth)} outbreaks "
        f"at strength {args.strength:g} "
        f"({total} planned); lab: {positives.shape[0]} series, {len(lab_truth)} outbreaks"
    )
    print(f"{'method':<12}{'outbreaks':>10}{'sensitivity':>13}{'false days/s-yr':>17}"
          f"{'signals/s-yr':>14}{'median days':>13}{'seconds':>9}")  # fmt: skip
    for method in METHODS:
        t1 = time.perf_counter()
        if method == "positivity":
            res = detect_matrix(method, positives, totals=tests)
            m = score(res, lab_truth)
        else:
            res = detect_matrix(method, counts)
            m = score(res, truth)
        spent = time.perf_counter() - t1
        print(
            f"{method:<12}{m['outbreaks']:>10}{m['sensitivity']:>13.1%}"
            f"{m['false_per_series_year']:>17.2f}{m['false_signals_per_series_year']:>14.2f}"
            f"{m['median_delay']:>13.1f}{spent:>9.1f}"
        )
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
