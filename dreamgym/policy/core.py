"""The pure math of policy optimisation: advantages, returns, losses, the horizon schedule (the success
interval, `wilson_interval`, lives in dreamgym.stats and is re-exported here).

Every function takes and returns tensors (or numbers) and touches no model, so each can be checked against a
plain loop (tests/policy/test_core.py). Shapes: N = samples (episodes or turns), B = batch rows, T = time steps
(turns of an episode) or token positions, depending on the function; `mask` is 1.0 where an entry counts.

    adv = grpo_advantages(rewards, groups)                        # (N,), (N,) -> (N,)
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.95)    # (B, T) x3 -> (B, T), (B, T)
    loss, stats = clipped_policy_loss(logp, old_logp, adv, mask, clip_eps=0.2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dreamgym.errors import DreamGymError
from dreamgym.stats import wilson_interval  # noqa: F401  (re-exported: the one implementation)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `x` over the entries where `mask` is 1 (all dims, or `dim`); 0 where nothing counts."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the masked entries (population std); masked-out entries become 0."""
    mask = mask.to(x.dtype)
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def grpo_advantages(rewards: torch.Tensor, groups: torch.Tensor, *, scale: bool = True,
                    eps: float = 1e-6) -> torch.Tensor:
    """Group-relative outcome advantages (GRPO): A_i = (r_i - mean_g) / (std_g + eps) within each group g.

    rewards: (N,) float, one outcome reward per rollout; groups: (N,) int, the group (task) of each rollout.
    Returns (N,). `scale=False` keeps A_i = r_i - mean_g (Dr. GRPO: no division by the group's std). A group
    whose rewards are all equal gets 0 everywhere (it teaches nothing). std is the population std of the group.
    """
    if rewards.shape != groups.shape or rewards.dim() != 1:
        raise DreamGymError(f"grpo_advantages: rewards and groups must be (N,) of one shape, got "
                            f"{tuple(rewards.shape)} and {tuple(groups.shape)}")
    rewards = rewards.to(torch.float64)
    _, inv = torch.unique(groups, return_inverse=True)
    n_groups = int(inv.max()) + 1 if len(inv) else 0
    count = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, inv, torch.ones_like(rewards))
    mean = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, inv, rewards) / count
    centred = rewards - mean[inv]
    if not scale:
        return centred.to(torch.float32)
    var = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, inv, centred ** 2) / count
    return (centred / (var.sqrt()[inv] + eps)).to(torch.float32)


