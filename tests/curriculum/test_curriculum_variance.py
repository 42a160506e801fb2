"""The curriculum's pure math against plain loops: group variance, the ranking, the generated quota, k-means; and
lambda respected by the pool's draws."""

import random

import numpy as np
import pytest

from dreamgym.curriculum.pool import GeneratedTask, TaskPool
from dreamgym.curriculum.variance import generated_quota, group_variance, kmeans, rank_by_variance
from dreamgym.data.schema import Task
from dreamgym.errors import DreamGymError


def _variance_loop(rewards, groups):
    out = {}
    for g in sorted(set(groups)):
        r = [x for x, k in zip(rewards, groups, strict=True) if k == g]
        m = sum(r) / len(r)
        out[g] = sum((x - m) ** 2 for x in r) / len(r)
    return out


def test_group_variance_matches_the_loop():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 60))
        groups = rng.integers(0, 7, size=n)
        rewards = rng.choice([0.0, 1.0], size=n) if rng.random() < 0.5 else rng.random(n)
        v, ids = group_variance(rewards, groups)
        want = _variance_loop(rewards.tolist(), groups.tolist())
        assert ids.tolist() == sorted(want)
        assert np.allclose(v, [want[g] for g in ids.tolist()])
    v, _ = group_variance(np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0]), np.array([0, 0, 1, 1, 2, 2]))
    assert v.tolist() == [0.0, 0.0, 0.25]  # all succeed / all fail teach nothing; a split group is the most
    with pytest.raises(DreamGymError, match="one shape"):
        group_variance(np.zeros(3), np.zeros(4))


def test_rank_by_variance_matches_the_loop():
    rng = np.random.default_rng(1)
    for _ in range(20):
        v = rng.choice([0.0, 0.1875, 0.25, 0.1], size=int(rng.integers(1, 20)))
        k, lo = int(rng.integers(0, 6)), float(rng.choice([0.0, 0.1]))
        want = sorted((i for i in range(len(v)) if v[i] > lo), key=lambda i: (-v[i], i))[:k]
        assert rank_by_variance(v, k, lo).tolist() == want


def test_generated_quota():
    assert generated_quota(8, 0.5, 100) == 4
    assert generated_quota(8, 0.5, 3) == 3
    assert generated_quota(8, 0.0, 100) == 0
    assert generated_quota(3, 0.34, 10) == 1
    with pytest.raises(DreamGymError):
        generated_quota(8, 1.5, 1)


def test_kmeans_separates_blobs():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 0.1, (20, 4)), rng.normal(5, 0.1, (15, 4))
    labels = kmeans(np.vstack([a, b]), 2, seed=0)
    assert len(set(labels[:20])) == 1 and len(set(labels[20:])) == 1 and labels[0] != labels[-1]
    assert kmeans(np.ones((5, 3)), 4).tolist() == [0] * 5  # k capped at the distinct rows


def _task(i, source="seed"):
    return Task(task_id=f"t{i}-{source}", env="e", instruction=f"do {i}", split="train", spec={"i": i, "s": source},
                source=source)


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 1.0])
def test_draws_respect_lambda(share):
    pool = TaskPool([_task(i) for i in range(30)],
                    [GeneratedTask(_task(i, "generated"), 1, "v", "s") for i in range(30)])
    rng = random.Random(0)
    for n in (1, 3, 8):
        for _ in range(50):
            batch = pool.draw(n, rng, share)
            gen = sum(t.source == "generated" for t in batch)
            assert len(batch) == n and len({t.task_id for t in batch}) == n
            assert gen == int(share * n + 1e-9) and gen / n <= share + 1e-9
