"""Seed-trajectory collection: run the expert, a noisy expert and a random policy in a real env.

The paper seeds its experience model and replay buffer with expert demos *and* oracle/random trajectories, so
the data holds successes and failures. Collection is deterministic: the episode plan (task, policy) and every
random choice derive from (seed, env, episode id), never from global state.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from dreamgym.data.schema import Step, Task
from dreamgym.envs.base import TextEnv
from dreamgym.errors import UnknownNameError

POLICIES = ("expert", "noisy", "random")


@dataclass(frozen=True)
class EpisodePlan:
    episode_id: str
    task: Task
    policy: str


def policy_counts(n: int, mix: dict[str, float]) -> dict[str, int]:
    """Split n episodes over policies by largest remainder, so the counts sum to n exactly."""
    raw = {p: n * mix.get(p, 0.0) for p in POLICIES}
    counts = {p: int(v) for p, v in raw.items()}
    rest = n - sum(counts.values())
    for p in sorted(POLICIES, key=lambda p: (-(raw[p] - counts[p]), POLICIES.index(p)))[:rest]:
        counts[p] += 1
    return counts


def plan_episodes(env: TextEnv, n_episodes: int, policy_mix: dict[str, float], val_fraction: float,
                  episodes_per_task: int, seed: int, n_test: int = 0) -> list[EpisodePlan]:
    """Deterministic plan: which task each episode runs and with which policy.

    Episodes are spread over train and val tasks (val share = val_fraction), then `n_test` more run on test
    tasks (held out for measurement, e.g. the experience model's fidelity); each task gets `episodes_per_task`
    consecutive episodes; policies are assigned by a seeded shuffle of exact counts (train and val together,
    test on its own, so adding test episodes leaves the train/val plan as it was).
    """
    n_val = round(n_episodes * val_fraction)
    n_train = n_episodes - n_val
    plans = _plan_splits(env, (("train", n_train), ("val", n_val)), policy_mix, episodes_per_task,
                         random.Random(f"{seed}/{env.name}/plan"))
    if n_test:
        plans += _plan_splits(env, (("test", n_test),), policy_mix, episodes_per_task,
                              random.Random(f"{seed}/{env.name}/plan/test"))
    return plans


def _plan_splits(env: TextEnv, counts: tuple[tuple[str, int], ...], policy_mix: dict[str, float],
                 episodes_per_task: int, rng: random.Random) -> list[EpisodePlan]:
    policies = [p for p, c in policy_counts(sum(n for _, n in counts), policy_mix).items() for _ in range(c)]
    rng.shuffle(policies)
    plans: list[EpisodePlan] = []
    for split, count in counts:
        if count == 0:
            continue
        tasks = env.list_tasks(split, n=-(-count // episodes_per_task))
        for k in range(count):
            policy = policies[len(plans)]
            task = tasks[k // episodes_per_task]
            plans.append(EpisodePlan(f"{env.name}-{split}-{k:05d}-{policy}", task, policy))
    return plans


def choose_action(env: TextEnv, policy: str, rng: random.Random, noise_eps: float, invalid_rate: float = 0.0) -> str:
    """One action of `policy` in the env's current state (falls back to random where the expert has none). The
    noisy and random policies take, with probability `invalid_rate`, an action the env names as not valid now
    (env.invalid_action; none where the env offers none)."""
    if invalid_rate and policy in ("noisy", "random") and rng.random() < invalid_rate:
        bad = env.invalid_action(rng)
        if bad is not None:
            return bad
    if policy == "random":
        return env.random_action(rng)
    if policy == "noisy" and rng.random() < noise_eps:
        return env.random_action(rng)
    if policy not in POLICIES:
        raise UnknownNameError(f"unknown collection policy '{policy}'; choose one of: {', '.join(POLICIES)}")
    action = env.expert_action()
    return action if action is not None else env.random_action(rng)


def run_episode(env: TextEnv, plan: EpisodePlan, seed: int, noise_eps: float, invalid_rate: float = 0.0) -> list[Step]:
    """Roll one episode of `plan.policy` on `plan.task`; every step becomes a Step row."""
    rng = random.Random(f"{seed}/{plan.episode_id}")
    state = env.reset(plan.task)
    steps: list[Step] = []
    done = False
    while not done:
        action = choose_action(env, plan.policy, rng, noise_eps, invalid_rate)
        obs, reward, done, info = env.step(action)
        steps.append(Step(
            episode_id=plan.episode_id, task_id=plan.task.task_id, env=env.name, t=len(steps), state=state,
            action=action, next_state=obs, reward=float(reward), done=bool(done), success=bool(info["success"]),
            valid_action=bool(info["valid_action"]), source="real",
            policy_version=f"collector:{plan.policy}" + (f"-eps{noise_eps:g}" if plan.policy == "noisy" else ""),
            split=plan.task.split,
        ))
        state = obs
    return steps


def collect(env: TextEnv, plans: list[EpisodePlan], seed: int, noise_eps: float,
            progress: Callable[[int], None] | None = None, invalid_rate: float = 0.0) -> list[Step]:
    """Run every planned episode in order; `progress(k)` is called after each one."""
    steps: list[Step] = []
    for k, plan in enumerate(plans):
        steps.extend(run_episode(env, plan, seed, noise_eps, invalid_rate))
        if progress:
            progress(k + 1)
    return steps


def success_rates(steps: list[Step]) -> dict[str, float]:
    """Success rate per collection policy: {policy: share of its episodes that succeeded}."""
    episodes: dict[str, tuple[str, bool]] = {}
    for s in steps:
        pol = s.policy_version.removeprefix("collector:").split("-eps")[0]
        prev = episodes.get(s.episode_id, (pol, False))
        episodes[s.episode_id] = (pol, prev[1] or s.success)
    n = Counter(p for p, _ in episodes.values())
    won = Counter(p for p, ok in episodes.values() if ok)
    return {p: won[p] / n[p] for p in sorted(n)}
