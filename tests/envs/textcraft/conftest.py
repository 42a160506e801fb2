"""Fixtures of the TextCraft package tests: real Step rows of the real env, collected once per session."""

from __future__ import annotations

import pandas as pd
import pytest

from dreamgym.config import SeedDataConfig
from dreamgym.data.io import steps_table
from dreamgym.data.schema import Step
from dreamgym.data.seed import collect_seed
from dreamgym.envs.registry import make_env

#: an action the game rejects
NONSENSE = "fly to the moon"


def collect_rows(episodes: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, tasks) of `episodes` textcraft seed episodes (expert / noisy / random, train and val tasks) plus one
    manual train episode "textcraft-manual": a nonsense action (invalid), then the expert's first two actions."""
    cfg = SeedDataConfig(envs=["textcraft"], episodes={"textcraft": episodes}, n_test_tasks=0)
    with make_env("textcraft") as env:
        steps, tasks = collect_seed(env, episodes, cfg, seed=0)
        task = next((t for t in tasks if t.split == "train"), None) or env.list_tasks("train", n=1)[0]
        if task not in tasks:
            tasks.append(task)
        state = env.reset(task)
        manual = []
        for t in range(3):
            action = NONSENSE if t == 0 else (env.expert_action() or NONSENSE)
            obs, reward, done, info = env.step(action)
            manual.append(Step(episode_id="textcraft-manual", task_id=task.task_id, env="textcraft", t=t, state=state,
                               action=action, next_state=obs, reward=float(reward), done=bool(done),
                               success=bool(info["success"]), valid_action=bool(info["valid_action"]),
                               split=task.split))
            state = obs
            if done:
                break
    df = steps_table(steps + manual).to_pandas()
    return df, pd.DataFrame([t.to_row() for t in tasks])


@pytest.fixture(scope="session")
def textcraft_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(steps, tasks): 16 textcraft seed episodes + one manual episode starting with an invalid action."""
    return collect_rows(16)
