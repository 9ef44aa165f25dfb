"""Array plumbing shared by the detectors: the kernel result and rolling baselines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class Arrays:
    """What a kernel returns: (series, days) arrays, NaN where not computed."""

    observed: FloatArray
    expected: FloatArray
    upper: FloatArray
    alarm: BoolArray
    ok: BoolArray  # False: not enough baseline on that day
    score: FloatArray

    @classmethod
    def empty(cls, observed: FloatArray) -> Arrays:
        nan = np.full(observed.shape, np.nan)
        return cls(
            observed=observed.astype(float, copy=True),
            expected=nan.copy(),
            upper=nan.copy(),
            alarm=np.zeros(observed.shape, dtype=bool),
            ok=np.zeros(observed.shape, dtype=bool),
            score=nan.copy(),
        )


def merge_params(
    method: str, defaults: Mapping[str, Any], params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Defaults overlaid with ``params``; unknown keys are an error naming them."""
    out = dict(defaults)
    if params:
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) for {method}: {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(defaults))}"
            )
        out.update(params)
    return out


def positive_int(method: str, params: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(
            f"{method}: parameter {key} must be an integer >= {minimum}, got {value!r}"
        )
    return int(value)


def positive_float(
    method: str, params: Mapping[str, Any], key: str, *, allow_zero: bool = False
) -> float:
    value = params[key]
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{method}: parameter {key} must be a number, got {value!r}") from None
    if not np.isfinite(out) or out < 0 or (out == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"{method}: parameter {key} must be a finite number {bound}, got {value!r}"
        )
    return out


def probability(method: str, params: Mapping[str, Any], key: str) -> float:
    out = positive_float(method, params, key)
    if not 0 < out < 1:
        raise ValueError(f"{method}: parameter {key} must lie strictly between 0 and 1, got {out}")
    return out


def rolling_baseline(x: FloatArray, length: int, guard: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sample SD (ddof=1) of x[..., t-guard-length .. t-guard-1] for every day t.

    ``x`` is (series, days). NaN where the window reaches before the start of the series.
    Integer counts keep the running sums exact in float64, so the results equal a direct
    computation.
    """
    n = x.shape[-1]
    mean = np.full(x.shape, np.nan)
    sd = np.full(x.shape, np.nan)
    first = guard + length
    if n < first + 1 or length < 1:
        return mean, sd
    zero = np.zeros((*x.shape[:-1], 1))
    c1 = np.concatenate((zero, np.cumsum(x, axis=-1)), axis=-1)
    c2 = np.concatenate((zero, np.cumsum(x * x, axis=-1)), axis=-1)
    t = np.arange(first, n)
    hi = t - guard  # exclusive end of the window in x
    lo = hi - length
    s1 = c1[..., hi] - c1[..., lo]
    s2 = c2[..., hi] - c2[..., lo]
    mean[..., first:] = s1 / length
    if length > 1:
        var = (s2 - s1 * s1 / length) / (length - 1)
        sd[..., first:] = np.sqrt(np.maximum(var, 0.0))
    else:
        sd[..., first:] = 0.0
    return mean, sd
