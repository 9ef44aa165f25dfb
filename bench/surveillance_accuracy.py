"""Accuracy of the detectors on the synthetic generator's injected outbreaks.

    .venv/bin/python bench/surveillance_accuracy.py            # 5 years, all 800 series
    .venv/bin/python bench/surveillance_accuracy.py --quick    # 3 years, outbreak series + 40
    .venv/bin/python bench/surveillance_accuracy.py --seeds 4  # 4 generated regions, pooled

``--methods farrington --param farrington.alpha=0.005`` scores one method with other
parameters.

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
import json
import math
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

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
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]], np.ndarray]:
    """Positives, tests, outbreaks and the true positive proportion of every day."""
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
    prob = np.minimum(prob, 0.95)
    positives = gen.binomial(tests, prob)
    return positives.astype(float), tests.astype(float), truth, prob


def attainable(
    res: Any, tests: np.ndarray, prob: np.ndarray, truth: list[tuple[int, int, int]]
) -> list[float]:
    """Per evaluable outbreak, the chance that some day's positives exceed the detector's
    bound, given that day's tests and true proportion: the sensitivity these bounds allow."""
    out = []
    for s, first, last in truth:
        if not res.ok[s, first]:
            continue
        days = slice(first, last + 1)
        upper = np.nan_to_num(res.upper[s, days], nan=np.inf)
        below = stats.binom.cdf(upper, tests[s, days], prob[s, days])
        out.append(1.0 - float(np.prod(np.where(tests[s, days] > 0, below, 1.0))))
    return out


def score(res: Any, truth: list[tuple[int, int, int]]) -> dict[str, Any]:
    """Raw tallies of one run (summed over seeds by ``summarise``)."""
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
    starts = alarm.copy()
    starts[:, 1:] &= ~alarm[:, :-1]
    return {
        "outbreaks": evaluable,
        "detected": detected,
        "delays": delays,
        "years": float((ok & outside).sum() / 365.25),
        "false": int((alarm & outside).sum()),
        "false_signals": int((starts & outside).sum()),
    }


def summarise(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    evaluable = sum(t["outbreaks"] for t in tallies)
    detected = sum(t["detected"] for t in tallies)
    delays = [d for t in tallies for d in t["delays"]]
    years = sum(t["years"] for t in tallies)
    return {
        "outbreaks": evaluable,
        "sensitivity": detected / evaluable if evaluable else float("nan"),
        "false_per_series_year": sum(t["false"] for t in tallies) / years if years else 0.0,
        "false_signals_per_series_year": (
            sum(t["false_signals"] for t in tallies) / years if years else 0.0
        ),
        "median_delay": float(np.median(delays)) if delays else float("nan"),
    }


def run_seed(args: argparse.Namespace, seed: int) -> dict[str, dict[str, Any]]:
    days = 1096 if args.quick else args.days
    counts, truth, total = syndromic(days, seed, args.strength)
    lab_series = 40 if args.quick else args.lab_series
    positives, tests, lab_truth, prob = laboratory(lab_series, days, seed)
    if args.quick:
        keep = sorted({s for s, _, _ in truth})
        others = [i for i in range(counts.shape[0]) if i not in set(keep)]
        gen = np.random.default_rng(seed)
        keep += sorted(gen.choice(others, size=min(40, len(others)), replace=False).tolist())
        remap = {old: new for new, old in enumerate(keep)}
        counts = counts[keep]
        truth = [(remap[s], a, b) for s, a, b in truth]
    print(
        f"seed {seed}: syndromic {counts.shape[0]} series x {days} days, {len(truth)} "
        f"outbreaks at strength {args.strength:g} ({total} planned); lab "
        f"{positives.shape[0]} series, {len(lab_truth)} outbreaks",
        flush=True,
    )
    out: dict[str, dict[str, Any]] = {}
    for method in args.methods:
        t1 = time.perf_counter()
        params = args.params.get(method)
        if method == "positivity":
            res = detect_matrix(method, positives, params, totals=tests)
            out[method] = score(res, lab_truth)
            out[method]["attainable"] = attainable(res, tests, prob, lab_truth)
        else:
            res = detect_matrix(method, counts, params)
            out[method] = score(res, truth)
        out[method]["seconds"] = time.perf_counter() - t1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 years; outbreak series + 40")
    parser.add_argument("--days", type=int, default=1826)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--seeds", type=int, default=1, help="regions to generate (seed, seed+1, ...), pooled"
    )
    parser.add_argument("--lab-series", type=int, default=200)
    parser.add_argument(
        "--strength", type=float, default=1.0, help="share of the injected extra cases kept"
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated (default: all)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="a detector parameter, e.g. farrington.alpha=0.005 (repeatable)",
    )
    args = parser.parse_args()
    args.methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s): {', '.join(unknown)}")
    args.params = {}
    for item in args.param:
        name, _, value = item.partition("=")
        method, _, key = name.partition(".")
        if not key or not value:
            parser.error(f"--param {item!r}: expected METHOD.KEY=VALUE")
        args.params.setdefault(method, {})[key] = json.loads(value)
    t0 = time.perf_counter()
    runs = [run_seed(args, args.seed + i) for i in range(args.seeds)]
    print(f"{'method':<12}{'outbreaks':>10}{'sensitivity':>13}{'false days/s-yr':>17}"
          f"{'signals/s-yr':>14}{'median days':>13}{'seconds':>9}")  # fmt: skip
    for method in args.methods:
        m = summarise([r[method] for r in runs])
        spent = sum(r[method]["seconds"] for r in runs)
        print(
            f"{method:<12}{m['outbreaks']:>10}{m['sensitivity']:>13.1%}"
            f"{m['false_per_series_year']:>17.2f}{m['false_signals_per_series_year']:>14.2f}"
            f"{m['median_delay']:>13.1f}{spent:>9.1f}"
        )
    if "positivity" in args.methods:
        power = [p for r in runs for p in r["positivity"]["attainable"]]
        print(
            f"positivity: sensitivity its bounds allow on these outbreaks (binomial chance of "
            f"a day above the bound at the true proportions): {np.mean(power):.1%}"
        )
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
