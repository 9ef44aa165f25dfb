"""CUSUM and EWMA control charts on a daily count series.

Both standardise today's count against a baseline and accumulate evidence over days:

- CUSUM (Page 1954; the standardised tabular CUSUM of Montgomery, *Introduction to
  Statistical Quality Control*, 6th ed., 2009, §9.1): z_t = (x_t - mu_t) / sigma_t,
  S_t = max(0, S_{t-1} + z_t - k), alarm when S_t > h; k = 0.5, h = 4 as in the EARS /
  syndromic-surveillance literature (Hutwagner et al. 2003; Fricker et al. 2008 use
  k = 0.5 with h = 4 or 5). After an alarm the sum restarts at 0 (``reset``).
  ``transform="rossi"`` uses Rossi's approximate normal transform of a Poisson count
  (Rossi, Lampugnani, Marchi 1999; R ``surveillance`` ``algo.cusum``):
  z_t = (x_t - 3 mu_t + 2 sqrt(x_t mu_t)) / (2 sqrt(mu_t)).
- EWMA (Roberts 1959; Montgomery §9.2): E_t = lambda x_t + (1 - lambda) E_{t-1}; alarm when
  E_t > mu_t + L sigma_t sqrt(lambda / (2 - lambda) [1 - (1 - lambda)^{2i}]); lambda = 0.4,
  L = 3 (ESSENCE / EARS literature). ``exact_limits=False`` drops the start-up factor.

mu_t and sigma_t come from a moving baseline (``baseline`` days ending ``guard`` days before
t, sigma floored at ``min_sigma``), or from fixed ``target_mean`` / ``target_sd`` when both
are given (the textbook in-control parameters).

The upper bound is the count that would take today's statistic exactly to its limit:
CUSUM mu_t + sigma_t (h + k - S_{t-1}); EWMA (limit - (1 - lambda) E_{t-1}) / lambda. So
``observed > upper`` is exactly the alarm (for the standard transform).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from yilian.surveillance.detectors._common import (
    Arrays,
    FloatArray,
    positive_float,
    positive_int,
    probability,
    rolling_baseline,
)

_BASELINE: dict[str, Any] = {
    "baseline": 28,
    "guard": 2,
    "min_sigma": 1.0,
    "target_mean": None,
    "target_sd": None,
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "cusum": {**_BASELINE, "k": 0.5, "h": 4.0, "reset": True, "transform": "standard"},
    "ewma": {**_BASELINE, "lambda": 0.4, "L": 3.0, "exact_limits": True},
}


def _baseline(method: str, x: FloatArray, params: dict[str, Any]) -> tuple[FloatArray, FloatArray]:
    target_mean, target_sd = params["target_mean"], params["target_sd"]
    if (target_mean is None) != (target_sd is None):
        raise ValueError(f"{method}: give both target_mean and target_sd, or neither")
    if target_mean is not None:
        level = positive_float(method, params, "target_mean", allow_zero=True)
        spread = positive_float(method, params, "target_sd")
        return np.full(x.shape, level), np.full(x.shape, spread)
    length = positive_int(method, params, "baseline", minimum=2)
    guard = positive_int(method, params, "guard", minimum=0)
    floor = positive_float(method, params, "min_sigma", allow_zero=True)
    mean, sd = rolling_baseline(x, length, guard)
    sigma = np.maximum(sd, floor)
    return mean, sigma


def run_cusum(method: str, x: FloatArray, params: dict[str, Any]) -> Arrays:
    k = positive_float(method, params, "k", allow_zero=True)
    h = positive_float(method, params, "h")
    transform = params["transform"]
    if transform not in ("standard", "rossi"):
        raise ValueError(f"{method}: transform must be 'standard' or 'rossi', got {transform!r}")
    reset = bool(params["reset"])
    mean, sigma = _baseline(method, x, params)
    ok = ~np.isnan(mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        if transform == "rossi":
            m = np.maximum(np.nan_to_num(mean), 1e-9)
            z = (x - 3.0 * m + 2.0 * np.sqrt(x * m)) / (2.0 * np.sqrt(m))
        else:
            z = np.where(sigma > 0, (x - mean) / np.where(sigma > 0, sigma, 1.0), 0.0)
    z = np.where(ok, z, 0.0)
    score = np.full(x.shape, np.nan)
    room = np.full(x.shape, np.nan)
    alarm = np.zeros(x.shape, dtype=bool)
    s_prev = np.zeros(x.shape[:-1])
    # The recursion runs along days, vectorised across series.
    for t in range(x.shape[-1]):
        okt = ok[..., t]
        room[..., t] = h + k - s_prev
        s = np.maximum(s_prev + z[..., t] - k, 0.0)
        hit = okt & (s > h)
        alarm[..., t] = hit
        score[..., t] = s
        if reset:
            s = np.where(hit, 0.0, s)
        s_prev = np.where(okt, s, 0.0)
    out = Arrays.empty(x)
    if transform == "rossi":
        # Invert Rossi's transform: the x whose z equals the remaining room.
        m = np.maximum(np.nan_to_num(mean), 1e-9)
        sq = np.sqrt(m)
        root = -sq + np.sqrt(np.maximum(4.0 * m + 2.0 * sq * room, 0.0))
        upper = np.maximum(root, 0.0) ** 2
    else:
        upper = mean + sigma * room
    out.ok = ok
    out.expected = np.where(ok, mean, np.nan)
    out.upper = np.where(ok, upper, np.nan)
    out.score = np.where(ok, score, np.nan)
    out.alarm = alarm
    return out


def run_ewma(method: str, x: FloatArray, params: dict[str, Any]) -> Arrays:
    lam = probability(method, params, "lambda")
    width = positive_float(method, params, "L")
    exact = bool(params["exact_limits"])
    mean, sigma = _baseline(method, x, params)
    ok = ~np.isnan(mean)
    asym = lam / (2.0 - lam)
    upper = np.full(x.shape, np.nan)
    score = np.full(x.shape, np.nan)
    alarm = np.zeros(x.shape, dtype=bool)
    e_prev = np.full(x.shape[:-1], np.nan)
    i = np.zeros(x.shape[:-1])  # days since the chart (re)started: exact start-up limits
    for t in range(x.shape[-1]):
        okt = ok[..., t]
        mt = mean[..., t]
        e_prev = np.where(np.isnan(e_prev), mt, e_prev)  # a chart starts at the baseline mean
        i = np.where(okt, i + 1, 0)
        factor = asym * (1.0 - (1.0 - lam) ** (2 * i)) if exact else np.full(i.shape, asym)
        sd_e = sigma[..., t] * np.sqrt(factor)
        limit = mt + width * sd_e
        e = lam * x[..., t] + (1.0 - lam) * e_prev
        upper[..., t] = (limit - (1.0 - lam) * e_prev) / lam
        with np.errstate(divide="ignore", invalid="ignore"):
            score[..., t] = np.where(sd_e > 0, (e - mt) / sd_e, np.where(e > mt, np.inf, 0.0))
        alarm[..., t] = okt & (e > limit)
        e_prev = np.where(okt, e, np.nan)
    out = Arrays.empty(x)
    out.ok = ok
    out.expected = np.where(ok, mean, np.nan)
    out.upper = np.where(ok, upper, np.nan)
    out.score = np.where(ok, score, np.nan)
    out.alarm = alarm
    return out
