"""The curriculum's pure math: group reward variance, the ranking it drives, the batch's capped generated share,
and the k-means grouping of task embeddings (PPO has no per-task groups, so the paper groups tasks by clusters).

Shapes: N = rollouts, G = groups, D = embedding width. Every function is checked against a plain loop
(tests/curriculum/test_variance.py).

    v, ids = group_variance(rewards, groups)           # (N,), (N,) -> (G,), (G,)   V = mean((r_i - mean r)^2)
    order = rank_by_variance(v, k=4, min_variance=0)   # (G,) -> the k largest with V > min, largest first
    n_gen = generated_quota(batch=8, share=0.5, available=3)   # 3
    labels = kmeans(x, k=8, seed=0)                    # (N, D) -> (N,)
"""

from __future__ import annotations

import numpy as np

from dreamgym.errors import DreamGymError


def group_variance(rewards: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Population variance of the rewards within each group: V_g = mean_i((r_i - mean_g r)^2).

    rewards: (N,) float; groups: (N,) int labels. Returns (V (G,), the sorted distinct labels (G,))."""
    r, g = np.asarray(rewards, dtype=np.float64), np.asarray(groups)
    if r.ndim != 1 or r.shape != g.shape:
        raise DreamGymError(f"group_variance: rewards and groups must be (N,) of one shape, got {r.shape}, {g.shape}")
    ids, inv = np.unique(g, return_inverse=True)
    count = np.bincount(inv, minlength=len(ids)).astype(np.float64)
    mean = np.bincount(inv, weights=r, minlength=len(ids)) / np.maximum(count, 1)
    var = np.bincount(inv, weights=(r - mean[inv]) ** 2, minlength=len(ids)) / np.maximum(count, 1)
    return var, ids


def rank_by_variance(variance: np.ndarray, k: int, min_variance: float = 0.0) -> np.ndarray:
    """Indices of the `k` largest variances above `min_variance`, largest first (ties: the lower index first).
    variance: (G,). Returns (<= k,) int."""
    v = np.asarray(variance, dtype=np.float64)
    keep = np.flatnonzero(v > min_variance)
    order = keep[np.lexsort((keep, -v[keep]))]
    return order[: max(int(k), 0)]


def generated_quota(batch: int, share: float, available: int) -> int:
    """How many of a batch of `batch` tasks come from the generated ones: floor(share * batch), at most `available`."""
    if batch < 0 or not 0.0 <= share <= 1.0 or available < 0:
        raise DreamGymError(f"generated_quota: batch >= 0, 0 <= share <= 1, available >= 0; got {batch}, {share}, "
                            f"{available}")
    return int(min(np.floor(share * batch + 1e-9), available))


def kmeans(x: np.ndarray, k: int, *, iters: int = 25, seed: int = 0) -> np.ndarray:
    """Cluster labels of the rows of `x` (N, D) by Lloyd's k-means (k-means++ seeding from `seed`; k capped at the
    number of distinct rows). Returns (N,) int in [0, k)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise DreamGymError(f"kmeans: x must be (N, D) with N >= 1, got {x.shape}")
    k = int(min(max(k, 1), len(np.unique(x, axis=0))))
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
    c = np.asarray(centres)
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(iters):
        labels = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.asarray([x[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return labels
