"""Positivity-rate detector for laboratory data (positives among tests per day).

The baseline proportion comes from the pooled positives P and tests N of ``baseline`` days
ending ``guard`` days before t. Today's positives x among n tests are compared with the
(1 - alpha) quantile of their predictive distribution:

- ``model="betabinomial"`` (default): x ~ BetaBinomial(n, P + 1/2, N - P + 1/2), i.e. the
  binomial with the baseline proportion's Jeffreys posterior, which widens the bound when
  the baseline holds few tests;
- ``model="binomial"``: x ~ Binomial(n, P / N) (the classic p-chart comparison, e.g. the
  EARS P-chart; Montgomery 2009 §7.2).

Alarm when x > upper. The result is in counts (expected = n P / N positives); ``score`` is
the z value of today's proportion against the baseline proportion. Fewer than
``min_baseline_tests`` tests in the baseline: "insufficient_baseline". No test today: no
alarm (expected and upper 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special  # type: ignore[import-untyped]

from yilian.surveillance.detectors._common import (
    Arrays,
    BoolArray,
    FloatArray,
    positive_int,
    probability,
    rolling_baseline,
)

DEFAULTS: dict[str, Any] = {
    "baseline": 28,
    "guard": 2,
    "alpha": 0.01,
    "model": "betabinomial",
    "min_baseline_tests": 30,
}


def run_positivity(
    method: str,
    x: FloatArray,
    n: FloatArray,
    params: dict[str, Any],
    evaluate: BoolArray | None = None,
) -> Arrays:
    length = positive_int(method, params, "baseline")
    guard = positive_int(method, params, "guard", minimum=0)
    alpha = probability(method, params, "alpha")
    min_tests = positive_int(method, params, "min_baseline_tests", minimum=0)
    model = params["model"]
    if model not in ("betabinomial", "binomial"):
        raise ValueError(f"{method}: model must be 'betabinomial' or 'binomial', got {model!r}")
    mean_x, _ = rolling_baseline(x, length, guard)
    mean_n, _ = rolling_baseline(n, length, guard)
    pos = mean_x * length
    tests = mean_n * length
    ok = ~np.isnan(tests) & (np.nan_to_num(tests) >= max(min_tests, 1))
    tests_safe = np.where(ok, tests, 1.0)
    pos_safe = np.where(ok, pos, 0.0)
    p0 = pos_safe / tests_safe
    today = np.rint(n)
    upper = np.zeros(x.shape)
    todo = ok & (today > 0)
    if evaluate is not None:  # the exact quantile is the costly part: only where asked
        todo &= evaluate[None, :]
    if todo.any():
        if model == "binomial":
            a_par = b_par = None
            prob = p0[todo]
        else:
            a_par = pos_safe[todo] + 0.5
            b_par = tests_safe[todo] - pos_safe[todo] + 0.5
            prob = a_par / (a_par + b_par)
        upper[todo] = upper_quantile(today[todo], prob, alpha, a_par, b_par)
    expected = n * p0
    with np.errstate(divide="ignore", invalid="ignore"):
        p_clip = np.clip(p0, 0.5 / tests_safe, 1.0 - 0.5 / tests_safe)
        z = (x - n * p_clip) / np.sqrt(n * p_clip * (1.0 - p_clip))
    z = np.where(n > 0, z, 0.0)
    out = Arrays.empty(x)
    out.ok = ok
    out.expected = np.where(ok, expected, np.nan)
    if evaluate is not None:
        upper = np.where(evaluate[None, :], upper, np.nan)
    out.upper = np.where(ok, upper, np.nan)
    out.score = np.where(ok, z, np.nan)
    out.alarm = ok & (x > out.upper)
    return out


_CELLS = 131_072  # grid cells per block of the quantile search: arrays that stay in cache


def upper_quantile(
    n: FloatArray,
    prob: FloatArray,
    alpha: float,
    a: FloatArray | None = None,
    b: FloatArray | None = None,
) -> FloatArray:
    """Smallest k with P(X <= k) >= 1 - alpha, X ~ Binomial(n, prob) or BetaBinomial(n, a, b).

    Exact (same as scipy ``binom.ppf`` / ``betabinom.ppf``) but vectorised: the pmf is
    accumulated over a window from below the mean to far in the upper tail by the ratio
    pmf(k+1) / pmf(k); the window ends 8 SD + 6 above the mean, where the remaining mass
    is negligible next to any usable alpha.
    """
    beta = a is not None and b is not None
    mean = n * prob
    var = mean * (1.0 - prob)
    if beta:
        assert a is not None and b is not None
        var = var * (a + b + n) / (a + b + 1.0)
    sd = np.sqrt(var)
    start = np.clip(np.floor(mean - 2.5 * sd) - 1.0, 0.0, n)
    stop = np.minimum(n, np.ceil(mean + 8.0 * sd) + 6.0)
    widths = (stop - start + 1).astype(np.int64)
    order = np.argsort(widths, kind="stable")  # blocks of similar width: little padding
    out = np.empty(n.shape)
    lo = 0
    while lo < n.size:
        width = int(widths[order[min(n.size - 1, lo + 255)]])
        step = max(256, _CELLS // max(width, 1))
        sl = order[lo : lo + step]
        width = int(widths[sl].max())
        lo += step
        j = np.arange(width, dtype=float)[None, :]
        nn, k0 = n[sl, None], start[sl, None]
        k = k0 + j  # (elements, width)
        if beta:
            assert a is not None and b is not None
            aa, bb = a[sl, None], b[sl, None]
            log0 = (
                special.gammaln(nn + 1.0)
                - special.gammaln(k0 + 1.0)
                - special.gammaln(nn - k0 + 1.0)
                + special.betaln(k0 + aa, nn - k0 + bb)
                - special.betaln(aa, bb)
            )
            ratio = (nn - k) / (k + 1.0) * (k + aa) / np.maximum(nn - k - 1.0 + bb, 1e-300)
        else:
            pp = prob[sl, None]
            log0 = (
                special.gammaln(nn + 1.0)
                - special.gammaln(k0 + 1.0)
                - special.gammaln(nn - k0 + 1.0)
                + special.xlogy(k0, pp)
                + special.xlog1py(nn - k0, -pp)
            )
            ratio = (nn - k) / (k + 1.0) * (pp / np.maximum(1.0 - pp, 1e-300))
        # pmf(k0 + j) = pmf(k0) * prod of the ratios before j; the ratio is 0 at k = n, so
        # the pmf stays 0 past n.
        ratio[:, -1] = np.exp(log0[:, 0])
        pmf = np.cumprod(np.roll(np.maximum(ratio, 0.0), 1, axis=1), axis=1)
        cdf = np.cumsum(pmf, axis=1)
        if not beta:
            below = special.bdtr(k0[:, 0] - 1.0, nn[:, 0], prob[sl])
            cdf += np.where(k0[:, 0] > 0, below, 0.0)[:, None]
        else:
            # Mass below the window start: what the window does not hold (tail beyond is ~0).
            cdf += np.maximum(1.0 - cdf[:, -1:], 0.0)
        hit = cdf >= 1.0 - alpha - 1e-12
        first = np.argmax(hit, axis=1)
        out[sl] = np.where(hit.any(axis=1), start[sl] + first, n[sl])
    return out
