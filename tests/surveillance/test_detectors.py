"""Detectors: worked examples, the interface, bad input and short series.

What is published and what is hand-derived is said in each test's docstring.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from scipy import stats

from yilian.surveillance.detectors import (
    INSUFFICIENT_BASELINE,
    METHODS,
    OK,
    Point,
    default_params,
    detect,
    detect_matrix,
)

START = date(2026, 1, 1)


def series(counts: list[float], totals: list[float] | None = None) -> list[Point]:
    return [
        Point(START + timedelta(days=i), float(c), None if totals is None else float(totals[i]))
        for i, c in enumerate(counts)
    ]


# --- EARS ------------------------------------------------------------------------------


def test_ears_c1_hand_derived():
    """Hand-derived from the EARS C1 definition (Hutwagner et al., J Urban Health 2003;
    formula as in R surveillance ``earsC``: baseline t-7..t-1, sample SD).

    Baseline 3,5,4,6,2,5,3: mean 28/7 = 4, squared deviations 1+1+0+4+4+1+1 = 12, SD
    sqrt(12/6) = sqrt(2). Day 8 has 12 cases: C1 = 8/sqrt(2) = 5.657 > 3, upper
    4 + 3 sqrt(2) = 8.243. Not a published numeric example: the CDC documentation gives
    no printed series.
    """
    res = detect("ears_c1", series([3, 5, 4, 6, 2, 5, 3, 12]))
    assert [r.status for r in res[:7]] == [INSUFFICIENT_BASELINE] * 7
    day8 = res[7]
    assert day8.status == OK
    assert day8.expected == pytest.approx(4.0)
    assert day8.upper == pytest.approx(4 + 3 * math.sqrt(2))
    assert day8.score == pytest.approx(8 / math.sqrt(2))
    assert day8.alarm
    # R's default threshold is qnorm(1 - 0.001) = 3.090232 and minSigma = 0.
    r_like = detect(
        "ears_c1",
        series([3, 5, 4, 6, 2, 5, 3, 8]),
        {"threshold": 3.090232306167813, "min_sigma": 0.0},
    )[7]
    assert r_like.upper == pytest.approx(4 + 3.090232306167813 * math.sqrt(2))
    assert not r_like.alarm  # 8 < 8.370


def test_ears_c2_uses_two_guard_days():
    """Hand-derived (EARS C2: baseline t-9..t-3). The two days before t are ignored, so a
    surge on days 8-9 does not raise day 10's baseline: baseline 3,5,4,6,2,5,3 again."""
    res = detect("ears_c2", series([3, 5, 4, 6, 2, 5, 3, 40, 40, 12]))
    assert [r.status for r in res[:9]] == [INSUFFICIENT_BASELINE] * 9
    assert res[9].expected == pytest.approx(4.0)
    assert res[9].upper == pytest.approx(4 + 3 * math.sqrt(2))
    assert res[9].alarm


def test_ears_c3_hand_derived():
    """Hand-derived from the C3 definition (Fricker, Hegler, Dunfee, Stat Med 2008:
    C3_t = sum over t-2..t of max(0, C2_i - 1), threshold 2).

    Every baseline here is seven 4s: SD 0, so the floor min_sigma = 1 applies and
    C2_i = x_i - 4. Days 12-14 have 6, 5, 6 cases: C2 = 2,
    1, 2, so C3 on day 14 = 1 + 0 + 1 = 2 (no alarm: not > 2); 7 cases instead gives 3.
    """
    base = [4.0] * 11
    quiet = detect("ears_c3", series([*base, 6, 5, 6]))
    assert quiet[10].status == INSUFFICIENT_BASELINE  # needs C2 on t-2: 12 days
    last = quiet[13]
    assert last.status == OK and last.score == pytest.approx(2.0) and not last.alarm
    # The bound is the count that takes C3 to the threshold: 4 + 1 * (1 + 2 - 1).
    assert last.upper == pytest.approx(6.0)
    loud = detect("ears_c3", series([*base, 6, 5, 7]))[13]
    assert loud.score == pytest.approx(3.0) and loud.alarm and loud.observed > loud.upper


# --- CUSUM and EWMA ----------------------------------------------------------------------

# Montgomery DC, Introduction to Statistical Quality Control, 6th ed. (Wiley 2009),
# Table 9.1: 30 observations, the first 20 from N(10, 1), the last 10 from N(11, 1).
MONTGOMERY = [
    9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34,
    9.03, 11.47, 10.51, 9.40, 10.08, 9.37, 10.62, 10.31, 8.52, 10.84,
    10.90, 9.33, 12.29, 11.50, 10.60, 11.08, 10.38, 11.62, 11.31, 10.52,
]  # fmt: skip


