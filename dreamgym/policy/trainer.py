"""Multi-turn GRPO and PPO for the LLM agent, on any TextEnv (real or synthetic).

    trainer = PolicyTrainer(agent, cfg.policy.rl, envs, train_tasks, seed=0)
    for u in range(cfg.policy.rl.updates):
        metrics = trainer.step()             # rollouts at the scheduled horizon, then the update; rl/* and perf/*

One update: `tasks_per_update` tasks are drawn from the pool, each played `group_size` times (sampling), at the
horizon the schedule gives for this update (core.horizon_at); then `epochs` passes of minibatch steps.
- GRPO: every decision of an episode gets the episode's group-relative outcome advantage (core.grpo_advantages
  over the success rewards of the task's group). Decisions with advantage 0 (groups that all failed or all
  succeeded) carry no gradient and are left out of the minibatches.
- PPO: a value head on the policy's last hidden state at each prompt's end; per-turn rewards, GAE over the turns
  of each episode (core.gae; the horizon ends an episode, no bootstrap), advantages whitened over the batch,
  clipped value loss.
Both use the clipped surrogate on the agent's tokens only (score mode: one log-prob per decision, the softmax
over the candidates; generate mode: per reply token), an optional entropy bonus and an optional k3 KL to a frozen
copy of the starting policy.

Why not TRL's GRPOTrainer: in TRL 1.16 multi-turn environments (`environment_factory`) drive chat-template tool
calls and `rollout_func` returns one completion per prompt; neither covers a policy that scores an env's valid
actions, per-turn prompts with a history window over our TextEnv, or PPO with a value head over turns (TRL's
PPOTrainer is single-turn and experimental). The loop here is small, and its math is the tested pure functions
of core.py. TRL does the behaviour-cloning warm start (bc.py).

Simplifications: one optimizer step per minibatch, constant learning rate, no reward shaping (the reward is the
env's outcome reward), greedy evaluation elsewhere (evaluate.py).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence

import torch

from dreamgym.data.schema import Task
from dreamgym.envs.base import TextEnv
from dreamgym.errors import DreamGymError
from dreamgym.models.scoring import ValueHead
from dreamgym.policy.agent import Agent, Decision
from dreamgym.policy.config import RLParams
from dreamgym.policy.core import (
    clipped_policy_loss,
    clipped_value_loss,
    gae,
    grpo_advantages,
    horizon_at,
    kl_k3,
    masked_mean,
    masked_whiten,
)
from dreamgym.policy.rollout import Episode, rollout


def decision_tokens(d: Decision) -> int:
    """Tokens a forward pass over this decision processes: the prompt once, plus the reply (generate mode) or every
    candidate (score mode, the prompt's KV cache shared by its candidates)."""
    if d.candidate_ids is not None:
        return len(d.prompt_ids) + sum(len(c) for c in d.candidate_ids)
    return len(d.prompt_ids) + len(d.completion_ids)


class PolicyTrainer:
    """GRPO / PPO updates of `agent` on `tasks` played in `envs` (one env per parallel episode)."""

    def __init__(self, agent: Agent, params: RLParams, envs: Sequence[TextEnv], tasks: Sequence[Task], *,
                 seed: int = 0, progress: Callable[[int], None] | None = None):
        need = params.tasks_per_update * params.group_size
        if len(envs) < need:
            raise DreamGymError(f"PolicyTrainer: {need} parallel episodes (tasks_per_update x group_size) need as "
                                f"many envs, got {len(envs)}")
        if not tasks:
            raise DreamGymError("PolicyTrainer: the task pool is empty")
        self.agent, self.params, self.envs, self.tasks = agent, params, list(envs), list(tasks)
        self.rng = random.Random(seed)
        self.progress = progress
        self.updates_done = 0
        self.last_episodes: list[Episode] = []
        model = agent.model
        self.value_head = None
        if params.algo == "ppo":
            torch.manual_seed(seed)
            self.value_head = ValueHead(model.config.hidden_size)
        self.ref_model = None
        if params.kl_coef > 0:
            self.ref_model = copy.deepcopy(model).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if self.value_head is not None:
            trainable += list(self.value_head.parameters())
        if not trainable:
            raise DreamGymError("PolicyTrainer: the model has no trainable parameters")
        self.optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=0.0)

    @property
    def horizon(self) -> int:
        return horizon_at(self.updates_done, self.params.horizon.stages, self.params.horizon.every)

    # ---- one update ---------------------------------------------------------------------------------------------
    def collect(self, picked: Sequence[Task] | None = None) -> list[Episode]:
        """The rollouts of one update: `tasks_per_update` tasks (sampled from the pool, or `picked`) x `group_size`
        episodes each."""
        p = self.params
        if picked is None:
            picked = self.rng.sample(self.tasks, k=min(p.tasks_per_update, len(self.tasks)))
        elif not 0 < len(picked) <= p.tasks_per_update:
            raise DreamGymError(f"PolicyTrainer.collect: 1 to {p.tasks_per_update} tasks per update, got {len(picked)}")
        tasks = [t for t in picked for _ in range(p.group_size)]
        groups = [g for g in range(len(picked)) for _ in range(p.group_size)]
        return rollout(self.agent, self.envs, tasks, horizon=self.horizon, groups=groups, progress=self.progress)

    def step(self, tasks: Sequence[Task] | None = None,
             check: Callable[[list[Episode]], None] | None = None) -> dict[str, float]:
        """Collect rollouts (of `tasks` when given) and update; returns this update's rl/* and perf/* metrics.
        `check(episodes)` runs between the rollouts and the update (it may raise to stop before any learning);
        `self.last_episodes` keeps the rollouts."""
        horizon = self.horizon
        t0 = time.perf_counter()
        episodes = self.collect(tasks)
        t_roll = time.perf_counter() - t0
        self.last_episodes = episodes
        if check is not None:
            check(episodes)
        t0 = time.perf_counter()
        stats = self.update(episodes)
        t_upd = time.perf_counter() - t0
        decisions = [t.decision for e in episodes for t in e.turns]
        n = len(episodes)
        metrics = {
            "rl/reward": sum(e.reward for e in episodes) / n,
            "rl/success": sum(e.success for e in episodes) / n,
            "rl/episode_len": sum(e.steps for e in episodes) / n,
            "rl/invalid_rate": sum(e.invalid_steps for e in episodes) / max(len(decisions), 1),
            "rl/malformed_rate": sum(e.malformed_steps for e in episodes) / max(len(decisions), 1),
            "rl/horizon": horizon,
            **stats,
            "perf/rollout_s": t_roll, "perf/update_s": t_upd,
            "perf/rollout_tokens_per_s": sum(decision_tokens(d) for d in decisions) / max(t_roll, 1e-9),
            "perf/update_tokens_per_s": stats.get("perf/update_tokens", 0.0) / max(t_upd, 1e-9),
        }
        self.updates_done += 1
        return metrics

    def state_dict(self) -> dict:
        """What resuming needs: the policy's weights, the optimizer, the value head, the reference model, the
        update count and every RNG (the trainer's, the agent's sampler, torch's)."""
        return {"model": self.agent.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "value_head": self.value_head.state_dict() if self.value_head is not None else None,
                "ref_model": self.ref_model.state_dict() if self.ref_model is not None else None,
                "updates_done": self.updates_done, "rng": self.rng.getstate(),
                "agent_rng": self.agent.rng_state(), "torch_rng": torch.get_rng_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict() returned (same model shape and algorithm)."""
        self.agent.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.value_head is not None and state.get("value_head") is not None:
            self.value_head.load_state_dict(state["value_head"])
        if self.ref_model is not None and state.get("ref_model") is not None:
            self.ref_model.load_state_dict(state["ref_model"])
        self.updates_done = int(state["updates_done"])
        self.rng.setstate(state["rng"])
        self.agent.set_rng_state(state["agent_rng"])
        torch.set_rng_state(state["torch_rng"])

    def update(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """One GRPO or PPO update on `episodes` (see the module docstring)."""
        if self.params.algo == "grpo":
            decisions, adv = self._grpo_targets(episodes)
            returns = old_values = None
        else:
            decisions, adv, returns, old_values = self._ppo_targets(episodes)
        if not decisions:
            return {"rl/policy_loss": 0.0, "rl/trained_decisions": 0.0}
        return self._optimise(decisions, adv, returns, old_values)

    def _grpo_targets(self, episodes: Sequence[Episode]) -> tuple[list[Decision], torch.Tensor]:
        rewards = torch.tensor([float(e.success) for e in episodes])
        groups = torch.tensor([e.group for e in episodes])
        ep_adv = grpo_advantages(rewards, groups, scale=self.params.scale_advantages)
        decisions, adv = [], []
        for e, a in zip(episodes, ep_adv.tolist(), strict=True):
            if a == 0.0:
                continue
            for t in e.turns:
                decisions.append(t.decision)
                adv.append(a)
        return decisions, torch.tensor(adv, dtype=torch.float32)

    def _ppo_targets(self, episodes: Sequence[Episode]):
        decisions = [t.decision for e in episodes for t in e.turns]
        with torch.no_grad():
            values = torch.cat([self.agent.decision_logprobs(decisions[i:i + self.params.minibatch_size],
                                                             value_head=self.value_head)["values"]
                                for i in range(0, len(decisions), self.params.minibatch_size)])
        B, T = len(episodes), max(e.steps for e in episodes)
        r, v, m = torch.zeros(B, T), torch.zeros(B, T), torch.zeros(B, T)
        i = 0
        for b, e in enumerate(episodes):
            n = e.steps
            r[b, :n] = torch.tensor([t.reward for t in e.turns])
            v[b, :n] = values[i:i + n]
            m[b, :n] = 1.0
            i += n
        adv, ret = gae(r, v, m, gamma=self.params.gamma, lam=self.params.lam)
        adv = masked_whiten(adv, m)
        sel = m.bool()
        return decisions, adv[sel], ret[sel], v[sel]

    def _optimise(self, decisions: list[Decision], adv: torch.Tensor, returns: torch.Tensor | None,
                  old_values: torch.Tensor | None) -> dict[str, float]:
        p, agent = self.params, self.agent
        model = agent.model
        model.train()
        sums: dict[str, float] = {}
        steps = 0
        tokens = 0
        for _ in range(p.epochs):
            order = list(range(len(decisions)))
            self.rng.shuffle(order)
            for s in range(0, len(order), p.minibatch_size):
                idx = order[s:s + p.minibatch_size]
                mb = [decisions[i] for i in idx]
                tokens += sum(decision_tokens(d) for d in mb)
                out = agent.decision_logprobs(mb, value_head=self.value_head)
                logp, mask = out["logp"], out["mask"]
                old = agent.behaviour_logprobs(mb, width=logp.shape[-1] if logp.dim() == 2 else None)
                a = adv[idx]
                if logp.dim() == 2:
                    a = a[:, None].expand_as(logp)
                loss, st = clipped_policy_loss(logp, old, a, mask, clip_eps=p.clip_eps)
                stats = {"rl/policy_loss": loss.item(), "rl/clip_frac": float(st["clip_frac"]),
                         "rl/approx_kl": float(st["approx_kl"]), "rl/entropy": float(masked_mean(out["entropy"].detach(), mask))}
                if p.entropy_coef > 0:
                    loss = loss - p.entropy_coef * masked_mean(out["entropy"], mask)
                if self.ref_model is not None:
                    with torch.no_grad():
                        ref = agent.decision_logprobs(mb, model=self.ref_model)["logp"]
                    kl = masked_mean(kl_k3(logp, ref), mask)
                    loss = loss + p.kl_coef * kl
                    stats["rl/kl"] = kl.item()
                if self.value_head is not None:
                    vloss = clipped_value_loss(out["values"], old_values[idx], returns[idx],
                                               torch.ones(len(idx)), clip=p.value_clip)
                    loss = loss + p.vf_coef * vloss
                    stats["rl/value_loss"] = vloss.item()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                params = [q for g in self.optimizer.param_groups for q in g["params"]]
                stats["rl/grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, p.max_grad_norm))
                self.optimizer.step()
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                steps += 1
        model.eval()
        out = {k: v / max(steps, 1) for k, v in sums.items()}
        out["rl/trained_decisions"] = float(len(decisions))
        out["rl/optimizer_steps"] = float(steps)
        out["perf/update_tokens"] = float(tokens)
        return out


def train_rl(trainer: PolicyTrainer, updates: int, *, evaluate: Callable[[], dict[str, float]] | None = None,
             eval_every: int = 0, on_metrics: Callable[[dict[str, float], int], None] | None = None,
             on_checkpoint: Callable[[int], None] | None = None, checkpoint_every: int = 0,
             show_progress: bool = True, max_env_steps: int | None = None) -> list[dict[str, float]]:
    """Run `updates` trainer steps: metrics to `on_metrics(metrics, update)` (with `rl/env_steps`, the env steps
    of every rollout so far, counted exactly), `evaluate()` (eval/* metrics, e.g. EvalResult.metrics()) before the
    first update, every `eval_every` updates and after the last (its metrics go to on_metrics too),
    `on_checkpoint(update)` every `checkpoint_every` updates. With `max_env_steps`, no update starts once the env
    steps reach it (the last update may pass it by less than one update's rollouts). Returns the learning curve:
    one dict per evaluation (update, env_steps, eval/*)."""
    from tqdm import tqdm

    curve: list[dict[str, float]] = []
    env_steps = 0

    def _eval(u: int) -> None:
        if evaluate is None:
            return
        res = evaluate()
        curve.append({"update": float(u), "env_steps": float(env_steps), **res})
        if on_metrics is not None:
            on_metrics(res, u)

    _eval(0)
    done = 0
    for u in tqdm(range(1, updates + 1), desc="rl updates", unit="upd", disable=not show_progress):
        if max_env_steps is not None and env_steps >= max_env_steps:
            break
        m = trainer.step()
        done = u
        env_steps += sum(e.steps for e in trainer.last_episodes)
        m["rl/env_steps"] = float(env_steps)
        if on_metrics is not None:
            on_metrics(m, u)
        last = u == updates or (max_env_steps is not None and env_steps >= max_env_steps)
        if eval_every and u % eval_every == 0 and not last:
            _eval(u)
        if on_checkpoint is not None and checkpoint_every and u % checkpoint_every == 0 and not last:
            on_checkpoint(u)
    if done:
        _eval(done)
    return curve
