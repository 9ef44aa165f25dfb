"""The improved Farrington method (Noufaily et al. 2013) on daily counts.

References: Farrington CP, Andrews NJ, Beale AD, Catchpole MA. "A statistical algorithm for
the early detection of outbreaks of infectious disease". J R Stat Soc A 1996;159:547-63.
Noufaily A, Enki DG, Farrington P, Garthwaite P, Andrews N, Charlett A. "An improved
algorithm for outbreak detection in multiple surveillance systems". Stat Med
2013;32:1206-22. R package ``surveillance``, ``farringtonFlexible`` (Salmon, Schumacher,
Höhle, JSS 2016), whose defaults and steps this module follows:

1. Reference values: ``b`` years back, windows of ±``w`` periods around the same period of
   each past year, and (Noufaily) every period in between, grouped into ``no_periods`` - 1
   seasonal factor levels per year, the windows forming level ``no_periods``.
2. The most recent ``past_weeks_not_included`` periods (Noufaily: 26) are left out so an
   emerging outbreak does not raise its own baseline.
3. Quasi-Poisson log-linear GLM: one parameter per factor level, optional linear trend,
   fitted by iteratively reweighted least squares (what R's ``glm`` does).
4. Reweighting: Anscombe residuals s_i > ``weights_threshold`` (2.58) get weight
   gamma * s_i^-2, the others gamma, so past outbreaks weigh less; refit.
5. The trend stays only if significant at ``p_threshold_trend`` (t test on the quasi
   likelihood), at least 3 years are used, and the prediction does not exceed every
   reference count; otherwise the model is refitted without it.
6. Threshold: ``threshold_method="delta"`` (R default) is the 2/3-power transformation:
   U = (mu0^(2/3) + z_(1-alpha) sqrt(4/9 mu0^(1/3) (phi + se^2/mu0)))^(3/2);
   ``"nbPlugin"`` / ``"muan"`` use the negative binomial quantile with mean exp(eta0) or
   its (1-alpha) quantile (Noufaily 2013's recommended threshold).
7. No alarm unless at least 5 cases in the past 4 periods (``limit54``); alarm when the
   exceedance score (y - mu0) / (U - mu0) > 1 and y > 0.

Daily data: the method is weekly by design. Here a period is the ``window_days``-day total
(default 7) ending on the evaluated day: for day t the periods are the 7-day sums ending on
t, t-7, t-14, ..., and a year has ``round(365.25 / window_days)`` periods (52 weeks, as R does
for weekly data without dates). So every day gets a Farrington result for the week ending
that day; ``observed``, ``expected`` and ``upper`` refer to that 7-day total. With
``window_days=1`` the method runs on daily counts directly (365 periods a year; then set
``w`` and ``past_weeks_not_included`` in days).

History: R stops unless all ``b`` years exist. yilian uses as many whole years as exist, up
to ``b``, and needs at least ``min_years`` (default 1); with less the day is
"insufficient_baseline".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped]

from yilian.surveillance.detectors._common import (
    Arrays,
    BoolArray,
    FloatArray,
    positive_float,
    positive_int,
    probability,
)

DEFAULTS: dict[str, Any] = {
    "b": 5,
    "w": 3,
    "no_periods": 10,
    "past_weeks_not_included": 26,
    "reweight": True,
    "weights_threshold": 2.58,
    "alpha": 0.05,
    "trend": True,
    "p_threshold_trend": 0.05,
    "limit54": (5, 4),
    "powertrans": "2/3",
    "threshold_method": "delta",
    "window_days": 7,
    "min_years": 1,
}

_CHUNK = 4096
_MAX_ITER = 25
_EPS = 1e-8  # R glm.control(epsilon)
_EXPONENT = {"none": 1.0, "1/2": 0.5, "2/3": 2.0 / 3.0}

IntArray = npt.NDArray[np.int64]


def design(b: int, freq: int, w: int, p: int, skip: int) -> tuple[IntArray, IntArray]:
    """Offsets (periods before now, negative) and factor levels (0-based, p-1 = windows).

    Mirrors ``blocks()`` in R surveillance's farringtonFlexible.R with the current period at 0.
    """
    offsets: list[int] = list(range(-w, 0))  # the current window (R: (now-w):now)
    levels: list[int] = [p - 1] * w
    gap = freq - 2 * w - 1
    if p > 1:
        size, rest = divmod(gap, p - 1)
        lengths = [size + (1 if j < rest else 0) for j in range(p - 1)]
    for i in range(1, b + 1):
        ref = -i * freq
        for o in range(ref - w, ref + w + 1):
            offsets.append(o)
            levels.append(p - 1)
        if p > 1:
            start = ref + w + 1
            for j, length in enumerate(lengths):
                for o in range(start, start + length):
                    offsets.append(o)
                    levels.append(j)
                start += length
    off = np.asarray(offsets, dtype=np.int64)
    lev = np.asarray(levels, dtype=np.int64)
    keep = off < -skip  # periods now-skip .. now are not used (pastWeeksNotIncluded)
    order = np.argsort(off[keep], kind="stable")
    return off[keep][order], lev[keep][order]


class _Fit:
    """Quasi-Poisson GLM log link, one parameter per level (+ trend), fitted row-wise."""

    def __init__(self, y: FloatArray, levels: IntArray, tt: FloatArray) -> None:
        # Rows come sorted by level (0..L-1, each present), so per-level sums are a
        # reduceat and expanding level values a repeat: cheaper than a one-hot matmul.
        self.y = y  # (D, n)
        self.sizes = np.bincount(levels)
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1]))
        self.tt = tt  # (n,) time, prediction at 0
        self.tt2 = tt * tt
        self.ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)

    def fit(
        self, omega: FloatArray | None, trend: bool, start: FloatArray | None = None
    ) -> dict[str, Any]:
        y, tt = self.y, self.tt
        d = y.shape[0]
        om = np.ones_like(y) if omega is None else omega
        counts = self.sums(om)  # weighted rows per level
        if not trend:
            # Closed form: the Poisson MLE of a pure factor model is the weighted level mean.
            sy = self.sums(om * y)
            with np.errstate(divide="ignore"):
                alpha = np.log(np.maximum(sy / counts, 1e-300))
            eta = self.expand(alpha)
            mu = np.exp(eta)
            a = self.sums(om * mu)
            b_ = np.zeros_like(a)
            beta = np.zeros(d)
            schur = np.full(d, np.inf)
            weights = om * mu
            conv = np.ones(d, dtype=bool)
        else:
            if start is None:
                mu = y + 0.1  # R's poisson()$initialize
                eta = np.log(mu)
            else:  # a nearby fit: same optimum, fewer iterations
                eta = start
                mu = np.exp(eta)
            eta = np.array(eta, dtype=float)
            mu = np.array(mu, dtype=float)
            dev_old = np.full(d, np.inf)
            conv = np.zeros(d, dtype=bool)
            act = np.arange(d)  # rows still iterating: a few slow rows do not hold up the rest
            alpha_all = np.zeros((d, self.sizes.size))
            beta_all = np.zeros(d)
            for _ in range(_MAX_ITER):
                full = act.size == d
                ya = y if full else y[act]
                oma = om if full else om[act]
                ea = eta if full else eta[act]
                ma = mu if full else mu[act]
                weights = oma * ma
                wz = weights * ea + oma * (ya - ma)  # W * working response
                a = self.sums(weights)
                b_ = self.sums(weights * tt)
                r = self.sums(wz)
                c = weights @ self.tt2
                s = wz @ tt
                a_safe = np.maximum(a, 1e-300)
                schur = c - np.sum(b_ * b_ / a_safe, axis=1)
                beta = (s - np.sum(b_ * r / a_safe, axis=1)) / np.maximum(schur, 1e-300)
                alpha = (r - b_ * beta[:, None]) / a_safe
                ea = np.minimum(self.expand(alpha) + beta[:, None] * tt, 700.0)
                ma = np.exp(ea)
                ylogy = self.ylogy if full else self.ylogy[act]
                dev = 2.0 * np.sum(oma * (ylogy - ya * ea - (ya - ma)), axis=1)
                done = np.abs(dev - dev_old[act]) / (np.abs(dev) + 0.1) < _EPS
                eta[act] = ea
                mu[act] = ma
                alpha_all[act] = alpha
                beta_all[act] = beta
                dev_old[act] = dev
                conv[act[done]] = True
                act = act[~done]
                if act.size == 0:
                    break
            alpha, beta = alpha_all, beta_all
            weights = om * mu
            a = self.sums(weights)
            b_ = self.sums(weights * tt)
            a_safe = np.maximum(a, 1e-300)
            schur = (weights @ self.tt2) - np.sum(b_ * b_ / a_safe, axis=1)
        n_par = self.sizes.size + (1 if trend else 0)
        df = y.shape[1] - n_par
        pearson = np.sum(om * (y - mu) ** 2 / np.maximum(mu, 1e-300), axis=1)
        disp = pearson / df if df > 0 else np.ones(d)
        disp = np.where(np.isfinite(disp), disp, 1.0)
        return {
            "mu": mu,
            "alpha": alpha,
            "beta": beta,
            "a": a,
            "b": b_,
            "schur": schur,
            "weights": weights,
            "disp": disp,
            "df": df,
            "conv": conv,
            "eta": np.log(np.maximum(mu, 1e-300)),
        }

    def sums(self, m: FloatArray) -> FloatArray:
        out: FloatArray = np.add.reduceat(m, self.starts, axis=1)
        return out

    def expand(self, m: FloatArray) -> FloatArray:
        out: FloatArray = np.repeat(m, self.sizes, axis=1)
        return out

    def hat(self, f: dict[str, Any], trend: bool) -> FloatArray:
        a_row = self.expand(f["a"])
        inv = 1.0 / np.maximum(a_row, 1e-300)
        if trend:
            centre = self.expand(f["b"] / np.maximum(f["a"], 1e-300))
            inv = inv + (self.tt - centre) ** 2 / np.maximum(f["schur"], 1e-300)[:, None]
        out: FloatArray = f["weights"] * inv
        return out

    def reweighted(
        self, trend: bool, threshold: float, reweight: bool, start: FloatArray | None = None
    ) -> dict[str, Any]:
        first = self.fit(None, trend, start)
        if not reweight:
            first["phi"] = np.maximum(first["disp"], 1.0)
            return first
        phi = np.maximum(first["disp"], 1.0)
        h = np.clip(self.hat(first, trend), 0.0, 1.0)
        mu = np.maximum(first["mu"], 1e-300)
        root_mu = np.sqrt(mu)
        cube_y = np.cbrt(self.y)
        # y^(2/3) mu^(-1/6) - mu^(1/2), with cbrt/sqrt rather than the slower power
        raw = 1.5 * (cube_y * cube_y / np.cbrt(root_mu) - root_mu)
        denom = np.sqrt(phi[:, None] * (1.0 - h))
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(denom > 1e-12, raw / np.where(denom > 1e-12, denom, 1.0), 0.0)
        big = s > threshold
        inv2 = np.where(big, 1.0 / np.where(big, s * s, 1.0), 1.0)
        gamma = self.y.shape[1] / np.sum(inv2, axis=1)
        omega = gamma[:, None] * inv2
        second = self.fit(omega, trend, first["eta"])
        second["phi"] = np.maximum(second["disp"], 1.0)
        return second


def _predict(f: dict[str, Any], level: int, trend: bool) -> tuple[FloatArray, FloatArray]:
    """Linear predictor at the current period (time 0, windows level) and its SE."""
    eta0 = f["alpha"][:, level]
    a_p = np.maximum(f["a"][:, level], 1e-300)
    v = 1.0 / a_p
    if trend:
        v = v + (f["b"][:, level] / a_p) ** 2 / np.maximum(f["schur"], 1e-300)
    se = np.sqrt(f["disp"] * v)  # R predict.glm: the summary dispersion, not max(phi, 1)
    return eta0, se


def run_farrington(
    method: str, x: FloatArray, params: dict[str, Any], evaluate: BoolArray | None = None
) -> Arrays:
    b = positive_int(method, params, "b")
    w = positive_int(method, params, "w", minimum=0)
    p = positive_int(method, params, "no_periods")
    skip = positive_int(method, params, "past_weeks_not_included", minimum=0)
    thr = positive_float(method, params, "weights_threshold")
    alpha = probability(method, params, "alpha")
    p_trend = probability(method, params, "p_threshold_trend")
    a = positive_int(method, params, "window_days")
    min_years = positive_int(method, params, "min_years")
    limit = params["limit54"]
    if (
        not isinstance(limit, Sequence)
        or len(limit) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in limit)
        or limit[0] < 0
        or limit[1] < 1
    ):
        raise ValueError(f"{method}: limit54 must be (cases >= 0, periods >= 1), got {limit!r}")
    powertrans = params["powertrans"]
    if powertrans not in _EXPONENT:
        raise ValueError(f"{method}: powertrans must be one of {sorted(_EXPONENT)}")
    tmethod = params["threshold_method"]
    if tmethod not in ("delta", "nbPlugin", "muan"):
        raise ValueError(f"{method}: threshold_method must be 'delta', 'nbPlugin' or 'muan'")
    freq = round(365.25 / a)
    if freq - 2 * w - 1 < p - 1:
        raise ValueError(f"{method}: no_periods={p} is too big for w={w} and {freq} periods a year")
    reweight = bool(params["reweight"])
    use_trend = bool(params["trend"])

    series, days = x.shape
    out = Arrays.empty(x)
    zero = np.zeros((series, 1))
    cs = np.concatenate((zero, np.cumsum(x, axis=1)), axis=1)
    t_all = np.arange(days)
    # the period total ending on each day
    window = np.full((series, days), np.nan)
    if days >= a:
        window[:, a - 1 :] = cs[:, a:] - cs[:, : days - a + 1]
    out.observed = window
    periods_back = np.where(t_all >= a - 1, (t_all - a + 1) // a, -1)
    years = np.minimum(b, np.maximum((periods_back - w) // freq, 0))
    years = np.where(periods_back >= w + freq, years, 0)
    wanted = np.ones(days, dtype=bool) if evaluate is None else evaluate
    z = stats.norm.ppf(1.0 - alpha)
    for nb in range(min_years, b + 1):
        day_idx = np.nonzero(wanted & (years == nb))[0]
        if day_idx.size == 0:
            continue
        off, lev = design(nb, freq, w, p, skip)
        present = np.unique(lev)
        lev_idx = np.searchsorted(present, lev)
        by_level = np.argsort(lev_idx, kind="stable")
        off, lev_idx = off[by_level], lev_idx[by_level]
        current = int(np.searchsorted(present, p - 1))
        tt = off.astype(float)
        pairs_s = np.repeat(np.arange(series), day_idx.size)
        pairs_t = np.tile(day_idx, series)
        for lo in range(0, pairs_s.size, _CHUNK):
            s_idx = pairs_s[lo : lo + _CHUNK]
            t_idx = pairs_t[lo : lo + _CHUNK]
            y = window[s_idx[:, None], t_idx[:, None] + a * off[None, :]]
            recent_ends = t_idx[:, None] - a * np.arange(limit[1])[None, :]
            recent = np.where(
                recent_ends >= a - 1,
                window[s_idx[:, None], np.maximum(recent_ends, a - 1)],
                0.0,
            ).sum(axis=1)
            _evaluate_chunk(
                out, s_idx, t_idx, y, lev_idx, tt, current, window[s_idx, t_idx], recent,
                nb=nb, reweight=reweight, thr=thr, use_trend=use_trend, p_trend=p_trend,
                z=z, alpha=alpha, powertrans=powertrans, tmethod=tmethod, limit=limit,
            )  # fmt: skip
    return out


def _evaluate_chunk(
    out: Arrays,
    s_idx: IntArray,
    t_idx: IntArray,
    y: FloatArray,
    levels: IntArray,
    tt: FloatArray,
    current: int,
    y0: FloatArray,
    recent: FloatArray,
    *,
    nb: int,
    reweight: bool,
    thr: float,
    use_trend: bool,
    p_trend: float,
    z: float,
    alpha: float,
    powertrans: str,
    tmethod: str,
    limit: Sequence[int],
) -> None:
    model = _Fit(y, levels, tt)
    flat = model.reweighted(False, thr, reweight)
    eta0, se_eta = _predict(flat, current, False)
    phi = flat["phi"]
    if use_trend and nb >= 3:
        trended = model.reweighted(True, thr, reweight, flat["eta"])
        eta_t, se_t = _predict(trended, current, True)
        se_beta = np.sqrt(trended["disp"] / np.maximum(trended["schur"], 1e-300))
        with np.errstate(divide="ignore", invalid="ignore"):
            t_val = trended["beta"] / se_beta
        pval = 2.0 * stats.t.sf(np.abs(t_val), trended["df"])
        keep = (
            (pval < p_trend)
            & (np.exp(eta_t) <= y.max(axis=1))
            & trended["conv"]
            & np.isfinite(eta_t)
        )
        eta0 = np.where(keep, eta_t, eta0)
        se_eta = np.where(keep, se_t, se_eta)
        phi = np.where(keep, trended["phi"], phi)
    mu0 = np.exp(eta0)
    if tmethod == "delta":
        e = _EXPONENT[powertrans]
        se_fit = mu0 * se_eta  # predict.glm(type="response") standard error
        with np.errstate(divide="ignore", invalid="ignore"):
            tau = phi + np.where(mu0 > 0, se_fit**2 / np.where(mu0 > 0, mu0, 1.0), 0.0)
        if powertrans == "none":
            sd = np.sqrt(mu0 * tau)
        elif powertrans == "1/2":
            sd = np.sqrt(0.25 * tau)
        else:
            sd = np.sqrt(4.0 / 9.0 * np.power(mu0, 1.0 / 3.0) * tau)
        base = np.power(mu0, e) + z * sd
        upper = np.power(np.maximum(base, 0.0), 1.0 / e)
        expected = mu0
    else:
        mq = mu0 if tmethod == "nbPlugin" else np.exp(eta0 + z * se_eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            size = mq / np.where(phi > 1, phi - 1.0, 1.0)
            nbq = stats.nbinom.ppf(1.0 - alpha, size, 1.0 / phi)
        upper = np.where(phi > 1, nbq, stats.poisson.ppf(1.0 - alpha, mq))
        upper = np.where(np.isfinite(mq), upper, np.nan)
        expected = mu0
    with np.errstate(divide="ignore", invalid="ignore"):
        score = (y0 - mu0) / (upper - mu0)
    enough = recent >= limit[0]
    out.ok[s_idx, t_idx] = True
    out.expected[s_idx, t_idx] = expected
    out.upper[s_idx, t_idx] = np.where(enough, upper, np.nan)
    out.score[s_idx, t_idx] = np.where(enough, score, np.nan)
    out.alarm[s_idx, t_idx] = enough & (score > 1.0) & (y0 > 0)


__all__ = ["DEFAULTS", "design", "run_farrington"]
