"""Evaluation of a policy on real held-out tasks: success rate with a 95% interval, mean steps, invalid actions.

    result = evaluate_policy(agent, envs, tasks, horizon=20)     # greedy: the policy's most likely actions
    result.success, result.ci_low, result.ci_high, result.metrics()   # eval/* metrics

Episodes run in batches of len(envs) through the rollout engine, one greedy episode per task (deterministic for a
fixed model: the tasks carry their seeds). The interval is Wilson's score interval over the episodes.
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

    def metrics(self, prefix: str = "eval/") -> dict[str, float]:
        return {f"{prefix}{k}": float(v) for k, v in asdict(self).items()}


def summarize(episodes: Sequence[Episode], horizon: int) -> EvalResult:
    """EvalResult of finished episodes."""
    if not episodes:
        raise DreamGymError("summarize: no episodes")
    n = len(episodes)
    k = sum(e.success for e in episodes)
    decisions = sum(e.steps for e in episodes)
    low, high = wilson_interval(k, n)
    return EvalResult(episodes=n, successes=k, success=k / n, ci_low=low, ci_high=high,
                      mean_steps=decisions / n, invalid_rate=sum(e.invalid_steps for e in episodes) / max(decisions, 1),
                      malformed_rate=sum(e.malformed_steps for e in episodes) / max(decisions, 1), horizon=horizon)


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


def plot_learning_curve(curve: Sequence[dict[str, float]], title: str = ""):
    """Held-out success (with its 95% interval) against updates and against env steps: a matplotlib Figure.
    `curve`: train_rl()'s evaluations (update, env_steps, eval/success, eval/ci_low, eval/ci_high, and the same
    under eval/greedy_ when the greedy policy was evaluated too)."""
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
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("held-out success")
    axes[0].set_ylim(0, 1)
    axes[0].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
