"""Helpers of the experience tests (imported by name): real Step rows collected now from the real envs."""

from __future__ import annotations

import pandas as pd

from dreamgym.config import SeedDataConfig
from dreamgym.data.io import steps_table
from dreamgym.data.schema import Step
from dreamgym.data.seed import collect_seed
from dreamgym.envs.registry import make_env

#: an action no env accepts
NONSENSE = "fly to the moon"


def collect_rows(env_name: str, episodes: int, **env_kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, tasks) of `episodes` seed episodes (expert / noisy / random, train and val tasks) plus one manual
    train episode "<env>-manual": a nonsense action (invalid), then the expert's first two actions."""
    cfg = SeedDataConfig(envs=[env_name], episodes={env_name: episodes}, n_test_tasks=0)
    with make_env(env_name, **env_kwargs) as env:
        steps, tasks = collect_seed(env, episodes, cfg, seed=0)
        train = [t for t in tasks if t.split == "train"]
        task = train[0] if train else env.list_tasks("train", n=1)[0]
        if task not in tasks:
            tasks.append(task)
        state = env.reset(task)
        manual = []
        for t in range(3):
            action = NONSENSE if t == 0 else (env.expert_action() or NONSENSE)
            obs, reward, done, info = env.step(action)
            manual.append(Step(episode_id=f"{env_name}-manual", task_id=task.task_id, env=env_name, t=t, state=state,
                               action=action, next_state=obs, reward=float(reward), done=bool(done),
                               success=bool(info["success"]), valid_action=bool(info["valid_action"]),
                               split=task.split))
            state = obs
            if done:
                break
    df = steps_table(steps + manual).to_pandas()
    return df, pd.DataFrame([t.to_row() for t in tasks])
