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
   fitted by maximum likelihood. R's ``glm`` gets there by IRLS; here the level parameters
   have a closed form given the slope, so the fit is a Newton search over the slope alone
   (see ``_Fit``): the same estimate, to within R's own convergence tolerance (1e-8 on
   the deviance), at a fraction of the cost.
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

import copy
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

_CHUNK = 256  # (series, day) fits at once: small temporaries, reused rather than paged in
_MAX_ITER = 25
_STEP_TOL = 1e-10  # Newton on the slope: stop once a step is this small (relative)
_MAX_EXPONENT = 600.0  # |beta t| bound, well inside exp()'s range
# What the prediction and the trend test read from a fit, merged after a partial refit
# (the (rows, observations) arrays are not: nothing reads them after the reweighting).
_ROW_KEYS = ("alpha", "beta", "a", "b", "schur", "disp", "conv", "phi")
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
    """Quasi-Poisson GLM log link, one parameter per level (+ trend), fitted row-wise.

    With one parameter per level the level parameters have a closed form given the trend
    slope: exp(alpha_l) = sum_l(omega y) / sum_l(omega exp(beta t)). So the no-trend fit is
    the weighted level mean, and the trend fit a Newton search over beta alone on the
    profile likelihood (concave, one root); its optimum is the GLM's maximum likelihood
    estimate, the point R's IRLS converges to.
    """

    def __init__(self, y: FloatArray, y23: FloatArray, levels: IntArray, tt: FloatArray) -> None:
        # Rows come sorted by level (0..L-1, each present), so per-level sums are a
        # reduceat and expanding level values a repeat: cheaper than a one-hot matmul.
        self.y = y  # (D, n)
        self.y23 = y23  # y^(2/3), for the Anscombe residuals
        self.sizes = np.bincount(levels)
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1]))
        self.tt = tt  # (n,) time, prediction at 0
        # Centred time keeps exp(beta t) in range and the level variances exact.
        self.centre = 0.5 * (float(tt.min()) + float(tt.max()))
        self.tc = tt - self.centre
        self.tc2 = self.tc * self.tc
        reach = max(float(np.abs(self.tc).max()), 1.0)
        self.max_slope = _MAX_EXPONENT / reach
        self.max_step = 10.0 / reach  # at most a factor e^10 over half the span per step
        self.sy = self.sums(y)  # unweighted level totals

    def fit(
        self, omega: FloatArray | None, trend: bool, start: FloatArray | None = None
    ) -> dict[str, Any]:
        y = self.y
        d = y.shape[0]
        sy = self.sy if omega is None else self.sums(omega * y)
        if not trend:
            counts = self.sizes.astype(float) if omega is None else self.sums(omega)
            level_mu = np.maximum(sy / counts, 1e-300)
            alpha = np.log(level_mu)
            beta = np.zeros(d)
            mu = self.expand(level_mu)
            a = level_mu * counts  # sum of omega * mu over each level
            b_ = np.zeros_like(a)
            schur = np.full(d, np.inf)
            conv = np.ones(d, dtype=bool)
            e = None
        else:
            beta, conv = self._slope(omega, sy, start)
            e = np.exp(beta[:, None] * self.tc)
            oe = e if omega is None else omega * e
            a_e = np.maximum(self.sums(oe), 1e-300)
            mean_t = self.sums(oe * self.tc) / a_e  # centred level means of t
            var_t = np.maximum(self.sums(oe * self.tc2) / a_e - mean_t * mean_t, 0.0)
            level_mu = sy / a_e  # mu = level_mu * e
            with np.errstate(divide="ignore"):
                alpha = np.log(np.maximum(level_mu, 1e-300)) - beta[:, None] * self.centre
            mu = self.expand(level_mu) * e
            a = sy  # sum of omega * mu over each level, exactly, at the profiled alphas
            b_ = sy * (mean_t + self.centre)
            schur = np.sum(sy * var_t, axis=1)
        weights = mu if omega is None else omega * mu
        n_par = self.sizes.size + (1 if trend else 0)
        df = y.shape[1] - n_par
        resid = y - mu
        pearson = np.sum(weights * (resid / np.maximum(mu, 1e-300)) ** 2, axis=1)
        disp = pearson / df if df > 0 else np.ones(d)
        disp = np.where(np.isfinite(disp), disp, 1.0)
        return {
            "mu": mu,
            "level_mu": level_mu,
            "e": e,
            "alpha": alpha,
            "beta": beta,
            "a": a,
            "b": b_,
            "schur": schur,
            "weights": weights,
            "disp": disp,
            "df": df,
            "conv": conv,
        }

    def _slope(
        self, omega: FloatArray | None, sy: FloatArray, start: FloatArray | None
    ) -> tuple[FloatArray, BoolArray]:
        """Newton on the profile score g(beta) = sum omega y t - sum_l S_l E_l[t]."""
        y = self.y
        d = y.shape[0]
        target = (y if omega is None else omega * y) @ self.tc
        beta = np.zeros(d) if start is None else np.array(start, dtype=float)
        conv = np.zeros(d, dtype=bool)
        act = np.arange(d)  # rows still iterating: a few slow rows do not hold up the rest
        for _ in range(_MAX_ITER):
            full = act.size == d
            b_act = beta if full else beta[act]
            oe = np.exp(b_act[:, None] * self.tc)
            if omega is not None:
                oe *= omega if full else omega[act]
            a_e = np.maximum(self.sums(oe), 1e-300)
            oe *= self.tc
            m1 = self.sums(oe) / a_e
            oe *= self.tc
            m2 = self.sums(oe) / a_e
            s = sy if full else sy[act]
            grad = (target if full else target[act]) - np.sum(s * m1, axis=1)
            curv = np.sum(s * np.maximum(m2 - m1 * m1, 0.0), axis=1)
            flat = ~(curv > 0)  # no information on the slope (e.g. no cases)
            step = np.clip(grad / np.where(flat, 1.0, curv), -self.max_step, self.max_step)
            step[flat] = 0.0
            b_act = np.clip(b_act + step, -self.max_slope, self.max_slope)
            beta[act] = b_act
            done = (np.abs(step) <= _STEP_TOL * (1.0 + np.abs(b_act))) & ~flat
            conv[act[done]] = True
            act = act[~(done | flat)]
            if act.size == 0:
                break
        return beta, conv

    def sums(self, m: FloatArray) -> FloatArray:
        out: FloatArray = np.add.reduceat(m, self.starts, axis=1)
        return out

    def expand(self, m: FloatArray) -> FloatArray:
        out: FloatArray = np.repeat(m, self.sizes, axis=1)
        return out

    def rows(self, keep: IntArray) -> _Fit:
        """The same model on a subset of the rows."""
        sub = copy.copy(self)
        sub.y, sub.y23, sub.sy = self.y[keep], self.y23[keep], self.sy[keep]
        return sub

    def reweighted(self, trend: bool, threshold: float, reweight: bool) -> dict[str, Any]:
        first = self.fit(None, trend)
        first["phi"] = np.maximum(first["disp"], 1.0)
        if not reweight:
            return first
        # Hat values and Anscombe residuals 3/2 (y^(2/3) mu^(-1/6) - mu^(1/2)), from level
        # values where the fit is constant within levels (pow and cbrt are slow elementwise).
        if trend:
            centre = self.expand(first["b"] / np.maximum(first["a"], 1e-300))
            inv = self.expand(1.0 / np.maximum(first["a"], 1e-300))
            inv += (self.tt - centre) ** 2 / np.maximum(first["schur"], 1e-300)[:, None]
            h = first["weights"] * inv
            sixth = self.expand(np.power(first["level_mu"], 1.0 / 6.0))
            sixth *= np.exp(first["beta"][:, None] * (self.tc / 6.0))
        else:
            h = self.expand(first["level_mu"] / np.maximum(first["a"], 1e-300))
            sixth = self.expand(np.power(first["level_mu"], 1.0 / 6.0))
        np.clip(h, 0.0, 1.0, out=h)
        sixth = np.maximum(sixth, 1e-50)
        raw = 1.5 * (self.y23 / sixth - sixth * sixth * sixth)
        denom = np.sqrt(first["phi"][:, None] * (1.0 - h))
        with np.errstate(divide="ignore", invalid="ignore"):
            s = raw / denom
        s[denom <= 1e-12] = 0.0
        big = s > threshold
        changed = np.nonzero(big.any(axis=1))[0]
        if changed.size == 0:  # no residual over the threshold: all weights 1, same fit
            return first
        inv2 = np.ones_like(s[changed])
        np.divide(1.0, s[changed] ** 2, out=inv2, where=big[changed])
        omega = (self.y.shape[1] / np.sum(inv2, axis=1))[:, None] * inv2
        start = np.where(first["conv"], first["beta"], 0.0)[changed]
        second = self.rows(changed).fit(omega, trend, start)
        second["phi"] = np.maximum(second["disp"], 1.0)
        out = {"df": first["df"]}
        for key in _ROW_KEYS:
            merged = first[key].copy()
            merged[changed] = second[key]
            out[key] = merged
        return out


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
    window23 = np.cbrt(np.nan_to_num(window)) ** 2  # for the Anscombe residuals
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
            rows, cols = s_idx[:, None], t_idx[:, None] + a * off[None, :]
            y, y23 = window[rows, cols], window23[rows, cols]
            recent_ends = t_idx[:, None] - a * np.arange(limit[1])[None, :]
            recent = np.where(
                recent_ends >= a - 1,
                window[s_idx[:, None], np.maximum(recent_ends, a - 1)],
                0.0,
            ).sum(axis=1)
            _evaluate_chunk(
                out, s_idx, t_idx, y, y23, lev_idx, tt, current, window[s_idx, t_idx], recent,
                nb=nb, reweight=reweight, thr=thr, use_trend=use_trend, p_trend=p_trend,
                z=z, alpha=alpha, powertrans=powertrans, tmethod=tmethod, limit=limit,
            )  # fmt: skip
    return out


def _evaluate_chunk(
    out: Arrays,
    s_idx: IntArray,
    t_idx: IntArray,
    y: FloatArray,
    y23: FloatArray,
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
    model = _Fit(y, y23, levels, tt)
    flat = model.reweighted(False, thr, reweight)
    eta0, se_eta = _predict(flat, current, False)
    phi = flat["phi"]
    if use_trend and nb >= 3:
        trended = model.reweighted(True, thr, reweight)
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
        with np.errstate(over="ignore"):  # an empty level's SE is huge: no bound (NaN)
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
