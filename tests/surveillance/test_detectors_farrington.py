"""The improved Farrington method: layout, a transcription of R, hand-derived bounds.

No published numeric example of farringtonFlexible can be reproduced without R here, so
the method is checked three ways: the reference periods against R's ``blocks()`` layout
worked by hand; the vectorised solver against ``farrington_flexible`` below (a slow, dense,
line-by-line transcription of R surveillance's farringtonFlexible.R and algo_farrington.R:
glm IRLS, anscombe.residuals, algo.farrington.assign.weights, the trend rules and
algo.farrington.threshold.farrington); and hand-derived thresholds on constant series.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from yilian.surveillance.detectors import INSUFFICIENT_BASELINE, OK, Point, detect, detect_matrix
from yilian.surveillance.detectors.farrington import design

START = date(2020, 1, 6)


# --- A plain transcription of R surveillance's farringtonFlexible for one time point -------
# Dense design matrix with treatment contrasts (intercept, wtime, seasgroups), R's glm IRLS
# (mustart = y + 0.1, deviance convergence 1e-8), summary.glm dispersion, hatvalues,
# anscombe.residuals, algo.farrington.assign.weights, the trend rules of
# algo.farrington.glm and algo.farrington.threshold.farrington; written from the R source
# independently of the vectorised module.


def _r_blocks(weekly: np.ndarray, k: int, b: int, freq: int, w: int, p: int) -> np.ndarray:
    factors = np.full(weekly.size, np.nan)
    factors[k - w : k + 1] = p
    refs = [k - i * freq for i in range(b + 1)]
    for i in range(1, b + 1):
        ref = refs[i]
        factors[ref - w : ref + w + 1] = p
        if p != 1:
            period = refs[i - 1] - 2 * w - 1 - ref
            size, rest = divmod(period, p - 1)
            lengths = [size + (1 if j < rest else 0) for j in range(p - 1)]
            cum = np.concatenate(([0], np.cumsum(lengths)))
            for j in range(1, p):
                factors[ref + w + 1 + cum[j - 1] : ref + w + 1 + cum[j]] = j
    return factors


def _r_glm(y: np.ndarray, x: np.ndarray, prior: np.ndarray) -> dict[str, Any]:
    mu = y + 0.1
    eta = np.log(mu)
    dev_old = np.inf
    for _ in range(25):
        wt = prior * mu
        z = eta + (y - mu) / mu
        xtw = x.T * wt
        beta = np.linalg.solve(xtw @ x, xtw @ z)
        eta = x @ beta
        mu = np.exp(eta)
        dev = 2 * np.sum(
            prior * (np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0) - (y - mu))
        )
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            break
        dev_old = dev
    wt = prior * mu
    cov = np.linalg.inv((x.T * wt) @ x)
    hat = wt * np.einsum("ij,jk,ik->i", x, cov, x)
    df = y.size - x.shape[1]
    disp = np.sum(prior * (y - mu) ** 2 / mu) / df
    return {"beta": beta, "mu": mu, "cov": cov, "hat": hat, "disp": disp, "df": df}


def _r_fit_flexible(y, wtime, groups, trend, reweight, thr):
    levels = sorted(set(groups.tolist()))
    cols = [np.ones(y.size)]
    if trend:
        cols.append(wtime)
    cols += [(groups == lv).astype(float) for lv in levels[1:]]
    x = np.column_stack(cols)
    model = _r_glm(y, x, np.ones(y.size))
    phi = max(model["disp"], 1.0)
    if reweight:
        mu = model["mu"]
        s = 1.5 * (y ** (2 / 3) * mu ** (-1 / 6) - mu**0.5) / np.sqrt(phi * (1 - model["hat"]))
        with np.errstate(divide="ignore"):
            inv2 = np.where(s > thr, s**-2.0, 1.0)
        gamma = s.size / inv2.sum()
        omega = gamma * inv2
        model = _r_glm(y, x, omega)
        phi = max(model["disp"], 1.0)
    model["phi"] = phi
    model["x"] = x
    model["levels"] = levels
    model["trend"] = trend
    return model


def _r_predict(model, wtime_now, level):
    row = [1.0]
    if model["trend"]:
        row.append(wtime_now)
    row += [1.0 if lv == level else 0.0 for lv in model["levels"][1:]]
    x0 = np.asarray(row)
    eta = x0 @ model["beta"]
    se_link = np.sqrt(model["disp"] * x0 @ model["cov"] @ x0)
    return float(np.exp(eta)), float(np.exp(eta) * se_link)


def farrington_flexible(weekly, k, *, b=5, w=3, p=10, skip=26, thr=2.58, alpha=0.05):
    """(expected, upper, score, trend kept) at weekly index k (thresholdMethod='delta')."""
    freq = 52
    blocks = _r_blocks(np.asarray(weekly, float), k, b, freq, w, p)
    blocks_id = blocks.copy()
    blocks_id[k - skip : k + 1] = np.nan
    idx = np.nonzero(~np.isnan(blocks_id))[0]
    y = np.asarray(weekly, float)[idx]
    wtime = idx.astype(float)
    groups = blocks[idx]
    model = _r_fit_flexible(y, wtime, groups, True, True, thr)
    fit, se = _r_predict(model, float(k), p)
    t_val = model["beta"][1] / np.sqrt(model["disp"] * model["cov"][1, 1])
    pval = 2 * stats.t.sf(abs(t_val), model["df"])
    do_trend = b >= 3 and pval < 0.05 and fit <= y.max()
    if not do_trend:
        model = _r_fit_flexible(y, wtime, groups, False, True, thr)
        fit, se = _r_predict(model, float(k), p)
    mu0 = fit
    tau = model["phi"] + se**2 / mu0
    sd = np.sqrt(4 / 9 * mu0 ** (1 / 3) * tau)
    upper = (mu0 ** (2 / 3) + stats.norm.ppf(1 - alpha) * sd) ** 1.5
    score = (weekly[k] - mu0) / (upper - mu0)
    return mu0, upper, score, do_trend


# --- Tests ---------------------------------------------------------------------------


def weekly_series(x: np.ndarray, day: int) -> np.ndarray:
    """The 7-day totals ending on day, day-7, ... oldest first (the reference's input)."""
    k = (day - 6) // 7
    return np.array([x[day - 7 * j - 6 : day - 7 * j + 1].sum() for j in range(k, -1, -1)])


def test_design_matches_r_blocks_worked_by_hand():
    """R blocks() with b = 1, w = 3, 52 weeks, noPeriods = 10: the reference window is
    weeks now-55..now-49 (level 10); the 45 weeks between it and the current window
    (now-48..now-4) split into 9 blocks of 5; weeks now-26..now are left out
    (pastWeeksNotIncluded = 26). Levels here are 0-based (9 = the windows)."""
    off, lev = design(1, 52, 3, 10, 26)
    assert off.tolist() == list(range(-55, -26))
    assert lev[:7].tolist() == [9] * 7
    assert lev[7:12].tolist() == [0] * 5 and lev[12:17].tolist() == [1] * 5
    assert lev[-2:].tolist() == [4, 4]  # weeks -28, -27 begin block 5 (-28..-24)
    off5, lev5 = design(5, 52, 3, 10, 26)
    assert off5.min() == -5 * 52 - 3 and off5.max() == -27
    assert (lev5 == 9).sum() == 5 * 7
    # With w = 2 the 47 weeks between windows do not split evenly into 10 - 1 blocks:
    # 47 = 5*9 + 2, the first two blocks get the extra week (R: vectorLengthOfBlocks[add]
    # + 1). With pastWeeksNotIncluded = 0 only the current week is left out, so the
    # current window's weeks now-2, now-1 join the windows' level.
    off2, lev2 = design(1, 52, 2, 10, 0)
    assert np.bincount(lev2).tolist() == [6, 6, 5, 5, 5, 5, 5, 5, 5, 5 + 2]
    assert off2.max() == -1


def _series(seed: int, days: int, trend: float) -> np.ndarray:
    gen = np.random.default_rng(seed)
    t = np.arange(days)
    lam = (5 + 3 * np.sin(2 * np.pi * t / 364)) * np.exp(trend * t)
    x = gen.negative_binomial(5, 5 / (5 + lam)).astype(float)
    x[days - 400 : days - 380] += 8  # a past outbreak the reweighting must down-weight
    return x


@pytest.mark.parametrize(
    ("trend", "kept", "skip"), [(0.0, False, 26), (0.0012, True, 26), (0.0, False, 1)]
)
def test_matches_a_transcription_of_r_farringtonflexible(trend, kept, skip):
    days = 7 * (52 * 5 + 3 + 10) + 6
    x = _series(4, days, trend)
    res = detect_matrix("farrington", x, {"past_weeks_not_included": skip})
    seen_trend = set()
    for day in range(days - 1, 7 * 60, -53):
        weekly = weekly_series(x, day)
        k = weekly.size - 1
        years = min(5, (k - 3) // 52)
        expected, upper, score, do_trend = farrington_flexible(weekly, k, b=years, skip=skip)
        seen_trend.add(do_trend)
        assert res.ok[0, day]
        assert res.observed[0, day] == weekly[-1]
        assert res.expected[0, day] == pytest.approx(expected, rel=1e-8)
        assert res.upper[0, day] == pytest.approx(upper, rel=1e-8)
        assert res.score[0, day] == pytest.approx(score, rel=1e-6, abs=1e-9)
    assert kept in seen_trend  # both branches of the trend rule are exercised


def test_constant_series_threshold_by_hand():
    """Hand-derived from algo.farrington.threshold.farrington: 10 cases a day is 70 a week
    every week, so mu0 = 70, the dispersion is 0 (phi = max(0, 1) = 1) and the prediction
    SE 0: U = (70^(2/3) + z_0.95 sqrt(4/9 * 70^(1/3)))^(3/2) = 84.20."""
    pts = [Point(START + timedelta(days=i), 10.0) for i in range(7 * 60)]
    last = detect("farrington", pts)[-1]
    z = stats.norm.ppf(0.95)
    upper = (70 ** (2 / 3) + z * math.sqrt(4 / 9 * 70 ** (1 / 3))) ** 1.5
    assert upper == pytest.approx(84.20, abs=0.01)
    assert last.status == OK and last.observed == 70
    assert last.expected == pytest.approx(70.0)
    assert last.upper == pytest.approx(upper)
    assert not last.alarm
    # nbPlugin with phi = 1: the Poisson quantile qpois(0.95, 70) = 84.
    nb = detect("farrington", pts, {"threshold_method": "nbPlugin"})[-1]
    assert nb.upper == stats.poisson.ppf(0.95, 70) == 84


def test_history_and_limit54():
    """A year and w weeks of 7-day totals are needed (min_years = 1): before that the day
    is "insufficient_baseline". Fewer than 5 cases in the past 4 weeks: no bound, no
    alarm (R: limit54 = c(5, 4))."""
    need = 7 * (52 + 3) + 6  # 0-based index of the first evaluable day
    pts = [Point(START + timedelta(days=i), 1.0 if i % 10 == 0 else 0.0) for i in range(need + 2)]
    res = detect("farrington", pts)
    assert res[need - 1].status == INSUFFICIENT_BASELINE
    assert res[need].status == OK
    sparse = [p for p in pts if p.day < START + timedelta(days=need - 30)]
    quiet = detect("farrington", sparse, evaluate=[START + timedelta(days=need)])[0]
    assert quiet.status == OK and quiet.upper is None and not quiet.alarm


def test_daily_variant_and_bad_design():
    """window_days = 1 runs on daily counts (365 periods a year); a seasonal factor with
    more levels than the year has periods is refused."""
    x = np.random.default_rng(2).poisson(6, 2 * 365 + 40).astype(float)
    x[-1] = 30
    res = detect_matrix("farrington", x, {"window_days": 1, "w": 7, "past_weeks_not_included": 30})
    assert res.ok[0, -1] and res.alarm[0, -1] and res.observed[0, -1] == 30
    assert 4 < res.expected[0, -1] < 8
    with pytest.raises(ValueError, match="no_periods=60 is too big"):
        detect_matrix("farrington", x, {"no_periods": 60})


def test_batched_solver_equals_the_per_day_transcription_on_every_day():
    """The batch path (all days of several series at once, the trend slope by Newton on the
    profile likelihood, refits only where reweighting changes a weight) gives, day by day,
    what the line-by-line transcription of R gives for that one day: a seasonal series with
    a trend and a past outbreak, a sparse one (about one case a week, where limit54 and
    the zero-count levels matter) and a flat one. R's glm stops IRLS at a 1e-8 change in
    deviance, so the two agree to that order, not to the last bit."""
    days = 7 * (3 * 52 + 3) + 6 + 7 * 40  # three years of history, then 40 weeks
    gen = np.random.default_rng(21)
    t = np.arange(days)
    seasonal = _series(9, days, 0.0009)
    sparse = gen.poisson(0.15, days).astype(float)
    flat = gen.poisson(3.0 * (1 + 0.3 * np.sin(2 * np.pi * t / 365.25)), days).astype(float)
    x = np.vstack([seasonal, sparse, flat])
    res = detect_matrix("farrington", x)
    first = 7 * (52 + 3) + 6
    checked = {"trend kept": 0, "no bound": 0, "alarm": 0}
    for row in range(x.shape[0]):
        for day in range(first, days, 11):
            weekly = weekly_series(x[row], day)
            k = weekly.size - 1
            years = min(5, (k - 3) // 52)
            expected, upper, score, kept = farrington_flexible(weekly, k, b=years)
            assert res.ok[row, day]
            assert res.expected[row, day] == pytest.approx(expected, rel=1e-6, abs=1e-9)
            if weekly[k - 3 : k + 1].sum() < 5:  # limit54: no bound, no alarm
                assert np.isnan(res.upper[row, day]) and not res.alarm[row, day]
                checked["no bound"] += 1
                continue
            assert res.upper[row, day] == pytest.approx(upper, rel=1e-6)
            assert res.alarm[row, day] == (score > 1 and weekly[k] > 0)
            checked["trend kept"] += kept
            checked["alarm"] += bool(res.alarm[row, day])
    assert all(checked.values()), checked  # every branch was met
