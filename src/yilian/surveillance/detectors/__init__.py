"""Aberration-detection methods for the surveillance domain (pure functions).

``detect(method, points, params, evaluate=...)`` runs one method over one daily series and
returns, per evaluated day, the expected value, the upper bound, whether it alarms and the
method's statistic. ``detect_matrix`` runs a method over many aligned series at once
(numpy arrays, series × days) for batch jobs.

Methods (each module's docstring cites its source):

- ``ears_c1``, ``ears_c2``, ``ears_c3``: CDC EARS (Hutwagner et al. 2003), module ``ears``;
- ``farrington``: improved Farrington (Noufaily et al. 2013), module ``farrington``;
  observed / expected / upper are the 7-day totals ending on the day;
- ``cusum``, ``ewma``: control charts on a moving baseline, module ``control``;
- ``positivity``: positives among tests against the baseline proportion, module
  ``positivity`` (needs ``Point.total``); values in positives.

A day without enough history gets ``status="insufficient_baseline"`` (no alarm, no bound).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from yilian.surveillance.detectors import control, ears, farrington, positivity
from yilian.surveillance.detectors._common import Arrays, BoolArray, FloatArray, merge_params

__all__ = [
    "INSUFFICIENT_BASELINE",
    "METHODS",
    "OK",
    "Arrays",
    "Point",
    "Result",
    "default_params",
    "detect",
    "detect_matrix",
]

OK = "ok"
INSUFFICIENT_BASELINE = "insufficient_baseline"


@dataclass(frozen=True)
class Point:
    """One day of a series."""

    day: date
    count: float  # cases (or positives for the positivity detector)
    total: float | None = None  # tests, for the positivity detector


@dataclass(frozen=True)
class Result:
    day: date
    observed: float
    expected: float | None
    upper: float | None
    alarm: bool
    status: str  # "ok" | "insufficient_baseline"
    score: float | None = None  # the method's statistic (C value, CUSUM S, z, ...)


METHODS: tuple[str, ...] = (
    "ears_c1",
    "ears_c2",
    "ears_c3",
    "farrington",
    "cusum",
    "ewma",
    "positivity",
)

_DEFAULTS: dict[str, dict[str, Any]] = {
    **ears.DEFAULTS,
    "farrington": farrington.DEFAULTS,
    **control.DEFAULTS,
    "positivity": positivity.DEFAULTS,
}


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown detection method {method!r}; known: {', '.join(METHODS)}")


def default_params(method: str) -> dict[str, Any]:
    """The method's parameters with their default values (a fresh copy)."""
    _check_method(method)
    return copy.deepcopy(_DEFAULTS[method])


def _kernel(method: str) -> Callable[..., Arrays]:
    return {
        "ears_c1": ears.run_c1c2,
        "ears_c2": ears.run_c1c2,
        "ears_c3": ears.run_c3,
        "cusum": control.run_cusum,
        "ewma": control.run_ewma,
    }[method]


def _as_matrix(name: str, values: Any) -> FloatArray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a (series, days) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite numbers (missing days are 0)")
    if (arr < 0).any():
        raise ValueError(f"{name} must not be negative")
    return arr


def detect_matrix(
    method: str,
    counts: Any,
    params: Mapping[str, Any] | None = None,
    *,
    totals: Any = None,
    evaluate: BoolArray | None = None,
) -> Arrays:
    """Run one method over aligned daily series: ``counts`` is (series, days), gaps 0.

    ``evaluate`` (a boolean mask over days) limits the work for methods that compute day by
    day (Farrington, positivity's exact quantile); the others compute every day regardless,
    and days outside the mask may hold values or NaN.
    """
    _check_method(method)
    merged = merge_params(method, _DEFAULTS[method], params)
    x = _as_matrix("counts", counts)
    if evaluate is not None:
        evaluate = np.asarray(evaluate, dtype=bool)
        if evaluate.shape != (x.shape[1],):
            raise ValueError(f"evaluate must be a boolean mask of {x.shape[1]} days")
    if method == "positivity":
        if totals is None:
            raise ValueError("positivity needs totals (tests per day)")
        n = _as_matrix("totals", totals)
        if n.shape != x.shape:
            raise ValueError(f"totals shape {n.shape} differs from counts shape {x.shape}")
        if (n < x).any():
            raise ValueError("totals (tests) must not be smaller than counts (positives)")
        return positivity.run_positivity(method, x, n, merged, evaluate)
    if method == "farrington":
        return farrington.run_farrington(method, x, merged, evaluate)
    return _kernel(method)(method, x, merged)


def _num(value: float) -> float | None:
    """Plain float, None when undefined or infinite (so results serialise as JSON)."""
    return float(value) if value is not None and math.isfinite(value) else None


def detect(
    method: str,
    points: Sequence[Point],
    params: Mapping[str, Any] | None = None,
    *,
    evaluate: Sequence[date] | None = None,
) -> list[Result]:
    """Run one method over a daily series (sorted, one point per day, gaps = 0); return a
    Result for each day in `evaluate` (default: every day)."""
    _check_method(method)
    merge_params(method, _DEFAULTS[method], params)  # reject bad keys even on empty input
    for i, point in enumerate(points):
        if point.count is None or not math.isfinite(point.count) or point.count < 0:
            raise ValueError(f"count on {point.day} must be a number >= 0, got {point.count!r}")
        if point.total is not None and (not math.isfinite(point.total) or point.total < 0):
            raise ValueError(f"total on {point.day} must be a number >= 0, got {point.total!r}")
        if point.total is not None and point.total < point.count:
            raise ValueError(
                f"total ({point.total}) is smaller than count ({point.count}) on {point.day}"
            )
        if i and point.day <= points[i - 1].day:
            problem = "duplicate" if point.day == points[i - 1].day else "unsorted"
            raise ValueError(f"{problem} day {point.day} in the series (sort, one point per day)")
    if method == "positivity":
        # A day without a total is a gap (no tests) unless it reports positives.
        missing = [p.day for p in points if p.total is None and p.count > 0]
        if missing:
            raise ValueError(f"positivity needs total (tests) with the positives on {missing[0]}")
    wanted = sorted(set(evaluate)) if evaluate is not None else [p.day for p in points]
    if not points:
        return [Result(d, 0.0, None, None, False, INSUFFICIENT_BASELINE) for d in wanted]
    first = points[0].day
    last = max(points[-1].day, wanted[-1]) if wanted else points[-1].day
    days = (last - first).days + 1
    x = np.zeros(days)
    n = np.zeros(days)
    for point in points:
        k = (point.day - first).days
        x[k] = point.count
        n[k] = point.total or 0.0
    mask = np.zeros(days, dtype=bool)
    for d in wanted:
        if d >= first:
            mask[(d - first).days] = True
    arrays = detect_matrix(
        method,
        x[None, :],
        params,
        totals=n[None, :] if method == "positivity" else None,
        evaluate=mask,
    )
    out: list[Result] = []
    for d in wanted:
        k = (d - first).days
        if k < 0 or not arrays.ok[0, k]:
            observed = float(x[k]) if k >= 0 else 0.0
            out.append(Result(d, observed, None, None, False, INSUFFICIENT_BASELINE))
            continue
        out.append(
            Result(
                day=d,
                observed=float(arrays.observed[0, k]),
                expected=_num(arrays.expected[0, k]),
                upper=_num(arrays.upper[0, k]),
                alarm=bool(arrays.alarm[0, k]),
                status=OK,
                score=_num(arrays.score[0, k]),
            )
        )
    return out
