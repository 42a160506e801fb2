"""The pure math of policy optimisation against plain loops (CleanRL's GAE test, verl's core_algos style)."""

from __future__ import annotations

import math

import pytest
import torch

from dreamgym.errors import DreamGymError
from dreamgym.policy.core import (
    clipped_policy_loss,
    clipped_value_loss,
    gae,
    group_reward_variance,
    grpo_advantages,
    horizon_at,
    kl_k3,
    masked_whiten,
    segment_log_softmax,
    wilson_interval,
)


def test_grpo_advantages_match_a_loop():
    g = torch.Generator().manual_seed(0)
    rewards = torch.randint(0, 2, (40,), generator=g).float()
    groups = torch.randint(0, 6, (40,), generator=g)
    got = grpo_advantages(rewards, groups)
    centred = grpo_advantages(rewards, groups, scale=False)
    for i in range(40):
        members = [rewards[j].item() for j in range(40) if groups[j] == groups[i]]
        mean = sum(members) / len(members)
        std = math.sqrt(sum((r - mean) ** 2 for r in members) / len(members))
        assert got[i].item() == pytest.approx((rewards[i].item() - mean) / (std + 1e-6), abs=1e-5)
        assert centred[i].item() == pytest.approx(rewards[i].item() - mean, abs=1e-6)


def test_grpo_uniform_group_has_zero_advantage_and_shapes_are_checked():
    adv = grpo_advantages(torch.tensor([1.0, 1.0, 0.0, 1.0]), torch.tensor([0, 0, 1, 1]))
    assert adv[:2].tolist() == [0.0, 0.0] and adv[2] < 0 < adv[3]
    with pytest.raises(DreamGymError, match="grpo_advantages"):
        grpo_advantages(torch.zeros(3), torch.zeros(4, dtype=torch.long))


def test_group_reward_variance_matches_a_loop():
    rewards = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    groups = torch.tensor([5, 5, 7, 7, 9, 9])
    assert group_reward_variance(rewards, groups).tolist() == pytest.approx([0.25, 0.0, 0.0])


def _gae_loop(r, v, m, gamma, lam):
    B, T = r.shape
    adv = torch.zeros(B, T)
    for b in range(B):
        n = int(m[b].sum())
        last = 0.0
        for t in reversed(range(n)):
            nv = v[b, t + 1].item() if t + 1 < n else 0.0
            delta = r[b, t].item() + gamma * nv - v[b, t].item()
            last = delta + gamma * lam * last
            adv[b, t] = last
    return adv


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 1.0), (0.99, 0.0)])
def test_gae_matches_a_loop(gamma, lam):
    g = torch.Generator().manual_seed(1)
    B, T = 5, 7
    lengths = [7, 1, 4, 3, 6]
    m = torch.tensor([[1.0] * n + [0.0] * (T - n) for n in lengths])
    r = torch.rand(B, T, generator=g) * m
    v = torch.randn(B, T, generator=g) * m
    adv, ret = gae(r, v, m, gamma=gamma, lam=lam)
    assert torch.allclose(adv, _gae_loop(r, v, m, gamma, lam), atol=1e-5)
    assert torch.allclose(ret, (adv + v) * m) and (adv[m == 0] == 0).all()


def test_gae_with_lambda_one_and_zero_values_gives_discounted_returns():
    r = torch.tensor([[0.0, 0.0, 1.0]])
    adv, ret = gae(r, torch.zeros(1, 3), torch.ones(1, 3), gamma=0.5, lam=1.0)
    assert ret.tolist() == [[0.25, 0.5, 1.0]]


