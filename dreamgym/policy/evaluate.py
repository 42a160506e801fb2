"""Evaluation of a policy on real held-out tasks, beside its baselines on the same tasks and horizon.

    result = evaluate_policy(agent, envs, tasks, horizon=20)     # greedy: the policy's most likely actions
    result.success, result.ci_low, result.ci_high, result.metrics()   # eval/* metrics
    base = baselines(env, tasks, horizon=20, seed=0)             # {"random": EvalResult, "expert": EvalResult}

Episodes run in batches of len(envs) through the rollout engine, one episode per task (deterministic for a fixed
model and seed: the tasks carry their seeds). The interval is Wilson's score interval over the episodes. Besides
success: mean steps, mean steps of the successful episodes, invalid and malformed action rates, and the
BabyAI-style score, the mean over episodes of success * (1 - 0.9 * steps / horizon).

Baselines: a uniform-random policy over the env's valid actions (`TextEnv.random_action`: the valid list, or the
env's documented action grammar where it lists none), seeded per task, and the env's expert (its oracle, which
may stop early: an episode whose expert has no action is a failure).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from dreamgym.data.schema import Task
from dreamgym.envs.base import TextEnv
from dreamgym.errors import DreamGymError
from dreamgym.policy.agent import Agent
from dreamgym.policy.core import wilson_interval
from dreamgym.policy.rollout import Episode, rollout


@dataclass
class EvalResult:
    """Success rate and its 95% Wilson interval, mean steps, invalid/malformed action rates, over `episodes`."""

    episodes: int
    successes: int
    success: float
    ci_low: float
    ci_high: float
    mean_steps: float
    invalid_rate: float
    malformed_rate: float
    horizon: int
    mean_steps_success: float = float("nan")  # mean steps of the successful episodes (nan: none succeeded)
    score: float = 0.0  # BabyAI-style: mean of success * (1 - 0.9 * steps / horizon)

    def metrics(self, prefix: str = "eval/") -> dict[str, float]:
        return {f"{prefix}{k}": float(v) for k, v in asdict(self).items()}


def summarize(episodes: Sequence, horizon: int) -> EvalResult:
    """EvalResult of finished episodes (anything with success, steps, invalid_steps, malformed_steps)."""
    if not episodes:
        raise DreamGymError("summarize: no episodes")
    n = len(episodes)
    k = sum(bool(e.success) for e in episodes)
    decisions = sum(e.steps for e in episodes)
    won = [e.steps for e in episodes if e.success]
    low, high = wilson_interval(k, n)
    return EvalResult(episodes=n, successes=k, success=k / n, ci_low=low, ci_high=high,
                      mean_steps=decisions / n, invalid_rate=sum(e.invalid_steps for e in episodes) / max(decisions, 1),
                      malformed_rate=sum(e.malformed_steps for e in episodes) / max(decisions, 1), horizon=horizon,
                      mean_steps_success=sum(won) / len(won) if won else float("nan"),
                      score=sum(1.0 - 0.9 * s / horizon for s in won) / n)


@dataclass
class BaselineEpisode:
    """The outcome of one baseline episode (what summarize() reads)."""

    success: bool
    steps: int
    invalid_steps: int
    malformed_steps: int = 0


BASELINES = ("random", "expert")


def play_baseline(env: TextEnv, task: Task, *, horizon: int, policy: str, seed: int = 0) -> BaselineEpisode:
    """One episode of `task` in `env` by the uniform-random policy over the valid actions (seeded by `seed` and
    the task id, so every call replays the same actions) or by the env's expert, for at most `horizon` turns."""
    import random

    if policy not in BASELINES:
        raise DreamGymError(f"unknown baseline '{policy}' (choose from {', '.join(BASELINES)})")
    rng = random.Random(f"{seed}:{task.task_id}")
    env.reset(task)
    steps = invalid = 0
    success = False
    while steps < horizon:
        action = env.random_action(rng) if policy == "random" else env.expert_action()
        if action is None:  # the expert has no move: a failure
            break
        _obs, _r, done, info = env.step(action)
        steps += 1
        invalid += not info.get("valid_action", True)
        if done:
            success = bool(info.get("success", False))
            break
    return BaselineEpisode(success=success, steps=steps, invalid_steps=invalid)


def baselines(env: TextEnv, tasks: Sequence[Task], *, horizon: int, seed: int = 0,
              which: Sequence[str] = BASELINES, progress: Callable[[int], None] | None = None) -> dict[str, EvalResult]:
    """{name: EvalResult} of the random and expert baselines on `tasks` at `horizon` turns (one episode per task)."""
    if not tasks:
        raise DreamGymError("baselines: no tasks")
    out = {}
    for name in which:
        eps = []
        for t in tasks:
            eps.append(play_baseline(env, t, horizon=horizon, policy=name, seed=seed))
            if progress is not None:
                progress(1)
        out[name] = summarize(eps, horizon)
    return out


def baseline_metrics(base: dict[str, EvalResult], prefix: str = "eval/") -> dict[str, float]:
    """eval/random_success, eval/expert_ci_low, ...: the baselines' metrics under one prefix."""
    out: dict[str, float] = {}
    for name, res in base.items():
        out.update(res.metrics(f"{prefix}{name}_"))
    return out


def evaluate_policy(agent: Agent, envs: Sequence[TextEnv], tasks: Sequence[Task], *, horizon: int,
                    greedy: bool = True, progress: Callable[[int], None] | None = None) -> EvalResult:
    """One episode per task, at most `horizon` turns each, len(envs) episodes at a time; greedy (the most likely
    action every step) or sampled from the policy at the agent's temperature."""
    if not envs:
        raise DreamGymError("evaluate_policy: no envs")
    episodes: list[Episode] = []
    for s in range(0, len(tasks), len(envs)):
        chunk = list(tasks[s:s + len(envs)])
        episodes += rollout(agent, envs, chunk, horizon=horizon, greedy=greedy, progress=progress)
    return summarize(episodes, horizon)


def plot_learning_curve(curve: Sequence[dict[str, float]], title: str = "", base: dict[str, float] | None = None):
    """Held-out success (with its 95% interval) against updates and against env steps: a matplotlib Figure.
    `curve`: train_rl()'s evaluations (update, env_steps, eval/success, eval/ci_low, eval/ci_high, and the same
    under eval/greedy_ when the greedy policy was evaluated too); `base`: baseline_metrics() of the same tasks
    (eval/random_success, eval/expert_success), drawn as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, key, label in ((axes[0], "update", "policy updates"), (axes[1], "env_steps", "env steps in RL")):
        x = [p[key] for p in curve]
        for prefix, name in (("eval/", "sampled (the policy)"), ("eval/greedy_", "greedy")):
            if curve and f"{prefix}success" in curve[0]:
                ax.plot(x, [p[f"{prefix}success"] for p in curve], marker="o", label=name)
                ax.fill_between(x, [p[f"{prefix}ci_low"] for p in curve], [p[f"{prefix}ci_high"] for p in curve],
                                alpha=0.2)
        for name, style in (("random", ":"), ("expert", "--")):
            if base and f"eval/{name}_success" in base:
                ax.axhline(base[f"eval/{name}_success"], color="grey", linestyle=style, label=f"{name} (same tasks)")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("held-out success")
    axes[0].set_ylim(0, 1)
    axes[0].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
