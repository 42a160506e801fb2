"""Pure statistics shared across packages: the Wilson score interval of a rate.

    low, high = wilson_interval(46, 100)        # (0.366, 0.557): 46 successes in 100 trials, 95%

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
