"""Pure statistics shared across packages: the Wilson score interval of a rate, and the t interval of a mean.

    low, high = wilson_interval(46, 100)        # (0.366, 0.557): 46 successes in 100 trials, 95%
    mean, low, high = mean_interval([0.186, 0.193, 0.184])   # a method's test success over 3 seeds, 95%

Used wherever a rate is reported with its count (policy evaluation, the experience model's fidelity). Plain
floats in and out; no array library needed.
"""

from __future__ import annotations

import math


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a success rate (95% for z = 1.96): (low, high); (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


#: two-sided 95% Student t quantiles (t_0.975) for 1..30 degrees of freedom
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1; 1.96 past 30, within 2%)."""
    if df < 1:
        raise ValueError(f"t975: df must be >= 1, got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` (e.g. one figure per seed) with its 95% t interval, clipped to
    [0, 1] for rates by the caller if needed; a single value has the interval (nan, nan)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_interval: no values")
    mean = sum(values) / n
    if n == 1:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half