def test_cusum_reproduces_montgomery_example_9_1():
    """Published: Montgomery 2009, Example 9.1 / Table 9.2 (tabular CUSUM, mu0 = 10,
    sigma = 1, K = 0.5, H = 5): C+ first exceeds H at period 29 with C+_29 = 5.28, and the
    last zero before it is period 22 (N+ = 7)."""
    res = detect_matrix(
        "cusum",
        MONTGOMERY,
        {"target_mean": 10.0, "target_sd": 1.0, "k": 0.5, "h": 5.0, "reset": False},
    )
    s = res.score[0]
    assert np.nonzero(res.alarm[0])[0][0] + 1 == 29
    assert s[28] == pytest.approx(5.28, abs=0.005)
    assert s[21] == 0.0 and (s[22:29] > 0).all()
    # The bound is the count that takes S_t exactly to H: alarm iff observed > upper.
    assert ((res.observed[0] > res.upper[0]) == res.alarm[0]).all()


def test_cusum_moving_baseline_resets_after_alarm():
    """Hand-derived (standardised CUSUM on a moving 28-day baseline with 2 guard days,
    k = 0.5, h = 4, Hutwagner et al. 2003): a flat baseline of 10 has SD 0, floored at 1, so
    z = x - 10. Days of 13: S = 2.5, 5.0 -> alarm on the second, then S restarts at 0."""
    pts = series([10.0] * 30 + [13.0, 13.0, 13.0])
    res = detect("cusum", pts)
    assert res[29].status == INSUFFICIENT_BASELINE and res[30].status == OK
    assert [r.score for r in res[30:]] == pytest.approx([2.5, 5.0, 2.5])
    assert [r.alarm for r in res[30:]] == [False, True, False]
    assert res[31].upper == pytest.approx(10 + (4 + 0.5 - 2.5))


def test_ewma_on_montgomery_data():
    """Montgomery 2009 Example 9.2 (EWMA, lambda = 0.1, L = 2.7, mu0 = 10, sigma = 1) on
    the same data. Published: the first control limits 10.27 and 10.36 (exact start-up
    limits). Hand-derived here: z_i = 0.1 x_i + 0.9 z_{i-1}; z stays below the asymptotic
    UCL 10.6185 until period 29 (z_29 = 10.65)."""
    lam = 0.1
    res = detect_matrix(
        "ewma", MONTGOMERY, {"target_mean": 10.0, "target_sd": 1.0, "lambda": lam, "L": 2.7}
    )
    z, prev = [], 10.0
    for v in MONTGOMERY:
        prev = lam * v + (1 - lam) * prev
        z.append(prev)
    ucl = [lam * res.upper[0, i] + (1 - lam) * (z[i - 1] if i else 10.0) for i in range(30)]
    assert ucl[0] == pytest.approx(10.27, abs=0.005)
    assert ucl[1] == pytest.approx(10.36, abs=0.005)
    assert list(np.nonzero(res.alarm[0])[0] + 1) == [29, 30]
    assert z[28] == pytest.approx(10.65, abs=0.005)


# --- Positivity ----------------------------------------------------------------------------


def test_positivity_binomial_bound():
    """Hand-derived: 28 baseline days of 10 positives in 100 tests give p0 = 0.1; today's
    100 tests: the 0.99 quantile of Binomial(100, 0.1) is 18 (scipy.stats.binom.ppf), so 18
    positives do not alarm and 19 do."""
    counts = [10.0] * 30
    tests = [100.0] * 30
    params = {"model": "binomial"}
    assert stats.binom.ppf(0.99, 100, 0.1) == 18
    at = detect("positivity", series([*counts, 18], [*tests, 100]), params)[-1]
    above = detect("positivity", series([*counts, 19], [*tests, 100]), params)[-1]
    assert at.expected == pytest.approx(10.0) and at.upper == 18 and not at.alarm
    assert above.alarm and above.score == pytest.approx(9 / math.sqrt(9))


def test_positivity_beta_binomial_widens_with_little_baseline():
    """The beta-binomial bound (Jeffreys posterior of the baseline proportion) equals
    scipy.stats.betabinom.ppf and is wider than the binomial one on a thin baseline."""
    counts, tests = [1.0] * 30, [2.0] * 30  # 28 baseline days: 28 / 56 positives
    res = detect("positivity", series([*counts, 30], [*tests, 40]))[-1]
    assert res.upper == stats.betabinom.ppf(0.99, 40, 28.5, 28.5)
    binom = detect("positivity", series([*counts, 30], [*tests, 40]), {"model": "binomial"})[-1]
    assert res.upper >= binom.upper