def group_reward_variance(rewards: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """V_g = mean_i (r_i - mean_g)^2 per group (the curriculum's task-value signal). (N,), (N,) -> (G,) in the
    order of torch.unique(groups)."""
    rewards = rewards.to(torch.float64)
    _, inv = torch.unique(groups, return_inverse=True)
    n_groups = int(inv.max()) + 1 if len(inv) else 0
    count = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, inv, torch.ones_like(rewards))
    mean = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, inv, rewards) / count
    var = torch.zeros(n_groups, dtype=torch.float64).index_add_(0, inv, (rewards - mean[inv]) ** 2) / count
    return var.to(torch.float32)


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, *, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the turns of padded episodes.

    rewards, values, mask: (B, T); row b is one episode, its valid turns are a prefix (mask 1) and padding
    follows. The value after an episode's last valid turn is 0: an episode ends at success, failure or the
    horizon, and the horizon is part of the task (no bootstrap). Returns (advantages, returns), both (B, T),
    0 on padding; returns = advantages + values.
        delta_t = r_t + gamma * V_{t+1} * m_{t+1} - V_t
        A_t     = delta_t + gamma * lam * m_{t+1} * A_{t+1}
    """
    if not rewards.shape == values.shape == mask.shape or rewards.dim() != 2:
        raise DreamGymError(f"gae: rewards, values and mask must be (B, T) of one shape, got {tuple(rewards.shape)}, "
                            f"{tuple(values.shape)}, {tuple(mask.shape)}")
    mask = mask.to(values.dtype)
    B, T = rewards.shape
    adv = torch.zeros_like(values)
    next_adv = torch.zeros(B, dtype=values.dtype)
    next_value = torch.zeros(B, dtype=values.dtype)
    next_mask = torch.zeros(B, dtype=values.dtype)
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value * next_mask - values[:, t]
        a = delta + gamma * lam * next_mask * next_adv
        adv[:, t] = a * mask[:, t]
        next_adv, next_value, next_mask = adv[:, t], values[:, t], mask[:, t]
    return adv, (adv + values) * mask


def clipped_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                        *, clip_eps: float = 0.2, clip_eps_high: float | None = None
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The PPO/GRPO clipped surrogate, averaged over the masked entries (token-level mean).

    logp, old_logp, advantages, mask: one shape, e.g. (B, L) per token or (N,) per decision. ratio =
    exp(logp - old_logp); loss = -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps_high) * A)). Returns the loss
    and detached stats: clip_frac (share of entries where the clipped term was taken) and approx_kl
    (mean of (ratio - 1) - log ratio, the k3 estimate of KL(old || new)).
    """
    high = clip_eps if clip_eps_high is None else clip_eps_high
    log_ratio = logp - old_logp
    ratio = torch.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high) * advantages
    loss = -masked_mean(torch.minimum(unclipped, clipped), mask)
    with torch.no_grad():
        clip_frac = masked_mean((clipped < unclipped).to(logp.dtype), mask)
        approx_kl = masked_mean((ratio - 1.0) - log_ratio, mask)
    return loss, {"clip_frac": clip_frac, "approx_kl": approx_kl}


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-entry k3 estimate of KL(policy || reference) from samples of the policy: exp(r) - r - 1 with
    r = ref_logp - logp (unbiased, always >= 0). Same shape as the inputs."""
    r = ref_logp - logp
    return torch.exp(r) - r - 1.0


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                       *, clip: float | None = 0.2) -> torch.Tensor:
    """0.5 * masked mean of max((V - R)^2, (V_clipped - R)^2), V_clipped = old + clamp(V - old, ±clip)
    (PPO's value clipping; `clip=None` turns it off). All inputs one shape, e.g. (B, T)."""
    err = (values - returns) ** 2
    if clip is not None:
        v_clip = old_values + torch.clamp(values - old_values, -clip, clip)
        err = torch.maximum(err, (v_clip - returns) ** 2)
    return 0.5 * masked_mean(err, mask)


def segment_log_softmax(scores: torch.Tensor, segments: torch.Tensor, n_segments: int) -> torch.Tensor:
    """log softmax of `scores` within each segment: (M,) scores, (M,) segment ids in [0, n_segments) -> (M,).

    The action-scoring policy: the candidates of one decision form a segment, and its policy is the softmax
    over their scores. Vectorised (scatter max / logsumexp), so a batch of decisions takes one call."""
    seg_max = torch.full((n_segments,), -math.inf, dtype=scores.dtype).scatter_reduce(
        0, segments, scores.detach(), reduce="amax", include_self=True)
    shifted = scores - seg_max[segments]
    denom = torch.zeros(n_segments, dtype=scores.dtype).index_add(0, segments, torch.exp(shifted))
    return shifted - torch.log(denom)[segments]


def horizon_at(update: int, stages: Sequence[int], every: int) -> int:
    """ScalingInter-RL's horizon schedule: the maximum number of turns at `update` (0-based).

    stages: the horizon of each stage, e.g. [6, 13, 20]; every: updates per stage (100 in AgentGym-RL's BabyAI
    setting). After the last stage the last horizon stays. `every <= 0` is the fixed-horizon alternative: the
    last stage's horizon throughout."""
    if not stages:
        raise DreamGymError("horizon_at: stages must name at least one horizon")
    if every <= 0:
        return int(stages[-1])
    return int(stages[min(max(update, 0) // every, len(stages) - 1)])
