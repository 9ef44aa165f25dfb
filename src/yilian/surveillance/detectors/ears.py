"""EARS C1, C2 and C3 (CDC Early Aberration Reporting System).

Definitions: Hutwagner L, Thompson W, Seeman GM, Treadwell T. "The bioterrorism
preparedness and response Early Aberration Reporting System (EARS)". J Urban Health
2003;80(2 Suppl 1):i89-96; Fricker RD, Hegler BL, Dunfee DA. "Comparing syndromic
surveillance detection methods: EARS' versus a CUSUM-based methodology". Stat Med
2008;27:3407-29 (formulas of C1-C3 and thresholds 3, 3, 2); R package ``surveillance``
function ``earsC`` (baseline 7, sample SD, ``minSigma`` floor).

- C1: baseline days t-7..t-1; C1_t = (x_t - mean) / sd; alarm when C1_t > 3.
- C2: baseline t-9..t-3 (two guard days); same statistic, threshold 3.
- C3: C3_t = sum over i = t-2..t of max(0, C2_i - 1); alarm when C3_t > 2.

The SD is floored at ``min_sigma`` (R ``minSigma``) so a flat baseline of zeros does not
turn a single case into an infinite statistic. R's default is 0; yilian's default is 1
(daily sentinel series per age group are sparse). Set ``threshold`` to
``qnorm(1 - alpha)`` (3.0902 for alpha = 0.001) to reproduce R's C1/C2 bounds exactly.

C3's upper bound is the count that would make C3_t reach the threshold given the two
previous days: mean_t + sd_t * (1 + threshold - lag terms). R's ``earsC`` computes the C3
bound without today's term; yilian follows the EARS definition above instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from yilian.surveillance.detectors._common import (
    Arrays,
    FloatArray,
    positive_float,
    positive_int,
    rolling_baseline,
)

DEFAULTS: dict[str, dict[str, Any]] = {
    "ears_c1": {"baseline": 7, "guard": 0, "threshold": 3.0, "min_sigma": 1.0},
    "ears_c2": {"baseline": 7, "guard": 2, "threshold": 3.0, "min_sigma": 1.0},
    "ears_c3": {"baseline": 7, "guard": 2, "threshold": 2.0, "min_sigma": 1.0},
}


def _c_stat(
    method: str, x: FloatArray, params: dict[str, Any]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    baseline = positive_int(method, params, "baseline", minimum=3)
    guard = positive_int(method, params, "guard", minimum=0)
    floor = positive_float(method, params, "min_sigma", allow_zero=True)
    mean, sd = rolling_baseline(x, baseline, guard)
    sigma = np.maximum(sd, floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = x - mean
        flat = np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0))
        stat = np.where(sigma > 0, diff / np.where(sigma > 0, sigma, 1.0), flat)
        stat = np.where(np.isnan(mean), np.nan, stat)
    return mean, sigma, stat


def run_c1c2(method: str, x: FloatArray, params: dict[str, Any]) -> Arrays:
    threshold = positive_float(method, params, "threshold")
    mean, sigma, stat = _c_stat(method, x, params)
    out = Arrays.empty(x)
    ok = ~np.isnan(mean)
    out.ok = ok
    out.expected = mean
    out.upper = mean + threshold * sigma
    out.score = stat
    out.alarm = ok & (x > out.upper)
    return out


def run_c3(method: str, x: FloatArray, params: dict[str, Any]) -> Arrays:
    threshold = positive_float(method, params, "threshold")
    mean, sigma, c2 = _c_stat(method, x, params)
    part = np.maximum(c2 - 1.0, 0.0)  # NaN stays NaN where C2 is undefined
    lag1 = np.full_like(part, np.nan)
    lag2 = np.full_like(part, np.nan)
    lag1[..., 1:] = part[..., :-1]
    lag2[..., 2:] = part[..., :-2]
    lags = lag1 + lag2
    out = Arrays.empty(x)
    ok = ~np.isnan(lags) & ~np.isnan(part)
    out.ok = ok
    out.expected = np.where(ok, mean, np.nan)
    score = part + lags
    out.score = np.where(ok, score, np.nan)
    out.upper = np.where(ok, mean + sigma * (1.0 + threshold - lags), np.nan)
    out.alarm = ok & (score > threshold)
    return out