def test_positivity_insufficient_tests_and_no_tests_today():
    few = detect("positivity", series([0.0] * 40, [1.0] * 40))  # 28 tests < 30
    assert all(r.status == INSUFFICIENT_BASELINE and not r.alarm for r in few)
    none_today = detect("positivity", series([3.0] * 30 + [0.0], [50.0] * 30 + [0.0]))[-1]
    assert none_today.status == OK and none_today.upper == 0 and not none_today.alarm
    # A day without a total and without positives is a gap: no tests that day.
    gap = [*series([3.0] * 30, [50.0] * 30), Point(START + timedelta(days=30), 0.0)]
    assert detect("positivity", gap)[-1] == none_today


def test_positivity_quantile_matches_scipy():
    """The vectorised quantile search equals scipy's ppf on varied inputs."""
    from yilian.surveillance.detectors.positivity import upper_quantile

    gen = np.random.default_rng(5)
    n = gen.integers(1, 300, 400).astype(float)
    a = gen.uniform(0.5, 300, 400)
    b = gen.uniform(0.5, 3000, 400)
    for alpha in (0.001, 0.01, 0.2):
        got = upper_quantile(n, a / (a + b), alpha, a, b)
        assert (got == stats.betabinom.ppf(1 - alpha, n, a, b)).all()
        got = upper_quantile(n, a / (a + b), alpha)
        assert (got == stats.binom.ppf(1 - alpha, n, a / (a + b))).all()


# --- Interface ------------------------------------------------------------------------------


def test_methods_and_default_params():
    assert METHODS == ("ears_c1", "ears_c2", "ears_c3", "farrington", "cusum", "ewma", "positivity")
    assert default_params("cusum")["k"] == 0.5 and default_params("cusum")["h"] == 4.0
    assert default_params("ewma")["lambda"] == 0.4 and default_params("ewma")["L"] == 3.0
    f = default_params("farrington")
    assert (f["b"], f["w"], f["no_periods"], f["alpha"]) == (5, 3, 10, 0.05)
    assert (f["past_weeks_not_included"], f["powertrans"]) == (26, "2/3")
    f["b"] = 99
    assert default_params("farrington")["b"] == 5  # a copy each time


def test_gaps_are_zero_and_evaluate_selects_days():
    dense = [5.0, 0.0, 7.0, 0.0, 0.0, 6.0, 5.0, 4.0, 9.0, 5.0]
    sparse = [p for p in series(dense) if p.count > 0]
    assert detect("ears_c1", sparse) != detect("ears_c1", series(dense))  # only given days
    full = detect("ears_c1", series(dense))
    wanted = [START + timedelta(days=9), START + timedelta(days=8)]
    picked = detect("ears_c1", sparse, evaluate=wanted)
    assert [r.day for r in picked] == sorted(wanted)
    assert picked == [full[8], full[9]]
    # A day after the last point is a gap (0 cases); one before the first has no history.
    after = detect("ears_c1", sparse, evaluate=[START + timedelta(days=10)])[0]
    assert after.observed == 0 and after.status == OK
    before = detect("ears_c1", sparse, evaluate=[START - timedelta(days=1)])[0]
    assert before.status == INSUFFICIENT_BASELINE and not before.alarm


@pytest.mark.parametrize("method", METHODS)
def test_short_series_is_insufficient_baseline_not_an_alarm(method):
    pts = series([0, 0, 50, 0, 90], [100] * 5)
    res = detect(method, pts)
    assert len(res) == 5
    assert all(r.status == INSUFFICIENT_BASELINE for r in res)
    assert not any(r.alarm for r in res)
    assert all(r.expected is None and r.upper is None for r in res)
    assert detect(method, []) == []
    empty = detect(method, [], evaluate=[START])
    assert empty[0].status == INSUFFICIENT_BASELINE


@pytest.mark.parametrize("method", METHODS)
def test_every_method_alarms_on_a_clear_outbreak(method):
    """A steady Poisson(5) series for three years, then three days at 40: every method must
    flag it (and only after enough history); the first quiet days have no baseline."""
    gen = np.random.default_rng(11)
    counts = gen.poisson(5, 3 * 365).astype(float)
    counts[-3:] = 40
    totals = counts + 100
    res = detect(method, series(counts.tolist(), totals.tolist()))
    assert res[0].status == INSUFFICIENT_BASELINE
    quiet = [r.alarm for r in res[:-3] if r.status == OK]
    assert sum(quiet) < 0.1 * len(quiet)  # a false alarm now and then, not a flood
    flagged = [r for r in res[-3:] if r.alarm]
    assert flagged and all(r.status == OK for r in res[-3:])
    first = flagged[0]
    assert first.expected is not None and first.upper is not None
    assert first.observed > first.upper


