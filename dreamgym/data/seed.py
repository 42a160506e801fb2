"""Seed data for one env: plan and collect episodes, list tasks, summarise.

`collect_seed(env, cfg, seed)` returns the Step rows and the Task list (train/val/test tasks the episodes ran on,
plus `n_test_tasks` held-out test tasks with no steps, for evaluation). Test-split episodes (`test_episodes`) are
for measurement only; nothing trains on them. Deterministic for a given config.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from dreamgym.data.collect import collect, plan_episodes
from dreamgym.data.config import SeedDataConfig
from dreamgym.data.schema import Step, Task
from dreamgym.envs.base import TextEnv


def collect_seed(env: TextEnv, n_episodes: int, cfg: SeedDataConfig, seed: int,
                 progress: Callable[[int], None] | None = None) -> tuple[list[Step], list[Task]]:
    plans = plan_episodes(env, n_episodes, cfg.policy_mix, cfg.val_fraction, cfg.per_task(env.name), seed,
                          n_test=cfg.test_episodes.get(env.name, 0))
    steps = collect(env, plans, seed, cfg.noise_eps, progress, invalid_rate=cfg.invalid_rate)
    tasks: dict[str, Task] = {}
    for p in plans:
        tasks.setdefault(p.task.task_id, p.task)
    for t in env.list_tasks("test", n=cfg.n_test_tasks) if cfg.n_test_tasks else []:
        tasks.setdefault(t.task_id, t)
    return steps, list(tasks.values())


def seed_summary(steps: pd.DataFrame, env: str) -> dict[str, float]:
    """Metrics (data/ namespace) of one env's seed steps: rows, episodes, steps/episode, success rate overall,
    per collection policy and per split, valid-action rate."""
    m: dict[str, float] = {}
    if steps.empty:
        return {f"data/{env}/rows": 0.0}
    ep = steps.groupby("episode_id").agg(won=("success", "any"), n=("t", "size"), pol=("policy_version", "first"),
                                         split=("split", "first"))
    ep["pol"] = ep["pol"].str.removeprefix("collector:").str.split("-eps").str[0]
    m[f"data/{env}/rows"] = float(len(steps))
    m[f"data/{env}/episodes"] = float(len(ep))
    m[f"data/{env}/steps_per_episode"] = float(ep["n"].mean())
    m[f"data/{env}/success_rate"] = float(ep["won"].mean())
    m[f"data/{env}/valid_action_rate"] = float(steps["valid_action"].mean())
    for pol, g in ep.groupby("pol"):
        m[f"data/{env}/success_rate/{pol}"] = float(g["won"].mean())
        m[f"data/{env}/episodes/{pol}"] = float(len(g))
    for split, g in ep.groupby("split"):
        m[f"data/{env}/episodes/{split}"] = float(len(g))
    return m


def success_figure(metrics: dict[str, float]):
    """A bar chart of seed success rate per env and collection policy (from seed_summary metrics)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({k.split("/")[1] for k in metrics if k.startswith("data/") and "/success_rate/" in k})
    policies = ["expert", "noisy", "random"]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(policies)
    for j, pol in enumerate(policies):
        vals = [metrics.get(f"data/{e}/success_rate/{pol}", 0.0) for e in envs]
        bars = ax.bar([i + j * width for i in range(len(envs))], vals, width, label=pol)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([i + width for i in range(len(envs))], envs)
    ax.set_ylim(0, 1.3)
    ax.set_ylabel("episode success rate")
    ax.set_title("Seed trajectories: success by env and collection policy")
    ax.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
    fig.tight_layout()
    return fig