def test_clipped_policy_loss_matches_a_loop_and_clips():
    g = torch.Generator().manual_seed(2)
    logp, old = torch.randn(4, 6, generator=g) * 0.3, torch.randn(4, 6, generator=g) * 0.3
    adv, mask = torch.randn(4, 6, generator=g), (torch.rand(4, 6, generator=g) > 0.3).float()
    loss, st = clipped_policy_loss(logp, old, adv, mask, clip_eps=0.2)
    terms, clipped = [], 0
    for i in range(4):
        for j in range(6):
            if mask[i, j]:
                ratio = math.exp(logp[i, j] - old[i, j])
                a = adv[i, j].item()
                un, cl = ratio * a, min(max(ratio, 0.8), 1.2) * a
                terms.append(min(un, cl))
                clipped += cl < un
    assert loss.item() == pytest.approx(-sum(terms) / len(terms), abs=1e-5)
    assert st["clip_frac"].item() == pytest.approx(clipped / len(terms))


def test_policy_gradient_pushes_positive_advantage_up():
    logp = torch.zeros(3, requires_grad=True)
    loss, _ = clipped_policy_loss(logp, torch.zeros(3), torch.tensor([1.0, -1.0, 0.0]), torch.ones(3))
    loss.backward()
    assert logp.grad[0] < 0 < logp.grad[1] and logp.grad[2] == 0  # descent raises logp[0], lowers logp[1]


def test_value_loss_and_kl():
    v, old, ret = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([0.0, 1.0])
    assert clipped_value_loss(v, old, ret, torch.ones(2), clip=None).item() == pytest.approx(0.5)
    # clipped: V=1 is clipped to 0.2, and max((1-0)^2, (0.2-0)^2) keeps the unclipped error
    assert clipped_value_loss(v, old, ret, torch.ones(2), clip=0.2).item() == pytest.approx(0.5)
    x = torch.randn(50)
    assert (kl_k3(x, x) == 0).all() and (kl_k3(x, x + torch.randn(50)) >= 0).all()


def test_masked_whiten():
    x, m = torch.tensor([1.0, 2.0, 3.0, 100.0]), torch.tensor([1.0, 1.0, 1.0, 0.0])
    w = masked_whiten(x, m)
    assert w[3] == 0 and w[:3].mean().abs() < 1e-6 and w[:3].pow(2).mean().item() == pytest.approx(1.0, abs=1e-4)


def test_segment_log_softmax_matches_a_loop():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(10, generator=g) * 5
    segs = torch.tensor([0, 0, 0, 1, 2, 2, 3, 3, 3, 3])
    got = segment_log_softmax(scores, segs, 4)
    for s in range(4):
        idx = (segs == s).nonzero()[:, 0]
        assert torch.allclose(got[idx], torch.log_softmax(scores[idx], 0), atol=1e-6)


def test_horizon_schedule():
    assert [horizon_at(u, [6, 13, 20], 100) for u in (0, 99, 100, 199, 200, 10_000)] == [6, 6, 13, 13, 20, 20]
    assert horizon_at(0, [6, 13, 20], 0) == 20
    with pytest.raises(DreamGymError):
        horizon_at(0, [], 10)


def test_wilson_interval():
    low, high = wilson_interval(46, 100)
    assert low == pytest.approx(0.3656, abs=1e-3) and high == pytest.approx(0.5574, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and 0.6 < low < 0.8


def test_mean_interval_is_the_t_interval_over_seeds():
    import math

    from dreamgym.stats import mean_interval, t975

    assert t975(2) == 4.303 and t975(100) == 1.96
    m, lo, hi = mean_interval([0.186, 0.193, 0.184])
    sd = math.sqrt(((0.186 - m) ** 2 + (0.193 - m) ** 2 + (0.184 - m) ** 2) / 2)
    assert m == pytest.approx(0.18767, abs=1e-5) and hi - m == pytest.approx(4.303 * sd / math.sqrt(3))
    assert m - lo == pytest.approx(hi - m)
    one = mean_interval([0.5])
    assert one[0] == 0.5 and math.isnan(one[1]) and math.isnan(one[2])
    with pytest.raises(ValueError):
        mean_interval([])