@pytest.mark.parametrize(
    ("method", "points", "params", "message"),
    [
        ("ears_c4", series([1]), None, "unknown detection method 'ears_c4'"),
        ("ears_c1", series([1, -2]), None, "must be a number >= 0"),
        ("positivity", series([5], [3]), None, "smaller than count"),
        ("positivity", series([5]), None, "needs total (tests) with the positives"),
        ("ears_c1", series([1]) + series([2]), None, "duplicate day 2026-01-01"),
        ("ears_c1", list(reversed(series([1, 2]))), None, "unsorted day 2026-01-01"),
        ("cusum", series([1]), {"kk": 1}, "unknown parameter(s) for cusum: kk"),
        ("ears_c1", series([1] * 20), {"baseline": 2}, "baseline must be an integer >= 3"),
        ("ewma", series([1] * 40), {"lambda": 1.5}, "lambda must lie strictly between"),
        ("cusum", series([1] * 40), {"target_mean": 3}, "give both target_mean and target_sd"),
        ("farrington", series([1] * 40), {"threshold_method": "x"}, "threshold_method must"),
        ("positivity", series([1] * 40, [2] * 40), {"model": "poisson"}, "model must be"),
    ],
)
def test_bad_input_is_a_clear_value_error(method, points, params, message):
    with pytest.raises(ValueError) as err:
        detect(method, points, params)
    assert message in str(err.value)


def test_detect_matrix_rejects_bad_arrays():
    with pytest.raises(ValueError, match="must not be negative"):
        detect_matrix("ears_c1", [[1.0, -1.0]])
    with pytest.raises(ValueError, match="finite"):
        detect_matrix("ears_c1", [[1.0, float("nan")]])
    with pytest.raises(ValueError, match="smaller than counts"):
        detect_matrix("positivity", [[3.0]], totals=[[2.0]])
    with pytest.raises(ValueError, match="needs totals"):
        detect_matrix("positivity", [[3.0]])


@pytest.mark.parametrize("method", METHODS)
def test_matrix_rows_are_independent_series(method):
    """Running many series at once gives, row by row, what each series gives alone."""
    gen = np.random.default_rng(8)
    counts = gen.poisson([[2.0], [9.0], [0.3]], (3, 400)).astype(float)
    totals = counts + gen.poisson(30, counts.shape)
    together = detect_matrix(method, counts, totals=totals)
    for i in range(3):
        alone = detect_matrix(method, counts[i], totals=totals[i])
        for field in ("expected", "upper", "score", "alarm", "ok"):
            np.testing.assert_array_equal(getattr(together, field)[i], getattr(alone, field)[0])


def test_positivity_batch_equals_the_per_day_computation():
    """All days of several lab series at once equal the plain per-day computation: pool the
    baseline's positives P and tests N (28 days ending 2 days back), then today's bound is
    scipy.stats.betabinom.ppf(0.99, n, P + 1/2, N - P + 1/2) (binom.ppf(0.99, n, P / N) for
    the binomial model). Series: busy, thin (baselines below 30 tests come and go) and
    one with days without tests."""
    gen = np.random.default_rng(17)
    days = 200
    tests = np.vstack(
        [
            gen.poisson(120, days),
            gen.poisson(1.2, days),
            gen.poisson(15, days) * (gen.random(days) < 0.6),
        ]
    ).astype(float)
    positives = gen.binomial(tests.astype(int), [[0.08], [0.3], [0.15]]).astype(float)
    positives[0, 150:155] += 25  # an outbreak the bound must catch
    tests[0, 150:155] += 25
    for model in ("betabinomial", "binomial"):
        res = detect_matrix("positivity", positives, {"model": model}, totals=tests)
        seen = {"ok": 0, "insufficient": 0, "no tests": 0, "alarm": 0}
        for row in range(3):
            for day in range(days):
                base = slice(max(day - 30, 0), day - 2)
                big_p, big_n = positives[row, base].sum(), tests[row, base].sum()
                if day < 30 or big_n < 30:
                    assert not res.ok[row, day] and not res.alarm[row, day]
                    seen["insufficient"] += 1
                    continue
                n, x = tests[row, day], positives[row, day]
                if model == "binomial":
                    upper = stats.binom.ppf(0.99, n, big_p / big_n)
                else:
                    upper = stats.betabinom.ppf(0.99, n, big_p + 0.5, big_n - big_p + 0.5)
                upper = upper if n > 0 else 0.0
                assert res.ok[row, day]
                assert res.expected[row, day] == pytest.approx(n * big_p / big_n)
                assert res.upper[row, day] == upper
                assert res.alarm[row, day] == (x > upper)
                seen["ok"] += 1
                seen["no tests"] += n == 0
                seen["alarm"] += x > upper
        assert all(seen.values()), seen
